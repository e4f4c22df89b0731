//! `breakglass roster`: check, sign, settle; the roster a command is given.

use crate::commands::cli::RosterCmd;
use crate::core::roster::{Roster, sig_path};
use crate::core::trust;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

use crate::commands::env::Env;

use super::rekey_cmd::rekey_cmd;
use super::runbook_cmd::settle_rotation;

pub(crate) fn roster_path(env: &Env, p: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    p.or_else(|| env.config.roster_path())
        .context("which roster? Pass the file (e.g. `breakglass roster check roster.toml`) or set paths.roster in breakglass.toml")
}

/// Finishes or undoes a rekey that was interrupted (see [`crate::core::rekey::settle`]), saying which.
pub(crate) fn settle_rekey(env: &Env) -> anyhow::Result<crate::core::rekey::Settled> {
    use crate::core::rekey::{Paths, Settled};
    let (Some(roster), Some(runbook)) = (env.config.roster_path(), env.config.runbook_path()) else {
        return Ok(Settled::Nothing);
    };
    let paths = Paths { roster, runbook };
    if !paths.pending() {
        return Ok(Settled::Nothing);
    }
    let _lock = match crate::core::rekey::lock(&paths) {
        Ok(l) => l,
        Err(crate::core::rekey::RekeyError::Busy(p)) => {
            bail!("a rekey is running on this roster right now ({} is locked): wait until it ends, then try again", p.display())
        }
        Err(e) => return Err(e.into()),
    };
    let settled = crate::core::rekey::settle(&paths)?;
    match settled {
        Settled::Nothing => {}
        Settled::RolledBack => errln!(
            "A rekey was interrupted before its commit point: it was undone. The roster ({}) and the sealed runbook ({}) are the previous version, unchanged; run the rekey again.",
            paths.roster.display(),
            paths.runbook.display()
        ),
        Settled::Finished => errln!(
            "A rekey was interrupted after its commit point: it was finished. The roster ({}) is the new version and the runbook ({}) is sealed for it; check with `breakglass roster check` and `breakglass runbook check`.",
            paths.roster.display(),
            paths.runbook.display()
        ),
    }
    Ok(settled)
}

pub(crate) fn roster_cmd(env: &Env, cmd: RosterCmd) -> anyhow::Result<i32> {
    let pin = env.config.trust.roster_sha256.as_deref();
    match cmd {
        RosterCmd::Check { roster } => roster_check(env, roster, pin),
        RosterCmd::Show { roster } => {
            let p = roster_path(env, roster)?;
            let r = Roster::load(&p)?;
            outln!("{}  (version {}, quorum {}, SHA-256 {})", p.display(), r.version, r.quorum, &r.sha256()[..16]);
            for c in &r.custodians {
                let key = r.key(&c.id).map(|k| k.fingerprint(ssh_key::HashAlg::Sha256).to_string()).unwrap_or_default();
                outln!(
                    "  {:<12} {:<24} YubiKey {:<10} {}  {}",
                    c.id,
                    crate::core::plain::one_line(&c.name),
                    c.yubikey_serial,
                    key,
                    crate::core::plain::one_line(&c.email)
                );
            }
            match trust::check_file(&p, pin, trust::Source::Given(p.clone())) {
                Ok(t) => outln!("trusted: {}", t.describe()),
                Err(e) => outln!("{e}"),
            }
            Ok(0)
        }
        RosterCmd::Rekey(a) => rekey_cmd(env, a),
        RosterCmd::Settle => {
            if env.config.roster_path().is_none() || env.config.runbook_path().is_none() {
                outln!("nothing to settle: paths.roster and paths.runbook are not both set in {}", env.config.describe());
            } else if settle_rekey(env)? == crate::core::rekey::Settled::Nothing
                && settle_rotation(env)? == crate::core::rotate::Settled::Nothing
            {
                outln!("no interrupted rekey or rotation: the roster and the sealed runbook are as they were");
            }
            Ok(0)
        }
        RosterCmd::Sign { roster, id, with } => roster_sign(&roster, &id, &with, pin),
    }
}

