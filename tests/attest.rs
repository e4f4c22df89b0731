//! Attestation chain checks on generated certificate fixtures (a test CA standing in for Yubico,
//! an f9 certificate, a slot 9c certificate with Yubico's extensions) and on the Yubico CA
//! certificates shipped in assets/yubico.
#![allow(clippy::unwrap_used)]

use breakglass::core::attest::{self, AttestError, Attestation, PinPolicy, Requirement, TouchPolicy, TrustStore};
use chrono::{DateTime, TimeZone, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, SignatureAlgorithm, date_time_ymd,
};
use sha2::{Digest, Sha256};
use ssh_key::public::{EcdsaPublicKey, Ed25519PublicKey, KeyData};

const SERIAL: u32 = 12_345_678;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn yubico_oid(last: u64) -> Vec<u64> {
    vec![1, 3, 6, 1, 4, 1, 41482, 3, last]
}

/// DER INTEGER, minimal, non-negative.
fn der_int(v: u32) -> Vec<u8> {
    let mut bytes: Vec<u8> = v.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
    if bytes.is_empty() || bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    let mut out = vec![0x02, bytes.len() as u8];
    out.extend(bytes);
    out
}

/// The Yubico extensions of a slot certificate; `None` leaves one out.
#[derive(Clone)]
struct Exts {
    firmware: Option<Vec<u8>>,
    serial: Option<Vec<u8>>,
    policy: Option<Vec<u8>>,
    form_factor: Option<Vec<u8>>,
    extra: Vec<CustomExtension>,
}

impl Default for Exts {
    fn default() -> Self {
        Exts {
            firmware: Some(vec![5, 4, 3]),
            serial: Some(der_int(SERIAL)),
            // PIN once, touch always: what breakglass enrol sets on 9c.
            policy: Some(vec![0x02, 0x02]),
            form_factor: Some(vec![0x03]),
            extra: Vec::new(),
        }
    }
}

impl Exts {
    fn with_policy(pin: u8, touch: u8) -> Self {
        Exts { policy: Some(vec![pin, touch]), ..Exts::default() }
    }

    fn to_custom(&self) -> Vec<CustomExtension> {
        let mut out = Vec::new();
        for (last, value) in [(3, &self.firmware), (7, &self.serial), (8, &self.policy), (9, &self.form_factor)] {
            if let Some(v) = value {
                out.push(CustomExtension::from_oid_content(&yubico_oid(last), v.clone()));
            }
        }
        out.extend(self.extra.iter().cloned());
        out
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = date_time_ymd(from.0, from.1, from.2);
    p.not_after = date_time_ymd(to.0, to.1, to.2);
    p
}

fn key(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).unwrap()
}

/// One CA with its key and certificate.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Ca {
    fn root(cn: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> Ca {
        let params = ca_params(cn, from, to);
        let key = key(&PKCS_ECDSA_P384_SHA384);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Ca { params, key, der }
    }

    fn issue(&self, params: CertificateParams, alg: &'static SignatureAlgorithm) -> Ca {
        let key = key(alg);
        let der = params.signed_by(&key, &Issuer::from_params(&self.params, &self.key)).unwrap().der().to_vec();
        Ca { params, key, der }
    }

    /// A slot 9c attestation for a fresh P-256 key, signed by this (f9) certificate.
    fn attest(&self, exts: &Exts) -> (KeyPair, Vec<u8>) {
        // Yubico copies the f9 certificate's dates into the slot certificate.
        self.attest_with(exts, |_| {})
    }

    /// Like [`Ca::attest`], with `adjust` applied to the slot certificate's parameters.
    fn attest_with(&self, exts: &Exts, adjust: impl FnOnce(&mut CertificateParams)) -> (KeyPair, Vec<u8>) {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn("YubiKey PIV Attestation 9c");
        p.not_before = self.params.not_before;
        p.not_after = self.params.not_after;
        p.custom_extensions = exts.to_custom();
        adjust(&mut p);
        let slot_key = key(&PKCS_ECDSA_P256_SHA256);
        let der = p.signed_by(&slot_key, &Issuer::from_params(&self.params, &self.key)).unwrap().der().to_vec();
        (slot_key, der)
    }
}

