//! Check-in: each custodian presents their key (roster serial, attestation, PIN, a signed
//! challenge), and the pause while a checked-in key is away.

use super::*;

/// The keys' part of check-in (the custodians checked in are the ceremony's own).
#[derive(Debug, Clone, Default)]
pub(super) struct Keys {
    /// Attestation results by key serial (hardware keys must have a good one to check in).
    pub(super) attestations: Vec<(u32, Result<AttestInfo, Failed>)>,
    /// Keys that went away after check-in, and their PIN again when they return.
    pub(super) presence: Presence,
}

/// Keys that went away after check-in: the ceremony pauses until they are back, and each
/// custodian whose key came back enters the PIN again.
#[derive(Debug, Clone, Default)]
pub(super) struct Presence {
    /// Serials of checked-in keys that cannot be seen.
    pub(super) removed: Vec<u32>,
    /// Check-in slots whose key came back and must be unlocked again.
    pub(super) reauth: Vec<SlotIx>,
    /// A PIN entered again is being checked.
    pub(super) working: bool,
}

/// What a key's verified attestation says (journalled at check-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestInfo {
    pub firmware: String,
    pub form_factor: String,
    /// The trusted root the chain ends at.
    pub root: String,
}

/// A custodian who has checked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    pub custodian: RosterIx,
    pub serial: u32,
    pub model: String,
}

/// Where a custodian's key interaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStage {
    /// Waiting for a key to be presented.
    AwaitKey,
    /// A roster key is present; waiting for its PIN.
    AwaitPin { custodian: RosterIx, serial: u32, model: String, retries: u8, nonce: String },
    /// The PIN was accepted; waiting for the custodian to touch the key.
    AwaitTouch { custodian: RosterIx, serial: u32, model: String, nonce: String },
    /// The token is working (PIN check or signature).
    Working { custodian: RosterIx, serial: u32, model: String, nonce: String },
}

