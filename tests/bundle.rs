//! Session bundles on disk: what verify says about complete, tampered and interrupted sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::adapters::session::drive;
use breakglass::core::ceremony::{Intent, Mode, Phase};
use breakglass::core::clock::FixedClock;
use breakglass::core::verify::Status;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn setup(data: &Path) -> (breakglass::core::ceremony::Ceremony, breakglass::adapters::session::Runner) {
    breakglass::commands::demo::setup(
        data,
        Arc::new(FixedClock::new()),
        breakglass::adapters::session::Outside::outbox(data.join("outbox")),
    )
    .unwrap()
}

/// The unattended script, one intent at a time (each drives its own effects to the end).
fn script(c: &breakglass::core::ceremony::Ceremony, r: &mut breakglass::adapters::session::Runner, step: usize) -> Option<Intent> {
    let pins = ["314159", "271828"];
    let serials = [10000001, 10000002];
    Some(match step {
        0 => Intent::Begin { mode: Mode::Drill, reason: "quarterly drill".into(), ticket: None, scenario: Default::default() },
        1 | 4 => r.present(serials[(step - 1) / 3]),
        2 | 5 => Intent::PinEntered(SecretString::from(pins[(step - 2) / 3].to_string())),
        3 | 6 => Intent::Touch,
        7..=19 if step - 7 < c.done().len() => Intent::ToggleStep(step - 7),
        20 => Intent::FinishRunbook,
        21..=24 => Intent::ToggleClosing(step - 21),
        25 => Intent::ConfirmClose,
        26 | 27 => Intent::Touch,
        _ => return None,
    })
}

fn play(data: &Path, stop_after: usize) -> PathBuf {
    let (mut c, mut r) = setup(data);
    for step in 0..stop_after {
        if let Some(i) = script(&c, &mut r, step) {
            drive(&mut c, &mut r, i);
        }
    }
    r.dir.clone()
}

fn verify(dir: &Path) -> breakglass::core::verify::Report {
    breakglass::core::verify::verify(dir, &Default::default(), None).unwrap()
}

#[test]
fn a_complete_session_is_valid_with_two_signers_and_marked_drill() {
    let d = tempfile::tempdir().unwrap();
    let dir = play(d.path(), 100);
    let r = verify(&dir);
    assert_eq!(r.status, Status::Valid, "{:?}", r.problems);
    assert_eq!(r.signers, ["alice", "bob"]);
    assert_eq!(r.mode, breakglass::core::mode::Mode::Drill);
    assert!(r.demo);
    assert_eq!(r.outcome.as_deref(), Some("closed"));
    assert!(r.timeline.iter().any(|e| e.kind == "runbook.unsealed"));
    for f in ["journal.jsonl", "journal.jsonl.alice.sig", "journal.jsonl.bob.sig", "allowed_signers", "roster.toml", "VERIFY.md"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn a_process_stopped_at_any_point_is_incomplete_never_valid() {
    for stop in 1..28 {
        let d = tempfile::tempdir().unwrap();
        let dir = play(d.path(), stop);
        let r = verify(&dir);
        assert_eq!(r.status, Status::Incomplete, "stopped after step {stop}: {:?} {:?}", r.problems, r.warnings);
    }
}

#[test]
fn a_partial_last_line_is_incomplete_and_names_the_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = play(d.path(), 8);
    let j = dir.join("journal.jsonl");
    let mut bytes = std::fs::read(&j).unwrap();
    let n = bytes.iter().filter(|&&b| b == b'\n').count();
    bytes.extend_from_slice(b"{\"seq\":99,\"ts\":\"2026-");
    std::fs::write(&j, bytes).unwrap();
    let r = verify(&dir);
    assert_eq!(r.status, Status::Incomplete);
    assert_eq!(r.problems[0].line, n + 1);
}

fn complete() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = play(d.path(), 100);
    (d, dir)
}

