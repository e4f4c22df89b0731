//! Check-in, signing and runbook layers on YubiKeys over the real PC/SC stack, against the
//! virtual card rig (tests/vcard): the real `yubikey` crate, pcscd, vpcd, a software PIV card.
//! Attestations chain to the rig's test CA, passed in as an extra trust root.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::adapters::session::{KeySource, Outside, Runner, drive, present};
use breakglass::adapters::token::Token;
use breakglass::adapters::token::piv::PivToken;
use breakglass::core::attest::TrustStore;
use breakglass::core::ceremony::SlotIx;
use breakglass::core::ceremony::{Ceremony, Intent, KeyStage, Mode, Phase};
use breakglass::core::clock::FixedClock;
use common::card::{Enrolled, enrol, exclusive, fresh, roster_for};
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use yubikey::TouchPolicy;

const A: u32 = 11111111;
const B: u32 = 22222222;

fn pin(p: &str) -> Intent {
    Intent::PinEntered(SecretString::from(p.to_string()))
}

/// Signs the roster on both cards (slot 9c) as the custodians would.
fn sign_roster(path: &Path, people: &[(&str, &Enrolled)]) {
    let bytes = std::fs::read(path).unwrap();
    for (id, e) in people {
        let mut t = PivToken::open(e.serial).unwrap();
        t.verify_pin(&SecretString::from(e.pin.clone())).unwrap();
        let sig = breakglass::core::sign::sshsig(&mut t, breakglass::core::sign::ROSTER_NAMESPACE, &bytes).unwrap();
        std::fs::write(breakglass::core::roster::sig_path(path, id), breakglass::core::sign::to_pem(&sig).unwrap()).unwrap();
    }
}

struct Setup {
    dir: tempfile::TempDir,
    a: Enrolled,
    b: Enrolled,
}

/// Two fresh enrolled cards (alice: A, bob: B) and a quorum-signed roster for them.
fn two_cards() -> Setup {
    fresh(A, 35963);
    fresh(B, 35964);
    enrolled_pair()
}

fn enrolled_pair() -> Setup {
    let a = enrol(A, "246801", TouchPolicy::Always);
    let b = enrol(B, "135792", TouchPolicy::Always);
    let dir = tempfile::tempdir().unwrap();
    let p = roster_for(dir.path(), &[("alice", &a), ("bob", &b)]);
    sign_roster(&p, &[("alice", &a), ("bob", &b)]);
    Setup { dir, a, b }
}

fn ceremony(s: &Setup, trust: TrustStore) -> (Ceremony, Runner) {
    let rp = s.dir.path().join("roster.toml");
    let t = breakglass::core::trust::check_file(&rp, None, breakglass::core::trust::Source::Given(rp.clone())).unwrap();
    let roster = t.roster().clone();
    let sealed = breakglass::core::seal::seal(&roster, breakglass::commands::demo::RUNBOOK.as_bytes()).unwrap();
    let info = breakglass::core::ceremony::SessionInfo {
        session_id: "20261125-040000-c0ffee".into(),
        demo: false,
        host: "safe".into(),
        tool_version: "test".into(),
        roster_sha256: roster.sha256(),
        runbook_sha256: sealed.fingerprint(),
        account: None,
        quorum: 2,
        aws: false,
        heartbeat_s: 0,
        rehearsal_roots: vec![],
    };
    let c = Ceremony::new(info, breakglass::commands::demo::people(&roster), Default::default());
    let sigs = roster
        .custodians
        .iter()
        .map(|cu| (cu.id.clone(), std::fs::read(breakglass::core::roster::sig_path(&s.dir.path().join("roster.toml"), &cu.id)).unwrap()))
        .collect();
    let data = s.dir.path().join("data");
    let mut r = Runner::new(
        data.join("sessions/20261125-040000-c0ffee"),
        Arc::new(FixedClock::new()),
        vec![],
        roster,
        sigs,
        sealed,
        Outside::outbox(data.join("outbox")),
    );
    r.keys = KeySource::Piv { trust };
    (c, r)
}

fn test_trust() -> TrustStore {
    TrustStore::yubico().with_extra_root(&common::card::ca_der()).unwrap()
}

