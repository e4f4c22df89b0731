//! Changing custodians: the next roster version, the runbook sealed again for it, and the swap
//! that leaves on disk either the old state or the new one, never a mix.
//!
//! A rekey makes version N+1 of the roster from version N ([`plan`]): custodians added or removed,
//! the quorum changed. It is trusted by the chain rule of [`crate::core::trust`] once a quorum of N,
//! every custodian added and a quorum of N+1 have signed it. The runbook, unsealed with N's
//! quorum, is sealed again for N+1 and its manifest signed.
//!
//! On disk ([`Paths`]): everything new is written first into staging beside the live files
//! ([`stage`]) and checked ([`check_staged`]); [`commit`] then exchanges the live sealed runbook
//! with the staged one in one `renameat2(RENAME_EXCHANGE)`: that exchange is the commit point.
//! The roster and its signatures follow, each file replaced atomically. A process killed anywhere
//! leaves staging behind, and [`settle`] (run before any command reads the roster or the runbook)
//! rolls back a rekey killed before the commit point and finishes one killed after it.

use crate::core::roster::{Custodian, Roster, RosterError, Signatures};
use crate::core::seal::{self, Sealed};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What the custodians asked to change.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// New custodians, each with their enrolled YubiKey's keys.
    pub add: Vec<Custodian>,
    /// Ids of custodians to remove.
    pub remove: Vec<String>,
    /// The new quorum; unchanged when `None`.
    pub quorum: Option<usize>,
}

/// Why a change cannot be made; the terminal puts it into words.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("nothing would change: add a custodian (--add), remove one (--remove) or set a new quorum (--quorum)")]
    NoChange,
    #[error("`{id}` is not a custodian of roster version {version}: check the id with `breakglass roster show`")]
    NotACustodian { id: String, version: u32 },
    #[error("`{id}` is already a custodian: remove them first, or give the newcomer another id")]
    AlreadyACustodian { id: String },
    #[error("`{id}` is both added and removed: say one or the other")]
    AddedAndRemoved { id: String },
    #[error("the new roster would not be valid: {0}")]
    Invalid(String),
}

/// A change checked against the current roster: the new version, and who must sign it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub old: Roster,
    pub new: Roster,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Makes the next roster version from `old` and `change`, or says why it cannot be made.
pub fn plan(old: &Roster, change: &Change) -> Result<Plan, Refusal> {
    if change.add.is_empty() && change.remove.is_empty() && change.quorum.is_none_or(|q| q == old.quorum) {
        return Err(Refusal::NoChange);
    }
    for id in &change.remove {
        if old.custodian(id).is_none() {
            return Err(Refusal::NotACustodian { id: id.clone(), version: old.version });
        }
        if change.add.iter().any(|c| &c.id == id) {
            return Err(Refusal::AddedAndRemoved { id: id.clone() });
        }
    }
    for c in &change.add {
        if old.custodian(&c.id).is_some() {
            return Err(Refusal::AlreadyACustodian { id: c.id.clone() });
        }
    }
    let mut custodians: Vec<Custodian> = old.custodians.iter().filter(|c| !change.remove.contains(&c.id)).cloned().collect();
    custodians.extend(change.add.iter().cloned());
    let quorum = change.quorum.unwrap_or(old.quorum);
    let new = old.successor(custodians, quorum).map_err(|e| match e {
        RosterError::Invalid { what, .. } | RosterError::Syntax { what, .. } => Refusal::Invalid(what),
        other => Refusal::Invalid(other.to_string()),
    })?;
    Ok(Plan { added: change.add.iter().map(|c| c.id.clone()).collect(), removed: change.remove.clone(), old: old.clone(), new })
}

/// One line of the roster diff shown before anyone signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Added { id: String, name: String, serial: u32 },
    Removed { id: String, name: String, serial: u32 },
    Kept { id: String },
    Quorum { before: usize, after: usize },
}

impl std::fmt::Display for DiffLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiffLine::Added { id, name, serial } => write!(f, "+ {id} ({name}, YubiKey {serial})"),
            DiffLine::Removed { id, name, serial } => write!(f, "- {id} ({name}, YubiKey {serial})"),
            DiffLine::Kept { id } => write!(f, "  {id}"),
            DiffLine::Quorum { before, after } => write!(f, "  quorum {before} -> {after}"),
        }
    }
}

