//! The ceremony: a pure state machine, `advance(state, intent) -> effects`.
//!
//! No I/O, no clock, no randomness: those come in through intents (a key's nonce, a journal
//! entry's time). This is the only place where the ceremony's step changes. Everything that must
//! be recorded leaves as an [`Effect::Journal`] *before* the effect that acts on it, and the
//! session runner appends and fsyncs it before running anything after it.
//!
//! Dual control does not rest on this code alone: the runbook only opens with two custodians'
//! keys (nested age layers), and the session log is only valid with two custodians' signatures.
//! This machine makes the honest path clear; cryptography makes the dishonest one fail.

mod ix;
pub use ix::{Idx, IxVec, RosterIx, SlotIx};
mod say;
pub use say::{RecoveryNotice, Say};
mod account;
mod checkin;
mod close;
mod notify;
mod offboard;
mod rekey;
mod root;
mod rotate;
mod setup;
mod steps;
pub use account::AccountProblem;
use account::AccountState;
use checkin::Keys;
pub use checkin::{AttestInfo, CheckedIn, KeyStage};
use close::Closing;
pub use close::{CLOSING, SignStage};
use notify::Notices;
pub use notify::{NoticeHash, NotifyStatus};
pub use offboard::{OffItem, OffState, Offboard};
pub use rekey::{NewKey, Rekey, RekeyStage, rekey_rail};
pub use root::{RootCtx, RootStage};
pub use rotate::{RotateStage, Rotation};
use steps::Book;
mod failed;
pub use failed::Failed;

use crate::core::journal::{
    ActivityEvent, AttestationNote, Entry, Labels, OffboardOpened, PostureChange, PostureCheck, RekeyOpened, Written, kind,
};
use crate::core::key::TokenError;
use crate::core::notice::{Delivery, Notice, Phase as NoticePhase};
use crate::core::root::{Action as RootAction, Audit, Call, Task};
use crate::core::runbook::Runbook;
use secrecy::SecretString;
use std::sync::Arc;

pub use crate::core::mode::Mode;

/// What a drill rehearses on purpose (chosen at setup, journalled in `session.opened`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scenario {
    /// The whole ceremony as an incident would run it.
    #[default]
    Standard,
    /// The notice channel is down: the custodians rehearse going on with a signed acknowledgement.
    NoticeDown,
    /// This custodian's key is declared missing: a third custodian steps in.
    KeyMissing(String),
    /// The usual pair (the roster's first two custodians) may not open the runbook together:
    /// a spare pair proves its sealed file still opens.
    SparePair,
}

impl Scenario {
    /// The scenario's name as the command line and the journal write it.
    pub fn name(&self) -> String {
        match self {
            Scenario::Standard => "standard".into(),
            Scenario::NoticeDown => "notice-down".into(),
            Scenario::KeyMissing(id) => format!("key-missing:{id}"),
            Scenario::SparePair => "spare-pair".into(),
        }
    }

    /// Parses `standard`, `notice-down`, `key-missing:<id>` or `spare-pair`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "standard" => Ok(Scenario::Standard),
            "notice-down" => Ok(Scenario::NoticeDown),
            "spare-pair" => Ok(Scenario::SparePair),
            _ => match s.strip_prefix("key-missing:") {
                Some(id) if !id.is_empty() => Ok(Scenario::KeyMissing(id.to_string())),
                _ => Err(format!("unknown drill scenario `{s}`: use standard, notice-down, key-missing:<custodian id> or spare-pair")),
            },
        }
    }

    /// One sentence for the setup screen.
    pub fn describe(&self) -> String {
        match self {
            Scenario::Standard => "the whole ceremony, as in an incident".into(),
            Scenario::NoticeDown => "the notice channel is down: rehearse the signed acknowledgement".into(),
            Scenario::KeyMissing(id) => format!("{id}'s key is missing: a third custodian steps in"),
            Scenario::SparePair => "the usual pair sits out: a spare pair opens the runbook".into(),
        }
    }

    /// [`Scenario::describe`] on this roster, naming who is concerned: the usual pair is the first
    /// `quorum` custodians in roster order.
    pub fn describe_on(&self, roster: &[Person], quorum: usize) -> String {
        let usual: Vec<&str> = roster.iter().take(quorum).map(|p| p.id.as_str()).collect();
        match self {
            Scenario::KeyMissing(id) if !usual.contains(&id.as_str()) => {
                format!("{id}'s key is missing: the usual pair ({}) checks in without it", usual.join(" and "))
            }
            Scenario::KeyMissing(id) => format!("{id}'s key is missing: another custodian steps in"),
            Scenario::SparePair => {
                let pair: Vec<&str> = roster.iter().take(2).map(|p| p.id.as_str()).collect();
                let spare: Vec<&str> = roster.iter().skip(2).map(|p| p.id.as_str()).collect();
                format!(
                    "the usual pair ({}) may not both check in: a pair with {} opens the runbook",
                    pair.join(" and "),
                    spare.join(" or ")
                )
            }
            other => other.describe(),
        }
    }

    /// Every scenario a drill can choose on this roster.
    pub fn all(roster: &[Person]) -> Vec<Scenario> {
        let mut v = vec![Scenario::Standard, Scenario::NoticeDown];
        v.extend(roster.iter().map(|p| Scenario::KeyMissing(p.id.clone())));
        if roster.len() > 2 {
            v.push(Scenario::SparePair);
        }
        v
    }
}

/// A custodian as the ceremony knows them (from the trusted roster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub serial: u32,
}

/// People as the ceremony knows them, from a roster.
pub fn people(roster: &crate::core::roster::Roster) -> Vec<Person> {
    roster.custodians.iter().map(|c| Person { id: c.id.clone(), name: c.name.clone(), serial: c.yubikey_serial }).collect()
}

/// Facts fixed before the ceremony starts, recorded in `session.opened`.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub session_id: String,
    pub demo: bool,
    pub host: String,
    pub tool_version: String,
    pub roster_sha256: String,
    pub runbook_sha256: String,
    pub account: Option<String>,
    pub quorum: usize,
    /// AWS is configured: the account is checked before anything touches it.
    pub aws: bool,
    /// Seconds between "root still in use" heartbeats (0: none).
    pub heartbeat_s: u64,
    /// PIV attestation roots trusted beside Yubico's (a rehearsal on virtual cards).
    pub rehearsal_roots: Vec<String>,
}

