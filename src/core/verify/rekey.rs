//! Rule E17: a roster change is committed only by a rekey or an offboarding, and the signatures in
//! the journal make it a rotation that `roster check` would trust.

use super::timeline::{list, short};
use super::{ROSTER_NEXT, RekeyRecord, Report, verify_statement};
use crate::core::evidence::Rule;
use crate::core::journal::{Problem, ProblemKind};
use crate::core::roster::Roster;
use crate::core::statement::Statement;
use std::path::Path;

/// A `rekey.signed` entry: its line, the custodian, their signature, and the roster version
/// (SHA-256) it names.
pub(super) struct RekeySig {
    pub line: usize,
    pub id: String,
    pub sshsig: String,
    pub names: String,
}

/// A rekey's signatures on the new roster version, checked against the copy of it in the bundle
/// (`roster-next.toml`): the copy must be the version the journal approved, and each signature must
/// verify with the key the new version (or, for a departing custodian, the session's roster) names.
pub(super) fn check_rekey_signatures(
    dir: &Path,
    roster: Option<&Roster>,
    approved: Option<&str>,
    sigs: &[RekeySig],
    drill: bool,
    r: &mut Report,
) {
    // A committed roster change is a claim about who signed what: it is checked whether or not
    // the journal holds any `rekey.signed` entry (without one, nothing vouches for it).
    let committed = r.rekey.clone();
    if sigs.is_empty() && committed.is_none() {
        return;
    }
    let path = dir.join(ROSTER_NEXT);
    let next = match crate::core::fsread::read_regular(&path, crate::core::roster::MAX_ROSTER_BYTES) {
        Ok(b) => match Roster::parse(&b, ROSTER_NEXT) {
            Ok(n) => n,
            Err(e) => {
                r.problems.push(Problem::new(0, Rule::E17, ProblemKind::Roster, format!("{ROSTER_NEXT}: {e}")));
                return;
            }
        },
        Err(crate::core::fsread::ReadError::Missing) if committed.is_some() => {
            r.problems.push(Problem::new(
                0, Rule::E17,
                ProblemKind::Roster,
                format!("the journal records a committed roster change, but the bundle has no {ROSTER_NEXT}: nothing shows who signed the new version"),
            ));
            return;
        }
        Err(crate::core::fsread::ReadError::Missing) => {
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
    let statement = Statement::RosterVersion { bytes: next.bytes.clone(), drill };
    for RekeySig { line, id, sshsig, names } in sigs {
        let key = next.key(id).or_else(|| roster.and_then(|ro| ro.key(id)));
        let outcome = match key {
            None => Err(format!("`{id}` is in neither roster version")),
            Some(_) if *names != next.sha256() => Err("it names another roster version".to_string()),
            Some(k) => verify_statement(k, &statement, sshsig).map_err(|e| e.to_string()),
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
    if !matches!(r.mode, crate::core::mode::Mode::Rekey | crate::core::mode::Mode::Offboard) {
        r.problems.push(bad(format!("is in a session of mode `{}`: only a rekey or an offboarding changes the roster", r.mode.as_str())));
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
