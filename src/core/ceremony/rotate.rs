//! Rotating a revealed secret before the close: a new value (drawn by the terminal, or typed),
//! the runbook sealed again with it in memory and staged beside the live sealing, the value set
//! where it belongs, each custodian's confirmation on their key (their signature over the new
//! sealing's manifest), then the swap. A secret rotated out of band (an AWS Support PIN) is only
//! confirmed on the keys. The journal records which secret, the new manifest's hash and serial,
//! and who confirmed: never the value.

use super::*;
use crate::core::runbook::Rotate;

/// Where a rotation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateStage {
    /// The new value is ready (masked): the custodians may reveal it, draw another, or seal it.
    Value,
    /// The new sealing is being made, staged and opened back.
    Staging,
    /// Staged: set the value where it belongs, then each custodian confirms on their key.
    SetIt,
    /// Every custodian confirmed: the swap.
    Committing,
    /// Out of band: each custodian confirms on their key that it was rotated.
    OutOfBand,
    /// Staging or the swap failed (the live sealing is unchanged): retry or leave.
    Failed(String),
}

/// The rotation under way. Its Debug output never shows the value.
#[derive(Clone)]
pub struct Rotation {
    pub secret: usize,
    pub name: String,
    pub how: Rotate,
    /// The new value (none for a secret rotated out of band).
    pub value: Option<SecretString>,
    /// Shown on screen (revealing is journalled).
    pub shown: bool,
    /// The staged sealing: manifest SHA-256 and serial.
    pub staged: Option<(String, u64)>,
    pub confirmed: Vec<SlotIx>,
    pub confirming: Option<SlotIx>,
    /// The screen to go back to.
    pub from: Box<Phase>,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("secret", &self.secret)
            .field("name", &self.name)
            .field("how", &self.how)
            .field("value", &self.value.as_ref().map(|_| "[REDACTED]"))
            .field("staged", &self.staged)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

impl Rotation {
    fn how_word(&self) -> &'static str {
        match self.how {
            Rotate::Generate { .. } => "generated",
            Rotate::Typed => "typed",
            Rotate::OutOfBand => "out-of-band",
        }
    }
}

impl Ceremony {
    /// Secrets revealed in this session and not rotated since, by index.
    pub fn unrotated(&self) -> Vec<usize> {
        (0..self.book.revealed_ever.len())
            .filter(|i| self.book.revealed_ever[*i] && !self.book.rotated.get(*i).copied().unwrap_or(false))
            .collect()
    }

    /// `o` on the runbook or the closing checklist: rotate secret `secret` with `value` (drawn or
    /// typed by the terminal; none for a secret rotated out of band).
    pub(super) fn start_rotation(&mut self, from: Phase, secret: usize, value: Option<SecretString>, fx: &mut Vec<Effect>) -> Phase {
        let Some((name, how)) = self.book.runbook.as_ref().and_then(|rb| rb.secrets.get(secret).map(|s| (s.id(secret), s.rotate))) else {
            return from;
        };
        self.hide_secrets(None, fx);
        self.clear_transient();
        let out_of_band = how == Rotate::OutOfBand;
        if !out_of_band && value.is_none() {
            return from;
        }
        self.rotation = Some(Rotation {
            secret,
            name,
            how,
            value: if out_of_band { None } else { value },
            shown: false,
            staged: None,
            confirmed: vec![],
            confirming: None,
            from: Box::new(from),
        });
        Phase::Rotate(if out_of_band { RotateStage::OutOfBand } else { RotateStage::Value })
    }

    fn leave_rotation(&mut self) -> Phase {
        self.rotation.take().map_or(Phase::Runbook, |r| *r.from)
    }

