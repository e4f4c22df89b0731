//! `breakglass audit`: root-account posture and root use outside any verified session.

use crate::adapters::aws::Aws;
use crate::core::trust;
use anyhow::bail;

use crate::commands::env::{Env, emit, emit_json};

/// `breakglass audit`: posture checks and root use outside any verified session, for the account
/// the credentials reach.
pub(crate) fn audit_cmd(env: &Env, a: &crate::commands::cli::AuditArgs) -> anyhow::Result<i32> {
    use chrono::{Duration, Utc};
    let now = Utc::now();
    let since = match a.since {
        Some(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now),
        None => now - Duration::days(90),
    };
    let aws = Aws::load(&env.config)?;
    let (account, _) = crate::adapters::aws::sts::caller_identity(&aws)?;
    if let Some(want) = &env.config.aws.account_id
        && *want != account
    {
        bail!("the credentials reach account {account}, but aws.account_id = {want} in {}: use the right profile", env.config.describe());
    }
    let facts = crate::adapters::aws::posture::gather(
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
        Some(url) => Some(crate::commands::archive_cmd::download_sessions(env, url)?),
        None => None,
    };
    let sessions_dir = from_archive.as_ref().map_or_else(|| env.sessions_dir(), |(t, _)| t.path().to_path_buf());
    let mut archive = match (&env.config.archive, &from_archive) {
        (_, Some((_, skipped))) => {
            crate::core::audit::ArchiveState::FromArchive { url: a.sessions.clone().unwrap_or_default(), skipped: skipped.clone() }
        }
        (Some(_), None) => crate::core::audit::ArchiveState::Checked { archived: 0, recent: 0, late: vec![], changed: vec![] },
        (None, None) => crate::core::audit::ArchiveState::NotConfigured,
    };
    let crate::core::cover::Sessions { verified, rehearsals, secrets } =
        crate::core::cover::sessions(&env.config, anchor.as_ref(), &sessions_dir);
    let trusted = match &anchor {
        Some(trust::Anchor::Configured(t)) => Some(t),
        _ => None,
    };
    let windows = crate::core::cover::windows(verified, trusted, &mut archive, now);
    let cx = crate::core::audit::Context {
        now,
        since,
        windows,
        skew: Duration::seconds(i64::from(env.config.audit.clock_skew_seconds)),
        roster: crate::core::cover::roster_health(&env.config),
        drill_overdue_days: crate::core::drill::overdue_days(&env.config, &env.sessions_dir()),
        max_admins: env.config.audit.max_admins.max(2),
        archive,
        unrotated: crate::core::audit::unrotated_secrets(secrets),
    };
    let mut report = crate::core::audit::evaluate(&facts, &cx);
    report.rehearsal_sessions = rehearsals;
    report.clock_skew_seconds = env.config.audit.clock_skew_seconds;
    if a.organization {
        let trail = env.config.audit.cloudtrail_bucket.as_deref().map(|bucket| crate::adapters::aws::org::TrailQuery {
            bucket,
            since,
            until: now + Duration::minutes(1),
        });
        audit_organization(&aws, &account, &cx, trail, &mut report)?;
    }
    if a.json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&crate::core::audit::render_text(&report))?;
    }
    // A partial organization audit never exits 0.
    let partial = report.organization.as_ref().is_some_and(|o| o.interrupted);
    Ok(if partial { report.exit_code().max(1) } else { report.exit_code() })
}

/// `audit --organization`: every member account's root user, through sts:AssumeRoot (the
/// management account is the one audited already), and its root events in the organization
/// trail against the same windows (rule E29), added to `report`.
pub(crate) fn audit_organization(
    aws: &Aws,
    account: &str,
    cx: &crate::core::audit::Context,
    trail: Option<crate::adapters::aws::org::TrailQuery<'_>>,
    report: &mut crate::core::audit::Report,
) -> anyhow::Result<()> {
    let members = crate::adapters::aws::org::members(aws, account)
        .map_err(|e| anyhow::anyhow!("{e}\n--organization needs the management (or delegated administrator) account's credentials"))?;
    let stop = crate::adapters::aws::org::stop_on_ctrl_c();
    let started = std::time::Instant::now();
    let read = crate::adapters::aws::org::audit_members(aws, &members, &stop, trail);
    for (id, m) in &read.results {
        report.checks.extend(crate::core::audit::member_checks(id, &m.audit));
        if let Some(events) = &m.root_events {
            let (c, activity) = crate::core::audit::member_root_use(id, events, cx);
            report.checks.push(c);
            report.root_activity.extend(activity);
        }
    }
    if trail.is_none() {
        report.checks.push(crate::core::audit::members_root_use_unread());
    }
    // Stopped early: every account not read says so (an ERROR row), never silence.
    for (id, _) in members.iter().filter(|(id, _)| !read.results.iter().any(|(r, _)| r == id)) {
        report.checks.extend(crate::core::audit::member_checks(id, &Err("not read: the audit was interrupted (Ctrl-C)".into())));
    }
    report.root_activity.sort_by(|a, b| a.time.cmp(&b.time));
    report.organization = Some(crate::core::audit::OrgSummary {
        accounts: members.len(),
        audited: read.results.len(),
        unreachable: read.results.iter().filter(|(_, m)| m.audit.is_err()).count(),
        interrupted: read.interrupted,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(())
}
