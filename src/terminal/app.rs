//! The terminal event loop: one loop waits on key presses, effect results and a tick, updates
//! the ceremony, then draws. Slow work (tokens, notices, the journal's fsync) runs on a worker
//! thread that owns the session runner; results come back as messages, so the screen never
//! waits on a key or the network.

use crate::adapters::session::Runner;
use crate::core::ceremony::{Ceremony, Effect, Intent, KeyStage, Mode, NewKey, Phase, RekeyStage, Scenario, SlotIx};
use crate::core::clock::Clock;
use crate::terminal::keys::{self, Do};
use crate::terminal::ui;
use crate::terminal::view::{KeyListing, View};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind};
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Restores the terminal before a panic message is printed (the message never holds a secret:
/// secrets live in `secrecy` types whose Debug output is redacted).
pub(crate) fn install_panic_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        ratatui::restore();
        prev(info);
    }));
}

/// What the screen may show: the ceremony as of the last moment when every journal entry it
/// asked for was written and fsynced. A revealed secret, an unsealed runbook or a ticked step
/// therefore appears only after its line is on disk; if the write fails, the screen moves
/// straight to the halted state (with every secret masked) and never shows the unrecorded step.
pub struct ScreenGate {
    shown: Ceremony,
    /// Journal entries sent to the runner and not yet confirmed.
    pending: usize,
}

impl ScreenGate {
    pub fn new(c: &Ceremony) -> Self {
        Self { shown: c.clone(), pending: 0 }
    }
    /// Effects are on their way to the runner.
    pub fn sent(&mut self, effects: &[Effect]) {
        self.pending += effects.iter().filter(|e| matches!(e, Effect::Journal { .. })).count();
    }
    /// A result came back from the runner (before it is applied to the ceremony).
    pub fn result(&mut self, i: &Intent) {
        match i {
            Intent::Journaled(_) => self.pending = self.pending.saturating_sub(1),
            // The runner drops the effects after a failed write: nothing else will confirm.
            Intent::JournalFailed(_) => self.pending = 0,
            _ => {}
        }
    }
    /// The ceremony changed: show it if nothing it shows is still unrecorded.
    pub fn update(&mut self, c: &Ceremony) {
        if self.pending == 0 {
            self.shown = c.clone();
        }
    }
    pub fn shown(&self) -> &Ceremony {
        &self.shown
    }
}

/// SIGTERM, SIGHUP (the terminal was closed) and SIGINT from outside (inside the TUI Ctrl-C is a
/// key, asked about first).
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            term: signal(SignalKind::terminate()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The first stop signal to arrive, by name.
async fn stop_signal(s: &mut Signals) -> &'static str {
    tokio::select! {
        () = recv(&mut s.term) => "SIGTERM",
        () = recv(&mut s.hup) => "SIGHUP",
        () = recv(&mut s.int) => "SIGINT",
    }
}

/// Work for the runner's thread.
enum Job {
    Effects(Vec<Effect>),
    Present(u32),
    /// Look for problems worth a warning at setup (may call out to AWS).
    Warnings,
    /// Which keys are inserted now.
    Scan,
    /// Push the co-signed bundle to the evidence archive.
    Archive(Archiver),
}

/// What the loop waits on.
enum Msg {
    Key(KeyEvent),
    Resize,
    Intent(Intent),
    Warning(String),
    Keys(Result<Vec<(u32, String)>, String>),
    Archived(Result<String, String>),
}

/// The interactive part of the app: the ceremony, the view, the PIN being typed.
pub struct App {
    pub c: Ceremony,
    pub v: View,
    pin: Zeroizing<String>,
    pub quit: bool,
    /// Width of the runbook pane, for scrolling to a step.
    pub width: usize,
    /// The signal that stopped the TUI, if one did.
    pub stopped_by: Option<String>,
}

/// What handling a key asks the loop to do.
pub enum Action {
    None,
    Intent(Intent),
    Present(u32),
}

/// A cursor moved one row up or down a list of `n`, staying inside it.
fn step(cursor: usize, up: bool, n: usize) -> usize {
    if up { cursor.saturating_sub(1) } else { (cursor + 1).min(n.saturating_sub(1)) }
}

impl App {
    pub fn new(c: Ceremony, v: View) -> Self {
        Self { c, v, pin: Zeroizing::new(String::new()), quit: false, width: 56, stopped_by: None }
    }

    /// Maps a key press to an action: the first row of the screen's key table (`keys::table`)
    /// that the press matches acts; a key in no row does nothing.
    pub fn on_key(&mut self, k: KeyEvent) -> Action {
        if k.kind == KeyEventKind::Release {
            return Action::None;
        }
        match keys::table(&self.c, &self.v).into_iter().find(|r| r.press.matches(&k)) {
            Some(r) => self.perform(r.act, k),
            None => Action::None,
        }
    }

