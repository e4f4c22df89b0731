//! Sealed runbooks: dual control by cryptography.
//!
//! For every combination of `quorum` custodians (ids sorted) one file `<id1>+<id2>[+...].age`
//! holds the runbook encrypted to the last custodian, that encrypted to the one before, and the
//! outermost layer to the first. Every layer is a standard age file, so stock `age` opens it:
//! `age -d -i alice.key alice+bob.age | age -d -i bob.key`. No single custodian can open any file.

use crate::core::key::{Token, TokenError};
use crate::core::roster::Roster;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;
use zeroize::Zeroizing;

pub const MANIFEST: &str = "MANIFEST.toml";
pub(crate) const FORMAT: u32 = 1;

/// The most sealed files a manifest may name (one per quorum of custodians).
pub const MAX_MANIFEST_FILES: usize = 1024;

/// `MANIFEST.toml` of a sealed directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub quorum: usize,
    /// SHA-256 of the roster file it was sealed for.
    pub roster_sha256: String,
    /// Which sealing this is: each one (a `seal`, a rekey's) takes the next serial, so an older
    /// one put back is recognised (evidence rule E2's runbook part; absent in early sealings: 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub serial: u64,
    #[serde(rename = "file")]
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub name: String,
    /// Custodian ids, outermost layer first.
    pub layers: Vec<String>,
    pub sha256: String,
}

/// Why MANIFEST.toml is refused. What is quoted from the file (a name, a parser's message)
/// stays on the message's line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    #[error("{MANIFEST} is not UTF-8 text")]
    NotUtf8,
    #[error("{MANIFEST} line {line}: {}", crate::core::plain::one_line(.message))]
    Syntax { line: usize, message: String },
    #[error("format {0} is not supported (this version reads format {FORMAT})")]
    Format(u32),
    #[error("{MANIFEST} names {0} files: more than {MAX_MANIFEST_FILES}, the limit (docs/formats.md, Limits)")]
    TooManyFiles(usize),
    #[error("{MANIFEST} names the file `{}` twice", crate::core::plain::one_line(.0))]
    Twice(String),
    #[error("{MANIFEST} names an unsafe file `{}`", crate::core::plain::one_line(.0))]
    UnsafeName(String),
}

impl Manifest {
    /// Parses MANIFEST.toml's bytes: the format version, and file names that stay inside the
    /// directory. Says what is wrong, with the line.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            line: e.span().map_or(1, |s| crate::core::roster::line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        if manifest.format != FORMAT {
            return Err(ManifestError::Format(manifest.format));
        }
        // A stated maximum, and each file named once: a manifest naming one large file thousands
        // of times made every reader hash it each time.
        if manifest.files.len() > MAX_MANIFEST_FILES {
            return Err(ManifestError::TooManyFiles(manifest.files.len()));
        }
        let mut names = std::collections::HashSet::new();
        for f in &manifest.files {
            if !names.insert(f.name.as_str()) {
                return Err(ManifestError::Twice(f.name.clone()));
            }
            let safe = !f.name.is_empty()
                && f.name.ends_with(".age")
                && f.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.')
                && !f.name.starts_with('.');
            if !safe {
                return Err(ManifestError::UnsafeName(f.name.clone()));
            }
        }
        Ok(manifest)
    }
}

/// A sealed runbook in memory: the manifest (and its exact bytes, which the quorum signs), the
/// signatures found beside it, and each file's bytes. Read from disk it is untrusted until
/// [`Sealed::check_signed`] accepts it for a trusted roster.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub manifest: Manifest,
    /// `MANIFEST.toml`'s exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// `MANIFEST.toml.<id>.sig` files: custodian id -> armored SSHSIG.
    pub signatures: crate::core::roster::Signatures,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Largest sealed file read (a runbook is text; 64 MiB is far beyond any).
const MAX_SEALED_FILE: u64 = 64 << 20;

