//! A real deployment, end to end, through the shipped binary and stock tools only: every `sh`
//! block of docs/deploy.md, run in order as written, on the rig's virtual YubiKeys (one pcscd, two
//! readers, three cards) and the moto launcher; the ceremony and the rekey typed into the real
//! screen in a pseudo-terminal (PINs typed, a wrong one too, a key pulled out and put back with
//! its PIN typed again, a secret revealed, the closing checklist, the signatures). No step calls
//! the library. The only thing a real deployment would not do is the documented `[rehearsal]`
//! line that trusts the rig's test attestation CA.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::card::{exclusive, rig};
use common::moto::Moto;
use common::pty::*;
use std::path::{Path, PathBuf};

const ALICE: u32 = 61111111;
const BOB: u32 = 62222222;
const CAROL: u32 = 63333333;
const PINS: [(&str, u32, &str); 3] = [("alice", ALICE, "24681357"), ("bob", BOB, "13579246"), ("carol", CAROL, "11223344")];
const PUK: &str = "87654321";

/// The `sh` blocks of docs/deploy.md: (step name, script), in document order.
fn steps() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deploy.md")).unwrap();
    let mut out = vec![];
    let mut rest = doc.as_str();
    while let Some(i) = rest.find("\n```sh\n") {
        let body = &rest[i + "\n```sh\n".len()..];
        let end = body.find("\n```").expect("a closed block");
        let script = &body[..end];
        let name = script
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# step: "))
            .map(|n| n.split_whitespace().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("every sh block of docs/deploy.md starts with `# step: NAME`:\n{script}"));
        out.push((name, script.to_string()));
        rest = &body[end..];
    }
    out
}

fn pin(id: &str) -> &'static str {
    PINS.iter().find(|(i, _, _)| *i == id).unwrap().2
}