    /// Does what a key table's row says, with the key pressed.
    fn perform(&mut self, act: Do, k: KeyEvent) -> Action {
        let ch = match k.code {
            KeyCode::Char(ch) => Some(ch),
            _ => None,
        };
        let up = matches!(k.code, KeyCode::Up | KeyCode::Left | KeyCode::BackTab);
        // The digit of a custodian (or an action) by number: 1 is the first.
        let slot = ch.and_then(|c| c.to_digit(10)).map_or(0, |d| (d as usize).saturating_sub(1));
        match act {
            Do::Send(intent) => return Action::Intent(intent()),
            Do::Acknowledge => return Action::Intent(Intent::Acknowledge { who: SlotIx(slot) }),
            Do::Interrupt => return self.interrupt(),
            Do::Quit | Do::Leave => self.quit = true,
            Do::Stay => self.v.confirm_leave = false,
            Do::OpenHelp => self.v.help = true,
            Do::CloseHelp => self.v.help = false,
            Do::PinDigit | Do::PinErase | Do::PinEnter | Do::PinBack => return self.on_pin(act, ch),
            Do::KeyCursor => self.v.key_cursor = step(self.v.key_cursor, up, self.v.keys.len()),
            Do::Present => {
                return self.v.keys.get(self.v.key_cursor).map_or(Action::None, |key| {
                    self.v.presenting = true;
                    Action::Present(key.serial)
                });
            }
            Do::SetupField | Do::AskMode | Do::SwitchMode | Do::KeepMode | Do::Scenario | Do::SetupType | Do::SetupErase | Do::Begin => {
                return self.on_setup(act, up, ch);
            }
            Do::ItemCursor => {
                let n = self.c.offboard().as_ref().map_or(0, |o| o.items.len());
                self.v.step_cursor = step(self.v.step_cursor, up, n);
            }
            Do::OffboardDo => return Action::Intent(Intent::OffboardDo(self.v.step_cursor)),
            Do::ClosingCursor => self.v.closing_cursor = step(self.v.closing_cursor, up, crate::core::ceremony::CLOSING.len()),
            Do::ToggleClosing => return Action::Intent(Intent::ToggleClosing(self.v.closing_cursor)),
            Do::ClosingNotDone => return Action::Intent(Intent::ClosingNotDone(self.v.closing_cursor)),
            Do::RotateUnrotated => return self.c.unrotated().first().copied().map_or(Action::None, |i| self.rotate(i)),
            Do::StepCursor | Do::Scroll | Do::ToggleStep | Do::NoteOpen | Do::RevealOpen | Do::RotateOpen => {
                return self.on_runbook(act, k.code, up);
            }
            Do::NoteType | Do::NoteErase | Do::NoteCancel | Do::NoteSave => return self.on_note(act, ch),
            Do::PickCursor | Do::PickCancel | Do::PickEnter => return self.on_pick(act, up),
            Do::SecretType | Do::SecretErase | Do::SecretCancel | Do::SecretEnter => return self.on_secret_entry(act, ch),
            Do::ShowValue | Do::Generate | Do::TypeValue => return self.on_rotate(act),
            Do::AccountDigit | Do::AccountErase | Do::Task | Do::Assume | Do::ArgType | Do::ArgErase | Do::ArgRun | Do::RootAct => {
                return self.on_root(act, up, ch, slot);
            }
        }
        Action::None
    }

    /// Ctrl-C: quits a finished screen; once the session is closed and waits for signatures, the
    /// way out is leaving unsigned, asked first; else an abort, asked first.
    fn interrupt(&mut self) -> Action {
        if matches!(self.c.phase(), Phase::Summary | Phase::Halted(_)) {
            self.quit = true;
            return Action::None;
        }
        if matches!(self.c.phase(), Phase::Sign { .. }) && self.c.outcome().is_some() {
            self.v.confirm_leave = true;
            return Action::None;
        }
        Action::Intent(Intent::RequestAbort)
    }

    /// The PIN field: digits (at most 8), Backspace, Enter, Esc back.
    fn on_pin(&mut self, act: Do, ch: Option<char>) -> Action {
        let mut out = Action::None;
        match act {
            Do::PinDigit => {
                if let Some(d) = ch.filter(|_| self.pin.len() < 8) {
                    self.pin.push(d);
                }
            }
            Do::PinErase => {
                self.pin.pop();
            }
            Do::PinEnter if !self.pin.is_empty() => {
                out = Action::Intent(Intent::PinEntered(SecretString::from(self.pin.as_str().to_string())));
                self.pin.clear();
            }
            Do::PinBack => {
                self.pin.clear();
                out = Action::Intent(Intent::Back);
            }
            _ => {}
        }
        self.v.pin_len = self.pin.len();
        out
    }

