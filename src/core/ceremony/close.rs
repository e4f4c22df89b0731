//! The end: abort, and the co-signatures.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignStage {
    AwaitTouch,
    Working,
    Failed(String),
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
        let at = self.rail().get(self.rail_index()).cloned().unwrap_or_else(|| "end".into());
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
        self.outcome = Some(Outcome::Aborted);
        self.aborted_at = Some(self.rail_index());
        self.revealed.iter_mut().for_each(|r| *r = false);
        fx.push(self.entry(Entry::SessionAborted {
            at,
            recovered: false,
            steps_done: self.done.iter().filter(|d| **d).count() as u64,
            signal: Some(signal),
        }));
        if !self.root_announced() {
            // Nothing was announced, so nothing is released: the team hears nothing.
            self.info_msg(if self.checked.is_empty() { Say::AbortedBeforeCheckIn } else { Say::AbortedBeforeRootInUse });
            self.phase = self.start_signing();
            return fx;
        }
        self.info_msg(Say::AbortedReleasing);
        self.phase = self.release(NoticePhase::Aborted, &mut fx);
        fx
    }
}
