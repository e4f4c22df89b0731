//! "Root in use" / "root released" notices and the `Broadcaster` port.
//!
//! A notice names the session, the custodians and the reason, and carries a hash of the journal
//! (the genesis hash at start, the chain head at release) so the team can match it to the log.
//! Adapters: the local outbox (this module); SNS plugs in behind the same trait.

use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    InUse,
    Heartbeat,
    Released,
    Aborted,
    /// A new roster version is used for the first time (sent before its first ceremony).
    RosterChanged,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::InUse => "in_use",
            Phase::Heartbeat => "heartbeat",
            Phase::Released => "released",
            Phase::Aborted => "aborted",
            Phase::RosterChanged => "roster_changed",
        }
    }
}

/// What is announced.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub session_id: String,
    pub phase: Phase,
    /// Serialised as "incident", "drill", "rekey" or "offboard".
    pub mode: crate::core::mode::Mode,
    pub demo: bool,
    pub account: Option<String>,
    pub custodians: Vec<String>,
    pub reason: String,
    /// The incident or change ticket the custodians gave, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub host: String,
    pub started: String,
    pub at: String,
    /// Genesis hash (in use) or chain head (released), hex.
    pub journal_hash: String,
    /// The first 64 bits of that hash as PGP words: the same words as on paper and in verify.
    pub journal_words: String,
    /// The journal entry (its `seq`) the hash is of.
    pub journal_entry: Option<u64>,
    /// The same in every repeat of this notice (`<session>:<phase>`; heartbeats are numbered):
    /// a receiver that has seen it can drop the repeat.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idempotency_key: String,
    /// Sent by a recovery after the interrupted session was sending it when it stopped, or had
    /// sent it already (a recovery always releases root): the team may have received it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maybe_repeat: bool,
}

impl Notice {
    /// `[DRILL] [DEMO] AWS root IN USE: session ...` (SNS subjects: at most 100 characters).
    pub fn subject(&self) -> String {
        let mut s = String::new();
        if self.mode.is_rehearsal() {
            s.push_str("[DRILL] ");
        }
        if self.demo {
            s.push_str("[DEMO] ");
        }
        s.push_str(match self.phase {
            Phase::InUse => "AWS root IN USE",
            Phase::Heartbeat => "AWS root still in use",
            Phase::Released => "AWS root released",
            Phase::Aborted => "AWS root released (ceremony aborted)",
            Phase::RosterChanged => "breakglass custodians changed",
        });
        s.push_str(": ");
        s.push_str(&self.session_id);
        s.chars().take(100).collect()
    }

    /// Plain-text body for humans.
    pub fn body(&self) -> String {
        let what = match self.phase {
            Phase::InUse => "The AWS root account is being opened in a dual-control break-glass ceremony.",
            Phase::Heartbeat => "The AWS root account is still open in this ceremony.",
            Phase::Released => "The break-glass ceremony has ended; root is released.",
            Phase::Aborted => "The break-glass ceremony was aborted; root is released.",
            Phase::RosterChanged => {
                "A new version of the break-glass roster (who can open AWS root, together) is in use for the first time."
            }
        };
        let hash_label = match (self.phase, self.journal_entry) {
            (Phase::RosterChanged, _) => "roster SHA-256".to_string(),
            (Phase::InUse, _) => "journal genesis (entry #0)".to_string(),
            (_, Some(n)) => format!("journal head (entry #{n})"),
            (_, None) => "journal head".to_string(),
        };
        let repeat = if self.maybe_repeat {
            format!(
                "\n\nThis may repeat a notice you already received (key {}): a recovery sends it again so that nobody misses it.",
                self.idempotency_key
            )
        } else {
            String::new()
        };
        format!(
            "{what}{repeat}\n\nsession:    {}\nmode:       {}{}\naccount:    {}\ncustodians: {}\nreason:     {}{}\nhost:       {}\nstarted:    {}\nat:         {}\n{hash_label}: {}\n            ({})\n\nIf you did not expect this, call the custodians now and escalate.\n",
            self.session_id,
            self.mode.label(),
            if self.demo { " (DEMO)" } else { "" },
            self.account.as_deref().unwrap_or("(not configured)"),
            self.custodians.join(", "),
            self.reason,
            self.ticket.as_deref().map(|t| format!("\nticket:     {t}")).unwrap_or_default(),
            self.host,
            self.started,
            self.at,
            self.journal_hash,
            self.journal_words,
        )
    }

