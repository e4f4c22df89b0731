//! Which verified sessions cover root use, and where their windows lie (docs/evidence-model.md,
//! rules E19 to E23 and E28): the audit's cover, computed here from verify's typed verdicts and
//! never in the command. The command reads the sessions' directories and the trail; this module
//! decides.

use crate::core::audit;
use crate::core::config::Config;
use crate::core::journal::kind;
use crate::core::trust::{self, TrustedRoster};
use crate::core::verify;
use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};

/// What the audit reads from the session bundles that verify against the trusted roster.
#[derive(Default)]
pub struct Sessions {
    /// Sessions that may cover root use (rule E21), with their directories.
    pub verified: Vec<(PathBuf, verify::Report)>,
    /// Valid rehearsals on virtual cards (rule E25): listed, never cover.
    pub rehearsals: Vec<String>,
    /// Each real session's revealed and rotated secrets (rule E28).
    pub secrets: Vec<audit::SessionSecrets>,
}

/// Verifies every session bundle in `sessions_dir` against `anchor` and sorts what the audit needs.
pub fn sessions(config: &Config, anchor: Option<&trust::Anchor>, sessions_dir: &Path) -> Sessions {
    let mut out = Sessions::default();
    if let Ok(rd) = std::fs::read_dir(sessions_dir) {
        for dir in rd.flatten().map(|e| e.path()) {
            let Some(Ok(r)) = anchor.map(|a| a.verify(config, &dir)) else { continue };
            // E28: secrets revealed in any real session under the trusted roster, whatever its
            // verdict (a session nobody co-signed still showed them; a forged reveal can only make
            // the check fail); rotations count only from valid ones.
            if !r.demo && matches!(r.roster_rule, Some(trust::Rule::Pinned | trust::Rule::Chained { .. })) {
                let valid = r.status == verify::Status::Valid;
                out.secrets.push(audit::SessionSecrets {
                    session_id: r.session_id.clone(),
                    started: r.started.clone().unwrap_or_default(),
                    revealed_unrotated: if valid { r.unrotated.clone() } else { r.revealed.clone() },
                    rotated: if valid { r.rotated.clone() } else { vec![] },
                });
            }
            // E21: cover only from a valid, pinned, real session (a bundle checked against its
            // own roster copy proves nothing about who signed it; a drill does not open root; a
            // rehearsal's keys were not attested by Yubico, and the report lists it).
            match r.may_cover() {
                Ok(()) => out.verified.push((dir, r)),
                Err(crate::core::evidence::Rule::E25) => out.rehearsals.push(r.session_id.clone()),
                Err(_) => {}
            }
        }
    }
    out
}

/// An RFC 3339 timestamp in UTC, or None when it does not parse.
fn audit_ts(s: &str) -> Option<DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// The roster version a verified rekey retired: only if the version it made is the next one in
/// the trusted chain (a bundle's own claim of a roster change proves nothing).
fn retiring(trusted: Option<&TrustedRoster>, r: &verify::Report) -> Option<String> {
    let k = r.rekey.as_ref()?;
    let next = trusted?.version_with(&k.new_roster_sha256)?;
    (next.previous.as_deref() == Some(k.old_roster_sha256.as_str())).then(|| k.old_roster_sha256.clone())
}

/// When a session's rekey was committed, if it has one.
fn committed_at(r: &verify::Report) -> Option<DateTime<Utc>> {
    r.timeline.iter().find(|e| e.kind == kind::RekeyCommitted).and_then(|e| audit_ts(&e.ts))
}

/// The windows of the verified sessions that still cover root use, counting each session's
/// archive standing into `archive` on the way.
pub fn windows(
    verified: Vec<(PathBuf, verify::Report)>,
    trusted: Option<&TrustedRoster>,
    archive: &mut audit::ArchiveState,
    now: DateTime<Utc>,
) -> Vec<audit::Window> {
    // When each earlier roster version was retired: the commit time of the verified rekey that
    // replaced it. A session under an earlier version covers root use only if it ended before
    // then (two custodians removed since could otherwise sign a session under their old version).
    // A rekey retires a version only if the version it made is the next one in the trusted chain
    // (a bundle's own claim of a roster change proves nothing); the earliest such commit counts.
    let mut retired = audit::Retired::new();
    for (_, r) in &verified {
        if let (Some(old), Some(at)) = (retiring(trusted, r), committed_at(r)) {
            retired.entry(old).and_modify(|t| *t = (*t).min(at)).or_insert(at);
        }
    }
    let current = trusted.map(|t| t.roster().sha256());
    let mut windows = vec![];
    for (dir, r) in verified {
        windows.extend(session_window(&dir, &r, trusted, current.as_deref(), &retired));
        count_archived(archive, &dir, &r, now);
    }
    windows
}