/// What the journal of an interrupted session says, read from the journal alone: how far it got,
/// and whether the team was told root was in use (then "root released" must follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Intact entries in the journal when it was recovered.
    pub entries: u64,
    /// The time of the last intact entry.
    pub last_ts: String,
    /// A partial last line cut off by the crash (hex of its bytes), kept in `session.recovered`.
    pub partial_tail: Option<String>,
    /// A "root in use" notice was sent or acknowledged before the interruption.
    pub announced: bool,
    /// The session had been closed or aborted; only the signatures were missing.
    pub closed: bool,
    /// It had been closed normally (`session.closed`), not aborted: the team is told "released".
    pub closed_normally: bool,
    /// The "root released" notice had gone out (or been acknowledged) already.
    pub released: bool,
    /// Runbook steps ticked (and not unticked) before the interruption.
    pub steps_done: u64,
    /// The interrupted session's mode: a recovery keeps it.
    pub mode: Mode,
    /// An interrupted rekey: the version it was making, and the roster found live once the
    /// interruption was settled (journalled as `rekey.settled`).
    pub rekey: Option<RekeySettled>,
    /// Notices the interrupted session was sending when it stopped (`notice.sending` with no
    /// outcome after it): they may have gone out; a resend says it may be a repeat.
    pub unsure: Vec<String>,
}

/// How an interrupted rekey ended on disk, as its recovery found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeySettled {
    pub new_roster_sha256: String,
    pub live_roster_sha256: String,
}

/// The ceremony's steps, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Setup,
    /// Checking which AWS account the credentials reach (sts:GetCallerIdentity).
    Account {
        failed: Option<AccountProblem>,
    },
    CheckIn(KeyStage),
    Notify {
        notice: NoticePhase,
        status: NotifyStatus,
    },
    Unseal {
        failed: Option<String>,
    },
    Runbook,
    /// Scoped root tasks on a member account (sts:AssumeRoot), opened from the runbook.
    Root(RootStage),
    /// A revealed secret rotated and sealed back (from the runbook or the closing checklist).
    Rotate(RotateStage),
    Closing,
    /// A rekey: the change reviewed, newcomers' keys, signatures on the new version, the swap.
    Rekey(RekeyStage),
    /// An offboarding's checklist (see [`Offboard`]).
    Offboard,
    /// Co-signing the journal: `who` indexes [`Ceremony::checked`].
    Sign {
        who: SlotIx,
        stage: SignStage,
    },
    Summary,
    /// The journal cannot be written: nothing may proceed.
    Halted(String),
    /// Left before anything was recorded.
    Quit,
}

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Closed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tone {
    Info,
    Refusal,
    Error,
}

/// The one message under the instruction: what went wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tone: Tone,
    /// What to say (the terminal puts it into words).
    pub say: Say,
}

/// The state of one ceremony.
#[derive(Debug, Clone)]
pub struct Ceremony {
    info: SessionInfo,
    roster: IxVec<RosterIx, Person>,
    mode: Mode,
    reason: String,
    ticket: Option<String>,
    phase: Phase,
    /// The custodians checked in, in the order they did.
    checked: IxVec<SlotIx, CheckedIn>,
    /// Check-in: attestations, and the keys that went away (checkin.rs).
    keys: Keys,
    /// The AWS account and its root posture (account.rs).
    account: AccountState,
    /// The notices: sent, acknowledged, retried in the background (notify.rs).
    notify: Notices,
    /// The runbook: steps, notes, secrets revealed and rotated (steps.rs).
    book: Book,
    /// The end: the closing checklist and the co-signatures (close.rs).
    close: Closing,
    /// The root session on a member account, if one was opened (root.rs).
    root: Option<RootCtx>,
    /// The change, when this ceremony is a rekey ([`Mode::Rekey`]) or removes a custodian (rekey.rs).
    rekey: Option<Rekey>,
    /// The checklist, when this ceremony is an offboarding ([`Mode::Offboard`], offboard.rs).
    offboard: Option<Offboard>,
    /// The secret rotation under way (rotate.rs).
    rotation: Option<Rotation>,
    /// Set when this ceremony closes an interrupted session (`breakglass recover`).
    recovering: Option<Recovery>,
    /// A recovery's journal entries, held until a quorum has checked in again (rule E15): a
    /// recovery started without keys writes nothing to the interrupted session. `None` once
    /// written (and in every other ceremony).
    held: Option<Vec<(Entry, Labels)>>,
    outcome: Option<Outcome>,
    last: Option<Written>,
    started_ts: Option<String>,
    message: Option<Message>,
    confirm_abort: bool,
    scenario: Scenario,
    /// Kind and time of every journal entry so far (for the drill's timings).
    times: Vec<(String, String)>,
    /// Seconds since the app started, from the last tick.
    now_s: u64,
}

