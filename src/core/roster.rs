//! The roster: who the custodians are, their keys, and the quorum.
//!
//! A `Roster` read from disk is *untrusted*: it is only parsed and checked for shape here (ids,
//! quorum, keys as keys). Whether it is trusted is decided in one place, [`crate::core::trust`], from a
//! pin the ceremony host cannot change alone and the chain of versions that leads to it.
//! Signatures are detached SSHSIG files `roster.toml.<id>.sig`, namespace `breakglass-roster`.

use crate::core::sign::ROSTER_NAMESPACE;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ssh_key::PublicKey;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// One custodian as the roster file states it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Custodian {
    pub id: String,
    pub name: String,
    pub email: String,
    pub yubikey_serial: u32,
    /// OpenSSH public key of PIV slot 9c (`ecdsa-sha2-nistp256 AAAA...`).
    pub signing_key: String,
    /// `age1...` (X25519) or `age1yubikey1...` recipient.
    pub age_recipient: String,
    /// Attestation certificates, relative to the roster file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestation: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default = "first_version")]
    version: u32,
    #[serde(default)]
    previous: Option<String>,
    quorum: usize,
    #[serde(rename = "custodian", default)]
    custodians: Vec<Custodian>,
}

fn first_version() -> u32 {
    1
}

/// A parsed and validated roster with its exact bytes. Parsed is not trusted: see [`crate::core::trust`].
#[derive(Debug, Clone)]
pub struct Roster {
    /// 1 for the first roster; each rotation adds one.
    pub version: u32,
    /// SHA-256 (hex) of the previous version's exact bytes, from version 2 on.
    pub previous: Option<String>,
    pub quorum: usize,
    pub custodians: Vec<Custodian>,
    keys: Vec<PublicKey>,
    /// The file's exact bytes (what the signatures cover).
    pub bytes: Vec<u8>,
    /// Where it was read from, if from a file.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Error)]
pub enum RosterError {
    #[error("cannot read the roster {path}: {why}. Check the path (config `paths.roster` or --roster).")]
    Read { path: String, why: crate::core::fsread::ReadError },
    #[error("{path} line {line}: {what}. Fix the roster and run `breakglass roster check`.")]
    Syntax { path: String, line: usize, what: String },
    #[error("{path}: {what}. Fix the roster and run `breakglass roster check`.")]
    Invalid { path: String, what: String },
}

impl Roster {
    /// Reads and validates a roster file.
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        let bytes = crate::core::fsread::read_following(path, MAX_ROSTER_BYTES)
            .map_err(|why| RosterError::Read { path: path.display().to_string(), why })?;
        let mut r = Self::parse(&bytes, &path.display().to_string())?;
        r.path = Some(path.to_path_buf());
        Ok(r)
    }

