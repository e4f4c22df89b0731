//! The fault matrix (issue "faults, second round"): every phase of every mode (incident, drill,
//! rekey, offboarding, recovery) × every way a ceremony is cut short (SIGTERM, SIGHUP, SIGINT from
//! outside, the terminal window closed, SIGKILL, the disk full), on the real binary in a
//! pseudo-terminal. Whatever the cell, what is left must hold:
//! - the process ends by itself (no hang) and, unless killed, gives the terminal back;
//! - the journal is whole lines that chain; `verify` calls it incomplete or valid, never invalid;
//! - `recover` closes an incomplete one, then `verify` says valid and stock `ssh-keygen` accepts
//!   every co-signature;
//! - a caught signal mid-ceremony is journalled (`session.aborted` with its name);
//! - no notice goes out twice unless the repeat says so (`maybe_repeat`), and a "root in use"
//!   is always followed by a release;
//! - `doctor` no longer says root may be in use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::moto::{Moto, drain, topic_with_queue};
use common::proxy::{Mode as Net, Proxy};
use common::pty::{self, CommandBuilder, Screen};
use common::walk::{self, Walk};
use common::{bin, run, stderr, stdout};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Term,
    Hup,
    /// `kill -INT` from outside (Ctrl-C typed at the keyboard asks first; that is tested in pty.rs).
    Int,
    /// The terminal emulator goes away: the pty's terminal side closes under the ceremony.
    WindowClosed,
    Kill,
    /// No byte more can be written to any file (RLIMIT_FSIZE set to 0 on the running process):
    /// the next write fails as on a full disk.
    DiskFull,
}

const STOPS: [Stop; 6] = [Stop::Term, Stop::Hup, Stop::Int, Stop::WindowClosed, Stop::Kill, Stop::DiskFull];

impl Stop {
    fn signal(self) -> Option<&'static str> {
        match self {
            Stop::Term => Some("SIGTERM"),
            Stop::Hup | Stop::WindowClosed => Some("SIGHUP"),
            Stop::Int => Some("SIGINT"),
            Stop::Kill | Stop::DiskFull => None,
        }
    }
}

/// A DEMO incident killed right after its first ticked runbook step: root announced, no release.
fn interrupted_session(data: &Path) -> PathBuf {
    let full = tempfile::tempdir().unwrap();
    let s = common::demo_session(full.path(), &[]);
    let journal = std::fs::read_to_string(s.join("journal.jsonl")).unwrap();
    let n = journal.lines().position(|l| l.contains("\"kind\":\"step.done\"")).unwrap();
    let o = std::process::Command::new(bin())
        .args(["--data-dir", data.to_str().unwrap(), "demo", "--auto"])
        .env("BREAKGLASS_TEST_CRASH_AFTER", n.to_string())
        .output()
        .unwrap();
    assert!(!o.status.success());
    sessions(data).pop().unwrap()
}

fn sessions(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("sessions"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("journal.jsonl").exists()).collect())
        .unwrap_or_default()
}