/// Things the outside world tells the ceremony (people's actions and effect results).
#[derive(Debug)]
pub enum Intent {
    /// The custodians edited the setup form: a message about the form goes.
    SetupEdited,
    Begin {
        mode: Mode,
        reason: String,
        ticket: Option<String>,
        scenario: Scenario,
    },
    /// A key was presented: its serial, what it is, PIN tries left, and a fresh nonce for its challenge.
    KeySeen {
        serial: u32,
        model: String,
        demo: bool,
        retries: Result<u8, TokenError>,
        nonce: String,
    },
    /// Put the key back / choose another key.
    Back,
    PinEntered(SecretString),
    PinChecked {
        serial: u32,
        result: Result<(), TokenError>,
    },
    Touch,
    /// A statement signed on a custodian's key (check-in challenge or acknowledgement).
    Attested {
        custodian: RosterIx,
        result: Result<String, Failed>,
    },
    NoticeDone {
        phase: NoticePhase,
        result: Result<Delivery, Failed>,
    },
    RetryNotice,
    /// The custodian in check-in slot `who` acknowledges going on without the notice.
    Acknowledge {
        who: SlotIx,
    },
    Unsealed(Result<Arc<Runbook>, Failed>),
    RetryUnseal,
    ToggleStep(usize),
    Note {
        step: Option<usize>,
        text: String,
    },
    Reveal(usize),
    Hide(usize),
    /// Mask every revealed secret again.
    HideSecrets,
    /// The process received a signal (SIGTERM, SIGHUP, SIGINT): abort without asking.
    Signal(String),
    FinishRunbook,
    ToggleClosing(usize),
    /// A closing item cannot be done: recorded as not done, with who said so.
    ClosingNotDone(usize),
    ConfirmClose,
    SessionSigned {
        custodian: RosterIx,
        result: Result<(), Failed>,
    },
    RequestAbort,
    ConfirmAbort,
    CancelAbort,
    Journaled(Written),
    JournalFailed(String),
    /// Which account and principal the configured AWS credentials reach.
    AccountChecked(Result<(String, String), Failed>),
    RetryAccount,
    /// Go on without AWS for this session (recorded; notices then need acknowledgements).
    SkipAws,
    /// Time passes (seconds since the app started): heartbeats and background retries.
    Tick {
        now_s: u64,
    },
    /// A hardware key's attestation was checked (before it is presented).
    KeyAttested {
        serial: u32,
        result: Result<AttestInfo, Failed>,
    },
    /// The serials of the keys present now (from the runner's periodic scan).
    KeysPresent(Vec<u32>),
    /// The root account's posture (and, at close, root's events in CloudTrail for the session's
    /// window), read when the account is checked and when the session closes.
    PostureChecked {
        when: PostureWhen,
        result: Result<Posture, Failed>,
    },
    /// The keys cannot be listed at all (PC/SC stopped): every checked-in key counts as removed
    /// until it is seen again, and its PIN is entered again.
    KeysUnreachable(String),
    /// From the runbook: open the root tasks screen.
    OpenRoot,
    CloseRoot,
    /// Open a root session on `target` for `task`.
    AssumeRoot {
        target: String,
        task: Task,
    },
    ReAssume,
    RootAssumed(Result<(Call, u64), (Call, Failed)>),
    RootAct(RootAction),
    RootDone {
        action: RootAction,
        result: Result<(String, Option<Audit>), Failed>,
        calls: Vec<Call>,
    },
    CancelRootAction,
    /// A rekey goes on: from the review, or again after a failed swap.
    RekeyGo,
    /// `id`'s signature over the new roster version (armored SSHSIG), made and checked.
    RekeySigned {
        id: String,
        result: Result<String, Failed>,
    },
    /// The new version was staged, checked and swapped in: the sealed files opened to check it.
    RekeyCommitted(Result<Vec<String>, Failed>),
    /// Offboarding: do item `i` (a step people did, confirmed; or an AWS change, then confirmed
    /// by each custodian on their key with [`Intent::Acknowledge`]).
    OffboardDo(usize),
    /// An AWS change of the offboarding was made: its request id and a note (already done).
    OffboardApplied {
        item: usize,
        result: Result<(Option<String>, Option<String>), Failed>,
    },
    /// The offboarding is over: what is not done is recorded as not done.
    OffboardFinish,
    /// Rotate secret `secret` with `value` (drawn or typed; none for one rotated out of band).
    Rotate {
        secret: usize,
        value: Option<SecretString>,
    },
    /// Another new value (drawn again, or typed).
    RotateValue(SecretString),
    /// Seal the new value (or retry the failed step).
    RotateGo,
    /// The new value did not take where it belongs: throw the staging away.
    RotateAbandon,
    /// The new sealing is staged: manifest SHA-256, serial, the files opened back.
    RotationStaged(Result<(String, u64, Vec<String>), Failed>),
    /// A custodian's signature over the staged manifest.
    SealingSigned {
        custodian: RosterIx,
        result: Result<String, Failed>,
    },
    /// The swap happened: the runbook as it now reads.
    RotationCommitted(Result<Arc<Runbook>, Failed>),
}

/// Work for the session runner, executed in order; `Journal` entries are durable before the next effect runs.
#[derive(Debug)]
// Effects live for one batch; boxing the journal entry would only cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Effect {
    /// Write this entry (fsynced) before anything that follows it.
    Journal {
        entry: Entry,
        labels: Labels,
    },
    VerifyPin {
        serial: u32,
        pin: SecretString,
    },
    /// Sign `message` on the key `serial` under `namespace`; the result comes back as `Attested`.
    Attest {
        custodian: RosterIx,
        serial: u32,
        statement: crate::core::statement::Statement,
    },
    /// Send this notice; the runner stamps the time and the journal hash `hash` says.
    SendNotice {
        notice: Box<Notice>,
        hash: NoticeHash,
    },
    Unseal {
        ids: Vec<String>,
    },
    SignJournal {
        custodian: RosterIx,
        serial: u32,
    },
    /// Write the bundle's remaining files (allowed_signers for `signed`, VERIFY.md).
    Finish {
        session_id: String,
        mode: Mode,
        demo: bool,
        signed: Vec<String>,
    },
    /// sts:GetCallerIdentity with the configured credentials (and the root posture at the start,
    /// when the account is `expected`, or none is configured).
    CheckAccount {
        expected: Option<String>,
    },
    /// The root posture of `account`, and root's CloudTrail events since `since` (RFC 3339), at the close.
    Posture {
        when: PostureWhen,
        account: String,
        since: Option<String>,
    },
    AssumeRoot {
        target: String,
        task: Task,
    },
    RootAct(RootAction),
    /// Forget the root session's credentials.
    DropRoot,
    /// Sign the new roster version on key `serial` as `id` (and, for a custodian of the new
    /// version, its sealed runbook's manifest); the result comes back as `RekeySigned`.
    SignRekey {
        id: String,
        serial: u32,
        manifest: bool,
        /// A drill: signed in the drill namespaces, which no trust decision accepts.
        rehearse: bool,
    },
    /// Stage the new roster and sealing, check them (opening every quorum of `present`), swap;
    /// a rehearsal stages and checks, then undoes the staging.
    CommitRekey {
        present: Vec<String>,
        rehearse: bool,
    },
    /// Make the AWS change of offboarding item `item` (confirmed by every custodian present).
    OffboardApply {
        item: usize,
    },
    /// Seal the runbook again with secret `secret` holding `value`, for every quorum of the
    /// roster, in memory; stage it beside the live sealing (a drill: on its copy) and open it back
    /// with the keys present. Reported as `RotationStaged`.
    StageRotation {
        secret: usize,
        value: SecretString,
        /// The custodians checked in: their keys open the new sealing back.
        present: Vec<String>,
        drill: bool,
    },
    /// Sign the staged sealing's manifest on key `serial` (the custodian's confirmation that the
    /// new value took). Reported as `SealingSigned`.
    SignSealing {
        custodian: RosterIx,
        serial: u32,
        drill: bool,
    },
    /// Swap the staged sealing in (a drill: remove its copy). Reported as `RotationCommitted`.
    CommitRotation {
        drill: bool,
    },
    /// Throw the staged sealing away; the live one is unchanged.
    DiscardRotation {
        drill: bool,
    },
}

