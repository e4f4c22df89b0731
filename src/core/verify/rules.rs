//! The rules of docs/evidence-model.md that verify applies to a bundle, one small function each.
//! Each takes what it needs (the trusted roster, an entry and its index, what the walk kept so far)
//! and pushes typed problems that name the rule they break.

use super::read::{Read, Special};
use super::rekey::RekeySig;
use super::timeline::{list, short};
use super::{Event, NoticeRecord, OffboardRecord, Recovered, RekeyRecord, Report, Status, sha256_hex, verify_statement};
use crate::core::evidence::Rule;
use crate::core::journal::{Entry, Problem, ProblemKind, kind};
use crate::core::mode::Mode;
use crate::core::roster::Roster;
use crate::core::statement::Statement;
use crate::core::trust::{TrustError, TrustedRoster};
use std::path::Path;

/// What the first entry (`session.opened`) says about the session.
#[derive(Default)]
pub(super) struct Opened {
    /// The roster version it names (SHA-256).
    pub roster_sha256: Option<String>,
    /// Whether it is labelled DEMO.
    pub demo: bool,
    /// Whether the journal holds no intact entry at all.
    pub empty: bool,
    /// Whether the journal records the end (`session.closed` or `session.aborted`).
    pub closed: bool,
}

/// Takes the session's labels from its first entry into the report (rules E8, E9 hold them equal
/// on every other entry, as the journal is read).
pub(super) fn labels(read: &Read, r: &mut Report) -> Opened {
    let first = read.specials.first().filter(|s| s.index == 0);
    let mut o = Opened {
        demo: first.is_some_and(|s| s.demo == Some(true)),
        empty: read.events.is_empty(),
        closed: read.specials.iter().any(|s| matches!(*s.entry, Entry::SessionClosed { .. } | Entry::SessionAborted { .. })),
        ..Opened::default()
    };
    if let Some(s) = first {
        let named = s.mode.as_deref().unwrap_or(Mode::Incident.as_str());
        match Mode::parse(named) {
            Some(m) => r.mode = m,
            None => r.problems.push(Problem::new(
                1,
                Rule::E9,
                ProblemKind::Label,
                format!("mode `{}` is not one this release knows (incident, drill, rekey, offboard)", crate::core::plain::one_line(named)),
            )),
        }
    }
    if let Some(Entry::SessionOpened { session_id, roster_sha256, scenario, custodians, rehearsal_roots, reason, ticket, .. }) =
        first.map(|s| &*s.entry)
    {
        r.session_id.clone_from(session_id);
        r.reason.clone_from(reason);
        r.ticket.clone_from(ticket);
        r.scenario.clone_from(scenario);
        r.roster_custodians.clone_from(custodians);
        r.rehearsal_roots.clone_from(rehearsal_roots);
        o.roster_sha256 = Some(roster_sha256.clone());
    }
    if let Some(e) = read.events.first() {
        r.started = Some(e.ts.clone());
        if e.kind != kind::SessionOpened {
            r.problems.push(Problem::new(1, Rule::E8, ProblemKind::Entry, "the first entry is not session.opened"));
        }
    }
    o
}

/// Rule E2: the anchor. The roster the session ran under is a version of the trusted chain, named
/// by `session.opened` (E4); without a trusted roster nothing is checked against a key.
pub(super) fn anchor<'t>(dir: &Path, anchor: Result<&'t TrustedRoster, &TrustError>, o: &Opened, r: &mut Report) -> Option<&'t Roster> {
    let t = match anchor {
        Ok(t) => t,
        Err(e) => {
            r.roster_source = "the bundle's own roster.toml (nothing configured or given)".into();
            let missing = matches!(e, TrustError::Unreadable { .. }) && !dir.join("roster.toml").exists();
            r.problems.push(if missing && !o.closed {
                Problem::new(
                    0,
                    Rule::E7,
                    ProblemKind::Interrupted,
                    "the bundle has no roster.toml yet (the process stopped before writing it)",
                )
            } else {
                Problem::new(0, Rule::E2, ProblemKind::Roster, format!("no trusted roster to check the signers against: {e}"))
            });
            return None;
        }
    };
    r.roster_source = t.describe();
    r.roster_rule = Some(t.rule().clone());
    r.demo = t.is_demo();
    if let Some(w) = t.warning() {
        r.warnings.push(w);
    }
    demo_label(t.is_demo(), o, r);
    session_version(t, o, r)
}

