//! One key table per screen, as gitui keeps its key list: each row is a key, its label and what it
//! does. The dispatch (`App::on_key`), the hint line and the help screen all read [`table`], so
//! they cannot disagree; a row left off the hint line (Backspace, Home, End) is still on the help
//! screen. The first row that matches a key press acts.

use crate::core::ceremony::{
    Ceremony, Intent, KeyStage, Mode, NewKey, NotifyStatus, OffState, Phase, RekeyStage, RootStage, RotateStage, SignStage,
};
use crate::core::runbook::Rotate;
use crate::terminal::view::{View, reauth_pending, typing};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Which key presses a row answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// One key.
    Code(KeyCode),
    /// A letter, either case.
    Letter(char),
    /// ↑ or ↓.
    UpDown,
    /// ← or →.
    LeftRight,
    /// Tab, Shift-Tab, ↑ or ↓: from field to field.
    Field,
    /// 0 to 9.
    Digit,
    /// 1 to 9: a custodian checked in, or an action, by its number.
    Slot,
    /// Any printable character: a text field has the keys.
    Text,
    /// Ctrl-C.
    CtrlC,
}

impl Press {
    /// Whether the key press `k` is one of this row's.
    pub fn matches(self, k: &KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let ch = match k.code {
            KeyCode::Char(ch) if !ctrl => Some(ch),
            _ => None,
        };
        match self {
            Press::CtrlC => ctrl && k.code == KeyCode::Char('c'),
            Press::Code(KeyCode::Char(want)) => ch == Some(want),
            Press::Code(code) => !ctrl && k.code == code,
            Press::Letter(l) => ch.is_some_and(|c| c.to_ascii_lowercase() == l),
            Press::UpDown => matches!(k.code, KeyCode::Up | KeyCode::Down),
            Press::LeftRight => matches!(k.code, KeyCode::Left | KeyCode::Right),
            Press::Field => matches!(k.code, KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down),
            Press::Digit => ch.is_some_and(|c| c.is_ascii_digit()),
            Press::Slot => ch.is_some_and(|c| ('1'..='9').contains(&c)),
            Press::Text => ch.is_some_and(|c| !c.is_control()),
        }
    }
}

/// What a row does: the event loop performs it (`App::perform`).
#[derive(Debug, Clone, Copy)]
pub enum Do {
    /// Tells the ceremony this.
    Send(fn() -> Intent),
    /// Ctrl-C: abort (asked first), leave unsigned (asked first) or quit, by screen.
    Interrupt,
    /// Quits the finished screen.
    Quit,
    OpenHelp,
    CloseHelp,
    /// "Leave without every signature?": yes, no.
    Leave,
    Stay,
    /// A custodian confirms on their key, by the number of their check-in.
    Acknowledge,
    // The PIN field.
    PinDigit,
    PinErase,
    PinEnter,
    PinBack,
    // The list of keys to present.
    KeyCursor,
    Present,
    // The setup form.
    SetupField,
    AskMode,
    SwitchMode,
    KeepMode,
    Scenario,
    SetupType,
    SetupErase,
    Begin,
    // The offboarding checklist.
    ItemCursor,
    OffboardDo,
    // The closing checklist.
    ClosingCursor,
    ToggleClosing,
    ClosingNotDone,
    RotateUnrotated,
    // The runbook, its note and its list of secrets.
    StepCursor,
    Scroll,
    ToggleStep,
    NoteOpen,
    NoteType,
    NoteErase,
    NoteCancel,
    NoteSave,
    RevealOpen,
    RotateOpen,
    PickCursor,
    PickCancel,
    PickEnter,
    // A new secret value typed twice.
    SecretType,
    SecretErase,
    SecretCancel,
    SecretEnter,
    // A rotation.
    ShowValue,
    Generate,
    TypeValue,
    // Root tasks.
    AccountDigit,
    AccountErase,
    Task,
    Assume,
    ArgType,
    ArgErase,
    ArgRun,
    RootAct,
}

/// One row of a screen's key table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub press: Press,
    /// The key as the hint line and the help screen name it.
    pub key: &'static str,
    pub label: &'static str,
    pub act: Do,
    /// On the hint line; else on the help screen only.
    pub hint: bool,
}

/// A row on the hint line.
fn row(press: Press, key: &'static str, label: &'static str, act: Do) -> Row {
    Row { press, key, label, act, hint: true }
}

