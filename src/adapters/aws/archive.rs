//! The evidence archive's S3 calls: check the bucket's Object Lock, upload a bundle under
//! COMPLIANCE retention with SHA-256 checksums, read each object back, list and download.
//! Every call is bounded like every other AWS call ([`super::bounds`]).

use super::{Aws, classify};
use crate::core::archive::{ArchivedFile, LocalFile, Receipt};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ObjectLockEnabled, ObjectLockMode};
use base64ct::Encoding;
use chrono::{DateTime, Duration, SecondsFormat, Utc};

const WHO: &str = "the archiving principal";

/// Every S3 permission the archive needs (docs/archive-policy.json allows exactly these).
/// (PutObject with a retain-until date needs s3:PutObjectRetention; reading the lock back needs
/// s3:GetObjectRetention, or S3 leaves the lock headers out.)
pub const ARCHIVE_CALLS: [&str; 7] = [
    "s3:GetBucketObjectLockConfiguration",
    "s3:PutObject",
    "s3:PutObjectRetention",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectRetention",
    "s3:ListBucketVersions",
];

/// An S3 client for `aws`: path-style addressing when a custom endpoint is set (a local server
/// has no DNS for `bucket.host`).
pub fn client(aws: &Aws) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(&aws.sdk);
    if aws.sdk.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// Refuses a bucket without Object Lock, or whose default retention is shorter than ours.
pub(crate) fn check_bucket(aws: &Aws, s3: &aws_sdk_s3::Client, bucket: &str, retention_days: u32) -> Result<(), String> {
    let out = match aws.rt.block_on(s3.get_object_lock_configuration().bucket(bucket).send()) {
        Ok(o) => o,
        Err(e) => {
            let msg = classify("s3:GetBucketObjectLockConfiguration", &e, WHO).to_string();
            if msg.contains("ObjectLockConfigurationNotFound") {
                return Err(format!(
                    "bucket `{bucket}` has no Object Lock: anyone with delete rights could remove the evidence. \
                     Use a bucket created with Object Lock (docs/archive-bucket.yaml creates one)"
                ));
            }
            if msg.contains("NoSuchBucket") {
                return Err(format!("bucket `{bucket}` does not exist (or not in this region): check [archive] bucket and region"));
            }
            return Err(msg);
        }
    };
    let cfg = out.object_lock_configuration();
    if cfg.and_then(|c| c.object_lock_enabled()) != Some(&ObjectLockEnabled::Enabled) {
        return Err(format!(
            "bucket `{bucket}` does not have Object Lock enabled: use a bucket created with Object Lock (docs/archive-bucket.yaml)"
        ));
    }
    if let Some(d) = cfg.and_then(|c| c.rule()).and_then(|r| r.default_retention()) {
        let days = d.days().map(i64::from).unwrap_or(0) + d.years().map(|y| i64::from(y) * 365).unwrap_or(0);
        if days < i64::from(retention_days) {
            return Err(format!(
                "bucket `{bucket}` keeps objects {days} days by default, shorter than [archive] retention_days = {retention_days}: \
                 raise the bucket's default retention (docs/archive-bucket.yaml) or lower retention_days"
            ));
        }
    }
    Ok(())
}

/// Why a push did not archive the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The key already holds an object that is not this file: someone wrote there first (the
    /// session id is public). Nothing was written over it; the bundle stays queued.
    Squatted {
        bucket: String,
        key: String,
    },
    Failed(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::Squatted { bucket, key } => write!(
                f,
                "SQUATTED: s3://{bucket}/{key} already holds an object that is not this file (someone wrote there first). Nothing was written over it; \
                 the bundle stays queued and this copy remains the one to trust: investigate who can write to the bucket"
            ),
            PushError::Failed(e) => f.write_str(e),
        }
    }
}