#[derive(Debug, Error)]
pub enum SealError {
    #[error("cannot read the sealed runbook {path}: {what}. Check config `paths.runbook`, or re-seal with `breakglass seal`.")]
    Read { path: String, what: String },
    #[error("cannot write {path}: {err}. Nothing was left behind; check the directory and try again.")]
    Write { path: String, err: std::io::Error },
    #[error("{0}")]
    Recipient(String),
    #[error(
        "the runbook was sealed for another roster (sealed for {sealed}, roster in use is {current}): re-seal it for the current roster with `breakglass seal`"
    )]
    RosterMismatch { sealed: String, current: String },
    #[error("{name} was changed after sealing (SHA-256 does not match MANIFEST.toml): restore it from the backup copy or re-seal")]
    Corrupt { name: String },
    #[error("no sealed file for the pair {0}: re-seal the runbook for the current roster")]
    NoPair(String),
    #[error("{id}'s key could not open its layer of {file}: {err}")]
    Layer { id: String, file: String, err: TokenError },
    #[error(
        "the sealed runbook's MANIFEST.toml is signed by {} of the {need} custodians a quorum needs{}. Anyone can seal a runbook, so only a quorum's signatures make it the one to follow. Each custodian checks the runbook, then signs: `breakglass runbook sign DIR --id ID` with their YubiKey inserted (`--key KEY` for a software key; or `ssh-keygen -Y sign -f KEY -n breakglass-runbook DIR/MANIFEST.toml`, renamed to MANIFEST.toml.<id>.sig){}",
        .signed.len(),
        if .signed.is_empty() { String::new() } else { format!(" ({})", .signed.join(", ")) },
        .bad.iter().map(|(id, why)| format!("\n  - `{id}`'s signature does not verify: {why}")).collect::<String>()
    )]
    Unsigned { signed: Vec<String>, need: usize, bad: Vec<(String, String)> },
    #[error("the runbook is not UTF-8 text")]
    NotText,
    #[error("MANIFEST.toml does not describe a sealing for this roster: {0}. Re-seal the runbook with `breakglass seal`")]
    Layout(String),
    #[error("age: {0}")]
    Age(String),
}