/// Whether any process still runs with `needle` (the data directory) on its command line.
fn still_running(needle: &str) -> bool {
    std::process::Command::new("pgrep").args(["-f", needle]).output().is_ok_and(|o| o.status.success())
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Where a cell runs: its data directory and, with AWS, the environment and config that reach
/// moto through a loopback proxy.
struct Place {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    env: Vec<(&'static str, String)>,
    config: Vec<String>,
}

impl Place {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        Place { _tmp: tmp, data, env: vec![], config: vec![] }
    }

    /// `breakglass --data-dir DATA [--config CFG] ARGS...` with the place's environment.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = std::process::Command::new(bin());
        c.arg("--data-dir").arg(&self.data).args(&self.config).args(args).env_remove("BREAKGLASS_DATA_DIR");
        c.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        c.output().unwrap()
    }

    /// Starts `args` in a pseudo-terminal; through `script` (a terminal emulator) if the window
    /// is to be closed.
    fn spawn(&self, args: &[String], stop: Stop) -> (Screen, pty::Child) {
        let mut inner = vec![bin().display().to_string(), "--data-dir".into(), self.data.display().to_string()];
        inner.extend(self.config.iter().cloned());
        inner.extend(args.iter().cloned());
        let mut cmd = if stop == Stop::WindowClosed {
            let mut cmd = CommandBuilder::new("script");
            cmd.args(["-qfec", &inner.join(" "), "/dev/null"]);
            cmd
        } else {
            let mut cmd = CommandBuilder::new(&inner[0]);
            cmd.args(&inner[1..]);
            cmd
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        pty::spawn_command(cmd)
    }
}

/// Runs one cell; panics with what went wrong.
fn cell(w: Walk, phase: &str, stop: Stop) {
    let place = Place::new();
    let mut args: Vec<String> = w.args().iter().map(|s| s.to_string()).collect();
    let before = if w == Walk::Recovery {
        let s = interrupted_session(&place.data);
        args.push(s.display().to_string());
        Some(std::fs::read(s.join("journal.jsonl")).unwrap())
    } else {
        None
    };
    let steps = w.steps();
    let (mut s, mut child) = place.spawn(&args, stop);
    assert!(walk::walk_to(&mut s, &steps, Some(phase)), "the walk reaches {phase}");
    let code = cut_short(&place, &mut s, &mut child, &steps, phase, stop);
    if stop.signal().is_some() && stop != Stop::WindowClosed {
        // Nothing started, or everything signed: 0. Anything else is incomplete: 3 (a recovery
        // left early leaves the session as interrupted as it was).
        let done = phase == "summary" || (phase == "setup" && w != Walk::Recovery);
        assert_eq!(code, Some(if done { 0 } else { 3 }), "the exit code");
    }
    let found = sessions(&place.data);
    if phase == "setup" && w != Walk::Recovery {
        assert!(found.is_empty(), "nothing was started, nothing is recorded: {found:?}");
        return;
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let bytes = std::fs::read(found[0].join("journal.jsonl")).unwrap();
    if let Some(before) = &before
        && phase == "check-in"
    {
        assert_eq!(&bytes, before, "a recovery left before a quorum checked in writes nothing");
    }
    what_is_left(&place, &found[0], stop, open_at(w, phase));
    notices_once(&outbox(&place.data));
}

/// Stops the process as `stop` says, at `phase`, and waits until it has ended; checks that it
/// ended by itself (unless killed) and gave the terminal back.
fn cut_short(place: &Place, s: &mut Screen, child: &mut pty::Child, steps: &[walk::Step], phase: &str, stop: Stop) -> Option<u32> {
    match stop {
        Stop::Term | Stop::Hup | Stop::Int => pty::signal(child, &stop.signal().unwrap()[3..]),
        Stop::Kill | Stop::WindowClosed => pty::signal(child, "KILL"),
        Stop::DiskFull => {
            let pid = child.process_id().unwrap().to_string();
            let ok = std::process::Command::new("prlimit").args(["--pid", &pid, "--fsize=0"]).status().unwrap().success();
            assert!(ok, "prlimit --pid {pid}");
        }
    }
    let exit = match stop {
        Stop::WindowClosed => {
            let _ = pty::wait_exit(child);
            let start = Instant::now();
            while still_running(&place.data.display().to_string()) {
                assert!(start.elapsed() < Duration::from_secs(30), "the ceremony did not end after its window closed");
                std::thread::sleep(Duration::from_millis(100));
            }
            None
        }
        Stop::DiskFull => Some(disk_full_ends(s, child, steps, phase)),
        _ => Some(pty::wait_exit(child)),
    };
    if let Some(status) = &exit
        && stop != Stop::Kill
    {
        assert!([0, 1, 3].contains(&status.exit_code()), "ends by itself with a known code: {status:?}");
        assert!(s.raw_arrives("\u{1b}[?1049l"), "the terminal's main screen is restored");
    }
    exit.filter(|_| stop != Stop::Kill).map(|s| s.exit_code())
}

/// What a cut-short session leaves: whole lines; a caught signal journalled when a session was
/// `open`; verify's incomplete (or valid), never invalid; `recover` closes it; ssh-keygen accepts
/// the co-signatures; doctor no longer says root may be in use.
fn what_is_left(place: &Place, dir: &Path, stop: Stop, open: bool) {
    let bytes = std::fs::read(dir.join("journal.jsonl")).unwrap();
    if stop != Stop::Kill {
        assert!(bytes.ends_with(b"\n"), "whole lines only");
    }
    let entries = lines(&dir.join("journal.jsonl"));
    if let (Some(sig), true) = (stop.signal(), open) {
        let aborted = entries.iter().rev().find(|e| e["kind"] == "session.aborted");
        let aborted = aborted.unwrap_or_else(|| panic!("session.aborted journalled: {}", String::from_utf8_lossy(&bytes)));
        if stop != Stop::WindowClosed {
            assert_eq!(aborted["signal"], sig, "{aborted}");
        }
    }
    let (v, problems) = verdict(place, dir);
    assert!(v == "incomplete" || v == "valid", "verify says {v}: {problems}");
    if v == "incomplete" {
        let r = place.run(&["recover", "--auto", dir.to_str().unwrap()]);
        assert!(r.status.success(), "recover: {}{}", stdout(&r), stderr(&r));
        let (v, problems) = verdict(place, dir);
        assert_eq!(v, "valid", "after recover: {problems}");
    }
    ssh_keygen_accepts(dir);
    let o = place.run(&["doctor"]);
    assert!(!stdout(&o).contains("root may still be in use"), "doctor: {}", stdout(&o));
}

/// Whether, at `phase`, the walk's process has a session open that a caught signal must abort.
fn open_at(w: Walk, phase: &str) -> bool {
    match w {
        // A recovery writes nothing before a quorum is back.
        Walk::Recovery => phase == "closing",
        _ => !["setup", "signing", "summary"].contains(&phase),
    }
}

/// With the disk full, the walk goes on: the next write fails, and the screen says what could not
/// be written and stops there (or the walk ends with nothing more to write); the custodians leave,
/// and the process ends by itself, never by SIGXFSZ.
fn disk_full_ends(s: &mut Screen, child: &mut pty::Child, steps: &[walk::Step], phase: &str) -> portable_pty::ExitStatus {
    // Off the walk (a notice under way), the next write comes by itself.
    let on_walk = steps.iter().any(|st| st.phase == Some(phase));
    let mut said = on_walk && walk::go_on_until(s, steps, phase, |t| t.contains("could not be written"));
    let wrote_nothing = ["setup", "summary"].contains(&phase);
    if !said && !wrote_nothing {
        // The next write may wait for the network (a notice's outcome, at most 12 s).
        s.wait_for_within("could not be written", Duration::from_secs(25));
        said = true;
    }
    if said {
        let t = s.text();
        assert!(t.contains("file-size limit"), "says why:\n{t}");
    }
    s.keys("\x03");
    s.keys("y");
    // The abort's own entry is refused too before the screen halts: `q` (a deliberate key, read
    // only once the halt is shown) is pressed until the app has gone, as a custodian would.
    let start = std::time::Instant::now();
    while child.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(15) {
        s.keys("q");
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = pty::wait_exit(child);
    assert_ne!(status.signal(), Some("File size limit exceeded"), "killed by SIGXFSZ");
    status
}

/// verify's status, then its problems.
fn verdict(place: &Place, dir: &Path) -> (String, String) {
    let o = place.run(&["verify", "--json", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("verify --json: {}{}", stdout(&o), stderr(&o)));
    (v["status"].as_str().unwrap_or_default().to_string(), v["problems"].to_string())
}

fn ssh_keygen_accepts(dir: &Path) {
    let sigs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("journal.jsonl.")?.strip_suffix(".sig").map(str::to_string))
        .collect();
    assert!(sigs.len() >= 2, "co-signed: {sigs:?}");
    for id in sigs {
        let verified = common::ssh_keygen_verifies(dir, &id);
        assert!(verified.is_ok(), "ssh-keygen rejects {id}: {}", verified.unwrap_err());
    }
}

/// The notices in the DEMO outbox: (phase, marked as a possible repeat).
fn outbox(data: &Path) -> Vec<(String, bool)> {
    let notices: Vec<serde_json::Value> = std::fs::read_dir(data.join("outbox"))
        .map(|d| d.flatten().map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap()).collect())
        .unwrap_or_default();
    notices.iter().map(|n| (n["notice"]["phase"].as_str().unwrap_or_default().to_string(), n["notice"]["maybe_repeat"] == true)).collect()
}

/// Each notice once unless the repeat says it may be one; "root in use" always released.
fn notices_once(notices: &[(String, bool)]) {
    let plain = |p: &[&str]| notices.iter().filter(|(phase, repeat)| p.contains(&phase.as_str()) && !repeat).count();
    assert!(plain(&["in_use"]) <= 1, "one root-in-use notice: {notices:?}");
    assert!(plain(&["released", "aborted"]) <= 1, "one release (a repeat says so): {notices:?}");
    if notices.iter().any(|(p, _)| p == "in_use") {
        assert!(notices.iter().any(|(p, _)| p == "released" || p == "aborted"), "root in use, never released: {notices:?}");
    }
}

/// The notice phase, with AWS: the network to SNS hangs (a loopback proxy in front of moto) as
/// "root in use" goes out, and the ceremony is cut short right then, with `notice.sending`
/// journalled and no outcome yet. What is left holds as in every cell, `recover` (the network
/// back) releases root, and the queue subscribed to the topic gets each notice once, or a repeat
/// that says so.
fn notice_cell(moto: &Moto, stop: Stop, n: usize) {
    let (topic, queue) = topic_with_queue(&moto.sdk(), &format!("root-in-use-{n}"));
    let proxy = Proxy::start(&format!("127.0.0.1:{}", moto.port));
    let mut place = Place::new();
    let cfg = place.data.join("breakglass.toml");
    std::fs::write(&cfg, format!("[aws]\nregion = \"us-east-1\"\naccount_id = \"123456789012\"\n[notice]\nsns_topic_arn = \"{topic}\"\n"))
        .unwrap();
    place.config = vec!["--config".into(), cfg.display().to_string()];
    place.env = moto.env().into_iter().map(|(k, v)| (k, if k == "AWS_ENDPOINT_URL" { proxy.url.clone() } else { v })).collect();
    place.env.push(("AWS_EC2_METADATA_DISABLED", "true".into()));
    let steps = Walk::Incident.steps();
    let (mut s, mut child) = place.spawn(&["demo".into()], stop);
    assert!(walk::walk_to(&mut s, &steps, Some("check-in")));
    proxy.set(Net::Hang);
    assert!(walk::go_on_until(&mut s, &steps, "check-in", |t| t.contains("AWS SNS: waiting")), "{}", s.text());
    let dir = sessions(&place.data).pop().unwrap();
    let last = lines(&dir.join("journal.jsonl")).pop().unwrap();
    assert_eq!(last["kind"], "notice.sending", "the notice is journalled as about to go out first");
    proxy.set(Net::Pass);
    cut_short(&place, &mut s, &mut child, &steps, "notice", stop);
    what_is_left(&place, &dir, stop, true);
    let got: Vec<(String, bool)> = drain(&moto.sdk(), &queue)
        .iter()
        .map(|m| {
            let a = &m["MessageAttributes"];
            (a["phase"]["Value"].as_str().unwrap_or_default().to_string(), a["maybe_repeat"]["Value"] == "true")
        })
        .collect();
    notices_once(&got);
}

#[test]
#[ignore = "needs the test rig: moto, ssh-keygen, prlimit, script (./scripts/test installs them)"]
fn faults_while_a_notice_goes_out() {
    common::require_tool("ssh-keygen", "openssh-client");
    common::require_tool("prlimit", "util-linux");
    common::require_tool("script", "bsdutils");
    let moto = Moto::start();
    let mut failed = Vec::new();
    for (n, stop) in STOPS.into_iter().enumerate() {
        if let Err(e) = std::panic::catch_unwind(|| notice_cell(&moto, stop, n)) {
            failed.push(format!("notice × {stop:?}: {}", panic_text(&*e)));
        }
    }
    assert!(failed.is_empty(), "{} of {} cells failed:\n{}", failed.len(), STOPS.len(), failed.join("\n\n"));
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// Every cell of one mode; the failures are collected and reported together.
fn matrix(w: Walk) {
    common::require_tool("ssh-keygen", "openssh-client");
    common::require_tool("prlimit", "util-linux");
    common::require_tool("script", "bsdutils");
    let mut failed = Vec::new();
    let mut ran = 0;
    // BREAKGLASS_FAULT_CELL=text runs only the cells whose name holds it (to look at one).
    let only = std::env::var("BREAKGLASS_FAULT_CELL").unwrap_or_default();
    for phase in w.phases() {
        for stop in STOPS {
            let what = format!("{w:?} × {phase} × {stop:?}");
            if !what.contains(&only) {
                continue;
            }
            ran += 1;
            let started = Instant::now();
            if let Err(e) = std::panic::catch_unwind(|| cell(w, phase, stop)) {
                failed.push(format!("{what}: {}", panic_text(&*e)));
            }
            println!("{what}: {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    assert!(failed.is_empty(), "{} of {ran} cells failed:\n{}", failed.len(), failed.join("\n\n"));
}

#[test]
#[ignore = "needs the test rig: ssh-keygen, prlimit, script (./scripts/test installs them); a few minutes"]
fn faults_in_an_incident() {
    matrix(Walk::Incident);
}

#[test]
#[ignore = "needs the test rig: ssh-keygen, prlimit, script (./scripts/test installs them); a few minutes"]
fn faults_in_a_drill_whose_notice_is_down() {
    matrix(Walk::DrillNoticeDown);
}

#[test]
#[ignore = "needs the test rig: ssh-keygen, prlimit, script (./scripts/test installs them); a few minutes"]
fn faults_in_a_rekey() {
    matrix(Walk::Rekey);
}

#[test]
#[ignore = "needs the test rig: ssh-keygen, prlimit, script (./scripts/test installs them); a few minutes"]
fn faults_in_an_offboarding() {
    matrix(Walk::Offboard);
}

#[test]
#[ignore = "needs the test rig: ssh-keygen, prlimit, script (./scripts/test installs them); a few minutes"]
fn faults_in_a_recovery() {
    matrix(Walk::Recovery);
}

/// Every walk, uninterrupted, ends as its mode should: the matrix's walks are right.
#[test]
fn every_walk_runs_to_its_end() {
    for w in walk::ALL {
        let d = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = w.args().iter().map(|s| s.to_string()).collect();
        if w == Walk::Recovery {
            args.push(interrupted_session(d.path()).display().to_string());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut s, mut child) = pty::spawn_args(d.path(), &a, &[]);
        assert!(walk::walk_to(&mut s, &w.steps(), None), "{w:?}");
        s.keys("q");
        assert!(pty::wait_exit(&mut child).success(), "{w:?}");
        let dir = sessions(d.path()).pop().unwrap();
        let o = run(d.path(), &["verify", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{w:?}: {}", stdout(&o));
    }
}

/// Two ceremonies on one data directory at once: the second (a ceremony, a recovery) is refused
/// before it writes anything, with a message that names the process running the first; once the
/// first ends, the data directory is free again.
#[test]
fn a_second_ceremony_on_the_same_data_directory_is_refused_naming_the_first() {
    let d = tempfile::tempdir().unwrap();
    let (mut s, mut child) = pty::spawn(d.path(), &[]);
    let steps = Walk::Incident.steps();
    assert!(walk::walk_to(&mut s, &steps, Some("runbook")));
    let first = sessions(d.path());
    let pid = child.process_id().unwrap();
    for args in [vec!["demo", "--auto"], vec!["recover", "--auto", first[0].to_str().unwrap()], vec!["demo", "--auto", "--rekey"]] {
        let before = std::fs::read(first[0].join("journal.jsonl")).unwrap();
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("process {pid}")), "{args:?} names the first: {}", stderr(&o));
        assert_eq!(sessions(d.path()), first, "{args:?} started nothing");
        assert_eq!(std::fs::read(first[0].join("journal.jsonl")).unwrap(), before, "{args:?} wrote nothing");
    }
    // Reading is never locked out.
    assert_eq!(run(d.path(), &["verify", first[0].to_str().unwrap()]).status.code(), Some(3));
    pty::abort_and_both_sign(&mut s);
    s.wait_for("ABORTED");
    s.keys("q");
    assert!(pty::wait_exit(&mut child).success());
    let o = run(d.path(), &["demo", "--auto"]);
    assert!(o.status.success(), "free again: {}", stderr(&o));
}

/// Remounts `dir` read-only (a bind mount on itself) until dropped. `None` where mounting is not
/// allowed (not root, no privilege): the caller says so and fails.
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn make(dir: &Path) -> Option<Self> {
        let sh = |args: &[&str]| std::process::Command::new("mount").args(args).status().is_ok_and(|s| s.success());
        let d = dir.to_str().unwrap();
        if !sh(&["--bind", d, d]) {
            return None;
        }
        if !sh(&["-o", "remount,ro,bind", d]) {
            let _ = std::process::Command::new("umount").arg(d).status();
            return None;
        }
        Some(ReadOnly(dir.to_path_buf()))
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The data directory turns read-only mid-session (a disk remounted read-only after an error):
/// the journal, already open, goes on, but nothing new can be created. The notice and the
/// signatures say what could not be written and why; the custodians leave, nothing recorded is
/// lost, and once the directory is writable again `recover` closes and signs the session.
#[test]
#[ignore = "needs the test rig: root and mount (./scripts/test runs as root in CI), ssh-keygen"]
fn a_data_directory_turned_read_only_mid_session_loses_nothing() {
    for at in ["runbook", "signing"] {
        let place = Place::new();
        let steps = Walk::Incident.steps();
        let (mut s, mut child) = place.spawn(&["demo".into()], Stop::Term);
        assert!(walk::walk_to(&mut s, &steps, Some(at)), "{at}");
        let dir = sessions(&place.data).pop().unwrap();
        let before = std::fs::read(dir.join("journal.jsonl")).unwrap();
        let ro = ReadOnly::make(&place.data).expect("cannot remount the data directory read-only: run as root with mount allowed");
        let said = walk::go_on_until(&mut s, &steps, at, |t| t.contains("could not be written") || t.contains("NOT delivered"));
        assert!(said, "{at}: the screen says what could not be written:\n{}", s.text());
        let now = std::fs::read(dir.join("journal.jsonl")).unwrap();
        assert!(now.starts_with(&before), "{at}: nothing recorded is lost");
        pty::signal(&child, "TERM");
        let status = pty::wait_exit(&mut child);
        assert_eq!(status.exit_code(), 3, "{at}: {status:?}");
        drop(ro);
        // From the runbook the walk went on through the closing checklist: both sessions closed.
        what_is_left(&place, &dir, Stop::Term, false);
        notices_once(&outbox(&place.data));
    }
}
