//! Scoped root tasks (sts:AssumeRoot) against moto, with AssumeRoot and root's calls emulated by
//! tests/moto/launcher.py (moto 5.2.5 lacks them; the SDK calls are real). Root is emulated as the
//! IAM user `<root_account>` of the member account.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::adapters::aws::Aws;
use breakglass::adapters::aws::root::{Action, Task};
use breakglass::adapters::aws::sns::SnsBroadcaster;
use breakglass::adapters::session::{Outside, Runner, drive};
use breakglass::core::ceremony::{Intent, Mode, Phase, RootStage};
use breakglass::core::ceremony::{Say, SlotIx};
use breakglass::core::clock::FixedClock;
use common::moto::{Moto, topic_with_queue};
use common::said;
use secrecy::SecretString;
use std::sync::Arc;

const MEMBER: &str = "111122223333";
const ROOT: &str = "<root_account>";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Credentials for the member account's root (as the test's own setup, outside the ceremony).
fn member_root_sdk(moto: &Moto) -> aws_config::SdkConfig {
    let sdk = moto.sdk();
    let sts = aws_sdk_sts::Client::new(&sdk);
    let policy = aws_sdk_sts::types::PolicyDescriptorType::builder().arn(Task::DeleteRootUserCredentials.policy_arn()).build();
    let out = rt().block_on(sts.assume_root().target_principal(MEMBER).task_policy_arn(policy).send()).unwrap();
    let c = out.credentials().unwrap();
    let creds =
        aws_credential_types::Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().into()), None, "test");
    sdk.to_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds)).build()
}

/// Gives the member account's root a password and an access key, as the insider left them.
fn seed_root_credentials(moto: &Moto) -> String {
    let sdk = member_root_sdk(moto);
    let iam = aws_sdk_iam::Client::new(&sdk);
    rt().block_on(async {
        iam.create_login_profile().user_name(ROOT).password("Insider-Chose-This-1!").send().await.unwrap();
        iam.create_access_key().user_name(ROOT).send().await.unwrap().access_key().unwrap().access_key_id().to_string()
    })
}

fn setup(moto: &Moto, data: &std::path::Path) -> (breakglass::core::ceremony::Ceremony, Runner) {
    let (topic, _q) = topic_with_queue(&moto.sdk(), "root-in-use");
    let outside = Outside {
        broadcaster: Box::new(SnsBroadcaster { aws: Aws::from_sdk(moto.sdk()).unwrap(), topic_arn: topic }),
        aws: Some(Aws::from_sdk(moto.sdk())),
        account: Some("123456789012".into()),
        heartbeat_s: 0,
        rehearsal_roots: vec![],
    };
    breakglass::commands::demo::setup(data, Arc::new(FixedClock::new()), outside).unwrap()
}

fn to_runbook(c: &mut breakglass::core::ceremony::Ceremony, r: &mut Runner, mode: Mode) {
    drive(c, r, Intent::Begin { mode, reason: "root tasks test".into(), ticket: None, scenario: Default::default() });
    for id in ["alice", "bob"] {
        let serial = r.roster.custodian(id).unwrap().yubikey_serial;
        let seen = r.present(serial);
        drive(c, r, seen);
        drive(c, r, Intent::PinEntered(SecretString::from(breakglass::commands::demo::pin_of(id).to_string())));
        drive(c, r, Intent::Touch);
    }
    assert_eq!(*c.phase(), Phase::Runbook, "{:?} {:?}", c.phase(), c.message());
}