/// A row on the help screen only.
fn quiet(press: Press, key: &'static str, label: &'static str, act: Do) -> Row {
    Row { press, key, label, act, hint: false }
}

/// A row that tells the ceremony `intent`.
fn send(press: Press, key: &'static str, label: &'static str, intent: fn() -> Intent) -> Row {
    row(press, key, label, Do::Send(intent))
}

fn enter() -> Press {
    Press::Code(KeyCode::Enter)
}

fn esc() -> Press {
    Press::Code(KeyCode::Esc)
}

fn space() -> Press {
    Press::Code(KeyCode::Char(' '))
}

fn backspace(act: Do) -> Row {
    quiet(Press::Code(KeyCode::Backspace), "Backspace", "erase", act)
}

fn abort() -> Row {
    row(Press::CtrlC, "Ctrl-C", "abort", Do::Interrupt)
}

/// The keys that act now, first match first: a question or overlay open over the screen, the PIN
/// of a key that came back, or the phase's screen; then the keys that act everywhere.
pub fn table(c: &Ceremony, v: &View) -> Vec<Row> {
    if c.confirm_abort() {
        return abort_question(c);
    }
    if v.confirm_leave {
        return vec![
            row(Press::Letter('y'), "y", "leave unsigned", Do::Leave),
            row(Press::Letter('n'), "n", "stay and sign", Do::Stay),
            quiet(esc(), "Esc", "stay", Do::Stay),
        ];
    }
    // Nothing acts behind the "terminal too small" screen but Ctrl-C: it says the ceremony waits.
    if v.too_small {
        return vec![interrupt(c, true)];
    }
    if v.help {
        return vec![
            row(Press::Code(KeyCode::Char('?')), "?", "close help", Do::CloseHelp),
            quiet(esc(), "Esc", "close help", Do::CloseHelp),
            quiet(Press::Code(KeyCode::F(1)), "F1", "close help", Do::CloseHelp),
            interrupt(c, false),
        ];
    }
    let mut rows = if reauth_pending(c).is_some() && !matches!(c.phase(), Phase::Summary | Phase::Halted(_)) {
        // A key came back: whatever screen is behind, its custodian types the PIN again first.
        let mut k = pin(v, false);
        k.push(abort());
        k
    } else {
        screen(c, v)
    };
    rows.push(interrupt(c, false));
    // F1 always opens help; `?` does outside text fields (in one, it is text). The summary's
    // hint line has room for its one key only.
    let hint = !matches!(c.phase(), Phase::Summary);
    if typing(c, v) {
        rows.push(Row { hint, ..row(Press::Code(KeyCode::F(1)), "F1", "help", Do::OpenHelp) });
    } else {
        rows.push(Row { hint, ..row(Press::Code(KeyCode::Char('?')), "?", "help", Do::OpenHelp) });
        rows.push(quiet(Press::Code(KeyCode::F(1)), "F1", "help", Do::OpenHelp));
    }
    rows
}

/// The keys of the screen itself, as on the hint line: (key, label).
pub fn hints(c: &Ceremony, v: &View) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = vec![];
    for r in table(c, v).iter().filter(|r| r.hint) {
        if !out.iter().any(|(k, _)| *k == r.key) {
            out.push((r.key, r.label));
        }
    }
    out
}

/// The phase's own screen rows and Ctrl-C, whatever question or overlay is open over it: what a
/// sentence drawn on that screen (under the overlay) may name.
fn under_overlays(c: &Ceremony, v: &View) -> Vec<Row> {
    let mut under = v.clone();
    under.help = false;
    under.confirm_leave = false;
    under.too_small = false;
    under.setup.confirm_mode = false;
    let mut rows = screen(c, &under);
    rows.push(interrupt(c, false));
    rows
}

/// The key that does `label` on the phase's screen, for a sentence of that screen that names it.
/// Empty when no row has that label (the screens test then finds the sentence without its key).
pub fn key(c: &Ceremony, v: &View, label: &str) -> &'static str {
    under_overlays(c, v).iter().find(|r| r.label == label).map_or("", |r| r.key)
}

/// The key that does `act` on the phase's screen (as [`key`], for a row whose label changes:
/// Space's "confirm" and "undo"); empty when none does.
pub(crate) fn key_doing(c: &Ceremony, v: &View, act: Do) -> &'static str {
    under_overlays(c, v).iter().find(|r| std::mem::discriminant(&r.act) == std::mem::discriminant(&act)).map_or("", |r| r.key)
}

