//! A rekey: the review, the newcomers' keys, the signatures on the new version, the swap.

use super::*;

/// Where a rekey stands (after the runbook was unsealed by the current quorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RekeyStage {
    /// The change as a diff, and who can open the runbook afterwards: Enter goes on.
    Review,
    /// Newcomer `n` (index into [`Rekey::added`]) proves their key by signing the new version.
    Newcomer { n: usize, key: NewKey },
    /// Checked-in custodian `who` signs the new version (and the new sealing) on their key.
    Sign { who: SlotIx, working: bool, failed: Option<String> },
    /// The new runbook is staged, checked and swapped in.
    Committing,
    /// The swap failed (nothing live changed, or it was finished by `settle`): retry or abort.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKey {
    AwaitKey,
    AwaitPin { retries: u8 },
    AwaitTouch,
    Working,
}

/// The change a rekey makes, fixed before the ceremony starts (from [`crate::core::rekey::Plan`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rekey {
    pub old_sha256: String,
    pub new_sha256: String,
    pub new_version: u32,
    /// The roster diff, a line each.
    pub diff: Vec<String>,
    /// Who will be able to open the runbook afterwards.
    pub quorums_after: Vec<Vec<String>>,
    pub added: Vec<Person>,
    pub removed: Vec<String>,
    /// Custodian ids of the new version and its quorum.
    pub new_ids: Vec<String>,
    pub new_quorum: usize,
    /// Ids whose signature over the new version was made and checked.
    pub signed: Vec<String>,
    /// The sealed files opened to check the swap, once committed.
    pub committed: Option<Vec<String>>,
}

impl Rekey {
    pub fn from_plan(plan: &crate::core::rekey::Plan) -> Self {
        Self {
            old_sha256: plan.old.sha256(),
            new_sha256: plan.new.sha256(),
            new_version: plan.new.version,
            diff: plan.diff().iter().map(ToString::to_string).collect(),
            quorums_after: plan.quorums_after(),
            added: people(&plan.new).into_iter().filter(|p| plan.added.contains(&p.id)).collect(),
            removed: plan.removed.clone(),
            new_ids: plan.new.custodians.iter().map(|c| c.id.clone()).collect(),
            new_quorum: plan.new.quorum,
            signed: vec![],
            committed: None,
        }
    }
}

/// The next newcomer's turn.
fn stay_next(n: usize) -> Phase {
    Phase::Rekey(RekeyStage::Newcomer { n, key: NewKey::AwaitKey })
}

/// The rail of a rekey: check-ins, the runbook opened, newcomers, signatures, the swap, the
/// notice, the co-signature.
pub fn rekey_rail(quorum: usize) -> Vec<RailStep> {
    let mut r = setup_and_checkins(quorum);
    r.extend([
        RailStep::OpenRunbook,
        RailStep::ReviewChange,
        RailStep::SignRoster,
        RailStep::ResealSwap,
        RailStep::NotifyTeam,
        RailStep::Sign,
    ]);
    r
}

impl Ceremony {
    /// After the runbook was opened for a rekey: the review, or a refusal when those present
    /// cannot sign the new version (the signers the chain rule needs are not all here).
    pub(super) fn rekey_review(&mut self) -> Phase {
        let Some(k) = &self.rekey else { return Phase::Rekey(RekeyStage::Review) };
        let stay = self.checked_ids().into_iter().filter(|id| k.new_ids.contains(id)).count();
        let can = stay + k.added.len();
        if can < k.new_quorum {
            self.refuse(Say::RekeyQuorumShort { version: k.new_version, needs: k.new_quorum, can });
        } else {
            self.clear_transient();
        }
        Phase::Rekey(RekeyStage::Review)
    }

