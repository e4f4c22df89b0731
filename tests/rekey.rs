#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
//! Rekey: the next roster version and the runbook sealed again for it, checked with stock tools.
//! Keys come from stock `ssh-keygen` and `age-keygen`; the new runbook is opened with stock `age`;
//! every crash point of the swap leaves the old state or the new one, never a mix.

mod common;

use breakglass::adapters::token::Token;
use breakglass::adapters::token::soft::SoftToken;
use breakglass::core::ceremony::{Say, SlotIx};
use breakglass::core::rekey::{self, Change, Paths, Settled, Step};
use breakglass::core::roster::{Custodian, Roster, Signatures};
use breakglass::core::seal::{self, Sealed};
use common::forge::{Org, Person, person, ssh_sign};
use common::{said, stdout};
use std::path::Path;
use std::process::Command;

const RUNBOOK: &str = "# Root recovery\n\n1. Open the console.\n2. Rotate the root password.\n";

fn custodian(p: &Person) -> Custodian {
    Custodian {
        id: p.id.clone(),
        name: format!("{} Example", p.id),
        email: format!("{}@example.com", p.id),
        yubikey_serial: p.serial,
        signing_key: p.public.clone(),
        age_recipient: p.recipient.clone(),
        attestation: vec![],
    }
}

fn token(p: &Person) -> Box<dyn Token> {
    let mut t = SoftToken::from_files_text(
        p.serial,
        &std::fs::read_to_string(&p.ssh).unwrap(),
        &std::fs::read_to_string(&p.agekey).unwrap(),
        "123456",
    )
    .unwrap();
    t.verify_pin(&secrecy::SecretString::from("123456".to_string())).unwrap();
    Box::new(t)
}

/// `ssh-keygen -Y sign` of `bytes` by each of `who` (stock tool, as the custodians would).
fn stock_sigs(dir: &Path, name: &str, namespace: &str, bytes: &[u8], who: &[&Person]) -> Signatures {
    let f = dir.join(name);
    std::fs::write(&f, bytes).unwrap();
    let mut sigs = Signatures::new();
    for p in who {
        ssh_sign(p, &p.id, namespace, &f);
        sigs.insert(p.id.clone(), std::fs::read(format!("{}.{}.sig", f.display(), p.id)).unwrap());
    }
    sigs
}

/// The org's runbook sealed for v1 and signed by alice and bob, at `<org>/runbook`.
fn sealed_v1(org: &Org) -> Paths {
    let runbook = org.path().join("runbook");
    let v1 = Roster::load(&org.roster()).unwrap();
    let mut s = seal::seal(&v1, RUNBOOK.as_bytes()).unwrap();
    s.signatures =
        stock_sigs(&org.path().join("keys"), "m1", breakglass::core::sign::RUNBOOK_NAMESPACE, &s.manifest_bytes, &[&org.alice, &org.bob]);
    s.write_dir(&runbook).unwrap();
    let cfg = std::fs::read_to_string(org.config()).unwrap();
    std::fs::write(org.config(), cfg.replacen("[paths]\n", &format!("[paths]\nrunbook = \"{}\"\n", runbook.display()), 1)).unwrap();
    Paths { roster: org.roster(), runbook }
}

/// alice and bob (v1's quorum) remove carol and add dave; everything staged and checked.
fn rekey_remove_carol_add_dave(org: &Org, dave: &Person, paths: &Paths) -> Roster {
    let v1 = Roster::load(&paths.roster).unwrap();
    let plan = rekey::plan(&v1, &Change { add: vec![custodian(dave)], remove: vec!["carol".into()], quorum: None }).unwrap();
    let keys = org.path().join("keys");
    // The runbook, unsealed by the quorum present.
    let mut tokens = vec![token(&org.alice), token(&org.bob), token(dave)];
    let live = Sealed::read_dir(&paths.runbook).unwrap();
    let serial_of = |id: &str| v1.custodian(id).map(|c| c.yubikey_serial);
    let text = seal::unseal_with(&live, &["alice".into(), "bob".into()], &mut tokens, &serial_of).unwrap();
    // Signed by v1's quorum, the newcomer and v2's quorum (alice and bob are both).
    let roster_sigs = stock_sigs(&keys, "v2", breakglass::core::sign::ROSTER_NAMESPACE, &plan.new.bytes, &[&org.alice, &org.bob, dave]);
    let mut sealed = seal::seal(&plan.new, text.as_bytes()).unwrap();
    sealed.signatures = stock_sigs(&keys, "m2", breakglass::core::sign::RUNBOOK_NAMESPACE, &sealed.manifest_bytes, &[&org.alice, &org.bob]);
    rekey::stage(paths, &plan.new, &roster_sigs, &sealed).unwrap();
    let new = plan.new.clone();
    let serial_new = |id: &str| new.custodian(id).map(|c| c.yubikey_serial);
    let present: Vec<String> = ["alice", "bob", "dave"].map(String::from).to_vec();
    let opened =
        rekey::check_staged(paths, &plan.new, RUNBOOK.as_bytes(), &present, breakglass::core::sign::RUNBOOK_NAMESPACE, &mut |id, ct| {
            let s = serial_new(id).unwrap();
            tokens.iter_mut().find(|t| t.info().serial == s).unwrap().decrypt_layer(ct)
        })
        .unwrap();
    assert_eq!(opened, ["alice+bob.age", "alice+dave.age", "bob+dave.age"]);
    plan.new
}

