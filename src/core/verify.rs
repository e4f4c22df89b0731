//! Checks a session bundle: the hash chain, every signature in it, and the co-signatures over it,
//! all against a roster the reviewer trusts.
//!
//! Outcomes: `valid` (complete chain, closed or aborted, co-signed by two different custodians of
//! the trusted roster), `invalid` (tampered: names the line), `incomplete` (the process stopped
//! before the session was signed; never reported as valid).

//!
//! The steps, each in its own file: [`read`] reads the journal once (chain, labels, timeline);
//! [`rules`] chooses the anchor and applies the rules of docs/evidence-model.md, one small function
//! each; [`rekey`] checks a roster change (E17); [`render`] writes the text report.

mod read;
mod rekey;
mod render;
mod rotate;
mod rules;
mod timeline;

pub use render::render_text;
pub use rotate::manifest_copy;

use crate::core::config::Config;
use crate::core::evidence::Rule;
use crate::core::journal::{self, Problem};
use crate::core::mode::Mode;
use crate::core::statement::Statement;
use crate::core::trust::{self, TrustError, TrustedRoster};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};
use ssh_key::PublicKey;
use std::borrow::Cow;
use std::path::Path;

/// The fields every entry is read for: the header, the labels, and what the common kinds'
/// timeline words need. Most lines are read only into this; the few kinds that carry signatures,
/// notices or the outcome are read again whole.
use journal::Line as Common;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    Invalid,
    /// The default: nothing is valid until every rule was checked.
    #[default]
    Incomplete,
}

impl Status {
    /// The exit code `breakglass verify` uses.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Valid => 0,
            Status::Invalid => 1,
            Status::Incomplete => 3,
        }
    }
}

/// One line of the human timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: u64,
    pub ts: String,
    /// The entry's kind (the tool's own kinds are not copied for every entry).
    pub kind: Cow<'static, str>,
    pub summary: String,
}

/// The result of verifying a bundle (the `--json` output; extra fields beyond DESIGN.md are fine).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub status: Status,
    pub session_id: String,
    pub mode: Mode,
    /// Why the session was opened, and its ticket, as `session.opened` says.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub demo: bool,
    pub entries: usize,
    pub signers: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    pub outcome: Option<String>,
    pub started: Option<String>,
    pub ended: Option<String>,
    pub custodians: Vec<String>,
    pub head: String,
    pub head_words: String,
    /// The entry the head is the hash of (the last intact entry), counted from 0 like `seq`.
    pub head_seq: Option<usize>,
    /// Which roster the signers were checked against, and why it is trusted.
    pub roster_source: String,
    pub roster_rule: Option<trust::Rule>,
    /// The roster version the session ran under (SHA-256, as `session.opened` names it), when it
    /// is the trusted roster or a version in its chain.
    pub roster_sha256: Option<String>,
    /// Set when the session was interrupted and closed later with `breakglass recover` (the last
    /// recovery, when there were several).
    pub recovered: Option<Recovered>,
    /// Every recovery, in order, each with its gap (rules E15, E20).
    pub recoveries: Vec<Recovered>,
    /// How many times the wall clock jumped during the session (`clock.jump` entries).
    pub clock_jumps: usize,
    /// The drill scenario (drills only).
    pub scenario: Option<String>,
    /// Every notice the journal records: delivered, failed or acknowledged.
    pub notices: Vec<NoticeRecord>,
    /// Custodians listed in the roster when the session opened.
    pub roster_custodians: Vec<String>,
    /// A rekey's change, once the journal records it in place (`rekey.committed`).
    pub rekey: Option<RekeyRecord>,
    /// An offboarding's outcome (`offboard.finished`), timed from the session's start.
    pub offboard: Option<OffboardRecord>,
    /// The runbook's number of steps, when it was opened to be followed (`runbook.unsealed`).
    pub runbook_steps: Option<usize>,
    /// A rehearsal on virtual cards: the PIV attestation roots, beside Yubico's, that the session
    /// opened under (`session.opened.rehearsal_roots`) or that a check-in's attestation ended at.
    /// Such a session is never audit cover and never a drill of the real setup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rehearsal_roots: Vec<String>,
    /// Secrets revealed in the session and not rotated in it (by name; rule E27).
    #[serde(rename = "secrets_unrotated")]
    pub unrotated: Vec<String>,
    /// Secrets revealed in the session, whether or not rotated since.
    #[serde(rename = "secrets_revealed")]
    pub revealed: Vec<String>,
    /// Secrets rotated in the session (not on a drill's copy).
    #[serde(rename = "secrets_rotated")]
    pub rotated: Vec<String>,
    pub timeline: Vec<Event>,
}