fn edit_line(dir: &Path, line: usize, f: impl Fn(&str) -> String) {
    let j = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&j).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[line - 1] = f(&lines[line - 1]);
    std::fs::write(&j, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_changed_line_is_invalid_and_names_the_line_after_it() {
    let (_d, dir) = complete();
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let n = text.lines().position(|l| l.contains("\"kind\":\"step.done\"")).unwrap() + 1;
    edit_line(&dir, n, |l| l.replace("\"step\":1}", "\"step\":9}"));
    assert_ne!(std::fs::read_to_string(dir.join("journal.jsonl")).unwrap(), text);
    let r = verify(&dir);
    assert_eq!(r.status, Status::Invalid);
    assert!(r.problems.iter().any(|p| p.line == n + 1), "{:?}", r.problems);
}

#[test]
fn a_changed_last_line_is_caught_by_the_signatures() {
    let (_d, dir) = complete();
    let n = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap().lines().count();
    edit_line(&dir, n, |l| l.replace("outbox-", "outbox-x"));
    let r = verify(&dir);
    assert_eq!(r.status, Status::Invalid);
    assert!(r.problems.iter().any(|p| p.what.contains("journal.jsonl.alice.sig")), "{:?}", r.problems);
}

#[test]
fn dropping_the_final_lines_and_the_signatures_is_never_valid() {
    let (_d, dir) = complete();
    let j = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&j).unwrap();
    let keep: Vec<&str> = text.lines().take(10).collect();
    std::fs::write(&j, keep.join("\n") + "\n").unwrap();
    // With the old signatures: invalid.
    assert_eq!(verify(&dir).status, Status::Invalid);
    std::fs::remove_file(dir.join("journal.jsonl.alice.sig")).unwrap();
    std::fs::remove_file(dir.join("journal.jsonl.bob.sig")).unwrap();
    assert_eq!(verify(&dir).status, Status::Incomplete);
}

#[test]
fn one_signature_is_not_enough() {
    let (_d, dir) = complete();
    std::fs::remove_file(dir.join("journal.jsonl.bob.sig")).unwrap();
    let r = verify(&dir);
    assert_eq!(r.status, Status::Incomplete);
    assert_eq!(r.signers, ["alice"]);
}

#[test]
fn a_signature_copied_under_another_name_is_refused() {
    let (_d, dir) = complete();
    // alice's signature presented as carol's: made by a key that is not carol's.
    std::fs::copy(dir.join("journal.jsonl.alice.sig"), dir.join("journal.jsonl.carol.sig")).unwrap();
    let r = verify(&dir);
    assert_eq!(r.status, Status::Invalid);
    // alice's signature presented as bob's: likewise.
    std::fs::remove_file(dir.join("journal.jsonl.carol.sig")).unwrap();
    std::fs::copy(dir.join("journal.jsonl.alice.sig"), dir.join("journal.jsonl.bob.sig")).unwrap();
    assert_eq!(verify(&dir).status, Status::Invalid);
}

#[test]
fn a_forged_check_in_is_invalid() {
    let (_d, dir) = complete();
    // Line 3 is bob's check-in; claim it was carol.
    edit_line(&dir, 3, |l| l.replace("\"custodian\":\"bob\"", "\"custodian\":\"carol\""));
    let r = verify(&dir);
    assert_eq!(r.status, Status::Invalid);
    assert!(r.problems.iter().any(|p| p.line == 3 || p.line == 4), "{:?}", r.problems);
}

#[test]
fn signers_are_checked_against_the_trusted_roster_not_the_bundle() {
    let (_d, dir) = complete();
    // A reviewer's roster in which bob has another key: bob's signature must not count.
    let other = tempfile::tempdir().unwrap();
    let key = ssh_key::PrivateKey::random(&mut rand_core(), ssh_key::Algorithm::Ecdsa { curve: ssh_key::EcdsaCurve::NistP256 }).unwrap();
    let text = breakglass::commands::demo::ROSTER.replace(
        &breakglass::commands::demo::roster().custodian("bob").unwrap().signing_key,
        key.public_key().to_openssh().unwrap().trim(),
    );
    let p = other.path().join("roster.toml");
    std::fs::write(&p, text).unwrap();
    // A roster that is not signed by a quorum is refused as an anchor (exit 2), never used.
    let e = breakglass::core::verify::verify(&dir, &Default::default(), Some(&p)).unwrap_err();
    assert!(matches!(e, breakglass::core::verify::VerifyError::Trust(_)), "{e}");
    // Signed by a quorum of its own (with bob's new key): bob's old signature does not count.
    let sign = |id: &str, k: &ssh_key::PrivateKey| {
        let sig = k.sign("breakglass-roster", ssh_key::HashAlg::Sha512, &std::fs::read(&p).unwrap()).unwrap();
        std::fs::write(other.path().join(format!("roster.toml.{id}.sig")), sig.to_pem(ssh_key::LineEnding::LF).unwrap()).unwrap();
    };
    let alice = ssh_key::PrivateKey::from_openssh(include_str!("../assets/demo/alice.ssh")).unwrap();
    sign("alice", &alice);
    sign("bob", &key);
    let r = breakglass::core::verify::verify(&dir, &Default::default(), Some(&p)).unwrap();
    assert_eq!(r.status, Status::Invalid);
    assert!(r.problems.iter().any(|p| p.kind == breakglass::core::journal::ProblemKind::Roster), "{:?}", r.problems);
}

fn rand_core() -> ssh_key::rand_core::OsRng {
    ssh_key::rand_core::OsRng
}