/// When the posture is read: as the account is checked, and as the session closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostureWhen {
    Start,
    Close,
}

impl PostureWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            PostureWhen::Start => "start",
            PostureWhen::Close => "close",
        }
    }
}

/// What the posture read found: each root check (id, PASS/FAIL/..., reason) and root's events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Posture {
    /// The account read (as sts:GetCallerIdentity named it, or as configured).
    pub account: String,
    pub checks: Vec<(String, String, String)>,
    pub root_events: Vec<crate::core::audit::RootEvent>,
}

/// A step on the screen's rail (shown by its label; an abort records the label in the journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RailStep {
    Setup,
    /// The n-th check-in (from 1).
    Custodian(usize),
    NotifyTeam,
    OpenRunbook,
    RunbookSteps,
    Close,
    /// A rekey's: the change reviewed, the new version signed, the runbook sealed again and swapped in.
    ReviewChange,
    SignRoster,
    ResealSwap,
    /// An offboarding's checklist.
    OffboardList,
    /// The co-signatures.
    Sign,
}

impl std::fmt::Display for RailStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RailStep::Setup => f.write_str("Setup"),
            RailStep::Custodian(n) => write!(f, "Custodian {n}"),
            RailStep::NotifyTeam => f.write_str("Notify team"),
            RailStep::OpenRunbook => f.write_str("Open runbook"),
            RailStep::RunbookSteps => f.write_str("Runbook steps"),
            RailStep::Close => f.write_str("Close"),
            RailStep::ReviewChange => f.write_str("Review change"),
            RailStep::SignRoster => f.write_str("Sign roster"),
            RailStep::ResealSwap => f.write_str("Reseal, swap"),
            RailStep::OffboardList => f.write_str("Offboard list"),
            RailStep::Sign => f.write_str("Sign"),
        }
    }
}

/// The check-in steps of a quorum of `quorum`, after the setup.
fn setup_and_checkins(quorum: usize) -> Vec<RailStep> {
    std::iter::once(RailStep::Setup).chain((1..=quorum.max(1)).map(RailStep::Custodian)).collect()
}

/// The steps on the screen's rail for a quorum of `quorum`: one check-in step per custodian
/// needed ("Custodian 1" .. "Custodian N"), then the rest of the ceremony.
pub fn rail(quorum: usize) -> Vec<RailStep> {
    let mut r = setup_and_checkins(quorum);
    r.extend([RailStep::NotifyTeam, RailStep::OpenRunbook, RailStep::RunbookSteps, RailStep::Close, RailStep::Sign]);
    r
}

/// The check-in challenge a custodian signs: binds the session and a fresh nonce.
pub(crate) fn checkin_message(session_id: &str, nonce: &str) -> crate::core::statement::Statement {
    crate::core::statement::Statement::CheckIn { session: session_id.to_string(), nonce: nonce.to_string() }
}

/// PINs a YubiKey ships with: never accepted in a real ceremony.
pub(crate) const FACTORY_PINS: [&str; 1] = ["123456"];
/// Read access to the ceremony's state for the screens, the runner and tests: only
/// [`Ceremony::advance`] changes it.
macro_rules! copy_getters {
    ($($f:ident: $t:ty,)*) => {
        impl Ceremony {
            $( pub fn $f(&self) -> $t { self.$f } )*
        }
    };
}

impl Ceremony {
    pub fn done(&self) -> &Vec<bool> {
        &self.book.done
    }
    pub fn runbook(&self) -> &Option<Arc<Runbook>> {
        &self.book.runbook
    }
    pub fn revealed(&self) -> &Vec<bool> {
        &self.book.revealed
    }
    pub fn notes(&self) -> &Vec<Vec<String>> {
        &self.book.notes
    }
    pub fn rotated(&self) -> &Vec<bool> {
        &self.book.rotated
    }
    pub fn notices(&self) -> &Vec<(NoticePhase, Delivery)> {
        &self.notify.sent
    }
    pub fn degraded(&self) -> &Vec<String> {
        &self.notify.degraded
    }
    pub fn announced(&self) -> bool {
        self.notify.announced
    }
    pub fn closing(&self) -> &Vec<bool> {
        &self.close.ticked
    }
    pub fn not_done(&self) -> &Vec<bool> {
        &self.close.not_done
    }
    pub fn signed(&self) -> &Vec<String> {
        &self.close.signed
    }
    pub(crate) fn aborted_at(&self) -> Option<usize> {
        self.close.aborted_at
    }
    pub(crate) fn closing_for(&self) -> Option<NoticePhase> {
        self.close.for_notice
    }
}

macro_rules! getters {
    ($($f:ident: $t:ty,)*) => {
        impl Ceremony {
            $( pub fn $f(&self) -> &$t { &self.$f } )*
        }
    };
}

impl Intent {
    /// The answer to work already under way (a key's signature, AWS's reply, a notice's fate):
    /// it lands even while the ceremony waits (a key out, the abort question).
    fn is_result_of_work(&self) -> bool {
        matches!(
            self,
            Intent::Attested { .. }
                | Intent::NoticeDone { .. }
                | Intent::RekeySigned { .. }
                | Intent::RekeyCommitted(_)
                | Intent::RotationStaged(_)
                | Intent::SealingSigned { .. }
                | Intent::RotationCommitted(_)
                | Intent::OffboardApplied { .. }
                | Intent::Unsealed(_)
                | Intent::SessionSigned { .. }
                | Intent::RootDone { .. }
                | Intent::RootAssumed(_)
                | Intent::AccountChecked(_)
        )
    }
}

impl Ceremony {
    /// Failed notices retried in the background.
    pub fn pending(&self) -> &[NoticePhase] {
        &self.notify.bg.pending
    }