/// `breakglass roster check`: the roster's version, fingerprint, attestations and trust; 1 when
/// the ceremony would refuse it.
pub(crate) fn roster_check(env: &Env, roster: Option<PathBuf>, pin: Option<&str>) -> anyhow::Result<i32> {
    let roster_given = roster.is_some();
    let source = |p: &Path| if roster_given { trust::Source::Given(p.into()) } else { trust::Source::Configured(p.into()) };
    let p = roster_path(env, roster)?;
    let r = match Roster::load(&p) {
        Ok(r) => r,
        Err(e) => {
            outln!("{e}");
            return Ok(1);
        }
    };
    outln!("{}: version {}, {} custodians, quorum {}", p.display(), r.version, r.custodians.len(), r.quorum);
    outln!("SHA-256 {}", r.sha256());
    outln!("fingerprint words: {}", crate::core::notice::words_hex(&r.sha256()));
    // The attestation certificates an entry names are checked, never just carried along.
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut attested_ok = true;
    let store = env.config.attestation_store().map_err(anyhow::Error::msg)?;
    if let Some(w) = env.config.rehearsal_warning() {
        outln!("{w}");
    }
    for c in r.custodians.iter().filter(|c| !c.attestation.is_empty()) {
        match crate::core::attest::check_roster_entry(&dir, c, &store, chrono::Utc::now()) {
            Ok(what) => outln!("attestation {}: {what}", c.id),
            Err(e) => {
                attested_ok = false;
                outln!("attestation {}: NOT VALID: {e}", c.id);
            }
        }
    }
    match trust::check_file(&p, pin, source(&p)) {
        Ok(t) => {
            outln!("trusted: {}", t.describe());
            if let Some(w) = t.warning() {
                outln!("WARNING: {w}");
            }
            if let Some(why) = trust::rolled_back(&t, env.config.trust.min_version) {
                outln!("REFUSED by the ceremony: {why}");
                return Ok(1);
            }
            if !attested_ok {
                outln!(
                    "The roster names attestation certificates that do not prove its keys: re-enrol the key, or remove the entry's `attestation`."
                );
                return Ok(1);
            }
            if *t.rule() == trust::Rule::Unpinned {
                // Signed by a quorum of its own: what this command checks. Nothing anchors
                // it yet, and the ceremony refuses it until it is pinned: say how.
                outln!(
                    "NOT TRUSTED YET: the ceremony refuses it until it is pinned: add `roster_sha256 = \"{}\"` under [trust] in {}",
                    r.sha256(),
                    env.config.describe()
                );
            }
            Ok(0)
        }
        Err(e) => {
            outln!("{e}");
            Ok(1)
        }
    }
}

/// `breakglass roster sign`: signs the roster as `id` and keeps the version and its signature in
/// `history/` beside it.
pub(crate) fn roster_sign(roster: &Path, id: &str, with: &crate::commands::cli::SignWith, pin: Option<&str>) -> anyhow::Result<i32> {
    let r = Roster::load(roster)?;
    let history = roster.parent().unwrap_or(Path::new(".")).join("history");
    // A rotation is signed by the previous version's custodians too (removed ones included).
    let previous = r.previous.as_ref().and_then(|h| Roster::load(&history.join(format!("{h}.toml"))).ok());
    let expected = r
        .key(id)
        .or_else(|| previous.as_ref().and_then(|p| p.key(id)))
        .with_context(|| format!("`{id}` is not a custodian in {} (nor in its previous version)", roster.display()))?
        .clone();
    let out = sign_with(with, roster, &r.bytes, crate::core::sign::ROSTER_NAMESPACE, id, &expected)?;
    outln!("wrote {}", out.display());
    // Keep this version and its signatures in history/, so the next rotation can chain to it.
    let h = history.join(format!("{}.toml", r.sha256()));
    // Written only into a real directory beside the roster, never through a link.
    if std::fs::symlink_metadata(&history).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a symbolic link: history/ must be a real directory beside the roster (the signature was written; keep this version's copy by hand)",
            history.display()
        );
    }
    std::fs::create_dir_all(&history).with_context(|| format!("cannot create {}", history.display()))?;
    if !h.exists() {
        crate::core::fsread::write_atomic(&h, &r.bytes)?;
    }
    let sig = std::fs::read(&out)?;
    crate::core::fsread::write_atomic(&sig_path(&h, id), &sig)?;
    outln!("kept a copy in {}", h.display());
    match trust::check_file(roster, pin, trust::Source::Given(roster.to_path_buf())) {
        Ok(t) => outln!("trusted: {}", t.describe()),
        Err(e) => outln!("{e}"),
    }
    Ok(0)
}

/// Signs `file` (whose bytes are `bytes`) as `id` with a software key file or on a YubiKey, and
/// writes `<file>.<id>.sig`; returns its path.
pub(crate) fn sign_with(
    with: &crate::commands::cli::SignWith,
    file: &Path,
    bytes: &[u8],
    namespace: &str,
    id: &str,
    expected: &ssh_key::PublicKey,
) -> anyhow::Result<PathBuf> {
    if let Some(key) = &with.key {
        return crate::core::sign::sign_file_with_key(file, bytes, namespace, id, key, expected).map_err(anyhow::Error::msg);
    }
    let serial = crate::commands::card::which_serial(with.serial)?;
    let pem = crate::commands::card::sign(serial, id, expected, namespace, bytes, &mut crate::commands::card::Prompter::new())?;
    let out = crate::core::roster::sig_path(file, id);
    crate::core::fsread::write_atomic(&out, pem.as_bytes())?;
    Ok(out)
}
