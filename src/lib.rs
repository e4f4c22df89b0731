//! breakglass: a dual-control break-glass ceremony for an AWS root account.
//!
//! Module map, by layer: each layer is a folder of `src/` (`core/`, `adapters/`, `terminal/`,
//! `commands/`) and a module of the crate, and every path names its layer
//! (`crate::core::ceremony`): there is one path to each module, so an import shows which layer it
//! reaches into. The core decides and
//! imports no adapter (tests/layers.rs fails if one does, or if a file sits in the wrong folder);
//! adapters talk to the outside world behind the core's ports; the terminal and the commands put it
//! together.
//!
//! Core (`src/core/`: pure rules and formats):
//! - [`ceremony`]: the state machine, `advance(state, intent) -> effects`; the only place steps change.
//!   Its fields are private; one file per sub-machine in `src/core/ceremony/` (setup, account,
//!   checkin, notify, steps, root, rekey, offboard, close), with `Say` (what it tells the custodians,
//!   put into words by [`words`]), `Failed` (what the runner reports, by cause) and the index types.
//! - [`journal`]: the hash-chained, fsynced `journal.jsonl` and its checks; `journal::Entry`, one
//!   variant per kind, is what the ceremony writes and what verify, recovery, drills and the screens read.
//! - [`roster`], [`trust`]: custodians, versions, signatures, and the one trust resolver (the pin).
//! - [`rekey`]: the next roster version, the runbook sealed again for it, the crash-safe swap;
//!   [`rotate`]: a secret's new value sealed back in at the close, with the same kind of swap.
//! - [`runbook`], [`seal`], [`pivage`]: the runbook's Markdown, its sealed age layers, and the
//!   YubiKey-bound age stanza.
//! - [`sign`], [`attest`]: SSHSIG signatures; PIV attestation chains to Yubico's CAs.
//! - [`key`]: the `Token` port, a custodian's key as the core sees it (its adapters are in
//!   [`token`]).
//! - [`statement`]: every statement a custodian signs in a ceremony, one type for the ceremony that
//!   asks for it and for verify that checks it.
//! - [`notice`]: what the team is told, and the local outbox.
//! - [`mode`]: the kind of session (incident, drill, rekey, offboarding), as the journal, the
//!   notices and `verify --json` write it.
//! - [`verify`]: checks a session bundle against a trusted roster, one function per rule of
//!   docs/evidence-model.md (`src/core/verify/`); [`evidence`]: those rules by id, which every
//!   problem names.
//! - [`drill`]: drills' timings, history and evidence pack.
//! - [`audit`], [`cover`], [`archive`], [`root`]: the audit's decisions, which verified sessions
//!   cover root use (from verify's verdicts), the evidence archive's receipts, the scoped root
//!   tasks' rules.
//! - [`config`], [`clock`], [`fsread`]: `breakglass.toml`, time, safe file reads and writes.
//! - [`plain`]: outside text made safe to print (no control character reaches the terminal).
//!
//! Adapters (`src/adapters/`: the outside world):
//! - [`aws`]: SNS, STS, AssumeRoot, the audit's reads, S3 (archive, organization trail).
//! - [`token`]: the adapters of the core's `Token` port: `token::piv` (YubiKeys over PC/SC) and
//!   `token::soft` (DEMO keys).
//! - [`session`]: runs the ceremony's effects against the ports (journal first, then the action).
//!
//! Terminal (`src/terminal/`) and commands (`src/commands/`; [`commands`] itself is
//! `src/commands/run.rs`):
//! - [`app`], [`ui`], [`words`]: the event loop, the ratatui screens, and the ceremony's messages in words;
//!   [`view`]: the screen's view state; [`keys`]: one key table per screen, from which the
//!   dispatch, the hint line and the help screen are all read.
//! - [`cli`], [`commands`], [`archive_cmd`]: the command line and what each command does;
//!   [`env`]: the config and data directory every command starts from, and its output.
//! - [`enroll`] prepares a YubiKey; [`card`] signs on one from the command line (PIN, touch).
//! - [`demo`]: the built-in DEMO custodians and runbook.
#![forbid(unsafe_code)]

/// `println!` for the commands: what is printed may hold outside text (a journal's notes, a
/// roster's names, file names), so control characters are shown, never sent ([`plain`]). A
/// reader that went away (`breakglass doctor | head -n 1`) is not an error and never a panic:
/// the rest is dropped and the command ends with its own exit code.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{}", $crate::core::plain::for_terminal(&format!($($t)*)));
    }};
}

/// `eprintln!` for the commands, made safe the same way as [`outln!`].
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", $crate::core::plain::for_terminal(&format!($($t)*)));
    }};
}

/// The core: rules and formats, no I/O beyond files it is given (`src/core/`).
pub mod core {
    pub mod archive;
    pub mod attest;
    pub mod audit;
    pub mod ceremony;
    pub mod clock;
    pub mod config;
    pub mod cover;
    pub mod drill;
    pub mod evidence;
    pub mod fsread;
    pub mod journal;
    pub mod key;
    pub mod mode;
    pub mod notice;
    pub mod pivage;
    pub mod plain;
    pub mod rekey;
    pub mod root;
    pub mod roster;
    pub mod rotate;
    pub mod runbook;
    pub mod seal;
    pub mod sign;
    pub mod statement;
    pub mod trust;
    pub mod verify;
}

/// The outside world: AWS, the custodians' keys, enrolment, the session runner (`src/adapters/`).
pub mod adapters {
    pub mod aws;
    pub mod session;
    pub mod token;
}

/// The TUI: the event loop and the screens (`src/terminal/`).
pub mod terminal {
    pub mod app;
    pub mod keys;
    pub mod ui;
    pub mod view;
    pub mod words;
}

/// The command line and what each command does (`src/commands/`): one file per command, and
/// `run.rs`, the dispatcher, re-exported here.
pub mod commands {
    pub mod archive_cmd;
    pub mod card;
    pub mod cli;
    pub mod demo;
    pub mod enroll;
    pub mod env;
    // One file per command; `run` dispatches to them, `start` is what the ceremony commands share.
    mod audit_cmd;
    mod ceremony_cmd;
    mod doctor;
    mod drill_cmd;
    mod man;
    mod offboard_cmd;
    mod recover_cmd;
    mod rekey_cmd;
    mod roster_cmd;
    mod run;
    mod runbook_cmd;
    mod start;
    mod verify_cmd;
    pub use offboard_cmd::{offboard_checklist, offboard_checklist_accounts};
    pub use run::*;
}

/// The tool's version, recorded in every session.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