fn begin(c: &mut Ceremony, r: &mut Runner) {
    drive(c, r, Intent::Begin { mode: Mode::Incident, reason: "PIV test".into(), ticket: None, scenario: Default::default() });
}

fn check_in(c: &mut Ceremony, r: &mut Runner, e: &Enrolled) {
    present(c, r, e.serial);
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { .. })), "{:?} {:?}", c.phase(), c.message());
    drive(c, r, pin(&e.pin));
    drive(c, r, Intent::Touch);
}

fn refusal(c: &Ceremony) -> String {
    c.message().as_ref().map(|m| breakglass::terminal::words::words(&m.say, c)).unwrap_or_default()
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_full_ceremony_on_two_virtual_yubikeys_verifies_with_ssh_keygen() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    check_in(&mut c, &mut r, &s.a);
    assert_eq!(c.checked().len(), 1, "{:?}", c.message());
    check_in(&mut c, &mut r, &s.b);
    // The runbook layers are bound to the cards (piv-p256): opened by ECDH on each card.
    assert_eq!(*c.phase(), Phase::Runbook, "{:?} {:?}", c.phase(), c.message());
    assert!(c.runbook().as_ref().unwrap().steps.len() > 5);
    drive(&mut c, &mut r, Intent::ToggleStep(0));
    drive(&mut c, &mut r, Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        drive(&mut c, &mut r, Intent::ToggleClosing(i));
    }
    drive(&mut c, &mut r, Intent::ConfirmClose);
    drive(&mut c, &mut r, Intent::Touch);
    drive(&mut c, &mut r, Intent::Touch);
    assert_eq!(*c.phase(), Phase::Summary, "{:?}", c.message());
    let rp = s.dir.path().join("roster.toml");
    let rep = breakglass::core::verify::verify(&r.dir, &Default::default(), Some(&rp)).unwrap();
    assert_eq!(rep.status, breakglass::core::verify::Status::Valid, "{:?}", rep.problems);
    assert!(!rep.demo);
    for id in ["alice", "bob"] {
        let verified = common::ssh_keygen_verifies(r.dir.as_ref(), id);
        assert!(verified.is_ok(), "ssh-keygen rejects {id}: {}", verified.unwrap_err());
    }
    let journal = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"firmware\":\"5.4.3\""), "firmware journalled at check-in");
    assert!(!journal.contains("246801") && !journal.contains("135792"), "no PIN in the journal");
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_check_in_journals_the_attestation_and_a_card_signed_challenge() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    let t = std::time::Instant::now();
    check_in(&mut c, &mut r, &s.a);
    // Reported in the README (performance): one whole check-in on the virtual card.
    eprintln!("check-in on the virtual card: {:?} (attestation x2, PIN, challenge signature)", t.elapsed());
    assert_eq!(c.checked().len(), 1, "{:?}", c.message());
    let j = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(j.lines().find(|l| l.contains("custodian.verified")).unwrap()).unwrap();
    assert_eq!(v["key"].as_str().unwrap(), "YubiKey 5.4.3");
    assert!(v["attestation"]["root"].as_str().unwrap().contains("TEST"), "{v}");
    assert!(v.get("demo").is_none());
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_a_key_not_on_the_roster_is_refused() {
    let _g = exclusive();
    let s = two_cards();
    stop(B);
    fresh(33333333, 35964);
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    present(&mut c, &mut r, 33333333);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert!(refusal(&c).contains("not on the roster"), "{}", refusal(&c));
}

