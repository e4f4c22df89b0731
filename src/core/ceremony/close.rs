//! The end: abort, and the co-signatures.

use super::*;

/// The end's part of the ceremony: the closing checklist, and the co-signatures.
#[derive(Debug, Clone)]
pub(super) struct Closing {
    /// Closing items ticked.
    pub(super) ticked: Vec<bool>,
    /// Closing items recorded as not done.
    pub(super) not_done: Vec<bool>,
    /// The closing checklist was reached by an abort or a recovery after root was in use: the
    /// notice it ends with.
    pub(super) for_notice: Option<NoticePhase>,
    /// The rail step at which the ceremony was aborted, if it was.
    pub(super) aborted_at: Option<usize>,
    /// Custodians who co-signed the session log, in order.
    pub(super) signed: Vec<String>,
}

impl Default for Closing {
    fn default() -> Self {
        Self {
            ticked: vec![false; CLOSING.len()],
            not_done: vec![false; CLOSING.len()],
            for_notice: None,
            aborted_at: None,
            signed: vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignStage {
    AwaitTouch,
    Working,
    Failed(Failed),
}

/// The closing checklist, confirmed before root is released.
pub const CLOSING: [&str; 4] = [
    "Root password changed again and the new one sealed back in the safe",
    "Hardware MFA token back in the safe; tamper-evident bag number noted",
    "No root access keys left (created during the session, now deleted)",
    "Incident channel told what was done and that root is being released",
];

impl Ceremony {
    pub(super) fn start_signing(&mut self) -> Phase {
        if self.checked.is_empty() {
            // Nobody checked in: nothing can be signed.
            Phase::Summary
        } else {
            Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch }
        }
    }

    pub(super) fn abort(&mut self, signal: Option<String>) -> Vec<Effect> {
        let mut fx = Vec::new();
        match &self.phase {
            Phase::Setup => {
                self.phase = Phase::Quit;
                return fx;
            }
            Phase::Sign { .. } | Phase::Summary | Phase::Halted(_) | Phase::Quit => return fx,
            _ => {}
        }
        if self.held.is_some() {
            // A recovery nobody has checked in to yet: nothing was written, nothing is.
            self.held = None;
            self.phase = Phase::Quit;
            return fx;
        }
        if self.outcome.is_some() {
            // Already closed and releasing: abort means "stop waiting for the notice", and signing follows.
            return fx;
        }
        self.hide_secrets(None, &mut fx);
        // Root was in use: the closing checklist first (an abort asked for again, or a signal,
        // records what was not confirmed as not done).
        if signal.is_none() && self.close.for_notice.is_none() && self.root_was_in_use() {
            self.close.for_notice = Some(NoticePhase::Aborted);
            self.close.aborted_at = Some(self.rail_index());
            self.rotation = None;
            self.info_msg(Say::AbortedCloseFirst);
            self.phase = Phase::Closing;
            return fx;
        }
        let why = match &signal {
            Some(s) => format!("the process was stopped ({s}) before the closing checklist was done"),
            None => "aborted before the closing checklist was done".to_string(),
        };
        let by = if signal.is_some() { vec![] } else { self.checked_ids() };
        self.phase = self.finish_abort(Some(signal), false, &why, by, &mut fx);
        fx
    }

    /// Root was opened for real in this session (the "root in use" notice went out, or its absence
    /// was acknowledged): whatever ends it goes through the closing checklist.
    pub(super) fn root_was_in_use(&self) -> bool {
        self.notify.announced && matches!(self.mode, Mode::Incident | Mode::Drill)
    }

    /// Ends an aborted session: the closing items neither confirmed nor marked are recorded as not
    /// done (`by` who said so, `why`), then `session.aborted`, then "root released" if root had
    /// been announced, then the signatures.
    pub(super) fn finish_abort(
        &mut self,
        signal: Option<Option<String>>,
        recovered: bool,
        why: &str,
        by: Vec<String>,
        fx: &mut Vec<Effect>,
    ) -> Phase {
        if self.root_was_in_use() || self.close.for_notice.is_some() {
            for (i, text) in CLOSING.iter().enumerate() {
                if !self.close.ticked[i] && !self.close.not_done[i] {
                    self.close.not_done[i] = true;
                    fx.push(self.entry(Entry::ClosingNotDone {
                        item: i as u64 + 1,
                        text: (*text).into(),
                        by: by.clone(),
                        why: why.into(),
                    }));
                }
            }
        }
        let at = match self.close.aborted_at {
            Some(i) => self.rail().get(i).map(RailStep::to_string),
            None => self.rail().get(self.rail_index()).map(RailStep::to_string),
        }
        .unwrap_or_else(|| "end".into());
        if self.close.aborted_at.is_none() {
            self.close.aborted_at = Some(self.rail_index());
        }
        self.outcome = Some(Outcome::Aborted);
        let rec = self.recovering.clone();
        fx.push(self.entry(Entry::SessionAborted {
            at: if recovered { "interrupted".into() } else { at },
            recovered,
            steps_done: rec.as_ref().filter(|_| recovered).map_or(self.book.done.iter().filter(|d| **d).count() as u64, |r| r.steps_done),
            signal: if recovered { None } else { signal },
        }));
        if recovered {
            // What the journal says the team was told decides nothing (the chain is not keyed): a
            // recovery always tells the team that the session is closed and root released.
            self.info_msg(Say::RecoveryClosed(RecoveryNotice::Releasing));
            return self.release(NoticePhase::Aborted, fx);
        }
        if !self.root_announced() {
            // Nothing was announced, so nothing is released: the team hears nothing.
            self.info_msg(if self.checked.is_empty() { Say::AbortedBeforeCheckIn } else { Say::AbortedBeforeRootInUse });
            return self.start_signing();
        }
        self.info_msg(Say::AbortedReleasing);
        self.release(NoticePhase::Aborted, fx)
    }

    /// Enter on the closing checklist: every item confirmed or recorded as not done, then the end
    /// this checklist leads to (the close, an abort's release, a recovery's release).
    pub(super) fn confirm_close(&mut self, fx: &mut Vec<Effect>) -> Phase {
        if let Some(i) = (0..CLOSING.len()).find(|i| !self.close.ticked[*i] && !self.close.not_done[*i]) {
            self.refuse(Say::ConfirmClosingFirst { item: i + 1 });
            return Phase::Closing;
        }
        match self.close.for_notice {
            Some(_) => {
                let recovered = self.recovering.as_ref().is_some_and(|r| !r.closed);
                self.finish_abort(None, recovered, "", self.checked_ids(), fx)
            }
            None => self.close(fx),
        }
    }

    /// `x` on a closing item: it cannot be done; recorded with who said so.
    pub(super) fn closing_not_done(&mut self, i: usize, fx: &mut Vec<Effect>) -> Phase {
        if i < CLOSING.len() && !self.close.not_done[i] {
            self.close.ticked[i] = false;
            self.close.not_done[i] = true;
            fx.push(self.entry(Entry::ClosingNotDone {
                item: i as u64 + 1,
                text: CLOSING[i].into(),
                by: self.checked_ids(),
                why: "the custodians said it cannot be done".into(),
            }));
        }
        Phase::Closing
    }

    /// Space on a closing item: confirmed, or no longer.
    pub(super) fn toggle_closing(&mut self, i: usize, fx: &mut Vec<Effect>) -> Phase {
        self.close.ticked[i] = !self.close.ticked[i];
        if self.close.ticked[i] {
            self.close.not_done[i] = false;
        }
        // "Confirm item N first" is stale once every item is confirmed.
        if self.close.ticked.iter().all(|c| *c) && matches!(self.message.as_ref().map(|m| &m.say), Some(Say::ConfirmClosingFirst { .. })) {
            self.clear_transient();
        }
        if self.close.ticked[i] {
            fx.push(self.entry(Entry::ClosingChecked { item: i as u64 + 1, text: CLOSING[i].into() }));
        } else {
            fx.push(self.entry(Entry::ClosingUnchecked { item: i as u64 + 1 }));
        }
        Phase::Closing
    }

    /// A co-signature made (the next signer's turn, or the bundle finished), or not.
    pub(super) fn session_signed(&mut self, who: SlotIx, custodian: RosterIx, result: Result<(), Failed>, fx: &mut Vec<Effect>) -> Phase {
        if let Err(e) = result {
            return Phase::Sign { who, stage: SignStage::Failed(e) };
        }
        self.close.signed.push(self.roster[custodian].id.clone());
        self.clear_transient();
        if self.checked.has(who.next()) {
            return Phase::Sign { who: who.next(), stage: SignStage::AwaitTouch };
        }
        fx.push(Effect::Finish {
            session_id: self.info.session_id.clone(),
            mode: self.mode,
            demo: self.info.demo,
            signed: self.close.signed.clone(),
        });
        Phase::Summary
    }
}
