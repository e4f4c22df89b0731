//! `breakglass audit`: was root used when nobody broke the glass?
//!
//! The posture checks (Prowler's ids where the check is the same) and the one question the signed
//! session log cannot answer alone: every root event AWS recorded must fall inside the window of a
//! session that verifies against the trusted roster. This module is pure: the AWS adapter
//! ([`crate::adapters::aws::posture`]) gathers [`Facts`], the sessions come from `verify`, and [`evaluate`]
//! decides. Every result carries a one-line reason and the fix.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// PASS / FAIL / MANUAL / ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Manual,
    Error,
}

/// A check of the audit, by its id in `audit --json` (the same strings as before it was an enum,
/// so reports read the same). `iam_*` checks are the account's root posture, `breakglass_*` this
/// tool's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckId {
    IamRootMfaEnabled,
    IamRootHardwareMfaEnabled,
    IamNoRootAccessKey,
    IamAvoidRootUsage,
    IamRootCredentialsManagementEnabled,
    BreakglassRootUseOutsideCeremony,
    BreakglassRootActivityAlert,
    BreakglassNoticeTopicSubscribed,
    BreakglassAdmins,
    BreakglassRosterHealthy,
    BreakglassDrillRecent,
    BreakglassArchiveCurrent,
    BreakglassSecretsRotated,
}

impl CheckId {
    /// Every check, in the report's order.
    pub const ALL: [CheckId; 13] = [
        CheckId::IamRootMfaEnabled,
        CheckId::IamRootHardwareMfaEnabled,
        CheckId::IamNoRootAccessKey,
        CheckId::IamAvoidRootUsage,
        CheckId::IamRootCredentialsManagementEnabled,
        CheckId::BreakglassRootUseOutsideCeremony,
        CheckId::BreakglassRootActivityAlert,
        CheckId::BreakglassNoticeTopicSubscribed,
        CheckId::BreakglassAdmins,
        CheckId::BreakglassRosterHealthy,
        CheckId::BreakglassDrillRecent,
        CheckId::BreakglassArchiveCurrent,
        CheckId::BreakglassSecretsRotated,
    ];

    /// The id as `audit --json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::IamRootMfaEnabled => "iam_root_mfa_enabled",
            CheckId::IamRootHardwareMfaEnabled => "iam_root_hardware_mfa_enabled",
            CheckId::IamNoRootAccessKey => "iam_no_root_access_key",
            CheckId::IamAvoidRootUsage => "iam_avoid_root_usage",
            CheckId::IamRootCredentialsManagementEnabled => "iam_root_credentials_management_enabled",
            CheckId::BreakglassRootUseOutsideCeremony => "breakglass_root_use_outside_ceremony",
            CheckId::BreakglassRootActivityAlert => "breakglass_root_activity_alert",
            CheckId::BreakglassNoticeTopicSubscribed => "breakglass_notice_topic_subscribed",
            CheckId::BreakglassAdmins => "breakglass_admins",
            CheckId::BreakglassRosterHealthy => "breakglass_roster_healthy",
            CheckId::BreakglassDrillRecent => "breakglass_drill_recent",
            CheckId::BreakglassArchiveCurrent => "breakglass_archive_current",
            CheckId::BreakglassSecretsRotated => "breakglass_secrets_rotated",
        }
    }

    /// A check of the root account's own posture (also read at a ceremony's start and end).
    pub(crate) fn is_root_posture(self) -> bool {
        self.as_str().starts_with("iam_")
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's result (the `audit --json` contract).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: CheckId,
    pub status: Status,
    pub account: String,
    pub reason: String,
    pub fix: String,
}

/// A root event as CloudTrail recorded it, and the verified session that covers it, if any.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RootEvent {
    pub account: String,
    /// RFC 3339 UTC.
    pub time: String,
    pub event: String,
    pub source_ip: String,
    pub user_agent: String,
    pub session_id: Option<String>,
    /// The nearest verified session when none covers the event (for the reviewer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_session: Option<String>,
}

/// The whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub root_activity: Vec<RootEvent>,
    /// Each verified session in the period: root's events inside its window next to the steps
    /// the custodians ticked off.
    pub sessions: Vec<SessionCover>,
    /// With `[audit] cloudtrail_bucket`: how much of the organization trail was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail: Option<TrailRead>,
    /// `--organization`: how many member accounts there were and how many were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrgSummary>,
    /// The clock skew allowed on each side of a session's window (rule E19), printed in every
    /// report.
    pub clock_skew_seconds: u32,
    /// Valid sessions not taken as cover because they were rehearsals on virtual cards (their
    /// keys attested by `[rehearsal] attestation_roots`, not by Yubico).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rehearsal_sessions: Vec<String>,
}

/// How much of the organization trail's log files was read, and how fast.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrailRead {
    /// Log files that could not be read (not gzip JSON, over the budget of a log file): each is
    /// named and skipped, and the rest is read (rule E26).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    pub files: usize,
    pub compressed_bytes: u64,
    pub bytes: u64,
    pub records: usize,
    pub seconds: f64,
}

/// What `--organization` covered.
#[derive(Debug, Clone, Serialize)]
pub struct OrgSummary {
    /// Member accounts (the management account is audited in full besides).
    pub accounts: usize,
    pub audited: usize,
    pub unreachable: usize,
    /// Stopped with Ctrl-C before every account was read: the report is partial.
    pub interrupted: bool,
    pub seconds: f64,
}

impl Report {
    /// 0 nothing fails, 1 some check FAILs (FAIL wins over ERROR), 2 only ERRORs.
    pub fn exit_code(&self) -> i32 {
        if self.checks.iter().any(|c| c.status == Status::Fail) {
            1
        } else if !self.checks.is_empty() && self.checks.iter().all(|c| c.status == Status::Error) {
            2
        } else {
            0
        }
    }
}

/// The root user's row of the IAM credential report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootRow {
    pub password_last_used: Option<DateTime<Utc>>,
    pub access_key_last_used: Vec<DateTime<Utc>>,
}

/// An EventBridge rule that matches root activity, where it sends, and whether a target topic has a
/// confirmed subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    pub name: String,
    pub region: String,
    pub topics_confirmed: Vec<(String, bool)>,
}

