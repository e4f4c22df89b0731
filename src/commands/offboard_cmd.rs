//! `breakglass offboard` and `demo --offboard`: a custodian (or an AWS user) leaves.

use crate::core::ceremony::Mode;
use crate::core::clock::{Clock, SystemClock};
use anyhow::bail;
use std::path::Path;
use std::sync::Arc;

use crate::commands::env::Env;

use super::rekey_cmd::{newcomers, rekey_outcome};
use super::start::check_data_dir;

/// What the survey of one account found: the changes and the MANUAL items, or why it could not
/// be read.
pub(crate) type AccountSurvey = Result<(Vec<crate::adapters::aws::offboard::Action>, Vec<crate::adapters::aws::offboard::Manual>), String>;

/// The offboarding checklist for `person` in one account (see [`offboard_checklist_accounts`]).
pub fn offboard_checklist(
    person: &str,
    user: &str,
    aws: AccountSurvey,
) -> (Vec<crate::core::ceremony::OffItem>, Vec<Option<(usize, crate::adapters::aws::offboard::Action)>>) {
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
) -> (Vec<crate::core::ceremony::OffItem>, Vec<Option<(usize, crate::adapters::aws::offboard::Action)>>) {
    use crate::core::ceremony::OffItem;
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
pub(crate) fn offboard_cmd(env: &Env, a: crate::commands::cli::OffboardArgs) -> anyhow::Result<i32> {
    let c = &env.config;
    let super::start::ChangeStart { roster_path, runbook_path, trusted, sealed } =
        super::start::change_start(env, "An offboarding", "breakglass demo --offboard")?;
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
        let change = crate::core::rekey::Change { remove: vec![a.id.clone()], add: newcomers(&a.add, &dir)?.0, quorum: a.quorum };
        match crate::core::rekey::plan(&roster, &change) {
            Ok(p) => Some(p),
            Err(why) => {
                // The checklist still runs: stripping access cannot wait for a new custodian.
                errln!("warning: {} stays on the roster: {why}", a.id);
                // Items and their AWS changes go by index: both lists move together.
                actions.insert(0, None);
                items.insert(
                    0,
                    crate::core::ceremony::OffItem::people(format!(
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
    anyhow::ensure!(items.len() == actions.len(), "internal error: {} checklist items for {} changes", items.len(), actions.len());
    let offboard = crate::core::ceremony::Offboard {
        person: a.id.clone(),
        iam_user: user.clone(),
        target_s: a.target_minutes * 60,
        items,
        rehearsal: a.drill,
        finish_armed: false,
    };
    let purpose = crate::core::ceremony::Purpose::offboard(plan.as_ref().map(crate::core::ceremony::Rekey::from_plan), offboard);
    let basis = crate::adapters::session::Basis { roster, roster_sigs: sigs, sealed };
    let (ceremony, mut runner) = crate::adapters::session::start(&env.sessions_dir(), clock.clone(), basis, vec![], env.outside(), purpose);
    runner.keys = env.piv_keys()?;
    if let Some(plan) = plan {
        runner.rekey = Some(crate::adapters::session::RekeyJob::new(
            plan.new,
            crate::core::rekey::Paths { roster: roster_path, runbook: runbook_path },
        ));
    }
    runner.offboard = Some(crate::adapters::session::OffboardJob { accounts: clients, user, actions });
    super::start::run_change(env, ceremony, runner, clock, Mode::Offboard, a.reason)
}

/// The AWS clients an offboarding changes accounts with, and each account's survey.
pub(crate) type OffboardSurveys = (Vec<crate::adapters::aws::Aws>, Vec<(String, AccountSurvey)>);

/// Reads `user`'s IAM user in the configured credentials' account, then in each of `[offboard]`
/// accounts through its role: the clients to make the changes with, and each account's survey.
pub(crate) fn offboard_surveys(c: &crate::core::config::Config, user: &str) -> anyhow::Result<OffboardSurveys> {
    let aws = if c.aws.region.is_some() || c.aws.profile.is_some() || c.aws.account_id.is_some() {
        crate::adapters::aws::Aws::load(c).map_err(|e| e.to_string())
    } else {
        Err("AWS is not configured in breakglass.toml".to_string())
    };
    let survey = |aws: &crate::adapters::aws::Aws| -> AccountSurvey {
        crate::adapters::aws::offboard::survey(aws, user)
            .map(|s| (crate::adapters::aws::offboard::plan(&s), s.manual))
            .map_err(|e| e.to_string())
    };
    // The configured credentials' account, then each of [offboard] accounts through its role.
    let mut clients = vec![];
    let mut surveys = vec![];
    match aws {
        Ok(aws) => {
            let several = !c.offboard.accounts.is_empty();
            let label = if several {
                crate::adapters::aws::sts::caller_identity(&aws)
                    .map(|(a, _)| a)
                    .map_err(|e| anyhow::anyhow!("which account the configured credentials reach: {e}"))?
            } else {
                String::new()
            };
            let home = label.clone();
            surveys.push((label, survey(&aws)));
            for account in c.offboard.accounts.iter().filter(|acct| **acct != home) {
                match crate::adapters::aws::offboard::for_account(&aws, account, &c.offboard.role_name) {
                    Ok(member) => {
                        surveys.push((account.clone(), survey(&member)));
                        clients.push(member);
                    }
                    Err(e) => {
                        surveys.push((account.clone(), Err(e.to_string())));
                        clients.push(crate::adapters::aws::Aws::from_sdk(aws.sdk.clone())?);
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
pub(crate) fn demo_offboard(env: &Env, auto: bool, reason: Option<String>) -> anyhow::Result<i32> {
    check_data_dir(env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (items, actions) = offboard_checklist("carol", "carol", Err("the DEMO has no AWS".into()));
    let job = crate::adapters::session::OffboardJob { accounts: vec![], user: "carol".into(), actions };
    let (mut c, mut r) = crate::commands::demo::setup_offboard(&env.data_dir, clock.clone(), env.outside(), items, job, false)?;
    if !auto {
        return crate::terminal::app::run(c, r, clock, crate::terminal::app::Start::plain(Mode::Offboard, reason));
    }
    let reason = reason.unwrap_or_else(|| "DEMO: carol leaves the company".into());
    crate::commands::demo::play_offboard(&mut c, &mut r, &reason);
    rekey_outcome(&c, &r)
}
