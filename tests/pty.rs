//! End to end: the real binary in a pseudo-terminal, driven by keystrokes like a custodian would,
//! then `breakglass verify` on what it wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until `needle` is on screen; fails with the screen if it never comes.
    fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("`{needle}` never appeared; the screen shows:\n{}", self.text());
    }

    fn keys(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
}

const ENTER: &str = "\r";
const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";
const RIGHT: &str = "\x1b[C";
const TAB: &str = "\t";

/// Starts `breakglass demo` in an 80x24 pseudo-terminal.
fn spawn(data: &std::path::Path, env: &[(&str, &str)]) -> (Screen, Box<dyn portable_pty::Child + Send + Sync>) {
    let pty = native_pty_system().openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(bin());
    cmd.args(["--data-dir", data.to_str().unwrap(), "demo"]);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("BREAKGLASS_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(24, 80, 0)));
    let raw = Arc::new(Mutex::new(Vec::new()));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let (p2, r2) = (parser.clone(), raw.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            p2.lock().unwrap().process(&buf[..n]);
            r2.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let writer = pty.master.take_writer().unwrap();
    // Keep the master open as long as the screen lives.
    std::mem::forget(pty.master);
    (Screen { parser, raw, writer }, child)
}

/// Waits for the app to exit (20 s at most; then it is killed and the test fails).
fn wait_exit(child: &mut Box<dyn portable_pty::Child + Send + Sync>) -> portable_pty::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the app did not exit within 20 s after `q`");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks in a demo custodian whose key is under the cursor.
fn check_in(s: &mut Screen, pin: &str) {
    s.keys(ENTER);
    s.wait_for("enter your PIN");
    s.keys(pin);
    s.keys(ENTER);
    s.wait_for("touch your key now");
    s.keys(ENTER);
}

#[test]
fn a_newcomer_walks_the_demo_to_the_end_and_verify_accepts_it() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn(data.path(), &[]);

    s.wait_for("Start a session");
    assert!(s.text().contains("DEMO"), "the frame says DEMO");
    s.keys("rehearsal from the pty test");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    s.keys(ENTER); // alice's key is under the cursor
    s.wait_for("enter your PIN");
    s.keys("000000");
    s.keys(ENTER);
    s.wait_for("Wrong PIN. 2 tries left");
    s.keys("314159");
    s.keys(ENTER);
    s.wait_for("touch your key now");
    s.keys(ENTER);
    s.wait_for("Custodian 2: insert your YubiKey");
    s.keys(ENTER); // the cursor moved to bob's key
    s.wait_for("Bob Example: enter your PIN");
    s.keys("271828");
    s.keys(ENTER);
    s.wait_for("touch your key now");
    s.keys(ENTER);
    s.wait_for("Runbook: 0/13 steps done");
    s.keys(" ");
    s.wait_for("Runbook: 1/13 steps done");
    s.keys("n");
    s.keys("checked by both");
    s.keys(ENTER);
    s.wait_for(" note · head");
    s.keys(ENTER);
    s.wait_for("Before root is released");
    for _ in 0..4 {
        s.keys(" ");
        s.keys(DOWN);
    }
    s.keys(ENTER);
    s.wait_for("Alice Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Bob Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Ceremony complete");
    s.keys("q");
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit status {status:?}");
    std::thread::sleep(Duration::from_millis(100));
    let out = String::from_utf8_lossy(&s.raw.lock().unwrap()).to_string();
    let dir = out
        .split("Session recorded in ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .map(|l| l.trim().to_string())
        .expect("the session directory is printed");
    let o = std::process::Command::new(bin()).args(["verify", "--json", &dir]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signers"], serde_json::json!(["alice", "bob"]));
    let kinds: Vec<String> = v["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    for k in ["custodian.refused", "custodian.verified", "notice.sent", "runbook.unsealed", "step.done", "note", "session.closed"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}

#[test]
fn ctrl_c_asks_first_then_aborts_and_the_abort_is_signed() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn(data.path(), &[("NO_COLOR", "1")]);
    s.wait_for("Start a session");
    s.keys("abort test");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    s.keys(ENTER);
    s.wait_for("enter your PIN");
    s.keys("314159");
    s.keys(ENTER);
    s.wait_for("touch your key now");
    s.keys(ENTER);
    s.wait_for("Custodian 2: insert your YubiKey");
    s.keys("\x03");
    s.wait_for("Abort the ceremony?");
    s.keys("n");
    s.wait_for("Custodian 2: insert your YubiKey");
    s.keys("\x03");
    s.wait_for("Abort the ceremony?");
    s.keys("y");
    s.wait_for("Alice Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Ceremony ABORTED and recorded");
    s.keys("q");
    assert!(wait_exit(&mut child).success());
    let sessions: Vec<_> = std::fs::read_dir(data.path().join("sessions")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(sessions.len(), 1);
    let o = std::process::Command::new(bin()).args(["verify", "--json", sessions[0].to_str().unwrap()]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // One custodian signed an abort: recorded, signed, but not a complete two-person session.
    assert_eq!(v["outcome"], "aborted");
    assert_eq!(v["signers"], serde_json::json!(["alice"]));
    assert_eq!(v["status"], "incomplete");
}

#[test]
fn a_drill_with_the_notice_channel_down_ends_in_a_valid_drill_bundle() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn(data.path(), &[]);
    s.wait_for("Start a session");
    s.keys("quarterly drill");
    s.keys(UP); // to the mode
    s.keys(RIGHT); // DRILL
    s.wait_for("[DRILL]");
    assert!(s.text().lines().next().unwrap().contains("DRILL"), "the frame says DRILL");
    s.keys(TAB);
    s.keys(TAB);
    s.keys(TAB); // scenario
    s.keys(RIGHT);
    s.wait_for("notice-down");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    check_in(&mut s, "314159");
    s.wait_for("Custodian 2: insert your YubiKey");
    check_in(&mut s, "271828");
    s.wait_for("was NOT delivered");
    s.keys("1");
    s.wait_for("alice: ✔ acknowledged");
    s.keys("2");
    s.wait_for("Runbook: 0/13 steps done");
    s.keys(" ");
    s.keys(DOWN);
    s.keys(" ");
    s.wait_for("Runbook: 2/13 steps done");
    s.keys(ENTER);
    s.wait_for("Before root is released");
    for _ in 0..4 {
        s.keys(" ");
        s.keys(DOWN);
    }
    s.keys(ENTER);
    s.wait_for("Alice Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Bob Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Drill (notice-down): time to runbook");
    s.keys("q");
    assert!(wait_exit(&mut child).success());
    let sessions: Vec<_> = std::fs::read_dir(data.path().join("sessions")).unwrap().map(|e| e.unwrap().path()).collect();
    let o = std::process::Command::new(bin()).args(["verify", "--json", sessions[0].to_str().unwrap()]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "valid", "{v}");
    assert_eq!(v["mode"], "drill");
    assert_eq!(v["scenario"], "notice-down");
    let o = std::process::Command::new(bin())
        .args(["--data-dir", data.path().to_str().unwrap(), "drill", "report", "--format", "json"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["drills"].as_array().unwrap().iter().filter(|d| d["valid"] == true).count(), 1);
}

/// SIGTERM and SIGHUP (the terminal closed) mid-ceremony: the abort is journalled with the
/// signal, "root released" goes out, the terminal is restored, and `recover` later closes it.
#[test]
fn a_signal_mid_ceremony_is_journalled_and_recover_closes_it() {
    for sig in ["TERM", "HUP"] {
        let data = tempfile::tempdir().unwrap();
        let (mut s, mut child) = spawn(data.path(), &[]);
        s.wait_for("Start a session");
        s.keys("signal test");
        s.keys(ENTER);
        s.wait_for("Custodian 1: insert your YubiKey");
        check_in(&mut s, "314159");
        s.wait_for("Custodian 2: insert your YubiKey");
        check_in(&mut s, "271828");
        s.wait_for("Runbook: 0/13 steps done");
        let pid = child.process_id().expect("the child has a pid");
        let ok = std::process::Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap().success();
        assert!(ok);
        let status = wait_exit(&mut child);
        assert_eq!(status.exit_code(), 3, "SIG{sig}: exits as incomplete");
        let raw = String::from_utf8_lossy(&s.raw.lock().unwrap()).to_string();
        assert!(raw.contains("\u{1b}[?1049l"), "SIG{sig}: the terminal's main screen is restored");
        let sessions: Vec<_> = std::fs::read_dir(data.path().join("sessions")).unwrap().flatten().map(|e| e.path()).collect();
        let dir = &sessions[0];
        let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        let last_abort = journal.lines().find(|l| l.contains("\"kind\":\"session.aborted\"")).expect("session.aborted journalled");
        assert!(last_abort.contains(&format!("\"signal\":\"SIG{sig}\"")), "{last_abort}");
        assert!(journal.contains("\"phase\":\"aborted\""), "the release notice is journalled: {journal}");
        let v = run(data.path(), &["verify", dir.to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(3), "unsigned: incomplete");
        let r = run(data.path(), &["recover", "--auto", dir.to_str().unwrap()]);
        assert!(r.status.success(), "{}", stderr(&r));
        let v = run(data.path(), &["verify", dir.to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    }
}