/// The enrolment prompts for one custodian, in order.
fn enrolment(id: &'static str) -> Vec<(String, String)> {
    [
        ("Current PIN", "123456"),
        ("New PIN (6 to 8 digits)", pin(id)),
        ("New PIN again", pin(id)),
        ("Current PUK", "12345678"),
        ("New PUK (8 characters)", PUK),
        ("New PUK again", PUK),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

struct Deployment {
    home: tempfile::TempDir,
    moto: Moto,
    path: String,
}

impl Deployment {
    fn config_dir(&self) -> PathBuf {
        self.home.path().join(".config/breakglass")
    }

    fn sessions(&self) -> PathBuf {
        self.home.path().join(".local/share/breakglass/sessions")
    }

    /// A command with the deployer's environment: a fresh HOME, the shipped binary, stock tools,
    /// the test AWS endpoint, and the names of step 0.
    fn command(&self, program: &str) -> CommandBuilder {
        let mut cmd = CommandBuilder::new(program);
        cmd.cwd(self.home.path());
        cmd.env("HOME", self.home.path());
        cmd.env("PATH", &self.path);
        cmd.env_remove("XDG_CONFIG_HOME");
        cmd.env_remove("XDG_DATA_HOME");
        cmd.env_remove("BREAKGLASS_DATA_DIR");
        cmd.env("EDITOR", "true");
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd.env("AWS_DEFAULT_REGION", "us-east-1");
        for (k, v) in [
            ("ALICE", ALICE.to_string()),
            ("BOB", BOB.to_string()),
            ("CAROL", CAROL.to_string()),
            ("BG_SRC", env!("CARGO_MANIFEST_DIR").to_string()),
            ("PUBLISHER_ARN", "arn:aws:iam::123456789012:role/breakglass".to_string()),
            ("TEAM_EMAIL", "security@example.com".to_string()),
            ("ARCHIVE_BUCKET", "deploy-test-evidence".to_string()),
            ("REHEARSAL_CA", common::card::ca_path().display().to_string()),
        ] {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs one block of the guide as written, answering its prompts; returns what it printed.
    fn step(&self, name: &str, script: &str, answers: &[(String, String)]) -> String {
        let mut cmd = self.command("bash");
        cmd.args(["-euo", "pipefail", "-c", script]);
        let answers: Vec<(&str, &str)> = answers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (ok, out) = answer(cmd, &answers);
        assert!(ok, "docs/deploy.md step `{name}` failed:\n{script}\n--- output:\n{out}");
        out
    }
}

/// The real screen, in a pseudo-terminal, in the config folder.
fn screen(d: &Deployment, args: &[&str]) -> (Screen, Child) {
    let mut cmd = d.command(common::bin().to_str().unwrap());
    cmd.cwd(d.config_dir());
    cmd.args(args);
    spawn_command(cmd)
}

/// Presents `serial`'s key (custodian `name`): once it is listed, from the top of the list down.
fn present(s: &mut Screen, name: &str, serial: u32) {
    s.wait_for(&format!("serial {serial}"));
    for _ in 0..4 {
        s.keys(UP);
    }
    for _ in 0..4 {
        s.keys(ENTER);
        std::thread::sleep(std::time::Duration::from_millis(400));
        if s.text().contains(&format!("{name}: enter your PIN")) {
            return;
        }
        s.keys(DOWN);
    }
    s.wait_for(&format!("{name}: enter your PIN"));
}

fn typed_pin(s: &mut Screen, id: &str) {
    s.keys(pin(id));
    s.keys(ENTER);
}

/// alice, then bob, check in on their keys (PIN typed, touch); alice first mistypes her PIN.
fn check_in_both(s: &mut Screen, wrong_pin_first: bool) {
    present(s, "Alice Example", ALICE);
    if wrong_pin_first {
        s.keys("99999999");
        s.keys(ENTER);
        s.wait_for("Wrong PIN. 2 tries left");
    }
    typed_pin(s, "alice");
    s.wait_for("touch your key now");
    s.keys(ENTER);
    s.wait_for("Custodian 2: insert your YubiKey");
    present(s, "Bob Example", BOB);
    typed_pin(s, "bob");
    s.wait_for("touch your key now");
    s.keys(ENTER);
}

/// The ceremony of step 8, typed as the custodians would. The root password is rotated on the
/// cards before the close: returns its new value, read off the screen.
fn ceremony(d: &Deployment) -> String {
    let (mut s, mut child) = screen(d, &["ceremony"]);
    s.wait_for("Start a session");
    assert!(s.text().contains("INCIDENT") && !s.text().contains("DEMO"), "{}", s.text());
    s.keys("deployment test");
    s.keys(ENTER);
    s.wait_for_within("Custodian 1: insert your YubiKey", std::time::Duration::from_secs(40));
    check_in_both(&mut s, true);
    s.wait_for_within("steps done", std::time::Duration::from_secs(40));
    // alice's key is pulled out and put back: the ceremony pauses, then asks for her PIN on screen.
    rig(&["unplug", &ALICE.to_string()]);
    s.wait_for("was removed");
    rig(&["plug", &ALICE.to_string()]);
    s.wait_for("Enter your PIN again");
    typed_pin(&mut s, "alice");
    s.wait_for("back and unlocked");
    // A secret revealed (journalled), then hidden.
    s.keys("r");
    s.keys(ENTER);
    s.wait_for("secret.revealed");
    s.keys("h");
    // The root password rotated: a new value, sealed again for every pair, confirmed on both
    // cards (a signature over the new MANIFEST.toml each), swapped in.
    s.keys("o");
    s.wait_for("Rotate which secret?");
    for k in [UP, UP, DOWN, ENTER] {
        s.keys(k);
    }
    s.wait_for("Rotate secret 2: root-password");
    s.keys("v");
    s.wait_for("v hides it");
    let text = s.text();
    let line = text.lines().find(|l| l.contains("New value: ")).unwrap();
    let value = line.split("New value: ").nth(1).unwrap().split("  ").next().unwrap().trim().to_string();
    s.keys(ENTER);
    s.wait_for_within("Sealed for the safe (serial 2)", std::time::Duration::from_secs(60));
    s.keys("1");
    s.wait_for_within("Alice Example: confirmed on their key", std::time::Duration::from_secs(30));
    s.keys("2");
    s.wait_for_within("Rotated: the new value is sealed", std::time::Duration::from_secs(60));
    s.keys(ENTER);
    s.wait_for("Before root is released");
    // The Support PIN revealed above is rotated out of band: both record it on their cards.
    assert!(s.text().contains("Revealed and not rotated: aws-support-pin"), "{}", s.text());
    s.keys("o");
    s.wait_for("cannot change this one");
    s.keys("1");
    s.wait_for_within("Alice Example: confirmed on their key", std::time::Duration::from_secs(30));
    s.keys("2");
    s.wait_for_within("Before root is released", std::time::Duration::from_secs(30));
    for _ in 0..6 {
        s.keys(" ");
        s.keys(DOWN);
    }
    s.keys(ENTER);
    s.wait_for_within("Alice Example: sign the session log", std::time::Duration::from_secs(40));
    s.keys(ENTER);
    s.wait_for("Bob Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Ceremony complete");
    s.keys("q");
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit status {status:?}\n{}", s.text());
    value
}

/// The rekey of step 11 with two readers: carol's card goes in where alice's was.
fn rekey(d: &Deployment) {
    let (mut s, mut child) = screen(d, &["roster", "rekey", "--add", "carol.entry", "--reason", "third custodian"]);
    s.wait_for("Start a session");
    s.keys(ENTER);
    s.wait_for_within("Custodian 1: insert your YubiKey", std::time::Duration::from_secs(40));
    check_in_both(&mut s, false);
    s.wait_for_within("check the change", std::time::Duration::from_secs(40));
    assert!(s.text().contains("+ carol"), "{}", s.text());
    s.keys(ENTER);
    s.wait_for("Newcomer Carol Example: insert your YubiKey");
    // Two USB ports: alice's key out, carol's in.
    rig(&["unplug", &ALICE.to_string()]);
    s.wait_for("is out: fine while");
    rig(&["plug", &CAROL.to_string()]);
    present(&mut s, "Carol Example", CAROL);
    typed_pin(&mut s, "carol");
    s.wait_for("touch your key to sign version 2");
    s.keys(ENTER);
    s.wait_for("was removed");
    // Carol's key out, alice's back in: her PIN again, then the signatures.
    rig(&["unplug", &CAROL.to_string()]);
    rig(&["plug", &ALICE.to_string()]);
    s.wait_for("Enter your PIN again");
    typed_pin(&mut s, "alice");
    s.wait_for("alice: touch your key to sign roster version 2");
    s.keys(ENTER);
    s.wait_for("bob: touch your key to sign roster version 2");
    s.keys(ENTER);
    s.wait_for_within("Alice Example: sign the session log", std::time::Duration::from_secs(60));
    s.keys(ENTER);
    s.wait_for("Bob Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Rekey complete: roster version 2 is in place");
    s.keys("q");
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit status {status:?}\n{}", s.text());
    // The host now trusts version 2 and its new sealing: the old sealing put back is refused even
    // before any ceremony opened the new one (evidence model, the sealing serial).
    let state = std::fs::read_to_string(d.sessions().parent().unwrap().join(breakglass::core::trust::TRUST_STATE)).unwrap();
    // Serial 1 sealed at step 6, 2 the ceremony's rotation, 3 this rekey's.
    assert!(state.contains("version = 2") && state.contains("runbook_serial = 3"), "{state}");
}

#[test]
#[ignore = "needs the test rig: pcscd, the virtual PIV cards, moto, the AWS CLI, age and age-plugin-yubikey (./scripts/test brings them up)"]
fn a_new_deployer_reaches_a_verified_ceremony_by_following_docs_deploy_md() {
    let _g = exclusive();
    common::require_tool("age", "age");
    common::require_tool("ssh-keygen", "openssh-client");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/moto-venv/bin");
    assert!(venv.join("aws").is_file(), "the AWS CLI is missing from target/moto-venv: ./scripts/test installs it (pip install awscli)");
    let tools = root.join("target/tools/bin");
    assert!(tools.join("age-plugin-yubikey").is_file(), "age-plugin-yubikey is missing from target/tools/bin: ./scripts/test installs it");
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}:{}:{}", bin_dir.display(), tools.display(), venv.display(), std::env::var("PATH").unwrap_or_default());
    let d = Deployment { home: tempfile::tempdir().unwrap(), moto: Moto::start(), path };
    // The three cards go away whatever happens (an unplugged one left behind would hold its port).
    struct Cards;
    impl Drop for Cards {
        fn drop(&mut self) {
            for s in [ALICE, BOB, CAROL] {
                let _ = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vcard/rig.sh"))
                    .args(["stop", &s.to_string()])
                    .output();
            }
        }
    }
    let _cards = Cards;
    // Three YubiKeys, two readers: alice's and bob's in; carol's card waits on alice's reader.
    rig(&["card", &ALICE.to_string(), "35963"]);
    rig(&["card", &BOB.to_string(), "35964"]);

    let steps = steps();
    let mut rotated = String::new();
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "variables",
            "folder",
            "aws",
            "config",
            "rehearsal",
            "enroll",
            "enroll-third",
            "roster",
            "sign-roster",
            "pin",
            "seal",
            "sign-runbook",
            "doctor",
            "verify",
            "manual-unseal",
            "after-rekey"
        ],
        "docs/deploy.md's steps changed: update this test with them"
    );
    for (name, script) in &steps {
        match name.as_str() {
            // Step 0 names what this test sets in the environment: the same names, all of them.
            "variables" => {
                for v in ["ALICE", "BOB", "CAROL", "BG_SRC", "PUBLISHER_ARN", "TEAM_EMAIL", "ARCHIVE_BUCKET"] {
                    assert!(script.contains(&format!("{v}=")), "step 0 no longer sets {v}");
                }
            }
            "enroll" => {
                let mut a = enrolment("alice");
                a.extend(enrolment("bob"));
                d.step(name, script, &a);
                let entry = std::fs::read_to_string(d.config_dir().join("alice.entry")).unwrap();
                assert!(entry.contains("attestation = [\"alice-9c.pem\", \"alice-82.pem\", \"alice-f9.pem\"]"), "{entry}");
            }
            "enroll-third" => {
                // Two USB ports: alice's key out, carol's in (a new card on alice's reader).
                rig(&["unplug", &ALICE.to_string()]);
                rig(&["card", &CAROL.to_string(), "35963"]);
                d.step(name, script, &enrolment("carol"));
                rig(&["unplug", &CAROL.to_string()]);
                rig(&["plug", &ALICE.to_string()]);
            }
            "sign-roster" => {
                let out = d.step(
                    name,
                    script,
                    &[("PIN of alice's YubiKey".into(), pin("alice").into()), ("PIN of bob's YubiKey".into(), pin("bob").into())],
                );
                assert!(out.contains("slot 9c and slot 82") && out.contains("NOT TRUSTED YET"), "{out}");
            }
            "pin" => {
                let out = d.step(name, script, &[]);
                assert!(out.contains("trusted:") && !out.contains("NOT TRUSTED"), "{out}");
            }
            "sign-runbook" => {
                let out = d.step(
                    name,
                    script,
                    &[("PIN of alice's YubiKey".into(), pin("alice").into()), ("PIN of bob's YubiKey".into(), pin("bob").into())],
                );
                assert!(out.contains("a ceremony accepts it"), "{out}");
            }
            "doctor" => {
                let out = d.step(name, script, &[]);
                for want in ["REHEARSAL", "key attestation", "(alice): attested by", "(bob): attested by", "2-of-2"] {
                    assert!(out.contains(want), "doctor does not say `{want}`:\n{out}");
                }
                assert!(!out.lines().any(|l| l.trim_start().starts_with("FAIL")), "{out}");
                // Step 8: the ceremony, typed on the screen.
                rotated = ceremony(&d);
            }
            "verify" => {
                let out = d.step(name, script, &[]);
                assert!(out.contains("verdict: VALID") && out.contains("signed by: alice, bob"), "{out}");
                assert!(out.contains("REHEARSAL"), "a rehearsal says so in verify: {out}");
            }
            "manual-unseal" => {
                let out =
                    d.step(name, script, &[(format!("serial {ALICE}"), pin("alice").into()), (format!("serial {BOB}"), pin("bob").into())]);
                assert!(out.contains("# "), "the runbook's first lines: {out}");
                // The rotated sealing, opened the same way (stock age and the plugin): the new
                // root password, not the old; the superseded sealing is refused by the tool.
                std::fs::write(d.config_dir().join(".value"), &rotated).unwrap();
                let check = script.replace(
                    r#"head -n 3 "$W/runbook.md""#,
                    r#"grep -cF -f .value "$W/runbook.md"; grep -c correct-horse-4417 "$W/runbook.md" || true"#,
                );
                let out = d.step(
                    "manual-unseal (rotated)",
                    &check,
                    &[(format!("serial {ALICE}"), pin("alice").into()), (format!("serial {BOB}"), pin("bob").into())],
                );
                std::fs::remove_file(d.config_dir().join(".value")).unwrap();
                // The plugin's PIN prompt erases its line (ESC [F ESC [K) before grep's count.
                let counts: Vec<String> = out
                    .lines()
                    .map(|l| l.replace("\x1b[F", "").replace("\x1b[K", "").trim().to_string())
                    .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
                    .collect();
                assert_eq!(counts, ["1", "0"], "the new value once, the old one nowhere: {out}");
                let out = d.step(
                    "check the superseded sealing",
                    "cd ~/.config/breakglass; breakglass runbook check runbook.sealed.superseded-1 || true",
                    &[],
                );
                assert!(out.contains("REFUSED by the ceremony"), "{out}");
                // Step 11: the rekey, typed on the screen, with two readers.
                rekey(&d);
            }
            "after-rekey" => {
                let out = d.step(name, script, &[]);
                assert!(out.contains("version 2") || out.contains("Chained") || out.contains("chain"), "{out}");
                assert!(out.contains("verdict: VALID"), "{out}");
            }
            "config" => {
                let out = d.step(name, script, &[]);
                assert!(out.contains("ok   config") && out.contains(".config/breakglass/breakglass.toml"), "{out}");
            }
            _ => {
                d.step(name, script, &[]);
            }
        }
    }
    // By hand, as a reviewer: each co-signature of the ceremony verifies with stock ssh-keygen.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(d.sessions()).unwrap().flatten().map(|e| e.path()).collect();
    dirs.sort();
    let first = &dirs[0];
    for id in ["alice", "bob"] {
        let verified = common::ssh_keygen_verifies(first.as_ref(), id);
        assert!(verified.is_ok(), "ssh-keygen: {}", verified.unwrap_err());
    }
}