/// Uploads every file of a bundle under COMPLIANCE retention until `now + retention_days`, with a
/// SHA-256 checksum S3 checks on arrival, then reads each object back (mode, retain-until,
/// checksum) before returning the receipt. Write-once: a key that already holds another object is
/// never written over nor taken as ours (the put is conditional, `If-None-Match: *`); one that
/// holds this very file (an earlier push that stopped midway) is read back as it is.
pub fn push(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    cfg: &crate::core::config::ArchiveCfg,
    account: &str,
    session_id: &str,
    files: &[LocalFile],
    now: DateTime<Utc>,
) -> Result<Receipt, PushError> {
    let (bucket, until) = (cfg.bucket.as_str(), now + Duration::days(i64::from(cfg.retention_days)));
    let until_smithy = aws_sdk_s3::primitives::DateTime::from_secs(until.timestamp());
    let mut out = vec![];
    for f in files {
        let key = crate::core::archive::key(account, session_id, &f.name);
        let b64 = base64ct::Base64::encode_string(&f.sha256);
        let failed = |e: String| PushError::Failed(e);
        // What the key holds already: nothing (the usual case), this very file, or someone else's.
        let existing = match aws.rt.block_on(s3.head_object().bucket(bucket).key(&key).checksum_mode(ChecksumMode::Enabled).send()) {
            Ok(h) if h.checksum_sha256() == Some(b64.as_str()) => Some(h.version_id().map(str::to_string)),
            Ok(_) => return Err(PushError::Squatted { bucket: bucket.to_string(), key }),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => None,
            Err(e) => return Err(failed(format!("{}: {}", f.name, classify("s3:GetObject", &e, WHO)))),
        };
        let version_id = match existing {
            // This very file, from a push that stopped midway: its lock is carried to the full
            // retention (COMPLIANCE allows extending it, never shortening it), then read back.
            Some(v) => {
                let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
                    .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Compliance)
                    .retain_until_date(until_smithy)
                    .build();
                aws.rt
                    .block_on(s3.put_object_retention().bucket(bucket).key(&key).set_version_id(v.clone()).retention(retention).send())
                    .map_err(|e| failed(format!("{}: {}", f.name, classify("s3:PutObjectRetention", &e, WHO))))?;
                v
            }
            None => {
                let put = aws.rt.block_on(
                    s3.put_object()
                        .bucket(bucket)
                        .key(&key)
                        .if_none_match("*")
                        .body(aws_sdk_s3::primitives::ByteStream::from(f.bytes.clone()))
                        .checksum_algorithm(ChecksumAlgorithm::Sha256)
                        .checksum_sha256(&b64)
                        .object_lock_mode(ObjectLockMode::Compliance)
                        .object_lock_retain_until_date(until_smithy)
                        .send(),
                );
                match put {
                    Ok(p) => p.version_id().map(str::to_string),
                    // Someone wrote the key between our look and our write: theirs stays theirs.
                    Err(e) if classify("s3:PutObject", &e, WHO).to_string().contains("PreconditionFailed") => {
                        return Err(PushError::Squatted { bucket: bucket.to_string(), key });
                    }
                    Err(e) => return Err(failed(format!("{}: {}", f.name, classify("s3:PutObject", &e, WHO)))),
                }
            }
        };
        let (mode, retain) = read_back(aws, s3, bucket, &key, &version_id, f, &b64, until)?;
        out.push(ArchivedFile {
            name: f.name.clone(),
            key,
            version_id,
            sha256: f.sha256_hex(),
            size: f.bytes.len() as u64,
            mode,
            retain_until: retain.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
    }
    Ok(Receipt {
        bucket: bucket.to_string(),
        account: account.to_string(),
        session_id: session_id.to_string(),
        archived_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        files: out,
    })
}

/// Reads an uploaded object back: what S3 holds, not what was asked for. Its checksum must be
/// the file's, its lock COMPLIANCE until at least `until`; returns the mode and the date.
#[allow(clippy::too_many_arguments)] // one object's coordinates, each needed
fn read_back(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: &Option<String>,
    f: &LocalFile,
    b64: &str,
    until: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), PushError> {
    let failed = PushError::Failed;
    // Read it back: what S3 holds, not what we asked for.
    let head = aws
        .rt
        .block_on(s3.head_object().bucket(bucket).key(key).set_version_id(version_id.clone()).checksum_mode(ChecksumMode::Enabled).send())
        .map_err(|e| failed(format!("{}: read-back: {}", f.name, classify("s3:GetObject", &e, WHO))))?;
    if head.checksum_sha256() != Some(b64) {
        return Err(failed(format!(
            "{}: S3 reports checksum {:?}, not the file's {b64}: the upload was damaged; push again",
            f.name,
            head.checksum_sha256()
        )));
    }
    let mode = head.object_lock_mode().map(|m| m.as_str().to_string()).unwrap_or_default();
    if mode != "COMPLIANCE" {
        return Err(failed(format!(
            "{}: S3 reports Object Lock mode `{mode}`, not COMPLIANCE: the object could be deleted; check the bucket and the principal's rights",
            f.name
        )));
    }
    let retain = head
        .object_lock_retain_until_date()
        .and_then(|d| DateTime::<Utc>::from_timestamp(d.secs(), 0))
        .ok_or_else(|| failed(format!("{}: S3 reports no retain-until date: the object is not locked", f.name)))?;
    if retain + Duration::seconds(1) < until {
        return Err(failed(format!("{}: S3 keeps it until {retain}, before the {until} asked for", f.name)));
    }
    Ok((mode, retain))
}

/// One stored version of an archived object.
#[derive(Debug, Clone)]
pub struct Version {
    pub key: String,
    pub version_id: Option<String>,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// The most object versions an archive listing reads (docs/formats.md, Limits): a bundle has a
/// handful of files, so this is hundreds of thousands of sessions.
pub(crate) const MAX_LISTED_VERSIONS: usize = 1_000_000;

/// Every version of every object under `prefix`, page by page, at most [`MAX_LISTED_VERSIONS`].
pub fn versions(aws: &Aws, s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<Version>, String> {
    let mut out = vec![];
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = aws
            .rt
            .block_on(
                s3.list_object_versions()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_key_marker(key_marker.clone())
                    .set_version_id_marker(version_marker.clone())
                    .send(),
            )
            .map_err(|e| classify("s3:ListBucketVersions", &e, WHO).to_string())?;
        for v in page.versions() {
            out.push(Version {
                key: v.key().unwrap_or_default().to_string(),
                version_id: v.version_id().filter(|v| *v != "null").map(str::to_string),
                size: v.size().unwrap_or(0).max(0) as u64,
                last_modified: v.last_modified().and_then(|d| DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())),
            });
        }
        if page.is_truncated() != Some(true) {
            return Ok(out);
        }
        if out.len() >= MAX_LISTED_VERSIONS {
            return Err(format!(
                "s3://{bucket}/{prefix} holds more than {MAX_LISTED_VERSIONS} object versions, the limit of an archive listing: give a narrower prefix (s3://{bucket}/ACCOUNT/)"
            ));
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() {
            return Ok(out);
        }
    }
}

/// Why an object was not read.
#[derive(Debug)]
pub enum GetError {
    /// Larger than the reader's limit (its size): it will never be read, so it is skipped.
    TooLarge(u64),
    /// The call failed (a retry may work).
    Failed(String),
}

/// One object's bytes (a given version, or the latest), refused before download when larger than
/// `limit`.
pub async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, version_id: Option<&str>, limit: u64) -> Result<Vec<u8>, GetError> {
    {
        let o = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| GetError::Failed(classify("s3:GetObject", &e, WHO).to_string()))?;
        let size = o.content_length().unwrap_or(0).max(0) as u64;
        if size > limit {
            return Err(GetError::TooLarge(size));
        }
        let bytes = o.body.collect().await.map_err(|e| GetError::Failed(format!("{key}: {e}")))?.into_bytes();
        if bytes.len() as u64 > limit {
            return Err(GetError::TooLarge(bytes.len() as u64));
        }
        Ok(bytes.to_vec())
    }
}