/// Every key of the screen, for the help screen: (keys, label), the keys that do the same
/// thing together ("?/F1: help"), each key once.
pub fn all(c: &Ceremony, v: &View) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = vec![];
    let mut seen: Vec<&'static str> = vec![];
    for r in table(c, v) {
        if seen.contains(&r.key) {
            continue;
        }
        seen.push(r.key);
        match out.iter_mut().find(|(_, w)| *w == r.label) {
            Some((k, _)) => *k = format!("{k}/{}", r.key),
            None => out.push((r.key.to_string(), r.label)),
        }
    }
    out
}

/// Ctrl-C, by screen: quit the finished screen, leave unsigned (asked first) once the session is
/// closed, else abort (asked first). On the hint line only where the screen shows it.
fn interrupt(c: &Ceremony, hint: bool) -> Row {
    let label = match c.phase() {
        Phase::Summary | Phase::Halted(_) => "quit",
        Phase::Setup => "quit",
        Phase::Sign { .. } if c.outcome().is_some() => "leave unsigned",
        _ => "abort",
    };
    Row { press: Press::CtrlC, key: "Ctrl-C", label, act: Do::Interrupt, hint }
}

/// "Abort the ceremony?" (or, at setup, "leave?"): y or n.
fn abort_question(c: &Ceremony) -> Vec<Row> {
    let (yes, no) = if matches!(c.phase(), Phase::Setup) { ("leave", "stay") } else { ("abort the ceremony", "keep going") };
    vec![
        send(Press::Letter('y'), "y", yes, || Intent::ConfirmAbort),
        send(Press::Letter('n'), "n", no, || Intent::CancelAbort),
        quiet(esc(), "Esc", no, Do::Send(|| Intent::CancelAbort)),
    ]
}

/// The screen the phase shows (no question, help or PIN asked over it).
fn screen(c: &Ceremony, v: &View) -> Vec<Row> {
    match c.phase() {
        Phase::Setup => setup(c, v),
        Phase::Rekey(stage) => rekey(c, v, stage),
        Phase::Offboard => offboard(c),
        Phase::CheckIn(KeyStage::AwaitKey) => key_list(v),
        Phase::CheckIn(KeyStage::AwaitPin { .. }) => pin(v, true),
        Phase::CheckIn(KeyStage::AwaitTouch { .. }) => touch(c),
        Phase::Notify { status: NotifyStatus::Failed { .. }, .. } => vec![
            send(Press::Letter('r'), "r", "retry", || Intent::RetryNotice),
            row(Press::Slot, slot_keys(c), "acknowledge", Do::Acknowledge),
            abort(),
        ],
        Phase::Unseal { failed: Some(_) } => vec![send(Press::Letter('r'), "r", "retry", || Intent::RetryUnseal), abort()],
        Phase::Account { failed: Some(_) } => vec![
            send(Press::Letter('r'), "r", "retry", || Intent::RetryAccount),
            send(Press::Letter('o'), "o", "go on without AWS", || Intent::SkipAws),
            abort(),
        ],
        _ if v.secret_entry.is_some() => secret_entry(v),
        Phase::Runbook => runbook(c, v),
        Phase::Closing => closing(c, v),
        Phase::Rotate(stage) => rotate(c, stage),
        Phase::Root(stage) => root(c, v, stage),
        Phase::Sign { stage: SignStage::AwaitTouch | SignStage::Failed(_), .. } => {
            vec![send(enter(), "Enter", "sign", || Intent::Touch), interrupt(c, true)]
        }
        // A deliberate key only: an Enter pressed twice on the last signature must not skip the
        // summary and its words for paper.
        Phase::Summary | Phase::Halted(_) => vec![row(Press::Letter('q'), "q", "quit", Do::Quit)],
        _ => vec![abort()],
    }
}