/// How an offboarding ended: who left, what was done, and how long it took against its target.
#[derive(Debug, Clone, Serialize)]
pub struct OffboardRecord {
    pub person: String,
    pub done: u64,
    pub total: u64,
    pub not_done: Vec<u64>,
    pub elapsed_s: Option<i64>,
    pub target_s: u64,
    /// AWS changes made (`offboard.applied`), with their request ids.
    pub applied: Vec<String>,
}

/// What a rekey changed: the roster versions (SHA-256) before and after, who was added and removed.
#[derive(Debug, Clone, Serialize)]
pub struct RekeyRecord {
    pub old_roster_sha256: String,
    pub new_roster_sha256: String,
    pub new_version: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub signed_by: Vec<String>,
    /// The sealed files opened to check the new sealing before the swap.
    pub opened: Vec<String>,
}

/// Where an interrupted session was taken up again, and how long it lay interrupted.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    /// The entry (`seq`) of `session.recovered`.
    pub at_entry: u64,
    /// Intact entries before the interruption.
    pub entries_before: u64,
    pub last_ts_before: String,
    pub recovered_ts: String,
    /// Seconds between the last entry before the interruption and the recovery.
    pub gap_s: Option<i64>,
    /// A partial line cut by the crash is kept (hex) in `session.recovered`.
    pub partial_tail: bool,
}

/// A notice as the journal records it.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeRecord {
    pub phase: String,
    /// "sent", "failed" or "acknowledged".
    pub outcome: String,
    pub channel: Option<String>,
    pub message_id: Option<String>,
    pub ts: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {why}. Give the session directory (the one holding journal.jsonl).")]
    Read { path: String, why: crate::core::fsread::ReadError },
    #[error("{path} is not a session directory (no journal.jsonl in it).{hint}")]
    NotABundle { path: String, hint: String },
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// Largest journal read (a 100,000-entry journal is about 25 MB).
pub(crate) const MAX_JOURNAL_BYTES: u64 = 1 << 30;

/// Exit code of a bundle whose every check passed against a roster that nothing anchors (no
/// `[trust] roster_sha256`, no `--roster` that chains to one): not evidence until a pin says who
/// the custodians are, so a script that gates on exit 0 is never told "valid".
pub(crate) const EXIT_UNPINNED: i32 = 4;

impl Report {
    /// Rules E21 (with E3, E5, E25): whether a verified bundle may be taken as cover for root use at
    /// all, or the rule that says it never is.
    pub(crate) fn may_cover(&self) -> Result<(), Rule> {
        use crate::core::trust::Rule as Anchor;
        let r = self;
        if r.status != Status::Valid {
            return Err(Rule::E21);
        }
        if r.demo {
            return Err(Rule::E3);
        }
        if !matches!(r.roster_rule, Some(Anchor::Pinned | Anchor::Chained { .. })) {
            return Err(Rule::E5);
        }
        if !r.rehearsal_roots.is_empty() {
            return Err(Rule::E25);
        }
        if r.mode.is_rehearsal() {
            // A drill does not open root for real: root use during one is unexplained.
            return Err(Rule::E21);
        }
        Ok(())
    }

    /// The process exit code: 0 valid against a pinned (or the DEMO) roster, 1 invalid, 3
    /// incomplete, [`EXIT_UNPINNED`] valid but against an unpinned roster.
    pub fn exit_code(&self) -> i32 {
        match (self.status, &self.roster_rule) {
            (Status::Valid, Some(trust::Rule::Unpinned)) => EXIT_UNPINNED,
            (s, _) => s.exit_code(),
        }
    }
}

/// The new roster version of a rekey, copied into its bundle.
pub(crate) const ROSTER_NEXT: &str = "roster-next.toml";

/// Verifies a custodian's signature over a statement with their roster key.
fn verify_statement(key: &PublicKey, statement: &Statement, pem: &str) -> Result<(), crate::core::sign::BadSignature> {
    verify_prehashed(key, statement.namespace(), &Sha512::digest(statement.message()), pem.as_bytes())
}

pub use crate::core::sign::verify_prehashed;

