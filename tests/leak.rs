//! A leak scan: every byte the process writes during full, aborted, signalled, crashed and
//! recovered DEMO ceremonies
//! (journal, bundle, outbox notices, stdout, stderr) holds no PIN, no secret block and no runbook
//! text.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{bin, run};
use std::path::Path;

/// Text that must never leave the process: the DEMO PINs, both secret blocks, runbook steps and
/// prose.
const FORBIDDEN: [&str; 8] = [
    "314159",
    "271828",
    "161803",
    "DEMO-7731",
    "correct-horse-4417",
    "Open an AWS Support account-recovery case",
    "Lock the insider out",
    "Sign in as root with the hardware MFA key",
];

/// A PIN typed (wrongly) in the TUI run: nowhere on disk, nowhere on the terminal.
const TYPED: &str = "592653";

fn all_bytes(dir: &Path, out: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_bytes(&p, out);
        } else {
            out.extend_from_slice(&std::fs::read(&p).unwrap());
            out.push(b'\n');
        }
    }
}

/// Hashes and signatures are long runs of hex or base64 in which six digits can occur by chance:
/// they are blanked before the scan.
fn without_digests(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=' || c == '-')) {
        let digest = word.len() >= 32 && word.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
        out.push_str(if digest { "#" } else { word });
        out.push(' ');
    }
    out
}

fn scan(what: &str, bytes: &[u8]) {
    let text = without_digests(&String::from_utf8_lossy(bytes));
    for f in FORBIDDEN.iter().chain([&TYPED]) {
        assert!(!text.contains(f), "{what}: `{f}` leaked");
    }
    assert!(!text.contains("panicked"), "{what}: a panic message");
}

#[test]
fn nothing_secret_is_written_anywhere() {
    let d = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    // A full ceremony, a drill with the notice down, and one crashed then recovered.
    for args in [vec!["demo", "--auto"], vec!["demo", "--auto", "--drill", "--scenario", "notice-down"]] {
        let o = run(d.path(), &args);
        assert!(o.status.success());
        out.extend_from_slice(&o.stdout);
        out.extend_from_slice(&o.stderr);
    }
    let crashed = std::process::Command::new(bin())
        .args(["--data-dir", d.path().to_str().unwrap(), "demo", "--auto"])
        .env("BREAKGLASS_TEST_CRASH_AFTER", "6")
        .output()
        .unwrap();
    out.extend_from_slice(&crashed.stdout);
    out.extend_from_slice(&crashed.stderr);
    let mut newest: Vec<_> = std::fs::read_dir(d.path().join("sessions")).unwrap().flatten().map(|e| e.path()).collect();
    newest.sort_by_key(|p| std::fs::metadata(p.join("journal.jsonl")).unwrap().modified().unwrap());
    let s = newest.pop().unwrap();
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    out.extend_from_slice(&r.stdout);
    out.extend_from_slice(&r.stderr);
    // In the TUI: one ceremony aborted with Ctrl-C after a check-in, one stopped by SIGHUP with
    // the runbook open. What the terminal received may show runbook text (that is its job), but
    // never a PIN.
    let mut terminal = Vec::new();
    {
        use common::pty::*;
        let (mut s, mut child) = spawn(d.path(), &[]);
        s.wait_for("Start a session");
        s.keys("leak scan abort");
        s.keys(ENTER);
        s.wait_for("Custodian 1: insert your YubiKey");
        // A mistyped PIN first: the demo screen shows the DEMO PINs as hints, but what a
        // custodian types must never be echoed.
        s.keys(ENTER);
        s.wait_for("enter your PIN");
        s.keys(TYPED);
        s.keys(ENTER);
        s.wait_for("Wrong PIN");
        s.keys("314159");
        s.keys(ENTER);
        s.wait_for("touch your key now");
        s.keys(ENTER);
        s.wait_for("Custodian 2: insert your YubiKey");
        s.keys("\x03");
        s.wait_for("Abort the ceremony?");
        s.keys("y");
        s.wait_for("Alice Example: sign the session log");
        s.keys(ENTER);
        s.wait_for("Ceremony ABORTED and recorded");
        s.keys("q");
        assert!(wait_exit(&mut child).success());
        terminal.extend_from_slice(&s.raw.lock().unwrap());
        let (mut s, mut child) = spawn(d.path(), &[]);
        s.wait_for("Start a session");
        s.keys("leak scan hangup");
        s.keys(ENTER);
        s.wait_for("Custodian 1: insert your YubiKey");
        check_in(&mut s, "314159");
        s.wait_for("Custodian 2: insert your YubiKey");
        check_in(&mut s, "271828");
        s.wait_for("Runbook: 0/13 steps done");
        signal(&child, "HUP");
        assert_eq!(wait_exit(&mut child).exit_code(), 3);
        terminal.extend_from_slice(&s.raw.lock().unwrap());
    }
    let text = without_digests(&String::from_utf8_lossy(&terminal));
    assert!(!text.contains(TYPED), "the terminal: the typed PIN was echoed");
    assert!(!text.contains("panicked"), "the terminal: a panic message");
    for s in std::fs::read_dir(d.path().join("sessions")).unwrap().flatten() {
        let v = run(d.path(), &["verify", "--json", s.path().to_str().unwrap()]);
        out.extend_from_slice(&v.stdout);
        out.extend_from_slice(&v.stderr);
    }
    scan("stdout/stderr", &out);
    let mut files = Vec::new();
    all_bytes(d.path(), &mut files);
    assert!(files.len() > 10_000, "the scan read the bundles and the outbox");
    scan("files in the data directory", &files);
}
