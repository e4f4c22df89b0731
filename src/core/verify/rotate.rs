//! Rule E27: a secret's rotation is what the journal says it is. A sealed value's new sealing is
//! in the bundle (`sealing-<serial>.MANIFEST.toml`, the hash `secret.rotated` names) and signed,
//! in the runbook's namespace, by every custodian the entry says confirmed it, checked in this run
//! (at least a quorum); one rotated out of band was confirmed on those custodians' keys
//! (`secret.confirmed`, a statement E10 checks). Secrets revealed in the session and not rotated
//! in it are listed (`secrets_unrotated`), as the audit's `breakglass_secrets_rotated` reads them.

use super::Report;
use super::timeline::{list, short};
use crate::core::evidence::Rule;
use crate::core::journal::{Entry, Problem, ProblemKind};
use crate::core::roster::Roster;
use sha2::{Digest, Sha512};
use std::path::Path;

/// The copy of a rotation's new manifest that a session bundle keeps.
pub fn manifest_copy(serial: u64) -> String {
    format!("sealing-{serial}.MANIFEST.toml")
}

/// A custodian's signature over a new sealing's manifest (`secret.confirmed` with a hash).
struct SealingSig {
    id: String,
    manifest_sha256: String,
    sshsig: String,
}

/// A `secret.rotated` entry, to check once the journal is read.
struct Claim {
    line: usize,
    name: String,
    manifest: Option<(String, u64)>,
    confirmed_by: Vec<String>,
    drill: bool,
    /// Who had checked in (in this run) when the rotation was recorded.
    present: Vec<String>,
}

/// The most rotation entries (confirmations and rotations) verify keeps from one journal
/// (docs/formats.md, Limits): a session holds a handful; each confirmation is checked against
/// each rotation, so a planted journal of them stops here, invalid.
pub(crate) const MAX_ROTATION_ENTRIES: usize = 1000;

/// What the walk keeps of a session's secrets.
#[derive(Default)]
pub(super) struct Rotations {
    /// More rotation entries than [`MAX_ROTATION_ENTRIES`]: the line of the first one left out.
    over: Option<usize>,
    revealed: Vec<String>,
    rotated: Vec<String>,
    sigs: Vec<SealingSig>,
    out_of_band: Vec<(String, String)>,
    claims: Vec<Claim>,
}

impl Rotations {
    /// Records an entry; `checked_in` is who had checked in (in this run) at that point.
    pub(super) fn record(&mut self, index: usize, e: &Entry, checked_in: &[String]) {
        if matches!(e, Entry::SecretConfirmed { .. } | Entry::SecretRotated { .. })
            && self.sigs.len() + self.out_of_band.len() + self.claims.len() >= MAX_ROTATION_ENTRIES
        {
            self.over.get_or_insert(index + 1);
            return;
        }
        match e {
            Entry::SecretRevealed { secret, name, .. } => {
                let name = name.clone().unwrap_or_else(|| format!("secret-{secret}"));
                if !self.revealed.contains(&name) {
                    self.revealed.push(name);
                }
            }
            Entry::SecretConfirmed { name, custodian, manifest_sha256: Some(m), statement: None, sshsig, .. } => {
                let _ = name;
                self.sigs.push(SealingSig { id: custodian.clone(), manifest_sha256: m.clone(), sshsig: sshsig.clone() });
            }
            Entry::SecretConfirmed { name, custodian, statement: Some(_), .. } => self.out_of_band.push((name.clone(), custodian.clone())),
            Entry::SecretRotated { name, manifest_sha256, serial, confirmed_by, drill, .. } => {
                self.claims.push(Claim {
                    line: index + 1,
                    name: name.clone(),
                    manifest: manifest_sha256.clone().zip(*serial),
                    confirmed_by: confirmed_by.clone(),
                    drill: *drill,
                    present: checked_in.to_vec(),
                });
                // A drill rotates a copy: the real secret stays as it was.
                if !*drill && !self.rotated.contains(name) {
                    self.rotated.push(name.clone());
                }
            }
            _ => {}
        }
    }
}

