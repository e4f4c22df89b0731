//! What the ceremony tells the custodians under the instruction: a refusal (what went wrong) or
//! a piece of information (what happened), as data. The terminal puts it into words
//! (`terminal::words`); tests assert on the variant, not on a sentence.

use super::{Mode, SlotIx};
use crate::core::key::TokenError;
use crate::core::notice::Phase as NoticePhase;

/// One message for the custodians.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    // Setup.
    /// The reason is empty.
    ReasonMissing,
    /// This ceremony was planned for another mode (`planned`); `asked` is refused.
    WrongMode {
        asked: Mode,
        planned: Mode,
    },
    /// A drill scenario in a real ceremony.
    ScenarioDrillOnly {
        scenario: String,
    },
    /// A scenario the roster cannot play (too few custodians, an unknown id).
    ScenarioDoesNotFit {
        scenario: String,
    },
    /// The custodians chose to go on without AWS.
    GoingOnWithoutAws,

    // Check-in.
    /// A DEMO key in a real ceremony (`demo_key`), or a hardware key in the DEMO.
    KeyKindMismatch {
        serial: u32,
        demo_key: bool,
    },
    NotOnRoster {
        serial: u32,
    },
    /// The key's owner already checked in; the custodian of slot `slot` must use their own.
    AlreadyCheckedIn {
        serial: u32,
        owner: String,
        slot: SlotIx,
    },
    AttestationRefused {
        serial: u32,
        id: String,
        why: String,
    },
    NotAttested {
        serial: u32,
    },
    /// The drill scenario keeps this custodian out.
    ScenarioKeyMissing {
        id: String,
    },
    /// The drill scenario wants the spare pair: the usual pair is `usual`.
    ScenarioSparePair {
        usual: (String, String),
    },
    PinBlocked {
        id: String,
    },
    /// One PIN try left: it is never spent here.
    LastPinTry {
        id: String,
    },
    /// The key could not be read.
    KeyError {
        serial: u32,
        error: TokenError,
    },
    FactoryPin {
        id: String,
    },
    PinAccepted {
        id: String,
    },
    /// A wrong PIN left one try, which is not spent here.
    WrongPinLastTry {
        retries_left: u8,
    },
    WrongPin {
        retries_left: u8,
    },
    /// The PIN check failed for another reason.
    Token(TokenError),
    CheckedIn {
        name: String,
        id: String,
    },
    /// A recovery's check-in: verified, and written (with the recovery) once `more` others have
    /// checked in.
    CheckedInRecoveryHeld {
        name: String,
        id: String,
        more: usize,
    },
    ChallengeNotSigned {
        id: String,
        error: String,
    },

    // A key removed and back.
    Paused {
        id: String,
        serial: u32,
    },
    /// No key can be seen while PC/SC is down.
    PausedNoReader,
    KeyBack {
        id: String,
    },
    /// A checked-in key was taken out while a rekey's newcomer proves theirs (two USB ports).
    KeyAwayWhileNewcomerSigns {
        id: String,
        serial: u32,
    },
    /// A key came back while a newcomer signs: its PIN is asked before its custodian signs.
    KeyBackLater {
        id: String,
    },
    KeyBackUnlocked {
        id: String,
    },
    /// The PIN entered again after the key came back was refused.
    ReauthFailed {
        id: String,
        error: TokenError,
    },

    // Notices.
    AcknowledgedGoingOn,
    /// "Root in use" went out.
    InUseSent {
        channel: String,
        message_id: String,
    },
    AckNotSigned {
        error: String,
    },
    NoticeFinallySent {
        phase: NoticePhase,
    },

    // Recovery, abort.
    AlreadyClosed,
    /// The journal grew while the custodians signed (a key came back, a notice's outcome): the
    /// signatures made so far no longer cover it, so everyone signs again from the first.
    SignAgain,
    RecoveryClosed(RecoveryNotice),
    AbortedBeforeCheckIn,
    AbortedBeforeRootInUse,
    AbortedReleasing,
    /// Aborted after root was in use: the closing checklist comes first.
    AbortedCloseFirst,
    /// A recovery of a session that had root in use: the closing checklist comes first.
    RecoveryCloseFirst,

    // The runbook and the close.
    StepsNotChecked {
        open: usize,
    },
    /// Closing item `item` (from 1) first.
    ConfirmClosingFirst {
        item: usize,
    },

    // Root tasks.
    RootNeedsAws,
    NotAnAccountId {
        target: String,
    },
    DrillReadOnlyTask {
        policy: String,
    },
    RootOpen {
        duration_s: u64,
    },
    RootFailed {
        error: String,
    },
    ActionNotAllowed {
        action: String,
        policy: String,
    },
    DrillNothingDestructive,
    ConfirmDestructive {
        action: String,
    },
    NotConfirmed {
        error: String,
    },
    /// A rotation's new sealing is staged (a drill's on its copy): set the value, then confirm.
    RotationStaged {
        drill: bool,
    },
    /// The new value did not take: the staging was thrown away, the old value stands.
    RotationAbandoned,
    /// The secret was rotated (and, but for one rotated out of band, sealed back).
    Rotated {
        drill: bool,
    },
    RootDone {
        summary: String,
    },
    RootExpired,

    // Rekey.
    RekeyQuorumShort {
        version: u32,
        needs: usize,
        can: usize,
    },
    RekeySigned {
        id: String,
        version: u32,
    },
    RekeySignFailed {
        id: String,
        error: String,
    },
    /// A file the step needs could not be written (disk full, a size limit, read-only): nothing
    /// was lost, and the same step can be tried again once there is room.
    NotWritten {
        error: String,
    },
    RekeyRehearsed {
        version: u32,
    },
    RekeyInUse {
        version: u32,
    },
    NewcomerKeyKind {
        serial: u32,
        demo_key: bool,
        demo_session: bool,
    },
    NotNewcomersKey {
        serial: u32,
        id: String,
        expected: u32,
    },
    EnterPin {
        id: String,
    },
    NewcomerPinLow {
        id: String,
    },
    NewcomerFactoryPin {
        id: String,
    },
    NewcomerPinAccepted {
        id: String,
        version: u32,
    },
    NewcomerTokenError {
        error: TokenError,
    },
    NewcomerSigned {
        name: String,
        id: String,
        version: u32,
    },
    NewcomerSignFailed {
        id: String,
        error: String,
    },

    /// A key is signing a confirmation: nothing else changes until it answers (so its signature
    /// can only be over what its holder was shown).
    SignatureUnderWay,
    // Offboarding.
    WorkDownChecklist,
    OffboardRosterChanged,
    /// Item `item` (from 1) is under way.
    ItemUnderWay {
        item: usize,
    },
    ItemDone {
        item: usize,
    },
    /// Every custodian confirms item `item` on their key, with one of `keys`.
    ConfirmItem {
        item: usize,
        keys: Vec<String>,
    },
    ItemFailed {
        item: usize,
        error: String,
    },
    /// Items not done: Enter again finishes anyway.
    ItemsNotDone {
        open: Vec<usize>,
    },
    OffboardDone,
    OffboardNotDone {
        open: Vec<usize>,
    },
}

