//! The AWS facts `breakglass audit` decides on: read-only calls made with the auditor's own
//! principal (docs/audit-policy.json lists exactly these), each bounded like every other call.

use super::{Aws, classify};
use crate::core::audit::{AlertRule, Facts, RootEvent, RootRow};
use chrono::{DateTime, Utc};

/// Every AWS API the audit calls (docs/audit-policy.json must allow exactly these).
/// (s3:ListBucket and s3:GetObject only with `[audit] cloudtrail_bucket`, on that bucket;
/// organizations:ListAccounts and sts:AssumeRoot, with the IAMAuditRootUserCredentials task
/// policy only, for `--organization`.)
pub const AUDIT_CALLS: [&str; 17] = [
    "sts:GetCallerIdentity",
    "account:ListRegions",
    "iam:GetAccountSummary",
    "iam:ListVirtualMFADevices",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListOrganizationsFeatures",
    "iam:ListEntitiesForPolicy",
    "iam:GetGroup",
    "cloudtrail:LookupEvents",
    "events:ListRules",
    "events:ListTargetsByRule",
    "sns:ListSubscriptionsByTopic",
    "s3:ListBucket",
    "s3:GetObject",
    "organizations:ListAccounts",
    "sts:AssumeRoot",
];

const WHO: &str = "the auditing principal";
/// The most CloudTrail pages read (50 events each): a bound, said in the result when reached.
const MAX_PAGES: usize = 200;

/// Gathers every fact; a failing call makes only its own checks ERROR.
pub fn gather(
    aws: &Aws,
    account: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    topic: Option<&str>,
    trail_bucket: Option<&str>,
) -> Facts {
    let mut f = gather_root(aws, account, None);
    // Both sources when the organization trail is configured: the event history (90 days, one
    // region) and the trail's log files (every region, as far back as they are kept), merged.
    // Each source on its own (evidence rule E26): one that fails is named and never hides what
    // the other found.
    let mut trail = None;
    let mut found: Option<Vec<crate::core::audit::RootEvent>> = None;
    let mut failed = vec![];
    // The event history is kept per region: every region enabled for the account is read.
    let regions = enabled_regions(aws).unwrap_or_else(|e| {
        let fallback = fallback_regions(aws);
        failed.push(format!("account:ListRegions: {e} (only {} read)", fallback.join(" and ")));
        fallback
    });
    for region in &regions {
        match root_events(aws, Some(region), account, since, until) {
            Ok(events) => merge(found.get_or_insert_with(Vec::new), events),
            Err(e) => failed.push(format!("cloudtrail:LookupEvents in {region}: {e}")),
        }
    }
    if let Some(bucket) = trail_bucket {
        match super::trail::root_events(aws, bucket, account, since, until) {
            Ok((more, stats)) => {
                if !stats.unreadable.is_empty() {
                    failed.push(format!(
                        "the organization trail s3://{bucket}: {} log file(s) unreadable, skipped: {}",
                        stats.unreadable.len(),
                        stats.unreadable.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
                    ));
                }
                trail = Some(stats);
                merge(found.get_or_insert_with(Vec::new), more);
            }
            Err(e) => failed.push(format!("the organization trail s3://{bucket}: {e}")),
        }
    }
    f.root_events = match found {
        Some(events) => Ok(events),
        None => Err(failed.join("; ")),
    };
    if f.root_events.is_ok() {
        f.root_event_failures = failed;
    }
    f.trail = trail;
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    f.admins = admins(aws, &iam);
    f.alert_rules = alert_rules(aws);
    f.notice_topic = topic.map(|arn| {
        let region = arn.split(':').nth(3).unwrap_or("us-east-1").to_string();
        confirmed(aws, &region, arn)
    });
    f
}

/// Adds `more` to `events`, each event once (the same event read from two sources or regions), in
/// time order.
fn merge(events: &mut Vec<RootEvent>, more: Vec<RootEvent>) {
    for e in more {
        if !events.iter().any(|x| x.time == e.time && x.event == e.event && x.source_ip == e.source_ip && x.account == e.account) {
            events.push(e);
        }
    }
    events.sort_by(|a, b| a.time.cmp(&b.time));
}

