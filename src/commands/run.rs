//! What each command does, on top of the library. Errors here are for people: each one names the
//! thing and the next step.

use crate::aws::Aws;
use crate::aws::sns::SnsBroadcaster;
use crate::ceremony::{Mode, Phase, Scenario};
use crate::cli::{Cli, Command, DrillCmd, RosterCmd, RunbookCmd};
use crate::clock::{Clock, SystemClock};
use crate::journal::kind;
use crate::notice::Broadcaster;
use crate::roster::{Roster, sig_path};
use crate::trust;
use crate::trust::TrustedRoster;
use crate::verify;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::env::{Env, emit, emit_json};

/// No core dump, and no ptrace peeking by other processes of the same user, while PINs, runbook
/// text and root credentials may be in memory. Best effort: a failure is not fatal.
fn harden_process() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let _ = rustix::process::setrlimit(rustix::process::Resource::Core, rustix::process::Rlimit { current: Some(0), maximum: Some(0) });
    // A file-size limit reached mid-ceremony: without a handler SIGXFSZ kills the process in the
    // middle of a write; with one, the write fails (EFBIG) and the ceremony halts cleanly,
    // saying why, with the terminal restored.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
}

/// A ceremony that had to stop (its journal could not be written): says why and how to close
/// it, and gives the exit code (1) the TUI gives too.
pub fn halted(why: &str, dir: &Path) -> i32 {
    let recorded = std::fs::metadata(dir.join(crate::journal::FILE_NAME)).is_ok_and(|m| m.len() > 0);
    errln!("{}", crate::words::halted(why, recorded));
    if recorded {
        errln!("Once the disk has room, close the session (root may still be announced as in use): breakglass recover {}", dir.display());
    }
    1
}

/// Runs a command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    harden_process();
    let env = Env::load(&cli)?;
    let command = cli.command.unwrap_or(Command::Ceremony(Default::default()));
    // One ceremony at a time per data directory (settling included): a second is refused before
    // it writes anything, naming the process that runs the first.
    let _one_at_a_time = if matches!(
        command,
        Command::Ceremony(_) | Command::Demo(_) | Command::Offboard(_) | Command::Recover(_) | Command::Roster(RosterCmd::Rekey(_))
    ) {
        match crate::session::lock_data_dir(&env.data_dir) {
            Ok(lock) => Some(lock),
            Err(busy @ crate::session::LockError::DataBusy { .. }) => return Err(busy.into()),
            // A data directory that cannot hold the lock file cannot hold a session either: the
            // command's own checks say what is wrong with it and what to do.
            Err(_) => None,
        }
    } else {
        None
    };
    // A rekey killed mid-swap is finished or undone before a ceremony uses the roster or the
    // runbook; read-only commands only say so (they never change files).
    if matches!(command, Command::Ceremony(_) | Command::Offboard(_) | Command::Recover(_) | Command::Roster(RosterCmd::Rekey(_))) {
        settle_rekey(&env)?;
        settle_rotation(&env)?;
    } else if let (Some(roster), Some(runbook)) = (env.config.roster_path(), env.config.runbook_path())
        && (crate::rekey::Paths { roster, runbook }).pending()
        && !matches!(command, Command::Roster(RosterCmd::Settle))
    {
        errln!("warning: an interrupted rekey left its staging beside the roster: `breakglass roster settle` finishes or undoes it");
    }
    match command {
        Command::Demo(a) if a.rekey => demo_rekey(&env, a.auto, a.session.reason),
        Command::Demo(a) if a.offboard => demo_offboard(&env, a.auto, a.session.reason),
        Command::Offboard(a) => offboard_cmd(&env, a),
        Command::Demo(a) => {
            let mode = a.session.mode();
            demo(&env, a.auto, a.archive, mode, a.session.reason, a.session.scenario.unwrap_or_default())
        }
        Command::Ceremony(a) => ceremony(&env, a),
        Command::Verify(a) => verify_cmd(&env, &a.session_dir, a.json, a.roster.as_deref()),
        Command::Recover(a) => recover_cmd(&env, a),
        Command::Seal(a) => seal_cmd(&env, &a.roster, &a.runbook, &a.out),
        Command::Runbook(cmd) => runbook_cmd(&env, cmd),
        Command::Roster(cmd) => roster_cmd(&env, cmd),
        Command::Drill(DrillCmd::Report(a)) => drill_report_cmd(&env, &a),
        Command::Archive(cmd) => crate::archive_cmd::run(&env, cmd),
        Command::Audit(a) => match audit_cmd(&env, &a) {
            // A machine reading --json gets the error as JSON too.
            Err(e) if a.json => {
                emit_json(&format!("{}\n", serde_json::json!({"status": "error", "error": format!("{e:#}")})))?;
                Ok(2)
            }
            other => other,
        },
        Command::Enroll(a) => crate::enroll::run(&a),
        Command::Doctor => doctor(&env),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "breakglass", &mut out);
            emit(&String::from_utf8_lossy(&out))?;
            Ok(0)
        }
        Command::Man { command } => man_page(command.as_deref()),
    }
}

/// What the exit codes mean, for every man page (the same as each command's `--help`).
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
0
Success: for verify, the session is valid against a pinned roster; for audit, nothing FAILs.
.TP
1
A check failed: verify found the bundle invalid (tampered or forged); audit has a FAIL; a
ceremony was aborted or halted.
.TP
2
Usage, configuration or I/O error (the message says what to do next).
.TP
3
verify: the session is incomplete (interrupted, or not yet signed): `breakglass recover` closes it.
.TP
4
verify: every check passed, but the roster is not pinned (set [trust] roster_sha256, or pass --roster).
"#;