/// Verifies the bundle in `dir` against the roster [`trust::resolve`] picks from the config and
/// `--roster` (never from anything the bundle says about itself). A configured or given roster
/// that cannot be trusted is an error (exit 2); a bundle whose own roster copy is the only anchor
/// and is not trusted is invalid.
pub fn verify(dir: &Path, config: &Config, given: Option<&Path>) -> Result<Report, VerifyError> {
    let jpath = dir.join(journal::FILE_NAME);
    if std::fs::symlink_metadata(&jpath).is_err() {
        return Err(VerifyError::NotABundle { path: dir.display().to_string(), hint: bundle_hint(dir) });
    }
    let anchor = match trust::resolve(config, given, Some(dir)) {
        Ok(t) => Ok(t),
        Err(e) if given.is_none() && config.roster_path().is_none() => Err(e),
        Err(e) => return Err(VerifyError::Trust(e)),
    };
    verify_dir(dir, anchor.as_ref())
}

impl trust::Anchor {
    /// Verifies one bundle against this anchor (the configured roster, or each bundle's own).
    pub fn verify(&self, config: &Config, dir: &Path) -> Result<Report, VerifyError> {
        match self {
            trust::Anchor::Configured(t) => verify_dir(dir, Ok(t)),
            trust::Anchor::PerBundle => verify_dir(dir, trust::resolve(config, None, Some(dir)).as_ref()),
        }
    }
}

/// Where the session directories are, when someone gave the data dir or a journal file.
fn bundle_hint(dir: &Path) -> String {
    if dir.is_file()
        && let Some(parent) = dir.parent()
    {
        return format!(" It is a file: give its directory, `breakglass verify {}`.", parent.display());
    }
    let sessions = if dir.join("sessions").is_dir() { dir.join("sessions") } else { dir.to_path_buf() };
    let mut found: Vec<String> = std::fs::read_dir(&sessions)
        .map(|rd| rd.flatten().filter(|e| e.path().join(journal::FILE_NAME).exists()).map(|e| e.path().display().to_string()).collect())
        .unwrap_or_default();
    found.sort();
    match found.len() {
        0 => " Session directories are under the data directory's sessions/ folder.".into(),
        n => format!(" It holds {n} session(s), for example: `breakglass verify {}`.", found[n - 1]),
    }
}

/// Verifies the bundle in `dir` against a trusted roster (or, when the only candidate was the
/// bundle's own copy and it is not trusted, the reason why not).
pub fn verify_dir(dir: &Path, anchor: Result<&TrustedRoster, &TrustError>) -> Result<Report, VerifyError> {
    verify_parts(dir, anchor, true)
}

/// [`verify_dir`] without the co-signatures over the whole file (`journal.jsonl.<id>.sig`): what
/// `recover` checks before it goes on, since it sets those files aside (they are over an earlier
/// journal).
pub(crate) fn verify_journal_part(dir: &Path, anchor: Result<&TrustedRoster, &TrustError>) -> Result<Report, VerifyError> {
    verify_parts(dir, anchor, false)
}

/// Read the typed entries once, choose the anchor (the trusted roster), apply the rules entry by
/// entry, then the co-signatures, then the verdict (rule E18).
fn verify_parts(dir: &Path, anchor: Result<&TrustedRoster, &TrustError>, cosigned: bool) -> Result<Report, VerifyError> {
    let jpath = dir.join(journal::FILE_NAME);
    let bytes = crate::core::fsread::read_regular(&jpath, MAX_JOURNAL_BYTES)
        .map_err(|why| VerifyError::Read { path: jpath.display().to_string(), why })?;
    // Hash for the co-signatures on the other core while this one walks the chain.
    let (sha512, chain, read) = read::read_journal(&bytes);
    let mut r = Report {
        mode: Mode::Incident,
        entries: chain.entries,
        problems: chain.problems.clone(),
        head: hex::encode(chain.head),
        head_words: crate::core::notice::head_words(&chain.head),
        head_seq: chain.entries.checked_sub(1),
        ..Report::default()
    };
    let opened = rules::labels(&read, &mut r);
    let roster = rules::anchor(dir, anchor, &opened, &mut r);
    if roster.is_some() {
        rules::roster_copy(dir, &opened, &mut r);
    }
    if r.demo && !opened.empty {
        r.warnings.push("DEMO session: software keys that anyone can copy; it proves nothing about real custodians".into());
    }
    let read::Read { events, specials, problems } = read;
    r.timeline = events;
    r.problems.extend(problems);
    let mut walk = rules::Walk::default();
    for s in &specials {
        walk.entry(s, roster, &mut r);
    }
    r.problems.extend(rules::not_in_the_future(&r.timeline, chrono::Utc::now()));
    r.problems.extend(rules::after_the_end(&r.timeline));
    r.ended = r.timeline.last().map(|e| e.ts.clone());
    r.custodians.clone_from(&walk.checked_in);
    rekey::check_rekey_signatures(dir, roster, walk.rekey_new.as_deref(), &walk.rekey_sigs, walk.rekey_drill, &mut r);
    rotate::check_rotations(dir, roster, &walk.rotations, &mut r);
    rules::directory_name(dir, &mut r);
    rules::never_announced(&mut r);
    if cosigned {
        rules::cosignatures(dir, roster, sha512.as_ref(), &walk.checked_in, &mut r);
    }
    r.status = rules::verdict(&mut r, chain.truncated_tail, roster.map_or(2, |ro| ro.quorum));
    Ok(r)
}

