//! DEMO software keys: a P-256 key and an X25519 age identity held in memory.
//!
//! They exist for the demo and for fast tests. They offer no protection at all and say so:
//! `TokenInfo::demo` is true, so every screen, journal entry and report they touch reads DEMO.

use super::{Token, TokenError, TokenInfo};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use secrecy::{ExposeSecret, SecretString};
use ssh_key::PublicKey;
use std::io::Read;
use std::str::FromStr;
use zeroize::Zeroizing;

/// PIN tries of a fresh key, as on a YubiKey.
pub(crate) const PIN_TRIES: u8 = 3;

/// A software token. Its Debug output never shows key material or the PIN.
pub struct SoftToken {
    serial: u32,
    signing: SigningKey,
    public: PublicKey,
    identity: age::x25519::Identity,
    pin: SecretString,
    retries: u8,
    pin_ok: bool,
}

impl std::fmt::Debug for SoftToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftToken").field("serial", &self.serial).field("retries", &self.retries).finish_non_exhaustive()
    }
}

impl SoftToken {
    /// Builds a token from an OpenSSH ECDSA P-256 private key and an age X25519 identity file.
    pub fn from_files_text(serial: u32, openssh_private: &str, age_identity_file: &str, pin: &str) -> Result<Self, TokenError> {
        let key = ssh_key::PrivateKey::from_openssh(openssh_private).map_err(|e| TokenError::Demo(format!("serial {serial}: {e}")))?;
        let signing = match key.key_data() {
            ssh_key::private::KeypairData::Ecdsa(ssh_key::private::EcdsaKeypair::NistP256 { private, .. }) => {
                SigningKey::from_slice(private.as_slice()).map_err(|e| TokenError::Demo(e.to_string()))?
            }
            _ => return Err(TokenError::Demo(format!("serial {serial} is not ECDSA P-256"))),
        };
        let public = key.public_key().clone();
        let line = age_identity_file
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .ok_or_else(|| TokenError::Demo(format!("the age identity for serial {serial} is missing")))?;
        let identity = age::x25519::Identity::from_str(line).map_err(|e| TokenError::Demo(e.to_string()))?;
        Ok(Self { serial, signing, public, identity, pin: SecretString::from(pin.to_string()), retries: PIN_TRIES, pin_ok: false })
    }

    /// The age recipient of this token's identity.
    pub fn age_recipient(&self) -> String {
        self.identity.to_public().to_string()
    }
}

impl Token for SoftToken {
    fn info(&self) -> TokenInfo {
        TokenInfo { serial: self.serial, model: "DEMO software key".into(), demo: true }
    }

    fn pin_retries(&mut self) -> Result<u8, TokenError> {
        Ok(self.retries)
    }

    fn verify_pin(&mut self, pin: &SecretString) -> Result<(), TokenError> {
        if self.retries == 0 {
            return Err(TokenError::PinBlocked);
        }
        // Constant-time enough for a demo; a real card compares on the card.
        if pin.expose_secret().as_bytes() == self.pin.expose_secret().as_bytes() {
            self.retries = PIN_TRIES;
            self.pin_ok = true;
            Ok(())
        } else {
            self.retries -= 1;
            self.pin_ok = false;
            if self.retries == 0 { Err(TokenError::PinBlocked) } else { Err(TokenError::WrongPin { retries_left: self.retries }) }
        }
    }

    fn signing_key(&self) -> Result<PublicKey, TokenError> {
        Ok(self.public.clone())
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, TokenError> {
        if !self.pin_ok {
            return Err(TokenError::PinRequired);
        }
        self.signing.sign_prehash(digest).map_err(|e| TokenError::Demo(e.to_string()))
    }

    fn decrypt_layer(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        if !self.pin_ok {
            return Err(TokenError::PinRequired);
        }
        let d = age::Decryptor::new(ciphertext).map_err(|e| TokenError::Decrypt(e.to_string()))?;
        let mut r = d.decrypt(std::iter::once(&self.identity as &dyn age::Identity)).map_err(|e| TokenError::Decrypt(e.to_string()))?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out).map_err(|e| TokenError::Decrypt(e.to_string()))?;
        Ok(out)
    }
}
