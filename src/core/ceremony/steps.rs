//! The runbook: steps ticked, notes, secrets revealed (journalled first, never their text).

use super::*;

/// The runbook's part of the ceremony: the runbook once opened, its steps ticked and annotated,
/// and its secrets revealed (now, ever in this session) and rotated.
#[derive(Debug, Clone, Default)]
pub(super) struct Book {
    pub(super) runbook: Option<Arc<Runbook>>,
    pub(super) done: Vec<bool>,
    pub(super) notes: Vec<Vec<String>>,
    pub(super) revealed: Vec<bool>,
    pub(super) revealed_ever: Vec<bool>,
    pub(super) rotated: Vec<bool>,
}

impl Ceremony {
    /// Masks secret `which` (or every one shown) again, journalling each that was on screen.
    pub(super) fn hide_secrets(&mut self, which: Option<usize>, fx: &mut Vec<Effect>) {
        for i in 0..self.book.revealed.len() {
            if self.book.revealed[i] && which.is_none_or(|w| w == i) {
                self.book.revealed[i] = false;
                fx.push(self.entry(Entry::SecretHidden { secret: i as u64 + 1 }));
            }
        }
    }

    pub(super) fn runbook_step(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match intent {
            Intent::ToggleStep(i) if i < self.book.done.len() => {
                self.book.done[i] = !self.book.done[i];
                let (step, of) = (i as u64 + 1, self.book.done.len() as u64);
                fx.push(self.entry(if self.book.done[i] { Entry::StepDone { step, of } } else { Entry::StepUndone { step, of } }));
            }
            Intent::Note { step, text } if !text.trim().is_empty() => {
                if let Some(i) = step.filter(|i| *i < self.book.notes.len()) {
                    self.book.notes[i].push(text.trim().to_string());
                }
                fx.push(self.entry(Entry::Note { step: step.map(|i| i as u64 + 1), text: text.trim().into() }));
            }
            Intent::Reveal(i) if i < self.book.revealed.len() && !self.book.revealed[i] => {
                self.book.revealed[i] = true;
                if let Some(e) = self.book.revealed_ever.get_mut(i) {
                    *e = true;
                }
                let name = self.book.runbook.as_ref().and_then(|rb| rb.secrets.get(i)).map(|s| s.id(i));
                let for_step = self.book.runbook.as_ref().and_then(|rb| rb.secrets.get(i)).and_then(|s| s.for_step).map(|n| n + 1);
                fx.push(self.entry(Entry::SecretRevealed {
                    secret: i as u64 + 1,
                    for_step: for_step.map(|n| n as u64),
                    shown: "on screen".into(),
                    by: self.checked_ids(),
                    name,
                }));
            }
            Intent::Hide(i) if i < self.book.revealed.len() => self.hide_secrets(Some(i), fx),
            Intent::HideSecrets => self.hide_secrets(None, fx),
            Intent::FinishRunbook => {
                self.hide_secrets(None, fx);
                let open = self.book.done.iter().filter(|d| !**d).count();
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
