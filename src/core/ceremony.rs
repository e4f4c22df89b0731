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

use crate::journal::{
    ActivityEvent, AttestationNote, Entry, Labels, OffboardOpened, PostureChange, PostureCheck, RekeyOpened, Written, kind,
};
use crate::notice::{Delivery, Notice, Phase as NoticePhase};
use crate::root::{Action as RootAction, Audit, Call, Task};
use crate::runbook::Runbook;
use crate::token::TokenError;
use secrecy::SecretString;
use std::sync::Arc;

/// Incident or drill; or a rekey (custodians change: the roster's next version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Incident,
    Drill,
    Rekey,
    /// Someone leaves: their removal from the roster (a rekey, when they are a custodian) and a
    /// checklist that strips their access.
    Offboard,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incident => "incident",
            Mode::Drill => "drill",
            Mode::Rekey => "rekey",
            Mode::Offboard => "offboard",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Mode::Incident => "INCIDENT",
            Mode::Drill => "DRILL",
            Mode::Rekey => "REKEY",
            Mode::Offboard => "OFFBOARD",
        }
    }
}

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
pub fn people(roster: &crate::roster::Roster) -> Vec<Person> {
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
    /// The "root released" notice had gone out (or been acknowledged) already.
    pub released: bool,
    /// Runbook steps ticked (and not unticked) before the interruption.
    pub steps_done: u64,
    /// The interrupted session's mode: a recovery keeps it.
    pub mode: Mode,
    /// An interrupted rekey: the version it was making, and the roster found live once the
    /// interruption was settled (journalled as `rekey.settled`).
    pub rekey: Option<RekeySettled>,
}

/// How an interrupted rekey ended on disk, as its recovery found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeySettled {
    pub new_roster_sha256: String,
    pub live_roster_sha256: String,
}

/// What a key's verified attestation says (journalled at check-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestInfo {
    pub firmware: String,
    pub form_factor: String,
    /// The trusted root the chain ends at.
    pub root: String,
}

/// A custodian who has checked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    pub custodian: RosterIx,
    pub serial: u32,
    pub model: String,
}

/// Where a custodian's key interaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStage {
    /// Waiting for a key to be presented.
    AwaitKey,
    /// A roster key is present; waiting for its PIN.
    AwaitPin { custodian: RosterIx, serial: u32, model: String, retries: u8, nonce: String },
    /// The PIN was accepted; waiting for the custodian to touch the key.
    AwaitTouch { custodian: RosterIx, serial: u32, model: String, nonce: String },
    /// The token is working (PIN check or signature).
    Working { custodian: RosterIx, serial: u32, model: String, nonce: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyStatus {
    Sending,
    /// Delivery failed: retry, or both custodians acknowledge going on without it (each with their key).
    Failed {
        error: String,
        acked: Vec<SlotIx>,
        acking: Option<SlotIx>,
    },
}

/// Where a rekey stands (after the runbook was unsealed by the current quorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RekeyStage {
    /// The change as a diff, and who can open the runbook afterwards: Enter goes on.
    Review,
    /// Newcomer `n` (index into [`Rekey::added`]) proves their key by signing the new version.
    Newcomer { n: usize, key: NewKey },
    /// Checked-in custodian `who` signs the new version (and the new sealing) on their key.
    Sign { who: SlotIx, working: bool, failed: Option<String> },
    /// The new runbook is staged, checked and swapped in.
    Committing,
    /// The swap failed (nothing live changed, or it was finished by `settle`): retry or abort.
    Failed(String),
}

/// A newcomer's key during a rekey.
/// An offboarding: who leaves, the checklist that strips their access, and the time it should take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offboard {
    /// Enter was pressed once with items open: a second Enter finishes.
    pub finish_armed: bool,
    /// Who leaves (a custodian id, or an administrator's name).
    pub person: String,
    /// Their IAM user, named in every statement the custodians sign for an AWS change.
    pub iam_user: String,
    /// The target time for the whole offboarding, in seconds ("strip all privileges in minutes").
    pub target_s: u64,
    pub items: Vec<OffItem>,
    /// A drill: everything but the AWS writes and the swap.
    pub rehearsal: bool,
}

/// One item of an offboarding checklist. Its Debug output hides a runbook step's text.
#[derive(Clone, PartialEq, Eq)]
pub struct OffItem {
    /// What to do, in plain words.
    pub what: String,
    /// The AWS API that makes the change (`iam:UpdateAccessKey`); `None` for a step people do (at
    /// the console, or by hand), confirmed on the screen.
    pub api: Option<String>,
    /// What the change acts on (a key id, a group), named in the custodians' signed statement.
    pub target: String,
    pub state: OffState,
    /// A step the sealed runbook adds (its section names offboarding), by step number: its text
    /// is the runbook's and is never journalled, only the number.
    pub runbook_step: Option<usize>,
}

impl std::fmt::Debug for OffItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffItem")
            .field("what", &self.journal_what())
            .field("api", &self.api)
            .field("target", &self.target)
            .field("state", &self.state)
            .finish()
    }
}

impl OffItem {
    /// An item people do (at the console, or by hand), confirmed on the screen.
    pub fn people(what: impl Into<String>) -> Self {
        Self { what: what.into(), api: None, target: String::new(), state: OffState::Open, runbook_step: None }
    }