impl Say {
    /// A message that reports something important (the team was told, a version is in use, a
    /// secret was rotated, what an abort does next): it stays until another important message or
    /// a refusal replaces it; a passing message never does.
    pub(crate) fn lasts(&self) -> bool {
        matches!(
            self,
            Say::GoingOnWithoutAws
                | Say::AcknowledgedGoingOn
                | Say::NoticeFinallySent { .. }
                | Say::RecoveryClosed(_)
                | Say::AbortedReleasing
                | Say::AbortedCloseFirst
                | Say::RecoveryCloseFirst
                | Say::RotationAbandoned
                | Say::Rotated { .. }
                | Say::RekeyRehearsed { .. }
                | Say::RekeyInUse { .. }
        )
    }

    /// A drill scenario's refusal in words: what the custodians are told and what the journal
    /// records (`custodian.refused`), so the two never differ. `None` for other messages.
    pub(crate) fn scenario_words(&self) -> Option<String> {
        match self {
            Say::ScenarioKeyMissing { id } => {
                Some(format!("DRILL scenario: {id}'s key is declared missing. Another custodian steps in with their own key."))
            }
            Say::ScenarioSparePair { usual: (a, b) } => Some(format!(
                "DRILL scenario: {a} and {b} are the usual pair; a spare custodian steps in so the spare pair's runbook file is proven to open."
            )),
            _ => None,
        }
    }
}

/// How a recovery ends, for the message that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryNotice {
    /// "Root released" goes out now.
    Releasing,
    /// It had already gone out.
    AlreadyReleased,
    /// Root was never announced.
    NeverAnnounced,
}
