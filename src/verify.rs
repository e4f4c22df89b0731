//! Checks a session bundle: the hash chain, every signature in it, and the co-signatures over it,
//! all against a roster the reviewer trusts.
//!
//! Outcomes: `valid` (complete chain, closed or aborted, co-signed by two different custodians of
//! the trusted roster), `invalid` (tampered: names the line), `incomplete` (the process stopped
//! before the session was signed; never reported as valid).

use crate::journal::{self, Problem};
use crate::notice::words;
use crate::roster::Roster;
use crate::sign::{CHECKIN_NAMESPACE, SESSION_NAMESPACE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use ssh_key::{HashAlg, PublicKey, SshSig};
use std::borrow::Cow;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    Invalid,
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
    pub kind: String,
    pub summary: String,
}

/// The result of verifying a bundle (the `--json` output; extra fields beyond DESIGN.md are fine).
#[derive(Debug, Clone, Serialize)]
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
    pub roster_source: String,
    /// The drill scenario (drills only).
    pub scenario: Option<String>,
    /// Every notice the journal records: delivered, failed or acknowledged.
    pub notices: Vec<NoticeRecord>,
    /// Custodians listed in the roster when the session opened.
    pub roster_custodians: Vec<String>,
    pub timeline: Vec<Event>,
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

/// Which roster to check signers against.
pub enum TrustedRoster {
    /// A roster file the reviewer trusts (`--roster` or the configured one).
    File(Roster),
    /// The copy inside the bundle (a warning is reported).
    Bundle,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}. Give the session directory (the one holding journal.jsonl).")]
    Io { path: String, source: std::io::Error },
}

#[derive(Deserialize)]
struct Detail<'a> {
    seq: u64,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    mode: Option<Cow<'a, str>>,
    #[serde(default)]
    demo: Option<bool>,
    #[serde(default, borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    custodian: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    phase: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    why: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    step: Option<u64>,
    #[serde(default)]
    of: Option<u64>,
    #[serde(default)]
    serial: Option<u64>,
    #[serde(default)]
    secret: Option<u64>,
    #[serde(default)]
    item: Option<u64>,
    #[serde(default)]
    steps: Option<u64>,
    #[serde(default)]
    steps_done: Option<u64>,
    #[serde(default)]
    steps_total: Option<u64>,
    #[serde(default, borrow)]
    at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    challenge: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    statement: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    sshsig: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    scenario: Option<Cow<'a, str>>,
    #[serde(default)]
    custodians: Option<Vec<String>>,
    #[serde(default, borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    principal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    api: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    target: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    outcome: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    result: Option<Cow<'a, str>>,
}

fn summary(d: &Detail) -> String {
    let s = |o: &Option<Cow<str>>| o.as_deref().unwrap_or("").to_string();
    match d.kind.as_ref() {
        "session.opened" => format!("{} session opened: {}", s(&d.mode).to_uppercase(), s(&d.reason)),
        "custodian.verified" => format!("{} checked in with key {} (challenge signed)", s(&d.custodian), d.serial.unwrap_or(0)),
        "custodian.refused" => format!(
            "key {} refused{}: {}",
            d.serial.unwrap_or(0),
            d.custodian.as_ref().map(|c| format!(" ({c})")).unwrap_or_default(),
            s(&d.why)
        ),
        "notice.sent" => format!("notice `{}` sent via {} (id {})", s(&d.phase), s(&d.channel), s(&d.message_id)),
        "notice.failed" => format!("notice `{}` NOT delivered: {}", s(&d.phase), s(&d.error)),
        "notice.acknowledged" => format!("{} acknowledged going on without notice `{}` (signed)", s(&d.custodian), s(&d.phase)),
        "runbook.unsealed" => format!("runbook unsealed ({} steps)", d.steps.unwrap_or(0)),
        "runbook.failed" => format!("runbook could not be opened: {}", s(&d.error)),
        "step.done" => format!("step {} of {} done", d.step.unwrap_or(0), d.of.unwrap_or(0)),
        "step.undone" => format!("step {} of {} un-checked", d.step.unwrap_or(0), d.of.unwrap_or(0)),
        "note" => match d.step {
            Some(n) => format!("note on step {n}: {}", s(&d.text)),
            None => format!("note: {}", s(&d.text)),
        },
        "secret.revealed" => format!("secret {} revealed on screen", d.secret.unwrap_or(0)),
        "closing.checked" => format!("closing item {} confirmed", d.item.unwrap_or(0)),
        "closing.unchecked" => format!("closing item {} un-checked", d.item.unwrap_or(0)),
        "session.closed" => format!("session closed ({} of {} steps done)", d.steps_done.unwrap_or(0), d.steps_total.unwrap_or(0)),
        "session.aborted" => format!("session ABORTED at {} ({} steps done)", s(&d.at), d.steps_done.unwrap_or(0)),
        "aws.identity" => format!("AWS account check: {} {}", s(&d.account), s(&d.principal)),
        "aws.call" => format!("AWS {} on {}: {} (request {})", s(&d.api), s(&d.target), s(&d.outcome), s(&d.request_id)),
        "root.confirmed" => format!("{} confirmed on their key: {}", s(&d.custodian), s(&d.action)),
        "root.action" => format!("root action `{}`: {}", s(&d.action), if d.error.is_some() { s(&d.error) } else { s(&d.result) }),
        other => other.to_string(),
    }
}

