//! Real YubiKeys over PC/SC (the `yubikey` crate): slot 9c signs, a retired slot (R1, 0x82, as
//! age-plugin-yubikey uses) holds the P-256 key that unwraps this custodian's runbook layers.
//!
//! Every call here may block on PC/SC and on a human touch: callers run it off the UI thread.
//! The PIN is passed in by the UI as a secret and goes straight to the card.

use super::{Token, TokenError, TokenInfo};
use crate::pivage;
use secrecy::{ExposeSecret, SecretString};
use ssh_key::PublicKey;
use std::cell::RefCell;
use std::io::Read;
use yubikey::piv::{self, AlgorithmId, RetiredSlotId, SlotId};
use yubikey::{Serial, YubiKey};
use zeroize::Zeroizing;

/// The slot of the runbook (age) key: retired slot 1, where age-plugin-yubikey puts its first key.
pub const AGE_SLOT: SlotId = SlotId::Retired(RetiredSlotId::R1);
/// The slot of the signing key (check-in challenges, session co-signatures).
pub const SIGN_SLOT: SlotId = SlotId::Signature;

/// A YubiKey seen on a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub serial: u32,
    pub model: String,
    pub reader: String,
}

/// Turns a PC/SC or card error into one that says what to do.
pub fn explain(e: &yubikey::Error, serial: Option<u32>) -> TokenError {
    use yubikey::Error as E;
    match e {
        E::WrongPin { tries } => TokenError::WrongPin { retries_left: *tries },
        E::PinLocked => TokenError::PinBlocked,
        E::PcscError { inner: Some(pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::NoReadersAvailable) } => {
            TokenError::Other(
                "PC/SC is not running or sees no reader: start it (`sudo systemctl start pcscd`) and insert the YubiKey".into(),
            )
        }
        E::PcscError { inner: Some(pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard) } => {
            TokenError::Removed(serial.unwrap_or(0))
        }
        E::NotFound => TokenError::Other(match serial {
            Some(s) => format!("no YubiKey with serial {s} is inserted: insert it (or check `breakglass doctor`)"),
            None => "no YubiKey found: insert the key".into(),
        }),
        E::AppletNotFound { .. } => {
            TokenError::Other("this card is not a YubiKey with the PIV application: use the custodian's enrolled YubiKey".into())
        }
        other => TokenError::Other(format!("YubiKey: {other}")),
    }
}

/// Lists the YubiKeys on all readers. Cards that are not YubiKeys are reported, not fatal.
pub fn scan() -> Result<(Vec<Seen>, Vec<String>), TokenError> {
    let mut ctx = yubikey::reader::Context::open().map_err(|e| explain(&e, None))?;
    let readers = ctx.iter().map_err(|e| explain(&e, None))?;
    let mut seen = vec![];
    let mut other = vec![];
    for r in readers {
        let name = r.name().to_string();
        match r.open() {
            Ok(yk) => seen.push(Seen { serial: yk.serial().0, model: format!("YubiKey {}", yk.version()), reader: name }),
            Err(e) => other.push(format!("{name}: {}", explain(&e, None))),
        }
    }
    Ok((seen, other))
}

/// A custodian's YubiKey.
pub struct PivToken {
    yk: RefCell<YubiKey>,
    serial: u32,
    model: String,
}

impl std::fmt::Debug for PivToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivToken").field("serial", &self.serial).field("model", &self.model).finish()
    }
}

impl PivToken {
    pub fn open(serial: u32) -> Result<Self, TokenError> {
        let yk = YubiKey::open_by_serial(Serial(serial)).map_err(|e| explain(&e, Some(serial)))?;
        let model = format!("YubiKey {}", yk.version());
        Ok(Self { yk: RefCell::new(yk), serial, model })
    }

    /// The attestation certificate of `slot` and the f9 certificate that signs it (DER).
    pub fn attestation(&mut self, slot: SlotId) -> Result<(Vec<u8>, Vec<u8>), TokenError> {
        let yk = self.yk.get_mut();
        let att = piv::attest(yk, slot).map_err(|e| explain(&e, Some(self.serial)))?;
        let f9 = yubikey::certificate::Certificate::read(yk, SlotId::Attestation).map_err(|e| explain(&e, Some(self.serial)))?;
        let f9 = der::Encode::to_der(&f9.cert).map_err(|e| TokenError::Other(format!("f9 certificate: {e}")))?;
        Ok((att.to_vec(), f9))
    }