/// The regions enabled for the account (`account:ListRegions`: enabled by default, or opted in):
/// where root's events may be recorded.
fn enabled_regions(aws: &Aws) -> Result<Vec<String>, String> {
    use aws_sdk_account::types::RegionOptStatus as S;
    let client = aws_sdk_account::Client::new(&aws.sdk);
    let mut out = vec![];
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = aws
            .rt
            .block_on(
                client
                    .list_regions()
                    .region_opt_status_contains(S::Enabled)
                    .region_opt_status_contains(S::EnabledByDefault)
                    .set_next_token(token.clone())
                    .send(),
            )
            .map_err(|e| classify("account:ListRegions", &e, WHO).to_string())?;
        out.extend(page.regions().iter().filter_map(|r| r.region_name().map(str::to_string)));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            out.sort();
            out.dedup();
            return if out.is_empty() { Err("no region listed".into()) } else { Ok(out) };
        }
    }
    Err(format!("more than {MAX_PAGES} pages of regions"))
}

/// When the regions cannot be listed: the configured region, and us-east-1 (where root's console
/// sign-ins and IAM changes are recorded).
fn fallback_regions(aws: &Aws) -> Vec<String> {
    let mut regions: Vec<String> = aws.sdk.region().map(|r| r.to_string()).into_iter().collect();
    if !regions.iter().any(|r| r == "us-east-1") {
        regions.push("us-east-1".into());
    }
    regions
}

/// Only root's own facts: MFA, access keys, virtual MFA, the credential report row, centralized
/// root access, and (given a window) root's CloudTrail events in it. What a ceremony reads as it
/// starts and as it closes; the rest of the facts are left as "not read".
pub(crate) fn gather_root(aws: &Aws, account: &str, window: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Facts {
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    let summary =
        aws.rt.block_on(iam.get_account_summary().send()).map_err(|e| classify("iam:GetAccountSummary", &e, WHO).to_string()).map(|o| {
            use aws_sdk_iam::types::SummaryKeyType as K;
            let m = o.summary_map().cloned().unwrap_or_default();
            (m.get(&K::AccountMfaEnabled).copied().unwrap_or(0) > 0, m.get(&K::AccountAccessKeysPresent).copied().unwrap_or(0) > 0)
        });
    let root_virtual_mfa = aws
        .rt
        .block_on(iam.list_virtual_mfa_devices().send())
        .map_err(|e| classify("iam:ListVirtualMFADevices", &e, WHO).to_string())
        .map(|o| o.virtual_mfa_devices().iter().any(|d| d.user().is_some_and(|u| u.arn().ends_with(":root"))));
    let root_row = credential_report(aws, &iam);
    let org_features = match aws.rt.block_on(iam.list_organizations_features().send()) {
        Ok(o) => Ok(Some(o.enabled_features().iter().map(|f| f.as_str().to_string()).collect())),
        Err(e) => {
            let c = classify("iam:ListOrganizationsFeatures", &e, WHO).to_string();
            if c.contains("OrganizationNotFound") || c.contains("AccountNotManagementOrDelegatedAdministrator") { Ok(None) } else { Err(c) }
        }
    };
    Facts {
        account: account.to_string(),
        summary,
        root_virtual_mfa,
        root_row,
        org_features,
        root_events: match window {
            Some((since, until)) => root_events(aws, None, account, since, until),
            None => Ok(vec![]),
        },
        alert_rules: Err("not read".into()),
        notice_topic: None,
        admins: Err("not read".into()),
        trail: None,
        root_event_failures: vec![],
    }
}

/// Confirmed subscriptions of an SNS topic, asked in the topic's own region.
fn confirmed(aws: &Aws, region: &str, arn: &str) -> Result<usize, String> {
    let conf = aws_sdk_sns::config::Builder::from(&aws.sdk).region(aws_sdk_sns::config::Region::new(region.to_string())).build();
    let sns = aws_sdk_sns::Client::from_conf(conf);
    let mut n = 0;
    let mut token = None;
    loop {
        let out = aws
            .rt
            .block_on(sns.list_subscriptions_by_topic().topic_arn(arn).set_next_token(token).send())
            .map_err(|e| classify("sns:ListSubscriptionsByTopic", &e, WHO).to_string())?;
        n += out.subscriptions().iter().filter(|s| s.subscription_arn().is_some_and(|a| a.starts_with("arn:"))).count();
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(n);
        }
    }
}