    /// Checked-in keys that cannot be seen (the ceremony is paused).
    pub fn removed(&self) -> &[u32] {
        &self.keys.presence.removed
    }

    /// Check-in slots whose key came back and must enter the PIN again.
    /// Whether checked-in keys may be out of their readers now without pausing: while a rekey's
    /// newcomers prove their keys, what is proven is the newcomer's key, not the others'
    /// presence, so two USB ports are enough (a key taken out comes back, with its PIN, before
    /// its custodian signs the new version).
    pub(crate) fn keys_may_be_away(&self) -> bool {
        matches!(self.phase, Phase::Rekey(RekeyStage::Newcomer { .. }))
    }

    pub fn reauth(&self) -> &[SlotIx] {
        &self.keys.presence.reauth
    }

    /// The custodians started editing: the message about the form goes.
    fn dismiss_message(&mut self) {
        self.message = None;
    }
}

/// What a ceremony is for, fixed when it is made ([`Ceremony::new`]): a session that changes the
/// roster (a rekey), an offboarding (its checklist, and the rekey that removes the custodian), the
/// recovery of an interrupted session, or none of these (an incident or a drill).
#[derive(Debug, Clone, Default)]
pub struct Purpose {
    pub rekey: Option<Rekey>,
    pub offboard: Option<Offboard>,
    pub recovery: Option<Recovery>,
}

impl Purpose {
    /// A session that changes the roster as `rekey` says.
    pub fn rekey(rekey: Rekey) -> Self {
        Self { rekey: Some(rekey), ..Self::default() }
    }

    /// An offboarding: its checklist, after the rekey that removes the custodian (when they hold a key).
    pub fn offboard(rekey: Option<Rekey>, offboard: Offboard) -> Self {
        Self { rekey, offboard: Some(offboard), recovery: None }
    }

    /// Takes up an interrupted session: what its journal held.
    pub fn recovery(recovery: Recovery) -> Self {
        Self { recovery: Some(recovery), ..Self::default() }
    }
}

getters! {
    info: SessionInfo,
    phase: Phase,
    checked: IxVec<SlotIx, CheckedIn>,
    offboard: Option<Offboard>,
    rekey: Option<Rekey>,
    roster: IxVec<RosterIx, Person>,
    last: Option<Written>,
    message: Option<Message>,
    recovering: Option<Recovery>,
    started_ts: Option<String>,
    scenario: Scenario,
    root: Option<RootCtx>,
    times: Vec<(String, String)>,
    reason: String,
    rotation: Option<Rotation>,
}

copy_getters! {
    mode: Mode,
    outcome: Option<Outcome>,
    confirm_abort: bool,
    now_s: u64,
}

impl Ceremony {
    /// A ceremony at its setup screen, for `purpose` (an incident or a drill: `Purpose::default()`).
    pub fn new(info: SessionInfo, roster: Vec<Person>, purpose: Purpose) -> Self {
        let Purpose { rekey, offboard, recovery } = purpose;
        Self {
            info,
            roster: roster.into(),
            mode: Mode::Incident,
            reason: String::new(),
            ticket: None,
            phase: Phase::Setup,
            checked: IxVec::new(),
            keys: Keys::default(),
            account: AccountState::default(),
            notify: Notices::default(),
            book: Book::default(),
            close: Closing::default(),
            root: None,
            rekey,
            offboard,
            rotation: None,
            recovering: recovery,
            held: None,
            outcome: None,
            last: None,
            started_ts: None,
            message: None,
            confirm_abort: false,
            scenario: Scenario::Standard,
            times: vec![],
            now_s: 0,
        }
    }

    /// This ceremony's rail (see [`rail`], [`rekey_rail`]).
    pub fn rail(&self) -> Vec<RailStep> {
        // At setup nothing has begun: the plan (or the interrupted session) says what will.
        let mode = match (&self.phase, &self.recovering) {
            (Phase::Setup, Some(r)) => r.mode,
            (Phase::Setup, None) if self.planned_mode() != Mode::Incident => self.planned_mode(),
            _ => self.mode,
        };
        match mode {
            Mode::Rekey => rekey_rail(self.quorum()),
            Mode::Offboard => {
                let mut r = if self.rekey.is_some() {
                    rekey_rail(self.quorum())
                } else {
                    let mut r = setup_and_checkins(self.quorum());
                    r.push(RailStep::Sign);
                    r
                };
                r.insert(r.len() - 1, RailStep::OffboardList);
                r
            }
            _ => rail(self.quorum()),
        }
    }

    /// A drill of an offboarding: no AWS write, no swap.
    pub fn rehearsal(&self) -> bool {
        self.offboard.as_ref().is_some_and(|o| o.rehearsal)
    }

    /// The mode the plan given to this ceremony calls for.
    fn planned_mode(&self) -> Mode {
        match (&self.offboard, &self.rekey) {
            (Some(_), _) => Mode::Offboard,
            (None, Some(_)) => Mode::Rekey,
            _ => Mode::Incident,
        }
    }

    /// How many custodians must check in (and sign): the roster's quorum, never fewer than two.
    pub fn quorum(&self) -> usize {
        self.info.quorum.max(2)
    }

    /// "both custodians" for a quorum of two, "all 3 custodians" for three, and so on: how the
    /// screen names everyone who must act together.
    pub fn everyone(&self) -> String {
        match self.quorum() {
            2 => "both custodians".into(),
            q => format!("all {q} custodians"),
        }
    }

    /// [`Self::everyone`] at the start of a sentence.
    pub(crate) fn everyone_cap(&self) -> String {
        let e = self.everyone();
        let mut c = e.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    }

    /// Where "Notify team" is on the rail (right after the last check-in).
    pub(crate) fn notify_rail_index(&self) -> usize {
        match self.mode {
            Mode::Rekey | Mode::Offboard => self.rail().iter().position(|r| *r == RailStep::NotifyTeam).unwrap_or(usize::MAX),
            _ => self.quorum() + 1,
        }
    }

