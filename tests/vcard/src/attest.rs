//! PIV attestation the way a YubiKey does it, with a *test* CA instead of Yubico's.
//!
//! Chain: test root CA --signs--> "f9" attestation certificate (object 5FFF01)
//!        f9 key       --signs--> per-slot attestation certificate (INS F9).
//!
//! The per-slot certificate follows Yubico's description
//! (<https://docs.yubico.com/hardware/oid/oid-piv-arc.html>): random 16-byte serial, issuer =
//! subject of the f9 certificate, validity copied from the f9 certificate, subject
//! "YubiKey PIV Attestation <slot>", SHA256-PKCS#1v1.5 when the f9 key is RSA (as on real
//! YubiKeys, and as here), and the Yubico extensions 41482.3.3/.7/.8/.9. Like the real f9 chain
//! before firmware 5.7.4, the f9 certificate is signed directly by the root.

use std::{error::Error, fs, path::Path, str::FromStr};

use der::{
    asn1::{BitString, GeneralizedTime, UtcTime},
    oid::{AssociatedOid, ObjectIdentifier},
    pem::LineEnding,
    Any, DateTime, DecodePem, Encode, EncodePem,
};
use rand::RngCore as _;
use rsa::{
    pkcs1::DecodeRsaPrivateKey as _,
    pkcs1v15::SigningKey,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _},
    RsaPrivateKey,
};
use sha2::Sha256;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::{
    builder::{Builder as _, CertificateBuilder, Profile},
    ext::{AsExtension, Extension},
    name::Name,
    serial_number::SerialNumber,
    time::{Time, Validity},
    Certificate,
};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Subject of the f9 certificate on real YubiKeys.
const F9_SUBJECT: &str = "CN=Yubico PIV Attestation";
/// Subject of the root this rig makes when no CA is given. Says loudly that it is a test CA.
const TEST_CA_SUBJECT: &str = "CN=breakglass vcard TEST PIV Root CA (not Yubico),O=TEST ONLY";
/// Form factor reported in 41482.3.9: 0x01 = USB-A keychain (a YubiKey 5 NFC).
const FORM_FACTOR: u8 = 0x01;

/// Yubico's PIV attestation extensions. Their extnValue holds the raw bytes given here (for .3,
/// .8 and .9 these are *not* DER, exactly as Yubico encodes them; .7 is a DER INTEGER).
macro_rules! yubico_extension {
    ($name:ident, $oid:literal) => {
        struct $name(Vec<u8>);
        impl AssociatedOid for $name {
            const OID: ObjectIdentifier = ObjectIdentifier::new_unwrap($oid);
        }
        impl der::Encode for $name {
            fn encoded_len(&self) -> der::Result<der::Length> {
                der::Length::try_from(self.0.len())
            }
            fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
                writer.write(&self.0)
            }
        }
        impl AsExtension for $name {
            fn critical(&self, _: &Name, _: &[Extension]) -> bool {
                false
            }
        }
    };
}
yubico_extension!(FirmwareVersion, "1.3.6.1.4.1.41482.3.3");
yubico_extension!(DeviceSerial, "1.3.6.1.4.1.41482.3.7");
yubico_extension!(Policies, "1.3.6.1.4.1.41482.3.8");
yubico_extension!(FormFactor, "1.3.6.1.4.1.41482.3.9");

/// Where the root CA comes from.
pub enum CaSource<'a> {
    /// PEM files: an RSA private key (PKCS#8 or PKCS#1) and its certificate.
    Files { key: &'a Path, cert: &'a Path },
    /// Make a fresh RSA-2048 root now; optionally write its certificate (PEM) to a file.
    Generate { write_cert: Option<&'a Path> },
}

/// Signs per-slot attestation certificates with the f9 key.
pub struct Attestor {
    f9_key: SigningKey<Sha256>,
    f9_cert: Certificate,
    f9_der: Vec<u8>,
    serial: u32,
    version: [u8; 3],
}

