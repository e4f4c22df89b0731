//! Which roster is trusted: decided here, and only here.
//!
//! A roster signed by a quorum of the custodians it lists proves nothing by itself: one custodian
//! can list a second key of their own and sign with both. Trust therefore starts at a *pin*
//! (`[trust] roster_sha256` in breakglass.toml), kept where the ceremony host cannot change it
//! alone. A roster is trusted when
//! - its SHA-256 is the pin and a quorum of its own custodians signed it ([`Rule::Pinned`]); or
//! - its `previous` names a trusted version, and it is signed by a quorum of that version's
//!   custodians, by every custodian it adds (proof of possession), and by a quorum of its own
//!   ([`Rule::Chained`]), in the way TUF rotates its root keys.
//!
//! Earlier versions are found by hash in `history/` beside the roster. Without a pin, a roster
//! signed by a quorum of its own custodians is accepted as [`Rule::Unpinned`], which every report
//! names loudly. The only way to obtain a [`TrustedRoster`] is through this module; everything
//! that needs trust (verify, drill report, the ceremony, sealing checks) takes that type.

use crate::core::config::Config;
use crate::core::roster::{Roster, RosterError, Signatures, read_signatures};
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How many versions back a chain is followed before giving up (a guard, not a real limit).
const MAX_CHAIN: usize = 1000;

/// Why a roster is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Rule {
    /// Its SHA-256 is the pin and a quorum of its own custodians signed it.
    Pinned,
    /// It chains, one signed rotation after another, to the pinned version.
    Chained { pinned_version: u32, rotations: usize },
    /// No pin is configured: only a quorum of its own custodians signed it, which one person
    /// holding two keys could have done.
    Unpinned,
    /// The built-in DEMO roster: public keys, proves nothing about anyone.
    Demo,
}

/// Where the trusted roster came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "path")]
pub enum Source {
    /// `--roster FILE`: the reviewer's explicit choice.
    Given(PathBuf),
    /// `paths.roster` in breakglass.toml.
    Configured(PathBuf),
    /// The copy inside a session bundle (nothing else was configured or given).
    Bundle(PathBuf),
    /// The built-in DEMO roster.
    Demo,
}

/// A roster whose trust was checked from the pin (or that is the DEMO roster). Only this module
/// makes one.
#[derive(Debug, Clone)]
pub struct TrustedRoster {
    /// Every version known to be legitimate, oldest first; the last is the current one.
    chain: Vec<Roster>,
    /// The signature files of the current version.
    sigs: Signatures,
    rule: Rule,
    source: Source,
    signed_by: Vec<String>,
}

impl TrustedRoster {
    /// The current (newest) version.
    pub fn roster(&self) -> &Roster {
        self.chain.last().unwrap_or_else(|| unreachable!("a trusted chain is never empty"))
    }
    /// The version whose exact bytes hash to `sha256`, if it is in the trusted chain.
    pub(crate) fn version_with(&self, sha256: &str) -> Option<&Roster> {
        self.chain.iter().rev().find(|r| r.sha256() == sha256)
    }
    pub fn versions(&self) -> &[Roster] {
        &self.chain
    }
    pub fn rule(&self) -> &Rule {
        &self.rule
    }
    pub fn source(&self) -> &Source {
        &self.source
    }
    /// The current version's signature files (copied into each session bundle).
    pub fn signatures(&self) -> &Signatures {
        &self.sigs
    }
    pub fn signed_by(&self) -> &[String] {
        &self.signed_by
    }
    pub(crate) fn is_demo(&self) -> bool {
        self.rule == Rule::Demo
    }
    /// One line for reports: which roster, and by which rule it is trusted.
    pub fn describe(&self) -> String {
        let r = self.roster();
        let from = match &self.source {
            Source::Given(p) => format!("{} (named on the command line)", p.display()),
            Source::Configured(p) => format!("{} (paths.roster)", p.display()),
            Source::Bundle(p) => format!("{} (the bundle's own copy: nothing else was configured or given)", p.display()),
            Source::Demo => "the built-in DEMO roster".to_string(),
        };
        let why = match &self.rule {
            Rule::Pinned => format!("pinned by [trust] roster_sha256, signed by {}", self.signed_by.join(", ")),
            Rule::Chained { pinned_version, rotations } => format!(
                "chains to the pinned version {pinned_version} through {rotations} signed rotation(s); signed by {}",
                self.signed_by.join(", ")
            ),
            Rule::Unpinned => format!(
                "NOT PINNED: signed only by its own custodians ({}); one person with two keys could make such a roster. Pin it: [trust] roster_sha256 = \"{}\"",
                self.signed_by.join(", "),
                r.sha256()
            ),
            Rule::Demo => "DEMO keys, public: proves nothing about real custodians".to_string(),
        };
        format!("{from}, version {}: {why}", r.version)
    }
    /// The warning every report must carry when the rule is weak.
    pub fn warning(&self) -> Option<String> {
        match self.rule {
            Rule::Unpinned => Some(format!(
                "the roster is not pinned: anyone who can write it and holds a quorum of keys it lists (possibly one person with two keys) could have made it. Pin the roster you trust in breakglass.toml: [trust] roster_sha256 = \"{}\" ({})",
                self.roster().sha256(),
                crate::core::notice::words_hex(&self.roster().sha256())
            )),
            _ => None,
        }
    }
}