    /// Parses and validates roster bytes; `name` is used in messages.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, RosterError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RosterError::Invalid { path: name.into(), what: "not UTF-8 text".into() })?;
        let file: RosterFile = toml::from_str(text).map_err(|e| RosterError::Syntax {
            path: name.into(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            what: crate::core::plain::one_line(e.message().trim()).into_owned(),
        })?;
        // What is quoted from the file (an id, a key) stays on the message's line.
        let invalid = |what: String| RosterError::Invalid { path: name.into(), what: crate::core::plain::one_line(&what).into_owned() };
        match (file.version, &file.previous) {
            (0, _) => return Err(invalid("version = 0: versions start at 1".into())),
            (1, Some(_)) => return Err(invalid("version 1 names a `previous` roster: the first version has none".into())),
            (v, None) if v > 1 => {
                return Err(invalid(format!(
                    "version {v} has no `previous`: set it to the SHA-256 of version {} (printed by `breakglass roster check`)",
                    v - 1
                )));
            }
            (_, Some(p)) if p.len() != 64 || !p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
                return Err(invalid(format!("previous = \"{p}\" is not a SHA-256 in lowercase hex (64 characters)")));
            }
            _ => {}
        }
        // A stated maximum, so that checking each custodian against the others stays small
        // whatever a planted file holds.
        if file.custodians.len() > MAX_CUSTODIANS {
            return Err(invalid(format!(
                "{} custodians: more than {MAX_CUSTODIANS}, the roster's limit (docs/formats.md, Limits)",
                file.custodians.len()
            )));
        }
        if file.custodians.len() < 2 {
            return Err(invalid(format!("{} custodian(s); dual control needs at least two", file.custodians.len())));
        }
        if file.quorum < 2 || file.quorum > file.custodians.len() {
            return Err(invalid(format!(
                "quorum = {} must be at least 2 and at most the number of custodians ({})",
                file.quorum,
                file.custodians.len()
            )));
        }
        let mut keys = Vec::new();
        let mut points = Vec::new();
        let mut recipients: Vec<String> = Vec::new();
        for (i, c) in file.custodians.iter().enumerate() {
            if c.id.is_empty() || !c.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(invalid(format!("custodian #{} has id `{}`; ids use only a-z, 0-9 and -", i + 1, c.id)));
            }
            if let Some(o) = file.custodians[..i].iter().find(|o| o.id == c.id) {
                return Err(invalid(format!("custodian id `{}` appears twice", o.id)));
            }
            if let Some(o) = file.custodians[..i].iter().find(|o| o.yubikey_serial == c.yubikey_serial) {
                return Err(invalid(format!(
                    "custodians `{}` and `{}` share YubiKey serial {}; each needs their own key",
                    o.id, c.id, c.yubikey_serial
                )));
            }
            let key = PublicKey::from_openssh(&c.signing_key)
                .map_err(|e| invalid(format!("custodian `{}`: signing_key is not an OpenSSH public key ({e})", c.id)))?;
            if key.algorithm() != (ssh_key::Algorithm::Ecdsa { curve: ssh_key::EcdsaCurve::NistP256 }) {
                return Err(invalid(format!(
                    "custodian `{}`: signing_key must be ecdsa-sha2-nistp256 (PIV slot 9c), not {}",
                    c.id,
                    key.algorithm()
                )));
            }
            let point = canonical_p256(&key).map_err(|w| invalid(format!("custodian `{}`: signing_key {w}", c.id)))?;
            if let Some(j) = points.iter().position(|p| *p == point) {
                let o: &Custodian = &file.custodians[j];
                return Err(invalid(format!("custodians `{}` and `{}` share a signing key; each needs their own YubiKey", o.id, c.id)));
            }
            let recipient = canonical_recipient(&c.age_recipient).map_err(|w| invalid(format!("custodian `{}`: {w}", c.id)))?;
            if let Some(j) = recipients.iter().position(|r| *r == recipient) {
                return Err(invalid(format!(
                    "custodians `{}` and `{}` share an age recipient: one key would open both layers of their sealed file",
                    file.custodians[j].id, c.id
                )));
            }
            recipients.push(recipient);
            points.push(point);
            keys.push(key);
        }
        Ok(Self {
            version: file.version,
            previous: file.previous,
            quorum: file.quorum,
            custodians: file.custodians,
            keys,
            bytes: bytes.to_vec(),
            path: None,
        })
    }

    /// SHA-256 of the roster's exact bytes, hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    pub fn custodian(&self, id: &str) -> Option<&Custodian> {
        self.custodians.iter().find(|c| c.id == id)
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.custodians.iter().position(|c| c.id == id)
    }

    #[cfg(test)]
    pub(crate) fn by_serial(&self, serial: u32) -> Option<usize> {
        self.custodians.iter().position(|c| c.yubikey_serial == serial)
    }

    /// The signing key of custodian `id`.
    pub fn key(&self, id: &str) -> Option<&PublicKey> {
        self.index_of(id).map(|i| &self.keys[i])
    }

    pub(crate) fn key_at(&self, i: usize) -> &PublicKey {
        &self.keys[i]
    }

    /// The next version of this roster: `version` + 1, `previous` = this version's SHA-256, the
    /// given custodians and quorum, written as TOML with a header that says how it was made. The
    /// result is checked by [`Roster::parse`] like any roster (every duplicate refused).
    pub fn successor(&self, custodians: Vec<Custodian>, quorum: usize) -> Result<Roster, RosterError> {
        let version = self.version.checked_add(1).ok_or_else(|| RosterError::Invalid {
            path: format!("version {} of the roster", self.version),
            what: "it is the last version a roster can have: start a new roster (version 1) and pin it".into(),
        })?;
        let file = RosterFile { version, previous: Some(self.sha256()), quorum, custodians };
        let name = format!("version {} of the roster", file.version);
        let text = toml::to_string(&file).map_err(|e| RosterError::Invalid { path: name.clone(), what: e.to_string() })?;
        let header = format!(
            "# breakglass roster, version {}: made by `breakglass roster rekey` from version {} (SHA-256 in `previous`).\n# Trusted when signed by a quorum of version {}, by every custodian added, and by a quorum of its own.\n",
            file.version, self.version, self.version
        );
        Roster::parse(format!("{header}{text}").as_bytes(), &name)
    }

    /// Ids whose signature over this roster's exact bytes verifies with their key in `signers`
    /// (this roster, or the previous version in a rotation), and the signature files that did not.
    pub fn signed_by(&self, signers: &Roster, sigs: &Signatures) -> (Vec<String>, Vec<(String, String)>) {
        signed_by(&self.bytes, ROSTER_NAMESPACE, signers, sigs)
    }
}

