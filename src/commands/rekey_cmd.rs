//! `breakglass roster rekey` and `demo --rekey`: the rekey ceremony.

use crate::core::ceremony::{Mode, Phase};
use crate::core::clock::{Clock, SystemClock};
use crate::core::roster::Roster;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::commands::env::Env;

use super::start::{Cleanup, check_data_dir};
use crate::terminal::app::halted;

/// The newcomers named by `--add` files (what `breakglass enroll` printed), their attestation
/// files copied next to the roster (never over a different file).
/// Also returns the files it copied next to the roster (none that were there already), so that a
/// rekey that does not commit can take them away again.
pub(crate) fn newcomers(files: &[PathBuf], roster_dir: &Path) -> anyhow::Result<(Vec<crate::core::roster::Custodian>, Vec<PathBuf>)> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AddFile {
        custodian: Vec<crate::core::roster::Custodian>,
    }
    let mut out = vec![];
    let mut copied = vec![];
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let add: AddFile = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}. It must hold the [[custodian]] entry that `breakglass enroll` printed.",
                f.display(),
                e.message().trim()
            )
        })?;
        let dir = f.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        for c in add.custodian {
            for name in &c.attestation {
                if name.is_empty()
                    || name.contains('/')
                    || name.contains('\\')
                    || name.starts_with('.')
                    || name == "history"
                    || name.ends_with(".sig")
                    || name.ends_with(".toml")
                {
                    bail!(
                        "{}: {}'s attestation file `{name}` must be a plain file name next to it (as `breakglass enroll` writes them)",
                        f.display(),
                        c.id
                    );
                }
                let (from, to) = (dir.join(name), roster_dir.join(name));
                let bytes = std::fs::read(&from).with_context(|| {
                    format!("{}'s attestation file {} is missing: put it next to {}", c.id, from.display(), f.display())
                })?;
                match std::fs::read(&to) {
                    Ok(b) if b == bytes => {}
                    Ok(_) => bail!(
                        "{} already exists next to the roster with other contents: remove it or rename {}",
                        to.display(),
                        from.display()
                    ),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        crate::core::fsread::write_atomic(&to, &bytes)?;
                        copied.push(to);
                    }
                    Err(e) => bail!("cannot read {}: {e}", to.display()),
                }
            }
            out.push(c);
        }
    }
    Ok((out, copied))
}

/// `roster rekey`: the rekey ceremony on YubiKeys, for the configured roster and runbook.
pub(crate) fn rekey_cmd(env: &Env, a: crate::commands::cli::RekeyArgs) -> anyhow::Result<i32> {
    let super::start::ChangeStart { roster_path, runbook_path, trusted, sealed } =
        super::start::change_start(env, "A rekey", "breakglass demo --rekey")?;
    let roster = trusted.roster().clone();
    let dir = roster_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let (add, copied) = newcomers(&a.add, &dir)?;
    // Whatever ends the rekey without the new version in place (a refusal, an abort), the
    // newcomers' attestation files copied next to the live roster go away again.
    let new_sha = std::cell::Cell::new(None::<String>);
    let live_roster = roster_path.clone();
    let _cleanup = Cleanup(|| {
        let live = Roster::load(&live_roster).ok().map(|r| r.sha256());
        if new_sha.take().is_none_or(|n| live.as_deref() != Some(n.as_str())) {
            for f in &copied {
                let _ = std::fs::remove_file(f);
            }
        }
    });
    let change = crate::core::rekey::Change { add, remove: a.remove, quorum: a.quorum };
    let plan = crate::core::rekey::plan(&roster, &change).map_err(|e| anyhow::anyhow!("{e}"))?;
    new_sha.set(Some(plan.new.sha256()));
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let basis = crate::adapters::session::Basis { roster, roster_sigs: sigs, sealed };
    let purpose = crate::core::ceremony::Purpose::rekey(crate::core::ceremony::Rekey::from_plan(&plan));
    let (ceremony, mut runner) = crate::adapters::session::start(&env.sessions_dir(), clock.clone(), basis, vec![], env.outside(), purpose);
    runner.keys = env.piv_keys()?;
    runner.rekey =
        Some(crate::adapters::session::RekeyJob::new(plan.new, crate::core::rekey::Paths { roster: roster_path, runbook: runbook_path }));
    super::start::run_change(env, ceremony, runner, clock, Mode::Rekey, a.reason)
}

/// `demo --rekey`: the rekey ceremony on DEMO keys, in a scratch copy of the DEMO roster.
pub(crate) fn demo_rekey(env: &Env, auto: bool, reason: Option<String>) -> anyhow::Result<i32> {
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (mut c, mut r) = crate::commands::demo::setup_rekey(&env.data_dir, clock.clone(), env.outside())?;
    if !auto {
        return crate::terminal::app::run(c, r, clock, crate::terminal::app::Start::plain(Mode::Rekey, reason));
    }
    let reason = reason.unwrap_or_else(|| "DEMO: carol leaves, dave joins".into());
    crate::commands::demo::play_rekey(&mut c, &mut r, &reason);
    rekey_outcome(&c, &r)
}

/// What an unattended rekey says at the end: where the new roster is, and the bundle to verify.
pub(crate) fn rekey_outcome(c: &crate::core::ceremony::Ceremony, r: &crate::adapters::session::Runner) -> anyhow::Result<i32> {
    match &c.phase() {
        Phase::Summary if c.offboard().is_some() => {
            let o = c.offboard().as_ref().map(|o| (o.person.clone(), o.done(), o.items.len())).unwrap_or_default();
            errln!(
                "{}OFFBOARD session {} complete: {} {}; {} of {} checklist items done; signed by {}",
                if c.info().demo { "DEMO " } else { "" },
                c.info().session_id,
                o.0,
                match c.rekey().as_ref().filter(|k| k.committed.is_some()) {
                    Some(k) => format!("removed from the roster (version {} is in place)", k.new_version),
                    None => "was not a custodian (the roster is unchanged)".into(),
                },
                o.1,
                o.2,
                c.signed().join(", ")
            );
            errln!("verify: breakglass verify {}", r.dir.display());
            outln!("{}", r.dir.display());
            Ok(0)
        }
        Phase::Summary => {
            let k = c.rekey().as_ref();
            let paths = r.rekey.as_ref().map(|j| j.paths.clone());
            errln!(
                "{}REKEY session {} complete: roster version {} is in place ({}), signed by {}",
                if c.info().demo { "DEMO " } else { "" },
                c.info().session_id,
                k.map_or(0, |k| k.new_version),
                paths.as_ref().map_or(String::new(), |p| p.roster.display().to_string()),
                k.map(|k| k.signed.join(", ")).unwrap_or_default()
            );
            if let Some(k) = k {
                for d in &k.diff {
                    errln!("  {d}");
                }
                if !c.info().demo {
                    errln!(
                        "next: move the pin, so that the old version cannot be put back. Both custodians check these words: {}; then put these lines in the configuration the ceremony host cannot change alone:\n\n{}",
                        crate::core::notice::words_hex(&k.new_sha256),
                        crate::core::trust::pin_lines(&k.new_sha256, k.new_version)
                    );
                }
            }
            errln!("verify: breakglass verify {}", r.dir.display());
            outln!("{}", r.dir.display());
            Ok(0)
        }
        Phase::Halted(why) => Ok(halted(why, &r.dir)),
        other => {
            bail!(
                "the unattended rekey stopped at {other:?}: {}",
                c.message().as_ref().map_or_else(|| "no message".to_string(), |m| crate::terminal::words::words(&m.say, c))
            )
        }
    }
}