    /// The setup form and its "switch mode?" question.
    fn on_setup(&mut self, act: Do, up: bool, ch: Option<char>) -> Action {
        let scenarios = Scenario::all(self.c.roster().as_slice());
        let f = &mut self.v.setup;
        let fields = if f.mode == Mode::Drill { 4 } else { 3 };
        let text = match f.field {
            1 => Some((&mut f.reason, 200)),
            2 => Some((&mut f.ticket, 60)),
            _ => None,
        };
        match act {
            Do::SetupField => f.field = if up { (f.field + fields - 1) % fields } else { (f.field + 1) % fields },
            Do::AskMode => f.confirm_mode = true,
            Do::SwitchMode => {
                f.confirm_mode = false;
                f.mode = if f.mode == Mode::Incident { Mode::Drill } else { Mode::Incident };
                if f.mode == Mode::Incident {
                    f.scenario = 0;
                }
            }
            Do::KeepMode => f.confirm_mode = false,
            Do::Scenario => {
                f.scenario = if up { (f.scenario + scenarios.len() - 1) % scenarios.len() } else { (f.scenario + 1) % scenarios.len() }
            }
            Do::SetupType => {
                if let (Some((field, max)), Some(ch)) = (text, ch)
                    && field.len() < max
                {
                    field.push(ch);
                }
                // An error about the form goes away as soon as the custodian edits it.
                return Action::Intent(Intent::SetupEdited);
            }
            Do::SetupErase => {
                if let Some((field, _)) = text {
                    field.pop();
                }
                return Action::Intent(Intent::SetupEdited);
            }
            Do::Begin => {
                if f.reason.trim().is_empty() {
                    // The core refuses and says why; the cursor goes where the fix is typed.
                    f.field = 1;
                }
                let scenario =
                    if f.mode == Mode::Drill { scenarios.get(f.scenario).cloned().unwrap_or_default() } else { Scenario::Standard };
                return Action::Intent(Intent::Begin { mode: f.mode, reason: f.reason.clone(), ticket: Some(f.ticket.clone()), scenario });
            }
            _ => {}
        }
        Action::None
    }

    /// The runbook's own keys: the step cursor, scrolling, ticking, and opening a note or the list
    /// of secrets (which says which step needs each).
    fn on_runbook(&mut self, act: Do, code: KeyCode, up: bool) -> Action {
        let steps = self.c.done().len();
        match act {
            Do::StepCursor => {
                self.v.step_cursor = step(self.v.step_cursor, up, steps);
                self.follow_cursor();
            }
            Do::Scroll => {
                let rows = ui::runbook_rows(&self.c, &self.v, self.width);
                self.v.scroll = match code {
                    KeyCode::PageDown => (self.v.scroll + 10).min(rows.saturating_sub(10)),
                    KeyCode::End => rows.saturating_sub(10),
                    KeyCode::PageUp => self.v.scroll.saturating_sub(10),
                    _ => 0,
                };
            }
            Do::ToggleStep => return Action::Intent(Intent::ToggleStep(self.v.step_cursor)),
            Do::NoteOpen => self.v.note = Some(String::new()),
            Do::RevealOpen | Do::RotateOpen => {
                self.v.rotate_pick = matches!(act, Do::RotateOpen);
                self.v.reveal_pick = ui::secret_for_step(&self.c, self.v.step_cursor);
            }
            _ => {}
        }
        Action::None
    }

    /// A note on the current step being typed.
    fn on_note(&mut self, act: Do, ch: Option<char>) -> Action {
        let Some(note) = &mut self.v.note else { return Action::None };
        match act {
            Do::NoteType => {
                if let Some(ch) = ch.filter(|_| note.len() < 300) {
                    note.push(ch);
                }
            }
            Do::NoteErase => {
                note.pop();
            }
            Do::NoteCancel => self.v.note = None,
            Do::NoteSave => {
                let text = self.v.note.take().unwrap_or_default();
                return Action::Intent(Intent::Note { step: Some(self.v.step_cursor), text });
            }
            _ => {}
        }
        Action::None
    }

