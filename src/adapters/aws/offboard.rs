//! Offboarding a departing person, the AWS half: what their IAM user holds ([`survey`]), the
//! changes that take it away ([`plan`]), and one change at a time ([`apply`]), each returning
//! AWS's request id for the ceremony's journal.
//!
//! Nothing is deleted that could not be put back by hand: credentials (access keys, SSH public
//! keys, signing certificates, service-specific credentials) are deactivated (kept), the user
//! itself stays. What a tool cannot change safely (roles whose trust policy names the user,
//! IAM Identity Center assignments) is listed as MANUAL work. Every call is bounded like every
//! other AWS call ([`super::bounds`]); no secret passes through here.

use super::{Aws, AwsError, classify};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::RequestId;
use aws_sdk_iam::types::StatusType;
use std::future::Future;

/// Every IAM API this module calls: docs/offboard-policy.json allows exactly these (tests/offboard.rs
/// checks that the two agree).
pub const CALLS: [&str; 22] = [
    // Member accounts of [offboard] accounts, through their role.
    "sts:AssumeRole",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:ListSSHPublicKeys",
    "iam:ListSigningCertificates",
    "iam:ListServiceSpecificCredentials",
    "iam:GetLoginProfile",
    "iam:ListMFADevices",
    "iam:ListGroupsForUser",
    "iam:ListUserPolicies",
    "iam:ListAttachedUserPolicies",
    "iam:ListRoles",
    "iam:UpdateAccessKey",
    "iam:UpdateSSHPublicKey",
    "iam:UpdateSigningCertificate",
    "iam:UpdateServiceSpecificCredential",
    "iam:DeleteLoginProfile",
    "iam:DeactivateMFADevice",
    "iam:DeleteVirtualMFADevice",
    "iam:RemoveUserFromGroup",
    "iam:DeleteUserPolicy",
    "iam:DetachUserPolicy",
];

const WHO: &str = "the offboarding principal";
/// The most pages read from one list call (100 items each): a bound, said in the error when reached.
const MAX_PAGES: usize = 100;

/// An access key of the user: its id (not a secret) and AWS's status word ("Active", "Inactive").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub status: String,
}

impl AccessKey {
    pub fn is_active(&self) -> bool {
        self.status == "Active"
    }
}

/// Another credential of the user that IAM switches off by id: an SSH public key (CodeCommit over
/// SSH), an X.509 signing certificate, or a service-specific credential (CodeCommit over HTTPS,
/// Keyspaces, Bedrock API keys). `status` is AWS's word ("Active", "Inactive", "Expired").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub status: String,
}

impl Credential {
    pub fn is_active(&self) -> bool {
        self.status == "Active"
    }
}

/// Work a tool cannot do safely: a person must look and decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manual {
    /// A role whose trust policy names the user (by ARN or unique id): editing it may lock out
    /// whoever else it trusts, so a person edits it.
    TrustedByRole { role: String, arn: String },
    /// The person's IAM Identity Center (SSO) user and assignments live outside IAM.
    IdentityCenter,
}

impl Manual {
    /// One line for the screen, in plain words.
    pub fn describe(&self, user: &str) -> String {
        match self {
            Manual::TrustedByRole { role, arn } => format!(
                "MANUAL: role {role} ({arn}) names {user} in its trust policy: remove {user} from it by hand \
                 (iam:UpdateAssumeRolePolicy), keeping whoever else it must trust"
            ),
            Manual::IdentityCenter => format!(
                "MANUAL: check IAM Identity Center assignments for this person by hand ({user}'s sign-in there is \
                 separate from the IAM user)"
            ),
        }
    }
}

/// What an IAM user holds, read from AWS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Survey {
    pub user: String,
    pub arn: String,
    pub user_id: String,
    pub access_keys: Vec<AccessKey>,
    pub ssh_public_keys: Vec<Credential>,
    pub signing_certificates: Vec<Credential>,
    pub service_credentials: Vec<Credential>,
    pub login_profile: bool,
    /// MFA serials: an ARN (`arn:aws:iam::…:mfa/…`) for a virtual device, a serial for hardware.
    pub mfa_devices: Vec<String>,
    pub groups: Vec<String>,
    pub inline_policies: Vec<String>,
    pub attached_policies: Vec<String>,
    pub manual: Vec<Manual>,
}

/// One change to the user, in the order [`plan`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    DeactivateAccessKey { id: String },
    DeactivateSshPublicKey { id: String },
    DeactivateSigningCertificate { id: String },
    DeactivateServiceCredential { id: String },
    DeleteLoginProfile,
    DeactivateMfa { serial: String },
    DeleteVirtualMfa { serial: String },
    RemoveFromGroup { group: String },
    DeleteInlinePolicy { name: String },
    DetachPolicy { arn: String },
}