/// Which signatures a version lacks (typed: the UI and reports put it into words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signers {
    /// A quorum of the version's own custodians.
    OwnQuorum,
    /// A quorum of the previous version's custodians.
    PreviousQuorum,
    /// A custodian this version adds, or whose keys it changes (their own consent, and proof of
    /// possession of the signing key).
    Newcomer(String),
}

#[derive(Debug, Error)]
pub enum TrustError {
    #[error(transparent)]
    Roster(#[from] RosterError),
    #[error(
        "no roster to trust: set paths.roster (and [trust] roster_sha256) in {config}, or pass --roster FILE. To try the tool without one: `breakglass demo`"
    )]
    NoRoster { config: String },
    #[error(
        "the configured roster {path} does not exist. Fix paths.roster in {config} (relative paths are relative to the config file); nothing falls back to another roster"
    )]
    ConfiguredMissing { path: PathBuf, config: String },
    #[error(
        "{path} (version {version}, SHA-256 {sha}) is not the pinned roster ({pin}) and names no previous version: it does not chain to the pin. Restore the pinned roster, or rotate from it (`previous` = the pin, signed by a quorum of the pinned roster)"
    )]
    NotChained { path: PathBuf, version: u32, sha: String, pin: String },
    #[error(
        "version {version} names previous version {sha}, but {path} is missing: copy that version and its .sig files into history/ (`breakglass roster sign` keeps history/ up to date)"
    )]
    HistoryMissing { version: u32, sha: String, path: PathBuf },
    #[error("{path} does not hash to the name it is stored under ({sha}): history/ was altered; restore it from the organisation's copy")]
    HistoryAltered { path: PathBuf, sha: String },
    #[error("version {version} follows version {previous}: versions must go up by exactly one")]
    VersionGap { version: u32, previous: u32 },
    #[error("the roster chain is longer than {MAX_CHAIN} versions or loops")]
    TooLong,
    #[error("{}", unsigned_text(&.0.version, &.0.sha, &.0.needs, &.0.signed, &.0.need, &.0.missing, &.0.bad))]
    Unsigned(Box<Missing>),
    #[error("cannot read {path}: {why}")]
    Unreadable { path: PathBuf, why: String },
    /// An older version put back: below `[trust] min_version`, or a successor of it is in
    /// history/ (`why` says which).
    #[error("{path}: {why}")]
    PutBack { path: PathBuf, why: String },
    /// The built-in DEMO roster, whose keys are public, where a real roster is needed.
    #[error("{path} is the built-in DEMO roster, whose keys are public: a real ceremony never runs on it (use `breakglass demo`)")]
    DemoRoster { path: PathBuf },
    /// A roster nothing pins, where a trusted one is needed (rule E5).
    #[error(
        "{path}: the roster is not pinned, so nothing shows that the organisation trusts it (one person with two keys could have written and signed it). Add to {config}:\n\n  [trust]\n  roster_sha256 = \"{sha}\"\n\nafter checking these words with the other custodians: {words}"
    )]
    Unpinned { path: PathBuf, config: String, sha: String, words: String },
    /// Two different rosters claim the same version, each signed as a rotation of the same
    /// previous version: the chain forked. Neither is trusted until people decide which is real.
    #[error(
        "roster version {version} forked: the roster in use ({ours}) and {theirs} ({where_}) are both version {version}, each signed as a rotation of the same previous version. Nobody can tell from the files which one the organisation made: stop, find out who signed the other, and remove it (then `breakglass roster check`)"
    )]
    Fork { version: u32, ours: String, theirs: String, where_: String },
    /// This host already trusted a later version (its trust state): the roster in use is older.
    #[error(
        "this host already trusted roster version {seen} ({seen_sha}), but the roster in use is version {version} ({sha}): an older version was put back (it may list someone who was removed). Restore version {seen} from history/"
    )]
    RolledBack { version: u32, sha: String, seen: u32, seen_sha: String },
    /// This host already opened a later sealing of the runbook (its trust state).
    #[error(
        "this sealed runbook is sealing serial {serial}, older than serial {seen} which this host has already opened: an older sealing was put back (it may hold secrets that were rotated since). Restore the current sealing"
    )]
    OlderSealing { serial: u64, seen: u64 },
}