    /// The list of secrets, to reveal one or to rotate one.
    fn on_pick(&mut self, act: Do, up: bool) -> Action {
        let Some(cur) = self.v.reveal_pick else { return Action::None };
        let n = self.c.runbook().as_ref().map_or(0, |rb| rb.secrets.len());
        match act {
            Do::PickCursor => self.v.reveal_pick = Some(step(cur, up, n)),
            Do::PickCancel => self.v.reveal_pick = None,
            Do::PickEnter if self.v.rotate_pick => {
                self.v.reveal_pick = None;
                self.v.rotate_pick = false;
                return self.rotate(cur);
            }
            Do::PickEnter => {
                self.v.reveal_pick = None;
                // Shown where the custodians look: the pane scrolls to the secret.
                if let Some(at) = ui::secret_position(&self.c, &self.v, self.width, cur) {
                    self.v.scroll = at.saturating_sub(2);
                }
                if !self.c.revealed().get(cur).copied().unwrap_or(true) {
                    return Action::Intent(Intent::Reveal(cur));
                }
            }
            _ => {}
        }
        Action::None
    }

    /// A root task: the member account and the task, a bucket or queue name, an action by number.
    fn on_root(&mut self, act: Do, up: bool, ch: Option<char>, slot: usize) -> Action {
        use crate::core::root::TASKS;
        match act {
            Do::AccountDigit => {
                if let Some(d) = ch.filter(|_| self.v.root_target.len() < 12) {
                    self.v.root_target.push(d);
                }
            }
            Do::AccountErase => {
                self.v.root_target.pop();
            }
            Do::Task => {
                self.v.root_task =
                    if up { (self.v.root_task + TASKS.len() - 1) % TASKS.len() } else { (self.v.root_task + 1) % TASKS.len() }
            }
            Do::Assume => {
                return Action::Intent(Intent::AssumeRoot {
                    target: self.v.root_target.clone(),
                    task: TASKS[self.v.root_task % TASKS.len()],
                });
            }
            Do::ArgType => {
                if let Some(ch) = ch.filter(|_| self.v.root_arg.len() < 300) {
                    self.v.root_arg.push(ch);
                }
            }
            Do::ArgErase => {
                self.v.root_arg.pop();
            }
            Do::ArgRun | Do::RootAct => {
                let i = if matches!(act, Do::ArgRun) { 0 } else { slot };
                return ui::root_actions(&self.c, &self.v).get(i).cloned().map_or(Action::None, |a| Action::Intent(Intent::RootAct(a)));
            }
            _ => {}
        }
        Action::None
    }

    /// Starts rotating secret `i` the way its runbook block says: a value drawn here (the
    /// ceremony has no randomness of its own), typed twice, or rotated out of band.
    fn rotate(&mut self, i: usize) -> Action {
        let Some(how) = self.c.runbook().as_ref().and_then(|rb| rb.secrets.get(i)).map(|s| s.rotate) else { return Action::None };
        match how {
            crate::core::runbook::Rotate::Generate { length, alphabet } => Action::Intent(Intent::Rotate {
                secret: i,
                value: Some(crate::core::runbook::generate(length, alphabet, &mut rand::rngs::OsRng)),
            }),
            crate::core::runbook::Rotate::OutOfBand => Action::Intent(Intent::Rotate { secret: i, value: None }),
            crate::core::runbook::Rotate::Typed => {
                self.v.secret_entry = Some(crate::terminal::view::SecretEntry { secret: i, ..Default::default() });
                Action::None
            }
        }
    }

    /// A new value typed twice (masked): the second must match the first.
    fn on_secret_entry(&mut self, act: Do, ch: Option<char>) -> Action {
        let Some(e) = self.v.secret_entry.as_mut() else { return Action::None };
        match act {
            Do::SecretType => {
                if let Some(ch) = ch.filter(|_| e.buf.len() < 256) {
                    e.buf.push(ch);
                    e.mismatch = false;
                }
            }
            Do::SecretErase => {
                e.buf.pop();
            }
            Do::SecretCancel => self.v.secret_entry = None,
            Do::SecretEnter if !e.buf.is_empty() => match e.first.take() {
                None => e.first = Some(std::mem::take(&mut e.buf)),
                Some(first) if *first == *e.buf => {
                    let secret = e.secret;
                    let value = secrecy::SecretString::from(first.to_string());
                    self.v.secret_entry = None;
                    if matches!(self.c.phase(), Phase::Rotate(_)) {
                        return Action::Intent(Intent::RotateValue(value));
                    }
                    return Action::Intent(Intent::Rotate { secret, value: Some(value) });
                }
                Some(_) => {
                    e.buf = Default::default();
                    e.mismatch = true;
                }
            },
            _ => {}
        }
        Action::None
    }

