#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
//! "No forgery passes": each attack of the adversarial review, made with stock `ssh-keygen` and
//! `age` as one custodian (or an outsider) would make it, must fail; a proper rotation must pass.

mod common;

use breakglass::core::journal::ProblemKind;
use common::forge::{Org, Person, person, rechain, roster_text, session_signed_by, sha256_file, ssh_sign};
use common::{demo_session, run, stderr, stdout};
use std::path::{Path, PathBuf};

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn the_pinned_roster_is_trusted_and_says_why() {
    let org = Org::new();
    let o = org.check();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("pinned by [trust] roster_sha256"), "{}", stdout(&o));
    assert!(stdout(&o).contains("fingerprint words: "), "{}", stdout(&o));
    assert!(org.path().join("history").join(format!("{}.toml", sha256_file(&org.roster()))).is_file());
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn sock_puppet_a_custodian_adding_a_second_key_of_their_own_is_refused() {
    let org = Org::new();
    let v1 = sha256_file(&org.roster());
    let puppet = person(&org.path().join("keys"), "alice2", 1099);
    // As a fresh roster signed by alice and her puppet: not the pin, chains to nothing.
    org.replace_roster(&roster_text(1, None, 2, &[&org.alice, &org.bob, &org.carol, &puppet]));
    ssh_sign(&org.alice, "alice", "breakglass-roster", &org.roster());
    ssh_sign(&puppet, "alice2", "breakglass-roster", &org.roster());
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("does not chain to the pin"), "{}", stdout(&o));
    // As a rotation of v1 signed by alice and the puppet: a quorum of v1 did not sign it.
    org.replace_roster(&roster_text(2, Some(&v1), 2, &[&org.alice, &org.bob, &org.carol, &puppet]));
    ssh_sign(&org.alice, "alice", "breakglass-roster", &org.roster());
    ssh_sign(&puppet, "alice2", "breakglass-roster", &org.roster());
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("a quorum of the previous version's custodians: 1 of 2"), "{}", stdout(&o));
    assert!(stdout(&o).contains("bob or carol"), "{}", stdout(&o));
    // verify and the ceremony refuse it too (exit 2: the configured roster is not trusted).
    let s = demo_session(&org.path().join("data"), &[]);
    assert_eq!(org.bg(&["verify", s.to_str().unwrap()]).status.code(), Some(2));
    let o = org.bg(&["ceremony", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("NOT trusted"), "{}", stderr(&o));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_proper_rotation_is_trusted_and_sessions_under_v1_still_verify() {
    let org = Org::new();
    let v1 = sha256_file(&org.roster());
    // A session under v1, forged as real by nobody: made by the library on soft tokens of the
    // org's own stock keys, then checked as a reviewer would.
    let s1 = session_signed_by(&org, &[&org.alice, &org.bob], "alice+bob");
    let o = org.bg(&["verify", s1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // v2 adds dave: signed by a v1 quorum (alice, bob), by dave, and by a v2 quorum.
    let dave = person(&org.path().join("keys"), "dave", 1004);
    org.replace_roster(&roster_text(2, Some(&v1), 2, &[&org.alice, &org.bob, &org.carol, &dave]));
    ssh_sign(&org.alice, "alice", "breakglass-roster", &org.roster());
    ssh_sign(&org.bob, "bob", "breakglass-roster", &org.roster());
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("`dave`, whom it adds"), "{}", stdout(&o));
    ssh_sign(&dave, "dave", "breakglass-roster", &org.roster());
    let o = org.check();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("chains to the pinned version 1 through 1 signed rotation"), "{}", stdout(&o));
    // The v1 session still verifies against the (rotated) configured roster.
    let o = org.bg(&["verify", s1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A v2 session by dave and carol verifies too.
    let s2 = session_signed_by(&org, &[&org.carol, &dave], "carol+dave");
    let o = org.bg(&["verify", s2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A closed bundle whose roster copy was removed is not valid.
    std::fs::remove_file(s2.join("roster.toml")).unwrap();
    let o = org.bg(&["verify", s2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // An altered history/ copy of v1 breaks the chain.
    let h = org.path().join("history").join(format!("{v1}.toml"));
    let text = std::fs::read_to_string(&h).unwrap().replace("carol Example", "carol Exampl3");
    std::fs::write(&h, text).unwrap();
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("history/ was altered"), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn one_key_under_two_ids_is_refused_in_any_encoding() {
    let org = Org::new();
    // bob's entry carries alice's key written as a compressed point.
    let compressed = compress(&org.alice.public);
    let mut bob = person(&org.path().join("keys"), "bob2", 1002);
    bob.public = compressed;
    bob.id = "bob".into();
    org.replace_roster(&roster_text(1, None, 2, &[&org.alice, &bob, &org.carol]));
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("uncompressed point"), "{}", stdout(&o));
    // And in the same encoding.
    bob.public = org.alice.public.clone();
    org.replace_roster(&roster_text(1, None, 2, &[&org.alice, &bob, &org.carol]));
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("share a signing key"), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_shared_age_recipient_is_refused() {
    let org = Org::new();
    let mut bob = person(&org.path().join("keys"), "bob2", 1002);
    bob.id = "bob".into();
    bob.recipient = org.alice.recipient.clone();
    org.replace_roster(&roster_text(1, None, 2, &[&org.alice, &bob, &org.carol]));
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("share an age recipient"), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_demo_bundle_does_not_pick_its_own_trust_anchor() {
    let org = Org::new();
    let s = demo_session(&org.path().join("data"), &[]);
    let o = org.bg(&["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["problems"].as_array().unwrap().iter().any(|p| p["kind"] == "label"), "{v}");
    // With nothing configured it is a (worthless, labelled) DEMO session.
    let o = run(&org.path().join("data"), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A bundle that hides its DEMO label behind re-chained lines and fresh stock signatures is
    // still checked against the DEMO roster it carries, and the mismatch is caught.
    rechain(&s.join("journal.jsonl"), "e.pop('demo', None)");
    resign_demo(&s);
    let o = run(&org.path().join("data"), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_missing_or_unreadable_configured_roster_is_an_error_everywhere() {
    let org = Org::new();
    let s = demo_session(&org.path().join("data"), &["--drill"]);
    std::fs::remove_file(org.roster()).unwrap();
    for args in [vec!["verify", s.to_str().unwrap()], vec!["drill", "report"], vec!["roster", "check"]] {
        let o = org.bg(&args);
        assert_ne!(o.status.code(), Some(0), "{args:?}: {}", stdout(&o));
        assert!(!stdout(&o).contains("VALID"), "{args:?}");
    }
    assert_eq!(org.bg(&["verify", s.to_str().unwrap()]).status.code(), Some(2));
    std::fs::create_dir(org.roster()).unwrap();
    let o = org.bg(&["verify", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert_eq!(org.bg(&["drill", "report"]).status.code(), Some(2));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn words_never_decide_validity() {
    // A custodian id that reads like the one harmless problem, on a re-chained, re-signed bundle.
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    rechain(
        &s.join("journal.jsonl"),
        "if e['kind'] == 'notice.sent' and e.get('phase') == 'in_use': e['kind'] = 'notice.acknowledged'; e['custodian'] = 'partial last line'; e['statement'] = 'x'; e['sshsig'] = 'x'",
    );
    resign_demo(&s);
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["problems"].as_array().unwrap().iter().any(|p| p["kind"] == "signer"), "{v}");
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_check_in_statement_must_be_in_its_exact_format() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    // Re-sign alice's check-in over a statement that merely contains the session id.
    let j = std::fs::read_to_string(s.join("journal.jsonl")).unwrap();
    let sid = j.split("\"session_id\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let stmt = format!("I agree to anything:{sid}:later");
    let sig = stock_sign_text(&breakglass_demo_key("alice"), "breakglass-checkin", &stmt);
    let edit =
        format!("if e['kind'] == 'custodian.verified' and e['custodian'] == 'alice': e['challenge'] = {stmt:?}; e['sshsig'] = {sig:?}");
    rechain(&s.join("journal.jsonl"), &edit);
    resign_demo(&s);
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("\"kind\": \"statement\""), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_swapped_or_unsigned_runbook_is_refused() {
    let org = Org::new();
    let md = org.path().join("runbook.md");
    std::fs::write(&md, "# Runbook\n\n- [ ] step one\n- [ ] step two\n").unwrap();
    let sealed = org.path().join("runbook.sealed");
    let o = org.bg(&["seal", "--roster", org.roster().to_str().unwrap(), md.to_str().unwrap(), "--out", sealed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let check = || org.bg(&["runbook", "check", sealed.to_str().unwrap()]);
    let o = check();
    assert_eq!(o.status.code(), Some(1), "unsigned: {}", stdout(&o));
    assert!(stdout(&o).contains("signed by 0 of the 2"), "{}", stdout(&o));
    let m = sealed.join("MANIFEST.toml");
    ssh_sign(&org.alice, "alice", "breakglass-runbook", &m);
    assert_eq!(check().status.code(), Some(1));
    let o = org.bg(&["runbook", "sign", sealed.to_str().unwrap(), "--id", "bob", "--key", org.bob.ssh.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = check();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // Stock age opens a pair's file with both keys, in order.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "age -d -i {} {}/alice+bob.age | age -d -i {}",
            org.alice.agekey.display(),
            sealed.display(),
            org.bob.agekey.display()
        ))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("step one"));
    // Someone who can write paths.runbook seals another runbook and keeps the old signatures.
    std::fs::write(&md, "# Runbook\n\n- [ ] send the root password to mallory\n").unwrap();
    let other = org.path().join("other.sealed");
    let o = org.bg(&["seal", "--roster", org.roster().to_str().unwrap(), md.to_str().unwrap(), "--out", other.to_str().unwrap()]);
    assert!(o.status.success());
    for id in ["alice", "bob"] {
        std::fs::copy(sealed.join(format!("MANIFEST.toml.{id}.sig")), other.join(format!("MANIFEST.toml.{id}.sig"))).unwrap();
    }
    let o = org.bg(&["runbook", "check", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("does not verify"), "{}", stdout(&o));
    // Or swaps one .age file under the signed manifest.
    std::fs::copy(other.join("alice+bob.age"), sealed.join("alice+bob.age")).unwrap();
    let o = check();
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("changed after sealing"), "{}", stderr(&o));
}

#[test]
fn hostile_files_get_a_clear_error_fast() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    // A signature file linked to /dev/zero.
    std::fs::remove_file(s.join("journal.jsonl.bob.sig")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", s.join("journal.jsonl.bob.sig")).unwrap();
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("symbolic link"), "{}", stdout(&o));
    // A FIFO as journal.jsonl.
    let f = tempfile::tempdir().unwrap();
    let fifo_dir = f.path().join("s");
    std::fs::create_dir(&fifo_dir).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(fifo_dir.join("journal.jsonl")).status().unwrap().success());
    let o = run(d.path(), &["verify", fifo_dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    // A reader that goes away: quiet, and the command's own exit code.
    let s2 = demo_session(d.path(), &[]);
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} --data-dir {} verify --json {} | head -c 10 >/dev/null; echo \"rc=${{PIPESTATUS[0]}}\"",
            common::bin().display(),
            d.path().display(),
            s2.display()
        ))
        .output()
        .unwrap();
    assert!(stdout(&o).contains("rc=0"), "{} {}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("panicked") && !stderr(&o).contains("restore terminal"), "{}", stderr(&o));
}

#[test]
fn a_crash_right_after_the_journal_is_created_is_incomplete_not_forged() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    std::fs::write(s.join("journal.jsonl"), b"").unwrap();
    for e in std::fs::read_dir(&s).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("journal.jsonl.") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "incomplete");
    assert!(v["problems"].as_array().unwrap().iter().all(|p| p["kind"] == "interrupted"), "{v}");
    let _ = ProblemKind::Interrupted;
}

// --- helpers -------------------------------------------------------------------------------

/// The public DEMO private keys, written out for ssh-keygen.
fn breakglass_demo_key(id: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bg-demo-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(id);
    let text = match id {
        "alice" => include_str!("../assets/demo/alice.ssh"),
        _ => include_str!("../assets/demo/bob.ssh"),
    };
    std::fs::write(&p, text).unwrap();
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o600);
    std::fs::set_permissions(&p, perm).unwrap();
    p
}

/// Re-signs a DEMO bundle's journal with the public DEMO keys and stock ssh-keygen.
fn resign_demo(s: &Path) {
    for id in ["alice", "bob"] {
        let _ = std::fs::remove_file(s.join(format!("journal.jsonl.{id}.sig")));
        let key = breakglass_demo_key(id);
        let who = Person { id: id.into(), serial: 0, ssh: key, public: String::new(), agekey: PathBuf::new(), recipient: String::new() };
        ssh_sign(&who, id, "breakglass-session", &s.join("journal.jsonl"));
    }
}

/// `ssh-keygen -Y sign` of a text; returns the armored signature.
fn stock_sign_text(key: &Path, namespace: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m");
    std::fs::write(&f, text).unwrap();
    let o = std::process::Command::new("ssh-keygen").args(["-Y", "sign", "-f"]).arg(key).args(["-n", namespace]).arg(&f).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(dir.path().join("m.sig")).unwrap()
}

/// An OpenSSH ecdsa-sha2-nistp256 public key with its point rewritten in compressed form.
fn compress(openssh: &str) -> String {
    use base64ct::Encoding;
    let mut parts = openssh.split_whitespace();
    let alg = parts.next().unwrap();
    let blob = base64ct::Base64::decode_vec(parts.next().unwrap()).unwrap();
    // string alg, string curve, string point(65)
    let point = &blob[blob.len() - 65..];
    let mut c = vec![if point[64] & 1 == 0 { 2 } else { 3 }];
    c.extend_from_slice(&point[1..33]);
    let mut out = blob[..blob.len() - 65 - 4].to_vec();
    out.extend_from_slice(&(33u32).to_be_bytes());
    out.extend_from_slice(&c);
    format!("{alg} {}", base64ct::Base64::encode_string(&out))
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn the_ceremony_refuses_an_unsigned_runbook_and_announces_a_new_roster_once() {
    let org = Org::new();
    let md = org.path().join("runbook.md");
    std::fs::write(&md, "# Runbook\n\n- [ ] step one\n").unwrap();
    let sealed = org.path().join("runbook.sealed");
    assert!(
        org.bg(&["seal", "--roster", org.roster().to_str().unwrap(), md.to_str().unwrap(), "--out", sealed.to_str().unwrap()])
            .status
            .success()
    );
    let mut cfg = std::fs::read_to_string(org.config()).unwrap();
    cfg = cfg.replacen("[paths]\n", &format!("[paths]\nrunbook = \"{}\"\n", sealed.display()), 1);
    std::fs::write(org.config(), cfg).unwrap();
    let o = org.bg(&["ceremony", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("signed by 0 of the 2"), "{}", stderr(&o));
    for p in [&org.alice, &org.carol] {
        ssh_sign(p, &p.id, "breakglass-runbook", &sealed.join("MANIFEST.toml"));
    }
    let outbox = org.path().join("data").join("outbox");
    let notices = || {
        std::fs::read_dir(&outbox)
            .map(|rd| rd.flatten().filter(|e| e.file_name().to_string_lossy().contains("roster_changed")).count())
            .unwrap_or(0)
    };
    // No terminal here, so the TUI cannot start; the notice goes out before it.
    let o = org.bg(&["ceremony", "--reason", "x"]);
    assert!(stderr(&o).contains("\"roster changed\" notice sent"), "{}", stderr(&o));
    assert_eq!(notices(), 1);
    let o = org.bg(&["ceremony", "--reason", "x"]);
    assert!(!stderr(&o).contains("\"roster changed\""), "{}", stderr(&o));
    assert_eq!(notices(), 1, "announced once per version");
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_rotation_that_changes_a_custodians_key_needs_that_custodian() {
    let org = Org::new();
    let v1 = sha256_file(&org.roster());
    // alice and carol (a v1 quorum) point bob's runbook layer at a key alice holds.
    let mut bob = person(&org.path().join("keys"), "bob-other", 1002);
    bob.id = "bob".into();
    bob.public = org.bob.public.clone();
    org.replace_roster(&roster_text(2, Some(&v1), 2, &[&org.alice, &bob, &org.carol]));
    ssh_sign(&org.alice, "alice", "breakglass-roster", &org.roster());
    ssh_sign(&org.carol, "carol", "breakglass-roster", &org.roster());
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("`bob`, whom it adds or whose keys it changes"), "{}", stdout(&o));
    // bob agrees, on his own key: trusted.
    ssh_sign(&org.bob, "bob", "breakglass-roster", &org.roster());
    let o = org.check();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// A roster entry that names attestation certificates is checked against Yubico's CAs: forged
/// certificates (here, made by an outsider's own CA with `openssl`) make `roster check` fail,
/// naming the custodian, even though a quorum signed the roster.
#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and openssl (./scripts/test installs them)"]
fn forged_attestation_certificates_in_a_signed_roster_are_refused() {
    common::require_tool("openssl", "openssl");
    let org = Org::new();
    let sh = |args: &[&str]| {
        let o = std::process::Command::new("openssl").args(args).current_dir(org.path()).output().expect("openssl runs");
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    // A CA that calls itself Yubico, an "f9" certificate under it, and a "9c" certificate.
    sh(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=Yubico PIV Root CA Serial 263751",
        "-days",
        "30",
    ]);
    sh(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "f9.key",
        "-out",
        "f9.csr",
        "-subj",
        "/CN=Yubico PIV Attestation",
    ]);
    sh(&["x509", "-req", "-in", "f9.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "alice-f9.pem", "-days", "30"]);
    sh(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "9c.key",
        "-out",
        "9c.csr",
        "-subj",
        "/CN=YubiKey PIV Attestation 9c",
    ]);
    sh(&[
        "x509",
        "-req",
        "-in",
        "9c.csr",
        "-CA",
        "alice-f9.pem",
        "-CAkey",
        "f9.key",
        "-CAcreateserial",
        "-out",
        "alice-9c.pem",
        "-days",
        "30",
    ]);
    let text = roster_text(1, None, 2, &[&org.alice, &org.bob, &org.carol]).replacen(
        "age_recipient",
        "attestation = [\"alice-9c.pem\", \"alice-f9.pem\"]\nage_recipient",
        1,
    );
    org.replace_roster(&text);
    for p in [&org.alice, &org.bob] {
        ssh_sign(p, &p.id, "breakglass-roster", &org.roster());
    }
    org.write_config(Some(&sha256_file(&org.roster())));
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("trusted:"), "the signatures and the pin are fine: {}", stdout(&o));
    assert!(stdout(&o).contains("attestation alice: NOT VALID"), "{}", stdout(&o));
}

/// Quorum is N, not two: a 3-of-5 roster. The sealed runbook has one file per three custodians
/// (ten), each opened only by all three with stock `age`; a session co-signed by three verifies,
/// and the same session with one signature removed is incomplete, never valid.
#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_three_of_five_roster_needs_three_keys_to_open_and_three_signatures() {
    let org = Org::with(3, &["dave", "erin"]);
    let o = org.check();
    assert!(o.status.success(), "{}", stdout(&o));
    let roster = breakglass::core::roster::Roster::load(&org.roster()).unwrap();
    assert_eq!((roster.quorum, roster.custodians.len()), (3, 5));
    // Sealed for every three of five, outermost layer first.
    let sealed = breakglass::core::seal::seal(&roster, b"# R\n\n- [ ] one\n").unwrap();
    assert_eq!(sealed.manifest.files.len(), 10);
    let f = sealed.manifest.files.iter().find(|f| f.layers == ["alice", "carol", "erin"]).expect("alice+carol+erin is sealed");
    let out = org.path().join("sealed");
    sealed.write_dir(&out).unwrap();
    let key = |id: &str| org.everyone().into_iter().find(|p| p.id == id).unwrap().agekey.clone();
    let open = |ids: &[&str]| {
        let mut bytes = std::fs::read(out.join(&f.name)).unwrap();
        for id in ids {
            let mut child = std::process::Command::new("age")
                .args(["-d", "-i"])
                .arg(key(id))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&bytes).unwrap();
            let o = child.wait_with_output().unwrap();
            if !o.status.success() {
                return None;
            }
            bytes = o.stdout;
        }
        Some(bytes)
    };
    assert_eq!(open(&["alice", "carol", "erin"]).as_deref(), Some(&b"# R\n\n- [ ] one\n"[..]), "all three open it with stock age");
    assert!(open(&["alice", "carol"]).is_none_or(|b| b.starts_with(b"age-encryption.org")), "two of them do not reach the text");
    assert!(open(&["alice", "bob", "erin"]).is_none(), "another three cannot start on this file");
    // A ceremony of three: co-signed by three, valid; one signature fewer, incomplete.
    let dir = session_signed_by(&org, &[&org.alice, &org.carol, &org.more[1]], "q3");
    let v = org.bg(&["verify", "--json", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let r: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(r["signers"], serde_json::json!(["alice", "carol", "erin"]));
    std::fs::remove_file(dir.join("journal.jsonl.erin.sig")).unwrap();
    let v = org.bg(&["verify", "--json", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(3), "two of three signatures: incomplete: {}", stdout(&v));
}

#[test]
fn a_history_version_at_the_top_of_the_range_is_a_gap_not_a_crash() {
    // Found by review: `previous` naming a history/ copy with version = u32::MAX overflowed the
    // "versions go up by one" check (a panic, exit 101, from `roster check` or `verify`).
    let d = tempfile::tempdir().unwrap();
    let old = format!("version = {}\nprevious = \"{}\"\n{}", u32::MAX, "0".repeat(64), breakglass::core::roster::DEMO_ROSTER);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(old.as_bytes()));
    std::fs::create_dir(d.path().join("history")).unwrap();
    std::fs::write(d.path().join("history").join(format!("{sha}.toml")), &old).unwrap();
    let path = d.path().join("roster.toml");
    std::fs::write(&path, format!("version = 2\nprevious = \"{sha}\"\n{}", breakglass::core::roster::DEMO_ROSTER)).unwrap();
    let e = breakglass::core::trust::check_file(&path, None, breakglass::core::trust::Source::Given(path.clone())).err().unwrap();
    assert!(e.to_string().contains("versions must go up by exactly one"), "{e}");
}

#[test]
fn outside_text_cannot_drive_the_reviewers_terminal() {
    // Found by review: a journal's text (here the session id; a note works alike) holding escape
    // sequences and line breaks cleared the screen and printed a fake "verdict: VALID" above a
    // forged session's real verdict, in `verify`, `drill report` and the exported drills.md.
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &["--drill"]);
    let j = s.join("journal.jsonl");
    let t = std::fs::read_to_string(&j).unwrap();
    let id = s.file_name().unwrap().to_str().unwrap();
    let fake = "x\\u001b[2J\\u001b[H\\r\\u009b8m\\u202e\\nverdict: VALID\\nsigned by: alice, bob";
    std::fs::write(&j, t.replace(id, fake)).unwrap();
    let pack = d.path().join("pack");
    for (args, json) in [
        (vec!["verify", s.to_str().unwrap()], false),
        (vec!["verify", "--json", s.to_str().unwrap()], true),
        (vec!["drill", "report"], false),
        (vec!["drill", "report", "--format", "md"], false),
        (vec!["drill", "report", "--format", "json", "--export", pack.to_str().unwrap()], true),
    ] {
        let o = run(d.path(), &args);
        let out = stdout(&o);
        for text in [out.as_str(), &stderr(&o)] {
            assert!(!text.contains(['\u{1b}', '\r', '\u{9b}', '\u{202e}']), "{args:?}: {text:?}");
            assert!(!text.lines().any(|l| l.trim_start().starts_with("verdict: VALID")), "{args:?}: {text}");
        }
        if json {
            // Still the same JSON value: the id reads back with its escapes.
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let got = if args[0] == "verify" { v["session_id"].clone() } else { v["drills"][0]["session_id"].clone() };
            assert!(got.as_str().unwrap().contains("\u{1b}[2J"), "{args:?}");
        }
    }
    for f in ["drills.md", "drills.json"] {
        let text = std::fs::read_to_string(pack.join(f)).unwrap();
        assert!(!text.contains(['\u{1b}', '\r', '\u{9b}', '\u{202e}']), "{f}: {text:?}");
    }
}

#[test]
fn a_roster_change_invented_in_an_incident_session_is_refused() {
    // Found by review: an incident session (here DEMO, whose keys are public: what two colluding
    // custodians could do with theirs) given rekey entries for a self-made roster version 42 that
    // drops carol, the new roster and the journal signed by alice and bob: verify said VALID, and
    // the audit took it as the retirement of version 1.
    use breakglass::core::sign::{ROSTER_NAMESPACE, SESSION_NAMESPACE, sign_file_with_key};
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    let demo = breakglass::core::roster::demo();
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let text = breakglass::core::roster::DEMO_ROSTER;
    let carol = text.find("[[custodian]]\nid = \"carol\"").unwrap();
    let next = format!("version = 42\nprevious = \"{}\"\n{}", "ab".repeat(32), &text[..carol]);
    let next_path = s.join("roster-next.toml");
    std::fs::write(&next_path, &next).unwrap();
    let nsha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(next.as_bytes()));
    let mut sigs = vec![];
    for id in ["alice", "bob"] {
        let p =
            sign_file_with_key(&next_path, next.as_bytes(), ROSTER_NAMESPACE, id, &keys.join(format!("{id}.ssh")), demo.key(id).unwrap())
                .unwrap();
        sigs.push((id, std::fs::read_to_string(&p).unwrap()));
        std::fs::remove_file(p).unwrap();
    }
    let old = demo.sha256();
    common::forge_chain(&s.join("journal.jsonl"), |mut lines| {
        let at: serde_json::Value = serde_json::from_str(&lines[lines.len() - 3]).unwrap();
        let e = |kind: &str, more: serde_json::Value| {
            let mut v = serde_json::json!({"ts": at["ts"], "mono_ms": at["mono_ms"], "kind": kind, "demo": true});
            v.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
            v.to_string()
        };
        let mut add = vec![e(
            "rekey.approved",
            serde_json::json!({"by": ["alice", "bob"], "diff": [], "new_roster_sha256": nsha, "old_roster_sha256": old}),
        )];
        for (i, (id, sig)) in sigs.iter().enumerate() {
            add.push(e(
                "rekey.signed",
                serde_json::json!({"as": "custodian", "custodian": id, "roster_sha256": nsha, "serial": 10000001 + i, "sshsig": sig}),
            ));
        }
        add.push(e(
            "rekey.committed",
            serde_json::json!({"added": [], "new_roster_sha256": nsha, "new_version": 42, "old_roster_sha256": old, "opened": [],
                "rehearsal": false, "removed": ["carol"], "signed_by": ["alice", "bob"]}),
        ));
        // Before the end (the close), as a forger who wanted it to count would put it.
        let at = lines.iter().position(|l| l.contains("\"kind\":\"session.closed\"")).unwrap();
        lines.splice(at..at, add);
        lines
    });
    let j = s.join("journal.jsonl");
    let bytes = std::fs::read(&j).unwrap();
    for id in ["alice", "bob"] {
        sign_file_with_key(&j, &bytes, SESSION_NAMESPACE, id, &keys.join(format!("{id}.ssh")), demo.key(id).unwrap()).unwrap();
    }
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let what: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["what"].as_str().unwrap()).collect();
    assert!(what.iter().any(|w| w.contains("only a rekey or an offboarding changes the roster")), "{what:?}");
    assert!(what.iter().any(|w| w.contains("is not the next version of the session's roster")), "{what:?}");
    // Nothing else is wrong with it: the signatures all verify.
    assert!(v["problems"].as_array().unwrap().iter().all(|p| p["kind"] == "roster"), "{v:#}");
}

/// A bundle whose every check passes against a roster nothing anchors (no pin): one person holding
/// two keys could have made it. verify says so in words and by its exit code (4, never 0), so a
/// script that gates on `verify`'s exit status is not told "valid"; `roster check` says how to pin.
#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_valid_bundle_against_an_unpinned_roster_never_exits_0() {
    let org = Org::new();
    let s = session_signed_by(&org, &[&org.alice, &org.bob], "unpinned");
    let o = org.bg(&["verify", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "pinned: {}", stdout(&o));
    org.write_config(None);
    let o = org.bg(&["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["roster_rule"]["rule"], "unpinned", "{v}");
    let o = org.check();
    assert!(stdout(&o).contains("NOT TRUSTED YET: the ceremony refuses it until it is pinned"), "{}", stdout(&o));
}

/// Evidence review, attack 5: an unsigned file planted in history/ as the live roster's
/// "successor" is not taken as proof of a rollback (it blocked every command, and the tool advised
/// copying it over the live roster). Signed as a rotation, it is.
#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn an_unsigned_successor_planted_in_history_changes_nothing() {
    let org = Org::new();
    let v1 = sha256_file(&org.roster());
    let v2 = roster_text(2, Some(&v1), 2, &[&org.alice, &org.bob]);
    let sha2 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(v2.as_bytes()))
    };
    let planted = org.path().join("history").join(format!("{sha2}.toml"));
    std::fs::write(&planted, &v2).unwrap();
    let o = org.check();
    assert_eq!(o.status.code(), Some(0), "an unsigned planted file blocks the roster: {}", stdout(&o));
    assert!(!stdout(&o).contains("rolled back"), "{}", stdout(&o));
    // The same version signed as a rotation (a quorum of v1, a quorum of its own): a rollback.
    for p in [&org.alice, &org.bob] {
        ssh_sign(p, &p.id, "breakglass-roster", &planted);
    }
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("rolled back"), "{}", stdout(&o));
}

/// Evidence review, attack 4: after a genuine v1 -> v2 that removed carol, alice and carol's
/// retired key sign a *different* version 2 from v1 that adds a second key of alice's (alice alone
/// would then be a quorum). It chains to the pin and is version 2, but the genuine v2 in history/
/// is a valid rotation of the same v1: a fork, refused naming both hashes.
#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_fork_of_the_roster_chain_is_refused_naming_both_versions() {
    let org = Org::new();
    let v1 = sha256_file(&org.roster());
    let history = org.path().join("history");
    // The genuine v2 (carol removed), signed by alice and bob, kept in history/ as a rekey does.
    let genuine = roster_text(2, Some(&v1), 2, &[&org.alice, &org.bob]);
    let gsha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(genuine.as_bytes()))
    };
    let gpath = history.join(format!("{gsha}.toml"));
    std::fs::write(&gpath, &genuine).unwrap();
    for p in [&org.alice, &org.bob] {
        ssh_sign(p, &p.id, "breakglass-roster", &gpath);
    }
    // The forged v2: alice plus a second key of hers, signed by alice and carol (a quorum of v1),
    // by the "newcomer" key and by a quorum of its own.
    let puppet = person(&org.path().join("keys"), "alice2", 1099);
    org.replace_roster(&roster_text(2, Some(&v1), 2, &[&org.alice, &org.bob, &puppet]));
    for (p, id) in [(&org.alice, "alice"), (&org.carol, "carol"), (&puppet, "alice2")] {
        ssh_sign(p, id, "breakglass-roster", &org.roster());
    }
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("forked") && stdout(&o).contains(&gsha), "{}", stdout(&o));
    // Without the genuine v2 beside it, the forged one chains (this test's setup is sound).
    std::fs::remove_file(&gpath).unwrap();
    let o = org.check();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}
