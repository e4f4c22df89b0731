//! Table tests for every transition of the ceremony state machine, refusals included.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::adapters::token::TokenError;
use breakglass::core::ceremony::{
    Ceremony, Effect, Failed, Intent, KeyStage, Mode, NotifyStatus, Outcome, Phase, Say, SessionInfo, SignStage, Tone,
};
use breakglass::core::ceremony::{RosterIx, SlotIx};
use breakglass::core::journal::{Entry, Labels, Written};
use breakglass::core::notice::{Delivery, Phase as NP};
use breakglass::core::runbook::Runbook;
use common::*;
use secrecy::SecretString;
use std::sync::Arc;

/// The kinds of the effects, in order, without the `notice.sending` that precedes every
/// `SendNotice` (its own test is `a_notice_is_journalled_as_about_to_go_out_before_it_is_sent`).
fn kinds(fx: &[Effect]) -> Vec<&'static str> {
    fx.iter()
        .filter(|e| !matches!(e, Effect::Journal { entry: Entry::NoticeSending { .. }, .. }))
        .map(|e| match e {
            Effect::Journal { entry, .. } => entry.kind(),
            Effect::VerifyPin { .. } => "VerifyPin",
            Effect::Attest { .. } => "Attest",
            Effect::SendNotice { .. } => "SendNotice",
            Effect::Unseal { .. } => "Unseal",
            Effect::SignJournal { .. } => "SignJournal",
            Effect::Finish { .. } => "Finish",
            Effect::CheckAccount { .. } => "CheckAccount",
            Effect::Posture { .. } => "Posture",
            Effect::AssumeRoot { .. } => "AssumeRoot",
            Effect::RootAct(_) => "RootAct",
            Effect::DropRoot => "DropRoot",
            Effect::SignRekey { .. } => "SignRekey",
            Effect::CommitRekey { .. } => "CommitRekey",
            Effect::OffboardApply { .. } => "OffboardApply",
            Effect::StageRotation { .. } => "StageRotation",
            Effect::SignSealing { .. } => "SignSealing",
            Effect::CommitRotation { .. } => "CommitRotation",
            Effect::DiscardRotation { .. } => "DiscardRotation",
        })
        .collect()
}

fn seen(serial: u32, retries: u8) -> Intent {
    Intent::KeySeen { serial, model: "DEMO software key".into(), demo: true, retries: Ok(retries), nonce: "00ff".into() }
}

fn pin() -> Intent {
    Intent::PinEntered(SecretString::from("314159".to_string()))
}

fn begin(c: &mut breakglass::core::ceremony::Ceremony, mode: Mode) -> Vec<Effect> {
    c.advance(Intent::Begin {
        mode,
        reason: "root e-mail changed by an insider".into(),
        ticket: Some("INC-42".into()),
        scenario: Default::default(),
    })
}

/// Checks in custodian `i` (index into the roster) from AwaitKey.
fn check_in(c: &mut breakglass::core::ceremony::Ceremony, i: usize) -> Vec<Effect> {
    let serial = 10000001 + i as u32;
    c.advance(seen(serial, 3));
    c.advance(pin());
    c.advance(Intent::PinChecked { serial, result: Ok(()) });
    c.advance(Intent::Touch);
    c.advance(Intent::Attested { custodian: RosterIx(i), result: Ok("-----BEGIN SSH SIGNATURE-----".into()) })
}

fn to_runbook(mode: Mode) -> breakglass::core::ceremony::Ceremony {
    to_runbook_on(mode, info(true))
}

fn to_runbook_on(mode: Mode, info: SessionInfo) -> breakglass::core::ceremony::Ceremony {
    let mut c = Ceremony::new(info, people(), Default::default());
    begin(&mut c, mode);
    if matches!(c.phase(), Phase::Account { .. }) {
        // With AWS configured, the account is checked before anyone checks in.
        c.advance(Intent::AccountChecked(Ok(("123456789012".into(), "arn:aws:iam::123456789012:user/ops".into()))));
    }
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "outbox".into(), message_id: "m1".into() }) });
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    assert_eq!(*c.phase(), Phase::Runbook);
    c
}

#[test]
fn setup_needs_a_reason() {
    let mut c = ceremony(true);
    let fx = c.advance(Intent::Begin { mode: Mode::Incident, reason: "  ".into(), ticket: None, scenario: Default::default() });
    assert!(fx.is_empty());
    assert_eq!(*c.phase(), Phase::Setup);
    assert_eq!(c.message().as_ref().map(|m| m.tone.clone()), Some(Tone::Refusal));
}

#[test]
fn begin_opens_the_session_and_asks_for_custodian_1() {
    let mut c = ceremony(true);
    let fx = begin(&mut c, Mode::Incident);
    assert_eq!(kinds(&fx), ["session.opened"]);
    let Effect::Journal { entry: Entry::SessionOpened { ticket, session_id, .. }, labels } = &fx[0] else { unreachable!() };
    assert_eq!(*labels, Labels { mode: "incident", demo: true });
    assert_eq!(ticket.as_deref(), Some("INC-42"));
    assert_eq!(session_id, SID);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
}

#[test]
fn a_key_not_on_the_roster_is_refused_and_journalled() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    let fx = c.advance(seen(99999999, 3));
    assert_eq!(kinds(&fx), ["custodian.refused"]);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert_eq!(said(&c), Some(&Say::NotOnRoster { serial: 99999999 }));
}

#[test]
fn a_hardware_key_in_the_demo_and_a_demo_key_in_a_real_ceremony_are_refused() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    c.advance(Intent::KeySeen { serial: 10000001, model: "YubiKey 5".into(), demo: false, retries: Ok(3), nonce: "1".into() });
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    let mut real = ceremony(false);
    begin(&mut real, Mode::Incident);
    real.advance(seen(10000001, 3));
    assert_eq!(*real.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert!(matches!(said(&real), Some(Say::KeyKindMismatch { demo_key: true, .. })), "{:?}", real.message());
}

#[test]
fn pin_then_touch_signs_a_challenge_bound_to_the_session() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    c.advance(seen(10000001, 3));
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { retries: 3, custodian: RosterIx(0), .. })));
    assert_eq!(kinds(&c.advance(pin())), ["VerifyPin"]);
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::Working { .. })));
    assert!(c.advance(Intent::PinChecked { serial: 10000001, result: Ok(()) }).is_empty());
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitTouch { .. })));
    let fx = c.advance(Intent::Touch);
    let Effect::Attest { statement, serial, .. } = &fx[0] else { panic!("expected Attest, got {fx:?}") };
    assert_eq!(statement.render(), format!("breakglass-checkin:{SID}:00ff"));
    assert_eq!(statement.namespace(), "breakglass-checkin");
    assert_eq!(*serial, 10000001);
    let fx = c.advance(Intent::Attested { custodian: RosterIx(0), result: Ok("sig".into()) });
    assert_eq!(kinds(&fx), ["custodian.verified"]);
    let Effect::Journal { entry: Entry::CustodianVerified { custodian, sshsig, slot, .. }, .. } = &fx[0] else { unreachable!() };
    assert_eq!((custodian.as_str(), sshsig.as_str(), *slot), ("alice", "sig", 1));
    assert_eq!(c.checked().len(), 1);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
}

