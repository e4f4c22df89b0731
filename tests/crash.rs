//! The process killed after every journal entry of a demo ceremony: `verify` says incomplete
//! (never invalid, never valid), `recover` closes each one, and the result verifies, with
//! `ssh-keygen` too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{bin, demo_session, forge_chain, run, stderr, stdout};
use std::path::{Path, PathBuf};

fn only_session(data: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data.join("sessions")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// A DEMO ceremony killed right after entry `n`: its data dir, session dir, journal path and bytes.
fn crashed_after(n: u64) -> (tempfile::TempDir, PathBuf, PathBuf, Vec<u8>) {
    let d = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(bin())
        .args(["--data-dir", d.path().to_str().unwrap(), "demo", "--auto"])
        .env("BREAKGLASS_TEST_CRASH_AFTER", n.to_string())
        .output()
        .unwrap();
    assert!(!o.status.success(), "the process should have died after entry {n}");
    let s = only_session(d.path());
    let j = s.join("journal.jsonl");
    let bytes = std::fs::read(&j).unwrap();
    (d, s, j, bytes)
}

fn entries_of_a_full_demo() -> usize {
    let d = tempfile::tempdir().unwrap();
    let s = common::demo_session(d.path(), &[]);
    std::fs::read_to_string(s.join("journal.jsonl")).unwrap().lines().count()
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen (./scripts/test installs it)"]
fn killed_after_every_entry_verify_says_incomplete_and_recover_closes_it() {
    common::require_tool("ssh-keygen", "openssh-client");
    let total = entries_of_a_full_demo();
    assert!(total > 20, "{total}");
    for n in 0..total as u64 {
        let (d, s, _, _) = crashed_after(n);
        let v = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(3), "after entry {n}: {}", stdout(&v));
        let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
        assert!(r.status.success(), "after entry {n}: recover failed: {}", stderr(&r));
        assert_eq!(stdout(&r).lines().last().unwrap().trim(), s.to_str().unwrap());
        let v = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(0), "after entry {n}, recovered: {}", stdout(&v));
        let rep: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(rep["recovered"]["entries_before"], n + 1, "after entry {n}");
        // The closing entry counts the steps ticked before the crash (demo --auto ticks each once).
        let journal = std::fs::read_to_string(s.join("journal.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let ticked = lines.iter().take(n as usize + 1).filter(|e| e["kind"] == "step.done").count();
        if let Some(closing) = lines.iter().skip(n as usize + 1).find(|e| e["kind"] == "session.aborted") {
            assert_eq!(closing["steps_done"], ticked, "after entry {n}");
        }
        for id in ["alice", "bob"] {
            let verified = common::ssh_keygen_verifies(s.as_ref(), id);
            assert!(verified.is_ok(), "after entry {n}: ssh-keygen rejects {id}: {}", verified.unwrap_err());
        }
    }
}

#[test]
fn a_partial_last_line_is_cut_kept_in_the_recovery_and_the_session_closes() {
    let (d, s, j, mut bytes) = crashed_after(5);
    bytes.extend_from_slice(b"{\"seq\":6,\"ts\":\"2026");
    std::fs::write(&j, &bytes).unwrap();
    assert_eq!(run(d.path(), &["verify", s.to_str().unwrap()]).status.code(), Some(3));
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let rep: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(rep["recovered"]["partial_tail"], true);
    // Recovering twice is refused: it is closed and signed now.
    let again = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("nothing to recover"), "{}", stderr(&again));
}

#[test]
fn recover_refuses_a_broken_chain_and_an_empty_journal() {
    let d = tempfile::tempdir().unwrap();
    let s = common::demo_session(d.path(), &[]);
    let j = s.join("journal.jsonl");
    let text = std::fs::read_to_string(&j).unwrap();
    let lines: Vec<&str> = text.lines().take(5).collect();
    let mut t = lines.join("\n").replacen("alice", "alicf", 1);
    t.push('\n');
    std::fs::write(&j, t).unwrap();
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("chain is broken"), "{}", stderr(&r));
    std::fs::write(&j, b"").unwrap();
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("empty"), "{}", stderr(&r));
}