/// The setup form, or its "switch mode?" question.
fn setup(c: &Ceremony, v: &View) -> Vec<Row> {
    let f = &v.setup;
    if f.confirm_mode {
        let (yes, no) = if f.mode == Mode::Incident { ("switch to DRILL", "keep INCIDENT") } else { ("switch to INCIDENT", "keep DRILL") };
        return vec![
            row(Press::Letter('y'), "y", yes, Do::SwitchMode),
            row(Press::Letter('n'), "n", no, Do::KeepMode),
            quiet(esc(), "Esc", no, Do::KeepMode),
        ];
    }
    let mut k = vec![row(Press::Field, "Tab/↑↓", "field", Do::SetupField)];
    // A rekey's mode is fixed by the command that started it, a recovery's by the session it closes.
    let fixed = c.rekey().is_some() || c.offboard().is_some() || c.recovering().is_some();
    match f.field {
        0 if !fixed => k.push(row(Press::LeftRight, "←/→", "mode", Do::AskMode)),
        1 | 2 => k.extend([quiet(Press::Text, "type", "text", Do::SetupType), backspace(Do::SetupErase)]),
        3 => k.push(row(Press::LeftRight, "←/→", "scenario", Do::Scenario)),
        _ => {}
    }
    k.push(row(enter(), "Enter", "start", Do::Begin));
    k.push(row(Press::CtrlC, "Ctrl-C", "quit", Do::Interrupt));
    k
}

/// A rekey's screens.
fn rekey(c: &Ceremony, v: &View, stage: &RekeyStage) -> Vec<Row> {
    match stage {
        RekeyStage::Review => vec![send(enter(), "Enter", "go on", || Intent::RekeyGo), abort()],
        RekeyStage::Failed(_) => vec![send(Press::Letter('r'), "r", "retry", || Intent::RekeyGo), abort()],
        RekeyStage::Newcomer { key: NewKey::AwaitKey, .. } => key_list(v),
        RekeyStage::Newcomer { key: NewKey::AwaitPin { .. }, .. } => pin(v, true),
        RekeyStage::Newcomer { key: NewKey::AwaitTouch, .. } => touch(c),
        RekeyStage::Sign { working: false, .. } => vec![send(enter(), "Enter", touch_label(c), || Intent::Touch), abort()],
        _ => vec![abort()],
    }
}

/// An offboarding's checklist. Unlike the runbook's, an item done is done for good (it is an
/// act, not a tick): the hint says so. While a change waits for the confirmations on the keys,
/// only they (and Esc, which cancels it) act: one key, one meaning.
fn offboard(c: &Ceremony) -> Vec<Row> {
    let o = c.offboard().as_ref();
    if o.is_some_and(|o| o.awaiting_confirmation()) {
        vec![row(Press::Slot, slot_keys(c), "confirm on key", Do::Acknowledge), send(esc(), "Esc", "cancel", || Intent::Back), abort()]
    } else if o.is_some_and(|o| o.items.iter().any(|x| matches!(x.state, OffState::Confirming { .. }))) {
        // A confirmation is being signed: nothing else acts until it lands.
        vec![abort()]
    } else {
        vec![
            row(Press::UpDown, "↑/↓", "item", Do::ItemCursor),
            row(space(), "Space", "do it (final)", Do::OffboardDo),
            send(enter(), "Enter", "finish", || Intent::OffboardFinish),
            abort(),
        ]
    }
}

/// The list of keys a custodian (or a rekey's newcomer) presents from. While a key is being read,
/// digits typed ahead are kept for the PIN prompt.
fn key_list(v: &View) -> Vec<Row> {
    let mut k = vec![];
    if v.presenting {
        k.push(quiet(Press::Digit, "digits", "PIN, typed ahead", Do::PinDigit));
    }
    k.push(row(Press::UpDown, "↑/↓", "choose key", Do::KeyCursor));
    if !v.presenting {
        k.push(row(enter(), "Enter", "present it", Do::Present));
    }
    k.push(abort());
    k
}

/// The PIN field: digits only (a stray command key must never cost a PIN try), Enter once one
/// is typed, and Esc where there is a screen to go back to.
fn pin(v: &View, esc_goes_back: bool) -> Vec<Row> {
    let mut k = vec![row(Press::Digit, "digits", "PIN", Do::PinDigit), backspace(Do::PinErase)];
    if v.pin_len > 0 {
        k.push(row(enter(), "Enter", "confirm", Do::PinEnter));
    }
    if esc_goes_back {
        k.push(row(esc(), "Esc", "back", Do::PinBack));
        k.push(abort());
    }
    k
}

/// Where a key signs: Enter, then the touch; Esc goes back.
fn touch(c: &Ceremony) -> Vec<Row> {
    vec![send(enter(), "Enter", touch_label(c), || Intent::Touch), send(esc(), "Esc", "back", || Intent::Back), abort()]
}

/// What Enter does where a key signs: in the DEMO it stands in for the touch.
fn touch_label(c: &Ceremony) -> &'static str {
    if c.info().demo { "touch (DEMO)" } else { "sign, then touch the key" }
}