/// All `k`-combinations of `ids` (already sorted), in lexical order.
pub(crate) fn combinations(ids: &[String], k: usize) -> Vec<Vec<String>> {
    fn go(ids: &[String], k: usize, start: usize, cur: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..ids.len() {
            cur.push(ids[i].clone());
            go(ids, k, i + 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(ids, k, 0, &mut Vec::new(), &mut out);
    out
}

/// File name for a combination: ids joined by `+`, then `.age`.
pub fn file_name(ids: &[String]) -> String {
    format!("{}.age", ids.join("+"))
}

fn encrypt_to(recipient: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let x25519;
    let piv;
    let r: &dyn age::Recipient = if recipient.starts_with(crate::core::pivage::HRP) {
        // A YubiKey-bound recipient (age-plugin-yubikey's format): only that card unwraps it.
        piv = crate::core::pivage::Recipient::parse(recipient).map_err(|e| SealError::Recipient(e.to_string()))?;
        &piv
    } else {
        x25519 = age::x25519::Recipient::from_str(recipient)
            .map_err(|e| SealError::Recipient(format!("`{recipient}` is not an age recipient: {e}")))?;
        &x25519
    };
    let enc = age::Encryptor::with_recipients(std::iter::once(r)).map_err(|e| SealError::Age(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    let mut w = enc.wrap_output(&mut out).map_err(|e| SealError::Age(e.to_string()))?;
    w.write_all(plaintext).map_err(|e| SealError::Age(e.to_string()))?;
    w.finish().map_err(|e| SealError::Age(e.to_string()))?;
    Ok(out)
}

/// Seals `plaintext` for every quorum of the roster's custodians.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// [`seal_serial`] with serial 0 (the DEMO and tests).
pub fn seal(roster: &Roster, plaintext: &[u8]) -> Result<Sealed, SealError> {
    seal_serial(roster, plaintext, 0)
}

/// Seals `plaintext` for every quorum of `roster`, as sealing number `serial`.
pub fn seal_serial(roster: &Roster, plaintext: &[u8], serial: u64) -> Result<Sealed, SealError> {
    let mut ids: Vec<String> = roster.custodians.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    let mut files = BTreeMap::new();
    let mut entries = Vec::new();
    for combo in combinations(&ids, roster.quorum) {
        // Innermost layer to the last custodian, outermost to the first.
        let mut data: Zeroizing<Vec<u8>> = Zeroizing::new(plaintext.to_vec());
        for id in combo.iter().rev() {
            let c = roster.custodian(id).ok_or_else(|| SealError::Recipient(format!("no custodian `{id}`")))?;
            data = Zeroizing::new(encrypt_to(&c.age_recipient, &data)?);
        }
        let name = file_name(&combo);
        entries.push(ManifestFile { name: name.clone(), layers: combo, sha256: hex::encode(Sha256::digest(&*data)) });
        files.insert(name, data.to_vec());
    }
    let manifest = Manifest { format: FORMAT, quorum: roster.quorum, roster_sha256: roster.sha256(), serial, files: entries };
    let text = toml::to_string(&manifest).map_err(|e| SealError::Age(e.to_string()))?;
    let header = "# breakglass sealed runbook. Open with both custodians' keys, outermost layer first:\n#   age -d -i FIRST.key FIRST+SECOND.age | age -d -i SECOND.key > runbook.md\n# A quorum signs this file (MANIFEST.toml.<id>.sig, namespace breakglass-runbook) before the ceremony trusts it.\n";
    let manifest_bytes = format!("{header}{text}").into_bytes();
    Ok(Sealed { manifest, manifest_bytes, signatures: Default::default(), files })
}

impl Sealed {
    /// Writes the sealed directory atomically: into a temporary sibling, then renamed into place.
    /// Refuses to replace an existing directory.
    pub fn write_dir(&self, dir: &Path) -> Result<(), SealError> {
        let werr = |path: &Path, err| SealError::Write { path: path.display().to_string(), err };
        if dir.exists() {
            return Err(werr(dir, std::io::Error::new(std::io::ErrorKind::AlreadyExists, "it already exists (move it away to re-seal)")));
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempdir_in(parent).map_err(|e| werr(parent, e))?;
        let result = (|| {
            for (name, bytes) in &self.files {
                write_synced(&tmp.join(name), bytes)?;
            }
            write_synced(&tmp.join(MANIFEST), &self.manifest_bytes)?;
            for (id, sig) in &self.signatures {
                write_synced(&crate::core::roster::sig_path(&tmp.join(MANIFEST), id), sig)?;
            }
            std::fs::rename(&tmp, dir)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(werr(dir, e));
        }
        Ok(())
    }

    /// Reads a sealed directory and checks every file against the manifest.
    pub fn read_dir(dir: &Path) -> Result<Self, SealError> {
        let rerr = |what: String| SealError::Read { path: dir.display().to_string(), what };
        let mpath = dir.join(MANIFEST);
        let manifest_bytes = crate::core::fsread::read_following(&mpath, 1 << 20).map_err(|e| rerr(format!("{MANIFEST}: {e}")))?;
        let manifest = Manifest::parse(&manifest_bytes).map_err(|e| rerr(e.to_string()))?;
        let mut files = BTreeMap::new();
        for f in &manifest.files {
            let bytes =
                crate::core::fsread::read_regular(&dir.join(&f.name), MAX_SEALED_FILE).map_err(|e| rerr(format!("{}: {e}", f.name)))?;
            if hex::encode(Sha256::digest(&bytes)) != f.sha256 {
                return Err(SealError::Corrupt { name: f.name.clone() });
            }
            files.insert(f.name.clone(), bytes);
        }
        let mut ids: Vec<&str> = manifest.files.iter().flat_map(|f| f.layers.iter().map(String::as_str)).collect();
        ids.sort_unstable();
        ids.dedup();
        let (signatures, _) = crate::core::roster::read_signatures(&mpath, ids);
        Ok(Self { manifest, manifest_bytes, signatures, files })
    }

    /// A sealing with no files, for a session that never unseals (a recovery closes the session
    /// without opening the runbook again).
    pub fn empty(roster: &Roster) -> Self {
        Self {
            manifest: Manifest { format: FORMAT, quorum: roster.quorum, roster_sha256: roster.sha256(), serial: 0, files: vec![] },
            manifest_bytes: vec![],
            signatures: Default::default(),
            files: BTreeMap::new(),
        }
    }

    /// Accepts the sealed runbook for a trusted roster: sealed for exactly that roster, its
    /// MANIFEST.toml signed by a quorum of it (every file's hash was checked when it was read).
    pub fn check_signed(&self, trusted: &crate::core::trust::TrustedRoster) -> Result<(), SealError> {
        let roster = trusted.roster();
        self.check_roster(roster)?;
        let (signed, bad) =
            crate::core::roster::signed_by(&self.manifest_bytes, crate::core::sign::RUNBOOK_NAMESPACE, roster, &self.signatures);
        if signed.len() < roster.quorum {
            return Err(SealError::Unsigned { signed, need: roster.quorum, bad });
        }
        Ok(())
    }

    /// SHA-256 over the manifest's file hashes: identifies this sealing in the journal.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for f in &self.manifest.files {
            h.update(f.name.as_bytes());
            h.update(b":");
            h.update(f.sha256.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// Checks the sealing was made for this roster.
    pub(crate) fn check_roster(&self, roster: &Roster) -> Result<(), SealError> {
        if self.manifest.roster_sha256 != roster.sha256() {
            return Err(SealError::RosterMismatch { sealed: short(&self.manifest.roster_sha256), current: short(&roster.sha256()) });
        }
        // Even signed by a quorum, a manifest must say what `seal` writes: the roster's quorum, and
        // each file sealed in layers for exactly the custodians its name pairs (`layers = []`
        // would be a runbook in clear that "opens" with anyone).
        let bad = |what: String| Err(SealError::Layout(crate::core::plain::one_line(&what).into_owned()));
        if self.manifest.quorum != roster.quorum {
            return bad(format!("quorum = {}, but the roster's quorum is {}", self.manifest.quorum, roster.quorum));
        }
        for f in &self.manifest.files {
            let mut layers = f.layers.clone();
            layers.sort();
            layers.dedup();
            if layers.len() != roster.quorum || layers.len() != f.layers.len() || layers.iter().any(|id| roster.custodian(id).is_none()) {
                return bad(format!(
                    "{} is sealed in layers for {:?}, not for {} different custodians of the roster",
                    f.name, f.layers, roster.quorum
                ));
            }
            if f.name != file_name(&layers) {
                return bad(format!("{} is sealed for {}: the name must say who opens it", f.name, layers.join("+")));
            }
        }
        Ok(())
    }

    /// Opens the file for `ids` (any order) with each custodian's token, outermost layer first.
    pub fn unseal(&self, ids: &[String], open: &mut OpenLayer<'_>) -> Result<Zeroizing<String>, SealError> {
        let mut sorted = ids.to_vec();
        sorted.sort();
        let name = file_name(&sorted);
        let entry = self.manifest.files.iter().find(|f| f.name == name).ok_or_else(|| SealError::NoPair(sorted.join("+")))?;
        // Every one of those who open it removes a layer of their own, whatever else was checked.
        let mut layers = entry.layers.clone();
        layers.sort();
        if layers != sorted {
            return Err(SealError::Layout(format!("{name} is sealed in layers for {:?}", entry.layers)));
        }
        let mut data: Zeroizing<Vec<u8>> =
            Zeroizing::new(self.files.get(&name).cloned().ok_or_else(|| SealError::NoPair(sorted.join("+")))?);
        for id in &entry.layers {
            data = open(id, &data).map_err(|err| SealError::Layer { id: id.clone(), file: name.clone(), err })?;
        }
        let text = String::from_utf8(data.to_vec()).map_err(|_| SealError::NotText)?;
        Ok(Zeroizing::new(text))
    }
}

/// Removes one layer, given the custodian id whose layer it is.
pub(crate) type OpenLayer<'a> = dyn FnMut(&str, &[u8]) -> Result<Zeroizing<Vec<u8>>, TokenError> + 'a;

/// Opens a sealed file with the custodians' tokens (found by the serial the roster gives each id).
pub fn unseal_with(
    sealed: &Sealed,
    ids: &[String],
    tokens: &mut [Box<dyn Token>],
    serial_of: &dyn Fn(&str) -> Option<u32>,
) -> Result<Zeroizing<String>, SealError> {
    sealed.unseal(ids, &mut |id, ct| {
        let t = serial_of(id).and_then(|s| tokens.iter_mut().find(|t| t.info().serial == s));
        match t {
            Some(t) => t.decrypt_layer(ct),
            None => Err(TokenError::NotPresent(id.to_string())),
        }
    })
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create_new(true).write(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A fresh, empty, uniquely named directory next to where the result goes.
pub fn tempdir_in(parent: &Path) -> std::io::Result<PathBuf> {
    use rand::Rng;
    std::fs::create_dir_all(parent)?;
    for _ in 0..16 {
        let p = parent.join(format!(".breakglass-tmp-{:016x}", rand::thread_rng().r#gen::<u64>()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary directory"))
}

#[cfg(test)]
mod tests {

    /// A manifest naming one file twice, or more files than the limit, is refused.
    #[test]
    fn a_manifest_names_each_file_once_and_not_too_many() {
        let entry = |n: usize| format!("[[file]]\nname = \"f{n}.age\"\nlayers = [\"a\", \"b\"]\nsha256 = \"00\"\n");
        let head = "format = 1\nquorum = 2\nroster_sha256 = \"00\"\n";
        let twice = format!("{head}{}{}", entry(1), entry(1));
        assert_eq!(Manifest::parse(twice.as_bytes()), Err(ManifestError::Twice("f1.age".into())));
        let many: String = (0..=MAX_MANIFEST_FILES).map(entry).collect();
        assert_eq!(Manifest::parse(format!("{head}{many}").as_bytes()), Err(ManifestError::TooManyFiles(MAX_MANIFEST_FILES + 1)));
        assert!(Manifest::parse(format!("{head}{}{}", entry(1), entry(2)).as_bytes()).is_ok());
    }

    use super::*;

    #[test]
    fn combinations_of_three_by_two() {
        let ids: Vec<String> = ["alice", "bob", "carol"].iter().map(|s| s.to_string()).collect();
        let c = combinations(&ids, 2);
        assert_eq!(c.iter().map(|v| file_name(v)).collect::<Vec<_>>(), ["alice+bob.age", "alice+carol.age", "bob+carol.age"]);
        assert_eq!(combinations(&ids, 3).len(), 1);
    }

    /// Found by review: a manifest signed by a quorum was accepted whatever its `quorum` and
    /// `layers` said, so `layers = []` made a runbook in clear that "opened" with anyone.
    #[test]
    fn a_manifest_must_describe_the_sealing_seal_makes() {
        let roster = crate::commands::demo::roster();
        let good = seal(&roster, b"# R\n\n- [ ] one\n").unwrap();
        assert!(good.check_roster(&roster).is_ok());
        let layout = |edit: &dyn Fn(&mut Sealed)| {
            let mut s = good.clone();
            edit(&mut s);
            matches!(s.check_roster(&roster), Err(SealError::Layout(_)))
        };
        assert!(layout(&|s| s.manifest.quorum = 1), "the roster's quorum");
        assert!(layout(&|s| s.manifest.files[0].layers.clear()), "no layers: a file in clear");
        assert!(layout(&|s| s.manifest.files[0].layers = vec!["alice".into(), "alice".into()]), "one custodian twice");
        assert!(layout(&|s| s.manifest.files[0].layers = vec!["alice".into(), "mallory".into()]), "not a custodian");
        assert!(!layout(&|s| s.manifest.files[0].layers.reverse()), "order is free");
        assert!(layout(&|s| s.manifest.files[0].name = "bob+carol.age".into()), "the name must say who opens it");
        // Opening checks the layers too, whatever was checked before.
        let mut s = good.clone();
        s.manifest.files[0].layers = vec!["alice".into()];
        let mut open = |_: &str, d: &[u8]| Ok(zeroize::Zeroizing::new(d.to_vec()));
        assert!(matches!(s.unseal(&["alice".into(), "bob".into()], &mut open), Err(SealError::Layout(_))));
    }
}
