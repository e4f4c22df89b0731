//! breakglass: a dual-control break-glass ceremony for an AWS root account.
//!
//! Module map, by layer. The core decides and imports no adapter (tests/layers.rs fails if one
//! does); adapters talk to the outside world behind the core's ports; the terminal and the
//! commands put it together.
//!
//! Core (pure rules and formats):
//! - [`ceremony`]: the state machine, `advance(state, intent) -> effects`; the only place steps change.
//! - [`journal`]: the hash-chained, fsynced `journal.jsonl` and its checks.
//! - [`roster`], [`trust`]: custodians, versions, signatures, and the one trust resolver (the pin).
//! - [`rekey`]: the next roster version, the runbook sealed again for it, the crash-safe swap.
//! - [`runbook`], [`seal`], [`pivage`]: the runbook's Markdown, its sealed age layers, and the
//!   YubiKey-bound age stanza.
//! - [`sign`], [`attest`]: SSHSIG signatures; PIV attestation chains to Yubico's CAs.
//! - [`notice`]: what the team is told, and the local outbox.
//! - [`verify`]: checks a session bundle against a trusted roster.
//! - [`drill`]: drills' timings, history and evidence pack.
//! - [`audit`], [`archive`], [`root`]: the audit's decisions, the evidence archive's receipts,
//!   the scoped root tasks' rules.
//! - [`config`], [`clock`], [`fsread`]: `breakglass.toml`, time, safe file reads and writes.
//!
//! Adapters (the outside world):
//! - [`aws`]: SNS, STS, AssumeRoot, the audit's reads, S3 (archive, organization trail).
//! - [`token`]: the `Token` port (a custodian's key) with `token::piv` (YubiKeys over PC/SC) and
//!   `token::soft` (DEMO keys); [`enroll`] prepares a YubiKey.
//! - [`session`]: runs the ceremony's effects against the ports (journal first, then the action).
//!
//! Terminal and commands:
//! - [`app`], [`ui`]: the event loop and the ratatui screens.
//! - [`cli`], [`commands`], [`archive_cmd`]: the command line and what each command does.
//! - [`demo`]: the built-in DEMO custodians and runbook.
#![forbid(unsafe_code)]

pub mod app;
pub mod archive;
pub mod archive_cmd;
pub mod attest;
pub mod audit;
pub mod aws;
pub mod ceremony;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod drill;
pub mod enroll;
pub mod fsread;
pub mod journal;
pub mod notice;
pub mod pivage;
pub mod rekey;
pub mod root;
pub mod roster;
pub mod runbook;
pub mod seal;
pub mod session;
pub mod sign;
pub mod token;
pub mod trust;
pub mod ui;
pub mod verify;

/// The tool's version, recorded in every session.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