/// What the AWS adapter found; each part can fail on its own (then that check is ERROR).
#[derive(Debug, Clone)]
pub struct Facts {
    pub account: String,
    /// AccountMFAEnabled and AccountAccessKeysPresent from iam:GetAccountSummary.
    pub summary: Result<(bool, bool), String>,
    /// A virtual MFA device is assigned to root.
    pub root_virtual_mfa: Result<bool, String>,
    pub root_row: Result<Option<RootRow>, String>,
    /// iam:ListOrganizationsFeatures: the enabled features, or None outside an organization.
    pub org_features: Result<Option<Vec<String>>, String>,
    /// Root's events from every source that answered (Err only when none did).
    pub root_events: Result<Vec<RootEvent>, String>,
    /// Sources of root events that failed while another answered ("source: why"), rule E26:
    /// each is reported, and never hides what the others found.
    pub root_event_failures: Vec<String>,
    pub alert_rules: Result<Vec<AlertRule>, String>,
    /// Confirmed subscriptions of the configured notice topic (None: no topic configured).
    pub notice_topic: Option<Result<usize, String>>,
    /// Principals with AdministratorAccess attached.
    pub admins: Result<Vec<String>, String>,
    /// What was read of the organization trail in S3, when it was.
    pub trail: Option<TrailRead>,
}

/// A verified session's window: from its first entry to its last (or "root released").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub session_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Runbook steps the custodians ticked off, and how many there were.
    pub steps: (usize, usize),
    /// The AWS account the session was for (None: it named none); an event in another account
    /// is not covered by it.
    pub account: Option<String>,
    /// An interrupted, recovered session: each gap between the last entry before a recovery and
    /// the recovery is not inside it (rule E20: every one, not only the last).
    pub gaps: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Window {
    /// Whether an event at `t` in `account` falls inside this session, with `skew` of slack
    /// (rules E19, E20).
    pub fn covers(&self, t: DateTime<Utc>, account: &str, skew: Duration) -> bool {
        let inside = t >= self.start - skew && t <= self.end + skew;
        let in_gap = self.gaps.iter().any(|(a, b)| t > *a + skew && t < *b - skew);
        let same_account = self.account.as_deref().is_none_or(|a| a == account);
        inside && !in_gap && same_account
    }
}

/// A verified session's window, what root did in it (CloudTrail), and what the custodians ticked.
#[derive(Debug, Clone, Serialize)]
pub struct SessionCover {
    pub session_id: String,
    pub start: String,
    pub end: String,
    pub root_events: Vec<String>,
    pub steps_done: usize,
    pub steps_total: usize,
}

/// What the audit is told besides the AWS facts.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: DateTime<Utc>,
    pub since: DateTime<Utc>,
    /// Verified, non-DEMO sessions: the only cover for root use.
    pub windows: Vec<Window>,
    /// Clock skew allowed on each side of a window.
    pub skew: Duration,
    /// `Ok(())` when the roster is trusted, a quorum is reachable with one custodian absent and the
    /// sealed runbook is signed for it; else why not.
    pub roster: Result<String, String>,
    /// Days past the drill interval (negative: days left); None: no valid drill.
    pub drill_overdue_days: Option<i64>,
    pub max_admins: usize,
    pub archive: ArchiveState,
    /// Secrets revealed in a verified session and not rotated since (name, session id): E28.
    pub unrotated: Vec<(String, String)>,
}

/// One verified session's secrets, as verify reports them (rule E27).
#[derive(Debug, Clone, Default)]
pub struct SessionSecrets {
    pub session_id: String,
    /// When the session started (orders the sessions).
    pub started: String,
    pub revealed_unrotated: Vec<String>,
    pub rotated: Vec<String>,
}

/// Rule E28: the secrets revealed in a session and not rotated in it or in any later session, each
/// with the last session that revealed it.
pub(crate) fn unrotated_secrets(mut sessions: Vec<SessionSecrets>) -> Vec<(String, String)> {
    sessions.sort_by(|a, b| a.started.cmp(&b.started));
    let mut pending: Vec<(String, String)> = vec![];
    for s in &sessions {
        pending.retain(|(name, _)| !s.rotated.contains(name));
        for name in &s.revealed_unrotated {
            pending.retain(|(n, _)| n != name);
            pending.push((name.clone(), s.session_id.clone()));
        }
    }
    pending
}

fn secrets_check(unrotated: &[(String, String)], a: &str) -> Check {
    const ID: CheckId = CheckId::BreakglassSecretsRotated;
    if unrotated.is_empty() {
        return check(ID, Status::Pass, a, "every secret revealed in a verified session has been rotated since", "");
    }
    let list: Vec<String> = unrotated.iter().map(|(n, s)| format!("{n} (revealed in {s})")).collect();
    check(
        ID,
        Status::Fail,
        a,
        format!("revealed and not rotated since: {}", list.join(", ")),
        "rotate each in a ceremony: on the runbook, press o and choose it (docs/rotation.md)",
    )
}

/// Where the signed bundles stand against the evidence archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ArchiveState {
    /// No `[archive]` configured; how many signed bundles exist.
    #[default]
    NotConfigured,
    Checked {
        /// Signed bundles archived and unchanged.
        archived: usize,
        /// Signed bundles closed less than an hour ago, not archived yet.
        recent: usize,
        /// Signed bundles closed more than an hour ago and not archived (session ids).
        late: Vec<String>,
        /// Bundles whose local files differ from their receipt (session ids).
        changed: Vec<String>,
    },
    /// The audit read the sessions from the archive itself (`--sessions s3://...`); `skipped`
    /// names the objects left unread (over the budget of an archived object).
    FromArchive { url: String, skipped: Vec<String> },
}

fn check(id: CheckId, status: Status, account: &str, reason: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { id, status, account: account.to_string(), reason: reason.into(), fix: fix.into() }
}

/// Only the root account's own checks (the `iam_*` ones, Prowler's ids), for what a ceremony
/// journals as it starts and closes.
pub(crate) fn root_checks(f: &Facts, now: DateTime<Utc>) -> Vec<Check> {
    let cx = Context {
        now,
        since: now - Duration::days(90),
        windows: vec![],
        skew: Duration::zero(),
        roster: Err(String::new()),
        drill_overdue_days: None,
        max_admins: 5,
        archive: ArchiveState::NotConfigured,
        unrotated: vec![],
    };
    evaluate(f, &cx).checks.into_iter().filter(|c| c.id.is_root_posture()).collect()
}

/// Decides every check from the facts. Pure: tested without AWS.
pub(crate) fn evaluate(f: &Facts, cx: &Context) -> Report {
    let a = f.account.as_str();
    let mut checks = summary_checks(f, a);
    checks.push(hardware_mfa_check(f, a));
    checks.push(root_usage_check(f, cx.since, a));
    checks.push(root_credentials_management_check(f, a));
    // Root use outside any verified ceremony.
    let (outside_check, activity) = root_use_check(f, cx, a);
    checks.push(outside_check);
    checks.push(alert_check(f, a));
    checks.push(notice_topic_check(f, a));
    checks.push(admins_check(f, cx.max_admins, a));
    checks.push(roster_check(&cx.roster, a));
    checks.push(drill_check(cx.drill_overdue_days, a));
    checks.push(archive_check(&cx.archive, cx.windows.len(), a));
    checks.push(secrets_check(&cx.unrotated, a));
    let sessions = session_covers(cx, &activity);
    Report {
        checks,
        root_activity: activity,
        sessions,
        trail: f.trail.clone(),
        organization: None,
        rehearsal_sessions: vec![],
        clock_skew_seconds: u32::try_from(cx.skew.num_seconds()).unwrap_or(0),
    }
}

