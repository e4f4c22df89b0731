//! `breakglass recover`: closes an interrupted session.

use crate::core::ceremony::{Phase, Scenario};
use crate::core::clock::{Clock, SystemClock};
use crate::core::trust;
use crate::core::trust::TrustedRoster;
use crate::core::verify;
use anyhow::{Context, bail};
use std::path::Path;
use std::sync::Arc;

use crate::commands::env::Env;

use super::start::{archiver, for_ceremony};
use crate::terminal::app::halted;

/// `breakglass recover`: closes an interrupted session from its journal alone. DEMO sessions use
/// the built-in DEMO custodians; real ones the configured, pinned roster (the version the session
/// ran under) and YubiKeys.
pub(crate) fn recover_cmd(env: &Env, a: crate::commands::cli::RecoverArgs) -> anyhow::Result<i32> {
    let mut i = crate::adapters::session::read_interrupted(&a.session_dir)?;
    // The recovery's entries are dated no earlier than the last one before it: a journal dated
    // ahead of this host's clock would carry the whole recovery (and the audit's window) with it.
    let horizon = (chrono::Utc::now() + chrono::Duration::minutes(15)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    if i.recovery.last_ts > horizon {
        bail!(
            "{}: the journal's last entry is dated {}, later than this host's clock ({}) by more than 15 minutes. Check the clock (`timedatectl`; recover on the host that ran the session); if it is right, the journal was altered: keep the directory as evidence and do not recover it",
            a.session_dir.display(),
            crate::core::plain::one_line(&i.recovery.last_ts),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    // An interrupted rekey (settled before this command ran): which roster is live now.
    if let Some(new) = i.rekey_new.clone() {
        let live =
            if i.demo { Some(env.data_dir.join("demo-rekey").join(&i.session_id).join("roster.toml")) } else { env.config.roster_path() };
        let live_sha = live.and_then(|p| std::fs::read(p).ok()).map(|b| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)));
        i.recovery.rekey =
            Some(crate::core::ceremony::RekeySettled { new_roster_sha256: new, live_roster_sha256: live_sha.unwrap_or_default() });
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let reason = a.reason.clone().unwrap_or_else(|| format!("recovery of the interrupted session ({})", i.reason));
    let (mut c, mut r) = if i.demo {
        let roster = crate::commands::demo::roster();
        if roster.sha256() != i.roster_sha256 {
            bail!("{}: the session is labelled DEMO but did not run on the built-in DEMO roster", a.session_dir.display());
        }
        intact_so_far(&a.session_dir, &trust::demo())?;
        let tokens = crate::commands::demo::tokens(&roster);
        crate::adapters::session::resume(&i, clock.clone(), roster, crate::commands::demo::roster_sigs(), tokens, env.outside())?
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
                    crate::core::plain::one_line(&i.roster_sha256.chars().take(16).collect::<String>())
                )
            })?
            .clone();
        intact_so_far(&a.session_dir, &trusted)?;
        let sigs = trusted.signatures().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let (c, mut r) = crate::adapters::session::resume(&i, clock.clone(), roster, sigs, vec![], env.outside())?;
        r.keys = env.piv_keys()?;
        (c, r)
    };
    if !a.auto {
        let start = crate::terminal::app::Start {
            mode: i.mode,
            reason: Some(reason),
            scenario: Scenario::Standard,
            overdue: None,
            previous: vec![],
            warnings: vec![format!("RECOVERY of session {}: a quorum checks in to close it", i.session_id)],
            archiver: archiver(env),
        };
        return crate::terminal::app::run(c, r, clock, start);
    }
    crate::commands::demo::play(&mut c, &mut r, i.mode, &reason, Scenario::Standard);
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
                c.message().as_ref().map_or_else(|| "no message".to_string(), |m| crate::terminal::words::words(&m.say, &c))
            )
        }
    }
}

/// Recovery continues only a journal that verifies as far as it goes: its co-signatures will cover
/// every line, so a line that verify would call forged or out of place (the runbook opened before
/// a quorum checked in, a signature that does not verify, a date in the future) stops it first.
pub(crate) fn intact_so_far(dir: &Path, trusted: &TrustedRoster) -> anyhow::Result<()> {
    // Without the co-signatures over the whole file: the recovery sets them aside (kept as
    // `.before-recovery`), as they are over an earlier journal.
    let rep = verify::verify_journal_part(dir, Ok(trusted))?;
    let bad: Vec<String> = rep
        .problems
        .iter()
        .filter(|p| p.kind != crate::core::journal::ProblemKind::Interrupted)
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