#[test]
fn the_bundle_roster_must_be_quorum_signed_for_a_real_session() {
    let (_d, dir) = complete();
    // Turn the DEMO session into a claimed real one: the chain breaks at once.
    edit_line(&dir, 1, |l| l.replace(",\"demo\":true", ""));
    let r = verify(&dir);
    assert_eq!(r.status, Status::Invalid);
}

#[test]
fn an_aborted_session_is_recorded_and_still_signed() {
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(d.path());
    for step in 0..10 {
        if let Some(i) = script(&c, &mut r, step) {
            drive(&mut c, &mut r, i);
        }
    }
    drive(&mut c, &mut r, Intent::RequestAbort);
    drive(&mut c, &mut r, Intent::ConfirmAbort);
    // Root was in use: the closing checklist, each item recorded as not done, then the release.
    assert_eq!(*c.phase(), Phase::Closing);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        drive(&mut c, &mut r, Intent::ClosingNotDone(i));
    }
    drive(&mut c, &mut r, Intent::ConfirmClose);
    drive(&mut c, &mut r, Intent::Touch);
    drive(&mut c, &mut r, Intent::Touch);
    assert_eq!(*c.phase(), Phase::Summary);
    let rep = verify(&r.dir);
    assert_eq!(rep.status, Status::Valid, "{:?}", rep.problems);
    assert_eq!(rep.outcome.as_deref(), Some("aborted"));
    assert_eq!(rep.timeline.iter().filter(|e| e.kind == "closing.not_done").count(), 4);
    let outbox: Vec<String> =
        std::fs::read_dir(d.path().join("outbox")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(outbox.iter().any(|n| n.contains("-aborted-")), "{outbox:?}");
}

#[test]
fn nothing_secret_reaches_the_journal_or_the_outbox() {
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(d.path());
    for step in 0..10 {
        if let Some(i) = script(&c, &mut r, step) {
            drive(&mut c, &mut r, i);
        }
    }
    drive(&mut c, &mut r, Intent::Reveal(0));
    drive(&mut c, &mut r, Intent::Reveal(1));
    let mut all = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    for e in std::fs::read_dir(d.path().join("outbox")).unwrap() {
        all.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    assert!(all.contains("secret.revealed"));
    for needle in ["314159", "271828", "DEMO-ONLY-correct-horse", "DEMO-7731", "AGE-SECRET-KEY", "aws sts get-caller-identity"] {
        assert!(!all.contains(needle), "`{needle}` leaked");
    }
}

#[test]
fn notices_carry_session_mode_custodians_and_matching_hashes() {
    let d = tempfile::tempdir().unwrap();
    let dir = play(d.path(), 100);
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let genesis = breakglass::core::verify::sha256_hex(journal.lines().next().unwrap().as_bytes());
    let mut found = 0;
    for e in std::fs::read_dir(d.path().join("outbox")).unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let n = &v["notice"];
        assert!(v["subject"].as_str().unwrap().starts_with("[DRILL] [DEMO] "), "{}", v["subject"]);
        assert_eq!(v["attributes"]["mode"], "drill");
        assert_eq!(v["attributes"]["session_id"], dir.file_name().unwrap().to_str().unwrap());
        match n["phase"].as_str().unwrap() {
            "in_use" => assert_eq!(n["journal_hash"], genesis),
            "released" => {
                // The head it carries is the `prev` of the line that records it.
                let sent = lines.iter().find(|l| l["kind"] == "notice.sent" && l["phase"] == "released").unwrap();
                assert_eq!(n["journal_hash"], sent["prev"]);
            }
            other => panic!("unexpected notice {other}"),
        }
        assert_eq!(n["custodians"].as_array().unwrap().len(), 2);
        found += 1;
    }
    assert_eq!(found, 2);
}

/// A wall clock that runs 10 ms per reading and, after `after` readings, steps by `jump_ms`.
struct JumpClock {
    base: chrono::DateTime<chrono::Utc>,
    readings: std::sync::atomic::AtomicI64,
    after: i64,
    jump_ms: i64,
}

impl breakglass::core::clock::Clock for JumpClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let n = self.readings.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let jump = if n >= self.after { self.jump_ms } else { 0 };
        self.base + chrono::Duration::milliseconds(n * 10 + jump)
    }
    fn mono_ms(&self) -> u64 {
        (self.readings.load(std::sync::atomic::Ordering::SeqCst) * 10) as u64
    }
}

