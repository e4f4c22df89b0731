//! Runs the ceremony's effects against the ports: journal, tokens, broadcaster, sealed runbook.
//!
//! Journal first: a `Journal` effect is appended and fsynced before any later effect runs, and if
//! it cannot be written, nothing after it runs. Slow effects (a token, the network) are plain
//! blocking calls here; the TUI runs this runner on a worker thread and talks to it by messages.

use crate::adapters::token::Token;
use crate::core::ceremony::{Ceremony, Effect, Failed, Idx, Intent, NoticeHash, RosterIx};
use crate::core::clock::{Clock, rfc3339_ms};
use crate::core::journal::{self, Entry, FileStore, Journal};
use crate::core::notice::{Broadcaster, Notice};
use crate::core::roster::{Roster, sig_path};
use crate::core::runbook::Runbook;
use crate::core::seal::{Sealed, unseal_with};
use crate::core::sign::{self, SESSION_NAMESPACE};
use rand::RngCore;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The outside world a session talks to: where notices go, and AWS if configured.
pub struct Outside {
    pub broadcaster: Box<dyn Broadcaster>,
    /// Some when AWS is configured (loaded, or why it could not be).
    pub aws: Option<Result<crate::adapters::aws::Aws, crate::adapters::aws::AwsError>>,
    /// The account root belongs to (`aws.account_id`).
    pub account: Option<String>,
    pub heartbeat_s: u64,
    /// PIV attestation roots trusted beside Yubico's (`[rehearsal]`): recorded in `session.opened`.
    pub rehearsal_roots: Vec<String>,
}

impl Outside {
    /// Notices to a local outbox, no AWS.
    pub fn outbox(dir: PathBuf) -> Self {
        Self {
            broadcaster: Box::new(crate::core::notice::Outbox { dir }),
            aws: None,
            account: None,
            heartbeat_s: 0,
            rehearsal_roots: vec![],
        }
    }
}

/// Where custodians' keys come from.
pub enum KeySource {
    /// A fixed set of software keys (the DEMO, tests).
    Fixed,
    /// YubiKeys over PC/SC, whose attestations must chain to `trust`.
    Piv { trust: crate::core::attest::TrustStore },
}

/// Everything the runner acts on.
pub struct Runner {
    /// The session bundle directory (created with the first journal entry).
    pub dir: PathBuf,
    journal: Option<Journal<FileStore>>,
    genesis: Option<[u8; 32]>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Vec<Box<dyn Token>>,
    pub roster: Roster,
    /// The roster's signature files (custodian id, armored SSHSIG), copied into the bundle.
    pub roster_sigs: Vec<(String, Vec<u8>)>,
    pub sealed: Sealed,
    pub broadcaster: Box<dyn Broadcaster>,
    pub aws: Option<Result<crate::adapters::aws::Aws, crate::adapters::aws::AwsError>>,
    /// The open root session's credentials (memory only).
    root: Option<crate::adapters::aws::root::RootSession>,
    pub keys: KeySource,
    /// Added to the clock's monotonic milliseconds: a recovered session's `mono_ms` goes on from
    /// where the interrupted process left it, never backwards.
    mono_base: u64,
    /// The wall time and `mono_ms` of the last entry, and the `ts` written for it: the wall clock
    /// is checked against the monotonic one before every entry.
    last_time: Option<(chrono::DateTime<chrono::Utc>, u64)>,
    last_ts: String,
    /// A recovery not yet written: before its first entry, the journal is cut to its intact
    /// lines and earlier signatures are set aside.
    pending_recovery: Option<u64>,
    /// The session's lock, held from its first entry (or, for a recovery, from the start) to
    /// the end of the process: one writer per journal.
    lock: Option<SessionLock>,
    /// A rekey's work: the new version, where it goes, and what is made for it (memory only).
    pub rekey: Option<RekeyJob>,
    /// An offboarding's AWS changes, in checklist order.
    pub offboard: Option<OffboardJob>,
    /// The live sealed runbook's directory, where a rotation swaps its new sealing in (none: the
    /// runbook cannot be rotated, e.g. a recovery).
    pub runbook_path: Option<PathBuf>,
    /// The runbook's text once the quorum opened it (zeroized when dropped): a rotation seals it
    /// again with the new value.
    plaintext: Option<zeroize::Zeroizing<String>>,
    /// A rotation's staged sealing.
    rotation: Option<RotationJob>,
    /// Told the serial of a sealing swapped in (the commands record it in `trust-state`, so this
    /// host refuses the superseded one from the moment of the swap).
    pub remember_serial: Option<Box<dyn Fn(u64) + Send>>,
}

/// A rotation's work: the new sealing and its text (zeroized when dropped), where it is staged,
/// and the custodians' signatures over its manifest.
struct RotationJob {
    sealed: Sealed,
    plaintext: zeroize::Zeroizing<String>,
    sigs: crate::core::roster::Signatures,
}

/// The AWS side of an offboarding: the IAM user, a client per account it is stripped in, and for
/// each checklist item the change to make and in which of those accounts (`None` for items people
/// do).
pub struct OffboardJob {
    pub accounts: Vec<crate::adapters::aws::Aws>,
    pub user: String,
    pub actions: Vec<Option<(usize, crate::adapters::aws::offboard::Action)>>,
}

impl OffboardJob {
    fn apply(&self, item: usize) -> Result<(Option<String>, Option<String>), String> {
        let (account, action) = self.actions.get(item).and_then(Option::as_ref).ok_or("this item is done by people, not by the tool")?;
        let aws = self.accounts.get(*account).ok_or("AWS is not configured")?;
        let a = crate::adapters::aws::offboard::apply(aws, &self.user, action).map_err(|e| e.to_string())?;
        let note = a.note.or_else(|| a.already_done.then(|| "already done".to_string()));
        Ok((a.request_id, note))
    }
}

/// What a rekey ceremony's runner holds: the new roster version and the live paths it replaces,
/// the runbook's text once the quorum opened it (to seal it again; zeroized when dropped), and the
/// signatures made on the custodians' keys.
pub struct RekeyJob {
    pub new: Roster,
    pub paths: crate::core::rekey::Paths,
    plaintext: Option<zeroize::Zeroizing<String>>,
    sealed: Option<Sealed>,
    roster_sigs: crate::core::roster::Signatures,
    /// The sealed files opened to check the staged sealing (kept for a retry after the swap).
    checked: Option<Vec<String>>,
}

impl RekeyJob {
    pub fn new(new: Roster, paths: crate::core::rekey::Paths) -> Self {
        Self { new, paths, plaintext: None, sealed: None, roster_sigs: Default::default(), checked: None }
    }
}

impl std::fmt::Debug for RekeyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RekeyJob").field("new_version", &self.new.version).field("paths", &self.paths).finish_non_exhaustive()
    }
}

/// How far the wall clock may drift from the monotonic clock between two entries before it is
/// journalled as a jump.
pub(crate) const CLOCK_JUMP_MS: i64 = 2000;

/// `20261125-031502-7f3ac2`: sortable by time, unique by a random suffix.
pub(crate) fn new_session_id(clock: &dyn Clock) -> String {
    let mut r = [0u8; 3];
    rand::thread_rng().fill_bytes(&mut r);
    format!("{}-{}", clock.now().format("%Y%m%d-%H%M%S"), hex::encode(r))
}

/// A fresh nonce for a check-in challenge.
pub fn nonce() -> String {
    let mut r = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut r);
    hex::encode(r)
}

/// This machine's host name.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

impl Runner {
    pub fn new(
        dir: PathBuf,
        clock: Arc<dyn Clock>,
        tokens: Vec<Box<dyn Token>>,
        roster: Roster,
        roster_sigs: Vec<(String, Vec<u8>)>,
        sealed: Sealed,
        outside: Outside,
    ) -> Self {
        Self {
            dir,
            journal: None,
            genesis: None,
            clock,
            tokens,
            roster,
            roster_sigs,
            sealed,
            broadcaster: outside.broadcaster,
            aws: outside.aws,
            root: None,
            keys: KeySource::Fixed,
            mono_base: 0,
            last_time: None,
            last_ts: String::new(),
            pending_recovery: None,
            lock: None,
            rekey: None,
            offboard: None,
            runbook_path: None,
            plaintext: None,
            rotation: None,
            remember_serial: None,
        }
    }