impl Plan {
    /// The change as a diff of the roster: every custodian of either version, then the quorum.
    pub fn diff(&self) -> Vec<DiffLine> {
        let mut out: Vec<DiffLine> = self
            .old
            .custodians
            .iter()
            .map(|c| {
                if self.removed.contains(&c.id) {
                    DiffLine::Removed { id: c.id.clone(), name: c.name.clone(), serial: c.yubikey_serial }
                } else {
                    DiffLine::Kept { id: c.id.clone() }
                }
            })
            .collect();
        for c in self.new.custodians.iter().filter(|c| self.added.contains(&c.id)) {
            out.push(DiffLine::Added { id: c.id.clone(), name: c.name.clone(), serial: c.yubikey_serial });
        }
        if self.old.quorum != self.new.quorum {
            out.push(DiffLine::Quorum { before: self.old.quorum, after: self.new.quorum });
        }
        out
    }

    /// The groups of custodians that will be able to open the runbook afterwards (ids sorted).
    pub fn quorums_after(&self) -> Vec<Vec<String>> {
        let mut ids: Vec<String> = self.new.custodians.iter().map(|c| c.id.clone()).collect();
        ids.sort();
        seal::combinations(&ids, self.new.quorum)
    }

    /// Who must sign the new version for the chain rule to trust it, given who signed already:
    /// the missing parts in words, empty when it is enough.
    pub fn missing_signers(&self, signed: &[String]) -> Vec<String> {
        let mut missing = vec![];
        let of = |r: &Roster| signed.iter().filter(|id| r.custodian(id).is_some()).count();
        if of(&self.old) < self.old.quorum {
            missing.push(format!("{} more of version {}'s custodians", self.old.quorum - of(&self.old), self.old.version));
        }
        for id in self.added.iter().filter(|id| !signed.contains(id)) {
            missing.push(format!("{id} (added: only they can agree to their key)"));
        }
        if of(&self.new) < self.new.quorum {
            missing.push(format!("{} more of version {}'s custodians", self.new.quorum - of(&self.new), self.new.version));
        }
        missing
    }
}

/// The live files a rekey replaces, and where it stages their successors.
#[derive(Debug, Clone)]
pub struct Paths {
    pub roster: PathBuf,
    pub runbook: PathBuf,
}

impl Paths {
    fn parent(p: &Path) -> &Path {
        p.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
    }

    /// The staged roster and its signatures: a directory beside the roster.
    pub fn staged_roster_dir(&self) -> PathBuf {
        Self::parent(&self.roster).join(".breakglass-rekey")
    }

    fn staged_roster(&self) -> PathBuf {
        self.staged_roster_dir().join("roster.toml")
    }

    /// The staged sealed runbook: a sibling of the live one (the exchange needs one filesystem).
    /// After the commit point it holds the old sealing until it is removed.
    pub(crate) fn staged_runbook(&self) -> PathBuf {
        let name = self.runbook.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "runbook".into());
        Self::parent(&self.runbook).join(format!(".{name}.breakglass-rekey"))
    }

    fn history(&self) -> PathBuf {
        Self::parent(&self.roster).join("history")
    }

    /// A rekey left staging behind (it was interrupted): [`settle`] must run first.
    pub fn pending(&self) -> bool {
        self.staged_roster_dir().exists() || self.staged_runbook().exists()
    }
}

/// Held while a rekey stages, checks and swaps, and while an interrupted one is settled: one at a
/// time per roster directory, across processes (an advisory lock on `.breakglass-rekey.lock`).
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] std::fs::File);

