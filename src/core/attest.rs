//! PIV attestation: proof that a custodian's slot key was made on a genuine YubiKey, with the
//! serial, PIN policy and touch policy the roster expects.
//!
//! A YubiKey attests a slot (9c, 9d, ...) by issuing an X.509 certificate for the slot's public
//! key, signed by its attestation key in slot f9. The f9 certificate is in turn issued by Yubico:
//! - firmware before 5.7.4: directly by "Yubico PIV Root CA Serial 263751";
//! - firmware 5.7.4 and later: by "Yubico PIV Attestation A 1 / B 1 / B2 1", which chain through
//!   "Yubico Attestation Intermediate A 1 / B 1" to "Yubico Attestation Root 1".
//!
//! [`verify_chain`] checks that whole path (every signature, every validity period, issuer names)
//! against a [`TrustStore`] and extracts Yubico's extensions into an [`Attestation`]; [`check`]
//! then compares it with what the roster says ([`Requirement`]). Every refusal is an
//! [`AttestError`] that names the certificate or field at fault and says what to do next.
//!
//! Decisions worth knowing, each following what Yubico documents:
//! - The f9 certificate is not required to carry `basicConstraints CA:TRUE`: YubiKey 4 f9
//!   certificates lack it (which is why `openssl verify` rejects them), and they are genuine.
//! - Path-length constraints are not enforced: the pre-2018 "Yubico PIV Root CA Serial 263751"
//!   certificate says `pathlen:0` although it always issued f9 certificates that issue slot
//!   certificates; its 2018 replacement (same key, `pathlen:1`) fixed that.
//! - The slot certificate's validity is checked like the others. Yubico documents that a slot
//!   attestation copies its dates from the f9 certificate, so this adds no new failure mode.
//! - Unknown *critical* extensions are refused (RFC 5280); Yubico's own extensions are not
//!   critical.
//! - Names are compared as decoded X.501 names (exact match), as issued by Yubico.

use chrono::{DateTime, Utc};
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384, Sha512};
use ssh_key::HashAlg;
use ssh_key::public::{EcdsaPublicKey, KeyData};
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode, Header, Reader, SliceReader, Tag, Tagged};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

// ---------------------------------------------------------------------------------------------
// Yubico's published certificates
// ---------------------------------------------------------------------------------------------

const PIV_ROOT_CA_263751_OLD: &str = include_str!("../../assets/yubico/piv-root-ca-263751-old.pem");
const PIV_ROOT_CA_263751: &str = include_str!("../../assets/yubico/piv-root-ca-263751.pem");
const ATTESTATION_ROOT_1: &str = include_str!("../../assets/yubico/attestation-root-1.pem");
const ATTESTATION_INTERMEDIATE_A_1: &str = include_str!("../../assets/yubico/attestation-intermediate-a-1.pem");
const ATTESTATION_INTERMEDIATE_B_1: &str = include_str!("../../assets/yubico/attestation-intermediate-b-1.pem");
const PIV_ATTESTATION_A_1: &str = include_str!("../../assets/yubico/piv-attestation-a-1.pem");
const PIV_ATTESTATION_B_1: &str = include_str!("../../assets/yubico/piv-attestation-b-1.pem");
const PIV_ATTESTATION_B2_1: &str = include_str!("../../assets/yubico/piv-attestation-b2-1.pem");

/// Yubico's PIV attestation trust anchors (PEM): both certificates of "Yubico PIV Root CA Serial
/// 263751" (pre-2018 and 2018, same key) and "Yubico Attestation Root 1".
#[cfg(test)]
pub(crate) const YUBICO_ROOTS_PEM: &[&str] = &[PIV_ROOT_CA_263751_OLD, PIV_ROOT_CA_263751, ATTESTATION_ROOT_1];

/// Yubico's PIV attestation intermediates (PEM), used only to build a path to a root; they are
/// never trusted on their own.
#[cfg(test)]
pub(crate) const YUBICO_INTERMEDIATES_PEM: &[&str] =
    &[ATTESTATION_INTERMEDIATE_A_1, ATTESTATION_INTERMEDIATE_B_1, PIV_ATTESTATION_A_1, PIV_ATTESTATION_B_1, PIV_ATTESTATION_B2_1];

/// One of Yubico's published PIV attestation CA certificates, as shipped in `assets/yubico/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YubicoCa {
    /// File name in `assets/yubico/`.
    pub file: &'static str,
    /// The certificate, PEM.
    pub pem: &'static str,
    /// SHA-256 of the DER certificate, upper-case hex, as Yubico publishes it.
    pub sha256: &'static str,
    /// A trust anchor (true) or an intermediate used for path building (false).
    pub is_root: bool,
}

/// Every shipped Yubico certificate with its pinned fingerprint (see `assets/yubico/README.md`).
/// [`TrustStore::yubico`] loads a certificate only if its fingerprint matches.
pub const YUBICO_CAS: &[YubicoCa] = &[
    YubicoCa {
        file: "piv-root-ca-263751-old.pem",
        pem: PIV_ROOT_CA_263751_OLD,
        sha256: "7E996A28E3055223733C9AEC897900EDA9B746E3E15D419556AC6A1179879A50",
        is_root: true,
    },
    YubicoCa {
        file: "piv-root-ca-263751.pem",
        pem: PIV_ROOT_CA_263751,
        sha256: "63ECE914E54DD87915F34033C85AF4C0696BA1512F8ADD66CED738331207B546",
        is_root: true,
    },
    YubicoCa {
        file: "attestation-root-1.pem",
        pem: ATTESTATION_ROOT_1,
        sha256: "62760C6A6EF91679F454C8902B80FD009825B3F25DA90F1FBACE2EC6586CD5A8",
        is_root: true,
    },
    YubicoCa {
        file: "attestation-intermediate-a-1.pem",
        pem: ATTESTATION_INTERMEDIATE_A_1,
        sha256: "4698A1D3389C3EC60016C216250F1D0439922832D65142327436376DC2942B55",
        is_root: false,
    },
    YubicoCa {
        file: "attestation-intermediate-b-1.pem",
        pem: ATTESTATION_INTERMEDIATE_B_1,
        sha256: "D4CC3F456FDAF4E7812A21AAB1DFE9D8E27D24E2FD2D6F21C9940109F0DAA754",
        is_root: false,
    },
    YubicoCa {
        file: "piv-attestation-a-1.pem",
        pem: PIV_ATTESTATION_A_1,
        sha256: "6DE693F05376F5D8CA29069261E1C8626C75D503BD2EDBFD75354CAD1F722870",
        is_root: false,
    },
    YubicoCa {
        file: "piv-attestation-b-1.pem",
        pem: PIV_ATTESTATION_B_1,
        sha256: "2D55B7998F4E42569D6D8FA382B6DC77D1DACF07358B19701163892922B17052",
        is_root: false,
    },
    YubicoCa {
        file: "piv-attestation-b2-1.pem",
        pem: PIV_ATTESTATION_B2_1,
        sha256: "0C90B7D184A36EDF50A35F9BE935F0C5689BFDCFE5BDD073366CAFB49061A440",
        is_root: false,
    },
];

