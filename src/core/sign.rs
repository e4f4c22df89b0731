//! SSHSIG signatures made on a token, verifiable with `ssh-keygen -Y verify`.
//!
//! A PIV slot signs digests, not messages: we build the SSHSIG signed-data blob (namespace,
//! SHA-512 of the message), hash that blob with SHA-256 (the ECDSA hash for nistp256) and give the
//! digest to the token. The result is a standard armored SSHSIG file.

use crate::core::key::{Token, TokenError};
use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, LineEnding, PublicKey, SshSig};
use thiserror::Error;

/// Namespace of the co-signatures over a session journal.
pub const SESSION_NAMESPACE: &str = "breakglass-session";
/// Namespace of the custodians' signatures over the roster.
pub const ROSTER_NAMESPACE: &str = "breakglass-roster";
/// Namespace of the quorum's signatures over a sealed runbook's MANIFEST.toml.
pub const RUNBOOK_NAMESPACE: &str = "breakglass-runbook";
/// Namespaces of a drill's signatures over the roster version and sealing it rehearses: they can
/// never make that version trusted, nor that sealing accepted.
pub const ROSTER_DRILL_NAMESPACE: &str = "breakglass-roster-drill";
pub(crate) const RUNBOOK_DRILL_NAMESPACE: &str = "breakglass-runbook-drill";

#[derive(Debug, Error)]
pub enum SignError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("could not build the SSH signature: {0}")]
    Format(String),
}

/// Why a signature is refused (the same rule for check-ins, acknowledgements, co-signatures,
/// rosters and MANIFEST files).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadSignature {
    #[error("not an SSH signature ({0})")]
    NotSshsig(String),
    #[error("made by a key that is not this custodian's key in the trusted roster")]
    OtherKey,
    #[error("namespace is `{found}`, expected `{expected}`")]
    Namespace { found: String, expected: String },
    #[error("hash algorithm is not sha512")]
    HashAlg,
    #[error("not an ECDSA P-256 key")]
    NotP256,
    #[error("malformed signature ({0})")]
    Malformed(String),
    #[error("the signature does not match the signed bytes")]
    Mismatch,
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
pub fn verify(key: &PublicKey, namespace: &str, msg: &[u8], sig: &SshSig) -> Result<(), BadSignature> {
    use sha2::Digest;
    verify_sig(key, namespace, &sha2::Sha512::digest(msg), sig)
}

/// The SSHSIG signed-data blob, given the message's SHA-512 (so a large journal is hashed once).
fn signed_blob(namespace: &str, reserved: &[u8], sha512: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(6 + 4 * 4 + namespace.len() + reserved.len() + 6 + sha512.len());
    b.extend_from_slice(b"SSHSIG");
    for field in [namespace.as_bytes(), reserved, b"sha512", sha512] {
        b.extend_from_slice(&u32::try_from(field.len()).unwrap_or(0).to_be_bytes());
        b.extend_from_slice(field);
    }
    b
}

/// Verifies an armored SSHSIG over a message whose SHA-512 is given, by the given key.
pub fn verify_prehashed(key: &PublicKey, namespace: &str, sha512: &[u8], pem: &[u8]) -> Result<(), BadSignature> {
    let sig = SshSig::from_pem(pem).map_err(|e| BadSignature::NotSshsig(e.to_string()))?;
    verify_sig(key, namespace, sha512, &sig)
}

/// The one SSHSIG rule (check-ins, acknowledgements, co-signatures, rosters, MANIFEST): made by
/// exactly `key` (a valid signature by any other key is refused), in `namespace`, over SHA-512,
/// and the P-256 signature verifies over the signed-data blob, as `ssh-keygen -Y verify` checks.
pub(crate) fn verify_sig(key: &PublicKey, namespace: &str, sha512: &[u8], sig: &SshSig) -> Result<(), BadSignature> {
    use p256::ecdsa::signature::Verifier;
    if sig.public_key() != key.key_data() {
        return Err(BadSignature::OtherKey);
    }
    if sig.namespace() != namespace {
        return Err(BadSignature::Namespace { found: sig.namespace().to_string(), expected: namespace.to_string() });
    }
    if sig.hash_alg() != HashAlg::Sha512 {
        return Err(BadSignature::HashAlg);
    }
    let ssh_key::public::KeyData::Ecdsa(ec) = key.key_data() else { return Err(BadSignature::NotP256) };
    let vk = p256::ecdsa::VerifyingKey::try_from(ec).map_err(|_| BadSignature::NotP256)?;
    let s = p256::ecdsa::Signature::try_from(sig.signature()).map_err(|e| BadSignature::Malformed(e.to_string()))?;
    vk.verify(&signed_blob(namespace, sig.reserved(), sha512), &s).map_err(|_| BadSignature::Mismatch)
}

/// One `allowed_signers` line for `ssh-keygen -Y verify`.
pub(crate) fn allowed_signers_line(id: &str, key: &PublicKey, namespace: &str) -> String {
    let k = key.to_openssh().unwrap_or_default();
    let k = k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    format!("{id} namespaces=\"{namespace}\" {k}")
}

/// The signature file of custodian `id` beside `file`: `<file>.<id>.sig`.
pub fn sig_path(file: &std::path::Path, id: &str) -> std::path::PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(format!(".{id}.sig"));
    std::path::PathBuf::from(s)
}

/// Signs `file` as custodian `id` with an unencrypted OpenSSH private key file whose public half
/// must be `expected`; writes `<file>.<id>.sig` and returns its path.
pub fn sign_file_with_key(
    file: &std::path::Path,
    bytes: &[u8],
    namespace: &str,
    id: &str,
    key_path: &std::path::Path,
    expected: &PublicKey,
) -> Result<std::path::PathBuf, String> {
    let out = sig_path(file, id);
    let k = ssh_key::PrivateKey::read_openssh_file(key_path).map_err(|e| {
        format!(
            "cannot read the private key {}: {e}. Sign with stock OpenSSH instead: `ssh-keygen -Y sign -f {} -n {namespace} {}` and rename the .sig to {}",
            key_path.display(),
            key_path.display(),
            file.display(),
            out.display()
        )
    })?;
    if k.is_encrypted() {
        return Err(format!(
            "{} is passphrase-protected: sign with `ssh-keygen -Y sign -f {} -n {namespace} {}` and rename the .sig to {}",
            key_path.display(),
            key_path.display(),
            file.display(),
            out.display()
        ));
    }
    if k.public_key().key_data() != expected.key_data() {
        return Err(format!("{} is not {id}'s signing_key in the roster: use the key the roster names for {id}", key_path.display()));
    }
    let sig = k.sign(namespace, HashAlg::Sha512, bytes).map_err(|e| format!("signing failed: {e}"))?;
    let pem = to_pem(&sig).map_err(|e| e.to_string())?;
    crate::core::fsread::write_atomic(&out, pem.as_bytes()).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}