/// Takes the rekey lock beside the roster, or says that another rekey holds it.
pub fn lock(paths: &Paths) -> Result<Lock, RekeyError> {
    let p = Paths::parent(&paths.roster).join(".breakglass-rekey.lock");
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&p).map_err(io("cannot open the lock", &p))?;
    match f.try_lock() {
        Ok(()) => Ok(Lock(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(RekeyError::Busy(p)),
        Err(std::fs::TryLockError::Error(e)) => Err(io("cannot lock", &p)(e)),
    }
}

#[derive(Debug, Error)]
pub enum RekeyError {
    #[error("another rekey is running on this roster ({0} is locked): let it finish, then try again")]
    Busy(PathBuf),
    #[error("a rekey was interrupted and left {0}: run `breakglass roster settle` (or any ceremony command) to finish or undo it first")]
    Pending(PathBuf),
    #[error("{what} {path}: {err}. Nothing live was changed; fix it and run the rekey again")]
    Io { what: &'static str, path: PathBuf, err: std::io::Error },
    #[error("the staged runbook does not check: {0}. Nothing live was changed; run the rekey again")]
    Staged(String),
    #[error(
        "{0} holds a copy of the live roster, not a new version: no rekey made it, so nothing was settled or deleted. Find out who put it there, then remove it by hand"
    )]
    NotARekey(PathBuf),
    #[error(transparent)]
    Seal(#[from] seal::SealError),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RekeyError + 'a {
    move |err| RekeyError::Io { what, path: path.to_path_buf(), err }
}

/// Writes the new roster with its signatures and the new sealing (manifest signatures included)
/// into staging. Refuses when staging exists (an interrupted rekey: [`settle`] first).
pub fn stage(paths: &Paths, new: &Roster, roster_sigs: &Signatures, sealed: &Sealed) -> Result<(), RekeyError> {
    for p in [paths.staged_roster_dir(), paths.staged_runbook()] {
        if p.exists() {
            return Err(RekeyError::Pending(p));
        }
    }
    let dir = paths.staged_roster_dir();
    let tmp = seal::tempdir_in(Paths::parent(&paths.roster)).map_err(io("cannot create staging beside", &paths.roster))?;
    let write = || -> std::io::Result<()> {
        crate::core::fsread::write_atomic(&tmp.join("roster.toml"), &new.bytes)?;
        for (id, sig) in roster_sigs {
            crate::core::fsread::write_atomic(&crate::core::roster::sig_path(&tmp.join("roster.toml"), id), sig)?;
        }
        std::fs::rename(&tmp, &dir)?;
        sync_dir(Paths::parent(&paths.roster))
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io("cannot stage the new roster in", &dir)(e));
    }
    if let Err(e) = sealed.write_dir(&paths.staged_runbook()) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    sync_dir(Paths::parent(&paths.runbook)).map_err(io("cannot sync", &paths.runbook))?;
    Ok(())
}

/// Reads the staging back and checks it before anything live changes: the roster parses and is
/// the one planned, every sealed file matches its hash, the sealing is for that roster and its
/// manifest signed by a quorum of it, and the runbook opens, identical, for every quorum whose
/// keys are present (`open` removes one layer; `present` are the ids whose keys are here). The
/// manifest's signatures are checked in `namespace` (a drill's own, or `breakglass-runbook`).
/// Returns the files opened.
pub fn check_staged(
    paths: &Paths,
    planned: &Roster,
    plaintext: &[u8],
    present: &[String],
    namespace: &str,
    open: &mut seal::OpenLayer<'_>,
) -> Result<Vec<String>, RekeyError> {
    let staged = Roster::load(&paths.staged_roster()).map_err(|e| RekeyError::Staged(e.to_string()))?;
    if staged.bytes != planned.bytes {
        return Err(RekeyError::Staged("the staged roster is not the one planned".into()));
    }
    let sealed = Sealed::read_dir(&paths.staged_runbook())?;
    sealed.check_roster(&staged)?;
    let (signed, bad) = crate::core::roster::signed_by(&sealed.manifest_bytes, namespace, &staged, &sealed.signatures);
    if signed.len() < staged.quorum {
        return Err(seal::SealError::Unsigned { signed, need: staged.quorum, bad }.into());
    }
    let mut opened = vec![];
    for f in &sealed.manifest.files {
        if f.layers.iter().all(|id| present.contains(id)) {
            let text = sealed.unseal(&f.layers, open)?;
            if text.as_bytes() != plaintext {
                return Err(RekeyError::Staged(format!("{} does not open to the runbook", f.name)));
            }
            opened.push(f.name.clone());
        }
    }
    if opened.is_empty() {
        return Err(RekeyError::Staged(
            "no group of the new version whose keys are all here could open the new sealing to check it".into(),
        ));
    }
    Ok(opened)
}

/// The steps of [`commit`], in order. A test stops after any of them, as a kill would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The old version (and its signatures) is in `history/`.
    History,
    /// The commit point: the live runbook is the new sealing.
    Exchanged,
    /// The roster's signature files are the new version's.
    Signatures,
    /// The live roster is the new version.
    Roster,
    /// Staging (with the old sealing) is removed.
    Cleaned,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::History, Step::Exchanged, Step::Signatures, Step::Roster, Step::Cleaned];
}