// ---------------------------------------------------------------------------------------------
// OIDs
// ---------------------------------------------------------------------------------------------

/// Firmware version: OCTET STRING of 3 bytes (major, minor, patch).
pub(crate) const OID_FIRMWARE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.3");
/// Serial number: DER INTEGER (YubiKey 5 and later).
pub(crate) const OID_SERIAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.7");
/// Usage policy: 2 bytes (PIN policy, touch policy).
pub(crate) const OID_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");
/// Form factor: 1 byte.
pub(crate) const OID_FORM_FACTOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.9");
/// Present on FIPS-certified YubiKeys.
pub(crate) const OID_FIPS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.10");
/// Present on CSPN-certified YubiKeys.
pub(crate) const OID_CSPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.11");

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");

/// Extensions a certificate in the chain may mark critical; any other critical extension is
/// refused (RFC 5280 section 4.2).
const KNOWN_CRITICAL: &[ObjectIdentifier] = &[
    ObjectIdentifier::new_unwrap("2.5.29.14"), // subject key identifier
    ObjectIdentifier::new_unwrap("2.5.29.15"), // key usage
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subject alternative name
    ObjectIdentifier::new_unwrap("2.5.29.19"), // basic constraints
    ObjectIdentifier::new_unwrap("2.5.29.32"), // certificate policies
    ObjectIdentifier::new_unwrap("2.5.29.35"), // authority key identifier
    ObjectIdentifier::new_unwrap("2.5.29.37"), // extended key usage
    OID_FIRMWARE,
    OID_SERIAL,
    OID_POLICY,
    OID_FORM_FACTOR,
    OID_FIPS,
    OID_CSPN,
];

/// The longest CA path accepted above the f9 certificate (Yubico's is at most 3 with the root).
const MAX_PATH: usize = 6;

/// Subject prefix of a slot attestation certificate; the slot follows ("... 9c").
const SLOT_SUBJECT_PREFIX: &str = "YubiKey PIV Attestation ";

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// The PIN policy of a slot, as attested (first byte of extension `1.3.6.1.4.1.41482.3.8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinPolicy {
    /// 0x00: "default"; a key should state its effective policy, so this satisfies nothing.
    Default,
    /// 0x01: the PIN is never asked.
    Never,
    /// 0x02: the PIN is verified once per session.
    Once,
    /// 0x03: the PIN is verified before every use.
    Always,
    /// 0x04: YubiKey Bio, PIN or fingerprint once per session.
    MatchOnce,
    /// 0x05: YubiKey Bio, PIN or fingerprint before every use.
    MatchAlways,
    /// Any other byte.
    Unknown(u8),
}

impl PinPolicy {
    /// Decode the attested byte.
    pub(crate) fn from_byte(b: u8) -> Self {
        match b {
            0x00 => Self::Default,
            0x01 => Self::Never,
            0x02 => Self::Once,
            0x03 => Self::Always,
            0x04 => Self::MatchOnce,
            0x05 => Self::MatchAlways,
            other => Self::Unknown(other),
        }
    }

    /// The attested byte.
    #[cfg(test)]
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::Default => 0x00,
            Self::Never => 0x01,
            Self::Once => 0x02,
            Self::Always => 0x03,
            Self::MatchOnce => 0x04,
            Self::MatchAlways => 0x05,
            Self::Unknown(b) => b,
        }
    }

    /// How strict: Never 0, once per session 1, every use 2; `None` when it is not stated.
    fn strictness(self) -> Option<u8> {
        match self {
            Self::Never => Some(0),
            Self::Once | Self::MatchOnce => Some(1),
            Self::Always | Self::MatchAlways => Some(2),
            Self::Default | Self::Unknown(_) => None,
        }
    }

    /// True when this policy is at least as strict as `required`.
    pub(crate) fn satisfies(self, required: PinPolicy) -> bool {
        match (self.strictness(), required.strictness()) {
            (Some(have), Some(need)) => have >= need,
            _ => false,
        }
    }

    /// What a requirement accepts, for messages ("Once or Always").
    fn accepted(self) -> &'static str {
        match self.strictness() {
            Some(0) => "any PIN policy",
            Some(1) => "Once or Always",
            _ => "Always",
        }
    }
}

impl std::fmt::Display for PinPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("Default (not stated)"),
            Self::Never => f.write_str("Never"),
            Self::Once => f.write_str("Once"),
            Self::Always => f.write_str("Always"),
            Self::MatchOnce => f.write_str("Match once"),
            Self::MatchAlways => f.write_str("Match always"),
            Self::Unknown(b) => write!(f, "unknown (0x{b:02x})"),
        }
    }
}

/// The touch policy of a slot, as attested (second byte of extension `1.3.6.1.4.1.41482.3.8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TouchPolicy {
    /// 0x00: "default"; a key should state its effective policy, so this satisfies nothing.
    Default,
    /// 0x01: no touch.
    Never,
    /// 0x02: a touch for every use.
    Always,
    /// 0x03: a touch, then cached for 15 seconds.
    Cached,
    /// Any other byte.
    Unknown(u8),
}

impl TouchPolicy {
    /// Decode the attested byte.
    pub(crate) fn from_byte(b: u8) -> Self {
        match b {
            0x00 => Self::Default,
            0x01 => Self::Never,
            0x02 => Self::Always,
            0x03 => Self::Cached,
            other => Self::Unknown(other),
        }
    }

    /// The attested byte.
    #[cfg(test)]
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::Default => 0x00,
            Self::Never => 0x01,
            Self::Always => 0x02,
            Self::Cached => 0x03,
            Self::Unknown(b) => b,
        }
    }

    fn strictness(self) -> Option<u8> {
        match self {
            Self::Never => Some(0),
            Self::Cached => Some(1),
            Self::Always => Some(2),
            Self::Default | Self::Unknown(_) => None,
        }
    }

    /// True when this policy is at least as strict as `required`.
    pub(crate) fn satisfies(self, required: TouchPolicy) -> bool {
        match (self.strictness(), required.strictness()) {
            (Some(have), Some(need)) => have >= need,
            _ => false,
        }
    }

    fn accepted(self) -> &'static str {
        match self.strictness() {
            Some(0) => "any touch policy",
            Some(1) => "Cached or Always",
            _ => "Always",
        }
    }
}