    /// Message attributes: `session_id`, `mode`, `phase`, and `maybe_repeat` on a possible repeat
    /// (so that a subscription's filter policy can route or drop it).
    pub fn attributes(&self) -> BTreeMap<&'static str, String> {
        let mut a = BTreeMap::from([
            ("session_id", self.session_id.clone()),
            ("mode", self.mode.as_str().to_string()),
            ("phase", self.phase.as_str().to_string()),
        ]);
        if self.maybe_repeat {
            a.insert("maybe_repeat", "true".into());
        }
        a
    }
}

/// Where a notice went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// "outbox" or "sns".
    pub channel: String,
    pub message_id: String,
}

#[derive(Debug, Error, Clone)]
pub enum NoticeError {
    #[error("the notice could not be delivered over {channel}: {what}")]
    Failed { channel: String, what: String },
}

/// Sends notices. Implementations bound their time and report failures; they never panic.
pub trait Broadcaster: Send {
    fn channel(&self) -> String;
    fn send(&mut self, notice: &Notice) -> Result<Delivery, NoticeError>;
    /// A warning about where notices go (e.g. a topic nobody is subscribed to). May call out.
    fn warning(&self) -> Option<String> {
        None
    }
}

/// A channel that cannot send, and says why (a configured topic whose AWS setup failed).
pub(crate) struct Unavailable {
    pub channel: String,
    pub why: String,
}

impl Broadcaster for Unavailable {
    fn channel(&self) -> String {
        self.channel.clone()
    }
    fn send(&mut self, _: &Notice) -> Result<Delivery, NoticeError> {
        Err(NoticeError::Failed { channel: self.channel.clone(), what: self.why.clone() })
    }
    fn warning(&self) -> Option<String> {
        Some(format!("notices cannot be sent: {}", self.why))
    }
}

/// Writes each notice as a JSON file in the data directory's outbox.
pub(crate) struct Outbox {
    pub dir: PathBuf,
}

impl Broadcaster for Outbox {
    fn channel(&self) -> String {
        "outbox".into()
    }

    fn send(&mut self, notice: &Notice) -> Result<Delivery, NoticeError> {
        let fail = |what: String| NoticeError::Failed { channel: "outbox".into(), what };
        crate::core::fsread::create_private_dir(&self.dir).map_err(|e| fail(format!("{}: {e}", self.dir.display())))?;
        let doc = serde_json::json!({
            "subject": notice.subject(),
            "attributes": notice.attributes(),
            "body": notice.body(),
            "notice": notice,
        });
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| fail(e.to_string()))?;
        let id = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&bytes)[..16]);
        // The session id names the file: only its plain characters, so that no id can lead out
        // of the outbox (`../x`) or make a name that the reader's terminal acts on.
        let sid: String = notice.session_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let path = self.dir.join(format!("{sid}-{}-{}.json", notice.phase.as_str(), &id[..8]));
        let mut f = std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().create_new(true).write(true), 0o600)
            .open(&path)
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        Ok(Delivery { channel: "outbox".into(), message_id: format!("outbox-{id}") })
    }
}

/// The chain hash as PGP words.
pub fn words(hash: &[u8]) -> String {
    pgp_words::to_words(hash).join(" ")
}

/// A chain head as people write it down: its first 64 bits as PGP words. The summary screen, the
/// notices and `verify` all use this, each with the entry number the head belongs to.
pub fn head_words(head: &[u8]) -> String {
    words(&head[..head.len().min(8)])
}

/// The first 16 bytes of a hex SHA-256 as PGP words: enough to compare a fingerprint aloud
/// (128 bits), short enough to read.
pub(crate) fn words_hex(sha256_hex: &str) -> String {
    let b = hex::decode(sha256_hex).unwrap_or_default();
    words(&b[..b.len().min(16)])
}
