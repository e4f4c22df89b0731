//! AWS adapters: the real AWS SDK for Rust, configured the standard way (profiles, `AWS_PROFILE`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, SSO and `credential_process`), so aws-vault and Granted
//! users feel at home. Every call is bounded: short timeouts and a few retries with backoff.
//!
//! The calls are blocking from the caller's point of view (each adapter owns a small tokio
//! runtime); the TUI only ever calls them from its worker thread.

pub mod archive;
pub mod offboard;
pub mod org;
pub mod posture;
pub mod root;
pub mod sns;
pub mod sts;
pub mod trail;

use crate::core::config::Config;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use std::time::Duration;
use thiserror::Error;

/// Every AWS API the tool calls with its own principal (docs/iam-policy.json must allow exactly these).
/// (The calls made inside a root session are authorized by AWS's root-task policy, not by it.)
pub const CALLS: [&str; 4] = ["sts:GetCallerIdentity", "sts:AssumeRoot", "sns:Publish", "sns:ListSubscriptionsByTopic"];

#[derive(Debug, Error, Clone)]
pub enum AwsError {
    #[error("no AWS region: set aws.region in breakglass.toml, or AWS_REGION / a profile with a region")]
    NoRegion,
    #[error("no AWS credentials were found{}: sign in first (`aws sso login`, `aws-vault exec PROFILE --`, `assume PROFILE`), or set aws.profile in breakglass.toml", profile.as_ref().map(|p| format!(" for profile `{p}`")).unwrap_or_default())]
    NoCredentials { profile: Option<String> },
    #[error("the AWS credentials have expired: sign in again (`aws sso login`, or renew the aws-vault/Granted session) and retry")]
    Expired,
    #[error("{api} was denied for {principal}: grant it (see docs/iam-policy.json) — {detail}")]
    Denied { api: String, principal: String, detail: String },
    #[error("AWS did not answer {api} in time or could not be reached ({detail}): check the network; retry, or go on without AWS")]
    Unreachable { api: String, detail: String },
    #[error("AWS rejected {api}: {detail}")]
    Rejected { api: String, detail: String },
    #[error("AWS client setup failed: {0}")]
    Setup(String),
}

/// A loaded AWS configuration and the runtime its calls run on.
pub struct Aws {
    pub rt: tokio::runtime::Runtime,
    pub sdk: aws_config::SdkConfig,
    pub profile: Option<String>,
}

impl Aws {
    /// Loads the standard AWS configuration; `aws.region` / `aws.profile` from breakglass.toml win.
    /// No network call is made here.
    pub fn load(cfg: &Config) -> Result<Self, AwsError> {
        Self::load_with(cfg.aws.region.as_deref(), cfg.aws.profile.as_deref())
    }

    /// The evidence archive's account: `[archive] profile` and `region`, each falling back to `[aws]`.
    pub(crate) fn load_archive(cfg: &Config, archive: &crate::core::config::ArchiveCfg) -> Result<Self, AwsError> {
        Self::load_with(archive.region.as_deref().or(cfg.aws.region.as_deref()), archive.profile.as_deref().or(cfg.aws.profile.as_deref()))
    }

    fn load_with(region: Option<&str>, profile: Option<&str>) -> Result<Self, AwsError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| AwsError::Setup(e.to_string()))?;
        let (timeouts, retries) = bounds();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).retry_config(retries);
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_string()));
        }
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let sdk = rt.block_on(loader.load());
        if sdk.region().is_none() {
            return Err(AwsError::NoRegion);
        }
        Ok(Self { rt, sdk, profile: profile.map(str::to_string) })
    }
}

/// The longest any one AWS call may take, retries included (shown on screen while it waits).
pub(crate) const CALL_LIMIT_S: u64 = 12;

/// How long and how often a call may try: a stuck network never hangs the ceremony, and
/// throttling (HTTP 400 `Throttling`) is retried a few times with backoff. Every client uses these.
pub fn bounds() -> (TimeoutConfig, RetryConfig) {
    (
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(CALL_LIMIT_S))
            .build(),
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(200)),
    )
}

impl Aws {
    /// An already-built SDK configuration (a local emulator in tests, or a caller's own setup).
    pub fn from_sdk(sdk: aws_config::SdkConfig) -> Result<Self, AwsError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| AwsError::Setup(e.to_string()))?;
        Ok(Self { rt, sdk, profile: None })
    }
}

/// Turns an SDK error into one that says what to do.
pub(crate) fn classify<E, R>(api: &str, err: &aws_sdk_sts::error::SdkError<E, R>, principal: &str) -> AwsError
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sts::error::SdkError;
    let chain = error_chain(err);
    if chain.contains("no providers in chain provided credentials")
        || chain.contains("the credential provider was not enabled")
        || chain.contains("failed to load credentials")
    {
        return AwsError::NoCredentials { profile: None };
    }
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let msg = se.err().message().unwrap_or("").to_string();
            match code {
                "AccessDenied" | "AccessDeniedException" | "AuthorizationError" | "AuthorizationErrorException" => {
                    AwsError::Denied { api: api.into(), principal: principal.into(), detail: format!("{code}: {msg}") }
                }
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => AwsError::Expired,
                "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" => {
                    AwsError::Rejected { api: api.into(), detail: format!("{code}: the credentials are not valid ({msg}); sign in again") }
                }
                _ => AwsError::Rejected { api: api.into(), detail: format!("{code}: {msg}") },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => AwsError::Unreachable { api: api.into(), detail: chain },
        _ => AwsError::Rejected { api: api.into(), detail: chain },
    }
}

/// The error and its sources, one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