impl std::fmt::Display for TouchPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("Default (not stated)"),
            Self::Never => f.write_str("Never"),
            Self::Always => f.write_str("Always"),
            Self::Cached => f.write_str("Cached"),
            Self::Unknown(b) => write!(f, "unknown (0x{b:02x})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why an attestation was refused. Each message names what is wrong and what to do next.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// A certificate could not be decoded.
    #[error(
        "malformed certificate DER in {what} ({reason}): re-read the attestation from the key \
         (`breakglass enroll` prints it again) and make sure the file holds one PEM or DER certificate"
    )]
    Malformed {
        /// Which certificate ("the slot attestation certificate", ...).
        what: String,
        /// The decoder's complaint.
        reason: String,
    },

    /// The slot certificate does not name the f9 certificate as its issuer.
    #[error(
        "the attestation of slot {slot} names `{issuer}` as its issuer, but the slot f9 certificate \
         given with it is `{f9_subject}`: the two files do not belong together; export both again \
         from the same YubiKey"
    )]
    IssuerMismatch {
        /// The attested slot.
        slot: String,
        /// Issuer named by the slot certificate.
        issuer: String,
        /// Subject of the f9 certificate.
        f9_subject: String,
    },

    /// A signature does not verify with its issuer's key.
    #[error(
        "the signature on `{cert}` does not verify with the key of `{signer}`: it was altered or \
         signed by another key, so it is not a genuine YubiKey attestation; use the custodian's \
         enrolled YubiKey and read its attestation again"
    )]
    BadSignature {
        /// The certificate whose signature failed.
        cert: String,
        /// The certificate whose key was used.
        signer: String,
    },

    /// A signature or key algorithm this module does not verify.
    #[error(
        "`{cert}` uses {algorithm}, which breakglass does not verify (RSA PKCS#1 v1.5 and ECDSA \
         P-256/P-384 with SHA-256/384/512 only): use a YubiKey whose attestation Yubico issued"
    )]
    UnsupportedAlgorithm {
        /// The certificate concerned.
        cert: String,
        /// The algorithm, as an OID or a name.
        algorithm: String,
    },

    /// The chain does not end at a trusted root.
    #[error(
        "the attestation of slot {slot} is signed by `{issuer}`, which is not a Yubico PIV \
         attestation authority: this key may not be a genuine YubiKey, or its factory attestation \
         key (slot f9) was replaced; use the custodian's enrolled YubiKey"
    )]
    Untrusted {
        /// The attested slot.
        slot: String,
        /// The issuer that no trusted certificate vouches for.
        issuer: String,
    },

    /// A certificate's validity has not started.
    #[error(
        "certificate `{cert}` is not valid before {not_before} (now {now}): check this computer's \
         clock, then read the attestation again"
    )]
    NotYetValid {
        /// The certificate concerned.
        cert: String,
        /// Its notBefore.
        not_before: DateTime<Utc>,
        /// The time it was checked at.
        now: DateTime<Utc>,
    },

    /// A certificate's validity has ended.
    #[error(
        "certificate `{cert}` expired on {not_after} (now {now}): check this computer's clock; if \
         it is right, this attestation can no longer be trusted: {next}"
    )]
    Expired {
        /// The certificate concerned.
        cert: String,
        /// Its notAfter.
        not_after: DateTime<Utc>,
        /// The time it was checked at.
        now: DateTime<Utc>,
        /// What to do about it.
        next: String,
    },

    /// An intermediate in the path is not a CA certificate.
    #[error(
        "`{cert}` is not a certificate authority ({reason}) yet it is used to issue `{issued}`: \
         the trust store is misconfigured; use the Yubico certificates shipped with breakglass"
    )]
    NotACa {
        /// The intermediate.
        cert: String,
        /// What is missing.
        reason: String,
        /// The certificate it issued.
        issued: String,
    },

    /// The path is longer than any Yubico path.
    #[error(
        "the attestation chain of slot {slot} is longer than {max} certificates above f9: it is not \
         a Yubico chain; use the custodian's enrolled YubiKey"
    )]
    ChainTooLong {
        /// The attested slot.
        slot: String,
        /// The limit.
        max: usize,
    },

    /// A critical extension this module does not understand.
    #[error(
        "`{cert}` has a critical extension {oid} that breakglass does not understand, so it must \
         refuse the certificate (RFC 5280): use a YubiKey whose attestation Yubico issued"
    )]
    UnknownCriticalExtension {
        /// The certificate concerned.
        cert: String,
        /// The extension.
        oid: String,
    },

    /// A required Yubico extension is absent.
    #[error("the attestation of slot {slot} has no {name} extension ({oid}): {next}")]
    MissingExtension {
        /// The attested slot.
        slot: String,
        /// The extension's name.
        name: String,
        /// Its OID.
        oid: String,
        /// What to do about it.
        next: String,
    },

    /// A Yubico extension is present but not in Yubico's format.
    #[error(
        "the {name} extension ({oid}) of the attestation of slot {slot} is malformed ({reason}): it \
         is not a YubiKey attestation as Yubico documents it; read the attestation again from the \
         custodian's enrolled YubiKey"
    )]
    BadExtension {
        /// The attested slot.
        slot: String,
        /// The extension's name.
        name: String,
        /// Its OID.
        oid: String,
        /// What is wrong.
        reason: String,
    },

    /// The attested slot key is not an elliptic-curve key breakglass can use.
    #[error(
        "slot {slot} holds {algorithm}; breakglass needs a P-256 key there: re-enrol the key with \
         `breakglass enroll`"
    )]
    UnsupportedSlotKey {
        /// The attested slot.
        slot: String,
        /// What the slot holds.
        algorithm: String,
    },

    /// The attested key differs from the roster's.
    #[error(
        "the key attested for slot {slot} ({attested}) is not the key the roster lists for \
         {custodian} ({roster}): this is not the enrolled key; use {custodian}'s enrolled YubiKey, \
         or re-enrol with `breakglass enroll` and have a quorum re-sign the roster"
    )]
    KeyMismatch {
        /// The attested slot.
        slot: String,
        /// The custodian id.
        custodian: String,
        /// Fingerprint of the attested key.
        attested: String,
        /// Fingerprint of the roster's key.
        roster: String,
    },

    /// The attested serial differs from the roster's.
    #[error(
        "attested serial {attested} but the roster says {roster} for {custodian}: this is a \
         different YubiKey; use {custodian}'s enrolled YubiKey, or re-enrol with `breakglass \
         enroll` and have a quorum re-sign the roster"
    )]
    SerialMismatch {
        /// The custodian id.
        custodian: String,
        /// Serial in the attestation.
        attested: u32,
        /// Serial in the roster.
        roster: u32,
    },

    /// The attested PIN policy is weaker than required.
    #[error(
        "PIN policy of slot {slot} is {attested}; breakglass requires {accepted}: re-enrol the key \
         with `breakglass enroll`"
    )]
    WeakPinPolicy {
        /// The attested slot.
        slot: String,
        /// What the key has.
        attested: PinPolicy,
        /// What is accepted, in words.
        accepted: String,
    },

    /// The attested touch policy is weaker than required.
    #[error(
        "touch policy of slot {slot} is {attested}; breakglass requires {accepted}: re-enrol the \
         key with `breakglass enroll`"
    )]
    WeakTouchPolicy {
        /// The attested slot.
        slot: String,
        /// What the key has.
        attested: TouchPolicy,
        /// What is accepted, in words.
        accepted: String,
    },

    /// The roster's `signing_key` is not an OpenSSH P-256 public key.
    #[error(
        "the roster's signing_key is not an OpenSSH ecdsa-sha2-nistp256 public key ({reason}): \
         paste the line that `breakglass enroll` printed for this custodian"
    )]
    RosterKey {
        /// What is wrong.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Parsed certificates
// ---------------------------------------------------------------------------------------------

/// A decoded certificate with the exact bytes its signature covers.
#[derive(Clone, Debug)]
struct Parsed {
    cert: Certificate,
    /// The TBSCertificate as it appears in the input (not re-encoded).
    tbs: Vec<u8>,
    /// The whole certificate, DER.
    der: Vec<u8>,
}

impl Parsed {
    /// Decode a certificate given as DER or PEM; `what` names it in errors.
    fn parse(bytes: &[u8], what: &str) -> Result<Self, AttestError> {
        let malformed = |reason: String| AttestError::Malformed { what: what.to_string(), reason };
        let der = to_der(bytes).map_err(malformed)?;
        let cert = Certificate::from_der(&der).map_err(|e| malformed(e.to_string()))?;
        let tbs = raw_tbs(&der).map_err(|e| malformed(e.to_string()))?;
        let mut seen: Vec<&ObjectIdentifier> = Vec::new();
        for ext in cert.tbs_certificate.extensions.iter().flatten() {
            if seen.contains(&&ext.extn_id) {
                return Err(malformed(format!("extension {} appears twice", ext.extn_id)));
            }
            seen.push(&ext.extn_id);
        }
        Ok(Self { cert, tbs, der })
    }

    fn subject(&self) -> &Name {
        &self.cert.tbs_certificate.subject
    }

    fn issuer(&self) -> &Name {
        &self.cert.tbs_certificate.issuer
    }

    /// The subject as an RFC 4514 string, for messages.
    fn label(&self) -> String {
        name_label(self.subject())
    }

    /// The subject's common name, or the whole subject when it has none.
    fn cn(&self) -> String {
        common_name(self.subject()).unwrap_or_else(|| self.label())
    }

    fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.cert.tbs_certificate.extensions.iter().flatten().find(|e| e.extn_id == oid).map(|e| e.extn_value.as_bytes())
    }

    fn check_critical_extensions(&self) -> Result<(), AttestError> {
        for ext in self.cert.tbs_certificate.extensions.iter().flatten() {
            if ext.critical && !KNOWN_CRITICAL.contains(&ext.extn_id) {
                return Err(AttestError::UnknownCriticalExtension { cert: self.label(), oid: ext.extn_id.to_string() });
            }
        }
        Ok(())
    }

    fn check_validity(&self, now: DateTime<Utc>, next: &str) -> Result<(), AttestError> {
        let validity = &self.cert.tbs_certificate.validity;
        let not_before = to_chrono(validity.not_before.to_unix_duration());
        let not_after = to_chrono(validity.not_after.to_unix_duration());
        if now < not_before {
            return Err(AttestError::NotYetValid { cert: self.label(), not_before, now });
        }
        if now > not_after {
            return Err(AttestError::Expired { cert: self.label(), not_after, now, next: next.to_string() });
        }
        Ok(())
    }

    /// An intermediate must say it is a CA and, if it restricts key usage, allow certificate
    /// signing.
    fn check_is_ca(&self, issued: &Parsed) -> Result<(), AttestError> {
        let not_ca = |reason: &str| AttestError::NotACa { cert: self.label(), reason: reason.to_string(), issued: issued.label() };
        match self.cert.tbs_certificate.get::<BasicConstraints>() {
            Ok(Some((_, bc))) if bc.ca => {}
            Ok(_) => return Err(not_ca("no basicConstraints CA:TRUE")),
            Err(_) => return Err(not_ca("unreadable basicConstraints")),
        }
        match self.cert.tbs_certificate.get::<KeyUsage>() {
            Ok(Some((_, ku))) if !ku.key_cert_sign() => Err(not_ca("keyUsage without keyCertSign")),
            Ok(_) => Ok(()),
            Err(_) => Err(not_ca("unreadable keyUsage")),
        }
    }
}