impl Action {
    /// One sentence for a stressed person.
    pub fn describe(&self, user: &str) -> String {
        match self {
            Action::DeactivateAccessKey { id } => format!("Deactivate access key {id} of {user} (kept, so it can be turned back on)"),
            Action::DeactivateSshPublicKey { id } => {
                format!("Deactivate SSH public key {id} of {user} (kept, so it can be turned back on)")
            }
            Action::DeactivateSigningCertificate { id } => {
                format!("Deactivate signing certificate {id} of {user} (kept, so it can be turned back on)")
            }
            Action::DeactivateServiceCredential { id } => {
                format!("Deactivate service-specific credential {id} of {user} (kept, so it can be turned back on)")
            }
            Action::DeleteLoginProfile => format!("Delete the console password of {user} (no more sign-in to the AWS console)"),
            Action::DeactivateMfa { serial } => format!("Remove MFA device {serial} from {user}"),
            Action::DeleteVirtualMfa { serial } => format!("Delete the virtual MFA device {serial} that {user} used"),
            Action::RemoveFromGroup { group } => format!("Remove {user} from group {group}"),
            Action::DeleteInlinePolicy { name } => format!("Delete the inline policy {name} of {user}"),
            Action::DetachPolicy { arn } => format!("Detach the managed policy {arn} from {user}"),
        }
    }

    /// What the change acts on (for the custodians' signed statement): the id, serial, group,
    /// policy name or ARN; `login-profile` for the console password.
    pub fn target(&self) -> String {
        match self {
            Action::DeactivateAccessKey { id }
            | Action::DeactivateSshPublicKey { id }
            | Action::DeactivateSigningCertificate { id }
            | Action::DeactivateServiceCredential { id } => id.clone(),
            Action::DeleteLoginProfile => "login-profile".into(),
            Action::DeactivateMfa { serial } | Action::DeleteVirtualMfa { serial } => serial.clone(),
            Action::RemoveFromGroup { group } => group.clone(),
            Action::DeleteInlinePolicy { name } => name.clone(),
            Action::DetachPolicy { arn } => arn.clone(),
        }
    }

    /// The IAM API that makes this change.
    pub fn api(&self) -> &'static str {
        match self {
            Action::DeactivateAccessKey { .. } => "iam:UpdateAccessKey",
            Action::DeactivateSshPublicKey { .. } => "iam:UpdateSSHPublicKey",
            Action::DeactivateSigningCertificate { .. } => "iam:UpdateSigningCertificate",
            Action::DeactivateServiceCredential { .. } => "iam:UpdateServiceSpecificCredential",
            Action::DeleteLoginProfile => "iam:DeleteLoginProfile",
            Action::DeactivateMfa { .. } => "iam:DeactivateMFADevice",
            Action::DeleteVirtualMfa { .. } => "iam:DeleteVirtualMFADevice",
            Action::RemoveFromGroup { .. } => "iam:RemoveUserFromGroup",
            Action::DeleteInlinePolicy { .. } => "iam:DeleteUserPolicy",
            Action::DetachPolicy { .. } => "iam:DetachUserPolicy",
        }
    }
}

/// What one [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub api: &'static str,
    /// AWS's request id for the call that settled it (the change, or the read or refusal that
    /// showed it was already done), when AWS gave one.
    pub request_id: Option<String>,
    /// The target was already gone (or the credential already inactive): nothing changed.
    pub already_done: bool,
    /// Why it counts as done, in AWS's words, when `already_done`.
    pub note: Option<String>,
}

