//! The ceremony's messages in words: the core says what happened ([`Say`]), this says it to the
//! custodians, with what to do next.

use crate::core::ceremony::{AccountProblem, Ceremony, Mode, RecoveryNotice, Say};
use crate::terminal::keys::{self, Do};
use crate::terminal::view::View;

/// Why the account check did not pass, and what to do.
pub(crate) fn account_problem(p: &AccountProblem) -> String {
    // The journal records the same words (`aws.skipped`).
    p.record()
}

/// The journal could not be written (`why`): the ceremony stops, and how to close it (`recorded`:
/// whether any entry was written before; if none, the session never opened).
pub fn halted(why: &str, recorded: bool) -> String {
    if recorded {
        format!(
            "The journal could not be written: {why}. Nothing further can be recorded, so the ceremony stops here. \
             What was recorded so far is intact: free disk space or fix the data directory, then close this session \
             with `breakglass recover`."
        )
    } else {
        format!(
            "The journal could not be written: {why}. Nothing was recorded and nothing was announced: the session \
             never opened. Free disk space or fix the data directory, then start again."
        )
    }
}

/// The key that does `label` on the screen, from its key table; `usual` when the screen has
/// moved on and no longer has it (a message can outlive its screen by a moment).
fn key_or(c: &Ceremony, v: &View, label: &str, usual: &'static str) -> &'static str {
    Some(keys::key(c, v, label)).filter(|k| !k.is_empty()).unwrap_or(usual)
}

/// The key that does `act` on the screen (a row whose label changes, such as Space's "confirm"
/// and "undo"), or `usual`.
fn doing(c: &Ceremony, v: &View, act: Do, usual: &'static str) -> &'static str {
    Some(keys::key_doing(c, v, act)).filter(|k| !k.is_empty()).unwrap_or(usual)
}

/// The key that tries again where a write was refused: retry, sign or present, as the screen has it.
fn retry_key(c: &Ceremony, v: &View) -> &'static str {
    ["retry", "sign", "sign, then touch the key", "touch (DEMO)", "present it", "confirm"]
        .iter()
        .map(|l| keys::key(c, v, l))
        .find(|k| !k.is_empty())
        .unwrap_or("Enter")
}

/// How the closing checklist is worked down before root is released (after an abort, or in a
/// recovery).
fn close_first(c: &Ceremony, v: &View) -> String {
    format!(
        "confirm each closing item ({}), or mark what cannot be done ({}), then {} releases root.",
        doing(c, v, Do::ToggleClosing, "Space"),
        doing(c, v, Do::ClosingNotDone, "x"),
        key_or(c, v, "release root", "Enter")
    )
}

fn list(v: &[usize]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The sentence for `say`, in the ceremony `c` (which names "both custodians" or "all 3"), for a
/// report outside the screen (an unattended run): keys as the screen's table has them with
/// nothing selected.
pub fn words(say: &Say, c: &Ceremony) -> String {
    words_on(say, c, &View::new(c.mode(), String::new(), vec![], false))
}

/// The sentence for `say` on the screen whose view is `v`: a key it names is the one the
/// screen's key table has for that action.
pub(crate) fn words_on(say: &Say, c: &Ceremony, v: &View) -> String {
    use Say as S;
    match say {
        S::ReasonMissing
        | S::WrongMode { .. }
        | S::ScenarioDrillOnly { .. }
        | S::ScenarioDoesNotFit { .. }
        | S::GoingOnWithoutAws
        | S::KeyKindMismatch { .. }
        | S::NotOnRoster { .. }
        | S::AlreadyCheckedIn { .. }
        | S::AttestationRefused { .. }
        | S::NotAttested { .. }
        | S::ScenarioKeyMissing { .. }
        | S::ScenarioSparePair { .. }
        | S::PinBlocked { .. }
        | S::LastPinTry { .. }
        | S::KeyError { .. }
        | S::FactoryPin { .. }
        | S::PinAccepted { .. }
        | S::WrongPinLastTry { .. }
        | S::WrongPin { .. }
        | S::Token(..)
        | S::CheckedIn { .. }
        | S::CheckedInRecoveryHeld { .. }
        | S::ChallengeNotSigned { .. }
        | S::Paused { .. }
        | S::PausedNoReader
        | S::KeyBack { .. }
        | S::KeyAwayWhileNewcomerSigns { .. }
        | S::KeyBackLater { .. }
        | S::KeyBackUnlocked { .. }
        | S::ReauthFailed { .. } => checkin_words(say, c),
        S::AcknowledgedGoingOn
        | S::InUseSent { .. }
        | S::AckNotSigned { .. }
        | S::NoticeFinallySent { .. }
        | S::AlreadyClosed
        | S::SignAgain
        | S::RecoveryClosed(..)
        | S::AbortedBeforeCheckIn
        | S::AbortedBeforeRootInUse
        | S::AbortedReleasing
        | S::AbortedCloseFirst
        | S::RecoveryCloseFirst
        | S::StepsNotChecked { .. }
        | S::ConfirmClosingFirst { .. } => closing_words(say, c, v),
        S::RootNeedsAws
        | S::NotAnAccountId { .. }
        | S::DrillReadOnlyTask { .. }
        | S::RootOpen { .. }
        | S::RootFailed { .. }
        | S::ActionNotAllowed { .. }
        | S::DrillNothingDestructive
        | S::ConfirmDestructive { .. }
        | S::NotConfirmed { .. }
        | S::RotationStaged { .. }
        | S::RotationAbandoned
        | S::Rotated { .. }
        | S::RootDone { .. }
        | S::RootExpired => root_words(say, c, v),
        S::RekeyQuorumShort { .. }
        | S::RekeySigned { .. }
        | S::RekeySignFailed { .. }
        | S::NotWritten { .. }
        | S::RekeyRehearsed { .. }
        | S::RekeyInUse { .. }
        | S::NewcomerKeyKind { .. }
        | S::NotNewcomersKey { .. }
        | S::EnterPin { .. }
        | S::NewcomerPinLow { .. }
        | S::NewcomerFactoryPin { .. }
        | S::NewcomerPinAccepted { .. }
        | S::NewcomerTokenError { .. }
        | S::NewcomerSigned { .. }
        | S::NewcomerSignFailed { .. }
        | S::SignatureUnderWay
        | S::WorkDownChecklist
        | S::OffboardRosterChanged
        | S::ItemUnderWay { .. }
        | S::ItemDone { .. }
        | S::ConfirmItem { .. }
        | S::ItemFailed { .. }
        | S::ItemsNotDone { .. }
        | S::OffboardDone
        | S::OffboardNotDone { .. } => rekey_words(say, c, v),
    }
}

/// The words for the setup, the check-ins and the keys coming and going.
fn checkin_words(say: &Say, c: &Ceremony) -> String {
    use Say as S;
    match say {
        S::ReasonMissing => "Write the reason first: the team will read it in the \"root in use\" notice.".into(),
        S::WrongMode { asked: Mode::Rekey, .. } => "A rekey starts from `breakglass roster rekey`, which says what changes.".into(),
        S::WrongMode { asked: Mode::Offboard, .. } => "An offboarding starts from `breakglass offboard ID`, which says who leaves.".into(),
        S::WrongMode { planned, .. } => format!("This ceremony is {}: it runs only in that mode.", planned.label()),
        S::ScenarioDrillOnly { scenario } => {
            format!("Scenario `{scenario}` is for drills only: switch the mode to DRILL, or choose `standard`.")
        }
        S::ScenarioDoesNotFit { scenario } => format!("Scenario `{scenario}` does not fit this roster."),
        S::GoingOnWithoutAws => {
            format!("Going on without AWS: notices cannot be sent, so {} will acknowledge each one. Tell the team by phone.", c.everyone())
        }
        S::KeyKindMismatch { serial, demo_key: true } => {
            format!("Key {serial} is a DEMO software key; a real ceremony accepts only the custodians' YubiKeys.")
        }
        S::KeyKindMismatch { serial, demo_key: false } => {
            format!("Key {serial} is a hardware key, but this is the DEMO ceremony. Use `breakglass ceremony` for real keys.")
        }
        S::NotOnRoster { serial } => {
            format!("This key (serial {serial}) is not on the roster. Each custodian must use the YubiKey the roster names for them.")
        }
        S::AlreadyCheckedIn { serial, owner, slot } => format!(
            "This key (serial {serial}) belongs to {owner}, who has already checked in. Custodian {}, please insert your own key.",
            slot.number()
        ),
        S::AttestationRefused { serial, id, why } => format!("Key {serial} ({id}) is refused: {why}"),
        S::NotAttested { serial } => format!("Key {serial} could not be attested as a genuine YubiKey; present it again."),
        S::ScenarioKeyMissing { .. } | S::ScenarioSparePair { .. } => say.scenario_words().unwrap_or_default(),
        S::PinBlocked { id } => {
            format!("{id}'s PIN is blocked. Unblock it with the PUK (`ykman piv access unblock-pin`), or let another custodian step in.")
        }
        S::LastPinTry { id } => format!(
            "{id}'s key has only 1 PIN try left; one more wrong PIN blocks it. Do not guess: unblock with the PUK first (`ykman piv access unblock-pin`), or let another custodian step in."
        ),
        S::KeyError { serial, error } => format!("Key {serial}: {error}"),
        S::FactoryPin { id } => format!(
            "{id}'s key still uses the factory default PIN. Set a real one with `breakglass enroll` (or `ykman piv access change-pin`), then check in."
        ),
        S::PinAccepted { id } => format!("PIN accepted for {id}."),
        S::WrongPinLastTry { retries_left } => format!(
            "Wrong PIN. Only {retries_left} try left: it will not be spent here. Unblock with the PUK (`ykman piv access unblock-pin`), or let another custodian step in."
        ),
        S::WrongPin { retries_left } => format!("Wrong PIN. {retries_left} tries left before the PIN is blocked."),
        S::Token(e) => e.to_string(),
        S::CheckedIn { name, id } => format!("{name} ({id}) checked in."),
        S::CheckedInRecoveryHeld { name, id, more } => format!(
            "{name} ({id}) signed the challenge. Nothing is written to the interrupted session until {more} more custodian(s) have checked in: then the recovery and these check-ins are recorded together."
        ),
        S::ChallengeNotSigned { id, error } => {
            format!("{id}'s key did not sign the challenge: {error}. Touch the key when it blinks, or present it again.")
        }
        S::Paused { id, serial } => format!("Paused: {id}'s key (serial {serial}) was removed. Insert it again to go on; nothing is lost."),
        S::PausedNoReader => "Paused: no key can be seen while PC/SC is down (above). Nothing is lost; once the keys are seen again, \
                              each custodian who checked in enters their PIN again."
            .into(),
        S::KeyBack { id } => format!("{id}'s key is back: {id}, enter your PIN again."),
        S::KeyAwayWhileNewcomerSigns { id, serial } => format!(
            "{id}'s key (serial {serial}) is out: fine while the newcomer proves their key. Put it back when the newcomer has signed; \
             {id} then enters the PIN again and signs the new version."
        ),
        S::KeyBackLater { id } => format!("{id}'s key is back: {id} enters the PIN again once the newcomer has signed."),
        S::KeyBackUnlocked { id } => format!("{id}'s key is back and unlocked: the ceremony goes on."),
        S::ReauthFailed { id, error } => format!("{id}: {error}"),
        // Every other message is another group's (`words` sends each to its own).
        _ => String::new(),
    }
}

/// The words for notices, the close, aborts and recoveries.
fn closing_words(say: &Say, c: &Ceremony, v: &View) -> String {
    use Say as S;
    match say {
        S::InUseSent { channel, message_id } => {
            format!("\"Root in use\" went to the team ({channel}, id {message_id}).")
        }
        S::AcknowledgedGoingOn => {
            format!("{} acknowledged: going on without the notice. Tell the team by another channel now.", c.everyone_cap())
        }
        S::AckNotSigned { error } => format!("The acknowledgement was not signed: {error}"),
        S::NoticeFinallySent { phase } => format!("The {} notice finally went out (recorded).", phase.as_str()),
        S::SignAgain => format!(
            "The journal grew while you signed (it records a key that went away and came back, or a notice's outcome), so the signatures made so far no longer cover it: {} sign again, from the first.",
            c.everyone()
        ),
        S::AlreadyClosed => "The session is already closed; it only needs the signatures now.".into(),
        S::RecoveryClosed(RecoveryNotice::Releasing) => {
            "Interrupted session closed. \"Root released\" goes to the team, then those who checked in sign.".into()
        }
        S::RecoveryClosed(RecoveryNotice::AlreadyReleased) => {
            "Interrupted session closed. The journal says \"root released\" went out; the team is told again that the session is closed, then those who checked in sign.".into()
        }
        S::RecoveryClosed(RecoveryNotice::NeverAnnounced) => {
            "Interrupted session closed. The journal records no \"root in use\" notice; the team is told anyway that the session is closed and root released, then those who checked in sign.".into()
        }
        S::AbortedBeforeCheckIn => {
            "Ceremony aborted before anyone checked in. Root was never in use, so no \"released\" notice was sent.".into()
        }
        S::AbortedBeforeRootInUse => {
            "Ceremony aborted before root was in use: no \"released\" notice was sent. Those who checked in sign what happened.".into()
        }
        S::AbortedCloseFirst => format!("Aborting. Root was in use: {}", close_first(c, v)),
        S::RecoveryCloseFirst => format!("Root was in use when the session was cut: {}", close_first(c, v)),
        S::AbortedReleasing => format!("Ceremony aborted. The release notice goes out, then {} sign what happened.", c.everyone()),
        S::StepsNotChecked { open } => {
            format!(
                "{open} step(s) not checked off: when the session closes they are recorded as not done ({} goes back to the runbook).",
                key_or(c, v, "runbook", "Esc")
            )
        }
        S::ConfirmClosingFirst { item } => {
            format!("Confirm item {item} first (or abort, which records that the ceremony did not finish).")
        }
        // Every other message is another group's (`words` sends each to its own).
        _ => String::new(),
    }
}

/// The words for root tasks and rotations.
fn root_words(say: &Say, c: &Ceremony, v: &View) -> String {
    use Say as S;
    match say {
        S::RootNeedsAws => {
            "Root tasks need AWS: configure aws.account_id (and credentials for the management account) in breakglass.toml.".into()
        }
        S::NotAnAccountId { target } => {
            format!("`{target}` is not a 12-digit AWS account id: type the member account whose root you need.")
        }
        S::DrillReadOnlyTask { policy } => format!("Drills are read-only: {policy} is refused. Choose IAMAuditRootUserCredentials."),
        S::RootOpen { duration_s } => format!("Root session open ({duration_s} s at most). Every call is recorded."),
        S::RootFailed { error } => error.clone(),
        S::ActionNotAllowed { action, policy } => format!("`{action}` is not allowed by {policy}."),
        S::DrillNothingDestructive => "Drills are read-only: nothing destructive can be done.".into(),
        S::ConfirmDestructive { action } => format!("`{action}` changes the account: {} confirm on their keys.", c.everyone()),
        S::NotConfirmed { error } => format!("Not confirmed: {error}"),
        S::RotationStaged { drill: false } => {
            "Sealed for the safe (not yet live). Set the new value where it belongs now; when it took, each custodian confirms on their key.".into()
        }
        S::RotationStaged { drill: true } => {
            "DRILL: sealed on a drill copy. Pretend to set the new value (change nothing), then each custodian confirms on their key.".into()
        }
        S::RotationAbandoned => "The new value did not take: it was thrown away and the old one stands. Rotate again when you can.".into(),
        S::Rotated { drill: false } => "Rotated: the new value is sealed in the runbook, and the old sealing is kept as superseded.".into(),
        S::Rotated { drill: true } => "DRILL: rotation rehearsed; the drill copy was removed and the live runbook is unchanged.".into(),
        S::RootDone { summary } => format!("Done: {summary}"),
        S::RootExpired => {
            format!(
                "The root session expired (AWS limits it to 900 s). Press {} to open a new one; nothing was left half-done.",
                key_or(c, v, "re-assume", "a")
            )
        }
        // Every other message is another group's (`words` sends each to its own).
        _ => String::new(),
    }
}

/// The words for rekeys and offboardings.
fn rekey_words(say: &Say, c: &Ceremony, v: &View) -> String {
    use Say as S;
    match say {
        S::RekeyQuorumShort { version, needs, can } => format!(
            "Version {version} needs {needs} of its custodians to sign it; only {can} of them are here (custodians who stay, and newcomers). Ask another custodian who stays to join, or abort."
        ),
        S::RekeySigned { id, version } => format!("{id} signed version {version}."),
        S::NotWritten { error } => format!(
            "{error}. Nothing is lost: make room on the disk (or fix the data directory), then press {} to try again; or abort ({}) and close the session later with `breakglass recover`.",
            retry_key(c, v),
            key_or(c, v, "abort", "Ctrl-C")
        ),
        S::RekeySignFailed { id, error } => format!("{id}'s key did not sign: {error}. Touch the key when it blinks."),
        S::RekeyRehearsed { version } => {
            format!("DRILL: version {version} was sealed and checked, then set aside: the roster is unchanged. Now the checklist.")
        }
        S::RekeyInUse { version } => format!("Version {version} is in use and the runbook is sealed for it. The team is told."),
        S::NewcomerKeyKind { serial, demo_key, demo_session } => format!(
            "Key {serial} is {} key; this rekey needs {}.",
            if *demo_key { "a DEMO" } else { "a hardware" },
            if *demo_session { "DEMO keys" } else { "YubiKeys" }
        ),
        S::NotNewcomersKey { serial, id, expected } => {
            format!("This key (serial {serial}) is not the one the new roster names for {id} (serial {expected}).")
        }
        S::EnterPin { id } => format!("{id}: enter your PIN."),
        S::NewcomerPinLow { id } => {
            format!("{id}'s key has 1 PIN try or none left: unblock it with the PUK (`ykman piv access unblock-pin`) first.")
        }
        S::NewcomerFactoryPin { id } => {
            format!("{id}'s key still uses the factory default PIN. Set a real one with `breakglass enroll` first.")
        }
        S::NewcomerPinAccepted { id, version } => format!("PIN accepted for {id}. Touch the key to sign version {version}."),
        S::NewcomerTokenError { error } => {
            format!("{error}. The last PIN try is never spent here: unblock with the PUK, then present the key again.")
        }
        S::NewcomerSigned { name, id, version } => format!("{name} ({id}) proved their key and signed version {version}."),
        S::NewcomerSignFailed { id, error } => {
            format!("{id}'s key did not sign: {error}. Touch the key when it blinks, or present it again.")
        }
        S::WorkDownChecklist => {
            format!("Work down the checklist: {} does the item under the cursor.", doing(c, v, Do::OffboardDo, "Space"))
        }
        S::OffboardRosterChanged => format!(
            "The roster no longer names them. Now the checklist: {} does the item under the cursor.",
            doing(c, v, Do::OffboardDo, "Space")
        ),
        S::SignatureUnderWay => "A key is signing: touch it (or take it out) first. Nothing else changes until it answers.".into(),
        S::ItemUnderWay { item } => format!("Item {item} is under way: finish it first."),
        S::ItemDone { item } => format!("Item {item} is done (recorded)."),
        S::ConfirmItem { item, keys } => format!(
            "{} confirm item {item} on their keys: press {} (one per custodian), then touch the key.",
            c.everyone_cap(),
            keys.join(", ")
        ),
        S::ItemFailed { item, error } => format!("Item {item} failed: {error}. {} tries it again.", doing(c, v, Do::OffboardDo, "Space")),
        S::ItemsNotDone { open } => {
            format!(
                "{} item(s) not done ({}). Press {} again to finish anyway: they are recorded as NOT done.",
                open.len(),
                list(open),
                key_or(c, v, "finish", "Enter")
            )
        }
        S::OffboardDone => "Offboarding done. Now sign the session log.".into(),
        S::OffboardNotDone { open } => format!("Recorded as NOT done: item(s) {}. Now sign the session log.", list(open)),
        // Every other message is another group's (`words` sends each to its own).
        _ => String::new(),
    }
}