    /// The keys present now, as (serial, model). For YubiKeys this scans the readers, and forgets
    /// the handles of keys that were pulled out (they are opened again when they return).
    pub fn scan(&mut self) -> Result<Vec<(u32, String)>, String> {
        match &self.keys {
            KeySource::Fixed => Ok(self.tokens.iter().map(|t| (t.info().serial, t.info().model)).collect()),
            KeySource::Piv { .. } => {
                let (seen, _others) = crate::adapters::token::piv::scan().map_err(|e| {
                    // The handles do not survive a PC/SC restart: keys are opened again (and
                    // unlocked again with their PINs) when they can be seen.
                    self.tokens.clear();
                    e.to_string()
                })?;
                let serials: Vec<u32> = seen.iter().map(|s| s.serial).collect();
                self.tokens.retain(|t| serials.contains(&t.info().serial));
                Ok(seen.into_iter().map(|s| (s.serial, s.model)).collect())
            }
        }
    }

    /// Checks a hardware key's attestation against the trusted roots and the roster (slot 9c:
    /// key, serial, PIN once and touch always; the runbook slot: its key when the roster names a
    /// YubiKey recipient). None for software keys.
    pub fn attest(&mut self, serial: u32) -> Option<Intent> {
        let KeySource::Piv { trust } = &self.keys else { return None };
        let trust = trust.clone();
        let now = self.clock.now();
        let result = (|| -> Result<crate::core::ceremony::AttestInfo, String> {
            // A rekey's newcomers are in the new version, not (yet) in the session's roster.
            let newcomers = self.rekey.as_ref().map(|j| j.new.custodians.clone()).unwrap_or_default();
            let c = self
                .roster
                .custodians
                .iter()
                .chain(newcomers.iter())
                .find(|c| c.yubikey_serial == serial)
                .cloned()
                .ok_or_else(|| format!("serial {serial} is not on the roster"))?;
            let mut t = crate::adapters::token::piv::PivToken::open(serial).map_err(|e| e.to_string())?;
            let (slot, f9) = t.attestation(crate::adapters::token::piv::SIGN_SLOT).map_err(|e| e.to_string())?;
            let att = crate::core::attest::verify_chain(&slot, &f9, &trust, now).map_err(|e| e.to_string())?;
            let req = crate::core::attest::Requirement::signing(&c.id, c.yubikey_serial, &c.signing_key).map_err(|e| e.to_string())?;
            crate::core::attest::check(&att, &req).map_err(|e| e.to_string())?;
            if c.age_recipient.starts_with(crate::core::pivage::HRP) {
                let want = crate::core::pivage::Recipient::parse(&c.age_recipient).map_err(|e| e.to_string())?;
                let (slot, f9) = t.attestation(crate::adapters::token::piv::AGE_SLOT).map_err(|e| format!("runbook slot: {e}"))?;
                let a2 = crate::core::attest::verify_chain(&slot, &f9, &trust, now).map_err(|e| format!("runbook slot: {e}"))?;
                let got = p256::PublicKey::from_sec1_bytes(&a2.public_key_sec1).map_err(|_| "runbook slot: not a P-256 key".to_string())?;
                if crate::core::pivage::Recipient::from_public(&got) != want {
                    return Err(format!(
                        "the runbook key on this YubiKey is not {}'s age_recipient in the roster: use the enrolled key, or re-enrol",
                        c.id
                    ));
                }
            }
            self.tokens.retain(|x| x.info().serial != serial);
            self.tokens.push(Box::new(t));
            Ok(crate::core::ceremony::AttestInfo {
                firmware: att.firmware_string(),
                form_factor: att.form_factor_name(),
                root: att.chain.last().cloned().unwrap_or_default(),
            })
        })();
        Some(Intent::KeyAttested { serial, result: result.map_err(Failed::Attestation) })
    }

    /// A warning for the setup screen when notices would reach nobody.
    pub(crate) fn topic_warning(&self) -> Option<String> {
        self.broadcaster.warning()
    }

    /// Reports the key with `serial` as presented (what the UI does when a custodian inserts it).
    pub fn present(&mut self, serial: u32) -> Intent {
        let piv = matches!(self.keys, KeySource::Piv { .. });
        let mut retries = self.token(serial).map(|t| t.pin_retries());
        if piv && matches!(retries, Some(Err(crate::adapters::token::TokenError::Removed(_)))) {
            // The handle went stale (the card was reset or re-inserted): open it afresh. Nothing is
            // lost: no PIN has been entered on it in this check-in yet.
            self.tokens.retain(|t| t.info().serial != serial);
            retries = self.token(serial).map(|t| t.pin_retries());
        }
        match self.token(serial) {
            Some(t) => {
                let info = t.info();
                Intent::KeySeen { serial, model: info.model, demo: info.demo, retries: retries.unwrap_or(Ok(0)), nonce: nonce() }
            }
            None => Intent::KeySeen { serial, model: "unknown".into(), demo: false, retries: Ok(0), nonce: nonce() },
        }
    }

    fn token(&mut self, serial: u32) -> Option<&mut Box<dyn Token>> {
        if matches!(self.keys, KeySource::Piv { .. }) && !self.tokens.iter().any(|t| t.info().serial == serial) {
            // A YubiKey that came back after being pulled out: open it again.
            if let Ok(t) = crate::adapters::token::piv::PivToken::open(serial) {
                self.tokens.push(Box::new(t));
            }
        }
        self.tokens.iter_mut().find(|t| t.info().serial == serial)
    }

    pub(crate) fn journal_path(&self) -> PathBuf {
        self.dir.join(journal::FILE_NAME)
    }

    /// Runs `effects` in order and hands each outcome to `on`: the one effect loop of the TUI and
    /// of `demo --auto`. After a journal entry that could not be written, the rest are dropped
    /// (nothing may happen that is not recorded first); returns whether all of them ran.
    pub(crate) fn run_batch(&mut self, effects: Vec<Effect>, mut on: impl FnMut(Intent)) -> bool {
        for e in effects {
            let results = self.run(e);
            let failed = results.iter().any(|i| matches!(i, Intent::JournalFailed(_)));
            results.into_iter().for_each(&mut on);
            if failed {
                return false;
            }
        }
        true
    }

    /// Runs one effect; returns the intents that report its outcome. A key operation that found
    /// PC/SC gone (pcscd restarted under it, faster than a scan would notice) also drops every
    /// handle, which does not survive the restart, and reports the keys unreachable: the ceremony
    /// pauses, and each key is opened again, and unlocked with its PIN, when it can be seen.
    pub fn run(&mut self, effect: Effect) -> Vec<Intent> {
        let mut out = self.run_one(effect);
        if let Some(why) = out.iter().find_map(pcsc_gone) {
            self.tokens.clear();
            out.push(Intent::KeysUnreachable(why));
        }
        out
    }