/// One verified session's window, or None when it lacks a start or an end, or ran under a roster
/// version already retired when it ended.
fn session_window(
    dir: &Path,
    r: &verify::Report,
    trusted: Option<&TrustedRoster>,
    current: Option<&str>,
    retired: &audit::Retired,
) -> Option<audit::Window> {
    let released = r.notices.iter().filter(|n| n.phase == "released" || n.phase == "aborted").map(|n| n.ts.clone()).next_back();
    let window_end = released.or(r.ended.clone()).as_deref().and_then(audit_ts);
    let (Some(start), Some(end)) = (r.started.as_deref().and_then(audit_ts), window_end) else { return None };
    if audit::superseded(r.roster_sha256.as_deref(), current, retiring(trusted, r).as_deref().zip(committed_at(r)), end, retired) {
        return None;
    }
    let done = r.timeline.iter().filter(|e| e.kind == kind::StepDone).count()
        - r.timeline
            .iter()
            .filter(|e| e.kind == kind::StepUndone)
            .count()
            .min(r.timeline.iter().filter(|e| e.kind == kind::StepDone).count());
    let total = r.runbook_steps.unwrap_or(0);
    let gaps = r.recoveries.iter().filter_map(|g| Some((audit_ts(&g.last_ts_before)?, audit_ts(&g.recovered_ts)?))).collect();
    let account = crate::core::archive::session_of(dir).ok().map(|(_, a)| a).filter(|a| crate::core::config::is_account_id(a));
    Some(audit::Window { session_id: r.session_id.clone(), start, end, steps: (done, total), account, gaps })
}

/// Counts one verified session's bundle into `archive` when it is checked against the archive:
/// archived, changed, closed within the hour, or late.
fn count_archived(archive: &mut audit::ArchiveState, dir: &Path, r: &verify::Report, now: DateTime<Utc>) {
    let ended = r.ended.as_deref().and_then(audit_ts);
    if let audit::ArchiveState::Checked { archived, recent, late, changed } = archive {
        match crate::core::archive::bundle_files(dir).and_then(|f| crate::core::archive::standing(dir, &f)) {
            Ok(crate::core::archive::Standing::Archived(_)) => *archived += 1,
            Ok(crate::core::archive::Standing::Changed { .. }) | Err(_) => changed.push(r.session_id.clone()),
            Ok(crate::core::archive::Standing::Queued) => {
                if ended.is_none_or(|e| now - e > Duration::hours(1)) {
                    late.push(r.session_id.clone());
                } else {
                    *recent += 1;
                }
            }
        }
    }
}

/// Rule E23: a healthy roster is pinned, survives one absent custodian, and its runbook is signed;
/// else why not.
pub(crate) fn roster_health(config: &Config) -> Result<String, String> {
    match trust::resolve(config, None, None) {
        Err(e) => Err(e.to_string()),
        Ok(t) if *t.rule() == trust::Rule::Unpinned => Err(format!(
            "{}: nothing pins it, so one person holding two keys could have made it; pin it ([trust] roster_sha256 in {})",
            t.describe(),
            config.describe()
        )),
        Ok(t) if t.roster().quorum >= t.roster().custodians.len() => Err(format!(
            "quorum {} of {} custodians: with one absent, nobody can open root",
            t.roster().quorum,
            t.roster().custodians.len()
        )),
        Ok(t) => match config.runbook_path().map(|p| {
            crate::core::seal::Sealed::read_dir(&p).map_err(|e| e.to_string()).and_then(|s| s.check_signed(&t).map_err(|e| e.to_string()))
        }) {
            None => Err("no sealed runbook is configured (paths.runbook)".into()),
            Some(Err(e)) => Err(e),
            Some(Ok(())) => Ok(format!("{}; a quorum can open root with one custodian absent; the runbook is signed for it", t.describe())),
        },
    }
}
