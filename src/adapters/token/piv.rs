//! Real YubiKeys over PC/SC (the `yubikey` crate): slot 9c signs, a retired slot (R1, 0x82, as
//! age-plugin-yubikey uses) holds the P-256 key that unwraps this custodian's runbook layers.
//!
//! Every call here may block on PC/SC and on a human touch: callers run it off the UI thread.
//! The PIN is passed in by the UI as a secret and goes straight to the card.

use super::{Token, TokenError, TokenInfo};
use crate::core::pivage;
use secrecy::{ExposeSecret, SecretString};
use ssh_key::PublicKey;
use std::cell::RefCell;
use std::io::Read;
use yubikey::YubiKey;
use yubikey::piv::{self, AlgorithmId, RetiredSlotId, SlotId};
use zeroize::Zeroizing;

/// The slot of the runbook (age) key: retired slot 1, where age-plugin-yubikey puts its first key.
pub const AGE_SLOT: SlotId = SlotId::Retired(RetiredSlotId::R1);
/// The slot of the signing key (check-in challenges, session co-signatures).
pub(crate) const SIGN_SLOT: SlotId = SlotId::Signature;

/// A YubiKey seen on a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub serial: u32,
    pub model: String,
    pub reader: String,
}

/// Turns a PC/SC or card error into one that says what to do.
pub(crate) fn explain(e: &yubikey::Error, serial: Option<u32>) -> TokenError {
    use yubikey::Error as E;
    match e {
        E::WrongPin { tries } => TokenError::WrongPin { retries_left: *tries },
        E::PinLocked => TokenError::PinBlocked,
        // CommError: the connection to pcscd broke mid-operation (pcscd stopped or restarted).
        E::PcscError {
            inner: Some(pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::NoReadersAvailable | pcsc::Error::CommError),
        } => TokenError::NoService,
        E::PcscError { inner: Some(pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard) } => {
            TokenError::Removed(serial.unwrap_or(0))
        }
        E::NotFound => TokenError::NotFound(serial),
        E::AppletNotFound { .. } => TokenError::NotYubiKey,
        other => TokenError::Transport(format!("YubiKey: {other}")),
    }
}

/// Reader name -> serial of the YubiKey last seen in it. Selecting the PIV application ends
/// the card's PIN session (on a YubiKey as on the test card), so a key whose PIN a custodian
/// entered must never be opened again just to read its serial: known readers are recognised
/// by name, and only new cards are opened.
static READERS: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());

fn readers() -> std::sync::MutexGuard<'static, Vec<(String, u32)>> {
    READERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Names of the readers that hold a card now, asked of PC/SC without connecting to any card.
fn readers_with_a_card() -> Result<Vec<String>, TokenError> {
    let pcsc_err = |e: pcsc::Error| match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::NoReadersAvailable => TokenError::NoService,
        other => TokenError::Transport(format!("PC/SC: {other}")),
    };
    let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(pcsc_err)?;
    let names = match ctx.list_readers_owned() {
        Ok(n) => n,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(vec![]),
        Err(e) => return Err(pcsc_err(e)),
    };
    let mut states: Vec<pcsc::ReaderState> = names.into_iter().map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE)).collect();
    if states.is_empty() {
        return Ok(vec![]);
    }
    ctx.get_status_change(std::time::Duration::from_millis(0), &mut states).map_err(pcsc_err)?;
    Ok(states.iter().filter(|r| r.event_state().contains(pcsc::State::PRESENT)).map(|r| r.name().to_string_lossy().to_string()).collect())
}

fn open_reader(name: &str) -> Result<YubiKey, TokenError> {
    let mut ctx = yubikey::reader::Context::open().map_err(|e| explain(&e, None))?;
    let readers = ctx.iter().map_err(|e| explain(&e, None))?;
    for r in readers {
        if r.name() == name {
            // A card just put back may still be held with the other protocol for a moment.
            let mut opened = r.open();
            for _ in 0..5 {
                match &opened {
                    Err(yubikey::Error::PcscError { inner: Some(pcsc::Error::ProtoMismatch) }) => {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        opened = r.open();
                    }
                    _ => break,
                }
            }
            return opened.map_err(|e| explain(&e, None));
        }
    }
    Err(TokenError::ReaderGone(name.to_string()))
}