/// `iam_root_mfa_enabled` and `iam_no_root_access_key`, from the account summary.
fn summary_checks(f: &Facts, a: &str) -> Vec<Check> {
    let mut checks = vec![];
    match &f.summary {
        Ok((mfa, keys)) => {
            checks.push(if *mfa {
                check(CheckId::IamRootMfaEnabled, Status::Pass, a, "root has MFA", "")
            } else {
                check(
                    CheckId::IamRootMfaEnabled,
                    Status::Fail,
                    a,
                    "root has no MFA device",
                    "in a break-glass ceremony, sign in as root and register the hardware key kept in the safe (IAM > Security credentials > Assign MFA)",
                )
            });
            checks.push(if *keys {
                check(
                    CheckId::IamNoRootAccessKey,
                    Status::Fail,
                    a,
                    "root has access keys",
                    "delete them: `breakglass ceremony`, root task \"delete root credentials\" (sts:AssumeRoot), or as root in IAM > Security credentials",
                )
            } else {
                check(CheckId::IamNoRootAccessKey, Status::Pass, a, "root has no access keys", "")
            });
        }
        Err(e) => {
            for id in [CheckId::IamRootMfaEnabled, CheckId::IamNoRootAccessKey] {
                checks.push(check(
                    id,
                    Status::Error,
                    a,
                    format!("iam:GetAccountSummary failed: {e}"),
                    "grant iam:GetAccountSummary (docs/audit-policy.json)",
                ));
            }
        }
    }
    checks
}

/// `iam_root_hardware_mfa_enabled`: root's MFA exists and is not a virtual device.
fn hardware_mfa_check(f: &Facts, a: &str) -> Check {
    match (&f.summary, &f.root_virtual_mfa) {
        (Ok((false, _)), _) => check(
            CheckId::IamRootHardwareMfaEnabled,
            Status::Fail,
            a,
            "root has no MFA at all",
            "register a hardware MFA key for root and keep it in the safe",
        ),
        (Ok((true, _)), Ok(true)) => check(
            CheckId::IamRootHardwareMfaEnabled,
            Status::Fail,
            a,
            "root's MFA is a virtual device (an app on someone's phone)",
            "replace it with a hardware key kept in the safe: one person's phone is exactly what break-glass must not depend on",
        ),
        (Ok((true, _)), Ok(false)) => check(CheckId::IamRootHardwareMfaEnabled, Status::Pass, a, "root's MFA is not a virtual device", ""),
        (Err(e), _) | (_, Err(e)) => check(
            CheckId::IamRootHardwareMfaEnabled,
            Status::Error,
            a,
            format!("could not read root's MFA devices: {e}"),
            "grant iam:GetAccountSummary and iam:ListVirtualMFADevices",
        ),
    }
}

/// `iam_avoid_root_usage`: the credential report shows no root use since `since`.
fn root_usage_check(f: &Facts, since: DateTime<Utc>, a: &str) -> Check {
    match &f.root_row {
        Ok(Some(row)) => {
            let mut used: Vec<DateTime<Utc>> = row.access_key_last_used.clone();
            used.extend(row.password_last_used);
            match used.into_iter().filter(|t| *t >= since).max() {
                Some(t) => check(
                    CheckId::IamAvoidRootUsage,
                    Status::Fail,
                    a,
                    format!("root was used at {} (credential report)", t.to_rfc3339()),
                    "check that a verified session covers it (breakglass_root_use_outside_ceremony below); if none does, treat it as an incident",
                ),
                None => check(CheckId::IamAvoidRootUsage, Status::Pass, a, "root was not used since the start of the audit period", ""),
            }
        }
        Ok(None) => check(
            CheckId::IamAvoidRootUsage,
            Status::Manual,
            a,
            "the credential report has no <root_account> row",
            "check root's last sign-in in the console (IAM > Credential report)",
        ),
        Err(e) => check(
            CheckId::IamAvoidRootUsage,
            Status::Error,
            a,
            format!("credential report: {e}"),
            "grant iam:GenerateCredentialReport and iam:GetCredentialReport",
        ),
    }
}

/// `iam_root_credentials_management_enabled`: the organization manages root credentials centrally.
fn root_credentials_management_check(f: &Facts, a: &str) -> Check {
    match &f.org_features {
        Ok(Some(features)) if features.iter().any(|x| x == "RootCredentialsManagement") => check(
            CheckId::IamRootCredentialsManagementEnabled,
            Status::Pass,
            a,
            "the organization manages member accounts' root credentials centrally",
            "",
        ),
        Ok(Some(_)) => check(
            CheckId::IamRootCredentialsManagementEnabled,
            Status::Fail,
            a,
            "centralized root access is not enabled in the organization",
            "enable it: `aws iam enable-organizations-root-credentials-management` (and root sessions) in the management account",
        ),
        Ok(None) => check(
            CheckId::IamRootCredentialsManagementEnabled,
            Status::Manual,
            a,
            "this account is not in an organization (or not its management account)",
            "run the audit with the management account's credentials",
        ),
        Err(e) => check(
            CheckId::IamRootCredentialsManagementEnabled,
            Status::Error,
            a,
            format!("iam:ListOrganizationsFeatures failed: {e}"),
            "grant iam:ListOrganizationsFeatures, or run in the management account",
        ),
    }
}

/// `breakglass_root_use_outside_ceremony`, and root's events each marked with the verified session
/// that covers it (or the nearest one).
fn root_use_check(f: &Facts, cx: &Context, a: &str) -> (Check, Vec<RootEvent>) {
    let events = match &f.root_events {
        Ok(events) => events,
        Err(e) => {
            let c = check(
                CheckId::BreakglassRootUseOutsideCeremony,
                Status::Error,
                a,
                format!("cloudtrail:LookupEvents failed: {e}"),
                "grant cloudtrail:LookupEvents (docs/audit-policy.json)",
            );
            return (c, vec![]);
        }
    };
    root_use_of(events, &f.root_event_failures, cx, a)
}