    /// The public key of `slot`, read from its attestation certificate.
    pub fn slot_public_key(&mut self, slot: SlotId) -> Result<p256::PublicKey, TokenError> {
        let yk = self.yk.get_mut();
        let att = piv::attest(yk, slot).map_err(|e| explain(&e, Some(self.serial)))?;
        let cert = yubikey::certificate::Certificate::from_bytes(att.to_vec())
            .map_err(|e| TokenError::Other(format!("attestation certificate: {e}")))?;
        let spki = &cert.cert.tbs_certificate.subject_public_key_info;
        p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
            .map_err(|_| TokenError::Other(format!("slot {slot:?} does not hold a P-256 key")))
    }

    /// The `age1yubikey1...` recipient of the runbook slot.
    pub fn age_recipient(&mut self) -> Result<String, TokenError> {
        Ok(pivage::Recipient::from_public(&self.slot_public_key(AGE_SLOT)?).encode())
    }
}

impl Token for PivToken {
    fn info(&self) -> TokenInfo {
        TokenInfo { serial: self.serial, model: self.model.clone(), demo: false }
    }

    fn pin_retries(&mut self) -> Result<u8, TokenError> {
        self.yk.get_mut().get_pin_retries().map_err(|e| explain(&e, Some(self.serial)))
    }

    fn verify_pin(&mut self, pin: &SecretString) -> Result<(), TokenError> {
        self.yk.get_mut().verify_pin(pin.expose_secret().as_bytes()).map_err(|e| explain(&e, Some(self.serial)))
    }

    fn signing_key(&self) -> Result<PublicKey, TokenError> {
        let mut yk = self.yk.borrow_mut();
        let att = piv::attest(&mut yk, SIGN_SLOT).map_err(|e| explain(&e, Some(self.serial)))?;
        let cert = yubikey::certificate::Certificate::from_bytes(att.to_vec())
            .map_err(|e| TokenError::Other(format!("attestation certificate: {e}")))?;
        let bytes = cert.cert.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
            .map_err(|_| TokenError::Other("slot 9c does not hold a P-256 key".into()))?;
        Ok(PublicKey::from(ssh_key::public::EcdsaPublicKey::from(&vk)))
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, TokenError> {
        // The card signs the digest we computed (PIV signs raw input); touch is asked by the card.
        let der = piv::sign_data(self.yk.get_mut(), digest, AlgorithmId::EccP256, SIGN_SLOT).map_err(|e| explain(&e, Some(self.serial)))?;
        p256::ecdsa::Signature::from_der(&der).map_err(|e| TokenError::Other(format!("the card returned a malformed signature: {e}")))
    }

    fn decrypt_layer(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        let recipient = pivage::Recipient::from_public(&self.slot_public_key(AGE_SLOT)?);
        let identity = CardIdentity { token: self, recipient };
        let d = age::Decryptor::new(ciphertext).map_err(|e| TokenError::Decrypt(e.to_string()))?;
        let mut r = d.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| TokenError::Decrypt(e.to_string()))?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out).map_err(|e| TokenError::Decrypt(e.to_string()))?;
        Ok(out)
    }
}

/// The card as an age identity: ECDH happens on the card, in the runbook slot.
struct CardIdentity<'a> {
    token: &'a PivToken,
    recipient: pivage::Recipient,
}

impl age::Identity for CardIdentity<'_> {
    fn unwrap_stanza(&self, stanza: &age_core::format::Stanza) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        pivage::unwrap(stanza, &self.recipient, &mut |epk| {
            let mut yk = self.token.yk.borrow_mut();
            let shared = piv::decrypt_data(&mut yk, epk, AlgorithmId::EccP256, AGE_SLOT).map_err(|e| e.to_string())?;
            let mut out = [0u8; 32];
            if shared.len() != 32 {
                return Err(format!("the card returned {} bytes of shared secret", shared.len()));
            }
            out.copy_from_slice(&shared);
            Ok(out)
        })
    }
}