    /// A rotation's value: shown or hidden, drawn again, or typed again.
    fn on_rotate(&mut self, act: Do) -> Action {
        let Some(r) = self.c.rotation().as_ref() else { return Action::None };
        let (secret, shown, how) = (r.secret, r.shown, r.how);
        match (act, how) {
            (Do::ShowValue, _) => Action::Intent(if shown { Intent::Hide(secret) } else { Intent::Reveal(secret) }),
            (Do::Generate, crate::core::runbook::Rotate::Generate { length, alphabet }) => {
                Action::Intent(Intent::RotateValue(crate::core::runbook::generate(length, alphabet, &mut rand::rngs::OsRng)))
            }
            (Do::TypeValue, crate::core::runbook::Rotate::Typed) => {
                self.v.secret_entry = Some(crate::terminal::view::SecretEntry { secret, ..Default::default() });
                Action::None
            }
            _ => Action::None,
        }
    }

    /// Applies an intent to the ceremony; returns the effects for the runner.
    pub fn apply(&mut self, i: Intent) -> Vec<Effect> {
        if matches!(i, Intent::KeySeen { .. }) {
            self.v.presenting = false;
        }
        let before = self.c.checked().len();
        let began = matches!(i, Intent::Begin { .. });
        let was_newcomer = matches!(self.c.phase(), Phase::Rekey(RekeyStage::Newcomer { .. }));
        let signed = matches!(i, Intent::RekeySigned { .. });
        // A key that may not be used again now (its last PIN try is never spent, or its PIN is
        // blocked): the cursor leaves it, so Enter does not present it again.
        let spent = match &i {
            Intent::KeySeen { serial, retries: Ok(0 | 1), .. } => Some(*serial),
            Intent::PinChecked { serial, result: Err(crate::adapters::token::TokenError::WrongPin { retries_left }) }
                if *retries_left <= 1 =>
            {
                Some(*serial)
            }
            _ => None,
        };
        let fx = self.c.advance(i);
        if let Some(serial) = spent
            && matches!(self.c.phase(), Phase::CheckIn(KeyStage::AwaitKey))
            && self.v.keys.get(self.v.key_cursor).is_some_and(|k| k.serial == serial)
            && let Some(i) = self.v.keys.iter().position(|k| k.serial != serial && !self.c.checked().iter().any(|c| c.serial == k.serial))
        {
            self.v.key_cursor = i;
        }
        // A drill that declares a key missing starts the cursor on a key that can be used.
        if began
            && let crate::core::ceremony::Scenario::KeyMissing(id) = &self.c.scenario()
            && let Some(serial) = self.c.roster().iter().find(|p| &p.id == id).map(|p| p.serial)
            && self.v.keys.get(self.v.key_cursor).is_some_and(|k| k.serial == serial)
            && let Some(i) = self.v.keys.iter().position(|k| k.serial != serial)
        {
            self.v.key_cursor = i;
        }
        // A rekey's newcomer: the cursor starts on the key the new roster names for them.
        if let Phase::Rekey(RekeyStage::Newcomer { n, key: NewKey::AwaitKey }) = &self.c.phase()
            && (!was_newcomer || signed)
            && let Some(serial) = self.c.rekey().as_ref().and_then(|k| k.added.get(*n)).map(|p| p.serial)
            && let Some(at) = self.v.keys.iter().position(|k| k.serial == serial)
        {
            self.v.key_cursor = at;
        }
        if matches!(self.c.phase(), Phase::CheckIn(KeyStage::AwaitKey)) {
            if !self.v.presenting {
                self.pin.clear();
                self.v.pin_len = 0;
            }
            // Right after a check-in, point at a key that has not checked in yet. Only then: the
            // cursor never moves by itself under a custodian's eyes (a tick must not change which
            // key Enter presents).
            let missing = match &self.c.scenario() {
                crate::core::ceremony::Scenario::KeyMissing(id) if self.c.mode() == Mode::Drill => {
                    self.c.roster().iter().find(|p| &p.id == id).map(|p| p.serial)
                }
                _ => None,
            };
            let taken = |s: u32| self.c.checked().iter().any(|k| k.serial == s) || missing == Some(s);
            if self.c.checked().len() > before
                && self.v.keys.get(self.v.key_cursor).is_some_and(|k| taken(k.serial))
                && let Some(i) = self.v.keys.iter().position(|k| !taken(k.serial))
            {
                self.v.key_cursor = i;
            }
        }
        fx
    }

    /// Keeps the current step on screen, with a little context above it.
    pub(crate) fn follow_cursor(&mut self) {
        if let Some(&at) = ui::step_positions(&self.c, &self.v, self.width).get(self.v.step_cursor)
            && (at < self.v.scroll + 2 || at > self.v.scroll + 10)
        {
            self.v.scroll = at.saturating_sub(4);
        }
    }
}