/// Rule E27, once the journal is read: each rotation claimed, checked; and the secrets revealed
/// and not rotated, reported.
pub(super) fn check_rotations(dir: &Path, roster: Option<&Roster>, rot: &Rotations, r: &mut Report) {
    r.unrotated = rot.revealed.iter().filter(|n| !rot.rotated.contains(n)).cloned().collect();
    r.rotated.clone_from(&rot.rotated);
    r.revealed.clone_from(&rot.revealed);
    if !r.unrotated.is_empty() {
        r.warnings.push(format!(
            "secrets revealed in this session and not rotated in it: {} (rotate them in a ceremony; `audit` FAILs breakglass_secrets_rotated until then)",
            list(&r.unrotated)
        ));
    }
    if let Some(line) = rot.over {
        let what = format!("more than {MAX_ROTATION_ENTRIES} rotation entries, the limit of one journal: the rest are not checked");
        r.problems.push(Problem::new(line, Rule::E27, ProblemKind::Entry, what));
    }
    let Some(roster) = roster else { return };
    for c in &rot.claims {
        if let Some(p) = claim_problem(dir, roster, rot, c) {
            r.problems.push(p);
        }
    }
}

/// What is wrong with one claimed rotation, if anything.
fn claim_problem(dir: &Path, roster: &Roster, rot: &Rotations, c: &Claim) -> Option<Problem> {
    let bad = |kind, what: String| {
        Some(Problem::new(c.line, Rule::E27, kind, format!("secret.rotated ({}): {what}", crate::core::plain::one_line(&c.name))))
    };
    let short_of: Vec<String> = c.present.iter().filter(|id| !c.confirmed_by.contains(id)).cloned().collect();
    let mut distinct = c.confirmed_by.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < roster.quorum || !short_of.is_empty() {
        return bad(
            ProblemKind::Entry,
            format!("confirmed by {}, not by every custodian checked in ({})", list(&c.confirmed_by), list(&c.present)),
        );
    }
    let Some((sha, serial)) = &c.manifest else {
        // Out of band: each confirmer signed the statement (E10 checked the signature).
        let missing: Vec<String> =
            c.confirmed_by.iter().filter(|id| !rot.out_of_band.iter().any(|(n, who)| *n == c.name && who == *id)).cloned().collect();
        return (!missing.is_empty())
            .then(|| bad(ProblemKind::Signature, format!("no signed confirmation by {}", list(&missing))))
            .flatten();
    };
    let name = manifest_copy(*serial);
    let bytes = match crate::core::fsread::read_regular(&dir.join(&name), 1 << 20) {
        Ok(b) => b,
        Err(e) => return bad(ProblemKind::File, format!("the new sealing's manifest {name}: {e}")),
    };
    if super::sha256_hex(&bytes) != *sha {
        return bad(ProblemKind::File, format!("{name} is not the sealing the journal names ({})", short(sha)));
    }
    let ns = if c.drill { crate::core::sign::RUNBOOK_DRILL_NAMESPACE } else { crate::core::sign::RUNBOOK_NAMESPACE };
    let digest = Sha512::digest(&bytes);
    for id in &c.confirmed_by {
        let Some(sig) = rot.sigs.iter().find(|s| s.id == *id && s.manifest_sha256 == *sha) else {
            return bad(ProblemKind::Signature, format!("no signature by {id} over the new sealing"));
        };
        let Some(key) = roster.key(id) else {
            return bad(ProblemKind::Signer, format!("`{id}` is not a custodian of the session's roster"));
        };
        if let Err(e) = super::verify_prehashed(key, ns, &digest, sig.sshsig.as_bytes()) {
            return bad(ProblemKind::Signature, format!("{id}'s signature over {name}: {e}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revealed(name: &str) -> Entry {
        Entry::SecretRevealed { secret: 1, for_step: None, shown: "on screen".into(), by: vec![], name: Some(name.into()) }
    }

    fn rotated(name: &str, drill: bool, by: &[&str]) -> Entry {
        Entry::SecretRotated {
            secret: 1,
            name: name.into(),
            how: "out-of-band".into(),
            manifest_sha256: None,
            serial: None,
            confirmed_by: by.iter().map(|s| s.to_string()).collect(),
            drill,
        }
    }

    #[test]
    fn e27_a_revealed_secret_is_listed_until_rotated_for_real() {
        let d = tempfile::tempdir().unwrap();
        let checked: Vec<String> = vec![];
        let mut rot = Rotations::default();
        rot.record(0, &revealed("root-password"), &checked);
        rot.record(1, &revealed("pin"), &checked);
        // A drill's rotation is on a copy: it does not count.
        rot.record(2, &rotated("pin", true, &["alice", "bob"]), &checked);
        let mut r = Report::default();
        check_rotations(d.path(), None, &rot, &mut r);
        assert_eq!(r.unrotated, ["root-password", "pin"]);
        let mut rot2 = Rotations::default();
        rot2.record(0, &revealed("pin"), &checked);
        rot2.record(1, &rotated("pin", false, &["alice", "bob"]), &checked);
        let mut r = Report::default();
        check_rotations(d.path(), None, &rot2, &mut r);
        assert!(r.unrotated.is_empty());
    }

    #[test]
    fn e27_a_journal_of_planted_rotations_stops_at_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let mut rot = Rotations::default();
        for i in 0..MAX_ROTATION_ENTRIES + 5 {
            rot.record(i, &rotated("pin", false, &["alice", "bob"]), &[]);
        }
        assert_eq!(rot.claims.len(), MAX_ROTATION_ENTRIES);
        let mut r = Report::default();
        check_rotations(d.path(), None, &rot, &mut r);
        assert_eq!(
            r.problems.iter().map(|p| (p.rule, p.kind, p.line)).collect::<Vec<_>>(),
            [(Rule::E27, ProblemKind::Entry, MAX_ROTATION_ENTRIES + 1)]
        );
    }

    #[test]
    fn e27_a_rotation_without_its_confirmations_or_sealing_is_a_problem() {
        let d = tempfile::tempdir().unwrap();
        let roster = crate::commands::demo::roster();
        let checked = vec!["alice".to_string(), "bob".to_string()];
        // Out of band, claimed by both, confirmed by one only.
        let mut rot = Rotations::default();
        rot.record(
            0,
            &Entry::SecretConfirmed {
                secret: 1,
                name: "pin".into(),
                custodian: "alice".into(),
                manifest_sha256: None,
                statement: Some("s".into()),
                sshsig: "x".into(),
            },
            &checked,
        );
        rot.record(1, &rotated("pin", false, &["alice", "bob"]), &checked);
        let mut r = Report::default();
        check_rotations(d.path(), Some(&roster), &rot, &mut r);
        assert_eq!(r.problems.iter().map(|p| (p.rule, p.kind)).collect::<Vec<_>>(), [(Rule::E27, ProblemKind::Signature)]);
        // Claimed by one custodian only: not everyone present.
        let mut rot = Rotations::default();
        rot.record(0, &rotated("pin", false, &["alice"]), &checked);
        // The same custodian twice is one confirmation, short of the quorum.
        rot.record(1, &rotated("pin", false, &["alice", "alice"]), &["alice".to_string()]);
        let mut r = Report::default();
        check_rotations(d.path(), Some(&roster), &rot, &mut r);
        assert_eq!(r.problems.iter().map(|p| (p.rule, p.kind)).collect::<Vec<_>>(), [(Rule::E27, ProblemKind::Entry); 2]);
        // Who had checked in when it was recorded counts, not who checked in later (a recovery).
        let mut rot = Rotations::default();
        rot.record(
            0,
            &Entry::SecretConfirmed {
                secret: 1,
                name: "pin".into(),
                custodian: "alice".into(),
                manifest_sha256: None,
                statement: Some("s".into()),
                sshsig: "x".into(),
            },
            &checked,
        );
        rot.record(
            1,
            &Entry::SecretConfirmed {
                secret: 1,
                name: "pin".into(),
                custodian: "bob".into(),
                manifest_sha256: None,
                statement: Some("s".into()),
                sshsig: "x".into(),
            },
            &checked,
        );
        rot.record(2, &rotated("pin", false, &["alice", "bob"]), &checked);
        let mut r = Report::default();
        check_rotations(d.path(), Some(&roster), &rot, &mut r);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        // A sealed value whose manifest is not in the bundle.
        let mut rot = Rotations::default();
        rot.record(
            0,
            &Entry::SecretRotated {
                secret: 2,
                name: "root-password".into(),
                how: "generated".into(),
                manifest_sha256: Some("ab".repeat(32)),
                serial: Some(2),
                confirmed_by: checked.clone(),
                drill: false,
            },
            &checked,
        );
        let mut r = Report::default();
        check_rotations(d.path(), Some(&roster), &rot, &mut r);
        assert_eq!(r.problems.iter().map(|p| (p.rule, p.kind)).collect::<Vec<_>>(), [(Rule::E27, ProblemKind::File)]);
    }
}
