//! Checks a session bundle: the hash chain, every signature in it, and the co-signatures over it,
//! all against a roster the reviewer trusts.
//!
//! Outcomes: `valid` (complete chain, closed or aborted, co-signed by two different custodians of
//! the trusted roster), `invalid` (tampered: names the line), `incomplete` (the process stopped
//! before the session was signed; never reported as valid).

use crate::config::Config;
use crate::evidence::Rule;
use crate::journal::{self, Entry, Problem, ProblemKind, kind};
use crate::roster::Roster;
use crate::sign::{CHECKIN_NAMESPACE, SESSION_NAMESPACE};
use crate::trust::{self, TrustError, TrustedRoster};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};
use ssh_key::PublicKey;
use std::borrow::Cow;
use std::path::Path;

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

/// The entry's kind: the tool's own kinds are borrowed, so a timeline of 100,000 entries does not
/// hold 100,000 copies of "note".
fn kind_of(k: &str) -> Cow<'static, str> {
    Entry::KINDS.iter().find(|s| **s == k).map_or_else(|| Cow::Owned(k.to_string()), |s| Cow::Borrowed(*s))
}

/// The result of verifying a bundle (the `--json` output; extra fields beyond DESIGN.md are fine).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub status: Status,
    pub session_id: String,
    pub mode: String,
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
    Read { path: String, why: crate::fsread::ReadError },
    #[error("{path} is not a session directory (no journal.jsonl in it).{hint}")]
    NotABundle { path: String, hint: String },
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// Largest journal read (a 100,000-entry journal is about 25 MB).
pub const MAX_JOURNAL_BYTES: u64 = 1 << 30;

/// The timeline words of the kinds that make up most of a long journal (steps, notes, reveals,
/// closing items): one source for the fast path (from [`Common`]) and for [`summary`].
fn step_words(step: u64, of: u64, done: bool) -> String {
    format!("step {step} of {of} {}", if done { "done" } else { "un-checked" })
}

fn note_words(step: Option<u64>, text: &str) -> String {
    match step {
        Some(n) => format!("note on step {n}: {text}"),
        None => format!("note: {text}"),
    }
}

fn secret_words(secret: u64, for_step: Option<u64>) -> String {
    match for_step {
        Some(n) => format!("secret {secret} (for step {n}) revealed on screen"),
        None => format!("secret {secret} revealed on screen"),
    }
}

fn closing_words(item: u64, checked: bool) -> String {
    format!("closing item {item} {}", if checked { "confirmed" } else { "un-checked" })
}

/// The words of a small kind from the fields [`Common`] reads, without reading the line again;
/// `None` for every other kind, and for a small kind that lacks a field (then the whole entry is
/// read, and the problem named).
fn small_summary(c: &Common) -> Option<String> {
    Some(match c.kind.as_ref() {
        kind::StepDone => step_words(c.step?, c.of?, true),
        kind::StepUndone => step_words(c.step?, c.of?, false),
        kind::Note => note_words(c.step, c.text.as_deref()?),
        kind::SecretRevealed => secret_words(c.secret?, c.for_step),
        kind::ClosingChecked => closing_words(c.item?, true),
        kind::ClosingUnchecked => closing_words(c.item?, false),
        _ => return None,
    })
}

/// The fields every entry is read for: the header, the labels, and what the common kinds'
/// timeline words need. Most lines are read only into this; the few kinds that carry signatures,
/// notices or the outcome are read again whole.
use journal::Line as Common;

fn short(h: &str) -> String {
    crate::plain::one_line(&h.chars().take(12).collect::<String>()).into_owned()
}

fn list(v: &[String]) -> String {
    if v.is_empty() { "nobody".into() } else { crate::plain::one_line(&v.join(", ")).into_owned() }
}

