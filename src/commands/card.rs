//! A custodian's YubiKey at the command line: finding the one inserted, asking for the PIN (never
//! spending its last try), and signing a file on slot 9c (`roster sign --serial`, `runbook sign
//! --serial`). The signature is the same SSHSIG file a software key or `ssh-keygen -Y sign` makes.

use crate::adapters::token::Token;
use crate::adapters::token::piv::{PivToken, scan};
use anyhow::{Context, bail};
use secrecy::SecretString;
use std::io::{BufRead, IsTerminal, Write};
use zeroize::Zeroizing;

/// Where answers come from: the terminal (no echo), or standard input lines (scripts, tests).
pub struct Prompter {
    tty: bool,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Default for Prompter {
    fn default() -> Self {
        Self::new()
    }
}

impl Prompter {
    pub fn new() -> Self {
        Self { tty: std::io::stdin().is_terminal(), lines: std::io::stdin().lock().lines() }
    }

    /// A secret: typed without echo on a terminal, else one line of standard input.
    pub fn secret(&mut self, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
        if self.tty {
            return Ok(Zeroizing::new(rpassword::prompt_password(prompt)?));
        }
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let line = self.lines.next().context("standard input ended before every answer was given")??;
        Ok(Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string()))
    }

    /// A plain answer (echoed).
    pub fn line(&mut self, prompt: &str) -> anyhow::Result<String> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        if self.tty {
            let mut s = String::new();
            std::io::stdin().read_line(&mut s)?;
            return Ok(s.trim().to_string());
        }
        Ok(self.lines.next().context("standard input ended before every answer was given")??.trim().to_string())
    }
}

/// The serial to use: the one given, else the only YubiKey inserted.
pub(crate) fn which_serial(given: Option<u32>) -> anyhow::Result<u32> {
    if let Some(s) = given {
        return Ok(s);
    }
    let (seen, _) = scan().map_err(|e| anyhow::anyhow!("{e}"))?;
    match seen.as_slice() {
        [one] => Ok(one.serial),
        [] => bail!("no YubiKey is inserted: insert the custodian's key (or pass --serial N)"),
        many => bail!(
            "{} YubiKeys are inserted ({}): pass --serial N to say which one signs",
            many.len(),
            many.iter().map(|s| s.serial.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// What the PIN try counter allows: `Ok(())` when a try may be spent. The last try is never
/// spent from the command line: one more wrong PIN would block the key.
pub(crate) fn pin_guard(id: &str, serial: u32, retries: u8) -> anyhow::Result<()> {
    match retries {
        0 => bail!(
            "{id}'s YubiKey (serial {serial}) has its PIN blocked: unblock it with the PUK (`ykman piv access unblock-pin`), then sign again"
        ),
        1 => bail!(
            "{id}'s YubiKey (serial {serial}) has only 1 PIN try left; one more wrong PIN blocks it, so it is not spent here. \
             Unblock with the PUK first (`ykman piv access unblock-pin`), then sign again"
        ),
        _ => Ok(()),
    }
}

/// Opens `serial`, checks that its slot 9c holds `expected` (the key the roster names for `id`),
/// asks for the PIN (never spending the last try) and returns the unlocked key.
pub(crate) fn unlock(serial: u32, id: &str, expected: &ssh_key::PublicKey, p: &mut Prompter) -> anyhow::Result<PivToken> {
    let mut t = PivToken::open(serial).map_err(|e| anyhow::anyhow!("{e}"))?;
    let on_card = t.signing_key().map_err(|e| anyhow::anyhow!("YubiKey {serial}, slot 9c: {e}"))?;
    if on_card.key_data() != expected.key_data() {
        bail!(
            "YubiKey {serial} does not hold {id}'s signing key (slot 9c holds {}, the roster names {}): insert {id}'s own key",
            on_card.fingerprint(ssh_key::HashAlg::Sha256),
            expected.fingerprint(ssh_key::HashAlg::Sha256)
        );
    }
    loop {
        let retries = t.pin_retries().map_err(|e| anyhow::anyhow!("{e}"))?;
        pin_guard(id, serial, retries)?;
        let pin = p.secret(&format!("PIN of {id}'s YubiKey {serial} ({retries} tries left): "))?;
        if pin.is_empty() {
            bail!("no PIN was typed: nothing was signed");
        }
        match t.verify_pin(&SecretString::from(pin.as_str().to_string())) {
            Ok(()) => return Ok(t),
            Err(crate::adapters::token::TokenError::WrongPin { retries_left }) => {
                errln!("Wrong PIN: {retries_left} tries left before the PIN is blocked.");
            }
            Err(e) => bail!("{e}"),
        }
    }
}

/// Signs `message` under `namespace` on slot 9c of `serial` as `id` and returns the SSHSIG armour,
/// checked against `expected` before it is returned.
pub fn sign(
    serial: u32,
    id: &str,
    expected: &ssh_key::PublicKey,
    namespace: &str,
    message: &[u8],
    p: &mut Prompter,
) -> anyhow::Result<String> {
    let mut t = unlock(serial, id, expected, p)?;
    errln!("Touch {id}'s YubiKey {serial} when it blinks...");
    let sig = crate::core::sign::sshsig(&mut t, namespace, message).map_err(|e| anyhow::anyhow!("signing on YubiKey {serial}: {e}"))?;
    crate::core::sign::verify(expected, namespace, message, &sig)
        .map_err(|e| anyhow::anyhow!("the signature from YubiKey {serial} does not verify with {id}'s key: {e}"))?;
    crate::core::sign::to_pem(&sig).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::pin_guard;

    /// The last PIN try and a blocked PIN are never spent from the command line.
    #[test]
    fn the_last_pin_try_is_never_spent() {
        assert!(pin_guard("alice", 1, 0).is_err());
        assert!(pin_guard("alice", 1, 1).is_err());
        assert!(pin_guard("alice", 1, 2).is_ok());
        assert!(pin_guard("alice", 1, 3).is_ok());
    }
}
