//! Scoped root tasks: AWS's five root-task policies, the actions each allows, and what a root
//! session records. Pure: the calls themselves are made by [`crate::adapters::aws::root`].

use serde::Serialize;

/// AWS's root-task policies, one per task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Task {
    AuditRootUserCredentials,
    CreateRootUserPassword,
    DeleteRootUserCredentials,
    UnlockBucketPolicy,
    UnlockQueuePolicy,
}

pub const TASKS: [Task; 5] = [
    Task::AuditRootUserCredentials,
    Task::CreateRootUserPassword,
    Task::DeleteRootUserCredentials,
    Task::UnlockBucketPolicy,
    Task::UnlockQueuePolicy,
];

impl Task {
    pub fn policy_name(self) -> &'static str {
        match self {
            Task::AuditRootUserCredentials => "IAMAuditRootUserCredentials",
            Task::CreateRootUserPassword => "IAMCreateRootUserPassword",
            Task::DeleteRootUserCredentials => "IAMDeleteRootUserCredentials",
            Task::UnlockBucketPolicy => "S3UnlockBucketPolicy",
            Task::UnlockQueuePolicy => "SQSUnlockQueuePolicy",
        }
    }

    pub fn policy_arn(self) -> String {
        format!("arn:aws:iam::aws:policy/root-task/{}", self.policy_name())
    }

    /// Drills may only read.
    pub(crate) fn allowed_in_drill(self) -> bool {
        self == Task::AuditRootUserCredentials
    }

    /// Whether this task's policy allows `action` (the one rule the ceremony, the session and the
    /// screen all ask): the action's own task, and reading root's credentials where they can be
    /// deleted.
    pub fn allows(self, action: &Action) -> bool {
        action.task() == self || (*action == Action::Audit && self == Task::DeleteRootUserCredentials)
    }

    /// Whether the custodians must name a bucket or a queue for this task.
    pub(crate) fn needs_arg(self) -> bool {
        matches!(self, Task::UnlockBucketPolicy | Task::UnlockQueuePolicy)
    }

    /// What the custodians can do within this task.
    pub fn describe(self) -> &'static str {
        match self {
            Task::AuditRootUserCredentials => "read the root user's credentials (password, access keys, MFA, signing certificates)",
            Task::CreateRootUserPassword => "allow root password recovery (create a login profile)",
            Task::DeleteRootUserCredentials => "delete root's password, access keys, signing certificates, MFA",
            Task::UnlockBucketPolicy => "delete an S3 bucket policy that locks everyone out",
            Task::UnlockQueuePolicy => "delete an SQS queue policy that locks everyone out",
        }
    }
}

/// One call made against the member account, for the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    pub api: String,
    pub target: String,
    pub request_id: Option<String>,
    pub outcome: String,
}

/// What a root action changes or reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Action {
    Audit,
    DeleteLoginProfile,
    DeleteAccessKeys,
    DeleteSigningCertificates,
    DeactivateMfa,
    CreateLoginProfile,
    DeleteBucketPolicy { bucket: String },
    DeleteQueuePolicy { queue_url: String },
}

impl Action {
    /// Actions that change the account need both custodians' signed confirmation.
    pub fn destructive(&self) -> bool {
        !matches!(self, Action::Audit)
    }

    /// The task policy that allows this action.
    pub fn task(&self) -> Task {
        match self {
            Action::Audit => Task::AuditRootUserCredentials,
            Action::DeleteLoginProfile | Action::DeleteAccessKeys | Action::DeleteSigningCertificates | Action::DeactivateMfa => {
                Task::DeleteRootUserCredentials
            }
            Action::CreateLoginProfile => Task::CreateRootUserPassword,
            Action::DeleteBucketPolicy { .. } => Task::UnlockBucketPolicy,
            Action::DeleteQueuePolicy { .. } => Task::UnlockQueuePolicy,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Action::Audit => "audit root credentials".into(),
            Action::DeleteLoginProfile => "delete root's password (login profile)".into(),
            Action::DeleteAccessKeys => "delete root's access keys".into(),
            Action::DeleteSigningCertificates => "delete root's signing certificates".into(),
            Action::DeactivateMfa => "deactivate root's MFA devices".into(),
            Action::CreateLoginProfile => "allow root password recovery".into(),
            Action::DeleteBucketPolicy { bucket } => format!("delete the bucket policy of {bucket}"),
            Action::DeleteQueuePolicy { queue_url } => format!("delete the queue policy of {queue_url}"),
        }
    }

    /// The actions a task offers (bucket and queue names come from the custodians).
    pub(crate) fn for_task(task: Task) -> Vec<Action> {
        match task {
            Task::AuditRootUserCredentials => vec![Action::Audit],
            Task::DeleteRootUserCredentials => {
                vec![
                    Action::Audit,
                    Action::DeleteLoginProfile,
                    Action::DeleteAccessKeys,
                    Action::DeleteSigningCertificates,
                    Action::DeactivateMfa,
                ]
            }
            Task::CreateRootUserPassword => vec![Action::CreateLoginProfile],
            Task::UnlockBucketPolicy => vec![Action::DeleteBucketPolicy { bucket: String::new() }],
            Task::UnlockQueuePolicy => vec![Action::DeleteQueuePolicy { queue_url: String::new() }],
        }
    }
}

/// What root's credentials look like on the member account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub password: bool,
    pub access_keys: Vec<String>,
    pub mfa_devices: Vec<String>,
    pub signing_certificates: Vec<String>,
}

impl Audit {
    pub fn summary(&self) -> String {
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        format!(
            "password: {} · access keys: {} · MFA: {} · signing certificates: {}",
            if self.password { "yes" } else { "no" },
            list(&self.access_keys),
            list(&self.mfa_devices),
            list(&self.signing_certificates)
        )
    }
}
