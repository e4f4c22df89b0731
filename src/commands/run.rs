//! The command line's dispatcher: loads the configuration, settles what an interrupted rekey or
//! rotation left, and runs the command, each in its own file of `src/commands/`. Errors here are
//! for people: each one names the thing and the next step.

use crate::commands::cli::{Cli, Command, DrillCmd, RosterCmd};

pub use crate::commands::env::{Env, emit, emit_json};

use super::audit_cmd::audit_cmd;
use super::ceremony_cmd::{ceremony, demo};
use super::doctor::doctor;
use super::drill_cmd::drill_report_cmd;
use super::man::man_page;
use super::offboard_cmd::{demo_offboard, offboard_cmd};
use super::recover_cmd::recover_cmd;
use super::rekey_cmd::demo_rekey;
use super::roster_cmd::{roster_cmd, settle_rekey};
use super::runbook_cmd::{runbook_cmd, seal_cmd, settle_rotation};
use super::verify_cmd::verify_cmd;

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
        match crate::adapters::session::lock_data_dir(&env.data_dir) {
            Ok(lock) => Some(lock),
            Err(busy @ crate::adapters::session::LockError::DataBusy { .. }) => return Err(busy.into()),
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
        && (crate::core::rekey::Paths { roster, runbook }).pending()
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
        Command::Archive(cmd) => crate::commands::archive_cmd::run(&env, cmd),
        Command::Audit(a) => match audit_cmd(&env, &a) {
            // A machine reading --json gets the error as JSON too.
            Err(e) if a.json => {
                emit_json(&format!("{}\n", serde_json::json!({"status": "error", "error": format!("{e:#}")})))?;
                Ok(2)
            }
            other => other,
        },
        Command::Enroll(a) => crate::commands::enroll::run(&a),
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