fn summary(e: &Entry, mode: Option<&str>) -> String {
    use Entry as E;
    let opt = |o: &Option<String>| o.as_deref().unwrap_or("").to_string();
    match e {
        E::SessionOpened { reason, .. } => format!("{} session opened: {reason}", mode.unwrap_or("").to_uppercase()),
        E::ClockJump { observed, jump_ms, .. } => format!(
            "the wall clock jumped by {:+.1} s (it read {observed}); times from here are kept in order, and order follows mono_ms",
            *jump_ms as f64 / 1000.0
        ),
        E::SessionRecovered { entries, last_ts, partial_tail, reason, .. } => format!(
            "session RECOVERED after an interruption: {entries} entries before, the last at {last_ts}{}; reason: {reason}",
            if partial_tail.is_some() { " (a partial line cut by the crash is kept in this entry)" } else { "" },
        ),
        E::CustodianVerified { custodian, serial, .. } => format!("{custodian} checked in with key {serial} (challenge signed)"),
        E::CustodianRefused { serial, custodian, why, .. } => {
            format!("key {serial} refused{}: {why}", custodian.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())
        }
        E::NoticeSent { phase, channel, message_id, .. } => format!("notice `{phase}` sent via {channel} (id {message_id})"),
        E::NoticeFailed { phase, error, .. } => format!("notice `{phase}` NOT delivered: {error}"),
        E::NoticeAcknowledged { custodian, phase, .. } => format!("{custodian} acknowledged going on without notice `{phase}` (signed)"),
        E::RunbookUnsealed { steps, purpose, .. } => match purpose.as_deref() {
            Some("reseal") => format!("runbook opened to be sealed again for the new roster ({steps} steps, not shown)"),
            Some("offboarding steps") => format!("runbook opened for its offboarding steps ({steps} steps, not shown)"),
            _ => format!("runbook unsealed ({steps} steps)"),
        },
        E::RekeyApproved { by, new_roster_sha256, .. } => {
            format!("the roster change was approved by {} (new version {})", by.join(" and "), short(new_roster_sha256))
        }
        E::RekeySigned { custodian, serial, role, .. } if role == "added" => {
            format!("newcomer {custodian} proved key {serial} and signed the new roster")
        }
        E::RekeySigned { custodian, serial, .. } => format!("{custodian} signed the new roster with key {serial}"),
        E::RekeyCommitting { .. } => "the new roster and runbook are staged, checked and swapped in".into(),
        E::RekeyCommitted { new_version, new_roster_sha256, old_roster_sha256, added, removed, opened, .. } => format!(
            "roster version {new_version} in place ({}, was {}): added {}; removed {}; opened to check: {}",
            short(new_roster_sha256),
            short(old_roster_sha256),
            list(added),
            list(removed),
            list(opened)
        ),
        E::RekeyFailed { error } => format!("the swap did not happen: {error}"),
        E::RekeySettled { new_roster_sha256, live_roster_sha256, .. } if new_roster_sha256 == live_roster_sha256 => {
            format!("after the interruption, the new roster version ({}) is in place", short(new_roster_sha256))
        }
        E::RekeySettled { new_roster_sha256, live_roster_sha256, .. } => format!(
            "after the interruption, the new roster version ({}) is NOT in place: the live roster is {}",
            short(new_roster_sha256),
            short(live_roster_sha256)
        ),
        E::OffboardDone { item, what, by } => format!("offboarding item {item} done ({}): {what}", by.join(" and ")),
        E::OffboardConfirmed { custodian, item, api, target, iam_user, .. } => {
            format!("{custodian} confirmed item {item} on their key: {} {target} of IAM user {iam_user}", opt(api))
        }
        E::RekeyRehearsed { new_version, new_roster_sha256, opened, .. } => format!(
            "DRILL: roster version {new_version} ({}) sealed and checked, then set aside (opened: {}); nothing changed",
            short(new_roster_sha256),
            list(opened)
        ),
        E::OffboardApplying { item, api, target } => format!("item {item}: {} {target} ...", opt(api)),
        E::OffboardApplied { item, api, target, request_id, note } => format!(
            "item {item}: {} {target} made (request id {}){}",
            opt(api),
            opt(request_id),
            note.as_deref().map(|n| format!("; {n}")).unwrap_or_default()
        ),
        E::OffboardRehearsed { item, api, target } => format!("item {item}: {} {target} confirmed, not made (drill)", opt(api)),
        E::OffboardFailed { item, api, target, error } => format!("item {item}: {} {target} FAILED: {error}", opt(api)),
        E::OffboardFinished { person, done, total, not_done, .. } => format!(
            "offboarding of {person} finished: {done} of {total} items done{}",
            if not_done.is_empty() {
                String::new()
            } else {
                format!("; NOT done: {}", not_done.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            }
        ),
        E::RunbookFailed { error } => format!("runbook could not be opened: {error}"),
        E::StepDone { step, of } => step_words(*step, *of, true),
        E::StepUndone { step, of } => step_words(*step, *of, false),
        E::Note { step, text } => note_words(*step, text),
        E::SecretRevealed { secret, for_step, .. } => secret_words(*secret, *for_step),
        E::ClosingChecked { item, .. } => closing_words(*item, true),
        E::ClosingUnchecked { item } => closing_words(*item, false),
        E::SessionClosed { .. } if mode == Some("rekey") => "session closed: the rekey is done".into(),
        E::SessionClosed { steps_done, steps_total, .. } => format!("session closed ({steps_done} of {steps_total} steps done)"),
        E::SessionAborted { at, steps_done, .. } => format!("session ABORTED at {at} ({steps_done} steps done)"),
        E::AwsIdentity { account, principal, .. } => format!("AWS account check: {} {}", opt(account), opt(principal)),
        E::AwsCall { api, target, outcome, request_id } => format!("AWS {api} on {target}: {outcome} (request {})", opt(request_id)),
        E::RootConfirmed { custodian, action, .. } => format!("{custodian} confirmed on their key: {action}"),
        E::RootAction { action, result, error } => {
            format!("root action `{action}`: {}", if error.is_some() { opt(error) } else { opt(result) })
        }
        other => other.kind().to_string(),
    }
}

/// A rekey's signatures on the new roster version, checked against the copy of it in the bundle
/// (`roster-next.toml`): the copy must be the version the journal approved, and each signature must
/// verify with the key the new version (or, for a departing custodian, the session's roster) names.
fn check_rekey_signatures(
    dir: &Path,
    roster: Option<&Roster>,
    approved: Option<&str>,
    sigs: &[(usize, String, String, String)],
    drill: bool,
    r: &mut Report,
) {
    let ns = if drill { crate::sign::ROSTER_DRILL_NAMESPACE } else { crate::sign::ROSTER_NAMESPACE };
    // A committed roster change is a claim about who signed what: it is checked whether or not
    // the journal holds any `rekey.signed` entry (without one, nothing vouches for it).
    let committed = r.rekey.clone();
    if sigs.is_empty() && committed.is_none() {
        return;
    }
    let path = dir.join(ROSTER_NEXT);
    let next = match crate::fsread::read_regular(&path, crate::roster::MAX_ROSTER_BYTES) {
        Ok(b) => match Roster::parse(&b, ROSTER_NEXT) {
            Ok(n) => n,
            Err(e) => {
                r.problems.push(Problem::new(0, Rule::E17, ProblemKind::Roster, format!("{ROSTER_NEXT}: {e}")));
                return;
            }
        },
        Err(crate::fsread::ReadError::Missing) if committed.is_some() => {
            r.problems.push(Problem::new(
                0, Rule::E17,
                ProblemKind::Roster,
                format!("the journal records a committed roster change, but the bundle has no {ROSTER_NEXT}: nothing shows who signed the new version"),
            ));
            return;
        }
        Err(crate::fsread::ReadError::Missing) => {
            r.warnings.push(format!("the bundle has no {ROSTER_NEXT}: the rekey's signatures on the new roster cannot be checked here"));
            return;
        }
        Err(e) => {
            r.problems.push(Problem::new(0, Rule::E1, ProblemKind::File, format!("{ROSTER_NEXT} {e}")));
            return;
        }
    };
    let mut good: Vec<String> = vec![];
    if approved != Some(next.sha256().as_str()) {
        r.problems.push(Problem::new(
            0,
            Rule::E17,
            ProblemKind::Roster,
            format!("{ROSTER_NEXT} is not the roster version the rekey approved (or nothing was approved)"),
        ));
        return;
    }
    for (line, id, sig, named) in sigs {
        let key = next.key(id).or_else(|| roster.and_then(|ro| ro.key(id)));
        let outcome = match key {
            None => Err(format!("`{id}` is in neither roster version")),
            Some(_) if *named != next.sha256() => Err("it names another roster version".to_string()),
            Some(k) => verify_sig_text(k, ns, &next.bytes, sig),
        };
        match outcome {
            Err(e) => {
                r.problems.push(Problem::new(*line, Rule::E17, ProblemKind::Signature, format!("{id}'s signature on the new roster: {e}")))
            }
            Ok(()) => good.push(id.clone()),
        }
    }
    if let (Some(k), Some(old)) = (committed, roster) {
        check_rotation(&k, old, &next, &good, r);
    }
}

/// A committed roster change must say what happened, and the signatures in the journal must make
/// it a rotation that `roster check` would trust: a quorum of the old version, every custodian it
/// adds or whose key material changes, and a quorum of the new version.
fn check_rotation(k: &RekeyRecord, old: &Roster, next: &Roster, good: &[String], r: &mut Report) {
    let bad = |what: String| Problem::new(0, Rule::E17, ProblemKind::Roster, format!("the committed roster change {what}"));
    if r.mode != "rekey" && r.mode != "offboard" {
        r.problems.push(bad(format!(
            "is in a session of mode `{}`: only a rekey or an offboarding changes the roster",
            crate::plain::one_line(&r.mode)
        )));
    }
    if k.new_roster_sha256 != next.sha256() || u64::from(next.version) != k.new_version {
        r.problems.push(bad(format!("names version {} ({}), not the bundle's {ROSTER_NEXT}", k.new_version, short(&k.new_roster_sha256))));
    }
    if k.old_roster_sha256 != old.sha256() {
        r.problems.push(bad(format!("replaces {}, not the roster the session ran under", short(&k.old_roster_sha256))));
    }
    if next.previous.as_deref() != Some(old.sha256().as_str()) || old.version.checked_add(1) != Some(next.version) {
        r.problems.push(bad(format!(
            "is not the next version of the session's roster: {ROSTER_NEXT} is version {} and names {} as the one before it; the session ran under version {} ({})",
            next.version,
            next.previous.as_deref().map_or("none".to_string(), short),
            old.version,
            short(&old.sha256())
        )));
    }
    let ids = |ro: &Roster| ro.custodians.iter().map(|c| c.id.clone()).collect::<std::collections::BTreeSet<_>>();
    let (before, after) = (ids(old), ids(next));
    let added: std::collections::BTreeSet<String> = after.difference(&before).cloned().collect();
    let removed: std::collections::BTreeSet<String> = before.difference(&after).cloned().collect();
    if added != k.added.iter().cloned().collect() || removed != k.removed.iter().cloned().collect() {
        r.problems.push(bad(format!(
            "says it added {} and removed {}, but {ROSTER_NEXT} adds {} and removes {}",
            list(&k.added),
            list(&k.removed),
            list(&added.into_iter().collect::<Vec<_>>()),
            list(&removed.into_iter().collect::<Vec<_>>())
        )));
    }
    let unsigned: Vec<String> = k.signed_by.iter().filter(|id| !good.contains(id)).cloned().collect();
    if !unsigned.is_empty() {
        r.problems.push(bad(format!("names {} as signers, with no signature of theirs on the new roster that verifies", list(&unsigned))));
    }
    let of = |ro: &Roster| good.iter().filter(|id| ro.custodian(id).is_some()).count();
    if of(old) < old.quorum {
        r.problems.push(bad(format!("is signed by {} of the old version's custodians; its quorum is {}", of(old), old.quorum)));
    }
    if of(next) < next.quorum {
        r.problems.push(bad(format!("is signed by {} of the new version's custodians; its quorum is {}", of(next), next.quorum)));
    }
    for c in &next.custodians {
        let changed = old.custodian(&c.id).is_none_or(|b| {
            old.key(&c.id) != next.key(&c.id) || b.age_recipient != c.age_recipient || b.yubikey_serial != c.yubikey_serial
        });
        if changed && !good.contains(&c.id) {
            r.problems.push(bad(format!("adds `{}` (or changes their keys) without their own signature on the new roster", c.id)));
        }
    }
}

/// Exit code of a bundle whose every check passed against a roster that nothing anchors (no
/// `[trust] roster_sha256`, no `--roster` that chains to one): not evidence until a pin says who
/// the custodians are, so a script that gates on exit 0 is never told "valid".
pub const EXIT_UNPINNED: i32 = 4;

impl Report {
    /// Rules E21 (with E3, E5, E25): whether a verified bundle may be taken as cover for root use at
    /// all, or the rule that says it never is.
    pub fn may_cover(&self) -> Result<(), Rule> {
        use crate::trust::Rule as Anchor;
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
        if r.mode == "drill" {
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
pub const ROSTER_NEXT: &str = "roster-next.toml";

fn verify_sig_text(key: &PublicKey, namespace: &str, msg: &[u8], pem: &str) -> Result<(), String> {
    verify_prehashed(key, namespace, &Sha512::digest(msg), pem.as_bytes())
}

pub use crate::sign::verify_prehashed;

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
pub fn verify_journal_part(dir: &Path, anchor: Result<&TrustedRoster, &TrustError>) -> Result<Report, VerifyError> {
    verify_parts(dir, anchor, false)
}

fn verify_parts(dir: &Path, anchor: Result<&TrustedRoster, &TrustError>, cosigned: bool) -> Result<Report, VerifyError> {
    let jpath = dir.join(journal::FILE_NAME);
    let bytes = crate::fsread::read_regular(&jpath, MAX_JOURNAL_BYTES)
        .map_err(|why| VerifyError::Read { path: jpath.display().to_string(), why })?;
    // Hash for the co-signatures on the other core while this one walks the chain.
    let (sha512, chain, read) = read_journal(&bytes);
    let mut r = Report {
        status: Status::Valid,
        session_id: String::new(),
        mode: "incident".into(),
        demo: false,
        entries: chain.entries,
        signers: vec![],
        problems: chain.problems.clone(),
        warnings: vec![],
        outcome: None,
        started: None,
        ended: None,
        custodians: vec![],
        head: hex::encode(chain.head),
        head_words: crate::notice::head_words(&chain.head),
        head_seq: chain.entries.checked_sub(1),
        roster_source: String::new(),
        roster_rule: None,
        roster_sha256: None,
        recovered: None,
        recoveries: vec![],
        rekey: None,
        offboard: None,
        runbook_steps: None,
        clock_jumps: 0,
        scenario: None,
        notices: vec![],
        roster_custodians: vec![],
        rehearsal_roots: vec![],
        timeline: vec![],
    };
    let first = read.specials.first().filter(|s| s.index == 0);
    let first_mode = first.map(|s| s.mode.as_deref().unwrap_or("incident").to_string());
    let opened = first.and_then(|s| match &*s.entry {
        Entry::SessionOpened { session_id, roster_sha256, scenario, custodians, rehearsal_roots, .. } => {
            r.rehearsal_roots.clone_from(rehearsal_roots);
            Some((session_id.clone(), roster_sha256.clone(), scenario.clone(), custodians.clone()))
        }
        _ => None,
    });
    let closed = read.specials.iter().any(|s| matches!(*s.entry, Entry::SessionClosed { .. } | Entry::SessionAborted { .. }));
    let no_entries = read.events.is_empty();
    let opened_sha = opened.as_ref().map(|o| o.1.clone());
    let claims_demo = first.is_some_and(|s| s.demo == Some(true));

    // The roster the session ran under: a version of the trusted chain, named by session.opened.
    let roster: Option<&Roster> = match anchor {
        Err(e) => {
            r.roster_source = "the bundle's own roster.toml (nothing configured or given)".into();
            let missing = matches!(e, TrustError::Unreadable { .. }) && !dir.join("roster.toml").exists();
            if missing && !closed {
                r.problems.push(Problem::new(
                    0,
                    Rule::E7,
                    ProblemKind::Interrupted,
                    "the bundle has no roster.toml yet (the process stopped before writing it)",
                ));
            } else {
                r.problems.push(Problem::new(
                    0,
                    Rule::E2,
                    ProblemKind::Roster,
                    format!("no trusted roster to check the signers against: {e}"),
                ));
            }
            None
        }
        Ok(t) => {
            r.roster_source = t.describe();
            r.roster_rule = Some(t.rule().clone());
            r.demo = t.is_demo();
            if let Some(w) = t.warning() {
                r.warnings.push(w);
            }
            if claims_demo && !t.is_demo() {
                r.problems.push(Problem::new(1, Rule::E3, ProblemKind::Label, "a DEMO session, signed with the public DEMO keys, is checked against a real roster: it proves nothing and is not valid here"));
            } else if !claims_demo && t.is_demo() && !no_entries {
                r.problems.push(Problem::new(
                    1,
                    Rule::E3,
                    ProblemKind::Label,
                    "the session is not labelled DEMO, yet its roster is the public DEMO roster",
                ));
            }
            match opened_sha.as_deref() {
                None if no_entries => t.version_with(&t.roster().sha256()),
                None => {
                    r.problems.push(Problem::new(
                        1,
                        Rule::E8,
                        ProblemKind::Entry,
                        "session.opened does not name the roster it ran under (roster_sha256)",
                    ));
                    None
                }
                Some(sha) => match t.version_with(sha) {
                    Some(v) => {
                        r.roster_sha256 = Some(sha.to_string());
                        if v.version != t.roster().version {
                            r.warnings.push(format!(
                                "the session ran under roster version {} (the trusted roster is now version {}): its signers are checked against that version, so a custodian removed since could have signed it. Check that it is older than the rekey that made the current version",
                                v.version,
                                t.roster().version
                            ));
                        }
                        Some(v)
                    }
                    None => {
                        r.problems.push(Problem::new(
                            1,
                            Rule::E4,
                            ProblemKind::Roster,
                            format!(
                                "the session ran under roster {}, which is neither the trusted roster nor a version in its chain",
                                short(sha)
                            ),
                        ));
                        None
                    }
                },
            }
        }
    };
    // The bundle's copy of the roster must be the one the session names.
    if let (Some(sha), true) = (opened_sha.as_deref(), roster.is_some()) {
        let copy = dir.join("roster.toml");
        match crate::fsread::read_regular(&copy, crate::roster::MAX_ROSTER_BYTES) {
            Ok(b) if sha256_hex(&b) != sha => r.problems.push(Problem::new(
                0,
                Rule::E4,
                ProblemKind::Roster,
                "the bundle's roster.toml is not the roster the session opened with",
            )),
            Ok(_) => {}
            Err(crate::fsread::ReadError::Missing) if closed => r.problems.push(Problem::new(
                0,
                Rule::E4,
                ProblemKind::Roster,
                "the bundle has no roster.toml, though the session was closed",
            )),
            Err(crate::fsread::ReadError::Missing) => r.problems.push(Problem::new(
                0,
                Rule::E7,
                ProblemKind::Interrupted,
                "the bundle has no roster.toml yet (the process stopped before writing it)",
            )),
            Err(e) => r.problems.push(Problem::new(0, Rule::E1, ProblemKind::File, format!("roster.toml {e}"))),
        }
    }

    // Walk the entries for the timeline and the signatures they carry.
    let mut checked_in: Vec<String> = vec![];
    // Destructive root actions confirmed (action label, custodian) and not yet run.
    let mut confirmed: Vec<(String, String)> = vec![];
    let mut applied: Vec<String> = vec![];
    // `rekey.signed` entries (line, custodian, signature, the roster hash they name), checked
    // against the bundle's `roster-next.toml` once the journal is read.
    let mut rekey_sigs: Vec<(usize, String, String, String)> = vec![];
    let mut rekey_new: Option<String> = None;
    let Read { events, specials, problems: placement } = read;
    let last_ts = events.last().map(|e| e.ts.clone());
    if let Some(e) = events.first() {
        r.started = Some(e.ts.clone());
        if e.kind != kind::SessionOpened {
            r.problems.push(Problem::new(1, Rule::E8, ProblemKind::Entry, "the first entry is not session.opened"));
        }
    }
    if let Some(mode) = first_mode {
        r.mode = mode;
    }
    if let Some((session_id, _, scenario, custodians)) = opened {
        r.session_id = session_id;
        r.scenario = scenario;
        r.roster_custodians = custodians;
    }
    if r.demo && !no_entries {
        r.warnings.push("DEMO session: software keys that anyone can copy; it proves nothing about real custodians".into());
    }
    r.timeline = events;
    r.problems.extend(placement);
    let yubico_roots = crate::attest::TrustStore::yubico().root_names();
    for Special { index: i, ts, entry, .. } in &specials {
        let (i, n) = (*i, i + 1);
        let (kind, ts) = (entry.kind(), ts.to_string());
        // A key attested by a root that is not Yubico's marks a rehearsal, whatever session.opened says.
        if let Entry::CustodianVerified { attestation: Some(a), .. } = &**entry
            && !yubico_roots.contains(&a.root)
            && !r.rehearsal_roots.iter().any(|x| x.starts_with(&a.root))
        {
            r.rehearsal_roots.push(a.root.clone());
        }
        // The entries that carry a custodian's signature over a statement.
        let signed = match &**entry {
            Entry::CustodianVerified { custodian, challenge, sshsig, .. } => Some((CHECKIN_NAMESPACE, custodian, challenge, sshsig)),
            Entry::NoticeAcknowledged { custodian, statement, sshsig, .. } => {
                Some((crate::ceremony::ACK_NAMESPACE, custodian, statement, sshsig))
            }
            Entry::RootConfirmed { custodian, statement, sshsig, .. } | Entry::OffboardConfirmed { custodian, statement, sshsig, .. } => {
                Some((crate::ceremony::CONFIRM_NAMESPACE, custodian, statement, sshsig))
            }
            _ => None,
        };
        if let (Some((ns, id, msg, sig)), Some(ro)) = (signed, roster) {
            match ro.key(id) {
                None => r.problems.push(Problem::new(
                    n,
                    Rule::E10,
                    ProblemKind::Signer,
                    format!("`{id}` is not a custodian of the session's roster"),
                )),
                Some(key) => {
                    if let Err(why) = statement_format(entry, msg, &r.session_id) {
                        r.problems.push(Problem::new(n, Rule::E10, ProblemKind::Statement, format!("{kind}: {why}")));
                    } else if let Err(e) = verify_sig_text(key, ns, msg.as_bytes(), sig) {
                        r.problems.push(Problem::new(n, Rule::E10, ProblemKind::Signature, format!("{id}'s signature in {kind}: {e}")));
                    } else if let Entry::RootConfirmed { action, .. } = &**entry {
                        confirmed.push((action.clone(), id.clone()));
                    } else if kind == kind::CustodianVerified {
                        if checked_in.iter().any(|c| c == id) {
                            r.problems.push(Problem::new(
                                n,
                                Rule::E11,
                                ProblemKind::Signer,
                                format!("`{id}` checked in twice: two different custodians are required"),
                            ));
                        }
                        checked_in.push(id.clone());
                    }
                }
            }
        }
        let notice = |phase: &str, outcome: &str, channel: Option<&String>, message_id: Option<&String>| NoticeRecord {
            phase: phase.to_string(),
            outcome: outcome.to_string(),
            channel: channel.cloned(),
            message_id: message_id.cloned(),
            ts: ts.clone(),
        };
        // The runbook opens only once a quorum has checked in on their keys (in this run: a
        // recovery starts the count again). An unkeyed chain lets whoever can write the file
        // invent "unsealed" lines; signed check-ins cannot be invented.
        if let (Entry::RunbookUnsealed { with, .. }, Some(ro)) = (&**entry, roster)
            && (checked_in.len() < ro.quorum || with.len() < ro.quorum || with.iter().any(|w| !checked_in.contains(w)))
        {
            r.problems.push(Problem::new(
                n, Rule::E12,
                ProblemKind::Entry,
                format!(
                    "runbook.unsealed (with {}) before a quorum of {} had checked in with a signed challenge (checked in: {}): the runbook opens only after that",
                    list(with),
                    ro.quorum,
                    list(&checked_in)
                ),
            ));
        }
        // A root action that changes the account runs only once every custodian checked in has
        // confirmed it on their key (a `root.confirmed` whose signature verified, above).
        if let (Entry::RootAction { action, .. }, Some(_)) = (&**entry, roster)
            && *action != crate::root::Action::Audit.label()
        {
            let missing: Vec<String> =
                checked_in.iter().filter(|id| !confirmed.contains(&(action.clone(), (*id).clone()))).cloned().collect();
            if !missing.is_empty() {
                r.problems.push(Problem::new(
                    n, Rule::E13,
                    ProblemKind::Entry,
                    format!(
                        "root action `{}` without the signed confirmation of {}: a destructive root action runs only after every custodian present confirmed it on their key",
                        crate::plain::one_line(action),
                        list(&missing)
                    ),
                ));
            }
            confirmed.retain(|(a, _)| a != action);
        }
        match &**entry {
            Entry::ClockJump { .. } => r.clock_jumps += 1,
            Entry::SessionRecovered { entries, last_ts, partial_tail, .. } => {
                // A quorum checks in again to close it: the co-signers must be among them.
                checked_in.clear();
                let gap = chrono::DateTime::parse_from_rfc3339(&ts)
                    .ok()
                    .zip(chrono::DateTime::parse_from_rfc3339(last_ts).ok())
                    .map(|(a, b)| (a - b).num_seconds());
                let rec = Recovered {
                    at_entry: i as u64,
                    entries_before: *entries,
                    last_ts_before: last_ts.clone(),
                    recovered_ts: ts.clone(),
                    gap_s: gap,
                    partial_tail: partial_tail.is_some(),
                };
                // E15, E20: every recovery's gap counts, not only the last one's.
                r.recoveries.push(rec.clone());
                r.recovered = Some(rec);
                if *entries != i as u64 {
                    r.problems.push(Problem::new(
                        n,
                        Rule::E15,
                        ProblemKind::Entry,
                        "session.recovered does not name the number of entries before it",
                    ));
                }
            }
            Entry::NoticeSent { phase, channel, message_id, .. } => r.notices.push(notice(phase, "sent", Some(channel), Some(message_id))),
            Entry::NoticeFailed { phase, .. } => r.notices.push(notice(phase, "failed", None, None)),
            Entry::NoticeAcknowledged { phase, .. } => r.notices.push(notice(phase, "acknowledged", None, None)),
            Entry::RekeySigned { custodian, sshsig, roster_sha256, .. } => {
                rekey_sigs.push((n, custodian.clone(), sshsig.clone(), roster_sha256.clone()));
            }
            Entry::RekeyApproved { new_roster_sha256, .. } if rekey_new.is_none() => rekey_new = Some(new_roster_sha256.clone()),
            Entry::OffboardApplied { api, target, request_id, .. } => {
                applied.push(format!("{} {target} ({})", api.as_deref().unwrap_or(""), request_id.as_deref().unwrap_or("no request id")))
            }
            Entry::OffboardFinished { person, done, total, not_done, target_s } => {
                let elapsed = r.started.as_deref().and_then(|a| {
                    Some((chrono::DateTime::parse_from_rfc3339(&ts).ok()? - chrono::DateTime::parse_from_rfc3339(a).ok()?).num_seconds())
                });
                r.offboard = Some(OffboardRecord {
                    person: person.clone(),
                    done: *done as u64,
                    total: *total as u64,
                    not_done: not_done.iter().map(|x| *x as u64).collect(),
                    elapsed_s: elapsed,
                    target_s: *target_s,
                    applied: applied.clone(),
                });
            }
            Entry::RekeyCommitted { old_roster_sha256, new_roster_sha256, new_version, added, removed, signed_by, opened, .. } => {
                r.rekey = Some(RekeyRecord {
                    old_roster_sha256: old_roster_sha256.clone(),
                    new_roster_sha256: new_roster_sha256.clone(),
                    new_version: u64::from(*new_version),
                    added: added.clone(),
                    removed: removed.clone(),
                    signed_by: signed_by.clone(),
                    opened: opened.clone(),
                });
            }
            Entry::RunbookUnsealed { steps, purpose: None, .. } if r.runbook_steps.is_none() => r.runbook_steps = Some(*steps),
            Entry::SessionClosed { .. } => r.outcome = Some("closed".into()),
            Entry::SessionAborted { .. } => r.outcome = Some("aborted".into()),
            _ => {}
        }
    }
    // A journal cannot record the future. Times never go backwards along the chain, so its last
    // time is its latest; it may be ahead of this host's clock by a day of clock error at most.
    // (A session dated years ahead would otherwise cover every root use until then in the audit.)
    let now = chrono::Utc::now();
    let horizon = (now + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    if let (Some(t), Some(e)) = (&last_ts, r.timeline.last())
        && t.as_str() > horizon.as_str()
    {
        r.problems.push(Problem::new(
            e.seq as usize + 1, Rule::E6,
            ProblemKind::Entry,
            format!(
                "the journal's last entry is dated {}, more than a day after this host's clock ({}): a journal cannot record the future. Check this host's clock; if it is right, the dates were forged",
                crate::plain::one_line(t),
                now.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ));
    }
    r.problems.extend(after_the_end(&r.timeline));
    r.ended = last_ts;
    r.custodians = checked_in.clone();
    let drill = specials.iter().any(|s| matches!(*s.entry, Entry::RekeyRehearsed { .. }));
    check_rekey_signatures(dir, roster, rekey_new.as_deref(), &rekey_sigs, drill, &mut r);
    if !r.session_id.is_empty()
        && let Some(name) = dir.canonicalize().ok().as_deref().and_then(Path::file_name).and_then(|n| n.to_str())
        && name != r.session_id
    {
        r.warnings.push(format!("the directory is named `{name}` but the journal is session `{}`", r.session_id));
    }

    // The co-signatures over the whole file.
    let mut sigs_found = vec![];
    if let (Ok(rd), true) = (std::fs::read_dir(dir), cosigned) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_prefix("journal.jsonl.").and_then(|s| s.strip_suffix(".sig")) {
                sigs_found.push((id.to_string(), e.path()));
            }
        }
    }
    sigs_found.sort();
    for (id, path) in sigs_found {
        let name = format!("journal.jsonl.{id}.sig");
        let pem = match crate::fsread::read_regular(&path, crate::roster::MAX_SIG_BYTES) {
            Ok(p) => p,
            Err(e) => {
                r.problems.push(Problem::new(0, Rule::E1, ProblemKind::File, format!("{name} {e}")));
                continue;
            }
        };
        let Some(ro) = roster else { continue };
        let Some(key) = ro.key(&id) else {
            r.problems.push(Problem::new(
                0,
                Rule::E16,
                ProblemKind::Signer,
                format!("{name}: `{id}` is not a custodian of the session's roster"),
            ));
            continue;
        };
        match verify_prehashed(key, SESSION_NAMESPACE, &sha512, &pem) {
            Ok(()) => {
                if !checked_in.contains(&id) {
                    r.problems.push(Problem::new(
                        0,
                        Rule::E16,
                        ProblemKind::Signer,
                        format!("`{id}` signed the session but never checked in"),
                    ));
                }
                r.signers.push(id);
            }
            Err(e) => r.problems.push(Problem::new(
                0,
                Rule::E16,
                ProblemKind::Signature,
                format!("{name}: {e} (the journal was changed after signing, or the signature is forged)"),
            )),
        }
    }

    if r.clock_jumps > 0 {
        r.warnings.push(format!(
            "the wall clock jumped {} time(s) during the session (see clock.jump in the timeline): times are kept in order and the order of events follows mono_ms",
            r.clock_jumps
        ));
    }
    let quorum = roster.map_or(2, |ro| ro.quorum);
    r.status = if r.problems.iter().any(|p| p.kind != ProblemKind::Interrupted) {
        Status::Invalid
    } else if chain.truncated_tail
        || r.problems.iter().any(|p| p.kind == ProblemKind::Interrupted)
        || r.outcome.is_none()
        || r.signers.len() < quorum
        || checked_in.len() < quorum.min(r.signers.len().max(1))
    {
        if r.outcome.is_none() {
            r.warnings
                .push("the session was never closed or aborted (the process stopped mid-ceremony?): `breakglass recover` closes it".into());
        }
        if r.signers.len() < quorum {
            r.warnings.push(format!("signed by {} of the {} custodians required", r.signers.len(), quorum));
        }
        Status::Incomplete
    } else {
        Status::Valid
    };
    Ok(r)
}

/// Rule E14, nothing after the end: after the first `session.closed` / `session.aborted`, only
/// what closing a session writes (the root posture and root's events read at the close, the
/// release notice, keys coming and going while the custodians sign, clock jumps), and, to recover a session whose signatures are missing, `session.recovered`
/// and the recovery's check-ins.
fn after_the_end(timeline: &[Event]) -> Vec<Problem> {
    const CLOSING: &[&str] = &[
        kind::NoticeSent,
        kind::NoticeFailed,
        kind::NoticeAcknowledged,
        kind::CustodianKeyRemoved,
        kind::CustodianKeyReturned,
        kind::CustodianReauthenticated,
        kind::CustodianRefused,
        kind::ClockJump,
        // Read as the session closes, before "root released" goes out.
        kind::PostureChecked,
        kind::RootActivity,
        kind::RootClosed,
    ];
    let Some(end) = timeline.iter().position(|e| e.kind == kind::SessionClosed || e.kind == kind::SessionAborted) else {
        return vec![];
    };
    let mut recovering = false;
    let mut out = vec![];
    for e in &timeline[end + 1..] {
        let k = e.kind.as_ref();
        recovering |= k == kind::SessionRecovered;
        if k == kind::SessionRecovered || CLOSING.contains(&k) || (recovering && k == kind::CustodianVerified) {
            continue;
        }
        out.push(Problem::new(
            e.seq as usize + 1,
            Rule::E14,
            ProblemKind::Entry,
            format!(
                "{} after the session ended at entry #{}: nothing happens in a session after its end (an old session cannot be reopened to cover later events)",
                crate::plain::one_line(k),
                timeline[end].seq
            ),
        ));
    }
    out
}

/// An intact entry of a kind the walk reads whole (signatures, notices, the outcome, the first
/// entry), with its 0-based index. (Keeping every entry whole would cost about 1 KB each on a
/// 100,000-entry journal; the others are checked where they are parsed.)
struct Special<'a> {
    index: usize,
    ts: &'a str,
    mode: Option<Cow<'a, str>>,
    demo: Option<bool>,
    entry: Box<Entry>,
}

/// What the parallel reader hands the walk.
struct Read<'a> {
    /// One timeline line per intact entry, in order.
    events: Vec<Event>,
    specials: Vec<Special<'a>>,
    /// Label and placement problems found while parsing (a second session.opened, a mode or DEMO
    /// label that differs from the first entry's).
    problems: Vec<Problem>,
}

/// Kinds whose every field the walk reads.
fn whole(kind: &str, index: usize) -> bool {
    index == 0
        || matches!(
            kind,
            kind::SessionOpened
                | kind::CustodianVerified
                | kind::NoticeAcknowledged
                | kind::NoticeSent
                | kind::NoticeFailed
                | kind::RootConfirmed
                | kind::SessionClosed
                | kind::SessionAborted
        )
}

/// A chunk of lines parsed, hashed and linked: the entries up to its first problem, and that
/// problem (by 0-based index into the whole journal).
struct Chunk<'a> {
    events: Vec<Event>,
    specials: Vec<Special<'a>>,
    problems: Vec<Problem>,
    /// Lines read (up to and including a broken one).
    lines: usize,
    /// SHA-256 of the chunk's last intact line.
    head: Option<[u8; 32]>,
    problem: Option<(usize, String)>,
}

/// Parses, hashes and links `lines` (starting at index `offset` of the journal) with
/// [`journal::check_link`], seeded by the line before the chunk (hash and times), so both cores
/// can each take a part of the journal.
fn parse_lines<'a>(body: &'a [u8], before: Option<&'a [u8]>, capacity: usize, session: (&str, bool)) -> Chunk<'a> {
    let mut prev = [0u8; 32];
    let (mut last_mono, mut last_ts): (u64, &str) = (0, "");
    // Lines before this part: taken from the line before it (if that line is wrong, the other
    // part reports it first and this part's result is not used).
    let mut offset = 0usize;
    let seed;
    if let Some(b) = before {
        prev = Sha256::digest(b).into();
        if let Ok(h) = serde_json::from_slice::<journal::Header<'a>>(b) {
            seed = h;
            last_mono = seed.mono_ms;
            last_ts = seed.ts;
            // A wrong seq here is reported by the other part; any offset will do, without overflow.
            offset = usize::try_from(seed.seq).unwrap_or(usize::MAX).saturating_add(1);
        }
    }
    let lines = memchr::memchr_iter(b'\n', body).scan(0usize, |start, end| {
        let l = &body[*start..end];
        *start = end + 1;
        Some(l)
    });
    let mut out = Chunk { events: Vec::with_capacity(capacity), specials: vec![], problems: vec![], head: None, problem: None, lines: 0 };
    for (i, l) in lines.enumerate() {
        out.lines += 1;
        let l: &'a [u8] = l;
        let n = offset.saturating_add(i).saturating_add(1);
        let hash: [u8; 32] = Sha256::digest(l).into();
        let c = match serde_json::from_slice::<Common<'a>>(l) {
            Ok(c) => c,
            Err(e) => {
                out.problem = Some((n, format!("not a journal entry ({e})")));
                break;
            }
        };
        if let Err(e) = journal::strict_line(l) {
            out.problem = Some((n, format!("not a journal entry ({e})")));
            break;
        }
        // `check_link` keeps a borrow of the time for the next line; the line's bytes outlive it.
        let ts: &'a str = match c.ts {
            Cow::Borrowed(t) => t,
            Cow::Owned(_) => {
                out.problem = Some((n, "ts holds escape sequences".into()));
                break;
            }
        };
        if let Some(what) = journal::check_link(c.seq, ts, c.mono_ms, &c.prev, n, &prev, &mut last_mono, &mut last_ts) {
            out.problem = Some((n, what));
            break;
        }
        let gi = n - 1;
        let small = if whole(&c.kind, gi) { None } else { small_summary(&c) };
        let (entry, words) = match small {
            Some(words) => (None, words),
            // A kind this release does not write (a later one may): shown, not judged.
            None if !Entry::KINDS.contains(&c.kind.as_ref()) => (None, c.kind.to_string()),
            None => match serde_json::from_slice::<Entry>(l) {
                Ok(e) => {
                    let words = summary(&e, c.mode.as_deref());
                    (Some(Box::new(e)), words)
                }
                // The chain holds (every reader agrees on the fields of [`journal::Line`]);
                // this entry's own fields do not: invalid, and the timeline goes on.
                Err(e) => {
                    out.problems.push(Problem::new(n, Rule::E8, ProblemKind::Entry, format!("this {} entry is malformed ({e})", c.kind)));
                    (None, format!("{} (malformed)", c.kind))
                }
            },
        };
        prev = hash;
        out.head = Some(hash);
        out.events.push(Event { seq: c.seq, ts: ts.to_string(), kind: kind_of(&c.kind), summary: words });
        if gi > 0 && c.kind == kind::SessionOpened {
            out.problems.push(Problem::new(n, Rule::E8, ProblemKind::Entry, "a second session.opened inside the session"));
        } else if gi > 0 && (c.mode.as_deref().unwrap_or("incident") != session.0 || (c.demo == Some(true)) != session.1) {
            out.problems.push(Problem::new(n, Rule::E9, ProblemKind::Label, "mode or DEMO label differs from the session's"));
        }
        if let Some(entry) = entry {
            out.specials.push(Special { index: gi, ts, mode: c.mode, demo: c.demo, entry });
        }
    }
    out
}