/// A ceremony that had to stop (its journal could not be written): says why and how to close
/// it, and gives the exit code (1) the TUI gives too.
pub fn halted(why: &str, dir: &std::path::Path) -> i32 {
    let recorded = std::fs::metadata(dir.join(crate::core::journal::FILE_NAME)).is_ok_and(|m| m.len() > 0);
    errln!("{}", crate::terminal::words::halted(why, recorded));
    if recorded {
        errln!("Once the disk has room, close the session (root may still be announced as in use): breakglass recover {}", dir.display());
    }
    1
}

/// What the ceremony starts with: from the command line and the drill history.
pub struct Start {
    pub mode: Mode,
    pub reason: Option<String>,
    pub scenario: Scenario,
    /// "last valid drill 97 days ago (interval 90)" when drills are overdue.
    pub overdue: Option<String>,
    /// Time to runbook of earlier valid drills, oldest first, in seconds.
    pub previous: Vec<f64>,
    /// Warnings for the setup screen (interrupted sessions, for example).
    pub warnings: Vec<String>,
    /// Pushes the signed bundle to the evidence archive (when one is configured): run once the
    /// summary is reached, beside the screen; `Ok` and `Err` are the lines to show.
    pub archiver: Option<Archiver>,
}

impl Start {
    /// A start with no drill history, no warnings and no archive (rekeys, offboardings, demos).
    pub fn plain(mode: Mode, reason: Option<String>) -> Self {
        Self { mode, reason, scenario: Scenario::Standard, overdue: None, previous: vec![], warnings: vec![], archiver: None }
    }
}

/// Pushes a session directory to the evidence archive; the result is what the summary says.
pub(crate) type Archiver = Box<dyn FnOnce(&std::path::Path) -> Result<String, String> + Send>;

/// Runs the interactive ceremony until it is done or the custodians leave.
pub fn run(c: Ceremony, runner: Runner, clock: Arc<dyn Clock>, start: Start) -> anyhow::Result<i32> {
    // Only the TUI owns the terminal, so only the TUI restores it on a panic.
    install_panic_hook();
    let keys: Vec<KeyListing> = runner.tokens.iter().map(|t| t.info()).map(|i| KeyListing { serial: i.serial, model: i.model }).collect();
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut v = View::new(start.mode, start.reason.unwrap_or_default(), keys, color);
    v.setup.scenario = Scenario::all(c.roster().as_slice()).iter().position(|s| *s == start.scenario).unwrap_or(0);
    v.overdue = start.overdue;
    v.previous = start.previous;
    v.warnings.extend(start.warnings);
    if c.info().demo {
        // The newcomers of a DEMO rekey too: a DEMO PIN guessed costs a try.
        let newcomers = c.rekey().as_ref().map(|k| k.added.clone()).unwrap_or_default();
        v.demo_pins =
            c.roster().iter().chain(newcomers.iter()).map(|p| (p.id.clone(), crate::core::roster::demo_pin(&p.id).to_string())).collect();
    }
    let dir = runner.dir.clone();
    v.session_dir = Some(dir.display().to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut terminal = ratatui::try_init()?;
    let result = rt.block_on(event_loop(&mut terminal, App::new(c, v), runner, clock, start.archiver));
    ratatui::restore();
    let app = result?;
    match &app.c.phase() {
        Phase::Summary => {
            let c = &app.c;
            outln!("Session recorded in {}", dir.display());
            match &app.v.archive {
                Some(crate::terminal::view::ArchiveView::Done(m)) => outln!("{m}"),
                Some(crate::terminal::view::ArchiveView::Failed(m)) => errln!("{m}"),
                Some(crate::terminal::view::ArchiveView::Pushing) => {
                    errln!("The archive push was still running when the program ended: `breakglass archive push` finishes it.")
                }
                None => {}
            }
            if let Some(w) = &c.last() {
                outln!("Chain head at entry #{}: {}  ({}…)", w.seq, crate::core::notice::head_words(&w.head), &hex::encode(w.head)[..16]);
            }
            outln!("Signed by: {}", if c.signed().is_empty() { "nobody".to_string() } else { c.signed().join(", ") });
            outln!("Verify: breakglass verify {}", dir.display());
            Ok(0)
        }
        Phase::Quit if app.c.recovering().is_some() => {
            // Nothing was written (a recovery writes only once a quorum is back): the session is
            // as interrupted as before, and the exit code says so.
            errln!(
                "Left before a quorum checked in: nothing was written, and the session in {} is still interrupted. Run `breakglass recover {}` again with enough custodians.",
                dir.display(),
                dir.display()
            );
            Ok(3)
        }
        Phase::Quit => {
            outln!("Left before starting; nothing was recorded.");
            Ok(0)
        }
        Phase::Halted(why) => Ok(halted(why, &dir)),
        _ => {
            if let (Some(sig), Some(crate::core::ceremony::Outcome::Closed)) = (&app.stopped_by, &app.c.outcome()) {
                errln!(
                    "Stopped by {sig} while signing: the session in {} was closed and is recorded, but unsigned: sign it with `breakglass recover {}`.",
                    dir.display(),
                    dir.display()
                );
            } else if let Some(sig) = &app.stopped_by {
                errln!(
                    "Stopped by {sig}: recorded as aborted in {} (\"root released\" sent if root had been announced). It is unsigned: close it with `breakglass recover {}`.",
                    dir.display(),
                    dir.display()
                );
            } else if dir.exists() {
                errln!(
                    "Left mid-ceremony. What happened so far is in {} (verify reports it as incomplete); close it with `breakglass recover {}`.",
                    dir.display(),
                    dir.display()
                );
            }
            Ok(3)
        }
    }
}

/// Key presses: a thread blocked on the terminal, sending each key (and resize) as a message.
fn read_keys(ktx: mpsc::UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Resize(..)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => break,
            };
            if ktx.send(msg).is_err() {
                break;
            }
        }
    });
}

