//! The evidence archive: signed bundles copied to an S3 bucket under Object Lock (COMPLIANCE
//! mode), so that nobody in the organisation, root included, can delete or overwrite them before
//! their retention ends.
//!
//! This module is pure: which files of a bundle are archived, under which keys, what the receipt
//! (`archive.json`, beside the bundle) records, and how a receipt or an archived copy compares
//! with the files on disk. The S3 calls are in [`crate::adapters::aws::archive`]; the commands in
//! [`crate::commands::archive_cmd`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The receipt written beside a bundle once every file is archived and read back.
pub(crate) const RECEIPT: &str = "archive.json";

/// The largest bundle file archived (a 100,000-entry journal is about 40 MB).
pub(crate) const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Where a bundle went, file by file, as S3 confirmed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub bucket: String,
    pub account: String,
    pub session_id: String,
    /// RFC 3339 UTC.
    pub archived_at: String,
    pub files: Vec<ArchivedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedFile {
    pub name: String,
    pub key: String,
    pub version_id: Option<String>,
    /// SHA-256 of the bytes, hex (S3 checked its base64 form on arrival).
    pub sha256: String,
    pub size: u64,
    /// Object Lock mode and retain-until date as S3 reported them after the upload.
    pub mode: String,
    pub retain_until: String,
}

impl Receipt {
    pub fn read(dir: &Path) -> Result<Option<Self>, String> {
        let p = dir.join(RECEIPT);
        if std::fs::symlink_metadata(&p).is_err() {
            return Ok(None);
        }
        let bytes = crate::core::fsread::read_regular(&p, 1024 * 1024).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{} is not a receipt: {e}", p.display()))
    }

    /// The earliest retain-until date of its files.
    pub fn retain_until(&self) -> &str {
        self.files.iter().map(|f| f.retain_until.as_str()).min().unwrap_or("")
    }
}

/// A file of a bundle, read whole (bundles are small; the journal is bounded by [`MAX_FILE_BYTES`]).
#[derive(Clone)]
pub struct LocalFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for LocalFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalFile({}, {} bytes)", self.name, self.bytes.len())
    }
}

impl LocalFile {
    pub fn new(name: &str, bytes: Vec<u8>) -> Self {
        let sha256 = Sha256::digest(&bytes).into();
        Self { name: name.to_string(), bytes, sha256 }
    }
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// The files of a bundle that are archived: every regular file in its directory except the
/// receipt and temporary files (names starting with `.`, or `*.tmp-breakglass` of an unfinished
/// write), sorted by name. A symlink, a FIFO or
/// a subdirectory is an error: a bundle holds none.
pub(crate) fn bundle_files(dir: &Path) -> Result<Vec<LocalFile>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = vec![];
    for e in rd {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().to_string();
        if name == RECEIPT || name.starts_with('.') || name.ends_with(".tmp-breakglass") {
            continue;
        }
        let bytes = crate::core::fsread::read_regular(&e.path(), MAX_FILE_BYTES).map_err(|err| format!("{}: {err}", e.path().display()))?;
        out.push(LocalFile::new(&name, bytes));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `<account>/<session-id>/<file>` (../shared/DESIGN.md "Evidence archive").
pub fn key(account: &str, session_id: &str, name: &str) -> String {
    format!("{account}/{session_id}/{name}")
}

/// The session id and the AWS account a bundle's first entry names (`no-account` when the
/// session ran without one, as DEMO sessions do).
pub(crate) fn session_of(dir: &Path) -> Result<(String, String), String> {
    let p = dir.join(crate::core::journal::FILE_NAME);
    let bytes = crate::core::fsread::read_regular(&p, MAX_FILE_BYTES).map_err(|e| format!("{}: {e}", p.display()))?;
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(first).map_err(|_| format!("{}: the first entry is not JSON", p.display()))?;
    let sid = v["session_id"].as_str().filter(|s| valid_segment(s)).ok_or_else(|| format!("{}: no usable session_id", p.display()))?;
    let account = v["account"].as_str().filter(|a| crate::core::config::is_account_id(a)).unwrap_or("no-account");
    Ok((sid.to_string(), account.to_string()))
}

/// A key segment we write or accept: letters, digits, `-`, `_`, `.` (never `..`, never a `/`).
pub fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// How the files on disk compare with what was archived: the names of files that differ, are
/// missing on one side, or were added since.
pub fn differences(local: &[LocalFile], archived: &[(String, String)]) -> Vec<String> {
    let mut out = vec![];
    for (name, sha) in archived {
        match local.iter().find(|f| &f.name == name) {
            None => out.push(format!("{name} (deleted here)")),
            Some(f) if f.sha256_hex() != *sha => out.push(format!("{name} (changed here)")),
            Some(_) => {}
        }
    }
    for f in local {
        if !archived.iter().any(|(n, _)| *n == f.name) {
            out.push(format!("{} (added here)", f.name));
        }
    }
    out
}

/// Where a local bundle stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Not archived yet (or the last push did not finish).
    Queued,
    /// Archived, and the files on disk are the ones archived.
    Archived(Receipt),
    /// Archived, but the files on disk have changed since: the local copy is not the record.
    Changed { receipt: Receipt, files: Vec<String> },
}

pub fn standing(dir: &Path, files: &[LocalFile]) -> Result<Standing, String> {
    Ok(match Receipt::read(dir)? {
        None => Standing::Queued,
        Some(r) => {
            let archived: Vec<(String, String)> = r.files.iter().map(|f| (f.name.clone(), f.sha256.clone())).collect();
            let diff = differences(files, &archived);
            if diff.is_empty() { Standing::Archived(r) } else { Standing::Changed { receipt: r, files: diff } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_file_and_why() {
        let local = vec![LocalFile::new("a", b"1".to_vec()), LocalFile::new("c", b"3".to_vec())];
        let archived = vec![("a".to_string(), LocalFile::new("a", b"1".to_vec()).sha256_hex()), ("b".to_string(), "00".to_string())];
        assert_eq!(differences(&local, &archived), ["b (deleted here)", "c (added here)"]);
        let changed = vec![("a".to_string(), "ff".to_string())];
        assert_eq!(differences(&local[..1], &changed), ["a (changed here)"]);
    }

    #[test]
    fn key_segments_never_climb_or_nest() {
        for bad in ["", ".", "..", "a/b", "a b", "a\nb"] {
            assert!(!valid_segment(bad), "{bad:?}");
        }
        assert!(valid_segment("20261201-164604-dd34dc"));
        assert_eq!(key("123456789012", "s", "journal.jsonl"), "123456789012/s/journal.jsonl");
    }
}
