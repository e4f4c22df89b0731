//! Rotating a revealed secret at the close, on the DEMO ceremony: the new value sealed back into
//! the runbook in memory, swapped in, the old sealing kept as superseded; the journal names the
//! secret and the new sealing, never the value; verify checks the new sealing's signatures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::ceremony::{Ceremony, Intent, Mode, Phase, RotateStage, SlotIx};
use breakglass::clock::FixedClock;
use breakglass::journal::Entry;
use breakglass::seal::Sealed;
use breakglass::session::{Runner, drive};
use breakglass::verify::Status;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;

const NEW: &str = "NEW-value-rotated-Xy7!q";
const OLD: &str = "DEMO-ONLY-correct-horse-4417";
/// The demo runbook's secrets: 0 the AWS Support PIN (out of band), 1 the root password.
const PIN: usize = 0;
const PASSWORD: usize = 1;

fn setup(data: &Path) -> (Ceremony, Runner) {
    breakglass::demo::setup(data, Arc::new(FixedClock::new()), breakglass::session::Outside::outbox(data.join("outbox"))).unwrap()
}

/// Alice and Bob check in; the runbook is open.
fn to_runbook(data: &Path, mode: Mode) -> (Ceremony, Runner) {
    let (mut c, mut r) = setup(data);
    drive(&mut c, &mut r, Intent::Begin { mode, reason: "rotation test".into(), ticket: None, scenario: Default::default() });
    for (serial, pin) in [(10000001, "314159"), (10000002, "271828")] {
        let i = r.present(serial);
        drive(&mut c, &mut r, i);
        drive(&mut c, &mut r, Intent::PinEntered(SecretString::from(pin.to_string())));
        drive(&mut c, &mut r, Intent::Touch);
    }
    assert_eq!(c.phase(), &Phase::Runbook, "{:?}", c.message());
    (c, r)
}

fn live(data: &Path) -> std::path::PathBuf {
    breakglass::demo::sealed_path(data)
}

fn serial(dir: &Path) -> u64 {
    Sealed::read_dir(dir).unwrap().manifest.serial
}

/// The runbook text a sealing opens to, with the DEMO keys of alice and bob.
fn open(dir: &Path) -> String {
    let roster = breakglass::demo::roster();
    let mut tokens = breakglass::demo::tokens(&roster);
    for (t, pin) in tokens.iter_mut().zip(["314159", "271828"]) {
        t.verify_pin(&SecretString::from(pin.to_string())).unwrap();
    }
    let sealed = Sealed::read_dir(dir).unwrap();
    let ids = ["alice".to_string(), "bob".to_string()];
    let serial_of = |id: &str| roster.custodian(id).map(|c| c.yubikey_serial);
    breakglass::seal::unseal_with(&sealed, &ids, &mut tokens, &serial_of).unwrap().to_string()
}

fn entries(dir: &Path) -> Vec<Entry> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

fn rotate_password(c: &mut Ceremony, r: &mut Runner) {
    drive(c, r, Intent::Reveal(PASSWORD));
    assert_eq!(c.unrotated(), [PASSWORD]);
    drive(c, r, Intent::Rotate { secret: PASSWORD, value: Some(SecretString::from(NEW.to_string())) });
    assert_eq!(c.phase(), &Phase::Rotate(RotateStage::Value));
    drive(c, r, Intent::RotateGo);
    assert_eq!(c.phase(), &Phase::Rotate(RotateStage::SetIt), "{:?}", c.message());
    drive(c, r, Intent::Acknowledge { who: SlotIx(0) });
    drive(c, r, Intent::Acknowledge { who: SlotIx(1) });
}

fn close(c: &mut Ceremony, r: &mut Runner) {
    drive(c, r, Intent::FinishRunbook);
    for i in 0..breakglass::ceremony::CLOSING.len() {
        drive(c, r, Intent::ToggleClosing(i));
    }
    drive(c, r, Intent::ConfirmClose);
    drive(c, r, Intent::Touch);
    drive(c, r, Intent::Touch);
    assert_eq!(c.phase(), &Phase::Summary, "{:?}", c.message());
}