    fn run_one(&mut self, effect: Effect) -> Vec<Intent> {
        match effect {
            Effect::Journal { entry, labels } => {
                let r = self.append(&entry, labels);
                vec![match r {
                    Ok(w) => Intent::Journaled(w),
                    Err(e) => {
                        Intent::JournalFailed(format!("{}: {}", self.journal_path().display(), crate::core::journal::storage_cause(&e)))
                    }
                }]
            }
            Effect::VerifyPin { serial, pin } => vec![Intent::PinChecked { serial, result: self.verify_pin(serial, &pin) }],
            Effect::Attest { custodian, serial, statement } => {
                vec![Intent::Attested { custodian, result: self.sign_statement(custodian, serial, &statement) }]
            }
            Effect::SendNotice { mut notice, hash } => {
                self.stamp(&mut notice, hash);
                let result = self.broadcaster.send(&notice).map_err(|e| Failed::Notice(e.to_string()));
                vec![Intent::NoticeDone { phase: notice.phase, result }]
            }
            Effect::Unseal { ids } => vec![Intent::Unsealed(self.unseal(&ids))],
            Effect::SignRekey { id, serial, manifest, rehearse } => {
                let result = self.sign_rekey(&id, serial, manifest, rehearse);
                vec![Intent::RekeySigned { id, result }]
            }
            Effect::CommitRekey { present, rehearse } => {
                vec![Intent::RekeyCommitted(self.commit_rekey(&present, rehearse).map_err(Failed::Rekey))]
            }
            Effect::StageRotation { secret, value, present, drill } => {
                vec![Intent::RotationStaged(self.stage_rotation(secret, &value, &present, drill).map_err(Failed::Seal))]
            }
            Effect::SignSealing { custodian, serial, drill } => {
                vec![Intent::SealingSigned { custodian, result: self.sign_sealing(custodian, serial, drill).map_err(Failed::Signature) }]
            }
            Effect::CommitRotation { drill } => vec![Intent::RotationCommitted(self.commit_rotation(drill).map_err(Failed::Seal))],
            Effect::DiscardRotation { drill } => {
                self.rotation = None;
                // A real staging is kept aside (never deleted); the live sealing is unchanged
                // either way, and settle places what is left on the next start.
                if let Some(p) = &self.runbook_path {
                    let _ = crate::core::rotate::discard(p, drill);
                }
                vec![]
            }
            Effect::OffboardApply { item } => {
                let result = match self.offboard.as_ref() {
                    Some(job) => job.apply(item).map_err(Failed::Aws),
                    None => Err(Failed::NotPlanned("this is not an offboarding".into())),
                };
                vec![Intent::OffboardApplied { item, result }]
            }
            Effect::SignJournal { custodian, serial } => {
                let result = self.sign_journal(custodian, serial);
                vec![Intent::SessionSigned { custodian, result }]
            }
            Effect::CheckAccount { expected } => self.check_account(expected),
            Effect::Posture { when, account, since } => self.posture_now(when, account, since),
            Effect::AssumeRoot { target, task } => self.assume_root(target, task),
            Effect::RootAct(action) => match &self.root {
                Some(s) => {
                    let (result, calls) = s.perform(&action);
                    vec![Intent::RootDone { action, result: result.map_err(|e| Failed::Aws(e.to_string())), calls }]
                }
                None => vec![Intent::RootDone { action, result: Err(Failed::RootGone), calls: vec![] }],
            },
            Effect::DropRoot => {
                self.root = None;
                vec![]
            }
            Effect::Finish { session_id, mode, demo, signed } => {
                if let Err(e) = self.finish(&session_id, mode, demo, &signed) {
                    return vec![Intent::JournalFailed(format!("writing the bundle: {e}"))];
                }
                vec![]
            }
        }
    }

    /// Checks `pin` on key `serial`. The last try is never spent, whichever screen asks (check-in,
    /// a key that came back, a newcomer): the count is read from the card first.
    fn verify_pin(&mut self, serial: u32, pin: &secrecy::SecretString) -> Result<(), crate::adapters::token::TokenError> {
        match self.token(serial) {
            Some(t) => match t.pin_retries() {
                Ok(0) => Err(crate::adapters::token::TokenError::PinBlocked),
                Ok(1) => Err(crate::adapters::token::TokenError::LastTry),
                _ => t.verify_pin(pin),
            },
            None => Err(crate::adapters::token::TokenError::Removed(serial)),
        }
    }

    /// `statement` signed on key `serial`, checked against the roster's key for `custodian` (not
    /// the key the token claims), as PEM.
    fn sign_statement(
        &mut self,
        custodian: RosterIx,
        serial: u32,
        statement: &crate::core::statement::Statement,
    ) -> Result<String, Failed> {
        let key = self.roster.key_at(custodian.index()).clone();
        let (namespace, message) = (statement.namespace(), statement.message());
        let t = self.token(serial).ok_or(Failed::Key(crate::adapters::token::TokenError::Removed(serial)))?;
        let s = sign::sshsig(t.as_mut(), namespace, &message).map_err(Failed::from)?;
        sign::verify(&key, namespace, &message, &s).map_err(|e| Failed::Signature(e.to_string()))?;
        sign::to_pem(&s).map_err(Failed::from)
    }

    /// Opens the sealed runbook with the keys of `ids`; keeps its text for a rekey's or a
    /// rotation's sealing.
    fn unseal(&mut self, ids: &[String]) -> Result<Arc<Runbook>, Failed> {
        let serials: Vec<(String, u32)> =
            ids.iter().filter_map(|id| self.roster.custodian(id).map(|p| (id.clone(), p.yubikey_serial))).collect();
        let serial_of = |id: &str| serials.iter().find(|(i, _)| i == id).map(|(_, s)| *s);
        let text = unseal_with(&self.sealed, ids, &mut self.tokens, &serial_of).map_err(|e| Failed::Seal(e.to_string()))?;
        let rb = Arc::new(Runbook::parse(&text));
        if let Some(job) = self.rekey.as_mut() {
            job.plaintext = Some(text.clone());
        }
        self.plaintext = Some(text);
        Ok(rb)
    }

    /// Checks which account the credentials reach, and reads the posture as the session starts.
    fn check_account(&mut self, expected: Option<String>) -> Vec<Intent> {
        let result = match &self.aws {
            Some(Ok(aws)) => crate::adapters::aws::sts::caller_identity(aws).map_err(|e| Failed::Aws(e.to_string())),
            Some(Err(e)) => Err(Failed::Aws(e.to_string())),
            None => Err(Failed::NoAws),
        };
        // The posture as the session starts, read while the custodians wait for the
        // account check anyway (journalled before the first check-in).
        // Only for the expected account: the wrong one is refused, and nothing more is read.
        let mut out = vec![];
        if let (Ok((account, _)), Some(Ok(aws))) = (&result, &self.aws)
            && expected.as_deref().is_none_or(|want| want == account)
        {
            out.push(Intent::PostureChecked { when: crate::core::ceremony::PostureWhen::Start, result: Ok(posture(aws, account, None)) });
        }
        out.push(Intent::AccountChecked(result));
        out
    }