/// The rig: test CA -> f9 -> slot 9c.
struct Rig {
    ca: Ca,
    f9: Ca,
    slot_key: KeyPair,
    slot_der: Vec<u8>,
}

fn f9_params(from: (i32, u8, u8), to: (i32, u8, u8)) -> CertificateParams {
    ca_params("Breakglass Test PIV Attestation", from, to)
}

fn rig_with(ca_to: (i32, u8, u8), f9_from: (i32, u8, u8), f9_to: (i32, u8, u8), exts: &Exts) -> Rig {
    let ca = Ca::root("Breakglass Test Attestation CA", (2020, 1, 1), ca_to);
    let f9 = ca.issue(f9_params(f9_from, f9_to), &PKCS_ECDSA_P256_SHA256);
    let (slot_key, slot_der) = f9.attest(exts);
    Rig { ca, f9, slot_key, slot_der }
}

fn rig(exts: &Exts) -> Rig {
    rig_with((2045, 1, 1), (2020, 1, 1), (2045, 1, 1), exts)
}

impl Rig {
    fn store(&self) -> TrustStore {
        TrustStore::yubico().with_extra_root(&self.ca.der).unwrap()
    }

    fn verify(&self) -> Result<Attestation, AttestError> {
        attest::verify_chain(&self.slot_der, &self.f9.der, &self.store(), now())
    }

    fn requirement(&self) -> Requirement {
        Requirement {
            custodian: "alice".to_string(),
            serial: SERIAL,
            public_key_sec1: self.slot_key.public_key_raw().to_vec(),
            pin_policy: Requirement::SIGNING_PIN_POLICY,
            touch_policy: Requirement::SIGNING_TOUCH_POLICY,
        }
    }
}

