//! `breakglass enroll`: prepares a custodian's YubiKey for the roster.
//!
//! Refuses to leave factory secrets in place: the PIN and PUK are changed with the custodian and
//! the management key becomes a random one stored PIN-protected on the key. Keys are generated on
//! the card (never imported): P-256 in slot 9c for signatures (PIN once, touch always) and in
//! retired slot 82 for the runbook layers (PIN once, touch always), so attestation can prove both
//! were born on this YubiKey. Existing keys are never replaced without `--overwrite` and the
//! serial typed back.

use crate::cli::EnrollArgs;
use crate::token::piv::{AGE_SLOT, SIGN_SLOT};
use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal, Write};
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

const DEFAULT_PIN: &str = "123456";
const DEFAULT_PUK: &str = "12345678";

/// Where answers come from: the terminal (no echo), or standard input lines (scripts, tests).
struct Prompter {
    tty: bool,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Prompter {
    fn new() -> Self {
        Self { tty: std::io::stdin().is_terminal(), lines: std::io::stdin().lock().lines() }
    }

    fn secret(&mut self, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
        if self.tty {
            return Ok(Zeroizing::new(rpassword::prompt_password(prompt)?));
        }
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let line = self.lines.next().context("standard input ended before every answer was given")??;
        Ok(Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string()))
    }

    fn line(&mut self, prompt: &str) -> anyhow::Result<String> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        if self.tty {
            let mut s = String::new();
            std::io::stdin().read_line(&mut s)?;
            return Ok(s.trim().to_string());
        }
        Ok(self.lines.next().context("standard input ended before every answer was given")??.trim().to_string())
    }

    /// A new secret, typed twice, of the allowed length, and not the factory value.
    fn new_secret(&mut self, what: &str, factory: &str, min: usize) -> anyhow::Result<Zeroizing<String>> {
        for _ in 0..3 {
            let a = self.secret(&format!("New {what} ({min}-8 {}): ", if what == "PIN" { "digits" } else { "characters" }))?;
            if a.len() < min || a.len() > 8 {
                errln!("The {what} must be {min} to 8 characters.");
                continue;
            }
            if what == "PIN" && !a.bytes().all(|b| b.is_ascii_digit()) {
                // The ceremony's PIN field takes digits only, so no command key can reach a PIN.
                errln!("The PIN must be digits only (the ceremony screen accepts digits on the PIN field).");
                continue;
            }
            if a.as_str() == factory {
                errln!("That is the factory default {what}: choose another.");
                continue;
            }
            let b = self.secret(&format!("New {what} again: "))?;
            if a != b {
                errln!("The two entries differ.");
                continue;
            }
            return Ok(a);
        }
        bail!("no new {what} was set: nothing was changed on the key's {what}")
    }
}

fn yk_err(e: yubikey::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", crate::token::piv::explain(&e, None))
}

fn slot_in_use(yk: &mut YubiKey, slot: SlotId) -> bool {
    piv::attest(yk, slot).is_ok()
}

