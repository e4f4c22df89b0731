//! A snapshot of every screen at 80x24 on ratatui's TestBackend, clock and randomness fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::core::ceremony::{Ceremony, Failed, Intent, Mode, Phase, SessionInfo};
use breakglass::core::ceremony::{RosterIx, SlotIx};
use breakglass::core::journal::Written;
use breakglass::core::notice::{Delivery, Phase as NP};
use breakglass::core::runbook::Runbook;
use breakglass::terminal::ui::render;
use breakglass::terminal::view::{KeyListing, View};
use chrono::{TimeZone, Utc};
use common::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use secrecy::SecretString;
use std::sync::Arc;

fn view(c: &Ceremony) -> View {
    let keys = c.roster().iter().map(|p| KeyListing { serial: p.serial, model: "DEMO software key".into() }).collect();
    let mut v = View::new(Mode::Incident, String::new(), keys, false);
    v.demo_pins = c.roster().iter().map(|p| (p.id.clone(), breakglass::commands::demo::pin_of(&p.id).to_string())).collect();
    v
}

fn draw(c: &Ceremony, v: &View) -> String {
    draw_at(c, v, 80, 24)
}

fn draw_at(c: &Ceremony, v: &View, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 12).unwrap();
    t.draw(|f| render(f, c, v, now)).unwrap();
    t.backend().to_string()
}

fn journaled(c: &mut Ceremony, seq: u64, kind: &str) {
    c.advance(Intent::Journaled(Written {
        seq,
        kind: kind.into(),
        ts: format!("2026-11-25T03:00:{:02}.000Z", seq.min(59)),
        head: [seq as u8; 32],
    }));
}

fn begun(mode: Mode) -> Ceremony {
    begun_on(mode, info(true))
}

/// A DEMO ceremony with AWS configured.
fn aws_info() -> SessionInfo {
    SessionInfo { aws: true, ..info(true) }
}

fn begun_on(mode: Mode, info: SessionInfo) -> Ceremony {
    let mut c = Ceremony::new(info, people(), Default::default());
    c.advance(Intent::Begin {
        mode,
        reason: "root e-mail changed by a former admin".into(),
        ticket: Some("INC-42".into()),
        scenario: Default::default(),
    });
    journaled(&mut c, 0, "session.opened");
    if matches!(c.phase(), Phase::Account { .. }) {
        // With AWS configured, the account is checked before anyone checks in.
        c.advance(Intent::AccountChecked(Ok(("123456789012".into(), "arn:aws:iam::123456789012:user/ops".into()))));
    }
    c
}

fn check_in(c: &mut Ceremony, i: usize) {
    let serial = 10000001 + i as u32;
    c.advance(Intent::KeySeen { serial, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
    c.advance(Intent::PinChecked { serial, result: Ok(()) });
    c.advance(Intent::Touch);
    c.advance(Intent::Attested { custodian: RosterIx(i), result: Ok("sig".into()) });
    journaled(c, 1 + i as u64, "custodian.verified");
}

fn at_runbook(mode: Mode) -> Ceremony {
    at_runbook_on(mode, info(true), breakglass::commands::demo::RUNBOOK)
}

fn at_runbook_on(mode: Mode, info: SessionInfo, runbook: &str) -> Ceremony {
    let mut c = begun_on(mode, info);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    journaled(&mut c, 3, "notice.sent");
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(runbook)))));
    journaled(&mut c, 4, "runbook.unsealed");
    c
}