/// SHA-256 hex of bytes (used by callers that show file hashes).
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E21: only a valid, pinned, real (not DEMO, drill or rehearsal) session is cover.
    #[test]
    fn e21_what_never_covers() {
        use super::{Report, Status as V};
        let good =
            Report { status: V::Valid, mode: Mode::Incident, roster_rule: Some(crate::core::trust::Rule::Pinned), ..Default::default() };
        assert_eq!(good.may_cover(), Ok(()));
        let chained = Report { roster_rule: Some(crate::core::trust::Rule::Chained { pinned_version: 1, rotations: 1 }), ..good.clone() };
        assert_eq!(chained.may_cover(), Ok(()));
        assert_eq!((Report { status: V::Incomplete, ..good.clone() }).may_cover(), Err(Rule::E21));
        assert_eq!((Report { status: V::Invalid, ..good.clone() }).may_cover(), Err(Rule::E21));
        assert_eq!((Report { demo: true, ..good.clone() }).may_cover(), Err(Rule::E3));
        assert_eq!((Report { roster_rule: Some(crate::core::trust::Rule::Unpinned), ..good.clone() }).may_cover(), Err(Rule::E5));
        assert_eq!((Report { roster_rule: None, ..good.clone() }).may_cover(), Err(Rule::E5));
        assert_eq!((Report { mode: Mode::Drill, ..good.clone() }).may_cover(), Err(Rule::E21));
        assert_eq!((Report { rehearsal_roots: vec!["lab".into()], ..good }).may_cover(), Err(Rule::E25));
    }

    #[test]
    fn prehashed_verification_agrees_with_ssh_key() {
        let roster = crate::commands::demo::roster();
        let mut tokens = crate::commands::demo::tokens(&roster);
        let t = &mut tokens[0];
        t.verify_pin(&secrecy::SecretString::from("314159".to_string())).unwrap();
        let msg = b"hello journal\n";
        let sig = crate::core::sign::sshsig(t.as_mut(), crate::core::sign::SESSION_NAMESPACE, msg).unwrap();
        let key = roster.key("alice").unwrap();
        assert!(crate::core::sign::verify(key, crate::core::sign::SESSION_NAMESPACE, msg, &sig).is_ok());
        let pem = crate::core::sign::to_pem(&sig).unwrap();
        assert!(verify_prehashed(key, crate::core::sign::SESSION_NAMESPACE, &Sha512::digest(msg), pem.as_bytes()).is_ok());
        use crate::core::sign::BadSignature as Bad;
        let other_text = verify_prehashed(key, crate::core::sign::SESSION_NAMESPACE, &Sha512::digest(b"hello journal!\n"), pem.as_bytes());
        assert_eq!(other_text, Err(Bad::Mismatch));
        let bob = verify_prehashed(roster.key("bob").unwrap(), crate::core::sign::SESSION_NAMESPACE, &Sha512::digest(msg), pem.as_bytes());
        assert_eq!(bob, Err(Bad::OtherKey));
        let other_namespace = verify_prehashed(key, "other", &Sha512::digest(msg), pem.as_bytes());
        assert!(matches!(other_namespace, Err(Bad::Namespace { .. })), "{other_namespace:?}");
        assert!(matches!(verify_prehashed(key, "other", &Sha512::digest(msg), b"junk"), Err(Bad::NotSshsig(_))));
    }
}