    /// What the journal says of it: the words, or for a runbook step only its number.
    fn journal_what(&self) -> String {
        match self.runbook_step {
            Some(n) => format!("runbook step {}", n + 1),
            None => self.what.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffState {
    Open,
    /// Each checked-in custodian confirms the change on their key (`acked` index into `checked`).
    Confirming {
        acked: Vec<SlotIx>,
        acking: Option<SlotIx>,
    },
    Applying,
    Done {
        request_id: Option<String>,
        note: Option<String>,
    },
    Failed(String),
}

impl Offboard {
    pub fn done(&self) -> usize {
        self.items.iter().filter(|i| matches!(i.state, OffState::Done { .. })).count()
    }
    fn busy(&self) -> Option<usize> {
        self.items.iter().position(|i| matches!(i.state, OffState::Confirming { .. } | OffState::Applying))
    }
}

/// The next newcomer's turn.
fn stay_next(n: usize) -> Phase {
    Phase::Rekey(RekeyStage::Newcomer { n, key: NewKey::AwaitKey })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKey {
    AwaitKey,
    AwaitPin { retries: u8 },
    AwaitTouch,
    Working,
}

/// The change a rekey makes, fixed before the ceremony starts (from [`crate::rekey::Plan`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rekey {
    pub old_sha256: String,
    pub new_sha256: String,
    pub new_version: u32,
    /// The roster diff, a line each.
    pub diff: Vec<String>,
    /// Who will be able to open the runbook afterwards.
    pub quorums_after: Vec<Vec<String>>,
    pub added: Vec<Person>,
    pub removed: Vec<String>,
    /// Custodian ids of the new version and its quorum.
    pub new_ids: Vec<String>,
    pub new_quorum: usize,
    /// Ids whose signature over the new version was made and checked.
    pub signed: Vec<String>,
    /// The sealed files opened to check the swap, once committed.
    pub committed: Option<Vec<String>>,
}

impl Rekey {
    pub fn from_plan(plan: &crate::rekey::Plan) -> Self {
        Self {
            old_sha256: plan.old.sha256(),
            new_sha256: plan.new.sha256(),
            new_version: plan.new.version,
            diff: plan.diff().iter().map(ToString::to_string).collect(),
            quorums_after: plan.quorums_after(),
            added: people(&plan.new).into_iter().filter(|p| plan.added.contains(&p.id)).collect(),
            removed: plan.removed.clone(),
            new_ids: plan.new.custodians.iter().map(|c| c.id.clone()).collect(),
            new_quorum: plan.new.quorum,
            signed: vec![],
            committed: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignStage {
    AwaitTouch,
    Working,
    Failed(String),
}

/// Where a root task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootStage {
    /// Choosing the member account and the task.
    Pick,
    Assuming,
    /// A root session is open until `expires_s` (on the tick clock).
    Ready,
    Working,
    /// A destructive action waits for both custodians to confirm on their keys.
    Confirm {
        action: RootAction,
        acked: Vec<SlotIx>,
        acking: Option<SlotIx>,
    },
    /// The session's time ran out: re-assume to go on.
    Expired,
}

/// The open (or last) root session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCtx {
    pub target: String,
    pub task: Task,
    pub expires_s: u64,
    pub audit: Option<Audit>,
    pub last: Option<String>,
}

/// The ceremony's steps, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Setup,
    /// Checking which AWS account the credentials reach (sts:GetCallerIdentity).
    Account {
        failed: Option<String>,
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
    checked: IxVec<SlotIx, CheckedIn>,
    phase: Phase,
    runbook: Option<Arc<Runbook>>,
    done: Vec<bool>,
    notes: Vec<Vec<String>>,
    revealed: Vec<bool>,
    closing: Vec<bool>,
    outcome: Option<Outcome>,
    signed: Vec<String>,
    notices: Vec<(NoticePhase, Delivery)>,
    degraded: Vec<String>,
    last: Option<Written>,
    started_ts: Option<String>,
    message: Option<Message>,
    confirm_abort: bool,
    /// Set once the "root in use" notice went out (or its absence was acknowledged).
    announced: bool,
    /// The rail step at which the ceremony was aborted, if it was.
    aborted_at: Option<usize>,
    /// The posture read as the account was checked, to compare with the close.
    posture_start: Option<Vec<(String, String, String)>>,
    /// The session is closed and waits for the close's posture read before "root released".
    release_after_posture: bool,
    scenario: Scenario,
    /// Kind and time of every journal entry so far (for the drill's timings).
    times: Vec<(String, String)>,
    /// The AWS principal the account check found.
    principal: Option<String>,
    /// AWS was set aside for this session (both custodians then acknowledge each missing notice).
    aws_skipped: bool,
    /// Notices that failed and were acknowledged: retried in the background, journalled when delivered.
    pending: Vec<NoticePhase>,
    /// A background notice (heartbeat or late delivery) is on its way.
    background: Option<NoticePhase>,
    /// The root session on a member account, if one was opened.
    root: Option<RootCtx>,
    /// Attestation results by key serial (hardware keys must have a good one to check in).
    attestations: Vec<(u32, Result<AttestInfo, String>)>,
    /// Set when this ceremony closes an interrupted session (`breakglass recover`).
    recovering: Option<Recovery>,
    /// Checked-in keys that were pulled out: the ceremony is paused until they return.
    removed: Vec<u32>,
    /// Custodians (index into `checked`) whose key came back and must enter the PIN again.
    reauth: Vec<SlotIx>,
    /// A PIN re-entry is being checked.
    reauth_working: bool,
    /// Seconds since the app started, from the last tick.
    now_s: u64,
    last_heartbeat_s: u64,
    last_retry_s: u64,
    /// The change, when this ceremony is a rekey ([`Mode::Rekey`]) or removes a custodian.
    rekey: Option<Rekey>,
    /// The checklist, when this ceremony is an offboarding ([`Mode::Offboard`]).
    offboard: Option<Offboard>,
}

/// Things the outside world tells the ceremony (people's actions and effect results).
#[derive(Debug)]
pub enum Intent {
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
        result: Result<String, String>,
    },
    NoticeDone {
        phase: NoticePhase,
        result: Result<Delivery, String>,
    },
    RetryNotice,
    /// The custodian in check-in slot `who` acknowledges going on without the notice.
    Acknowledge {
        who: SlotIx,
    },
    Unsealed(Result<Arc<Runbook>, String>),
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
    ConfirmClose,
    SessionSigned {
        custodian: RosterIx,
        result: Result<(), String>,
    },
    RequestAbort,
    ConfirmAbort,
    CancelAbort,
    Journaled(Written),
    JournalFailed(String),
    /// Which account and principal the configured AWS credentials reach.
    AccountChecked(Result<(String, String), String>),
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
        result: Result<AttestInfo, String>,
    },
    /// The serials of the keys present now (from the runner's periodic scan).
    KeysPresent(Vec<u32>),
    /// The root account's posture (and, at close, root's events in CloudTrail for the session's
    /// window), read when the account is checked and when the session closes.
    PostureChecked {
        when: PostureWhen,
        result: Result<Posture, String>,
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
    RootAssumed(Result<(Call, u64), (Call, String)>),
    RootAct(RootAction),
    RootDone {
        action: RootAction,
        result: Result<(String, Option<Audit>), String>,
        calls: Vec<Call>,
    },
    CancelRootAction,
    /// A rekey goes on: from the review, or again after a failed swap.
    RekeyGo,
    /// `id`'s signature over the new roster version (armored SSHSIG), made and checked.
    RekeySigned {
        id: String,
        result: Result<String, String>,
    },
    /// The new version was staged, checked and swapped in: the sealed files opened to check it.
    RekeyCommitted(Result<Vec<String>, String>),
    /// Offboarding: do item `i` (a step people did, confirmed; or an AWS change, then confirmed
    /// by each custodian on their key with [`Intent::Acknowledge`]).
    OffboardDo(usize),
    /// An AWS change of the offboarding was made: its request id and a note (already done).
    OffboardApplied {
        item: usize,
        result: Result<(Option<String>, Option<String>), String>,
    },
    /// The offboarding is over: what is not done is recorded as not done.
    OffboardFinish,
}

/// Which journal hash a notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeHash {
    /// The genesis hash (entry 0): "root in use".
    Genesis,
    /// The chain head when it is sent: every later notice.
    Head,
    /// The notice names its own hash already (a rekey's new roster version).
    AsGiven,
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
        namespace: &'static str,
        message: String,
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
    pub root_events: Vec<crate::audit::RootEvent>,
}

/// The closing checklist, confirmed before root is released.
pub const CLOSING: [&str; 4] = [
    "Root password changed again and the new one sealed back in the safe",
    "Hardware MFA token back in the safe; tamper-evident bag number noted",
    "No root access keys left (created during the session, now deleted)",
    "Incident channel told what was done and that root is being released",
];

/// The rail shown on every screen.
/// The steps on the screen's rail for a quorum of `quorum`: one check-in step per custodian
/// needed ("Custodian 1" .. "Custodian N"), then the rest of the ceremony.
pub fn rail(quorum: usize) -> Vec<String> {
    let mut r = vec!["Setup".to_string()];
    r.extend((1..=quorum.max(1)).map(|i| format!("Custodian {i}")));
    r.extend(["Notify team", "Open runbook", "Runbook steps", "Close", "Sign"].map(String::from));
    r
}

/// The rail of a rekey: check-ins, the runbook opened, newcomers, signatures, the swap, the
/// notice, the co-signature.
pub fn rekey_rail(quorum: usize) -> Vec<String> {
    let mut r = vec!["Setup".to_string()];
    r.extend((1..=quorum.max(1)).map(|i| format!("Custodian {i}")));
    r.extend(["Open runbook", "Review change", "Sign roster", "Reseal, swap", "Notify team", "Sign"].map(String::from));
    r
}

/// The check-in challenge a custodian signs: binds the session and a fresh nonce.
pub fn checkin_message(session_id: &str, nonce: &str) -> String {
    format!("breakglass-checkin:{session_id}:{nonce}")
}

/// The statement a custodian signs to go on without a notice.
pub fn ack_message(session_id: &str, phase: NoticePhase, head: &str) -> String {
    format!("breakglass-ack:{session_id}:notice-{}:{head}", phase.as_str())
}

pub const ACK_NAMESPACE: &str = "breakglass-ack";
/// PINs a YubiKey ships with: never accepted in a real ceremony.
pub const FACTORY_PINS: [&str; 1] = ["123456"];
/// Namespace of a custodian's confirmation of a destructive root action.
pub const CONFIRM_NAMESPACE: &str = "breakglass-confirm";

/// Read access to the ceremony's state for the screens, the runner and tests: only
/// [`Ceremony::advance`] changes it.
macro_rules! copy_getters {
    ($($f:ident: $t:ty,)*) => {
        impl Ceremony {
            $( pub fn $f(&self) -> $t { self.$f } )*
        }
    };
}

macro_rules! getters {
    ($($f:ident: $t:ty,)*) => {
        impl Ceremony {
            $( pub fn $f(&self) -> &$t { &self.$f } )*
        }
    };
}

impl Ceremony {
    /// Plans a rekey (before setup): the session changes the roster as `rekey` says.
    pub fn plan_rekey(&mut self, rekey: Rekey) {
        self.rekey = Some(rekey);
    }

    /// Plans an offboarding (before setup): its checklist.
    pub fn plan_offboard(&mut self, offboard: Offboard) {
        self.offboard = Some(offboard);
    }

    /// Takes up an interrupted session (before setup): what its journal held.
    pub fn recover_from(&mut self, recovery: Recovery) {
        self.recovering = Some(recovery);
    }

    /// The custodians started editing: the message about the form goes.
    pub fn dismiss_message(&mut self) {
        self.message = None;
    }
}

getters! {
    pending: Vec<NoticePhase>,
    info: SessionInfo,
    phase: Phase,
    checked: IxVec<SlotIx, CheckedIn>,
    offboard: Option<Offboard>,
    signed: Vec<String>,
    rekey: Option<Rekey>,
    done: Vec<bool>,
    roster: IxVec<RosterIx, Person>,
    last: Option<Written>,
    runbook: Option<Arc<Runbook>>,
    message: Option<Message>,
    recovering: Option<Recovery>,
    started_ts: Option<String>,
    scenario: Scenario,
    revealed: Vec<bool>,
    root: Option<RootCtx>,
    times: Vec<(String, String)>,
    notices: Vec<(NoticePhase, Delivery)>,
    removed: Vec<u32>,
    reauth: Vec<SlotIx>,
    notes: Vec<Vec<String>>,
    degraded: Vec<String>,
    closing: Vec<bool>,
    reason: String,
}

copy_getters! {
    mode: Mode,
    outcome: Option<Outcome>,
    confirm_abort: bool,
    announced: bool,
    now_s: u64,
    aborted_at: Option<usize>,
}

impl Ceremony {
    pub fn new(info: SessionInfo, roster: Vec<Person>) -> Self {
        Self {
            info,
            roster: roster.into(),
            mode: Mode::Incident,
            reason: String::new(),
            ticket: None,
            checked: IxVec::new(),
            phase: Phase::Setup,
            runbook: None,
            done: vec![],
            notes: vec![],
            revealed: vec![],
            closing: vec![false; CLOSING.len()],
            outcome: None,
            signed: vec![],
            notices: vec![],
            degraded: vec![],
            last: None,
            started_ts: None,
            message: None,
            confirm_abort: false,
            announced: false,
            aborted_at: None,
            posture_start: None,
            release_after_posture: false,
            scenario: Scenario::Standard,
            times: vec![],
            principal: None,
            aws_skipped: false,
            pending: vec![],
            background: None,
            root: None,
            attestations: vec![],
            recovering: None,
            removed: vec![],
            reauth: vec![],
            reauth_working: false,
            now_s: 0,
            last_heartbeat_s: 0,
            last_retry_s: 0,
            rekey: None,
            offboard: None,
        }
    }

    /// This ceremony's rail (see [`rail`], [`rekey_rail`]).
    pub fn rail(&self) -> Vec<String> {
        match self.mode {
            Mode::Rekey => rekey_rail(self.quorum()),
            Mode::Offboard => {
                let mut r = if self.rekey.is_some() {
                    rekey_rail(self.quorum())
                } else {
                    let mut r = vec!["Setup".to_string()];
                    r.extend((1..=self.quorum()).map(|i| format!("Custodian {i}")));
                    r.push("Sign".into());
                    r
                };
                r.insert(r.len() - 1, "Offboard list".into());
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
    pub fn everyone_cap(&self) -> String {
        let e = self.everyone();
        let mut c = e.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    }

    /// Where "Notify team" is on the rail (right after the last check-in).
    pub fn notify_rail_index(&self) -> usize {
        match self.mode {
            Mode::Rekey | Mode::Offboard => self.rail().iter().position(|r| r == "Notify team").unwrap_or(usize::MAX),
            _ => self.quorum() + 1,
        }
    }

    /// Index of the rail entry for the current phase.
    pub fn rail_index(&self) -> usize {
        let q = self.quorum();
        if matches!(self.mode, Mode::Rekey | Mode::Offboard) {
            let rail = self.rail();
            let at = |name: &str| rail.iter().position(|r| r == name).unwrap_or(0);
            return match &self.phase {
                Phase::Setup | Phase::Quit | Phase::Account { .. } => 0,
                Phase::CheckIn(_) => 1 + self.checked.len().min(q - 1),
                Phase::Unseal { .. } => at("Open runbook"),
                Phase::Rekey(RekeyStage::Review | RekeyStage::Newcomer { .. }) => at("Review change"),
                Phase::Rekey(RekeyStage::Sign { .. }) => at("Sign roster"),
                Phase::Rekey(RekeyStage::Committing | RekeyStage::Failed(_)) => at("Reseal, swap"),
                Phase::Notify { .. } | Phase::Closing | Phase::Runbook | Phase::Root(_) => at("Notify team"),
                Phase::Offboard => at("Offboard list"),
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
            Phase::Runbook | Phase::Root(_) | Phase::Rekey(_) | Phase::Offboard => q + 3,
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
    pub fn root_announced(&self) -> bool {
        self.announced || self.notices.iter().any(|(p, _)| *p == NoticePhase::InUse) || matches!(self.phase, Phase::Notify { .. })
    }

    pub fn person(&self, i: RosterIx) -> &Person {
        &self.roster[i]
    }

    /// Ids of the checked-in custodians.
    pub fn checked_ids(&self) -> Vec<String> {
        self.checked.iter().map(|c| self.roster[c.custodian].id.clone()).collect()
    }

    /// The notice for `phase`, as the team reads it; the runner adds the time and the journal
    /// hash (the genesis hash for "root in use", the chain head otherwise; a rekey's "roster
    /// changed" names the new roster version instead).
    fn notice(&self, phase: NoticePhase) -> Effect {
        let base = Notice {
            session_id: self.info.session_id.clone(),
            phase,
            mode: self.mode.as_str().into(),
            demo: self.info.demo,
            account: self.info.account.clone(),
            custodians: self
                .checked
                .iter()
                .map(|k| format!("{} ({})", self.roster[k.custodian].name, self.roster[k.custodian].id))
                .collect(),
            reason: self.reason.clone(),
            host: self.info.host.clone(),
            started: self.started_ts.clone().unwrap_or_default(),
            at: String::new(),
            journal_hash: String::new(),
            journal_words: String::new(),
            journal_entry: None,
        };
        if let (NoticePhase::RosterChanged, Some(k)) = (phase, &self.rekey) {
            let ids = |v: Vec<String>| if v.is_empty() { "nobody".to_string() } else { v.join(", ") };
            let notice = Notice {
                custodians: k.new_ids.clone(),
                reason: format!(
                    "{}. Roster version {} (quorum {}): added {}; removed {}. Done in rekey session {} by {}.",
                    self.reason.trim_end_matches('.'),
                    k.new_version,
                    k.new_quorum,
                    ids(k.added.iter().map(|p| format!("{} ({})", p.name, p.id)).collect()),
                    ids(k.removed.clone()),
                    self.info.session_id,
                    self.checked_ids().join(", ")
                ),
                journal_hash: k.new_sha256.clone(),
                journal_words: crate::notice::words_hex(&k.new_sha256),
                ..base
            };
            return Effect::SendNotice { notice: Box::new(notice), hash: NoticeHash::AsGiven };
        }
        let hash = if phase == NoticePhase::InUse { NoticeHash::Genesis } else { NoticeHash::Head };
        Effect::SendNotice { notice: Box::new(base), hash }
    }

    fn entry(&self, entry: Entry) -> Effect {
        let labels = Labels { mode: self.mode.as_str(), demo: self.info.demo };
        Effect::Journal { entry, labels }
    }

    fn refuse(&mut self, say: Say) {
        self.message = Some(Message { tone: Tone::Refusal, say });
    }

    fn info_msg(&mut self, say: Say) {
        self.message = Some(Message { tone: Tone::Info, say });
    }

    /// Applies one intent; returns the effects to run, in order.
    pub fn advance(&mut self, intent: Intent) -> Vec<Effect> {
        let mut fx = Vec::new();
        // Results from the journal are bookkeeping, not actions.
        match intent {
            Intent::Journaled(w) => {
                if self.started_ts.is_none() {
                    self.started_ts = Some(w.ts.clone());
                }
                self.times.push((w.kind.clone(), w.ts.clone()));
                self.last = Some(w);
                return fx;
            }
            Intent::JournalFailed(e) => {
                // Nothing unrecorded stays on screen: secrets are masked again.
                self.revealed.iter_mut().for_each(|r| *r = false);
                self.phase = Phase::Halted(format!(
                    "The journal could not be written: {e}. Nothing further can be recorded, so the ceremony stops here. \
                     What was recorded so far is intact: free disk space or fix the data directory, then close this session \
                     with `breakglass recover`."
                ));
                return fx;
            }
            _ => {}
        }
        if matches!(self.phase, Phase::Halted(_) | Phase::Quit | Phase::Summary) {
            return fx;
        }
        let intent = match intent {
            Intent::Tick { now_s } => {
                self.tick(now_s, &mut fx);
                return fx;
            }
            Intent::PostureChecked { when, result } => {
                self.posture_checked(when, result, &mut fx);
                if when == PostureWhen::Close && std::mem::take(&mut self.release_after_posture) && self.outcome == Some(Outcome::Closed) {
                    self.phase = self.release(NoticePhase::Released, &mut fx);
                }
                return fx;
            }
            Intent::KeyAttested { serial, result } => {
                self.attestations.retain(|(s, _)| *s != serial);
                self.attestations.push((serial, result));
                return fx;
            }
            Intent::KeysPresent(serials) => {
                self.keys_present(&serials, None, &mut fx);
                return fx;
            }
            Intent::KeysUnreachable(why) => {
                self.keys_present(&[], Some(&why), &mut fx);
                return fx;
            }
            Intent::PinEntered(pin) if !self.reauth.is_empty() && !self.reauth_working && self.removed.is_empty() => {
                let who = self.reauth[0];
                self.reauth_working = true;
                fx.push(Effect::VerifyPin { serial: self.checked[who].serial, pin });
                return fx;
            }
            Intent::PinChecked { serial, result } if self.reauth_working => {
                self.reauth_working = false;
                let Some(pos) = self.reauth.iter().position(|w| self.checked[*w].serial == serial) else { return fx };
                let who = self.reauth[pos];
                let id = self.roster[self.checked[who].custodian].id.clone();
                match result {
                    Ok(()) => {
                        self.reauth.remove(pos);
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
                return fx;
            }
            _ if (!self.removed.is_empty() || !self.reauth.is_empty())
                && !matches!(intent, Intent::RequestAbort | Intent::CancelAbort | Intent::ConfirmAbort | Intent::Signal(_)) =>
            {
                // Paused: a checked-in key is missing or locked. Results of work already under
                // way still land; new actions wait.
                if !matches!(
                    intent,
                    Intent::Attested { .. }
                        | Intent::NoticeDone { .. }
                        | Intent::RekeySigned { .. }
                        | Intent::RekeyCommitted(_)
                        | Intent::OffboardApplied { .. }
                        | Intent::Unsealed(_)
                        | Intent::SessionSigned { .. }
                        | Intent::RootDone { .. }
                        | Intent::RootAssumed(_)
                        | Intent::AccountChecked(_)
                ) {
                    return fx;
                }
                intent
            }
            Intent::NoticeDone { phase, result } if self.background == Some(phase) => {
                self.background = None;
                self.background_done(phase, result, &mut fx);
                return fx;
            }
            other => other,
        };
        // Abort is possible everywhere, with a confirmation.
        match intent {
            Intent::RequestAbort => {
                if matches!(self.phase, Phase::Sign { .. }) && self.outcome.is_some() {
                    self.info_msg(Say::AlreadyClosed);
                } else {
                    self.confirm_abort = true;
                }
                return fx;
            }
            Intent::CancelAbort => {
                self.confirm_abort = false;
                return fx;
            }
            Intent::ConfirmAbort => {
                self.confirm_abort = false;
                return self.abort(None);
            }
            Intent::Signal(name) => {
                // The process was told to stop (terminal closed, SIGTERM): record it as an abort.
                self.confirm_abort = false;
                return self.abort(Some(name));
            }
            _ => {}
        }
        if self.confirm_abort {
            return fx;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Halted(String::new()));
        self.phase = match (phase, intent) {
            (Phase::Setup, Intent::Begin { mode, reason, ticket, scenario }) => {
                let reason = reason.trim().to_string();
                // A recovery continues the interrupted session: its mode is not the custodians' to change.
                let (mode, scenario) = match &self.recovering {
                    Some(r) => (r.mode, Scenario::Standard),
                    None => (mode, scenario),
                };
                if reason.is_empty() {
                    self.refuse(Say::ReasonMissing);
                    Phase::Setup
                } else if self.recovering.is_none()
                    && !match mode {
                        Mode::Rekey => self.rekey.is_some() && self.offboard.is_none(),
                        Mode::Offboard => self.offboard.is_some(),
                        Mode::Incident | Mode::Drill => self.rekey.is_none() && self.offboard.is_none(),
                    }
                {
                    self.refuse(Say::WrongMode { asked: mode, planned: self.planned_mode() });
                    Phase::Setup
                } else if mode != Mode::Drill && scenario != Scenario::Standard {
                    self.refuse(Say::ScenarioDrillOnly { scenario: scenario.name().to_string() });
                    Phase::Setup
                } else if !Scenario::all(self.roster.as_slice()).contains(&scenario) {
                    self.refuse(Say::ScenarioDoesNotFit { scenario: scenario.name().to_string() });
                    Phase::Setup
                } else {
                    self.scenario = scenario;
                    self.mode = mode;
                    self.reason = reason;
                    self.ticket = ticket.filter(|t| !t.trim().is_empty());
                    self.message = None;
                    if let Some(rec) = &self.recovering {
                        // The same chain goes on: what the journal held, where it stopped, and why.
                        fx.push(self.entry(Entry::SessionRecovered {
                            session_id: self.info.session_id.clone(),
                            entries: rec.entries,
                            last_ts: rec.last_ts.clone(),
                            partial_tail: rec.partial_tail.clone(),
                            announced: rec.announced,
                            reason: self.reason.clone(),
                            host: self.info.host.clone(),
                            tool: format!("breakglass {}", self.info.tool_version),
                        }));
                        if let Some(k) = &rec.rekey {
                            // What the settled files say: the new version in place, or not.
                            fx.push(self.entry(Entry::RekeySettled {
                                new_roster_sha256: k.new_roster_sha256.clone(),
                                live_roster_sha256: k.live_roster_sha256.clone(),
                                in_place: k.new_roster_sha256 == k.live_roster_sha256,
                            }));
                        }
                    } else {
                        fx.push(self.entry(Entry::SessionOpened {
                            session_id: self.info.session_id.clone(),
                            reason: self.reason.clone(),
                            ticket: self.ticket.clone(),
                            host: self.info.host.clone(),
                            tool: format!("breakglass {}", self.info.tool_version),
                            roster_sha256: self.info.roster_sha256.clone(),
                            runbook_sha256: self.info.runbook_sha256.clone(),
                            account: self.info.account.clone(),
                            quorum: self.info.quorum,
                            scenario: (self.mode == Mode::Drill).then(|| self.scenario.name().to_string()),
                            custodians: self.roster.iter().map(|p| p.id.clone()).collect(),
                            offboard: self.offboard.as_ref().map(|o| OffboardOpened {
                                person: o.person.clone(),
                                iam_user: o.iam_user.clone(),
                                target_s: o.target_s,
                                items: o.items.len(),
                                rehearsal: o.rehearsal,
                            }),
                            rekey: self.rekey.as_ref().map(|k| RekeyOpened {
                                new_roster_sha256: k.new_sha256.clone(),
                                new_version: k.new_version,
                                added: k.added.iter().map(|p| p.id.clone()).collect(),
                                removed: k.removed.clone(),
                                quorum_after: k.new_quorum,
                            }),
                        }));
                    }
                    self.after_begin(&mut fx)
                }
            }
            (Phase::Account { failed: None }, Intent::AccountChecked(result)) => self.account_checked(result, &mut fx),
            (Phase::Account { failed: Some(_) }, Intent::RetryAccount) => {
                fx.push(Effect::CheckAccount { expected: self.info.account.clone() });
                Phase::Account { failed: None }
            }
            (Phase::Account { failed: Some(why) }, Intent::SkipAws) => {
                self.aws_skipped = true;
                fx.push(self.entry(Entry::AwsSkipped { why: why.clone() }));
                self.info_msg(Say::GoingOnWithoutAws);
                Phase::CheckIn(KeyStage::AwaitKey)
            }
            (Phase::CheckIn(stage), intent) => self.check_in(stage, intent, &mut fx),
            (Phase::Notify { notice, status }, intent) => self.notify(notice, status, intent, &mut fx),
            (Phase::Unseal { .. }, Intent::Unsealed(Ok(rb))) if matches!(self.mode, Mode::Rekey | Mode::Offboard) => {
                // Opened to be sealed again for the new version, and for the offboarding steps
                // the runbook adds: never shown.
                let purpose = if self.rekey.is_some() { "reseal" } else { "offboarding steps" };
                fx.push(self.entry(Entry::RunbookUnsealed {
                    with: self.checked_ids(),
                    steps: rb.steps.len(),
                    purpose: Some(purpose.into()),
                }));
                if let Some(o) = self.offboard.as_mut() {
                    let added =
                        rb.steps.iter().enumerate().filter(|(_, s)| s.section.to_lowercase().contains("offboard")).map(|(n, s)| OffItem {
                            runbook_step: Some(n),
                            ..OffItem::people(format!("Runbook step {}: {}", n + 1, s.text))
                        });
                    o.items.extend(added);
                }
                drop(rb);
                if self.rekey.is_some() {
                    self.rekey_review()
                } else {
                    self.info_msg(Say::WorkDownChecklist);
                    Phase::Offboard
                }
            }
            (Phase::Rekey(stage), intent) => self.rekey_step(stage, intent, &mut fx),
            (Phase::Offboard, intent) => self.offboard_step(intent, &mut fx),
            (Phase::Unseal { .. }, Intent::Unsealed(Ok(rb))) => {
                let n = rb.steps.len();
                self.done = vec![false; n];
                self.notes = vec![vec![]; n];
                self.revealed = vec![false; rb.secrets.len()];
                self.runbook = Some(rb);
                self.message = None;
                fx.push(self.entry(Entry::RunbookUnsealed { with: self.checked_ids(), steps: n, purpose: None }));
                Phase::Runbook
            }
            (Phase::Unseal { .. }, Intent::Unsealed(Err(e))) => {
                fx.push(self.entry(Entry::RunbookFailed { error: e.clone() }));
                Phase::Unseal { failed: Some(e) }
            }
            (Phase::Unseal { failed: Some(_) }, Intent::RetryUnseal) => {
                fx.push(Effect::Unseal { ids: self.checked_ids() });
                Phase::Unseal { failed: None }
            }
            (Phase::Runbook, Intent::OpenRoot) => {
                if !self.info.aws || self.aws_skipped {
                    self.refuse(Say::RootNeedsAws);
                    Phase::Runbook
                } else {
                    self.message = None;
                    Phase::Root(if self.root.as_ref().is_some_and(|r| r.expires_s > self.now_s) {
                        RootStage::Ready
                    } else {
                        RootStage::Pick
                    })
                }
            }
            (Phase::Runbook, intent) => self.runbook_step(intent, &mut fx),
            (Phase::Root(stage), intent) => self.root_step(stage, intent, &mut fx),
            (Phase::Closing, Intent::ToggleClosing(i)) if i < CLOSING.len() => {
                self.closing[i] = !self.closing[i];
                if self.closing[i] {
                    fx.push(self.entry(Entry::ClosingChecked { item: i as u64 + 1, text: CLOSING[i].into() }));
                } else {
                    fx.push(self.entry(Entry::ClosingUnchecked { item: i as u64 + 1 }));
                }
                Phase::Closing
            }
            (Phase::Closing, Intent::ConfirmClose) => {
                if let Some(i) = self.closing.iter().position(|c| !c) {
                    self.refuse(Say::ConfirmClosingFirst { item: i + 1 });
                    Phase::Closing
                } else {
                    self.outcome = Some(Outcome::Closed);
                    let done = self.done.iter().filter(|d| **d).count();
                    fx.push(self.entry(Entry::SessionClosed { steps_done: done as u64, steps_total: self.done.len() as u64, rekey: None }));
                    // Root's posture and CloudTrail's root events for this session are read and
                    // journalled first: "root released" then carries a head that includes them.
                    if self.info.aws && !self.aws_skipped {
                        fx.push(Effect::Posture {
                            when: PostureWhen::Close,
                            account: self.info.account.clone().unwrap_or_default(),
                            since: self.started_ts.clone(),
                        });
                        self.release_after_posture = true;
                        Phase::Notify { notice: NoticePhase::Released, status: NotifyStatus::Sending }
                    } else {
                        self.release(NoticePhase::Released, &mut fx)
                    }
                }
            }
            (Phase::Closing, Intent::Back) => Phase::Runbook,
            (Phase::Sign { who, stage: SignStage::AwaitTouch | SignStage::Failed(_) }, Intent::Touch) => {
                let c = &self.checked[who];
                fx.push(Effect::SignJournal { custodian: c.custodian, serial: c.serial });
                Phase::Sign { who, stage: SignStage::Working }
            }
            (Phase::Sign { who, stage: SignStage::Working }, Intent::SessionSigned { custodian, result })
                if self.checked[who].custodian == custodian =>
            {
                match result {
                    Ok(()) => {
                        self.signed.push(self.roster[custodian].id.clone());
                        self.message = None;
                        if self.checked.has(who.next()) {
                            Phase::Sign { who: who.next(), stage: SignStage::AwaitTouch }
                        } else {
                            fx.push(Effect::Finish {
                                session_id: self.info.session_id.clone(),
                                mode: self.mode,
                                demo: self.info.demo,
                                signed: self.signed.clone(),
                            });
                            Phase::Summary
                        }
                    }
                    Err(e) => Phase::Sign { who, stage: SignStage::Failed(e) },
                }
            }
            (p, _) => p,
        };
        fx
    }

    fn check_in(&mut self, stage: KeyStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        use KeyStage::*;
        match (stage, intent) {
            (AwaitKey | AwaitPin { .. }, Intent::KeySeen { serial, model, demo, retries, nonce }) => {
                if demo != self.info.demo {
                    self.refuse(Say::KeyKindMismatch { serial, demo_key: demo });
                    return Phase::CheckIn(AwaitKey);
                }
                let Some(custodian) = self.roster.position(|p| p.serial == serial) else {
                    self.refuse(Say::NotOnRoster { serial });
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: None,
                        why: "serial not on the roster".into(),
                        retries_left: None,
                    }));
                    return Phase::CheckIn(AwaitKey);
                };
                let p = self.roster[custodian].clone();
                if self.checked.iter().any(|c| c.custodian == custodian || c.serial == serial) {
                    self.refuse(Say::AlreadyCheckedIn { serial, owner: p.id.clone(), slot: self.checked.next_index() });
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: "already checked in: two different custodians are required".into(),
                        retries_left: None,
                    }));
                    return Phase::CheckIn(AwaitKey);
                }
                if !demo {
                    match self.attestations.iter().find(|(s, _)| *s == serial).map(|(_, r)| r.clone()) {
                        Some(Ok(_)) => {}
                        Some(Err(why)) => {
                            self.refuse(Say::AttestationRefused { serial, id: p.id.clone(), why: why.clone() });
                            fx.push(self.entry(Entry::CustodianRefused {
                                serial,
                                custodian: Some(p.id.clone()),
                                why: format!("attestation: {why}"),
                                retries_left: None,
                            }));
                            return Phase::CheckIn(AwaitKey);
                        }
                        None => {
                            self.refuse(Say::NotAttested { serial });
                            fx.push(self.entry(Entry::CustodianRefused {
                                serial,
                                custodian: Some(p.id.clone()),
                                why: "no attestation".into(),
                                retries_left: None,
                            }));
                            return Phase::CheckIn(AwaitKey);
                        }
                    }
                }
                if let Some(say) = self.scenario_refuses(custodian) {
                    let why = match &say {
                        Say::ScenarioSparePair { usual: (a, b) } => {
                            format!("DRILL scenario: {a} and {b} are the usual pair; a spare steps in")
                        }
                        _ => format!("DRILL scenario: {}'s key is declared missing", p.id),
                    };
                    self.refuse(say);
                    fx.push(self.entry(Entry::CustodianRefused { serial, custodian: Some(p.id.clone()), why, retries_left: None }));
                    return Phase::CheckIn(AwaitKey);
                }
                match retries {
                    Ok(0) | Err(TokenError::PinBlocked) => {
                        self.refuse(Say::PinBlocked { id: p.id.clone() });
                        fx.push(self.entry(Entry::CustodianRefused {
                            serial,
                            custodian: Some(p.id.clone()),
                            why: "PIN blocked".into(),
                            retries_left: None,
                        }));
                        Phase::CheckIn(AwaitKey)
                    }
                    Ok(1) => {
                        self.refuse(Say::LastPinTry { id: p.id.clone() });
                        fx.push(self.entry(Entry::CustodianRefused {
                            serial,
                            custodian: Some(p.id.clone()),
                            why: "last PIN try: not spent".into(),
                            retries_left: None,
                        }));
                        Phase::CheckIn(AwaitKey)
                    }
                    Ok(retries) => {
                        self.message = None;
                        Phase::CheckIn(AwaitPin { custodian, serial, model, retries, nonce })
                    }
                    Err(e) => {
                        self.refuse(Say::KeyError { serial, error: e });
                        Phase::CheckIn(AwaitKey)
                    }
                }
            }
            (AwaitPin { .. } | AwaitTouch { .. }, Intent::Back) => {
                self.message = None;
                Phase::CheckIn(AwaitKey)
            }
            (AwaitPin { custodian, serial, model, nonce, retries }, Intent::PinEntered(pin))
                if FACTORY_PINS.contains(&secrecy::ExposeSecret::expose_secret(&pin)) && !self.info.demo =>
            {
                // Not sent to the card: no try is spent on a PIN that must not be in use.
                let id = self.roster[custodian].id.clone();
                fx.push(self.entry(Entry::CustodianRefused {
                    serial,
                    custodian: Some(id.clone()),
                    why: "factory default PIN".into(),
                    retries_left: None,
                }));
                self.refuse(Say::FactoryPin { id: id.clone() });
                Phase::CheckIn(AwaitPin { custodian, serial, model, retries, nonce })
            }
            (AwaitPin { custodian, serial, model, nonce, .. }, Intent::PinEntered(pin)) => {
                self.message = None;
                fx.push(Effect::VerifyPin { serial, pin });
                Phase::CheckIn(Working { custodian, serial, model, nonce })
            }
            (Working { custodian, serial, model, nonce }, Intent::PinChecked { serial: s, result }) if s == serial => match result {
                Ok(()) => {
                    self.info_msg(Say::PinAccepted { id: self.roster[custodian].id.clone() });
                    Phase::CheckIn(AwaitTouch { custodian, serial, model, nonce })
                }
                Err(TokenError::WrongPin { retries_left }) => {
                    let id = self.roster[custodian].id.clone();
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(id.clone()),
                        why: "wrong PIN".into(),
                        retries_left: Some(retries_left),
                    }));
                    if retries_left <= 1 {
                        self.refuse(Say::WrongPinLastTry { retries_left });
                        Phase::CheckIn(AwaitKey)
                    } else {
                        self.refuse(Say::WrongPin { retries_left });
                        Phase::CheckIn(AwaitPin { custodian, serial, model, retries: retries_left, nonce })
                    }
                }
                Err(e) => {
                    let id = self.roster[custodian].id.clone();
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(id.clone()),
                        why: e.to_string(),
                        retries_left: None,
                    }));
                    self.refuse(Say::Token(e));
                    Phase::CheckIn(AwaitKey)
                }
            },
            (AwaitTouch { custodian, serial, model, nonce }, Intent::Touch) => {
                let message = checkin_message(&self.info.session_id, &nonce);
                fx.push(Effect::Attest { custodian, serial, namespace: crate::sign::CHECKIN_NAMESPACE, message });
                Phase::CheckIn(Working { custodian, serial, model, nonce })
            }
            (Working { custodian, serial, model, nonce }, Intent::Attested { custodian: c, result }) if c == custodian => match result {
                Ok(sig) => {
                    let id = self.roster[custodian].id.clone();
                    fx.push(self.entry(Entry::CustodianVerified {
                        custodian: id.clone(),
                        serial,
                        key: model.clone(),
                        slot: self.checked.len() + 1,
                        challenge: checkin_message(&self.info.session_id, &nonce),
                        sshsig: sig,
                        attestation: self.attestations.iter().find(|(s, _)| *s == serial).and_then(|(_, r)| r.as_ref().ok()).map(|a| {
                            AttestationNote { firmware: a.firmware.clone(), form_factor: a.form_factor.clone(), root: a.root.clone() }
                        }),
                    }));
                    self.checked.push(CheckedIn { custodian, serial, model });
                    self.info_msg(Say::CheckedIn { name: self.roster[custodian].name.clone(), id: id.clone() });
                    if self.checked.len() >= self.quorum() { self.quorum_present(fx) } else { Phase::CheckIn(AwaitKey) }
                }
                Err(e) => {
                    let id = self.roster[custodian].id.clone();
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(id.clone()),
                        why: format!("challenge signature: {e}"),
                        retries_left: None,
                    }));
                    self.refuse(Say::ChallengeNotSigned { id: id.clone(), error: e });
                    Phase::CheckIn(AwaitKey)
                }
            },
            (stage, _) => Phase::CheckIn(stage),
        }
    }

    /// Pauses when a checked-in key is pulled out; resumes (after the PIN again) when it returns.
    fn keys_present(&mut self, serials: &[u32], unreachable: Option<&str>, fx: &mut Vec<Effect>) {
        for (who, k) in self.checked.clone().enumerate() {
            let id = self.roster[k.custodian].id.clone();
            let here = serials.contains(&k.serial);
            if !here && !self.removed.contains(&k.serial) {
                self.removed.push(k.serial);
                self.reauth.retain(|w| *w != who);
                match unreachable {
                    None => {
                        fx.push(self.entry(Entry::CustodianKeyRemoved { custodian: id.clone(), serial: k.serial, why: None }));
                        self.refuse(Say::Paused { id: id.clone(), serial: k.serial });
                    }
                    Some(why) => {
                        fx.push(self.entry(Entry::CustodianKeyRemoved {
                            custodian: id.clone(),
                            serial: k.serial,
                            why: Some(why.to_string()),
                        }));
                        self.refuse(Say::PausedNoReader);
                    }
                }
            } else if here && self.removed.contains(&k.serial) {
                self.removed.retain(|s| *s != k.serial);
                fx.push(self.entry(Entry::CustodianKeyReturned { custodian: id.clone(), serial: k.serial }));
                if !self.reauth.contains(&who) {
                    self.reauth.push(who);
                }
                self.info_msg(Say::KeyBack { id: id.clone() });
            }
        }
    }

    /// Why the drill's scenario turns this custodian away, if it does.
    fn scenario_refuses(&self, custodian: RosterIx) -> Option<Say> {
        let id = &self.roster[custodian].id;
        match &self.scenario {
            Scenario::KeyMissing(missing) if missing == id => Some(Say::ScenarioKeyMissing { id: id.clone() }),
            Scenario::SparePair if self.roster.len() > 2 => {
                let usual = [self.roster[RosterIx(0)].id.as_str(), self.roster[RosterIx(1)].id.as_str()];
                let first = self.checked.first().map(|k| self.roster[k.custodian].id.as_str());
                match first {
                    Some(f) if usual.contains(&f) && usual.contains(&id.as_str()) => {
                        Some(Say::ScenarioSparePair { usual: (usual[0].to_string(), usual[1].to_string()) })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn notify(&mut self, notice: NoticePhase, status: NotifyStatus, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match (status, intent) {
            (NotifyStatus::Sending, Intent::NoticeDone { phase, result }) if phase == notice => match result {
                Ok(d) => {
                    fx.push(self.entry(Entry::NoticeSent {
                        phase: notice.as_str().into(),
                        channel: d.channel.clone(),
                        message_id: d.message_id.clone(),
                        late: None,
                    }));
                    self.notices.push((notice, d));
                    self.message = None;
                    self.after_notice(notice, fx)
                }
                Err(e) => {
                    self.message = None;
                    fx.push(self.entry(Entry::NoticeFailed { phase: notice.as_str().into(), error: e.clone(), simulated: false }));
                    Phase::Notify { notice, status: NotifyStatus::Failed { error: e, acked: vec![], acking: None } }
                }
            },
            (NotifyStatus::Failed { .. }, Intent::RetryNotice) => self.send_notice(notice, fx),
            (NotifyStatus::Failed { error, acked, acking: None }, Intent::Acknowledge { who })
                if self.checked.has(who) && !acked.contains(&who) =>
            {
                let c = &self.checked[who];
                let head = self.last.as_ref().map(|w| hex::encode(w.head)).unwrap_or_default();
                fx.push(Effect::Attest {
                    custodian: c.custodian,
                    serial: c.serial,
                    namespace: ACK_NAMESPACE,
                    message: ack_message(&self.info.session_id, notice, &head),
                });
                Phase::Notify { notice, status: NotifyStatus::Failed { error, acked, acking: Some(who) } }
            }
            (NotifyStatus::Failed { error, mut acked, acking: Some(who) }, Intent::Attested { custodian, result })
                if self.checked[who].custodian == custodian =>
            {
                match result {
                    Ok(sig) => {
                        let id = self.roster[custodian].id.clone();
                        let head = self.last.as_ref().map(|w| hex::encode(w.head)).unwrap_or_default();
                        fx.push(self.entry(Entry::NoticeAcknowledged {
                            phase: notice.as_str().into(),
                            custodian: id.clone(),
                            statement: ack_message(&self.info.session_id, notice, &head),
                            sshsig: sig,
                        }));
                        acked.push(who);
                        if acked.len() >= self.checked.len().max(1) {
                            // Simulated or deliberate outages are not retried; real ones are.
                            if !self.aws_skipped && (self.mode != Mode::Drill || self.scenario != Scenario::NoticeDown) {
                                self.pending.push(notice);
                            }
                            self.degraded.push(format!(
                                "notice {} not delivered; going on was acknowledged by {}",
                                notice.as_str(),
                                self.checked_ids().join(" and ")
                            ));
                            self.info_msg(Say::AcknowledgedGoingOn);
                            self.after_notice(notice, fx)
                        } else {
                            Phase::Notify { notice, status: NotifyStatus::Failed { error, acked, acking: None } }
                        }
                    }
                    Err(e) => {
                        self.refuse(Say::AckNotSigned { error: e });
                        Phase::Notify { notice, status: NotifyStatus::Failed { error, acked, acking: None } }
                    }
                }
            }
            (status, _) => Phase::Notify { notice, status },
        }
    }

    /// Sends a notice, unless the drill rehearses the channel being down (then the failure is
    /// simulated here, without touching the network, and recorded as simulated).
    fn after_begin(&mut self, fx: &mut Vec<Effect>) -> Phase {
        if self.info.aws {
            fx.push(Effect::CheckAccount { expected: self.info.account.clone() });
            Phase::Account { failed: None }
        } else {
            Phase::CheckIn(KeyStage::AwaitKey)
        }
    }

    /// A quorum checked in: a ceremony announces root; a recovery closes the interrupted session
    /// (recorded as aborted), releases root if it had been announced, and collects signatures.
    fn quorum_present(&mut self, fx: &mut Vec<Effect>) -> Phase {
        let Some(rec) = self.recovering.clone() else {
            if matches!(self.mode, Mode::Rekey | Mode::Offboard) {
                // No root is touched: the runbook is opened to be sealed again (and, for an
                // offboarding, for the steps it adds to the checklist), never shown.
                fx.push(Effect::Unseal { ids: self.checked_ids() });
                return Phase::Unseal { failed: None };
            }
            return self.send_notice(NoticePhase::InUse, fx);
        };
        self.outcome = Some(Outcome::Aborted);
        // Setup and both check-ins happened in this recovery; what followed them did not.
        self.aborted_at = Some(self.notify_rail_index());
        self.announced = rec.announced;
        if !rec.closed {
            fx.push(self.entry(Entry::SessionAborted {
                at: "interrupted".into(),
                recovered: true,
                steps_done: rec.steps_done,
                signal: None,
            }));
        }
        if rec.announced && !rec.released {
            self.info_msg(Say::RecoveryClosed(RecoveryNotice::Releasing));
            self.release(NoticePhase::Aborted, fx)
        } else if rec.released {
            self.info_msg(Say::RecoveryClosed(RecoveryNotice::AlreadyReleased));
            self.start_signing()
        } else {
            self.info_msg(Say::RecoveryClosed(RecoveryNotice::NeverAnnounced));
            self.start_signing()
        }
    }

    fn send_notice(&mut self, notice: NoticePhase, fx: &mut Vec<Effect>) -> Phase {
        if self.mode == Mode::Drill && self.scenario == Scenario::NoticeDown && notice == NoticePhase::InUse {
            let error = format!(
                "DRILL scenario: the notice channel is down (simulated). Tell the team by phone, then {} acknowledge.",
                self.everyone()
            );
            fx.push(self.entry(Entry::NoticeFailed { phase: notice.as_str().into(), error: error.clone(), simulated: true }));
            return Phase::Notify { notice, status: NotifyStatus::Failed { error, acked: vec![], acking: None } };
        }
        if self.aws_skipped {
            let error = format!(
                "AWS was set aside for this session: the notice cannot be sent. Tell the team by phone, then {} acknowledge.",
                self.everyone()
            );
            fx.push(self.entry(Entry::NoticeFailed { phase: notice.as_str().into(), error: error.clone(), simulated: false }));
            return Phase::Notify { notice, status: NotifyStatus::Failed { error, acked: vec![], acking: None } };
        }
        fx.push(self.notice(notice));
        Phase::Notify { notice, status: NotifyStatus::Sending }
    }

    fn account_checked(&mut self, result: Result<(String, String), String>, fx: &mut Vec<Effect>) -> Phase {
        let expected = self.info.account.clone().unwrap_or_default();
        match result {
            Ok((account, arn)) if expected.is_empty() || account == expected => {
                fx.push(self.entry(Entry::AwsIdentity {
                    account: Some(account),
                    principal: Some(arn.clone()),
                    expected: None,
                    refused: false,
                    error: None,
                }));
                self.principal = Some(arn);
                self.message = None;
                Phase::CheckIn(KeyStage::AwaitKey)
            }
            Ok((account, arn)) => {
                fx.push(self.entry(Entry::AwsIdentity {
                    account: Some(account.clone()),
                    principal: Some(arn.clone()),
                    expected: Some(expected.clone()),
                    refused: true,
                    error: None,
                }));
                Phase::Account {
                    failed: Some(format!(
                        "These AWS credentials reach account {account} ({arn}), but breakglass.toml says aws.account_id = {expected}. \
                         Nothing was sent. Fix the profile or the config (wrong credentials here could touch the wrong account)."
                    )),
                }
            }
            Err(e) => {
                fx.push(self.entry(Entry::AwsIdentity {
                    account: None,
                    principal: None,
                    expected: None,
                    refused: false,
                    error: Some(e.clone()),
                }));
                Phase::Account { failed: Some(e) }
            }
        }
    }

    /// Journals the posture read (`posture.checked`, with what changed since the start) and, at
    /// the close, root's events in CloudTrail for the session's window (`root.activity`).
    fn posture_checked(&mut self, when: PostureWhen, result: Result<Posture, String>, fx: &mut Vec<Effect>) {
        if self.aws_skipped || matches!(self.phase, Phase::Sign { .. } | Phase::Summary | Phase::Halted(_) | Phase::Quit) {
            // Never after anyone may have signed: the signatures cover the whole journal.
            return;
        }
        let p = match result {
            Ok(p) => p,
            Err(e) => {
                fx.push(self.entry(Entry::PostureChecked {
                    when: when.as_str().into(),
                    account: None,
                    checks: None,
                    changed: None,
                    error: Some(e),
                }));
                return;
            }
        };
        let checks = p
            .checks
            .iter()
            .map(|(id, status, reason)| PostureCheck { id: id.clone(), status: status.clone(), reason: reason.clone() })
            .collect();
        let changed = match when {
            PostureWhen::Start => {
                self.posture_start = Some(p.checks.clone());
                None
            }
            PostureWhen::Close => {
                let before = self.posture_start.clone().unwrap_or_default();
                Some(
                    p.checks
                        .iter()
                        .filter_map(|(id, status, _)| {
                            let from = before.iter().find(|(b, _, _)| b == id).map(|(_, s, _)| s.clone());
                            (from.as_deref() != Some(status.as_str())).then(|| PostureChange { id: id.clone(), from, to: status.clone() })
                        })
                        .collect(),
                )
            }
        };
        fx.push(self.entry(Entry::PostureChecked {
            when: when.as_str().into(),
            account: Some(p.account.clone()),
            checks: Some(checks),
            changed,
            error: None,
        }));
        if when == PostureWhen::Close {
            let events = p
                .root_events
                .iter()
                .map(|e| ActivityEvent {
                    time: e.time.clone(),
                    event: e.event.clone(),
                    source_ip: e.source_ip.clone(),
                    user_agent: e.user_agent.clone(),
                })
                .collect();
            fx.push(self.entry(Entry::RootActivity {
                since: self.started_ts.clone(),
                events,
                note: "CloudTrail's event history can lag by several minutes: events that arrive later show in `breakglass audit`".into(),
            }));
        }
    }

    /// Heartbeats while root is in use, and background retries of undelivered notices.
    fn tick(&mut self, now_s: u64, fx: &mut Vec<Effect>) {
        self.now_s = now_s;
        if matches!(self.phase, Phase::Root(RootStage::Ready | RootStage::Confirm { .. }))
            && self.root.as_ref().is_some_and(|r| now_s >= r.expires_s)
        {
            fx.push(Effect::DropRoot);
            self.phase = Phase::Root(RootStage::Expired);
            self.refuse(Say::RootExpired);
        }
        if self.background.is_some() || self.confirm_abort {
            return;
        }
        let in_use =
            self.announced && self.outcome.is_none() && matches!(self.phase, Phase::Unseal { .. } | Phase::Runbook | Phase::Closing);
        if let Some(&p) = self.pending.first() {
            if !self.aws_skipped && now_s >= self.last_retry_s + 60 {
                self.last_retry_s = now_s;
                self.background = Some(p);
                fx.push(self.notice(p));
            }
        } else if in_use && self.info.heartbeat_s > 0 && !self.aws_skipped && now_s >= self.last_heartbeat_s + self.info.heartbeat_s {
            self.last_heartbeat_s = now_s;
            self.background = Some(NoticePhase::Heartbeat);
            fx.push(self.notice(NoticePhase::Heartbeat));
        }
    }

    fn background_done(&mut self, phase: NoticePhase, result: Result<Delivery, String>, fx: &mut Vec<Effect>) {
        let late = self.pending.contains(&phase);
        match result {
            Ok(d) => {
                fx.push(self.entry(Entry::NoticeSent {
                    phase: phase.as_str().into(),
                    channel: d.channel.clone(),
                    message_id: d.message_id.clone(),
                    late: Some(late),
                }));
                self.pending.retain(|p| *p != phase);
                self.notices.push((phase, d));
                if late {
                    self.info_msg(Say::NoticeFinallySent { phase });
                }
            }
            Err(e) if !late => fx.push(self.entry(Entry::NoticeFailed { phase: phase.as_str().into(), error: e, simulated: false })),
            // A retry that failed again: it stays pending; the first failure is already recorded.
            Err(_) => {}
        }
    }

    /// Sends the release (or abort) notice; a notice still undelivered goes first, so the team
    /// hears the whole story in order.
    fn release(&mut self, notice: NoticePhase, fx: &mut Vec<Effect>) -> Phase {
        if let Some(&p) = self.pending.first()
            && self.background.is_none()
            && !self.aws_skipped
        {
            self.background = Some(p);
            fx.push(self.notice(p));
        }
        self.send_notice(notice, fx)
    }

    fn after_notice(&mut self, notice: NoticePhase, fx: &mut Vec<Effect>) -> Phase {
        match notice {
            NoticePhase::InUse => {
                self.announced = true;
                self.last_heartbeat_s = self.now_s;
                fx.push(Effect::Unseal { ids: self.checked_ids() });
                Phase::Unseal { failed: None }
            }
            // A rekey's last act: the team hears who was added and removed; then it closes.
            NoticePhase::RosterChanged if self.mode == Mode::Offboard => {
                self.info_msg(Say::OffboardRosterChanged);
                Phase::Offboard
            }
            NoticePhase::RosterChanged if self.mode == Mode::Rekey => {
                self.outcome = Some(Outcome::Closed);
                fx.push(self.entry(Entry::SessionClosed { steps_done: 0, steps_total: 0, rekey: Some("committed".into()) }));
                self.start_signing()
            }
            // Sent before a ceremony starts, never from inside one.
            NoticePhase::Heartbeat | NoticePhase::RosterChanged => Phase::Runbook,
            NoticePhase::Released | NoticePhase::Aborted => self.start_signing(),
        }
    }

    fn start_signing(&mut self) -> Phase {
        if self.checked.is_empty() {
            // Nobody checked in: nothing can be signed.
            Phase::Summary
        } else {
            Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch }
        }
    }

    fn root_step(&mut self, stage: RootStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match (stage, intent) {
            (_, Intent::CloseRoot) => {
                if self.root.is_some() {
                    fx.push(Effect::DropRoot);
                    fx.push(self.entry(Entry::RootClosed { target: self.root.as_ref().map(|r| r.target.clone()) }));
                }
                self.root = None;
                self.message = None;
                Phase::Runbook
            }
            (RootStage::Pick | RootStage::Ready | RootStage::Expired, Intent::AssumeRoot { target, task }) => {
                if !crate::config::is_account_id(&target) {
                    self.refuse(Say::NotAnAccountId { target: target.clone() });
                    return Phase::Root(RootStage::Pick);
                }
                if self.mode == Mode::Drill && !task.allowed_in_drill() {
                    self.refuse(Say::DrillReadOnlyTask { policy: task.policy_name().to_string() });
                    return Phase::Root(RootStage::Pick);
                }
                self.message = None;
                self.root = Some(RootCtx { target: target.clone(), task, expires_s: 0, audit: None, last: None });
                fx.push(Effect::AssumeRoot { target, task });
                Phase::Root(RootStage::Assuming)
            }
            (RootStage::Ready | RootStage::Expired, Intent::ReAssume) => match self.root.clone() {
                Some(r) => {
                    fx.push(Effect::AssumeRoot { target: r.target, task: r.task });
                    Phase::Root(RootStage::Assuming)
                }
                None => Phase::Root(RootStage::Pick),
            },
            (RootStage::Assuming, Intent::RootAssumed(result)) => match result {
                Ok((call, duration)) => {
                    fx.push(self.aws_call(&call));
                    if let Some(r) = self.root.as_mut() {
                        r.expires_s = self.now_s + duration;
                    }
                    self.info_msg(Say::RootOpen { duration_s: duration });
                    Phase::Root(RootStage::Ready)
                }
                Err((call, e)) => {
                    fx.push(self.aws_call(&call));
                    self.refuse(Say::RootFailed { error: e });
                    self.root = None;
                    Phase::Root(RootStage::Pick)
                }
            },
            (RootStage::Ready, Intent::RootAct(action)) => {
                let Some(ctx) = self.root.clone() else { return Phase::Root(RootStage::Pick) };
                let allowed = ctx.task.allows(&action);
                if !allowed {
                    self.refuse(Say::ActionNotAllowed { action: action.label(), policy: ctx.task.policy_name().to_string() });
                    return Phase::Root(RootStage::Ready);
                }
                if action.destructive() {
                    if self.mode == Mode::Drill {
                        self.refuse(Say::DrillNothingDestructive);
                        return Phase::Root(RootStage::Ready);
                    }
                    self.info_msg(Say::ConfirmDestructive { action: action.label() });
                    return Phase::Root(RootStage::Confirm { action, acked: vec![], acking: None });
                }
                fx.push(Effect::RootAct(action));
                Phase::Root(RootStage::Working)
            }
            (RootStage::Confirm { action, acked, acking: None }, Intent::Acknowledge { who })
                if self.checked.has(who) && !acked.contains(&who) =>
            {
                let c = &self.checked[who];
                fx.push(Effect::Attest {
                    custodian: c.custodian,
                    serial: c.serial,
                    namespace: CONFIRM_NAMESPACE,
                    message: self.root_statement(&action),
                });
                Phase::Root(RootStage::Confirm { action, acked, acking: Some(who) })
            }
            (RootStage::Confirm { action, mut acked, acking: Some(who) }, Intent::Attested { custodian, result })
                if self.checked[who].custodian == custodian =>
            {
                match result {
                    Ok(sig) => {
                        let id = self.roster[custodian].id.clone();
                        fx.push(self.entry(Entry::RootConfirmed {
                            custodian: id.clone(),
                            action: action.label(),
                            statement: self.root_statement(&action),
                            sshsig: sig,
                        }));
                        acked.push(who);
                        if acked.len() >= self.checked.len() {
                            fx.push(Effect::RootAct(action));
                            Phase::Root(RootStage::Working)
                        } else {
                            Phase::Root(RootStage::Confirm { action, acked, acking: None })
                        }
                    }
                    Err(e) => {
                        self.refuse(Say::NotConfirmed { error: e });
                        Phase::Root(RootStage::Confirm { action, acked, acking: None })
                    }
                }
            }
            (RootStage::Confirm { .. }, Intent::CancelRootAction) => {
                self.message = None;
                Phase::Root(RootStage::Ready)
            }
            (RootStage::Working, Intent::RootDone { action, result, calls }) => {
                for call in &calls {
                    fx.push(self.aws_call(call));
                }
                match result {
                    Ok((summary, audit)) => {
                        fx.push(self.entry(Entry::RootAction { action: action.label(), result: Some(summary.clone()), error: None }));
                        if let Some(r) = self.root.as_mut() {
                            if audit.is_some() {
                                r.audit = audit;
                            }
                            r.last = Some(summary.clone());
                        }
                        self.info_msg(Say::RootDone { summary: summary.clone() });
                    }
                    Err(e) => {
                        fx.push(self.entry(Entry::RootAction { action: action.label(), result: None, error: Some(e.clone()) }));
                        self.refuse(Say::RootFailed { error: e });
                    }
                }
                Phase::Root(RootStage::Ready)
            }
            (stage, _) => Phase::Root(stage),
        }
    }

    fn root_statement(&self, action: &RootAction) -> String {
        let target = self.root.as_ref().map(|r| r.target.as_str()).unwrap_or("");
        format!("breakglass-root:{}:{target}:{}", self.info.session_id, action.label())
    }

    fn aws_call(&self, call: &Call) -> Effect {
        self.entry(Entry::AwsCall {
            api: call.api.clone(),
            target: call.target.clone(),
            request_id: call.request_id.clone(),
            outcome: call.outcome.clone(),
        })
    }

    fn runbook_step(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match intent {
            Intent::ToggleStep(i) if i < self.done.len() => {
                self.done[i] = !self.done[i];
                let (step, of) = (i as u64 + 1, self.done.len() as u64);
                fx.push(self.entry(if self.done[i] { Entry::StepDone { step, of } } else { Entry::StepUndone { step, of } }));
            }
            Intent::Note { step, text } if !text.trim().is_empty() => {
                if let Some(i) = step.filter(|i| *i < self.notes.len()) {
                    self.notes[i].push(text.trim().to_string());
                }
                fx.push(self.entry(Entry::Note { step: step.map(|i| i as u64 + 1), text: text.trim().into() }));
            }
            Intent::Reveal(i) if i < self.revealed.len() && !self.revealed[i] => {
                self.revealed[i] = true;
                let for_step = self.runbook.as_ref().and_then(|rb| rb.secrets.get(i)).and_then(|s| s.for_step).map(|n| n + 1);
                fx.push(self.entry(Entry::SecretRevealed {
                    secret: i as u64 + 1,
                    for_step: for_step.map(|n| n as u64),
                    shown: "on screen".into(),
                    by: self.checked_ids(),
                }));
            }
            Intent::Hide(i) if i < self.revealed.len() => self.revealed[i] = false,
            Intent::HideSecrets => self.revealed.iter_mut().for_each(|r| *r = false),
            Intent::FinishRunbook => {
                self.revealed.iter_mut().for_each(|r| *r = false);
                let open = self.done.iter().filter(|d| !**d).count();
                if open > 0 {
                    self.info_msg(Say::StepsNotChecked { open });
                } else {
                    self.message = None;
                }
                return Phase::Closing;
            }
            _ => {}
        }
        Phase::Runbook
    }

    /// After the runbook was opened for a rekey: the review, or a refusal when those present
    /// cannot sign the new version (the signers the chain rule needs are not all here).
    fn rekey_review(&mut self) -> Phase {
        let Some(k) = &self.rekey else { return Phase::Rekey(RekeyStage::Review) };
        let stay = self.checked_ids().into_iter().filter(|id| k.new_ids.contains(id)).count();
        let can = stay + k.added.len();
        if can < k.new_quorum {
            self.refuse(Say::RekeyQuorumShort { version: k.new_version, needs: k.new_quorum, can });
        } else {
            self.message = None;
        }
        Phase::Rekey(RekeyStage::Review)
    }

    fn rekey_step(&mut self, stage: RekeyStage, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(k) = self.rekey.clone() else { return Phase::Rekey(stage) };
        match (stage, intent) {
            (RekeyStage::Review, Intent::RekeyGo) => {
                let stay = self.checked_ids().into_iter().filter(|id| k.new_ids.contains(id)).count();
                if stay + k.added.len() < k.new_quorum {
                    return self.rekey_review();
                }
                fx.push(self.entry(Entry::RekeyApproved {
                    by: self.checked_ids(),
                    old_roster_sha256: k.old_sha256.clone(),
                    new_roster_sha256: k.new_sha256.clone(),
                    diff: k.diff.clone(),
                }));
                self.message = None;
                if k.added.is_empty() {
                    Phase::Rekey(RekeyStage::Sign { who: SlotIx(0), working: false, failed: None })
                } else {
                    Phase::Rekey(RekeyStage::Newcomer { n: 0, key: NewKey::AwaitKey })
                }
            }
            (RekeyStage::Newcomer { n, key }, intent) => self.newcomer_step(&k, n, key, intent, fx),
            (RekeyStage::Sign { who, working: false, .. }, Intent::Touch) if self.checked.has(who) => {
                let c = &self.checked[who];
                let id = self.roster[c.custodian].id.clone();
                fx.push(Effect::SignRekey { manifest: k.new_ids.contains(&id), id, serial: c.serial, rehearse: self.rehearsal() });
                Phase::Rekey(RekeyStage::Sign { who, working: true, failed: None })
            }
            (RekeyStage::Sign { who, working: true, .. }, Intent::RekeySigned { id, result }) => match result {
                Ok(sig) => {
                    fx.push(self.entry(Entry::RekeySigned {
                        custodian: id.clone(),
                        serial: self.checked[who].serial,
                        role: "custodian".into(),
                        roster_sha256: k.new_sha256.clone(),
                        sshsig: sig,
                    }));
                    if let Some(r) = self.rekey.as_mut() {
                        r.signed.push(id.clone());
                    }
                    self.info_msg(Say::RekeySigned { id: id.clone(), version: k.new_version });
                    if self.checked.has(who.next()) {
                        Phase::Rekey(RekeyStage::Sign { who: who.next(), working: false, failed: None })
                    } else {
                        fx.push(self.entry(Entry::RekeyCommitting { new_roster_sha256: k.new_sha256.clone(), retry: false }));
                        let mut present = self.checked_ids();
                        present.extend(k.added.iter().map(|p| p.id.clone()));
                        fx.push(Effect::CommitRekey { present, rehearse: self.rehearsal() });
                        Phase::Rekey(RekeyStage::Committing)
                    }
                }
                Err(e) => {
                    self.refuse(Say::RekeySignFailed { id: id.clone(), error: e.clone() });
                    Phase::Rekey(RekeyStage::Sign { who, working: false, failed: Some(e) })
                }
            },
            (RekeyStage::Committing, Intent::RekeyCommitted(result)) => match result {
                Ok(opened) if self.rehearsal() => {
                    // A drill: the new sealing was staged, checked and removed; nothing changed,
                    // and the team is not told of a change that did not happen.
                    fx.push(self.entry(Entry::RekeyRehearsed {
                        old_roster_sha256: k.old_sha256.clone(),
                        new_roster_sha256: k.new_sha256.clone(),
                        new_version: k.new_version,
                        opened,
                    }));
                    self.info_msg(Say::RekeyRehearsed { version: k.new_version });
                    Phase::Offboard
                }
                Ok(opened) => {
                    fx.push(self.entry(Entry::RekeyCommitted {
                        old_roster_sha256: k.old_sha256.clone(),
                        new_roster_sha256: k.new_sha256.clone(),
                        new_version: k.new_version,
                        added: k.added.iter().map(|p| p.id.clone()).collect(),
                        removed: k.removed.clone(),
                        signed_by: k.signed.clone(),
                        opened: opened.clone(),
                        rehearsal: self.rehearsal(),
                    }));
                    if let Some(r) = self.rekey.as_mut() {
                        r.committed = Some(opened);
                    }
                    self.info_msg(Say::RekeyInUse { version: k.new_version });
                    self.send_notice(NoticePhase::RosterChanged, fx)
                }
                Err(e) => {
                    fx.push(self.entry(Entry::RekeyFailed { error: e.clone() }));
                    // The screen says what failed and what to do.
                    self.message = None;
                    Phase::Rekey(RekeyStage::Failed(e))
                }
            },
            (RekeyStage::Failed(_), Intent::RekeyGo) => {
                fx.push(self.entry(Entry::RekeyCommitting { new_roster_sha256: k.new_sha256.clone(), retry: true }));
                let mut present = self.checked_ids();
                present.extend(k.added.iter().map(|p| p.id.clone()));
                fx.push(Effect::CommitRekey { present, rehearse: self.rehearsal() });
                self.message = None;
                Phase::Rekey(RekeyStage::Committing)
            }
            (stage, _) => Phase::Rekey(stage),
        }
    }

    /// The statement a custodian signs to make offboarding item `i`'s AWS change.
    pub fn offboard_statement(&self, i: usize) -> String {
        let item = self.offboard.as_ref().and_then(|o| o.items.get(i));
        format!(
            "breakglass-offboard:{}:{}:{}:{}:{}",
            self.info.session_id,
            i + 1,
            self.offboard.as_ref().map(|o| o.iam_user.as_str()).unwrap_or(""),
            item.and_then(|x| x.api.as_deref()).unwrap_or(""),
            item.map(|x| x.target.as_str()).unwrap_or("")
        )
    }

    fn set_item(&mut self, i: usize, state: OffState) {
        if let Some(x) = self.offboard.as_mut().and_then(|o| o.items.get_mut(i)) {
            x.state = state;
        }
    }

    fn offboard_step(&mut self, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(o) = self.offboard.clone() else { return Phase::Offboard };
        if !matches!(intent, Intent::OffboardFinish | Intent::Tick { .. })
            && let Some(x) = self.offboard.as_mut()
        {
            x.finish_armed = false;
        }
        match intent {
            Intent::OffboardDo(i) if i < o.items.len() => {
                let item = &o.items[i];
                if let Some(b) = o.busy() {
                    self.refuse(Say::ItemUnderWay { item: b + 1 });
                } else if matches!(item.state, OffState::Done { .. }) {
                    self.info_msg(Say::ItemDone { item: i + 1 });
                } else if item.api.is_none() {
                    fx.push(self.entry(Entry::OffboardDone { item: i as u64 + 1, what: item.journal_what(), by: self.checked_ids() }));
                    self.set_item(i, OffState::Done { request_id: None, note: None });
                    self.message = None;
                } else {
                    self.set_item(i, OffState::Confirming { acked: vec![], acking: None });
                    let keys: Vec<String> = (1..=self.checked.len()).map(|n| n.to_string()).collect();
                    self.info_msg(Say::ConfirmItem { item: i + 1, keys });
                }
            }
            Intent::Back => {
                if let Some(b) = o.busy().filter(|b| matches!(o.items[*b].state, OffState::Confirming { acking: None, .. })) {
                    self.set_item(b, OffState::Open);
                    self.message = None;
                }
            }
            Intent::Acknowledge { who } if self.checked.has(who) => {
                let Some(i) = o.busy() else { return Phase::Offboard };
                if let OffState::Confirming { acked, acking: None } = &o.items[i].state
                    && !acked.contains(&who)
                {
                    let c = &self.checked[who];
                    fx.push(Effect::Attest {
                        custodian: c.custodian,
                        serial: c.serial,
                        namespace: CONFIRM_NAMESPACE,
                        message: self.offboard_statement(i),
                    });
                    self.set_item(i, OffState::Confirming { acked: acked.clone(), acking: Some(who) });
                }
            }
            Intent::Attested { custodian, result } => {
                let Some(i) = o.busy() else { return Phase::Offboard };
                let OffState::Confirming { mut acked, acking: Some(who) } = o.items[i].state.clone() else { return Phase::Offboard };
                if self.checked[who].custodian != custodian {
                    return Phase::Offboard;
                }
                match result {
                    Ok(sig) => {
                        let item = &o.items[i];
                        fx.push(self.entry(Entry::OffboardConfirmed {
                            item: i as u64 + 1,
                            iam_user: o.iam_user.clone(),
                            api: item.api.clone(),
                            target: item.target.clone(),
                            custodian: self.roster[custodian].id.clone(),
                            statement: self.offboard_statement(i),
                            sshsig: sig,
                        }));
                        acked.push(who);
                        if acked.len() < self.checked.len() {
                            self.set_item(i, OffState::Confirming { acked, acking: None });
                        } else if o.rehearsal {
                            fx.push(self.entry(Entry::OffboardRehearsed {
                                item: i as u64 + 1,
                                api: item.api.clone(),
                                target: item.target.clone(),
                            }));
                            self.set_item(i, OffState::Done { request_id: None, note: Some("rehearsed: no AWS write in a drill".into()) });
                            self.message = None;
                        } else {
                            fx.push(self.entry(Entry::OffboardApplying {
                                item: i as u64 + 1,
                                api: item.api.clone(),
                                target: item.target.clone(),
                            }));
                            fx.push(Effect::OffboardApply { item: i });
                            self.set_item(i, OffState::Applying);
                            self.message = None;
                        }
                    }
                    Err(e) => {
                        self.refuse(Say::NotConfirmed { error: e });
                        self.set_item(i, OffState::Confirming { acked, acking: None });
                    }
                }
            }
            Intent::OffboardApplied { item, result } if item < o.items.len() => {
                let x = &o.items[item];
                match result {
                    Ok((request_id, note)) => {
                        fx.push(self.entry(Entry::OffboardApplied {
                            item: item as u64 + 1,
                            api: x.api.clone(),
                            target: x.target.clone(),
                            request_id: request_id.clone(),
                            note: note.clone(),
                        }));
                        self.set_item(item, OffState::Done { request_id, note });
                    }
                    Err(e) => {
                        fx.push(self.entry(Entry::OffboardFailed {
                            item: item as u64 + 1,
                            api: x.api.clone(),
                            target: x.target.clone(),
                            error: e.clone(),
                        }));
                        self.refuse(Say::ItemFailed { item: item + 1, error: e.clone() });
                        self.set_item(item, OffState::Failed(e));
                    }
                }
            }
            Intent::OffboardFinish => {
                if let Some(b) = o.busy() {
                    self.refuse(Say::ItemUnderWay { item: b + 1 });
                    return Phase::Offboard;
                }
                let open: Vec<usize> =
                    o.items.iter().enumerate().filter(|(_, x)| !matches!(x.state, OffState::Done { .. })).map(|(i, _)| i + 1).collect();
                if !open.is_empty() && !o.finish_armed {
                    if let Some(x) = self.offboard.as_mut() {
                        x.finish_armed = true;
                    }
                    self.refuse(Say::ItemsNotDone { open: open.clone() });
                    return Phase::Offboard;
                }
                fx.push(self.entry(Entry::OffboardFinished {
                    person: o.person.clone(),
                    done: o.done(),
                    total: o.items.len(),
                    not_done: open.clone(),
                    target_s: o.target_s,
                }));
                self.outcome = Some(Outcome::Closed);
                fx.push(self.entry(Entry::SessionClosed { steps_done: o.done() as u64, steps_total: o.items.len() as u64, rekey: None }));
                if open.is_empty() {
                    self.info_msg(Say::OffboardDone);
                } else {
                    self.info_msg(Say::OffboardNotDone { open: open.clone() });
                }
                return self.start_signing();
            }
            _ => {}
        }
        Phase::Offboard
    }

    /// A newcomer proves their key: it is the one the new version names (serial, attestation),
    /// its PIN opens it, and it signs the new version (checked against the key the version names).
    fn newcomer_step(&mut self, k: &Rekey, n: usize, key: NewKey, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        let Some(p) = k.added.get(n).cloned() else {
            return Phase::Rekey(RekeyStage::Sign { who: SlotIx(0), working: false, failed: None });
        };
        let stay = |key| Phase::Rekey(RekeyStage::Newcomer { n, key });
        match (key, intent) {
            (NewKey::AwaitKey | NewKey::AwaitPin { .. }, Intent::KeySeen { serial, demo, retries, .. }) => {
                if self.checked.iter().any(|c| c.serial == serial) {
                    return stay(NewKey::AwaitKey);
                }
                if demo != self.info.demo {
                    self.refuse(Say::NewcomerKeyKind { serial, demo_key: demo, demo_session: self.info.demo });
                    return stay(NewKey::AwaitKey);
                }
                if serial != p.serial {
                    self.refuse(Say::NotNewcomersKey { serial, id: p.id.clone(), expected: p.serial });
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: "not the newcomer's key".into(),
                        retries_left: None,
                    }));
                    return stay(NewKey::AwaitKey);
                }
                if !demo {
                    match self.attestations.iter().find(|(s, _)| *s == serial).map(|(_, r)| r.clone()) {
                        Some(Ok(_)) => {}
                        other => {
                            let why = match other {
                                Some(Err(why)) => why,
                                _ => "it could not be attested as a genuine YubiKey".into(),
                            };
                            self.refuse(Say::AttestationRefused { serial, id: p.id.clone(), why: why.clone() });
                            fx.push(self.entry(Entry::CustodianRefused {
                                serial,
                                custodian: Some(p.id.clone()),
                                why: format!("attestation: {why}"),
                                retries_left: None,
                            }));
                            return stay(NewKey::AwaitKey);
                        }
                    }
                }
                match retries {
                    Ok(r) if r >= 2 => {
                        self.info_msg(Say::EnterPin { id: p.id.clone() });
                        stay(NewKey::AwaitPin { retries: r })
                    }
                    Ok(_) | Err(TokenError::PinBlocked) => {
                        self.refuse(Say::NewcomerPinLow { id: p.id.clone() });
                        stay(NewKey::AwaitKey)
                    }
                    Err(e) => {
                        self.refuse(Say::KeyError { serial, error: e });
                        stay(NewKey::AwaitKey)
                    }
                }
            }
            (NewKey::AwaitPin { .. } | NewKey::AwaitTouch, Intent::Back) => {
                self.message = None;
                stay(NewKey::AwaitKey)
            }
            (NewKey::AwaitPin { retries }, Intent::PinEntered(pin)) => {
                if FACTORY_PINS.contains(&secrecy::ExposeSecret::expose_secret(&pin)) && !self.info.demo {
                    self.refuse(Say::NewcomerFactoryPin { id: p.id.clone() });
                    return stay(NewKey::AwaitPin { retries });
                }
                self.message = None;
                fx.push(Effect::VerifyPin { serial: p.serial, pin });
                stay(NewKey::Working)
            }
            (NewKey::Working, Intent::PinChecked { serial, result }) if serial == p.serial => match result {
                Ok(()) => {
                    self.info_msg(Say::NewcomerPinAccepted { id: p.id.clone(), version: k.new_version });
                    stay(NewKey::AwaitTouch)
                }
                Err(TokenError::WrongPin { retries_left }) if retries_left >= 2 => {
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: "wrong PIN".into(),
                        retries_left: Some(retries_left),
                    }));
                    self.refuse(Say::WrongPin { retries_left });
                    stay(NewKey::AwaitPin { retries: retries_left })
                }
                Err(e) => {
                    fx.push(self.entry(Entry::CustodianRefused {
                        serial,
                        custodian: Some(p.id.clone()),
                        why: e.to_string(),
                        retries_left: None,
                    }));
                    self.refuse(Say::NewcomerTokenError { error: e });
                    stay(NewKey::AwaitKey)
                }
            },
            (NewKey::AwaitTouch, Intent::Touch) => {
                fx.push(Effect::SignRekey { id: p.id.clone(), serial: p.serial, manifest: true, rehearse: self.rehearsal() });
                stay(NewKey::Working)
            }
            (NewKey::Working, Intent::RekeySigned { id, result }) if id == p.id => match result {
                Ok(sig) => {
                    fx.push(self.entry(Entry::RekeySigned {
                        custodian: id.clone(),
                        serial: p.serial,
                        role: "added".into(),
                        roster_sha256: k.new_sha256.clone(),
                        sshsig: sig,
                    }));
                    if let Some(r) = self.rekey.as_mut() {
                        r.signed.push(id.clone());
                    }
                    self.info_msg(Say::NewcomerSigned { name: p.name.clone(), id: id.clone(), version: k.new_version });
                    if n + 1 < k.added.len() {
                        stay_next(n + 1)
                    } else {
                        Phase::Rekey(RekeyStage::Sign { who: SlotIx(0), working: false, failed: None })
                    }
                }
                Err(e) => {
                    self.refuse(Say::NewcomerSignFailed { id: id.clone(), error: e });
                    stay(NewKey::AwaitTouch)
                }
            },
            (key, _) => stay(key),
        }
    }

    fn abort(&mut self, signal: Option<String>) -> Vec<Effect> {
        let mut fx = Vec::new();
        let at = self.rail().get(self.rail_index()).cloned().unwrap_or_else(|| "end".into());
        match &self.phase {
            Phase::Setup => {
                self.phase = Phase::Quit;
                return fx;
            }
            Phase::Sign { .. } | Phase::Summary | Phase::Halted(_) | Phase::Quit => return fx,
            _ => {}
        }
        if self.outcome.is_some() {
            // Already closed and releasing: abort means "stop waiting for the notice", and signing follows.
            return fx;
        }
        self.outcome = Some(Outcome::Aborted);
        self.aborted_at = Some(self.rail_index());
        self.revealed.iter_mut().for_each(|r| *r = false);
        fx.push(self.entry(Entry::SessionAborted {
            at,
            recovered: false,
            steps_done: self.done.iter().filter(|d| **d).count() as u64,
            signal: Some(signal),
        }));
        if !self.root_announced() {
            // Nothing was announced, so nothing is released: the team hears nothing.
            self.info_msg(if self.checked.is_empty() { Say::AbortedBeforeCheckIn } else { Say::AbortedBeforeRootInUse });
            self.phase = self.start_signing();
            return fx;
        }
        self.info_msg(Say::AbortedReleasing);
        self.phase = self.release(NoticePhase::Aborted, &mut fx);
        fx
    }
}
