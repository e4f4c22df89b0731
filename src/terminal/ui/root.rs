//! Root on a member account: the task, its confirmation on the keys, the countdown.

use super::*;

/// The actions offered in the open root session, numbered from 1 (names filled from the view).
pub(crate) fn root_actions(c: &Ceremony, v: &View) -> Vec<RootAction> {
    let Some(r) = c.root().as_ref() else { return vec![] };
    RootAction::for_task(r.task)
        .into_iter()
        .map(|a| match a {
            RootAction::DeleteBucketPolicy { .. } => RootAction::DeleteBucketPolicy { bucket: v.root_arg.trim().to_string() },
            RootAction::DeleteQueuePolicy { .. } => RootAction::DeleteQueuePolicy { queue_url: v.root_arg.trim().to_string() },
            other => other,
        })
        .collect()
}

pub(super) fn root_lines<'a>(c: &'a Ceremony, v: &View, t: &Theme, stage: &RootStage) -> Vec<Line<'a>> {
    let mut out = vec![Line::from(Span::styled("Root task on a member account (sts:AssumeRoot)", t.bold()))];
    let spin = SPINNER[(v.tick % 4) as usize];
    match stage {
        RootStage::Pick => {
            let task = TASKS[v.root_task % TASKS.len()];
            out.push(Line::from(vec![Span::styled("Account  ", t.bold()), Span::raw(format!("{}_", v.root_target))]));
            out.push(Line::from(vec![
                Span::styled("Task     ", t.bold()),
                Span::styled(format!("◀ {} ▶", task.policy_name()), t.accent()),
            ]));
            out.push(Line::from(Span::styled(format!("         {}", task.describe()), t.dim())));
            if c.mode() == Mode::Drill {
                out.push(Line::from(Span::styled("DRILL: only IAMAuditRootUserCredentials (read-only) is allowed.", t.dim())));
            }
            out.push(Line::from(format!("{} opens a root session of at most 900 s; every call is recorded.", key(c, v, "assume"))));
        }
        RootStage::Assuming => out.push(Line::from(format!("{spin} Opening the root session (sts:AssumeRoot)..."))),
        RootStage::Ready | RootStage::Working | RootStage::Confirm { .. } | RootStage::Expired => {
            if let Some(r) = &c.root() {
                let left = r.expires_s.saturating_sub(c.now_s());
                let clock = if matches!(stage, RootStage::Expired) {
                    "EXPIRED".to_string()
                } else {
                    format!("{:02}:{:02} left", left / 60, left % 60)
                };
                out.push(Line::from(vec![
                    Span::raw(format!("{} on {} · ", r.task.policy_name(), r.target)),
                    Span::styled(clock, if left < 120 { t.bad() } else { t.accent() }),
                ]));
                if let Some(a) = &r.audit {
                    out.push(Line::from(format!("Root: {}", a.summary())));
                }
                if r.task.needs_arg() {
                    let what = if r.task == crate::core::root::Task::UnlockBucketPolicy { "Bucket" } else { "Queue URL" };
                    out.push(Line::from(vec![Span::styled(format!("{what}: "), t.bold()), Span::raw(format!("{}_", v.root_arg))]));
                }
                for (i, a) in root_actions(c, v).iter().enumerate().filter(|_| !matches!(stage, RootStage::Confirm { .. })) {
                    let mark = if a.destructive() { if c.quorum() == 2 { " (both confirm)" } else { " (all confirm)" } } else { "" };
                    out.push(Line::from(format!("  {} {}{mark}", i + 1, a.label())));
                }
            }
            match stage {
                RootStage::Working => out.push(Line::from(format!("{spin} Working..."))),
                RootStage::Confirm { action, acked, acking } => {
                    out.push(Line::from(Span::styled(format!("Confirm: {}", action.label()), t.bad())));
                    out.extend(on_each_key(c, acked, *acking, spin, ("confirmed", "to confirm on your key")));
                }
                _ => {}
            }
        }
    }
    out
}
