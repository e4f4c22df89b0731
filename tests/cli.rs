//! The command line as a user meets it: exit codes, JSON, and clear errors on bad input. Cases
//! that are one run of the binary (arguments, files, exit code, output) are data in tests/cmd/
//! (tests/cli_cases.rs); these need more than one run or a check of what was left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;

#[test]
fn demo_auto_prints_the_session_dir_last_and_verify_accepts_it() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    assert!(s.starts_with(d.path().join("sessions")));
    let o = run(d.path(), &["verify", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("verdict: VALID"), "{out}");
    assert!(out.contains("DEMO"), "DEMO is labelled: {out}");
    assert!(out.contains("alice checked in"), "a readable timeline: {out}");
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "valid");
    assert_eq!(v["mode"], "incident");
    assert_eq!(v["demo"], true);
    assert_eq!(v["signers"], serde_json::json!(["alice", "bob"]));
    assert_eq!(v["session_id"], s.file_name().unwrap().to_str().unwrap());
    assert!(v["entries"].as_u64().unwrap() > 10);
    assert_eq!(v["problems"], serde_json::json!([]));
}

#[test]
fn verify_exit_codes_invalid_incomplete_and_usage() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &["--drill"]);
    let j = s.join("journal.jsonl");
    let text = std::fs::read_to_string(&j).unwrap();
    // Flip one byte in the middle line's timestamp (as the acceptance check does).
    let mid = text.lines().count() / 2;
    let changed: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == mid { l.replacen("\"ts\":\"2026", "\"ts\":\"2027", 1) } else { l.to_string() })
        .collect();
    std::fs::write(&j, changed.join("\n") + "\n").unwrap();
    let o = run(d.path(), &["verify", "--json", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "invalid");
    assert!(v["problems"].as_array().unwrap().iter().any(|p| p["line"].as_u64().unwrap() > 0));
    std::fs::write(&j, &text).unwrap();
    std::fs::remove_file(s.join("journal.jsonl.bob.sig")).unwrap();
    assert_eq!(run(d.path(), &["verify", s.to_str().unwrap()]).status.code(), Some(3));
    let o = run(d.path(), &["verify", d.path().join("nope").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("journal.jsonl"), "{}", stderr(&o));
}

#[test]
fn verify_with_a_roster_file_the_reviewer_trusts() {
    let d = tempfile::tempdir().unwrap();
    let s = demo_session(d.path(), &[]);
    // The demo roster and its signatures, as a reviewer would keep them.
    let r = d.path().join("trusted");
    std::fs::create_dir(&r).unwrap();
    std::fs::write(r.join("roster.toml"), breakglass::commands::demo::ROSTER).unwrap();
    for (id, sig) in breakglass::commands::demo::roster_sigs() {
        std::fs::write(r.join(format!("roster.toml.{id}.sig")), sig).unwrap();
    }
    let o = run(d.path(), &["verify", "--roster", r.join("roster.toml").to_str().unwrap(), s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains(r.join("roster.toml").to_str().unwrap()));
    // Without bob's roster signature the roster is not trusted: nothing can be judged against it.
    std::fs::remove_file(r.join("roster.toml.bob.sig")).unwrap();
    let o = run(d.path(), &["verify", "--roster", r.join("roster.toml").to_str().unwrap(), s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("NOT trusted"), "{}", stderr(&o));
}

#[test]
fn seal_refuses_bad_input_without_leaving_a_partial_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("roster.toml"), breakglass::commands::demo::ROSTER).unwrap();
    let o = run(
        d.path(),
        &[
            "seal",
            "--roster",
            d.path().join("roster.toml").to_str().unwrap(),
            d.path().join("missing.md").to_str().unwrap(),
            "-o",
            d.path().join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read the runbook"), "{}", stderr(&o));
    assert!(!d.path().join("out").exists());
    // A recipient that is not an age recipient.
    std::fs::write(d.path().join("rb.md"), "- [ ] x\n").unwrap();
    let bad = breakglass::commands::demo::ROSTER.replacen("age1", "age2", 1);
    std::fs::write(d.path().join("bad.toml"), bad).unwrap();
    let o = run(
        d.path(),
        &[
            "seal",
            "--roster",
            d.path().join("bad.toml").to_str().unwrap(),
            d.path().join("rb.md").to_str().unwrap(),
            "-o",
            d.path().join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("age_recipient"), "{}", stderr(&o));
    assert!(!d.path().join("out").exists());
    // An existing output directory is never overwritten.
    std::fs::create_dir(d.path().join("out")).unwrap();
    let o = run(
        d.path(),
        &[
            "seal",
            "--roster",
            d.path().join("roster.toml").to_str().unwrap(),
            d.path().join("rb.md").to_str().unwrap(),
            "-o",
            d.path().join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".breakglass-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_sealed_directory_that_was_changed_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("roster.toml"), breakglass::commands::demo::ROSTER).unwrap();
    std::fs::write(d.path().join("rb.md"), "- [ ] x\n").unwrap();
    let o = run(
        d.path(),
        &[
            "seal",
            "--roster",
            d.path().join("roster.toml").to_str().unwrap(),
            d.path().join("rb.md").to_str().unwrap(),
            "-o",
            d.path().join("s").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(breakglass::core::seal::Sealed::read_dir(&d.path().join("s")).is_ok());
    let f = d.path().join("s/alice+bob.age");
    let mut b = std::fs::read(&f).unwrap();
    let n = b.len() - 5;
    b[n] ^= 1;
    std::fs::write(&f, b).unwrap();
    let e = breakglass::core::seal::Sealed::read_dir(&d.path().join("s")).unwrap_err().to_string();
    assert!(e.contains("alice+bob.age") && e.contains("re-seal"), "{e}");
    std::fs::write(d.path().join("s/MANIFEST.toml"), "format = 1\nquorum = \n").unwrap();
    let e = breakglass::core::seal::Sealed::read_dir(&d.path().join("s")).unwrap_err().to_string();
    assert!(e.contains("MANIFEST.toml line 2"), "{e}");
}

#[test]
fn drill_report_counts_valid_drills_only() {
    let d = tempfile::tempdir().unwrap();
    let good = demo_session(d.path(), &["--drill"]);
    let _incident = demo_session(d.path(), &[]);
    let bad = demo_session(d.path(), &["--drill"]);
    let j = bad.join("journal.jsonl");
    let t = std::fs::read_to_string(&j).unwrap().replacen("quarterly", "x", 1).replacen("\"steps\":13", "\"steps\":12", 1);
    std::fs::write(&j, t).unwrap();
    let o = run(d.path(), &["drill", "report", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let drills = v["drills"].as_array().unwrap();
    assert_eq!(drills.len(), 2, "the incident session is not a drill");
    let valid: Vec<&str> = drills.iter().filter(|x| x["valid"] == true).map(|x| x["session_id"].as_str().unwrap()).collect();
    assert_eq!(valid, [good.file_name().unwrap().to_str().unwrap()]);
    assert_eq!(v["overdue"], false);
    assert!(drills[0]["time_to_runbook_s"].as_f64().is_some());
}

/// One chain head per moment, labelled with its entry: what the demo prints, what verify prints,
/// and what the "root released" notice carries (the head when it was sent) agree.
#[test]
fn the_chain_heads_agree_and_name_their_entry() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["demo", "--auto"]);
    assert!(o.status.success());
    let s = std::path::PathBuf::from(stdout(&o).lines().last().unwrap().trim());
    let printed = stderr(&o).lines().find(|l| l.starts_with("chain head at entry #")).unwrap().to_string();
    let v = run(d.path(), &["verify", s.to_str().unwrap()]);
    let text = stdout(&v);
    let (entry, words) = printed.trim_start_matches("chain head at entry #").split_once(": ").unwrap();
    assert!(text.contains(&format!("chain head at entry #{entry}:")), "{text}");
    assert!(text.contains(&format!("words: {words}")), "{text}");
    // The released notice names the entry its head belongs to, with the same kind of words.
    let journal = std::fs::read(s.join("journal.jsonl")).unwrap();
    let lines: Vec<&[u8]> = journal.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let notice = std::fs::read_dir(d.path().join("outbox"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("-released-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&notice).unwrap();
    let n = v["notice"]["journal_entry"].as_u64().unwrap() as usize;
    let head: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(lines[n]).into();
    assert_eq!(v["notice"]["journal_hash"], hex::encode(head));
    assert_eq!(v["notice"]["journal_words"], breakglass::core::notice::head_words(&head));
    assert!(v["body"].as_str().unwrap().contains(&format!("journal head (entry #{n})")));
}

/// No silent fallbacks: an unknown scenario custodian, a misspelt data dir, and --since after the
/// last drill each say what they are about.
#[test]
fn no_silent_fallbacks() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["demo", "--drill", "--scenario", "key-missing:dave"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key-missing:dave") && stderr(&o).contains("alice, bob, carol"), "{}", stderr(&o));
    let o = run(&d.path().join("typo"), &["drill", "report"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("typo") && stderr(&o).contains("--data-dir"), "{}", stderr(&o));
    let _ = demo_session(d.path(), &["--drill"]);
    let o = run(d.path(), &["drill", "report", "--format", "json", "--since", "2099-01-01"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["drills"].as_array().unwrap().len(), 0);
    assert_eq!(v["overdue"], false, "a drill today is not overdue, whatever --since lists");
    // No config: the message names where it looked.
    let o = std::process::Command::new(common::bin())
        .args(["--data-dir", d.path().to_str().unwrap(), "ceremony", "--reason", "x"])
        .env("HOME", d.path())
        .env("XDG_CONFIG_HOME", d.path().join("cfg"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(d.path().join("cfg").to_str().unwrap()), "{}", stderr(&o));
}

/// A data directory that cannot take a journal is reported before anything starts.
#[test]
fn an_unwritable_data_dir_is_reported_before_the_ceremony_starts() {
    let o = run(std::path::Path::new("/proc/breakglass-nowhere"), &["demo", "--auto"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/proc/breakglass-nowhere/sessions") && stderr(&o).contains("nothing was started"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

/// An interrupted session is named by `doctor` (root may still be in use) with the command that
/// closes it.
#[test]
fn doctor_names_interrupted_sessions() {
    let d = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(common::bin())
        .args(["--data-dir", d.path().to_str().unwrap(), "demo", "--auto"])
        .env("BREAKGLASS_TEST_CRASH_AFTER", "4")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = run(d.path(), &["doctor"]);
    assert!(stdout(&o).contains("interrupted") && stdout(&o).contains("breakglass recover"), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(1));
}

/// Shell completions and the man page come from the same clap definitions as `--help`.
#[test]
fn completions_and_man_page() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["completions", "bash"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("recover") && stdout(&o).contains("runbook"), "{}", stdout(&o));
    let o = run(d.path(), &["man"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains(".TH breakglass 1") && stdout(&o).contains("recover"));
    assert!(stdout(&o).contains(".SH \"EXIT STATUS\""), "{}", stdout(&o));
    // Every page the main page names can be produced.
    for sub in ["verify", "recover", "audit", "drill"] {
        let o = run(d.path(), &["man", sub]);
        assert!(o.status.success(), "{sub}: {}", stderr(&o));
        assert!(stdout(&o).contains(&format!(".TH breakglass-{sub} 1")) && stdout(&o).contains("EXIT STATUS"), "{}", stdout(&o));
    }
    assert_eq!(run(d.path(), &["man", "nope"]).status.code(), Some(2));
}

/// A data directory owned by another user is refused before anything starts (run as root, the
/// test hands the directory to `nobody`; as another user it checks the same with a root-owned one).
#[test]
fn a_data_dir_owned_by_another_user_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let other =
        if std::fs::metadata("/").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0) == rustix::process::geteuid().as_raw() {
            // We are root: give the directory away.
            let ok = std::process::Command::new("chown").args(["nobody", d.path().to_str().unwrap()]).status().unwrap().success();
            assert!(ok, "chown is needed for this test");
            d.path().to_path_buf()
        } else {
            std::path::PathBuf::from("/")
        };
    let o = run(&other, &["demo", "--auto"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("belongs to user"), "{}", stderr(&o));
}

/// Found by review: a FIFO (or /dev/zero) given as the config hung every command.
#[test]
fn a_config_that_is_not_a_regular_file_is_an_error_at_once() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("breakglass.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for cfg in [fifo.to_str().unwrap(), "/dev/zero"] {
        let o = std::process::Command::new(bin())
            .args(["--config", cfg, "--data-dir", d.path().to_str().unwrap(), "doctor"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{cfg}: {}", stderr(&o));
        assert!(stderr(&o).contains("cannot read the config file"), "{cfg}: {}", stderr(&o));
    }
}

/// Issue "the screen at the safe", item 16: a file given as the data directory, and `demo
/// --archive` with no archive configured, are refused with what to do (never ignored).
#[test]
fn a_file_as_data_dir_and_demo_archive_without_an_archive_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("afile");
    std::fs::write(&file, b"").unwrap();
    let o = run(&file, &["demo", "--auto"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a file, not a directory"), "{}", stderr(&o));
    let o = run(&d.path().join("data"), &["demo", "--auto", "--archive"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("[archive]"), "{}", stderr(&o));
    assert!(!d.path().join("data").join("sessions").exists(), "nothing was started");
}