    /// Reads root's posture (and root's events since the session started) for the journal.
    fn posture_now(&mut self, when: crate::core::ceremony::PostureWhen, account: String, since: Option<String>) -> Vec<Intent> {
        let result = match &self.aws {
            Some(Ok(aws)) => {
                let since =
                    since.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&chrono::Utc));
                Ok(posture(aws, &account, since))
            }
            Some(Err(e)) => Err(Failed::Aws(e.to_string())),
            None => Err(Failed::NoAws),
        };
        vec![Intent::PostureChecked { when, result }]
    }

    /// Assumes root on `target` for `task` (sts:AssumeRoot); the session is kept in memory only.
    fn assume_root(&mut self, target: String, task: crate::core::root::Task) -> Vec<Intent> {
        self.root = None;
        let result = match &self.aws {
            Some(Ok(aws)) => match crate::adapters::aws::root::assume_root(aws, &target, task, 900) {
                Ok((session, call)) => {
                    let d = session.duration_s;
                    self.root = Some(session);
                    Ok((call, d))
                }
                Err(e) => Err((
                    crate::core::root::Call {
                        api: "sts:AssumeRoot".into(),
                        target: format!("{target} ({})", task.policy_name()),
                        request_id: None,
                        outcome: e.to_string(),
                    },
                    Failed::Aws(e.to_string()),
                )),
            },
            _ => Err((
                crate::core::root::Call { api: "sts:AssumeRoot".into(), target, request_id: None, outcome: Failed::NoAws.to_string() },
                Failed::NoAws,
            )),
        };
        vec![Intent::RootAssumed(result)]
    }

    fn append(&mut self, entry: &journal::Entry, labels: journal::Labels) -> std::io::Result<journal::Written> {
        if self.journal.is_none() {
            crate::core::fsread::create_private_dir(&self.dir)?;
            // The roster copy first: a session stopped right after its journal appears is then
            // still checkable against the roster it ran under (incomplete, not forged).
            self.write_roster_copy()?;
            self.journal = Some(Journal::new(FileStore::create(&self.journal_path())?));
            if self.lock.is_none() {
                self.lock = Some(lock_session(&self.dir).map_err(|e| std::io::Error::other(e.to_string()))?);
            }
        }
        if let Some(keep) = self.pending_recovery.take() {
            self.begin_recovery(keep)?;
        }
        let now = self.clock.now();
        let mono = self.mono_base.saturating_add(self.clock.mono_ms());
        let observed = rfc3339_ms(now);
        // The wall clock stepped (NTP, a manual change, a suspended laptop): journal it, and never
        // write a time earlier than the entry before; order always follows `mono_ms`.
        if let Some((last_wall, last_mono)) = self.last_time {
            let expected = last_wall + chrono::Duration::milliseconds(i64::try_from(mono.saturating_sub(last_mono)).unwrap_or(i64::MAX));
            let jump = (now - expected).num_milliseconds();
            if jump.abs() > CLOCK_JUMP_MS {
                let ts = observed.clone().max(self.last_ts.clone());
                // The same labels as the entry it precedes.
                let jump = journal::Entry::ClockJump { observed: observed.clone(), expected: rfc3339_ms(expected), jump_ms: jump };
                let j = self.journal.as_mut().ok_or_else(|| std::io::Error::other("no journal"))?;
                let w = j.append(&ts, mono, labels, &jump)?;
                crash_point(w.seq);
                self.last_ts = ts;
            }
        }
        let ts = observed.max(self.last_ts.clone());
        let j = self.journal.as_mut().ok_or_else(|| std::io::Error::other("no journal"))?;
        let w = j.append(&ts, mono, labels, entry)?;
        crash_point(w.seq);
        self.last_time = Some((now, mono));
        self.last_ts = ts;
        if self.genesis.is_none() {
            self.genesis = Some(w.head);
        }
        Ok(w)
    }

    /// Stamps a notice with the time and the journal hash it names.
    fn stamp(&self, notice: &mut Notice, hash: NoticeHash) {
        notice.at = rfc3339_ms(self.clock.now());
        let (h, entry) = match hash {
            NoticeHash::AsGiven => return,
            NoticeHash::Genesis => (self.genesis.unwrap_or_default(), Some(0)),
            NoticeHash::Head => {
                (self.journal.as_ref().map(|j| j.head()).unwrap_or_default(), self.journal.as_ref().and_then(|j| j.len().checked_sub(1)))
            }
        };
        notice.journal_hash = hex::encode(h);
        notice.journal_words = crate::core::notice::head_words(&h);
        notice.journal_entry = entry;
    }

    /// Signs the new roster version as `id` on key `serial` (checked against the key the new
    /// version, or for a departing custodian the current one, names) and, when `manifest`, the
    /// new sealing's manifest. The sealing is made once, at the first signature.
    fn sign_rekey(&mut self, id: &str, serial: u32, manifest: bool, drill: bool) -> Result<String, Failed> {
        let bad = Failed::Signature;
        // A drill signs in namespaces no trust decision accepts.
        let runbook_ns = if drill { crate::core::sign::RUNBOOK_DRILL_NAMESPACE } else { crate::core::sign::RUNBOOK_NAMESPACE };
        let old_key = self.roster.key(id).cloned();
        let job = self.rekey.as_mut().ok_or_else(|| bad("this is not a rekey".into()))?;
        if job.sealed.is_none() {
            let text = job.plaintext.as_ref().ok_or_else(|| bad("the runbook was not opened".into()))?;
            // The next sealing: its serial follows the one this rekey opened, and every sealing
            // kept beside it (a rotation's, superseded or set aside).
            let serial = crate::core::rotate::next_serial(&job.paths.runbook, self.sealed.manifest.serial);
            job.sealed = Some(crate::core::seal::seal_serial(&job.new, text.as_bytes(), serial).map_err(|e| bad(e.to_string()))?);
        }
        let key = job.new.key(id).cloned().or(old_key).ok_or_else(|| bad(format!("`{id}` is in neither version of the roster")))?;
        // The bundle keeps the version being signed, so that verify checks these signatures.
        let next = self.dir.join(crate::core::verify::ROSTER_NEXT);
        if !next.exists() {
            crate::core::fsread::write_atomic(&next, &job.new.bytes).map_err(|e| {
                Failed::Storage(format!("{} could not be written: {}", next.display(), crate::core::journal::storage_cause(&e)))
            })?;
        }
        let statement = crate::core::statement::Statement::RosterVersion { bytes: job.new.bytes.clone(), drill };
        let (roster_ns, roster_bytes) = (statement.namespace(), statement.message());
        let manifest_bytes = job.sealed.as_ref().map(|s| s.manifest_bytes.clone()).unwrap_or_default();
        let new_key = job.new.key(id).cloned();
        let t = self.token(serial).ok_or_else(|| bad(format!("key {serial} is not present: insert it again")))?;
        let sig = sign::sshsig(t.as_mut(), roster_ns, &roster_bytes).map_err(Failed::from)?;
        sign::verify(&key, roster_ns, &roster_bytes, &sig).map_err(|e| bad(e.to_string()))?;
        let pem = sign::to_pem(&sig).map_err(|e| bad(e.to_string()))?;
        let mpem = match (manifest, new_key) {
            (true, Some(k)) => {
                let m = sign::sshsig(t.as_mut(), runbook_ns, &manifest_bytes).map_err(Failed::from)?;
                sign::verify(&k, runbook_ns, &manifest_bytes, &m).map_err(|e| bad(e.to_string()))?;
                Some(sign::to_pem(&m).map_err(|e| bad(e.to_string()))?)
            }
            _ => None,
        };
        let job = self.rekey.as_mut().ok_or_else(|| bad("this is not a rekey".into()))?;
        job.roster_sigs.insert(id.to_string(), pem.clone().into_bytes());
        if let (Some(m), Some(s)) = (mpem, job.sealed.as_mut()) {
            s.signatures.insert(id.to_string(), m.into_bytes());
        }
        Ok(pem)
    }

    /// Seals the runbook again with secret `secret` holding `value` (in memory; a sealing with the
    /// next serial, for every quorum of the roster), stages it beside the live one (a drill: on its
    /// copy), opens it back with the keys of `present` and keeps a copy of its manifest in the
    /// bundle. Returns the manifest's SHA-256, the serial and the files opened back.
    fn stage_rotation(
        &mut self,
        secret: usize,
        value: &secrecy::SecretString,
        present: &[String],
        drill: bool,
    ) -> Result<(String, u64, Vec<String>), String> {
        use secrecy::ExposeSecret;
        let path = self.runbook_path.clone().ok_or("this ceremony has no sealed runbook on disk to rotate")?;
        let text = self.plaintext.as_ref().ok_or("the runbook was not opened")?;
        let rb = Runbook::parse(text);
        let new = crate::core::runbook::with_secret(text, &rb, secret, value.expose_secret()).ok_or("the runbook has no such secret")?;
        // The live sealing must still be the one this ceremony opened (not resealed meanwhile).
        let live = Sealed::read_dir(&path).map_err(|e| e.to_string())?;
        if live.manifest_bytes != self.sealed.manifest_bytes {
            return Err(format!(
                "the live sealed runbook ({}) is no longer the one this ceremony opened: someone sealed it again meanwhile. Nothing was changed",
                path.display()
            ));
        }
        // Above the live serial and every sealing kept beside it: no two signed sealings share one.
        let serial = crate::core::rotate::next_serial(&path, self.sealed.manifest.serial);
        let sealed = crate::core::seal::seal_serial(&self.roster, new.as_bytes(), serial).map_err(|e| e.to_string())?;
        // The bundle's copy first: a failure here leaves nothing staged.
        let copy = self.dir.join(crate::core::verify::manifest_copy(serial));
        crate::core::fsread::write_atomic(&copy, &sealed.manifest_bytes).map_err(|e| format!("{}: {e}", copy.display()))?;
        let dir = crate::core::rotate::stage(&path, &sealed, drill).map_err(|e| e.to_string())?;
        let opened = match self.open_back(&dir, present, new.as_bytes()) {
            Ok(o) => o,
            Err(e) => {
                let _ = crate::core::rotate::discard(&path, drill);
                return Err(e);
            }
        };
        let sha = hex::encode(sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&sealed.manifest_bytes)));
        self.rotation = Some(RotationJob { sealed, plaintext: new, sigs: Default::default() });
        Ok((sha, serial, opened))
    }

    /// Reads a staged sealing back and opens every file whose custodians are all here: each must
    /// hold exactly `text`.
    fn open_back(&mut self, dir: &Path, present: &[String], text: &[u8]) -> Result<Vec<String>, String> {
        let staged = Sealed::read_dir(dir).map_err(|e| e.to_string())?;
        let serials: Vec<(String, u32)> = self.roster.custodians.iter().map(|c| (c.id.clone(), c.yubikey_serial)).collect();
        let serial_of = |id: &str| serials.iter().find(|(i, _)| i == id).map(|(_, s)| *s);
        let mut opened = vec![];
        for f in &staged.manifest.files {
            if f.layers.iter().all(|id| present.contains(id)) {
                let got = unseal_with(&staged, &f.layers, &mut self.tokens, &serial_of).map_err(|e| e.to_string())?;
                if got.as_bytes() != text {
                    return Err(format!("{} does not open to the new runbook", f.name));
                }
                opened.push(f.name.clone());
            }
        }
        if opened.is_empty() {
            return Err("no group of custodians here could open the new sealing to check it".into());
        }
        Ok(opened)
    }

    /// A custodian's confirmation that the new value took: their signature over the staged
    /// manifest, checked against the roster's key.
    fn sign_sealing(&mut self, custodian: RosterIx, serial: u32, drill: bool) -> Result<String, String> {
        let ns = if drill { crate::core::sign::RUNBOOK_DRILL_NAMESPACE } else { crate::core::sign::RUNBOOK_NAMESPACE };
        let key = self.roster.key_at(custodian.index()).clone();
        let id = self.roster.custodians.get(custodian.index()).map(|c| c.id.clone()).ok_or("no such custodian")?;
        let manifest = self.rotation.as_ref().ok_or("no rotation is staged")?.sealed.manifest_bytes.clone();
        let t = self.token(serial).ok_or_else(|| format!("key {serial} is not present: insert it again"))?;
        let sig = sign::sshsig(t.as_mut(), ns, &manifest).map_err(|e| e.to_string())?;
        sign::verify(&key, ns, &manifest, &sig).map_err(|e| e.to_string())?;
        let pem = sign::to_pem(&sig).map_err(|e| e.to_string())?;
        if let Some(job) = self.rotation.as_mut() {
            job.sigs.insert(id, pem.clone().into_bytes());
        }
        Ok(pem)
    }

    /// Swaps the staged sealing in, signed by the custodians who confirmed (a drill: removes its
    /// copy). Returns the runbook as it now reads.
    fn commit_rotation(&mut self, drill: bool) -> Result<Arc<Runbook>, String> {
        let path = self.runbook_path.clone().ok_or("this ceremony has no sealed runbook on disk to rotate")?;
        let job = self.rotation.as_ref().ok_or("no rotation is staged")?;
        let rb = Arc::new(Runbook::parse(&job.plaintext));
        if drill {
            crate::core::rotate::discard(&path, true).map_err(|e| e.to_string())?;
            self.rotation = None;
            return Ok(rb);
        }
        let dir = crate::core::rotate::staged(&path);
        crate::core::rotate::add_signatures(&dir, &job.sigs).map_err(|e| e.to_string())?;
        let staged = Sealed::read_dir(&dir).map_err(|e| e.to_string())?;
        // Exactly the sealing the custodians confirmed: another one put in its place (an older
        // sealing that a quorum signed once, say) is never swapped in.
        if staged.manifest_bytes != job.sealed.manifest_bytes {
            return Err(format!(
                "{} is not the sealing the custodians confirmed: someone replaced it. The live runbook was not changed",
                dir.display()
            ));
        }
        let (signed, bad) =
            crate::core::roster::signed_by(&staged.manifest_bytes, crate::core::sign::RUNBOOK_NAMESPACE, &self.roster, &staged.signatures);
        if signed.len() < self.roster.quorum {
            return Err(crate::core::seal::SealError::Unsigned { signed, need: self.roster.quorum, bad }.to_string());
        }
        let stop = std::env::var("BREAKGLASS_TEST_ROTATE_CRASH_AFTER").ok().filter(|v| v == "exchanged");
        crate::core::rotate::commit(&path, stop.as_ref().map(|_| crate::core::rotate::Step::Exchanged)).map_err(|e| e.to_string())?;
        if stop.is_some() {
            std::process::abort();
        }
        if let Some(remember) = &self.remember_serial {
            remember(staged.manifest.serial);
        }
        if let Some(job) = self.rotation.take() {
            self.sealed = staged;
            self.plaintext = Some(job.plaintext);
        }
        Ok(rb)
    }

    /// Stages the new version and sealing, checks them (every quorum of `present` opens the
    /// runbook), then swaps them in. A failure before the swap leaves nothing live changed.
    fn commit_rekey(&mut self, present: &[String], rehearse: bool) -> Result<Vec<String>, String> {
        let job = self.rekey.as_ref().ok_or("this is not a rekey")?;
        let paths = job.paths.clone();
        let new = job.new.clone();
        let sealed = job.sealed.clone().ok_or("nobody signed the new version yet")?;
        let text = job.plaintext.clone().ok_or("the runbook was not opened")?;
        // One rekey at a time; and the live roster must still be the one this ceremony started from.
        let _lock = crate::core::rekey::lock(&paths).map_err(|e| e.to_string())?;
        crate::core::rekey::settle(&paths).map_err(|e| e.to_string())?;
        let live = crate::core::roster::Roster::load(&paths.roster).map_err(|e| e.to_string())?;
        // A retry after a swap that failed past its commit point (then finished by settle): the
        // new version is what is live, checked the first time.
        if live.sha256() == new.sha256()
            && let Some(opened) = job.checked.clone()
        {
            return Ok(opened);
        }
        if live.sha256() != self.roster.sha256() {
            return Err(format!(
                "the live roster ({}) is no longer the version this ceremony started from: someone changed it meanwhile. Nothing was changed; start again",
                paths.roster.display()
            ));
        }
        // And the live runbook is still the sealing this ceremony opened (not resealed meanwhile).
        let live_runbook = crate::core::seal::Sealed::read_dir(&paths.runbook).map_err(|e| e.to_string())?;
        if live_runbook.manifest_bytes != self.sealed.manifest_bytes {
            return Err(format!(
                "the live sealed runbook ({}) is no longer the one this ceremony opened: someone sealed it again meanwhile. Nothing was changed; start again",
                paths.runbook.display()
            ));
        }
        crate::core::rekey::stage(&paths, &new, &job.roster_sigs, &sealed).map_err(|e| e.to_string())?;
        let serials: Vec<(String, u32)> = new.custodians.iter().map(|c| (c.id.clone(), c.yubikey_serial)).collect();
        // Only keys in their readers now can open their layers: with two USB ports a newcomer's
        // key is out again by now, and the pairs it belongs to are checked by their files' hashes
        // and the quorum's signatures only.
        let present: Vec<String> = match self.keys {
            KeySource::Fixed => present.to_vec(),
            KeySource::Piv { .. } => {
                let here: Vec<u32> = self.scan().unwrap_or_default().into_iter().map(|(s, _)| s).collect();
                present.iter().filter(|id| serials.iter().any(|(i, s)| i == *id && here.contains(s))).cloned().collect()
            }
        };
        let present = present.as_slice();
        let mut tokens = std::mem::take(&mut self.tokens);
        let ns = if rehearse { crate::core::sign::RUNBOOK_DRILL_NAMESPACE } else { crate::core::sign::RUNBOOK_NAMESPACE };
        let checked = crate::core::rekey::check_staged(&paths, &new, text.as_bytes(), present, ns, &mut |id, ct| {
            let serial = serials.iter().find(|(i, _)| i == id).map(|(_, s)| *s);
            match serial.and_then(|s| tokens.iter_mut().find(|t| t.info().serial == s)) {
                Some(t) => t.decrypt_layer(ct),
                None => Err(crate::adapters::token::TokenError::NotPresent(id.to_string())),
            }
        });
        self.tokens = tokens;
        let opened = match checked {
            Ok(o) => o,
            Err(e) => {
                // Nothing live changed: undo the staging.
                let _ = crate::core::rekey::settle(&paths);
                return Err(e.to_string());
            }
        };
        if let Some(job) = self.rekey.as_mut() {
            job.checked = Some(opened.clone());
        }
        if rehearse {
            // A drill proves the new sealing opens, then leaves the live files as they were.
            crate::core::rekey::settle(&paths).map_err(|e| e.to_string())?;
            return Ok(opened);
        }
        match rekey_crash_point() {
            // A failure after the commit point is finished by settle: the journal then says the
            // new version is in place, as it is.
            None => {
                if let Err(e) = crate::core::rekey::commit(&paths, None) {
                    match crate::core::rekey::settle(&paths) {
                        Ok(crate::core::rekey::Settled::Finished) => {}
                        _ => return Err(e.to_string()),
                    }
                }
            }
            Some(stop) => {
                if let Some(step) = stop {
                    crate::core::rekey::commit(&paths, Some(step)).map_err(|e| e.to_string())?;
                }
                std::process::abort();
            }
        }
        Ok(opened)
    }

    fn sign_journal(&mut self, custodian: RosterIx, serial: u32) -> Result<(), Failed> {
        let path = self.journal_path();
        let bytes = std::fs::read(&path).map_err(|e| Failed::Signature(format!("{}: {e}", path.display())))?;
        // Sign only the journal this ceremony wrote. The file is read back from disk, so it must
        // end in the chain head kept in memory, after exactly as many lines: the chain makes that
        // the same bytes. Someone who rewrote the file meanwhile (dates, steps, notes) gets no
        // signature over it.
        if let Some(j) = self.journal.as_ref() {
            let chain = journal::check_chain(&bytes);
            if !chain.problems.is_empty() || chain.entries as u64 != j.len() || chain.head != j.head() {
                return Err(Failed::Signature(format!(
                    "{} is not the journal this ceremony wrote: it was changed on disk while the session ran ({} intact lines ending in {}; this ceremony wrote {} ending in {}). Nothing was signed. Keep the session directory as evidence and find out who changed it; the team was told root is in use",
                    path.display(),
                    chain.entries,
                    crate::core::notice::head_words(&chain.head),
                    j.len(),
                    crate::core::notice::head_words(&j.head()),
                )));
            }
        }
        let key = self.roster.key_at(custodian.index()).clone();
        let id = self.roster.custodians[custodian.index()].id.clone();
        let t = self.token(serial).ok_or_else(|| Failed::Signature(format!("key {serial} is not present: insert it again")))?;
        let sig = sign::sshsig(t.as_mut(), SESSION_NAMESPACE, &bytes)?;
        sign::verify(&key, SESSION_NAMESPACE, &bytes, &sig).map_err(|e| Failed::Signature(e.to_string()))?;
        let pem = sign::to_pem(&sig).map_err(|e| Failed::Signature(e.to_string()))?;
        let name = format!("{}.{id}.sig", journal::FILE_NAME);
        crate::core::fsread::write_atomic(&self.dir.join(&name), pem.as_bytes()).map_err(|e| {
            Failed::Storage(format!("the signature was made but {name} could not be written: {}", crate::core::journal::storage_cause(&e)))
        })
    }

    /// The first write of a recovery: signatures over the journal as it was would no longer match
    /// once it goes on, so they are kept beside it under another name (never deleted, never
    /// overwritten); then a partial last line is cut (its bytes are in `session.recovered`).
    fn begin_recovery(&mut self, keep: u64) -> std::io::Result<()> {
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("journal.jsonl.") && name.ends_with(".sig") {
                let mut n = 1;
                let mut kept = self.dir.join(format!("{name}.before-recovery"));
                while std::fs::symlink_metadata(&kept).is_ok() {
                    n += 1;
                    kept = self.dir.join(format!("{name}.before-recovery-{n}"));
                }
                std::fs::rename(e.path(), &kept)?;
            }
        }
        if let Some(j) = self.journal.as_mut() {
            j.store_mut().truncate(keep)?;
        }
        Ok(())
    }

    fn write_roster_copy(&self) -> std::io::Result<()> {
        crate::core::fsread::write_atomic(&self.dir.join("roster.toml"), &self.roster.bytes)?;
        for (id, sig) in &self.roster_sigs {
            crate::core::fsread::write_atomic(&sig_path(&self.dir.join("roster.toml"), id), sig)?;
        }
        Ok(())
    }

    fn finish(&self, session_id: &str, mode: crate::core::ceremony::Mode, demo: bool, signed: &[String]) -> std::io::Result<()> {
        let mut signers = String::new();
        for id in signed {
            if let Some(k) = self.roster.key(id) {
                signers.push_str(&sign::allowed_signers_line(id, k, SESSION_NAMESPACE));
                signers.push('\n');
            }
        }
        crate::core::fsread::write_atomic(&self.dir.join("allowed_signers"), signers.as_bytes())?;
        crate::core::fsread::write_atomic(&self.dir.join("VERIFY.md"), verify_md(session_id, mode, demo, signed).as_bytes())
    }
}

