//! `breakglass.toml`: paths, AWS account, notice topic, drill interval.
//!
//! Unknown keys are an error that names the key and the file. Relative paths are relative to the
//! config file's directory.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub paths: Paths,
    #[serde(default)]
    pub aws: Aws,
    #[serde(default)]
    pub notice: NoticeCfg,
    #[serde(default)]
    pub drill: DrillCfg,
    #[serde(default)]
    pub trust: TrustCfg,
    #[serde(default)]
    pub audit: AuditCfg,
    /// `[archive]`: where signed bundles are kept under S3 Object Lock (absent: not archived).
    pub archive: Option<ArchiveCfg>,
    #[serde(default)]
    pub offboard: OffboardCfg,
    /// `[rehearsal]`: never in production. Extra PIV attestation roots, to rehearse the real path
    /// on virtual cards; every session opened under it is marked, never cover, never a drill.
    #[serde(default)]
    pub rehearsal: RehearsalCfg,
    /// The file it came from (not a key in the file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// Where it was looked for, when no file was found there (for messages).
    #[serde(skip)]
    pub searched: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    pub roster: Option<PathBuf>,
    pub runbook: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeCfg {
    pub sns_topic_arn: Option<String>,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_minutes: u32,
}

impl Default for NoticeCfg {
    fn default() -> Self {
        Self { sns_topic_arn: None, heartbeat_minutes: default_heartbeat() }
    }
}

fn default_heartbeat() -> u32 {
    15
}

/// `[rehearsal]`: what a rehearsal on virtual cards adds to the trust in keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalCfg {
    /// PEM or DER root certificates trusted for PIV attestation beside Yubico's (relative to
    /// the config file).
    #[serde(default)]
    pub attestation_roots: Vec<PathBuf>,
}

/// `[offboard]`: the accounts whose IAM users `breakglass offboard` strips.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffboardCfg {
    /// Member accounts to strip besides the one the configured credentials reach; each is
    /// reached through `role_name` (sts:AssumeRole).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// The role assumed in each of `accounts`.
    #[serde(default = "default_offboard_role")]
    pub role_name: String,
}

fn default_offboard_role() -> String {
    "OrganizationAccountAccessRole".into()
}

impl Default for OffboardCfg {
    fn default() -> Self {
        Self { accounts: vec![], role_name: default_offboard_role() }
    }
}

/// `[audit]`: what `breakglass audit` allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditCfg {
    /// The most principals that may hold AdministratorAccess (at least two are always required).
    #[serde(default = "default_max_admins")]
    pub max_admins: usize,
    /// Seconds of clock skew allowed on each side of a session's window.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u32,
    /// The organization trail's S3 bucket: its log files are read besides CloudTrail LookupEvents.
    pub cloudtrail_bucket: Option<String>,
}

impl Default for AuditCfg {
    fn default() -> Self {
        Self { max_admins: default_max_admins(), clock_skew_seconds: default_skew(), cloudtrail_bucket: None }
    }
}

fn default_max_admins() -> usize {
    5
}

fn default_skew() -> u32 {
    300
}

/// `[archive]`: the evidence archive, an S3 bucket with Object Lock (normally in a log-archive
/// account, reached with its own profile).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveCfg {
    pub bucket: String,
    /// Days each archived file is kept under COMPLIANCE retention (nobody, root included, can
    /// delete or overwrite it before).
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// The AWS profile for the archive account (default: the same credentials as `[aws]`).
    pub profile: Option<String>,
    /// The bucket's region (default: `aws.region`).
    pub region: Option<String>,
}

fn default_retention() -> u32 {
    2555
}

/// `[trust]`: the pin every trust decision starts from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustCfg {
    /// SHA-256 (hex) of the roster the organisation trusts; later versions must chain to it.
    pub roster_sha256: Option<String>,
    /// The lowest roster version the ceremony accepts: raise it after a rekey, so that an older
    /// version put back (with a custodian who was removed) is refused even though it chains to
    /// the pin.
    pub min_version: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillCfg {
    #[serde(default = "default_interval")]
    pub interval_days: u32,
}

impl Default for DrillCfg {
    fn default() -> Self {
        Self { interval_days: default_interval() }
    }
}

fn default_interval() -> u32 {
    90
}