    pub(super) fn rotate_step(&mut self, stage: RotateStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(r) = self.rotation.clone() else { return Phase::Runbook };
        let drill = self.mode == Mode::Drill;
        let (secret, name) = (r.secret as u64 + 1, r.name.clone());
        match (stage, intent) {
            (RotateStage::Value, Intent::RotateValue(v)) => {
                if let Some(rot) = self.rotation.as_mut() {
                    rot.value = Some(v);
                    rot.shown = false;
                }
                Phase::Rotate(RotateStage::Value)
            }
            (RotateStage::Value | RotateStage::SetIt, Intent::Reveal(_)) if !r.shown => {
                if let Some(rot) = self.rotation.as_mut() {
                    rot.shown = true;
                }
                let for_step =
                    self.book.runbook.as_ref().and_then(|rb| rb.secrets.get(r.secret)).and_then(|s| s.for_step).map(|n| n as u64 + 1);
                fx.push(self.entry(Entry::SecretRevealed {
                    secret,
                    for_step,
                    shown: "new value on screen".into(),
                    by: self.checked_ids(),
                    name: Some(name),
                }));
                Phase::Rotate(if r.staged.is_some() { RotateStage::SetIt } else { RotateStage::Value })
            }
            (s @ (RotateStage::Value | RotateStage::SetIt), Intent::Hide(_)) => {
                if let Some(rot) = self.rotation.as_mut() {
                    rot.shown = false;
                }
                Phase::Rotate(s)
            }
            (RotateStage::Value, Intent::Back) => self.leave_rotation(),
            (RotateStage::Value | RotateStage::Failed(_), Intent::RotateGo) if r.staged.is_none() => {
                let Some(value) = r.value.clone() else { return Phase::Rotate(RotateStage::Value) };
                fx.push(Effect::StageRotation { secret: r.secret, value, present: self.checked_ids(), drill });
                self.clear_transient();
                Phase::Rotate(RotateStage::Staging)
            }
            (RotateStage::Staging, Intent::RotationStaged(result)) => self.rotation_staged(&r, result, fx),
            (RotateStage::SetIt, Intent::RotateAbandon) => {
                // The new value did not take: the staging goes, the old value stands.
                fx.push(self.entry(Entry::RotationFailed { secret, name, error: "the custodians said the new value did not take".into() }));
                fx.push(Effect::DiscardRotation { drill });
                self.info_msg(Say::RotationAbandoned);
                self.leave_rotation()
            }
            (s @ (RotateStage::SetIt | RotateStage::OutOfBand), Intent::Acknowledge { who })
                if r.confirming.is_none() && self.checked.has(who) && !r.confirmed.contains(&who) =>
            {
                let c = &self.checked[who];
                if s == RotateStage::OutOfBand {
                    let statement = crate::core::statement::Statement::OutOfBand { session: self.info.session_id.clone(), secret: name };
                    fx.push(Effect::Attest { custodian: c.custodian, serial: c.serial, statement });
                } else {
                    fx.push(Effect::SignSealing { custodian: c.custodian, serial: c.serial, drill });
                }
                if let Some(rot) = self.rotation.as_mut() {
                    rot.confirming = Some(who);
                }
                Phase::Rotate(s)
            }
            (
                s @ (RotateStage::SetIt | RotateStage::OutOfBand),
                Intent::SealingSigned { custodian, result } | Intent::Attested { custodian, result },
            ) if r.confirming.is_some_and(|w| self.checked[w].custodian == custodian) => self.confirmed(s, &r, custodian, result, fx),
            (RotateStage::Committing, Intent::RotationCommitted(result)) => self.rotation_committed(&r, result, fx),
            (RotateStage::Failed(_), Intent::RotateGo) => {
                fx.push(Effect::CommitRotation { drill });
                self.clear_transient();
                Phase::Rotate(RotateStage::Committing)
            }
            (RotateStage::Failed(_) | RotateStage::OutOfBand, Intent::Back) => {
                if r.staged.is_some() {
                    fx.push(Effect::DiscardRotation { drill });
                }
                self.leave_rotation()
            }
            (stage, _) => Phase::Rotate(stage),
        }
    }

    /// The new sealing is staged (journalled; then the custodians set the value), or it is not.
    fn rotation_staged(&mut self, r: &Rotation, result: Result<(String, u64, Vec<String>), Failed>, fx: &mut Vec<Effect>) -> Phase {
        let (secret, name, drill) = (r.secret as u64 + 1, r.name.clone(), self.mode == Mode::Drill);
        match result {
            Ok((manifest_sha256, serial, opened)) => {
                fx.push(self.entry(Entry::RotationStaged {
                    secret,
                    name,
                    manifest_sha256: manifest_sha256.clone(),
                    serial,
                    opened,
                    drill,
                }));
                if let Some(rot) = self.rotation.as_mut() {
                    rot.staged = Some((manifest_sha256, serial));
                }
                self.info_msg(Say::RotationStaged { drill });
                Phase::Rotate(RotateStage::SetIt)
            }
            Err(e) => {
                fx.push(self.entry(Entry::RotationFailed { secret, name, error: e.to_string() }));
                Phase::Rotate(RotateStage::Failed(e.to_string()))
            }
        }
    }

