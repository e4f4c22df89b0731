//! Why the outside world did not do what an effect asked: the runner's report to the core, by
//! cause. The words are the adapter's own (each says its cause once); the kind tells the core and
//! the screens what failed.

use crate::core::key::TokenError;

/// A failed effect, by cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failed {
    /// The custodian's key: absent, locked, a wrong PIN, not answering.
    #[error(transparent)]
    Key(#[from] TokenError),
    /// A signature could not be made, or does not verify with the key the roster names.
    #[error("{0}")]
    Signature(String),
    /// The key's attestation does not chain to Yubico's CA (or could not be read).
    #[error("{0}")]
    Attestation(String),
    /// The notice channel did not take the notice.
    #[error("{0}")]
    Notice(String),
    /// The sealed runbook could not be opened.
    #[error("{0}")]
    Seal(String),
    /// AWS refused, failed or could not be reached.
    #[error("{0}")]
    Aws(String),
    /// AWS is not configured (or its configuration is wrong).
    #[error("AWS is not configured")]
    NoAws,
    /// The root session's credentials are gone (expired or dropped).
    #[error("the root session is gone: re-assume")]
    RootGone,
    /// A rekey's swap did not happen (what was checked, and why it stopped).
    #[error("{0}")]
    Rekey(String),
    /// A file could not be written: the disk is full, a file-size limit was reached, or the
    /// directory is read-only. Nothing was lost; the same action can be tried again once there
    /// is room.
    #[error("{0}")]
    Storage(String),
    /// This session has no such work (an offboarding item without its AWS change).
    #[error("{0}")]
    NotPlanned(String),
}

impl From<crate::core::sign::SignError> for Failed {
    fn from(e: crate::core::sign::SignError) -> Self {
        match e {
            crate::core::sign::SignError::Token(t) => Failed::Key(t),
            other => Failed::Signature(other.to_string()),
        }
    }
}