/// Whether a serial names a virtual MFA device (an ARN with `:mfa/`), which can be deleted once
/// deactivated; hardware serials and security keys (`:u2f/`) cannot.
pub(crate) fn is_virtual_mfa(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// The changes that take away what the survey found, in a safe order: credentials first (access
/// keys, SSH public keys, signing certificates, service-specific credentials, password, MFA), then
/// permissions (groups, inline, attached policies). Credentials not active need nothing.
pub fn plan(s: &Survey) -> Vec<Action> {
    let mut out = vec![];
    out.extend(s.access_keys.iter().filter(|k| k.is_active()).map(|k| Action::DeactivateAccessKey { id: k.id.clone() }));
    let active = |c: &[Credential]| c.iter().filter(|c| c.is_active()).map(|c| c.id.clone()).collect::<Vec<_>>();
    out.extend(active(&s.ssh_public_keys).into_iter().map(|id| Action::DeactivateSshPublicKey { id }));
    out.extend(active(&s.signing_certificates).into_iter().map(|id| Action::DeactivateSigningCertificate { id }));
    out.extend(active(&s.service_credentials).into_iter().map(|id| Action::DeactivateServiceCredential { id }));
    if s.login_profile {
        out.push(Action::DeleteLoginProfile);
    }
    out.extend(s.mfa_devices.iter().map(|m| Action::DeactivateMfa { serial: m.clone() }));
    out.extend(s.mfa_devices.iter().filter(|m| is_virtual_mfa(m)).map(|m| Action::DeleteVirtualMfa { serial: m.clone() }));
    out.extend(s.groups.iter().map(|g| Action::RemoveFromGroup { group: g.clone() }));
    out.extend(s.inline_policies.iter().map(|n| Action::DeleteInlinePolicy { name: n.clone() }));
    out.extend(s.attached_policies.iter().map(|a| Action::DetachPolicy { arn: a.clone() }));
    out
}

fn read<O, E>(aws: &Aws, api: &str, fut: impl Future<Output = Result<O, SdkError<E, HttpResponse>>>) -> Result<O, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    aws.rt.block_on(fut).map_err(|e| classify(api, &e, WHO))
}

fn no_such_entity<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("NoSuchEntity")
}

/// Reads every page of an IAM list call (`marker` / `is_truncated`), running `$body` on each.
macro_rules! each_page {
    ($aws:expr, $api:expr, $req:expr, |$out:ident| $body:block) => {{
        let mut marker: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let $out = read($aws, $api, $req.set_marker(marker.clone()).send())?;
            $body
            pages += 1;
            marker = $out.marker().map(str::to_string);
            if !$out.is_truncated() || marker.is_none() {
                break;
            }
            if pages >= MAX_PAGES {
                return Err(AwsError::Rejected { api: $api.into(), detail: format!("more than {MAX_PAGES} pages: too many to read") });
            }
        }
    }};
}

/// Reads what the IAM user `user` holds. A user that does not exist is `AwsError::Rejected` for
/// iam:GetUser, saying so and what to check.
pub fn survey(aws: &Aws, user: &str) -> Result<Survey, AwsError> {
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    let got = match aws.rt.block_on(iam.get_user().user_name(user).send()) {
        Ok(o) => o,
        Err(e) if no_such_entity(&e) => {
            return Err(AwsError::Rejected {
                api: "iam:GetUser".into(),
                detail: format!(
                    "the IAM user `{user}` does not exist in this account: check the name (`aws iam list-users`) and \
                     that the profile points at the right account; if the person never had an IAM user, only \
                     IAM Identity Center needs checking, by hand"
                ),
            });
        }
        Err(e) => return Err(classify("iam:GetUser", &e, WHO)),
    };
    let u = got.user().ok_or_else(|| AwsError::Rejected { api: "iam:GetUser".into(), detail: "no user in the answer".into() })?;
    let mut s = Survey { user: user.to_string(), arn: u.arn().to_string(), user_id: u.user_id().to_string(), ..Survey::default() };

    each_page!(aws, "iam:ListAccessKeys", iam.list_access_keys().user_name(user), |out| {
        s.access_keys.extend(out.access_key_metadata().iter().filter_map(|k| {
            Some(AccessKey { id: k.access_key_id()?.to_string(), status: k.status().map(|st| st.as_str().to_string()).unwrap_or_default() })
        }));
    });
    let credential = |id: &str, status: &StatusType| Credential { id: id.to_string(), status: status.as_str().to_string() };
    each_page!(aws, "iam:ListSSHPublicKeys", iam.list_ssh_public_keys().user_name(user), |out| {
        s.ssh_public_keys.extend(out.ssh_public_keys().iter().map(|k| credential(k.ssh_public_key_id(), k.status())));
    });
    each_page!(aws, "iam:ListSigningCertificates", iam.list_signing_certificates().user_name(user), |out| {
        s.signing_certificates.extend(out.certificates().iter().map(|c| credential(c.certificate_id(), c.status())));
    });
    // Without a ServiceName: every service's credentials (CodeCommit, Keyspaces, Bedrock, ...).
    each_page!(aws, "iam:ListServiceSpecificCredentials", iam.list_service_specific_credentials().user_name(user), |out| {
        s.service_credentials
            .extend(out.service_specific_credentials().iter().map(|c| credential(c.service_specific_credential_id(), c.status())));
    });
    s.login_profile = match aws.rt.block_on(iam.get_login_profile().user_name(user).send()) {
        Ok(_) => true,
        Err(e) if no_such_entity(&e) => false,
        Err(e) => return Err(classify("iam:GetLoginProfile", &e, WHO)),
    };
    each_page!(aws, "iam:ListMFADevices", iam.list_mfa_devices().user_name(user), |out| {
        s.mfa_devices.extend(out.mfa_devices().iter().map(|d| d.serial_number().to_string()));
    });
    each_page!(aws, "iam:ListGroupsForUser", iam.list_groups_for_user().user_name(user), |out| {
        s.groups.extend(out.groups().iter().map(|g| g.group_name().to_string()));
    });
    each_page!(aws, "iam:ListUserPolicies", iam.list_user_policies().user_name(user), |out| {
        s.inline_policies.extend(out.policy_names().iter().cloned());
    });
    each_page!(aws, "iam:ListAttachedUserPolicies", iam.list_attached_user_policies().user_name(user), |out| {
        s.attached_policies.extend(out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)));
    });
    each_page!(aws, "iam:ListRoles", iam.list_roles(), |out| {
        for r in out.roles() {
            if r.assume_role_policy_document().is_some_and(|d| trust_names(d, &s.arn, &s.user_id)) {
                s.manual.push(Manual::TrustedByRole { role: r.role_name().to_string(), arn: r.arn().to_string() });
            }
        }
    });
    s.manual.push(Manual::IdentityCenter);
    Ok(s)
}