/// The signatures a roster version lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub version: u32,
    pub sha: String,
    pub needs: Signers,
    /// Who did sign validly (of the group that was needed).
    pub signed: Vec<String>,
    pub need: usize,
    /// Who could still sign.
    pub missing: Vec<String>,
    /// Signature files that exist but do not verify: (id, why).
    pub bad: Vec<(String, String)>,
}

fn unsigned_text(
    version: &u32,
    sha: &str,
    needs: &Signers,
    signed: &[String],
    need: &usize,
    missing: &[String],
    bad: &[(String, String)],
) -> String {
    let who = match needs {
        Signers::OwnQuorum => "a quorum of its own custodians".to_string(),
        Signers::PreviousQuorum => "a quorum of the previous version's custodians".to_string(),
        Signers::Newcomer(id) => format!("`{id}`, whom it adds or whose keys it changes (proof that they hold their key)"),
    };
    let mut s = format!(
        "NOT trusted: roster version {version} (SHA-256 {}) needs signatures by {who}: {} of {need} ({}).",
        &sha[..16.min(sha.len())],
        signed.len(),
        if signed.is_empty() { "nobody yet".to_string() } else { format!("signed by {}", signed.join(", ")) }
    );
    for (id, why) in bad {
        s.push_str(&format!("\n  - `{id}`'s signature does not verify: {why}"));
    }
    if !missing.is_empty() {
        s.push_str(&format!("\n  Missing: a signature from {} (any {} more).", missing.join(" or "), need.saturating_sub(signed.len())));
    }
    s.push_str(
        "\n  Next: each custodian signs the exact file: `breakglass roster sign ROSTER --id ID` with their YubiKey \
         inserted (or `--key KEY` for a software key), or \
         for a software key `ssh-keygen -Y sign -f KEY -n breakglass-roster ROSTER` and rename ROSTER.sig to ROSTER.<id>.sig.",
    );
    s
}

/// The built-in DEMO roster, trusted only as DEMO.
pub fn demo() -> TrustedRoster {
    let r = crate::core::roster::demo();
    let sigs: Signatures = crate::core::roster::demo_sigs().into_iter().collect();
    let signed_by = r.signed_by(&r, &sigs).0;
    TrustedRoster { chain: vec![r], sigs, rule: Rule::Demo, source: Source::Demo, signed_by }
}