pub fn run(a: &EnrollArgs) -> anyhow::Result<i32> {
    if a.id.is_empty() || !a.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        bail!("--id `{}`: ids use only a-z, 0-9 and -", a.id);
    }
    let serial = match a.serial {
        Some(s) => s,
        None => {
            let (seen, _) = crate::token::piv::scan().map_err(|e| anyhow::anyhow!("{e}"))?;
            match seen.as_slice() {
                [one] => one.serial,
                [] => bail!("no YubiKey is inserted: insert the custodian's key"),
                many => bail!(
                    "{} YubiKeys are inserted ({}): pass --serial",
                    many.len(),
                    many.iter().map(|s| s.serial.to_string()).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    };
    let mut yk = YubiKey::open_by_serial(Serial(serial)).map_err(yk_err)?;
    errln!("Enrolling {} ({}) on YubiKey {} (serial {serial}).", a.name, a.id, yk.version());
    let mut p = Prompter::new();

    let in_use: Vec<&str> =
        [(SIGN_SLOT, "9c"), (AGE_SLOT, "82")].into_iter().filter(|(s, _)| slot_in_use(&mut yk, *s)).map(|(_, n)| n).collect();
    if !in_use.is_empty() {
        if !a.overwrite {
            bail!(
                "slot(s) {} of YubiKey {serial} already hold a key; nothing was changed. To replace them (the old keys are lost for good), \
                 run again with --overwrite",
                in_use.join(" and ")
            );
        }
        let typed = p.line(&format!("Slots {} will be overwritten. Type the serial {serial} to confirm: ", in_use.join(" and ")))?;
        if typed != serial.to_string() {
            bail!("the serial was not typed back: nothing was changed");
        }
    }

    // PIN: the custodian proves they hold it; the factory PIN is replaced.
    let current = p.secret("Current PIN: ")?;
    yk.verify_pin(current.as_bytes()).map_err(yk_err)?;
    let pin = if current.as_str() == DEFAULT_PIN {
        errln!("This key still has the factory PIN: choose the custodian's own.");
        let new = p.new_secret("PIN", DEFAULT_PIN, 6)?;
        yk.change_pin(current.as_bytes(), new.as_bytes()).map_err(yk_err)?;
        yk.verify_pin(new.as_bytes()).map_err(yk_err)?;
        new
    } else {
        current
    };
    // PUK: the factory PUK is replaced too (it can unblock the PIN).
    let puk = p.secret("Current PUK: ")?;
    if puk.as_str() == DEFAULT_PUK {
        errln!("This key still has the factory PUK: choose a new one (keep it with the custodian's sealed envelope).");
        let new = p.new_secret("PUK", DEFAULT_PUK, 8)?;
        yk.change_puk(puk.as_bytes(), new.as_bytes()).map_err(yk_err)?;
    }
    // Management key: a factory one becomes random and PIN-protected; otherwise use the protected one.
    if yk.authenticate(MgmKey::default()).is_ok() {
        let key = MgmKey::generate();
        key.set_protected(&mut yk).map_err(yk_err).context("storing a random PIN-protected management key")?;
        yk.verify_pin(pin.as_bytes()).map_err(yk_err)?;
        let key = MgmKey::get_protected(&mut yk).map_err(yk_err)?;
        yk.authenticate(key).map_err(yk_err)?;
        errln!("The factory management key was replaced by a random one, stored PIN-protected on the key.");
    } else {
        let key = MgmKey::get_protected(&mut yk).map_err(yk_err).context("the management key is neither the factory one nor PIN-protected: reset the PIV application (`ykman piv reset`) and enrol again")?;
        yk.authenticate(key).map_err(yk_err)?;
    }

    errln!("Generating the signing key in slot 9c (PIN once, touch always)...");
    let spki = piv::generate(&mut yk, SIGN_SLOT, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Always).map_err(yk_err)?;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).context("slot 9c key")?;
    let ssh = ssh_key::PublicKey::from(ssh_key::public::EcdsaPublicKey::from(&vk)).to_openssh()?;
    let signing_key = ssh.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    errln!("Generating the runbook key in slot 82 (PIN once, touch always)...");
    let spki = piv::generate(&mut yk, AGE_SLOT, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Always).map_err(yk_err)?;
    let pk = p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).context("slot 82 key")?;
    let recipient = crate::pivage::Recipient::from_public(&pk).encode();

    std::fs::create_dir_all(&a.out)?;
    let mut files = vec![];
    for (slot, name) in [(SIGN_SLOT, "9c"), (AGE_SLOT, "82")] {
        let der = piv::attest(&mut yk, slot).map_err(yk_err)?;
        let path = a.out.join(format!("{}-{name}.pem", a.id));
        std::fs::write(&path, pem(&der))?;
        files.push(path);
    }
    let f9 = yubikey::certificate::Certificate::read(&mut yk, SlotId::Attestation).map_err(yk_err)?;
    let f9 = der::Encode::to_der(&f9.cert)?;
    let path = a.out.join(format!("{}-f9.pem", a.id));
    std::fs::write(&path, pem(&f9))?;
    files.push(path);

    let names: Vec<String> = files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().to_string())).collect();
    outln!(
        "\n[[custodian]]\nid = {}\nname = {}\nemail = {}\nyubikey_serial = {serial}\nsigning_key = \"{signing_key}\"\nage_recipient = \"{recipient}\"\nattestation = [{}]",
        // TOML strings, escaped: a quote or a line break in a name cannot add a key or an entry.
        toml::Value::String(a.id.clone()),
        toml::Value::String(a.name.clone()),
        toml::Value::String(a.email.clone()),
        names.iter().map(|n| toml::Value::String(n.clone()).to_string()).collect::<Vec<_>>().join(", ")
    );
    errln!(
        "\nAdd this entry to the roster, put the attestation files next to it, and have a quorum of custodians sign the new roster \
         (`breakglass roster sign`). Then re-seal the runbook for the new roster."
    );
    Ok(0)
}

fn pem(der: &[u8]) -> String {
    use base64ct::Encoding;
    let b64 = base64ct::Base64::encode_string(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}