/// PEM (one CERTIFICATE block) or DER in, DER out.
fn to_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let (label, der) = x509_cert::der::pem::decode_vec(trimmed).map_err(|e| format!("PEM: {e}"))?;
        if label != "CERTIFICATE" {
            return Err(format!("PEM block is `{label}`, not `CERTIFICATE`"));
        }
        Ok(der)
    } else if bytes.is_empty() {
        Err("the file is empty".to_string())
    } else {
        Ok(bytes.to_vec())
    }
}

/// The TBSCertificate's own bytes: the first element of the outer SEQUENCE.
fn raw_tbs(der: &[u8]) -> x509_cert::der::Result<Vec<u8>> {
    let mut reader = SliceReader::new(der)?;
    let _outer = Header::decode(&mut reader)?;
    Ok(reader.tlv_bytes()?.to_vec())
}

fn to_chrono(since_epoch: std::time::Duration) -> DateTime<Utc> {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn name_label(name: &Name) -> String {
    let s = name.to_string();
    if s.is_empty() { "(empty name)".to_string() } else { s }
}

fn common_name(name: &Name) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find(|atv| atv.oid == OID_CN).and_then(|atv| match atv.value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            Some(String::from_utf8_lossy(atv.value.value()).into_owned())
        }
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

fn algorithm_name(oid: &ObjectIdentifier) -> String {
    let name = match *oid {
        OID_SHA256_RSA => "sha256WithRSAEncryption",
        OID_SHA384_RSA => "sha384WithRSAEncryption",
        OID_SHA512_RSA => "sha512WithRSAEncryption",
        OID_ECDSA_SHA256 => "ecdsa-with-SHA256",
        OID_ECDSA_SHA384 => "ecdsa-with-SHA384",
        OID_ECDSA_SHA512 => "ecdsa-with-SHA512",
        OID_RSA_ENCRYPTION => "an RSA key",
        OID_EC_PUBLIC_KEY => "an elliptic-curve key",
        _ => return format!("algorithm {oid}"),
    };
    name.to_string()
}

/// Check that `child` is signed by the key of `issuer` (names are checked by the caller).
fn verify_signed_by(child: &Parsed, issuer: &Parsed) -> Result<(), AttestError> {
    let alg = &child.cert.signature_algorithm;
    if *alg != child.cert.tbs_certificate.signature {
        return Err(AttestError::Malformed {
            what: format!("`{}`", child.label()),
            reason: "the signature algorithm inside the certificate differs from the outer one".to_string(),
        });
    }
    let unsupported = |algorithm: String| AttestError::UnsupportedAlgorithm { cert: child.label(), algorithm };
    let bad = || AttestError::BadSignature { cert: child.label(), signer: issuer.label() };
    let (is_rsa, hash) = match alg.oid {
        OID_SHA256_RSA => (true, Hash::Sha256),
        OID_SHA384_RSA => (true, Hash::Sha384),
        OID_SHA512_RSA => (true, Hash::Sha512),
        OID_ECDSA_SHA256 => (false, Hash::Sha256),
        OID_ECDSA_SHA384 => (false, Hash::Sha384),
        OID_ECDSA_SHA512 => (false, Hash::Sha512),
        other => return Err(unsupported(algorithm_name(&other))),
    };
    let signature = child.cert.signature.as_bytes().ok_or_else(bad)?;
    let digest = hash.digest(&child.tbs);
    let spki = &issuer.cert.tbs_certificate.subject_public_key_info;
    match (is_rsa, public_key_kind(spki)) {
        (true, KeyKind::Rsa) => {
            let spki_der = spki.to_der().map_err(|_| bad())?;
            let key = rsa::RsaPublicKey::from_public_key_der(&spki_der).map_err(|_| bad())?;
            let scheme = match hash {
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            key.verify(scheme, &digest, signature).map_err(|_| bad())
        }
        (false, KeyKind::P256) => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).map_err(|_| bad())?;
            let sig = p256::ecdsa::DerSignature::from_bytes(signature).map_err(|_| bad())?;
            key.verify_prehash(&digest, &sig).map_err(|_| bad())
        }
        (false, KeyKind::P384) => {
            use p384::ecdsa::signature::hazmat::PrehashVerifier;
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).map_err(|_| bad())?;
            let sig = p384::ecdsa::DerSignature::from_bytes(signature).map_err(|_| bad())?;
            key.verify_prehash(&digest, &sig).map_err(|_| bad())
        }
        (_, KeyKind::Other(what)) => {
            Err(AttestError::UnsupportedAlgorithm { cert: issuer.label(), algorithm: format!("{what} as its key") })
        }
        // An RSA signature from an EC key or the reverse cannot verify.
        _ => Err(bad()),
    }
}