/// Reads the journal once, on both cores: one thread hashes the whole file with SHA-512 (for the
/// co-signatures) and takes the first part of the lines, the other takes the rest; each part is
/// parsed, hashed and linked with [`journal::check_link`], the rule `check_chain` applies.
/// Returns the SHA-512, the chain report (as `check_chain` makes it) and the intact entries.
fn read_journal(bytes: &[u8]) -> (sha2::digest::Output<Sha512>, journal::ChainReport, Read<'_>) {
    let body_end = memchr::memrchr(b'\n', bytes).map_or(0, |p| p + 1);
    let body = &bytes[..body_end];
    // Split at a line boundary: the SHA-512 costs about as much as parsing half of what the other
    // thread parses, so that thread takes a quarter of the lines (measured on a 100,000-entry
    // journal: 1/4 is the fastest split). Each thread finds its own lines.
    let cut = memchr::memchr(b'\n', &body[body.len() / 4..]).map_or(body.len(), |p| body.len() / 4 + p + 1);
    let (head_part, tail_part) = body.split_at(cut);
    let before = head_part.len().checked_sub(1).map(|end| {
        let start = memchr::memrchr(b'\n', &head_part[..end]).map_or(0, |p| p + 1);
        &head_part[start..end]
    });
    let estimate = body.len() / 200 + 16;
    // The session's mode and DEMO label, from its first entry: every other entry must match.
    let first_line = &body[..memchr::memchr(b'\n', body).unwrap_or(0)];
    let opened = serde_json::from_slice::<Common>(first_line).ok();
    let mode = opened.as_ref().and_then(|c| c.mode.as_deref()).unwrap_or("incident").to_string();
    let session = (mode.as_str(), opened.as_ref().is_some_and(|c| c.demo == Some(true)));
    let (sha512, first, rest) = std::thread::scope(|s| {
        // The first part's vectors have room for all, so the rest is appended without moving them.
        let first = s.spawn(|| (Sha512::digest(bytes), parse_lines(head_part, None, estimate, session)));
        let rest = parse_lines(tail_part, before, 0, session);
        let (sha512, first) = first.join().unwrap_or_else(|_| (Sha512::digest(bytes), parse_lines(head_part, None, estimate, session)));
        (sha512, first, rest)
    });
    let total_lines = first.lines + rest.lines;
    let mut report = journal::ChainReport::default();
    let (problem, head) = match &first.problem {
        Some(p) => (Some(p.clone()), first.head),
        None => (rest.problem.clone(), rest.head.or(first.head)),
    };
    let mut read = Read { events: first.events, specials: first.specials, problems: first.problems };
    if first.problem.is_none() {
        read.events.extend(rest.events);
        read.specials.extend(rest.specials);
        read.problems.extend(rest.problems);
    }
    report.entries = read.events.len();
    report.head = head.unwrap_or([0; 32]);
    match problem {
        Some((n, what)) => report.problems.push(Problem::new(n, Rule::E6, ProblemKind::Chain, what)),
        None if body_end < bytes.len() => {
            report.truncated_tail = true;
            report.problems.push(Problem::new(
                total_lines + 1,
                Rule::E7,
                ProblemKind::Interrupted,
                "partial last line (the writer stopped mid-line); everything before it is intact",
            ));
        }
        None => {}
    }
    if bytes.is_empty() {
        report.problems.push(Problem::new(
            0,
            Rule::E7,
            ProblemKind::Interrupted,
            "the journal is empty (the process stopped right after creating it)",
        ));
    }
    (sha512, report, read)
}