/// Whether a trust policy (as IAM returns it: URL-encoded JSON, or plain JSON) names the user,
/// by ARN or by unique id (what IAM shows once a named principal is deleted and recreated).
pub fn trust_names(document: &str, user_arn: &str, user_id: &str) -> bool {
    let doc = percent_decode(document);
    match serde_json::from_str::<serde_json::Value>(&doc) {
        Ok(v) => any_string(&v, &|x| x == user_arn || (!user_id.is_empty() && x == user_id)),
        Err(_) => doc.contains(&format!("\"{user_arn}\"")) || (!user_id.is_empty() && doc.contains(&format!("\"{user_id}\""))),
    }
}

fn any_string(v: &serde_json::Value, hit: &dyn Fn(&str) -> bool) -> bool {
    match v {
        serde_json::Value::String(x) => hit(x),
        serde_json::Value::Array(a) => a.iter().any(|x| any_string(x, hit)),
        serde_json::Value::Object(o) => o.values().any(|x| any_string(x, hit)),
        _ => false,
    }
}

/// `%XX` escapes decoded (RFC 3986, as IAM encodes policy documents); anything else kept as is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes one change. A target that is already gone (IAM's NoSuchEntity), or a credential already
/// inactive, is `already_done`, not an error, so a plan can be applied again after an interruption.
pub fn apply(aws: &Aws, user: &str, a: &Action) -> Result<Applied, AwsError> {
    let iam = aws_sdk_iam::Client::new(&aws.sdk);
    let api = a.api();
    let off = StatusType::Inactive;
    match a {
        Action::DeactivateAccessKey { id } => deactivate(
            aws,
            api,
            ("iam:ListAccessKeys", iam.list_access_keys().user_name(user).send()),
            ("access key", id),
            |o| o.access_key_metadata().iter().find(|k| k.access_key_id() == Some(id.as_str())).map(|k| k.status().cloned()),
            iam.update_access_key().user_name(user).access_key_id(id).status(off).send(),
        ),
        Action::DeactivateSshPublicKey { id } => deactivate(
            aws,
            api,
            ("iam:ListSSHPublicKeys", iam.list_ssh_public_keys().user_name(user).send()),
            ("SSH public key", id),
            |o| o.ssh_public_keys().iter().find(|k| k.ssh_public_key_id() == id).map(|k| Some(k.status().clone())),
            iam.update_ssh_public_key().user_name(user).ssh_public_key_id(id).status(off).send(),
        ),
        Action::DeactivateSigningCertificate { id } => deactivate(
            aws,
            api,
            ("iam:ListSigningCertificates", iam.list_signing_certificates().user_name(user).send()),
            ("signing certificate", id),
            |o| o.certificates().iter().find(|c| c.certificate_id() == id).map(|c| Some(c.status().clone())),
            iam.update_signing_certificate().user_name(user).certificate_id(id).status(off).send(),
        ),
        Action::DeactivateServiceCredential { id } => deactivate(
            aws,
            api,
            ("iam:ListServiceSpecificCredentials", iam.list_service_specific_credentials().user_name(user).send()),
            ("service-specific credential", id),
            |o| {
                o.service_specific_credentials().iter().find(|c| c.service_specific_credential_id() == id).map(|c| Some(c.status().clone()))
            },
            iam.update_service_specific_credential().user_name(user).service_specific_credential_id(id).status(off).send(),
        ),
        Action::DeleteLoginProfile => write(aws, api, iam.delete_login_profile().user_name(user).send()),
        Action::DeactivateMfa { serial } => write(aws, api, iam.deactivate_mfa_device().user_name(user).serial_number(serial).send()),
        Action::DeleteVirtualMfa { serial } => write(aws, api, iam.delete_virtual_mfa_device().serial_number(serial).send()),
        Action::RemoveFromGroup { group } => write(aws, api, iam.remove_user_from_group().user_name(user).group_name(group).send()),
        Action::DeleteInlinePolicy { name } => write(aws, api, iam.delete_user_policy().user_name(user).policy_name(name).send()),
        Action::DetachPolicy { arn } => write(aws, api, iam.detach_user_policy().user_name(user).policy_arn(arn).send()),
    }
}

