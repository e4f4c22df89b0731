//! The roster: who the custodians are, their keys, and the quorum.
//!
//! A roster is trusted only when a quorum of its own custodians signed its exact bytes
//! (detached SSHSIG files `roster.toml.<id>.sig`, namespace `breakglass-roster`).

use crate::sign::{ROSTER_NAMESPACE, verify};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ssh_key::{PublicKey, SshSig};
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
    quorum: usize,
    #[serde(rename = "custodian", default)]
    custodians: Vec<Custodian>,
}

/// A parsed and validated roster with its exact bytes.
#[derive(Debug, Clone)]
pub struct Roster {
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
    #[error("cannot read the roster {path}: {source}. Check the path (config `paths.roster` or --roster).")]
    Read { path: String, source: std::io::Error },
    #[error("{path} line {line}: {what}. Fix the roster and run `breakglass roster check`.")]
    Syntax { path: String, line: usize, what: String },
    #[error("{path}: {what}. Fix the roster and run `breakglass roster check`.")]
    Invalid { path: String, what: String },
}

impl Roster {
    /// Reads and validates a roster file.
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        let bytes = std::fs::read(path).map_err(|source| RosterError::Read { path: path.display().to_string(), source })?;
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
            what: e.message().trim().to_string(),
        })?;
        let invalid = |what: String| RosterError::Invalid { path: name.into(), what };
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
            if let Some(o) = file.custodians[..i].iter().zip(&keys).find(|(_, k): &(&Custodian, &PublicKey)| k.key_data() == key.key_data())
            {
                return Err(invalid(format!("custodians `{}` and `{}` share a signing key", o.0.id, c.id)));
            }
            check_recipient(&c.age_recipient).map_err(|w| invalid(format!("custodian `{}`: {w}", c.id)))?;
            keys.push(key);
        }
        Ok(Self { quorum: file.quorum, custodians: file.custodians, keys, bytes: bytes.to_vec(), path: None })
    }

    /// SHA-256 of the roster's exact bytes, hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    pub fn custodian(&self, id: &str) -> Option<&Custodian> {
        self.custodians.iter().find(|c| c.id == id)
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.custodians.iter().position(|c| c.id == id)
    }

    pub fn by_serial(&self, serial: u32) -> Option<usize> {
        self.custodians.iter().position(|c| c.yubikey_serial == serial)
    }

    /// The signing key of custodian `id`.
    pub fn key(&self, id: &str) -> Option<&PublicKey> {
        self.index_of(id).map(|i| &self.keys[i])
    }

    pub fn key_at(&self, i: usize) -> &PublicKey {
        &self.keys[i]
    }

    /// Checks the detached signatures next to the roster (`<file>.<id>.sig`).
    pub fn trust(&self) -> Trust {
        let Some(path) = &self.path else {
            return Trust { signed_by: vec![], problems: vec!["the roster was not read from a file".into()], quorum: self.quorum };
        };
        let sigs = self.custodians.iter().map(|c| {
            let p = sig_path(path, &c.id);
            (c.id.clone(), std::fs::read(&p).ok())
        });
        self.trust_from(sigs.collect())
    }

    /// Checks the given signatures (custodian id, armored SSHSIG bytes if present).
    pub fn trust_from(&self, sigs: Vec<(String, Option<Vec<u8>>)>) -> Trust {
        let mut t = Trust { signed_by: vec![], problems: vec![], quorum: self.quorum };
        for (id, sig) in sigs {
            let Some(sig) = sig else { continue };
            let Some(key) = self.key(&id) else {
                t.problems.push(format!("signature file for `{id}`, who is not in the roster"));
                continue;
            };
            match SshSig::from_pem(&sig).map_err(|e| e.to_string()).and_then(|s| verify(key, ROSTER_NAMESPACE, &self.bytes, &s)) {
                Ok(()) => t.signed_by.push(id),
                Err(e) => t.problems.push(format!("`{id}`'s roster signature is not valid: {e}")),
            }
        }
        t
    }
}

/// `roster.toml` -> `roster.toml.<id>.sig`.
pub fn sig_path(roster: &Path, id: &str) -> PathBuf {
    let mut s = roster.as_os_str().to_owned();
    s.push(format!(".{id}.sig"));
    PathBuf::from(s)
}

/// Whether a roster is signed by a quorum of its custodians.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    pub signed_by: Vec<String>,
    pub problems: Vec<String>,
    pub quorum: usize,
}

impl Trust {
    pub fn trusted(&self) -> bool {
        self.signed_by.len() >= self.quorum && self.problems.is_empty()
    }

    /// A sentence for humans: why the roster is (not) trusted and what to do.
    pub fn explain(&self) -> String {
        if self.trusted() {
            format!("trusted: signed by {} (quorum {})", self.signed_by.join(", "), self.quorum)
        } else {
            let mut s = format!(
                "NOT trusted: signed by {} of the {} custodians a quorum needs ({}).",
                self.signed_by.len(),
                self.quorum,
                if self.signed_by.is_empty() { "nobody".to_string() } else { self.signed_by.join(", ") }
            );
            for p in &self.problems {
                s.push_str("\n  - ");
                s.push_str(p);
            }
            s.push_str(
                "\n  Next: each custodian signs the exact file: `breakglass roster sign ROSTER --id ID --key KEY` or \
                `ssh-keygen -Y sign -f KEY -n breakglass-roster ROSTER` then rename ROSTER.sig to ROSTER.<id>.sig.",
            );
            s
        }
    }
}

fn check_recipient(r: &str) -> Result<(), String> {
    if r.starts_with(crate::pivage::HRP) {
        return crate::pivage::Recipient::parse(r).map(|_| ());
    }
    age::x25519::Recipient::from_str(r).map(|_| ()).map_err(|e| format!("age_recipient `{r}` is not an age recipient ({e})"))
}

/// 1-based line number of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../assets/demo/roster.toml");

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
    fn demo_signatures_make_it_trusted_and_a_changed_byte_does_not() {
        let r = Roster::parse(DEMO.as_bytes(), "demo").unwrap();
        let sigs = vec![
            ("alice".to_string(), Some(include_bytes!("../assets/demo/roster.toml.alice.sig").to_vec())),
            ("bob".to_string(), Some(include_bytes!("../assets/demo/roster.toml.bob.sig").to_vec())),
        ];
        assert!(r.trust_from(sigs.clone()).trusted());
        let changed = DEMO.replacen("Alice Example", "Alice Exampl3", 1);
        let r2 = Roster::parse(changed.as_bytes(), "demo").unwrap();
        let t = r2.trust_from(sigs);
        assert!(!t.trusted());
        assert!(t.explain().contains("NOT trusted"));
    }
}
