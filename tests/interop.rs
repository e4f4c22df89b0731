//! Interop with stock tools: Debian's `age` opens what `seal` writes, OpenSSH's `ssh-keygen`
//! verifies the co-signatures and the roster signatures. These tests fail (never skip) when the
//! tools are missing; ./scripts/test installs them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn sh(dir: &Path, script: &str) -> std::process::Output {
    Command::new("bash").arg("-c").arg(script).current_dir(dir).output().unwrap()
}

/// Three custodians with stock age and ssh keys, and their roster.
fn keys_and_roster(dir: &Path) {
    require_tool("age-keygen", "age");
    require_tool("ssh-keygen", "openssh-client");
    // About one P-256 key in 256 has a private scalar that ssh-key 0.6 refuses to read (a leading
    // zero byte); the software stand-in for a YubiKey needs to read it, so such keys are made again.
    for _ in 0..20 {
        make_keys_and_roster(dir);
        let readable = ["alice", "bob", "carol"]
            .iter()
            .all(|c| ssh_key::PrivateKey::from_openssh(std::fs::read_to_string(dir.join(format!("{c}.ssh"))).unwrap()).is_ok());
        if readable {
            return;
        }
    }
    panic!("could not make three readable P-256 keys");
}

fn make_keys_and_roster(dir: &Path) {
    let o = sh(
        dir,
        r#"set -e
rm -f alice.* bob.* carol.* roster.toml
for c in alice bob carol; do age-keygen -o $c.key 2>/dev/null; ssh-keygen -q -t ecdsa -b 256 -N '' -f $c.ssh; done
{ echo 'quorum = 2'; s=1001
  for c in alice bob carol; do
    printf '\n[[custodian]]\nid = "%s"\nname = "%s Example"\nemail = "%s@example.com"\nyubikey_serial = %s\nsigning_key = "%s"\nage_recipient = "%s"\n' \
      $c $c $c $s "$(cut -d' ' -f1,2 $c.ssh.pub)" "$(age-keygen -y $c.key)"; s=$((s+1)); done; } > roster.toml
"#,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
#[ignore = "needs the test rig: stock age and ssh-keygen (./scripts/test installs them)"]
fn stock_age_opens_each_pair_only_with_both_keys_in_order() {
    let d = tempfile::tempdir().unwrap();
    keys_and_roster(d.path());
    std::fs::write(d.path().join("runbook.md"), "# Root\n\n- [ ] one\n- [ ] two\n\n```secret\nhunter2-4711\n```\n").unwrap();
    let o =
        Command::new(bin()).args(["seal", "--roster", "roster.toml", "runbook.md", "-o", "sealed"]).current_dir(d.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("NOT trusted"), "seal warns about an unsigned roster: {}", stderr(&o));
    for (a, b) in [("alice", "bob"), ("alice", "carol"), ("bob", "carol")] {
        let o = sh(d.path(), &format!("age -d -i {a}.key sealed/{a}+{b}.age | age -d -i {b}.key"));
        assert!(o.status.success(), "{a}+{b}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), std::fs::read_to_string(d.path().join("runbook.md")).unwrap());
        // One key alone yields only another age file, never the runbook.
        let one = sh(d.path(), &format!("age -d -i {a}.key sealed/{a}+{b}.age"));
        assert!(one.stdout.starts_with(b"age-encryption.org/v1"));
        assert!(!String::from_utf8_lossy(&one.stdout).contains("hunter2"));
        // The inner custodian cannot open the outer layer.
        assert!(!sh(d.path(), &format!("age -d -i {b}.key sealed/{a}+{b}.age")).status.success());
    }
    let manifest = std::fs::read_to_string(d.path().join("sealed/MANIFEST.toml")).unwrap();
    assert!(manifest.contains("quorum = 2") && manifest.contains("roster_sha256"), "{manifest}");
}

#[test]
#[ignore = "needs the test rig: stock age and ssh-keygen (./scripts/test installs them)"]
fn breakglass_opens_layers_made_by_stock_age() {
    let d = tempfile::tempdir().unwrap();
    keys_and_roster(d.path());
    // Seal by hand with stock age, then read it with our unsealer.
    let o = sh(
        d.path(),
        "printf '# x\\n- [ ] s\\n' > rb.md && age -r $(age-keygen -y bob.key) rb.md | age -r $(age-keygen -y alice.key) > pair.age",
    );
    assert!(o.status.success());
    let roster = breakglass::core::roster::Roster::load(&d.path().join("roster.toml")).unwrap();
    let mut sealed = breakglass::core::seal::seal(&roster, b"placeholder").unwrap();
    let bytes = std::fs::read(d.path().join("pair.age")).unwrap();
    sealed.files.insert("alice+bob.age".into(), bytes);
    let mut tokens: Vec<Box<dyn breakglass::adapters::token::Token>> = vec![];
    for (i, c) in ["alice", "bob"].iter().enumerate() {
        let ssh = std::fs::read_to_string(d.path().join(format!("{c}.ssh"))).unwrap();
        let age = std::fs::read_to_string(d.path().join(format!("{c}.key"))).unwrap();
        let mut t = breakglass::adapters::token::soft::SoftToken::from_files_text(1001 + i as u32, &ssh, &age, "1234").unwrap();
        use breakglass::adapters::token::Token;
        t.verify_pin(&secrecy::SecretString::from("1234".to_string())).unwrap();
        tokens.push(Box::new(t));
    }
    let serial_of = |id: &str| roster.custodian(id).map(|c| c.yubikey_serial);
    let text = breakglass::core::seal::unseal_with(&sealed, &["bob".into(), "alice".into()], &mut tokens, &serial_of).unwrap();
    assert_eq!(text.as_str(), "# x\n- [ ] s\n");
}

#[test]
#[ignore = "needs the test rig: stock age and ssh-keygen (./scripts/test installs them)"]
fn ssh_keygen_verifies_both_co_signatures_and_rejects_a_changed_journal() {
    require_tool("ssh-keygen", "openssh-client");
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    for id in ["alice", "bob"] {
        let o = sh(
            &s,
            &format!("ssh-keygen -Y verify -f allowed_signers -I {id} -n breakglass-session -s journal.jsonl.{id}.sig < journal.jsonl"),
        );
        assert!(o.status.success(), "{id}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
    // The same signatures under another namespace or identity do not verify.
    assert!(
        !sh(&s, "ssh-keygen -Y verify -f allowed_signers -I alice -n breakglass-roster -s journal.jsonl.alice.sig < journal.jsonl")
            .status
            .success()
    );
    assert!(
        !sh(&s, "ssh-keygen -Y verify -f allowed_signers -I bob -n breakglass-session -s journal.jsonl.alice.sig < journal.jsonl")
            .status
            .success()
    );
    let o = sh(
        &s,
        "sed -i '2s/\"ts\":\"2/\"ts\":\"1/' journal.jsonl && ssh-keygen -Y verify -f allowed_signers -I alice -n breakglass-session -s journal.jsonl.alice.sig < journal.jsonl",
    );
    assert!(!o.status.success());
}

#[test]
#[ignore = "needs the test rig: stock age and ssh-keygen (./scripts/test installs them)"]
fn check_in_signatures_in_the_journal_verify_with_ssh_keygen() {
    require_tool("ssh-keygen", "openssh-client");
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    let journal = std::fs::read_to_string(s.join("journal.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(journal.lines().nth(1).unwrap()).unwrap();
    assert_eq!(v["kind"], "custodian.verified");
    std::fs::write(s.join("checkin.sig"), v["sshsig"].as_str().unwrap()).unwrap();
    let key = breakglass::commands::demo::roster().custodian("alice").unwrap().signing_key.clone();
    std::fs::write(s.join("signers"), format!("alice {key}\n")).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", "signers", "-I", "alice", "-n", "breakglass-checkin", "-s", "checkin.sig"])
        .current_dir(&s)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(v["challenge"].as_str().unwrap().as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
#[ignore = "needs the test rig: stock age and ssh-keygen (./scripts/test installs them)"]
fn roster_trust_follows_stock_ssh_keygen_signatures() {
    let d = tempfile::tempdir().unwrap();
    keys_and_roster(d.path());
    let check = |dir: &Path| Command::new(bin()).args(["roster", "check", "roster.toml"]).current_dir(dir).output().unwrap();
    let o = check(d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("NOT trusted"));
    sh(d.path(), "ssh-keygen -Y sign -f alice.ssh -n breakglass-roster roster.toml && mv roster.toml.sig roster.toml.alice.sig");
    assert_eq!(check(d.path()).status.code(), Some(1), "one signature of a quorum of two");
    // Our own signer writes the same format.
    let o = Command::new(bin())
        .args(["roster", "sign", "roster.toml", "--id", "bob", "--key", "bob.ssh"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Signed by a quorum of its own, but nothing pins it yet: it says so, with the line to pin it.
    let o = check(d.path());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("NOT TRUSTED YET") && stdout(&o).contains("add `roster_sha256 = "), "{}", stdout(&o));
    // ... and ssh-keygen accepts it.
    let o = sh(
        d.path(),
        "echo \"bob $(cut -d' ' -f1,2 bob.ssh.pub)\" > signers && ssh-keygen -Y verify -f signers -I bob -n breakglass-roster -s roster.toml.bob.sig < roster.toml",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A changed roster is no longer trusted.
    sh(d.path(), "sed -i 's/alice Example/Mallory/' roster.toml");
    assert_eq!(check(d.path()).status.code(), Some(1));
    // Signing with someone else's key is refused.
    let o = Command::new(bin())
        .args(["roster", "sign", "roster.toml", "--id", "carol", "--key", "bob.ssh"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not carol's signing_key"), "{}", stderr(&o));
}

/// docs/verify-by-hand.md's `check_chain.py`, run as a reviewer would (stock python3), agrees with
/// `verify` on every kind of session: an incident, a rekey and an offboarding (found by review:
/// it refused the modes `rekey` and `offboard`).
#[test]
#[ignore = "needs the test rig: stock python3 (./scripts/test installs it)"]
fn the_documented_chain_checker_agrees_with_verify_on_every_mode() {
    common::require_tool("python3", "python3");
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify-by-hand.md")).unwrap();
    let start =
        doc.find("```python\n#!/usr/bin/env python3\n\"\"\"Check a breakglass journal's hash chain").expect("the script is in the doc");
    let body = &doc[start + "```python\n".len()..];
    let script = &body[..body.find("```").unwrap()];
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("check_chain.py");
    std::fs::write(&path, script).unwrap();
    for extra in [&[][..], &["--rekey"][..], &["--offboard"][..]] {
        let s = common::demo_session(d.path(), extra);
        let o = std::process::Command::new("python3").arg(&path).arg(s.join("journal.jsonl")).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{extra:?}: {out}");
        let v = common::run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
        let rep: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert!(out.contains(&format!("head: {}", rep["head"].as_str().unwrap())), "{extra:?}: {out}");
    }
}
