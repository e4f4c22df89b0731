//! Pulls a (virtual) YubiKey out and puts the same card back, through the real `yubikey` crate
//! and `rig.sh unplug` / `rig.sh plug`, and checks what survives: the key in 9c (same public key
//! in its attestation, still signs) and the PIN retry counter survive; PIN verification and the
//! handle opened before the removal do not.
//!
//!     unplug SERIAL        (or: rig.sh unplug-probe SERIAL)
//!
//! Needs a running card (`rig.sh card SERIAL`) with the default PIN and management key. Changes
//! nothing on the card but a new P-256 key in 9c (PIN policy Once, touch Never).

use std::{error::Error, ffi::CString, process::ExitCode, time::Instant};

use der::Decode as _;
use p256::ecdsa::{signature::hazmat::PrehashVerifier as _, DerSignature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate as X509;
use yubikey::{
    piv::{self, AlgorithmId, SlotId},
    MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const RIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rig.sh");

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("UNPLUG PROBE OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("UNPLUG PROBE FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(cond: bool, what: &str) -> Result<()> {
    if cond {
        println!("   ok: {what}");
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}

fn rig(cmd: &str, serial: u32) -> Result<()> {
    let t = Instant::now();
    let status = std::process::Command::new(RIG).args([cmd, &serial.to_string()]).status()?;
    println!("   rig.sh {cmd} {serial} -> {status} in {:?}", t.elapsed());
    check(status.success(), &format!("rig.sh {cmd} succeeded"))
}

/// Is the PIN verified in the card's current session? Asked over raw PC/SC with VERIFY without
/// data (status only) and *no SELECT first*: opening with the `yubikey` crate selects PIV, and a
/// SELECT alone logs the PIN out, so only this shows what the removal itself did.
fn pin_verified_raw(reader: &str) -> Result<bool> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    let card = ctx.connect(&CString::new(reader)?, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    let mut rx = [0u8; 258];
    let sw = card.transmit(&[0x00, 0x20, 0x00, 0x80], &mut rx)?.to_vec();
    // LeaveCard: dropping a pcsc::Card would reset it, which logs the PIN out by itself.
    card.disconnect(pcsc::Disposition::LeaveCard).map_err(|(_, e)| e)?;
    println!("   raw VERIFY status (no SELECT) -> {}", hex(&sw));
    Ok(sw == [0x90, 0x00])
}

fn run() -> Result<()> {
    let serial: u32 = std::env::args().nth(1).ok_or("usage: unplug SERIAL")?.parse()?;
    let digest: [u8; 32] = Sha256::digest(b"breakglass unplug probe").into();

    println!("== open, verify PIN, generate P-256 in 9c (PIN policy Once)");
    let mut yk = YubiKey::open_by_serial(Serial::from(serial))?;
    let reader = yk.name().to_owned();
    println!("   reader {reader:?}, serial {}", yk.serial());
    let retries = yk.get_pin_retries()?;
    yk.verify_pin(b"123456")?;
    yk.authenticate(MgmKey::default())?;
    let spki = piv::generate(&mut yk, SlotId::Signature, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Never)?;
    let vk = VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())?;
    println!("   9c public key {}", hex(vk.to_encoded_point(false).as_bytes()));
    let sig = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature)?;
    check(vk.verify_prehash(&digest, &DerSignature::try_from(sig.as_slice())?).is_ok(), "9c signs (PIN verified)")?;
    // Asked while `yk` stays connected: dropping it would reset the card (ResetCard), and a
    // reset alone logs the PIN out.
    check(pin_verified_raw(&reader)?, "PIN still verified in this session before the removal")?;

    println!("== unplug");
    rig("unplug", serial)?;
    // As with hardware, a handle opened before the removal is dead.
    let r = yk.get_pin_retries();
    println!("   get_pin_retries on the old handle -> {r:?}");
    check(r.is_err(), "the handle opened before the removal fails")?;
    drop(yk);
    let r = YubiKey::open_by_serial(Serial::from(serial));
    println!("   open_by_serial -> {:?}", r.as_ref().map(|_| "opened"));
    check(r.is_err(), "card not found while unplugged")?;
    drop(r);

    println!("== plug back in");
    rig("plug", serial)?;
    check(!pin_verified_raw(&reader)?, "PIN no longer verified after re-insertion (before any SELECT)")?;
    let t = Instant::now();
    let mut yk = YubiKey::open_by_serial(Serial::from(serial))?;
    println!("   reopened in {:?}, reader {:?}", t.elapsed(), yk.name());
    check(yk.get_pin_retries()? == retries, &format!("PIN retry counter unchanged ({retries})"))?;
    let att = X509::from_der(&piv::attest(&mut yk, SlotId::Signature)?)?;
    check(att.tbs_certificate.subject_public_key_info == spki, "9c attestation shows the same public key")?;
    let r = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature);
    println!("   sign 9c before VERIFY -> {:?}", r.as_ref().map(|s| s.len()));
    check(matches!(r, Err(yubikey::Error::AuthenticationError)), "9c refuses to sign without the PIN")?;
    yk.verify_pin(b"123456")?;
    let sig = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature)?;
    check(vk.verify_prehash(&digest, &DerSignature::try_from(sig.as_slice())?).is_ok(), "9c signs after VERIFY, with the same key")?;
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
