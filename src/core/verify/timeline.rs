//! The timeline's words: one line per entry, for the human report and the screens.

use super::Common;
use crate::core::journal::{Entry, kind};
use std::borrow::Cow;

/// The entry's kind: the tool's own kinds are borrowed, so a timeline of 100,000 entries does not
/// hold 100,000 copies of "note".
pub(super) fn kind_of(k: &str) -> Cow<'static, str> {
    Entry::KINDS.iter().find(|s| **s == k).map_or_else(|| Cow::Owned(k.to_string()), |s| Cow::Borrowed(*s))
}

/// The timeline words of the kinds that make up most of a long journal (steps, notes, reveals,
/// closing items): one source for the fast path (from [`Common`]) and for [`summary`].
fn step_words(step: u64, of: u64, done: bool) -> String {
    format!("step {step} of {of} {}", if done { "done" } else { "un-checked" })
}

fn note_words(step: Option<u64>, text: &str) -> String {
    match step {
        Some(n) => format!("note on step {n}: {text}"),
        None => format!("note: {text}"),
    }
}

fn secret_words(secret: u64, for_step: Option<u64>) -> String {
    match for_step {
        Some(n) => format!("secret {secret} (for step {n}) revealed on screen"),
        None => format!("secret {secret} revealed on screen"),
    }
}

/// A closing item by number and words: the entry's text (outside text, made one line), else the
/// checklist's own.
fn closing_words(item: u64, checked: bool, text: Option<&str>) -> String {
    let text = text.map(|t| crate::core::plain::one_line(t).into_owned()).or_else(|| {
        usize::try_from(item)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| crate::core::ceremony::CLOSING.get(i))
            .map(|t| (*t).to_string())
    });
    let what = if checked { "confirmed" } else { "un-checked" };
    match text {
        Some(t) => format!("closing item {item} {what}: {t}"),
        None => format!("closing item {item} {what}"),
    }
}

/// The words of a small kind from the fields [`Common`] reads, without reading the line again;
/// `None` for every other kind, and for a small kind that lacks a field (then the whole entry is
/// read, and the problem named).
pub(super) fn small_summary(c: &Common) -> Option<String> {
    Some(match c.kind.as_ref() {
        kind::StepDone => step_words(c.step?, c.of?, true),
        kind::StepUndone => step_words(c.step?, c.of?, false),
        kind::Note => note_words(c.step, c.text.as_deref()?),
        kind::SecretRevealed => secret_words(c.secret?, c.for_step),
        kind::ClosingChecked => closing_words(c.item?, true, c.text.as_deref()),
        kind::ClosingUnchecked => closing_words(c.item?, false, None),
        _ => return None,
    })
}

pub(super) fn short(h: &str) -> String {
    crate::core::plain::one_line(&h.chars().take(12).collect::<String>()).into_owned()
}

pub(super) fn list(v: &[String]) -> String {
    if v.is_empty() { "nobody".into() } else { crate::core::plain::one_line(&v.join(", ")).into_owned() }
}

pub(super) fn summary(e: &Entry, mode: Option<&str>) -> String {
    use Entry as E;
    let opt = |o: &Option<String>| o.as_deref().unwrap_or("").to_string();
    if let Some(words) = rekey_words(e).or_else(|| offboard_words(e)) {
        return words;
    }
    match e {
        E::SessionOpened { reason, .. } => format!("{} session opened: {reason}", mode.unwrap_or("").to_uppercase()),
        E::ClockJump { observed, jump_ms, .. } => format!(
            "the wall clock jumped by {:+.1} s (it read {observed}); times from here are kept in order, and order follows mono_ms",
            *jump_ms as f64 / 1000.0
        ),
        E::SessionRecovered { entries, last_ts, partial_tail, reason, .. } => format!(
            "session RECOVERED after an interruption: {entries} entries before, the last at {last_ts}{}; reason: {reason}",
            if partial_tail.is_some() { " (a partial line cut by the crash is kept in this entry)" } else { "" },
        ),
        E::CustodianVerified { custodian, serial, .. } => format!("{custodian} checked in with key {serial} (challenge signed)"),
        E::CustodianRefused { serial, custodian, why, .. } => {
            format!("key {serial} refused{}: {why}", custodian.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())
        }
        E::NoticeSending { phase, key } => format!("notice `{phase}` about to go out (idempotency key {key})"),
        E::NoticeSent { phase, channel, message_id, .. } => format!("notice `{phase}` sent via {channel} (id {message_id})"),
        E::NoticeFailed { phase, error, .. } => format!("notice `{phase}` NOT delivered: {error}"),
        E::NoticeAcknowledged { custodian, phase, .. } => format!("{custodian} acknowledged going on without notice `{phase}` (signed)"),
        E::RunbookUnsealed { steps, purpose, .. } => match purpose.as_deref() {
            Some("reseal") => format!("runbook opened to be sealed again for the new roster ({steps} steps, not shown)"),
            Some("offboarding steps") => format!("runbook opened for its offboarding steps ({steps} steps, not shown)"),
            _ => format!("runbook unsealed ({steps} steps)"),
        },
        E::RunbookFailed { error } => format!("runbook could not be opened: {error}"),
        E::StepDone { step, of } => step_words(*step, *of, true),
        E::StepUndone { step, of } => step_words(*step, *of, false),
        E::Note { step, text } => note_words(*step, text),
        E::SecretRevealed { secret, for_step, .. } => secret_words(*secret, *for_step),
        E::RotationStaged { name, serial, drill, .. } => {
            format!(
                "{name}: a new value sealed {} (serial {serial}), not yet live",
                if *drill { "on a drill copy" } else { "for the safe" }
            )
        }
        E::SecretConfirmed { name, custodian, statement: None, .. } => {
            format!("{custodian} confirmed on their key that the new {name} took")
        }
        E::SecretConfirmed { name, custodian, .. } => format!("{custodian} confirmed on their key that {name} was rotated out of band"),
        E::SecretRotated { name, how, serial, confirmed_by, drill, .. } => format!(
            "{}{name} ROTATED ({how}{}), confirmed by {}",
            if *drill { "DRILL: " } else { "" },
            serial.map(|s| format!(", sealing {s} now live")).unwrap_or_default(),
            list(confirmed_by)
        ),
        E::RotationFailed { name, error, .. } => format!("{name} not rotated: {error}"),
        E::ClosingChecked { item, text } => closing_words(*item, true, Some(text)),
        E::ClosingUnchecked { item } => closing_words(*item, false, None),
        E::SecretHidden { secret } => format!("secret {secret} hidden again"),
        E::ClosingNotDone { item, by, why, .. } => {
            format!("closing item {item} NOT done ({}{why})", if by.is_empty() { String::new() } else { format!("said by {}: ", list(by)) })
        }
        E::SessionClosed { .. } if mode == Some("rekey") => "session closed: the rekey is done".into(),
        E::SessionClosed { steps_done, steps_total, .. } => format!("session closed ({steps_done} of {steps_total} steps done)"),
        E::SessionAborted { at, steps_done, .. } => format!("session ABORTED at {at} ({steps_done} steps done)"),
        E::AwsIdentity { account, principal, .. } => format!("AWS account check: {} {}", opt(account), opt(principal)),
        E::AwsCall { api, target, outcome, request_id } => format!("AWS {api} on {target}: {outcome} (request {})", opt(request_id)),
        E::RootConfirmed { custodian, action, .. } => format!("{custodian} confirmed on their key: {action}"),
        E::RootAction { action, result, error } => {
            format!("root action `{action}`: {}", if error.is_some() { opt(error) } else { opt(result) })
        }
        other => other.kind().to_string(),
    }
}