/// Rule E3: DEMO keys are public. A DEMO session proves nothing against a real roster, and a
/// session under the DEMO roster must say DEMO.
pub(super) fn demo_label(roster_is_demo: bool, o: &Opened, r: &mut Report) {
    if o.demo && !roster_is_demo {
        r.problems.push(Problem::new(
            1,
            Rule::E3,
            ProblemKind::Label,
            "a DEMO session, signed with the public DEMO keys, is checked against a real roster: it proves nothing and is not valid here",
        ));
    } else if !o.demo && roster_is_demo && !o.empty {
        r.problems.push(Problem::new(
            1,
            Rule::E3,
            ProblemKind::Label,
            "the session is not labelled DEMO, yet its roster is the public DEMO roster",
        ));
    }
}

/// Rule E4: the session names the roster version it ran under, and that version is in the trusted
/// chain (E22: an older version is named in a warning).
fn session_version<'t>(t: &'t TrustedRoster, o: &Opened, r: &mut Report) -> Option<&'t Roster> {
    let Some(sha) = o.roster_sha256.as_deref() else {
        if o.empty {
            return t.version_with(&t.roster().sha256());
        }
        r.problems.push(Problem::new(
            1,
            Rule::E8,
            ProblemKind::Entry,
            "session.opened does not name the roster it ran under (roster_sha256)",
        ));
        return None;
    };
    let Some(v) = t.version_with(sha) else {
        r.problems.push(Problem::new(
            1,
            Rule::E4,
            ProblemKind::Roster,
            format!("the session ran under roster {}, which is neither the trusted roster nor a version in its chain", short(sha)),
        ));
        return None;
    };
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

/// Rule E4: the bundle's copy of the roster is the version the session names.
pub(super) fn roster_copy(dir: &Path, o: &Opened, r: &mut Report) {
    let Some(sha) = o.roster_sha256.as_deref() else { return };
    let problem = match crate::core::fsread::read_regular(&dir.join("roster.toml"), crate::core::roster::MAX_ROSTER_BYTES) {
        Ok(b) if sha256_hex(&b) != sha => {
            Problem::new(0, Rule::E4, ProblemKind::Roster, "the bundle's roster.toml is not the roster the session opened with")
        }
        Ok(_) => return,
        Err(crate::core::fsread::ReadError::Missing) if o.closed => {
            Problem::new(0, Rule::E4, ProblemKind::Roster, "the bundle has no roster.toml, though the session was closed")
        }
        Err(crate::core::fsread::ReadError::Missing) => {
            Problem::new(0, Rule::E7, ProblemKind::Interrupted, "the bundle has no roster.toml yet (the process stopped before writing it)")
        }
        Err(e) => Problem::new(0, Rule::E1, ProblemKind::File, format!("roster.toml {e}")),
    };
    r.problems.push(problem);
}

/// What the walk over the entries keeps from one entry to the next.
#[derive(Default)]
pub(super) struct Walk {
    /// Custodians whose signed check-in verified (since the last recovery: E15).
    pub checked_in: Vec<String>,
    /// Destructive root actions confirmed on a key (action, custodian), not yet run.
    confirmed: Vec<(String, String)>,
    /// Offboarding changes made, for the report.
    applied: Vec<String>,
    /// `rekey.signed` entries, checked against `roster-next.toml` once the journal is read (E17).
    pub rekey_sigs: Vec<RekeySig>,
    /// The roster version the rekey approved.
    pub rekey_new: Option<String>,
    /// A drill's rekey (its signatures are in the drill namespace).
    pub rekey_drill: bool,
    /// Signed statements seen, checked up to [`MAX_SIGNED_STATEMENTS`].
    statements: usize,
    /// Secrets revealed and rotated (E27, checked once the journal is read).
    pub rotations: super::rotate::Rotations,
}

/// The most signed statements verify checks in one journal (docs/formats.md, Limits): a session
/// holds a few dozen (check-ins, acknowledgements, confirmations); each costs an ECDSA
/// verification, so a planted journal of junk signatures stops here, invalid.
pub(crate) const MAX_SIGNED_STATEMENTS: usize = 1000;

impl Walk {
    /// Applies the per-entry rules to the entry at 0-based `index`, then records what the report
    /// shows of it. Without a trusted roster no signature is checked (E2 already made it invalid).
    pub(super) fn entry(&mut self, s: &Special, roster: Option<&Roster>, r: &mut Report) {
        let n = s.index + 1;
        rehearsal_root(&s.entry, r);
        if let Some(ro) = roster {
            self.signed_statement(n, &s.entry, ro, r);
            self.runbook_after_quorum(n, &s.entry, ro, r);
            self.root_action_confirmed(n, &s.entry, r);
        }
        self.record(s.index, s.ts, &s.entry, r);
    }