/// Lists the YubiKeys on all readers, without disturbing keys already in use. Cards that are
/// not YubiKeys are reported, not fatal.
pub fn scan() -> Result<(Vec<Seen>, Vec<String>), TokenError> {
    let present = match readers_with_a_card() {
        Ok(p) => p,
        Err(e) => {
            // PC/SC itself failed (pcscd stopped or restarting): every card will come back reset,
            // and maybe another card in a known reader; read them all afresh.
            readers().clear();
            return Err(e);
        }
    };
    let mut known = readers();
    // A card that left its reader is forgotten: whatever comes back there is read afresh.
    known.retain(|(name, _)| present.contains(name));
    let mut seen = vec![];
    let mut other = vec![];
    for name in present {
        if let Some((_, serial)) = known.iter().find(|(n, _)| *n == name) {
            seen.push(Seen { serial: *serial, model: "YubiKey".into(), reader: name });
            continue;
        }
        match open_reader(&name) {
            Ok(yk) => {
                let serial = yk.serial().0;
                known.push((name.clone(), serial));
                seen.push(Seen { serial, model: format!("YubiKey {}", yk.version()), reader: name });
            }
            Err(e) => other.push(format!("{name}: {e}")),
        }
    }
    // Two keys claiming one serial: neither can be trusted to be the roster's.
    let mut serials: Vec<u32> = seen.iter().map(|k| k.serial).collect();
    serials.sort_unstable();
    for w in serials.windows(2) {
        if w[0] == w[1] {
            other.push(format!("two keys report serial {}: remove both and insert only the custodian's own key", w[0]));
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

/// A card whose PC/SC connection went stale (a key just put back, a reader that was reset): the
/// connection is made again and the operation tried once more.
fn stale(e: &yubikey::Error) -> bool {
    // RemovedCard: the card was pulled out and put back since this handle was made (with the
    // card still out, the reconnection fails at once and the error stands).
    matches!(e, yubikey::Error::PcscError { inner: Some(pcsc::Error::ProtoMismatch | pcsc::Error::ResetCard | pcsc::Error::RemovedCard) })
}

/// Runs `op` on the card; on a stale connection, reconnects (the crate enters the PIN it was
/// given again, so the custodian's PIN session survives) and runs it once more.
fn on_card<T>(yk: &mut YubiKey, mut op: impl FnMut(&mut YubiKey) -> Result<T, yubikey::Error>) -> Result<T, yubikey::Error> {
    let mut result = op(yk);
    // Another connection may hold the card with the other protocol for a moment (a reader that
    // just saw the card come back): a few tries, a fifth of a second apart.
    for _ in 0..5 {
        match &result {
            Err(e) if stale(e) => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                result = match yk.reconnect() {
                    Ok(()) => op(yk),
                    Err(e) => Err(e),
                };
            }
            _ => break,
        }
    }
    result
}

impl PivToken {
    /// Opens the YubiKey with `serial`, by its reader when it is known, so that the other keys
    /// are not selected (which would end their PIN sessions).
    pub fn open(serial: u32) -> Result<Self, TokenError> {
        let mut reader = readers().iter().find(|(_, s)| *s == serial).map(|(n, _)| n.clone());
        if reader.is_none() {
            reader = scan()?.0.into_iter().find(|k| k.serial == serial).map(|k| k.reader);
        }
        if reader.is_none() {
            // A key swapped faster than we looked: read every reader's serial again.
            readers().clear();
            reader = scan()?.0.into_iter().find(|k| k.serial == serial).map(|k| k.reader);
        }
        let Some(name) = reader else {
            return Err(TokenError::NotFound(Some(serial)));
        };
        let yk = open_reader(&name)?;
        if yk.serial().0 != serial {
            readers().retain(|(n, _)| *n != name);
            return Err(TokenError::WrongKey { reader: name, expected: serial, found: yk.serial().0 });
        }
        let model = format!("YubiKey {}", yk.version());
        Ok(Self { yk: RefCell::new(yk), serial, model })
    }

    /// The attestation certificate of `slot` and the f9 certificate that signs it (DER).
    pub fn attestation(&mut self, slot: SlotId) -> Result<(Vec<u8>, Vec<u8>), TokenError> {
        let yk = self.yk.get_mut();
        let att = on_card(yk, |yk| piv::attest(yk, slot)).map_err(|e| explain(&e, Some(self.serial)))?;
        let f9 = on_card(yk, |yk| yubikey::certificate::Certificate::read(yk, SlotId::Attestation))
            .map_err(|e| explain(&e, Some(self.serial)))?;
        let f9 = der::Encode::to_der(&f9.cert).map_err(|e| TokenError::Card(format!("f9 certificate: {e}")))?;
        Ok((att.to_vec(), f9))
    }

    /// The public key of `slot`, read from its attestation certificate.
    pub(crate) fn slot_public_key(&mut self, slot: SlotId) -> Result<p256::PublicKey, TokenError> {
        let att = on_card(self.yk.get_mut(), |yk| piv::attest(yk, slot)).map_err(|e| explain(&e, Some(self.serial)))?;
        let cert = yubikey::certificate::Certificate::from_bytes(att.to_vec())
            .map_err(|e| TokenError::Card(format!("attestation certificate: {e}")))?;
        let spki = &cert.cert.tbs_certificate.subject_public_key_info;
        p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
            .map_err(|_| TokenError::Card(format!("slot {slot:?} does not hold a P-256 key")))
    }

    /// An error from the card in words, telling a key pulled out while it worked (which the
    /// card reports only as a generic error) by looking whether its reader still holds a card.
    fn explain_gone(&self, e: &yubikey::Error) -> TokenError {
        match explain(e, Some(self.serial)) {
            TokenError::Transport(t) => match readers_with_a_card() {
                Err(gone @ TokenError::NoService) => gone,
                Ok(present) if !present.iter().any(|r| r == self.yk.borrow().name()) => TokenError::Removed(self.serial),
                _ => TokenError::Transport(t),
            },
            other => other,
        }
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
        on_card(self.yk.get_mut(), |yk| yk.get_pin_retries()).map_err(|e| explain(&e, Some(self.serial)))
    }

    fn verify_pin(&mut self, pin: &SecretString) -> Result<(), TokenError> {
        // A stale connection fails before the PIN reaches the card (PC/SC checks the protocol
        // first), so trying again after reconnecting never spends a retry twice.
        on_card(self.yk.get_mut(), |yk| yk.verify_pin(pin.expose_secret().as_bytes())).map_err(|e| explain(&e, Some(self.serial)))
    }

    fn signing_key(&self) -> Result<PublicKey, TokenError> {
        let mut yk = self.yk.borrow_mut();
        let att = on_card(&mut yk, |yk| piv::attest(yk, SIGN_SLOT)).map_err(|e| explain(&e, Some(self.serial)))?;
        let cert = yubikey::certificate::Certificate::from_bytes(att.to_vec())
            .map_err(|e| TokenError::Card(format!("attestation certificate: {e}")))?;
        let bytes = cert.cert.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
        let vk =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| TokenError::Card("slot 9c does not hold a P-256 key".into()))?;
        Ok(PublicKey::from(ssh_key::public::EcdsaPublicKey::from(&vk)))
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, TokenError> {
        // The card signs the digest we computed (PIV signs raw input); touch is asked by the card.
        let der = on_card(self.yk.get_mut(), |yk| piv::sign_data(yk, digest, AlgorithmId::EccP256, SIGN_SLOT))
            .map_err(|e| self.explain_gone(&e))?;
        p256::ecdsa::Signature::from_der(&der).map_err(|e| TokenError::Card(format!("the card returned a malformed signature: {e}")))
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
            let shared = on_card(&mut yk, |yk| piv::decrypt_data(yk, epk, AlgorithmId::EccP256, AGE_SLOT)).map_err(|e| e.to_string())?;
            let mut out = [0u8; 32];
            if shared.len() != 32 {
                return Err(format!("the card returned {} bytes of shared secret", shared.len()));
            }
            out.copy_from_slice(&shared);
            Ok(out)
        })
    }
}
