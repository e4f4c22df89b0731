//! An offboarding's checklist: people's items, and AWS changes confirmed on every key.

use super::*;

/// A newcomer's key during a rekey.
/// An offboarding: who leaves, the checklist that strips their access, and the time it should take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offboard {
    /// Enter was pressed once with items open: a second Enter finishes.
    pub finish_armed: bool,
    /// Who leaves (a custodian id, or an administrator's name).
    pub person: String,
    /// Their IAM user, named in every statement the custodians sign for an AWS change.
    pub iam_user: String,
    /// The target time for the whole offboarding, in seconds ("strip all privileges in minutes").
    pub target_s: u64,
    pub items: Vec<OffItem>,
    /// A drill: everything but the AWS writes and the swap.
    pub rehearsal: bool,
}

/// One item of an offboarding checklist. Its Debug output hides a runbook step's text.
#[derive(Clone, PartialEq, Eq)]
pub struct OffItem {
    /// What to do, in plain words.
    pub what: String,
    /// The AWS API that makes the change (`iam:UpdateAccessKey`); `None` for a step people do (at
    /// the console, or by hand), confirmed on the screen.
    pub api: Option<String>,
    /// What the change acts on (a key id, a group), named in the custodians' signed statement.
    pub target: String,
    pub state: OffState,
    /// A step the sealed runbook adds (its section names offboarding), by step number: its text
    /// is the runbook's and is never journalled, only the number.
    pub runbook_step: Option<usize>,
}

impl std::fmt::Debug for OffItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffItem")
            .field("what", &self.journal_what())
            .field("api", &self.api)
            .field("target", &self.target)
            .field("state", &self.state)
            .finish()
    }
}

impl OffItem {
    /// An item people do (at the console, or by hand), confirmed on the screen.
    pub fn people(what: impl Into<String>) -> Self {
        Self { what: what.into(), api: None, target: String::new(), state: OffState::Open, runbook_step: None }
    }

