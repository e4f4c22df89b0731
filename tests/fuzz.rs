//! Fuzz targets for every parser that takes untrusted bytes (bolero: runs on stable Rust).
//!
//! Under `cargo test` each target replays its corpus (`tests/__fuzz__/<target>/corpus`) and a
//! bounded number of random inputs; `cargo bolero test fuzz_<name> --engine libfuzzer
//! --sanitizer NONE` runs one for as long as you like (docs/fuzzing.md). A target fails on a
//! panic, a hang or a verdict that contradicts itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use breakglass::core::journal::{self, ProblemKind};
use std::path::Path;

/// The per-input time limit (issue "hostile input"): an input that takes longer than this is a
/// finding, whatever the target concluded. Generous for a debug build; a quadratic or unbounded
/// path on a fuzzer's few-KB inputs takes far longer.
const PER_INPUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Times one input; fails the target, naming the input, when it took longer than [`PER_INPUT`].
struct Budget<'a> {
    started: std::time::Instant,
    input: &'a [u8],
}

impl<'a> Budget<'a> {
    fn start(input: &'a [u8]) -> Self {
        Self { started: std::time::Instant::now(), input }
    }
}

impl Drop for Budget<'_> {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        if took > PER_INPUT && !std::thread::panicking() {
            panic!(
                "a slow input: {took:?} (limit {PER_INPUT:?}) on {} bytes: {:?}",
                self.input.len(),
                String::from_utf8_lossy(&self.input[..self.input.len().min(200)])
            );
        }
    }
}

#[test]
fn fuzz_journal_chain() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        let r = journal::check_chain(bytes);
        // The entries counted are complete lines.
        assert!(r.entries <= bytes.iter().filter(|&&b| b == b'\n').count());
        if r.truncated_tail {
            assert!(r.problems.iter().any(|p| p.kind == ProblemKind::Interrupted));
        }
        // On any line serde_json parses, the fast byte scan and the full pass agree.
        for line in bytes.split(|&b| b == b'\n') {
            if serde_json::from_slice::<serde_json::Value>(line).is_ok() {
                assert_eq!(
                    journal::strict_line(line).is_ok(),
                    journal::strict_line_parsed(line).is_ok(),
                    "{}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    });
}

#[test]
fn fuzz_verify_bundle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("roster.toml"), breakglass::commands::demo::ROSTER).unwrap();
    let anchor = breakglass::core::trust::demo();
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        std::fs::write(dir.path().join("journal.jsonl"), bytes).unwrap();
        let r = breakglass::core::verify::verify_dir(dir.path(), Ok(&anchor)).unwrap();
        // verify's parallel reader agrees with the sequential chain check, entry for entry.
        let c = journal::check_chain(bytes);
        assert_eq!(r.entries, c.entries);
        assert_eq!(r.head, hex::encode(c.head));
        // A bundle never signed is never valid.
        assert_ne!(r.status, breakglass::core::verify::Status::Valid);
        let _ = breakglass::core::verify::render_text(&r);
    });
}

#[test]
fn fuzz_recover_journal() {
    // What `breakglass recover` reads: the journal an interrupted session left behind (cut
    // anywhere, or altered by whoever could write the disk since).
    let root = tempfile::tempdir().unwrap();
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        // A session lives in the directory named by its id (recover refuses any other).
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let sid = serde_json::from_slice::<serde_json::Value>(first)
            .ok()
            .and_then(|v| v["session_id"].as_str().map(str::to_string))
            .filter(|s| breakglass::core::archive::valid_segment(s))
            .unwrap_or_else(|| "x".into());
        let dir = root.path().join(&sid);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("journal.jsonl"), bytes).unwrap();
        let chain = journal::check_chain(bytes);
        let result = breakglass::adapters::session::read_interrupted(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        match result {
            Ok(i) => {
                // Recovery continues only an intact chain that opened a session, and counts
                // exactly the entries the chain check counted.
                assert!(chain.problems.iter().all(|p| p.kind == ProblemKind::Interrupted));
                assert!(chain.entries >= 1);
                assert_eq!(i.recovery.entries, chain.entries as u64);
                // A cut last line is kept (as hex, in session.recovered), never dropped silently.
                assert_eq!(i.recovery.partial_tail.is_some(), chain.truncated_tail);
                assert!(i.recovery.steps_done <= chain.entries as u64);
            }
            // Every refusal says what to do next.
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    });
}

#[test]
fn fuzz_roster() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        if let Ok(r) = breakglass::core::roster::Roster::parse(bytes, "fuzz") {
            assert!(r.quorum >= 2 && r.quorum <= r.custodians.len());
        }
    });
}