/// Rule E29: a member account's root events in the organization trail, covered by the same
/// windows as the audited account's (E19 to E22), or why the trail could not be read for it.
pub(crate) fn member_root_use(account: &str, events: &Result<Vec<RootEvent>, String>, cx: &Context) -> (Check, Vec<RootEvent>) {
    match events {
        Ok(events) => root_use_of(events, &[], cx, account),
        Err(e) => (
            check(
                CheckId::BreakglassRootUseOutsideCeremony,
                Status::Error,
                account,
                format!("the organization trail could not be read for this account: {e}"),
                "check that the organization trail logs this account and grant s3:ListBucket and s3:GetObject on its bucket (docs/audit-policy.json)",
            ),
            vec![],
        ),
    }
}

/// Rule E29 without `[audit] cloudtrail_bucket`: the members' root events are not read, and the
/// report says so in one row (never a silent PASS).
pub(crate) fn members_root_use_unread() -> Check {
    check(
        CheckId::BreakglassRootUseOutsideCeremony,
        Status::Manual,
        "organization",
        "member accounts' root events were not read: no organization trail is configured",
        "set [audit] cloudtrail_bucket to the organization trail's bucket, or check each member's CloudTrail by hand",
    )
}

/// `breakglass_root_use_outside_ceremony` over `events` found in account `a` (E19 to E22, E26):
/// FAIL for any event outside every window, ERROR when only a source failed.
fn root_use_of(events: &[RootEvent], failures: &[String], cx: &Context, a: &str) -> (Check, Vec<RootEvent>) {
    let activity = cover_events(events, cx);
    let outside = activity.iter().filter(|e| e.session_id.is_none()).count();
    // E26: a source that failed is said, and never hides what another source found
    // (FAIL wins over ERROR).
    let failed = if failures.is_empty() { String::new() } else { format!("; NOT read: {}", failures.join("; ")) };
    let c = if outside > 0 {
        check(
            CheckId::BreakglassRootUseOutsideCeremony,
            Status::Fail,
            a,
            format!("{outside} root event(s) outside any verified session (see root_activity){failed}"),
            "treat as an incident: who held root's credentials? Rotate root's password and MFA in a ceremony, and check root_activity's source IPs",
        )
    } else if !failures.is_empty() {
        check(
            CheckId::BreakglassRootUseOutsideCeremony,
            Status::Error,
            a,
            format!("{} root event(s) found, each inside a verified session{failed}", events.len()),
            "grant the failed source's read (docs/audit-policy.json): root use it holds is not checked",
        )
    } else {
        check(
            CheckId::BreakglassRootUseOutsideCeremony,
            Status::Pass,
            a,
            format!("{} root event(s), each inside a verified session", events.len()),
            "",
        )
    };
    (c, activity)
}

/// Root's events, each with the verified session covering it, or else the nearest session.
fn cover_events(events: &[RootEvent], cx: &Context) -> Vec<RootEvent> {
    let mut activity = vec![];
    for e in events {
        let mut e = e.clone();
        let t = DateTime::parse_from_rfc3339(&e.time).map(|t| t.with_timezone(&Utc)).ok();
        let cover = t.and_then(|t| cx.windows.iter().find(|w| w.covers(t, &e.account, cx.skew)));
        e.session_id = cover.map(|w| w.session_id.clone());
        if cover.is_none() {
            e.nearest_session = t.and_then(|t| {
                cx.windows
                    .iter()
                    .min_by_key(|w| (t - w.start).num_seconds().abs().min((t - w.end).num_seconds().abs()))
                    .map(|w| w.session_id.clone())
            });
        }
        activity.push(e);
    }
    activity
}

/// `breakglass_root_activity_alert`: an EventBridge rule sends root activity to a confirmed subscription.
fn alert_check(f: &Facts, a: &str) -> Check {
    match &f.alert_rules {
        Ok(rules) => {
            let good: Vec<&AlertRule> = rules.iter().filter(|r| r.topics_confirmed.iter().any(|(_, c)| *c)).collect();
            if let Some(r) = good.first() {
                check(
                    CheckId::BreakglassRootActivityAlert,
                    Status::Pass,
                    a,
                    format!("EventBridge rule `{}` ({}) sends root activity to a topic with a confirmed subscription", r.name, r.region),
                    "",
                )
            } else if rules.is_empty() {
                check(
                    CheckId::BreakglassRootActivityAlert,
                    Status::Fail,
                    a,
                    "no EventBridge rule matches root activity",
                    "deploy docs/root-activity-alert.yaml (CloudFormation) in us-east-1 and in the account's region, then confirm the e-mail subscription",
                )
            } else {
                check(
                    CheckId::BreakglassRootActivityAlert,
                    Status::Fail,
                    a,
                    "a rule matches root activity, but no target topic has a confirmed subscription",
                    "confirm the subscription (the e-mail AWS sent), or add one",
                )
            }
        }
        Err(e) => check(
            CheckId::BreakglassRootActivityAlert,
            Status::Error,
            a,
            format!("events:ListRules failed: {e}"),
            "grant events:ListRules and events:ListTargetsByRule",
        ),
    }
}

/// `breakglass_notice_topic_subscribed`: the notice topic is configured and has a confirmed subscription.
fn notice_topic_check(f: &Facts, a: &str) -> Check {
    match &f.notice_topic {
        None => check(
            CheckId::BreakglassNoticeTopicSubscribed,
            Status::Fail,
            a,
            "no notice topic is configured: \"root in use\" reaches nobody",
            "set notice.sns_topic_arn in breakglass.toml and subscribe the team",
        ),
        Some(Ok(0)) => check(
            CheckId::BreakglassNoticeTopicSubscribed,
            Status::Fail,
            a,
            "the notice topic has no confirmed subscription",
            "subscribe the team and confirm",
        ),
        Some(Ok(n)) => check(CheckId::BreakglassNoticeTopicSubscribed, Status::Pass, a, format!("{n} confirmed subscription(s)"), ""),
        Some(Err(e)) => check(
            CheckId::BreakglassNoticeTopicSubscribed,
            Status::Error,
            a,
            format!("sns:ListSubscriptionsByTopic failed: {e}"),
            "grant sns:ListSubscriptionsByTopic",
        ),
    }
}

/// `breakglass_admins`: between two and `max_admins` principals hold AdministratorAccess.
fn admins_check(f: &Facts, max_admins: usize, a: &str) -> Check {
    match &f.admins {
        Ok(names) if names.len() < 2 => check(
            CheckId::BreakglassAdmins,
            Status::Fail,
            a,
            format!("{} principal(s) hold AdministratorAccess ({}): one person can lock everyone else out", names.len(), names.join(", ")),
            "give a second, separate person administrator access (the incident behind this tool: one admin disabled all others)",
        ),
        Ok(names) if names.len() > max_admins => check(
            CheckId::BreakglassAdmins,
            Status::Fail,
            a,
            format!("{} principals hold AdministratorAccess ({}), more than {}", names.len(), names.join(", "), max_admins),
            "least privilege: remove administrator access from those who do not need it",
        ),
        Ok(names) => check(CheckId::BreakglassAdmins, Status::Pass, a, format!("{} administrators: {}", names.len(), names.join(", ")), ""),
        Err(e) => check(
            CheckId::BreakglassAdmins,
            Status::Error,
            a,
            format!("iam:ListEntitiesForPolicy failed: {e}"),
            "grant iam:ListEntitiesForPolicy on AdministratorAccess",
        ),
    }
}