    pub(super) fn rekey_step(&mut self, stage: RekeyStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(k) = self.rekey.clone() else { return Phase::Rekey(stage) };
        match (stage, intent) {
            (RekeyStage::Review, Intent::RekeyGo) => {
                let stay = self.checked_ids().into_iter().filter(|id| k.new_ids.contains(id)).count();
                if stay + k.added.len() < k.new_quorum {
                    return self.rekey_review();
                }
                fx.push(self.entry(Entry::RekeyApproved {
                    by: self.checked_ids(),
                    old_roster_sha256: k.old_sha256.clone(),
                    new_roster_sha256: k.new_sha256.clone(),
                    diff: k.diff.clone(),
                }));
                self.clear_transient();
                if k.added.is_empty() {
                    Phase::Rekey(RekeyStage::Sign { who: SlotIx(0), working: false, failed: None })
                } else {
                    Phase::Rekey(RekeyStage::Newcomer { n: 0, key: NewKey::AwaitKey })
                }
            }
            (RekeyStage::Newcomer { n, key }, intent) => self.newcomer_step(&k, n, key, intent, fx),
            (RekeyStage::Sign { who, working: false, .. }, Intent::Touch) if self.checked.has(who) => {
                let c = &self.checked[who];
                let id = self.roster[c.custodian].id.clone();
                fx.push(Effect::SignRekey { manifest: k.new_ids.contains(&id), id, serial: c.serial, rehearse: self.rehearsal() });
                Phase::Rekey(RekeyStage::Sign { who, working: true, failed: None })
            }
            (RekeyStage::Sign { who, working: true, .. }, Intent::RekeySigned { id, result }) => match result {
                Ok(sig) => {
                    fx.push(self.entry(Entry::RekeySigned {
                        custodian: id.clone(),
                        serial: self.checked[who].serial,
                        role: "custodian".into(),
                        roster_sha256: k.new_sha256.clone(),
                        sshsig: sig,
                    }));
                    if let Some(r) = self.rekey.as_mut() {
                        r.signed.push(id.clone());
                    }
                    self.info_msg(Say::RekeySigned { id: id.clone(), version: k.new_version });
                    if self.checked.has(who.next()) {
                        Phase::Rekey(RekeyStage::Sign { who: who.next(), working: false, failed: None })
                    } else {
                        self.commit_rekey(&k, false, fx)
                    }
                }
                Err(e) => {
                    self.refuse_failed(&e, Say::RekeySignFailed { id: id.clone(), error: e.to_string() });
                    Phase::Rekey(RekeyStage::Sign { who, working: false, failed: Some(e.to_string()) })
                }
            },
            (RekeyStage::Committing, Intent::RekeyCommitted(result)) => self.rekey_committed(&k, result, fx),
            (RekeyStage::Failed(_), Intent::RekeyGo) => {
                self.clear_transient();
                self.commit_rekey(&k, true, fx)
            }
            (stage, _) => Phase::Rekey(stage),
        }
    }

    /// Everyone has signed: the new version is sealed, checked and swapped in (`retry`: again,
    /// after a swap that failed).
    fn commit_rekey(&mut self, k: &Rekey, retry: bool, fx: &mut Vec<Effect>) -> Phase {
        fx.push(self.entry(Entry::RekeyCommitting { new_roster_sha256: k.new_sha256.clone(), retry }));
        let mut present = self.checked_ids();
        present.extend(k.added.iter().map(|p| p.id.clone()));
        fx.push(Effect::CommitRekey { present, rehearse: self.rehearsal() });
        Phase::Rekey(RekeyStage::Committing)
    }