#[test]
fn wrong_pins_count_down_and_the_last_try_is_never_spent() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    c.advance(seen(10000002, 3));
    c.advance(pin());
    let fx = c.advance(Intent::PinChecked { serial: 10000002, result: Err(TokenError::WrongPin { retries_left: 2 }) });
    assert_eq!(kinds(&fx), ["custodian.refused"]);
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { retries: 2, .. })));
    assert_eq!(said(&c), Some(&Say::WrongPin { retries_left: 2 }));
    c.advance(pin());
    c.advance(Intent::PinChecked { serial: 10000002, result: Err(TokenError::WrongPin { retries_left: 1 }) });
    // One try left: back to the key prompt, the PIN is not asked for again.
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert_eq!(said(&c), Some(&Say::WrongPinLastTry { retries_left: 1 }));
    // Presenting that key again is refused up front.
    let fx = c.advance(seen(10000002, 1));
    assert_eq!(kinds(&fx), ["custodian.refused"]);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    let fx = c.advance(seen(10000002, 0));
    assert_eq!(kinds(&fx), ["custodian.refused"]);
    assert!(matches!(said(&c), Some(Say::PinBlocked { .. })), "{:?}", c.message());
}

#[test]
fn the_same_custodian_or_key_twice_is_refused() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    let fx = c.advance(seen(10000001, 3));
    assert_eq!(kinds(&fx), ["custodian.refused"]);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert!(matches!(said(&c), Some(Say::AlreadyCheckedIn { slot: SlotIx(1), .. })), "{:?}", c.message());
    assert_eq!(c.checked().len(), 1);
}

#[test]
fn a_failed_challenge_signature_refuses_the_custodian() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    c.advance(seen(10000001, 3));
    c.advance(pin());
    c.advance(Intent::PinChecked { serial: 10000001, result: Ok(()) });
    c.advance(Intent::Touch);
    let fx = c.advance(Intent::Attested {
        custodian: RosterIx(0),
        result: Err(Failed::Signature("made by a key that is not this custodian's key in the trusted roster".into())),
    });
    assert_eq!(kinds(&fx), ["custodian.refused"]);
    assert!(c.checked().is_empty());
}

#[test]
fn two_custodians_trigger_the_root_in_use_notice_then_unsealing() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    let fx = check_in(&mut c, 2);
    assert_eq!(kinds(&fx), ["custodian.verified", "SendNotice"]);
    assert_eq!(*c.phase(), Phase::Notify { notice: NP::InUse, status: NotifyStatus::Sending });
    let fx =
        c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "outbox".into(), message_id: "m-1".into() }) });
    assert_eq!(kinds(&fx), ["notice.sent", "Unseal"]);
    let Effect::Unseal { ids } = &fx[1] else { unreachable!() };
    assert_eq!(ids, &["alice".to_string(), "carol".to_string()]);
}

#[test]
fn an_undelivered_notice_needs_both_custodians_signed_acknowledgement() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    let fx = c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("network unreachable".into())) });
    assert_eq!(kinds(&fx), ["notice.failed"]);
    // Nothing moves on by itself.
    assert!(c.advance(Intent::FinishRunbook).is_empty());
    let fx = c.advance(Intent::Acknowledge { who: SlotIx(0) });
    let Effect::Attest { statement, custodian, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!((statement.namespace(), *custodian), ("breakglass-ack", RosterIx(0)));
    assert!(statement.render().starts_with(&format!("breakglass-ack:{SID}:notice-in_use:")));
    let fx = c.advance(Intent::Attested { custodian: RosterIx(0), result: Ok("s".into()) });
    assert_eq!(kinds(&fx), ["notice.acknowledged"]);
    // The same custodian twice does not count twice.
    assert!(c.advance(Intent::Acknowledge { who: SlotIx(0) }).is_empty());
    assert!(matches!(c.phase(), Phase::Notify { status: NotifyStatus::Failed { .. }, .. }));
    c.advance(Intent::Acknowledge { who: SlotIx(1) });
    let fx = c.advance(Intent::Attested { custodian: RosterIx(1), result: Ok("s".into()) });
    assert_eq!(kinds(&fx), ["notice.acknowledged", "Unseal"]);
    assert_eq!(c.degraded().len(), 1);
}

#[test]
fn retrying_a_failed_notice_sends_it_again() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("down".into())) });
    assert_eq!(kinds(&c.advance(Intent::RetryNotice)), ["SendNotice"]);
    assert_eq!(*c.phase(), Phase::Notify { notice: NP::InUse, status: NotifyStatus::Sending });
}

#[test]
fn unseal_failure_can_be_retried() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    let fx = c.advance(Intent::Unsealed(Err(Failed::Seal("bob's key could not open its layer".into()))));
    assert_eq!(kinds(&fx), ["runbook.failed"]);
    assert_eq!(kinds(&c.advance(Intent::RetryUnseal)), ["Unseal"]);
}

#[test]
fn runbook_steps_notes_and_reveals_are_journalled_without_their_text() {
    let mut c = to_runbook(Mode::Incident);
    let fx = c.advance(Intent::ToggleStep(0));
    assert_eq!(kinds(&fx), ["step.done"]);
    let Effect::Journal { entry, labels } = &fx[0] else { unreachable!() };
    assert_eq!(*entry, Entry::StepDone { step: 1, of: c.done().len() as u64 });
    let text = c.runbook().as_ref().unwrap().steps[0].text.clone();
    assert!(!serde_json::to_string(&entry.fields(*labels)).unwrap().contains(&text), "step text leaked into the journal");
    assert_eq!(kinds(&c.advance(Intent::ToggleStep(0))), ["step.undone"]);
    assert_eq!(kinds(&c.advance(Intent::Note { step: Some(1), text: "case 1234".into() })), ["note"]);
    assert_eq!(c.notes()[1], ["case 1234"]);
    let fx = c.advance(Intent::Reveal(0));
    assert_eq!(kinds(&fx), ["secret.revealed"]);
    let Effect::Journal { entry, labels } = &fx[0] else { unreachable!() };
    assert!(matches!(entry, Entry::SecretRevealed { secret: 1, .. }), "{entry:?}");
    assert!(!serde_json::to_string(&entry.fields(*labels)).unwrap().contains("DEMO-"), "a secret leaked into the journal");
    // Revealing again is not a new reveal; out-of-range steps do nothing.
    assert!(c.advance(Intent::Reveal(0)).is_empty());
    assert!(c.advance(Intent::ToggleStep(999)).is_empty());
    // Leaving the runbook masks it again, and the journal says so (how long it was on screen).
    assert_eq!(kinds(&c.advance(Intent::FinishRunbook)), ["secret.hidden"]);
    assert_eq!(*c.phase(), Phase::Closing);
    assert!(c.revealed().iter().all(|r| !r), "secrets are masked again when leaving the runbook");
}

