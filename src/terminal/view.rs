//! The view state of the ceremony's screen: what is being typed, where each cursor is, which
//! question or overlay is open. The screens (`ui`) draw from it and the ceremony; the key tables
//! (`keys`) read it to say which keys act; the event loop (`app`) changes it.

use crate::core::ceremony::{Ceremony, Mode, Phase, RootStage, SlotIx};

/// A key the UI lists at check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    pub serial: u32,
    pub model: String,
}

/// What the setup form holds.
#[derive(Debug, Clone)]
pub struct SetupForm {
    pub mode: Mode,
    pub reason: String,
    pub ticket: String,
    /// 0 mode, 1 reason, 2 ticket, 3 scenario (drills only).
    pub field: usize,
    /// Index into `Scenario::all(roster)`.
    pub scenario: usize,
    /// ←/→ on the mode asks first: an incident sent as a [DRILL] notice (or the reverse) is
    /// read the wrong way by the team.
    pub confirm_mode: bool,
}

/// Whether a text field has the keys: then every printable character is text (`?` too), and
/// help is F1.
pub fn typing(c: &Ceremony, v: &View) -> bool {
    if v.secret_entry.is_some() {
        return true;
    }
    match c.phase() {
        Phase::Setup => !v.setup.confirm_mode && matches!(v.setup.field, 1 | 2),
        Phase::Runbook => v.note.is_some() || v.secret_entry.is_some(),
        Phase::Root(RootStage::Ready) => c.root().as_ref().is_some_and(|r| r.task.needs_arg()),
        _ => false,
    }
}

/// View state: what is being typed and where the cursor is. Never a secret in clear: the PIN is
/// kept only as its length here (the digits go straight into a `SecretString`).
#[derive(Debug, Clone)]
pub struct View {
    pub setup: SetupForm,
    pub keys: Vec<KeyListing>,
    pub key_cursor: usize,
    pub pin_len: usize,
    pub step_cursor: usize,
    pub scroll: usize,
    pub note: Option<String>,
    /// The "reveal a secret" list is open, with its cursor.
    pub reveal_pick: Option<usize>,
    /// The list is for rotating a secret, not revealing one.
    pub rotate_pick: bool,
    /// A new value being typed (twice) for a `rotate=typed` secret.
    pub secret_entry: Option<SecretEntry>,
    /// "Leave without every signature?" is being asked (the sign screen's way out).
    pub confirm_leave: bool,
    pub closing_cursor: usize,
    pub help: bool,
    pub color: bool,
    pub tick: u64,
    /// Demo PIN hints, by custodian id (only in the DEMO).
    pub demo_pins: Vec<(String, String)>,
    /// Where the session bundle is written.
    pub session_dir: Option<String>,
    /// Shown at setup when drills are overdue.
    pub overdue: Option<String>,
    /// Time to runbook of earlier valid drills (seconds, oldest first).
    pub previous: Vec<f64>,
    /// Warnings found at start (e.g. a notice topic nobody is subscribed to).
    pub warnings: Vec<String>,
    /// Why no key can be seen (PC/SC not running, ...), from the last scan.
    pub scan_error: Option<String>,
    /// Root tasks: the member account being typed, the chosen task, a bucket or queue name.
    pub root_target: String,
    pub root_task: usize,
    pub root_arg: String,
    /// The evidence archive's push of this bundle (summary screen), when an archive is configured.
    pub archive: Option<ArchiveView>,
    /// A key was presented at check-in and its answer has not come back yet.
    pub presenting: bool,
    /// The terminal is below the smallest size: nothing but Ctrl-C acts.
    pub too_small: bool,
}

/// A new secret value being typed twice. Debug shows only lengths; the text is zeroized.
#[derive(Clone, Default)]
pub struct SecretEntry {
    pub secret: usize,
    pub first: Option<zeroize::Zeroizing<String>>,
    pub buf: zeroize::Zeroizing<String>,
    pub mismatch: bool,
}

impl std::fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretEntry {{ secret: {}, typed: {} chars, again: {} }}", self.secret, self.buf.chars().count(), self.first.is_some())
    }
}

/// Where this session's bundle stands with the evidence archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveView {
    Pushing,
    Done(String),
    Failed(String),
}

impl View {
    pub fn new(mode: Mode, reason: String, keys: Vec<KeyListing>, color: bool) -> Self {
        Self {
            setup: SetupForm { mode, reason, ticket: String::new(), field: 1, scenario: 0, confirm_mode: false },
            keys,
            key_cursor: 0,
            pin_len: 0,
            step_cursor: 0,
            scroll: 0,
            note: None,
            reveal_pick: None,
            rotate_pick: false,
            secret_entry: None,
            confirm_leave: false,
            closing_cursor: 0,
            help: false,
            color,
            tick: 0,
            demo_pins: vec![],
            session_dir: None,
            overdue: None,
            previous: vec![],
            warnings: vec![],
            scan_error: None,
            root_target: String::new(),
            root_task: 0,
            root_arg: String::new(),
            archive: None,
            presenting: false,
            too_small: false,
        }
    }
}

/// A checked-in key came back: its custodian types the PIN again here, on whatever screen the
/// ceremony paused, typed like the check-in PIN (digits only, the last try never spent).
pub(crate) fn reauth_pending(c: &Ceremony) -> Option<SlotIx> {
    c.reauth().first().copied().filter(|_| c.removed().is_empty() && !c.keys_may_be_away())
}