/// Detached signature files beside a roster (or a manifest): custodian id -> armored SSHSIG.
pub type Signatures = std::collections::BTreeMap<String, Vec<u8>>;

/// Largest signature file read (an SSHSIG is well under 1 KiB).
pub(crate) const MAX_SIG_BYTES: u64 = 16 * 1024;
/// Largest roster file read.
pub(crate) const MAX_ROSTER_BYTES: u64 = 1024 * 1024;

/// The most custodians a roster may list (an organisation has a handful).
pub const MAX_CUSTODIANS: usize = 64;

/// Reads the signature files `<file>.<id>.sig` that exist beside `file`, for the given ids.
/// A signature file that is not a regular file, or too large, is skipped and named in the errors.
pub(crate) fn read_signatures<'a>(file: &Path, ids: impl IntoIterator<Item = &'a str>) -> (Signatures, Vec<String>) {
    let mut sigs = Signatures::new();
    let mut errors = vec![];
    for id in ids {
        let p = sig_path(file, id);
        match crate::core::fsread::read_regular(&p, MAX_SIG_BYTES) {
            Ok(b) => {
                sigs.insert(id.to_string(), b);
            }
            Err(crate::core::fsread::ReadError::Missing) => {}
            Err(e) => errors.push(format!("{}: {e}", p.display())),
        }
    }
    (sigs, errors)
}

/// `roster.toml` -> `roster.toml.<id>.sig`.
pub use crate::core::sign::sig_path;

/// Which of `signers`' custodians signed `bytes` in `namespace` (detached armored SSHSIGs by id),
/// and the signature files that exist but do not verify, with why.
pub fn signed_by(bytes: &[u8], namespace: &str, signers: &Roster, sigs: &Signatures) -> (Vec<String>, Vec<(String, String)>) {
    let mut good = vec![];
    let mut bad = vec![];
    for c in &signers.custodians {
        let (Some(pem), Some(key)) = (sigs.get(&c.id), signers.key(&c.id)) else { continue };
        let checked = ssh_key::SshSig::from_pem(pem)
            .map_err(|e| crate::core::sign::BadSignature::NotSshsig(e.to_string()))
            .and_then(|s| crate::core::sign::verify(key, namespace, bytes, &s));
        match checked {
            Ok(()) => good.push(c.id.clone()),
            Err(e) => bad.push((c.id.clone(), e.to_string())),
        }
    }
    (good, bad)
}

/// The one accepted encoding of a P-256 signing key: uncompressed SEC1 (65 bytes, `04 || x || y`),
/// a point on the curve. OpenSSH accepts only that form, so `ssh-keygen -Y verify` and this tool
/// agree on what a key is; a compressed point would be a second way to write the same key.
fn canonical_p256(key: &PublicKey) -> Result<[u8; 65], String> {
    let ssh_key::public::KeyData::Ecdsa(ssh_key::public::EcdsaPublicKey::NistP256(point)) = key.key_data() else {
        return Err("is not a P-256 key".into());
    };
    let b = point.as_bytes();
    if b.len() != 65 || b[0] != 4 {
        return Err("is not written as an uncompressed point (the only form OpenSSH reads): export it again with `ssh-keygen -y`".into());
    }
    p256::PublicKey::from_sec1_bytes(b).map_err(|_| "is not a point on the P-256 curve".to_string())?;
    let mut out = [0u8; 65];
    out.copy_from_slice(b);
    Ok(out)
}

/// The canonical text of an age recipient, so that two ways of writing one key compare equal.
fn canonical_recipient(r: &str) -> Result<String, String> {
    if r.to_ascii_lowercase().starts_with(crate::core::pivage::HRP) {
        return crate::core::pivage::Recipient::parse(r).map(|p| p.encode()).map_err(|e| e.to_string());
    }
    age::x25519::Recipient::from_str(r).map(|k| k.to_string()).map_err(|e| format!("age_recipient `{r}` is not an age recipient ({e})"))
}

/// 1-based line number of byte offset `at` in `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The built-in DEMO roster (public DEMO keys, signed by the DEMO custodians alice and bob): the
/// one roster the trust rules recognise as DEMO. Its keys are public: it proves nothing.
pub const DEMO_ROSTER: &str = include_str!("../../assets/demo/roster.toml");
const DEMO_SIGS: [(&str, &[u8]); 2] = [
    ("alice", include_bytes!("../../assets/demo/roster.toml.alice.sig")),
    ("bob", include_bytes!("../../assets/demo/roster.toml.bob.sig")),
];

/// The DEMO roster, parsed.
pub fn demo() -> Roster {
    #[allow(clippy::expect_used)]
    Roster::parse(DEMO_ROSTER.as_bytes(), "assets/demo/roster.toml").expect("the shipped demo roster is valid")
}