use common::card::stop;

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_wrong_pin_counts_down_on_the_card_and_the_last_try_is_never_spent() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    present(&mut c, &mut r, A);
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { retries: 3, .. })), "{:?}", c.phase());
    drive(&mut c, &mut r, pin("000000"));
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { retries: 2, .. })), "{:?}", c.phase());
    assert!(refusal(&c).contains("2 tries left"));
    drive(&mut c, &mut r, pin("000001"));
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey), "one try left: not asked again");
    assert!(refusal(&c).contains("PUK"));
    // Presenting it again is refused before any PIN is sent: the card still has its last try.
    present(&mut c, &mut r, A);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    let mut t = PivToken::open(A).unwrap();
    assert_eq!(t.pin_retries().unwrap(), 1, "the last try was not spent");
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_factory_default_pin_is_refused_without_spending_a_try() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    present(&mut c, &mut r, A);
    drive(&mut c, &mut r, pin("123456"));
    assert!(refusal(&c).contains("factory default PIN"), "{}", refusal(&c));
    assert!(matches!(c.phase(), Phase::CheckIn(KeyStage::AwaitPin { retries: 3, .. })));
    assert_eq!(PivToken::open(A).unwrap().pin_retries().unwrap(), 3);
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_attestation_by_an_untrusted_ca_is_refused_by_the_shipped_default() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, TrustStore::yubico());
    begin(&mut c, &mut r);
    present(&mut c, &mut r, A);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    let why = refusal(&c);
    assert!(why.contains("refused") && why.to_lowercase().contains("yubico"), "{why}");
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_attested_key_not_matching_the_roster_is_refused() {
    let _g = exclusive();
    let s = two_cards();
    // Re-generate alice's 9c after the roster was signed: the card's key is no longer the roster's.
    let mut yk = yubikey::YubiKey::open_by_serial(yubikey::Serial(A)).unwrap();
    yk.authenticate(yubikey::MgmKey::default()).unwrap();
    yubikey::piv::generate(
        &mut yk,
        yubikey::piv::SlotId::Signature,
        yubikey::piv::AlgorithmId::EccP256,
        yubikey::PinPolicy::Once,
        TouchPolicy::Always,
    )
    .unwrap();
    drop(yk);
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    present(&mut c, &mut r, A);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert!(refusal(&c).contains("roster"), "{}", refusal(&c));
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_touch_policy_too_weak_is_refused() {
    let _g = exclusive();
    fresh(A, 35963);
    fresh(B, 35964);
    let a = enrol(A, "246801", TouchPolicy::Never);
    let b = enrol(B, "135792", TouchPolicy::Always);
    let dir = tempfile::tempdir().unwrap();
    let p = roster_for(dir.path(), &[("alice", &a), ("bob", &b)]);
    sign_roster(&p, &[("alice", &a), ("bob", &b)]);
    let s = Setup { dir, a, b };
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    present(&mut c, &mut r, A);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    assert!(refusal(&c).to_lowercase().contains("touch"), "{}", refusal(&c));
    check_in(&mut c, &mut r, &s.b);
    assert_eq!(c.checked().len(), 1);
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_runbook_layers_open_only_with_both_cards() {
    let _g = exclusive();
    let s = two_cards();
    let roster = breakglass::core::roster::Roster::load(&s.dir.path().join("roster.toml")).unwrap();
    let sealed = breakglass::core::seal::seal(&roster, b"# r\n- [ ] x\n").unwrap();
    let bytes = &sealed.files["alice+bob.age"];
    assert!(String::from_utf8_lossy(bytes).contains("-> piv-p256 "), "outer layer is a YubiKey stanza");
    let mut a = PivToken::open(A).unwrap();
    a.verify_pin(&SecretString::from(s.a.pin.clone())).unwrap();
    let inner = a.decrypt_layer(bytes).unwrap();
    assert!(inner.starts_with(b"age-encryption.org/v1"), "alice's layer yields only bob's layer");
    // alice's card cannot open bob's layer.
    assert!(a.decrypt_layer(&inner).is_err());
    let mut b = PivToken::open(B).unwrap();
    b.verify_pin(&SecretString::from(s.b.pin.clone())).unwrap();
    assert_eq!(&b.decrypt_layer(&inner).unwrap()[..], b"# r\n- [ ] x\n");
    // And bob cannot take the outer layer.
    assert!(b.decrypt_layer(bytes).is_err());
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_pcscd_missing_or_key_absent_says_what_to_do() {
    let _g = exclusive();
    let e = PivToken::open(99999999).unwrap_err().to_string();
    assert!(e.contains("pcscd") || (e.contains("99999999") && e.contains("insert")), "{e}");
}

fn enroll(serial: u32, out: &Path, extra: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args([
        "enroll",
        "--id",
        "carol",
        "--name",
        "Carol Custodian",
        "--email",
        "carol@example.com",
        "--serial",
        &serial.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    cmd.args(extra).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

const ENROL_ANSWERS: &str = "123456\n24680135\n24680135\n12345678\n87654321\n87654321\n";

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_enrol_a_blank_card_gives_a_roster_entry_whose_attestations_verify() {
    let _g = exclusive();
    fresh(33333333, 35963);
    let d = tempfile::tempdir().unwrap();
    let o = enroll(33333333, d.path(), &[], ENROL_ANSWERS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let entry = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!entry.contains("24680135") && !String::from_utf8_lossy(&o.stderr).contains("24680135"), "no PIN printed");
    #[derive(serde::Deserialize)]
    struct F {
        custodian: Vec<breakglass::core::roster::Custodian>,
    }
    let f: F = toml::from_str(&entry).unwrap();
    let c = &f.custodian[0];
    assert_eq!((c.id.as_str(), c.yubikey_serial), ("carol", 33333333));
    assert!(c.age_recipient.starts_with("age1yubikey1"), "{}", c.age_recipient);
    let read = |n: &str| std::fs::read(d.path().join(n)).unwrap();
    let trust = test_trust();
    let att = breakglass::core::attest::verify_chain(&read("carol-9c.pem"), &read("carol-f9.pem"), &trust, chrono::Utc::now()).unwrap();
    breakglass::core::attest::check(&att, &breakglass::core::attest::Requirement::signing("carol", 33333333, &c.signing_key).unwrap())
        .unwrap();
    assert!(breakglass::core::attest::verify_chain(&read("carol-82.pem"), &read("carol-f9.pem"), &trust, chrono::Utc::now()).is_ok());
    // The factory PIN is gone: the new one works, the old one does not.
    let mut t = PivToken::open(33333333).unwrap();
    assert!(t.verify_pin(&SecretString::from("123456".to_string())).is_err());
    assert!(t.verify_pin(&SecretString::from("24680135".to_string())).is_ok());
    // And the card signs with the enrolled key.
    assert_eq!(t.signing_key().unwrap().to_openssh().unwrap().split_whitespace().take(2).collect::<Vec<_>>().join(" "), c.signing_key);
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_enrol_refuses_the_factory_pin_as_the_new_pin() {
    let _g = exclusive();
    fresh(33333333, 35963);
    let d = tempfile::tempdir().unwrap();
    let o = enroll(33333333, d.path(), &[], "123456\n123456\n123456\n123456\n");
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("factory default PIN") && e.contains("no new PIN was set"), "{e}");
    assert!(!d.path().join("carol-9c.pem").exists());
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_enrol_never_overwrites_keys_without_the_flag_and_the_typed_serial() {
    let _g = exclusive();
    fresh(33333333, 35963);
    let d = tempfile::tempdir().unwrap();
    assert!(enroll(33333333, d.path(), &[], ENROL_ANSWERS).status.success());
    let before = std::fs::read(d.path().join("carol-9c.pem")).unwrap();
    let o = enroll(33333333, d.path(), &[], "24680135\n87654321\n");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already hold a key"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = enroll(33333333, d.path(), &["--overwrite"], "12345679\n");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was changed"));
    assert_eq!(std::fs::read(d.path().join("carol-9c.pem")).unwrap(), before);
    let o = enroll(33333333, d.path(), &["--overwrite"], "33333333\n24680135\n87654321\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_ne!(std::fs::read(d.path().join("carol-9c.pem")).unwrap(), before, "new keys after a confirmed overwrite");
}

fn keys_present(c: &mut Ceremony, r: &mut Runner) {
    let serials = r.scan().unwrap().into_iter().map(|(s, _)| s).collect();
    drive(c, r, Intent::KeysPresent(serials));
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_a_key_removed_mid_ceremony_pauses_it_until_it_returns_with_its_pin() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    check_in(&mut c, &mut r, &s.a);
    keys_present(&mut c, &mut r);
    assert!(c.removed().is_empty());
    common::card::rig(&["unplug", &A.to_string()]);
    keys_present(&mut c, &mut r);
    assert_eq!(*c.removed(), [A], "{:?}", c.message());
    assert!(refusal(&c).contains("Paused"), "{}", refusal(&c));
    // While paused nothing moves: bob cannot check in.
    present(&mut c, &mut r, B);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    common::card::rig(&["plug", &A.to_string()]);
    keys_present(&mut c, &mut r);
    assert!(c.removed().is_empty());
    assert_eq!(*c.reauth(), [SlotIx(0)], "alice must enter her PIN again");
    drive(&mut c, &mut r, pin(&s.a.pin));
    assert!(c.reauth().is_empty(), "{:?}", c.message());
    // The ceremony goes on where it was, and the card works again (the runbook opens on it).
    check_in(&mut c, &mut r, &s.b);
    assert_eq!(*c.phase(), Phase::Runbook, "{:?} {:?}", c.phase(), c.message());
    let j = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    for k in ["custodian.key_removed", "custodian.key_returned", "custodian.reauthenticated"] {
        assert!(j.contains(&format!("\"kind\":\"{k}\"")), "{k} not journalled");
    }
}

/// pcscd stops mid-ceremony (a crash, an upgrade) and comes back: the scan says what is wrong,
/// the ceremony pauses instead of failing, nothing moves while the keys cannot be seen, and
/// once pcscd is back each checked-in custodian unlocks their key again and the ceremony goes
/// on where it was.
#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_pcscd_restarted_mid_check_in_pauses_and_the_ceremony_goes_on() {
    let _g = exclusive();
    let s = two_cards();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    check_in(&mut c, &mut r, &s.a);
    keys_present(&mut c, &mut r);
    common::card::rig(&["pcscd-stop"]);
    // Always bring pcscd back, even when an assertion below fails.
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            common::card::rig(&["pcscd-start"]);
        }
    }
    let restart = Restart;
    let e = r.scan().expect_err("no PC/SC, no scan");
    assert!(e.contains("PC/SC is not running") && e.contains("pcscd"), "says what to do: {e}");
    drive(&mut c, &mut r, Intent::KeysUnreachable(e));
    assert_eq!(*c.removed(), [A], "alice's key counts as removed while it cannot be seen");
    assert!(refusal(&c).contains("Paused") && refusal(&c).contains("PC/SC is down"), "{}", refusal(&c));
    // Nothing moves meanwhile.
    present(&mut c, &mut r, B);
    assert_eq!(*c.phase(), Phase::CheckIn(KeyStage::AwaitKey));
    drop(restart);
    keys_present(&mut c, &mut r);
    assert!(c.removed().is_empty(), "{:?}", c.message());
    assert_eq!(*c.reauth(), [SlotIx(0)], "alice enters her PIN again: the restart reset the card");
    drive(&mut c, &mut r, pin(&s.a.pin));
    assert!(c.reauth().is_empty(), "{:?}", c.message());
    // Bob checks in and the runbook opens on both cards (alice's handle was opened afresh).
    check_in(&mut c, &mut r, &s.b);
    assert_eq!(*c.phase(), Phase::Runbook, "{:?} {:?}", c.phase(), c.message());
    let j = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    let removed = j.lines().find(|l| l.contains("\"kind\":\"custodian.key_removed\"")).expect("the pause is journalled");
    assert!(removed.contains("PC/SC is not running"), "with its cause: {removed}");
}

/// Faults, second round: alice's card is pulled out while it signs the session log (before she
/// touched it), and pcscd restarts while bob's signs. Each is a named failure on the sign screen,
/// never a hang; nothing is written for it; with the key back (and its PIN entered again) the
/// same signature is made, and the bundle verifies, with ssh-keygen too.
#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_a_card_pulled_out_or_pcscd_restarted_while_it_signs_fails_cleanly_then_signs() {
    use breakglass::core::ceremony::{Failed, SignStage};
    let _g = exclusive();
    common::card::fresh_slow_touch(A, 35963, 1500);
    common::card::fresh_slow_touch(B, 35964, 1500);
    let s = enrolled_pair();
    let (mut c, mut r) = ceremony(&s, test_trust());
    begin(&mut c, &mut r);
    check_in(&mut c, &mut r, &s.a);
    check_in(&mut c, &mut r, &s.b);
    assert_eq!(*c.phase(), Phase::Runbook, "{:?} {:?}", c.phase(), c.message());
    drive(&mut c, &mut r, Intent::FinishRunbook);
    for i in 0..breakglass::core::ceremony::CLOSING.len() {
        drive(&mut c, &mut r, Intent::ToggleClosing(i));
    }
    drive(&mut c, &mut r, Intent::ConfirmClose);
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            common::card::rig(&["pcscd-start"]);
            common::card::rig(&["plug", &A.to_string()]);
        }
    }
    let _always = Restart;
    for (who, fault) in [(SlotIx(0), "unplug"), (SlotIx(1), "pcscd")] {
        let cut = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if fault == "unplug" {
                common::card::rig(&["unplug", &A.to_string()]);
            } else {
                common::card::rig(&["pcscd-stop"]);
            }
        });
        let started = std::time::Instant::now();
        drive(&mut c, &mut r, Intent::Touch);
        cut.join().unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{fault}: no hang ({:?})", started.elapsed());
        match c.phase() {
            Phase::Sign { who: w, stage: SignStage::Failed(Failed::Key(_) | Failed::Signature(_)) } if *w == who => {}
            // pcscd gone: the pause is journalled, so the signatures made so far are asked again.
            Phase::Sign { who: SlotIx(0), stage: SignStage::AwaitTouch }
                if fault == "pcscd" && matches!(c.message().as_ref().map(|m| &m.say), Some(breakglass::core::ceremony::Say::SignAgain)) => {
            }
            other => panic!("{fault}: a named failure on the sign screen, got {other:?} {:?}", c.message()),
        }
        let id = if who == SlotIx(0) { "alice" } else { "bob" };
        assert!(!r.dir.join(format!("journal.jsonl.{id}.sig")).exists(), "{fault}: nothing written for it");
        if fault == "unplug" {
            common::card::rig(&["plug", &A.to_string()]);
        } else {
            common::card::rig(&["pcscd-start"]);
        }
        keys_present(&mut c, &mut r);
        // Each key whose PIN session ended (a card pulled out; every card, with pcscd) is
        // unlocked again, in turn.
        for _ in 0..2 {
            if let Some(slot) = c.reauth().first().copied() {
                drive(&mut c, &mut r, pin(if slot == SlotIx(0) { &s.a.pin } else { &s.b.pin }));
            }
        }
        assert!(c.reauth().is_empty() && c.removed().is_empty(), "{fault}: {:?}", c.message());
        // The same signature again; if the journal grew meanwhile (the keys' absence and return
        // are recorded), everyone signs again from the first.
        for _ in 0..3 {
            match c.phase() {
                Phase::Sign { who: w, .. } if w.0 <= who.0 => drive(&mut c, &mut r, Intent::Touch),
                _ => break,
            }
        }
        assert!(r.dir.join(format!("journal.jsonl.{id}.sig")).exists(), "{fault}: signed again: {:?} {:?}", c.phase(), c.message());
    }
    assert_eq!(*c.phase(), Phase::Summary, "{:?}", c.message());
    let rp = s.dir.path().join("roster.toml");
    let rep = breakglass::core::verify::verify(&r.dir, &Default::default(), Some(&rp)).unwrap();
    assert_eq!(rep.status, breakglass::core::verify::Status::Valid, "{:?}", rep.problems);
    for id in ["alice", "bob"] {
        let verified = common::ssh_keygen_verifies(r.dir.as_ref(), id);
        assert!(verified.is_ok(), "ssh-keygen rejects {id}: {}", verified.unwrap_err());
    }
}