    /// Index of the rail entry for the current phase.
    pub fn rail_index(&self) -> usize {
        let q = self.quorum();
        if matches!(self.mode, Mode::Rekey | Mode::Offboard) {
            let rail = self.rail();
            let at = |step: RailStep| rail.iter().position(|r| *r == step).unwrap_or(0);
            return match &self.phase {
                Phase::Setup | Phase::Quit | Phase::Account { .. } => 0,
                Phase::CheckIn(_) => 1 + self.checked.len().min(q - 1),
                Phase::Unseal { .. } => at(RailStep::OpenRunbook),
                Phase::Rekey(RekeyStage::Review | RekeyStage::Newcomer { .. }) => at(RailStep::ReviewChange),
                Phase::Rekey(RekeyStage::Sign { .. }) => at(RailStep::SignRoster),
                Phase::Rekey(RekeyStage::Committing | RekeyStage::Failed(_)) => at(RailStep::ResealSwap),
                Phase::Notify { .. } | Phase::Closing | Phase::Runbook | Phase::Root(_) | Phase::Rotate(_) => at(RailStep::NotifyTeam),
                Phase::Offboard => at(RailStep::OffboardList),
                Phase::Sign { .. } => rail.len() - 1,
                Phase::Halted(_) => self.journal_rail().min(q + 1),
                Phase::Summary => rail.len(),
            };
        }
        match &self.phase {
            Phase::Setup | Phase::Quit | Phase::Account { .. } => 0,
            Phase::CheckIn(_) => 1 + self.checked.len().min(q - 1),
            Phase::Notify { notice: NoticePhase::InUse, .. } => q + 1,
            Phase::Unseal { .. } => q + 2,
            Phase::Runbook | Phase::Root(_) | Phase::Rotate(_) | Phase::Rekey(_) | Phase::Offboard => q + 3,
            Phase::Closing | Phase::Notify { .. } => q + 4,
            Phase::Sign { .. } => q + 5,
            // Halted: only what the journal shows was recorded counts as done.
            Phase::Halted(_) => self.journal_rail(),
            Phase::Summary => q + 6,
        }
    }

    /// The rail position the journal itself supports: steps count as done only when the entry
    /// that records them was written.
    fn journal_rail(&self) -> usize {
        let has = |k: &str| self.times.iter().any(|(kind, _)| kind == k);
        let verified = self.times.iter().filter(|(kind, _)| kind == kind::CustodianVerified).count();
        let mut steps = vec![has(kind::SessionOpened)];
        steps.extend((1..=self.quorum()).map(|n| verified >= n));
        steps.extend([
            has(kind::NoticeSent) || has(kind::NoticeAcknowledged),
            has(kind::RunbookUnsealed),
            has(kind::ClosingChecked) || has(kind::SessionClosed),
            has(kind::SessionClosed) || has(kind::SessionAborted),
        ]);
        steps.iter().take_while(|done| **done).count()
    }

    /// Whether the team was (or may have been) told that root is in use: only then does an
    /// abort send "root released".
    pub(crate) fn root_announced(&self) -> bool {
        self.notify.announced
            || self.notify.sent.iter().any(|(p, _)| *p == NoticePhase::InUse)
            || matches!(self.phase, Phase::Notify { .. })
    }

    pub fn person(&self, i: RosterIx) -> &Person {
        &self.roster[i]
    }

    /// Ids of the checked-in custodians.
    pub(crate) fn checked_ids(&self) -> Vec<String> {
        self.checked.iter().map(|c| self.roster[c.custodian].id.clone()).collect()
    }

    fn entry(&self, entry: Entry) -> Effect {
        let labels = Labels { mode: self.mode.as_str(), demo: self.info.demo };
        Effect::Journal { entry, labels }
    }

    fn refuse(&mut self, say: Say) {
        self.message = Some(Message { tone: Tone::Refusal, say });
    }

    /// Refuses with `say`, unless the effect failed for want of disk (then it says that instead:
    /// the key did its part, the disk did not).
    fn refuse_failed(&mut self, e: &Failed, say: Say) {
        self.refuse(match e {
            Failed::Storage(error) => Say::NotWritten { error: error.clone() },
            _ => say,
        });
    }

    fn info_msg(&mut self, say: Say) {
        // A passing message never replaces one that reports something important.
        if !say.lasts() && self.message.as_ref().is_some_and(|m| m.tone == Tone::Info && m.say.lasts()) {
            return;
        }
        self.message = Some(Message { tone: Tone::Info, say });
    }

    /// Clears the message unless it reports something important ([`Say::lasts`]).
    fn clear_transient(&mut self) {
        if !self.message.as_ref().is_some_and(|m| m.tone == Tone::Info && m.say.lasts()) {
            self.message = None;
        }
    }

    /// Results from the journal are bookkeeping, not actions: `None` once handled.
    fn journal_result(&mut self, intent: Intent) -> Option<Intent> {
        match intent {
            Intent::Journaled(w) => {
                if self.started_ts.is_none() {
                    self.started_ts = Some(w.ts.clone());
                }
                self.times.push((w.kind.clone(), w.ts.clone()));
                self.last = Some(w);
                None
            }
            Intent::JournalFailed(e) => {
                // Nothing unrecorded stays on screen: secrets are masked again.
                self.book.revealed.iter_mut().for_each(|r| *r = false);
                // The write error; the screen says what it means and what to do.
                self.phase = Phase::Halted(e);
                None
            }
            other => Some(other),
        }
    }