/// Leaving the recovery before its first entry changes nothing on disk; two recoveries never
/// overwrite each other's kept signatures.
#[test]
fn an_abandoned_recovery_changes_nothing_and_kept_signatures_are_never_overwritten() {
    let (d, s, j, mut bytes) = crashed_after(5);
    bytes.extend_from_slice(b"{\"seq\":6,\"ts");
    std::fs::write(&j, &bytes).unwrap();
    std::fs::write(s.join("journal.jsonl.alice.sig"), b"an earlier signature").unwrap();
    std::fs::write(s.join("journal.jsonl.alice.sig.before-recovery"), b"kept by an earlier recovery").unwrap();
    // Without a terminal the recovery screen cannot open: nothing may have changed.
    let r = run(d.path(), &["recover", s.to_str().unwrap()]);
    assert!(!r.status.success());
    assert_eq!(std::fs::read(&j).unwrap(), bytes, "the journal is untouched");
    assert!(s.join("journal.jsonl.alice.sig").exists());
    // A real recovery keeps both older signatures.
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(std::fs::read(s.join("journal.jsonl.alice.sig.before-recovery")).unwrap(), b"kept by an earlier recovery");
    assert_eq!(std::fs::read(s.join("journal.jsonl.alice.sig.before-recovery-2")).unwrap(), b"an earlier signature");
    assert_eq!(run(d.path(), &["verify", s.to_str().unwrap()]).status.code(), Some(0));
}