/// Faults, second round: a co-signature covers the whole journal, so an entry written after one
/// was made (here bob's key goes away and comes back while he signs) asks every signature again,
/// from the first; without it the first would no longer verify.
#[test]
fn an_entry_written_while_signing_asks_every_signature_again() {
    let mut c = to_runbook(Mode::Incident);
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    c.advance(Intent::ConfirmClose);
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "outbox".into(), message_id: "m2".into() }) });
    c.advance(Intent::Touch);
    c.advance(Intent::SessionSigned { custodian: RosterIx(0), result: Ok(()) });
    assert_eq!(*c.signed(), ["alice"]);
    let fx = c.advance(Intent::KeysPresent(vec![10000001]));
    assert_eq!(kinds(&fx), ["custodian.key_removed"]);
    assert!(c.signed().is_empty(), "alice's signature no longer covers the journal");
    assert_eq!(*c.phase(), Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch });
    assert!(matches!(said(&c), Some(breakglass::core::ceremony::Say::SignAgain)), "{:?}", c.message());
}

#[test]
fn closing_needs_every_item_then_releases_and_collects_both_signatures() {
    let mut c = to_runbook(Mode::Incident);
    c.advance(Intent::FinishRunbook);
    assert!(kinds(&c.advance(Intent::ConfirmClose)).is_empty());
    assert_eq!(c.message().as_ref().unwrap().tone, Tone::Refusal);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        assert_eq!(kinds(&c.advance(Intent::ToggleClosing(i))), ["closing.checked"]);
    }
    let fx = c.advance(Intent::ConfirmClose);
    assert_eq!(kinds(&fx), ["session.closed", "SendNotice"]);
    assert_eq!(c.outcome(), Some(Outcome::Closed));
    let fx =
        c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "outbox".into(), message_id: "m2".into() }) });
    assert_eq!(kinds(&fx), ["notice.sent"]);
    assert_eq!(*c.phase(), Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch });
    assert_eq!(kinds(&c.advance(Intent::Touch)), ["SignJournal"]);
    c.advance(Intent::SessionSigned {
        custodian: RosterIx(0),
        result: Err(Failed::Key(breakglass::adapters::token::TokenError::Removed(10000001))),
    });
    assert!(matches!(c.phase(), Phase::Sign { who: SlotIx(0), stage: SignStage::Failed(_) }));
    c.advance(Intent::Touch);
    c.advance(Intent::SessionSigned { custodian: RosterIx(0), result: Ok(()) });
    assert_eq!(*c.phase(), Phase::Sign { who: SlotIx(1), stage: SignStage::AwaitTouch });
    c.advance(Intent::Touch);
    // A result for the wrong custodian changes nothing.
    c.advance(Intent::SessionSigned { custodian: RosterIx(0), result: Ok(()) });
    assert_eq!(*c.phase(), Phase::Sign { who: SlotIx(1), stage: SignStage::Working });
    let fx = c.advance(Intent::SessionSigned { custodian: RosterIx(1), result: Ok(()) });
    assert_eq!(kinds(&fx), ["Finish"]);
    assert_eq!(*c.phase(), Phase::Summary);
    assert_eq!(*c.signed(), ["alice", "bob"]);
}

#[test]
fn abort_asks_first_and_can_be_cancelled() {
    let mut c = to_runbook(Mode::Incident);
    assert!(c.advance(Intent::RequestAbort).is_empty());
    assert!(c.confirm_abort());
    // While asking, nothing else happens.
    assert!(c.advance(Intent::ToggleStep(0)).is_empty());
    c.advance(Intent::CancelAbort);
    assert!(!c.confirm_abort());
    assert_eq!(*c.phase(), Phase::Runbook);
}

#[test]
fn abort_at_every_step_is_journalled_released_when_announced_and_signed() {
    // (how far to go, expected signers after abort)
    type Make = Box<dyn Fn() -> breakglass::core::ceremony::Ceremony>;
    let stops: Vec<(&str, Make, usize)> = vec![
        (
            "check-in 1",
            Box::new(|| {
                let mut c = ceremony(true);
                begin(&mut c, Mode::Incident);
                c
            }),
            0,
        ),
        (
            "check-in 2",
            Box::new(|| {
                let mut c = ceremony(true);
                begin(&mut c, Mode::Incident);
                check_in(&mut c, 0);
                c
            }),
            1,
        ),
        (
            "notify",
            Box::new(|| {
                let mut c = ceremony(true);
                begin(&mut c, Mode::Incident);
                check_in(&mut c, 0);
                check_in(&mut c, 1);
                c
            }),
            2,
        ),
        ("runbook", Box::new(|| to_runbook(Mode::Incident)), 2),
        (
            "closing",
            Box::new(|| {
                let mut c = to_runbook(Mode::Drill);
                c.advance(Intent::FinishRunbook);
                c
            }),
            2,
        ),
    ];
    for (name, make, signers) in stops {
        let mut c = make();
        c.advance(Intent::RequestAbort);
        let mut fx = c.advance(Intent::ConfirmAbort);
        if name == "runbook" || name == "closing" {
            // Root was in use: the closing checklist first; nothing is recorded yet.
            assert_eq!(*c.phase(), Phase::Closing, "at {name}");
            assert_eq!(said(&c), Some(&Say::AbortedCloseFirst), "at {name}");
            assert!(kinds(&fx).is_empty(), "at {name}: {:?}", kinds(&fx));
            assert_eq!(c.outcome(), None);
            // Esc does not go back to the runbook: the abort was confirmed.
            c.advance(Intent::Back);
            assert_eq!(*c.phase(), Phase::Closing, "at {name}");
            assert_eq!(kinds(&c.advance(Intent::ToggleClosing(0))), ["closing.checked"]);
            assert_eq!(kinds(&c.advance(Intent::ClosingNotDone(1))), ["closing.not_done"]);
            // Enter with items 3 and 4 neither confirmed nor marked: refused.
            assert!(kinds(&c.advance(Intent::ConfirmClose)).is_empty());
            assert_eq!(said(&c), Some(&Say::ConfirmClosingFirst { item: 3 }), "at {name}");
            c.advance(Intent::ClosingNotDone(2));
            if name == "runbook" {
                c.advance(Intent::ClosingNotDone(3));
                fx = c.advance(Intent::ConfirmClose);
            } else {
                // Asked to abort again: what is left is recorded as not done by those present.
                c.advance(Intent::RequestAbort);
                fx = c.advance(Intent::ConfirmAbort);
                assert_eq!(kinds(&fx[..1]), ["closing.not_done"], "at {name}");
                fx.remove(0);
            }
        }
        assert_eq!(c.outcome(), Some(Outcome::Aborted), "at {name}");
        if name.starts_with("check-in") {
            // Root was never announced as in use: nothing is released, and the screen says so.
            assert_eq!(kinds(&fx), ["session.aborted"], "at {name}");
            assert!(matches!(said(&c), Some(Say::AbortedBeforeCheckIn | Say::AbortedBeforeRootInUse)), "at {name}: {:?}", c.message());
        } else {
            assert_eq!(kinds(&fx), ["session.aborted", "SendNotice"], "at {name}");
            let fx = c.advance(Intent::NoticeDone {
                phase: NP::Aborted,
                result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }),
            });
            assert_eq!(kinds(&fx), ["notice.sent"], "at {name}");
        }
        if signers == 0 {
            assert_eq!(*c.phase(), Phase::Summary, "at {name}: nobody to sign");
        } else {
            assert_eq!(*c.phase(), Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch }, "at {name}");
            assert_eq!(c.checked().len(), signers, "at {name}");
        }
    }
}

