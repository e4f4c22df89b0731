//! breakglass: a dual-control break-glass ceremony for an AWS root account.
//!
//! Module map (the domain is pure; the outside world sits behind traits):
//! - [`ceremony`]: the state machine, `advance(state, intent) -> effects`; the only place steps change.
//! - [`roster`], [`seal`], [`runbook`], [`journal`], [`notice`], [`sign`]: domain types and rules.
//! - [`token`]: the `Token` port (a custodian's hardware key) and its adapters (`token::soft` for DEMO).
//! - [`session`]: executes the ceremony's effects against the ports (journal first, then the action).
//! - [`verify`]: checks a session bundle against a trusted roster.
//! - [`archive`]: which bundle files go to the evidence archive and how receipts compare (pure);
//!   [`archive_cmd`] runs `breakglass archive` against S3 ([`aws::archive`]).
//! - [`demo`]: the built-in DEMO custodians and runbook.
//! - [`app`], [`ui`]: the terminal event loop and the ratatui screens.
//! - [`cli`], [`config`]: the command line and `breakglass.toml`.
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