/// What a session rests on: the trusted roster, its signatures (copied into the bundle) and the
/// sealed runbook.
pub struct Basis {
    pub roster: Roster,
    pub roster_sigs: Vec<(String, Vec<u8>)>,
    pub sealed: Sealed,
}

/// A new ceremony with a fresh session id, and its runner, for a roster and its sealed runbook;
/// the bundle is written under `sessions_dir`. Software tokens make it a DEMO session; without
/// tokens the custodians' YubiKeys are found as they are presented.
pub fn start(
    sessions_dir: &Path,
    clock: Arc<dyn Clock>,
    basis: Basis,
    tokens: Vec<Box<dyn Token>>,
    outside: Outside,
    purpose: crate::core::ceremony::Purpose,
) -> (Ceremony, Runner) {
    let Basis { roster, roster_sigs, sealed } = basis;
    let demo = !tokens.is_empty() && tokens.iter().all(|t| t.info().demo);
    let session_id = new_session_id(clock.as_ref());
    let info = crate::core::ceremony::SessionInfo {
        session_id: session_id.clone(),
        demo,
        host: host_name(),
        tool_version: crate::VERSION.into(),
        roster_sha256: roster.sha256(),
        runbook_sha256: sealed.fingerprint(),
        account: outside.account.clone(),
        quorum: roster.quorum,
        aws: outside.aws.is_some(),
        heartbeat_s: outside.heartbeat_s,
        rehearsal_roots: outside.rehearsal_roots.clone(),
    };
    let c = Ceremony::new(info, crate::core::ceremony::people(&roster), purpose);
    let runner = Runner::new(sessions_dir.join(&session_id), clock, tokens, roster, roster_sigs, sealed, outside);
    (c, runner)
}