/// Checks the roster file at `path` against the pin (or, without one, its own quorum).
pub fn check_file(path: &Path, pin: Option<&str>, source: Source) -> Result<TrustedRoster, TrustError> {
    let current = Roster::load(path)?;
    let history = path.parent().unwrap_or(Path::new(".")).join("history");
    // Walk back through `previous` until the pin (or version 1 without a pin).
    let mut chain = vec![load_sigs(current, path)];
    loop {
        let last = &chain[chain.len() - 1].0;
        if pin.is_some_and(|p| last.sha256() == p) {
            break;
        }
        let Some(prev) = last.previous.clone() else { break };
        if chain.len() > MAX_CHAIN {
            return Err(TrustError::TooLong);
        }
        let hp = history.join(format!("{prev}.toml"));
        let r = match Roster::load(&hp) {
            Ok(r) => r,
            Err(RosterError::Read { why: crate::core::fsread::ReadError::Missing, .. }) => {
                return Err(TrustError::HistoryMissing { version: last.version, sha: prev, path: hp });
            }
            Err(e) => return Err(e.into()),
        };
        if r.sha256() != prev {
            return Err(TrustError::HistoryAltered { path: hp, sha: prev });
        }
        if r.version.checked_add(1) != Some(last.version) {
            return Err(TrustError::VersionGap { version: last.version, previous: r.version });
        }
        chain.push(load_sigs(r, &hp));
    }
    chain.reverse();
    let (anchor, anchor_sigs) = &chain[0];
    let rule = match pin {
        Some(p) if anchor.sha256() != p => {
            return Err(TrustError::NotChained {
                path: anchor.path.clone().unwrap_or_else(|| path.to_path_buf()),
                version: anchor.version,
                sha: anchor.sha256(),
                pin: p.to_string(),
            });
        }
        Some(_) if chain.len() == 1 => Rule::Pinned,
        Some(_) => Rule::Chained { pinned_version: anchor.version, rotations: chain.len() - 1 },
        None => Rule::Unpinned,
    };
    let mut signed_by = quorum_of(anchor, anchor, anchor_sigs, Signers::OwnQuorum)?;
    for pair in chain.windows(2) {
        let ((prev, _), (next, sigs)) = (&pair[0], &pair[1]);
        signed_by = rotation(prev, next, sigs)?;
    }
    check_forks(&chain, &history)?;
    // The DEMO roster named as a file is still only DEMO: its keys are public.
    let rule = if chain.len() == 1 && chain[0].0.bytes == crate::core::roster::DEMO_ROSTER.as_bytes() { Rule::Demo } else { rule };
    let (chain, mut sigs): (Vec<Roster>, Vec<Signatures>) = chain.into_iter().unzip();
    let sigs = sigs.pop().unwrap_or_default();
    Ok(TrustedRoster { chain, sigs, rule, source, signed_by })
}

/// Forks in `history/` (as TUF clients refuse them): another roster with the version of one in
/// the chain, made from the same previous version and signed as its rotation, is a fork. Only
/// files that carry their rotation's signatures count; a junk file proves nothing.
fn check_forks(chain: &[(Roster, Signatures)], history: &Path) -> Result<(), TrustError> {
    let Ok(rd) = std::fs::read_dir(history) else { return Ok(()) };
    let mut looked = 0;
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        looked += 1;
        if looked > MAX_CHAIN {
            return Err(TrustError::TooLong);
        }
        let Ok(other) = Roster::load(&p) else { continue };
        let sha = other.sha256();
        let Some(pair) = chain.windows(2).find(|pair| {
            let ((prev, _), (ours, _)) = (&pair[0], &pair[1]);
            other.version == ours.version
                && sha != ours.sha256()
                && other.previous.as_deref() == Some(prev.sha256().as_str())
                && sha == p.file_stem().and_then(|s| s.to_str()).unwrap_or("")
        }) else {
            continue;
        };
        let ((prev, _), (ours, _)) = (&pair[0], &pair[1]);
        let (other, sigs) = load_sigs(other, &p);
        if rotation(prev, &other, &sigs).is_ok() {
            return Err(TrustError::Fork { version: ours.version, ours: ours.sha256(), theirs: sha, where_: p.display().to_string() });
        }
    }
    Ok(())
}

/// The newest roster version this host has trusted (`trust-state` in the data directory). It only
/// ever refuses: nothing is trusted because of it, and the pin still decides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrustState {
    pub version: u32,
    pub roster_sha256: String,
    /// The newest sealing of the runbook (MANIFEST.toml `serial`) this host has opened.
    #[serde(default)]
    pub runbook_serial: u64,
}

/// The trust state's file in the data directory.
pub const TRUST_STATE: &str = "trust-state";

/// Refuses a roster older than the newest this host trusted (a rollback), or another roster with
/// that same version (a fork), naming both.
pub(crate) fn check_state(data_dir: &Path, t: &TrustedRoster) -> Result<(), TrustError> {
    let path = data_dir.join(TRUST_STATE);
    let Some(seen) = read_state(data_dir)? else { return Ok(()) };
    let r = t.roster();
    if r.version < seen.version {
        return Err(TrustError::RolledBack { version: r.version, sha: r.sha256(), seen: seen.version, seen_sha: seen.roster_sha256 });
    }
    if r.version == seen.version && r.sha256() != seen.roster_sha256 {
        return Err(TrustError::Fork {
            version: r.version,
            ours: r.sha256(),
            theirs: seen.roster_sha256,
            where_: format!("the version this host trusted before, {}", path.display()),
        });
    }
    Ok(())
}