fn plugin_path() -> String {
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/target/tools/bin");
    assert!(
        Path::new(tools).join("age-plugin-yubikey").is_file(),
        "age-plugin-yubikey is missing from target/tools/bin: ./scripts/test installs it (cargo install --root target/tools age-plugin-yubikey@0.5.1)"
    );
    format!("{tools}:{}", std::env::var("PATH").unwrap_or_default())
}

#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_age_plugin_yubikey_interop_both_ways() {
    let _g = exclusive();
    common::require_tool("age", "age");
    let path = plugin_path();
    const S: u32 = 44444444;
    fresh(S, 35963);
    let d = tempfile::tempdir().unwrap();
    // age-plugin-yubikey makes the key (slot 1 = 82) and its identity, as its users do.
    let mut cmd = portable_pty::CommandBuilder::new("bash");
    let id = d.path().join("id.txt");
    cmd.args([
        "-c",
        &format!(
            "age-plugin-yubikey --generate --serial {S} --slot 1 --pin-policy once --touch-policy always --name bg > {}",
            id.display()
        ),
    ]);
    cmd.env("PATH", &path);
    let (ok, out) =
        common::pty::answer(cmd, &[("Enter PIN", "123456"), ("current PUK", "12345678"), ("new PIN", "24681357"), ("Repeat", "24681357")]);
    assert!(ok, "age-plugin-yubikey --generate failed:\n{out}");
    let identity = std::fs::read_to_string(&id).unwrap();
    let recipient = identity.lines().find_map(|l| l.split("Recipient: ").nth(1)).unwrap().trim().to_string();
    // 1. Stock age + the plugin encrypt; breakglass opens it on the card.
    let plain = d.path().join("plain.md");
    std::fs::write(&plain, "# sealed by stock age\n- [ ] step\n").unwrap();
    let o = std::process::Command::new("age")
        .args(["-r", &recipient, "-o", d.path().join("theirs.age").to_str().unwrap(), plain.to_str().unwrap()])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut t = PivToken::open(S).unwrap();
    t.verify_pin(&SecretString::from("24681357".to_string())).unwrap();
    let opened = t.decrypt_layer(&std::fs::read(d.path().join("theirs.age")).unwrap()).unwrap();
    assert_eq!(&opened[..], std::fs::read(&plain).unwrap().as_slice());
    assert_eq!(t.age_recipient().unwrap(), recipient, "the same recipient from the card");
    drop(t);
    // 2. breakglass seals to the YubiKey recipient; stock age + the plugin open it.
    let r = breakglass::core::pivage::Recipient::parse(&recipient).unwrap();
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut ours = vec![];
    let mut w = enc.wrap_output(&mut ours).unwrap();
    std::io::Write::write_all(&mut w, b"sealed by breakglass\n").unwrap();
    w.finish().unwrap();
    std::fs::write(d.path().join("ours.age"), &ours).unwrap();
    let mut cmd = portable_pty::CommandBuilder::new("age");
    cmd.args([
        "-d",
        "-i",
        id.to_str().unwrap(),
        "-o",
        d.path().join("out.txt").to_str().unwrap(),
        d.path().join("ours.age").to_str().unwrap(),
    ]);
    cmd.env("PATH", &path);
    let (ok, out) = common::pty::answer(cmd, &[("PIN", "24681357")]);
    assert!(ok, "stock age could not open what breakglass sealed:\n{out}");
    assert_eq!(std::fs::read_to_string(d.path().join("out.txt")).unwrap(), "sealed by breakglass\n");
}

