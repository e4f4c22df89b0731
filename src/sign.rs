//! SSHSIG signatures made on a token, verifiable with `ssh-keygen -Y verify`.
//!
//! A PIV slot signs digests, not messages: we build the SSHSIG signed-data blob (namespace,
//! SHA-512 of the message), hash that blob with SHA-256 (the ECDSA hash for nistp256) and give the
//! digest to the token. The result is a standard armored SSHSIG file.

use crate::token::{Token, TokenError};
use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, LineEnding, PublicKey, SshSig};
use thiserror::Error;

/// Namespace of the co-signatures over a session journal.
pub const SESSION_NAMESPACE: &str = "breakglass-session";
/// Namespace of the custodians' signatures over the roster.
pub const ROSTER_NAMESPACE: &str = "breakglass-roster";
/// Namespace of the check-in challenge signatures.
pub const CHECKIN_NAMESPACE: &str = "breakglass-checkin";

#[derive(Debug, Error)]
pub enum SignError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("could not build the SSH signature: {0}")]
    Format(String),
}

/// Signs `msg` under `namespace` on the token and returns the SSHSIG.
pub fn sshsig(token: &mut dyn Token, namespace: &str, msg: &[u8]) -> Result<SshSig, SignError> {
    let public = token.signing_key()?;
    let signed = SshSig::signed_data(namespace, HashAlg::Sha512, msg).map_err(|e| SignError::Format(e.to_string()))?;
    let digest: [u8; 32] = Sha256::digest(&signed).into();
    let sig = token.sign_digest(&digest)?;
    let sig = ssh_key::Signature::try_from(sig).map_err(|e| SignError::Format(e.to_string()))?;
    SshSig::new(public.key_data().clone(), namespace, HashAlg::Sha512, sig).map_err(|e| SignError::Format(e.to_string()))
}

/// The armored (PEM) form that `ssh-keygen -Y verify -s` reads.
pub fn to_pem(sig: &SshSig) -> Result<String, SignError> {
    sig.to_pem(LineEnding::LF).map_err(|e| SignError::Format(e.to_string()))
}

/// Verifies `sig` over `msg` in `namespace` with `key`. The key inside the signature must be the
/// expected one: a valid signature by some other key is refused.
pub fn verify(key: &PublicKey, namespace: &str, msg: &[u8], sig: &SshSig) -> Result<(), String> {
    if sig.public_key() != key.key_data() {
        return Err("signed by a different key than the roster's".into());
    }
    if sig.namespace() != namespace {
        return Err(format!("namespace is `{}`, expected `{namespace}`", sig.namespace()));
    }
    key.verify(namespace, msg, sig).map_err(|e| format!("signature does not verify ({e})"))
}

/// One `allowed_signers` line for `ssh-keygen -Y verify`.
pub fn allowed_signers_line(id: &str, key: &PublicKey, namespace: &str) -> String {
    let k = key.to_openssh().unwrap_or_default();
    let k = k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    format!("{id} namespaces=\"{namespace}\" {k}")
}