    /// Rules E10 and E11: a signed statement is exactly the one the tool signs for this entry in
    /// this session, signed by a custodian of the session's roster; a custodian checks in once.
    pub(super) fn signed_statement(&mut self, n: usize, e: &Entry, ro: &Roster, r: &mut Report) {
        let Some((statement, rec)) = Statement::of_entry(e, &r.session_id) else { return };
        self.statements += 1;
        if self.statements > MAX_SIGNED_STATEMENTS {
            if self.statements == MAX_SIGNED_STATEMENTS + 1 {
                let what =
                    format!("more than {MAX_SIGNED_STATEMENTS} signed statements, the limit of one journal: the rest are not checked");
                r.problems.push(Problem::new(n, Rule::E10, ProblemKind::Entry, what));
            }
            return;
        }
        let (id, kind) = (rec.custodian, e.kind());
        let Some(key) = ro.key(id) else {
            r.problems.push(Problem::new(n, Rule::E10, ProblemKind::Signer, format!("`{id}` is not a custodian of the session's roster")));
            return;
        };
        if !statement.matches(rec.text) {
            let why = "the signed statement is not in the exact format for this session and entry";
            r.problems.push(Problem::new(n, Rule::E10, ProblemKind::Statement, format!("{kind}: {why}")));
        } else if let Err(e) = verify_statement(key, &statement, rec.sshsig) {
            r.problems.push(Problem::new(n, Rule::E10, ProblemKind::Signature, format!("{id}'s signature in {kind}: {e}")));
        } else if let Statement::Root { action, .. } = statement {
            self.confirmed.push((action, id.to_string()));
        } else if let Statement::CheckIn { .. } = statement {
            if self.checked_in.iter().any(|c| c == id) {
                let what = format!("`{id}` checked in twice: two different custodians are required");
                r.problems.push(Problem::new(n, Rule::E11, ProblemKind::Signer, what));
            }
            self.checked_in.push(id.to_string());
        }
    }

    /// Rule E12: the runbook opens only once a quorum has checked in on their keys (in this run: a
    /// recovery starts the count again). An unkeyed chain lets whoever can write the file invent
    /// "unsealed" lines; signed check-ins cannot be invented.
    pub(super) fn runbook_after_quorum(&self, n: usize, e: &Entry, ro: &Roster, r: &mut Report) {
        let Entry::RunbookUnsealed { with, .. } = e else { return };
        let ci = &self.checked_in;
        if ci.len() >= ro.quorum && with.len() >= ro.quorum && with.iter().all(|w| ci.contains(w)) {
            return;
        }
        r.problems.push(Problem::new(
            n,
            Rule::E12,
            ProblemKind::Entry,
            format!(
                "runbook.unsealed (with {}) before a quorum of {} had checked in with a signed challenge (checked in: {}): the runbook opens only after that",
                list(with),
                ro.quorum,
                list(ci)
            ),
        ));
    }

    /// Rule E13: a root action that changes the account runs only once every custodian checked in
    /// has confirmed it on their key (a `root.confirmed` whose signature verified, E10).
    pub(super) fn root_action_confirmed(&mut self, n: usize, e: &Entry, r: &mut Report) {
        let Entry::RootAction { action, .. } = e else { return };
        if *action == crate::core::root::Action::Audit.label() {
            return;
        }
        let missing: Vec<String> =
            self.checked_in.iter().filter(|id| !self.confirmed.contains(&(action.clone(), (*id).clone()))).cloned().collect();
        if !missing.is_empty() {
            r.problems.push(Problem::new(
                n,
                Rule::E13,
                ProblemKind::Entry,
                format!(
                    "root action `{}` without the signed confirmation of {}: a destructive root action runs only after every custodian present confirmed it on their key",
                    crate::core::plain::one_line(action),
                    list(&missing)
                ),
            ));
        }
        self.confirmed.retain(|(a, _)| a != action);
    }

    /// What the report shows of an entry (no rule is decided here but E15's count).
    fn record(&mut self, index: usize, ts: &str, e: &Entry, r: &mut Report) {
        let notice = |phase: &str, outcome: &str, channel: Option<&String>, message_id: Option<&String>| NoticeRecord {
            phase: phase.to_string(),
            outcome: outcome.to_string(),
            channel: channel.cloned(),
            message_id: message_id.cloned(),
            ts: ts.to_string(),
        };
        match e {
            Entry::ClockJump { .. } => r.clock_jumps += 1,
            Entry::SessionRecovered { .. } => self.recovered(index, ts, e, r),
            Entry::NoticeSent { phase, channel, message_id, .. } => r.notices.push(notice(phase, "sent", Some(channel), Some(message_id))),
            Entry::NoticeFailed { phase, .. } => r.notices.push(notice(phase, "failed", None, None)),
            Entry::NoticeAcknowledged { phase, .. } => r.notices.push(notice(phase, "acknowledged", None, None)),
            Entry::RunbookUnsealed { steps, purpose: None, .. } if r.runbook_steps.is_none() => r.runbook_steps = Some(*steps),
            Entry::SessionClosed { .. } => r.outcome = Some("closed".into()),
            Entry::SessionAborted { .. } => r.outcome = Some("aborted".into()),
            _ => self.record_change(index, ts, e, r),
        }
    }