/// The words of a rekey's entries.
fn rekey_words(e: &Entry) -> Option<String> {
    use Entry as E;
    Some(match e {
        E::RekeyApproved { by, new_roster_sha256, .. } => {
            format!("the roster change was approved by {} (new version {})", by.join(" and "), short(new_roster_sha256))
        }
        E::RekeySigned { custodian, serial, role, .. } if role == "added" => {
            format!("newcomer {custodian} proved key {serial} and signed the new roster")
        }
        E::RekeySigned { custodian, serial, .. } => format!("{custodian} signed the new roster with key {serial}"),
        E::RekeyCommitting { .. } => "the new roster and runbook are staged, checked and swapped in".into(),
        E::RekeyCommitted { new_version, new_roster_sha256, old_roster_sha256, added, removed, opened, .. } => format!(
            "roster version {new_version} in place ({}, was {}): added {}; removed {}; opened to check: {}",
            short(new_roster_sha256),
            short(old_roster_sha256),
            list(added),
            list(removed),
            list(opened)
        ),
        E::RekeyFailed { error } => format!("the swap did not happen: {error}"),
        E::RekeySettled { new_roster_sha256, live_roster_sha256, .. } if new_roster_sha256 == live_roster_sha256 => {
            format!("after the interruption, the new roster version ({}) is in place", short(new_roster_sha256))
        }
        E::RekeySettled { new_roster_sha256, live_roster_sha256, .. } => format!(
            "after the interruption, the new roster version ({}) is NOT in place: the live roster is {}",
            short(new_roster_sha256),
            short(live_roster_sha256)
        ),
        E::RekeyRehearsed { new_version, new_roster_sha256, opened, .. } => format!(
            "DRILL: roster version {new_version} ({}) sealed and checked, then set aside (opened: {}); nothing changed",
            short(new_roster_sha256),
            list(opened)
        ),
        _ => return None,
    })
}

/// The words of an offboarding's entries.
fn offboard_words(e: &Entry) -> Option<String> {
    use Entry as E;
    let opt = |o: &Option<String>| o.as_deref().unwrap_or("").to_string();
    Some(match e {
        E::OffboardDone { item, what, by } => format!("offboarding item {item} done ({}): {what}", by.join(" and ")),
        E::OffboardConfirmed { custodian, item, api, target, iam_user, .. } => {
            format!("{custodian} confirmed item {item} on their key: {} {target} of IAM user {iam_user}", opt(api))
        }
        E::OffboardApplying { item, api, target } => format!("item {item}: {} {target} ...", opt(api)),
        E::OffboardApplied { item, api, target, request_id, note } => format!(
            "item {item}: {} {target} made (request id {}){}",
            opt(api),
            opt(request_id),
            note.as_deref().map(|n| format!("; {n}")).unwrap_or_default()
        ),
        E::OffboardRehearsed { item, api, target } => format!("item {item}: {} {target} confirmed, not made (drill)", opt(api)),
        E::OffboardFailed { item, api, target, error } => format!("item {item}: {} {target} FAILED: {error}", opt(api)),
        E::OffboardFinished { person, done, total, not_done, .. } => format!(
            "offboarding of {person} finished: {done} of {total} items done{}",
            if not_done.is_empty() {
                String::new()
            } else {
                format!("; NOT done: {}", not_done.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            }
        ),
        _ => return None,
    })
}