/// Stock `age`, outermost layer first.
fn stock_open(file: &Path, first: &Person, second: &Person) -> Option<String> {
    let one = Command::new("age").arg("-d").arg("-i").arg(&first.agekey).arg(file).output().unwrap();
    if !one.status.success() {
        return None;
    }
    let mut two = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&second.agekey)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    two.stdin.take().unwrap().write_all(&one.stdout).unwrap();
    let out = two.wait_with_output().unwrap();
    out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
}

#[test]
fn a_plan_refuses_what_it_cannot_do_and_shows_the_diff() {
    let v1 = breakglass::core::roster::demo();
    assert_eq!(rekey::plan(&v1, &Change::default()).unwrap_err(), rekey::Refusal::NoChange);
    let r = rekey::plan(&v1, &Change { remove: vec!["mallory".into()], ..Default::default() });
    assert_eq!(r.unwrap_err(), rekey::Refusal::NotACustodian { id: "mallory".into(), version: 1 });
    let bob = v1.custodian("bob").unwrap().clone();
    let r = rekey::plan(&v1, &Change { add: vec![bob], ..Default::default() });
    assert_eq!(r.unwrap_err(), rekey::Refusal::AlreadyACustodian { id: "bob".into() });
    // Removing two of three leaves one: dual control needs two.
    let r = rekey::plan(&v1, &Change { remove: vec!["bob".into(), "carol".into()], ..Default::default() });
    assert!(matches!(r.unwrap_err(), rekey::Refusal::Invalid(w) if w.contains("at least two")));
    // A newcomer with bob's key under another id is refused as a duplicate key.
    let mut twin = v1.custodian("bob").unwrap().clone();
    twin.id = "bobby".into();
    twin.yubikey_serial = 4242;
    let r = rekey::plan(&v1, &Change { add: vec![twin], ..Default::default() });
    assert!(matches!(r.unwrap_err(), rekey::Refusal::Invalid(w) if w.contains("share")));
    // Removing carol and raising nothing: the diff, the quorums afterwards, who must sign.
    let p = rekey::plan(&v1, &Change { remove: vec!["carol".into()], ..Default::default() }).unwrap();
    assert_eq!((p.new.version, p.new.previous.as_deref()), (2, Some(v1.sha256().as_str())));
    let diff: Vec<String> = p.diff().iter().map(ToString::to_string).collect();
    assert_eq!(diff[2], format!("- carol ({}, YubiKey {})", v1.custodians[2].name, v1.custodians[2].yubikey_serial));
    assert_eq!(p.quorums_after(), [vec!["alice".to_string(), "bob".to_string()]]);
    assert_eq!(p.missing_signers(&["alice".into()]).len(), 2);
    assert!(p.missing_signers(&["alice".into(), "bob".into()]).is_empty());
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_rekey_opens_for_exactly_the_new_quorums_and_chains_to_the_old_roster() {
    let org = Org::new();
    let paths = sealed_v1(&org);
    let dave = person(&org.path().join("keys"), "dave", 1004);
    let v2 = rekey_remove_carol_add_dave(&org, &dave, &paths);
    // Killed right after the commit point: a read-only command (`roster check`) only warns;
    // `roster settle` (or the next ceremony) finishes it and says so; then v2 is trusted through
    // the chain from the pinned v1.
    rekey::commit(&paths, Some(Step::Exchanged)).unwrap();
    assert!(paths.pending());
    let o = org.check();
    assert!(common::stderr(&o).contains("an interrupted rekey left its staging"), "{}", common::stderr(&o));
    assert!(paths.pending(), "a read-only command changed files");
    let o = org.bg(&["roster", "settle"]);
    assert!(common::stderr(&o).contains("it was finished"), "{}", common::stderr(&o));
    assert!(!paths.pending());
    let o = org.check();
    assert_eq!(Roster::load(&org.roster()).unwrap().bytes, v2.bytes);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("version 2"), "{}", stdout(&o));
    // `runbook check` accepts the new sealing.
    let o = org.bg(&["runbook", "check", paths.runbook.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), common::stderr(&o));
    // Stock age: every new quorum opens it; no file names carol, and carol's key opens no layer.
    let names: Vec<String> = std::fs::read_dir(&paths.runbook)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".age"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["alice+bob.age", "alice+dave.age", "bob+dave.age"]);
    let people = [&org.alice, &org.bob, &dave];
    for n in &names {
        let ids: Vec<&str> = n.trim_end_matches(".age").split('+').collect();
        let who: Vec<&Person> = ids.iter().map(|id| *people.iter().find(|p| p.id == *id).unwrap()).collect();
        assert_eq!(stock_open(&paths.runbook.join(n), who[0], who[1]).as_deref(), Some(RUNBOOK), "{n}");
        for p in people {
            assert_eq!(stock_open(&paths.runbook.join(n), &org.carol, p), None, "carol opened {n}");
        }
    }
    // The old version stays in history/, so sessions under it still verify.
    assert!(org.path().join("history").join(format!("{}.toml", v2.previous.as_deref().unwrap())).is_file());
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn a_rekey_stopped_at_any_step_leaves_the_old_or_the_new_state_never_a_mix() {
    let org = Org::new();
    let dave = person(&org.path().join("keys"), "dave", 1004);
    let v1_bytes = std::fs::read(org.roster()).unwrap();
    let run_dir = org.path().join("runs");
    std::fs::create_dir(&run_dir).unwrap();
    // Stopped after staging (before commit), and after every step of the commit.
    let stops: Vec<Option<Step>> = std::iter::once(None).chain(Step::ALL.iter().copied().map(Some)).collect();
    for (i, stop) in stops.iter().enumerate() {
        // A fresh copy of the org's files for each crash point.
        let d = run_dir.join(i.to_string());
        std::fs::create_dir(&d).unwrap();
        for e in std::fs::read_dir(org.path()).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with("roster.toml") {
                std::fs::copy(e.path(), d.join(&n)).unwrap();
            }
        }
        copy_dir(&org.path().join("history"), &d.join("history"));
        let live_roster = d.join("roster.toml");
        std::fs::write(&live_roster, &v1_bytes).unwrap();
        let v1 = Roster::load(&live_roster).unwrap();
        let mut s = seal::seal(&v1, RUNBOOK.as_bytes()).unwrap();
        s.signatures = stock_sigs(&d, "m1", breakglass::core::sign::RUNBOOK_NAMESPACE, &s.manifest_bytes, &[&org.alice, &org.bob]);
        let paths = Paths { roster: live_roster.clone(), runbook: d.join("runbook") };
        s.write_dir(&paths.runbook).unwrap();
        let v2 = rekey_remove_carol_add_dave(&org, &dave, &paths);
        if let Some(step) = stop {
            rekey::commit(&paths, Some(*step)).unwrap();
        }
        if *stop == Some(Step::Exchanged) {
            std::fs::copy(paths.runbook.join("alice+bob.age"), d.join("alice+bob.age.good")).unwrap();
            // A damaged sealed file does not tip the decision: the manifest and the raw roster
            // bytes decide.
            let f = paths.runbook.join("alice+bob.age");
            let mut b = std::fs::read(&f).unwrap();
            b.push(0);
            std::fs::write(&f, b).unwrap();
        }
        let settled = rekey::settle(&paths).unwrap();
        let expected = match stop {
            None | Some(Step::History) => Settled::RolledBack,
            Some(Step::Cleaned) => Settled::Nothing,
            Some(_) => Settled::Finished,
        };
        assert_eq!(settled, expected, "stopped after {stop:?}");
        assert!(!paths.pending(), "stopped after {stop:?}: staging left");
        // Either all old or all new: the live roster and the live sealing agree, and the trust
        // rule accepts the live roster.
        if *stop == Some(Step::Exchanged) {
            // Put the damaged file right again (the organisation's copy) before reading it whole.
            let good = std::fs::read(d.join("alice+bob.age.good")).unwrap();
            std::fs::write(paths.runbook.join("alice+bob.age"), good).unwrap();
        }
        let roster = Roster::load(&paths.roster).unwrap();
        let sealed = Sealed::read_dir(&paths.runbook).unwrap();
        assert_eq!(sealed.manifest.roster_sha256, roster.sha256(), "stopped after {stop:?}: a mix");
        let want = if expected == Settled::RolledBack { &v1 } else { &v2 };
        assert_eq!(roster.bytes, want.bytes, "stopped after {stop:?}");
        let pin = v1.sha256();
        let t =
            breakglass::core::trust::check_file(&paths.roster, Some(&pin), breakglass::core::trust::Source::Given(paths.roster.clone()));
        assert!(t.is_ok(), "stopped after {stop:?}: {}", t.err().map(|e| e.to_string()).unwrap_or_default());
        // Carol's key opens nothing once the new state stands.
        if want.version == 2 {
            for f in &sealed.manifest.files {
                assert!(!f.layers.contains(&"carol".to_string()), "{}", f.name);
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

// ---- The rekey ceremony, through the real binary on DEMO keys ----

fn demo_age_key(id: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("assets/demo/{id}.agekey"))
}

/// Stock `age` over the two DEMO identities, outermost first.
fn demo_open(file: &Path, first: &str, second: &str) -> Option<String> {
    let p = |id: &str| Person {
        id: id.into(),
        serial: 0,
        ssh: Default::default(),
        public: String::new(),
        agekey: demo_age_key(id),
        recipient: String::new(),
    };
    stock_open(file, &p(first), &p(second))
}

/// The folder `demo --rekey` rekeyed under `data`.
fn rekey_dir(data: &Path) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(data.join("demo-rekey")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn ids_of(runbook: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(runbook)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".age"))
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen and age (./scripts/test installs them)"]
fn demo_rekey_is_journalled_co_signed_and_opens_for_exactly_the_new_pairs() {
    common::require_tool("age", "age");
    let d = tempfile::tempdir().unwrap();
    let o = common::run(d.path(), &["demo", "--rekey", "--auto"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("roster version 2 is in place"), "{}", common::stderr(&o));
    let session = std::path::PathBuf::from(stdout(&o).trim());
    // verify: valid, and it says what changed.
    let v = common::run(d.path(), &["verify", session.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    assert!(stdout(&v).contains("roster changed: version 2") && stdout(&v).contains("added dave; removed carol"), "{}", stdout(&v));
    let j = common::run(d.path(), &["verify", "--json", session.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&j)).unwrap();
    assert_eq!(report["mode"], "rekey");
    assert_eq!(report["rekey"]["added"], serde_json::json!(["dave"]));
    assert_eq!(report["rekey"]["removed"], serde_json::json!(["carol"]));
    // The signatures on the new roster are checked against the bundle's copy of it: another
    // version put in its place is refused.
    let next = session.join("roster-next.toml");
    let good = std::fs::read(&next).unwrap();
    std::fs::write(&next, String::from_utf8(good.clone()).unwrap().replacen("quorum = 2", "quorum = 3", 1)).unwrap();
    let v = common::run(d.path(), &["verify", session.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    std::fs::write(&next, &good).unwrap();
    // By hand (docs/verify-by-hand.md): each rekey.signed signature verifies with stock
    // ssh-keygen over roster-next.toml, with the keys that file names.
    let next_roster = Roster::load(&next).unwrap();
    let signers: String =
        next_roster.custodians.iter().map(|c| format!("{} namespaces=\"breakglass-roster\" {}\n", c.id, c.signing_key)).collect();
    std::fs::write(session.join("next.signers"), signers).unwrap();
    let journal = std::fs::read_to_string(session.join("journal.jsonl")).unwrap();
    let mut by_hand = 0;
    for line in journal.lines().filter(|l| l.contains("\"kind\":\"rekey.signed\"")) {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = e["custodian"].as_str().unwrap();
        std::fs::write(session.join(format!("{id}.rekey.sig")), e["sshsig"].as_str().unwrap()).unwrap();
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("ssh-keygen -Y verify -f next.signers -I {id} -n breakglass-roster -s {id}.rekey.sig < roster-next.toml"))
            .current_dir(&session)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{id}: {}", String::from_utf8_lossy(&ok.stderr));
        std::fs::remove_file(session.join(format!("{id}.rekey.sig"))).unwrap();
        by_hand += 1;
    }
    assert_eq!(by_hand, 3);
    std::fs::remove_file(session.join("next.signers")).unwrap();
    // The "roster changed" notice names the new version and who came and went.
    let outbox: String = std::fs::read_dir(d.path().join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|t| t.contains("roster_changed"))
        .collect();
    assert!(outbox.contains("added Dave Example (dave); removed carol") && outbox.contains("Roster version 2"), "{outbox}");
    // The co-signatures verify with stock ssh-keygen.
    for id in ["alice", "bob"] {
        let verified = common::ssh_keygen_verifies(session.as_ref(), id);
        assert!(verified.is_ok(), "{id}: {}", verified.unwrap_err());
    }
    // The new sealing: exactly the new pairs, each opens with stock age; carol opens nothing.
    let dir = rekey_dir(d.path());
    let runbook = dir.join("runbook");
    assert_eq!(ids_of(&runbook), ["alice+bob.age", "alice+dave.age", "bob+dave.age"]);
    for (a, b) in [("alice", "bob"), ("alice", "dave"), ("bob", "dave")] {
        let text = demo_open(&runbook.join(format!("{a}+{b}.age")), a, b);
        assert_eq!(text.as_deref(), Some(breakglass::commands::demo::RUNBOOK), "{a}+{b}");
        for other in ["alice", "bob", "dave"] {
            assert_eq!(demo_open(&runbook.join(format!("{a}+{b}.age")), "carol", other), None, "carol opened {a}+{b}");
        }
    }
    // The new roster chains to the DEMO roster: signed by its quorum, by dave, by its own quorum.
    let cfg = dir.join("breakglass.toml");
    let v1 = breakglass::core::roster::demo().sha256();
    std::fs::write(&cfg, format!("[paths]\nroster = \"{}\"\n[trust]\nroster_sha256 = \"{v1}\"\n", dir.join("roster.toml").display()))
        .unwrap();
    let o = common::run(d.path(), &["--config", cfg.to_str().unwrap(), "roster", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("version 2"), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: stock age (./scripts/test installs it)"]
fn a_rekey_killed_at_each_step_leaves_the_old_or_the_new_runbook_and_recovers() {
    common::require_tool("age", "age");
    for (point, new) in
        [("staged", false), ("history", false), ("exchanged", true), ("signatures", true), ("roster", true), ("cleaned", true)]
    {
        let d = tempfile::tempdir().unwrap();
        let o = Command::new(common::bin())
            .args(["--data-dir", d.path().to_str().unwrap(), "demo", "--rekey", "--auto"])
            .env("BREAKGLASS_TEST_REKEY_CRASH_AFTER", point)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point}: the process should have died");
        let dir = rekey_dir(d.path());
        let cfg = dir.join("breakglass.toml");
        std::fs::write(
            &cfg,
            format!("[paths]\nroster = \"{}\"\nrunbook = \"{}\"\n", dir.join("roster.toml").display(), dir.join("runbook").display()),
        )
        .unwrap();
        // The next command settles it, and says how.
        let s = common::run(d.path(), &["--config", cfg.to_str().unwrap(), "roster", "settle"]);
        assert!(s.status.success(), "{point}: {}", common::stderr(&s));
        let said = format!("{}{}", stdout(&s), common::stderr(&s));
        let want = match (point, new) {
            ("cleaned", _) => "no interrupted rekey",
            (_, true) => "it was finished",
            _ => "it was undone",
        };
        assert!(said.contains(want), "{point}: {said}");
        let roster = Roster::load(&dir.join("roster.toml")).unwrap();
        let sealed = Sealed::read_dir(&dir.join("runbook")).unwrap();
        assert_eq!(sealed.manifest.roster_sha256, roster.sha256(), "{point}: roster and runbook are a mix");
        assert_eq!(roster.version, if new { 2 } else { 1 }, "{point}");
        let runbook = dir.join("runbook");
        if new {
            assert_eq!(ids_of(&runbook), ["alice+bob.age", "alice+dave.age", "bob+dave.age"], "{point}");
            assert_eq!(
                demo_open(&runbook.join("bob+dave.age"), "bob", "dave").as_deref(),
                Some(breakglass::commands::demo::RUNBOOK),
                "{point}"
            );
        } else {
            assert_eq!(ids_of(&runbook), ["alice+bob.age", "alice+carol.age", "bob+carol.age"], "{point}");
            assert_eq!(
                demo_open(&runbook.join("alice+carol.age"), "alice", "carol").as_deref(),
                Some(breakglass::commands::demo::RUNBOOK),
                "{point}"
            );
        }
        // The interrupted session is closed by `recover`, and then verifies.
        let sessions: Vec<_> = std::fs::read_dir(d.path().join("sessions")).unwrap().flatten().map(|e| e.path()).collect();
        let r = common::run(d.path(), &["recover", "--auto", sessions[0].to_str().unwrap(), "--reason", "killed mid-rekey"]);
        assert!(r.status.success(), "{point}: {}", common::stderr(&r));
        let v = common::run(d.path(), &["verify", sessions[0].to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(0), "{point}: {}", stdout(&v));
        // The recovery says how the rekey ended on disk.
        let want = if new { ") is in place" } else { "is NOT in place" };
        assert!(stdout(&v).contains("after the interruption") && stdout(&v).contains(want), "{point}: {}", stdout(&v));
    }
}

#[test]
fn a_rekey_refuses_a_wrong_newcomer_key_and_too_few_signers() {
    use breakglass::adapters::session::{Outside, drive, present};
    use breakglass::core::ceremony::{Intent, Mode, Phase, RekeyStage};
    let d = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(breakglass::core::clock::FixedClock::new());
    let (mut c, mut r) =
        breakglass::commands::demo::setup_rekey(d.path(), clock.clone(), Outside::outbox(d.path().join("outbox"))).unwrap();
    let pin = |id: &str| Intent::PinEntered(secrecy::SecretString::from(breakglass::commands::demo::pin_of(id).to_string()));
    // Only REKEY mode runs a rekey.
    drive(&mut c, &mut r, Intent::Begin { mode: Mode::Incident, reason: "x".into(), ticket: None, scenario: Default::default() });
    assert_eq!(*c.phase(), Phase::Setup);
    drive(&mut c, &mut r, Intent::Begin { mode: Mode::Rekey, reason: "carol leaves".into(), ticket: None, scenario: Default::default() });
    for (id, serial) in [("alice", 10000001), ("bob", 10000002)] {
        present(&mut c, &mut r, serial);
        drive(&mut c, &mut r, pin(id));
        drive(&mut c, &mut r, Intent::Touch);
    }
    assert_eq!(*c.phase(), Phase::Rekey(RekeyStage::Review));
    drive(&mut c, &mut r, Intent::RekeyGo);
    // carol's key is not the newcomer's: refused, journalled, nothing signed.
    present(&mut c, &mut r, 10000003);
    assert!(matches!(c.phase(), Phase::Rekey(RekeyStage::Newcomer { .. })));
    assert!(matches!(said(&c), Some(Say::NotNewcomersKey { id, .. }) if id == "dave"), "{:?}", c.message());
    present(&mut c, &mut r, 10000004);
    drive(&mut c, &mut r, pin("dave"));
    drive(&mut c, &mut r, Intent::Touch);
    assert!(matches!(c.phase(), Phase::Rekey(RekeyStage::Sign { who: SlotIx(0), .. })), "{:?}", c.phase());
    assert_eq!(c.rekey().as_ref().unwrap().signed, ["dave"]);

    // Removing bob while alice and bob are the ones here: version 2 (alice, carol) needs two of
    // its own custodians and only alice is here: the rekey cannot go on.
    let d2 = tempfile::tempdir().unwrap();
    let change = Change { remove: vec!["bob".into()], ..Default::default() };
    let (mut c, mut r) =
        breakglass::commands::demo::setup_rekey_with(d2.path(), clock, Outside::outbox(d2.path().join("outbox")), &change, None).unwrap();
    drive(&mut c, &mut r, Intent::Begin { mode: Mode::Rekey, reason: "bob leaves".into(), ticket: None, scenario: Default::default() });
    for (id, serial) in [("alice", 10000001), ("bob", 10000002)] {
        present(&mut c, &mut r, serial);
        drive(&mut c, &mut r, pin(id));
        drive(&mut c, &mut r, Intent::Touch);
    }
    drive(&mut c, &mut r, Intent::RekeyGo);
    assert_eq!(*c.phase(), Phase::Rekey(RekeyStage::Review));
    assert!(matches!(said(&c), Some(Say::RekeyQuorumShort { needs: 2, .. })), "{:?}", c.message());
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen (./scripts/test installs it)"]
fn a_demo_offboarding_bundle_verifies_with_ssh_keygen_and_reports_the_time() {
    common::require_tool("ssh-keygen", "openssh-client");
    let d = tempfile::tempdir().unwrap();
    let o = common::run(d.path(), &["demo", "--offboard", "--auto"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let session = std::path::PathBuf::from(stdout(&o).trim());
    for id in ["alice", "bob"] {
        let verified = common::ssh_keygen_verifies(session.as_ref(), id);
        assert!(verified.is_ok(), "{id}: {}", verified.unwrap_err());
    }
    let v = common::run(d.path(), &["verify", session.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    assert!(
        stdout(&v).contains("offboarding of carol: 4 of 4 items done") && stdout(&v).contains("within the 15-minute target"),
        "{}",
        stdout(&v)
    );
    // carol is gone from the rekeyed roster and from every sealed file.
    let dir = rekey_dir(d.path());
    assert!(Roster::load(&dir.join("roster.toml")).unwrap().custodian("carol").is_none());
    assert_eq!(ids_of(&dir.join("runbook")), ["alice+bob.age"]);
}

#[test]
#[ignore = "needs the test rig: stock ssh-keygen, age and python3 (./scripts/test installs them)"]
fn an_old_roster_put_back_after_a_rekey_is_refused_though_it_chains_to_the_pin() {
    let org = Org::new();
    let paths = sealed_v1(&org);
    let dave = person(&org.path().join("keys"), "dave", 1004);
    let v2 = rekey_remove_carol_add_dave(&org, &dave, &paths);
    rekey::commit(&paths, None).unwrap();
    assert_eq!(org.check().status.code(), Some(0));
    // doctor prints the exact lines that move the pin to v2, for the configuration.
    let o = org.bg(&["doctor"]);
    let pin = format!("roster_sha256 = \"{}\"\nmin_version = 2\n", v2.sha256());
    assert!(stdout(&o).contains(&pin), "{}{}", stdout(&o), common::stderr(&o));
    // Someone puts v1 (with carol) back, signatures and all: it still chains to the pin.
    let v1 = v2.previous.clone().unwrap();
    let h = org.path().join("history").join(format!("{v1}.toml"));
    org.replace_roster(&std::fs::read_to_string(&h).unwrap());
    for id in ["alice", "bob"] {
        std::fs::copy(format!("{}.{id}.sig", h.display()), format!("{}.{id}.sig", org.roster().display())).unwrap();
    }
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("rolled back") && stdout(&o).contains(&v2.sha256()[..12]), "{}", stdout(&o));
    // Sessions are not checked against it either: the drill report refuses it (exit 2).
    std::fs::create_dir_all(org.path().join("data").join("sessions")).unwrap();
    let o = org.bg(&["drill", "report"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), common::stderr(&o));
    assert!(common::stderr(&o).contains("rolled back"), "{}", common::stderr(&o));
    // With history/ cleaned too, [trust] min_version still refuses it.
    for e in std::fs::read_dir(org.path().join("history")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with(&v2.sha256()) {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    assert_eq!(org.check().status.code(), Some(0));
    let cfg = std::fs::read_to_string(org.config()).unwrap();
    std::fs::write(org.config(), cfg.replacen("[trust]\n", "[trust]\nmin_version = 2\n", 1)).unwrap();
    let o = org.check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("older than [trust] min_version = 2"), "{}", stdout(&o));
    // The lines doctor printed, pasted as they are: v1 no longer chains to the pin at all.
    std::fs::write(org.config(), format!("[paths]\nroster = \"{}\"\n[trust]\n{pin}", org.roster().display())).unwrap();
    let o = org.check();
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn one_rekey_at_a_time_per_roster() {
    let d = tempfile::tempdir().unwrap();
    let paths = Paths { roster: d.path().join("roster.toml"), runbook: d.path().join("runbook") };
    let held = rekey::lock(&paths).unwrap();
    assert!(matches!(rekey::lock(&paths), Err(rekey::RekeyError::Busy(_))));
    drop(held);
    assert!(rekey::lock(&paths).is_ok());
}

/// Found by review: a journal claiming a committed roster change, with no `rekey.signed` entry at
/// all, verified as valid ("signed by alice, bob, carol, mallory"): nothing checked the claim.
#[test]
fn a_committed_roster_change_must_be_signed_as_a_rotation_in_the_journal() {
    let session = |d: &std::path::Path| {
        let o = common::run(d, &["demo", "--rekey", "--auto"]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        std::path::PathBuf::from(stdout(&o).trim())
    };
    let drop_signed = |s: &std::path::Path, who: Option<&str>| {
        common::forge_chain(&s.join("journal.jsonl"), |lines| {
            lines
                .into_iter()
                .filter(|l| !(l.contains("\"kind\":\"rekey.signed\"") && who.is_none_or(|w| l.contains(&format!("\"custodian\":\"{w}\"")))))
                .collect()
        });
    };
    let d = tempfile::tempdir().unwrap();
    // Every signature on the new version gone.
    let s = session(d.path());
    drop_signed(&s, None);
    let v = common::run(d.path(), &["verify", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("with no signature of theirs on the new roster that verifies"), "{}", stdout(&v));
    assert!(stdout(&v).contains("signed by 0 of the old version's custodians"), "{}", stdout(&v));
    // Only the newcomer's own signature gone.
    let s = session(d.path());
    drop_signed(&s, Some("dave"));
    let v = common::run(d.path(), &["verify", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("adds `dave` (or changes their keys) without their own signature"), "{}", stdout(&v));
    // roster-next.toml removed from a bundle that records the change.
    let s = session(d.path());
    std::fs::remove_file(s.join("roster-next.toml")).unwrap();
    let v = common::run(d.path(), &["verify", s.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("nothing shows who signed the new version"), "{}", stdout(&v));
}

/// Found by review: anyone who can create files beside the roster could make `settle` (which
/// every ceremony command runs first) hang on a FIFO, or take every roster signature away with a
/// byte copy of the live roster in the staging directory.
#[test]
fn settle_neither_hangs_on_a_fifo_nor_finishes_a_copy_of_the_live_roster() {
    use breakglass::core::rekey::{Paths, RekeyError, settle};
    let d = tempfile::tempdir().unwrap();
    let roster = breakglass::core::roster::demo();
    let paths = Paths { roster: d.path().join("roster.toml"), runbook: d.path().join("runbook") };
    std::fs::write(&paths.roster, breakglass::core::roster::DEMO_ROSTER).unwrap();
    for (id, sig) in breakglass::core::roster::demo_sigs() {
        std::fs::write(breakglass::core::roster::sig_path(&paths.roster, &id), sig).unwrap();
    }
    breakglass::core::seal::seal(&roster, b"# R\n\n- [ ] one\n").unwrap().write_dir(&paths.runbook).unwrap();
    let staged = paths.staged_roster_dir();
    std::fs::create_dir(&staged).unwrap();
    std::fs::write(staged.join("roster.toml"), breakglass::core::roster::DEMO_ROSTER).unwrap();
    let Err(e) = settle(&paths) else { panic!("a copy of the live roster is not a rekey") };
    assert!(matches!(e, RekeyError::NotARekey(_)), "{e}");
    assert!(breakglass::core::roster::sig_path(&paths.roster, "alice").is_file(), "nothing deleted");
    assert!(staged.join("roster.toml").is_file(), "the evidence stays");
    // A FIFO in its place: settle answers at once.
    std::fs::remove_file(staged.join("roster.toml")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(staged.join("roster.toml")).status().unwrap().success());
    let (tx, rx) = std::sync::mpsc::channel();
    let p = paths.clone();
    std::thread::spawn(move || tx.send(settle(&p).map(|_| ()).map_err(|e| e.to_string())));
    let got = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("settle hung on a FIFO");
    assert!(got.is_ok(), "{got:?}");
    assert!(breakglass::core::roster::sig_path(&paths.roster, "bob").is_file());
}

/// A rekey that does not put the new version in place takes the newcomers' attestation files it
/// copied next to the live roster away again (found on the deployment walk: they stayed).
#[test]
#[ignore = "needs the test rig: stock ssh-keygen and age-keygen (./scripts/test installs them)"]
fn a_rekey_that_does_not_commit_leaves_no_newcomer_files_beside_the_roster() {
    let org = Org::new();
    sealed_v1(&org);
    let elsewhere = tempfile::tempdir().unwrap();
    // An entry as `enroll` prints it, for an id that is already a custodian: the plan refuses it.
    let mut c = custodian(&org.alice);
    c.attestation = vec!["alice-9c.pem".into(), "alice-82.pem".into(), "alice-f9.pem".into()];
    for f in &c.attestation {
        std::fs::write(elsewhere.path().join(f), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").unwrap();
    }
    #[derive(serde::Serialize)]
    struct E<'a> {
        custodian: [&'a Custodian; 1],
    }
    let entry = elsewhere.path().join("alice.entry");
    std::fs::write(&entry, toml::to_string(&E { custodian: [&c] }).unwrap()).unwrap();
    let o = org.bg(&["roster", "rekey", "--add", entry.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", stdout(&o));
    for f in &c.attestation {
        assert!(!org.path().join(f).exists(), "{f} was left next to the roster");
    }
}

/// Evidence review, attack 6: an older sealing of the runbook that a quorum signed (say, holding
/// the root password before it was rotated) is refused once this host has opened a newer one.
/// Each `seal` takes the next serial after the live sealing's.
#[test]
#[ignore = "needs the test rig: stock ssh-keygen and age-keygen (./scripts/test installs them)"]
fn an_older_sealing_put_back_is_refused_once_a_newer_one_was_opened() {
    let org = Org::new();
    let paths = sealed_v1(&org);
    let md = org.path().join("runbook.md");
    std::fs::write(&md, RUNBOOK).unwrap();
    let out = org.path().join("next.sealed");
    let o = org.bg(&["seal", "--roster", org.roster().to_str().unwrap(), md.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(stdout(&o).contains("sealing serial 1"), "{}", stdout(&o));
    assert_eq!(Sealed::read_dir(&out).unwrap().manifest.serial, 1);
    // The live sealing (serial 0) is accepted until this host has opened serial 1.
    let o = org.bg(&["runbook", "check", paths.runbook.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v1 = Roster::load(&org.roster()).unwrap();
    let state = format!("version = 1\nroster_sha256 = \"{}\"\nrunbook_serial = 1\n", v1.sha256());
    std::fs::create_dir_all(org.path().join("data")).unwrap();
    std::fs::write(org.path().join("data").join(breakglass::core::trust::TRUST_STATE), state).unwrap();
    let o = org.bg(&["runbook", "check", paths.runbook.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("older than serial 1"), "{}", stdout(&o));
    let o = org.bg(&["doctor"]);
    assert!(stdout(&o).contains("runbook serial"), "{}", stdout(&o));
}