/// Swaps the staged state in (after [`check_staged`]). `stop_after` ends it early, as a kill at
/// that point would (tests only); [`settle`] then finishes or undoes it.
pub fn commit(paths: &Paths, stop_after: Option<Step>) -> Result<(), RekeyError> {
    let stop = |s: Step| stop_after == Some(s);
    // Both versions in history/, content-addressed: harmless if the rekey goes no further.
    // The old version in history/ (so sessions under it still verify). The new one goes there
    // only after the commit point: a successor in history/ tells the ceremony that the live
    // roster was rolled back (trust::rolled_back), which must never follow a rekey undone.
    let old = Roster::load(&paths.roster).map_err(|e| RekeyError::Staged(e.to_string()))?;
    keep_in_history(paths, &paths.roster, &old)?;
    if stop(Step::History) {
        return Ok(());
    }
    exchange(&paths.runbook, &paths.staged_runbook())?;
    if stop(Step::Exchanged) {
        return Ok(());
    }
    finish(paths, stop_after)
}

/// After the commit point: the roster's signatures, then the roster, then staging removed.
fn finish(paths: &Paths, stop_after: Option<Step>) -> Result<(), RekeyError> {
    let staged = paths.staged_roster();
    if staged.exists() {
        let new = Roster::load(&staged).map_err(|e| RekeyError::Staged(e.to_string()))?;
        keep_in_history(paths, &staged, &new)?;
        let ids = signer_ids(&staged, &new, &paths.history());
        let (sigs, _) = crate::core::roster::read_signatures(&staged, ids.iter().map(String::as_str));
        // Signature files of the live roster that the new version does not have are removed: a
        // stale signature would only be noise.
        let (old_sigs, _) = crate::core::roster::read_signatures(&paths.roster, all_sig_ids(&paths.roster).iter().map(String::as_str));
        for id in old_sigs.keys().filter(|id| !sigs.contains_key(*id)) {
            let p = crate::core::roster::sig_path(&paths.roster, id);
            std::fs::remove_file(&p).map_err(io("cannot remove", &p))?;
        }
        for (id, sig) in &sigs {
            let p = crate::core::roster::sig_path(&paths.roster, id);
            crate::core::fsread::write_atomic(&p, sig).map_err(io("cannot write", &p))?;
        }
        if stop_after == Some(Step::Signatures) {
            return Ok(());
        }
        std::fs::rename(&staged, &paths.roster).map_err(io("cannot replace", &paths.roster))?;
        sync_dir(Paths::parent(&paths.roster)).map_err(io("cannot sync", &paths.roster))?;
        if stop_after == Some(Step::Roster) {
            return Ok(());
        }
    }
    for p in [paths.staged_runbook(), paths.staged_roster_dir()] {
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(io("cannot remove", &p))?;
        }
    }
    sync_dir(Paths::parent(&paths.runbook)).map_err(io("cannot sync", &paths.runbook))?;
    Ok(())
}

/// What [`settle`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// No rekey was pending.
    Nothing,
    /// A rekey stopped before its commit point: its staging was removed; the old state stands.
    RolledBack,
    /// A rekey stopped after its commit point: it was finished; the new state stands.
    Finished,
}

