//! The thin adapter that makes `piv-authenticator` look like a YubiKey 5 to the `yubikey` crate.
//!
//! vpcd hands us raw APDUs. Most go straight to the emulator; the few places where the crate
//! expects YubiKey behaviour the emulator lacks are handled here, each marked `WHY:`.
//! Transport concerns (command chaining, GET RESPONSE) are also ours, since the emulator only
//! sees whole commands and returns whole responses.

use std::collections::HashMap;

use heapless::Vec as HVec;
use log::{debug, info, warn};
use p256::ecdsa::{signature::hazmat::PrehashSigner as _, Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use piv_authenticator::{Authenticator, Options};
use zeroize::Zeroizing;

use crate::attest::Attestor;
use crate::backend::CardClient;

// Status words used here.
const SW_OK: u16 = 0x9000;
const SW_WRONG_LENGTH: u16 = 0x6700;
const SW_SECURITY: u16 = 0x6982;
const SW_INCORRECT_DATA: u16 = 0x6A80;
const SW_NOT_FOUND: u16 = 0x6A82;
const SW_INCORRECT_P1P2: u16 = 0x6A86;
const SW_INCORRECT_SLOT: u16 = 0x6B00;
const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;

// Instructions.
const INS_VERIFY: u8 = 0x20;
const INS_CHANGE_REFERENCE: u8 = 0x24;
const INS_RESET_RETRY: u8 = 0x2C;
const INS_GENERATE: u8 = 0x47;
const INS_GENERAL_AUTHENTICATE: u8 = 0x87;
const INS_SELECT: u8 = 0xA4;
const INS_GET_RESPONSE: u8 = 0xC0;
const INS_GET_DATA: u8 = 0xCB;
const INS_GET_METADATA: u8 = 0xF7;
const INS_GET_SERIAL: u8 = 0xF8;
const INS_ATTEST: u8 = 0xF9;
const INS_RESET: u8 = 0xFB;
const INS_GET_VERSION: u8 = 0xFD;
const INS_IMPORT_KEY: u8 = 0xFE;

/// The 5-byte PIV RID the `yubikey` crate selects with, and the full PIV AID the emulator wants.
const PIV_RID: &[u8] = &[0xA0, 0x00, 0x00, 0x03, 0x08];
const PIV_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00];

const ALG_P256: u8 = 0x11;
const SLOT_SIGNATURE: u8 = 0x9C;
const SLOT_CARD_AUTH: u8 = 0x9E;
const SLOT_MANAGEMENT: u8 = 0x9B;

// PIN and touch policy values (Yubico extension tags 0xAA / 0xAB).
const PIN_DEFAULT: u8 = 0;
const PIN_NEVER: u8 = 1;
const PIN_ONCE: u8 = 2;
const PIN_ALWAYS: u8 = 3;
const TOUCH_NEVER: u8 = 1;

/// A key whose touch policy asks for a touch answers after `VCARD_TOUCH_MS` milliseconds (0 if
/// unset), as a YubiKey waits for its owner's finger: the window in which a test pulls the card
/// out, or stops pcscd, while it signs.
fn touch_wait(touch_policy: u8) {
    let ms: u64 = std::env::var("VCARD_TOUCH_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if touch_policy != TOUCH_NEVER && ms > 0 {
        info!("waiting {ms} ms for a touch");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// YubiKey 5 NFC ATR, so tools that look at the ATR see a YubiKey.
const YUBIKEY5_ATR: &[u8] = &[
    0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
];

/// Largest whole command or response we buffer.
const MAX_APDU: usize = 8192;

/// What the adapter remembers about a key slot.
struct SlotKey {
    /// Uncompressed EC point (0x04 || X || Y).
    point: Vec<u8>,
    /// Effective policies (defaults resolved), as the attestation reports them.
    pin_policy: u8,
    touch_policy: u8,
    /// Set for keys imported through INS 0xFE: the emulator cannot import EC keys, so the
    /// adapter holds and uses them itself.
    imported: Option<p256::SecretKey>,
}

pub struct Card<'a> {
    piv: Authenticator<CardClient<'a>>,
    serial: u32,
    version: [u8; 3],
    attestor: Attestor,
    slots: HashMap<u8, SlotKey>,
    /// Command chaining (CLA bit 0x10): header and data gathered so far.
    chain: Option<([u8; 3], Vec<u8>)>,
    /// Response bytes not yet fetched with GET RESPONSE.
    pending: Vec<u8>,
    /// The PIN of the last successful VERIFY in this card session (see `general_authenticate`).
    pin: Option<Zeroizing<Vec<u8>>>,
    /// The previous command was a successful PIN VERIFY.
    pin_just_verified: bool,
}

/// A parsed command APDU (short or extended).
struct Apdu<'b> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'b [u8],
    le: Option<usize>,
}