impl Ceremony {
    pub(super) fn check_in(&mut self, stage: KeyStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        use KeyStage::*;
        match (stage, intent) {
            (AwaitKey | AwaitPin { .. }, Intent::KeySeen { serial, model, demo, retries, nonce }) => {
                self.key_seen(serial, model, demo, retries, nonce, fx)
            }
            (AwaitPin { .. } | AwaitTouch { .. }, Intent::Back) => {
                self.clear_transient();
                Phase::CheckIn(AwaitKey)
            }
            (AwaitPin { custodian, serial, model, nonce, retries }, Intent::PinEntered(pin))
                if FACTORY_PINS.contains(&secrecy::ExposeSecret::expose_secret(&pin)) && !self.info.demo =>
            {
                // Not sent to the card: no try is spent on a PIN that must not be in use.
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(id.clone()),
                    why: "factory default PIN".into(),
                    retries_left: None,
                }));
                self.refuse(Say::FactoryPin { id: id.clone() });
                Phase::CheckIn(AwaitPin { custodian, serial, model, retries, nonce })
            }
            (AwaitPin { custodian, serial, model, nonce, .. }, Intent::PinEntered(pin)) => {
                self.clear_transient();
                fx.push(Effect::VerifyPin { serial, pin });
                Phase::CheckIn(Working { custodian, serial, model, nonce })
            }
            (Working { custodian, serial, model, nonce }, Intent::PinChecked { serial: s, result }) if s == serial => {
                self.pin_checked(custodian, serial, model, nonce, result, fx)
            }
            (AwaitTouch { custodian, serial, model, nonce }, Intent::Touch) => {
                let statement = checkin_message(&self.info.session_id, &nonce);
                fx.push(Effect::Attest { custodian, serial, statement });
                Phase::CheckIn(Working { custodian, serial, model, nonce })
            }
            (Working { custodian, serial, model, nonce }, Intent::Attested { custodian: c, result }) if c == custodian => {
                self.challenge_signed(custodian, serial, model, &nonce, result, fx)
            }
            (stage, _) => Phase::CheckIn(stage),
        }
    }

    /// The custodian's PIN checked on their key: on to the touch, or asked again (never into the
    /// last try: the key is handed back first).
    fn pin_checked(
        &mut self,
        custodian: RosterIx,
        serial: u32,
        model: String,
        nonce: String,
        result: Result<(), TokenError>,
        fx: &mut Vec<Effect>,
    ) -> Phase {
        use KeyStage::*;
        match result {
            Ok(()) => {
                self.info_msg(Say::PinAccepted { id: self.roster[custodian].id.clone() });
                Phase::CheckIn(AwaitTouch { custodian, serial, model, nonce })
            }
            Err(TokenError::WrongPin { retries_left }) => {
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(id.clone()),
                    why: "wrong PIN".into(),
                    retries_left: Some(retries_left),
                }));
                if retries_left <= 1 {
                    self.refuse(Say::WrongPinLastTry { retries_left });
                    Phase::CheckIn(AwaitKey)
                } else {
                    self.refuse(Say::WrongPin { retries_left });
                    Phase::CheckIn(AwaitPin { custodian, serial, model, retries: retries_left, nonce })
                }
            }
            Err(e) => {
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(id.clone()),
                    why: e.to_string(),
                    retries_left: None,
                }));
                self.refuse(Say::Token(e));
                Phase::CheckIn(AwaitKey)
            }
        }
    }

    /// The check-in challenge signed on the key (or not): the custodian is in, and with a quorum
    /// the ceremony goes on.
    fn challenge_signed(
        &mut self,
        custodian: RosterIx,
        serial: u32,
        model: String,
        nonce: &str,
        result: Result<String, Failed>,
        fx: &mut Vec<Effect>,
    ) -> Phase {
        use KeyStage::*;
        match result {
            Ok(sig) => {
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::CustodianVerified {
                    custodian: id.clone(),
                    serial,
                    key: model.clone(),
                    slot: self.checked.len() + 1,
                    challenge: checkin_message(&self.info.session_id, nonce).render(),
                    sshsig: sig,
                    attestation: self.keys.attestations.iter().find(|(s, _)| *s == serial).and_then(|(_, r)| r.as_ref().ok()).map(|a| {
                        AttestationNote { firmware: a.firmware.clone(), form_factor: a.form_factor.clone(), root: a.root.clone() }
                    }),
                }));
                self.checked.push(CheckedIn { custodian, serial, model });
                let name = self.roster[custodian].name.clone();
                self.info_msg(match self.quorum().checked_sub(self.checked.len()) {
                    Some(more @ 1..) if self.held.is_some() => Say::CheckedInRecoveryHeld { name, id: id.clone(), more },
                    _ => Say::CheckedIn { name, id: id.clone() },
                });
                if self.checked.len() >= self.quorum() { self.quorum_present(fx) } else { Phase::CheckIn(AwaitKey) }
            }
            Err(e) => {
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(id.clone()),
                    why: format!("challenge signature: {e}"),
                    retries_left: None,
                }));
                self.refuse(Say::ChallengeNotSigned { id: id.clone(), error: e.to_string() });
                Phase::CheckIn(AwaitKey)
            }
        }
    }

    /// A key presented at check-in: a DEMO key in a real ceremony (or the reverse), a key on no
    /// one's roster line, a custodian already in, an attestation that does not hold, a drill
    /// scenario's refusal, a PIN blocked or down to its last try: each refused and journalled;
    /// else its PIN is asked for.
    fn key_seen(
        &mut self,
        serial: u32,
        model: String,
        demo: bool,
        retries: Result<u8, TokenError>,
        nonce: String,
        fx: &mut Vec<Effect>,
    ) -> Phase {
        use KeyStage::*;
        if demo != self.info.demo {
            self.refuse(Say::KeyKindMismatch { serial, demo_key: demo });
            return Phase::CheckIn(AwaitKey);
        }
        let Some(custodian) = self.roster.position(|p| p.serial == serial) else {
            self.refuse(Say::NotOnRoster { serial });
            fx.push(self.entry(Entry::CustodianRefused {
                serial,
                custodian: None,
                why: "serial not on the roster".into(),
                retries_left: None,
            }));
            return Phase::CheckIn(AwaitKey);
        };
        let p = self.roster[custodian].clone();
        if self.checked.iter().any(|c| c.custodian == custodian || c.serial == serial) {
            self.refuse(Say::AlreadyCheckedIn { serial, owner: p.id.clone(), slot: self.checked.next_index() });
            fx.push(self.entry(Entry::CustodianRefused {
                serial,
                custodian: Some(p.id.clone()),
                why: "already checked in: two different custodians are required".into(),
                retries_left: None,
            }));
            return Phase::CheckIn(AwaitKey);
        }
        if !demo {
            match self.keys.attestations.iter().find(|(s, _)| *s == serial).map(|(_, r)| r.clone()) {
                Some(Ok(_)) => {}
                Some(Err(why)) => {
                    self.refuse(Say::AttestationRefused { serial, id: p.id.clone(), why: why.to_string() });
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: format!("attestation: {why}"),
                        retries_left: None,
                    }));
                    return Phase::CheckIn(AwaitKey);
                }
                None => {
                    self.refuse(Say::NotAttested { serial });
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: "no attestation".into(),
                        retries_left: None,
                    }));
                    return Phase::CheckIn(AwaitKey);
                }
            }
        }
        if let Some(say) = self.scenario_refuses(custodian) {
            // The journal keeps what the custodians were told (as it always has).
            let why = say.scenario_words().unwrap_or_default();
            self.refuse(say);
            fx.push(self.entry(Entry::CustodianRefused { serial, custodian: Some(p.id.clone()), why, retries_left: None }));
            return Phase::CheckIn(AwaitKey);
        }
        match retries {
            Ok(0) | Err(TokenError::PinBlocked) => {
                self.refuse(Say::PinBlocked { id: p.id.clone() });
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(p.id.clone()),
                    why: "PIN blocked".into(),
                    retries_left: None,
                }));
                Phase::CheckIn(AwaitKey)
            }
            Ok(1) => {
                self.refuse(Say::LastPinTry { id: p.id.clone() });
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(p.id.clone()),
                    why: "last PIN try: not spent".into(),
                    retries_left: None,
                }));
                Phase::CheckIn(AwaitKey)
            }
            Ok(retries) => {
                self.clear_transient();
                Phase::CheckIn(AwaitPin { custodian, serial, model, retries, nonce })
            }
            Err(e) => {
                self.refuse(Say::KeyError { serial, error: e });
                Phase::CheckIn(AwaitKey)
            }
        }
    }

    /// Pauses when a checked-in key is pulled out; resumes (after the PIN again) when it returns.
    pub(super) fn keys_present(&mut self, serials: &[u32], unreachable: Option<&str>, fx: &mut Vec<Effect>) {
        for (who, k) in self.checked.clone().enumerate() {
            let id = self.roster[k.custodian].id.clone();
            let here = serials.contains(&k.serial);
            if !here && !self.keys.presence.removed.contains(&k.serial) {
                self.keys.presence.removed.push(k.serial);
                self.keys.presence.reauth.retain(|w| *w != who);
                match unreachable {
                    None if self.keys_may_be_away() => {
                        fx.push(self.entry(Entry::CustodianKeyRemoved { custodian: id.clone(), serial: k.serial, why: None }));
                        self.info_msg(Say::KeyAwayWhileNewcomerSigns { id: id.clone(), serial: k.serial });
                    }
                    None => {
                        fx.push(self.entry(Entry::CustodianKeyRemoved { custodian: id.clone(), serial: k.serial, why: None }));
                        self.refuse(Say::Paused { id: id.clone(), serial: k.serial });
                    }
                    Some(why) => {
                        fx.push(self.entry(Entry::CustodianKeyRemoved {
                            custodian: id.clone(),
                            serial: k.serial,
                            why: Some(why.to_string()),
                        }));
                        self.refuse(Say::PausedNoReader);
                    }
                }
            } else if here && self.keys.presence.removed.contains(&k.serial) {
                self.keys.presence.removed.retain(|s| *s != k.serial);
                fx.push(self.entry(Entry::CustodianKeyReturned { custodian: id.clone(), serial: k.serial }));
                if !self.keys.presence.reauth.contains(&who) {
                    self.keys.presence.reauth.push(who);
                }
                if self.keys_may_be_away() {
                    self.info_msg(Say::KeyBackLater { id: id.clone() });
                } else {
                    self.info_msg(Say::KeyBack { id: id.clone() });
                }
            }
        }
    }

    /// Why the drill's scenario turns this custodian away, if it does.
    pub(super) fn scenario_refuses(&self, custodian: RosterIx) -> Option<Say> {
        let id = &self.roster[custodian].id;
        match &self.scenario {
            Scenario::KeyMissing(missing) if missing == id => Some(Say::ScenarioKeyMissing { id: id.clone() }),
            Scenario::SparePair if self.roster.len() > 2 => {
                let usual = [self.roster[RosterIx(0)].id.as_str(), self.roster[RosterIx(1)].id.as_str()];
                let first = self.checked.first().map(|k| self.roster[k.custodian].id.as_str());
                match first {
                    Some(f) if usual.contains(&f) && usual.contains(&id.as_str()) => {
                        Some(Say::ScenarioSparePair { usual: (usual[0].to_string(), usual[1].to_string()) })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A quorum checked in: a ceremony announces root; a recovery closes the interrupted session
    /// (recorded as aborted), releases root if it had been announced, and collects signatures.
    pub(super) fn quorum_present(&mut self, fx: &mut Vec<Effect>) -> Phase {
        let Some(rec) = self.recovering.clone() else {
            if matches!(self.mode, Mode::Rekey | Mode::Offboard) {
                // No root is touched: the runbook is opened to be sealed again (and, for an
                // offboarding, for the steps it adds to the checklist), never shown.
                fx.push(Effect::Unseal { ids: self.checked_ids() });
                return Phase::Unseal { failed: None };
            }
            return self.send_notice(NoticePhase::InUse, fx);
        };
        // Setup and both check-ins happened in this recovery; what followed them did not.
        self.close.aborted_at = Some(self.notify_rail_index());
        self.notify.announced = rec.announced;
        if !rec.closed && rec.announced && !rec.released && self.root_was_in_use() {
            // Root was in use when it was cut: the closing checklist before root is released.
            self.close.for_notice = Some(NoticePhase::Aborted);
            self.info_msg(Say::RecoveryCloseFirst);
            return Phase::Closing;
        }
        self.outcome = Some(Outcome::Aborted);
        if !rec.closed {
            fx.push(self.entry(Entry::SessionAborted {
                at: "interrupted".into(),
                recovered: true,
                steps_done: rec.steps_done,
                signal: None,
            }));
        }
        // What the journal says the team was told decides nothing: whoever could write the file
        // could have added "in use" or "released" lines (the chain is not keyed). A recovery
        // always tells the team that the session is closed and root released.
        self.info_msg(Say::RecoveryClosed(if rec.released {
            RecoveryNotice::AlreadyReleased
        } else if rec.announced {
            RecoveryNotice::Releasing
        } else {
            RecoveryNotice::NeverAnnounced
        }));
        // A session that had been closed normally is "released"; anything else was aborted.
        self.release(if rec.closed_normally { NoticePhase::Released } else { NoticePhase::Aborted }, fx)
    }
}