/// Switches off credential `id` (`what`: "access key", ...) with `change`, unless the `list` read
/// shows it already inactive or gone: the Update* calls succeed on an inactive credential, so
/// reading first lets the journal say whether this call changed anything. `status` finds it in the
/// answer (`None`: not listed). One page (100 items) is read: IAM allows a user at most 2 access
/// keys, 5 SSH public keys, 2 signing certificates and 2 service-specific credentials per service.
fn deactivate<L, LE, W, WE>(
    aws: &Aws,
    api: &'static str,
    (list_api, list): (&'static str, impl Future<Output = Result<L, SdkError<LE, HttpResponse>>>),
    (what, id): (&str, &str),
    status: impl FnOnce(&L) -> Option<Option<StatusType>>,
    change: impl Future<Output = Result<W, SdkError<WE, HttpResponse>>>,
) -> Result<Applied, AwsError>
where
    L: RequestId,
    LE: ProvideErrorMetadata + std::error::Error + 'static,
    W: RequestId,
    WE: ProvideErrorMetadata + std::error::Error + 'static,
{
    let out = match aws.rt.block_on(list) {
        Ok(o) => o,
        Err(e) if no_such_entity(&e) => return Ok(gone(api, &e)),
        Err(e) => return Err(classify(list_api, &e, WHO)),
    };
    let note = match status(&out) {
        None => Some(format!("{what} {id} no longer exists")),
        Some(Some(StatusType::Inactive)) => Some(format!("{what} {id} is already inactive")),
        Some(_) => None,
    };
    if let Some(note) = note {
        return Ok(Applied { api, request_id: out.request_id().map(str::to_string), already_done: true, note: Some(note) });
    }
    write(aws, api, change)
}

fn write<O, E>(aws: &Aws, api: &'static str, fut: impl Future<Output = Result<O, SdkError<E, HttpResponse>>>) -> Result<Applied, AwsError>
where
    O: RequestId,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match aws.rt.block_on(fut) {
        Ok(o) => Ok(Applied { api, request_id: o.request_id().map(str::to_string), already_done: false, note: None }),
        Err(e) if no_such_entity(&e) => Ok(gone(api, &e)),
        Err(e) => Err(classify(api, &e, WHO)),
    }
}

/// A NoSuchEntity answer as "already done", with AWS's words and request id.
fn gone<E: ProvideErrorMetadata>(api: &'static str, e: &SdkError<E, HttpResponse>) -> Applied {
    Applied {
        api,
        request_id: e.request_id().map(str::to_string),
        already_done: true,
        note: Some(e.as_service_error().and_then(|s| s.message()).unwrap_or("NoSuchEntity").to_string()),
    }
}

/// A client for `account`, reached by assuming `role` there with the configured credentials
/// (sts:AssumeRole, one hour at most; the session is named after the tool).
pub fn for_account(aws: &Aws, account: &str, role: &str) -> Result<Aws, AwsError> {
    let sts = aws_sdk_sts::Client::new(&aws.sdk);
    let arn = format!("arn:aws:iam::{account}:role/{role}");
    let out = aws
        .rt
        .block_on(sts.assume_role().role_arn(&arn).role_session_name("breakglass-offboard").duration_seconds(3600).send())
        .map_err(|e| super::classify("sts:AssumeRole", &e, &format!("the configured credentials (to {arn})")))?;
    let c = out
        .credentials()
        .ok_or_else(|| AwsError::Rejected { api: "sts:AssumeRole".into(), detail: format!("no credentials for {arn}") })?;
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "breakglass-offboard",
    );
    let sdk = aws.sdk.to_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds)).build();
    Aws::from_sdk(sdk)
}
