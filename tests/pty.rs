//! End to end: the real binary in a pseudo-terminal, driven by keystrokes like a custodian would,
//! then `breakglass verify` on what it wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::pty::*;
use common::walk::{Walk, resume, walk_to};
use common::*;
use std::time::Duration;

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
    s.keys(RIGHT); // DRILL, asked first
    s.wait_for("Switch to DRILL?");
    assert!(s.text().contains("[INCIDENT]"), "nothing changed before the answer");
    s.keys("y");
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

#[test]
fn a_demo_rekey_in_the_terminal_replaces_carol_with_dave_and_verifies() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn_args(data.path(), &["demo", "--rekey"], &[]);
    let steps = Walk::Rekey.steps();
    assert!(walk_to(&mut s, &steps, Some("setup")));
    assert!(s.text().contains("REKEY") && s.text().contains("DEMO"), "{}", s.text());
    assert!(resume(&mut s, &steps, "setup", Some("change")));
    assert!(s.text().contains("- carol") && s.text().contains("+ dave"), "{}", s.text());
    assert!(resume(&mut s, &steps, "change", Some("newcomer-pin")));
    assert!(s.text().contains("DEMO PIN for dave: 161803"), "the newcomer's DEMO PIN is shown: {}", s.text());
    assert!(resume(&mut s, &steps, "newcomer-pin", None));
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
    assert_eq!(v["mode"], "rekey");
    assert_eq!(v["rekey"]["added"], serde_json::json!(["dave"]));
    assert_eq!(v["rekey"]["removed"], serde_json::json!(["carol"]));
}

#[test]
fn a_demo_offboarding_in_the_terminal_removes_carol_and_times_the_checklist() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn_args(data.path(), &["demo", "--offboard"], &[]);
    let steps = Walk::Offboard.steps();
    assert!(walk_to(&mut s, &steps, Some("setup")));
    assert!(s.text().contains("OFFBOARD") && s.text().contains("carol leaves"), "{}", s.text());
    assert!(resume(&mut s, &steps, "setup", None));
    s.wait_for("4/4 items done");
    assert!(s.text().contains("within the 15-minute target"), "{}", s.text());
    s.keys("q");
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit status {status:?}");
}

