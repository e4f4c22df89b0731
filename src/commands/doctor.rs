//! `breakglass doctor`: what a ceremony on this host would need, checked without starting one.

use crate::adapters::aws::Aws;
use crate::adapters::aws::sns::SnsBroadcaster;
use crate::core::roster::Roster;
use crate::core::trust;

use crate::commands::env::Env;

/// One inserted key, checked as check-in will: its slot 9c (and 82) attestation chains to the
/// trust store, and proves the roster's keys for the custodian whose serial it is.
/// `Some(false)` (FAIL) is a roster custodian's key that check-in would refuse; a key on no
/// roster is only a warning (`None`).
pub(crate) fn doctor_key(serial: u32, roster: Option<&Roster>, store: &crate::core::attest::TrustStore) -> (Option<bool>, String) {
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

pub(crate) fn doctor_key_checks(
    serial: u32,
    custodian: Option<&crate::core::roster::Custodian>,
    store: &crate::core::attest::TrustStore,
) -> (bool, String) {
    use crate::adapters::token::piv::{AGE_SLOT, PivToken, SIGN_SLOT};
    let mut t = match PivToken::open(serial) {
        Ok(t) => t,
        Err(e) => return (false, format!("serial {serial}: {e}")),
    };
    let now = chrono::Utc::now();
    let (att, f9) = match t.attestation(SIGN_SLOT) {
        Ok(a) => a,
        Err(e) => return (false, format!("serial {serial}: slot 9c cannot be attested ({e}): enrol the key with `breakglass enroll`")),
    };
    let a = match crate::core::attest::verify_chain(&att, &f9, store, now) {
        Ok(a) => a,
        Err(e) => return (false, format!("serial {serial}: check-in would refuse this key: {e}")),
    };
    let root = a.chain.last().cloned().unwrap_or_default();
    let Some(c) = custodian else {
        return (true, format!("serial {serial}: attested by {root}; not on the roster"));
    };
    let req = match crate::core::attest::Requirement::signing(&c.id, serial, &c.signing_key) {
        Ok(r) => r,
        Err(e) => return (false, format!("serial {serial} ({}): {e}", c.id)),
    };
    if let Err(e) = crate::core::attest::check(&a, &req) {
        return (false, format!("serial {serial} ({}): check-in would refuse it: {e}", c.id));
    }
    if c.age_recipient.starts_with("age1yubikey1") {
        let runbook = t.attestation(AGE_SLOT).map_err(|e| e.to_string()).and_then(|(att, f9)| {
            let a = crate::core::attest::verify_chain(&att, &f9, store, now).map_err(|e| e.to_string())?;
            let req = crate::core::attest::Requirement::runbook(&c.id, serial, &c.age_recipient).map_err(|e| e.to_string())?;
            crate::core::attest::check(&a, &req).map_err(|e| e.to_string())
        });
        if let Err(e) = runbook {
            return (false, format!("serial {serial} ({}): slot 82 does not hold the roster's runbook key: {e}", c.id));
        }
    }
    (true, format!("serial {serial} ({}): attested by {root}; slot 9c is {}'s signing key", c.id, c.id))
}

pub(crate) fn doctor(env: &Env) -> anyhow::Result<i32> {
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
        Some(p) => match crate::core::seal::Sealed::read_dir(&p) {
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
    for d in crate::adapters::session::interrupted_sessions(&env.sessions_dir()) {
        line(
            Some(false),
            "interrupted",
            format!("{}: never closed or signed; root may still be in use: `breakglass recover {}`", d.display(), d.display()),
        );
    }
    let overdue = crate::core::drill::overdue_days(&env.config, &env.sessions_dir());
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
pub(crate) fn doctor_roster(env: &Env, line: &mut dyn FnMut(Option<bool>, &str, String)) -> Option<Roster> {
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
                            crate::core::trust::pin_lines(&t.roster().sha256(), t.roster().version)
                        ),
                    );
                }
                if let Some(p) = env.config.runbook_path()
                    && (crate::core::rekey::Paths { roster: t.roster().path.clone().unwrap_or_default(), runbook: p }).pending()
                {
                    line(Some(false), "rekey", "an interrupted rekey left its staging: run `breakglass roster settle`".into());
                }
                if let Some(p) = env.config.runbook_path()
                    && let Ok(s) = crate::core::seal::Sealed::read_dir(&p)
                {
                    if let Err(e) = s.check_signed(&t) {
                        line(Some(false), "runbook signed", e.to_string());
                    }
                    if let Err(e) = trust::check_runbook_serial(&env.data_dir, s.manifest.serial) {
                        line(Some(false), "runbook serial", e.to_string());
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
pub(crate) fn doctor_keys(env: &Env, roster: Option<&Roster>, line: &mut dyn FnMut(Option<bool>, &str, String)) {
    match crate::adapters::token::piv::scan() {
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
pub(crate) fn doctor_aws(env: &Env, line: &mut dyn FnMut(Option<bool>, &str, String)) {
    let c = &env.config;
    if c.aws.account_id.is_none() && c.notice.sns_topic_arn.is_none() {
        line(None, "AWS", "not configured (aws.account_id, notice.sns_topic_arn): notices go to the local outbox".into());
    } else {
        match Aws::load(c) {
            Err(e) => line(Some(false), "AWS", e.to_string()),
            Ok(aws) => {
                match crate::adapters::aws::sts::caller_identity(&aws) {
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
pub(crate) fn doctor_archive(env: &Env, line: &mut dyn FnMut(Option<bool>, &str, String)) {
    match &env.config.archive {
        None => line(None, "evidence archive", "not configured ([archive] bucket): signed bundles exist only on this host".into()),
        Some(a) => {
            match crate::commands::archive_cmd::check_reachable(env, a) {
                Ok(()) => line(Some(true), "evidence archive", format!("s3://{} (Object Lock, {} days)", a.bucket, a.retention_days)),
                Err(e) => line(Some(false), "evidence archive", e),
            }
            let (queued, changed) = crate::commands::archive_cmd::backlog(env);
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