impl Attestor {
    /// Loads or makes the root, then makes an f9 key (or loads `f9_key`) and its certificate.
    pub fn new(ca: CaSource<'_>, f9_key: Option<&Path>, serial: u32, version: [u8; 3]) -> Result<Self> {
        let (ca_key, ca_cert) = match ca {
            CaSource::Files { key, cert } => {
                let cert_pem = fs::read_to_string(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
                (load_rsa_key(key)?, Certificate::from_pem(cert_pem.as_bytes())?)
            }
            CaSource::Generate { write_cert } => {
                let (key, cert) = make_ca()?;
                if let Some(path) = write_cert {
                    fs::write(path, cert.to_pem(LineEnding::LF)?).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                (key, cert)
            }
        };

        let f9_private = match f9_key {
            Some(path) => load_rsa_key(path)?,
            None => RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?,
        };
        let f9_spki = SubjectPublicKeyInfoOwned::from_key(f9_private.to_public_key())?;
        let ca_signer = SigningKey::<Sha256>::new(ca_key);
        let mut builder = CertificateBuilder::new(
            Profile::SubCA { issuer: ca_cert.tbs_certificate.subject.clone(), path_len_constraint: None },
            random_serial(),
            ca_cert.tbs_certificate.validity,
            Name::from_str(F9_SUBJECT)?,
            f9_spki,
            &ca_signer,
        )?;
        builder.add_extension(&FirmwareVersion(version.to_vec()))?;
        builder.add_extension(&DeviceSerial(serial.to_der()?))?;
        let f9_cert = builder.build::<rsa::pkcs1v15::Signature>()?;
        let f9_der = f9_cert.to_der()?;
        Ok(Self { f9_key: SigningKey::new(f9_private), f9_cert, f9_der, serial, version })
    }

    /// DER of the f9 certificate (what GET DATA 5FFF01 holds).
    pub fn f9_cert_der(&self) -> &[u8] {
        &self.f9_der
    }

    /// Attestation certificate (DER) for the EC public key `point` (SEC1 uncompressed) in `slot`.
    pub fn attest(&self, slot: u8, point: &[u8], pin_policy: u8, touch_policy: u8) -> Result<Vec<u8>> {
        let mut builder = CertificateBuilder::new(
            // Manual: no SKI/AKI/basic constraints/key usage; a YubiKey adds only its own four.
            Profile::Manual { issuer: Some(self.f9_cert.tbs_certificate.subject.clone()) },
            random_serial(),
            self.f9_cert.tbs_certificate.validity,
            Name::from_str(&format!("CN=YubiKey PIV Attestation {slot:02x}"))?,
            ec_spki(point)?,
            &self.f9_key,
        )?;
        builder.add_extension(&FirmwareVersion(self.version.to_vec()))?;
        builder.add_extension(&DeviceSerial(self.serial.to_der()?))?;
        builder.add_extension(&Policies(vec![pin_policy, touch_policy]))?;
        builder.add_extension(&FormFactor(vec![FORM_FACTOR]))?;
        Ok(builder.build::<rsa::pkcs1v15::Signature>()?.to_der()?)
    }
}

/// A fresh RSA-2048 test root CA: self-signed, with the validity of Yubico's PIV root.
fn make_ca() -> Result<(RsaPrivateKey, Certificate)> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
    let signer = SigningKey::<Sha256>::new(key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key())?;
    let builder = CertificateBuilder::new(
        Profile::Root,
        random_serial(),
        yubico_validity()?,
        Name::from_str(TEST_CA_SUBJECT)?,
        spki,
        &signer,
    )?;
    let cert = builder.build::<rsa::pkcs1v15::Signature>()?;
    Ok((key, cert))
}

/// `vcard make-ca`: writes a test root CA (key and certificate) and, optionally, an f9 key, so
/// that several card processes can share one trust root and start without generating keys.
pub fn write_test_pki(ca_key: &Path, ca_cert: &Path, f9_key: Option<&Path>) -> Result<()> {
    let (key, cert) = make_ca()?;
    write_private_key(ca_key, &key)?;
    fs::write(ca_cert, cert.to_pem(LineEnding::LF)?).map_err(|e| format!("{}: {e}", ca_cert.display()))?;
    if let Some(path) = f9_key {
        write_private_key(path, &RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?)?;
    }
    Ok(())
}

fn write_private_key(path: &Path, key: &RsaPrivateKey) -> Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

fn load_rsa_key(path: &Path) -> Result<RsaPrivateKey> {
    let pem = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    RsaPrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
        .map_err(|e| format!("{}: not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}", path.display()).into())
}

/// SubjectPublicKeyInfo for an uncompressed P-256 or P-384 point.
fn ec_spki(point: &[u8]) -> Result<SubjectPublicKeyInfoOwned> {
    let curve = match point.len() {
        65 => "1.2.840.10045.3.1.7", // secp256r1
        97 => "1.3.132.0.34",        // secp384r1
        n => return Err(format!("unexpected EC point length {n}").into()),
    };
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"), // id-ecPublicKey
            parameters: Some(Any::from(ObjectIdentifier::new_unwrap(curve))),
        },
        subject_public_key: BitString::from_bytes(point)?,
    })
}

/// A positive random 16-byte serial, as YubiKeys use.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive, and no leading zero byte to strip
    SerialNumber::new(&bytes).expect("16 bytes is a valid serial")
}

/// The validity of Yubico's PIV root (and so of every f9 and slot certificate under it).
fn yubico_validity() -> Result<Validity> {
    Ok(Validity {
        not_before: Time::UtcTime(UtcTime::from_date_time(DateTime::new(2016, 3, 14, 0, 0, 0)?)?),
        not_after: Time::GeneralTime(GeneralizedTime::from_date_time(DateTime::new(2052, 4, 17, 0, 0, 0)?)),
    })
}
