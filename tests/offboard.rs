//! Offboarding a departing person's IAM user against the local AWS server (moto): survey what
//! they hold, plan, apply every change, survey again; a second run of the same plan is all
//! "already done"; a user that does not exist is a typed error that says what to check. The plan's
//! order and the trust-policy match (URL-encoded, as real IAM returns it) are checked without moto.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::aws::offboard::{AccessKey, Action, Manual, Survey, apply, plan, survey, trust_names};
use breakglass::aws::{Aws, AwsError};
use common::moto::Moto;

const ACCOUNT: &str = "123456789012";

fn trust(principal: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

/// dave: two access keys, a password, an enabled virtual MFA device, two groups, an inline and an
/// attached policy; a role that trusts him by ARN and one that trusts someone with a longer name.
/// Returns his MFA serial and the managed policy's ARN.
fn seed(aws: &Aws) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    aws.rt.block_on(async {
        let arn = iam.create_user().user_name("dave").send().await.unwrap().user.unwrap().arn;
        assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:user/dave"));
        for _ in 0..2 {
            iam.create_access_key().user_name("dave").send().await.unwrap();
        }
        iam.create_login_profile().user_name("dave").password("correct-horse-battery-9!").send().await.unwrap();
        let serial =
            iam.create_virtual_mfa_device().virtual_mfa_device_name("dave").send().await.unwrap().virtual_mfa_device.unwrap().serial_number;
        iam.enable_mfa_device()
            .user_name("dave")
            .serial_number(&serial)
            .authentication_code1("123456")
            .authentication_code2("654321")
            .send()
            .await
            .unwrap();
        for g in ["engineers", "oncall"] {
            iam.create_group().group_name(g).send().await.unwrap();
            iam.add_user_to_group().group_name(g).user_name("dave").send().await.unwrap();
        }
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
        iam.put_user_policy().user_name("dave").policy_name("dave-s3").policy_document(doc).send().await.unwrap();
        let policy = iam.create_policy().policy_name("deploy").policy_document(doc).send().await.unwrap().policy.unwrap().arn.unwrap();
        iam.attach_user_policy().user_name("dave").policy_arn(&policy).send().await.unwrap();
        iam.create_role().role_name("dave-admin").assume_role_policy_document(trust(&arn)).send().await.unwrap();
        iam.create_role()
            .role_name("contractor")
            .assume_role_policy_document(trust(&format!("arn:aws:iam::{ACCOUNT}:user/dave-contractor")))
            .send()
            .await
            .unwrap();
        (serial, policy)
    })
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn offboarding_takes_away_everything_dave_holds_and_can_run_again() {
    let moto = Moto::start();
    let aws = Aws::from_sdk(moto.sdk()).unwrap();
    let (serial, policy) = seed(&aws);

    let before = survey(&aws, "dave").unwrap();
    assert_eq!(before.arn, format!("arn:aws:iam::{ACCOUNT}:user/dave"));
    assert_eq!(before.access_keys.len(), 2);
    assert!(before.access_keys.iter().all(AccessKey::is_active), "{before:?}");
    assert!(before.login_profile);
    assert_eq!(before.mfa_devices, vec![serial.clone()]);
    let mut groups = before.groups.clone();
    groups.sort();
    assert_eq!(groups, ["engineers", "oncall"]);
    assert_eq!(before.inline_policies, ["dave-s3"]);
    assert_eq!(before.attached_policies, [policy]);
    let role = Manual::TrustedByRole { role: "dave-admin".into(), arn: format!("arn:aws:iam::{ACCOUNT}:role/dave-admin") };
    assert_eq!(before.manual, [role.clone(), Manual::IdentityCenter], "only the role naming dave's exact ARN is MANUAL work");

    let steps = plan(&before);
    let kinds: Vec<&str> = steps.iter().map(Action::api).collect();
    assert_eq!(
        kinds,
        [
            "iam:UpdateAccessKey",
            "iam:UpdateAccessKey",
            "iam:DeleteLoginProfile",
            "iam:DeactivateMFADevice",
            "iam:DeleteVirtualMFADevice",
            "iam:RemoveUserFromGroup",
            "iam:RemoveUserFromGroup",
            "iam:DeleteUserPolicy",
            "iam:DetachUserPolicy",
        ]
    );
    for a in &steps {
        let done = apply(&aws, "dave", a).unwrap_or_else(|e| panic!("{}: {e}", a.describe("dave")));
        assert!(!done.already_done, "{}: {done:?}", a.describe("dave"));
        assert_eq!(done.api, a.api());
        assert!(done.request_id.as_deref().is_some_and(|r| !r.is_empty()), "{}: no request id to journal", a.describe("dave"));
    }

    let after = survey(&aws, "dave").unwrap();
    assert_eq!(after.access_keys.len(), 2, "keys are deactivated, not deleted");
    assert!(after.access_keys.iter().all(|k| k.status == "Inactive"), "{after:?}");
    assert!(!after.login_profile);
    assert!(after.mfa_devices.is_empty());
    assert!(after.groups.is_empty());
    assert!(after.inline_policies.is_empty());
    assert!(after.attached_policies.is_empty());
    assert_eq!(after.manual, [role.clone(), Manual::IdentityCenter], "the role is left for a person");
    assert!(plan(&after).is_empty(), "{:?}", plan(&after));
    assert!(role.describe("dave").starts_with("MANUAL: role dave-admin"));
    assert!(Manual::IdentityCenter.describe("dave").contains("check IAM Identity Center assignments for this person by hand"));
    // The virtual device itself is gone, not only unassigned.
    let left = aws.rt.block_on(aws_sdk_iam::Client::new(&aws.sdk).list_virtual_mfa_devices().send()).unwrap();
    assert!(left.virtual_mfa_devices().iter().all(|d| d.serial_number() != serial), "{left:?}");

    // Interrupted and run again: every step reports "already done", none fails.
    for a in &steps {
        let again = apply(&aws, "dave", a).unwrap_or_else(|e| panic!("again: {}: {e}", a.describe("dave")));
        assert!(again.already_done, "again: {}: {again:?}", a.describe("dave"));
        assert!(again.note.is_some());
    }

    // A name that is not an IAM user: typed, and says what to check.
    match survey(&aws, "nobody") {
        Err(AwsError::Rejected { api, detail }) => {
            assert_eq!(api, "iam:GetUser");
            assert!(detail.contains("`nobody` does not exist"), "{detail}");
            assert!(detail.contains("check the name"), "{detail}");
        }
        other => panic!("expected a rejection for a missing user, got {other:?}"),
    }
}

#[test]
fn the_plan_takes_credentials_first_then_permissions() {
    let s = Survey {
        user: "bob".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/bob"),
        user_id: "AIDAEXAMPLEBOB".into(),
        access_keys: vec![
            AccessKey { id: "AKIAEXAMPLE1".into(), status: "Active".into() },
            AccessKey { id: "AKIAEXAMPLE2".into(), status: "Inactive".into() },
        ],
        login_profile: true,
        mfa_devices: vec![
            format!("arn:aws:iam::{ACCOUNT}:mfa/bob-phone"),
            "GAHT12345678".into(),
            format!("arn:aws:iam::{ACCOUNT}:u2f/user/bob/yubikey-ABCDEF"),
        ],
        groups: vec!["admins".into()],
        inline_policies: vec!["bob-extra".into()],
        attached_policies: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
        manual: vec![Manual::IdentityCenter],
    };
    let phone = format!("arn:aws:iam::{ACCOUNT}:mfa/bob-phone");
    assert_eq!(
        plan(&s),
        [
            Action::DeactivateAccessKey { id: "AKIAEXAMPLE1".into() },
            Action::DeleteLoginProfile,
            Action::DeactivateMfa { serial: phone.clone() },
            Action::DeactivateMfa { serial: "GAHT12345678".into() },
            Action::DeactivateMfa { serial: format!("arn:aws:iam::{ACCOUNT}:u2f/user/bob/yubikey-ABCDEF") },
            Action::DeleteVirtualMfa { serial: phone },
            Action::RemoveFromGroup { group: "admins".into() },
            Action::DeleteInlinePolicy { name: "bob-extra".into() },
            Action::DetachPolicy { arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into() },
        ],
        "an inactive key needs nothing; only virtual MFA devices are deleted"
    );
    let first = Action::DeactivateAccessKey { id: "AKIAEXAMPLE1".into() };
    assert_eq!(first.describe("bob"), "Deactivate access key AKIAEXAMPLE1 of bob (kept, so it can be turned back on)");
    assert!(plan(&Survey { manual: vec![Manual::IdentityCenter], ..Survey::default() }).is_empty());
    for a in plan(&s) {
        assert!(breakglass::aws::offboard::CALLS.contains(&a.api()), "{} is not in CALLS", a.api());
    }
}

#[test]
fn a_trust_policy_names_the_user_by_exact_arn_or_unique_id_even_url_encoded() {
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/dave");
    // Real IAM returns AssumeRolePolicyDocument URL-encoded.
    let encoded = trust(&arn).replace('%', "%25").replace('{', "%7B").replace('}', "%7D").replace('"', "%22").replace(':', "%3A");
    assert!(trust_names(&encoded, &arn, "AIDADAVE"));
    assert!(trust_names(&trust(&arn), &arn, "AIDADAVE"));
    assert!(trust_names(&trust("AIDADAVE"), &arn, "AIDADAVE"), "a recreated principal shows as its unique id");
    assert!(!trust_names(&trust(&format!("{arn}-contractor")), &arn, "AIDADAVE"));
    assert!(!trust_names(&trust(&format!("arn:aws:iam::{ACCOUNT}:root")), &arn, "AIDADAVE"));
    let list = format!(r#"{{"Statement":[{{"Principal":{{"AWS":["arn:aws:iam::{ACCOUNT}:user/erin","{arn}"]}}}}]}}"#);
    assert!(trust_names(&list, &arn, ""));
}