fn openssh_line(sec1: &[u8]) -> String {
    let key = ssh_key::PublicKey::from(KeyData::Ecdsa(EcdsaPublicKey::from_sec1_bytes(sec1).unwrap()));
    key.to_openssh().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Accepted
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_valid_chain_is_accepted_and_fields_extracted() {
    let rig = rig(&Exts::default());
    let att = rig.verify().unwrap();
    assert_eq!(att.slot.as_deref(), Some("9c"));
    assert_eq!(att.serial, SERIAL);
    assert_eq!(att.firmware, (5, 4, 3));
    assert_eq!(att.firmware_string(), "5.4.3");
    assert_eq!(att.pin_policy, PinPolicy::Once);
    assert_eq!(att.touch_policy, TouchPolicy::Always);
    assert_eq!(att.form_factor, Some(0x03));
    assert_eq!(att.form_factor_name(), "USB-C keychain");
    assert!(!att.fips && !att.cspn);
    assert_eq!(att.public_key_sec1, rig.slot_key.public_key_raw());
    assert_eq!(att.chain, ["YubiKey PIV Attestation 9c", "Breakglass Test PIV Attestation", "Breakglass Test Attestation CA"]);
    attest::check(&att, &rig.requirement()).unwrap();
}

#[test]
fn attest_pem_inputs_are_accepted() {
    let rig = rig(&Exts::default());
    let pem =
        |der: &[u8]| x509_cert::der::pem::encode_string("CERTIFICATE", x509_cert::der::pem::LineEnding::LF, der).unwrap().into_bytes();
    let store = TrustStore::yubico().with_extra_root(&pem(&rig.ca.der)).unwrap();
    let att = attest::verify_chain(&pem(&rig.slot_der), &pem(&rig.f9.der), &store, now()).unwrap();
    assert_eq!(att.serial, SERIAL);
}

#[test]
fn attest_roster_signing_key_line_gives_the_requirement() {
    let rig = rig(&Exts::default());
    let line = openssh_line(rig.slot_key.public_key_raw());
    assert!(line.starts_with("ecdsa-sha2-nistp256 AAAA"), "{line}");
    assert_eq!(attest::sec1_from_openssh(&format!("  {line} alice@example  \n")).unwrap(), rig.slot_key.public_key_raw());
    let req = Requirement::signing("alice", SERIAL, &line).unwrap();
    assert_eq!(req.pin_policy, PinPolicy::Once);
    assert_eq!(req.touch_policy, TouchPolicy::Always);
    attest::check(&rig.verify().unwrap(), &req).unwrap();
}

#[test]
fn attest_pin_always_and_form_factor_absent_are_accepted() {
    let exts = Exts { form_factor: None, ..Exts::with_policy(0x03, 0x02) };
    let rig = rig(&exts);
    let att = rig.verify().unwrap();
    assert_eq!(att.pin_policy, PinPolicy::Always);
    assert_eq!(att.form_factor, None);
    assert_eq!(att.form_factor_name(), "not reported");
    attest::check(&att, &rig.requirement()).unwrap();
}

#[test]
fn attest_fips_form_factor_is_reported() {
    let exts = Exts { form_factor: Some(vec![0x84]), ..Exts::default() };
    let att = rig(&exts).verify().unwrap();
    assert!(att.fips);
    assert_eq!(att.form_factor_name(), "USB-C nano, FIPS series");
}

#[test]
fn attest_path_through_an_intermediate_is_built() {
    // Like firmware 5.7.4+: root -> intermediate -> f9 -> slot.
    let root = Ca::root("Breakglass Test Attestation Root", (2020, 1, 1), (2045, 1, 1));
    let mid = root.issue(ca_params("Breakglass Test Attestation Intermediate", (2020, 1, 1), (2045, 1, 1)), &PKCS_ECDSA_P384_SHA384);
    let f9 = mid.issue(f9_params((2020, 1, 1), (2045, 1, 1)), &PKCS_ECDSA_P256_SHA256);
    let (_, slot) = f9.attest(&Exts::default());

    let without = TrustStore::yubico().with_extra_root(&root.der).unwrap();
    let err = attest::verify_chain(&slot, &f9.der, &without, now()).unwrap_err();
    assert!(matches!(err, AttestError::Untrusted { .. }), "{err}");

    let store = without.with_extra_intermediate(&mid.der).unwrap();
    let att = attest::verify_chain(&slot, &f9.der, &store, now()).unwrap();
    assert_eq!(
        att.chain,
        [
            "YubiKey PIV Attestation 9c",
            "Breakglass Test PIV Attestation",
            "Breakglass Test Attestation Intermediate",
            "Breakglass Test Attestation Root"
        ]
    );
}

#[test]
fn attest_rsa_chain_like_older_firmware_is_accepted() {
    // Before 5.7.4: an RSA-2048 root signs an RSA-2048 f9 certificate (YubiKey 4 ones have no
    // basicConstraints), which signs the P-256 slot certificate with SHA-256 PKCS#1 v1.5.
    let rsa = |file: &str| {
        let pem = std::fs::read_to_string(format!("{}/tests/fixtures/attest/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256).unwrap()
    };
    let root_params = ca_params("Breakglass Test PIV Root CA", (2016, 3, 14), (2052, 4, 17));
    let root_key = rsa("test-root-rsa2048.key.pem");
    let root = Ca { der: root_params.self_signed(&root_key).unwrap().der().to_vec(), params: root_params, key: root_key };
    let mut f9_params = CertificateParams::default();
    f9_params.distinguished_name = dn("Breakglass Test PIV Attestation");
    f9_params.not_before = date_time_ymd(2016, 3, 14);
    f9_params.not_after = date_time_ymd(2052, 4, 17);
    let f9_key = rsa("test-f9-rsa2048.key.pem");
    let f9_der = f9_params.signed_by(&f9_key, &Issuer::from_params(&root.params, &root.key)).unwrap().der().to_vec();
    let f9 = Ca { params: f9_params, key: f9_key, der: f9_der };
    let (slot_key, slot) = f9.attest(&Exts { firmware: Some(vec![4, 3, 5]), form_factor: None, ..Exts::default() });

    let store = TrustStore::yubico().with_extra_root(&root.der).unwrap();
    let att = attest::verify_chain(&slot, &f9.der, &store, now()).unwrap();
    assert_eq!(att.firmware, (4, 3, 5));
    assert_eq!(att.public_key_sec1, slot_key.public_key_raw());
    assert_eq!(att.chain, ["YubiKey PIV Attestation 9c", "Breakglass Test PIV Attestation", "Breakglass Test PIV Root CA"]);
}

// ---------------------------------------------------------------------------------------------
// Trust
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_shipped_default_refuses_the_test_ca() {
    let rig = rig(&Exts::default());
    let store = TrustStore::yubico();
    assert_eq!(store.root_names().len(), 3);
    assert!(store.root_names().iter().all(|n| n.starts_with("Yubico ")), "{:?}", store.root_names());
    let err = attest::verify_chain(&rig.slot_der, &rig.f9.der, &store, now()).unwrap_err();
    match &err {
        AttestError::Untrusted { slot, issuer } => {
            assert_eq!(slot, "9c");
            assert_eq!(issuer, "CN=Breakglass Test Attestation CA");
        }
        other => panic!("expected Untrusted, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("slot 9c is signed by `CN=Breakglass Test Attestation CA`"), "{msg}");
    assert!(msg.contains("not a Yubico PIV attestation authority"), "{msg}");
    assert!(msg.contains("use the custodian's enrolled YubiKey"), "{msg}");
}

#[test]
fn attest_ca_impersonating_yubico_root_is_refused() {
    // Same name as Yubico's PIV root, different key: the name alone must not be trusted.
    let fake = Ca::root("Yubico PIV Root CA Serial 263751", (2016, 3, 14), (2052, 4, 17));
    let f9 = fake.issue(f9_params((2020, 1, 1), (2045, 1, 1)), &PKCS_ECDSA_P256_SHA256);
    let (_, slot) = f9.attest(&Exts::default());
    let err = attest::verify_chain(&slot, &f9.der, &TrustStore::yubico(), now()).unwrap_err();
    match &err {
        AttestError::BadSignature { cert, signer } => {
            assert_eq!(cert, "CN=Breakglass Test PIV Attestation");
            assert_eq!(signer, "CN=Yubico PIV Root CA Serial 263751");
        }
        other => panic!("expected BadSignature, got {other:?}"),
    }
}

#[test]
fn attest_self_signed_f9_is_untrusted() {
    // A customer who replaced the factory f9 key with their own self-signed one.
    let own = Ca::root("Breakglass Test PIV Attestation", (2020, 1, 1), (2045, 1, 1));
    let (_, slot) = own.attest(&Exts::default());
    let rig = rig(&Exts::default());
    let err = attest::verify_chain(&slot, &own.der, &rig.store(), now()).unwrap_err();
    assert!(matches!(err, AttestError::Untrusted { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Validity
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_expired_f9_is_refused() {
    let mut rig = rig_with((2045, 1, 1), (2020, 1, 1), (2025, 6, 30), &Exts::default());
    // The slot certificate usually copies f9's dates; keep it valid so the f9 check is what fails.
    (rig.slot_key, rig.slot_der) = rig.f9.attest_with(&Exts::default(), |p| p.not_after = date_time_ymd(2045, 1, 1));
    let err = rig.verify().unwrap_err();
    match &err {
        AttestError::Expired { cert, not_after, .. } => {
            assert_eq!(cert, "CN=Breakglass Test PIV Attestation");
            assert_eq!(*not_after, Utc.with_ymd_and_hms(2025, 6, 30, 0, 0, 0).unwrap());
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("certificate `CN=Breakglass Test PIV Attestation` expired on 2025-06-30 00:00:00 UTC"), "{msg}");
    assert!(msg.contains("check this computer's clock"), "{msg}");
}

#[test]
fn attest_expired_slot_certificate_with_f9_dates_is_refused() {
    // As Yubico issues them: the slot certificate has the f9 certificate's dates.
    let rig = rig_with((2045, 1, 1), (2020, 1, 1), (2025, 6, 30), &Exts::default());
    let err = rig.verify().unwrap_err();
    match &err {
        AttestError::Expired { cert, .. } => assert_eq!(cert, "CN=YubiKey PIV Attestation 9c"),
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[test]
fn attest_expired_ca_is_refused() {
    let rig = rig_with((2025, 12, 31), (2020, 1, 1), (2045, 1, 1), &Exts::default());
    let err = rig.verify().unwrap_err();
    match &err {
        AttestError::Expired { cert, .. } => assert_eq!(cert, "CN=Breakglass Test Attestation CA"),
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(err.to_string().contains("expired on 2025-12-31"), "{err}");
}

#[test]
fn attest_not_yet_valid_f9_is_refused() {
    let rig = rig_with((2045, 1, 1), (2027, 1, 1), (2045, 1, 1), &Exts::default());
    let err = rig.verify().unwrap_err();
    assert!(matches!(err, AttestError::NotYetValid { .. }), "{err}");
    assert!(err.to_string().contains("is not valid before 2027-01-01"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Wrong issuer
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_slot_signed_by_another_key_is_refused() {
    let rig = rig(&Exts::default());
    // Same issuer name as the real f9 certificate, different key.
    let impostor = rig.ca.issue(f9_params((2020, 1, 1), (2045, 1, 1)), &PKCS_ECDSA_P256_SHA256);
    let (_, slot) = impostor.attest(&Exts::default());
    let err = attest::verify_chain(&slot, &rig.f9.der, &rig.store(), now()).unwrap_err();
    match &err {
        AttestError::BadSignature { cert, signer } => {
            assert_eq!(cert, "CN=YubiKey PIV Attestation 9c");
            assert_eq!(signer, "CN=Breakglass Test PIV Attestation");
        }
        other => panic!("expected BadSignature, got {other:?}"),
    }
    assert!(err.to_string().contains("does not verify with the key of `CN=Breakglass Test PIV Attestation`"), "{err}");
}

#[test]
fn attest_slot_from_another_issuer_is_refused() {
    let rig = rig(&Exts::default());
    let other = rig.ca.issue(ca_params("Some Other Attestation Key", (2020, 1, 1), (2045, 1, 1)), &PKCS_ECDSA_P256_SHA256);
    let (_, slot) = other.attest(&Exts::default());
    let err = attest::verify_chain(&slot, &rig.f9.der, &rig.store(), now()).unwrap_err();
    match &err {
        AttestError::IssuerMismatch { slot, issuer, f9_subject } => {
            assert_eq!(slot, "9c");
            assert_eq!(issuer, "CN=Some Other Attestation Key");
            assert_eq!(f9_subject, "CN=Breakglass Test PIV Attestation");
        }
        other => panic!("expected IssuerMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("export both again from the same YubiKey"), "{err}");
}

#[test]
fn attest_intermediate_that_is_not_a_ca_is_refused() {
    let root = Ca::root("Breakglass Test Attestation Root", (2020, 1, 1), (2045, 1, 1));
    let mut not_ca = ca_params("Breakglass Test Leaf Posing As CA", (2020, 1, 1), (2045, 1, 1));
    not_ca.is_ca = IsCa::ExplicitNoCa;
    not_ca.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let mid = root.issue(not_ca, &PKCS_ECDSA_P256_SHA256);
    let f9 = mid.issue(f9_params((2020, 1, 1), (2045, 1, 1)), &PKCS_ECDSA_P256_SHA256);
    let (_, slot) = f9.attest(&Exts::default());
    let store = TrustStore::yubico().with_extra_root(&root.der).unwrap().with_extra_intermediate(&mid.der).unwrap();
    let err = attest::verify_chain(&slot, &f9.der, &store, now()).unwrap_err();
    assert!(matches!(err, AttestError::NotACa { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_missing_serial_extension_is_refused() {
    let exts = Exts { serial: None, ..Exts::default() };
    let err = rig(&exts).verify().unwrap_err();
    match &err {
        AttestError::MissingExtension { slot, name, oid, .. } => {
            assert_eq!(slot, "9c");
            assert_eq!(name, "serial number");
            assert_eq!(oid, "1.3.6.1.4.1.41482.3.7");
        }
        other => panic!("expected MissingExtension, got {other:?}"),
    }
    assert!(err.to_string().contains("use a YubiKey 5"), "{err}");
}

#[test]
fn attest_missing_policy_or_firmware_extension_is_refused() {
    for exts in [Exts { policy: None, ..Exts::default() }, Exts { firmware: None, ..Exts::default() }] {
        let err = rig(&exts).verify().unwrap_err();
        assert!(matches!(err, AttestError::MissingExtension { .. }), "{err}");
    }
}

#[test]
fn attest_policy_extension_of_wrong_length_is_refused() {
    for policy in [vec![0x02], vec![0x02, 0x02, 0x00], vec![]] {
        let len = policy.len();
        let exts = Exts { policy: Some(policy), ..Exts::default() };
        let err = rig(&exts).verify().unwrap_err();
        match &err {
            AttestError::BadExtension { oid, reason, .. } => {
                assert_eq!(oid, "1.3.6.1.4.1.41482.3.8");
                assert_eq!(reason, &format!("{len} bytes, expected 2"));
            }
            other => panic!("expected BadExtension, got {other:?}"),
        }
    }
}

#[test]
fn attest_garbled_firmware_serial_and_form_factor_are_refused() {
    let cases = [
        Exts { firmware: Some(vec![5, 4]), ..Exts::default() },
        // The serial as raw bytes instead of a DER INTEGER.
        Exts { serial: Some(SERIAL.to_be_bytes().to_vec()), ..Exts::default() },
        // A negative serial.
        Exts { serial: Some(vec![0x02, 0x01, 0xff]), ..Exts::default() },
        // A serial too large for 32 bits.
        Exts { serial: Some(vec![0x02, 0x05, 0x01, 0, 0, 0, 0]), ..Exts::default() },
        Exts { form_factor: Some(vec![0x03, 0x00]), ..Exts::default() },
    ];
    for exts in cases {
        let err = rig(&exts).verify().unwrap_err();
        assert!(matches!(err, AttestError::BadExtension { .. }), "{err}");
        assert!(err.to_string().contains("is malformed"), "{err}");
    }
}

#[test]
fn attest_unknown_critical_extension_is_refused() {
    let mut critical = CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
    critical.set_criticality(true);
    let exts = Exts { extra: vec![critical], ..Exts::default() };
    let err = rig(&exts).verify().unwrap_err();
    match &err {
        AttestError::UnknownCriticalExtension { cert, oid } => {
            assert_eq!(cert, "CN=YubiKey PIV Attestation 9c");
            assert_eq!(oid, "1.3.6.1.4.1.99999.1");
        }
        other => panic!("expected UnknownCriticalExtension, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed DER
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_malformed_der_is_refused() {
    let rig = rig(&Exts::default());
    let store = rig.store();
    let truncated_slot = &rig.slot_der[..rig.slot_der.len() - 7];
    let truncated_f9 = &rig.f9.der[..rig.f9.der.len() / 2];
    let mut trailing = rig.slot_der.clone();
    trailing.push(0);
    let cases: [(&[u8], &[u8], &str); 6] = [
        (truncated_slot, &rig.f9.der, "the slot attestation certificate"),
        (&rig.slot_der, truncated_f9, "the slot f9 (attestation key) certificate"),
        (&trailing, &rig.f9.der, "the slot attestation certificate"),
        (b"not a certificate", &rig.f9.der, "the slot attestation certificate"),
        (b"", &rig.f9.der, "the slot attestation certificate"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", &rig.f9.der, "the slot attestation certificate"),
    ];
    for (slot, f9, expected) in cases {
        let err = attest::verify_chain(slot, f9, &store, now()).unwrap_err();
        match &err {
            AttestError::Malformed { what, .. } => assert_eq!(what, expected),
            other => panic!("expected Malformed, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.starts_with("malformed certificate DER in "), "{msg}");
        assert!(msg.contains("re-read the attestation from the key"), "{msg}");
    }
    assert!(matches!(TrustStore::yubico().with_extra_root(truncated_f9), Err(AttestError::Malformed { .. })));
}

#[test]
fn attest_flipped_signature_byte_is_refused() {
    let rig = rig(&Exts::default());
    let mut slot = rig.slot_der.clone();
    // The signature value is the last element of the certificate: flip one of its bits.
    let at = slot.len() - 20;
    slot[at] ^= 0x01;
    let err = attest::verify_chain(&slot, &rig.f9.der, &rig.store(), now()).unwrap_err();
    assert!(matches!(err, AttestError::BadSignature { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Against the roster
// ---------------------------------------------------------------------------------------------

#[test]
fn attest_key_mismatch_is_refused() {
    let rig = rig(&Exts::default());
    let att = rig.verify().unwrap();
    let other = key(&PKCS_ECDSA_P256_SHA256);
    let req = Requirement { public_key_sec1: other.public_key_raw().to_vec(), ..rig.requirement() };
    let err = attest::check(&att, &req).unwrap_err();
    match &err {
        AttestError::KeyMismatch { slot, custodian, attested, roster } => {
            assert_eq!(slot, "9c");
            assert_eq!(custodian, "alice");
            assert_eq!(attested, &attest::key_fingerprint(rig.slot_key.public_key_raw()));
            assert_eq!(roster, &attest::key_fingerprint(other.public_key_raw()));
            assert!(attested.starts_with("SHA256:"), "{attested}");
        }
        other => panic!("expected KeyMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("is not the key the roster lists for alice"), "{err}");
}

#[test]
fn attest_serial_mismatch_is_refused() {
    let rig = rig(&Exts::default());
    let att = rig.verify().unwrap();
    let req = Requirement { custodian: "bob".to_string(), serial: 23_456_789, ..rig.requirement() };
    let err = attest::check(&att, &req).unwrap_err();
    assert_eq!(err, AttestError::SerialMismatch { custodian: "bob".to_string(), attested: SERIAL, roster: 23_456_789 });
    assert!(err.to_string().starts_with("attested serial 12345678 but the roster says 23456789 for bob: "), "{err}");
}

#[test]
fn attest_touch_policy_never_is_refused() {
    let rig = rig(&Exts::with_policy(0x02, 0x01));
    let att = rig.verify().unwrap();
    let err = attest::check(&att, &rig.requirement()).unwrap_err();
    assert!(matches!(err, AttestError::WeakTouchPolicy { attested: TouchPolicy::Never, .. }), "{err}");
    assert_eq!(err.to_string(), "touch policy of slot 9c is Never; breakglass requires Always: re-enrol the key with `breakglass enroll`");
}

#[test]
fn attest_touch_policy_cached_is_refused() {
    let rig = rig(&Exts::with_policy(0x02, 0x03));
    let err = attest::check(&rig.verify().unwrap(), &rig.requirement()).unwrap_err();
    assert!(matches!(err, AttestError::WeakTouchPolicy { attested: TouchPolicy::Cached, .. }), "{err}");
}

#[test]
fn attest_pin_policy_never_is_refused() {
    let rig = rig(&Exts::with_policy(0x01, 0x02));
    let err = attest::check(&rig.verify().unwrap(), &rig.requirement()).unwrap_err();
    assert!(matches!(err, AttestError::WeakPinPolicy { attested: PinPolicy::Never, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "PIN policy of slot 9c is Never; breakglass requires Once or Always: re-enrol the key with `breakglass enroll`"
    );
}

#[test]
fn attest_unstated_policy_is_refused() {
    let rig = rig(&Exts::with_policy(0x00, 0x00));
    let err = attest::check(&rig.verify().unwrap(), &rig.requirement()).unwrap_err();
    assert!(matches!(err, AttestError::WeakPinPolicy { attested: PinPolicy::Default, .. }), "{err}");
}

#[test]
fn attest_roster_key_of_wrong_type_is_refused() {
    let ed = ssh_key::PublicKey::from(KeyData::Ed25519(Ed25519PublicKey([7; 32]))).to_openssh().unwrap();
    let err = attest::sec1_from_openssh(&ed).unwrap_err();
    assert!(matches!(err, AttestError::RosterKey { .. }), "{err}");
    assert!(err.to_string().contains("ssh-ed25519"), "{err}");
    let err = Requirement::signing("alice", SERIAL, "ecdsa-sha2-nistp256 not-base64").unwrap_err();
    assert!(err.to_string().contains("paste the line that `breakglass enroll` printed"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The shipped Yubico certificates
// ---------------------------------------------------------------------------------------------

fn shipped(file: &str) -> &'static str {
    attest::YUBICO_CAS.iter().find(|c| c.file == file).unwrap_or_else(|| panic!("{file} is not shipped")).pem
}

#[test]
fn attest_shipped_yubico_certificates_match_their_fingerprints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/yubico/README.md")).unwrap();
    for ca in attest::YUBICO_CAS {
        let (label, der) = x509_cert::der::pem::decode_vec(ca.pem.as_bytes()).unwrap();
        assert_eq!(label, "CERTIFICATE");
        assert_eq!(hex::encode_upper(Sha256::digest(&der)), ca.sha256, "{}", ca.file);
        let on_disk = std::fs::read_to_string(format!("{}/assets/yubico/{}", env!("CARGO_MANIFEST_DIR"), ca.file)).unwrap();
        assert_eq!(on_disk, ca.pem, "{}", ca.file);
        let row = readme.lines().find(|l| l.contains(&format!("`{}`", ca.file))).unwrap_or_else(|| panic!("{} not in README", ca.file));
        assert!(row.contains(ca.sha256), "{}: README row {row}", ca.file);
    }
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/yubico")).unwrap();
    let pems = files.filter(|f| f.as_ref().unwrap().file_name().to_string_lossy().ends_with(".pem")).count();
    assert_eq!(pems, attest::YUBICO_CAS.len(), "every PEM in assets/yubico is shipped");
}

#[test]
fn attest_shipped_yubico_intermediates_chain_to_their_roots() {
    let chains = [
        // 5.7.4+: PIV Attestation -> Attestation Intermediate -> Attestation Root 1 (RSA, SHA-256).
        ("piv-attestation-a-1.pem", "attestation-intermediate-a-1.pem"),
        ("piv-attestation-b-1.pem", "attestation-intermediate-b-1.pem"),
        ("piv-attestation-b2-1.pem", "attestation-intermediate-b-1.pem"),
        ("attestation-intermediate-a-1.pem", "attestation-root-1.pem"),
        ("attestation-intermediate-b-1.pem", "attestation-root-1.pem"),
        // Self-signed roots: Attestation Root 1 uses sha512WithRSAEncryption.
        ("attestation-root-1.pem", "attestation-root-1.pem"),
        ("piv-root-ca-263751.pem", "piv-root-ca-263751.pem"),
        ("piv-root-ca-263751-old.pem", "piv-root-ca-263751-old.pem"),
        // The 2018 PIV root has the same name and key as the pre-2018 one.
        ("piv-root-ca-263751-old.pem", "piv-root-ca-263751.pem"),
    ];
    for (child, issuer) in chains {
        attest::verify_issued_by(shipped(child).as_bytes(), shipped(issuer).as_bytes())
            .unwrap_or_else(|e| panic!("{child} under {issuer}: {e}"));
    }
    // And the wrong links are refused.
    for (child, issuer) in [
        ("piv-attestation-a-1.pem", "attestation-intermediate-b-1.pem"),
        ("piv-attestation-b-1.pem", "attestation-root-1.pem"),
        ("attestation-root-1.pem", "piv-root-ca-263751.pem"),
    ] {
        let err = attest::verify_issued_by(shipped(child).as_bytes(), shipped(issuer).as_bytes()).unwrap_err();
        assert!(matches!(err, AttestError::BadSignature { .. }), "{child} under {issuer}: {err}");
    }
    let store = TrustStore::yubico();
    let mut roots = store.root_names();
    roots.sort();
    assert_eq!(roots, ["Yubico Attestation Root 1", "Yubico PIV Root CA Serial 263751", "Yubico PIV Root CA Serial 263751"]);
    let mut mids = store.intermediate_names();
    mids.sort();
    assert_eq!(
        mids,
        [
            "Yubico Attestation Intermediate A 1",
            "Yubico Attestation Intermediate B 1",
            "Yubico PIV Attestation A 1",
            "Yubico PIV Attestation B 1",
            "Yubico PIV Attestation B2 1"
        ]
    );
}

#[test]
fn attest_tampered_yubico_signature_is_refused() {
    let (_, mut der) = x509_cert::der::pem::decode_vec(shipped("piv-attestation-b-1.pem").as_bytes()).unwrap();
    let at = der.len() - 5;
    der[at] ^= 0x40;
    let err = attest::verify_issued_by(&der, shipped("attestation-intermediate-b-1.pem").as_bytes()).unwrap_err();
    assert!(matches!(err, AttestError::BadSignature { .. }), "{err}");
}