#[test]
fn abort_before_starting_records_nothing() {
    let mut c = ceremony(true);
    c.advance(Intent::RequestAbort);
    assert!(c.advance(Intent::ConfirmAbort).is_empty());
    assert_eq!(*c.phase(), Phase::Quit);
}

#[test]
fn abort_while_signing_does_not_undo_the_close() {
    let mut c = to_runbook(Mode::Incident);
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    c.advance(Intent::ConfirmClose);
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "o".into(), message_id: "m".into() }) });
    c.advance(Intent::RequestAbort);
    assert!(!c.confirm_abort());
    assert_eq!(c.outcome(), Some(Outcome::Closed));
}

#[test]
fn a_journal_failure_halts_everything() {
    let mut c = to_runbook(Mode::Incident);
    c.advance(Intent::JournalFailed("No space left on device".into()));
    assert!(matches!(c.phase(), Phase::Halted(why) if why.contains("No space left")));
    assert!(c.advance(Intent::ToggleStep(0)).is_empty());
    assert!(c.advance(Intent::ConfirmAbort).is_empty());
}

#[test]
fn drill_mode_marks_every_journal_entry() {
    let mut c = ceremony(true);
    let mut all = begin(&mut c, Mode::Drill);
    all.extend(check_in(&mut c, 0));
    all.extend(c.advance(seen(424242, 3)));
    for e in &all {
        if let Effect::Journal { entry, labels } = e {
            assert_eq!(labels.mode, "drill", "{}", entry.kind());
        }
    }
    assert_eq!(c.mode().label(), "DRILL");
}

#[test]
fn journal_results_update_the_status_line_and_start_time() {
    let mut c = ceremony(true);
    let w = Written { seq: 0, kind: "session.opened".into(), ts: "2026-11-25T03:00:00.000Z".into(), head: [7; 32] };
    assert!(c.advance(Intent::Journaled(w.clone())).is_empty());
    assert_eq!(*c.last(), Some(w));
    assert_eq!(c.started_ts().as_deref(), Some("2026-11-25T03:00:00.000Z"));
}

#[test]
fn heartbeats_go_out_while_root_is_in_use_and_stop_after_release() {
    let mut c = Ceremony::new(SessionInfo { heartbeat_s: 900, ..info(true) }, people(), Default::default());
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::Tick { now_s: 100 });
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "sns".into(), message_id: "m1".into() }) });
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    assert!(c.advance(Intent::Tick { now_s: 999 }).is_empty(), "not yet");
    assert_eq!(kinds(&c.advance(Intent::Tick { now_s: 1000 })), ["SendNotice"]);
    // A heartbeat does not take the screen: the runbook stays.
    assert_eq!(*c.phase(), Phase::Runbook);
    let fx =
        c.advance(Intent::NoticeDone { phase: NP::Heartbeat, result: Ok(Delivery { channel: "sns".into(), message_id: "hb1".into() }) });
    assert_eq!(kinds(&fx), ["notice.sent"]);
    assert!(c.advance(Intent::Tick { now_s: 1500 }).is_empty());
    // A failed heartbeat is recorded and the ceremony goes on.
    c.advance(Intent::Tick { now_s: 1900 });
    let fx = c.advance(Intent::NoticeDone { phase: NP::Heartbeat, result: Err(Failed::Notice("throttled".into())) });
    assert_eq!(kinds(&fx), ["notice.failed"]);
    assert_eq!(*c.phase(), Phase::Runbook);
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    c.advance(Intent::ConfirmClose);
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "sns".into(), message_id: "m2".into() }) });
    assert!(c.advance(Intent::Tick { now_s: 5000 }).is_empty(), "no heartbeat once root is released");
}

#[test]
fn the_screen_never_shows_a_secret_before_its_journal_line_is_written() {
    use breakglass::terminal::app::ScreenGate;
    let mut c = to_runbook(Mode::Incident);
    let mut gate = ScreenGate::new(&c);
    let fx = c.advance(Intent::Reveal(0));
    gate.sent(&fx);
    gate.update(&c);
    assert!(c.revealed()[0]);
    assert!(!gate.shown().revealed()[0], "shown before the journal confirmed it");
    let w = Written { seq: 9, kind: "secret.revealed".into(), ts: "2026-11-25T03:00:09.000Z".into(), head: [1; 32] };
    gate.result(&Intent::Journaled(w.clone()));
    c.advance(Intent::Journaled(w));
    gate.update(&c);
    assert!(gate.shown().revealed()[0], "shown once recorded");
    // A failed write: the screen goes to the halted state with the secret masked, never revealed.
    let mut c = to_runbook(Mode::Incident);
    let mut gate = ScreenGate::new(&c);
    let fx = c.advance(Intent::Reveal(1));
    gate.sent(&fx);
    gate.update(&c);
    let failed = Intent::JournalFailed("No space left on device".into());
    gate.result(&failed);
    c.advance(failed);
    gate.update(&c);
    assert!(matches!(gate.shown().phase(), Phase::Halted(_)));
    assert!(gate.shown().revealed().iter().all(|r| !r));
}

