//! Which account and principal the configured credentials reach (sts:GetCallerIdentity).

use super::{Aws, AwsError, classify};

/// Returns (account id, principal ARN).
pub fn caller_identity(aws: &Aws) -> Result<(String, String), AwsError> {
    let client = aws_sdk_sts::Client::new(&aws.sdk);
    let out = aws.rt.block_on(client.get_caller_identity().send()).map_err(|e| {
        let c = classify("sts:GetCallerIdentity", &e, "these credentials");
        match c {
            AwsError::NoCredentials { .. } => AwsError::NoCredentials { profile: aws.profile.clone() },
            other => other,
        }
    })?;
    Ok((out.account().unwrap_or_default().to_string(), out.arn().unwrap_or_default().to_string()))
}
