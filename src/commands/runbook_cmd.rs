//! `breakglass seal` and `breakglass runbook`: the sealed runbook, and a rotation left half-way.

use crate::commands::cli::RunbookCmd;
use crate::core::roster::Roster;
use crate::core::trust;
use anyhow::{Context, bail};
use std::path::Path;

use crate::commands::env::Env;

use super::roster_cmd::sign_with;
use super::start::remember_live;

pub(crate) fn seal_cmd(env: &Env, roster_path: &Path, runbook: &Path, out: &Path) -> anyhow::Result<i32> {
    let roster = Roster::load(roster_path)?;
    if let Err(e) = trust::check_file(roster_path, env.config.trust.roster_sha256.as_deref(), trust::Source::Given(roster_path.into())) {
        errln!("warning: roster {}: {e}\n(sealing anyway; the ceremony will refuse an untrusted roster)", roster_path.display());
    }
    let text = std::fs::read(runbook).with_context(|| format!("cannot read the runbook {}: check the path", runbook.display()))?;
    let md = std::str::from_utf8(&text).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text: a runbook is Markdown", runbook.display()))?;
    let rb = crate::core::runbook::Runbook::parse(md);
    if rb.steps.is_empty() {
        errln!("warning: {} has no `- [ ]` steps; the ceremony will have nothing to check off", runbook.display());
    }
    // The next serial after the live sealing's (and after the newest this host opened), so that
    // the one it replaces, put back later, is refused.
    let live = env.config.runbook_path().and_then(|p| crate::core::seal::Sealed::read_dir(&p).ok()).map_or(0, |s| s.manifest.serial);
    let opened = trust::read_state(&env.data_dir).ok().flatten().map_or(0, |s| s.runbook_serial);
    let serial = live.max(opened) + 1;
    let sealed = crate::core::seal::seal_serial(&roster, &text, serial)?;
    sealed.write_dir(out)?;
    outln!("sealing serial {serial} (an older sealing put back is refused once this one has been opened)");
    outln!(
        "sealed {} ({} steps, {} secret blocks) for quorum {} of {}:",
        runbook.display(),
        rb.steps.len(),
        rb.secrets.len(),
        roster.quorum,
        roster.custodians.len()
    );
    for f in &sealed.manifest.files {
        outln!("  {}  (outer layer: {}, inner: {})", out.join(&f.name).display(), f.layers[0], f.layers[1..].join(", "));
    }
    outln!("open by hand: age -d -i FIRST.key FIRST+SECOND.age | age -d -i SECOND.key > runbook.md");
    outln!(
        "Next: a quorum ({}) reads the runbook and signs {}: `breakglass runbook sign {} --roster {} --id ID` with their YubiKey inserted (`--key KEY` for a software key). The ceremony refuses an unsigned runbook.",
        roster.quorum,
        out.join(crate::core::seal::MANIFEST).display(),
        out.display(),
        roster_path.display()
    );
    outln!("Now delete or securely store the plaintext {}: it should not stay on disk.", runbook.display());
    Ok(0)
}

/// Finishes or sets aside a secret rotation that was interrupted (see [`crate::core::rotate::settle`]),
/// saying which.
pub(crate) fn settle_rotation(env: &Env) -> anyhow::Result<crate::core::rotate::Settled> {
    use crate::core::rotate::Settled;
    let Some(runbook) = env.config.runbook_path() else { return Ok(Settled::Nothing) };
    let settled = crate::core::rotate::settle(&runbook)?;
    if matches!(settled, Settled::Finished(_)) {
        // The new sealing is live: this host refuses the superseded one from now on.
        remember_live(env);
    }
    match &settled {
        Settled::Nothing => {}
        Settled::Finished(old) => errln!(
            "A secret rotation was interrupted after its commit point: it was finished. {} holds the new value; the sealing it replaced is kept in {} and is refused from now on.",
            runbook.display(),
            old.display()
        ),
        Settled::Unclear(p) => errln!(
            "warning: a rotation's staging beside {} was neither older nor newer than the live sealing (put there by hand, or damaged): it was moved to {} unread; the live sealing is unchanged.",
            runbook.display(),
            p.display()
        ),
        Settled::KeptAside(new) => errln!(
            "A secret rotation was interrupted before its commit point: {} is unchanged and still holds the old value. The new sealing was kept in {}: if the new value had already been set where it belongs, a quorum opens it there (docs/manual-unseal.md); then rotate again in a ceremony.",
            runbook.display(),
            new.display()
        ),
    }
    Ok(settled)
}

pub(crate) fn runbook_cmd(env: &Env, cmd: RunbookCmd) -> anyhow::Result<i32> {
    match cmd {
        RunbookCmd::Check { dir, roster } => {
            let dir = dir.or_else(|| env.config.runbook_path()).context("which sealed runbook? Pass the directory or set paths.runbook")?;
            let sealed = crate::core::seal::Sealed::read_dir(&dir)?;
            outln!(
                "{}: {} sealed files, quorum {}, sealing serial {}; every file matches its SHA-256",
                dir.display(),
                sealed.files.len(),
                sealed.manifest.quorum,
                sealed.manifest.serial
            );
            if let Err(e) = trust::check_runbook_serial(&env.data_dir, sealed.manifest.serial) {
                outln!("REFUSED by the ceremony: {e}");
                return Ok(1);
            }
            let trusted = trust::resolve(&env.config, roster.as_deref(), None)?;
            match sealed.check_signed(&trusted) {
                Ok(()) => {
                    outln!("signed by a quorum of {}: a ceremony accepts it", trusted.describe());
                    Ok(0)
                }
                Err(e) => {
                    outln!("{e}");
                    Ok(1)
                }
            }
        }
        RunbookCmd::Sign { dir, id, with, roster } => {
            let sealed = crate::core::seal::Sealed::read_dir(&dir)?;
            let rp = roster.or_else(|| env.config.roster_path()).context("which roster? Pass --roster FILE or set paths.roster")?;
            let r = Roster::load(&rp)?;
            if sealed.manifest.roster_sha256 != r.sha256() {
                bail!("{} was sealed for another roster than {}: re-seal it for this roster first", dir.display(), rp.display());
            }
            let expected = r.key(&id).with_context(|| format!("`{id}` is not a custodian in {}", rp.display()))?.clone();
            let m = dir.join(crate::core::seal::MANIFEST);
            let out = sign_with(&with, &m, &sealed.manifest_bytes, crate::core::sign::RUNBOOK_NAMESPACE, &id, &expected)?;
            outln!("wrote {}", out.display());
            Ok(0)
        }
    }
}