#[test]
fn a_revealed_secret_is_rotated_sealed_back_and_the_old_sealing_kept_as_superseded() {
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = to_runbook(d.path(), Mode::Incident);
    assert_eq!(serial(&live(d.path())), 1);
    rotate_password(&mut c, &mut r);
    assert_eq!(c.phase(), &Phase::Runbook, "{:?}", c.message());
    assert!(c.unrotated().is_empty());
    // The live sealing is the new one; the old one is kept, superseded.
    assert_eq!(serial(&live(d.path())), 2);
    let old = breakglass::rotate::superseded(&live(d.path()), 1);
    assert_eq!(serial(&old), 1);
    let text = open(&live(d.path()));
    assert!(text.contains(NEW) && !text.contains(OLD));
    assert!(open(&old).contains(OLD));
    // Signed by both on their keys: a ceremony on a real roster would accept it.
    let sealed = Sealed::read_dir(&live(d.path())).unwrap();
    let (signed, _) = breakglass::roster::signed_by(
        &sealed.manifest_bytes,
        breakglass::sign::RUNBOOK_NAMESPACE,
        &breakglass::demo::roster(),
        &sealed.signatures,
    );
    assert_eq!(signed, ["alice", "bob"]);
    // The Support PIN, revealed, is rotated out of band: confirmed on both keys.
    drive(&mut c, &mut r, Intent::Reveal(PIN));
    drive(&mut c, &mut r, Intent::Rotate { secret: PIN, value: None });
    assert_eq!(c.phase(), &Phase::Rotate(RotateStage::OutOfBand));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    assert_eq!(c.phase(), &Phase::Runbook);
    assert!(c.unrotated().is_empty());
    close(&mut c, &mut r);
    // The journal: which secret, the new sealing, who confirmed; never the value.
    let journal = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    assert!(!journal.contains(NEW) && !journal.contains(OLD));
    let es = entries(&r.dir);
    let rotated: Vec<_> = es
        .iter()
        .filter_map(|e| match e {
            Entry::SecretRotated { name, how, serial, confirmed_by, .. } => {
                Some((name.clone(), how.clone(), *serial, confirmed_by.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        rotated,
        [
            ("root-password".into(), "generated".into(), Some(2), vec!["alice".to_string(), "bob".to_string()]),
            ("aws-support-pin".into(), "out-of-band".into(), None, vec!["alice".to_string(), "bob".to_string()]),
        ]
    );
    assert!(r.dir.join("sealing-2.MANIFEST.toml").exists());
    let report = breakglass::verify::verify(&r.dir, &Default::default(), None).unwrap();
    assert_eq!(report.status, Status::Valid, "{:?}", report.problems);
    assert!(report.unrotated.is_empty(), "{:?}", report.unrotated);
    // The next ceremony opens the new sealing.
    let (mut c2, mut r2) = to_runbook(d.path(), Mode::Incident);
    drive(&mut c2, &mut r2, Intent::Reveal(PASSWORD));
    let rb = c2.runbook().clone().unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&rb.secrets[PASSWORD].text), NEW);
}

#[test]
fn a_value_that_did_not_take_is_thrown_away_and_the_old_one_stands() {
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = to_runbook(d.path(), Mode::Incident);
    drive(&mut c, &mut r, Intent::Reveal(PASSWORD));
    drive(&mut c, &mut r, Intent::Rotate { secret: PASSWORD, value: Some(SecretString::from(NEW.to_string())) });
    drive(&mut c, &mut r, Intent::RotateGo);
    assert!(breakglass::rotate::staged(&live(d.path())).exists());
    drive(&mut c, &mut r, Intent::RotateAbandon);
    assert_eq!(c.phase(), &Phase::Runbook);
    assert!(!breakglass::rotate::staged(&live(d.path())).exists());
    assert_eq!(serial(&live(d.path())), 1);
    assert_eq!(c.unrotated(), [PASSWORD]);
    close(&mut c, &mut r);
    let report = breakglass::verify::verify(&r.dir, &Default::default(), None).unwrap();
    assert_eq!(report.status, Status::Valid, "{:?}", report.problems);
    assert_eq!(report.unrotated, ["root-password"]);
}

#[test]
fn a_drill_rehearses_on_a_copy_and_leaves_the_live_runbook_alone() {
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = to_runbook(d.path(), Mode::Drill);
    rotate_password(&mut c, &mut r);
    assert_eq!(c.phase(), &Phase::Runbook, "{:?}", c.message());
    assert_eq!(serial(&live(d.path())), 1);
    assert!(open(&live(d.path())).contains(OLD));
    assert!(!breakglass::rotate::drill_copy(&live(d.path())).exists());
    let es = entries(&r.dir);
    assert!(es.iter().any(|e| matches!(e, Entry::SecretRotated { drill: true, .. })));
    close(&mut c, &mut r);
    let report = breakglass::verify::verify(&r.dir, &Default::default(), None).unwrap();
    assert_eq!(report.status, Status::Valid, "{:?}", report.problems);
}

#[test]
fn a_ceremony_cut_short_after_staging_leaves_the_old_sealing_live_and_the_new_one_aside() {
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = to_runbook(d.path(), Mode::Incident);
    drive(&mut c, &mut r, Intent::Reveal(PASSWORD));
    drive(&mut c, &mut r, Intent::Rotate { secret: PASSWORD, value: Some(SecretString::from(NEW.to_string())) });
    drive(&mut c, &mut r, Intent::RotateGo);
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    // The process dies here (one confirmation journalled): the next start settles.
    drop((c, r));
    let (_c, _r) = setup(d.path());
    assert_eq!(serial(&live(d.path())), 1);
    let aside = breakglass::rotate::unconfirmed(&live(d.path()), 2);
    assert!(open(&aside).contains(NEW), "the new value is never lost");
    assert!(!breakglass::rotate::staged(&live(d.path())).exists());
}