    /// The swap happened (the rotation journalled, the runbook as it now reads), or it did not.
    fn rotation_committed(&mut self, r: &Rotation, result: Result<Arc<Runbook>, Failed>, fx: &mut Vec<Effect>) -> Phase {
        let (secret, name, drill) = (r.secret as u64 + 1, r.name.clone(), self.mode == Mode::Drill);
        match result {
            Ok(rb) => {
                let (manifest_sha256, serial) = r.staged.clone().unzip();
                let by = r.confirmed.iter().map(|w| self.roster[self.checked[*w].custodian].id.clone()).collect();
                fx.push(self.entry(Entry::SecretRotated {
                    secret,
                    name,
                    how: r.how_word().into(),
                    manifest_sha256,
                    serial,
                    confirmed_by: by,
                    drill,
                }));
                self.mark_rotated(r.secret, rb);
                self.info_msg(Say::Rotated { drill });
                self.leave_rotation()
            }
            Err(e) => {
                fx.push(self.entry(Entry::RotationFailed { secret, name, error: e.to_string() }));
                Phase::Rotate(RotateStage::Failed(e.to_string()))
            }
        }
    }

    /// A custodian's confirmation came back: journalled; after the last one, the swap (or, out
    /// of band, the rotation recorded).
    fn confirmed(
        &mut self,
        s: RotateStage,
        r: &Rotation,
        custodian: RosterIx,
        result: Result<String, Failed>,
        fx: &mut Vec<Effect>,
    ) -> Phase {
        let (secret, name) = (r.secret as u64 + 1, r.name.clone());
        let who = r.confirming.unwrap_or(SlotIx(0));
        if let Some(rot) = self.rotation.as_mut() {
            rot.confirming = None;
        }
        let sig = match result {
            Ok(sig) => sig,
            Err(e) => {
                self.refuse(Say::NotConfirmed { error: e.to_string() });
                return Phase::Rotate(s);
            }
        };
        let id = self.roster[custodian].id.clone();
        let out_of_band = s == RotateStage::OutOfBand;
        let statement = out_of_band
            .then(|| crate::core::statement::Statement::OutOfBand { session: self.info.session_id.clone(), secret: name.clone() }.render());
        fx.push(self.entry(Entry::SecretConfirmed {
            secret,
            name: name.clone(),
            custodian: id,
            manifest_sha256: r.staged.as_ref().map(|(m, _)| m.clone()),
            statement,
            sshsig: sig,
        }));
        let mut confirmed = r.confirmed.clone();
        confirmed.push(who);
        if let Some(rot) = self.rotation.as_mut() {
            rot.confirmed = confirmed.clone();
        }
        self.clear_transient();
        if confirmed.len() < self.checked.len() {
            return Phase::Rotate(s);
        }
        if out_of_band {
            let by = confirmed.iter().map(|w| self.roster[self.checked[*w].custodian].id.clone()).collect();
            let drill = self.mode == Mode::Drill;
            fx.push(self.entry(Entry::SecretRotated {
                secret,
                name,
                how: "out-of-band".into(),
                manifest_sha256: None,
                serial: None,
                confirmed_by: by,
                drill,
            }));
            let rb = self.book.runbook.clone();
            if let Some(rb) = rb {
                self.mark_rotated(r.secret, rb);
            }
            self.info_msg(Say::Rotated { drill });
            return self.leave_rotation();
        }
        fx.push(Effect::CommitRotation { drill: self.mode == Mode::Drill });
        Phase::Rotate(RotateStage::Committing)
    }

    fn mark_rotated(&mut self, secret: usize, rb: Arc<Runbook>) {
        if self.book.rotated.len() <= secret {
            self.book.rotated.resize(secret + 1, false);
        }
        self.book.rotated[secret] = true;
        // The runbook now holds the new value (a drill's copy was thrown away: the old one stays).
        if self.mode != Mode::Drill {
            self.book.runbook = Some(rb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_new_value() {
        let r = Rotation {
            secret: 0,
            name: "root-password".into(),
            how: Rotate::Typed,
            value: Some(SecretString::from("s3cret-new-value")),
            shown: true,
            staged: None,
            confirmed: vec![],
            confirming: None,
            from: Box::new(Phase::Runbook),
        };
        let d = format!("{r:?}");
        assert!(!d.contains("s3cret") && d.contains("REDACTED"), "{d}");
    }
}