/// Finishes or undoes an interrupted rekey, so that the live files are either all the old
/// version or all the new one. The live sealed runbook's `MANIFEST.toml` decides, compared with
/// the SHA-256 of the raw roster files (nothing else is parsed or hashed, so a damaged file cannot
/// tip the decision): sealed for the staged roster means the exchange happened (finish); sealed
/// for the live roster means it did not (undo), or that only the clean-up was left. Anything
/// else is an error, and nothing is deleted.
pub fn settle(paths: &Paths) -> Result<Settled, RekeyError> {
    if !paths.pending() {
        return Ok(Settled::Nothing);
    }
    // Regular files only, within a roster's size: a FIFO or a device planted in staging must not
    // hang every ceremony command that settles first.
    let sha = |p: &Path| {
        crate::core::fsread::read_regular(p, crate::core::roster::MAX_ROSTER_BYTES)
            .ok()
            .map(|b| hex::encode(sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&b))))
    };
    let live = crate::core::fsread::read_following(&paths.runbook.join(seal::MANIFEST), 1 << 20)
        .ok()
        .and_then(|b| seal::Manifest::parse(&b).ok())
        .map(|m| m.roster_sha256);
    let staged_roster = sha(&paths.staged_roster());
    let live_roster = sha(&paths.roster);
    // A rekey always makes a new version: a staged copy of the live roster, byte for byte, is not
    // one (finishing it would take the live roster's signatures away). Nothing is deleted.
    if staged_roster.is_some() && staged_roster == live_roster {
        return Err(RekeyError::NotARekey(paths.staged_roster_dir()));
    }
    let cleanup = |paths: &Paths| -> Result<(), RekeyError> {
        for p in [paths.staged_runbook(), paths.staged_roster_dir()] {
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(io("cannot remove", &p))?;
            }
        }
        Ok(())
    };
    match live {
        Some(l) if staged_roster.as_ref() == Some(&l) => {
            finish(paths, None)?;
            Ok(Settled::Finished)
        }
        Some(l) if live_roster.as_ref() == Some(&l) => {
            cleanup(paths)?;
            // With the staged roster still there, the exchange never happened; without it, the
            // roster was moved in and only the clean-up was left.
            Ok(if staged_roster.is_some() { Settled::RolledBack } else { Settled::Finished })
        }
        _ => Err(RekeyError::Staged(format!(
            "an interrupted rekey left {} and {}, and the live sealed runbook ({}) is sealed for neither the live roster nor the staged one; nothing was deleted. Compare roster_sha256 in {}/MANIFEST.toml with `sha256sum` of the rosters, and restore the matching pair from the organisation's copy",
            paths.staged_roster_dir().display(),
            paths.staged_runbook().display(),
            paths.runbook.display(),
            paths.runbook.display()
        ))),
    }
}

/// Ids that may have signed `r` at `path`: its custodians and the previous version's.
fn signer_ids(path: &Path, r: &Roster, history: &Path) -> Vec<String> {
    let mut ids: Vec<String> = r.custodians.iter().map(|c| c.id.clone()).collect();
    if let Some(prev) = r.previous.as_ref().and_then(|h| Roster::load(&history.join(format!("{h}.toml"))).ok()) {
        ids.extend(prev.custodians.iter().map(|c| c.id.clone()).filter(|id| !r.custodians.iter().any(|c| &c.id == id)));
    }
    ids.extend(all_sig_ids(path).into_iter().filter(|id| !r.custodians.iter().any(|c| &c.id == id)));
    ids.sort();
    ids.dedup();
    ids
}

/// Every `<file>.<id>.sig` beside `file`.
fn all_sig_ids(file: &Path) -> Vec<String> {
    let prefix = format!("{}.", file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
    let mut ids = vec![];
    if let Ok(rd) = std::fs::read_dir(Paths::parent(file)) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_prefix(&prefix).and_then(|s| s.strip_suffix(".sig"))
                && !id.is_empty()
                && !id.contains('.')
            {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// Copies a roster version and its signatures into `history/<sha256>.toml` (idempotent).
fn keep_in_history(paths: &Paths, from: &Path, r: &Roster) -> Result<(), RekeyError> {
    let dir = paths.history();
    crate::core::fsread::create_private_dir(&dir).map_err(io("cannot create", &dir))?;
    let h = dir.join(format!("{}.toml", r.sha256()));
    // Content-addressed: a file there that is not these bytes was altered; it is put right.
    if std::fs::read(&h).ok().as_deref() != Some(&r.bytes[..]) {
        crate::core::fsread::write_atomic(&h, &r.bytes).map_err(io("cannot write", &h))?;
    }
    let ids = signer_ids(from, r, &dir);
    let (sigs, _) = crate::core::roster::read_signatures(from, ids.iter().map(String::as_str));
    for (id, sig) in sigs {
        let p = crate::core::roster::sig_path(&h, &id);
        if std::fs::read(&p).ok().as_deref() != Some(&sig[..]) {
            crate::core::fsread::write_atomic(&p, &sig).map_err(io("cannot write", &p))?;
        }
    }
    Ok(())
}

/// Exchanges two directories in one step (Linux `renameat2(RENAME_EXCHANGE)`).
pub(crate) fn exchange(a: &Path, b: &Path) -> Result<(), RekeyError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| RekeyError::Io {
        what: "cannot exchange the live and the staged runbook",
        path: a.to_path_buf(),
        err: e.into(),
    })?;
    sync_dir(Paths::parent(a)).map_err(io("cannot sync", a))
}

pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