/// Checks that a signed statement is exactly what the tool signs for this kind of entry, in this
/// session: a signature over some other text proves nothing here.
fn statement_format(e: &Entry, msg: &str, session_id: &str) -> Result<(), String> {
    let hex_of = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let after = |ns: &str| {
        msg.strip_prefix(ns).and_then(|m| m.strip_prefix(':')).and_then(|m| m.strip_prefix(session_id)).and_then(|m| m.strip_prefix(':'))
    };
    let ok = !session_id.is_empty()
        && match e {
            Entry::CustodianVerified { .. } => after("breakglass-checkin").is_some_and(|nonce| hex_of(nonce, 32)),
            Entry::NoticeAcknowledged { phase, .. } => after("breakglass-ack")
                .and_then(|m| m.strip_prefix("notice-"))
                .is_some_and(|m| m.split_once(':').is_some_and(|(p, head)| p == phase && hex_of(head, 64))),
            // The API and the target hold colons themselves (`iam:...`, ARNs): compared whole.
            Entry::OffboardConfirmed { item, iam_user, api: Some(api), target, .. } => {
                after("breakglass-offboard").is_some_and(|m| !iam_user.is_empty() && m == format!("{item}:{iam_user}:{api}:{target}"))
            }
            Entry::RootConfirmed { action, .. } => after("breakglass-root").is_some_and(|m| {
                m.strip_suffix(action.as_str())
                    .and_then(|t| t.strip_suffix(':'))
                    .is_some_and(|target| !target.is_empty() && !target.contains(':'))
            }),
            _ => false,
        };
    if ok { Ok(()) } else { Err("the signed statement is not in the exact format for this session and entry".into()) }
}