fn credential_report(aws: &Aws, iam: &aws_sdk_iam::Client) -> Result<Option<RootRow>, String> {
    // The report is generated on request; it is usually ready within a few seconds. Ask again
    // soon, then less and less often (about 10 s in all).
    let mut wait = std::time::Duration::from_millis(25);
    for _ in 0..14 {
        let g = aws
            .rt
            .block_on(iam.generate_credential_report().send())
            .map_err(|e| classify("iam:GenerateCredentialReport", &e, WHO).to_string())?;
        if g.state().is_some_and(|s| s.as_str() == "COMPLETE") {
            break;
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(std::time::Duration::from_secs(2));
    }
    let out = aws.rt.block_on(iam.get_credential_report().send()).map_err(|e| classify("iam:GetCredentialReport", &e, WHO).to_string())?;
    let csv = String::from_utf8_lossy(out.content().map(|b| b.as_ref()).unwrap_or_default()).to_string();
    Ok(root_row(&csv))
}

/// The `<root_account>` row of a credential report (CSV), if there is one.
pub(crate) fn root_row(csv: &str) -> Option<RootRow> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let row: Vec<&str> = lines.map(|l| l.split(',').collect::<Vec<_>>()).find(|r| r.first() == Some(&"<root_account>"))?;
    let date =
        |name: &str| col(name).and_then(|i| row.get(i)).and_then(|v| DateTime::parse_from_rfc3339(v).ok()).map(|t| t.with_timezone(&Utc));
    Some(RootRow {
        password_last_used: date("password_last_used"),
        access_key_last_used: ["access_key_1_last_used_date", "access_key_2_last_used_date"].iter().filter_map(|c| date(c)).collect(),
    })
}