enum KeyKind {
    Rsa,
    P256,
    P384,
    Other(String),
}

fn public_key_kind(spki: &SubjectPublicKeyInfoOwned) -> KeyKind {
    if spki.algorithm.oid == OID_RSA_ENCRYPTION {
        return KeyKind::Rsa;
    }
    if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(OID_P256) => KeyKind::P256,
            Some(OID_P384) => KeyKind::P384,
            Some(other) => KeyKind::Other(format!("an elliptic-curve key on curve {other}")),
            None => KeyKind::Other("an elliptic-curve key without a named curve".to_string()),
        };
    }
    KeyKind::Other(algorithm_name(&spki.algorithm.oid))
}

/// Verify that `child` (PEM or DER) was issued by `issuer` (PEM or DER): the child's issuer name
/// is the issuer's subject and its signature verifies with the issuer's key. Validity periods are
/// not looked at. Used to check the shipped Yubico chain and by `breakglass doctor`.
pub fn verify_issued_by(child: &[u8], issuer: &[u8]) -> Result<(), AttestError> {
    let child = Parsed::parse(child, "the issued certificate")?;
    let issuer = Parsed::parse(issuer, "the issuing certificate")?;
    if child.issuer() != issuer.subject() {
        return Err(AttestError::BadSignature { cert: child.label(), signer: issuer.label() });
    }
    verify_signed_by(&child, &issuer)
}

// ---------------------------------------------------------------------------------------------
// Trust store
// ---------------------------------------------------------------------------------------------

/// The certificates an attestation may chain to: trust anchors, and intermediates that are only
/// used to build a path to one of them.
#[derive(Clone, Debug)]
pub struct TrustStore {
    roots: Vec<Parsed>,
    intermediates: Vec<Parsed>,
    /// The roots added beside Yubico's (a rehearsal on virtual cards): "CN (SHA-256 hex)".
    extra: Vec<String>,
}

impl TrustStore {
    /// The shipped default: Yubico's roots as anchors and Yubico's intermediates for path
    /// building, nothing else. A certificate is loaded only if its SHA-256 matches the pinned
    /// fingerprint in [`YUBICO_CAS`] (the tests check that all of them load).
    pub fn yubico() -> Self {
        let mut store = Self { roots: Vec::new(), intermediates: Vec::new(), extra: Vec::new() };
        for ca in YUBICO_CAS {
            let Ok(parsed) = Parsed::parse(ca.pem.as_bytes(), ca.file) else { continue };
            if !hex::encode_upper(Sha256::digest(&parsed.der)).eq_ignore_ascii_case(ca.sha256) {
                continue;
            }
            if ca.is_root { store.roots.push(parsed) } else { store.intermediates.push(parsed) }
        }
        store
    }

    /// Add a trust anchor (PEM or DER), e.g. the test rig's CA. The shipped default never does.
    pub fn with_extra_root(mut self, cert: &[u8]) -> Result<Self, AttestError> {
        let parsed = Parsed::parse(cert, "the extra trusted root certificate")?;
        self.extra.push(format!("{} (SHA-256 {})", parsed.cn(), hex::encode(Sha256::digest(&parsed.der))));
        self.roots.push(parsed);
        Ok(self)
    }

    /// The roots trusted beside Yubico's, as "CN (SHA-256 hex)": a session whose keys were
    /// checked against such a store is a rehearsal, never evidence of the real setup.
    pub(crate) fn extra_roots(&self) -> &[String] {
        &self.extra
    }

    /// Add an intermediate (PEM or DER) that may be used to build a path to a trusted root; it is
    /// not trusted by itself.
    pub fn with_extra_intermediate(mut self, cert: &[u8]) -> Result<Self, AttestError> {
        self.intermediates.push(Parsed::parse(cert, "the extra intermediate certificate")?);
        Ok(self)
    }

    /// Common names of the trust anchors.
    pub fn root_names(&self) -> Vec<String> {
        self.roots.iter().map(Parsed::cn).collect()
    }

