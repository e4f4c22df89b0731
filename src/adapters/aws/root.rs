//! Scoped root tasks through AWS's centralized root access (sts:AssumeRoot).
//!
//! From the management (or delegated administrator) account, a short root session (at most 900 s)
//! is opened on a member account with exactly one of AWS's five root-task policies, and only the
//! calls that policy allows are made. No long-lived root password is involved. The session's
//! credentials live only in memory and are dropped when the session ends or is replaced.

use super::{Aws, AwsError, classify};
pub use crate::core::root::{Action, Audit, Call, TASKS, Task};
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::operation::RequestId;

/// What an action did (a sentence) and, for audits, what root's credentials look like.
pub type Outcome = (String, Option<Audit>);

/// An open root session on a member account. Its credentials never leave memory and never print.
pub struct RootSession {
    pub target: String,
    pub task: Task,
    pub duration_s: u64,
    sdk: SdkConfig,
    session_key: String,
    aws: Aws,
}

impl std::fmt::Debug for RootSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootSession").field("target", &self.target).field("task", &self.task).finish_non_exhaustive()
    }
}

/// Opens a root session on `target` for `task` (sts:AssumeRoot, at most 900 s).
pub fn assume_root(aws: &Aws, target: &str, task: Task, duration_s: u64) -> Result<(RootSession, Call), AwsError> {
    let client = aws_sdk_sts::Client::new(&aws.sdk);
    let policy = aws_sdk_sts::types::PolicyDescriptorType::builder().arn(task.policy_arn()).build();
    let out = aws
        .rt
        .block_on(client.assume_root().target_principal(target).task_policy_arn(policy).duration_seconds(duration_s.min(900) as i32).send())
        .map_err(|e| classify("sts:AssumeRoot", &e, "this principal"))?;
    let request_id = out.request_id().map(str::to_string);
    let c = out
        .credentials()
        .ok_or_else(|| AwsError::Rejected { api: "sts:AssumeRoot".into(), detail: "no credentials in the answer".into() })?;
    let creds =
        Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), None, "breakglass-assume-root");
    let sdk = aws.sdk.to_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds)).build();
    let session = RootSession {
        target: target.to_string(),
        task,
        duration_s: duration_s.min(900),
        session_key: c.access_key_id().to_string(),
        aws: Aws::from_sdk(sdk.clone())?,
        sdk,
    };
    Ok((
        session,
        Call { api: "sts:AssumeRoot".into(), target: format!("{target} ({})", task.policy_name()), request_id, outcome: "ok".into() },
    ))
}

macro_rules! call {
    ($s:expr, $calls:expr, $api:expr, $target:expr, $fut:expr) => {{
        let r = $s.aws.rt.block_on($fut);
        match r {
            Ok(out) => {
                $calls.push(Call {
                    api: $api.into(),
                    target: $target.clone(),
                    request_id: out.request_id().map(str::to_string),
                    outcome: "ok".into(),
                });
                Ok(out)
            }
            Err(e) => {
                let err = classify($api, &e, "the root session");
                $calls.push(Call { api: $api.into(), target: $target.clone(), request_id: None, outcome: err.to_string() });
                Err(err)
            }
        }
    }};
}

impl RootSession {
    /// Carries out `action`; returns what changed (or was read) and every call made.
    pub fn perform(&self, action: &Action) -> (Result<Outcome, AwsError>, Vec<Call>) {
        let mut calls = vec![];
        let r = self.perform_inner(action, &mut calls);
        (r, calls)
    }

