//! Virtual YubiKeys (tests/vcard): the real `yubikey` crate over pcscd and vpcd to a software
//! PIV card. ./scripts/test brings the rig up (`tests/vcard/rig.sh up`); tests that use cards run
//! one at a time (one pcscd, two card slots).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rig_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vcard/rig.sh")
}

pub fn rig(args: &[&str]) {
    rig_env(args, &[]);
}

/// `rig.sh ARGS` with more environment (for a card started by it: `VCARD_TOUCH_MS`).
pub fn rig_env(args: &[&str], env: &[(&str, &str)]) {
    let ca = ca_path();
    assert!(
        ca.is_file(),
        "the virtual card rig is not up ({} is missing): run `tests/vcard/rig.sh up` (./scripts/test does it; it needs pcscd, vsmartcard-vpcd, libclang-dev)",
        ca.display()
    );
    let o = std::process::Command::new(rig_sh()).args(args).envs(env.iter().copied()).output().expect("rig.sh runs");
    assert!(o.status.success(), "rig.sh {args:?} failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

pub fn ca_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vcard/target/rig/ca.pem")
}

/// The rig's test CA (DER), to pass in as an extra attestation trust root.
pub fn ca_der() -> Vec<u8> {
    let pem = std::fs::read_to_string(ca_path()).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64ct::Base64::decode_vec(&b64).unwrap()
}

use base64ct::Encoding;

/// A factory-fresh card with `serial` on vpcd `port` (35963 or 35964).
pub fn fresh(serial: u32, port: u16) {
    rig(&["card", &serial.to_string(), &port.to_string()]);
}

/// A factory-fresh card that waits `ms` milliseconds for each touch (a key whose touch policy
/// asks for one), as its owner would take to touch it.
pub fn fresh_slow_touch(serial: u32, port: u16, ms: u32) {
    rig_env(&["card", &serial.to_string(), &port.to_string()], &[("VCARD_TOUCH_MS", &ms.to_string())]);
}

pub fn stop(serial: u32) {
    rig(&["stop", &serial.to_string()]);
}

/// What enrolment leaves on a card, for the roster.
pub struct Enrolled {
    pub serial: u32,
    pub pin: String,
    pub signing_key: String,
    pub age_recipient: String,
}

/// Prepares a fresh card as `breakglass enroll` would: a new PIN, a P-256 key in 9c and in the
/// runbook slot (R1), generated on the card with the given touch policy for 9c.
pub fn enrol(serial: u32, pin: &str, touch_9c: TouchPolicy) -> Enrolled {
    let mut yk = YubiKey::open_by_serial(Serial(serial)).unwrap();
    yk.authenticate(MgmKey::default()).unwrap();
    yk.verify_pin(b"123456").unwrap();
    yk.change_pin(b"123456", pin.as_bytes()).unwrap();
    let spki = piv::generate(&mut yk, SlotId::Signature, AlgorithmId::EccP256, PinPolicy::Once, touch_9c).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).unwrap();
    let ssh = ssh_key::PublicKey::from(ssh_key::public::EcdsaPublicKey::from(&vk)).to_openssh().unwrap();
    let spki =
        piv::generate(&mut yk, breakglass::adapters::token::piv::AGE_SLOT, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Always)
            .unwrap();
    let pk = p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).unwrap();
    let age = breakglass::core::pivage::Recipient::from_public(&pk).encode();
    Enrolled { serial, pin: pin.into(), signing_key: ssh.split_whitespace().take(2).collect::<Vec<_>>().join(" "), age_recipient: age }
}

/// A roster for enrolled cards (ids in order), written to `dir/roster.toml`; not yet signed.
pub fn roster_for(dir: &std::path::Path, people: &[(&str, &Enrolled)]) -> PathBuf {
    let mut s = String::from("quorum = 2\n");
    for (id, e) in people {
        s.push_str(&format!(
            "\n[[custodian]]\nid = \"{id}\"\nname = \"{id} Custodian\"\nemail = \"{id}@example.com\"\nyubikey_serial = {}\nsigning_key = \"{}\"\nage_recipient = \"{}\"\n",
            e.serial, e.signing_key, e.age_recipient
        ));
    }
    let p = dir.join("roster.toml");
    std::fs::write(&p, s).unwrap();
    p
}