#[test]
fn a_recovery_keeps_the_interrupted_sessions_mode_and_closes_after_check_in() {
    let mut c = ceremony_for(true, breakglass::core::ceremony::Purpose::recovery(interrupted(4)));
    // The custodians toggled DRILL on the setup screen: the recovery ignores it.
    let fx = c.advance(Intent::Begin { mode: Mode::Drill, reason: "recover".into(), ticket: None, scenario: Default::default() });
    // Rule E15: nothing is written to the interrupted session until a quorum has checked in again.
    assert!(kinds(&fx).is_empty(), "{:?}", kinds(&fx));
    assert!(c.recovery_unrecorded());
    let fx = check_in(&mut c, 0);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Journal { .. })), "{:?}", kinds(&fx));
    let fx = check_in(&mut c, 1);
    assert!(!c.recovery_unrecorded());
    // Then the recovery first, the check-ins, and the rest in the order they were made.
    assert_eq!(kinds(&fx)[..3], ["session.recovered", "custodian.verified", "custodian.verified"], "{:?}", kinds(&fx));
    let Effect::Journal { entry: Entry::SessionRecovered { entries, .. }, labels } = &fx[0] else { unreachable!() };
    assert_eq!(labels.mode, "incident");
    assert_eq!(*entries, 6);
    // Root was in use when it was cut: the closing checklist first (issue: a recovery asked
    // nobody whether the root password was changed again), then closed as aborted and released.
    assert_eq!(*c.phase(), Phase::Closing);
    assert_eq!(said(&c), Some(&Say::RecoveryCloseFirst));
    assert!(!kinds(&fx).contains(&"session.aborted"), "{:?}", kinds(&fx));
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ClosingNotDone(i));
    }
    let fx = c.advance(Intent::ConfirmClose);
    assert!(kinds(&fx).ends_with(&["session.aborted", "SendNotice"]), "{:?}", kinds(&fx));
    let Some(Effect::Journal { entry: Entry::SessionAborted { steps_done, recovered, .. }, .. }) =
        fx.iter().find(|e| matches!(e, Effect::Journal { entry: Entry::SessionAborted { .. }, .. }))
    else {
        unreachable!()
    };
    assert_eq!((*steps_done, *recovered), (4, true), "the steps done before the interruption are counted");
    assert_eq!(c.outcome(), Some(Outcome::Aborted));
}

/// Rule E15 (attack: a keyless recovery attempt that resets the gap): a recovery started, with one
/// custodian or none checked in, then abandoned, writes nothing at all.
#[test]
fn a_recovery_abandoned_before_a_quorum_checked_in_writes_nothing() {
    for stop in [Intent::ConfirmAbort, Intent::Signal("SIGHUP".into())] {
        let mut c = ceremony_for(true, breakglass::core::ceremony::Purpose::recovery(interrupted(4)));
        let mut all =
            c.advance(Intent::Begin { mode: Mode::Incident, reason: "recover".into(), ticket: None, scenario: Default::default() });
        all.extend(check_in(&mut c, 0));
        c.advance(Intent::RequestAbort);
        all.extend(c.advance(stop));
        assert!(!all.iter().any(|e| matches!(e, Effect::Journal { .. })), "{:?}", kinds(&all));
        assert_eq!(*c.phase(), Phase::Quit);
    }
}

/// Keys pulled out, and keys that cannot be seen at all (PC/SC stopped): both pause the ceremony
/// with the cause journalled; the key's return asks for its PIN again; nothing moves meanwhile.
#[test]
fn a_removed_or_unreachable_key_pauses_until_it_returns_with_its_pin() {
    for unreachable in [false, true] {
        let mut c = ceremony(true);
        begin(&mut c, Mode::Incident);
        check_in(&mut c, 0);
        let fx = if unreachable {
            c.advance(Intent::KeysUnreachable("PC/SC is not running".into()))
        } else {
            c.advance(Intent::KeysPresent(vec![10000002]))
        };
        assert_eq!(kinds(&fx), ["custodian.key_removed"]);
        let Effect::Journal { entry: Entry::CustodianKeyRemoved { why, .. }, .. } = &fx[0] else { unreachable!() };
        assert_eq!(why.is_some(), unreachable, "{why:?}");
        assert_eq!(*c.removed(), [10000001]);
        assert_eq!(c.message().as_ref().unwrap().tone, Tone::Refusal);
        // Nothing moves while paused, and a repeated report journals nothing new.
        assert!(c.advance(seen(10000002, 3)).is_empty());
        assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
        assert!(c.advance(Intent::KeysPresent(vec![])).is_empty());
        let fx = c.advance(Intent::KeysPresent(vec![10000001, 10000002]));
        assert_eq!(kinds(&fx), ["custodian.key_returned"]);
        assert_eq!(*c.reauth(), [SlotIx(0)]);
        assert_eq!(kinds(&c.advance(pin())), ["VerifyPin"]);
        let fx = c.advance(Intent::PinChecked { serial: 10000001, result: Ok(()) });
        assert_eq!(kinds(&fx), ["custodian.reauthenticated"]);
        assert!(c.reauth().is_empty() && c.removed().is_empty());
    }
}

/// A 3-of-5 roster: three check-ins before the notice, each on the rail; three acknowledgements
/// for a notice that failed; three signatures before the session is complete.
#[test]
fn a_quorum_of_three_checks_in_acknowledges_and_signs_three_times() {
    let mut info = info(true);
    info.quorum = 3;
    let people: Vec<breakglass::core::ceremony::Person> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .enumerate()
        .map(|(i, id)| breakglass::core::ceremony::Person { id: (*id).into(), name: format!("{id} Example"), serial: 10000001 + i as u32 })
        .collect();
    let mut c = breakglass::core::ceremony::Ceremony::new(info, people, Default::default());
    use breakglass::core::ceremony::RailStep as R;
    assert_eq!(
        c.rail(),
        [R::Setup, R::Custodian(1), R::Custodian(2), R::Custodian(3), R::NotifyTeam, R::OpenRunbook, R::RunbookSteps, R::Close, R::Sign]
    );
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 3);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey), "two of three is not a quorum");
    assert_eq!(c.rail()[c.rail_index()], R::Custodian(3));
    let fx = check_in(&mut c, 4);
    assert!(kinds(&fx).contains(&"SendNotice"), "{:?}", kinds(&fx));
    assert_eq!(c.rail()[c.rail_index()], R::NotifyTeam);
    // The notice fails: going on needs all three acknowledgements.
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("SNS is down".into())) });
    for who in 0..3 {
        assert!(matches!(c.phase(), Phase::Notify { status: NotifyStatus::Failed { .. }, .. }), "{who}: {:?}", c.phase());
        c.advance(Intent::Acknowledge { who: SlotIx(who) });
        c.advance(Intent::Touch);
        c.advance(Intent::Attested { custodian: RosterIx([0, 3, 4][who]), result: Ok("-----BEGIN SSH SIGNATURE-----".into()) });
    }
    assert!(matches!(c.phase(), Phase::Unseal { .. }), "{:?} {:?}", c.phase(), c.message());
    assert_eq!(said(&c), Some(&Say::AcknowledgedGoingOn));
    assert!(breakglass::terminal::words::words(&Say::AcknowledgedGoingOn, &c).starts_with("All 3 custodians acknowledged"));
}