/// `breakglass man [COMMAND]`: the main page, or a command's own (`breakglass-verify(1)`), each
/// with the exit codes.
fn man_page(command: Option<&str>) -> anyhow::Result<i32> {
    let main = <Cli as clap::CommandFactory>::command();
    let cmd = match command {
        None => main,
        Some(name) => {
            let names: Vec<String> = main.get_subcommands().map(|c| c.get_name().to_string()).collect();
            let Some(sub) = main.find_subcommand(name).cloned() else {
                bail!("`{name}` is not a breakglass command: one of {}", names.join(", "));
            };
            sub.display_name(format!("breakglass-{name}"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    out.extend_from_slice(EXIT_STATUS.as_bytes());
    emit(&String::from_utf8_lossy(&out))?;
    Ok(0)
}

/// A drill scenario must fit the roster (`key-missing:dave` names a custodian): never a silent
/// fall back to the standard drill.
fn check_scenario(scenario: &Scenario, roster: &[crate::ceremony::Person], which: &str) -> anyhow::Result<()> {
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
fn interrupted_warnings(env: &Env) -> Vec<String> {
    crate::session::interrupted_sessions(&env.sessions_dir())
        .iter()
        .map(|d| format!("An interrupted session may have left root in use: close it with `breakglass recover {}`", d.display()))
        .collect()
}

/// The data directory must take a journal before anything starts: a bad path is reported before
/// the custodians type a reason, not after.
fn check_data_dir(env: &Env) -> anyhow::Result<()> {
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
        crate::fsread::create_private_dir(&dir)?;
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

fn demo(env: &Env, auto: bool, archive: bool, mode: Mode, reason: Option<String>, scenario: Scenario) -> anyhow::Result<i32> {
    if archive && env.config.archive.is_none() {
        bail!(
            "--archive pushes the demo's bundle to the evidence archive, and none is configured: add an [archive] section to {} (docs/archive.md), or leave --archive out",
            env.config.describe()
        );
    }
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (mut c, mut r) = crate::demo::setup(&env.data_dir, clock.clone(), env.outside())?;
    check_scenario(&scenario, c.roster().as_slice(), "the demo roster")?;
    if !auto {
        let start = crate::app::Start {
            mode,
            reason,
            scenario,
            overdue: crate::drill::overdue_note(&env.config, &env.sessions_dir()),
            previous: crate::drill::previous_times(&env.config, &env.sessions_dir()),
            warnings: interrupted_warnings(env),
            archiver: if archive { archiver(env) } else { None },
        };
        return crate::app::run(c, r, clock, start);
    }
    let reason = reason.unwrap_or_else(|| "DEMO: unattended rehearsal of the root-recovery runbook".into());
    crate::demo::play(&mut c, &mut r, mode, &reason, scenario);
    match &c.phase() {
        Phase::Summary => {
            let head = c.last().as_ref().map(|w| w.head).unwrap_or_default();
            errln!(
                "DEMO {} session {} complete: {} entries, signed by {}",
                c.mode().label(),
                c.info().session_id,
                c.last().as_ref().map_or(0, |w| w.seq + 1),
                c.signed().join(" and ")
            );
            errln!("chain head at entry #{}: {}", c.last().as_ref().map_or(0, |w| w.seq), crate::notice::head_words(&head));
            errln!("verify: breakglass verify {}", r.dir.display());
            let code = if archive { archive_after(env, &r.dir, 0) } else { 0 };
            outln!("{}", r.dir.display());
            Ok(code)
        }
        Phase::Halted(why) => Ok(halted(why, &r.dir)),
        other => bail!(
            "the unattended demo stopped at {other:?}: {}",
            c.message().as_ref().map_or_else(|| "no message".to_string(), |m| crate::words::words(&m.say, &c))
        ),
    }
}

/// The newcomers named by `--add` files (what `breakglass enroll` printed), their attestation
/// files copied next to the roster (never over a different file).
/// Also returns the files it copied next to the roster (none that were there already), so that a
/// rekey that does not commit can take them away again.
fn newcomers(files: &[PathBuf], roster_dir: &Path) -> anyhow::Result<(Vec<crate::roster::Custodian>, Vec<PathBuf>)> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AddFile {
        custodian: Vec<crate::roster::Custodian>,
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
                        crate::fsread::write_atomic(&to, &bytes)?;
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

/// The roster a ceremony runs with ([`trust::for_ceremony`]), checked against the newest version
/// this host has trusted (a rollback or a fork is refused, naming both), which then moves forward.
fn for_ceremony(env: &Env) -> Result<TrustedRoster, trust::TrustError> {
    let t = trust::for_ceremony(&env.config)?;
    trust::check_state(&env.data_dir, &t)?;
    if let Err(e) = trust::remember(&env.data_dir, &t) {
        errln!("warning: cannot record the trusted roster version in {}: {e}", env.data_dir.join(trust::TRUST_STATE).display());
    }
    Ok(t)
}

/// The sealed runbook a ceremony opens: not older than the newest sealing this host has opened
/// (an older one put back, though a quorum signed it, may hold rotated secrets), which it records.
fn runbook_for_ceremony(env: &Env, trusted: &TrustedRoster, sealed: &crate::seal::Sealed) -> anyhow::Result<()> {
    trust::check_runbook_serial(&env.data_dir, sealed.manifest.serial).map_err(anyhow::Error::msg)?;
    if let Err(e) = trust::remember_runbook_serial(&env.data_dir, trusted, sealed.manifest.serial) {
        errln!("warning: cannot record the runbook's sealing serial in {}: {e}", env.data_dir.join(trust::TRUST_STATE).display());
    }
    Ok(())
}

/// Runs its closure when dropped (the end of a command, whichever way it ends).
struct Cleanup<F: FnMut()>(F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// `roster rekey`: the rekey ceremony on YubiKeys, for the configured roster and runbook.
fn rekey_cmd(env: &Env, a: crate::cli::RekeyArgs) -> anyhow::Result<i32> {
    let c = &env.config;
    let where_cfg = c.describe();
    let roster_path = c.roster_path().with_context(|| {
        format!("no roster: set paths.roster in {where_cfg}. To rehearse a rekey without YubiKeys: `breakglass demo --rekey`")
    })?;
    let runbook_path = c.runbook_path().with_context(|| format!("no sealed runbook: set paths.runbook in {where_cfg}"))?;
    let trusted = for_ceremony(env).map_err(|e| anyhow::anyhow!("{e}\nA rekey starts from the trusted roster only."))?;
    let sealed = crate::seal::Sealed::read_dir(&runbook_path)?;
    sealed.check_signed(&trusted)?;
    runbook_for_ceremony(env, &trusted, &sealed)?;
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
    let change = crate::rekey::Change { add, remove: a.remove, quorum: a.quorum };
    let plan = crate::rekey::plan(&roster, &change).map_err(|e| anyhow::anyhow!("{e}"))?;
    new_sha.set(Some(plan.new.sha256()));
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (mut ceremony, mut runner) = crate::session::start(&env.sessions_dir(), clock.clone(), roster, sigs, sealed, vec![], env.outside());
    runner.keys = env.piv_keys()?;
    ceremony.plan_rekey(crate::ceremony::Rekey::from_plan(&plan));
    runner.rekey = Some(crate::session::RekeyJob::new(plan.new, crate::rekey::Paths { roster: roster_path, runbook: runbook_path }));
    let start = crate::app::Start {
        warnings: interrupted_warnings(env),
        archiver: archiver(env),
        ..crate::app::Start::plain(Mode::Rekey, a.reason)
    };
    let code = crate::app::run(ceremony, runner, clock, start)?;
    remember_live(env);
    Ok(code)
}

/// After a rekey (or an offboarding that changed the roster): the live roster version and its
/// sealing are what this host trusts and opens from now on, so an older sealing put back is
/// refused here even before any ceremony opens the new one. Nothing is recorded if they do not
/// check (a rekey that did not commit leaves the old ones, already recorded).
fn remember_live(env: &Env) {
    let Ok(t) = trust::for_ceremony(&env.config) else { return };
    if let Err(e) = trust::remember(&env.data_dir, &t) {
        errln!("warning: cannot record the trusted roster version: {e}");
    }
    let Some(runbook) = env.config.runbook_path() else { return };
    if let Ok(s) = crate::seal::Sealed::read_dir(&runbook)
        && s.check_signed(&t).is_ok()
        && let Err(e) = trust::remember_runbook_serial(&env.data_dir, &t, s.manifest.serial)
    {
        errln!("warning: cannot record the runbook's sealing serial: {e}");
    }
}

/// What the survey of one account found: the changes and the MANUAL items, or why it could not
/// be read.
pub type AccountSurvey = Result<(Vec<crate::aws::offboard::Action>, Vec<crate::aws::offboard::Manual>), String>;

/// The offboarding checklist for `person` in one account (see [`offboard_checklist_accounts`]).
pub fn offboard_checklist(
    person: &str,
    user: &str,
    aws: AccountSurvey,
) -> (Vec<crate::ceremony::OffItem>, Vec<Option<(usize, crate::aws::offboard::Action)>>) {
    offboard_checklist_accounts(person, user, vec![(String::new(), aws)])
}

/// The offboarding checklist for `person`: root's password and MFA (people, at the console), then
/// in each account (labelled, when there are several) each IAM change (the tool, once every
/// custodian confirmed it on their key) and what people must check by hand. Returns the items and,
/// for each, the AWS change to make and the index of its account.
pub fn offboard_checklist_accounts(
    person: &str,
    user: &str,
    accounts: Vec<(String, AccountSurvey)>,
) -> (Vec<crate::ceremony::OffItem>, Vec<Option<(usize, crate::aws::offboard::Action)>>) {
    use crate::ceremony::OffItem;
    let people = OffItem::people;
    let mut items = vec![
        people(format!("Change the AWS root password at the console ({person} may know it); seal the new one in the safe")),
        people("Replace root's MFA device: register the safe's new hardware token, then remove the old one".into()),
    ];
    let mut actions = vec![None, None];
    for (i, (account, survey)) in accounts.into_iter().enumerate() {
        // With several accounts, each item says where, and the signed target names the account.
        let (label, scope) =
            if account.is_empty() { (String::new(), String::new()) } else { (format!("[{account}] "), format!("{account}:")) };
        match survey {
            Ok((plan, manual)) => {
                if plan.is_empty() {
                    items.push(people(format!("{label}IAM user {user}: nothing active was found (keys, password, MFA, groups, policies)")));
                    actions.push(None);
                }
                for a in plan {
                    items.push(OffItem {
                        api: Some(a.api().to_string()),
                        target: format!("{scope}{}", a.target()),
                        ..OffItem::people(format!("{label}{}", a.describe(user)))
                    });
                    actions.push(Some((i, a)));
                }
                for m in manual {
                    items.push(people(format!("{label}{}", m.describe(user))));
                    actions.push(None);
                }
            }
            Err(why) => {
                items.push(people(format!(
                    "{label}Remove {person}'s AWS access by hand (access keys, console password, MFA, groups, policies, roles they can assume, Identity Center): {why}"
                )));
                actions.push(None);
            }
        }
    }
    items
        .push(people(format!("Revoke {person}'s other access that reaches AWS: SSO/IdP account, CI secrets, VPN, the safe's combination")));
    actions.push(None);
    (items, actions)
}

/// `breakglass offboard ID`: the rekey (when ID is a custodian) and the checklist, on YubiKeys.
fn offboard_cmd(env: &Env, a: crate::cli::OffboardArgs) -> anyhow::Result<i32> {
    let c = &env.config;
    let where_cfg = c.describe();
    let roster_path = c.roster_path().with_context(|| {
        format!("no roster: set paths.roster in {where_cfg}. To rehearse an offboarding without YubiKeys: `breakglass demo --offboard`")
    })?;
    let runbook_path = c.runbook_path().with_context(|| format!("no sealed runbook: set paths.runbook in {where_cfg}"))?;
    let trusted = for_ceremony(env).map_err(|e| anyhow::anyhow!("{e}\nAn offboarding starts from the trusted roster only."))?;
    let sealed = crate::seal::Sealed::read_dir(&runbook_path)?;
    sealed.check_signed(&trusted)?;
    runbook_for_ceremony(env, &trusted, &sealed)?;
    let roster = trusted.roster().clone();
    let user = a.iam_user.clone().unwrap_or_else(|| a.id.clone());
    // IAM's own rule for user names; it also keeps the signed statements unambiguous.
    if user.is_empty() || user.len() > 64 || !user.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)) {
        bail!("`{user}` is not an IAM user name (letters, digits and +=,.@_- only, at most 64): pass the right one with --iam-user");
    }
    // Their IAM user, read now: what the checklist will change.
    let (clients, surveys) = offboard_surveys(c, &user)?;
    let (mut items, mut actions) = offboard_checklist_accounts(&a.id, &user, surveys);
    if roster.custodian(&a.id).is_none()
        && let Some(c) = roster.custodians.iter().find(|c| {
            [&c.id, &c.name, &c.email].iter().any(|v| v.eq_ignore_ascii_case(&a.id))
                || c.email.split('@').next().is_some_and(|l| l.eq_ignore_ascii_case(&a.id))
        })
    {
        bail!("`{}` is not a custodian id, but it looks like custodian `{}` ({}): run `breakglass offboard {}`", a.id, c.id, c.name, c.id);
    }
    let plan = if roster.custodian(&a.id).is_some() {
        let dir = roster_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let change = crate::rekey::Change { remove: vec![a.id.clone()], add: newcomers(&a.add, &dir)?.0, quorum: a.quorum };
        match crate::rekey::plan(&roster, &change) {
            Ok(p) => Some(p),
            Err(why) => {
                // The checklist still runs: stripping access cannot wait for a new custodian.
                errln!("warning: {} stays on the roster: {why}", a.id);
                // Items and their AWS changes go by index: both lists move together.
                actions.insert(0, None);
                items.insert(
                    0,
                    crate::ceremony::OffItem::people(format!(
                        "ROSTER NOT CHANGED: {} is still a custodian ({why}). Enrol a successor and run `breakglass roster rekey --remove {} --add FILE` soon",
                        a.id, a.id
                    )),
                );
                None
            }
        }
    } else {
        None
    };
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (mut ceremony, mut runner) = crate::session::start(&env.sessions_dir(), clock.clone(), roster, sigs, sealed, vec![], env.outside());
    runner.keys = env.piv_keys()?;
    if let Some(plan) = plan {
        ceremony.plan_rekey(crate::ceremony::Rekey::from_plan(&plan));
        runner.rekey = Some(crate::session::RekeyJob::new(plan.new, crate::rekey::Paths { roster: roster_path, runbook: runbook_path }));
    }
    anyhow::ensure!(items.len() == actions.len(), "internal error: {} checklist items for {} changes", items.len(), actions.len());
    ceremony.plan_offboard(crate::ceremony::Offboard {
        person: a.id.clone(),
        iam_user: user.clone(),
        target_s: a.target_minutes * 60,
        items,
        rehearsal: a.drill,
        finish_armed: false,
    });
    runner.offboard = Some(crate::session::OffboardJob { accounts: clients, user, actions });
    let start = crate::app::Start {
        warnings: interrupted_warnings(env),
        archiver: archiver(env),
        ..crate::app::Start::plain(Mode::Offboard, a.reason)
    };
    let code = crate::app::run(ceremony, runner, clock, start)?;
    remember_live(env);
    Ok(code)
}

/// The AWS clients an offboarding changes accounts with, and each account's survey.
type OffboardSurveys = (Vec<crate::aws::Aws>, Vec<(String, AccountSurvey)>);

/// Reads `user`'s IAM user in the configured credentials' account, then in each of `[offboard]`
/// accounts through its role: the clients to make the changes with, and each account's survey.
fn offboard_surveys(c: &crate::config::Config, user: &str) -> anyhow::Result<OffboardSurveys> {
    let aws = if c.aws.region.is_some() || c.aws.profile.is_some() || c.aws.account_id.is_some() {
        crate::aws::Aws::load(c).map_err(|e| e.to_string())
    } else {
        Err("AWS is not configured in breakglass.toml".to_string())
    };
    let survey = |aws: &crate::aws::Aws| -> AccountSurvey {
        crate::aws::offboard::survey(aws, user).map(|s| (crate::aws::offboard::plan(&s), s.manual)).map_err(|e| e.to_string())
    };
    // The configured credentials' account, then each of [offboard] accounts through its role.
    let mut clients = vec![];
    let mut surveys = vec![];
    match aws {
        Ok(aws) => {
            let several = !c.offboard.accounts.is_empty();
            let label = if several {
                crate::aws::sts::caller_identity(&aws)
                    .map(|(a, _)| a)
                    .map_err(|e| anyhow::anyhow!("which account the configured credentials reach: {e}"))?
            } else {
                String::new()
            };
            let home = label.clone();
            surveys.push((label, survey(&aws)));
            for account in c.offboard.accounts.iter().filter(|acct| **acct != home) {
                match crate::aws::offboard::for_account(&aws, account, &c.offboard.role_name) {
                    Ok(member) => {
                        surveys.push((account.clone(), survey(&member)));
                        clients.push(member);
                    }
                    Err(e) => {
                        surveys.push((account.clone(), Err(e.to_string())));
                        clients.push(crate::aws::Aws::from_sdk(aws.sdk.clone())?);
                    }
                }
            }
            clients.insert(0, aws);
        }
        Err(e) => surveys.push((String::new(), Err(e))),
    }
    Ok((clients, surveys))
}

/// `demo --offboard`: carol leaves; the rekey on DEMO keys, then her checklist (no AWS in the DEMO).
fn demo_offboard(env: &Env, auto: bool, reason: Option<String>) -> anyhow::Result<i32> {
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (items, actions) = offboard_checklist("carol", "carol", Err("the DEMO has no AWS".into()));
    let job = crate::session::OffboardJob { accounts: vec![], user: "carol".into(), actions };
    let (mut c, mut r) = crate::demo::setup_offboard(&env.data_dir, clock.clone(), env.outside(), items, job, false)?;
    if !auto {
        return crate::app::run(c, r, clock, crate::app::Start::plain(Mode::Offboard, reason));
    }
    let reason = reason.unwrap_or_else(|| "DEMO: carol leaves the company".into());
    crate::demo::play_offboard(&mut c, &mut r, &reason);
    rekey_outcome(&c, &r)
}

/// `demo --rekey`: the rekey ceremony on DEMO keys, in a scratch copy of the DEMO roster.
fn demo_rekey(env: &Env, auto: bool, reason: Option<String>) -> anyhow::Result<i32> {
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (mut c, mut r) = crate::demo::setup_rekey(&env.data_dir, clock.clone(), env.outside())?;
    if !auto {
        return crate::app::run(c, r, clock, crate::app::Start::plain(Mode::Rekey, reason));
    }
    let reason = reason.unwrap_or_else(|| "DEMO: carol leaves, dave joins".into());
    crate::demo::play_rekey(&mut c, &mut r, &reason);
    rekey_outcome(&c, &r)
}

/// What an unattended rekey says at the end: where the new roster is, and the bundle to verify.
fn rekey_outcome(c: &crate::ceremony::Ceremony, r: &crate::session::Runner) -> anyhow::Result<i32> {
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
                        crate::notice::words_hex(&k.new_sha256),
                        crate::trust::pin_lines(&k.new_sha256, k.new_version)
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
                c.message().as_ref().map_or_else(|| "no message".to_string(), |m| crate::words::words(&m.say, c))
            )
        }
    }
}

/// The real ceremony: the configured (quorum-signed) roster, the sealed runbook, YubiKeys.
fn ceremony(env: &Env, a: crate::cli::CeremonyArgs) -> anyhow::Result<i32> {
    let c = &env.config;
    let where_cfg = c.describe();
    let roster_path = c
        .roster_path()
        .with_context(|| format!("no roster: set paths.roster in {where_cfg}. To rehearse without YubiKeys: `breakglass demo`"))?;
    let _ = roster_path;
    let trusted = for_ceremony(env).map_err(|e| {
        anyhow::anyhow!("{e}\nThe ceremony refuses a roster that does not chain to the pin: one person could have edited it.")
    })?;
    let sealed_path =
        c.runbook_path().with_context(|| format!("no sealed runbook: set paths.runbook in {where_cfg} (made with `breakglass seal`)"))?;
    let sealed = crate::seal::Sealed::read_dir(&sealed_path)?;
    sealed.check_signed(&trusted)?;
    runbook_for_ceremony(env, &trusted, &sealed)?;
    let roster = trusted.roster().clone();
    let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let scenario = a.session.scenario.clone().unwrap_or_default();
    check_scenario(&scenario, &crate::ceremony::people(&roster), "the roster")?;
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let mut outside = env.outside();
    announce_roster(env, &trusted, outside.broadcaster.as_mut());
    let (ceremony, mut runner) = crate::session::start(&env.sessions_dir(), clock.clone(), roster, sigs, sealed, vec![], outside);
    runner.keys = env.piv_keys()?;
    runner.runbook_path = Some(sealed_path);
    {
        let (data_dir, trusted) = (env.data_dir.clone(), trusted.clone());
        runner.remember_serial = Some(Box::new(move |serial| {
            if let Err(e) = trust::remember_runbook_serial(&data_dir, &trusted, serial) {
                errln!("warning: cannot record the runbook's sealing serial: {e}");
            }
        }));
    }
    let mode = a.session.mode();
    let start = crate::app::Start {
        mode,
        reason: a.session.reason,
        scenario,
        overdue: crate::drill::overdue_note(&env.config, &env.sessions_dir()),
        previous: crate::drill::previous_times(&env.config, &env.sessions_dir()),
        warnings: interrupted_warnings(env),
        archiver: archiver(env),
    };
    let code = crate::app::run(ceremony, runner, clock, start)?;
    // A rotation swapped a new sealing in: this host opens nothing older from now on.
    remember_live(env);
    Ok(code)
}

/// The TUI's push to the evidence archive, when one is configured: the summary shows its outcome.
fn archiver(env: &Env) -> Option<crate::app::Archiver> {
    let cfg = env.config.archive.clone()?;
    let env = env.clone();
    Some(Box::new(move |dir: &Path| push_with_backlog(&env, &cfg, dir)))
}

/// Pushes this ceremony's bundle, then every earlier signed bundle still queued (a previous push
/// that failed is retried by the next ceremony).
fn push_with_backlog(env: &Env, cfg: &crate::config::ArchiveCfg, dir: &Path) -> Result<String, String> {
    let mut conn = None;
    let pushed = crate::archive_cmd::push_one(env, cfg, &mut conn, dir, true);
    let offline = matches!(pushed, crate::archive_cmd::Pushed::Failed(_));
    let this = archive_message(pushed);
    if offline {
        return this;
    }
    let (queued, _) = crate::archive_cmd::backlog(env);
    let mut done = 0;
    for sid in &queued {
        if matches!(
            crate::archive_cmd::push_one(env, cfg, &mut conn, &env.sessions_dir().join(sid), false),
            crate::archive_cmd::Pushed::Archived(_)
        ) {
            done += 1;
        }
    }
    let and = |m: String| if done > 0 { format!("{m} And {done} earlier queued bundle(s) archived.") } else { m };
    this.map(and).map_err(and)
}

/// What the custodians are told about the archive push of their bundle.
fn archive_message(p: crate::archive_cmd::Pushed) -> Result<String, String> {
    use crate::archive_cmd::Pushed;
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
fn archive_after(env: &Env, dir: &Path, code: i32) -> i32 {
    let Some(cfg) = &env.config.archive else { return code };
    if code != 0 || !dir.join(crate::journal::FILE_NAME).is_file() {
        return code;
    }
    match push_with_backlog(env, cfg, dir) {
        Ok(m) | Err(m) => errln!("{m}"),
    }
    code
}

/// `breakglass recover`: closes an interrupted session from its journal alone. DEMO sessions use
/// the built-in DEMO custodians; real ones the configured, pinned roster (the version the session
/// ran under) and YubiKeys.
fn recover_cmd(env: &Env, a: crate::cli::RecoverArgs) -> anyhow::Result<i32> {
    let mut i = crate::session::read_interrupted(&a.session_dir)?;
    // The recovery's entries are dated no earlier than the last one before it: a journal dated
    // ahead of this host's clock would carry the whole recovery (and the audit's window) with it.
    let horizon = (chrono::Utc::now() + chrono::Duration::minutes(15)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    if i.recovery.last_ts > horizon {
        bail!(
            "{}: the journal's last entry is dated {}, later than this host's clock ({}) by more than 15 minutes. Check the clock (`timedatectl`; recover on the host that ran the session); if it is right, the journal was altered: keep the directory as evidence and do not recover it",
            a.session_dir.display(),
            crate::plain::one_line(&i.recovery.last_ts),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    // An interrupted rekey (settled before this command ran): which roster is live now.
    if let Some(new) = i.rekey_new.clone() {
        let live =
            if i.demo { Some(env.data_dir.join("demo-rekey").join(&i.session_id).join("roster.toml")) } else { env.config.roster_path() };
        let live_sha = live.and_then(|p| std::fs::read(p).ok()).map(|b| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)));
        i.recovery.rekey = Some(crate::ceremony::RekeySettled { new_roster_sha256: new, live_roster_sha256: live_sha.unwrap_or_default() });
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let reason = a.reason.clone().unwrap_or_else(|| format!("recovery of the interrupted session ({})", i.reason));
    let (mut c, mut r) = if i.demo {
        let roster = crate::demo::roster();
        if roster.sha256() != i.roster_sha256 {
            bail!("{}: the session is labelled DEMO but did not run on the built-in DEMO roster", a.session_dir.display());
        }
        intact_so_far(&a.session_dir, &trust::demo())?;
        let tokens = crate::demo::tokens(&roster);
        crate::session::resume(&i, clock.clone(), roster, crate::demo::roster_sigs(), tokens, env.outside())?
    } else {
        if a.auto {
            bail!(
                "--auto plays the public DEMO keys, so it only recovers DEMO sessions: recover a real session with the custodians' YubiKeys"
            );
        }
        let trusted = for_ceremony(env)?;
        let roster = trusted
            .version_with(&i.roster_sha256)
            .with_context(|| {
                format!(
                    "the session ran under roster {}, which is not the trusted roster or a version in its chain",
                    crate::plain::one_line(&i.roster_sha256.chars().take(16).collect::<String>())
                )
            })?
            .clone();
        intact_so_far(&a.session_dir, &trusted)?;
        let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let (c, mut r) = crate::session::resume(&i, clock.clone(), roster, sigs, vec![], env.outside())?;
        r.keys = env.piv_keys()?;
        (c, r)
    };
    if !a.auto {
        let start = crate::app::Start {
            mode: i.mode,
            reason: Some(reason),
            scenario: Scenario::Standard,
            overdue: None,
            previous: vec![],
            warnings: vec![format!("RECOVERY of session {}: a quorum checks in to close it", i.session_id)],
            archiver: archiver(env),
        };
        return crate::app::run(c, r, clock, start);
    }
    crate::demo::play(&mut c, &mut r, i.mode, &reason, Scenario::Standard);
    match &c.phase() {
        Phase::Summary => {
            errln!(
                "DEMO session {} recovered: {} entries before, signed by {}",
                i.session_id,
                i.recovery.entries,
                c.signed().join(" and ")
            );
            outln!("{}", r.dir.display());
            Ok(0)
        }
        Phase::Halted(why) => Ok(halted(why, &r.dir)),
        other => {
            bail!(
                "the unattended recovery stopped at {other:?}: {}",
                c.message().as_ref().map_or_else(|| "no message".to_string(), |m| crate::words::words(&m.say, &c))
            )
        }
    }
}

/// Recovery continues only a journal that verifies as far as it goes: its co-signatures will cover
/// every line, so a line that verify would call forged or out of place (the runbook opened before
/// a quorum checked in, a signature that does not verify, a date in the future) stops it first.
fn intact_so_far(dir: &Path, trusted: &TrustedRoster) -> anyhow::Result<()> {
    // Without the co-signatures over the whole file: the recovery sets them aside (kept as
    // `.before-recovery`), as they are over an earlier journal.
    let rep = verify::verify_journal_part(dir, Ok(trusted))?;
    let bad: Vec<String> = rep
        .problems
        .iter()
        .filter(|p| p.kind != crate::journal::ProblemKind::Interrupted)
        .map(|p| if p.line > 0 { format!("line {}: {}", p.line, p.what) } else { p.what.clone() })
        .collect();
    if !bad.is_empty() {
        bail!(
            "{}: recover continues only a journal that verifies as far as it goes, and this one does not:\n  - {}\nNothing was changed. Keep the directory as evidence (`breakglass verify {}` shows the whole report), and tell the team yourselves that root may have been in use",
            dir.display(),
            bad.join("\n  - "),
            dir.display()
        );
    }
    Ok(())
}

/// `breakglass drill report`.
fn drill_report_cmd(env: &Env, a: &crate::cli::DrillReportArgs) -> anyhow::Result<i32> {
    let since = a.since;
    if !env.data_dir.is_dir() {
        anyhow::bail!(
            "no data directory at {}: check --data-dir (or BREAKGLASS_DATA_DIR); sessions are kept under its sessions/ folder",
            env.data_dir.display()
        );
    }
    let rep = crate::drill::report(&env.config, &env.sessions_dir(), since, chrono::Utc::now())?;
    match a.format {
        crate::cli::Format::Json => emit_json(&format!("{}\n", serde_json::to_string_pretty(&rep)?))?,
        crate::cli::Format::Text => emit(&crate::drill::render_text(&rep))?,
        crate::cli::Format::Md => emit(&crate::drill::render_md(&rep))?,
    }
    if let Some(dir) = &a.export {
        crate::drill::export(&rep, dir)?;
        errln!("evidence pack written to {}", dir.display());
    }
    Ok(0)
}

/// `breakglass audit`: posture checks and root use outside any verified session, for the account
/// the credentials reach.
fn audit_cmd(env: &Env, a: &crate::cli::AuditArgs) -> anyhow::Result<i32> {
    use chrono::{Duration, Utc};
    let now = Utc::now();
    let since = match a.since {
        Some(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now),
        None => now - Duration::days(90),
    };
    let aws = Aws::load(&env.config)?;
    let (account, _) = crate::aws::sts::caller_identity(&aws)?;
    if let Some(want) = &env.config.aws.account_id
        && *want != account
    {
        bail!("the credentials reach account {account}, but aws.account_id = {want} in {}: use the right profile", env.config.describe());
    }
    let facts = crate::aws::posture::gather(
        &aws,
        &account,
        since,
        now + Duration::minutes(1),
        env.config.notice.sns_topic_arn.as_deref(),
        env.config.audit.cloudtrail_bucket.as_deref(),
    );
    // The only cover for root use: sessions that verify against the trusted roster, never DEMO.
    // Sessions are cover only when they verify against the trusted roster: an untrusted configured
    // roster means no session covers anything (and breakglass_roster_healthy says why).
    let anchor = trust::Anchor::for_sessions(&env.config).ok();
    // The sessions: this host's, or (for a reviewer without its disk) the archive's.
    let from_archive = match &a.sessions {
        Some(url) => Some(crate::archive_cmd::download_sessions(env, url)?),
        None => None,
    };
    let sessions_dir = from_archive.as_ref().map_or_else(|| env.sessions_dir(), |(t, _)| t.path().to_path_buf());
    let mut archive = match (&env.config.archive, &from_archive) {
        (_, Some((_, skipped))) => {
            crate::audit::ArchiveState::FromArchive { url: a.sessions.clone().unwrap_or_default(), skipped: skipped.clone() }
        }
        (Some(_), None) => crate::audit::ArchiveState::Checked { archived: 0, recent: 0, late: vec![], changed: vec![] },
        (None, None) => crate::audit::ArchiveState::NotConfigured,
    };
    let AuditSessions { verified, rehearsals, secrets } = audit_sessions(env, anchor.as_ref(), &sessions_dir);
    let trusted = match &anchor {
        Some(trust::Anchor::Configured(t)) => Some(t),
        _ => None,
    };
    let windows = cover_windows(verified, trusted, &mut archive, now);
    let cx = crate::audit::Context {
        now,
        since,
        windows,
        skew: Duration::seconds(i64::from(env.config.audit.clock_skew_seconds)),
        roster: roster_health(env),
        drill_overdue_days: crate::drill::overdue_days(&env.config, &env.sessions_dir()),
        max_admins: env.config.audit.max_admins.max(2),
        archive,
        unrotated: crate::audit::unrotated_secrets(secrets),
    };
    let mut report = crate::audit::evaluate(&facts, &cx);
    report.rehearsal_sessions = rehearsals;
    report.clock_skew_seconds = env.config.audit.clock_skew_seconds;
    if a.organization {
        let trail = env.config.audit.cloudtrail_bucket.as_deref().map(|bucket| crate::aws::org::TrailQuery {
            bucket,
            since,
            until: now + Duration::minutes(1),
        });
        audit_organization(&aws, &account, &cx, trail, &mut report)?;
    }
    if a.json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&crate::audit::render_text(&report))?;
    }
    // A partial organization audit never exits 0.
    let partial = report.organization.as_ref().is_some_and(|o| o.interrupted);
    Ok(if partial { report.exit_code().max(1) } else { report.exit_code() })
}

/// What the audit reads from the session bundles that verify against the trusted roster.
#[derive(Default)]
struct AuditSessions {
    /// Sessions that may cover root use (rule E21), with their directories.
    verified: Vec<(PathBuf, verify::Report)>,
    /// Valid rehearsals on virtual cards (rule E25): listed, never cover.
    rehearsals: Vec<String>,
    /// Each real session's revealed and rotated secrets (rule E28).
    secrets: Vec<crate::audit::SessionSecrets>,
}

/// Verifies every session bundle in `sessions_dir` against `anchor` and sorts what the audit needs.
fn audit_sessions(env: &Env, anchor: Option<&trust::Anchor>, sessions_dir: &Path) -> AuditSessions {
    let mut out = AuditSessions::default();
    if let Ok(rd) = std::fs::read_dir(sessions_dir) {
        for dir in rd.flatten().map(|e| e.path()) {
            let Some(Ok(r)) = anchor.map(|a| a.verify(&env.config, &dir)) else { continue };
            // E28: secrets revealed in any real session under the trusted roster, whatever its
            // verdict (a session nobody co-signed still showed them; a forged reveal can only make
            // the check fail); rotations count only from valid ones.
            if !r.demo && matches!(r.roster_rule, Some(trust::Rule::Pinned | trust::Rule::Chained { .. })) {
                let valid = r.status == verify::Status::Valid;
                out.secrets.push(crate::audit::SessionSecrets {
                    session_id: r.session_id.clone(),
                    started: r.started.clone().unwrap_or_default(),
                    revealed_unrotated: if valid { r.unrotated.clone() } else { r.revealed.clone() },
                    rotated: if valid { r.rotated.clone() } else { vec![] },
                });
            }
            // E21: cover only from a valid, pinned, real session (a bundle checked against its
            // own roster copy proves nothing about who signed it; a drill does not open root; a
            // rehearsal's keys were not attested by Yubico, and the report lists it).
            match r.may_cover() {
                Ok(()) => out.verified.push((dir, r)),
                Err(crate::evidence::Rule::E25) => out.rehearsals.push(r.session_id.clone()),
                Err(_) => {}
            }
        }
    }
    out
}

/// An RFC 3339 timestamp in UTC, or None when it does not parse.
fn audit_ts(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// The roster version a verified rekey retired: only if the version it made is the next one in
/// the trusted chain (a bundle's own claim of a roster change proves nothing).
fn retiring(trusted: Option<&TrustedRoster>, r: &verify::Report) -> Option<String> {
    let k = r.rekey.as_ref()?;
    let next = trusted?.version_with(&k.new_roster_sha256)?;
    (next.previous.as_deref() == Some(k.old_roster_sha256.as_str())).then(|| k.old_roster_sha256.clone())
}

/// When a session's rekey was committed, if it has one.
fn committed_at(r: &verify::Report) -> Option<chrono::DateTime<chrono::Utc>> {
    r.timeline.iter().find(|e| e.kind == kind::RekeyCommitted).and_then(|e| audit_ts(&e.ts))
}

/// The windows of the verified sessions that still cover root use, counting each session's
/// archive standing into `archive` on the way.
fn cover_windows(
    verified: Vec<(PathBuf, verify::Report)>,
    trusted: Option<&TrustedRoster>,
    archive: &mut crate::audit::ArchiveState,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::audit::Window> {
    // When each earlier roster version was retired: the commit time of the verified rekey that
    // replaced it. A session under an earlier version covers root use only if it ended before
    // then (two custodians removed since could otherwise sign a session under their old version).
    // A rekey retires a version only if the version it made is the next one in the trusted chain
    // (a bundle's own claim of a roster change proves nothing); the earliest such commit counts.
    let mut retired = crate::audit::Retired::new();
    for (_, r) in &verified {
        if let (Some(old), Some(at)) = (retiring(trusted, r), committed_at(r)) {
            retired.entry(old).and_modify(|t| *t = (*t).min(at)).or_insert(at);
        }
    }
    let current = trusted.map(|t| t.roster().sha256());
    let mut windows = vec![];
    for (dir, r) in verified {
        windows.extend(session_window(&dir, &r, trusted, current.as_deref(), &retired));
        count_archived(archive, &dir, &r, now);
    }
    windows
}

/// One verified session's window, or None when it lacks a start or an end, or ran under a roster
/// version already retired when it ended.
fn session_window(
    dir: &Path,
    r: &verify::Report,
    trusted: Option<&TrustedRoster>,
    current: Option<&str>,
    retired: &crate::audit::Retired,
) -> Option<crate::audit::Window> {
    let released = r.notices.iter().filter(|n| n.phase == "released" || n.phase == "aborted").map(|n| n.ts.clone()).next_back();
    let window_end = released.or(r.ended.clone()).as_deref().and_then(audit_ts);
    let (Some(start), Some(end)) = (r.started.as_deref().and_then(audit_ts), window_end) else { return None };
    if crate::audit::superseded(r.roster_sha256.as_deref(), current, retiring(trusted, r).as_deref().zip(committed_at(r)), end, retired) {
        return None;
    }
    let done = r.timeline.iter().filter(|e| e.kind == kind::StepDone).count()
        - r.timeline
            .iter()
            .filter(|e| e.kind == kind::StepUndone)
            .count()
            .min(r.timeline.iter().filter(|e| e.kind == kind::StepDone).count());
    let total = r.runbook_steps.unwrap_or(0);
    let gaps = r.recoveries.iter().filter_map(|g| Some((audit_ts(&g.last_ts_before)?, audit_ts(&g.recovered_ts)?))).collect();
    let account = crate::archive::session_of(dir).ok().map(|(_, a)| a).filter(|a| crate::config::is_account_id(a));
    Some(crate::audit::Window { session_id: r.session_id.clone(), start, end, steps: (done, total), account, gaps })
}

/// Counts one verified session's bundle into `archive` when it is checked against the archive:
/// archived, changed, closed within the hour, or late.
fn count_archived(archive: &mut crate::audit::ArchiveState, dir: &Path, r: &verify::Report, now: chrono::DateTime<chrono::Utc>) {
    let ended = r.ended.as_deref().and_then(audit_ts);
    if let crate::audit::ArchiveState::Checked { archived, recent, late, changed } = archive {
        match crate::archive::bundle_files(dir).and_then(|f| crate::archive::standing(dir, &f)) {
            Ok(crate::archive::Standing::Archived(_)) => *archived += 1,
            Ok(crate::archive::Standing::Changed { .. }) | Err(_) => changed.push(r.session_id.clone()),
            Ok(crate::archive::Standing::Queued) => {
                if ended.is_none_or(|e| now - e > chrono::Duration::hours(1)) {
                    late.push(r.session_id.clone());
                } else {
                    *recent += 1;
                }
            }
        }
    }
}

/// Rule E23: a healthy roster is pinned, survives one absent custodian, and its runbook is signed;
/// else why not.
fn roster_health(env: &Env) -> Result<String, String> {
    match trust::resolve(&env.config, None, None) {
        Err(e) => Err(e.to_string()),
        Ok(t) if *t.rule() == trust::Rule::Unpinned => Err(format!(
            "{}: nothing pins it, so one person holding two keys could have made it; pin it ([trust] roster_sha256 in {})",
            t.describe(),
            env.config.describe()
        )),
        Ok(t) if t.roster().quorum >= t.roster().custodians.len() => Err(format!(
            "quorum {} of {} custodians: with one absent, nobody can open root",
            t.roster().quorum,
            t.roster().custodians.len()
        )),
        Ok(t) => match env.config.runbook_path().map(|p| {
            crate::seal::Sealed::read_dir(&p).map_err(|e| e.to_string()).and_then(|s| s.check_signed(&t).map_err(|e| e.to_string()))
        }) {
            None => Err("no sealed runbook is configured (paths.runbook)".into()),
            Some(Err(e)) => Err(e),
            Some(Ok(())) => Ok(format!("{}; a quorum can open root with one custodian absent; the runbook is signed for it", t.describe())),
        },
    }
}

/// `audit --organization`: every member account's root user, through sts:AssumeRoot (the
/// management account is the one audited already), and its root events in the organization
/// trail against the same windows (rule E29), added to `report`.
fn audit_organization(
    aws: &Aws,
    account: &str,
    cx: &crate::audit::Context,
    trail: Option<crate::aws::org::TrailQuery<'_>>,
    report: &mut crate::audit::Report,
) -> anyhow::Result<()> {
    let members = crate::aws::org::members(aws, account)
        .map_err(|e| anyhow::anyhow!("{e}\n--organization needs the management (or delegated administrator) account's credentials"))?;
    let stop = crate::aws::org::stop_on_ctrl_c();
    let started = std::time::Instant::now();
    let read = crate::aws::org::audit_members(aws, &members, &stop, trail);
    for (id, m) in &read.results {
        report.checks.extend(crate::audit::member_checks(id, &m.audit));
        if let Some(events) = &m.root_events {
            let (c, activity) = crate::audit::member_root_use(id, events, cx);
            report.checks.push(c);
            report.root_activity.extend(activity);
        }
    }
    if trail.is_none() {
        report.checks.push(crate::audit::members_root_use_unread());
    }
    // Stopped early: every account not read says so (an ERROR row), never silence.
    for (id, _) in members.iter().filter(|(id, _)| !read.results.iter().any(|(r, _)| r == id)) {
        report.checks.extend(crate::audit::member_checks(id, &Err("not read: the audit was interrupted (Ctrl-C)".into())));
    }
    report.root_activity.sort_by(|a, b| a.time.cmp(&b.time));
    report.organization = Some(crate::audit::OrgSummary {
        accounts: members.len(),
        audited: read.results.len(),
        unreachable: read.results.iter().filter(|(_, m)| m.audit.is_err()).count(),
        interrupted: read.interrupted,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

/// The first time a roster version is used on this host, the team hears that the custodians
/// changed: a "roster changed" notice naming the version, who is in it and its fingerprint.
/// Remembered in `<data dir>/roster-seen` only once delivered, so a failure is retried next time.
/// The notice is about the real roster, whatever the session that first uses it (a drill
/// included): it is never marked DRILL, so nobody ignores a real change of custodians.
fn announce_roster(env: &Env, t: &TrustedRoster, b: &mut dyn Broadcaster) {
    let r = t.roster();
    let seen_path = env.data_dir.join("roster-seen");
    let seen = std::fs::read_to_string(&seen_path).unwrap_or_default();
    if seen.trim() == r.sha256() {
        return;
    }
    let now = crate::clock::rfc3339_ms(SystemClock::new().now());
    let notice = crate::notice::Notice {
        session_id: format!("roster-v{}-{}", r.version, &r.sha256()[..12]),
        phase: crate::notice::Phase::RosterChanged,
        mode: "incident".into(),
        demo: false,
        account: env.config.aws.account_id.clone(),
        custodians: r.custodians.iter().map(|c| format!("{} ({})", c.name, c.id)).collect(),
        reason: format!("roster version {} (quorum {}) is used for the first time on this host; {}", r.version, r.quorum, t.describe()),
        ticket: None,
        host: crate::session::host_name(),
        started: now.clone(),
        at: now,
        journal_hash: r.sha256(),
        journal_words: crate::notice::words_hex(&r.sha256()),
        journal_entry: None,
        idempotency_key: format!("roster-changed:{}", r.sha256()),
        maybe_repeat: false,
    };
    match b.send(&notice) {
        Ok(d) => {
            let _ = std::fs::create_dir_all(&env.data_dir);
            let _ = crate::fsread::write_atomic(&seen_path, r.sha256().as_bytes());
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

fn verify_cmd(env: &Env, dir: &Path, json: bool, roster: Option<&Path>) -> anyhow::Result<i32> {
    let report = match verify::verify(dir, &env.config, roster) {
        Ok(mut r) => {
            if roster.is_none()
                && env.config.roster_path().is_some()
                && let Ok(t) = trust::resolve(&env.config, None, None)
                && let Some(why) = trust::rolled_back(&t, env.config.trust.min_version)
            {
                r.warnings.push(format!("the configured roster looks rolled back: {why}"));
            }
            r
        }
        Err(e) if json => {
            emit_json(&format!("{}\n", serde_json::json!({"status": "error", "error": e.to_string()})))?;
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&verify::render_text(&report))?;
    }
    let code = report.exit_code();
    // The process ends right after: freeing a 100,000-entry timeline one string at a time would
    // only make the reviewer wait.
    std::mem::forget(report);
    Ok(code)
}

fn seal_cmd(env: &Env, roster_path: &Path, runbook: &Path, out: &Path) -> anyhow::Result<i32> {
    let roster = Roster::load(roster_path)?;
    if let Err(e) = trust::check_file(roster_path, env.config.trust.roster_sha256.as_deref(), trust::Source::Given(roster_path.into())) {
        errln!("warning: roster {}: {e}\n(sealing anyway; the ceremony will refuse an untrusted roster)", roster_path.display());
    }
    let text = std::fs::read(runbook).with_context(|| format!("cannot read the runbook {}: check the path", runbook.display()))?;
    let md = std::str::from_utf8(&text).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text: a runbook is Markdown", runbook.display()))?;
    let rb = crate::runbook::Runbook::parse(md);
    if rb.steps.is_empty() {
        errln!("warning: {} has no `- [ ]` steps; the ceremony will have nothing to check off", runbook.display());
    }
    // The next serial after the live sealing's (and after the newest this host opened), so that
    // the one it replaces, put back later, is refused.
    let live = env.config.runbook_path().and_then(|p| crate::seal::Sealed::read_dir(&p).ok()).map_or(0, |s| s.manifest.serial);
    let opened = trust::read_state(&env.data_dir).ok().flatten().map_or(0, |s| s.runbook_serial);
    let serial = live.max(opened) + 1;
    let sealed = crate::seal::seal_serial(&roster, &text, serial)?;
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
        out.join(crate::seal::MANIFEST).display(),
        out.display(),
        roster_path.display()
    );
    outln!("Now delete or securely store the plaintext {}: it should not stay on disk.", runbook.display());
    Ok(0)
}

/// Finishes or sets aside a secret rotation that was interrupted (see [`crate::rotate::settle`]),
/// saying which.
pub fn settle_rotation(env: &Env) -> anyhow::Result<crate::rotate::Settled> {
    use crate::rotate::Settled;
    let Some(runbook) = env.config.runbook_path() else { return Ok(Settled::Nothing) };
    let settled = crate::rotate::settle(&runbook)?;
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

fn roster_path(env: &Env, p: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    p.or_else(|| env.config.roster_path())
        .context("which roster? Pass the file (e.g. `breakglass roster check roster.toml`) or set paths.roster in breakglass.toml")
}

/// Finishes or undoes a rekey that was interrupted (see [`crate::rekey::settle`]), saying which.
pub fn settle_rekey(env: &Env) -> anyhow::Result<crate::rekey::Settled> {
    use crate::rekey::{Paths, Settled};
    let (Some(roster), Some(runbook)) = (env.config.roster_path(), env.config.runbook_path()) else {
        return Ok(Settled::Nothing);
    };
    let paths = Paths { roster, runbook };
    if !paths.pending() {
        return Ok(Settled::Nothing);
    }
    let _lock = match crate::rekey::lock(&paths) {
        Ok(l) => l,
        Err(crate::rekey::RekeyError::Busy(p)) => {
            bail!("a rekey is running on this roster right now ({} is locked): wait until it ends, then try again", p.display())
        }
        Err(e) => return Err(e.into()),
    };
    let settled = crate::rekey::settle(&paths)?;
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

fn roster_cmd(env: &Env, cmd: RosterCmd) -> anyhow::Result<i32> {
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
                    crate::plain::one_line(&c.name),
                    c.yubikey_serial,
                    key,
                    crate::plain::one_line(&c.email)
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
            } else if settle_rekey(env)? == crate::rekey::Settled::Nothing && settle_rotation(env)? == crate::rotate::Settled::Nothing {
                outln!("no interrupted rekey or rotation: the roster and the sealed runbook are as they were");
            }
            Ok(0)
        }
        RosterCmd::Sign { roster, id, with } => roster_sign(&roster, &id, &with, pin),
    }
}

/// `breakglass roster check`: the roster's version, fingerprint, attestations and trust; 1 when
/// the ceremony would refuse it.
fn roster_check(env: &Env, roster: Option<PathBuf>, pin: Option<&str>) -> anyhow::Result<i32> {
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
    outln!("fingerprint words: {}", crate::notice::words_hex(&r.sha256()));
    // The attestation certificates an entry names are checked, never just carried along.
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut attested_ok = true;
    let store = env.config.attestation_store().map_err(anyhow::Error::msg)?;
    if let Some(w) = env.config.rehearsal_warning() {
        outln!("{w}");
    }
    for c in r.custodians.iter().filter(|c| !c.attestation.is_empty()) {
        match crate::attest::check_roster_entry(&dir, c, &store, chrono::Utc::now()) {
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
fn roster_sign(roster: &Path, id: &str, with: &crate::cli::SignWith, pin: Option<&str>) -> anyhow::Result<i32> {
    let r = Roster::load(roster)?;
    let history = roster.parent().unwrap_or(Path::new(".")).join("history");
    // A rotation is signed by the previous version's custodians too (removed ones included).
    let previous = r.previous.as_ref().and_then(|h| Roster::load(&history.join(format!("{h}.toml"))).ok());
    let expected = r
        .key(id)
        .or_else(|| previous.as_ref().and_then(|p| p.key(id)))
        .with_context(|| format!("`{id}` is not a custodian in {} (nor in its previous version)", roster.display()))?
        .clone();
    let out = sign_with(with, roster, &r.bytes, crate::sign::ROSTER_NAMESPACE, id, &expected)?;
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
        crate::fsread::write_atomic(&h, &r.bytes)?;
    }
    let sig = std::fs::read(&out)?;
    crate::fsread::write_atomic(&sig_path(&h, id), &sig)?;
    outln!("kept a copy in {}", h.display());
    match trust::check_file(roster, pin, trust::Source::Given(roster.to_path_buf())) {
        Ok(t) => outln!("trusted: {}", t.describe()),
        Err(e) => outln!("{e}"),
    }
    Ok(0)
}

/// Signs `file` (whose bytes are `bytes`) as `id` with a software key file or on a YubiKey, and
/// writes `<file>.<id>.sig`; returns its path.
fn sign_with(
    with: &crate::cli::SignWith,
    file: &Path,
    bytes: &[u8],
    namespace: &str,
    id: &str,
    expected: &ssh_key::PublicKey,
) -> anyhow::Result<PathBuf> {
    if let Some(key) = &with.key {
        return crate::sign::sign_file_with_key(file, bytes, namespace, id, key, expected).map_err(anyhow::Error::msg);
    }
    let serial = crate::card::which_serial(with.serial)?;
    let pem = crate::card::sign(serial, id, expected, namespace, bytes, &mut crate::card::Prompter::new())?;
    let out = crate::roster::sig_path(file, id);
    crate::fsread::write_atomic(&out, pem.as_bytes())?;
    Ok(out)
}

fn runbook_cmd(env: &Env, cmd: RunbookCmd) -> anyhow::Result<i32> {
    match cmd {
        RunbookCmd::Check { dir, roster } => {
            let dir = dir.or_else(|| env.config.runbook_path()).context("which sealed runbook? Pass the directory or set paths.runbook")?;
            let sealed = crate::seal::Sealed::read_dir(&dir)?;
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
            let sealed = crate::seal::Sealed::read_dir(&dir)?;
            let rp = roster.or_else(|| env.config.roster_path()).context("which roster? Pass --roster FILE or set paths.roster")?;
            let r = Roster::load(&rp)?;
            if sealed.manifest.roster_sha256 != r.sha256() {
                bail!("{} was sealed for another roster than {}: re-seal it for this roster first", dir.display(), rp.display());
            }
            let expected = r.key(&id).with_context(|| format!("`{id}` is not a custodian in {}", rp.display()))?.clone();
            let m = dir.join(crate::seal::MANIFEST);
            let out = sign_with(&with, &m, &sealed.manifest_bytes, crate::sign::RUNBOOK_NAMESPACE, &id, &expected)?;
            outln!("wrote {}", out.display());
            Ok(0)
        }
    }
}

/// One inserted key, checked as check-in will: its slot 9c (and 82) attestation chains to the
/// trust store, and proves the roster's keys for the custodian whose serial it is.
/// `Some(false)` (FAIL) is a roster custodian's key that check-in would refuse; a key on no
/// roster is only a warning (`None`).
fn doctor_key(serial: u32, roster: Option<&Roster>, store: &crate::attest::TrustStore) -> (Option<bool>, String) {
    let custodian = roster.and_then(|r| r.custodians.iter().find(|c| c.yubikey_serial == serial));
    let (ok, what) = doctor_key_checks(serial, custodian, store);
    (
        if ok {
            Some(true)
        } else if custodian.is_some() {
            Some(false)
        } else {
            None
        },
        what,
    )
}

fn doctor_key_checks(serial: u32, custodian: Option<&crate::roster::Custodian>, store: &crate::attest::TrustStore) -> (bool, String) {
    use crate::token::piv::{AGE_SLOT, PivToken, SIGN_SLOT};
    let mut t = match PivToken::open(serial) {
        Ok(t) => t,
        Err(e) => return (false, format!("serial {serial}: {e}")),
    };
    let now = chrono::Utc::now();
    let (att, f9) = match t.attestation(SIGN_SLOT) {
        Ok(a) => a,
        Err(e) => return (false, format!("serial {serial}: slot 9c cannot be attested ({e}): enrol the key with `breakglass enroll`")),
    };
    let a = match crate::attest::verify_chain(&att, &f9, store, now) {
        Ok(a) => a,
        Err(e) => return (false, format!("serial {serial}: check-in would refuse this key: {e}")),
    };
    let root = a.chain.last().cloned().unwrap_or_default();
    let Some(c) = custodian else {
        return (true, format!("serial {serial}: attested by {root}; not on the roster"));
    };
    let req = match crate::attest::Requirement::signing(&c.id, serial, &c.signing_key) {
        Ok(r) => r,
        Err(e) => return (false, format!("serial {serial} ({}): {e}", c.id)),
    };
    if let Err(e) = crate::attest::check(&a, &req) {
        return (false, format!("serial {serial} ({}): check-in would refuse it: {e}", c.id));
    }
    if c.age_recipient.starts_with("age1yubikey1") {
        let runbook = t.attestation(AGE_SLOT).map_err(|e| e.to_string()).and_then(|(att, f9)| {
            let a = crate::attest::verify_chain(&att, &f9, store, now).map_err(|e| e.to_string())?;
            let req = crate::attest::Requirement::runbook(&c.id, serial, &c.age_recipient).map_err(|e| e.to_string())?;
            crate::attest::check(&a, &req).map_err(|e| e.to_string())
        });
        if let Err(e) = runbook {
            return (false, format!("serial {serial} ({}): slot 82 does not hold the roster's runbook key: {e}", c.id));
        }
    }
    (true, format!("serial {serial} ({}): attested by {root}; slot 9c is {}'s signing key", c.id, c.id))
}

fn doctor(env: &Env) -> anyhow::Result<i32> {
    let mut bad = 0;
    let mut line = |ok: Option<bool>, what: &str, detail: String| {
        let mark = match ok {
            Some(true) => "ok  ",
            Some(false) => {
                bad += 1;
                "FAIL"
            }
            None => "warn",
        };
        outln!("{mark} {what:<18} {detail}");
    };
    match &env.config.source {
        Some(p) => line(Some(true), "config", p.display().to_string()),
        None => line(None, "config", format!("none: {} (defaults in use)", env.config.describe())),
    }
    if let Some(w) = env.config.rehearsal_warning() {
        line(None, "REHEARSAL", w);
    }
    match std::fs::create_dir_all(&env.data_dir) {
        Ok(()) => line(Some(true), "data dir", env.data_dir.display().to_string()),
        Err(_) if env.data_dir.is_file() => {
            line(Some(false), "data dir", format!("{} is a file, not a directory: pass --data-dir DIR", env.data_dir.display()))
        }
        Err(e) => line(Some(false), "data dir", format!("{}: {e}", env.data_dir.display())),
    }
    let roster_for_keys = doctor_roster(env, &mut line);
    match env.config.runbook_path() {
        None => line(None, "sealed runbook", "paths.runbook is not set".into()),
        Some(p) => match crate::seal::Sealed::read_dir(&p) {
            Ok(s) => line(Some(true), "sealed runbook", format!("{}: {} files, quorum {}", p.display(), s.files.len(), s.manifest.quorum)),
            Err(e) => line(Some(false), "sealed runbook", e.to_string()),
        },
    }
    for (tool, why) in [("age", "reviewers open sealed runbooks by hand"), ("ssh-keygen", "reviewers verify signatures by hand")] {
        let found = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
        line(if found { Some(true) } else { None }, tool, if found { "found".into() } else { format!("not found on PATH ({why})") });
    }
    doctor_keys(env, roster_for_keys.as_ref(), &mut line);
    doctor_aws(env, &mut line);
    doctor_archive(env, &mut line);
    for d in crate::session::interrupted_sessions(&env.sessions_dir()) {
        line(
            Some(false),
            "interrupted",
            format!("{}: never closed or signed; root may still be in use: `breakglass recover {}`", d.display(), d.display()),
        );
    }
    let overdue = crate::drill::overdue_days(&env.config, &env.sessions_dir());
    match overdue {
        Some(d) if d > 0 => line(
            None,
            "drills",
            format!(
                "last valid drill is {d} day(s) overdue (interval {} days): run `breakglass ceremony --drill`",
                env.config.drill.interval_days
            ),
        ),
        Some(_) => line(Some(true), "drills", "a valid drill within the interval".into()),
        None => line(None, "drills", "no valid drill found: rehearse with `breakglass ceremony --drill`".into()),
    }
    Ok(if bad > 0 { 1 } else { 0 })
}

/// `doctor`'s roster checks: trust, history, quorum, version, an interrupted rekey and the sealed
/// runbook's signatures; returns the trusted roster, for the key checks.
fn doctor_roster(env: &Env, line: &mut dyn FnMut(Option<bool>, &str, String)) -> Option<Roster> {
    let mut roster_for_keys = None;
    match env.config.roster_path() {
        None => line(None, "roster", "paths.roster is not set (only `breakglass demo` can run)".into()),
        Some(_) => match trust::resolve(&env.config, None, None) {
            Ok(t) => {
                line(if t.warning().is_some() { None } else { Some(true) }, "roster", t.describe());
                // A rollback or a fork against the newest version this host trusted.
                if let Err(e) = trust::check_state(&env.data_dir, &t) {
                    line(Some(false), "roster history", e.to_string());
                }
                let r = t.roster();
                if r.custodians.len() <= r.quorum {
                    line(
                        None,
                        "quorum",
                        format!(
                            "{}-of-{}: every custodian is needed for every ceremony; one lost key or one absent person locks root out \
                             (and `audit` FAILs breakglass_roster_healthy). Add a spare custodian: `breakglass roster rekey --add FILE`",
                            r.quorum,
                            r.custodians.len()
                        ),
                    );
                } else {
                    line(Some(true), "quorum", format!("{}-of-{}: a spare pair can step in", r.quorum, r.custodians.len()));
                }
                roster_for_keys = Some(r.clone());
                if let Some(why) = trust::rolled_back(&t, env.config.trust.min_version) {
                    line(Some(false), "roster version", why);
                } else if t.roster().version > 1 && env.config.trust.min_version.is_none_or(|m| m < t.roster().version) {
                    line(
                        None,
                        "roster version",
                        format!(
                            "version {} is in use but [trust] min_version is {}: so that an older version put back is refused, put in {}:\n{}",
                            t.roster().version,
                            env.config.trust.min_version.map_or("not set".into(), |m| m.to_string()),
                            env.config.describe(),
                            crate::trust::pin_lines(&t.roster().sha256(), t.roster().version)
                        ),
                    );
                }
                if let Some(p) = env.config.runbook_path()
                    && (crate::rekey::Paths { roster: t.roster().path.clone().unwrap_or_default(), runbook: p }).pending()
                {
                    line(Some(false), "rekey", "an interrupted rekey left its staging: run `breakglass roster settle`".into());
                }
                if let Some(p) = env.config.runbook_path()
                    && let Ok(s) = crate::seal::Sealed::read_dir(&p)
                {
                    if let Err(e) = s.check_signed(&t) {
                        line(Some(false), "runbook signed", e.to_string());
                    }
                    if let Err(e) = trust::check_runbook_serial(&env.data_dir, s.manifest.serial) {
                        line(Some(false), "runbook serial", e);
                    }
                }
            }
            Err(e) => line(Some(false), "roster", e.to_string()),
        },
    }
    roster_for_keys
}

/// `doctor`'s key checks: the inserted YubiKeys and other cards, and each key's attestation
/// against the trust store and `roster`.
fn doctor_keys(env: &Env, roster: Option<&Roster>, line: &mut dyn FnMut(Option<bool>, &str, String)) {
    match crate::token::piv::scan() {
        Ok((keys, others)) => {
            let list = keys.iter().map(|k| format!("{} (serial {})", k.model, k.serial)).collect::<Vec<_>>().join(", ");
            line(if keys.is_empty() { None } else { Some(true) }, "YubiKeys", if keys.is_empty() { "none inserted".into() } else { list });
            for o in others {
                line(None, "other card", o);
            }
            // What check-in will check, now rather than during the incident: each key's
            // attestation against the trust store, and that it proves the roster's keys.
            match env.config.attestation_store() {
                Err(e) => line(Some(false), "attestation", e),
                Ok(store) => {
                    for k in &keys {
                        let (ok, what) = doctor_key(k.serial, roster, &store);
                        line(ok, "key attestation", what);
                    }
                }
            }
        }
        Err(e) => line(None, "YubiKeys (PC/SC)", e.to_string()),
    }
}

/// `doctor`'s AWS checks: the account the credentials reach and the notice topic's subscriptions.
fn doctor_aws(env: &Env, line: &mut dyn FnMut(Option<bool>, &str, String)) {
    let c = &env.config;
    if c.aws.account_id.is_none() && c.notice.sns_topic_arn.is_none() {
        line(None, "AWS", "not configured (aws.account_id, notice.sns_topic_arn): notices go to the local outbox".into());
    } else {
        match Aws::load(c) {
            Err(e) => line(Some(false), "AWS", e.to_string()),
            Ok(aws) => {
                match crate::aws::sts::caller_identity(&aws) {
                    Ok((account, arn)) => match &c.aws.account_id {
                        Some(want) if *want != account => {
                            line(Some(false), "AWS account", format!("credentials reach {account} ({arn}), but aws.account_id = {want}"))
                        }
                        _ => line(Some(true), "AWS account", format!("{account} as {arn}")),
                    },
                    Err(e) => line(Some(false), "AWS account", e.to_string()),
                }
                if let Some(arn) = &c.notice.sns_topic_arn {
                    let b = SnsBroadcaster { aws, topic_arn: arn.clone() };
                    match b.confirmed_subscriptions() {
                        Ok(0) => {
                            line(Some(false), "notice topic", format!("{arn} has no confirmed subscription: alerts would reach nobody"))
                        }
                        Ok(n) => line(Some(true), "notice topic", format!("{arn}: {n} confirmed subscription(s)")),
                        Err(e) => line(Some(false), "notice topic", e.to_string()),
                    }
                }
            }
        }
    }
}

/// `doctor`'s evidence archive checks: reachable, and no bundle left unarchived or changed.
fn doctor_archive(env: &Env, line: &mut dyn FnMut(Option<bool>, &str, String)) {
    match &env.config.archive {
        None => line(None, "evidence archive", "not configured ([archive] bucket): signed bundles exist only on this host".into()),
        Some(a) => {
            match crate::archive_cmd::check_reachable(env, a) {
                Ok(()) => line(Some(true), "evidence archive", format!("s3://{} (Object Lock, {} days)", a.bucket, a.retention_days)),
                Err(e) => line(Some(false), "evidence archive", e),
            }
            let (queued, changed) = crate::archive_cmd::backlog(env);
            if !queued.is_empty() {
                line(None, "not archived", format!("{}: run `breakglass archive push`", queued.join(", ")));
            }
            if !changed.is_empty() {
                line(
                    Some(false),
                    "changed bundles",
                    format!("{}: changed after archiving; `breakglass archive verify SESSION` compares", changed.join(", ")),
                );
            }
        }
    }
}