    /// Rule E15: a recovery starts the count of check-ins again (the co-signers must be among those
    /// who check in after it), names the entries before it, and its gap is kept (E20).
    fn recovered(&mut self, index: usize, ts: &str, e: &Entry, r: &mut Report) {
        let Entry::SessionRecovered { entries, last_ts, partial_tail, .. } = e else { return };
        self.checked_in.clear();
        let gap = chrono::DateTime::parse_from_rfc3339(ts)
            .ok()
            .zip(chrono::DateTime::parse_from_rfc3339(last_ts).ok())
            .map(|(a, b)| (a - b).num_seconds());
        let rec = Recovered {
            at_entry: index as u64,
            entries_before: *entries,
            last_ts_before: last_ts.clone(),
            recovered_ts: ts.to_string(),
            gap_s: gap,
            partial_tail: partial_tail.is_some(),
        };
        r.recoveries.push(rec.clone());
        r.recovered = Some(rec);
        if *entries != index as u64 {
            r.problems.push(Problem::new(
                index + 1,
                Rule::E15,
                ProblemKind::Entry,
                "session.recovered does not name the number of entries before it",
            ));
        }
    }

    /// A rekey's or an offboarding's entries, as the report shows them (E17 checks them after).
    fn record_change(&mut self, index: usize, ts: &str, e: &Entry, r: &mut Report) {
        match e {
            Entry::RekeySigned { custodian, sshsig, roster_sha256, .. } => self.rekey_sigs.push(RekeySig {
                line: index + 1,
                id: custodian.clone(),
                sshsig: sshsig.clone(),
                names: roster_sha256.clone(),
            }),
            Entry::RekeyApproved { new_roster_sha256, .. } if self.rekey_new.is_none() => self.rekey_new = Some(new_roster_sha256.clone()),
            Entry::RekeyRehearsed { .. } => self.rekey_drill = true,
            Entry::SecretRevealed { .. } | Entry::SecretConfirmed { .. } | Entry::SecretRotated { .. } => {
                self.rotations.record(index, e, &self.checked_in)
            }
            Entry::OffboardApplied { api, target, request_id, .. } => self.applied.push(format!(
                "{} {target} ({})",
                api.as_deref().unwrap_or(""),
                request_id.as_deref().unwrap_or("no request id")
            )),
            Entry::OffboardFinished { person, done, total, not_done, target_s } => {
                let elapsed = r.started.as_deref().and_then(|a| {
                    Some((chrono::DateTime::parse_from_rfc3339(ts).ok()? - chrono::DateTime::parse_from_rfc3339(a).ok()?).num_seconds())
                });
                r.offboard = Some(OffboardRecord {
                    person: person.clone(),
                    done: *done as u64,
                    total: *total as u64,
                    not_done: not_done.iter().map(|x| *x as u64).collect(),
                    elapsed_s: elapsed,
                    target_s: *target_s,
                    applied: self.applied.clone(),
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
            _ => {}
        }
    }
}

/// Rule E25: a key attested by a root that is not Yubico's marks a rehearsal, whatever
/// `session.opened` says.
fn rehearsal_root(e: &Entry, r: &mut Report) {
    if let Entry::CustodianVerified { attestation: Some(a), .. } = e
        && !crate::core::attest::TrustStore::yubico().root_names().contains(&a.root)
        && !r.rehearsal_roots.iter().any(|x| x.starts_with(&a.root))
    {
        r.rehearsal_roots.push(a.root.clone());
    }
}

/// Rule E6: a journal cannot record the future. Times never go backwards along the chain, so its
/// last time is its latest; it may be ahead of this host's clock by a day of clock error at most.
/// (A session dated years ahead would otherwise cover every root use until then in the audit.)
pub(super) fn not_in_the_future(timeline: &[Event], now: chrono::DateTime<chrono::Utc>) -> Option<Problem> {
    let horizon = (now + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let last = timeline.last().filter(|e| e.ts.as_str() > horizon.as_str())?;
    Some(Problem::new(
        last.seq as usize + 1,
        Rule::E6,
        ProblemKind::Entry,
        format!(
            "the journal's last entry is dated {}, more than a day after this host's clock ({}): a journal cannot record the future. Check this host's clock; if it is right, the dates were forged",
            crate::core::plain::one_line(&last.ts),
            now.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    ))
}

/// Rule E14, nothing after the end: after the first `session.closed` / `session.aborted`, only
/// what closing a session writes (the root posture and root's events read at the close, the
/// release notice, keys coming and going while the custodians sign, clock jumps), and, to recover
/// a session whose signatures are missing, `session.recovered` and what the recovery writes before
/// its custodians are back: its account check (`aws.identity`, `aws.skipped`), its check-ins and,
/// for a rekey or an offboarding, its `rekey.settled` (what the roster files say now).
pub(super) fn after_the_end(timeline: &[Event]) -> Vec<Problem> {
    const CLOSING: &[&str] = &[
        kind::NoticeSending,
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
    // What a recovery writes as it starts, after `session.recovered`.
    const RECOVERY: &[&str] = &[kind::AwsIdentity, kind::AwsSkipped, kind::CustodianVerified, kind::RekeySettled];
    let Some(end) = timeline.iter().position(|e| e.kind == kind::SessionClosed || e.kind == kind::SessionAborted) else {
        return vec![];
    };
    let mut recovering = false;
    let mut out = vec![];
    for e in &timeline[end + 1..] {
        let k = e.kind.as_ref();
        recovering |= k == kind::SessionRecovered;
        if k == kind::SessionRecovered || CLOSING.contains(&k) || (recovering && RECOVERY.contains(&k)) {
            continue;
        }
        out.push(Problem::new(
            e.seq as usize + 1,
            Rule::E14,
            ProblemKind::Entry,
            format!(
                "{} after the session ended at entry #{}: nothing happens in a session after its end (an old session cannot be reopened to cover later events)",
                crate::core::plain::one_line(k),
                timeline[end].seq
            ),
        ));
    }
    out
}

/// A warning, not a rule: the directory's name is not the session's id (a renamed bundle).
pub(super) fn directory_name(dir: &Path, r: &mut Report) {
    if !r.session_id.is_empty()
        && let Some(name) = dir.canonicalize().ok().as_deref().and_then(Path::file_name).and_then(|n| n.to_str())
        && name != r.session_id
    {
        r.warnings.push(format!("the directory is named `{name}` but the journal is session `{}`", r.session_id));
    }
}

/// A warning, not a rule: the runbook was opened (root was in hand) but the team was never told
/// root was in use (no "root in use" notice sent, nor its absence acknowledged on the keys).
pub(super) fn never_announced(r: &mut Report) {
    let opened = r.runbook_steps.is_some() && matches!(r.mode, Mode::Incident | Mode::Drill);
    if opened && !r.notices.iter().any(|n| n.phase == "in_use" && (n.outcome == "sent" || n.outcome == "acknowledged")) {
        r.warnings.push("the runbook was opened, but no \"root in use\" notice went out and nobody acknowledged going on without it: the team was never told".into());
    }
}

/// The co-signature files in the bundle (`journal.jsonl.<id>.sig`), by custodian, in order.
fn cosignature_files(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut found: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let id = name.strip_prefix("journal.jsonl.").and_then(|s| s.strip_suffix(".sig"))?.to_string();
                    Some((id, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Rule E16: each co-signature over the whole journal verifies with the key of a custodian of the
/// session's roster who checked in (after the last recovery). Returns who signed.
pub(super) fn cosignatures(dir: &Path, roster: Option<&Roster>, sha512: &[u8], checked_in: &[String], r: &mut Report) {
    for (id, path) in cosignature_files(dir) {
        let name = format!("journal.jsonl.{id}.sig");
        let pem = match crate::core::fsread::read_regular(&path, crate::core::roster::MAX_SIG_BYTES) {
            Ok(p) => p,
            Err(e) => {
                r.problems.push(Problem::new(0, Rule::E1, ProblemKind::File, format!("{name} {e}")));
                continue;
            }
        };
        let Some(ro) = roster else { continue };
        let Some(key) = ro.key(&id) else {
            let what = format!("{name}: `{id}` is not a custodian of the session's roster");
            r.problems.push(Problem::new(0, Rule::E16, ProblemKind::Signer, what));
            continue;
        };
        match super::verify_prehashed(key, crate::core::sign::SESSION_NAMESPACE, sha512, &pem) {
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
}

/// Rule E18: the verdict. Any problem but an interruption makes the bundle invalid; an
/// interruption, no end, or fewer co-signers (or check-ins) than the quorum leave it incomplete;
/// only a bundle that passes every rule is valid.
pub(super) fn verdict(r: &mut Report, truncated: bool, quorum: usize) -> Status {
    if r.clock_jumps > 0 {
        r.warnings.push(format!(
            "the wall clock jumped {} time(s) during the session (see clock.jump in the timeline): times are kept in order and the order of events follows mono_ms",
            r.clock_jumps
        ));
    }
    if r.problems.iter().any(|p| p.kind != ProblemKind::Interrupted) {
        return Status::Invalid;
    }
    let interrupted = truncated || r.problems.iter().any(|p| p.kind == ProblemKind::Interrupted);
    let short_of_quorum = r.signers.len() < quorum || r.custodians.len() < quorum.min(r.signers.len().max(1));
    if !interrupted && r.outcome.is_some() && !short_of_quorum {
        return Status::Valid;
    }
    if r.outcome.is_none() {
        r.warnings
            .push("the session was never closed or aborted (the process stopped mid-ceremony?): `breakglass recover` closes it".into());
    } else if r.outcome.as_deref() == Some("aborted") && r.custodians.is_empty() && r.signers.is_empty() {
        r.warnings.push(
            "aborted before anyone checked in: nothing was in use and there is nothing to sign; it stays incomplete, as the record of a start left early".into(),
        );
        return Status::Incomplete;
    }
    if r.signers.len() < quorum {
        r.warnings.push(format!("signed by {} of the {} custodians required", r.signers.len(), quorum));
    }
    Status::Incomplete
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::root::Action;
    use std::borrow::Cow;

    const SID: &str = "S1";
    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    /// A statement signed on the DEMO key of custodian `i` (0 alice, 1 bob, 2 carol).
    fn signed(i: usize, statement: &Statement) -> String {
        let roster = crate::commands::demo::roster();
        let mut t = crate::commands::demo::tokens(&roster).swap_remove(i);
        t.verify_pin(&secrecy::SecretString::from(crate::commands::demo::pin_of(&roster.custodians[i].id).to_string())).unwrap();
        let sig = crate::core::sign::sshsig(t.as_mut(), statement.namespace(), &statement.message()).unwrap();
        crate::core::sign::to_pem(&sig).unwrap()
    }

    fn checkin(i: usize, session: &str) -> Entry {
        let st = Statement::CheckIn { session: session.into(), nonce: NONCE.into() };
        let id = crate::commands::demo::roster().custodians[i].id.clone();
        Entry::CustodianVerified {
            custodian: id,
            serial: 1,
            key: "k".into(),
            slot: 1,
            challenge: st.render(),
            sshsig: signed(i, &st),
            attestation: None,
        }
    }

    fn confirm(i: usize, action: &Action) -> Entry {
        let st = Statement::Root { session: SID.into(), target: "111122223333".into(), action: action.label() };
        let id = crate::commands::demo::roster().custodians[i].id.clone();
        Entry::RootConfirmed { custodian: id, action: action.label(), statement: st.render(), sshsig: signed(i, &st) }
    }

    /// Walks `entries` (as entries 0, 1, ...) with the DEMO roster; returns the report and the walk.
    fn walk(entries: &[Entry]) -> (Report, Walk) {
        let roster = crate::commands::demo::roster();
        let mut r = Report { session_id: SID.into(), ..Report::default() };
        let mut w = Walk::default();
        for (index, e) in entries.iter().enumerate() {
            let s = Special { index, ts: "2026-12-07T00:00:00.000Z", mode: None, demo: None, entry: Box::new(e.clone()) };
            w.entry(&s, Some(&roster), &mut r);
        }
        (r, w)
    }

    fn rules(r: &Report) -> Vec<(usize, Rule, ProblemKind)> {
        r.problems.iter().map(|p| (p.line, p.rule, p.kind)).collect()
    }

    /// E9: the session's mode is one this release knows; an unknown one makes the bundle invalid
    /// (it cannot say whether the session rehearsed or used root).
    #[test]
    fn e9_the_mode_is_known() {
        let opened = |mode: Option<&'static str>| Read {
            events: vec![],
            specials: vec![Special {
                index: 0,
                ts: "2026-12-07T00:00:00.000Z",
                mode: mode.map(std::borrow::Cow::Borrowed),
                demo: None,
                entry: Box::new(Entry::Note { step: None, text: "opened".into() }),
            }],
            problems: vec![],
        };
        for (named, want) in [(None, Mode::Incident), (Some("drill"), Mode::Drill), (Some("offboard"), Mode::Offboard)] {
            let mut r = Report { mode: Mode::Rekey, ..Report::default() };
            labels(&opened(named), &mut r);
            assert_eq!((r.mode, rules(&r)), (want, vec![]));
        }
        let mut r = Report::default();
        labels(&opened(Some("party")), &mut r);
        assert_eq!(rules(&r), [(1, Rule::E9, ProblemKind::Label)]);
    }

    /// E10: a check-in counts only when its statement is this session's and its signature is the
    /// custodian's own.
    #[test]
    fn e10_signed_statements() {
        let (r, w) = walk(&[checkin(0, SID)]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(w.checked_in, ["alice"]);
        // Another session's check-in, replayed here.
        let (r, w) = walk(&[checkin(0, "OTHER")]);
        assert_eq!(rules(&r), [(1, Rule::E10, ProblemKind::Statement)]);
        assert!(w.checked_in.is_empty());
        // bob's signature recorded as alice's.
        let Entry::CustodianVerified { challenge, sshsig, .. } = checkin(1, SID) else { unreachable!() };
        let forged = Entry::CustodianVerified {
            custodian: "alice".into(),
            serial: 1,
            key: "k".into(),
            slot: 1,
            challenge,
            sshsig,
            attestation: None,
        };
        assert_eq!(rules(&walk(&[forged]).0), [(1, Rule::E10, ProblemKind::Signature)]);
        // Someone the roster does not name.
        let Entry::CustodianVerified { challenge, sshsig, .. } = checkin(0, SID) else { unreachable!() };
        let outsider = Entry::CustodianVerified {
            custodian: "mallory".into(),
            serial: 1,
            key: "k".into(),
            slot: 1,
            challenge,
            sshsig,
            attestation: None,
        };
        assert_eq!(rules(&walk(&[outsider]).0), [(1, Rule::E10, ProblemKind::Signer)]);
    }

    /// E10: a journal of junk signatures costs at most [`MAX_SIGNED_STATEMENTS`] verifications,
    /// and is invalid.
    #[test]
    fn e10_at_most_a_thousand_signed_statements() {
        let junk =
            Entry::NoticeAcknowledged { phase: "in_use".into(), custodian: "alice".into(), statement: "x".into(), sshsig: "junk".into() };
        let many = vec![junk; MAX_SIGNED_STATEMENTS + 5];
        let (r, _) = walk(&many);
        assert_eq!(r.problems.len(), MAX_SIGNED_STATEMENTS + 1, "one problem per checked statement, then the limit once");
        assert_eq!(r.problems.last().map(|p| (p.rule, p.kind)), Some((Rule::E10, ProblemKind::Entry)));
    }

    /// A runbook opened with nobody told root was in use is said (a warning beside the verdict).
    #[test]
    fn a_runbook_opened_without_a_root_in_use_notice_is_said() {
        let unsealed = Entry::RunbookUnsealed { with: vec!["alice".into(), "bob".into()], steps: 3, purpose: None };
        let (mut r, _) = walk(&[checkin(0, SID), checkin(1, SID), unsealed.clone()]);
        r.mode = Mode::Incident;
        never_announced(&mut r);
        assert_eq!(r.warnings.len(), 1);
        let sent = Entry::NoticeSent { phase: "in_use".into(), channel: "sns".into(), message_id: "m".into(), late: None };
        let (mut r, _) = walk(&[checkin(0, SID), checkin(1, SID), sent, unsealed]);
        r.mode = Mode::Incident;
        never_announced(&mut r);
        assert!(r.warnings.is_empty());
    }

    /// E11: one custodian checking in twice is not two custodians.
    #[test]
    fn e11_two_different_custodians() {
        let (r, w) = walk(&[checkin(0, SID), checkin(0, SID)]);
        assert_eq!(rules(&r), [(2, Rule::E11, ProblemKind::Signer)]);
        assert_eq!(w.checked_in.len(), 2);
        assert!(walk(&[checkin(0, SID), checkin(1, SID)]).0.problems.is_empty());
    }

    /// E12: the runbook opens only after a quorum's signed check-ins, with those who checked in.
    #[test]
    fn e12_runbook_after_a_quorum() {
        let unsealed =
            |with: &[&str]| Entry::RunbookUnsealed { with: with.iter().map(|s| s.to_string()).collect(), steps: 3, purpose: None };
        let (r, _) = walk(&[checkin(0, SID), unsealed(&["alice", "bob"])]);
        assert_eq!(rules(&r), [(2, Rule::E12, ProblemKind::Entry)]);
        let (r, _) = walk(&[checkin(0, SID), checkin(1, SID), unsealed(&["alice", "carol"])]);
        assert_eq!(rules(&r), [(3, Rule::E12, ProblemKind::Entry)]);
        assert!(walk(&[checkin(0, SID), checkin(1, SID), unsealed(&["alice", "bob"])]).0.problems.is_empty());
    }

    /// E13: a destructive root action needs every present custodian's signed confirmation; the
    /// read-only audit does not.
    #[test]
    fn e13_destructive_root_actions_are_confirmed() {
        let act = Action::DeleteAccessKeys;
        let ran = |a: &Action| Entry::RootAction { action: a.label(), result: Some("ok".into()), error: None };
        let (r, _) = walk(&[checkin(0, SID), checkin(1, SID), confirm(0, &act), ran(&act)]);
        assert_eq!(rules(&r), [(4, Rule::E13, ProblemKind::Entry)]);
        assert!(walk(&[checkin(0, SID), checkin(1, SID), confirm(0, &act), confirm(1, &act), ran(&act)]).0.problems.is_empty());
        // A confirmation is spent by the action it confirmed.
        let (r, _) = walk(&[checkin(0, SID), checkin(1, SID), confirm(0, &act), confirm(1, &act), ran(&act), ran(&act)]);
        assert_eq!(rules(&r), [(6, Rule::E13, ProblemKind::Entry)]);
        assert!(walk(&[checkin(0, SID), checkin(1, SID), ran(&Action::Audit)]).0.problems.is_empty());
    }

    /// E15: a recovery names the entries before it and starts the count of check-ins again.
    #[test]
    fn e15_recovery() {
        let recovered = |entries: u64| Entry::SessionRecovered {
            entries,
            last_ts: "2026-12-06T23:00:00.000Z".into(),
            partial_tail: None,
            session_id: SID.into(),
            announced: false,
            reason: "test".into(),
            host: "h".into(),
            tool: "t".into(),
        };
        let (r, w) = walk(&[checkin(0, SID), checkin(1, SID), recovered(2)]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(w.checked_in.is_empty(), "a recovery starts the count again");
        assert_eq!(r.recoveries.len(), 1);
        assert_eq!(r.recoveries[0].gap_s, Some(3600));
        let (r, _) = walk(&[checkin(0, SID), recovered(7)]);
        assert_eq!(rules(&r), [(2, Rule::E15, ProblemKind::Entry)]);
    }

    /// E6: a journal dated more than a day ahead of the host's clock.
    #[test]
    fn e6_not_in_the_future() {
        let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 7, 0, 0, 0).unwrap();
        let at = |ts: &str| vec![Event { seq: 0, ts: ts.into(), kind: Cow::Borrowed(kind::SessionOpened), summary: String::new() }];
        assert!(not_in_the_future(&at("2026-12-07T23:00:00.000Z"), now).is_none());
        assert_eq!(not_in_the_future(&at("2027-12-07T00:00:00.000Z"), now).map(|p| p.rule), Some(Rule::E6));
    }

    /// E3: DEMO against a real roster, or the DEMO roster without the label.
    #[test]
    fn e3_demo_is_never_evidence() {
        let label = |demo: bool, roster_is_demo: bool| {
            let mut r = Report::default();
            demo_label(roster_is_demo, &Opened { demo, ..Opened::default() }, &mut r);
            r.problems.iter().map(|p| p.rule).collect::<Vec<_>>()
        };
        assert_eq!(label(true, false), [Rule::E3]);
        assert_eq!(label(false, true), [Rule::E3]);
        assert!(label(true, true).is_empty() && label(false, false).is_empty());
    }

    /// E18: the verdict from the problems' kinds, the end and the co-signers.
    #[test]
    fn e18_the_verdict() {
        let done = Report {
            outcome: Some("closed".into()),
            signers: vec!["alice".into(), "bob".into()],
            custodians: vec!["alice".into(), "bob".into()],
            ..Report::default()
        };
        assert_eq!(verdict(&mut done.clone(), false, 2), Status::Valid);
        assert_eq!(verdict(&mut done.clone(), true, 2), Status::Incomplete, "a cut tail");
        assert_eq!(verdict(&mut Report { outcome: None, ..done.clone() }, false, 2), Status::Incomplete);
        assert_eq!(verdict(&mut Report { signers: vec!["alice".into()], ..done.clone() }, false, 2), Status::Incomplete);
        let mut bad = done.clone();
        bad.problems.push(Problem::new(3, Rule::E10, ProblemKind::Signature, "x"));
        bad.problems.push(Problem::new(0, Rule::E7, ProblemKind::Interrupted, "y"));
        assert_eq!(verdict(&mut bad, false, 2), Status::Invalid, "any problem but an interruption is invalid");
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
            ev(5, kind::AwsIdentity),
            ev(5, kind::RekeySettled),
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
        let settled_after_close = [ev(0, kind::SessionOpened), ev(1, kind::SessionAborted), ev(2, kind::RekeySettled)];
        assert_eq!(after_the_end(&settled_after_close).len(), 1, "rekey.settled after the end only in a recovery");
    }
}