/// The SSHSIG signed-data blob, given the message's SHA-512 (so a large journal is hashed once).
fn signed_blob(namespace: &str, reserved: &[u8], sha512: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(6 + 4 * 4 + namespace.len() + reserved.len() + 6 + sha512.len());
    b.extend_from_slice(b"SSHSIG");
    for field in [namespace.as_bytes(), reserved, b"sha512", sha512] {
        b.extend_from_slice(&u32::try_from(field.len()).unwrap_or(0).to_be_bytes());
        b.extend_from_slice(field);
    }
    b
}

/// Verifies an armored SSHSIG over a message whose SHA-512 is given, by the given key.
pub fn verify_prehashed(key: &PublicKey, namespace: &str, sha512: &[u8], pem: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    let sig = SshSig::from_pem(pem).map_err(|e| format!("not an SSH signature ({e})"))?;
    if sig.public_key() != key.key_data() {
        return Err("made by a key that is not this custodian's key in the trusted roster".into());
    }
    if sig.namespace() != namespace {
        return Err(format!("namespace is `{}`, expected `{namespace}`", sig.namespace()));
    }
    if sig.hash_alg() != HashAlg::Sha512 {
        return Err("hash algorithm is not sha512".into());
    }
    let ssh_key::public::KeyData::Ecdsa(ec) = key.key_data() else { return Err("not an ECDSA key".into()) };
    let vk = p256::ecdsa::VerifyingKey::try_from(ec).map_err(|e| e.to_string())?;
    let s = p256::ecdsa::Signature::try_from(sig.signature()).map_err(|e| format!("malformed signature ({e})"))?;
    vk.verify(&signed_blob(namespace, sig.reserved(), sha512), &s).map_err(|_| "the signature does not match the file".to_string())
}

fn verify_sig_text(key: &PublicKey, namespace: &str, msg: &[u8], pem: &str) -> Result<(), String> {
    verify_prehashed(key, namespace, &Sha512::digest(msg), pem.as_bytes())
}