    /// The swap done (in a drill: rehearsed and set aside), or not.
    fn rekey_committed(&mut self, k: &Rekey, result: Result<Vec<String>, Failed>, fx: &mut Vec<Effect>) -> Phase {
        match result {
            Ok(opened) if self.rehearsal() => {
                // A drill: the new sealing was staged, checked and removed; nothing changed,
                // and the team is not told of a change that did not happen.
                fx.push(self.entry(Entry::RekeyRehearsed {
                    old_roster_sha256: k.old_sha256.clone(),
                    new_roster_sha256: k.new_sha256.clone(),
                    new_version: k.new_version,
                    opened,
                }));
                self.info_msg(Say::RekeyRehearsed { version: k.new_version });
                Phase::Offboard
            }
            Ok(opened) => {
                fx.push(self.entry(Entry::RekeyCommitted {
                    old_roster_sha256: k.old_sha256.clone(),
                    new_roster_sha256: k.new_sha256.clone(),
                    new_version: k.new_version,
                    added: k.added.iter().map(|p| p.id.clone()).collect(),
                    removed: k.removed.clone(),
                    signed_by: k.signed.clone(),
                    opened: opened.clone(),
                    rehearsal: self.rehearsal(),
                }));
                if let Some(r) = self.rekey.as_mut() {
                    r.committed = Some(opened);
                }
                self.info_msg(Say::RekeyInUse { version: k.new_version });
                self.send_notice(NoticePhase::RosterChanged, fx)
            }
            Err(e) => {
                fx.push(self.entry(Entry::RekeyFailed { error: e.to_string() }));
                // The screen says what failed and what to do.
                self.clear_transient();
                Phase::Rekey(RekeyStage::Failed(e.to_string()))
            }
        }
    }

    /// The newcomers have signed: the custodians who checked in sign next, each on their own key,
    /// so a key taken out meanwhile (two USB ports) must be back first, with its PIN.
    fn newcomers_done(&mut self) -> Phase {
        if let Some(serial) = self.keys.presence.removed.first().copied()
            && let Some(k) = self.checked.iter().find(|k| k.serial == serial)
        {
            let id = self.roster[k.custodian].id.clone();
            self.refuse(Say::Paused { id, serial });
        } else if let Some(who) = self.keys.presence.reauth.first().copied() {
            let id = self.roster[self.checked[who].custodian].id.clone();
            self.info_msg(Say::KeyBack { id });
        }
        Phase::Rekey(RekeyStage::Sign { who: SlotIx(0), working: false, failed: None })
    }

    /// A newcomer proves their key: it is the one the new version names (serial, attestation),
    /// its PIN opens it, and it signs the new version (checked against the key the version names).
    pub(super) fn newcomer_step(&mut self, k: &Rekey, n: usize, key: NewKey, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(p) = k.added.get(n).cloned() else {
            return self.newcomers_done();
        };
        let stay = |key| Phase::Rekey(RekeyStage::Newcomer { n, key });
        match (key, intent) {
            (NewKey::AwaitKey | NewKey::AwaitPin { .. }, Intent::KeySeen { serial, demo, retries, .. }) => {
                stay(self.newcomer_key_seen(&p, serial, demo, retries, fx))
            }
            (NewKey::AwaitPin { .. } | NewKey::AwaitTouch, Intent::Back) => {
                self.clear_transient();
                stay(NewKey::AwaitKey)
            }
            (NewKey::AwaitPin { retries }, Intent::PinEntered(pin)) => {
                if FACTORY_PINS.contains(&secrecy::ExposeSecret::expose_secret(&pin)) && !self.info.demo {
                    self.refuse(Say::NewcomerFactoryPin { id: p.id.clone() });
                    return stay(NewKey::AwaitPin { retries });
                }
                self.clear_transient();
                fx.push(Effect::VerifyPin { serial: p.serial, pin });
                stay(NewKey::Working)
            }
            (NewKey::Working, Intent::PinChecked { serial, result }) if serial == p.serial => {
                stay(self.newcomer_pin_checked(k, &p, serial, result, fx))
            }
            (NewKey::AwaitTouch, Intent::Touch) => {
                fx.push(Effect::SignRekey { id: p.id.clone(), serial: p.serial, manifest: true, rehearse: self.rehearsal() });
                stay(NewKey::Working)
            }
            (NewKey::Working, Intent::RekeySigned { id, result }) if id == p.id => match result {
                Ok(sig) => {
                    fx.push(self.entry(Entry::RekeySigned {
                        custodian: id.clone(),
                        serial: p.serial,
                        role: "added".into(),
                        roster_sha256: k.new_sha256.clone(),
                        sshsig: sig,
                    }));
                    if let Some(r) = self.rekey.as_mut() {
                        r.signed.push(id.clone());
                    }
                    self.info_msg(Say::NewcomerSigned { name: p.name.clone(), id: id.clone(), version: k.new_version });
                    if n + 1 < k.added.len() { stay_next(n + 1) } else { self.newcomers_done() }
                }
                Err(e) => {
                    self.refuse_failed(&e, Say::NewcomerSignFailed { id: id.clone(), error: e.to_string() });
                    stay(NewKey::AwaitTouch)
                }
            },
            (key, _) => stay(key),
        }
    }

