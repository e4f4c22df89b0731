//! What every command that runs a ceremony (ceremony, demo, recover, rekey, offboarding) starts
//! from and ends with: the data directory's checks, the trusted roster and runbook, the archive
//! push after the signatures, the "roster changed" notice.

use crate::core::ceremony::Scenario;
use crate::core::clock::{Clock, SystemClock};
use crate::core::notice::Broadcaster;
use crate::core::trust;
use crate::core::trust::TrustedRoster;
use anyhow::{Context, bail};
use std::path::Path;

use crate::commands::env::Env;

/// A drill scenario must fit the roster (`key-missing:dave` names a custodian): never a silent
/// fall back to the standard drill.
pub(crate) fn check_scenario(scenario: &Scenario, roster: &[crate::core::ceremony::Person], which: &str) -> anyhow::Result<()> {
    if !Scenario::all(roster).contains(scenario) {
        bail!(
            "scenario `{}` does not fit {which} (custodians: {}); choose one of: {}",
            scenario.name(),
            roster.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", "),
            Scenario::all(roster).iter().map(Scenario::name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Setup-screen warnings for sessions that never closed: root may still be in use.
pub(crate) fn interrupted_warnings(env: &Env) -> Vec<String> {
    crate::adapters::session::interrupted_sessions(&env.sessions_dir())
        .iter()
        .map(|d| format!("An interrupted session may have left root in use: close it with `breakglass recover {}`", d.display()))
        .collect()
}

/// The data directory must take a journal before anything starts: a bad path is reported before
/// the custodians type a reason, not after.
pub(crate) fn check_data_dir(env: &Env) -> anyhow::Result<()> {
    let dir = env.sessions_dir();
    if std::fs::metadata(&env.data_dir).is_ok_and(|m| !m.is_dir()) {
        anyhow::bail!(
            "the data directory {} is a file, not a directory: pass --data-dir DIR (a directory; it is created if missing)",
            env.data_dir.display()
        );
    }
    // Another user's directory: they could read the bundles or swap files between entries.
    if let Ok(m) = std::fs::metadata(&env.data_dir) {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if m.uid() != me {
            anyhow::bail!(
                "the data directory {} belongs to user {} (you are {}): sessions must be kept in a directory of your own. Pass --data-dir",
                env.data_dir.display(),
                m.uid(),
                me
            );
        }
    }
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        anyhow::bail!(
            "{} is a symbolic link: sessions are written only inside the data directory itself. Replace the link with a directory, or pass --data-dir",
            dir.display()
        );
    }
    let probe = || -> std::io::Result<()> {
        crate::core::fsread::create_private_dir(&dir)?;
        let p = dir.join(format!(".breakglass-probe-{}", std::process::id()));
        std::fs::write(&p, b"probe")?;
        std::fs::File::open(&p)?.sync_all()?;
        std::fs::remove_file(&p)
    };
    probe().map_err(|e| {
        anyhow::anyhow!(
            "cannot write session journals in {}: {e}. Fix its permissions or free space, or choose another with --data-dir; nothing was started",
            dir.display()
        )
    })?;
    // A ceremony writes a few hundred KB at most (a long one with many notes): a disk with less
    // than 1 MiB free is refused now, before any notice goes out or anything is unsealed.
    const NEEDED: u64 = 1 << 20;
    if let Ok(v) = rustix::fs::statvfs(&dir)
        && v.f_bavail.saturating_mul(v.f_frsize) < NEEDED
    {
        anyhow::bail!(
            "only {} bytes are free in {}; a session needs at least {NEEDED}. Free disk space or choose another --data-dir; nothing was started",
            v.f_bavail.saturating_mul(v.f_frsize),
            dir.display()
        );
    }
    Ok(())
}

/// The roster a ceremony runs with ([`trust::for_ceremony`]), checked against the newest version
/// this host has trusted (a rollback or a fork is refused, naming both), which then moves forward.
pub(crate) fn for_ceremony(env: &Env) -> Result<TrustedRoster, trust::TrustError> {
    let t = trust::for_ceremony(&env.config)?;
    trust::check_state(&env.data_dir, &t)?;
    if let Err(e) = trust::remember(&env.data_dir, &t) {
        errln!("warning: cannot record the trusted roster version in {}: {e}", env.data_dir.join(trust::TRUST_STATE).display());
    }
    Ok(t)
}

/// The sealed runbook a ceremony opens: not older than the newest sealing this host has opened
/// (an older one put back, though a quorum signed it, may hold rotated secrets), which it records.
pub(crate) fn runbook_for_ceremony(env: &Env, trusted: &TrustedRoster, sealed: &crate::core::seal::Sealed) -> anyhow::Result<()> {
    trust::check_runbook_serial(&env.data_dir, sealed.manifest.serial)?;
    if let Err(e) = trust::remember_runbook_serial(&env.data_dir, trusted, sealed.manifest.serial) {
        errln!("warning: cannot record the runbook's sealing serial in {}: {e}", env.data_dir.join(trust::TRUST_STATE).display());
    }
    Ok(())
}

/// Runs its closure when dropped (the end of a command, whichever way it ends).
pub(crate) struct Cleanup<F: FnMut()>(pub(crate) F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// After a rekey (or an offboarding that changed the roster): the live roster version and its
/// sealing are what this host trusts and opens from now on, so an older sealing put back is
/// refused here even before any ceremony opens the new one. Nothing is recorded if they do not
/// check (a rekey that did not commit leaves the old ones, already recorded).
pub(crate) fn remember_live(env: &Env) {
    let Ok(t) = trust::for_ceremony(&env.config) else { return };
    if let Err(e) = trust::remember(&env.data_dir, &t) {
        errln!("warning: cannot record the trusted roster version: {e}");
    }
    let Some(runbook) = env.config.runbook_path() else { return };
    if let Ok(s) = crate::core::seal::Sealed::read_dir(&runbook)
        && s.check_signed(&t).is_ok()
        && let Err(e) = trust::remember_runbook_serial(&env.data_dir, &t, s.manifest.serial)
    {
        errln!("warning: cannot record the runbook's sealing serial: {e}");
    }
}

/// The TUI's push to the evidence archive, when one is configured: the summary shows its outcome.
pub(crate) fn archiver(env: &Env) -> Option<crate::terminal::app::Archiver> {
    let cfg = env.config.archive.clone()?;
    let env = env.clone();
    Some(Box::new(move |dir: &Path| push_with_backlog(&env, &cfg, dir)))
}

/// Pushes this ceremony's bundle, then every earlier signed bundle still queued (a previous push
/// that failed is retried by the next ceremony).
pub(crate) fn push_with_backlog(env: &Env, cfg: &crate::core::config::ArchiveCfg, dir: &Path) -> Result<String, String> {
    let mut conn = None;
    let pushed = crate::commands::archive_cmd::push_one(env, cfg, &mut conn, dir, true);
    let offline = matches!(pushed, crate::commands::archive_cmd::Pushed::Failed(_));
    let this = archive_message(pushed);
    if offline {
        return this;
    }
    let (queued, _) = crate::commands::archive_cmd::backlog(env);
    let mut done = 0;
    for sid in &queued {
        if matches!(
            crate::commands::archive_cmd::push_one(env, cfg, &mut conn, &env.sessions_dir().join(sid), false),
            crate::commands::archive_cmd::Pushed::Archived(_)
        ) {
            done += 1;
        }
    }
    let and = |m: String| if done > 0 { format!("{m} And {done} earlier queued bundle(s) archived.") } else { m };
    this.map(and).map_err(and)
}

/// What the custodians are told about the archive push of their bundle.
pub(crate) fn archive_message(p: crate::commands::archive_cmd::Pushed) -> Result<String, String> {
    use crate::commands::archive_cmd::Pushed;
    match p {
        Pushed::Archived(r) => Ok(format!(
            "Archived: {} files to s3://{}/{}/{}/, kept until {} (Object Lock, COMPLIANCE).",
            r.files.len(),
            r.bucket,
            r.account,
            r.session_id,
            r.retain_until()
        )),
        Pushed::AlreadyArchived => Ok("Archived already.".into()),
        Pushed::Skipped { why, .. } => Err(format!("Not archived: {why}")),
        Pushed::Failed(why) => Err(format!(
            "NOT archived: {why}. The bundle is safe here and queued: `breakglass archive push` retries it (`breakglass doctor` lists queued bundles)."
        )),
    }
}

/// Right after a ceremony (or a recovery) is co-signed, its bundle goes to the evidence archive
/// when one is configured; a failed push says so and leaves the bundle queued for `archive push`.
/// A DEMO ceremony pushes its bundle only with `demo --archive`, to rehearse the archive (DEMO
/// bundles are never evidence). Messages go to stderr: stdout's last line stays the session
/// directory for scripts.
pub(crate) fn archive_after(env: &Env, dir: &Path, code: i32) -> i32 {
    let Some(cfg) = &env.config.archive else { return code };
    if code != 0 || !dir.join(crate::core::journal::FILE_NAME).is_file() {
        return code;
    }
    match push_with_backlog(env, cfg, dir) {
        Ok(m) | Err(m) => errln!("{m}"),
    }
    code
}

/// The first time a roster version is used on this host, the team hears that the custodians
/// changed: a "roster changed" notice naming the version, who is in it and its fingerprint.
/// Remembered in `<data dir>/roster-seen` only once delivered, so a failure is retried next time.
/// The notice is about the real roster, whatever the session that first uses it (a drill
/// included): it is never marked DRILL, so nobody ignores a real change of custodians.
pub(crate) fn announce_roster(env: &Env, t: &TrustedRoster, b: &mut dyn Broadcaster) {
    let r = t.roster();
    let seen_path = env.data_dir.join("roster-seen");
    let seen = std::fs::read_to_string(&seen_path).unwrap_or_default();
    if seen.trim() == r.sha256() {
        return;
    }
    let now = crate::core::clock::rfc3339_ms(SystemClock::new().now());
    let notice = crate::core::notice::Notice {
        session_id: format!("roster-v{}-{}", r.version, &r.sha256()[..12]),
        phase: crate::core::notice::Phase::RosterChanged,
        mode: crate::core::mode::Mode::Incident,
        demo: false,
        account: env.config.aws.account_id.clone(),
        custodians: r.custodians.iter().map(|c| format!("{} ({})", c.name, c.id)).collect(),
        reason: format!("roster version {} (quorum {}) is used for the first time on this host; {}", r.version, r.quorum, t.describe()),
        ticket: None,
        host: crate::adapters::session::host_name(),
        started: now.clone(),
        at: now,
        journal_hash: r.sha256(),
        journal_words: crate::core::notice::words_hex(&r.sha256()),
        journal_entry: None,
        idempotency_key: format!("roster-changed:{}", r.sha256()),
        maybe_repeat: false,
    };
    match b.send(&notice) {
        Ok(d) => {
            let _ = std::fs::create_dir_all(&env.data_dir);
            let _ = crate::core::fsread::write_atomic(&seen_path, r.sha256().as_bytes());
            errln!(
                "\"roster changed\" notice sent via {} (id {}): roster version {} is new on this host",
                d.channel,
                d.message_id,
                r.version
            );
        }
        Err(e) => errln!("warning: the \"roster changed\" notice could not be sent ({e}); it is tried again at the next ceremony"),
    }
}

/// What a roster change (a rekey, an offboarding) starts from: the configured roster and sealed
/// runbook, the roster trusted from the pin and the runbook signed for it.
pub(crate) struct ChangeStart {
    pub roster_path: std::path::PathBuf,
    pub runbook_path: std::path::PathBuf,
    pub trusted: TrustedRoster,
    pub sealed: crate::core::seal::Sealed,
}

/// Reads what a roster change starts from; `what` names the change in errors ("A rekey") and
/// `rehearse` the DEMO command that rehearses it without YubiKeys.
pub(crate) fn change_start(env: &Env, what: &str, rehearse: &str) -> anyhow::Result<ChangeStart> {
    let c = &env.config;
    let where_cfg = c.describe();
    let roster_path = c
        .roster_path()
        .with_context(|| format!("no roster: set paths.roster in {where_cfg}. To rehearse without YubiKeys: `{rehearse}`"))?;
    let runbook_path = c.runbook_path().with_context(|| format!("no sealed runbook: set paths.runbook in {where_cfg}"))?;
    let trusted = for_ceremony(env).map_err(|e| anyhow::anyhow!("{e}\n{what} starts from the trusted roster only."))?;
    let sealed = crate::core::seal::Sealed::read_dir(&runbook_path)?;
    sealed.check_signed(&trusted)?;
    runbook_for_ceremony(env, &trusted, &sealed)?;
    Ok(ChangeStart { roster_path, runbook_path, trusted, sealed })
}

/// Runs a roster change's ceremony (a rekey, an offboarding) in the TUI, then notes which roster
/// is live; returns the exit code.
pub(crate) fn run_change(
    env: &Env,
    ceremony: crate::core::ceremony::Ceremony,
    runner: crate::adapters::session::Runner,
    clock: std::sync::Arc<dyn Clock>,
    mode: crate::core::ceremony::Mode,
    reason: Option<String>,
) -> anyhow::Result<i32> {
    let start = crate::terminal::app::Start {
        warnings: interrupted_warnings(env),
        archiver: archiver(env),
        ..crate::terminal::app::Start::plain(mode, reason)
    };
    let code = crate::terminal::app::run(ceremony, runner, clock, start)?;
    remember_live(env);
    Ok(code)
}