/// `breakglass_roster_healthy`: the roster and sealed runbook are usable.
fn roster_check(roster: &Result<String, String>, a: &str) -> Check {
    match roster {
        Ok(why) => check(CheckId::BreakglassRosterHealthy, Status::Pass, a, why.clone(), ""),
        Err(why) => check(
            CheckId::BreakglassRosterHealthy,
            Status::Fail,
            a,
            why.clone(),
            "fix the roster and sealed runbook: `breakglass roster check`, `breakglass runbook check`",
        ),
    }
}

/// `breakglass_drill_recent`: a valid drill within the interval.
fn drill_check(overdue_days: Option<i64>, a: &str) -> Check {
    match overdue_days {
        Some(d) if d <= 0 => check(CheckId::BreakglassDrillRecent, Status::Pass, a, "a valid drill within the interval", ""),
        Some(d) => check(
            CheckId::BreakglassDrillRecent,
            Status::Fail,
            a,
            format!("the last valid drill is {d} day(s) overdue"),
            "rehearse: `breakglass ceremony --drill`",
        ),
        None => {
            check(CheckId::BreakglassDrillRecent, Status::Fail, a, "no valid drill on record", "rehearse: `breakglass ceremony --drill`")
        }
    }
}

/// Each verified session that ended in the period, with root's events inside it and its steps.
fn session_covers(cx: &Context, activity: &[RootEvent]) -> Vec<SessionCover> {
    cx.windows
        .iter()
        .filter(|w| w.end >= cx.since)
        .map(|w| SessionCover {
            session_id: w.session_id.clone(),
            start: w.start.to_rfc3339(),
            end: w.end.to_rfc3339(),
            root_events: activity
                .iter()
                .filter(|e| e.session_id.as_deref() == Some(w.session_id.as_str()))
                .map(|e| e.event.clone())
                .collect(),
            steps_done: w.steps.0,
            steps_total: w.steps.1,
        })
        .collect()
}

fn archive_check(state: &ArchiveState, signed: usize, a: &str) -> Check {
    const ID: CheckId = CheckId::BreakglassArchiveCurrent;
    let list = |ids: &[String]| {
        let mut s = ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if ids.len() > 5 {
            s.push_str(&format!(" and {} more", ids.len() - 5));
        }
        s
    };
    match state {
        ArchiveState::NotConfigured if signed == 0 => check(
            ID,
            Status::Manual,
            a,
            "no evidence archive is configured, and no signed session is on record yet",
            "configure [archive] (an S3 bucket with Object Lock, docs/archive.md) before the first ceremony",
        ),
        ArchiveState::NotConfigured => check(
            ID,
            Status::Fail,
            a,
            format!("{signed} signed session(s) exist only on the ceremony host: whoever holds it can delete them"),
            "configure [archive] (an S3 bucket with Object Lock, docs/archive.md), then `breakglass archive push`",
        ),
        ArchiveState::FromArchive { url, skipped } if !skipped.is_empty() => check(
            ID,
            Status::Fail,
            a,
            format!(
                "sessions read from the archive itself ({url}): {signed} verified; {} object(s) left unread: {}",
                skipped.len(),
                list(skipped)
            ),
            "someone put objects in the archive that no bundle holds: `breakglass archive verify SESSION` for each, and find who wrote them",
        ),
        ArchiveState::FromArchive { url, .. } => {
            check(ID, Status::Pass, a, format!("sessions read from the archive itself ({url}): {signed} verified"), "")
        }
        ArchiveState::Checked { changed, .. } if !changed.is_empty() => check(
            ID,
            Status::Fail,
            a,
            format!("local bundle(s) changed after archiving: {}", list(changed)),
            "the archived copy is the record: compare with `breakglass archive verify SESSION` and investigate the host",
        ),
        ArchiveState::Checked { late, .. } if !late.is_empty() => check(
            ID,
            Status::Fail,
            a,
            format!("{} signed session(s) closed over an hour ago are not archived: {}", late.len(), list(late)),
            "`breakglass archive push` (it says why a push fails)",
        ),
        ArchiveState::Checked { archived, recent, .. } => check(
            ID,
            Status::Pass,
            a,
            format!(
                "{archived} signed session(s) archived under Object Lock, none changed since{}",
                if *recent > 0 { format!("; {recent} closed within the hour, still to push") } else { String::new() }
            ),
            "",
        ),
    }
}

/// A member account's root posture as the organization audit reads it (through sts:AssumeRoot with
/// the IAMAuditRootUserCredentials task policy), or why the account could not be read.
pub(crate) fn member_checks(account: &str, audit: &Result<crate::core::root::Audit, String>) -> Vec<Check> {
    const IDS: [CheckId; 3] = [CheckId::IamRootMfaEnabled, CheckId::IamRootHardwareMfaEnabled, CheckId::IamNoRootAccessKey];
    let a = match audit {
        Ok(a) => a,
        Err(e) => {
            return IDS
                .iter()
                .map(|id| {
                    check(
                        *id,
                        Status::Error,
                        account,
                        format!("could not read the account's root user: {e}"),
                        "allow sts:AssumeRoot with IAMAuditRootUserCredentials for this account (centralized root access), then run again",
                    )
                })
                .collect();
        }
    };
    // Centralized root access: a member whose root has no password and no keys cannot be signed
    // into as root at all; that passes the MFA checks too.
    let no_credentials = !a.password && a.access_keys.is_empty();
    let virtual_mfa = a.mfa_devices.iter().any(|d| d.contains(":mfa/"));
    let delete = "remove root's credentials: `breakglass ceremony` > root tasks > IAMDeleteRootUserCredentials";
    vec![
        if no_credentials || !a.mfa_devices.is_empty() {
            check(
                IDS[0],
                Status::Pass,
                account,
                if no_credentials { "root has no password and no access keys" } else { "root has MFA" },
                "",
            )
        } else {
            check(
                IDS[0],
                Status::Fail,
                account,
                match (a.password, a.access_keys.is_empty()) {
                    (true, true) => "root has a password and no MFA",
                    (true, false) => "root has a password and access keys, and no MFA",
                    _ => "root has access keys and no MFA",
                },
                delete,
            )
        },
        if no_credentials || (!a.mfa_devices.is_empty() && !virtual_mfa) {
            check(
                IDS[1],
                Status::Pass,
                account,
                if no_credentials { "root has no credentials to protect" } else { "root's MFA is hardware" },
                "",
            )
        } else if virtual_mfa {
            check(IDS[1], Status::Fail, account, "a virtual MFA device (a phone app) is assigned to root", delete)
        } else {
            check(IDS[1], Status::Fail, account, "root has no MFA at all", delete)
        },
        if a.access_keys.is_empty() {
            check(IDS[2], Status::Pass, account, "root has no access keys", "")
        } else {
            check(IDS[2], Status::Fail, account, format!("root has access keys: {}", a.access_keys.join(", ")), delete)
        },
    ]
}