    /// A key presented for newcomer `p`: theirs, of the session's kind, attested, with PIN tries
    /// to spare; then their PIN is asked.
    fn newcomer_key_seen(&mut self, p: &Person, serial: u32, demo: bool, retries: Result<u8, TokenError>, fx: &mut Vec<Effect>) -> NewKey {
        if self.checked.iter().any(|c| c.serial == serial) {
            return NewKey::AwaitKey;
        }
        if demo != self.info.demo {
            self.refuse(Say::NewcomerKeyKind { serial, demo_key: demo, demo_session: self.info.demo });
            return NewKey::AwaitKey;
        }
        if serial != p.serial {
            self.refuse(Say::NotNewcomersKey { serial, id: p.id.clone(), expected: p.serial });
            fx.push(self.entry(Entry::CustodianRefused {
                serial,
                custodian: Some(p.id.clone()),
                why: "not the newcomer's key".into(),
                retries_left: None,
            }));
            return NewKey::AwaitKey;
        }
        if !demo {
            match self.keys.attestations.iter().find(|(s, _)| *s == serial).map(|(_, r)| r.clone()) {
                Some(Ok(_)) => {}
                other => {
                    let why = match other {
                        Some(Err(why)) => why.to_string(),
                        _ => "it could not be attested as a genuine YubiKey".into(),
                    };
                    self.refuse(Say::AttestationRefused { serial, id: p.id.clone(), why: why.clone() });
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: format!("attestation: {why}"),
                        retries_left: None,
                    }));
                    return NewKey::AwaitKey;
                }
            }
        }
        match retries {
            Ok(r) if r >= 2 => {
                self.info_msg(Say::EnterPin { id: p.id.clone() });
                NewKey::AwaitPin { retries: r }
            }
            Ok(_) | Err(TokenError::PinBlocked) => {
                self.refuse(Say::NewcomerPinLow { id: p.id.clone() });
                NewKey::AwaitKey
            }
            Err(e) => {
                self.refuse(Say::KeyError { serial, error: e });
                NewKey::AwaitKey
            }
        }
    }

    /// The newcomer's PIN checked on their key: on to the signature, or asked again.
    fn newcomer_pin_checked(&mut self, k: &Rekey, p: &Person, serial: u32, result: Result<(), TokenError>, fx: &mut Vec<Effect>) -> NewKey {
        match result {
            Ok(()) => {
                self.info_msg(Say::NewcomerPinAccepted { id: p.id.clone(), version: k.new_version });
                NewKey::AwaitTouch
            }
            Err(TokenError::WrongPin { retries_left }) if retries_left >= 2 => {
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(p.id.clone()),
                    why: "wrong PIN".into(),
                    retries_left: Some(retries_left),
                }));
                self.refuse(Say::WrongPin { retries_left });
                NewKey::AwaitPin { retries: retries_left }
            }
            Err(e) => {
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(p.id.clone()),
                    why: e.to_string(),
                    retries_left: None,
                }));
                self.refuse(Say::NewcomerTokenError { error: e });
                NewKey::AwaitKey
            }
        }
    }
}