fn parse_apdu(b: &[u8]) -> Option<Apdu<'_>> {
    let (&[cla, ins, p1, p2], rest) = (b.first_chunk::<4>()?, &b[4..]);
    let short_le = |x: u8| if x == 0 { 256 } else { usize::from(x) };
    let (data, le) = match rest.len() {
        0 => (&rest[..0], None),
        1 => (&rest[..0], Some(short_le(rest[0]))),
        _ if rest[0] != 0 => {
            let lc = usize::from(rest[0]);
            match rest.len() - 1 {
                n if n == lc => (&rest[1..], None),
                n if n == lc + 1 => (&rest[1..=lc], Some(short_le(rest[lc + 1]))),
                _ => return None,
            }
        }
        3 => (&rest[..0], Some(match u16::from_be_bytes([rest[1], rest[2]]) { 0 => 65536, n => usize::from(n) })),
        n if n > 3 => {
            let lc = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
            match n - 3 {
                m if m == lc => (&rest[3..], None),
                m if m == lc + 2 => {
                    let le = u16::from_be_bytes([rest[3 + lc], rest[4 + lc]]);
                    (&rest[3..3 + lc], Some(if le == 0 { 65536 } else { usize::from(le) }))
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Apdu { cla, ins, p1, p2, data, le })
}

/// Minimal BER-TLV reader (1- or 2-byte tags, lengths up to 0x82 form). Returns (tag, value, rest).
fn tlv(b: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let (mut tag, mut i) = (u16::from(*b.first()?), 1);
    if tag & 0x1F == 0x1F {
        tag = (tag << 8) | u16::from(*b.get(1)?);
        i = 2;
    }
    let (len, n) = match *b.get(i)? {
        l if l < 0x80 => (usize::from(l), 1),
        0x81 => (usize::from(*b.get(i + 1)?), 2),
        0x82 => (usize::from(u16::from_be_bytes([*b.get(i + 1)?, *b.get(i + 2)?])), 3),
        _ => return None,
    };
    let start = i + n;
    let value = b.get(start..start + len)?;
    Some((tag, value, &b[start + len..]))
}

/// Finds `tag` among the TLVs in `b` (one level).
fn find_tlv(mut b: &[u8], tag: u16) -> Option<&[u8]> {
    while !b.is_empty() {
        let (t, v, rest) = tlv(b)?;
        if t == tag {
            return Some(v);
        }
        b = rest;
    }
    None
}

/// BER-TLV encoding of `tag` (one byte) + `value`.
fn put_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    match value.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xFF => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(value);
}

/// YubiKey default PIN policy per slot (what "Default" resolves to).
fn default_pin_policy(slot: u8) -> u8 {
    match slot {
        SLOT_SIGNATURE => PIN_ALWAYS,
        SLOT_CARD_AUTH => PIN_NEVER,
        _ => PIN_ONCE,
    }
}

fn is_key_slot(slot: u8) -> bool {
    matches!(slot, 0x9A | 0x9C | 0x9D | 0x9E | 0x82..=0x95)
}

impl<'a> Card<'a> {
    pub fn new(client: CardClient<'a>, serial: u32, version: [u8; 3], attestor: Attestor) -> Self {
        Self {
            piv: Authenticator::new(client, Options::default()),
            serial,
            version,
            attestor,
            slots: HashMap::new(),
            chain: None,
            pending: Vec::new(),
            pin: None,
            pin_just_verified: false,
        }
    }

    /// Sends one whole command to the emulator; returns (data, status word).
    fn emulator(&mut self, ins: u8, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        let mut apdu = vec![0x00, ins, p1, p2];
        if data.len() > 255 {
            apdu.push(0);
            apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
            apdu.extend_from_slice(data);
        } else if !data.is_empty() {
            apdu.push(data.len() as u8);
            apdu.extend_from_slice(data);
        }
        let Ok(view) = iso7816::command::CommandView::try_from(apdu.as_slice()) else {
            return (vec![], SW_WRONG_LENGTH);
        };
        let mut reply: HVec<u8, MAX_APDU> = HVec::new();
        match self.piv.respond(view, reply.as_mut_view()) {
            Ok(()) => (reply.to_vec(), SW_OK),
            Err(status) => (vec![], u16::from(status)),
        }
    }

    /// Is the PIN verified in the emulator's session? (VERIFY without data only reports.)
    fn emulator_pin_verified(&mut self) -> bool {
        self.emulator(INS_VERIFY, 0x00, 0x80, &[]).1 == SW_OK
    }

    /// Card reset or power cycle: a new session. The emulator keeps its security state across
    /// these (its `deselect` does nothing), so at least log the PIN out; management-key
    /// authentication cannot be undone from outside and survives.
    fn new_session(&mut self) {
        self.chain = None;
        self.pending.clear();
        self.pin = None;
        self.pin_just_verified = false;
        let _ = self.emulator(INS_VERIFY, 0xFF, 0x80, &[]);
    }

    /// Handles one whole (unchained) command.
    fn handle(&mut self, ins: u8, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        let just_verified = std::mem::take(&mut self.pin_just_verified);
        match ins {
            // WHY: the crate selects PIV with the 5-byte RID; the emulator only matches 9+ bytes.
            // A new selection starts a new PIV session, so the PIN is logged out as on a YubiKey.
            INS_SELECT if p1 == 0x04 => {
                if data.len() >= PIV_RID.len() && PIV_AID.starts_with(data) {
                    self.new_session();
                    self.emulator(ins, p1, p2, PIV_AID)
                } else {
                    (vec![], SW_NOT_FOUND) // only the PIV applet lives on this card
                }
            }
            // WHY: the emulator says 6.6.6. The crate reads serials only from 4.x/5.x, and with
            // 5.7+ newer crates use AES-192 management keys the emulator lacks: say 5.4.x.
            INS_GET_VERSION => (self.version.to_vec(), SW_OK),
            // WHY: the emulator answers a fixed serial; each card process has its own.
            INS_GET_SERIAL => (self.serial.to_be_bytes().to_vec(), SW_OK),
            // WHY: the emulator answers metadata with an empty 9000, which the crate fails to
            // parse. "Not supported" makes `metadata()` return `Error::NotSupported` cleanly.
            INS_GET_METADATA => (vec![], SW_INS_NOT_SUPPORTED),
            INS_ATTEST => self.attest(p1),
            INS_IMPORT_KEY if p1 == ALG_P256 => self.import_p256(p2, data),
            INS_GENERATE => self.generate(p1, p2, data),
            INS_GENERAL_AUTHENTICATE => self.general_authenticate(p1, p2, data, just_verified),
            INS_GET_DATA => self.get_data(p1, p2, data),
            INS_VERIFY => {
                let (out, sw) = self.emulator(ins, p1, p2, data);
                if p1 == 0xFF {
                    self.pin = None;
                } else if p2 == 0x80 && !data.is_empty() {
                    if sw == SW_OK {
                        self.pin = Some(Zeroizing::new(data.to_vec()));
                        self.pin_just_verified = true;
                    } else {
                        self.pin = None;
                    }
                }
                (out, sw)
            }
            INS_CHANGE_REFERENCE => {
                let (out, sw) = self.emulator(ins, p1, p2, data);
                // The emulator verifies the new PIN after a change; remember it as the PIN.
                if sw == SW_OK && p2 == 0x80 && data.len() == 16 {
                    self.pin = Some(Zeroizing::new(data[8..].to_vec()));
                }
                (out, sw)
            }
            INS_RESET_RETRY | INS_RESET => {
                let (out, sw) = self.emulator(ins, p1, p2, data);
                if sw == SW_OK {
                    self.pin = None;
                    if ins == INS_RESET {
                        self.slots.clear();
                    }
                }
                (out, sw)
            }
            _ => self.emulator(ins, p1, p2, data),
        }
    }

    /// GENERATE ASYMMETRIC: forwarded; the adapter records the public key and the PIN/touch
    /// policies (tags 0xAA/0xAB, which the emulator ignores) for attestation and policy checks.
    fn generate(&mut self, p1: u8, slot: u8, data: &[u8]) -> (Vec<u8>, u16) {
        let template = find_tlv(data, 0xAC).unwrap_or(data);
        let policy = |tag| find_tlv(template, tag).and_then(|v| v.first().copied()).unwrap_or(0);
        let (pin_policy, touch_policy) = (policy(0xAA), policy(0xAB));
        let (out, sw) = self.emulator(INS_GENERATE, p1, slot, data);
        if sw == SW_OK {
            let point = find_tlv(&out, 0x7F49).and_then(|t| find_tlv(t, 0x86));
            if let Some(point) = point {
                let pin_policy = if pin_policy == PIN_DEFAULT { default_pin_policy(slot) } else { pin_policy };
                let touch_policy = if touch_policy == 0 { TOUCH_NEVER } else { touch_policy };
                info!("slot {slot:02x}: generated key, PIN policy {pin_policy}, touch policy {touch_policy}");
                self.slots.insert(slot, SlotKey { point: point.to_vec(), pin_policy, touch_policy, imported: None });
            }
        }
        (out, sw)
    }

    /// WHY: the emulator imports only RSA. P-256 keys imported with INS 0xFE (Yubico
    /// extension: P1 = algorithm, P2 = slot, tag 0x06 = private scalar, 0xAA/0xAB policies)
    /// are kept and used by the adapter.
    fn import_p256(&mut self, slot: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if !is_key_slot(slot) {
            return (vec![], SW_INCORRECT_SLOT);
        }
        // Management-key authentication is the emulator's secret. GENERATE checks it first and
        // then rejects the bogus algorithm 0xFF, without side effects: 6982 means "not
        // authenticated", anything else means it is.
        if self.emulator(INS_GENERATE, 0x00, 0x9A, &[0xAC, 0x03, 0x80, 0x01, 0xFF]).1 == SW_SECURITY {
            return (vec![], SW_SECURITY);
        }
        let Some(scalar) = find_tlv(data, 0x06).filter(|s| s.len() <= 32) else {
            return (vec![], SW_INCORRECT_DATA);
        };
        let mut padded = Zeroizing::new([0u8; 32]);
        padded[32 - scalar.len()..].copy_from_slice(scalar);
        let Ok(secret) = p256::SecretKey::from_slice(padded.as_ref()) else {
            return (vec![], SW_INCORRECT_DATA);
        };
        let policy = |tag| find_tlv(data, tag).and_then(|v| v.first().copied()).unwrap_or(0);
        let pin_policy = match policy(0xAA) {
            PIN_DEFAULT => default_pin_policy(slot),
            p => p,
        };
        let touch_policy = match policy(0xAB) {
            0 => TOUCH_NEVER,
            t => t,
        };
        let point = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        info!("slot {slot:02x}: imported P-256 key, PIN policy {pin_policy}, touch policy {touch_policy}");
        self.slots.insert(slot, SlotKey { point, pin_policy, touch_policy, imported: Some(secret) });
        (vec![], SW_OK)
    }

    /// GENERAL AUTHENTICATE (sign, ECDH, management-key auth).
    fn general_authenticate(&mut self, alg: u8, slot: u8, data: &[u8], just_verified: bool) -> (Vec<u8>, u16) {
        if slot == SLOT_MANAGEMENT || !is_key_slot(slot) {
            return self.emulator(INS_GENERAL_AUTHENTICATE, alg, slot, data);
        }
        let pin_policy = self.slots.get(&slot).map_or(default_pin_policy(slot), |k| k.pin_policy);

        touch_wait(self.slots.get(&slot).map_or(TOUCH_NEVER, |k| k.touch_policy));
        if self.slots.get(&slot).is_some_and(|k| k.imported.is_some()) {
            return self.imported_operation(alg, slot, data, pin_policy, just_verified);
        }

        // Touch policies are not enforced beyond that wait: "touch" always comes.
        match pin_policy {
            // WHY: the emulator enforces "verify right before" only for 9c; do it for all slots.
            PIN_ALWAYS if !just_verified => return (vec![], SW_SECURITY),
            // WHY: 9e keys are never PIN-protected in the emulator.
            PIN_ONCE if slot == SLOT_CARD_AUTH && !self.emulator_pin_verified() => {
                return (vec![], SW_SECURITY)
            }
            // WHY: the emulator demands a VERIFY right before *every* 9c operation, whatever the
            // policy, and a 9c operation logs the PIN out for the other slots too. For a key
            // made with PIN policy Once (or Never) and a PIN already verified in this session,
            // replay that VERIFY so the operation goes through, as on a YubiKey (where "once"
            // means once per session, across slots). Policy Never still needs one VERIFY per
            // session (emulator keys are sealed with a PIN-derived key).
            PIN_ONCE | PIN_NEVER if !just_verified => {
                if let Some(pin) = self.pin.clone() {
                    if self.emulator(INS_VERIFY, 0x00, 0x80, &pin).1 != SW_OK {
                        self.pin = None;
                    }
                }
            }
            _ => {}
        }
        self.emulator(INS_GENERAL_AUTHENTICATE, alg, slot, data)
    }

    /// Sign or ECDH with a key the adapter imported.
    fn imported_operation(&mut self, alg: u8, slot: u8, data: &[u8], pin_policy: u8, just_verified: bool) -> (Vec<u8>, u16) {
        if alg != ALG_P256 {
            return (vec![], SW_INCORRECT_P1P2);
        }
        let allowed = match pin_policy {
            PIN_NEVER => true,
            PIN_ALWAYS => just_verified,
            _ => self.emulator_pin_verified(),
        };
        if !allowed {
            return (vec![], SW_SECURITY);
        }
        let Some(key) = self.slots.get(&slot).and_then(|k| k.imported.clone()) else {
            return (vec![], SW_INCORRECT_DATA);
        };
        let Some(template) = find_tlv(data, 0x7C) else { return (vec![], SW_INCORRECT_DATA) };
        let result = if let Some(digest) = find_tlv(template, 0x81).filter(|d| !d.is_empty() && d.len() <= 32) {
            // ECDSA over a digest the host computed; shorter digests are left-padded.
            let mut padded = [0u8; 32];
            padded[32 - digest.len()..].copy_from_slice(digest);
            let sig: Result<Signature, _> = SigningKey::from(&key).sign_prehash(&padded);
            sig.ok().map(|s| s.to_der().as_bytes().to_vec())
        } else if let Some(peer) = find_tlv(template, 0x85) {
            p256::PublicKey::from_sec1_bytes(peer).ok().map(|peer| {
                let shared = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), peer.as_affine());
                shared.raw_secret_bytes().to_vec()
            })
        } else {
            None
        };
        let Some(result) = result else { return (vec![], SW_INCORRECT_DATA) };
        let mut inner = Vec::new();
        put_tlv(&mut inner, 0x82, &result);
        let mut out = Vec::new();
        put_tlv(&mut out, 0x7C, &inner);
        (out, SW_OK)
    }

    /// WHY: attestation (INS 0xF9) is not in the emulator. The certificate is made here, for
    /// keys generated on the card (a YubiKey refuses to attest imported keys, and so do we).
    fn attest(&mut self, slot: u8) -> (Vec<u8>, u16) {
        let Some(key) = self.slots.get(&slot) else { return (vec![], SW_INCORRECT_DATA) };
        if key.imported.is_some() {
            return (vec![], SW_INCORRECT_DATA);
        }
        match self.attestor.attest(slot, &key.point, key.pin_policy, key.touch_policy) {
            Ok(der) => (der, SW_OK),
            Err(e) => {
                warn!("attestation for slot {slot:02x} failed: {e}");
                (vec![], 0x6F00)
            }
        }
    }

    /// GET DATA: two objects differ from the emulator.
    fn get_data(&mut self, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        match find_tlv(data, 0x5C) {
            // WHY: the f9 attestation certificate (5FFF01) lives in the adapter. Stored as a
            // YubiKey stores certificates: 53 { 70 cert, 71 compression = 0, FE LRC }.
            Some([0x5F, 0xFF, 0x01]) => {
                let mut object = Vec::new();
                put_tlv(&mut object, 0x70, self.attestor.f9_cert_der());
                object.extend_from_slice(&[0x71, 0x01, 0x00, 0xFE, 0x00]);
                let mut out = Vec::new();
                put_tlv(&mut out, 0x53, &object);
                (out, SW_OK)
            }
            // WHY: the emulator synthesises a Key History object; a fresh YubiKey has none.
            Some([0x5F, 0xC1, 0x0C]) => (vec![], SW_NOT_FOUND),
            _ => self.emulator(INS_GET_DATA, p1, p2, data),
        }
    }

    /// Returns the next piece of the buffered response: at most `le` bytes, with 61xx while
    /// more remains (61 00 = 256 or more).
    fn take_pending(&mut self, le: usize) -> Vec<u8> {
        let n = le.min(self.pending.len());
        let mut out: Vec<u8> = self.pending.drain(..n).collect();
        match self.pending.len() {
            0 => out.extend_from_slice(&SW_OK.to_be_bytes()),
            rest => out.extend_from_slice(&[0x61, if rest > 255 { 0 } else { rest as u8 }]),
        }
        out
    }

    fn execute_apdu(&mut self, raw: &[u8]) -> Vec<u8> {
        let Some(apdu) = parse_apdu(raw) else {
            return SW_WRONG_LENGTH.to_be_bytes().to_vec();
        };
        // WHY: commands without Le (case 1/3, e.g. every chained or data-carrying command the
        // crate sends) are answered as if Le were 256; the emulator's transport would return
        // a bare 61xx and the crate would find no data.
        let le = apdu.le.unwrap_or(256);
        if apdu.ins == INS_GET_RESPONSE {
            return self.take_pending(le);
        }
        self.pending.clear();

        // Command chaining: gather data until the last command of the chain arrives.
        let header = [apdu.ins, apdu.p1, apdu.p2];
        if apdu.cla & 0x10 != 0 {
            let chain = self.chain.get_or_insert_with(|| (header, Vec::new()));
            if chain.0 != header || chain.1.len() + apdu.data.len() > MAX_APDU {
                self.chain = None;
                return 0x6883u16.to_be_bytes().to_vec(); // last command of chain expected
            }
            chain.1.extend_from_slice(apdu.data);
            return SW_OK.to_be_bytes().to_vec();
        }
        if apdu.cla & !0x10 != 0x00 {
            return 0x6E00u16.to_be_bytes().to_vec(); // class not supported
        }
        let data = match self.chain.take() {
            Some((h, mut gathered)) if h == header => {
                gathered.extend_from_slice(apdu.data);
                gathered
            }
            _ => apdu.data.to_vec(),
        };

        debug!(">> INS {:02X} P1 {:02X} P2 {:02X}, {} bytes", apdu.ins, apdu.p1, apdu.p2, data.len());
        let (out, sw) = self.handle(apdu.ins, apdu.p1, apdu.p2, &data);
        debug!("<< {sw:04X}, {} bytes", out.len());
        if sw != SW_OK {
            return sw.to_be_bytes().to_vec();
        }
        self.pending = out;
        self.take_pending(le)
    }
}

impl vpicc::VSmartCard for Card<'_> {
    fn atr(&self) -> &[u8] {
        YUBIKEY5_ATR
    }
    fn power_on(&mut self) {
        debug!("power on");
    }
    fn power_off(&mut self) {
        debug!("power off");
        self.new_session();
    }
    fn reset(&mut self) {
        debug!("reset");
        self.new_session();
    }
    fn execute(&mut self, msg: &[u8]) -> Vec<u8> {
        self.execute_apdu(msg)
    }
}