/// The report for people: readable without colour.
pub fn render_text(r: &Report) -> String {
    // CloudTrail's fields (the user agent is whatever the caller sent), AWS's messages and the
    // sessions' ids come from outside: each stays on its own line.
    use crate::core::plain::one_line as l;
    let mut s = format!(
        "clock skew allowed around each session's window: {} s (at most {})\n",
        r.clock_skew_seconds,
        crate::core::evidence::MAX_CLOCK_SKEW_SECONDS
    );
    if !r.rehearsal_sessions.is_empty() {
        s.push_str(&format!(
            "REHEARSAL: {} session(s) on virtual cards are not taken as cover: {}\n",
            r.rehearsal_sessions.len(),
            l(&r.rehearsal_sessions.join(", "))
        ));
    }
    let org = r.organization.is_some();
    for c in &r.checks {
        if org {
            s.push_str(&format!("{:<6} {:<12} {:<40} {}\n", format!("{:?}", c.status).to_uppercase(), l(&c.account), c.id, l(&c.reason)));
            continue;
        }
        s.push_str(&format!("{:<6} {:<40} {}\n", format!("{:?}", c.status).to_uppercase(), c.id, l(&c.reason)));
        if !c.fix.is_empty() && c.status != Status::Pass {
            s.push_str(&format!("       {:<40} fix: {}\n", "", l(&c.fix)));
        }
    }
    if !r.root_activity.is_empty() {
        s.push_str("\nroot activity (CloudTrail):\n");
        for e in &r.root_activity {
            let cover = match (&e.session_id, &e.nearest_session) {
                (Some(sid), _) => format!("inside session {}", l(sid)),
                (None, Some(n)) => format!("OUTSIDE any verified session (nearest: {})", l(n)),
                (None, None) => "OUTSIDE any verified session".to_string(),
            };
            s.push_str(&format!("  {}  {:<28} {:<15} {}  {}\n", l(&e.time), l(&e.event), l(&e.source_ip), cover, l(&e.user_agent)));
        }
    }
    if !r.sessions.is_empty() {
        s.push_str("\nverified sessions (what root did inside each, next to what the custodians ticked off):\n");
        for c in &r.sessions {
            s.push_str(&format!(
                "  {}  {} .. {}  root: {}  steps ticked: {} of {}\n",
                l(&c.session_id),
                c.start,
                c.end,
                if c.root_events.is_empty() { "no event in CloudTrail".to_string() } else { l(&c.root_events.join(", ")).into_owned() },
                c.steps_done,
                c.steps_total
            ));
        }
    }
    if let Some(t) = &r.trail {
        let mb = t.bytes as f64 / 1e6;
        s.push_str(&format!(
            "\norganization trail: {} log file(s), {:.1} MB ({:.1} MB gzip), {} records in {:.1} s ({:.0} MB/s)\n",
            t.files,
            mb,
            t.compressed_bytes as f64 / 1e6,
            t.records,
            t.seconds,
            mb / t.seconds.max(1e-3)
        ));
    }
    if let Some(o) = &r.organization {
        s.push_str(&format!(
            "\norganization: {} member account(s), {} audited, {} unreachable, in {:.1} s ({:.0} accounts/s){}\n",
            o.accounts,
            o.audited,
            o.unreachable,
            o.seconds,
            o.audited as f64 / o.seconds.max(1e-3),
            if o.interrupted { "; INTERRUPTED: the report covers only the accounts read" } else { "" }
        ));
    }
    let fails = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    s.push_str(&format!("\n{} check(s), {} FAIL\n", r.checks.len(), fails));
    s
}

/// When each earlier roster version was retired, for the sessions' cover: the commit time of
/// each verified rekey, by the version it replaced.
pub type Retired = std::collections::HashMap<String, DateTime<Utc>>;

/// How long after its own commit the rekey (or offboarding) that retired a version still covers
/// root use: the rest of that session (closing, an offboarding's AWS changes, the signatures).
pub(crate) const RETIRING_SESSION_GRACE_HOURS: i64 = 4;