/// The runner: a thread that owns the tokens, the journal and the broadcaster, and does the jobs
/// it is given in order, sending back what came of them.
fn run_jobs(mut runner: Runner, jrx: std_mpsc::Receiver<Job>, rtx: mpsc::UnboundedSender<Msg>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while let Ok(job) = jrx.recv() {
            match job {
                Job::Present(serial) => {
                    if let Some(i) = runner.attest(serial) {
                        let _ = rtx.send(Msg::Intent(i));
                    }
                    let _ = rtx.send(Msg::Intent(runner.present(serial)));
                }
                Job::Scan => {
                    let _ = rtx.send(Msg::Keys(runner.scan()));
                }
                Job::Archive(push) => {
                    // Queued behind the effects that wrote the bundle's last files.
                    let _ = rtx.send(Msg::Archived(push(&runner.dir)));
                }
                Job::Warnings => {
                    if let Some(w) = runner.topic_warning() {
                        let _ = rtx.send(Msg::Warning(w));
                    }
                }
                Job::Effects(effects) => {
                    runner.run_batch(effects, |r| {
                        let _ = rtx.send(Msg::Intent(r));
                    });
                }
            }
        }
    })
}

/// Applies `i` and hands its effects to the runner (the gate holds the screen until what they
/// journal is written).
fn dispatch(app: &mut App, gate: &mut ScreenGate, jtx: &std_mpsc::Sender<Job>, i: Intent) {
    let effects = app.apply(i);
    if !effects.is_empty() {
        gate.sent(&effects);
        let _ = jtx.send(Job::Effects(effects));
    }
}

/// What a message from the keys, the runner or the terminal asks of the loop.
fn action_of(app: &mut App, msg: Msg, gate: &mut ScreenGate, scanning: &mut bool, terminal: &ratatui::DefaultTerminal) -> Action {
    match msg {
        Msg::Key(k) => app.on_key(k),
        Msg::Resize => {
            // Keep the step in hand on screen at the new width.
            if let Ok(size) = terminal.size() {
                app.width = ui::runbook_width(ratatui::layout::Rect::new(0, 0, size.width, size.height));
                app.follow_cursor();
            }
            Action::None
        }
        Msg::Intent(i) => {
            gate.result(&i);
            Action::Intent(i)
        }
        Msg::Archived(r) => {
            app.v.archive = Some(match r {
                Ok(m) => crate::terminal::view::ArchiveView::Done(m),
                Err(m) => crate::terminal::view::ArchiveView::Failed(m),
            });
            Action::None
        }
        Msg::Warning(w) => {
            if !app.v.warnings.contains(&w) {
                app.v.warnings.push(w);
            }
            Action::None
        }
        Msg::Keys(Ok(keys)) => {
            *scanning = false;
            app.v.scan_error = None;
            app.v.keys = keys.iter().map(|(serial, model)| KeyListing { serial: *serial, model: model.clone() }).collect();
            Action::Intent(Intent::KeysPresent(keys.iter().map(|(s, _)| *s).collect()))
        }
        Msg::Keys(Err(e)) => {
            // PC/SC trouble is shown where the keys would be; the scan goes on. Keys that cannot
            // be seen are treated as removed: the ceremony pauses.
            *scanning = false;
            app.v.scan_error = Some(e.clone());
            Action::Intent(Intent::KeysUnreachable(e))
        }
    }
}

