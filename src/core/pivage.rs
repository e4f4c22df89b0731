//! The age `piv-p256` recipient stanza (c2sp.org/age-piv-p256), as age-plugin-yubikey writes it.
//!
//! Runbook layers for custodians whose roster recipient is `age1yubikey1...` are wrapped to the
//! P-256 key in their YubiKey; only the card can unwrap them (ECDH on the card). Files sealed here
//! open with stock `age` plus `age-plugin-yubikey`, and the reverse, because both follow the spec:
//!
//! ```text
//! salt = ephemeral share || recipient    (both compressed SEC1 points)
//! wrap key = HKDF-SHA-256(ikm = ECDH x-coordinate, salt, info = "piv-p256")
//! body = ChaCha20-Poly1305(wrap key, nonce = 0, file key)
//! tag = SHA-256(recipient)[0..4]
//! ```

use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, aead_encrypt, hkdf};
use age_core::secrecy::ExposeSecret;
use base64ct::{Base64Unpadded, Encoding};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

pub(crate) const HRP: &str = "age1yubikey";
pub(crate) const STANZA_TAG: &str = "piv-p256";
const LABEL: &[u8] = b"piv-p256";

/// A YubiKey-bound recipient: a P-256 public key, compressed.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    pub compressed: [u8; 33],
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.encode())
    }
}

/// Why a text is not an `age1yubikey1...` recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    #[error("`{text}` is not a valid age1yubikey1 recipient ({why})")]
    NotBech32 { text: String, why: String },
    #[error("`{0}` is not an age1yubikey1 recipient")]
    NotYubikey(String),
    #[error("`{0}` does not hold a P-256 public key")]
    NotP256(String),
}

impl Recipient {
    /// Parses `age1yubikey1...`.
    pub fn parse(s: &str) -> Result<Self, RecipientError> {
        let text = || crate::core::plain::one_line(s).into_owned();
        let (hrp, data) = bech32::decode(s).map_err(|e| RecipientError::NotBech32 { text: text(), why: e.to_string() })?;
        if hrp.as_str() != HRP {
            return Err(RecipientError::NotYubikey(text()));
        }
        let pk = p256::PublicKey::from_sec1_bytes(&data).map_err(|_| RecipientError::NotP256(text()))?;
        Ok(Self::from_public(&pk))
    }

    pub fn from_public(pk: &p256::PublicKey) -> Self {
        let mut compressed = [0u8; 33];
        compressed.copy_from_slice(pk.to_encoded_point(true).as_bytes());
        Self { compressed }
    }

    pub fn public(&self) -> Option<p256::PublicKey> {
        p256::PublicKey::from_sec1_bytes(&self.compressed).ok()
    }

    pub fn encode(&self) -> String {
        bech32::encode::<bech32::Bech32>(bech32::Hrp::parse_unchecked(HRP), &self.compressed).unwrap_or_default()
    }

    pub fn tag(&self) -> [u8; 4] {
        let h = Sha256::digest(self.compressed);
        [h[0], h[1], h[2], h[3]]
    }
}

impl age::Recipient for Recipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let pk = self.public().ok_or(age::EncryptError::MissingRecipients)?;
        let esk = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
        let epk = esk.public_key().to_encoded_point(true);
        let shared = esk.diffie_hellman(&pk);
        let mut salt = Vec::with_capacity(66);
        salt.extend_from_slice(epk.as_bytes());
        salt.extend_from_slice(&self.compressed);
        let key = hkdf(&salt, LABEL, shared.raw_secret_bytes());
        let body = aead_encrypt(&key, file_key.expose_secret());
        let stanza = Stanza {
            tag: STANZA_TAG.into(),
            args: vec![Base64Unpadded::encode_string(&self.tag()), Base64Unpadded::encode_string(epk.as_bytes())],
            body,
        };
        Ok((vec![stanza], HashSet::new()))
    }
}

/// ECDH on the card: the ephemeral share (uncompressed SEC1) in, the shared x-coordinate out.
pub(crate) type Ecdh<'a> = dyn FnMut(&[u8]) -> Result<[u8; 32], String> + 'a;

