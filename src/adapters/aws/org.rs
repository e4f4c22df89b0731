//! `audit --organization`: every member account's root user, read through `sts:AssumeRoot` with
//! the IAMAuditRootUserCredentials task policy (centralized root access), a bounded number of
//! accounts at a time; with the organization trail's bucket, each member's root events in it too
//! (rule E29). Throttling is retried with backoff (never reported as a failure); an
//! account that cannot be reached gets its own ERROR rows; Ctrl-C stops taking new accounts and
//! the audit reports what it read.

use super::{Aws, classify};
use crate::core::audit::RootEvent;
use crate::core::root::{Action, Audit, Task};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Accounts read at once.
pub(crate) const CONCURRENCY: usize = 16;

/// The organization's active accounts other than `own`, as (id, name), page by page.
pub fn members(aws: &Aws, own: &str) -> Result<Vec<(String, String)>, String> {
    let org = aws_sdk_organizations::Client::new(&aws.sdk);
    let mut out = vec![];
    let mut token = None;
    loop {
        let page = aws
            .rt
            .block_on(org.list_accounts().set_next_token(token).send())
            .map_err(|e| classify("organizations:ListAccounts", &e, "the auditing principal").to_string())?;
        for a in page.accounts() {
            let active = a.status().is_none_or(|s| s.as_str() == "ACTIVE");
            if let Some(id) = a.id()
                && id != own
                && active
            {
                out.push((id.to_string(), a.name().unwrap_or_default().to_string()));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            out.sort();
            return Ok(out);
        }
    }
}

/// What the organization audit read: each account's root user, and whether it was stopped before
/// the end.
pub(crate) struct Members {
    pub results: Vec<(String, Member)>,
    pub interrupted: bool,
}

/// One member account as read: its root credentials (or why not) and, when the organization
/// trail was read, root's events in it (or why not).
pub(crate) struct Member {
    pub audit: Result<Audit, String>,
    pub root_events: Option<Result<Vec<RootEvent>, String>>,
}

/// The organization trail to read for each member (rule E29): its bucket and the audit's period.
#[derive(Clone, Copy)]
pub(crate) struct TrailQuery<'a> {
    pub bucket: &'a str,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Reads every member's root credentials (and, with `trail`, root's events in the organization
/// trail), `CONCURRENCY` accounts at a time, with a progress bar on a terminal. `stop` (set by
/// Ctrl-C) ends it early with what was read.
pub(crate) fn audit_members(aws: &Aws, accounts: &[(String, String)], stop: &AtomicBool, trail: Option<TrailQuery<'_>>) -> Members {
    use std::io::IsTerminal;
    // Throttling across hundreds of accounts is expected: more attempts, longer backoff.
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5));
    let sdk = aws.sdk.to_builder().retry_config(retry).build();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(accounts.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} accounts ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    // BREAKGLASS_ORG_CONCURRENCY: for benchmarks (1 = one account after another).
    let workers =
        std::env::var("BREAKGLASS_ORG_CONCURRENCY").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(CONCURRENCY);
    let queue = Mutex::new(accounts.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(accounts.len().max(1)) {
            scope.spawn(|| {
                let Ok(mine) = Aws::from_sdk(sdk.clone()) else { return };
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Some(id) = queue.lock().ok().and_then(|mut q| q.pop()) else { return };
                    let r = Member {
                        audit: audit_one(&mine, &id),
                        root_events: trail.map(|q| super::trail::root_events(&mine, q.bucket, &id, q.since, q.until).map(|(e, _)| e)),
                    };
                    if let Ok(mut v) = results.lock() {
                        v.push((id, r));
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    Members { interrupted: results.len() < accounts.len(), results }
}

fn audit_one(aws: &Aws, account: &str) -> Result<Audit, String> {
    let (session, _call) = super::root::assume_root(aws, account, Task::AuditRootUserCredentials, 900).map_err(|e| e.to_string())?;
    let (r, _calls) = session.perform(&Action::Audit);
    match r {
        Ok((_, Some(a))) => Ok(a),
        Ok((what, None)) => Err(format!("the audit returned no credentials report ({what})")),
        Err(e) => Err(e.to_string()),
    }
}

/// Ctrl-C during the organization audit: stop taking new accounts, report what was read.
pub(crate) fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, flag.clone());
    flag
}