/// The keys that pick a custodian who checked in: one digit per check-in slot.
pub(crate) fn slot_keys(c: &Ceremony) -> &'static str {
    match c.checked().len() {
        0..=2 => "1/2",
        3 => "1/2/3",
        4 => "1-4",
        5 => "1-5",
        _ => "1-9",
    }
}

/// A new secret value typed twice (masked).
fn secret_entry(v: &View) -> Vec<Row> {
    let mut k = vec![quiet(Press::Text, "type", "the value", Do::SecretType), backspace(Do::SecretErase)];
    if v.secret_entry.as_ref().is_some_and(|e| !e.buf.is_empty()) {
        let again = v.secret_entry.as_ref().is_some_and(|e| e.first.is_some());
        k.push(row(enter(), "Enter", if again { "confirm" } else { "type it again" }, Do::SecretEnter));
    }
    k.push(row(esc(), "Esc", "cancel", Do::SecretCancel));
    k
}

/// The runbook, with a note or the list of secrets open, or not.
fn runbook(c: &Ceremony, v: &View) -> Vec<Row> {
    if v.note.is_some() {
        return vec![
            quiet(Press::Text, "type", "the note", Do::NoteType),
            backspace(Do::NoteErase),
            row(enter(), "Enter", "save note", Do::NoteSave),
            row(esc(), "Esc", "cancel", Do::NoteCancel),
        ];
    }
    if v.reveal_pick.is_some() {
        return vec![
            row(Press::UpDown, "↑/↓", "choose", Do::PickCursor),
            row(enter(), "Enter", if v.rotate_pick { "rotate" } else { "reveal" }, Do::PickEnter),
            row(esc(), "Esc", "cancel", Do::PickCancel),
        ];
    }
    let steps = c.done().len();
    let done = c.done().get(v.step_cursor).copied().unwrap_or(false);
    let mut k = vec![row(Press::UpDown, "↑↓", "step", Do::StepCursor)];
    if steps > 0 {
        k.push(row(space(), "Space", if done { "undo" } else { "done" }, Do::ToggleStep));
    }
    k.push(row(Press::Letter('n'), "n", "note", Do::NoteOpen));
    // A secret is revealed, or rotated, by choosing it from a list that says which step needs it.
    if c.runbook().as_ref().is_some_and(|rb| !rb.secrets.is_empty()) {
        k.push(row(Press::Letter('r'), "r", "reveal…", Do::RevealOpen));
        k.push(row(Press::Letter('o'), "o", "rotate…", Do::RotateOpen));
    }
    if c.revealed().iter().any(|r| *r) {
        k.push(send(Press::Letter('h'), "h", "hide", || Intent::HideSecrets));
    }
    // Root tasks need AWS: without it the key is neither offered nor hinted.
    if c.info().aws {
        k.push(send(Press::Letter('t'), "t", "root task", || Intent::OpenRoot));
    }
    k.extend([
        row(Press::Code(KeyCode::PageDown), "PgDn", "scroll", Do::Scroll),
        quiet(Press::Code(KeyCode::PageUp), "PgUp", "scroll up", Do::Scroll),
        quiet(Press::Code(KeyCode::Home), "Home", "top", Do::Scroll),
        quiet(Press::Code(KeyCode::End), "End", "bottom", Do::Scroll),
        send(enter(), "Enter", "close", || Intent::FinishRunbook),
    ]);
    k
}

/// The closing checklist. Space toggles, as in the runbook: the hint says which way.
fn closing(c: &Ceremony, v: &View) -> Vec<Row> {
    let done = c.closing().get(v.closing_cursor).copied().unwrap_or(false);
    let mut k = vec![
        row(Press::UpDown, "↑/↓", "item", Do::ClosingCursor),
        row(space(), "Space", if done { "undo" } else { "confirm" }, Do::ToggleClosing),
        row(Press::Letter('x'), "x", "not done", Do::ClosingNotDone),
    ];
    if !c.unrotated().is_empty() && c.runbook().is_some() {
        k.push(row(Press::Letter('o'), "o", "rotate", Do::RotateUnrotated));
    }
    k.push(send(enter(), "Enter", "release root", || Intent::ConfirmClose));
    // After an abort there is no way back to the runbook.
    if c.closing_for().is_none() {
        k.push(send(esc(), "Esc", "runbook", || Intent::Back));
    }
    k
}