/// A key presented again after its custodian checked in with it: what the ceremony is told, with
/// the card left alone. Opening a YubiKey or reading its PIN tries selects the PIV application,
/// which ends the PIN session its custodian opened at check-in (the runbook would then not open
/// on it, nor would it sign); the ceremony refuses the key anyway.
pub(crate) fn already_checked_in(c: &Ceremony, serial: u32) -> Option<Intent> {
    let k = c.checked().iter().find(|k| k.serial == serial)?;
    Some(Intent::KeySeen { serial, model: k.model.clone(), demo: c.info().demo, retries: Ok(0), nonce: String::new() })
}

/// A custodian presents the key `serial`: its attestation (hardware keys) then the key itself.
pub fn present(c: &mut Ceremony, r: &mut Runner, serial: u32) {
    if let Some(i) = already_checked_in(c, serial) {
        drive(c, r, i);
        return;
    }
    if let Some(i) = r.attest(serial) {
        drive(c, r, i);
    }
    let seen = r.present(serial);
    drive(c, r, seen);
}

/// The root posture checks (the audit's `iam_*` ones) and, given `since`, root's CloudTrail events
/// from then until now. Each call is bounded like every AWS call.
fn posture(aws: &crate::adapters::aws::Aws, account: &str, since: Option<chrono::DateTime<chrono::Utc>>) -> crate::core::ceremony::Posture {
    let now = chrono::Utc::now();
    let facts = crate::adapters::aws::posture::gather_root(
        aws,
        account,
        since.map(|s| (s - chrono::Duration::minutes(1), now + chrono::Duration::minutes(1))),
    );
    crate::core::ceremony::Posture {
        account: account.to_string(),
        checks: crate::core::audit::root_checks(&facts, now)
            .into_iter()
            .map(|c| (c.id.as_str().to_string(), format!("{:?}", c.status).to_uppercase(), c.reason))
            .collect(),
        root_events: facts.root_events.clone().unwrap_or_default(),
    }
}

/// Runs `intent` and everything it sets off until nothing is left. If a journal entry cannot be
/// written, the effects after it are dropped.
pub fn drive(c: &mut Ceremony, r: &mut Runner, intent: Intent) {
    let mut queue = VecDeque::from([intent]);
    while let Some(i) = queue.pop_front() {
        let effects = c.advance(i);
        // What the journal says goes back at once (the screen follows the journal); the rest
        // waits its turn.
        let whole = r.run_batch(effects, |res| {
            if matches!(res, Intent::Journaled(_) | Intent::JournalFailed(_)) {
                c.advance(res);
            } else {
                queue.push_back(res);
            }
        });
        if !whole {
            return;
        }
    }
}