#[test]
fn setup() {
    let c = ceremony(true);
    let mut v = view(&c);
    v.setup.reason = "root e-mail changed".into();
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn setup_drill() {
    let c = ceremony(true);
    let mut v = view(&c);
    v.setup.mode = Mode::Drill;
    v.setup.field = 0;
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn check_in_await_key() {
    let c = begun(Mode::Incident);
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn check_in_pin() {
    let mut c = begun(Mode::Incident);
    c.advance(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    let mut v = view(&c);
    v.pin_len = 4;
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn check_in_wrong_pin() {
    let mut c = begun(Mode::Incident);
    c.advance(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    c.advance(Intent::PinEntered(SecretString::from("000000".to_string())));
    c.advance(Intent::PinChecked { serial: 10000001, result: Err(breakglass::adapters::token::TokenError::WrongPin { retries_left: 2 }) });
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn check_in_touch() {
    let mut c = begun(Mode::Incident);
    c.advance(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
    c.advance(Intent::PinChecked { serial: 10000001, result: Ok(()) });
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn check_in_second_refused_same_custodian() {
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    c.advance(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    let mut v = view(&c);
    v.key_cursor = 1;
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn notify_sending() {
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn notify_sending_over_sns_says_how_long_it_waits() {
    let mut c = begun_on(Mode::Incident, aws_info());
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    let screen = draw(&c, &view(&c));
    assert!(screen.contains("AWS SNS: waiting 12 s at most."), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn paused_while_pcsc_is_stopped() {
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    let why = "PC/SC is not running or sees no reader: start it (`sudo systemctl start pcscd`) and insert the YubiKey";
    c.advance(Intent::KeysUnreachable(why.into()));
    let mut v = view(&c);
    v.keys.clear();
    v.scan_error = Some(why.into());
    let screen = draw(&c, &v);
    assert!(screen.contains("Paused"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// A key pulled out at the runbook and put back: the PIN field is on screen, whatever the phase
/// behind it, with its own hint line (digits, Enter once typed).
#[test]
fn a_key_back_asks_for_its_pin_on_screen() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::KeysPresent(vec![10000002]));
    c.advance(Intent::KeysPresent(vec![10000001, 10000002]));
    assert_eq!(c.reauth(), [SlotIx(0)]);
    let mut v = view(&c);
    v.pin_len = 3;
    let screen = draw(&c, &v);
    assert!(screen.contains("your key is back. Enter your PIN again") && screen.contains("•••_"), "{screen}");
    assert!(screen.contains("Enter confirm") && !screen.contains("Space"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn notify_failed_one_acknowledged() {
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone {
        phase: NP::InUse,
        result: Err(Failed::Notice("the notice could not be delivered over outbox: disk full".into())),
    });
    c.advance(Intent::Acknowledge { who: SlotIx(0) });
    c.advance(Intent::Attested { custodian: RosterIx(0), result: Ok("sig".into()) });
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn unseal_failed() {
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    c.advance(Intent::Unsealed(Err(Failed::Seal("bob's key could not open its layer of alice+bob.age: no identity matched".into()))));
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn runbook() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::ToggleStep(0));
    c.advance(Intent::Note { step: Some(0), text: "account 123456789012 confirmed".into() });
    let mut v = view(&c);
    v.step_cursor = 1;
    v.scroll = 8;
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn runbook_secret_revealed() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::Reveal(0));
    let mut v = view(&c);
    v.step_cursor = 1;
    v.scroll = breakglass::terminal::ui::secret_position(&c, &v, 56, 0).unwrap().saturating_sub(2);
    let screen = draw(&c, &v);
    assert!(screen.contains("DEMO-7731"), "{screen}");
    assert!(screen.contains("secret 1 · for step 2"), "the revealed value is labelled: {screen}");
    assert!(screen.contains("h hide"), "hiding is offered: {screen}");
    insta::assert_snapshot!(screen);
}

/// `r` opens a list of secrets that says which step needs each; from step 2 the cursor is on
/// the secret step 2 needs (secret 1, just above it), from step 3 on secret 2.
#[test]
fn runbook_reveal_picker_chooses_the_secret_the_step_needs() {
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let c = at_runbook(Mode::Incident);
    let mut app = App::new(c.clone(), view(&c));
    // Right after the runbook opens: step 1 needs no secret; r still shows the list, and only
    // Enter reveals (nothing is revealed off screen by a single key).
    assert!(matches!(app.on_key(key(KeyCode::Char('r'))), Action::None));
    assert!(app.v.reveal_pick.is_some());
    assert!(matches!(app.on_key(key(KeyCode::Esc)), Action::None));
    app.v.step_cursor = 1;
    app.on_key(key(KeyCode::Char('r')));
    assert_eq!(app.v.reveal_pick, Some(0), "step 2 needs secret 1");
    insta::assert_snapshot!("runbook_reveal_picker", draw(&app.c, &app.v));
    assert!(matches!(app.on_key(key(KeyCode::Enter)), Action::Intent(Intent::Reveal(0))));
    app.v.step_cursor = 2;
    app.on_key(key(KeyCode::Char('r')));
    assert_eq!(app.v.reveal_pick, Some(1), "step 3 needs secret 2");
}

/// A key back at the runbook: digits go to its PIN, not to the runbook (Space does not tick a
/// step, `r` reveals nothing), Enter sends the PIN, and the core verifies it on that key.
#[test]
fn a_key_back_takes_its_pin_from_the_keyboard_and_nothing_else_acts() {
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::KeysPresent(vec![10000002]));
    c.advance(Intent::KeysPresent(vec![10000001, 10000002]));
    let mut app = App::new(c.clone(), view(&c));
    for k in [KeyCode::Char(' '), KeyCode::Char('r'), KeyCode::Char('n'), KeyCode::Esc] {
        assert!(matches!(app.on_key(key(k)), Action::None), "{k:?} acts while the PIN is asked");
    }
    assert!(app.v.reveal_pick.is_none() && app.v.note.is_none());
    for ch in "314159".chars() {
        app.on_key(key(KeyCode::Char(ch)));
    }
    let Action::Intent(i @ Intent::PinEntered(_)) = app.on_key(key(KeyCode::Enter)) else { panic!("Enter sends the PIN") };
    let fx = c.advance(i);
    assert!(
        fx.iter().any(|e| matches!(e, breakglass::core::ceremony::Effect::VerifyPin { serial: 10000001, .. })),
        "the PIN goes to the key that came back: {fx:?}"
    );
}

/// `?` on the PIN screen opens help and never reaches the PIN; only digits do.
#[test]
fn question_mark_on_the_pin_screen_opens_help_and_costs_no_try() {
    use breakglass::core::ceremony::{KeyStage, Phase};
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let mut c = begun(Mode::Incident);
    c.advance(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { .. })));
    let mut app = App::new(c.clone(), view(&c));
    app.on_key(key(KeyCode::Char('?')));
    assert!(app.v.help, "? opens help");
    app.on_key(key(KeyCode::Esc));
    for ch in "31a4159x".chars() {
        app.on_key(key(KeyCode::Char(ch)));
    }
    match app.on_key(key(KeyCode::Enter)) {
        Action::Intent(Intent::PinEntered(pin)) => {
            use secrecy::ExposeSecret;
            assert_eq!(pin.expose_secret(), "314159", "only digits reach the PIN");
        }
        _ => panic!("Enter submits the PIN"),
    }
}

/// Long commands are never reflowed into what looks like two commands.
#[test]
fn a_long_code_line_is_cut_with_marks_and_keeps_its_indentation() {
    let md = "# R\n\n```sh\naws iam attach-user-policy --user-name \"$U\" --policy-arn arn:aws:iam::aws:policy/AWSDenyAll --region us-east-1\n    indented --flag\n```\n\n- [ ] one\n";
    let c = at_runbook_on(Mode::Incident, info(true), md);
    let v = view(&c);
    let screen = draw(&c, &v);
    assert!(screen.contains("↩"), "{screen}");
    assert!(screen.contains("↪"), "{screen}");
    assert!(screen.contains("        indented --flag"), "indentation kept: {screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn runbook_note_being_typed() {
    let c = at_runbook(Mode::Incident);
    let mut v = view(&c);
    v.note = Some("support case 1234".into());
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn closing() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::FinishRunbook);
    c.advance(Intent::ToggleClosing(0));
    let mut v = view(&c);
    v.closing_cursor = 1;
    insta::assert_snapshot!(draw(&c, &v));
}

fn closed(mode: Mode) -> Ceremony {
    let mut c = at_runbook(mode);
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    c.advance(Intent::ConfirmClose);
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "outbox".into(), message_id: "m2".into() }) });
    journaled(&mut c, 20, "notice.sent");
    c
}

#[test]
fn sign() {
    let c = closed(Mode::Incident);
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn summary() {
    let mut c = closed(Mode::Incident);
    for i in 0..2 {
        c.advance(Intent::Touch);
        c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
    }
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn summary_says_whether_the_bundle_was_archived() {
    let mut c = closed(Mode::Incident);
    for i in 0..2 {
        c.advance(Intent::Touch);
        c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
    }
    let mut v = view(&c);
    v.archive = Some(breakglass::terminal::view::ArchiveView::Done(
        "Archived: 8 files to s3://org-evidence/123456789012/20261125-030000-abcdef/, kept until 2033-11-23T03:04:12Z (Object Lock, COMPLIANCE).".into(),
    ));
    let done = draw(&c, &v);
    assert!(done.contains("✔ Archived: 8 files"), "{done}");
    v.archive = Some(breakglass::terminal::view::ArchiveView::Failed(
        "NOT archived: AWS did not answer s3:PutObject in time. The bundle is safe here and queued: `breakglass archive push` retries it."
            .into(),
    ));
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn drill_frame_says_drill() {
    let c = closed(Mode::Drill);
    let screen = draw(&c, &view(&c));
    assert!(screen.lines().next().unwrap().contains("DRILL"));
    insta::assert_snapshot!(screen);
}

#[test]
fn abort_confirmation() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::RequestAbort);
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn aborted_summary() {
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    c.advance(Intent::RequestAbort);
    c.advance(Intent::ConfirmAbort);
    c.advance(Intent::NoticeDone { phase: NP::Aborted, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    c.advance(Intent::Touch);
    c.advance(Intent::SessionSigned { custodian: RosterIx(0), result: Ok(()) });
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn help() {
    let c = begun(Mode::Incident);
    let mut v = view(&c);
    v.help = true;
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn halted() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::JournalFailed("/data/sessions/x/journal.jsonl: No space left on device".into()));
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn larger_terminal() {
    let c = at_runbook(Mode::Incident);
    insta::assert_snapshot!(draw_at(&c, &view(&c), 120, 30));
}

#[test]
fn every_screen_fits_small_terminals_without_panicking() {
    let states = [ceremony(true), begun(Mode::Incident), at_runbook(Mode::Drill), closed(Mode::Incident)];
    for c in &states {
        for (w, h) in [(80, 24), (40, 10), (20, 5), (1, 1), (200, 60)] {
            let _ = draw_at(c, &view(c), w, h);
        }
    }
}

fn with_aws(c: Ceremony) -> Ceremony {
    Ceremony::new(SessionInfo { aws: true, ..c.info().clone() }, c.roster().as_slice().to_vec(), Default::default())
}

#[test]
fn account_check_failed() {
    let mut c = with_aws(ceremony(true));
    c.advance(Intent::Begin { mode: Mode::Incident, reason: "r".into(), ticket: None, scenario: Default::default() });
    c.advance(Intent::AccountChecked(Ok(("999999999999".into(), "arn:aws:iam::999999999999:user/ops".into()))));
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

fn root_ready() -> Ceremony {
    let mut c = at_runbook_on(Mode::Incident, aws_info(), breakglass::commands::demo::RUNBOOK);
    c.advance(Intent::Tick { now_s: 10 });
    c.advance(Intent::OpenRoot);
    c.advance(Intent::AssumeRoot { target: "111122223333".into(), task: breakglass::adapters::aws::root::Task::DeleteRootUserCredentials });
    let call = breakglass::adapters::aws::root::Call {
        api: "sts:AssumeRoot".into(),
        target: "111122223333".into(),
        request_id: Some("r-1".into()),
        outcome: "ok".into(),
    };
    c.advance(Intent::RootAssumed(Ok((call, 900))));
    c.advance(Intent::RootAct(breakglass::adapters::aws::root::Action::Audit));
    c.advance(Intent::RootDone {
        action: breakglass::adapters::aws::root::Action::Audit,
        result: Ok((
            "audited".into(),
            Some(breakglass::adapters::aws::root::Audit {
                password: true,
                access_keys: vec!["AKIAEXAMPLE123".into()],
                mfa_devices: vec![],
                signing_certificates: vec![],
            }),
        )),
        calls: vec![],
    });
    c.advance(Intent::Tick { now_s: 130 });
    c
}

#[test]
fn root_task_pick() {
    let mut c = at_runbook_on(Mode::Drill, aws_info(), breakglass::commands::demo::RUNBOOK);
    c.advance(Intent::OpenRoot);
    let mut v = view(&c);
    v.root_target = "1111222233".into();
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn root_task_ready_with_countdown() {
    let c = root_ready();
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn root_task_confirm() {
    let mut c = root_ready();
    c.advance(Intent::RootAct(breakglass::adapters::aws::root::Action::DeleteAccessKeys));
    c.advance(Intent::Acknowledge { who: SlotIx(0) });
    c.advance(Intent::Attested { custodian: RosterIx(0), result: Ok("sig".into()) });
    insta::assert_snapshot!(draw(&c, &view(&c)));
}

#[test]
fn drill_summary_shows_timings_and_the_trend() {
    let mut c = closed(Mode::Drill);
    for i in 0..2 {
        c.advance(Intent::Touch);
        c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
    }
    let mut v = view(&c);
    v.previous = vec![312.0, 245.0, 190.5];
    let screen = draw_at(&c, &v, 100, 30);
    assert!(screen.contains("time to runbook") && screen.contains("last 4 drills"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn hardware_check_in_touch_and_pcsc_trouble() {
    let mut c = ceremony(false);
    c.advance(Intent::Begin { mode: Mode::Incident, reason: "r".into(), ticket: None, scenario: Default::default() });
    let mut v = view(&c);
    v.demo_pins.clear();
    v.keys.clear();
    v.scan_error = Some("PC/SC is not running or sees no reader: start it (`sudo systemctl start pcscd`) and insert the YubiKey".into());
    let screen = draw(&c, &v);
    assert!(screen.contains("pcscd") && !screen.contains("DEMO"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// The abort dialog is whole at every size; below 80x24 the "too small" screen keeps it readable.
#[test]
fn abort_dialog_at_small_and_large_sizes() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::RequestAbort);
    let small = draw_at(&c, &view(&c), 60, 20);
    assert!(small.contains("Terminal too small"), "{small}");
    assert!(small.contains("y: abort"), "{small}");
    insta::assert_snapshot!("abort_dialog_60x20", small);
    let large = draw_at(&c, &view(&c), 200, 60);
    assert!(large.contains("the closing checklist comes first"), "{large}");
    insta::assert_snapshot!("abort_dialog_200x60", large);
}

/// An abort before anyone checked in sends nothing, says so, and the rail ticks nothing unsigned.
#[test]
fn abort_before_anyone_checked_in() {
    let mut c = begun(Mode::Incident);
    c.advance(Intent::RequestAbort);
    c.advance(Intent::ConfirmAbort);
    let screen = draw(&c, &view(&c));
    assert!(screen.contains("no \"released\""), "{screen}");
    assert!(screen.contains("✘ 8 Sign"), "{screen}");
    assert!(!screen.contains("✔ 8"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// With the journal failing, the rail shows only what the journal recorded.
#[test]
fn the_rail_after_a_journal_failure_shows_only_what_was_recorded() {
    let mut c = ceremony(true);
    c.advance(Intent::Begin { mode: Mode::Incident, reason: "r".into(), ticket: None, scenario: Default::default() });
    c.advance(Intent::JournalFailed("/data/sessions/x: Read-only file system".into()));
    let screen = draw(&c, &view(&c));
    assert!(screen.contains("✘ 1 Setup"), "{screen}");
    assert!(!screen.contains('✔'), "nothing was recorded, nothing is ticked: {screen}");
}

/// The key cursor never moves by itself (a tick must not change which key Enter presents), and
/// PgDn stops at the end of the runbook instead of scrolling into blank space.
#[test]
fn the_cursor_stays_where_the_custodian_put_it_and_scrolling_stops_at_the_end() {
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let mut c = begun(Mode::Incident);
    check_in(&mut c, 0);
    let mut app = App::new(c.clone(), view(&c));
    app.v.key_cursor = 0; // alice, already checked in: the custodian chose to point there
    app.apply(Intent::Tick { now_s: 5 });
    assert_eq!(app.v.key_cursor, 0, "a tick moved the cursor");
    assert!(matches!(app.on_key(key(KeyCode::Enter)), Action::Present(10000001)), "Enter presents the key shown");
    // Scrolling.
    let c = at_runbook(Mode::Incident);
    let mut app = App::new(c.clone(), view(&c));
    for _ in 0..100 {
        app.on_key(key(KeyCode::PageDown));
    }
    // The app knows the pane's width from the last frame; at 80x24 it is 56 columns.
    app.width = 56;
    for _ in 0..100 {
        app.on_key(key(KeyCode::PageDown));
    }
    let screen = draw(&app.c, &app.v);
    assert!(screen.contains("## 8. Close out"), "the end of the runbook is on screen: {screen}");
    assert!(screen.contains(" of 1"), "the position is shown: {screen}");
}

/// A 3-of-5 roster: the rail has a step per custodian needed, and the third is the one expected.
#[test]
fn check_in_third_of_a_quorum_of_three() {
    let mut info = common::info(true);
    info.quorum = 3;
    let people: Vec<breakglass::core::ceremony::Person> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .enumerate()
        .map(|(i, id)| breakglass::core::ceremony::Person { id: (*id).into(), name: format!("{id} Example"), serial: 10000001 + i as u32 })
        .collect();
    let mut c = Ceremony::new(info, people, Default::default());
    c.advance(Intent::Begin { mode: Mode::Incident, reason: "three of five".into(), ticket: None, scenario: Default::default() });
    journaled(&mut c, 0, "session.opened");
    check_in(&mut c, 0);
    check_in(&mut c, 2);
    let screen = draw(&c, &view(&c));
    assert!(screen.contains("▶ 4 Custodian 3") && screen.contains("step 4 of 9"), "{screen}");
    insta::assert_snapshot!(screen);
    // The notice cannot go out: the hint names a key for each of the three.
    check_in(&mut c, 4);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("down".into())) });
    let hints = breakglass::terminal::keys::hints(&c, &view(&c));
    assert!(hints.contains(&("1/2/3", "acknowledge")), "{hints:?}");
}

/// A DEMO rekey (carol leaves, dave joins) with alice and bob checked in and the runbook opened.
fn rekey_at_review() -> (Ceremony, View) {
    let plan = breakglass::core::rekey::plan(&breakglass::commands::demo::roster(), &breakglass::commands::demo::rekey_change()).unwrap();
    let mut c = ceremony_for(true, breakglass::core::ceremony::Purpose::rekey(breakglass::core::ceremony::Rekey::from_plan(&plan)));
    c.advance(Intent::Begin { mode: Mode::Rekey, reason: "carol leaves the company".into(), ticket: None, scenario: Default::default() });
    journaled(&mut c, 0, "session.opened");
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    journaled(&mut c, 3, "runbook.unsealed");
    let mut v = view(&c);
    v.keys.push(KeyListing { serial: 10000004, model: "DEMO software key".into() });
    v.demo_pins.push(("dave".into(), breakglass::commands::demo::pin_of("dave").into()));
    (c, v)
}

/// Two USB ports: while the newcomer proves their key, a checked-in key may be out without
/// pausing the rekey; before its custodian signs the new version it must be back, with its PIN.
#[test]
fn rekey_with_two_usb_ports_a_key_may_be_out_while_the_newcomer_signs() {
    use breakglass::core::ceremony::{Effect, NewKey, RekeyStage};
    let (mut c, _) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    // alice's key out, dave's in: the rekey goes on.
    c.advance(Intent::KeysPresent(vec![10000002, 10000004]));
    assert_eq!(c.removed(), [10000001]);
    c.advance(Intent::KeySeen { serial: 10000004, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    assert!(matches!(c.phase(), Phase::Rekey(RekeyStage::Newcomer { key: NewKey::AwaitPin { .. }, .. })), "{:?}", c.phase());
    let fx = c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
    assert!(fx.iter().any(|e| matches!(e, Effect::VerifyPin { serial: 10000004, .. })), "the newcomer's PIN goes to the newcomer's key");
    c.advance(Intent::PinChecked { serial: 10000004, result: Ok(()) });
    c.advance(Intent::Touch);
    c.advance(Intent::RekeySigned { id: "dave".into(), result: Ok("sig".into()) });
    assert!(matches!(c.phase(), Phase::Rekey(RekeyStage::Sign { .. })), "{:?}", c.phase());
    // alice must sign now, and her key is out: nothing signs until it is back.
    assert!(matches!(said(&c), Some(breakglass::core::ceremony::Say::Paused { .. })), "{:?}", c.message());
    let fx = c.advance(Intent::Touch);
    assert!(!fx.iter().any(|e| matches!(e, Effect::SignRekey { .. })), "{fx:?}");
    // Back in, her PIN again, then she signs.
    c.advance(Intent::KeysPresent(vec![10000001, 10000002]));
    assert_eq!(c.reauth(), [SlotIx(0)]);
    let fx = c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
    assert!(fx.iter().any(|e| matches!(e, Effect::VerifyPin { serial: 10000001, .. })), "{fx:?}");
    c.advance(Intent::PinChecked { serial: 10000001, result: Ok(()) });
    let fx = c.advance(Intent::Touch);
    assert!(fx.iter().any(|e| matches!(e, Effect::SignRekey { id, .. } if id == "alice")), "{fx:?}");
}

/// An aborted rekey marks done only what was done (found on the deployment walk: ✔ on steps it
/// never did).
#[test]
fn an_aborted_rekey_ticks_only_what_it_did() {
    let (mut c, v) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    c.advance(Intent::RequestAbort);
    c.advance(Intent::ConfirmAbort);
    let s = draw(&c, &v);
    for never in ["✔ 6 Sign roster", "✔ 7 Reseal, swap", "✔ 8 Notify team", "✔ 9 Sign"] {
        assert!(!s.contains(never), "{never}:\n{s}");
    }
    assert!(s.contains("✔ 4 Open runbook") && s.contains("✘ 6 Sign roster"), "{s}");
}

#[test]
fn rekey_review_shows_the_diff_and_who_can_open_afterwards() {
    let (c, v) = rekey_at_review();
    let s = draw(&c, &v);
    assert!(s.contains("- carol") && s.contains("+ dave") && s.contains("alice+dave"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn rekey_newcomer_presents_their_key() {
    let (mut c, mut v) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    v.key_cursor = 3;
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn rekey_newcomer_pin() {
    let (mut c, v) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    c.advance(Intent::KeySeen { serial: 10000004, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn rekey_custodians_sign_the_new_version() {
    let (mut c, v) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    c.advance(Intent::KeySeen { serial: 10000004, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
    c.advance(Intent::PinChecked { serial: 10000004, result: Ok(()) });
    c.advance(Intent::Touch);
    c.advance(Intent::RekeySigned { id: "dave".into(), result: Ok("sig".into()) });
    insta::assert_snapshot!(draw(&c, &v));
}

#[test]
fn rekey_swap_failed() {
    let (mut c, v) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    c.advance(Intent::KeySeen { serial: 10000004, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
    c.advance(Intent::PinChecked { serial: 10000004, result: Ok(()) });
    c.advance(Intent::Touch);
    c.advance(Intent::RekeySigned { id: "dave".into(), result: Ok("sig".into()) });
    for id in ["alice", "bob"] {
        c.advance(Intent::Touch);
        c.advance(Intent::RekeySigned { id: id.into(), result: Ok("sig".into()) });
    }
    assert!(matches!(c.phase(), breakglass::core::ceremony::Phase::Rekey(breakglass::core::ceremony::RekeyStage::Committing)));
    c.advance(Intent::RekeyCommitted(Err(Failed::Rekey(
        "the staged runbook does not check: bob+dave.age does not open to the runbook".into(),
    ))));
    insta::assert_snapshot!(draw(&c, &v));
}

/// An offboarding of carol at its checklist (after the rekey that removed her).
fn offboard_at_checklist() -> Ceremony {
    use breakglass::adapters::aws::offboard::{Action, Manual};
    let plan = breakglass::core::rekey::plan(
        &breakglass::commands::demo::roster(),
        &breakglass::core::rekey::Change { remove: vec!["carol".into()], ..Default::default() },
    )
    .unwrap();
    let actions = vec![
        Action::DeactivateAccessKey { id: "AKIAEXAMPLE0000CAROL".into() },
        Action::DeleteLoginProfile,
        Action::RemoveFromGroup { group: "admins".into() },
    ];
    let (items, _) = breakglass::commands::offboard_checklist("carol", "carol", Ok((actions, vec![Manual::IdentityCenter])));
    let offboard = breakglass::core::ceremony::Offboard {
        person: "carol".into(),
        target_s: 900,
        items,
        rehearsal: false,
        iam_user: "carol".into(),
        finish_armed: false,
    };
    let mut c = ceremony_for(
        true,
        breakglass::core::ceremony::Purpose::offboard(Some(breakglass::core::ceremony::Rekey::from_plan(&plan)), offboard),
    );
    c.advance(Intent::Begin { mode: Mode::Offboard, reason: "carol leaves".into(), ticket: None, scenario: Default::default() });
    journaled(&mut c, 0, "session.opened");
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    c.advance(Intent::RekeyGo);
    for id in ["alice", "bob"] {
        c.advance(Intent::Touch);
        c.advance(Intent::RekeySigned { id: id.into(), result: Ok("sig".into()) });
    }
    c.advance(Intent::RekeyCommitted(Ok(vec!["alice+bob.age".into()])));
    c.advance(Intent::NoticeDone { phase: NP::RosterChanged, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    c
}

#[test]
fn offboard_checklist_with_a_change_being_confirmed_on_the_keys() {
    let mut c = offboard_at_checklist();
    assert_eq!(*c.phase(), breakglass::core::ceremony::Phase::Offboard);
    c.advance(Intent::OffboardDo(0));
    c.advance(Intent::OffboardDo(1));
    c.advance(Intent::OffboardDo(2));
    c.advance(Intent::Acknowledge { who: SlotIx(0) });
    c.advance(Intent::Attested { custodian: RosterIx(0), result: Ok("sig".into()) });
    let mut v = view(&c);
    v.step_cursor = 2;
    let s = draw(&c, &v);
    assert!(s.contains("confirmed on their key by: alice") && s.contains("OFFBOARD"), "{s}");
    insta::assert_snapshot!(s);
}

/// The hint line and the help screen (`keys_now`) name exactly the keys that act: every key they
/// name does something when pressed (`App::on_key`: an intent, a key presented, the view or the
/// exit changed), and no other key does, except `?` (help) and Ctrl-C (abort), which act on every
/// screen and are on the help screen; on screens with a text field, typing is not a key.
#[test]
fn the_hints_name_exactly_the_keys_that_act() {
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let notify_failed = {
        let mut c = begun(Mode::Incident);
        check_in(&mut c, 0);
        check_in(&mut c, 1);
        c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("down".into())) });
        c
    };
    let pin = {
        let mut c = begun(Mode::Incident);
        c.advance(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
        c
    };
    let closing = {
        let mut c = at_runbook(Mode::Incident);
        c.advance(Intent::FinishRunbook);
        c
    };
    let summary = {
        let mut c = closed(Mode::Incident);
        for i in 0..2 {
            c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
        }
        c
    };
    let revealed = {
        let mut c = at_runbook_on(Mode::Incident, aws_info(), breakglass::commands::demo::RUNBOOK);
        c.advance(Intent::Reveal(0));
        c
    };
    let recovering = ceremony_for(true, breakglass::core::ceremony::Purpose::recovery(interrupted(0)));
    let rotating = |stage: u8| {
        let mut c = at_runbook(Mode::Incident);
        c.advance(Intent::Reveal(1));
        c.advance(Intent::Reveal(0));
        if stage == 3 {
            c.advance(Intent::Rotate { secret: 0, value: None });
            return c;
        }
        c.advance(Intent::Rotate { secret: 1, value: Some(SecretString::from("Xy7!value".to_string())) });
        if stage >= 1 {
            c.advance(Intent::RotateGo);
            c.advance(Intent::RotationStaged(if stage == 2 {
                Err(Failed::Seal("disk full".into()))
            } else {
                Ok(("ab".repeat(32), 2, vec!["alice+bob.age".into()]))
            }));
        }
        c
    };
    let aborting = {
        let mut c = at_runbook(Mode::Incident);
        c.advance(Intent::RequestAbort);
        c.advance(Intent::ConfirmAbort);
        c
    };
    let rekey = |stage: u8| {
        let (mut c, _) = rekey_at_review();
        if stage >= 1 {
            c.advance(Intent::RekeyGo);
        }
        if stage >= 2 {
            c.advance(Intent::KeySeen {
                serial: 10000004,
                model: "DEMO software key".into(),
                demo: true,
                retries: Ok(3),
                nonce: "n".into(),
            });
        }
        if stage >= 3 {
            c.advance(Intent::PinEntered(SecretString::from("x".to_string())));
            c.advance(Intent::PinChecked { serial: 10000004, result: Ok(()) });
            c.advance(Intent::Touch);
            c.advance(Intent::RekeySigned { id: "dave".into(), result: Ok("sig".into()) });
        }
        c
    };
    let root_pick = {
        let mut c = at_runbook_on(Mode::Drill, aws_info(), breakglass::commands::demo::RUNBOOK);
        c.advance(Intent::OpenRoot);
        c
    };
    let root_confirm = {
        let mut c = root_ready();
        c.advance(Intent::RootAct(breakglass::adapters::aws::root::Action::DeleteAccessKeys));
        c
    };
    let offboard_confirming = {
        let mut c = offboard_at_checklist();
        for i in 0..3 {
            c.advance(Intent::OffboardDo(i));
        }
        assert!(c.offboard().as_ref().unwrap().awaiting_confirmation());
        c
    };
    let closing_unrotated = {
        let mut c = at_runbook(Mode::Incident);
        c.advance(Intent::Reveal(1));
        c.advance(Intent::FinishRunbook);
        c
    };
    // (screen, ceremony, the view's focus, a text field is focused)
    let states: Vec<(&str, Ceremony, Option<usize>, bool)> = vec![
        ("rotate: the new value", rotating(0), None, false),
        ("rotate: set it, confirm", rotating(1), None, false),
        ("rotate: failed", rotating(2), None, false),
        ("rotate: out of band", rotating(3), None, false),
        ("closing after an abort", aborting, None, false),
        ("closing with a secret not rotated", closing_unrotated, None, false),
        ("rekey: review", rekey(0), None, false),
        ("rekey: newcomer's key", rekey(1), None, false),
        ("rekey: newcomer's PIN", rekey(2), None, true),
        ("rekey: custodians sign", rekey(3), None, false),
        ("root: pick a task", root_pick, None, true),
        ("root: ready", root_ready(), None, false),
        ("root: confirm a destructive action", root_confirm, None, false),
        ("offboarding checklist", offboard_at_checklist(), None, false),
        ("offboarding: a change awaits the keys", offboard_confirming, None, false),
        ("setup: reason", ceremony(true), None, true),
        ("setup: mode", ceremony(true), Some(0), false),
        ("setup: mode of a recovery (fixed)", recovering, Some(0), false),
        ("check-in", begun(Mode::Incident), None, false),
        ("PIN", pin, None, true),
        ("notice failed", notify_failed, None, false),
        ("runbook", at_runbook(Mode::Incident), None, false),
        ("runbook: AWS, a secret shown", revealed, None, false),
        ("closing", closing, None, false),
        ("sign", closed(Mode::Incident), None, false),
        ("summary", summary, None, false),
    ];
    // Each key, and the label the hints give it.
    let mut keys: Vec<(&str, KeyCode)> = vec![
        ("Enter", KeyCode::Enter),
        ("Esc", KeyCode::Esc),
        ("Space", KeyCode::Char(' ')),
        ("Tab", KeyCode::Tab),
        ("up/down", KeyCode::Down),
        ("left/right", KeyCode::Right),
        ("PgDn", KeyCode::PageDown),
        ("digit", KeyCode::Char('1')),
    ];
    let letters: Vec<String> = ('a'..='z').map(|c| c.to_string()).collect();
    for (l, c) in letters.iter().zip('a'..='z') {
        keys.push((l.as_str(), KeyCode::Char(c)));
    }
    // A hint may name several keys: "Tab/↑↓".
    let labels = |hint: &str| -> Vec<String> {
        let one = |h: &str| -> String {
            match h {
                "↑/↓" | "↑↓" => "up/down".into(),
                "←/→" => "left/right".into(),
                "digits" => "digit".into(),
                h if h.starts_with('1') => "digit".into(),
                h => h.into(),
            }
        };
        match hint {
            "↑/↓" | "←/→" => vec![one(hint)],
            h if h.starts_with('1') => vec![one(hint)],
            h => h.split('/').map(one).collect(),
        }
    };
    let mut wrong = vec![];
    for (screen, c, field, typing) in &states {
        let mut v = view(c);
        if let Some(f) = field {
            v.setup.field = *f;
        }
        // The sentences that name a key read it from the same table: none is left without one.
        let text = draw(c, &v);
        for gap in ["ress  ", "ress ,", "ress ;", "({}", "(  "] {
            if text.contains(gap) {
                wrong.push(format!("{screen}: a sentence names no key (`{gap}`):\n{text}"));
            }
        }
        let hinted: Vec<String> = breakglass::terminal::keys::hints(c, &v).iter().flat_map(|(k, _)| labels(k)).collect();
        for (name, code) in &keys {
            let mut app = App::new(c.clone(), v.clone());
            let before = format!("{:?}", app.v);
            let action = app.on_key(KeyEvent::new(*code, KeyModifiers::NONE));
            let acted = !matches!(action, Action::None) || format!("{:?}", app.v) != before || app.quit;
            let is_hinted = hinted.iter().any(|h| h == name);
            let typed = *typing && matches!(code, KeyCode::Char(c) if c.is_alphanumeric() || *c == ' ');
            if is_hinted && !acted {
                wrong.push(format!("{screen}: `{name}` is hinted but does nothing"));
            } else if acted && !is_hinted && !typed {
                wrong.push(format!("{screen}: `{name}` acts but is not hinted"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Issue "the screen at the safe", item 5: ←/→ on the mode asks first; nothing changes until `y`.
#[test]
fn setup_asks_before_switching_to_drill() {
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let c = ceremony(true);
    let mut v = view(&c);
    v.setup.reason = "root e-mail changed".into();
    v.setup.field = 0;
    let mut app = App::new(c.clone(), v);
    let key = |app: &mut App, code: KeyCode| app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    key(&mut app, KeyCode::Right);
    assert_eq!(app.v.setup.mode, Mode::Incident, "one arrow changes nothing yet");
    insta::assert_snapshot!(draw(&c, &app.v));
    // Enter while asked does not start the session.
    assert!(matches!(key(&mut app, KeyCode::Enter), Action::None));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!((app.v.setup.mode, app.v.setup.confirm_mode), (Mode::Incident, false));
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.v.setup.mode, Mode::Drill);
}

/// Items 2, 3 and 4: no key acts behind "terminal too small" but Ctrl-C; `?` is text in a text
/// field (F1 is help there); only `q` leaves the summary.
#[test]
fn typing_a_question_mark_a_too_small_window_and_the_summary_keys() {
    use breakglass::terminal::app::{Action, App};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |app: &mut App, code: KeyCode| app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    let c = ceremony(true);
    let mut app = App::new(c.clone(), view(&c));
    key(&mut app, KeyCode::Char('w'));
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.v.setup.reason, "w?", "`?` is text in the reason");
    assert!(!app.v.help);
    key(&mut app, KeyCode::F(1));
    assert!(app.v.help, "F1 opens help from a text field");
    key(&mut app, KeyCode::F(1));
    // Too small: Enter does not start the session; Ctrl-C still asks to abort.
    app.v.too_small = true;
    assert!(matches!(key(&mut app, KeyCode::Enter), Action::None));
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(app.v.setup.reason, "w?", "typing waits too");
    let ctrl_c = app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(matches!(ctrl_c, Action::Intent(Intent::RequestAbort)));
    // The summary stays until `q`.
    let mut c = closed(Mode::Incident);
    for i in 0..2 {
        c.advance(Intent::Touch);
        c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
    }
    assert_eq!(*c.phase(), Phase::Summary);
    let mut app = App::new(c.clone(), view(&c));
    for k in [KeyCode::Enter, KeyCode::Esc, KeyCode::Char(' ')] {
        key(&mut app, k);
        assert!(!app.quit, "{k:?} left the summary");
    }
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

/// Issue "the screen at the safe", item 12: a rekey's setup shows its own rail (not the incident's
/// eight steps), the change itself, and asks why the custodians change.
#[test]
fn rekey_setup() {
    let plan = breakglass::core::rekey::plan(&breakglass::commands::demo::roster(), &breakglass::commands::demo::rekey_change()).unwrap();
    let mut c = ceremony_for(true, breakglass::core::ceremony::Purpose::rekey(breakglass::core::ceremony::Rekey::from_plan(&plan)));
    let rail_at_setup = c.rail();
    let mut v = view(&c);
    v.setup.mode = Mode::Rekey;
    v.setup.reason = "carol leaves the company".into();
    insta::assert_snapshot!(draw(&c, &v));
    c.advance(Intent::Begin { mode: Mode::Rekey, reason: "carol leaves the company".into(), ticket: None, scenario: Default::default() });
    assert_eq!(c.rail(), rail_at_setup, "the rail does not change when the rekey begins");
}

/// Rotating the root password: the new value masked until `v`, sealed for the safe, then each
/// custodian confirms on their key that it took.
#[test]
fn rotate_a_secret() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::Reveal(1));
    let new = "Xy7!fresh-root-password-0123456789";
    c.advance(Intent::Rotate { secret: 1, value: Some(SecretString::from(new.to_string())) });
    assert_eq!(c.phase(), &Phase::Rotate(breakglass::core::ceremony::RotateStage::Value));
    let v = view(&c);
    let s = draw(&c, &v);
    assert!(s.contains("Rotate secret 2: root-password") && !s.contains(new), "masked until shown: {s}");
    insta::assert_snapshot!("rotate_value", s);
    c.advance(Intent::Reveal(1));
    assert!(draw(&c, &v).contains(new), "v shows it");
    c.advance(Intent::RotateGo);
    c.advance(Intent::RotationStaged(Ok(("ab".repeat(32), 2, vec!["alice+bob.age".into()]))));
    c.advance(Intent::Hide(1));
    c.advance(Intent::Acknowledge { who: SlotIx(0) });
    c.advance(Intent::SealingSigned { custodian: RosterIx(0), result: Ok("sig".into()) });
    let s = draw(&c, &v);
    assert!(s.contains("Set the new value where it belongs") && !s.contains(new), "{s}");
    insta::assert_snapshot!("rotate_set_it_one_confirmed", s);
}

/// A secret only someone else can change: both record on their keys that it was rotated.
#[test]
fn rotate_out_of_band() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::Reveal(0));
    c.advance(Intent::Rotate { secret: 0, value: None });
    let s = draw(&c, &view(&c));
    assert!(s.contains("aws-support-pin") && s.contains("cannot change this one"), "{s}");
    insta::assert_snapshot!(s);
}

/// The closing checklist lists what was revealed and not rotated, and offers `o`.
#[test]
fn closing_lists_secrets_not_rotated() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::Reveal(1));
    c.advance(Intent::FinishRunbook);
    let s = draw(&c, &view(&c));
    assert!(s.contains("Revealed and not rotated: root-password") && s.contains("o rotate"), "{s}");
    insta::assert_snapshot!(s);
}

/// A `rotate=typed` value is typed twice, never shown.
#[test]
fn rotate_typed_value_is_masked() {
    let c = at_runbook(Mode::Incident);
    let mut v = view(&c);
    v.secret_entry =
        Some(breakglass::terminal::view::SecretEntry { secret: 1, buf: zeroize::Zeroizing::new("hunter22".into()), ..Default::default() });
    let s = draw(&c, &v);
    assert!(s.contains("type the new value") && s.contains("••••••••") && !s.contains("hunter22"), "{s}");
    assert!(!format!("{v:?}").contains("hunter22"), "Debug never shows it");
    insta::assert_snapshot!(s);
}

/// An abort after root was in use goes through the closing checklist: what cannot be done is
/// marked (x) and recorded as not done; Esc no longer leads back to the runbook.
#[test]
fn closing_after_an_abort() {
    let mut c = at_runbook(Mode::Incident);
    c.advance(Intent::RequestAbort);
    c.advance(Intent::ConfirmAbort);
    c.advance(Intent::ToggleClosing(0));
    c.advance(Intent::ClosingNotDone(1));
    let s = draw(&c, &view(&c));
    assert!(s.contains("Root was in use. Before it is released") && s.contains("[✘ not done]"), "{s}");
    assert!(!s.contains("Esc runbook"), "{s}");
    insta::assert_snapshot!(s);
}

/// Issue "the screen at the safe", item 12: an offboarding that leaves a single pair says so
/// before anyone signs.
#[test]
fn offboarding_review_warns_that_a_single_pair_is_left() {
    let plan = breakglass::core::rekey::plan(
        &breakglass::commands::demo::roster(),
        &breakglass::core::rekey::Change { remove: vec!["carol".into()], ..Default::default() },
    )
    .unwrap();
    let mut c = ceremony_for(true, breakglass::core::ceremony::Purpose::rekey(breakglass::core::ceremony::Rekey::from_plan(&plan)));
    c.advance(Intent::Begin { mode: Mode::Rekey, reason: "carol leaves".into(), ticket: None, scenario: Default::default() });
    journaled(&mut c, 0, "session.opened");
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    let s = draw(&c, &view(&c));
    assert!(s.contains("Only alice and bob together can open root"), "{s}");
    insta::assert_snapshot!(s);
}

/// Item 15: after a wrong PIN leaves one try, the cursor leaves that key (Enter would present it
/// again only to be refused and journalled once more); scenario texts name who is concerned.
#[test]
fn a_key_down_to_its_last_try_is_not_under_the_cursor_and_scenarios_name_people() {
    use breakglass::core::ceremony::Scenario;
    use breakglass::terminal::app::App;
    let c = begun(Mode::Incident);
    let mut app = App::new(c.clone(), view(&c));
    assert_eq!(app.v.key_cursor, 0);
    app.apply(Intent::KeySeen { serial: 10000001, model: "DEMO software key".into(), demo: true, retries: Ok(3), nonce: "n".into() });
    app.apply(Intent::PinEntered(SecretString::from("000000".to_string())));
    app.apply(Intent::PinChecked { serial: 10000001, result: Err(breakglass::adapters::token::TokenError::WrongPin { retries_left: 1 }) });
    assert_eq!(*app.c.phase(), Phase::CheckIn(breakglass::core::ceremony::KeyStage::AwaitKey));
    assert_ne!(app.v.keys[app.v.key_cursor].serial, 10000001, "the cursor left the key down to its last try");
    let roster = c.roster().as_slice().to_vec();
    assert!(Scenario::KeyMissing("carol".into()).describe_on(&roster, 2).contains("the usual pair (alice and bob) checks in without it"));
    assert!(Scenario::KeyMissing("alice".into()).describe_on(&roster, 2).contains("another custodian steps in"));
    assert!(Scenario::SparePair.describe_on(&roster, 2).contains("alice and bob) may not both check in: a pair with carol"));
}

/// Item 9: the longest summary (a notice-down drill, acknowledged) fits 80x24 whole: the last
/// ssh-keygen line is on screen.
#[test]
fn a_notice_down_drill_summary_fits_80x24() {
    let mut c = begun(Mode::Drill);
    check_in(&mut c, 0);
    check_in(&mut c, 1);
    c.advance(Intent::NoticeDone { phase: NP::InUse, result: Err(Failed::Notice("the channel is down".into())) });
    for who in [SlotIx(0), SlotIx(1)] {
        c.advance(Intent::Acknowledge { who });
        c.advance(Intent::Attested { custodian: RosterIx(who.0), result: Ok("sig".into()) });
    }
    c.advance(Intent::Unsealed(Ok(Arc::new(Runbook::parse(breakglass::commands::demo::RUNBOOK)))));
    journaled(&mut c, 6, "runbook.unsealed");
    c.advance(Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        c.advance(Intent::ToggleClosing(i));
    }
    c.advance(Intent::ConfirmClose);
    c.advance(Intent::NoticeDone { phase: NP::Released, result: Ok(Delivery { channel: "outbox".into(), message_id: "m".into() }) });
    journaled(&mut c, 12, "notice.sent");
    for i in 0..2 {
        c.advance(Intent::Touch);
        c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
    }
    assert_eq!(*c.phase(), Phase::Summary, "{:?}", c.message());
    let s = draw(&c, &view(&c));
    assert!(s.contains("NOT delivered") && s.contains("< journal.jsonl"), "{s}");
    insta::assert_snapshot!(s);
}

/// Item 9: an aborted rekey's summary is whole at 80x24.
#[test]
fn an_aborted_rekey_summary_fits_80x24() {
    let (mut c, v) = rekey_at_review();
    c.advance(Intent::RekeyGo);
    c.advance(Intent::RequestAbort);
    c.advance(Intent::ConfirmAbort);
    for i in 0..2 {
        c.advance(Intent::Touch);
        c.advance(Intent::SessionSigned { custodian: RosterIx(i), result: Ok(()) });
    }
    assert_eq!(*c.phase(), Phase::Summary);
    let s = draw(&c, &v);
    assert!(s.contains("< journal.jsonl"), "{s}");
    insta::assert_snapshot!(s);
}