/// A secret's rotation, stage by stage.
fn rotate(c: &Ceremony, stage: &RotateStage) -> Vec<Row> {
    let r = c.rotation().as_ref();
    let show = row(Press::Letter('v'), "v", if r.is_some_and(|r| r.shown) { "hide" } else { "show" }, Do::ShowValue);
    match stage {
        RotateStage::Value => {
            let mut k = vec![show, send(enter(), "Enter", "seal it", || Intent::RotateGo)];
            if r.is_some_and(|r| matches!(r.how, Rotate::Generate { .. })) {
                k.push(row(Press::Letter('g'), "g", "another", Do::Generate));
            }
            if r.is_some_and(|r| r.how == Rotate::Typed) {
                k.push(row(Press::Letter('t'), "t", "type again", Do::TypeValue));
            }
            k.push(send(esc(), "Esc", "leave", || Intent::Back));
            k
        }
        RotateStage::SetIt => vec![
            show,
            row(Press::Slot, slot_keys(c), "it took: confirm on key", Do::Acknowledge),
            send(Press::Letter('x'), "x", "it did not take", || Intent::RotateAbandon),
        ],
        RotateStage::OutOfBand => {
            vec![row(Press::Slot, slot_keys(c), "confirm on key", Do::Acknowledge), send(esc(), "Esc", "not yet", || Intent::Back)]
        }
        RotateStage::Failed(_) => {
            vec![send(Press::Letter('r'), "r", "retry", || Intent::RotateGo), send(esc(), "Esc", "leave", || Intent::Back), abort()]
        }
        RotateStage::Staging | RotateStage::Committing => vec![abort()],
    }
}

/// A root task's screens. Esc ends the root session from any of them.
fn root(c: &Ceremony, v: &View, stage: &RootStage) -> Vec<Row> {
    let end = send(esc(), "Esc", "end root session", || Intent::CloseRoot);
    match stage {
        RootStage::Pick => vec![
            row(Press::Digit, "digits", "account", Do::AccountDigit),
            backspace(Do::AccountErase),
            row(Press::LeftRight, "←/→", "task", Do::Task),
            row(enter(), "Enter", "assume", Do::Assume),
            send(esc(), "Esc", "runbook", || Intent::CloseRoot),
            abort(),
        ],
        // The one action of an unlock task takes a bucket or queue name: type it, then Enter.
        RootStage::Ready if c.root().as_ref().is_some_and(|r| r.task.needs_arg()) => {
            let mut k = vec![row(Press::Text, "type", "name", Do::ArgType), backspace(Do::ArgErase)];
            if !v.root_arg.trim().is_empty() {
                k.push(row(enter(), "Enter", "run", Do::ArgRun));
            }
            k.extend([end, abort()]);
            k
        }
        RootStage::Ready => {
            vec![
                row(Press::Slot, "1-9", "action", Do::RootAct),
                send(Press::Letter('a'), "a", "re-assume", || Intent::ReAssume),
                end,
                abort(),
            ]
        }
        RootStage::Confirm { .. } => vec![
            row(Press::Slot, slot_keys(c), "confirm on key", Do::Acknowledge),
            send(Press::Letter('c'), "c", "cancel", || Intent::CancelRootAction),
            end,
            abort(),
        ],
        RootStage::Expired => vec![send(Press::Letter('a'), "a", "re-assume", || Intent::ReAssume), end, abort()],
        _ => vec![end, abort()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    /// A press matches its keys only: a letter either case, never with Ctrl; text is printable.
    #[test]
    fn presses_match_their_keys_only() {
        assert!(Press::Letter('y').matches(&key(KeyCode::Char('Y'))));
        assert!(!Press::Letter('y').matches(&KeyEvent::new(KeyCode::Char('y'), KeyModifiers::CONTROL)));
        assert!(Press::CtrlC.matches(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!Press::CtrlC.matches(&key(KeyCode::Char('c'))));
        assert!(Press::Slot.matches(&key(KeyCode::Char('9'))) && !Press::Slot.matches(&key(KeyCode::Char('0'))));
        assert!(Press::Digit.matches(&key(KeyCode::Char('0'))) && !Press::Digit.matches(&key(KeyCode::Char('a'))));
        assert!(Press::Text.matches(&key(KeyCode::Char('?'))) && !Press::Text.matches(&key(KeyCode::Enter)));
        assert!(Press::Field.matches(&key(KeyCode::BackTab)) && !Press::UpDown.matches(&key(KeyCode::Tab)));
        assert!(Press::Code(KeyCode::Char(' ')).matches(&key(KeyCode::Char(' '))));
    }
}