    /// What every phase handles alike: the clock, the posture and attestation results, keys
    /// coming and going (and the pause while one is away), and notices retried in the
    /// background. `None` once handled; the intent otherwise.
    fn in_any_phase(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Option<Intent> {
        Some(match intent {
            Intent::Tick { now_s } => {
                self.tick(now_s, fx);
                return None;
            }
            Intent::PostureChecked { when, result } => {
                self.posture_checked(when, result, fx);
                if when == PostureWhen::Close
                    && std::mem::take(&mut self.notify.release_after_posture)
                    && self.outcome == Some(Outcome::Closed)
                {
                    self.phase = self.release(NoticePhase::Released, fx);
                }
                return None;
            }
            Intent::KeyAttested { serial, result } => {
                self.keys.attestations.retain(|(s, _)| *s != serial);
                self.keys.attestations.push((serial, result));
                return None;
            }
            Intent::KeysPresent(serials) => {
                self.keys_present(&serials, None, fx);
                return None;
            }
            Intent::KeysUnreachable(why) => {
                self.keys_present(&[], Some(&why), fx);
                return None;
            }
            Intent::PinEntered(pin)
                if !self.keys.presence.reauth.is_empty()
                    && !self.keys.presence.working
                    && self.keys.presence.removed.is_empty()
                    && !self.keys_may_be_away() =>
            {
                let who = self.keys.presence.reauth[0];
                self.keys.presence.working = true;
                fx.push(Effect::VerifyPin { serial: self.checked[who].serial, pin });
                return None;
            }
            Intent::PinChecked { serial, result } if self.keys.presence.working => {
                self.keys.presence.working = false;
                let pos = self.keys.presence.reauth.iter().position(|w| self.checked[*w].serial == serial)?;
                let who = self.keys.presence.reauth[pos];
                let id = self.roster[self.checked[who].custodian].id.clone();
                match result {
                    Ok(()) => {
                        self.keys.presence.reauth.remove(pos);
                        fx.push(self.entry(Entry::CustodianReauthenticated { custodian: id.clone(), serial }));
                        self.info_msg(Say::KeyBackUnlocked { id: id.clone() });
                    }
                    Err(e) => {
                        fx.push(self.entry(Entry::CustodianRefused {
                            serial,
                            custodian: Some(id.clone()),
                            why: e.to_string(),
                            retries_left: None,
                        }));
                        self.refuse(Say::ReauthFailed { id: id.clone(), error: e });
                    }
                }
                return None;
            }
            // A background notice's result (heartbeat, retry) lands whatever the phase, paused
            // included: the team was told, so the journal says so, and the next one can go.
            Intent::NoticeDone { phase, result } if self.notify.bg.busy == Some(phase) => {
                self.notify.bg.busy = None;
                self.background_done(phase, result, fx);
                return None;
            }
            _ if (!self.keys.presence.removed.is_empty() || !self.keys.presence.reauth.is_empty())
                && !self.keys_may_be_away()
                && !matches!(intent, Intent::RequestAbort | Intent::CancelAbort | Intent::ConfirmAbort | Intent::Signal(_)) =>
            {
                // Paused: a checked-in key is missing or locked. Results of work already under
                // way still land; new actions wait.
                if !intent.is_result_of_work() {
                    return None;
                }
                intent
            }
            other => other,
        })
    }

    /// Abort is possible everywhere, with a confirmation: `None` once handled.
    fn abort_request(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Option<Intent> {
        match intent {
            Intent::RequestAbort => {
                if matches!(self.phase, Phase::Sign { .. }) && self.outcome.is_some() {
                    self.info_msg(Say::AlreadyClosed);
                } else {
                    self.confirm_abort = true;
                }
                None
            }
            Intent::CancelAbort => {
                self.confirm_abort = false;
                None
            }
            Intent::ConfirmAbort => {
                self.confirm_abort = false;
                fx.extend(self.abort(None));
                None
            }
            Intent::Signal(name) => {
                // The process was told to stop (terminal closed, SIGTERM): record it as an abort.
                self.confirm_abort = false;
                fx.extend(self.abort(Some(name)));
                None
            }
            other => Some(other),
        }
    }

    /// Applies one intent; returns the effects to run, in order.
    pub fn advance(&mut self, intent: Intent) -> Vec<Effect> {
        let fx = self.apply(intent);
        self.sign_again_if_grown(&fx);
        self.hold_until_quorum(fx)
    }

    /// A co-signature covers the whole journal: an entry written after one was made (a key that
    /// went away and came back, a notice's outcome) leaves it covering less, so ssh-keygen (and
    /// verify) would reject it. Everyone signs again, from the first.
    fn sign_again_if_grown(&mut self, fx: &[Effect]) {
        if matches!(self.phase, Phase::Sign { .. })
            && !self.close.signed.is_empty()
            && fx.iter().any(|e| matches!(e, Effect::Journal { .. }))
        {
            self.close.signed.clear();
            self.phase = Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch };
            self.info_msg(Say::SignAgain);
        }
    }

    /// Rule E15: until a quorum has checked in again, a recovery's journal entries are held (its
    /// other effects, a PIN check or a signature, run); once the quorum is there they are written,
    /// `session.recovered` first, in the order they were made.
    fn hold_until_quorum(&mut self, fx: Vec<Effect>) -> Vec<Effect> {
        if self.held.is_none() {
            return fx;
        }
        if self.checked.len() >= self.quorum() {
            let held = self.held.take().unwrap_or_default();
            return held.into_iter().map(|(entry, labels)| Effect::Journal { entry, labels }).chain(fx).collect();
        }
        let held = self.held.get_or_insert_with(Vec::new);
        let mut rest = Vec::with_capacity(fx.len());
        for e in fx {
            match e {
                Effect::Journal { entry, labels } => held.push((entry, labels)),
                other => rest.push(other),
            }
        }
        rest
    }

    /// Whether this is a recovery that has written nothing yet (no quorum checked in again).
    pub fn recovery_unrecorded(&self) -> bool {
        self.held.is_some()
    }

    /// The normal end: `session.closed`, the close's posture read, then "root released".
    fn close(&mut self, fx: &mut Vec<Effect>) -> Phase {
        self.outcome = Some(Outcome::Closed);
        let done = self.book.done.iter().filter(|d| **d).count();
        fx.push(self.entry(Entry::SessionClosed { steps_done: done as u64, steps_total: self.book.done.len() as u64, rekey: None }));
        // Root's posture and CloudTrail's root events for this session are read and
        // journalled first: "root released" then carries a head that includes them.
        if self.info.aws && !self.notify.aws_skipped {
            fx.push(Effect::Posture {
                when: PostureWhen::Close,
                account: self.info.account.clone().unwrap_or_default(),
                since: self.started_ts.clone(),
            });
            self.notify.release_after_posture = true;
            Phase::Notify { notice: NoticePhase::Released, status: NotifyStatus::Sending }
        } else {
            self.release(NoticePhase::Released, fx)
        }
    }

    fn apply(&mut self, intent: Intent) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(intent) = self.journal_result(intent) else { return fx };
        if matches!(self.phase, Phase::Halted(_) | Phase::Quit | Phase::Summary) {
            return fx;
        }
        let Some(intent) = self.in_any_phase(intent, &mut fx) else { return fx };
        let Some(intent) = self.abort_request(intent, &mut fx) else { return fx };
        // While "abort?" is asked, new actions wait; results of work already under way still land
        // (a signature dropped here left its stage waiting for an answer that never came).
        if self.confirm_abort && !(intent.is_result_of_work() || matches!(intent, Intent::PinChecked { .. } | Intent::KeyAttested { .. })) {
            return fx;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Halted(String::new()));
        self.phase = self.step(phase, intent, &mut fx);
        fx
    }