    /// What the journal says of it: the words, or for a runbook step only its number.
    fn journal_what(&self) -> String {
        match self.runbook_step {
            Some(n) => format!("runbook step {}", n + 1),
            None => self.what.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffState {
    Open,
    /// Each checked-in custodian confirms the change on their key (`acked` index into `checked`).
    Confirming {
        acked: Vec<SlotIx>,
        acking: Option<SlotIx>,
    },
    Applying,
    Done {
        request_id: Option<String>,
        note: Option<String>,
    },
    Failed(String),
}

impl Offboard {
    pub fn done(&self) -> usize {
        self.items.iter().filter(|i| matches!(i.state, OffState::Done { .. })).count()
    }
    fn busy(&self) -> Option<usize> {
        self.items.iter().position(|i| matches!(i.state, OffState::Confirming { .. } | OffState::Applying))
    }

    /// An item waits for the custodians' confirmations on their keys (none being signed now): the
    /// digits confirm, Esc cancels.
    pub fn awaiting_confirmation(&self) -> bool {
        self.busy().is_some_and(|b| matches!(self.items[b].state, OffState::Confirming { acking: None, .. }))
    }
}

impl Ceremony {
    /// The statement a custodian signs to make offboarding item `i`'s AWS change.
    pub(crate) fn offboard_statement(&self, i: usize) -> crate::core::statement::Statement {
        let item = self.offboard.as_ref().and_then(|o| o.items.get(i));
        crate::core::statement::Statement::Offboard {
            session: self.info.session_id.clone(),
            item: i as u64 + 1,
            iam_user: self.offboard.as_ref().map(|o| o.iam_user.clone()).unwrap_or_default(),
            api: item.and_then(|x| x.api.clone()).unwrap_or_default(),
            target: item.map(|x| x.target.clone()).unwrap_or_default(),
        }
    }

    pub(super) fn set_item(&mut self, i: usize, state: OffState) {
        if let Some(x) = self.offboard.as_mut().and_then(|o| o.items.get_mut(i)) {
            x.state = state;
        }
    }

    pub(super) fn offboard_step(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(o) = self.offboard.clone() else { return Phase::Offboard };
        if !matches!(intent, Intent::OffboardFinish | Intent::Tick { .. })
            && let Some(x) = self.offboard.as_mut()
        {
            x.finish_armed = false;
        }
        match intent {
            Intent::OffboardDo(i) if i < o.items.len() => self.offboard_do(&o, i, fx),
            Intent::Back => {
                if let Some(b) = o.busy().filter(|b| matches!(o.items[*b].state, OffState::Confirming { acking: None, .. })) {
                    self.set_item(b, OffState::Open);
                    self.clear_transient();
                }
            }
            Intent::Acknowledge { who } if self.checked.has(who) => {
                let Some(i) = o.busy() else { return Phase::Offboard };
                if let OffState::Confirming { acked, acking: None } = &o.items[i].state
                    && !acked.contains(&who)
                {
                    let c = &self.checked[who];
                    fx.push(Effect::Attest { custodian: c.custodian, serial: c.serial, statement: self.offboard_statement(i) });
                    self.set_item(i, OffState::Confirming { acked: acked.clone(), acking: Some(who) });
                }
            }
            Intent::Attested { custodian, result } => self.offboard_confirmed(&o, custodian, result, fx),
            Intent::OffboardApplied { item, result } if item < o.items.len() => self.offboard_applied(&o, item, result, fx),
            Intent::OffboardFinish => return self.offboard_finish(&o, fx),
            _ => {}
        }
        Phase::Offboard
    }

    /// Space on an item: a manual one is done at once; one that changes AWS waits for every
    /// custodian's confirmation on their key.
    fn offboard_do(&mut self, o: &Offboard, i: usize, fx: &mut Vec<Effect>) {
        let item = &o.items[i];
        if let Some(b) = o.busy() {
            self.refuse(Say::ItemUnderWay { item: b + 1 });
        } else if matches!(item.state, OffState::Done { .. }) {
            self.info_msg(Say::ItemDone { item: i + 1 });
        } else if item.api.is_none() {
            fx.push(self.entry(Entry::OffboardDone { item: i as u64 + 1, what: item.journal_what(), by: self.checked_ids() }));
            self.set_item(i, OffState::Done { request_id: None, note: None });
            self.clear_transient();
        } else {
            self.set_item(i, OffState::Confirming { acked: vec![], acking: None });
            let keys: Vec<String> = (1..=self.checked.len()).map(|n| n.to_string()).collect();
            self.info_msg(Say::ConfirmItem { item: i + 1, keys });
        }
    }

    /// A custodian's confirmation of the item under way, signed on their key (or not): with every
    /// one, the change is made (rehearsed, in a drill).
    fn offboard_confirmed(&mut self, o: &Offboard, custodian: RosterIx, result: Result<String, Failed>, fx: &mut Vec<Effect>) {
        let Some(i) = o.busy() else { return };
        let OffState::Confirming { mut acked, acking: Some(who) } = o.items[i].state.clone() else { return };
        if self.checked[who].custodian != custodian {
            return;
        }
        match result {
            Ok(sig) => {
                let item = &o.items[i];
                fx.push(self.entry(Entry::OffboardConfirmed {
                    item: i as u64 + 1,
                    iam_user: o.iam_user.clone(),
                    api: item.api.clone(),
                    target: item.target.clone(),
                    custodian: self.roster[custodian].id.clone(),
                    statement: self.offboard_statement(i).render(),
                    sshsig: sig,
                }));
                acked.push(who);
                if acked.len() < self.checked.len() {
                    self.set_item(i, OffState::Confirming { acked, acking: None });
                } else if o.rehearsal {
                    fx.push(self.entry(Entry::OffboardRehearsed {
                        item: i as u64 + 1,
                        api: item.api.clone(),
                        target: item.target.clone(),
                    }));
                    self.set_item(i, OffState::Done { request_id: None, note: Some("rehearsed: no AWS write in a drill".into()) });
                    self.clear_transient();
                } else {
                    fx.push(self.entry(Entry::OffboardApplying { item: i as u64 + 1, api: item.api.clone(), target: item.target.clone() }));
                    fx.push(Effect::OffboardApply { item: i });
                    self.set_item(i, OffState::Applying);
                    self.clear_transient();
                }
            }
            Err(e) => {
                self.refuse(Say::NotConfirmed { error: e.to_string() });
                self.set_item(i, OffState::Confirming { acked, acking: None });
            }
        }
    }

    /// AWS made the item's change, or did not.
    fn offboard_applied(
        &mut self,
        o: &Offboard,
        item: usize,
        result: Result<(Option<String>, Option<String>), Failed>,
        fx: &mut Vec<Effect>,
    ) {
        let x = &o.items[item];
        match result {
            Ok((request_id, note)) => {
                fx.push(self.entry(Entry::OffboardApplied {
                    item: item as u64 + 1,
                    api: x.api.clone(),
                    target: x.target.clone(),
                    request_id: request_id.clone(),
                    note: note.clone(),
                }));
                self.set_item(item, OffState::Done { request_id, note });
            }
            Err(e) => {
                fx.push(self.entry(Entry::OffboardFailed {
                    item: item as u64 + 1,
                    api: x.api.clone(),
                    target: x.target.clone(),
                    error: e.to_string(),
                }));
                self.refuse(Say::ItemFailed { item: item + 1, error: e.to_string() });
                self.set_item(item, OffState::Failed(e.to_string()));
            }
        }
    }

    /// Enter: the checklist ends (asked twice while items are open), the session closes and the
    /// signatures follow.
    fn offboard_finish(&mut self, o: &Offboard, fx: &mut Vec<Effect>) -> Phase {
        if let Some(b) = o.busy() {
            self.refuse(Say::ItemUnderWay { item: b + 1 });
            return Phase::Offboard;
        }
        let open: Vec<usize> =
            o.items.iter().enumerate().filter(|(_, x)| !matches!(x.state, OffState::Done { .. })).map(|(i, _)| i + 1).collect();
        if !open.is_empty() && !o.finish_armed {
            if let Some(x) = self.offboard.as_mut() {
                x.finish_armed = true;
            }
            self.refuse(Say::ItemsNotDone { open: open.clone() });
            return Phase::Offboard;
        }
        fx.push(self.entry(Entry::OffboardFinished {
            person: o.person.clone(),
            done: o.done(),
            total: o.items.len(),
            not_done: open.clone(),
            target_s: o.target_s,
        }));
        self.outcome = Some(Outcome::Closed);
        fx.push(self.entry(Entry::SessionClosed { steps_done: o.done() as u64, steps_total: o.items.len() as u64, rekey: None }));
        if open.is_empty() {
            self.info_msg(Say::OffboardDone);
        } else {
            self.info_msg(Say::OffboardNotDone { open: open.clone() });
        }
        self.start_signing()
    }
}