/// An aborted drill is recorded and signed, but it is not a completed drill: `drill report` lists
/// it as not counted (and why), and it does not reset the overdue clock.
#[test]
fn an_aborted_drill_is_not_counted_as_a_drill() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn_args(data.path(), &["demo", "--drill"], &[]);
    s.wait_for("Start a session");
    s.keys("aborted drill");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    check_in(&mut s, "314159");
    s.wait_for("Custodian 2: insert your YubiKey");
    check_in(&mut s, "271828");
    s.wait_for("steps done");
    abort_and_both_sign(&mut s);
    s.wait_for("ABORTED");
    s.keys("q");
    assert!(wait_exit(&mut child).success());
    let o = run(data.path(), &["drill", "report", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &v["drills"][0];
    assert_eq!(d["valid"], true, "the bundle itself verifies: {v}");
    assert_eq!(d["counted"], false, "{v}");
    assert!(d["not_counted"].as_str().unwrap().starts_with("aborted"), "{v}");
    assert!(v["last_valid_drill"].is_null() && v["overdue"] == true, "{v}");
}

/// Aborted before anyone checked in: root was never announced nor opened and nobody can sign, so
/// the session is not "interrupted" (doctor does not say root may be in use) and `recover` has
/// nothing to do (no "root released" for a root never announced).
#[test]
fn an_abort_before_anyone_checked_in_needs_no_recovery() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn(data.path(), &[]);
    s.wait_for("Start a session");
    s.keys("abort at once");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    s.keys("\x03");
    s.wait_for("Abort the ceremony?");
    s.keys("y");
    s.wait_for("before anyone checked in");
    s.keys("q");
    assert!(wait_exit(&mut child).success());
    let dir = std::fs::read_dir(data.path().join("sessions")).unwrap().next().unwrap().unwrap().path();
    let o = run(data.path(), &["doctor"]);
    assert!(!stdout(&o).contains("root may still be in use"), "{}", stdout(&o));
    let o = run(data.path(), &["recover", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("nothing to recover"), "{}", stderr(&o));
    let outbox = std::fs::read_dir(data.path().join("outbox")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(outbox, 0, "no notice for a root never announced");
}

/// Evidence review, attacks 1 and 2: an insider moves a closed, co-signed session's signatures
/// away, starts `recover` on it, gets one custodian (their own key) checked in, and quits. Nothing
/// is written (rule E15): no `session.recovered` that would move the end of a gap. When the
/// custodians later recover it for real, the time since its end is a gap (E20) and only the
/// recovery follows the end (E14).
#[test]
fn a_recovery_left_before_a_quorum_checked_in_writes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let s = demo_session(data.path(), &[]);
    let j = s.join("journal.jsonl");
    let away = data.path().join("away");
    std::fs::create_dir(&away).unwrap();
    for id in ["alice", "bob"] {
        let name = format!("journal.jsonl.{id}.sig");
        std::fs::rename(s.join(&name), away.join(&name)).unwrap();
    }
    let before = std::fs::read(&j).unwrap();
    let (mut sc, mut child) = spawn_args(data.path(), &["recover", s.to_str().unwrap()], &[]);
    sc.wait_for("RECOVERY");
    sc.keys(ENTER);
    sc.wait_for("Custodian 1: insert your YubiKey");
    check_in(&mut sc, "314159");
    sc.wait_for("signed the challenge");
    sc.keys("\x03");
    sc.wait_for("Abort the ceremony?");
    sc.keys("y");
    wait_exit(&mut child);
    assert_eq!(std::fs::read(&j).unwrap(), before, "the journal is untouched");
    let names: Vec<String> = std::fs::read_dir(&s).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert!(!names.iter().any(|n| n.contains("before-recovery")), "nothing set aside: {names:?}");
    // The custodians' own recovery, a little later.
    std::thread::sleep(Duration::from_millis(1100));
    let o = run(data.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(data.path(), &["verify", "--json", s.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "valid", "{v:#}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v:#}");
    let gaps = v["recoveries"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v:#}");
    assert!(gaps[0]["gap_s"].as_i64().unwrap() >= 1, "the time since the end is a gap: {v:#}");
}

/// Issues "the screen at the safe" item 6 and "faults" (the terminal-window case): the window is
/// closed mid-runbook. `script` stands in for the terminal emulator: killing it closes the pty's
/// terminal side, so the ceremony gets SIGHUP and every later write to the screen fails. The
/// aborted notice goes out and its `notice.sent` is journalled, every time.
#[test]
fn closing_the_terminal_window_mid_runbook_journals_the_release_notice() {
    for round in 0..3 {
        let data = tempfile::tempdir().unwrap();
        let inner = format!("{} --data-dir {} demo", bin().display(), data.path().display());
        let mut cmd = CommandBuilder::new("script");
        cmd.args(["-qfec", &inner, "/dev/null"]);
        let (mut s, mut child) = spawn_command(cmd);
        s.wait_for("Start a session");
        s.keys("window closed mid-runbook");
        s.keys(ENTER);
        s.wait_for("Custodian 1: insert your YubiKey");
        check_in(&mut s, "314159");
        s.wait_for("Custodian 2: insert your YubiKey");
        check_in(&mut s, "271828");
        s.wait_for("Runbook: 0/13 steps done");
        // The window closes.
        signal(&child, "KILL");
        let _ = wait_exit(&mut child);
        let sessions = data.path().join("sessions");
        let dir = std::fs::read_dir(&sessions).unwrap().flatten().next().unwrap().path();
        let journal = dir.join("journal.jsonl");
        let start = std::time::Instant::now();
        let released = |text: &str| text.lines().any(|l| l.contains("\"kind\":\"notice.sent\"") && l.contains("\"phase\":\"aborted\""));
        while !released(&std::fs::read_to_string(&journal).unwrap()) && start.elapsed() < Duration::from_secs(25) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(text.contains("\"kind\":\"session.aborted\""), "round {round}: the abort is journalled:\n{text}");
        assert!(released(&text), "round {round}: the aborted notice's notice.sent is journalled:\n{text}");
        let outbox: Vec<String> =
            std::fs::read_dir(data.path().join("outbox")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        assert_eq!(outbox.iter().filter(|n| n.contains("-aborted-")).count(), 1, "round {round}: one aborted notice: {outbox:?}");
    }
}

/// Issue "the screen at the safe", item 1: an abort after root was in use goes through the closing
/// checklist on screen; what cannot be done is recorded as not done, then root is released.
#[test]
fn an_abort_after_root_was_in_use_goes_through_the_closing_checklist() {
    let data = tempfile::tempdir().unwrap();
    let (mut s, mut child) = spawn(data.path(), &[]);
    s.wait_for("Start a session");
    s.keys("abort after root in use");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    check_in(&mut s, "314159");
    s.wait_for("Custodian 2: insert your YubiKey");
    check_in(&mut s, "271828");
    s.wait_for("steps done");
    s.keys("\x03");
    s.wait_for("the closing checklist comes first");
    s.keys("y");
    s.wait_for("Root was in use. Before it is released");
    // Enter before every item is settled is refused.
    s.keys(ENTER);
    s.wait_for("item 1");
    s.keys(" ");
    for _ in 0..3 {
        s.keys(DOWN);
        s.keys("x");
    }
    s.keys(ENTER);
    s.wait_for("Alice Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Bob Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("ABORTED");
    s.keys("q");
    assert!(wait_exit(&mut child).success());
    let dir = std::fs::read_dir(data.path().join("sessions")).unwrap().flatten().next().unwrap().path();
    let o = std::process::Command::new(bin()).args(["verify", "--json", dir.to_str().unwrap()]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    let kinds: Vec<&str> = v["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "closing.not_done").count(), 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "closing.checked").count(), 1, "{kinds:?}");
    let aborted = kinds.iter().position(|k| *k == "session.aborted").unwrap();
    assert!(kinds.iter().rposition(|k| *k == "closing.not_done").unwrap() < aborted, "the checklist before the end");
}