/// With AWS, the close reads the root posture and CloudTrail's root events before "root
/// released": both are journalled with what changed since the start; a result that arrives once
/// signing has begun is never journalled (it would break the signatures).
#[test]
fn the_close_journals_the_posture_diff_and_root_activity_before_the_release() {
    use breakglass::core::ceremony::{Posture, PostureWhen};
    let mut c = to_runbook_on(Mode::Incident, SessionInfo { aws: true, ..info(true) });
    let start = Posture {
        account: "123456789012".into(),
        checks: vec![("iam_root_mfa_enabled".into(), "PASS".into(), "root has MFA".into())],
        root_events: vec![],
    };
    let fx = c.advance(Intent::PostureChecked { when: PostureWhen::Start, result: Ok(start) });
    assert_eq!(kinds(&fx), ["posture.checked"]);
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    let fx = c.advance(Intent::ConfirmClose);
    assert_eq!(kinds(&fx), ["session.closed", "Posture"], "the release waits for the posture read");
    let event = breakglass::core::audit::RootEvent {
        account: "123456789012".into(),
        time: "2026-11-25T03:00:30Z".into(),
        event: "ConsoleLogin".into(),
        source_ip: "198.51.100.7".into(),
        user_agent: "Mozilla".into(),
        session_id: None,
        nearest_session: None,
    };
    let close = Posture {
        account: "123456789012".into(),
        checks: vec![("iam_root_mfa_enabled".into(), "FAIL".into(), "root has no MFA".into())],
        root_events: vec![event],
    };
    let fx = c.advance(Intent::PostureChecked { when: PostureWhen::Close, result: Ok(close.clone()) });
    assert_eq!(kinds(&fx)[..2], ["posture.checked", "root.activity"]);
    assert!(kinds(&fx).contains(&"SendNotice"), "then root is released: {:?}", kinds(&fx));
    let Effect::Journal { entry: Entry::PostureChecked { changed: Some(changed), .. }, .. } = &fx[0] else { unreachable!() };
    assert_eq!((changed[0].from.as_deref(), changed[0].to.as_str()), (Some("PASS"), "FAIL"));
    let Effect::Journal { entry: Entry::RootActivity { events, note, .. }, .. } = &fx[1] else { unreachable!() };
    assert_eq!(events[0].event, "ConsoleLogin");
    assert!(note.contains("lag"));
    // Released, now signing: a late result is not journalled.
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    assert!(matches!(c.phase(), Phase::Sign { .. }), "{:?}", c.phase());
    assert!(c.advance(Intent::PostureChecked { when: PostureWhen::Close, result: Ok(close) }).is_empty());
}

/// A DEMO offboarding of mallory, who holds no key (no rekey), with `items`.
fn offboarding_mallory(items: Vec<breakglass::core::ceremony::OffItem>) -> Ceremony {
    let o = breakglass::core::ceremony::Offboard {
        person: "mallory".into(),
        iam_user: "mallory".into(),
        target_s: 900,
        items,
        rehearsal: false,
        finish_armed: false,
    };
    ceremony_for(true, breakglass::core::ceremony::Purpose::offboard(None, o))
}

/// An offboarding of someone who is not a custodian: no rekey; the runbook is opened (never shown)
/// for the steps its "Offboarding" section adds, whose text never reaches the journal.
#[test]
fn an_offboarding_adds_the_runbooks_own_steps_and_journals_them_by_number_only() {
    use breakglass::core::ceremony::OffItem;
    let mut c = offboarding_mallory(vec![OffItem::people("Rotate root's password")]);
    begin(&mut c, Mode::Offboard);
    check_in(&mut c, 0);
    let fx = check_in(&mut c, 1);
    assert!(kinds(&fx).contains(&"Unseal"), "{:?}", kinds(&fx));
    let rb = "# Runbook\n\n## Recover root\n\n- [ ] Open the console\n\n## Offboarding an administrator\n\n- [ ] Revoke the VPN certificate of the departing admin\n";
    let fx = c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(rb)))));
    assert_eq!(*c.phase(), Phase::Offboard);
    assert!(!format!("{fx:?}").contains("VPN"), "runbook text in the journal: {fx:?}");
    let o = c.offboard().as_ref().unwrap();
    assert_eq!(o.items.len(), 2);
    assert_eq!(o.items[1].what, "Runbook step 2: Revoke the VPN certificate of the departing admin");
    let fx = c.advance(Intent::OffboardDo(1));
    let Effect::Journal { entry: Entry::OffboardDone { item: 2, what, .. }, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(what, "runbook step 2");
    assert!(!format!("{fx:?}").contains("VPN"), "{fx:?}");
    // Item 1 is still open: one Enter asks, a second finishes (it is recorded as not done), and
    // the Debug output of the checklist never shows the runbook's text.
    assert!(!format!("{:?}", c.offboard()).contains("VPN"));
    let fx = c.advance(Intent::OffboardFinish);
    assert!(fx.is_empty() && said(&c) == Some(&Say::ItemsNotDone { open: vec![1] }), "{:?}", c.message());
    let fx = c.advance(Intent::OffboardFinish);
    assert!(kinds(&fx).contains(&"offboard.finished") && kinds(&fx).contains(&"session.closed"), "{:?}", kinds(&fx));
    assert!(format!("{fx:?}").contains("not_done"));
}

#[test]
fn an_offboarding_aws_change_waits_for_every_custodian_on_their_key() {
    use breakglass::core::ceremony::{OffItem, OffState};
    let item = OffItem {
        api: Some("iam:DeleteLoginProfile".into()),
        target: "login-profile".into(),
        ..OffItem::people("Delete the console password")
    };
    let mut c = offboarding_mallory(vec![item]);
    begin(&mut c, Mode::Offboard);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse("# R\n")))));
    let fx = c.advance(Intent::OffboardDo(0));
    assert!(!kinds(&fx).contains(&"OffboardApply"));
    // The same custodian twice does not count twice.
    c.advance(Intent::Acknowledge { who: SlotIx(0) });
    let fx = c.advance(Intent::Attested { custodian: RosterIx(0), result: Ok("sig".into()) });
    assert!(!kinds(&fx).contains(&"OffboardApply"), "{:?}", kinds(&fx));
    let fx = c.advance(Intent::Acknowledge { who: SlotIx(0) });
    assert!(fx.is_empty(), "{:?}", kinds(&fx));
    c.advance(Intent::Acknowledge { who: SlotIx(1) });
    let fx = c.advance(Intent::Attested { custodian: RosterIx(1), result: Ok("sig".into()) });
    assert_eq!(kinds(&fx), ["offboard.confirmed", "offboard.applying", "OffboardApply"]);
    let fx = c.advance(Intent::OffboardApplied { item: 0, result: Ok((Some("req-1".into()), None)) });
    assert_eq!(kinds(&fx), ["offboard.applied"]);
    assert!(matches!(c.offboard().as_ref().unwrap().items[0].state, OffState::Done { .. }));
}