/// The wall clock stepping backwards (or jumping ahead) mid-ceremony is journalled as
/// `clock.jump`, times never go backwards in the journal, and the session stays valid.
#[test]
fn a_wall_clock_jump_is_journalled_and_the_session_stays_valid() {
    for jump_ms in [-3_600_000i64, 7_200_000] {
        let d = tempfile::tempdir().unwrap();
        let clock = std::sync::Arc::new(JumpClock {
            base: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, 3, 0, 0).unwrap(),
            readings: Default::default(),
            after: 8,
            jump_ms,
        });
        let (mut c, mut r) =
            breakglass::commands::demo::setup(d.path(), clock, breakglass::adapters::session::Outside::outbox(d.path().join("outbox")))
                .unwrap();
        breakglass::commands::demo::play(&mut c, &mut r, breakglass::core::ceremony::Mode::Drill, "clock test", Default::default());
        let rep = breakglass::core::verify::verify(&r.dir, &Default::default(), None).unwrap();
        assert_eq!(rep.status, Status::Valid, "jump {jump_ms}: {:?}", rep.problems);
        assert_eq!(rep.clock_jumps, 1, "jump {jump_ms}");
        assert!(rep.timeline.iter().any(|e| e.kind == "clock.jump"));
        assert!(rep.warnings.iter().any(|w| w.contains("wall clock jumped")));
    }
}

/// Rewrites a bundle's journal with `edit` applied to entry `at` and every `prev` recomputed, as
/// someone holding the file could (the co-signatures then fail too; the point is which problems
/// verify names).
fn rechain_with(dir: &Path, at: usize, edit: impl Fn(&mut serde_json::Value)) {
    use sha2::Digest;
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, l) in text.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        if i == at {
            edit(&mut v);
        }
        v["prev"] = serde_json::Value::from(prev.clone());
        let line = serde_json::to_string(&v).unwrap();
        prev = hex::encode(sha2::Sha256::digest(line.as_bytes()));
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(dir.join("journal.jsonl"), out).unwrap();
}

/// The checks verify makes while it parses on both cores (labels, a second session.opened) find
/// the entry wherever it falls in a long journal.
#[test]
fn a_changed_label_or_a_second_session_opened_is_found_in_either_half() {
    let (_d, dir) = complete();
    let n = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap().lines().count();
    for at in [2, n - 3] {
        let copy = tempfile::tempdir().unwrap();
        let c = copy.path().join("s");
        std::fs::create_dir(&c).unwrap();
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::copy(e.path(), c.join(e.file_name())).unwrap();
        }
        rechain_with(&c, at, |v| v["mode"] = "incident".into());
        let r = breakglass::core::verify::verify(&c, &Default::default(), None).unwrap();
        assert_eq!(r.status, Status::Invalid);
        assert!(
            r.problems.iter().any(|p| p.kind == breakglass::core::journal::ProblemKind::Label && p.line == at + 1),
            "entry {at}: {:?}",
            r.problems
        );
        rechain_with(&c, at, |v| v["kind"] = "session.opened".into());
        let r = breakglass::core::verify::verify(&c, &Default::default(), None).unwrap();
        assert!(r.problems.iter().any(|p| p.what.contains("second session.opened") && p.line == at + 1), "entry {at}: {:?}", r.problems);
    }
}

#[test]
fn a_journal_rewritten_on_disk_during_the_ceremony_is_never_signed() {
    // Found by review: at the signing screen another process replaced journal.jsonl with a
    // re-chained forgery, and both custodians' signatures then covered it (verify: VALID).
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = setup(d.path());
    for step in 0..26 {
        if let Some(i) = script(&c, &mut r, step) {
            drive(&mut c, &mut r, i);
        }
    }
    assert!(matches!(c.phase(), Phase::Sign { .. }), "{:?}", c.phase());
    let j = r.dir.join("journal.jsonl");
    let written = std::fs::read(&j).unwrap();
    common::forge_chain(&j, |mut lines| {
        lines[0] = lines[0].replace("quarterly drill", "nothing happened");
        lines
    });
    assert!(breakglass::core::journal::check_chain(&std::fs::read(&j).unwrap()).problems.is_empty(), "a well-made forgery");
    drive(&mut c, &mut r, Intent::Touch);
    assert!(
        matches!(c.phase(), Phase::Sign { stage: breakglass::core::ceremony::SignStage::Failed(_), .. }),
        "{:?} {:?}",
        c.phase(),
        c.message()
    );
    assert!(!r.dir.join("journal.jsonl.alice.sig").exists(), "nothing was signed");
    // Put back as the ceremony wrote it, the journal is signed.
    std::fs::write(&j, &written).unwrap();
    drive(&mut c, &mut r, Intent::Touch);
    drive(&mut c, &mut r, Intent::Touch);
    assert_eq!(*c.phase(), Phase::Summary, "{:?}", c.message());
    assert_eq!(verify(&r.dir).status, Status::Valid);
}
