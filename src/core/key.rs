//! The `Token` port: a custodian's hardware key, as the core sees it.
//!
//! The domain asks; the token answers. A token never reads the terminal: PINs come in from the UI
//! as secrets. Every call may be slow (PC/SC and a human touch), so callers run it off the UI
//! thread. The adapters that plug in here are in `src/adapters/token/`: `soft` (DEMO software
//! keys) and `piv` (YubiKeys over PC/SC).

use secrecy::SecretString;
use ssh_key::PublicKey;
use thiserror::Error;
use zeroize::Zeroizing;

/// What a token says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub serial: u32,
    /// "YubiKey 5C NFC", or "DEMO software key".
    pub model: String,
    /// True for software keys: everything they touch is labelled DEMO.
    pub demo: bool,
}

/// Errors a token reports, each with what to do next.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("wrong PIN: {retries_left} tries left before the PIN is blocked")]
    WrongPin { retries_left: u8 },
    #[error("the PIN is blocked: unblock it with the PUK (`ykman piv access unblock-pin`), or let another custodian step in")]
    PinBlocked,
    #[error("the PIN has not been verified on this key yet")]
    PinRequired,
    /// One PIN try is left: it is never spent by the tool (one more wrong PIN blocks the key).
    #[error(
        "only 1 PIN try is left, and it is not spent here: unblock the PIN with the PUK first (`ykman piv access unblock-pin`), or let another custodian step in"
    )]
    LastTry,
    #[error("the key (serial {0}) was removed: insert it again to continue")]
    Removed(u32),
    #[error("no touch within the time limit: touch the key when it blinks, then try again")]
    TouchTimeout,
    #[error("the key could not decrypt its layer of the runbook: {0}")]
    Decrypt(String),
    /// The custodian whose layer comes next has no key among those present.
    #[error("{0}'s key is not present: insert it")]
    NotPresent(String),
    #[error("PC/SC is not running or sees no reader: start it (`sudo systemctl start pcscd`) and insert the YubiKey")]
    NoService,
    #[error("{}", match .0 { Some(s) => format!("no YubiKey with serial {s} is inserted: insert it (or check `breakglass doctor`)"), None => "no YubiKey found: insert the key".into() })]
    NotFound(Option<u32>),
    #[error("this card is not a YubiKey with the PIV application: use the custodian's enrolled YubiKey")]
    NotYubiKey,
    #[error("reader `{0}` went away: insert the key again")]
    ReaderGone(String),
    #[error("the key in `{reader}` is serial {found}, not {expected}: insert the right key")]
    WrongKey { reader: String, expected: u32, found: u32 },
    /// The card answered, but not as an enrolled key should (a certificate, a slot, a signature).
    #[error("{0}")]
    Card(String),
    /// A DEMO software key's files could not be read.
    #[error("DEMO key: {0}")]
    Demo(String),
    /// PC/SC or the YubiKey library failed in a way not named above.
    #[error("{0}")]
    Transport(String),
}

/// A custodian's key: serial, PIN, a P-256 signing key (PIV slot 9c) and an age identity.
pub trait Token: Send {
    fn info(&self) -> TokenInfo;
    /// PIN tries left before the PIN blocks.
    fn pin_retries(&mut self) -> Result<u8, TokenError>;
    /// Verifies the PIN; a wrong PIN spends a try and says how many are left.
    fn verify_pin(&mut self, pin: &SecretString) -> Result<(), TokenError>;
    /// The OpenSSH public key of the signing slot.
    fn signing_key(&self) -> Result<PublicKey, TokenError>;
    /// Signs a SHA-256 digest with the signing slot (ECDSA P-256), as a PIV card does: the
    /// host hashes, the card signs the digest. Needs the PIN first and, on hardware, a touch.
    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, TokenError>;
    /// Removes one age layer addressed to this key.
    fn decrypt_layer(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, TokenError>;
}

#[cfg(test)]
mod tests {
    use super::TokenError;

    /// Each failure has its own kind, and its words say what to do next.
    #[test]
    fn token_errors_are_typed_and_say_what_to_do() {
        let cases = [
            (TokenError::NoService, "sudo systemctl start pcscd"),
            (TokenError::NotFound(Some(12345678)), "no YubiKey with serial 12345678 is inserted: insert it"),
            (TokenError::NotFound(None), "no YubiKey found: insert the key"),
            (TokenError::NotYubiKey, "use the custodian's enrolled YubiKey"),
            (TokenError::ReaderGone("Yubico YubiKey 00 00".into()), "insert the key again"),
            (TokenError::WrongKey { reader: "r".into(), expected: 2, found: 1 }, "is serial 1, not 2: insert the right key"),
            (TokenError::NotPresent("bob".into()), "bob's key is not present: insert it"),
        ];
        for (e, words) in cases {
            assert!(e.to_string().contains(words), "{e}");
        }
    }
}