/// The account check, with no AWS at all: the wrong account is refused (both named, journalled),
/// a retry checks again, and going on without AWS is journalled and said.
#[test]
fn the_account_check_refuses_another_account_and_going_on_without_aws_is_recorded() {
    use breakglass::core::ceremony::AccountProblem;
    let mut c = Ceremony::new(SessionInfo { aws: true, ..info(true) }, people(), Default::default());
    let fx = begin(&mut c, Mode::Incident);
    assert_eq!(kinds(&fx), ["session.opened", "CheckAccount"]);
    let fx = c.advance(Intent::AccountChecked(Ok(("999999999999".into(), "arn:aws:iam::999999999999:user/ops".into()))));
    let Effect::Journal { entry: Entry::AwsIdentity { refused: true, expected: Some(expected), .. }, .. } = &fx[0] else {
        panic!("{fx:?}")
    };
    assert_eq!(expected, "123456789012");
    assert!(
        matches!(c.phase(), Phase::Account { failed: Some(AccountProblem::Elsewhere { account, .. }) } if account == "999999999999"),
        "{:?}",
        c.phase()
    );
    assert_eq!(kinds(&c.advance(Intent::RetryAccount)), ["CheckAccount"]);
    c.advance(Intent::AccountChecked(Err(Failed::Aws("dispatch failure: connection refused".into()))));
    assert!(matches!(c.phase(), Phase::Account { failed: Some(AccountProblem::Unreachable(Failed::Aws(_))) }));
    let fx = c.advance(Intent::SkipAws);
    let Effect::Journal { entry: Entry::AwsSkipped { why }, .. } = &fx[0] else { panic!("{fx:?}") };
    assert!(why.contains("connection refused"), "{why}");
    assert_eq!(said(&c), Some(&Say::GoingOnWithoutAws));
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
}

/// Root tasks with in-memory results: a target that is not an account id and a destructive task
/// in a drill are refused before anything is asked of AWS; a destructive action waits for every
/// custodian's signed confirmation, each journalled, before it runs.
#[test]
fn a_root_task_is_scoped_and_a_destructive_action_waits_for_every_key() {
    use breakglass::core::ceremony::RootStage;
    use breakglass::core::root::{Action, Call, Task};
    let mut drill = to_runbook_on(Mode::Drill, SessionInfo { aws: true, ..info(true) });
    drill.advance(Intent::OpenRoot);
    assert!(drill.advance(Intent::AssumeRoot { target: "210987654321".into(), task: Task::DeleteRootUserCredentials }).is_empty());
    assert!(matches!(said(&drill), Some(Say::DrillReadOnlyTask { .. })), "{:?}", drill.message());

    let mut c = to_runbook_on(Mode::Incident, SessionInfo { aws: true, ..info(true) });
    assert!(c.advance(Intent::OpenRoot).is_empty());
    assert_eq!(*c.phase(), Phase::Root(RootStage::Pick));
    assert!(c.advance(Intent::AssumeRoot { target: "2109".into(), task: Task::DeleteRootUserCredentials }).is_empty());
    assert_eq!(said(&c), Some(&Say::NotAnAccountId { target: "2109".into() }));
    let fx = c.advance(Intent::AssumeRoot { target: "210987654321".into(), task: Task::DeleteRootUserCredentials });
    assert_eq!(kinds(&fx), ["AssumeRoot"]);
    let call = Call { api: "sts:AssumeRoot".into(), target: "210987654321".into(), request_id: Some("r-1".into()), outcome: "ok".into() };
    let fx = c.advance(Intent::RootAssumed(Ok((call, 900))));
    assert_eq!(kinds(&fx), ["aws.call"]);
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready));
    // Outside the task's policy: refused.
    assert!(c.advance(Intent::RootAct(Action::CreateLoginProfile)).is_empty());
    assert!(matches!(said(&c), Some(Say::ActionNotAllowed { .. })));
    // Destructive: nothing runs until both custodians confirmed on their keys.
    assert!(c.advance(Intent::RootAct(Action::DeleteLoginProfile)).is_empty());
    for (slot, custodian) in [(0, 0), (1, 1)] {
        let fx = c.advance(Intent::Acknowledge { who: SlotIx(slot) });
        assert_eq!(kinds(&fx), ["Attest"]);
        let fx = c.advance(Intent::Attested { custodian: RosterIx(custodian), result: Ok("sig".into()) });
        let want: &[&str] = if slot == 0 { &["root.confirmed"] } else { &["root.confirmed", "RootAct"] };
        assert_eq!(kinds(&fx), want, "after slot {slot}");
    }
    assert_eq!(*c.phase(), Phase::Root(RootStage::Working));
}

/// Found by review: while custodian B's key signed the confirmation of action X, custodian A
/// cancelled, picked action Y and confirmed it; B's signature then counted for Y. Nothing that
/// changes the action moves while a key signs.
#[test]
fn the_action_cannot_change_while_a_key_signs_its_confirmation() {
    use breakglass::core::ceremony::RootStage;
    use breakglass::core::root::{Action, Call, Task};
    let mut c = to_runbook_on(Mode::Incident, SessionInfo { aws: true, ..info(true) });
    c.advance(Intent::OpenRoot);
    c.advance(Intent::AssumeRoot { target: "210987654321".into(), task: Task::DeleteRootUserCredentials });
    let call = Call { api: "sts:AssumeRoot".into(), target: "210987654321".into(), request_id: None, outcome: "ok".into() };
    c.advance(Intent::RootAssumed(Ok((call, 900))));
    c.advance(Intent::RootAct(Action::DeleteLoginProfile));
    assert_eq!(kinds(&c.advance(Intent::Acknowledge { who: SlotIx(1) })), ["Attest"]);
    let signing = c.phase().clone();
    for intent in [Intent::CancelRootAction, Intent::CloseRoot] {
        assert!(c.advance(intent).is_empty());
        assert_eq!(*c.phase(), signing, "the action stays while bob's key signs");
        assert_eq!(said(&c), Some(&Say::SignatureUnderWay));
    }
    // The key answers while "abort?" is asked (Ctrl-C pressed, then thought better of): its
    // answer still lands, and once the question is gone, cancelling is possible again.
    c.advance(Intent::RequestAbort);
    c.advance(Intent::Attested { custodian: RosterIx(1), result: Ok("sig".into()) });
    c.advance(Intent::CancelAbort);
    assert!(matches!(c.phase(), Phase::Root(RootStage::Confirm { acking: None, .. })), "{:?}", c.phase());
    c.advance(Intent::CancelRootAction);
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready));
}