/// The host's trust state, if it has one.
pub(crate) fn read_state(data_dir: &Path) -> Result<Option<TrustState>, TrustError> {
    let path = data_dir.join(TRUST_STATE);
    match crate::core::fsread::read_regular(&path, 4096) {
        Ok(b) => toml::from_str(&String::from_utf8_lossy(&b))
            .map(Some)
            .map_err(|e| TrustError::Unreadable { path, why: format!("{}: restore it or remove it", e.message()) }),
        Err(crate::core::fsread::ReadError::Missing) => Ok(None),
        Err(e) => Err(TrustError::Unreadable { path, why: e.to_string() }),
    }
}

fn write_state(data_dir: &Path, s: &TrustState) -> std::io::Result<()> {
    let text = toml::to_string(s).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(data_dir)?;
    crate::core::fsread::write_atomic(&data_dir.join(TRUST_STATE), text.as_bytes())
}

/// Moves the trust state forward to `t`'s version (never back), atomically.
pub fn remember(data_dir: &Path, t: &TrustedRoster) -> std::io::Result<()> {
    let seen = read_state(data_dir).ok().flatten();
    if t.rule != Rule::Demo && seen.as_ref().is_none_or(|s| t.roster().version > s.version) {
        let runbook_serial = seen.map_or(0, |s| s.runbook_serial);
        write_state(data_dir, &TrustState { version: t.roster().version, roster_sha256: t.roster().sha256(), runbook_serial })?;
    }
    Ok(())
}

/// Refuses a sealing of the runbook older than the newest this host has opened: an older one
/// (say, holding the root password before it was rotated) put back, though a quorum signed it.
pub(crate) fn check_runbook_serial(data_dir: &Path, serial: u64) -> Result<(), TrustError> {
    match read_state(data_dir)? {
        Some(s) if serial < s.runbook_serial => Err(TrustError::OlderSealing { serial, seen: s.runbook_serial }),
        _ => Ok(()),
    }
}

/// Records that this host opened sealing `serial` (the state only moves forward).
pub(crate) fn remember_runbook_serial(data_dir: &Path, t: &TrustedRoster, serial: u64) -> std::io::Result<()> {
    let seen = read_state(data_dir).ok().flatten();
    if seen.as_ref().is_some_and(|s| s.runbook_serial >= serial) || t.rule == Rule::Demo {
        return Ok(());
    }
    let s = match seen {
        Some(s) => TrustState { runbook_serial: serial, ..s },
        None => TrustState { version: t.roster().version, roster_sha256: t.roster().sha256(), runbook_serial: serial },
    };
    write_state(data_dir, &s)
}

/// The rotation rule: `next` (made from `prev`) is signed by a quorum of `prev`, by every
/// custodian it adds or whose keys it changes (with the key `next` names), and by a quorum of its
/// own. Returns who of its own custodians signed it.
fn rotation(prev: &Roster, next: &Roster, sigs: &Signatures) -> Result<Vec<String>, TrustError> {
    quorum_of(next, prev, sigs, Signers::PreviousQuorum)?;
    for c in &next.custodians {
        // New, or any of their key material changed (signing key, age recipient, YubiKey):
        // only that custodian, signing with the key this version names, can agree to it.
        let before = prev.custodian(&c.id);
        let added = before.is_none_or(|b| {
            prev.key(&c.id) != next.key(&c.id) || b.age_recipient != c.age_recipient || b.yubikey_serial != c.yubikey_serial
        });
        if added {
            let (good, bad) = next.signed_by(next, &only(sigs, &c.id));
            if good.is_empty() {
                return Err(TrustError::Unsigned(Box::new(Missing {
                    version: next.version,
                    sha: next.sha256(),
                    needs: Signers::Newcomer(c.id.clone()),
                    signed: vec![],
                    need: 1,
                    missing: vec![c.id.clone()],
                    bad,
                })));
            }
        }
    }
    quorum_of(next, next, sigs, Signers::OwnQuorum)
}

fn only(sigs: &Signatures, id: &str) -> Signatures {
    sigs.iter().filter(|(k, _)| *k == id).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Reads the signature files beside a roster for every id that could have signed it (its own
/// custodians and, for a rotation, the previous version's: removed custodians sign too).
fn load_sigs(r: Roster, path: &Path) -> (Roster, Signatures) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!("{}.", path.file_name().and_then(|n| n.to_str()).unwrap_or("roster.toml"));
    let mut ids: Vec<String> = r.custodians.iter().map(|c| c.id.clone()).collect();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_prefix(&prefix).and_then(|s| s.strip_suffix(".sig"))
                && !id.contains('.')
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_string());
            }
        }
    }
    let (sigs, _) = read_signatures(path, ids.iter().map(String::as_str));
    (r, sigs)
}