fn journal(r: &Runner) -> Vec<serde_json::Value> {
    std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn finish(c: &mut breakglass::core::ceremony::Ceremony, r: &mut Runner) {
    drive(c, r, Intent::CloseRoot);
    drive(c, r, Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        drive(c, r, Intent::ToggleClosing(i));
    }
    drive(c, r, Intent::ConfirmClose);
    drive(c, r, Intent::Touch);
    drive(c, r, Intent::Touch);
    assert_eq!(*c.phase(), Phase::Summary);
    let rep = breakglass::core::verify::verify(&r.dir, &Default::default(), None).unwrap();
    assert_eq!(rep.status, breakglass::core::verify::Status::Valid, "{:?}", rep.problems);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn audit_then_delete_root_access_keys_with_both_confirmations_all_journalled() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(&moto, d.path());
    let key = seed_root_credentials(&moto);
    to_runbook(&mut c, &mut r, Mode::Incident);
    drive(&mut c, &mut r, Intent::OpenRoot);
    assert_eq!(*c.phase(), Phase::Root(RootStage::Pick));
    drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task: Task::DeleteRootUserCredentials });
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready), "{:?}", c.message());
    assert_eq!(c.root().as_ref().unwrap().expires_s, 900);
    drive(&mut c, &mut r, Intent::RootAct(Action::Audit));
    let audit = c.root().as_ref().unwrap().audit.clone().expect("audited");
    assert!(audit.password);
    assert_eq!(audit.access_keys, std::slice::from_ref(&key), "the session's own key is not listed");
    // Destructive: nothing happens until both custodians confirm on their keys.
    drive(&mut c, &mut r, Intent::RootAct(Action::DeleteAccessKeys));
    assert!(matches!(c.phase(), Phase::Root(RootStage::Confirm { .. })));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    assert!(matches!(c.phase(), Phase::Root(RootStage::Confirm { .. })), "one confirmation is not enough");
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready), "{:?}", c.message());
    drive(&mut c, &mut r, Intent::RootAct(Action::Audit));
    assert!(c.root().as_ref().unwrap().audit.as_ref().unwrap().access_keys.is_empty());
    // And the password.
    drive(&mut c, &mut r, Intent::RootAct(Action::DeleteLoginProfile));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    drive(&mut c, &mut r, Intent::RootAct(Action::Audit));
    assert!(!c.root().as_ref().unwrap().audit.as_ref().unwrap().password);
    let j = journal(&r);
    let calls: Vec<&str> = j.iter().filter(|e| e["kind"] == "aws.call").map(|e| e["api"].as_str().unwrap()).collect();
    for api in ["sts:AssumeRoot", "iam:GetLoginProfile", "iam:ListAccessKeys", "iam:DeleteAccessKey", "iam:DeleteLoginProfile"] {
        assert!(calls.contains(&api), "{api} not journalled: {calls:?}");
    }
    let assume = j.iter().find(|e| e["kind"] == "aws.call" && e["api"] == "sts:AssumeRoot").unwrap();
    assert!(assume["request_id"].as_str().is_some_and(|s| !s.is_empty()), "request id journalled: {assume}");
    assert_eq!(j.iter().filter(|e| e["kind"] == "root.confirmed").count(), 4);
    let text = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    assert!(!text.contains("SecretAccessKey") && !text.contains("FQoGZXIvYXdzE"), "no credentials in the journal");
    finish(&mut c, &mut r);
    // verify checks it too: with bob's confirmations taken out (the chain made right again), each
    // destructive action is reported as run without them.
    common::forge_chain(&r.dir.join("journal.jsonl"), |lines| {
        lines.into_iter().filter(|l| !(l.contains("\"kind\":\"root.confirmed\"") && l.contains("\"custodian\":\"bob\""))).collect()
    });
    let rep = breakglass::core::verify::verify(&r.dir, &Default::default(), None).unwrap();
    let unconfirmed = rep.problems.iter().filter(|p| p.what.contains("without the signed confirmation of bob")).count();
    assert_eq!(unconfirmed, 2, "{:?}", rep.problems);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn drills_refuse_destructive_tasks_and_actions() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(&moto, d.path());
    to_runbook(&mut c, &mut r, Mode::Drill);
    drive(&mut c, &mut r, Intent::OpenRoot);
    for task in [Task::DeleteRootUserCredentials, Task::CreateRootUserPassword, Task::UnlockBucketPolicy, Task::UnlockQueuePolicy] {
        drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task });
        assert_eq!(*c.phase(), Phase::Root(RootStage::Pick), "{task:?} must be refused in a drill");
        assert!(matches!(said(&c), Some(Say::DrillReadOnlyTask { .. })), "{:?}", c.message());
    }
    assert!(!journal(&r).iter().any(|e| e["kind"] == "aws.call"), "nothing was even attempted");
    drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task: Task::AuditRootUserCredentials });
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready));
    drive(&mut c, &mut r, Intent::RootAct(Action::DeleteAccessKeys));
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready));
    drive(&mut c, &mut r, Intent::RootAct(Action::Audit));
    assert!(c.root().as_ref().unwrap().audit.is_some());
    finish(&mut c, &mut r);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn the_session_expires_and_is_re_assumed() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(&moto, d.path());
    to_runbook(&mut c, &mut r, Mode::Incident);
    drive(&mut c, &mut r, Intent::Tick { now_s: 100 });
    drive(&mut c, &mut r, Intent::OpenRoot);
    drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task: Task::AuditRootUserCredentials });
    assert_eq!(c.root().as_ref().unwrap().expires_s, 1000);
    drive(&mut c, &mut r, Intent::Tick { now_s: 999 });
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready));
    drive(&mut c, &mut r, Intent::Tick { now_s: 1000 });
    assert_eq!(*c.phase(), Phase::Root(RootStage::Expired));
    // Nothing can be done on an expired session.
    drive(&mut c, &mut r, Intent::RootAct(Action::Audit));
    assert_eq!(*c.phase(), Phase::Root(RootStage::Expired));
    drive(&mut c, &mut r, Intent::ReAssume);
    assert_eq!(*c.phase(), Phase::Root(RootStage::Ready));
    assert_eq!(c.root().as_ref().unwrap().expires_s, 1900);
    assert_eq!(journal(&r).iter().filter(|e| e["kind"] == "aws.call" && e["api"] == "sts:AssumeRoot").count(), 2);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn unlock_a_bucket_and_a_queue_locked_by_their_policies() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(&moto, d.path());
    let sdk = member_root_sdk(&moto);
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
    let queue = rt().block_on(async {
        let s3 = aws_sdk_s3::Client::new(&sdk);
        s3.create_bucket().bucket("locked-bucket").send().await.unwrap();
        s3.put_bucket_policy().bucket("locked-bucket").policy(deny).send().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let q = sqs.create_queue().queue_name("locked-queue").send().await.unwrap().queue_url.unwrap();
        sqs.set_queue_attributes().queue_url(&q).attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, deny).send().await.unwrap();
        q
    });
    to_runbook(&mut c, &mut r, Mode::Incident);
    drive(&mut c, &mut r, Intent::OpenRoot);
    drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task: Task::UnlockBucketPolicy });
    // An action of another task is refused.
    drive(&mut c, &mut r, Intent::RootAct(Action::DeleteQueuePolicy { queue_url: queue.clone() }));
    assert!(matches!(said(&c), Some(Say::ActionNotAllowed { .. })), "{:?}", c.message());
    drive(&mut c, &mut r, Intent::RootAct(Action::DeleteBucketPolicy { bucket: "locked-bucket".into() }));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    assert!(
        matches!(said(&c), Some(Say::RootDone { summary }) if summary.contains("bucket policy of locked-bucket deleted")),
        "{:?}",
        c.message()
    );
    drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task: Task::UnlockQueuePolicy });
    drive(&mut c, &mut r, Intent::RootAct(Action::DeleteQueuePolicy { queue_url: queue.clone() }));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    assert!(matches!(said(&c), Some(Say::RootDone { summary }) if summary.contains("queue policy")), "{:?}", c.message());
    // The emulator keeps one root session at a time: take a fresh one to look.
    let sdk = member_root_sdk(&moto);
    rt().block_on(async {
        let s3 = aws_sdk_s3::Client::new(&sdk);
        assert!(s3.get_bucket_policy().bucket("locked-bucket").send().await.is_err(), "the bucket policy is gone");
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
            .send()
            .await
            .unwrap();
        let policy = attrs.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::Policy).cloned()).unwrap_or_default();
        assert!(policy.is_empty(), "the queue policy is gone: {policy}");
    });
    finish(&mut c, &mut r);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn root_password_recovery_can_be_allowed() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(&moto, d.path());
    to_runbook(&mut c, &mut r, Mode::Incident);
    drive(&mut c, &mut r, Intent::OpenRoot);
    drive(&mut c, &mut r, Intent::AssumeRoot { target: "12345".into(), task: Task::CreateRootUserPassword });
    assert!(matches!(said(&c), Some(Say::NotAnAccountId { .. })), "{:?}", c.message());
    drive(&mut c, &mut r, Intent::AssumeRoot { target: MEMBER.into(), task: Task::CreateRootUserPassword });
    drive(&mut c, &mut r, Intent::RootAct(Action::CreateLoginProfile));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    let j = journal(&r);
    let act = j.iter().find(|e| e["kind"] == "root.action").unwrap();
    assert!(act["result"].as_str().unwrap_or("").contains("password recovery"), "{act}");
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn the_documented_policy_allows_exactly_the_calls_the_code_makes() {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../docs/iam-policy.json")).unwrap();
    let mut allowed: Vec<String> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect();
    allowed.sort();
    let mut used: Vec<String> = breakglass::adapters::aws::CALLS.iter().map(|s| s.to_string()).collect();
    used.sort();
    assert_eq!(allowed, used);
    // AssumeRoot only with the five root-task policies.
    let assume = doc["Statement"].as_array().unwrap().iter().find(|s| s["Action"][0] == "sts:AssumeRoot").unwrap();
    let mut arns: Vec<String> = assume["Condition"]["StringEquals"]["sts:TaskPolicyArn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    arns.sort();
    let mut want: Vec<String> = breakglass::adapters::aws::root::TASKS.iter().map(|t| t.policy_arn()).collect();
    want.sort();
    assert_eq!(arns, want);
}