/// The report for humans: verdict first, then the timeline.
pub fn render_text(r: &Report) -> String {
    use crate::plain::one_line;
    let verdict = match r.status {
        Status::Valid if r.exit_code() == EXIT_UNPINNED => {
            "VALID SIGNATURES, UNTRUSTED ROSTER (not pinned: set [trust] roster_sha256 or pass --roster; exit 4)"
        }
        Status::Valid => "VALID",
        Status::Invalid => "INVALID (tampered or forged)",
        Status::Incomplete => "INCOMPLETE (never finished or never signed)",
    };
    let mut s = format!(
        "session {}  {}{}\nverdict: {verdict}\nentries: {}   outcome: {}   signed by: {}\nchecked against: {}\nchain head at entry #{}: {}\n  words: {}\n",
        if r.session_id.is_empty() { "?".into() } else { one_line(&r.session_id) },
        one_line(&r.mode.to_uppercase()),
        if r.demo { " DEMO" } else { "" },
        r.entries,
        one_line(r.outcome.as_deref().unwrap_or("not closed")),
        if r.signers.is_empty() { "nobody".to_string() } else { r.signers.join(", ") },
        r.roster_source,
        r.head_seq.map_or("-".to_string(), |n| n.to_string()),
        r.head,
        r.head_words,
    );
    // Entries are numbered as in the timeline (#0 is the first line of journal.jsonl).
    for p in &r.problems {
        // The rule it breaks (docs/evidence-model.md) leads, so a reviewer can look it up.
        if p.line > 0 {
            s.push_str(&format!("PROBLEM [{}] at entry #{} (line {}): {}\n", p.rule, p.line - 1, p.line, one_line(&p.what)));
        } else {
            s.push_str(&format!("PROBLEM [{}]: {}\n", p.rule, one_line(&p.what)));
        }
    }
    if let Some(o) = &r.offboard {
        s.push_str(&format!(
            "offboarding of {}: {} of {} items done{}, in {} ({} the {}-minute target); AWS changes made: {}\n",
            one_line(&o.person),
            o.done,
            o.total,
            if o.not_done.is_empty() { String::new() } else { format!(" (NOT done: {:?})", o.not_done) },
            o.elapsed_s.map_or("an unknown time".into(), |e| format!("{:02}:{:02}", e / 60, e % 60)),
            if o.elapsed_s.is_some_and(|e| e as u64 <= o.target_s) { "within" } else { "OVER" },
            o.target_s / 60,
            if o.applied.is_empty() { "none".to_string() } else { o.applied.len().to_string() }
        ));
    }
    if let Some(k) = &r.rekey {
        s.push_str(&format!(
            "roster changed: version {} ({}) replaces {}; added {}; removed {}; signed by {}\n",
            k.new_version,
            short(&k.new_roster_sha256),
            short(&k.old_roster_sha256),
            list(&k.added),
            list(&k.removed),
            list(&k.signed_by)
        ));
    }
    if let Some(rec) = &r.recovered {
        s.push_str(&format!(
            "recovered: the process stopped after entry #{} ({}); closed at entry #{} ({}), {} later\n",
            rec.entries_before.saturating_sub(1),
            one_line(&rec.last_ts_before),
            rec.at_entry,
            one_line(&rec.recovered_ts),
            rec.gap_s.map_or("an unknown time".to_string(), |g| format!("{g} s"))
        ));
    }
    if !r.rehearsal_roots.is_empty() {
        s.push_str(&format!(
            "REHEARSAL: the keys were attested by roots beside Yubico's ({}); never audit cover, never a drill of the real setup\n",
            one_line(&r.rehearsal_roots.join("; "))
        ));
    }
    for w in &r.warnings {
        s.push_str(&format!("warning: {}\n", one_line(w)));
    }
    s.push_str("\ntimeline:\n");
    const MAX: usize = 400;
    let flagged = |line: usize| r.problems.iter().any(|p| p.line == line && p.kind != ProblemKind::Interrupted);
    for e in r.timeline.iter().take(MAX) {
        let mark = if flagged(e.seq as usize + 1) { "✘" } else { " " };
        s.push_str(&format!(" {mark}#{:<4} {}  {}\n", e.seq, one_line(&e.ts), one_line(&e.summary)));
    }
    if r.timeline.len() > MAX {
        s.push_str(&format!("  ... {} more entries (use --json for all)\n", r.timeline.len() - MAX));
    }
    // Where the chain broke, the entry is not in the timeline (nothing after it can be trusted).
    for p in r.problems.iter().filter(|p| p.kind == ProblemKind::Chain) {
        s.push_str(&format!(" ✘#{:<4} chain broken here: {}; nothing from here on is trusted\n", p.line - 1, one_line(&p.what)));
    }
    s
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
            Report { status: V::Valid, mode: "incident".into(), roster_rule: Some(crate::trust::Rule::Pinned), ..Default::default() };
        assert_eq!(good.may_cover(), Ok(()));
        let chained = Report { roster_rule: Some(crate::trust::Rule::Chained { pinned_version: 1, rotations: 1 }), ..good.clone() };
        assert_eq!(chained.may_cover(), Ok(()));
        assert_eq!((Report { status: V::Incomplete, ..good.clone() }).may_cover(), Err(Rule::E21));
        assert_eq!((Report { status: V::Invalid, ..good.clone() }).may_cover(), Err(Rule::E21));
        assert_eq!((Report { demo: true, ..good.clone() }).may_cover(), Err(Rule::E3));
        assert_eq!((Report { roster_rule: Some(crate::trust::Rule::Unpinned), ..good.clone() }).may_cover(), Err(Rule::E5));
        assert_eq!((Report { roster_rule: None, ..good.clone() }).may_cover(), Err(Rule::E5));
        assert_eq!((Report { mode: "drill".into(), ..good.clone() }).may_cover(), Err(Rule::E21));
        assert_eq!((Report { rehearsal_roots: vec!["lab".into()], ..good }).may_cover(), Err(Rule::E25));
    }

    fn ev(seq: u64, kind: &'static str) -> Event {
        Event { seq, ts: String::new(), kind: Cow::Borrowed(kind), summary: String::new() }
    }

    /// E14: what closing writes after the end passes; a step (or anything else) after the end
    /// is a problem, even after a recovery; a recovery's check-ins are fine.
    #[test]
    fn e14_nothing_after_the_end() {
        let closing = [
            ev(0, kind::SessionOpened),
            ev(1, kind::StepDone),
            ev(2, kind::SessionClosed),
            ev(3, kind::NoticeSent),
            ev(4, kind::SessionRecovered),
            ev(5, kind::CustodianVerified),
            ev(6, kind::CustodianVerified),
            ev(7, kind::NoticeSent),
        ];
        assert!(after_the_end(&closing).is_empty());
        assert!(after_the_end(&closing[..2]).is_empty(), "no end yet: nothing to say");
        let mut reopened = closing.to_vec();
        reopened.push(ev(8, kind::StepDone));
        reopened.push(ev(9, kind::SessionClosed));
        let p = after_the_end(&reopened);
        assert_eq!(
            p.iter().map(|p| (p.line, p.rule, p.kind)).collect::<Vec<_>>(),
            [(9, Rule::E14, ProblemKind::Entry), (10, Rule::E14, ProblemKind::Entry)]
        );
        let checked_in_after_close = [ev(0, kind::SessionOpened), ev(1, kind::SessionClosed), ev(2, kind::CustodianVerified)];
        assert_eq!(after_the_end(&checked_in_after_close).len(), 1, "a check-in after the end needs a recovery first");
    }

    #[test]
    fn prehashed_verification_agrees_with_ssh_key() {
        let roster = crate::demo::roster();
        let mut tokens = crate::demo::tokens(&roster);
        let t = &mut tokens[0];
        t.verify_pin(&secrecy::SecretString::from("314159".to_string())).unwrap();
        let msg = b"hello journal\n";
        let sig = crate::sign::sshsig(t.as_mut(), SESSION_NAMESPACE, msg).unwrap();
        let key = roster.key("alice").unwrap();
        assert!(crate::sign::verify(key, SESSION_NAMESPACE, msg, &sig).is_ok());
        let pem = crate::sign::to_pem(&sig).unwrap();
        assert!(verify_prehashed(key, SESSION_NAMESPACE, &Sha512::digest(msg), pem.as_bytes()).is_ok());
        assert!(verify_prehashed(key, SESSION_NAMESPACE, &Sha512::digest(b"hello journal!\n"), pem.as_bytes()).is_err());
        assert!(verify_prehashed(roster.key("bob").unwrap(), SESSION_NAMESPACE, &Sha512::digest(msg), pem.as_bytes()).is_err());
        assert!(verify_prehashed(key, "other", &Sha512::digest(msg), pem.as_bytes()).is_err());
    }
}
