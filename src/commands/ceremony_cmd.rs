//! `breakglass ceremony` and `breakglass demo`: the ceremony on YubiKeys, or on the DEMO keys.

use crate::core::ceremony::{Mode, Phase, Scenario};
use crate::core::clock::{Clock, SystemClock};
use crate::core::trust;
use anyhow::{Context, bail};
use std::sync::Arc;

use crate::commands::env::Env;

use super::start::{
    announce_roster, archive_after, archiver, check_data_dir, check_scenario, for_ceremony, interrupted_warnings, remember_live,
    runbook_for_ceremony,
};
use crate::terminal::app::halted;

pub(crate) fn demo(env: &Env, auto: bool, archive: bool, mode: Mode, reason: Option<String>, scenario: Scenario) -> anyhow::Result<i32> {
    if archive && env.config.archive.is_none() {
        bail!(
            "--archive pushes the demo's bundle to the evidence archive, and none is configured: add an [archive] section to {} (docs/archive.md), or leave --archive out",
            env.config.describe()
        );
    }
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (mut c, mut r) = crate::commands::demo::setup(&env.data_dir, clock.clone(), env.outside())?;
    check_scenario(&scenario, c.roster().as_slice(), "the demo roster")?;
    if !auto {
        let start = crate::terminal::app::Start {
            mode,
            reason,
            scenario,
            overdue: crate::core::drill::overdue_note(&env.config, &env.sessions_dir()),
            previous: crate::core::drill::previous_times(&env.config, &env.sessions_dir()),
            warnings: interrupted_warnings(env),
            archiver: if archive { archiver(env) } else { None },
        };
        return crate::terminal::app::run(c, r, clock, start);
    }
    let reason = reason.unwrap_or_else(|| "DEMO: unattended rehearsal of the root-recovery runbook".into());
    crate::commands::demo::play(&mut c, &mut r, mode, &reason, scenario);
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
            errln!("chain head at entry #{}: {}", c.last().as_ref().map_or(0, |w| w.seq), crate::core::notice::head_words(&head));
            errln!("verify: breakglass verify {}", r.dir.display());
            let code = if archive { archive_after(env, &r.dir, 0) } else { 0 };
            outln!("{}", r.dir.display());
            Ok(code)
        }
        Phase::Halted(why) => Ok(halted(why, &r.dir)),
        other => bail!(
            "the unattended demo stopped at {other:?}: {}",
            c.message().as_ref().map_or_else(|| "no message".to_string(), |m| crate::terminal::words::words(&m.say, &c))
        ),
    }
}

/// The real ceremony: the configured (quorum-signed) roster, the sealed runbook, YubiKeys.
pub(crate) fn ceremony(env: &Env, a: crate::commands::cli::CeremonyArgs) -> anyhow::Result<i32> {
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
    let sealed = crate::core::seal::Sealed::read_dir(&sealed_path)?;
    sealed.check_signed(&trusted)?;
    runbook_for_ceremony(env, &trusted, &sealed)?;
    let roster = trusted.roster().clone();
    let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let scenario = a.session.scenario.clone().unwrap_or_default();
    check_scenario(&scenario, &crate::core::ceremony::people(&roster), "the roster")?;
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let mut outside = env.outside();
    announce_roster(env, &trusted, outside.broadcaster.as_mut());
    let basis = crate::adapters::session::Basis { roster, roster_sigs: sigs, sealed };
    let (ceremony, mut runner) =
        crate::adapters::session::start(&env.sessions_dir(), clock.clone(), basis, vec![], outside, Default::default());
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
    let start = crate::terminal::app::Start {
        mode,
        reason: a.session.reason,
        scenario,
        overdue: crate::core::drill::overdue_note(&env.config, &env.sessions_dir()),
        previous: crate::core::drill::previous_times(&env.config, &env.sessions_dir()),
        warnings: interrupted_warnings(env),
        archiver: archiver(env),
    };
    let code = crate::terminal::app::run(ceremony, runner, clock, start)?;
    // A rotation swapped a new sealing in: this host opens nothing older from now on.
    remember_live(env);
    Ok(code)
}