/// Found by review: a heartbeat's result that arrived while a key was out was dropped: the
/// delivered notice never reached the journal and no heartbeat went out again; and a retry could
/// append a line between the two co-signatures.
#[test]
fn background_notices_land_while_paused_and_never_start_while_signing() {
    let mut c = Ceremony::new(SessionInfo { heartbeat_s: 900, ..info(true) }, people(), Default::default());
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "sns".into(), message_id: "m1".into() }) });
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    assert_eq!(kinds(&c.advance(Intent::Tick { now_s: 1000 })), ["SendNotice"]);
    // alice's key is pulled out while the heartbeat is on its way.
    assert_eq!(kinds(&c.advance(Intent::KeysPresent(vec![10000002]))), ["custodian.key_removed"]);
    let fx =
        c.advance(Intent::NoticeDone { phase: NP::Heartbeat, result: Ok(Delivery { channel: "sns".into(), message_id: "hb".into() }) });
    assert_eq!(kinds(&fx), ["notice.sent"], "the team was told: the journal says so");
    assert_eq!(kinds(&c.advance(Intent::Tick { now_s: 1900 })), ["SendNotice"], "and the next heartbeat goes");
    // An undelivered "root in use", acknowledged on both keys, is retried in the background; the
    // retry flushed at the release fails again: it does not start again between the signatures.
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("down".into())) });
    for (slot, custodian) in [(0, 0), (1, 1)] {
        c.advance(Intent::Acknowledge { who: SlotIx(slot) });
        // No retry while a key signs the acknowledgement (its line would move the head it names).
        assert!(c.advance(Intent::RetryNotice).is_empty());
        assert_eq!(said(&c), Some(&Say::SignatureUnderWay));
        c.advance(Intent::Attested { custodian: RosterIx(custodian), result: Ok("sig".into()) });
    }
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    assert_eq!(kinds(&c.advance(Intent::ConfirmClose)), ["session.closed", "SendNotice", "SendNotice"]);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("still down".into())) });
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "sns".into(), message_id: "m2".into() }) });
    assert!(matches!(c.phase(), Phase::Sign { .. }), "{:?}", c.phase());
    assert!(c.advance(Intent::Tick { now_s: 90_000 }).is_empty(), "nothing starts while the custodians sign");
}

/// The drill scenarios, on the state machine: a key declared missing is refused at check-in with
/// the scenario's words and a journalled reason; the spare-pair drill refuses the usual pair.
#[test]
fn drill_scenarios_refuse_the_declared_keys() {
    use breakglass::core::ceremony::Scenario;
    let mut c = ceremony(true);
    c.advance(Intent::Begin {
        mode: Mode::Drill,
        reason: "quarterly".into(),
        ticket: None,
        scenario: Scenario::KeyMissing("alice".into()),
    });
    c.advance(seen(10000001, 3));
    assert_eq!(said(&c), Some(&Say::ScenarioKeyMissing { id: "alice".into() }));
    check_in(&mut c, 1);
    check_in(&mut c, 2);
    assert_eq!(c.checked().len(), 2, "bob and carol step in");

    let mut c = ceremony(true);
    c.advance(Intent::Begin { mode: Mode::Drill, reason: "quarterly".into(), ticket: None, scenario: Scenario::SparePair });
    check_in(&mut c, 0);
    let fx = c.advance(seen(10000002, 3));
    let Effect::Journal { entry: Entry::CustodianRefused { why, .. }, .. } = &fx[0] else { panic!("{fx:?}") };
    assert!(why.starts_with("DRILL scenario"), "{why}");
    assert!(matches!(said(&c), Some(Say::ScenarioSparePair { .. })));
}

/// Issue "the screen at the safe", item 8: "Confirm item N first" goes away once every closing
/// item is confirmed (it no longer stands beside a finished checklist).
#[test]
fn the_closing_refusal_goes_away_once_every_item_is_confirmed() {
    let mut c = to_runbook(Mode::Incident);
    c.advance(Intent::FinishRunbook);
    c.advance(Intent::ConfirmClose);
    assert!(matches!(c.message().as_ref().map(|m| &m.say), Some(breakglass::core::ceremony::Say::ConfirmClosingFirst { item: 1 })));
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    assert!(c.message().is_none(), "{:?}", c.message());
}

/// Issue "faults, second round": an effect is journalled as intended before it happens. Each
/// notice is preceded by `notice.sending` carrying its idempotency key, which the notice carries
/// too, so a recovery can tell the team a resend may be a repeat.
#[test]
fn a_notice_is_journalled_as_about_to_go_out_before_it_is_sent() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    let fx = check_in(&mut c, 1);
    let i = fx.iter().position(|e| matches!(e, Effect::SendNotice { .. })).expect("the root-in-use notice");
    let Effect::Journal { entry: Entry::NoticeSending { phase, key }, .. } = &fx[i - 1] else { panic!("{:?}", fx[i - 1]) };
    let Effect::SendNotice { notice, .. } = &fx[i] else { unreachable!() };
    assert_eq!(phase, "in_use");
    assert_eq!(&notice.idempotency_key, key);
    assert!(key.ends_with(":in_use") && !notice.maybe_repeat);
    // A recovery of a session that was sending "aborted" when it stopped: the resend says so.
    let mut rec = interrupted(0);
    rec.unsure = vec!["aborted".into()];
    let mut c = ceremony_for(true, breakglass::core::ceremony::Purpose::recovery(rec));
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ClosingNotDone(i));
    }
    let fx = c.advance(Intent::ConfirmClose);
    let notice = fx.iter().find_map(|e| if let Effect::SendNotice { notice, .. } = e { Some(notice) } else { None }).unwrap();
    assert!(notice.maybe_repeat && notice.idempotency_key.ends_with(":aborted"), "{notice:?}");
}

/// Issue "the screen at the safe", item 8: a message that reports something important (here the
/// custodians' signed acknowledgement that the team was not told) stays while passing messages
/// come and go; a refusal still replaces it.
#[test]
fn an_important_message_is_never_replaced_by_a_passing_one() {
    let mut c = ceremony(true);
    begin(&mut c, Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(breakglass::core::ceremony::Failed::Notice("down".into())) });
    for who in [SlotIx(0), SlotIx(1)] {
        c.advance(Intent::Acknowledge { who });
        c.advance(Intent::Attested { custodian: RosterIx(who.0), result: Ok("sig".into()) });
    }
    assert_eq!(said(&c), Some(&Say::AcknowledgedGoingOn));
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse("# R\n\n- [ ] one\n- [ ] two\n")))));
    c.advance(Intent::ToggleStep(0));
    assert_eq!(said(&c), Some(&Say::AcknowledgedGoingOn), "still on screen in the runbook");
    // Leaving the runbook with a step open says so in passing: the report stays (the closing
    // screen counts the steps anyway).
    c.advance(Intent::FinishRunbook);
    assert_eq!(said(&c), Some(&Say::AcknowledgedGoingOn));
    // A refusal replaces it.
    c.advance(Intent::ConfirmClose);
    assert!(matches!(said(&c), Some(Say::ConfirmClosingFirst { .. })));
}
