//! The runbook: steps ticked, notes, secrets revealed (journalled first, never their text).

use super::*;

impl Ceremony {
    /// Masks secret `which` (or every one shown) again, journalling each that was on screen.
    pub(super) fn hide_secrets(&mut self, which: Option<usize>, fx: &mut Vec<Effect>) {
        for i in 0..self.revealed.len() {
            if self.revealed[i] && which.is_none_or(|w| w == i) {
                self.revealed[i] = false;
                fx.push(self.entry(Entry::SecretHidden { secret: i as u64 + 1 }));
            }
        }
    }

    pub(super) fn runbook_step(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match intent {
            Intent::ToggleStep(i) if i < self.done.len() => {
                self.done[i] = !self.done[i];
                let (step, of) = (i as u64 + 1, self.done.len() as u64);
                fx.push(self.entry(if self.done[i] { Entry::StepDone { step, of } } else { Entry::StepUndone { step, of } }));
            }
            Intent::Note { step, text } if !text.trim().is_empty() => {
                if let Some(i) = step.filter(|i| *i < self.notes.len()) {
                    self.notes[i].push(text.trim().to_string());
                }
                fx.push(self.entry(Entry::Note { step: step.map(|i| i as u64 + 1), text: text.trim().into() }));
            }
            Intent::Reveal(i) if i < self.revealed.len() && !self.revealed[i] => {
                self.revealed[i] = true;
                if let Some(e) = self.revealed_ever.get_mut(i) {
                    *e = true;
                }
                let name = self.runbook.as_ref().and_then(|rb| rb.secrets.get(i)).map(|s| s.id(i));
                let for_step = self.runbook.as_ref().and_then(|rb| rb.secrets.get(i)).and_then(|s| s.for_step).map(|n| n + 1);
                fx.push(self.entry(Entry::SecretRevealed {
                    secret: i as u64 + 1,
                    for_step: for_step.map(|n| n as u64),
                    shown: "on screen".into(),
                    by: self.checked_ids(),
                    name,
                }));
            }
            Intent::Hide(i) if i < self.revealed.len() => self.hide_secrets(Some(i), fx),
            Intent::HideSecrets => self.hide_secrets(None, fx),
            Intent::FinishRunbook => {
                self.hide_secrets(None, fx);
                let open = self.done.iter().filter(|d| !**d).count();
                if open > 0 {
                    self.info_msg(Say::StepsNotChecked { open });
                } else {
                    self.clear_transient();
                }
                return Phase::Closing;
            }
            _ => {}
        }
        Phase::Runbook
    }
}
