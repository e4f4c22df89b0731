//! Scoped root tasks (sts:AssumeRoot) opened from the runbook, each destructive action confirmed
//! on every custodian's key.

use super::*;

/// Where a root task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootStage {
    /// Choosing the member account and the task.
    Pick,
    Assuming,
    /// A root session is open until `expires_s` (on the tick clock).
    Ready,
    Working,
    /// A destructive action waits for both custodians to confirm on their keys.
    Confirm {
        action: RootAction,
        acked: Vec<SlotIx>,
        acking: Option<SlotIx>,
    },
    /// The session's time ran out: re-assume to go on.
    Expired,
}

/// The open (or last) root session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCtx {
    pub target: String,
    pub task: Task,
    pub expires_s: u64,
    pub audit: Option<Audit>,
    pub last: Option<String>,
}

impl Ceremony {
    pub(super) fn root_step(&mut self, stage: RootStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        // While a custodian's key signs a confirmation, the action cannot change under it: the
        // signature coming back is recorded for the action on screen, so that must be the one
        // its holder was asked to confirm (found by review: cancel, pick another action, and the
        // pending signature confirmed that one).
        if let RootStage::Confirm { acking: Some(_), .. } = &stage
            && matches!(intent, Intent::CloseRoot | Intent::CancelRootAction)
        {
            self.refuse(Say::SignatureUnderWay);
            return Phase::Root(stage);
        }
        match (stage, intent) {
            (_, Intent::CloseRoot) => {
                if self.root.is_some() {
                    fx.push(Effect::DropRoot);
                    fx.push(self.entry(Entry::RootClosed { target: self.root.as_ref().map(|r| r.target.clone()) }));
                }
                self.root = None;
                self.clear_transient();
                Phase::Runbook
            }
            (RootStage::Pick | RootStage::Ready | RootStage::Expired, Intent::AssumeRoot { target, task }) => {
                self.assume_root(target, task, fx)
            }
            (RootStage::Ready | RootStage::Expired, Intent::ReAssume) => match self.root.clone() {
                Some(r) => {
                    fx.push(Effect::AssumeRoot { target: r.target, task: r.task });
                    Phase::Root(RootStage::Assuming)
                }
                None => Phase::Root(RootStage::Pick),
            },
            (RootStage::Assuming, Intent::RootAssumed(result)) => match result {
                Ok((call, duration)) => {
                    fx.push(self.aws_call(&call));
                    if let Some(r) = self.root.as_mut() {
                        r.expires_s = self.now_s + duration;
                    }
                    self.info_msg(Say::RootOpen { duration_s: duration });
                    Phase::Root(RootStage::Ready)
                }
                Err((call, e)) => {
                    fx.push(self.aws_call(&call));
                    self.refuse(Say::RootFailed { error: e.to_string() });
                    self.root = None;
                    Phase::Root(RootStage::Pick)
                }
            },
            (RootStage::Ready, Intent::RootAct(action)) => self.root_act(action, fx),
            (RootStage::Confirm { action, acked, acking: None }, Intent::Acknowledge { who })
                if self.checked.has(who) && !acked.contains(&who) =>
            {
                let c = &self.checked[who];
                fx.push(Effect::Attest { custodian: c.custodian, serial: c.serial, statement: self.root_statement(&action) });
                Phase::Root(RootStage::Confirm { action, acked, acking: Some(who) })
            }
            (RootStage::Confirm { action, acked, acking: Some(who) }, Intent::Attested { custodian, result })
                if self.checked[who].custodian == custodian =>
            {
                self.root_confirmed(action, acked, who, custodian, result, fx)
            }
            (RootStage::Confirm { .. }, Intent::CancelRootAction) => {
                self.clear_transient();
                Phase::Root(RootStage::Ready)
            }
            (RootStage::Working, Intent::RootDone { action, result, calls }) => self.root_done(&action, result, &calls, fx),
            (stage, _) => Phase::Root(stage),
        }
    }