/// Every principal with AdministratorAccess: users, roles, and the members of groups that hold it
/// (all pages).
fn admins(aws: &Aws, iam: &aws_sdk_iam::Client) -> Result<Vec<String>, String> {
    let mut names = vec![];
    let mut groups = vec![];
    let mut marker: Option<String> = None;
    loop {
        let out = aws
            .rt
            .block_on(
                iam.list_entities_for_policy().policy_arn("arn:aws:iam::aws:policy/AdministratorAccess").set_marker(marker.clone()).send(),
            )
            .map_err(|e| classify("iam:ListEntitiesForPolicy", &e, WHO).to_string())?;
        names.extend(out.policy_users().iter().filter_map(|u| u.user_name().map(|n| format!("user:{n}"))));
        names.extend(out.policy_roles().iter().filter_map(|r| r.role_name().map(|n| format!("role:{n}"))));
        groups.extend(out.policy_groups().iter().filter_map(|g| g.group_name().map(str::to_string)));
        marker = out.marker().map(str::to_string);
        if !out.is_truncated() || marker.is_none() {
            break;
        }
    }
    for g in groups {
        let mut marker: Option<String> = None;
        loop {
            let out = aws
                .rt
                .block_on(iam.get_group().group_name(&g).set_marker(marker.clone()).send())
                .map_err(|e| classify("iam:GetGroup", &e, WHO).to_string())?;
            names.extend(out.users().iter().map(|u| format!("user:{} (group {g})", u.user_name())));
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Root's events in CloudTrail's event history of `region` (the configured one when `None`):
/// `userIdentity.type` Root, sessions opened with sts:AssumeRoot included, between `since` and
/// `until`.
fn root_events(
    aws: &Aws,
    region: Option<&str>,
    account: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<RootEvent>, String> {
    use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
    let mut conf = aws_sdk_cloudtrail::config::Builder::from(&aws.sdk);
    if let Some(r) = region {
        conf = conf.region(aws_sdk_cloudtrail::config::Region::new(r.to_string()));
    }
    let ct = aws_sdk_cloudtrail::Client::from_conf(conf.build());
    let attr = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::Username)
        .attribute_value("root")
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = vec![];
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = aws
            .rt
            .block_on(
                ct.lookup_events()
                    .lookup_attributes(attr.clone())
                    .start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(since.timestamp()))
                    .end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(until.timestamp()))
                    .set_next_token(token.clone())
                    .send(),
            )
            .map_err(|e| classify("cloudtrail:LookupEvents", &e, WHO).to_string())?;
        for e in page.events() {
            if let Some(ev) = e.cloud_trail_event().and_then(|j| root_event(j, account)) {
                out.push(ev);
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
    Err(format!("more than {} events: narrow --since", MAX_PAGES * 50))
}

/// A CloudTrail record (JSON) as a root event, if it is one.
pub fn root_event(json: &str, account: &str) -> Option<RootEvent> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    root_event_of(&v, account)
}

/// A parsed CloudTrail record as a root event, if it is one.
pub(crate) fn root_event_of(v: &serde_json::Value, account: &str) -> Option<RootEvent> {
    let id = &v["userIdentity"];
    if id["type"] != "Root" {
        return None;
    }
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
    Some(RootEvent {
        account: v["recipientAccountId"].as_str().unwrap_or(account).to_string(),
        time: s(&v["eventTime"]),
        event: s(&v["eventName"]),
        source_ip: s(&v["sourceIPAddress"]),
        user_agent: s(&v["userAgent"]),
        session_id: None,
        nearest_session: None,
    })
}

/// EventBridge rules (in the configured region and us-east-1, where sign-in events land) whose
/// pattern matches root activity, with their SNS targets' confirmed subscriptions.
fn alert_rules(aws: &Aws) -> Result<Vec<AlertRule>, String> {
    let mut regions: Vec<String> = aws.sdk.region().map(|r| r.to_string()).into_iter().collect();
    if !regions.iter().any(|r| r == "us-east-1") {
        regions.push("us-east-1".into());
    }
    let mut rules = vec![];
    for region in regions {
        let conf =
            aws_sdk_eventbridge::config::Builder::from(&aws.sdk).region(aws_sdk_eventbridge::config::Region::new(region.clone())).build();
        let ev = aws_sdk_eventbridge::Client::from_conf(conf);
        let mut all = vec![];
        let mut token: Option<String> = None;
        loop {
            let out = aws
                .rt
                .block_on(ev.list_rules().set_next_token(token.clone()).send())
                .map_err(|e| classify("events:ListRules", &e, WHO).to_string())?;
            all.extend(out.rules().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for r in &all {
            let pattern = r.event_pattern().unwrap_or("");
            let enabled = r.state().is_none_or(|s| s.as_str() == "ENABLED");
            if !(enabled && pattern.contains("\"Root\"") && pattern.contains("userIdentity")) {
                continue;
            }
            let name = r.name().unwrap_or("").to_string();
            let targets = aws
                .rt
                .block_on(ev.list_targets_by_rule().rule(&name).send())
                .map_err(|e| classify("events:ListTargetsByRule", &e, WHO).to_string())?;
            let topics = targets
                .targets()
                .iter()
                .filter(|t| t.arn().starts_with("arn:aws:sns:"))
                .map(|t| (t.arn().to_string(), confirmed(aws, &region, t.arn()).is_ok_and(|n| n > 0)))
                .collect();
            rules.push(AlertRule { name, region: region.clone(), topics_confirmed: topics });
        }
    }
    Ok(rules)
}