/// What a key (or a key's presentation) asks for: handed to the ceremony, or to the runner.
fn act(app: &mut App, gate: &mut ScreenGate, jtx: &std_mpsc::Sender<Job>, action: Action) {
    match action {
        Action::None => {}
        Action::Present(serial) => match crate::adapters::session::already_checked_in(&app.c, serial) {
            // The ceremony refuses it; the card, whose PIN session is in use, is left alone.
            Some(i) => dispatch(app, gate, jtx, i),
            None => {
                let _ = jtx.send(Job::Present(serial));
            }
        },
        Action::Intent(i) => dispatch(app, gate, jtx, i),
    }
}

/// Stopping (a signal, a closed window): done unless a notice is under way, and then at the
/// deadline (a failed notice will not be retried).
fn stopped(app: &App, deadline: std::time::Instant) -> bool {
    !matches!(app.c.phase(), Phase::Notify { status: crate::core::ceremony::NotifyStatus::Sending, .. })
        || std::time::Instant::now() > deadline
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    runner: Runner,
    clock: Arc<dyn Clock>,
    mut archiver: Option<Archiver>,
) -> anyhow::Result<App> {
    let hardware = !app.c.info().demo;
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    read_keys(tx.clone());
    let (jtx, jrx) = std_mpsc::channel::<Job>();
    let worker = run_jobs(runner, jrx, tx.clone());
    let _ = jtx.send(Job::Warnings);
    let mut scanning = false;
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut gate = ScreenGate::new(&app.c);
    let mut signals = Signals::new();
    let mut stop_by: Option<std::time::Instant> = None;
    // The terminal went away (a closed window: writes fail before or without SIGHUP): the loop
    // goes on without drawing, so what was started is finished and journalled.
    let mut headless = false;
    loop {
        gate.update(&app.c);
        // Co-signed: the bundle goes to the evidence archive, beside the screen (never in its way).
        if matches!(app.c.phase(), Phase::Summary)
            && let Some(push) = archiver.take()
        {
            app.v.archive = Some(crate::terminal::view::ArchiveView::Pushing);
            let _ = jtx.send(Job::Archive(push));
        }
        let drawn = headless
            || terminal
                .draw(|f| {
                    app.width = ui::runbook_width(f.area());
                    app.v.too_small = f.area().width < ui::MIN_SIZE.0 || f.area().height < ui::MIN_SIZE.1;
                    ui::render(f, gate.shown(), &app.v, clock.now());
                })
                .is_ok();
        if !drawn {
            headless = true;
            if stop_by.is_none() {
                // As SIGHUP would: record the abort, send the release notice, wait for its outcome.
                app.stopped_by = Some("SIGHUP".to_string());
                dispatch(&mut app, &mut gate, &jtx, Intent::Signal("SIGHUP".to_string()));
                stop_by = Some(std::time::Instant::now() + Duration::from_secs(20));
            }
        }
        if app.quit || matches!(app.c.phase(), Phase::Quit) {
            break;
        }
        if stop_by.is_some_and(|deadline| stopped(&app, deadline)) {
            break;
        }
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let action = match msg {
                    // Stopping: no more keys, only results.
                    Msg::Key(_) if stop_by.is_some() => Action::None,
                    msg => action_of(&mut app, msg, &mut gate, &mut scanning, terminal),
                };
                act(&mut app, &mut gate, &jtx, action);
            }
            name = stop_signal(&mut signals) => {
                // Terminal closed or told to stop: record the abort and send the release notice
                // (the runner finishes both before the process leaves); signatures come later
                // with `breakglass recover`.
                app.stopped_by = Some(name.to_string());
                dispatch(&mut app, &mut gate, &jtx, Intent::Signal(name.to_string()));
                // Wait (bounded) for the release notice's outcome to be journalled, then leave.
                stop_by = Some(std::time::Instant::now() + Duration::from_secs(20));
            }
            _ = tick.tick() => {
                app.v.tick += 1;
                if hardware && !scanning {
                    scanning = true;
                    let _ = jtx.send(Job::Scan);
                }
                if app.v.tick.is_multiple_of(4) {
                    dispatch(&mut app, &mut gate, &jtx, Intent::Tick { now_s: started.elapsed().as_secs() });
                }
            }
        }
    }
    drop(jtx);
    // Let the runner finish what it was given (journal lines, signatures) before leaving.
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    Ok(app)
}
