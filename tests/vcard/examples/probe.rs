//! Exercises a (virtual) YubiKey through the real `yubikey` crate over PC/SC and checks the
//! answers. Run against a fresh card (rig.sh card SERIAL): it changes the card's keys.
//!
//!     probe [SERIAL] [--ca CA_CERT.pem] [--out DIR]
//!
//! With --ca, the attestation chain (slot cert <- f9 cert <- CA) is verified too. With --out,
//! the 9c attestation and the f9 certificate are written there as att-9c.pem and f9.pem
//! (check them with `openssl verify -CAfile CA_CERT.pem -untrusted f9.pem att-9c.pem`).

use std::{error::Error, process::ExitCode, time::Instant};

use der::{Decode as _, DecodePem as _, Encode as _};
use p256::{
    ecdsa::{signature::hazmat::PrehashVerifier as _, DerSignature, VerifyingKey},
    elliptic_curve::sec1::ToEncodedPoint as _,
};
use rsa::{pkcs1v15, pkcs8::DecodePublicKey as _};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate as X509;
use yubikey::{
    piv::{self, AlgorithmId, RetiredSlotId, SlotId},
    Certificate, MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("PROBE OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("PROBE FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(name: &str) {
    println!("\n== {name}");
}

fn check(cond: bool, what: &str) -> Result<()> {
    if cond {
        println!("   ok: {what}");
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}

fn run() -> Result<()> {
    let mut serial_arg = None;
    let mut ca_path = None;
    let mut out_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ca" => ca_path = Some(args.next().ok_or("--ca needs a file")?),
            "--out" => out_dir = Some(std::path::PathBuf::from(args.next().ok_or("--out needs a directory")?)),
            s => serial_arg = Some(s.parse::<u32>()?),
        }
    }

    step("open");
    let t = Instant::now();
    let mut yk = match serial_arg {
        Some(s) => YubiKey::open_by_serial(Serial::from(s))?,
        None => YubiKey::open()?,
    };
    println!("   reader {:?}, serial {}, version {}, opened in {:?}", yk.name(), yk.serial(), yk.version(), t.elapsed());
    if let Some(s) = serial_arg {
        check(yk.serial() == Serial::from(s), "serial matches")?;
    }
    check(yk.version().major == 5 && yk.version().minor == 4, "version is 5.4.x")?;

    step("PIN: retries, wrong PIN twice, right PIN");
    let retries = yk.get_pin_retries()?;
    println!("   retries before: {retries}");
    for _ in 0..2 {
        let r = yk.verify_pin(b"000000");
        println!("   verify_pin(000000) -> {r:?}");
        check(matches!(r, Err(yubikey::Error::WrongPin { .. })), "wrong PIN refused")?;
    }
    let after_wrong = yk.get_pin_retries()?;
    println!("   retries after two wrong: {after_wrong}");
    check(after_wrong + 2 == retries, "retries decremented by 2")?;
    let r = yk.verify_pin(b"123456");
    println!("   verify_pin(123456) -> {r:?}");
    r?;
    let reset = yk.get_pin_retries()?;
    println!("   retries after right PIN: {reset} (get_pin_retries re-selects, which logs the PIN out)");
    check(reset == retries, "retries restored")?;
    yk.verify_pin(b"123456")?;

    step("management key (default 3DES)");
    let r = yk.authenticate(MgmKey::default());
    println!("   authenticate -> {r:?}");
    r?;

    step("metadata (INS F7): not offered by this card");
    let r = piv::metadata(&mut yk, SlotId::Signature);
    println!("   metadata(9c) -> {:?}", r.as_ref().map(|_| "some metadata"));
    check(matches!(r, Err(yubikey::Error::NotSupported)), "metadata() is NotSupported")?;

    step("generate P-256 in 9c, PIN policy Once, touch policy Always");
    let spki_9c = piv::generate(&mut yk, SlotId::Signature, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Always)?;
    let vk_9c = VerifyingKey::from_sec1_bytes(spki_9c.subject_public_key.raw_bytes())?;
    println!("   public key {}", hex(vk_9c.to_encoded_point(false).as_bytes()));

    step("sign a 32-byte digest with 9c (PIN verified earlier in this session: policy Once)");
    let digest: [u8; 32] = Sha256::digest(b"breakglass probe").into();
    let t = Instant::now();
    let sig = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature)?;
    println!("   signature (DER, {} bytes, {:?}): {}", sig.len(), t.elapsed(), hex(&sig));
    let sig = DerSignature::try_from(sig.as_slice())?;
    check(vk_9c.verify_prehash(&digest, &sig).is_ok(), "signature verifies with the 9c public key")?;

    step("attestation of 9c (INS F9) and the f9 certificate (object 5FFF01)");
    let att_der = piv::attest(&mut yk, SlotId::Signature)?;
    let att = X509::from_der(&att_der)?;
    let f9 = Certificate::read(&mut yk, SlotId::Attestation)?.cert;
    describe(&att);
    describe(&f9);
    check(att.tbs_certificate.subject.to_string() == "CN=YubiKey PIV Attestation 9c", "attestation subject")?;
    check(att.tbs_certificate.issuer == f9.tbs_certificate.subject, "attestation issued by the f9 certificate")?;
    check(att.tbs_certificate.subject_public_key_info == spki_9c, "attested key is the 9c key")?;
    let ext = |oid: &str| {
        att.tbs_certificate.extensions.iter().flatten().find(|e| e.extn_id.to_string() == oid).map(|e| e.extn_value.as_bytes().to_vec())
    };
    check(ext("1.3.6.1.4.1.41482.3.3") == Some(vec![5, 4, 3]), "firmware extension = 05 04 03")?;
    let serial: u32 = yk.serial().into();
    check(ext("1.3.6.1.4.1.41482.3.7") == Some(serial.to_der()?), "serial extension = card serial (INTEGER)")?;
    check(ext("1.3.6.1.4.1.41482.3.8") == Some(vec![2, 2]), "policy extension = PIN Once (02), touch Always (02)")?;
    check(ext("1.3.6.1.4.1.41482.3.9").is_some(), "form factor extension present")?;
    check(verify_rsa(&att, &f9)?, "attestation signature verifies with the f9 key")?;
    if let Some(path) = &ca_path {
        let ca = X509::from_pem(std::fs::read(path)?)?;
        check(f9.tbs_certificate.issuer == ca.tbs_certificate.subject, "f9 issued by the test CA")?;
        check(verify_rsa(&f9, &ca)?, "f9 signature verifies with the test CA key")?;
    }

    if let Some(dir) = &out_dir {
        use der::{pem::LineEnding, EncodePem as _};
        std::fs::write(dir.join("att-9c.pem"), att.to_pem(LineEnding::LF)?)?;
        std::fs::write(dir.join("f9.pem"), f9.to_pem(LineEnding::LF)?)?;
        println!("   wrote {}/att-9c.pem and f9.pem", dir.display());
    }

    step("generate P-256 in 9d, ECDH with decrypt_data");
    let spki_9d = piv::generate(&mut yk, SlotId::KeyManagement, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Never)?;
    let card_pub = p256::PublicKey::from_sec1_bytes(spki_9d.subject_public_key.raw_bytes())?;
    let eph = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let eph_point = eph.public_key().to_encoded_point(false);
    let shared = piv::decrypt_data(&mut yk, eph_point.as_bytes(), AlgorithmId::EccP256, SlotId::KeyManagement)?;
    let expected = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), card_pub.as_affine());
    println!("   card's shared secret: {}", hex(&shared));
    check(shared.as_slice() == expected.raw_secret_bytes().as_slice(), "matches the host-side ECDH")?;

    step("PIN policy Always (9a): refused without a fresh VERIFY, allowed right after one");
    let spki_9a = piv::generate(&mut yk, SlotId::Authentication, AlgorithmId::EccP256, PinPolicy::Always, TouchPolicy::Never)?;
    let r = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Authentication);
    println!("   sign without VERIFY -> {:?}", r.as_ref().map(|s| s.len()));
    check(matches!(r, Err(yubikey::Error::AuthenticationError)), "refused")?;
    yk.verify_pin(b"123456")?;
    let sig = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Authentication)?;
    let vk_9a = VerifyingKey::from_sec1_bytes(spki_9a.subject_public_key.raw_bytes())?;
    check(vk_9a.verify_prehash(&digest, &DerSignature::try_from(sig.as_slice())?).is_ok(), "signature after VERIFY verifies")?;

    step("import a P-256 key into retired slot 82 (INS FE), sign with it, attestation refused");
    let imported = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let slot = SlotId::Retired(RetiredSlotId::R1);
    piv::import_ecc_key(&mut yk, slot, AlgorithmId::EccP256, &imported.to_bytes(), TouchPolicy::Never, PinPolicy::Once)?;
    let sig = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, slot)?;
    let vk = VerifyingKey::from(imported.public_key());
    check(vk.verify_prehash(&digest, &DerSignature::try_from(sig.as_slice())?).is_ok(), "imported key signs")?;
    let r = piv::attest(&mut yk, slot);
    println!("   attest(82) -> {:?}", r.as_ref().map(|c| c.len()));
    check(r.is_err(), "imported keys are not attested")?;

    step("change the PIN, sign with 9c (policy Once) under the new PIN, change it back");
    yk.change_pin(b"123456", b"654321")?;
    let sig = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature)?;
    check(vk_9c.verify_prehash(&digest, &DerSignature::try_from(sig.as_slice())?).is_ok(), "9c signs after the PIN change")?;
    yk.change_pin(b"654321", b"123456")?;
    yk.verify_pin(b"123456")?;

    step("a re-SELECT (new session) logs the PIN out: 9c needs the PIN again");
    let retries = yk.get_pin_retries()?; // re-selects
    println!("   retries {retries}");
    let r = piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature);
    println!("   sign 9c without VERIFY -> {:?}", r.as_ref().map(|s| s.len()));
    check(matches!(r, Err(yubikey::Error::AuthenticationError)), "refused after re-SELECT")?;
    Ok(())
}

/// Verifies `cert`'s sha256WithRSAEncryption signature with `issuer`'s RSA public key.
fn verify_rsa(cert: &X509, issuer: &X509) -> Result<bool> {
    use rsa::signature::Verifier as _;
    let key = rsa::RsaPublicKey::from_public_key_der(&issuer.tbs_certificate.subject_public_key_info.to_der()?)?;
    let vk = pkcs1v15::VerifyingKey::<Sha256>::new(key);
    let sig = pkcs1v15::Signature::try_from(cert.signature.raw_bytes())?;
    Ok(vk.verify(&cert.tbs_certificate.to_der()?, &sig).is_ok())
}

fn describe(c: &X509) {
    let tbs = &c.tbs_certificate;
    println!("   certificate: subject {:?}", tbs.subject.to_string());
    println!("                issuer  {:?}", tbs.issuer.to_string());
    println!("                serial  {}", hex(tbs.serial_number.as_bytes()));
    println!("                valid   {} .. {}", tbs.validity.not_before, tbs.validity.not_after);
    println!("                sig alg {}", c.signature_algorithm.oid);
    for e in tbs.extensions.iter().flatten() {
        println!("                ext {} = {}", e.extn_id, hex(e.extn_value.as_bytes()));
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