    fn perform_inner(&self, action: &Action, calls: &mut Vec<Call>) -> Result<Outcome, AwsError> {
        if !self.task.allows(action) {
            return Err(AwsError::Rejected {
                api: "root task".into(),
                detail: format!("`{}` is not allowed by {}", action.label(), self.task.policy_name()),
            });
        }
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let target = format!("root@{}", self.target);
        match action {
            Action::Audit => {
                let a = self.audit(&iam, calls)?;
                let s = a.summary();
                Ok((s, Some(a)))
            }
            Action::DeleteLoginProfile => {
                call!(self, calls, "iam:DeleteLoginProfile", target, iam.delete_login_profile().send())?;
                Ok(("root's password (login profile) deleted".into(), None))
            }
            Action::DeleteAccessKeys => {
                let a = self.audit(&iam, calls)?;
                for k in &a.access_keys {
                    call!(
                        self,
                        calls,
                        "iam:DeleteAccessKey",
                        format!("{target} key {k}"),
                        iam.delete_access_key().access_key_id(k).send()
                    )?;
                }
                Ok((format!("{} root access key(s) deleted", a.access_keys.len()), None))
            }
            Action::DeleteSigningCertificates => {
                let a = self.audit(&iam, calls)?;
                for c in &a.signing_certificates {
                    call!(
                        self,
                        calls,
                        "iam:DeleteSigningCertificate",
                        format!("{target} cert {c}"),
                        iam.delete_signing_certificate().certificate_id(c).send()
                    )?;
                }
                Ok((format!("{} root signing certificate(s) deleted", a.signing_certificates.len()), None))
            }
            Action::DeactivateMfa => {
                let a = self.audit(&iam, calls)?;
                for m in &a.mfa_devices {
                    call!(
                        self,
                        calls,
                        "iam:DeactivateMFADevice",
                        format!("{target} mfa {m}"),
                        iam.deactivate_mfa_device().serial_number(m).send()
                    )?;
                }
                Ok((format!("{} root MFA device(s) deactivated", a.mfa_devices.len()), None))
            }
            Action::CreateLoginProfile => {
                call!(self, calls, "iam:CreateLoginProfile", target, iam.create_login_profile().send())?;
                Ok(("root password recovery allowed: use \"Forgot password\" on the root sign-in page".into(), None))
            }
            Action::DeleteBucketPolicy { bucket } => {
                let s3 = aws_sdk_s3::Client::new(&self.sdk);
                call!(self, calls, "s3:DeleteBucketPolicy", format!("s3://{bucket}"), s3.delete_bucket_policy().bucket(bucket).send())?;
                Ok((format!("bucket policy of {bucket} deleted"), None))
            }
            Action::DeleteQueuePolicy { queue_url } => {
                let sqs = aws_sdk_sqs::Client::new(&self.sdk);
                call!(
                    self,
                    calls,
                    "sqs:SetQueueAttributes",
                    queue_url.clone(),
                    sqs.set_queue_attributes().queue_url(queue_url).attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, "").send()
                )?;
                Ok((format!("queue policy of {queue_url} deleted"), None))
            }
        }
    }

    fn audit(&self, iam: &aws_sdk_iam::Client, calls: &mut Vec<Call>) -> Result<Audit, AwsError> {
        let target = format!("root@{}", self.target);
        let mut a = Audit::default();
        let r = self.aws.rt.block_on(iam.get_login_profile().send());
        match r {
            Ok(out) => {
                calls.push(Call {
                    api: "iam:GetLoginProfile".into(),
                    target: target.clone(),
                    request_id: out.request_id().map(str::to_string),
                    outcome: "ok".into(),
                });
                a.password = true;
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {
                calls.push(Call {
                    api: "iam:GetLoginProfile".into(),
                    target: target.clone(),
                    request_id: None,
                    outcome: "no login profile".into(),
                });
            }
            Err(e) => {
                let err = classify("iam:GetLoginProfile", &e, "the root session");
                calls.push(Call { api: "iam:GetLoginProfile".into(), target: target.clone(), request_id: None, outcome: err.to_string() });
                return Err(err);
            }
        }
        let keys = call!(self, calls, "iam:ListAccessKeys", target, iam.list_access_keys().send())?;
        // The session's own temporary key is not one of root's credentials.
        a.access_keys = keys
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .filter(|k| *k != self.session_key)
            .collect();
        let mfa = call!(self, calls, "iam:ListMFADevices", target, iam.list_mfa_devices().send())?;
        a.mfa_devices = mfa.mfa_devices().iter().map(|d| d.serial_number().to_string()).collect();
        let certs = call!(self, calls, "iam:ListSigningCertificates", target, iam.list_signing_certificates().send())?;
        a.signing_certificates = certs.certificates().iter().map(|c| c.certificate_id().to_string()).collect();
        Ok(a)
    }
}