/// The DEMO PINs (public, like the DEMO keys), shown on the demo's check-in screen.
pub fn demo_pin(id: &str) -> &'static str {
    match id {
        "alice" => "314159",
        "bob" => "271828",
        _ => "161803",
    }
}

/// The DEMO roster's signatures (custodian id, armored SSHSIG).
pub fn demo_sigs() -> Vec<(String, Vec<u8>)> {
    DEMO_SIGS.iter().map(|(id, s)| (id.to_string(), s.to_vec())).collect()
}

#[cfg(test)]
mod tests {

    /// A roster listing more custodians than the limit is refused, naming it (checking each
    /// custodian against the others grew with the square of their number).
    #[test]
    fn more_custodians_than_the_limit_are_refused() {
        let mut text = String::from("quorum = 2\n");
        for i in 0..=MAX_CUSTODIANS {
            text.push_str(&format!(
                "[[custodian]]\nid = \"c{i}\"\nname = \"C\"\nemail = \"c@example.com\"\nyubikey_serial = {i}\nsigning_key = \"x\"\nage_recipient = \"y\"\n"
            ));
        }
        let e = Roster::parse(text.as_bytes(), "roster.toml").unwrap_err().to_string();
        assert!(e.contains(&format!("more than {MAX_CUSTODIANS}")), "{e}");
    }

    use super::*;

    const DEMO: &str = include_str!("../../assets/demo/roster.toml");

    #[test]
    fn demo_roster_parses() {
        let r = Roster::parse(DEMO.as_bytes(), "demo").unwrap();
        assert_eq!(r.quorum, 2);
        assert_eq!(r.custodians.len(), 3);
        assert_eq!(r.by_serial(10000002), Some(1));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let bad = DEMO.replacen("email =", "emial =", 1);
        let e = Roster::parse(bad.as_bytes(), "roster.toml").unwrap_err().to_string();
        assert!(e.contains("roster.toml line"), "{e}");
        assert!(e.contains("emial"), "{e}");
    }

    #[test]
    fn duplicate_serial_refused() {
        let bad = DEMO.replacen("10000002", "10000001", 1);
        let e = Roster::parse(bad.as_bytes(), "r").unwrap_err().to_string();
        assert!(e.contains("share YubiKey serial"), "{e}");
    }

    #[test]
    fn quorum_of_one_refused() {
        let bad = DEMO.replacen("quorum = 2", "quorum = 1", 1);
        assert!(Roster::parse(bad.as_bytes(), "r").unwrap_err().to_string().contains("quorum"));
    }

    #[test]
    fn demo_signatures_verify_and_a_changed_byte_does_not() {
        let r = Roster::parse(DEMO.as_bytes(), "demo").unwrap();
        let sigs: Signatures = [
            ("alice".to_string(), include_bytes!("../../assets/demo/roster.toml.alice.sig").to_vec()),
            ("bob".to_string(), include_bytes!("../../assets/demo/roster.toml.bob.sig").to_vec()),
        ]
        .into();
        assert_eq!(r.signed_by(&r, &sigs).0, ["alice", "bob"]);
        let changed = DEMO.replacen("Alice Example", "Alice Exampl3", 1);
        let r2 = Roster::parse(changed.as_bytes(), "demo").unwrap();
        let (good, bad) = r2.signed_by(&r2, &sigs);
        assert!(good.is_empty());
        assert_eq!(bad.len(), 2);
    }

    #[test]
    fn version_and_previous_rules() {
        let v2 = DEMO.replacen("quorum = 2", "version = 2\nquorum = 2", 1);
        assert!(Roster::parse(v2.as_bytes(), "r").unwrap_err().to_string().contains("no `previous`"));
        let v1p = DEMO.replacen("quorum = 2", &format!("previous = \"{}\"\nquorum = 2", "a".repeat(64)), 1);
        assert!(Roster::parse(v1p.as_bytes(), "r").unwrap_err().to_string().contains("first version"));
        let ok = DEMO.replacen("quorum = 2", &format!("version = 2\nprevious = \"{}\"\nquorum = 2", "a".repeat(64)), 1);
        let r = Roster::parse(ok.as_bytes(), "r").unwrap();
        assert_eq!((r.version, r.previous.as_deref().map(str::len)), (2, Some(64)));
    }

    #[test]
    fn shared_age_recipient_refused() {
        let r = Roster::parse(DEMO.as_bytes(), "demo").unwrap();
        let bad = DEMO.replacen(&r.custodians[1].age_recipient, &r.custodians[0].age_recipient, 1);
        let e = Roster::parse(bad.as_bytes(), "r").unwrap_err().to_string();
        assert!(e.contains("share an age recipient"), "{e}");
    }
}