/// Whether a verified session ran under a roster version that a verified rekey had already retired
/// when the session's window ended: it is then no cover for root use (two custodians removed by
/// that rekey could otherwise sign a session under their old version, dated to fit). The rekey
/// session itself (`retires`: the version it retired and its commit time) runs under the version
/// it retires: it covers until a few hours after the commit, and only if it is the commit that
/// retired the version (a copy of the genuine rekey's entries pasted into another session has the
/// same commit time, so the bound still holds). A version whose retirement time is unknown
/// (rotated by hand, without a rekey session here) still covers: see the threat model.
pub fn superseded(
    roster_sha256: Option<&str>,
    current: Option<&str>,
    retires: Option<(&str, DateTime<Utc>)>,
    end: DateTime<Utc>,
    retired: &Retired,
) -> bool {
    let Some(sha) = roster_sha256 else { return false };
    let Some(at) = retired.get(sha) else { return false };
    if current.is_none_or(|c| c == sha) {
        return false;
    }
    match retires {
        Some((old, commit)) if old == sha && commit == *at => end > *at + Duration::hours(RETIRING_SESSION_GRACE_HOURS),
        _ => end > *at,
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    fn s(id: &str, started: &str, revealed: &[&str], rotated: &[&str]) -> SessionSecrets {
        SessionSecrets {
            session_id: id.into(),
            started: started.into(),
            revealed_unrotated: revealed.iter().map(|x| x.to_string()).collect(),
            rotated: rotated.iter().map(|x| x.to_string()).collect(),
        }
    }

    /// E28: a revealed secret stays listed until a later session rotates it.
    #[test]
    fn e28_a_secret_revealed_and_not_rotated_since_fails_until_rotated() {
        let a = s("A", "2026-01-01T00:00:00Z", &["root-password", "pin"], &[]);
        let b = s("B", "2026-02-01T00:00:00Z", &[], &["root-password"]);
        assert_eq!(unrotated_secrets(vec![a.clone()]), [("root-password".to_string(), "A".to_string()), ("pin".into(), "A".into())]);
        // Order is by start, whatever order the sessions are found in.
        assert_eq!(unrotated_secrets(vec![b.clone(), a.clone()]), [("pin".to_string(), "A".to_string())]);
        assert_eq!(secrets_check(&unrotated_secrets(vec![a.clone()]), "1").status, Status::Fail);
        let c = s("C", "2026-03-01T00:00:00Z", &[], &["pin"]);
        assert!(unrotated_secrets(vec![a, b, c]).is_empty());
        assert_eq!(secrets_check(&[], "1").status, Status::Pass);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_session_under_a_retired_roster_version_covers_only_until_it_was_retired() {
        let t = |h: u32| Utc.with_ymd_and_hms(2026, 11, 1, h, 0, 0).single().unwrap();
        let retired: Retired = [("v1".to_string(), t(10))].into_iter().collect();
        let under = |sha: &str, end, retires| superseded(Some(sha), Some("v2"), retires, end, &retired);
        assert!(!under("v1", t(9), None), "ended before the rekey: cover");
        assert!(under("v1", t(11), None), "ended after the rekey: no cover");
        assert!(!under("v1", t(11), Some(("v1", t(10)))), "the rekey session itself, an hour after its commit");
        assert!(under("v1", t(20), Some(("v1", t(10)))), "the rekey session itself, ten hours after: no cover");
        assert!(under("v1", t(11), Some(("v1", t(9)))), "a rekey that is not the one that retired it");
        assert!(!under("v2", t(11), None), "the current version");
        assert!(!under("v0", t(11), None), "retired at an unknown time (rotated by hand)");
        assert!(!superseded(None, Some("v2"), None, t(11), &retired));
    }
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap()
    }

    fn facts(events: Vec<RootEvent>) -> Facts {
        Facts {
            account: "123456789012".into(),
            summary: Ok((true, false)),
            root_virtual_mfa: Ok(false),
            root_row: Ok(Some(RootRow::default())),
            org_features: Ok(Some(vec!["RootCredentialsManagement".into()])),
            root_events: Ok(events),
            root_event_failures: vec![],
            alert_rules: Ok(vec![AlertRule {
                name: "root".into(),
                region: "us-east-1".into(),
                topics_confirmed: vec![("t".into(), true)],
            }]),
            notice_topic: Some(Ok(1)),
            admins: Ok(vec!["alice".into(), "bob".into()]),
            trail: None,
        }
    }

    fn event(h: u32) -> RootEvent {
        RootEvent {
            account: "123456789012".into(),
            time: at(h).to_rfc3339(),
            event: "ConsoleLogin".into(),
            source_ip: "203.0.113.9".into(),
            user_agent: "Mozilla".into(),
            session_id: None,
            nearest_session: None,
        }
    }

    fn cx(windows: Vec<Window>) -> Context {
        Context {
            now: at(23),
            since: at(0),
            windows,
            skew: Duration::minutes(5),
            roster: Ok("trusted".into()),
            drill_overdue_days: Some(-10),
            max_admins: 5,
            archive: ArchiveState::NotConfigured,
            unrotated: vec![],
        }
    }

    #[test]
    fn the_archive_check_fails_for_late_or_changed_bundles_and_without_an_archive() {
        let status = |state: ArchiveState, signed: usize| archive_check(&state, signed, "123456789012").status;
        assert_eq!(status(ArchiveState::NotConfigured, 0), Status::Manual);
        assert_eq!(status(ArchiveState::NotConfigured, 2), Status::Fail);
        assert_eq!(status(ArchiveState::Checked { archived: 2, recent: 0, late: vec![], changed: vec![] }, 2), Status::Pass);
        assert_eq!(status(ArchiveState::Checked { archived: 1, recent: 0, late: vec!["s2".into()], changed: vec![] }, 2), Status::Fail);
        let c = archive_check(&ArchiveState::Checked { archived: 1, recent: 0, late: vec![], changed: vec!["s1".into()] }, 2, "a");
        assert_eq!(c.status, Status::Fail);
        assert!(c.reason.contains("s1") && c.fix.contains("archive verify"), "{c:?}");
    }

    /// E26: a failing source is said and never hides what another found; FAIL wins over ERROR.
    #[test]
    fn e26_a_failing_source_never_hides_what_another_found() {
        let status = |r: &Report| r.checks.iter().find(|c| c.id == CheckId::BreakglassRootUseOutsideCeremony).map(|c| c.status);
        let w = Window { session_id: "s1".into(), start: at(10), end: at(11), steps: (0, 0), account: None, gaps: vec![] };
        let mut f = facts(vec![event(10), event(15)]);
        f.root_event_failures = vec!["cloudtrail:LookupEvents: AccessDenied".into()];
        let r = evaluate(&f, &cx(vec![w.clone()]));
        assert_eq!(status(&r), Some(Status::Fail), "the trail's event outside a session is a FAIL");
        assert_eq!(r.root_activity.len(), 2, "every event found is listed");
        let mut f = facts(vec![event(10)]);
        f.root_event_failures = vec!["cloudtrail:LookupEvents: AccessDenied".into()];
        let r = evaluate(&f, &cx(vec![w]));
        assert_eq!(status(&r), Some(Status::Error), "inside a session, but one source was not read");
        assert_eq!(r.root_activity.len(), 1);
    }

    /// E29: a member's root events are covered only by a window for that member (or one that
    /// named no account); a member whose trail could not be read is an ERROR of its own.
    #[test]
    fn e29_member_root_use_is_covered_only_by_a_session_for_that_member() {
        let member = |h| RootEvent { account: "111111111111".into(), ..event(h) };
        let here = Window {
            session_id: "s1".into(),
            start: at(10),
            end: at(11),
            steps: (0, 0),
            account: Some("123456789012".into()),
            gaps: vec![],
        };
        let (c, activity) = member_root_use("111111111111", &Ok(vec![member(10)]), &cx(vec![here.clone()]));
        assert_eq!(c.status, Status::Fail, "a session for another account covers nothing here");
        assert_eq!((c.account.as_str(), activity.len()), ("111111111111", 1));
        let there = Window { account: Some("111111111111".into()), ..here };
        let (c, activity) = member_root_use("111111111111", &Ok(vec![member(10)]), &cx(vec![there]));
        assert_eq!(c.status, Status::Pass);
        assert_eq!(activity[0].session_id.as_deref(), Some("s1"));
        let (c, activity) = member_root_use("111111111111", &Err("AccessDenied".into()), &cx(vec![]));
        assert_eq!((c.status, activity.len()), (Status::Error, 0));
        assert_eq!(members_root_use_unread().status, Status::Manual);
    }

    #[test]
    fn everything_in_order_passes_but_the_archive_is_manual() {
        let r = evaluate(&facts(vec![]), &cx(vec![]));
        assert!(r.checks.iter().all(|c| matches!(c.status, Status::Pass | Status::Manual)), "{:#?}", r.checks);
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn root_use_inside_a_verified_window_passes_and_outside_fails() {
        let w = Window { session_id: "s1".into(), start: at(10), end: at(11), steps: (3, 13), account: None, gaps: vec![] };
        let r = evaluate(&facts(vec![event(10)]), &cx(vec![w.clone()]));
        let c = r.checks.iter().find(|c| c.id == CheckId::BreakglassRootUseOutsideCeremony).unwrap();
        assert_eq!(c.status, Status::Pass);
        assert_eq!(r.root_activity[0].session_id.as_deref(), Some("s1"));
        let r = evaluate(&facts(vec![event(14)]), &cx(vec![w]));
        let c = r.checks.iter().find(|c| c.id == CheckId::BreakglassRootUseOutsideCeremony).unwrap();
        assert_eq!(c.status, Status::Fail);
        assert_eq!(r.root_activity[0].session_id, None);
        assert_eq!(r.root_activity[0].nearest_session.as_deref(), Some("s1"));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn a_virtual_root_mfa_fails_the_hardware_check_and_no_mfa_fails_both() {
        let mut f = facts(vec![]);
        f.root_virtual_mfa = Ok(true);
        let r = evaluate(&f, &cx(vec![]));
        assert_eq!(r.checks.iter().find(|c| c.id == CheckId::IamRootHardwareMfaEnabled).unwrap().status, Status::Fail);
        f.summary = Ok((false, true));
        let r = evaluate(&f, &cx(vec![]));
        for id in [CheckId::IamRootMfaEnabled, CheckId::IamRootHardwareMfaEnabled, CheckId::IamNoRootAccessKey] {
            assert_eq!(r.checks.iter().find(|c| c.id == id).unwrap().status, Status::Fail, "{id}");
        }
    }

    #[test]
    fn a_member_without_root_credentials_passes_and_one_with_a_phone_mfa_fails() {
        let none = Ok(crate::core::root::Audit::default());
        assert!(member_checks("111111111111", &none).iter().all(|c| c.status == Status::Pass));
        let phone = Ok(crate::core::root::Audit {
            password: true,
            mfa_devices: vec!["arn:aws:iam::111111111111:mfa/root-phone".into()],
            ..Default::default()
        });
        let c = member_checks("111111111111", &phone);
        assert_eq!(c.iter().map(|c| c.status).collect::<Vec<_>>(), [Status::Pass, Status::Fail, Status::Pass]);
        let keys = Ok(crate::core::root::Audit { password: true, access_keys: vec!["AKIA1".into()], ..Default::default() });
        assert!(member_checks("111111111111", &keys).iter().all(|c| c.status == Status::Fail));
        let gone = member_checks("222222222222", &Err("AccessDenied".into()));
        assert!(gone.iter().all(|c| c.status == Status::Error && c.account == "222222222222" && c.reason.contains("AccessDenied")));
    }

    /// `audit --json` against its contract (../shared/DESIGN.md): read back into the contract's own
    /// shape, every field is there with its type and allowed values, and writes out the same.
    #[test]
    fn the_json_report_round_trips_through_the_contract() {
        #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
        struct C {
            id: String,
            status: String,
            account: String,
            reason: String,
            fix: String,
        }
        #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
        struct E {
            account: String,
            time: String,
            event: String,
            source_ip: String,
            session_id: Option<String>,
        }
        #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
        struct R {
            checks: Vec<C>,
            root_activity: Vec<E>,
        }
        let w = Window { session_id: "s1".into(), start: at(10), end: at(11), steps: (3, 13), account: None, gaps: vec![] };
        let report = evaluate(&facts(vec![event(10), event(15)]), &cx(vec![w]));
        let json = serde_json::to_value(&report).unwrap();
        let back: R = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.checks.len(), report.checks.len());
        assert!(back.checks.iter().all(|c| ["PASS", "FAIL", "MANUAL", "ERROR"].contains(&c.status.as_str())));
        assert!(back.root_activity.iter().all(|e| DateTime::parse_from_rfc3339(&e.time).is_ok()));
        assert_eq!(back.root_activity.iter().map(|e| e.session_id.as_deref()).collect::<Vec<_>>(), [Some("s1"), None]);
        let again = serde_json::to_value(&back).unwrap();
        for key in ["checks", "root_activity"] {
            for (a, b) in json[key].as_array().unwrap().iter().zip(again[key].as_array().unwrap()) {
                for (k, v) in b.as_object().unwrap() {
                    assert_eq!(&a[k], v, "{key}.{k}");
                }
            }
        }
    }

    #[test]
    fn a_window_covers_only_its_own_account_and_not_a_recovery_gap() {
        let w = Window {
            session_id: "s".into(),
            start: at(10),
            end: at(20),
            steps: (0, 0),
            account: Some("123456789012".into()),
            gaps: vec![(at(12), at(14)), (at(15), at(18))],
        };
        let skew = Duration::minutes(5);
        assert!(w.covers(at(11), "123456789012", skew));
        assert!(!w.covers(at(11), "210987654321", skew), "another account's root use is not this session's");
        assert!(!w.covers(at(13), "123456789012", skew), "E20: the first gap is not covered either, not only the last");
        assert!(w.covers(at(14) + Duration::minutes(30), "123456789012", skew), "between two recoveries someone was there");
        assert!(!w.covers(at(16), "123456789012", skew), "the process was dead then: nobody was at the safe");
        assert!(w.covers(at(19), "123456789012", skew));
    }

    #[test]
    fn only_errors_exit_2_and_fail_wins_over_error() {
        let r = Report {
            checks: vec![
                check(CheckId::BreakglassAdmins, Status::Error, "1", "x", ""),
                check(CheckId::BreakglassDrillRecent, Status::Error, "1", "x", ""),
            ],
            root_activity: vec![],
            sessions: vec![],
            trail: None,
            organization: None,
            rehearsal_sessions: vec![],
            clock_skew_seconds: 300,
        };
        assert_eq!(r.exit_code(), 2);
        let r = Report {
            checks: vec![
                check(CheckId::BreakglassAdmins, Status::Error, "1", "x", ""),
                check(CheckId::BreakglassDrillRecent, Status::Fail, "1", "x", ""),
            ],
            root_activity: vec![],
            sessions: vec![],
            trail: None,
            organization: None,
            rehearsal_sessions: vec![],
            clock_skew_seconds: 300,
        };
        assert_eq!(r.exit_code(), 1);
    }
}