/// A rekey on YubiKeys: carol (enrolled on a card that then leaves the table) is removed by alice
/// and bob on their cards. The runbook is opened by ECDH on both cards, version 2 is signed on the
/// cards, the runbook is sealed again to the cards' runbook keys and checked by opening it on
/// them, then swapped in; the bundle verifies and version 2 chains to version 1.
#[test]
#[ignore = "needs the test rig: pcscd and the virtual PIV card (./scripts/test brings them up)"]
fn piv_rekey_removes_a_custodian_on_two_virtual_yubikeys() {
    use breakglass::core::ceremony::RekeyStage;
    let _g = exclusive();
    fresh(33333333, 35963);
    let carol = enrol(33333333, "112233", TouchPolicy::Always);
    fresh(A, 35963);
    fresh(B, 35964);
    let a = enrol(A, "246801", TouchPolicy::Always);
    let b = enrol(B, "135792", TouchPolicy::Always);
    let dir = tempfile::tempdir().unwrap();
    let rp = roster_for(dir.path(), &[("alice", &a), ("bob", &b), ("carol", &carol)]);
    sign_roster(&rp, &[("alice", &a), ("bob", &b)]);
    let v1 = breakglass::core::roster::Roster::load(&rp).unwrap();
    let paths = breakglass::core::rekey::Paths { roster: rp.clone(), runbook: dir.path().join("runbook") };
    let mut sealed = breakglass::core::seal::seal(&v1, breakglass::commands::demo::RUNBOOK.as_bytes()).unwrap();
    for (id, e) in [("alice", &a), ("bob", &b)] {
        let mut t = PivToken::open(e.serial).unwrap();
        t.verify_pin(&SecretString::from(e.pin.clone())).unwrap();
        let sig = breakglass::core::sign::sshsig(&mut t, breakglass::core::sign::RUNBOOK_NAMESPACE, &sealed.manifest_bytes).unwrap();
        sealed.signatures.insert(id.into(), breakglass::core::sign::to_pem(&sig).unwrap().into_bytes());
    }
    sealed.write_dir(&paths.runbook).unwrap();
    let plan = breakglass::core::rekey::plan(&v1, &breakglass::core::rekey::Change { remove: vec!["carol".into()], ..Default::default() })
        .unwrap();
    let data = dir.path().join("data");
    let clock: Arc<dyn breakglass::core::clock::Clock> = Arc::new(FixedClock::new());
    let sigs =
        ["alice", "bob"].iter().map(|id| (id.to_string(), std::fs::read(breakglass::core::roster::sig_path(&rp, id)).unwrap())).collect();
    let basis = breakglass::adapters::session::Basis { roster: v1.clone(), roster_sigs: sigs, sealed };
    let purpose = breakglass::core::ceremony::Purpose::rekey(breakglass::core::ceremony::Rekey::from_plan(&plan));
    let (mut c, mut r) =
        breakglass::adapters::session::start(&data.join("sessions"), clock, basis, vec![], Outside::outbox(data.join("outbox")), purpose);
    r.keys = KeySource::Piv { trust: test_trust() };
    r.rekey = Some(breakglass::adapters::session::RekeyJob::new(plan.new.clone(), paths.clone()));
    drive(&mut c, &mut r, Intent::Begin { mode: Mode::Rekey, reason: "carol leaves".into(), ticket: None, scenario: Default::default() });
    check_in(&mut c, &mut r, &a);
    check_in(&mut c, &mut r, &b);
    assert_eq!(*c.phase(), Phase::Rekey(RekeyStage::Review), "{:?}", c.message());
    drive(&mut c, &mut r, Intent::RekeyGo);
    drive(&mut c, &mut r, Intent::Touch);
    drive(&mut c, &mut r, Intent::Touch);
    for who in 0..2 {
        drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(who) });
    }
    drive(&mut c, &mut r, Intent::Touch);
    drive(&mut c, &mut r, Intent::Touch);
    assert_eq!(*c.phase(), Phase::Summary, "{:?} {:?}", c.phase(), c.message());
    assert_eq!(c.rekey().as_ref().unwrap().committed.as_deref(), Some(&["alice+bob.age".to_string()][..]));
    // Version 2 is live, chains to version 1, and its sealing opens on the two cards only.
    let t = breakglass::core::trust::check_file(&rp, Some(&v1.sha256()), breakglass::core::trust::Source::Given(rp.clone())).unwrap();
    assert_eq!(t.roster().bytes, plan.new.bytes);
    let live = breakglass::core::seal::Sealed::read_dir(&paths.runbook).unwrap();
    live.check_signed(&t).unwrap();
    assert_eq!(live.files.keys().cloned().collect::<Vec<_>>(), ["alice+bob.age"]);
    let rep = breakglass::core::verify::verify(&r.dir, &Default::default(), Some(&rp)).unwrap();
    assert_eq!(rep.status, breakglass::core::verify::Status::Valid, "{:?}", rep.problems);
    assert_eq!(rep.rekey.as_ref().unwrap().removed, ["carol"]);
}