    /// The phase's own rules: what `intent` does in `phase`, and the phase after it.
    fn step(&mut self, phase: Phase, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match (phase, intent) {
            (Phase::Setup, Intent::Begin { mode, reason, ticket, scenario }) => self.begin(mode, reason, ticket, scenario, fx),
            (Phase::Setup, Intent::SetupEdited) => {
                self.dismiss_message();
                Phase::Setup
            }
            (Phase::Account { failed: None }, Intent::AccountChecked(result)) => self.account_checked(result, fx),
            (Phase::Account { failed: Some(_) }, Intent::RetryAccount) => {
                fx.push(Effect::CheckAccount { expected: self.info.account.clone() });
                Phase::Account { failed: None }
            }
            (Phase::Account { failed: Some(why) }, Intent::SkipAws) => {
                self.notify.aws_skipped = true;
                fx.push(self.entry(Entry::AwsSkipped { why: why.record() }));
                self.info_msg(Say::GoingOnWithoutAws);
                Phase::CheckIn(KeyStage::AwaitKey)
            }
            (Phase::CheckIn(stage), intent) => self.check_in(stage, intent, fx),
            (Phase::Notify { notice, status }, intent) => self.notify(notice, status, intent, fx),
            (Phase::Unseal { .. }, Intent::Unsealed(Ok(rb))) if matches!(self.mode, Mode::Rekey | Mode::Offboard) => {
                self.unsealed_not_shown(&rb, fx)
            }
            (Phase::Rekey(stage), intent) => self.rekey_step(stage, intent, fx),
            (Phase::Offboard, intent) => self.offboard_step(intent, fx),
            (Phase::Unseal { .. }, Intent::Unsealed(Ok(rb))) => self.unsealed_runbook(rb, fx),
            (Phase::Unseal { .. }, Intent::Unsealed(Err(e))) => {
                fx.push(self.entry(Entry::RunbookFailed { error: e.to_string() }));
                Phase::Unseal { failed: Some(e.to_string()) }
            }
            (Phase::Unseal { failed: Some(_) }, Intent::RetryUnseal) => {
                fx.push(Effect::Unseal { ids: self.checked_ids() });
                Phase::Unseal { failed: None }
            }
            (Phase::Runbook, Intent::OpenRoot) => self.open_root(),
            (from @ (Phase::Runbook | Phase::Closing), Intent::Rotate { secret, value }) if self.recovering.is_none() => {
                self.start_rotation(from, secret, value, fx)
            }
            (Phase::Rotate(stage), intent) => self.rotate_step(stage, intent, fx),
            (Phase::Runbook, intent) => self.runbook_step(intent, fx),
            (Phase::Root(stage), intent) => self.root_step(stage, intent, fx),
            (Phase::Closing, Intent::ToggleClosing(i)) if i < CLOSING.len() => self.toggle_closing(i, fx),
            (Phase::Closing, Intent::ClosingNotDone(i)) => self.closing_not_done(i, fx),
            (Phase::Closing, Intent::ConfirmClose) => self.confirm_close(fx),
            (Phase::Closing, Intent::Back) if self.close.for_notice.is_none() => Phase::Runbook,
            (Phase::Sign { who, stage: SignStage::AwaitTouch | SignStage::Failed(_) }, Intent::Touch) => {
                let c = &self.checked[who];
                fx.push(Effect::SignJournal { custodian: c.custodian, serial: c.serial });
                Phase::Sign { who, stage: SignStage::Working }
            }
            (Phase::Sign { who, stage: SignStage::Working }, Intent::SessionSigned { custodian, result })
                if self.checked[who].custodian == custodian =>
            {
                self.session_signed(who, custodian, result, fx)
            }
            (p, _) => p,
        }
    }

    /// The runbook opened in a rekey (to be sealed again for the new version) or an offboarding
    /// (for the offboarding steps it adds to the checklist): never shown.
    fn unsealed_not_shown(&mut self, rb: &Runbook, fx: &mut Vec<Effect>) -> Phase {
        let purpose = if self.rekey.is_some() { "reseal" } else { "offboarding steps" };
        fx.push(self.entry(Entry::RunbookUnsealed { with: self.checked_ids(), steps: rb.steps.len(), purpose: Some(purpose.into()) }));
        if let Some(o) = self.offboard.as_mut() {
            let added = rb
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.section.to_lowercase().contains("offboard"))
                .map(|(n, s)| OffItem { runbook_step: Some(n), ..OffItem::people(format!("Runbook step {}: {}", n + 1, s.text)) });
            o.items.extend(added);
        }
        if self.rekey.is_some() {
            self.rekey_review()
        } else {
            self.info_msg(Say::WorkDownChecklist);
            Phase::Offboard
        }
    }

    /// The runbook opened for the custodians: its steps shown, none done yet.
    fn unsealed_runbook(&mut self, rb: Arc<Runbook>, fx: &mut Vec<Effect>) -> Phase {
        let n = rb.steps.len();
        self.book.done = vec![false; n];
        self.book.notes = vec![vec![]; n];
        self.book.revealed = vec![false; rb.secrets.len()];
        self.book.revealed_ever = vec![false; rb.secrets.len()];
        self.book.rotated = vec![false; rb.secrets.len()];
        self.book.runbook = Some(rb);
        // "Root in use went out" stays over the runbook (the sending screen passes too quickly to
        // be read); anything else from before goes.
        if !matches!(self.message.as_ref().map(|m| &m.say), Some(Say::InUseSent { .. })) {
            self.clear_transient();
        }
        fx.push(self.entry(Entry::RunbookUnsealed { with: self.checked_ids(), steps: n, purpose: None }));
        Phase::Runbook
    }

    /// `t` on the runbook: a root task, with AWS only; back to a root session still valid.
    fn open_root(&mut self) -> Phase {
        if !self.info.aws || self.notify.aws_skipped {
            self.refuse(Say::RootNeedsAws);
            return Phase::Runbook;
        }
        self.clear_transient();
        Phase::Root(if self.root.as_ref().is_some_and(|r| r.expires_s > self.now_s) { RootStage::Ready } else { RootStage::Pick })
    }
}