/// The ids of `signers` whose signature over `r` verifies; an error unless they are a quorum of
/// `signers`.
fn quorum_of(r: &Roster, signers: &Roster, sigs: &Signatures, needs: Signers) -> Result<Vec<String>, TrustError> {
    let (good, bad) = r.signed_by(signers, sigs);
    if good.len() >= signers.quorum {
        return Ok(good);
    }
    let missing = signers.custodians.iter().map(|c| c.id.clone()).filter(|id| !good.contains(id)).collect();
    Err(TrustError::Unsigned(Box::new(Missing {
        version: r.version,
        sha: r.sha256(),
        needs,
        signed: good,
        need: signers.quorum,
        missing,
        bad,
    })))
}

/// Why the trusted roster looks rolled back to an older version, if it does: older than
/// The configuration lines that pin roster version `version` (SHA-256 `sha256`) and refuse every
/// older one: what a rekey prints for the configuration the ceremony host cannot change alone.
pub(crate) fn pin_lines(sha256: &str, version: u32) -> String {
    format!("[trust]\nroster_sha256 = \"{sha256}\"\nmin_version = {version}\n")
}

/// `[trust] min_version`, or `history/` beside it holds its successor (a later version made from
/// it, as a rekey leaves behind). Putting an old version back would bring back a custodian who
/// was removed, and it still chains to the pin: the ceremony refuses it.
pub fn rolled_back(t: &TrustedRoster, min_version: Option<u32>) -> Option<String> {
    let r = t.roster();
    if let Some(min) = min_version.filter(|m| r.version < *m) {
        return Some(format!(
            "this is roster version {}, older than [trust] min_version = {min}: an older version was put back (it may list someone who was removed). Restore the current version from history/, or ask who changed it",
            r.version
        ));
    }
    let history = r.path.as_deref()?.parent()?.join("history");
    let sha = r.sha256();
    for e in std::fs::read_dir(&history).ok()?.flatten() {
        let p = e.path();
        // Only a successor that carries its rotation's signatures counts: an unsigned file
        // planted in history/ proves nothing and must not block every command.
        if p.extension().is_some_and(|x| x == "toml")
            && let Ok(next) = Roster::load(&p)
            && next.previous.as_deref() == Some(sha.as_str())
            && next.sha256() == p.file_stem().and_then(|s| s.to_str()).unwrap_or("")
        {
            let (next, sigs) = load_sigs(next, &p);
            if rotation(r, &next, &sigs).is_err() {
                continue;
            }
            return Some(format!(
                "history/ holds version {} ({}), made from this version {}: the live roster was rolled back (it may list someone who was removed). Restore it: cp {} {} (with its .sig files), then `breakglass roster check`",
                next.version,
                &next.sha256()[..12],
                r.version,
                p.display(),
                r.path.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
            ));
        }
    }
    None
}

/// The roster a folder of sessions is checked against (`drill report`, `audit`, the archive).
pub enum Anchor {
    /// The configured roster, trusted from the pin: every bundle is checked against it.
    Configured(TrustedRoster),
    /// Nothing configured: each bundle against its own copy (DEMO or unpinned, and said so).
    PerBundle,
}

impl Anchor {
    /// The configured roster must be trusted: a missing, unreadable or untrusted one is an error
    /// for every caller alike, never a silent fallback to the bundles' own copies.
    pub(crate) fn for_sessions(config: &Config) -> Result<Self, TrustError> {
        match config.roster_path() {
            // A roster put back after a rekey must not make sessions signed under it count.
            Some(_) => resolve(config, None, None).and_then(|t| match rolled_back(&t, config.trust.min_version) {
                Some(why) => Err(TrustError::PutBack { path: t.roster().path.clone().unwrap_or_default(), why }),
                None => Ok(Anchor::Configured(t)),
            }),
            None => Ok(Anchor::PerBundle),
        }
    }
}