fn verify_md(session_id: &str, mode: crate::core::ceremony::Mode, demo: bool, signed: &[String]) -> String {
    let mut s = format!(
        "# Verifying session {}\n\nMode: {}{}\n\nWith breakglass:\n\n    breakglass verify --roster /path/to/trusted/roster.toml .\n\nWith stock OpenSSH only (run in this directory):\n\n",
        session_id,
        mode.label(),
        if demo { " (DEMO: software keys, no security)" } else { "" }
    );
    for id in signed {
        s.push_str(&format!(
            "    ssh-keygen -Y verify -f allowed_signers -I {id} -n breakglass-session -s journal.jsonl.{id}.sig < journal.jsonl\n"
        ));
    }
    s.push_str(
        "\nBefore trusting `allowed_signers`, check that each key in it equals that custodian's `signing_key`\n\
         in the roster you trust (not only the copy in this directory), and that the roster is signed by a quorum:\n\n\
         \x20   ssh-keygen -Y verify -f <signers from your roster> -I <id> -n breakglass-roster -s roster.toml.<id>.sig < roster.toml\n\n\
         The hash chain: each line's `prev` is the SHA-256 of the previous line's bytes (64 zeros for the first).\n\
         See docs/verify-by-hand.md in the breakglass repository for a standard-library Python checker.\n",
    );
    s
}

/// Why an interrupted session cannot be recovered; each says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("cannot read {path}: {why}. Give the session directory (the one holding journal.jsonl)")]
    Read { path: String, why: String },
    #[error(
        "{dir}: the journal is empty, so the session never opened and nothing was in use. Keep the directory as evidence; there is nothing to close"
    )]
    Empty { dir: String },
    #[error(
        "{dir}: the journal's chain is broken at line {line} ({what}); recover only continues an intact chain. Check it with `breakglass verify {dir}`"
    )]
    Broken { dir: String, line: usize, what: String },
    #[error("{dir} was already closed ({kind} is recorded): nothing to recover. Check it with `breakglass verify {dir}`")]
    NotInterrupted { dir: String, kind: String },
    #[error("{dir}: {what}")]
    Other { dir: String, what: String },
    /// The directory is not named by the session id its journal holds (renamed, or altered).
    #[error("{dir}: {what}")]
    Renamed { dir: String, what: String },
    /// Another process holds the session's lock: a ceremony still running, or another recovery.
    #[error("{dir}: {why}")]
    InProgress { dir: String, why: LockError },
}

/// Why a session's lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the session is open in another breakglass process{}: it is not interrupted, and nothing was written here. Finish it there (or, if that process is stuck, stop it first)",
        .pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    Busy { pid: Option<u32> },
    #[error(
        "another breakglass ceremony is running on this data directory{}: one at a time, so that two never announce, rotate or sign at once. Finish it there (or, if it is stuck, stop it with `kill`: it records the abort), then start again. Nothing was written",
        .pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    DataBusy { pid: Option<u32> },
    #[error("cannot lock the session ({path}): {err}")]
    Io { path: String, err: std::io::Error },
}

/// The lock of a session: an advisory `flock` on its `journal.jsonl`, held by the one process
/// that writes the journal, released when that process ends, however it ends. Taking it changes
/// nothing on disk; the holder is found in `/proc/locks` for the message of whoever else tries.
#[derive(Debug)]
pub struct SessionLock(#[allow(dead_code)] std::fs::File);

/// Takes the lock of the session in `dir` (its journal must exist), or says which process holds it.
pub fn lock_session(dir: &Path) -> Result<SessionLock, LockError> {
    let p = dir.join(journal::FILE_NAME);
    let f = std::fs::File::open(&p).map_err(|err| LockError::Io { path: p.display().to_string(), err })?;
    match f.try_lock() {
        Ok(()) => Ok(SessionLock(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy { pid: holder(&f) }),
        Err(std::fs::TryLockError::Error(err)) => Err(LockError::Io { path: p.display().to_string(), err }),
    }
}

/// The data directory's ceremony lock: one ceremony, recovery, rekey or offboarding at a time per
/// data directory, across processes (an advisory `flock` on `DATA_DIR/.breakglass.lock`, released
/// when the process ends, however it ends).
#[derive(Debug)]
pub(crate) struct DataLock(#[allow(dead_code)] std::fs::File);

/// Takes the data directory's ceremony lock (creating the directory and the lock file), or says
/// which process holds it.
pub(crate) fn lock_data_dir(dir: &Path) -> Result<DataLock, LockError> {
    let p = dir.join(".breakglass.lock");
    let io = |err| LockError::Io { path: p.display().to_string(), err };
    crate::core::fsread::create_private_dir(dir).map_err(io)?;
    let f = std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().create(true).truncate(false).write(true), 0o600)
        .open(&p)
        .map_err(io)?;
    match f.try_lock() {
        Ok(()) => Ok(DataLock(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::DataBusy { pid: holder(&f) }),
        Err(std::fs::TryLockError::Error(err)) => Err(io(err)),
    }
}

/// Whether `i` reports a key operation that found PC/SC gone (and why).
fn pcsc_gone(i: &Intent) -> Option<String> {
    use crate::adapters::token::TokenError::NoService;
    match i {
        Intent::SessionSigned { result: Err(Failed::Key(e @ NoService)), .. }
        | Intent::Attested { result: Err(Failed::Key(e @ NoService)), .. }
        | Intent::RekeySigned { result: Err(Failed::Key(e @ NoService)), .. }
        | Intent::PinChecked { result: Err(e @ NoService), .. } => Some(e.to_string()),
        _ => None,
    }
}

/// The process holding a `flock` on `f`, from `/proc/locks` (`N: FLOCK ADVISORY WRITE PID
/// MAJ:MIN:INODE ...`), when it can be told.
fn holder(f: &std::fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = f.metadata().ok()?.ino().to_string();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.get(1) == Some(&"FLOCK") && w.get(5).is_some_and(|id| id.rsplit(':').next() == Some(ino.as_str())))
            .then(|| w.get(4)?.parse().ok())?
    })
}

/// Whether another process holds the session's lock (nothing is created or changed).
pub(crate) fn held_elsewhere(dir: &Path) -> Option<LockError> {
    let f = std::fs::File::open(dir.join(journal::FILE_NAME)).ok()?;
    match f.try_lock() {
        Err(std::fs::TryLockError::WouldBlock) => Some(LockError::Busy { pid: holder(&f) }),
        _ => None,
    }
}

/// An interrupted session as its journal alone tells it.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub dir: PathBuf,
    pub session_id: String,
    pub mode: crate::core::ceremony::Mode,
    pub demo: bool,
    pub roster_sha256: String,
    pub reason: String,
    pub recovery: crate::core::ceremony::Recovery,
    /// A rekey session: the roster version it was making.
    pub rekey_new: Option<String>,
    next_seq: u64,
    head: [u8; 32],
    genesis: [u8; 32],
    last_mono: u64,
    /// Length of the intact part of the file (a partial last line is cut at recovery).
    body_end: u64,
}