    /// Common names of the intermediates.
    pub fn intermediate_names(&self) -> Vec<String> {
        self.intermediates.iter().map(Parsed::cn).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Attestation
// ---------------------------------------------------------------------------------------------

/// What a verified attestation says about a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// The slot, from the subject "YubiKey PIV Attestation 9c" (`None` if the subject differs).
    pub slot: Option<String>,
    /// YubiKey serial number.
    pub serial: u32,
    /// Firmware (major, minor, patch).
    pub firmware: (u8, u8, u8),
    /// The slot's PIN policy.
    pub pin_policy: PinPolicy,
    /// The slot's touch policy.
    pub touch_policy: TouchPolicy,
    /// The raw form-factor byte, when the key reports one (YubiKey 5).
    pub form_factor: Option<u8>,
    /// FIPS series: form factor bit 0x80, or extension `...41482.3.10` on the slot or f9 certificate.
    pub fips: bool,
    /// CSPN series: extension `...41482.3.11` on the slot or f9 certificate.
    pub cspn: bool,
    /// The attested public key, SEC1 uncompressed.
    pub public_key_sec1: Vec<u8>,
    /// Subject common names from the slot certificate to the trusted root, leaf first.
    pub chain: Vec<String>,
}

impl Attestation {
    /// The slot for messages: "9c", or "(unnamed)".
    pub(crate) fn slot_label(&self) -> &str {
        self.slot.as_deref().unwrap_or("(unnamed)")
    }

    /// Firmware as "5.4.3", for the journal.
    pub fn firmware_string(&self) -> String {
        let (major, minor, patch) = self.firmware;
        format!("{major}.{minor}.{patch}")
    }