/// A 12-digit AWS account id (the one rule for every place that takes one).
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks an SNS topic ARN's shape: `arn:<partition>:sns:<region>:<12-digit account>:<name>`.
pub(crate) fn check_topic_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && is_account_id(parts[4])
        && !parts[5].is_empty()
        && parts[5].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "notice.sns_topic_arn = `{arn}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT_ID:NAME): copy it from `aws sns list-topics`"
        ))
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {err}. Check --config, or create it (see docs/formats.md).")]
    Read { path: String, err: std::io::Error },
    #[error("{path} line {line}: {what}. Fix the file (keys are listed in docs/formats.md).")]
    Syntax { path: String, line: usize, what: String },
}

/// 1-based line of the first line mentioning `key` (for messages about a valid-TOML but wrong value).
fn line_with(text: &str, key: &str) -> usize {
    text.lines().position(|l| l.trim_start().starts_with(key)).map_or(1, |i| i + 1)
}

impl Config {
    /// Loads `path`; with `explicit == false` a missing file means the defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<Self, ConfigError> {
        // A regular file of a config's size (a link the operator made is followed): a FIFO or
        // /dev/zero in its place is an error at once, not a hang.
        let text = match crate::core::fsread::read_following(path, 1 << 20) {
            Ok(b) => String::from_utf8(b).map_err(|_| ConfigError::Read {
                path: path.display().to_string(),
                err: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
            })?,
            Err(crate::core::fsread::ReadError::Missing) if !explicit => {
                return Ok(Self { searched: Some(path.to_path_buf()), ..Self::default() });
            }
            Err(crate::core::fsread::ReadError::Missing) => {
                return Err(ConfigError::Read { path: path.display().to_string(), err: std::io::ErrorKind::NotFound.into() });
            }
            Err(e) => {
                return Err(ConfigError::Read { path: path.display().to_string(), err: std::io::Error::other(e.to_string()) });
            }
        };
        let mut c = Self::parse(&text, path)?;
        c.source = Some(path.to_path_buf());
        Ok(c)
    }

    /// Parses and checks a config file's text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let text = text.to_string();
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.display().to_string(),
            line: e.span().map_or(1, |s| crate::core::roster::line_of(&text, s.start)),
            what: e.message().trim().to_string(),
        })?;
        if let Some(arn) = &c.notice.sns_topic_arn {
            check_topic_arn(arn).map_err(|what| ConfigError::Syntax {
                path: path.display().to_string(),
                line: line_with(&text, "sns_topic_arn"),
                what,
            })?;
        }
        if let Some(id) = &c.aws.account_id
            && !is_account_id(id)
        {
            return Err(ConfigError::Syntax {
                path: path.display().to_string(),
                line: line_with(&text, "account_id"),
                what: format!("aws.account_id = `{id}` is not a 12-digit AWS account id"),
            });
        }
        if let Some(id) = c.offboard.accounts.iter().find(|a| !is_account_id(a)) {
            return Err(ConfigError::Syntax {
                path: path.display().to_string(),
                line: line_with(&text, "accounts"),
                what: format!("offboard.accounts: `{id}` is not a 12-digit AWS account id"),
            });
        }
        // E19: the skew widens every session's window on both sides; unbounded, one config line
        // would let an old session cover everything.
        if c.audit.clock_skew_seconds > crate::core::evidence::MAX_CLOCK_SKEW_SECONDS {
            return Err(ConfigError::Syntax {
                path: path.display().to_string(),
                line: line_with(&text, "clock_skew_seconds"),
                what: format!(
                    "audit.clock_skew_seconds = {} is more than {}: a wider window would let a session cover root use it never saw",
                    c.audit.clock_skew_seconds,
                    crate::core::evidence::MAX_CLOCK_SKEW_SECONDS
                ),
            });
        }
        if let Some(pin) = &mut c.trust.roster_sha256 {
            let ok = pin.len() == 64 && pin.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(ConfigError::Syntax {
                    path: path.display().to_string(),
                    line: line_with(&text, "roster_sha256"),
                    what: format!(
                        "trust.roster_sha256 = `{pin}` is not a SHA-256 (64 hex characters): copy it from `breakglass roster check`"
                    ),
                });
            }
            pin.make_ascii_lowercase();
        }
        Ok(c)
    }

    /// Resolves a configured path relative to the config file's directory.
    pub(crate) fn resolve(&self, p: &Path) -> PathBuf {
        match (&self.source, p.is_absolute()) {
            (Some(src), false) => src.parent().unwrap_or(Path::new(".")).join(p),
            _ => p.to_path_buf(),
        }
    }

    /// The config file for messages: the one read, or where none was found.
    pub fn describe(&self) -> String {
        match (&self.source, &self.searched) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(p)) => format!("{} (not found there; create it or pass --config)", p.display()),
            (None, None) => "breakglass.toml (pass --config)".into(),
        }
    }

    /// The attestation trust store: Yubico's CAs, plus `[rehearsal] attestation_roots` (each
    /// file read and parsed here, so a wrong path is an error before anything starts).
    pub(crate) fn attestation_store(&self) -> Result<crate::core::attest::TrustStore, String> {
        let mut store = crate::core::attest::TrustStore::yubico();
        for p in &self.rehearsal.attestation_roots {
            let path = self.resolve(p);
            let bytes = crate::core::fsread::read_regular(&path, 64 * 1024)
                .map_err(|e| format!("[rehearsal] attestation_roots in {}: {}: {e}", self.describe(), path.display()))?;
            store = store
                .with_extra_root(&bytes)
                .map_err(|e| format!("[rehearsal] attestation_roots in {}: {}: {e}", self.describe(), path.display()))?;
        }
        Ok(store)
    }

    /// Words that say a rehearsal's extra roots are in force (None when there are none).
    pub(crate) fn rehearsal_warning(&self) -> Option<String> {
        (!self.rehearsal.attestation_roots.is_empty()).then(|| {
            format!(
                "REHEARSAL: {} trusts extra PIV attestation roots ([rehearsal] attestation_roots). Sessions opened under it are \
                 marked REHEARSAL, are never audit cover and never count as drills. Remove [rehearsal] before real use.",
                self.describe()
            )
        })
    }

    pub(crate) fn roster_path(&self) -> Option<PathBuf> {
        self.paths.roster.as_deref().map(|p| self.resolve(p))
    }

    pub fn runbook_path(&self) -> Option<PathBuf> {
        self.paths.runbook.as_deref().map(|p| self.resolve(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("breakglass.toml");
        std::fs::write(&p, "[aws]\nregion = \"us-east-1\"\nacount_id = \"1\"\n").unwrap();
        let e = Config::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("acount_id"), "{e}");
    }

    /// `[rehearsal] attestation_roots`: each root is read relative to the config, named in the
    /// store by its fingerprint (what sessions record), and a wrong path is an error at once.
    #[test]
    fn rehearsal_roots_are_read_named_and_said() {
        let d = tempfile::tempdir().unwrap();
        let yubico = include_str!("../../assets/yubico/piv-root-ca-263751.pem");
        std::fs::write(d.path().join("lab-ca.pem"), yubico).unwrap();
        let cfg = d.path().join("breakglass.toml");
        std::fs::write(&cfg, "[rehearsal]\nattestation_roots = [\"lab-ca.pem\"]\n").unwrap();
        let c = Config::load(&cfg, true).unwrap();
        let store = c.attestation_store().unwrap();
        assert_eq!(store.extra_roots().len(), 1);
        assert!(store.extra_roots()[0].contains("SHA-256 "), "{:?}", store.extra_roots());
        assert!(c.rehearsal_warning().is_some_and(|w| w.contains("REHEARSAL")));
        assert!(Config::default().rehearsal_warning().is_none());
        assert!(Config::default().attestation_store().unwrap().extra_roots().is_empty());
        std::fs::write(&cfg, "[rehearsal]\nattestation_roots = [\"missing.pem\"]\n").unwrap();
        let err = Config::load(&cfg, true).unwrap().attestation_store().unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
    }

    /// E19: the audit's clock skew is bounded.
    #[test]
    fn clock_skew_is_at_most_900_seconds() {
        let p = Path::new("breakglass.toml");
        assert!(Config::parse("[audit]\nclock_skew_seconds = 900\n", p).is_ok());
        let e = Config::parse("[audit]\nclock_skew_seconds = 2592000\n", p).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn missing_default_config_is_fine_missing_explicit_is_not() {
        let p = Path::new("/nonexistent/breakglass.toml");
        assert!(Config::load(p, false).is_ok());
        assert!(Config::load(p, true).is_err());
    }

    #[test]
    fn topic_arns() {
        assert!(check_topic_arn("arn:aws:sns:us-east-1:123456789012:root-in-use").is_ok());
        assert!(check_topic_arn("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo").is_ok());
        for bad in
            ["", "root-in-use", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sns:us-east-1:1234:t", "arn:aws:sns::123456789012:t"]
        {
            assert!(check_topic_arn(bad).is_err(), "{bad}");
        }
    }
}