/// The roster to trust, in the order DESIGN.md fixes: `--roster FILE` (which must chain to the
/// pin when one is set); else the configured `paths.roster` (which must exist and chain to the
/// pin); else, when a bundle is being checked, its own copy (with a warning; DEMO only if it is
/// byte for byte the built-in DEMO roster and nothing real is configured). A configured roster
/// that is missing or unreadable is an error, never a fallback.
pub(crate) fn resolve(config: &Config, given: Option<&Path>, bundle: Option<&Path>) -> Result<TrustedRoster, TrustError> {
    let pin = config.trust.roster_sha256.as_deref();
    let config_name = || config.describe();
    if let Some(p) = given {
        return check_file(p, pin, Source::Given(p.to_path_buf()));
    }
    if let Some(p) = config.roster_path() {
        if std::fs::symlink_metadata(&p).is_err() {
            return Err(TrustError::ConfiguredMissing { path: p, config: config_name() });
        }
        return check_file(&p, pin, Source::Configured(p.clone()));
    }
    let Some(dir) = bundle else { return Err(TrustError::NoRoster { config: config_name() }) };
    let copy = dir.join("roster.toml");
    let bytes = crate::core::fsread::read_regular(&copy, crate::core::roster::MAX_ROSTER_BYTES)
        .map_err(|why| TrustError::Unreadable { path: copy.clone(), why: why.to_string() })?;
    if pin.is_none() && bytes == crate::core::roster::DEMO_ROSTER.as_bytes() {
        return Ok(demo());
    }
    check_file(&copy, pin, Source::Bundle(copy.clone()))
}

/// The roster a real ceremony (or a rekey) may run with: configured, pinned, chaining to the pin.
pub(crate) fn for_ceremony(config: &Config) -> Result<TrustedRoster, TrustError> {
    let t = resolve(config, None, None)?;
    let path = t.roster().path.clone().unwrap_or_default();
    if let Some(why) = rolled_back(&t, config.trust.min_version) {
        return Err(TrustError::PutBack { path, why });
    }
    if t.rule == Rule::Demo {
        return Err(TrustError::DemoRoster { path });
    }
    if t.rule == Rule::Unpinned {
        let sha = t.roster().sha256();
        return Err(TrustError::Unpinned { path, config: config.describe(), words: crate::core::notice::words_hex(&sha), sha });
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's trust state refuses an older version (rollback) and another roster with the
    /// version it trusted (fork); the same roster, or a later one, passes.
    #[test]
    fn the_trust_state_refuses_rollbacks_and_forks() {
        let d = tempfile::tempdir().unwrap();
        let t = demo();
        let sha = t.roster().sha256();
        let state = |version: u32, sha: &str| {
            std::fs::write(
                d.path().join(TRUST_STATE),
                toml::to_string(&TrustState { version, roster_sha256: sha.into(), runbook_serial: 3 }).unwrap(),
            )
            .unwrap()
        };
        assert!(check_state(d.path(), &t).is_ok(), "no state yet");
        state(1, &sha);
        assert!(check_state(d.path(), &t).is_ok());
        state(2, &"a".repeat(64));
        assert!(matches!(check_state(d.path(), &t), Err(TrustError::RolledBack { version: 1, seen: 2, .. })));
        state(1, &"b".repeat(64));
        assert!(matches!(check_state(d.path(), &t), Err(TrustError::Fork { version: 1, .. })));
        assert!(check_runbook_serial(d.path(), 3).is_ok() && check_runbook_serial(d.path(), 4).is_ok());
        assert!(matches!(check_runbook_serial(d.path(), 2), Err(TrustError::OlderSealing { serial: 2, seen: 3 })));
        std::fs::write(d.path().join(TRUST_STATE), "junk = ").unwrap();
        assert!(matches!(check_state(d.path(), &t), Err(TrustError::Unreadable { .. })));
    }

    /// A ceremony refuses the DEMO roster configured as if it were real, with an error that says
    /// what it is (never "cannot read").
    #[test]
    fn a_ceremony_refuses_the_demo_roster_saying_so() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("roster.toml");
        std::fs::write(&path, crate::core::roster::DEMO_ROSTER).unwrap();
        for (id, sig) in crate::core::roster::demo_sigs() {
            std::fs::write(d.path().join(format!("roster.toml.{id}.sig")), sig).unwrap();
        }
        let mut config = Config::default();
        config.paths.roster = Some(path);
        let e = for_ceremony(&config).err();
        assert!(matches!(e, Some(TrustError::DemoRoster { .. })), "{e:?}");
        assert!(!e.map(|e| e.to_string()).unwrap_or_default().contains("cannot read"));
    }
}