/// A nearly full disk is refused before anything starts (a real tmpfs of 64 KB where this machine
/// lets the test mount one), and a disk that fills mid-ceremony (RLIMIT_FSIZE, the portable
/// stand-in: the kernel stops the process at the limit) leaves a session that verify calls
/// incomplete and `recover` closes.
#[test]
fn a_full_disk_is_refused_up_front_and_one_that_fills_mid_ceremony_is_recoverable() {
    let d = tempfile::tempdir().unwrap();
    let small = d.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", small.to_str().unwrap()])
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let o = run(&small, &["demo", "--auto"]);
        let _ = std::process::Command::new("umount").arg(&small).status();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("bytes are free") && stderr(&o).contains("nothing was started"), "{}", stderr(&o));
    } else {
        println!("tmpfs cannot be mounted here (not root, or no privilege): only the RLIMIT_FSIZE stand-in runs");
    }
    // The disk fills mid-ceremony: at most 6 KB per file (the DEMO's sealed runbook, larger, was
    // written by an earlier DEMO).
    breakglass::commands::demo::prepare(&d.path().join("data")).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f 6; exec {} --data-dir {} demo --auto", bin().display(), d.path().join("data").display()))
        .output()
        .unwrap();
    // SIGXFSZ does not kill it: the write fails, the ceremony halts and says why.
    assert_eq!(o.status.code(), Some(1), "a clean halt, not a kill by SIGXFSZ: {:?}", o.status);
    assert!(stderr(&o).contains("breakglass recover"), "says how to close it: {}", stderr(&o));
    assert!(stderr(&o).contains("journal could not be written") && stderr(&o).contains("file-size limit"), "{}", stderr(&o));
    let s = only_session(&d.path().join("data"));
    let journal = std::fs::read(s.join("journal.jsonl")).unwrap();
    assert!(journal.ends_with(b"\n"), "the half-written line was cut off again");
    let v = run(&d.path().join("data"), &["verify", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(3), "incomplete, never valid or invalid: {}", stdout(&v));
    let r = run(&d.path().join("data"), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(run(&d.path().join("data"), &["verify", s.to_str().unwrap()]).status.code(), Some(0));
}

/// The same in the TUI: the disk fills mid-ceremony, the screen says the journal could not be
/// written and stops, and the terminal is restored when the custodians leave.
#[test]
fn a_disk_that_fills_in_the_tui_halts_with_the_reason_on_screen() {
    use common::pty::*;
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    breakglass::commands::demo::prepare(&data).unwrap();
    let mut cmd = CommandBuilder::new("bash");
    cmd.args(["-c", &format!("ulimit -f 6; exec {} --data-dir {} demo", bin().display(), data.display())]);
    let (mut s, mut child) = spawn_command(cmd);
    s.wait_for("Start a session");
    s.keys("a reason long enough to fill the journal sooner: ");
    s.keys(&"x".repeat(400));
    s.keys(ENTER);
    let start = std::time::Instant::now();
    // Each check-in journals several entries: the limit is reached during the first few.
    while !s.text().contains("journal could not be written") && start.elapsed() < std::time::Duration::from_secs(30) {
        if s.text().contains("enter your PIN") {
            s.keys(if s.text().contains("Alice") { "314159" } else { "271828" });
            s.keys(ENTER);
        } else if s.text().contains("insert your YubiKey") || s.text().contains("touch your key now") {
            s.keys(ENTER);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    s.wait_for("journal could not be written");
    s.wait_for("file-size limit");
    s.keys("q");
    let status = wait_exit(&mut child);
    assert_eq!(status.exit_code(), 1, "{status:?}");
    assert!(s.raw_arrives("\u{1b}[?1049l"), "the terminal's main screen is restored");
    let sess = only_session(&data);
    assert_eq!(run(&data, &["verify", sess.to_str().unwrap()]).status.code(), Some(3), "incomplete, never invalid");
}

/// Found by review: `recover` continued (and its co-signatures then covered) a journal one person
/// had rewritten: a check-in dropped (the runbook "opened" without a quorum), or a date far in the
/// future (every root use until then would have looked covered in the audit).
#[test]
fn recover_refuses_a_journal_that_does_not_verify_as_far_as_it_goes() {
    let steps = |j: &Path| std::fs::read_to_string(j).unwrap().lines().filter(|l| l.contains("\"kind\":\"step.done\"")).count();
    // (1) bob's check-in removed, the chain made right again.
    let (d, s, j, _) = crashed_after(7);
    assert!(steps(&j) > 0);
    forge_chain(&j, |mut lines| {
        let bob = lines.iter().position(|l| l.contains("\"kind\":\"custodian.verified\"") && l.contains("\"custodian\":\"bob\"")).unwrap();
        lines.remove(bob);
        lines
    });
    assert!(breakglass::core::journal::check_chain(&std::fs::read(&j).unwrap()).problems.is_empty(), "a well-made forgery");
    let before = std::fs::read(&j).unwrap();
    let v = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("before a quorum of 2 had checked in"), "{}", stdout(&v));
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("verifies as far as it goes") && stderr(&r).contains("runbook.unsealed"), "{}", stderr(&r));
    assert_eq!(std::fs::read(&j).unwrap(), before, "nothing changed");
    // (2) The last entry dated in the year 9999.
    let (d, s, j, _) = crashed_after(5);
    forge_chain(&j, |mut lines| {
        let last = lines.len() - 1;
        let ts = serde_json::from_str::<serde_json::Value>(&lines[last]).unwrap()["ts"].as_str().unwrap().to_string();
        lines[last] = lines[last].replace(&ts, "9999-12-31T23:59:59.999Z");
        lines
    });
    let v = run(d.path(), &["verify", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("cannot record the future"), "{}", stdout(&v));
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("later than this host's clock"), "{}", stderr(&r));
    // Twelve hours ahead: within verify's day of clock error between hosts, but recover runs on
    // the session's own host, whose clock wrote it: refused (the recovery's entries, and the
    // audit's window, would be carried into the future).
    let (d, s, j, _) = crashed_after(5);
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(12)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    forge_chain(&j, |mut lines| {
        let last = lines.len() - 1;
        let ts = serde_json::from_str::<serde_json::Value>(&lines[last]).unwrap()["ts"].as_str().unwrap().to_string();
        lines[last] = lines[last].replace(&ts, &ahead);
        lines
    });
    assert_eq!(run(d.path(), &["verify", s.to_str().unwrap()]).status.code(), Some(3), "incomplete, not forged");
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("later than this host's clock"), "{}", stderr(&r));
}

/// Found by review: junk `.sig` files beside a closed, unsigned session made `recover` call it
/// finished (and `doctor` stop listing it). Only signatures that verify count.
#[test]
fn junk_signature_files_do_not_hide_a_session_from_recovery() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    for id in ["alice", "bob"] {
        std::fs::write(s.join(format!("journal.jsonl.{id}.sig")), b"junk").unwrap();
    }
    assert!(breakglass::adapters::session::read_interrupted(&s).is_ok(), "closed, but signed by nobody: recoverable");
    // Really signed by a quorum: finished, nothing to recover.
    let s2 = demo_session(d.path(), &[]);
    let e = breakglass::adapters::session::read_interrupted(&s2).err().unwrap();
    assert!(e.to_string().contains("nothing to recover"), "{e}");
}