/// Verifies the bundle in `dir`.
pub fn verify_dir(dir: &Path, trusted: TrustedRoster) -> Result<Report, VerifyError> {
    let jpath = dir.join(journal::FILE_NAME);
    let bytes = std::fs::read(&jpath).map_err(|source| VerifyError::Io { path: jpath.display().to_string(), source })?;
    // Hash for the co-signatures on the other core while this one walks the chain.
    let (sha512, chain) = std::thread::scope(|s| {
        let h = s.spawn(|| Sha512::digest(&bytes));
        let chain = journal::check_chain(&bytes);
        (h.join().unwrap_or_default(), chain)
    });
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
        head_words: words(&chain.head),
        roster_source: String::new(),
        scenario: None,
        notices: vec![],
        roster_custodians: vec![],
        timeline: vec![],
    };
    let tampered = |r: &Report| r.problems.iter().any(|p| !p.what.starts_with("partial last line"));

    // The roster to trust.
    let bundle_roster = || -> Result<Roster, String> {
        let p = dir.join("roster.toml");
        Roster::load(&p).map_err(|e| e.to_string())
    };
    let mut sigs_found = vec![];
    let mut lines: Vec<&[u8]> = journal::lines(&bytes).take(chain.entries).collect();
    let first_demo = lines.first().and_then(|l| serde_json::from_slice::<Detail>(l).ok()).map(|d| d.demo == Some(true)).unwrap_or(false);
    let roster = match trusted {
        TrustedRoster::File(ro) => {
            r.roster_source = ro.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "given roster".into());
            Some(ro)
        }
        TrustedRoster::Bundle if first_demo => {
            r.roster_source = "built-in DEMO roster".into();
            Some(crate::demo::roster())
        }
        TrustedRoster::Bundle => match bundle_roster() {
            Ok(ro) => {
                r.roster_source = "the bundle's own roster.toml".into();
                r.warnings.push("checked against the roster copy inside the bundle: pass --roster with the roster you trust (or configure paths.roster)".into());
                let t = ro.trust();
                if !t.trusted() {
                    r.problems.push(Problem { line: 0, what: format!("the bundle's roster.toml is {}", t.explain()) });
                }
                Some(ro)
            }
            Err(e) => {
                r.problems.push(Problem { line: 0, what: format!("no roster to check signers against: {e}") });
                None
            }
        },
    };
    if let Some(ro) = &roster {
        let t = if r.roster_source.contains("DEMO") {
            ro.trust_from(crate::demo::roster_sigs().into_iter().map(|(i, s)| (i, Some(s))).collect())
        } else {
            ro.trust()
        };
        if !t.trusted() && !r.roster_source.starts_with("the bundle") {
            r.problems.push(Problem { line: 0, what: format!("the roster {} is {}", r.roster_source, t.explain()) });
        }
    }

    // Walk the entries for the timeline and the signatures they carry.
    let mut checked_in: Vec<String> = vec![];
    for (i, line) in lines.drain(..).enumerate() {
        let n = i + 1;
        let d: Detail = match serde_json::from_slice(line) {
            Ok(d) => d,
            Err(e) => {
                r.problems.push(Problem { line: n, what: format!("unreadable entry ({e})") });
                break;
            }
        };
        if i == 0 {
            if d.kind != "session.opened" {
                r.problems.push(Problem { line: 1, what: "the first entry is not session.opened".into() });
            }
            r.session_id = d.session_id.as_deref().unwrap_or("").to_string();
            r.mode = d.mode.as_deref().unwrap_or("incident").to_string();
            r.demo = d.demo == Some(true);
            r.started = Some(d.ts.to_string());
            r.scenario = d.scenario.as_deref().map(str::to_string);
            r.roster_custodians = d.custodians.clone().unwrap_or_default();
            if r.demo {
                r.warnings.push("DEMO session: software keys that anyone can copy; it proves nothing about real custodians".into());
            }
        } else if d.mode.as_deref().unwrap_or("incident") != r.mode || (d.demo == Some(true)) != r.demo {
            r.problems.push(Problem { line: n, what: "mode or DEMO label differs from the session's".into() });
        }
        let signed = match d.kind.as_ref() {
            "custodian.verified" => Some((CHECKIN_NAMESPACE, d.challenge.as_deref())),
            "notice.acknowledged" => Some((crate::ceremony::ACK_NAMESPACE, d.statement.as_deref())),
            "root.confirmed" => Some((crate::ceremony::CONFIRM_NAMESPACE, d.statement.as_deref())),
            _ => None,
        };
        if let Some((ns, msg)) = signed {
            let id = d.custodian.as_deref().unwrap_or("");
            let ok = match (roster.as_ref().and_then(|ro| ro.key(id)), msg, d.sshsig.as_deref()) {
                (Some(key), Some(msg), Some(sig)) => {
                    if !msg.contains(&format!(":{}:", r.session_id)) {
                        Err("the signed statement names another session".to_string())
                    } else {
                        verify_sig_text(key, ns, msg.as_bytes(), sig)
                    }
                }
                (None, _, _) => Err(format!("`{id}` is not a custodian of the trusted roster")),
                _ => Err("the entry lacks its signed statement".into()),
            };
            match ok {
                Ok(()) if d.kind == "custodian.verified" => {
                    if checked_in.iter().any(|c| c == id) {
                        r.problems
                            .push(Problem { line: n, what: format!("`{id}` checked in twice: two different custodians are required") });
                    }
                    checked_in.push(id.to_string());
                }
                Ok(()) => {}
                Err(e) => r.problems.push(Problem { line: n, what: format!("{}'s signature in {}: {e}", id, d.kind) }),
            }
        }
        if let Some(outcome) = d.kind.strip_prefix("notice.") {
            r.notices.push(NoticeRecord {
                phase: d.phase.as_deref().unwrap_or("").to_string(),
                outcome: outcome.to_string(),
                channel: d.channel.as_deref().map(str::to_string),
                message_id: d.message_id.as_deref().map(str::to_string),
                ts: d.ts.to_string(),
            });
        }
        match d.kind.as_ref() {
            "session.closed" => r.outcome = Some("closed".into()),
            "session.aborted" => r.outcome = Some("aborted".into()),
            _ => {}
        }
        r.ended = Some(d.ts.to_string());
        r.timeline.push(Event { seq: d.seq, ts: d.ts.to_string(), kind: d.kind.to_string(), summary: summary(&d) });
    }
    r.custodians = checked_in.clone();
    if !r.session_id.is_empty()
        && let Some(name) = dir.canonicalize().ok().as_deref().and_then(Path::file_name).and_then(|n| n.to_str())
        && name != r.session_id
    {
        r.warnings.push(format!("the directory is named `{name}` but the journal is session `{}`", r.session_id));
    }

    // The co-signatures over the whole file.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_prefix("journal.jsonl.").and_then(|s| s.strip_suffix(".sig")) {
                sigs_found.push((id.to_string(), e.path()));
            }
        }
    }
    sigs_found.sort();
    for (id, path) in sigs_found {
        let Some(key) = roster.as_ref().and_then(|ro| ro.key(&id)) else {
            r.problems.push(Problem { line: 0, what: format!("{}: `{id}` is not a custodian of the trusted roster", path.display()) });
            continue;
        };
        let pem = match std::fs::read(&path) {
            Ok(p) => p,
            Err(e) => {
                r.problems.push(Problem { line: 0, what: format!("{}: {e}", path.display()) });
                continue;
            }
        };
        match verify_prehashed(key, SESSION_NAMESPACE, &sha512, &pem) {
            Ok(()) => {
                if !checked_in.contains(&id) {
                    r.problems.push(Problem { line: 0, what: format!("`{id}` signed the session but never checked in") });
                }
                r.signers.push(id);
            }
            Err(e) => r.problems.push(Problem {
                line: 0,
                what: format!("journal.jsonl.{id}.sig: {e} (the journal was changed after signing, or the signature is forged)"),
            }),
        }
    }

    let quorum = roster.as_ref().map_or(2, |ro| ro.quorum);
    r.status = if tampered(&r) {
        Status::Invalid
    } else if chain.truncated_tail
        || r.outcome.is_none()
        || r.signers.len() < quorum
        || checked_in.len() < quorum.min(r.signers.len().max(1))
    {
        if r.outcome.is_none() {
            r.warnings.push("the session was never closed or aborted (the process stopped mid-ceremony?)".into());
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

/// The report for humans: verdict first, then the timeline.
pub fn render_text(r: &Report) -> String {
    let verdict = match r.status {
        Status::Valid => "VALID",
        Status::Invalid => "INVALID (tampered or forged)",
        Status::Incomplete => "INCOMPLETE (never finished or never signed)",
    };
    let mut s = format!(
        "session {}  {}{}\nverdict: {verdict}\nentries: {}   outcome: {}   signed by: {}\nchecked against: {}\nchain head: {}\n            {}\n",
        if r.session_id.is_empty() { "?" } else { &r.session_id },
        r.mode.to_uppercase(),
        if r.demo { " DEMO" } else { "" },
        r.entries,
        r.outcome.as_deref().unwrap_or("not closed"),
        if r.signers.is_empty() { "nobody".to_string() } else { r.signers.join(", ") },
        r.roster_source,
        r.head,
        r.head_words,
    );
    for p in &r.problems {
        if p.line > 0 {
            s.push_str(&format!("PROBLEM line {}: {}\n", p.line, p.what));
        } else {
            s.push_str(&format!("PROBLEM: {}\n", p.what));
        }
    }
    for w in &r.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s.push_str("\ntimeline:\n");
    const MAX: usize = 400;
    for e in r.timeline.iter().take(MAX) {
        s.push_str(&format!("  #{:<4} {}  {}\n", e.seq, e.ts, e.summary));
    }
    if r.timeline.len() > MAX {
        s.push_str(&format!("  ... {} more entries (use --json for all)\n", r.timeline.len() - MAX));
    }
    s
}

/// SHA-256 hex of bytes (used by callers that show file hashes).
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Whether the session in `dir` is a DEMO session (by its first journal line).
pub fn is_demo(dir: &Path) -> bool {
    use std::io::BufRead;
    let Ok(f) = std::fs::File::open(dir.join(journal::FILE_NAME)) else { return false };
    let mut first = String::new();
    if std::io::BufReader::new(f).read_line(&mut first).is_err() {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(&first).ok().and_then(|v| v.get("demo").and_then(serde_json::Value::as_bool)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

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
