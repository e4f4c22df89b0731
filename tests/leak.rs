//! A leak scan: every byte the process writes during full, crashed and recovered DEMO ceremonies
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
    for f in FORBIDDEN {
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