    /// The account and task chosen: root is assumed there (a drill: read-only tasks only).
    fn assume_root(&mut self, target: String, task: crate::core::root::Task, fx: &mut Vec<Effect>) -> Phase {
        if !crate::core::config::is_account_id(&target) {
            self.refuse(Say::NotAnAccountId { target: target.clone() });
            return Phase::Root(RootStage::Pick);
        }
        if self.mode == Mode::Drill && !task.allowed_in_drill() {
            self.refuse(Say::DrillReadOnlyTask { policy: task.policy_name().to_string() });
            return Phase::Root(RootStage::Pick);
        }
        self.clear_transient();
        self.root = Some(RootCtx { target: target.clone(), task, expires_s: 0, audit: None, last: None });
        fx.push(Effect::AssumeRoot { target, task });
        Phase::Root(RootStage::Assuming)
    }

    /// An action on the root session: allowed by its task; a destructive one waits for every
    /// custodian's confirmation on their key (never in a drill).
    fn root_act(&mut self, action: RootAction, fx: &mut Vec<Effect>) -> Phase {
        let Some(ctx) = self.root.clone() else { return Phase::Root(RootStage::Pick) };
        let allowed = ctx.task.allows(&action);
        if !allowed {
            self.refuse(Say::ActionNotAllowed { action: action.label(), policy: ctx.task.policy_name().to_string() });
            return Phase::Root(RootStage::Ready);
        }
        if action.destructive() {
            if self.mode == Mode::Drill {
                self.refuse(Say::DrillNothingDestructive);
                return Phase::Root(RootStage::Ready);
            }
            self.info_msg(Say::ConfirmDestructive { action: action.label() });
            return Phase::Root(RootStage::Confirm { action, acked: vec![], acking: None });
        }
        fx.push(Effect::RootAct(action));
        Phase::Root(RootStage::Working)
    }

    /// A custodian's confirmation of the destructive action, signed on their key (or not): with
    /// every one, the action runs.
    fn root_confirmed(
        &mut self,
        action: RootAction,
        mut acked: Vec<SlotIx>,
        who: SlotIx,
        custodian: RosterIx,
        result: Result<String, Failed>,
        fx: &mut Vec<Effect>,
    ) -> Phase {
        match result {
            Ok(sig) => {
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::RootConfirmed {
                    custodian: id.clone(),
                    action: action.label(),
                    statement: self.root_statement(&action).render(),
                    sshsig: sig,
                }));
                acked.push(who);
                if acked.len() >= self.checked.len() {
                    fx.push(Effect::RootAct(action));
                    Phase::Root(RootStage::Working)
                } else {
                    Phase::Root(RootStage::Confirm { action, acked, acking: None })
                }
            }
            Err(e) => {
                self.refuse(Say::NotConfirmed { error: e.to_string() });
                Phase::Root(RootStage::Confirm { action, acked, acking: None })
            }
        }
    }

    /// What AWS answered to the action: journalled with every call it made.
    fn root_done(
        &mut self,
        action: &RootAction,
        result: Result<(String, Option<crate::core::root::Audit>), Failed>,
        calls: &[crate::core::root::Call],
        fx: &mut Vec<Effect>,
    ) -> Phase {
        for call in calls {
            fx.push(self.aws_call(call));
        }
        match result {
            Ok((summary, audit)) => {
                fx.push(self.entry(Entry::RootAction { action: action.label(), result: Some(summary.clone()), error: None }));
                if let Some(r) = self.root.as_mut() {
                    if audit.is_some() {
                        r.audit = audit;
                    }
                    r.last = Some(summary.clone());
                }
                self.info_msg(Say::RootDone { summary: summary.clone() });
            }
            Err(e) => {
                fx.push(self.entry(Entry::RootAction { action: action.label(), result: None, error: Some(e.to_string()) }));
                self.refuse(Say::RootFailed { error: e.to_string() });
            }
        }
        Phase::Root(RootStage::Ready)
    }

    pub(super) fn root_statement(&self, action: &RootAction) -> crate::core::statement::Statement {
        let target = self.root.as_ref().map(|r| r.target.clone()).unwrap_or_default();
        crate::core::statement::Statement::Root { session: self.info.session_id.clone(), target, action: action.label() }
    }

    pub(super) fn aws_call(&self, call: &Call) -> Effect {
        self.entry(Entry::AwsCall {
            api: call.api.clone(),
            target: call.target.clone(),
            request_id: call.request_id.clone(),
            outcome: call.outcome.clone(),
        })
    }
}