/// Unwraps a piv-p256 stanza addressed to `recipient`, with `ecdh` computing the shared
/// x-coordinate on the card from the ephemeral share (uncompressed SEC1 point).
pub fn unwrap(stanza: &Stanza, recipient: &Recipient, ecdh: &mut Ecdh<'_>) -> Option<Result<FileKey, age::DecryptError>> {
    if stanza.tag != STANZA_TAG {
        return None;
    }
    if stanza.args.len() != 2 {
        return Some(Err(age::DecryptError::InvalidHeader));
    }
    let tag = Base64Unpadded::decode_vec(&stanza.args[0]).ok()?;
    if tag.as_slice() != recipient.tag() {
        return None;
    }
    let Ok(epk) = Base64Unpadded::decode_vec(&stanza.args[1]) else { return Some(Err(age::DecryptError::InvalidHeader)) };
    if epk.len() != 33 || stanza.body.len() != 32 {
        return Some(Err(age::DecryptError::InvalidHeader));
    }
    let Ok(point) = p256::EncodedPoint::from_bytes(&epk) else { return Some(Err(age::DecryptError::InvalidHeader)) };
    let Some(epk_pub) = Option::<p256::PublicKey>::from(p256::PublicKey::from_encoded_point(&point)) else {
        return Some(Err(age::DecryptError::InvalidHeader));
    };
    let uncompressed = epk_pub.to_encoded_point(false);
    let shared = match ecdh(uncompressed.as_bytes()) {
        Ok(s) => s,
        Err(_) => return Some(Err(age::DecryptError::KeyDecryptionFailed)),
    };
    let mut salt = Vec::with_capacity(66);
    salt.extend_from_slice(&epk);
    salt.extend_from_slice(&recipient.compressed);
    let key = hkdf(&salt, LABEL, &shared);
    Some(
        aead_decrypt(&key, 16, &stanza.body)
            .map_err(|_| age::DecryptError::DecryptionFailed)
            .and_then(|pt| pt.try_into().map(|k: [u8; 16]| FileKey::new(Box::new(k))).map_err(|_| age::DecryptError::DecryptionFailed)),
    )
}

/// A software stand-in for the card, for tests: holds the P-256 secret in memory.
pub struct SoftPivIdentity {
    pub secret: p256::SecretKey,
}

impl age::Identity for SoftPivIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        let r = Recipient::from_public(&self.secret.public_key());
        unwrap(stanza, &r, &mut |epk| {
            let pk = p256::PublicKey::from_sec1_bytes(epk).map_err(|e| e.to_string())?;
            let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), pk.as_affine());
            let mut out = [0u8; 32];
            out.copy_from_slice(shared.raw_secret_bytes());
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn round_trip_and_recipient_encoding() {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let r = Recipient::from_public(&secret.public_key());
        let s = r.encode();
        assert!(s.starts_with("age1yubikey1"), "{s}");
        assert_eq!(Recipient::parse(&s).unwrap(), r);
        let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
        let mut out = vec![];
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(b"runbook").unwrap();
        w.finish().unwrap();
        assert!(String::from_utf8_lossy(&out).contains("-> piv-p256 "));
        let d = age::Decryptor::new(&out[..]).unwrap();
        let id = SoftPivIdentity { secret };
        let mut plain = vec![];
        d.decrypt(std::iter::once(&id as &dyn age::Identity)).unwrap().read_to_end(&mut plain).unwrap();
        assert_eq!(plain, b"runbook");
        // Another key does not open it.
        let other = SoftPivIdentity { secret: p256::SecretKey::random(&mut rand::rngs::OsRng) };
        let d = age::Decryptor::new(&out[..]).unwrap();
        assert!(d.decrypt(std::iter::once(&other as &dyn age::Identity)).is_err());
        assert!(matches!(Recipient::parse("age1qqqq"), Err(RecipientError::NotBech32 { .. })));
        let x25519 = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        assert_eq!(Recipient::parse(x25519), Err(RecipientError::NotYubikey(x25519.into())));
    }
}