/// Reads an interrupted session from its journal; nothing else on disk is consulted.
pub fn read_interrupted(dir: &Path) -> Result<Interrupted, RecoverError> {
    let d = dir.display().to_string();
    // A session another process is writing is not interrupted, whatever its journal says yet.
    if let Some(why) = held_elsewhere(dir) {
        return Err(RecoverError::InProgress { dir: d, why });
    }
    let path = dir.join(journal::FILE_NAME);
    let bytes = crate::core::fsread::read_regular(&path, crate::core::verify::MAX_JOURNAL_BYTES)
        .map_err(|e| RecoverError::Read { path: path.display().to_string(), why: e.to_string() })?;
    let chain = journal::check_chain(&bytes);
    if let Some(p) = chain.problems.iter().find(|p| p.kind != journal::ProblemKind::Interrupted) {
        return Err(RecoverError::Broken { dir: d, line: p.line, what: p.what.clone() });
    }
    if chain.entries == 0 {
        return Err(RecoverError::Empty { dir: d });
    }
    let lines: Vec<&[u8]> = journal::lines(&bytes).take(chain.entries).collect();
    // The chain check read every line as a [`journal::Line`]; the first must be session.opened.
    fn line(l: &[u8]) -> Option<journal::Line<'_>> {
        serde_json::from_slice(l).ok()
    }
    let first = line(lines[0]);
    let Some(Entry::SessionOpened { session_id, roster_sha256, reason, rekey, .. }) = serde_json::from_slice::<Entry>(lines[0]).ok() else {
        return Err(RecoverError::Other { dir: d, what: "the first entry is not session.opened (or is malformed)".into() });
    };
    let h = journal::happened(&lines);
    let (announced, closed, closed_normally) = (h.announced, h.closed, h.closed_normally);
    // A closed session that a quorum signed is finished: verify it instead. Only signatures that
    // verify count (junk .sig files beside an unsigned session must not hide it from recovery).
    if closed && signed_by_quorum(dir, &bytes, &roster_sha256) {
        return Err(RecoverError::NotInterrupted { dir: d, kind: "the closing entry and a quorum's signatures".into() });
    }
    // Aborted before anyone checked in: root was never announced nor opened, and nobody could
    // sign. There is nothing to recover and no "root released" to send.
    if closed && !closed_normally && !h.anyone_checked_in && !announced {
        return Err(RecoverError::NotInterrupted {
            dir: d,
            kind: "an abort before anyone checked in (root was never announced or opened; nobody can sign it, nothing to recover)".into(),
        });
    }
    // Only an unfinished session gets this far. It lives in the directory named by its id. The id comes from the journal (whoever
    // could write the file chose it): it must be a plain name, and this directory's.
    let name = dir.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string())).unwrap_or_default();
    if !crate::core::archive::valid_segment(&session_id) || name != session_id {
        return Err(RecoverError::Renamed {
            dir: d,
            what: format!(
                "the journal names session `{}`, but this directory is `{name}`: recover closes a session in its own directory, named by its id. If it was renamed, name it back; otherwise the journal was altered (check it with `breakglass verify`)",
                crate::core::plain::one_line(&session_id)
            ),
        });
    }
    let last = line(lines[lines.len() - 1]);
    let body_end: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let partial = &bytes[usize::try_from(body_end).unwrap_or(bytes.len()).min(bytes.len())..];
    Ok(Interrupted {
        dir: dir.to_path_buf(),
        session_id,
        mode: first.as_ref().and_then(|f| f.mode.as_deref()).and_then(crate::core::mode::Mode::parse).unwrap_or_default(),
        demo: first.as_ref().and_then(|f| f.demo) == Some(true),
        roster_sha256,
        reason,
        recovery: crate::core::ceremony::Recovery {
            entries: chain.entries as u64,
            last_ts: last.as_ref().map(|l| l.ts.to_string()).unwrap_or_default(),
            partial_tail: (!partial.is_empty()).then(|| hex::encode(partial)),
            announced,
            closed,
            closed_normally,
            released: h.released,
            steps_done: h.steps_done,
            mode: first.as_ref().and_then(|f| f.mode.as_deref()).and_then(crate::core::mode::Mode::parse).unwrap_or_default(),
            rekey: None,
            unsure: h.unsure,
        },
        rekey_new: rekey.map(|k| k.new_roster_sha256),
        next_seq: chain.entries as u64,
        head: chain.head,
        genesis: <sha2::Sha256 as sha2::Digest>::digest(lines[0]).into(),
        last_mono: last.as_ref().map_or(0, |l| l.mono_ms),
        body_end,
    })
}

/// Whether a quorum of the session's roster (the bundle's roster.toml, which must hash to what the
/// session opened with) signed `journal`: each `journal.jsonl.<id>.sig` is checked with that
/// custodian's key.
fn signed_by_quorum(dir: &Path, journal: &[u8], roster_sha256: &str) -> bool {
    let Ok(bytes) = crate::core::fsread::read_regular(&dir.join("roster.toml"), crate::core::roster::MAX_ROSTER_BYTES) else {
        return false;
    };
    if crate::core::verify::sha256_hex(&bytes) != roster_sha256 {
        return false;
    }
    let Ok(roster) = Roster::parse(&bytes, "roster.toml") else { return false };
    let (sigs, _) = crate::core::roster::read_signatures(&dir.join(journal::FILE_NAME), roster.custodians.iter().map(|c| c.id.as_str()));
    crate::core::roster::signed_by(journal, SESSION_NAMESPACE, &roster, &sigs).0.len() >= roster.quorum
}

/// Continues an interrupted session's chain: the partial last line (if any) is cut (its bytes are
/// kept in `session.recovered`), the journal is opened for appending, and a ceremony in recovery
/// mode closes it once a quorum has checked in again.
pub fn resume(
    i: &Interrupted,
    clock: Arc<dyn Clock>,
    roster: Roster,
    roster_sigs: Vec<(String, Vec<u8>)>,
    tokens: Vec<Box<dyn Token>>,
    outside: Outside,
) -> Result<(Ceremony, Runner), RecoverError> {
    let d = i.dir.display().to_string();
    // One recovery at a time, and never one of a session still running: the lock first.
    let lock = lock_session(&i.dir).map_err(|why| RecoverError::InProgress { dir: d.clone(), why })?;
    let path = i.dir.join(journal::FILE_NAME);
    // Nothing on disk changes until the recovery writes its first entry: leaving the recovery
    // screen early leaves the session exactly as it was.
    let store = FileStore::open_append(&path).map_err(|e| RecoverError::Other { dir: d.clone(), what: e.to_string() })?;
    let info = crate::core::ceremony::SessionInfo {
        session_id: i.session_id.clone(),
        demo: i.demo,
        host: host_name(),
        tool_version: crate::VERSION.into(),
        roster_sha256: roster.sha256(),
        runbook_sha256: String::new(),
        account: outside.account.clone(),
        quorum: roster.quorum,
        aws: outside.aws.is_some(),
        heartbeat_s: 0,
        rehearsal_roots: outside.rehearsal_roots.clone(),
    };
    let c = Ceremony::new(info, crate::core::ceremony::people(&roster), crate::core::ceremony::Purpose::recovery(i.recovery.clone()));
    let sealed = Sealed::empty(&roster);
    let mut r = Runner::new(i.dir.clone(), clock, tokens, roster, roster_sigs, sealed, outside);
    r.journal = Some(Journal::resume(store, i.next_seq, i.head));
    r.genesis = Some(i.genesis);
    r.mono_base = i.last_mono.saturating_add(1);
    r.last_ts = i.recovery.last_ts.clone();
    r.pending_recovery = Some(i.body_end);
    r.lock = Some(lock);
    Ok((c, r))
}

/// Fault injection for the rekey crash tests: with `BREAKGLASS_TEST_REKEY_CRASH_AFTER=STEP`
/// (`staged`, or a [`crate::core::rekey::Step`] in lower case) the process dies (abort, as `kill -9`
/// would leave it) right after that step of the swap.
fn rekey_crash_point() -> Option<Option<crate::core::rekey::Step>> {
    use crate::core::rekey::Step;
    let v = std::env::var("BREAKGLASS_TEST_REKEY_CRASH_AFTER").ok()?;
    if v == "staged" {
        return Some(None);
    }
    Step::ALL.iter().copied().find(|s| format!("{s:?}").to_lowercase() == v).map(Some)
}

/// Fault injection for the crash tests: with `BREAKGLASS_TEST_CRASH_AFTER=N` the process dies
/// (abort: no destructor, no flush, as `kill -9` would leave it) right after entry N is fsynced.
fn crash_point(seq: u64) {
    static AT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    if *AT.get_or_init(|| std::env::var("BREAKGLASS_TEST_CRASH_AFTER").ok().and_then(|v| v.parse().ok())) == Some(seq) {
        std::process::abort();
    }
}

/// Session directories under `sessions_dir` whose journal never closed (or closed without a
/// quorum's signatures): root may still be in use as far as the team knows.
pub(crate) fn interrupted_sessions(sessions_dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(sessions_dir) else { return vec![] };
    // Found by what they hold, not by their directory's name: a renamed interrupted session is
    // still one (root may still be in use), and says so.
    let mut out: Vec<PathBuf> =
        rd.flatten().map(|e| e.path()).filter(|p| matches!(read_interrupted(p), Ok(_) | Err(RecoverError::Renamed { .. }))).collect();
    out.sort();
    out
}