/// Found by review: a journal line with `seq` = u64::MAX, or a last `mono_ms` = u64::MAX, made
/// `verify` and `recover` panic (an overflow).
#[test]
fn extreme_numbers_in_a_journal_are_refused_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("sessions/x");
    std::fs::create_dir_all(&s).unwrap();
    let l0 = format!(
        "{{\"seq\":18446744073709551615,\"ts\":\"2026-01-01T00:00:00.000Z\",\"mono_ms\":0,\"kind\":\"session.opened\",\"prev\":\"{}\",\"reason\":\"{}\"}}\n{{\"seq\":1}}\n",
        "0".repeat(64),
        "x".repeat(200)
    );
    std::fs::write(s.join("journal.jsonl"), l0).unwrap();
    for args in [vec!["verify", s.to_str().unwrap()], vec!["drill", "report"], vec!["doctor"]] {
        let o = run(d.path(), &args);
        assert_ne!(o.status.code(), Some(101), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
    let (d, s, j, _) = crashed_after(5);
    forge_chain(&j, |mut lines| {
        let last = lines.len() - 1;
        let mut v: serde_json::Value = serde_json::from_str(&lines[last]).unwrap();
        v["mono_ms"] = u64::MAX.into();
        lines[last] = v.to_string();
        lines
    });
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(!stderr(&r).contains("panicked"), "{}", stderr(&r));
    assert_ne!(r.status.code(), Some(101));
}

/// Found by review: the session id in an interrupted journal named the outbox file of the
/// recovery's notice (`../../../x` wrote outside the data directory) and went to the team; and a
/// directory named like a signature file made `recover` refuse (no "root released" then).
#[test]
fn recover_takes_neither_a_path_from_the_journal_nor_a_junk_signature_as_a_reason_to_stop() {
    let (d, s, j, _) = crashed_after(0);
    forge_chain(&j, |lines| lines.into_iter().map(|l| l.replace(s.file_name().unwrap().to_str().unwrap(), "../../../pwn-evil")).collect());
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("this directory is"), "{}", stderr(&r));
    // Nothing was written anywhere the id points (from the outbox, `../../../` is the root).
    for above in [d.path().to_path_buf(), d.path().parent().unwrap().to_path_buf(), "/".into()] {
        let names: Vec<String> =
            std::fs::read_dir(&above).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        assert!(names.iter().all(|n| !n.starts_with("pwn-evil")), "{above:?}: {names:?}");
    }
    let (d, s, _, _) = crashed_after(10);
    std::fs::create_dir(s.join("journal.jsonl.x.sig")).unwrap();
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(run(d.path(), &["verify", s.to_str().unwrap()]).status.code(), Some(0));
    // The recovery told the team, once, that root is released.
    let outbox: Vec<String> =
        std::fs::read_dir(d.path().join("outbox")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert!(outbox.iter().filter(|n| n.contains("-aborted-")).count() == 1, "{outbox:?}");
}

/// E15 / attack 9 of the evidence review: an interrupted session is found by what it holds, not
/// by its directory's name. Renamed, it still shows in `doctor` as "root may still be in use",
/// and `recover` says to name it back.
#[test]
fn a_renamed_interrupted_session_is_still_reported() {
    let (d, s, _, _) = crashed_after(5);
    let renamed = s.with_file_name("old-stuff");
    std::fs::rename(&s, &renamed).unwrap();
    let o = common::run(d.path(), &["doctor"]);
    let out = common::stdout(&o);
    assert!(out.contains("old-stuff") && out.contains("root may still be in use"), "{out}");
    let o = common::run(d.path(), &["recover", renamed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("name it back"), "{}", common::stderr(&o));
}

/// Faults, second round: one writer per journal. A session whose lock another process holds (a
/// ceremony still running, or a second `recover`) is not interrupted: `recover` refuses it, names
/// the process and writes nothing; `doctor` does not call it interrupted.
#[test]
fn a_session_another_process_holds_is_not_recovered_twice() {
    let (d, s, j, bytes) = crashed_after(5);
    let o = common::run(d.path(), &["doctor"]);
    assert!(common::stdout(&o).contains("root may still be in use"), "{}", common::stdout(&o));
    let lock = breakglass::adapters::session::lock_session(&s).unwrap();
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains(&format!("process {}", std::process::id())), "names the holder: {}", stderr(&r));
    assert_eq!(std::fs::read(&j).unwrap(), bytes, "nothing written");
    let o = common::run(d.path(), &["doctor"]);
    assert!(!common::stdout(&o).contains("root may still be in use"), "{}", common::stdout(&o));
    drop(lock);
    let r = run(d.path(), &["recover", "--auto", s.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(run(d.path(), &["verify", s.to_str().unwrap()]).status.code(), Some(0));
}