    /// The form factor in words, for the journal (Yubico's codes: the low nibble is the shape,
    /// bit 0x80 marks the FIPS series, bit 0x40 the Security Key series).
    pub fn form_factor_name(&self) -> String {
        let Some(code) = self.form_factor else {
            return "not reported".to_string();
        };
        let shape = match code & 0x0f {
            0x00 => "unspecified".to_string(),
            0x01 => "USB-A keychain".to_string(),
            0x02 => "USB-A nano".to_string(),
            0x03 => "USB-C keychain".to_string(),
            0x04 => "USB-C nano".to_string(),
            0x05 => "USB-C and Lightning keychain".to_string(),
            0x06 => "USB-A Bio keychain".to_string(),
            0x07 => "USB-C Bio keychain".to_string(),
            _ => format!("unknown (0x{code:02x})"),
        };
        let mut series = Vec::new();
        if self.fips {
            series.push("FIPS");
        }
        if self.cspn {
            series.push("CSPN");
        }
        if code & 0x40 != 0 {
            series.push("Security Key");
        }
        if series.is_empty() { shape } else { format!("{shape}, {} series", series.join(" and ")) }
    }
}

/// Verify a slot attestation (PEM or DER) and the f9 certificate (PEM or DER) that signed it,
/// up to a root of `store`, at time `now`; then read Yubico's extensions.
///
/// Checks, in order: both decode; the slot certificate's issuer is the f9 subject and its
/// signature verifies with the f9 key; no unknown critical extension; both are valid at `now`;
/// a path from f9 through the store's intermediates to one of its roots, every signature
/// verified and every CA valid at `now`; then the serial, firmware and policy extensions.
pub fn verify_chain(slot_cert_der: &[u8], f9_cert_der: &[u8], store: &TrustStore, now: DateTime<Utc>) -> Result<Attestation, AttestError> {
    let slot_cert = Parsed::parse(slot_cert_der, "the slot attestation certificate")?;
    let f9 = Parsed::parse(f9_cert_der, "the slot f9 (attestation key) certificate")?;
    let slot_cn = slot_cert.cn();
    let slot = slot_cn.strip_prefix(SLOT_SUBJECT_PREFIX).map(|s| s.trim().to_ascii_lowercase());
    let slot_label = slot.clone().unwrap_or_else(|| format!("`{slot_cn}`"));

    if slot_cert.issuer() != f9.subject() {
        return Err(AttestError::IssuerMismatch { slot: slot_label, issuer: name_label(slot_cert.issuer()), f9_subject: f9.label() });
    }
    verify_signed_by(&slot_cert, &f9)?;
    slot_cert.check_critical_extensions()?;
    f9.check_critical_extensions()?;
    let re_enrol = "enrol a new YubiKey with `breakglass enroll` and have a quorum re-sign the roster";
    slot_cert.check_validity(now, re_enrol)?;
    f9.check_validity(now, re_enrol)?;

    let mut chain = vec![slot_cn.clone(), f9.cn()];
    chain.extend(build_path(&f9, &slot_label, store, now)?);

    let attestation = read_extensions(&slot_cert, &f9, slot, &slot_label, chain)?;
    Ok(attestation)
}

/// From the f9 certificate up to a trusted root; returns the CA names above f9.
fn build_path(f9: &Parsed, slot_label: &str, store: &TrustStore, now: DateTime<Utc>) -> Result<Vec<String>, AttestError> {
    let update = "this breakglass needs Yubico's current CA certificates: update breakglass";
    let mut names = Vec::new();
    let mut used: Vec<usize> = Vec::new();
    let mut current = f9;
    for _ in 0..MAX_PATH {
        let mut failure: Option<AttestError> = None;
        for root in store.roots.iter().filter(|r| r.subject() == current.issuer()) {
            match verify_signed_by(current, root) {
                Ok(()) => {
                    root.check_validity(now, update)?;
                    names.push(root.cn());
                    return Ok(names);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let mut next = None;
        for (i, ca) in store.intermediates.iter().enumerate() {
            if used.contains(&i) || ca.subject() != current.issuer() {
                continue;
            }
            match verify_signed_by(current, ca) {
                Ok(()) => {
                    next = Some((i, ca));
                    break;
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let Some((i, ca)) = next else {
            return Err(
                failure.unwrap_or_else(|| AttestError::Untrusted { slot: slot_label.to_string(), issuer: name_label(current.issuer()) })
            );
        };
        ca.check_is_ca(current)?;
        ca.check_critical_extensions()?;
        ca.check_validity(now, update)?;
        names.push(ca.cn());
        used.push(i);
        current = ca;
    }
    Err(AttestError::ChainTooLong { slot: slot_label.to_string(), max: MAX_PATH })
}

fn read_extensions(
    slot_cert: &Parsed,
    f9: &Parsed,
    slot: Option<String>,
    slot_label: &str,
    chain: Vec<String>,
) -> Result<Attestation, AttestError> {
    let missing = |name: &str, oid: ObjectIdentifier, next: &str| AttestError::MissingExtension {
        slot: slot_label.to_string(),
        name: name.to_string(),
        oid: oid.to_string(),
        next: next.to_string(),
    };
    let bad = |name: &str, oid: ObjectIdentifier, reason: String| AttestError::BadExtension {
        slot: slot_label.to_string(),
        name: name.to_string(),
        oid: oid.to_string(),
        reason,
    };
    let not_yubikey = "it is not a YubiKey PIV attestation; read the attestation again from the custodian's enrolled YubiKey";

    let firmware = match slot_cert.extension(OID_FIRMWARE) {
        None => return Err(missing("firmware version", OID_FIRMWARE, not_yubikey)),
        Some(&[major, minor, patch]) => (major, minor, patch),
        Some(other) => return Err(bad("firmware version", OID_FIRMWARE, format!("{} bytes, expected 3", other.len()))),
    };

    let serial = match slot_cert.extension(OID_SERIAL) {
        None => {
            return Err(missing(
                "serial number",
                OID_SERIAL,
                "YubiKeys before firmware 5 do not attest their serial, and breakglass needs it; \
                 use a YubiKey 5 (or later) enrolled with `breakglass enroll`",
            ));
        }
        Some(value) => u32::from_der(value)
            .map_err(|e| bad("serial number", OID_SERIAL, format!("not a DER INTEGER between 0 and 4294967295: {e}")))?,
    };

    let (pin_policy, touch_policy) = match slot_cert.extension(OID_POLICY) {
        None => return Err(missing("PIN/touch policy", OID_POLICY, not_yubikey)),
        Some(&[pin, touch]) => (PinPolicy::from_byte(pin), TouchPolicy::from_byte(touch)),
        Some(other) => return Err(bad("PIN/touch policy", OID_POLICY, format!("{} bytes, expected 2", other.len()))),
    };

    let form_factor = match slot_cert.extension(OID_FORM_FACTOR) {
        None => None,
        Some(&[code]) => Some(code),
        Some(other) => return Err(bad("form factor", OID_FORM_FACTOR, format!("{} bytes, expected 1", other.len()))),
    };

    let has = |oid| slot_cert.extension(oid).is_some() || f9.extension(oid).is_some();
    let fips = has(OID_FIPS) || form_factor.is_some_and(|c| c & 0x80 != 0);
    let cspn = has(OID_CSPN);

    let spki = &slot_cert.cert.tbs_certificate.subject_public_key_info;
    let unusable = |algorithm: String| AttestError::UnsupportedSlotKey { slot: slot_label.to_string(), algorithm };
    let public_key_sec1 = match public_key_kind(spki) {
        KeyKind::P256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let key = p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
                .map_err(|_| unusable("a P-256 key that is not a valid curve point".to_string()))?;
            key.to_encoded_point(false).as_bytes().to_vec()
        }
        KeyKind::P384 => {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            let key = p384::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
                .map_err(|_| unusable("a P-384 key that is not a valid curve point".to_string()))?;
            key.to_encoded_point(false).as_bytes().to_vec()
        }
        KeyKind::Rsa => return Err(unusable("an RSA key".to_string())),
        KeyKind::Other(what) => return Err(unusable(what)),
    };

    Ok(Attestation { slot, serial, firmware, pin_policy, touch_policy, form_factor, fips, cspn, public_key_sec1, chain })
}

// ---------------------------------------------------------------------------------------------
// Against the roster
// ---------------------------------------------------------------------------------------------

/// What the roster expects of one attested slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The custodian id, for messages.
    pub custodian: String,
    /// The roster's `yubikey_serial`.
    pub serial: u32,
    /// The roster's key for this slot, SEC1 (see [`sec1_from_openssh`]).
    pub public_key_sec1: Vec<u8>,
    /// The weakest PIN policy accepted.
    pub pin_policy: PinPolicy,
    /// The weakest touch policy accepted.
    pub touch_policy: TouchPolicy,
}

impl Requirement {
    /// Slot 9c's minimum PIN policy: once per session (Always is accepted too).
    pub const SIGNING_PIN_POLICY: PinPolicy = PinPolicy::Once;
    /// Slot 9c's minimum touch policy: a touch for every signature.
    pub const SIGNING_TOUCH_POLICY: TouchPolicy = TouchPolicy::Always;

    /// What breakglass requires of a custodian's signing slot (9c), from the roster's
    /// `yubikey_serial` and `signing_key` (an OpenSSH `ecdsa-sha2-nistp256` line).
    pub fn signing(custodian: &str, serial: u32, signing_key: &str) -> Result<Self, AttestError> {
        Ok(Self {
            custodian: custodian.to_string(),
            serial,
            public_key_sec1: sec1_from_openssh(signing_key)?,
            pin_policy: Self::SIGNING_PIN_POLICY,
            touch_policy: Self::SIGNING_TOUCH_POLICY,
        })
    }

    /// What breakglass requires of a custodian's runbook slot (82), from the roster's
    /// `age_recipient` (an `age1yubikey1...` recipient; a plain age recipient has no slot to attest).
    pub fn runbook(custodian: &str, serial: u32, age_recipient: &str) -> Result<Self, AttestError> {
        let r = crate::core::pivage::Recipient::parse(age_recipient.trim()).map_err(|e| AttestError::RosterKey {
            reason: format!("the age_recipient is not a YubiKey recipient (age1yubikey1...), so slot 82 has nothing to attest: {e}"),
        })?;
        let pk = r.public().ok_or_else(|| AttestError::RosterKey { reason: "the age_recipient is not a valid P-256 point".into() })?;
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        Ok(Self {
            custodian: custodian.to_string(),
            serial,
            public_key_sec1: pk.to_encoded_point(false).as_bytes().to_vec(),
            pin_policy: Self::SIGNING_PIN_POLICY,
            touch_policy: Self::SIGNING_TOUCH_POLICY,
        })
    }
}

/// The SEC1 (uncompressed) point of an OpenSSH `ecdsa-sha2-nistp256 AAAA... [comment]` line.
pub fn sec1_from_openssh(signing_key: &str) -> Result<Vec<u8>, AttestError> {
    let key = ssh_key::PublicKey::from_openssh(signing_key.trim()).map_err(|e| AttestError::RosterKey { reason: e.to_string() })?;
    match key.key_data().ecdsa() {
        Some(ecdsa @ EcdsaPublicKey::NistP256(_)) => Ok(ecdsa.as_sec1_bytes().to_vec()),
        _ => Err(AttestError::RosterKey { reason: format!("it is a {} key", key.algorithm()) }),
    }
}

/// SEC1 bytes as the form that can be compared: uncompressed when it is a valid curve point.
fn normalise_sec1(sec1: &[u8]) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    if let Ok(key) = p256::PublicKey::from_sec1_bytes(sec1) {
        return key.to_encoded_point(false).as_bytes().to_vec();
    }
    if let Ok(key) = p384::PublicKey::from_sec1_bytes(sec1) {
        return key.to_encoded_point(false).as_bytes().to_vec();
    }
    sec1.to_vec()
}

/// The OpenSSH fingerprint of a SEC1 key ("SHA256:..."), as `ssh-keygen -l` shows it.
pub fn key_fingerprint(sec1: &[u8]) -> String {
    match EcdsaPublicKey::from_sec1_bytes(sec1) {
        Ok(key) => KeyData::Ecdsa(key).fingerprint(HashAlg::Sha256).to_string(),
        Err(_) => format!("unreadable key SHA256:{}", hex::encode(Sha256::digest(sec1))),
    }
}

/// Checks the attestation certificates a roster entry names (`attestation = ["<id>-9c.pem",
/// "<id>-f9.pem"]`, relative to the roster's directory): the slot certificate chains through the
/// f9 certificate to `store`, and attests this custodian's signing key and serial with the
/// required PIN and touch policies. Returns a one-line description for `roster check`.
pub(crate) fn check_roster_entry(
    roster_dir: &std::path::Path,
    c: &crate::core::roster::Custodian,
    store: &TrustStore,
    now: DateTime<Utc>,
) -> Result<String, String> {
    // As `breakglass enroll` prints it: [9c, 82, f9]; or the older [9c, f9] (no runbook slot).
    let (slot, runbook, f9) = match c.attestation.as_slice() {
        [slot, f9] => (slot, None, f9),
        [slot, runbook, f9] => (slot, Some(runbook), f9),
        other => {
            return Err(format!(
                "`attestation` lists {} file(s): give the 9c slot certificate, the 82 slot certificate and the f9 certificate, \
                 as `breakglass enroll` printed them",
                other.len()
            ));
        }
    };
    let read = |name: &String| {
        let p = roster_dir.join(name);
        crate::core::fsread::read_regular(&p, 64 * 1024).map_err(|e| format!("{}: {e}", p.display()))
    };
    let f9 = read(f9)?;
    let att = verify_chain(&read(slot)?, &f9, store, now).map_err(|e| e.to_string())?;
    let req = Requirement::signing(&c.id, c.yubikey_serial, &c.signing_key).map_err(|e| e.to_string())?;
    check(&att, &req).map_err(|e| e.to_string())?;
    let mut what = format!(
        "attested by {} (firmware {}, serial {}): slot 9c",
        att.chain.last().cloned().unwrap_or_default(),
        att.firmware_string(),
        c.yubikey_serial
    );
    if let Some(runbook) = runbook {
        let att = verify_chain(&read(runbook)?, &f9, store, now).map_err(|e| e.to_string())?;
        let req = Requirement::runbook(&c.id, c.yubikey_serial, &c.age_recipient).map_err(|e| e.to_string())?;
        check(&att, &req).map_err(|e| e.to_string())?;
        what.push_str(" and slot 82 (the runbook key)");
    }
    Ok(what)
}

/// Compare a verified attestation with the roster: the same key, the same serial, and policies
/// at least as strict as required. The first mismatch is returned.
pub fn check(att: &Attestation, req: &Requirement) -> Result<(), AttestError> {
    let slot = att.slot_label().to_string();
    if normalise_sec1(&att.public_key_sec1) != normalise_sec1(&req.public_key_sec1) {
        return Err(AttestError::KeyMismatch {
            slot,
            custodian: req.custodian.clone(),
            attested: key_fingerprint(&att.public_key_sec1),
            roster: key_fingerprint(&req.public_key_sec1),
        });
    }
    if att.serial != req.serial {
        return Err(AttestError::SerialMismatch { custodian: req.custodian.clone(), attested: att.serial, roster: req.serial });
    }
    if !att.pin_policy.satisfies(req.pin_policy) {
        return Err(AttestError::WeakPinPolicy { slot, attested: att.pin_policy, accepted: req.pin_policy.accepted().to_string() });
    }
    if !att.touch_policy.satisfies(req.touch_policy) {
        return Err(AttestError::WeakTouchPolicy { slot, attested: att.touch_policy, accepted: req.touch_policy.accepted().to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attest_every_shipped_yubico_certificate_loads_with_its_pinned_fingerprint() {
        let store = TrustStore::yubico();
        assert_eq!(store.roots.len(), 3, "roots: {:?}", store.root_names());
        assert_eq!(store.intermediates.len(), 5, "intermediates: {:?}", store.intermediate_names());
        assert_eq!(YUBICO_ROOTS_PEM.len() + YUBICO_INTERMEDIATES_PEM.len(), YUBICO_CAS.len());
        for ca in YUBICO_CAS {
            assert_eq!(YUBICO_ROOTS_PEM.contains(&ca.pem), ca.is_root, "{}", ca.file);
        }
    }

    #[test]
    fn attest_policies_rank_by_strictness() {
        assert!(PinPolicy::Always.satisfies(PinPolicy::Once));
        assert!(PinPolicy::Once.satisfies(PinPolicy::Once));
        assert!(PinPolicy::MatchAlways.satisfies(PinPolicy::Once));
        assert!(!PinPolicy::Never.satisfies(PinPolicy::Once));
        assert!(!PinPolicy::Default.satisfies(PinPolicy::Never));
        assert!(!PinPolicy::Unknown(9).satisfies(PinPolicy::Never));
        assert!(TouchPolicy::Always.satisfies(TouchPolicy::Always));
        assert!(!TouchPolicy::Cached.satisfies(TouchPolicy::Always));
        assert!(TouchPolicy::Cached.satisfies(TouchPolicy::Cached));
        assert!(!TouchPolicy::Never.satisfies(TouchPolicy::Cached));
        for b in 0..=255u8 {
            assert_eq!(PinPolicy::from_byte(b).to_byte(), b);
            assert_eq!(TouchPolicy::from_byte(b).to_byte(), b);
        }
    }

    #[test]
    fn attest_form_factor_names() {
        let mut att = Attestation {
            slot: Some("9c".into()),
            serial: 1,
            firmware: (5, 4, 3),
            pin_policy: PinPolicy::Once,
            touch_policy: TouchPolicy::Always,
            form_factor: Some(0x03),
            fips: false,
            cspn: false,
            public_key_sec1: Vec::new(),
            chain: Vec::new(),
        };
        assert_eq!(att.form_factor_name(), "USB-C keychain");
        assert_eq!(att.firmware_string(), "5.4.3");
        att.form_factor = Some(0x81);
        att.fips = true;
        assert_eq!(att.form_factor_name(), "USB-A keychain, FIPS series");
        att.form_factor = None;
        assert_eq!(att.form_factor_name(), "not reported");
        att.form_factor = Some(0x0e);
        att.fips = false;
        assert_eq!(att.form_factor_name(), "unknown (0x0e)");
    }

    #[test]
    fn attest_pem_and_der_inputs_decode_alike() {
        let from_pem = Parsed::parse(ATTESTATION_ROOT_1.as_bytes(), "root").map(|p| p.der);
        let der = from_pem.clone().unwrap_or_default();
        assert!(!der.is_empty());
        assert_eq!(Parsed::parse(&der, "root").map(|p| p.der), from_pem);
        assert!(matches!(Parsed::parse(b"", "x"), Err(AttestError::Malformed { .. })));
    }
}