#[test]
fn fuzz_roster_chain() {
    // A rotation from the pinned DEMO roster (version 1, in history/) to the version the input
    // describes, signed by alice and bob with their version-1 keys: what two colluding custodians
    // (or anyone holding two keys) can produce. The rotation rule must still hold.
    use breakglass::core::roster::{self, Roster};
    let dir = tempfile::tempdir().unwrap();
    let v1 = roster::demo();
    let pin = v1.sha256();
    let history = dir.path().join("history");
    std::fs::create_dir(&history).unwrap();
    let old = history.join(format!("{pin}.toml"));
    std::fs::write(&old, roster::DEMO_ROSTER).unwrap();
    for (id, sig) in roster::demo_sigs() {
        std::fs::write(roster::sig_path(&old, &id), sig).unwrap();
    }
    let path = dir.path().join("roster.toml");
    // The demo keys, from the main crate or from fuzz/ (the long runs' crate).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let assets = [root.join("assets/demo"), root.join("../assets/demo")].into_iter().find(|p| p.is_dir()).unwrap();
    let signers = ["alice", "bob"];
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        std::fs::write(&path, bytes).unwrap();
        for id in signers {
            let _ = std::fs::remove_file(roster::sig_path(&path, id));
            if Roster::parse(bytes, "fuzz").is_ok() {
                let key = assets.join(format!("{id}.ssh"));
                breakglass::core::sign::sign_file_with_key(
                    &path,
                    bytes,
                    breakglass::core::sign::ROSTER_NAMESPACE,
                    id,
                    &key,
                    v1.key(id).unwrap(),
                )
                .unwrap();
            }
        }
        let source = breakglass::core::trust::Source::Given(path.clone());
        match breakglass::core::trust::check_file(&path, Some(&pin), source) {
            Ok(t) => {
                let next = t.roster();
                assert_eq!(next.bytes, bytes);
                // Every custodian of a trusted version is one of version 1's with the same signing
                // key (a signature by the old key never verifies as the new one). Only alice and
                // bob signed, so only they can have agreed to a new age recipient or YubiKey.
                for c in &next.custodians {
                    let before = v1.custodian(&c.id).unwrap_or_else(|| panic!("{} was added without their signature", c.id));
                    assert_eq!(next.key(&c.id), v1.key(&c.id), "{}'s key changed without their signature", c.id);
                    if !signers.contains(&c.id.as_str()) {
                        assert_eq!((&before.age_recipient, before.yubikey_serial), (&c.age_recipient, c.yubikey_serial), "{}", c.id);
                    }
                }
                // Its own quorum signed it, and only alice and bob did.
                assert!(next.quorum <= signers.len());
                assert!(next.version == 1 || (next.version == 2 && next.previous.as_deref() == Some(pin.as_str())));
                let _ = breakglass::core::trust::rolled_back(&t, None);
            }
            // Every refusal says what to do next.
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    });
}

#[test]
fn fuzz_config() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        if let Ok(text) = std::str::from_utf8(bytes) {
            let _ = breakglass::core::config::Config::parse(text, Path::new("fuzz.toml"));
        }
    });
}

#[test]
fn fuzz_manifest() {
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        if let Ok(m) = breakglass::core::seal::Manifest::parse(bytes) {
            assert!(m.files.iter().all(|f| !f.name.contains('/') && !f.name.starts_with('.')));
        }
    });
}

#[test]
fn fuzz_sshsig_armour() {
    let key = breakglass::commands::demo::roster().key("alice").unwrap().clone();
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        // Random bytes never verify as alice's signature over this message.
        assert!(breakglass::core::verify::verify_prehashed(&key, "breakglass-session", &[0u8; 64], bytes).is_err());
    });
}

#[test]
fn fuzz_attestation_der() {
    let store = breakglass::core::attest::TrustStore::yubico();
    let now = chrono::Utc::now();
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        // Input: a big-endian u16 length, the f9 (intermediate) certificate, then the slot's.
        let (len, rest) = match bytes {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])).min(rest.len()), rest),
            _ => (0, &[][..]),
        };
        // Random certificates never chain to Yubico's CA.
        assert!(breakglass::core::attest::verify_chain(&rest[len..], &rest[..len], &store, now).is_err());
    });
}

#[test]
fn fuzz_age_piv_stanza() {
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let recipient = breakglass::core::pivage::Recipient::from_public(&secret.public_key());
    let identity = breakglass::core::pivage::SoftPivIdentity { secret };
    let open = |bytes: &[u8]| -> Option<Vec<u8>> {
        let d = age::Decryptor::new(bytes).ok()?;
        let mut r = d.decrypt(std::iter::once(&identity as &dyn age::Identity)).ok()?;
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut out).ok()?;
        Some(out)
    };
    // The happy path first: a real piv-p256 file opens.
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut sealed = Vec::new();
    let mut w = enc.wrap_output(&mut sealed).unwrap();
    std::io::Write::write_all(&mut w, b"runbook").unwrap();
    w.finish().unwrap();
    assert_eq!(open(&sealed).as_deref(), Some(&b"runbook"[..]));
    bolero::check!().for_each(|bytes: &[u8]| {
        let _budget = Budget::start(bytes);
        let _ = open(bytes);
    });
}
