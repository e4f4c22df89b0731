//! `breakglass enroll`: prepares a custodian's YubiKey for the roster.
//!
//! Refuses to leave factory secrets in place: the PIN and PUK are changed with the custodian and
//! the management key becomes a random one stored PIN-protected on the key. Keys are generated on
//! the card (never imported): P-256 in slot 9c for signatures (PIN once, touch always) and in
//! retired slot 82 for the runbook layers (PIN once, touch always), so attestation can prove both
//! were born on this YubiKey. Existing keys are never replaced without `--overwrite` and the
//! serial typed back.

use crate::adapters::token::piv::{AGE_SLOT, SIGN_SLOT};
use crate::commands::card::Prompter;
use crate::commands::cli::EnrollArgs;
use anyhow::{Context, bail};
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

const DEFAULT_PIN: &str = "123456";
const DEFAULT_PUK: &str = "12345678";

/// Asks for a new PIN or PUK.
trait NewSecret {
    fn new_secret(&mut self, what: &str, factory: &str, min: usize) -> anyhow::Result<Zeroizing<String>>;
}

impl NewSecret for Prompter {
    /// A new secret, typed twice, of the allowed length, and not the factory value.
    fn new_secret(&mut self, what: &str, factory: &str, min: usize) -> anyhow::Result<Zeroizing<String>> {
        for _ in 0..3 {
            let rule = if what == "PIN" { format!("{min} to 8 digits") } else { "8 characters".to_string() };
            let a = self.secret(&format!("New {what} ({rule}): "))?;
            if a.len() < min || a.len() > 8 {
                errln!("The {what} must be {rule}.");
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
    anyhow::anyhow!("{}", crate::adapters::token::piv::explain(&e, None))
}

fn slot_in_use(yk: &mut YubiKey, slot: SlotId) -> bool {
    piv::attest(yk, slot).is_ok()
}

pub fn run(a: &EnrollArgs) -> anyhow::Result<i32> {
    if a.id.is_empty() || !a.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        bail!("--id `{}`: ids use only a-z, 0-9 and -", a.id);
    }
    let serial = crate::commands::card::which_serial(a.serial)?;
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

    let pin = own_credentials(&mut yk, &mut p)?;

    errln!("Generating the signing key in slot 9c (PIN once, touch always)...");
    let sign_spki = piv::generate(&mut yk, SIGN_SLOT, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Always).map_err(yk_err)?;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(sign_spki.subject_public_key.raw_bytes()).context("slot 9c key")?;
    let ssh = ssh_key::PublicKey::from(ssh_key::public::EcdsaPublicKey::from(&vk)).to_openssh()?;
    let signing_key = ssh.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    errln!("Generating the runbook key in slot 82 (PIN once, touch always)...");
    let age_spki = piv::generate(&mut yk, AGE_SLOT, AlgorithmId::EccP256, PinPolicy::Once, TouchPolicy::Always).map_err(yk_err)?;
    let pk = p256::PublicKey::from_sec1_bytes(age_spki.subject_public_key.raw_bytes()).context("slot 82 key")?;
    let recipient = crate::core::pivage::Recipient::from_public(&pk).encode();

    // The certificates stock tools look for: PKCS#11 (ykcs11, `ssh-keygen -D`) lists slot 9c by
    // its certificate on older versions, and age-plugin-yubikey lists slot 82 only when its
    // certificate says it is an age identity. Each is self-signed on the card (a touch each).
    errln!("Writing the slot certificates stock tools look for: touch the key when it blinks (twice)...");
    yk.verify_pin(pin.as_bytes()).map_err(yk_err)?;
    cert::write_plain(&mut yk, SIGN_SLOT, sign_spki, &format!("breakglass signing key of {}", a.id)).map_err(yk_err)?;
    yk.verify_pin(pin.as_bytes()).map_err(yk_err)?;
    cert::write_age(&mut yk, AGE_SLOT, age_spki, &format!("breakglass runbook key of {}", a.id)).map_err(yk_err)?;

    let names = write_attestations(&mut yk, a)?;

    // The entry as the roster reads it, serialised by the same type (so `roster check` takes it
    // as printed): TOML-escaped, so a quote or a line break in a name cannot add a key or an entry.
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        custodian: [&'a crate::core::roster::Custodian; 1],
    }
    let entry = crate::core::roster::Custodian {
        id: a.id.clone(),
        name: a.name.clone(),
        email: a.email.clone(),
        yubikey_serial: serial,
        signing_key,
        age_recipient: recipient,
        attestation: names,
    };
    outln!("\n{}", toml::to_string(&Entry { custodian: [&entry] }).context("the roster entry")?.trim_end());
    errln!(
        "\nAdd this entry to the roster, put the three attestation files next to it, and have a quorum of custodians sign the new \
         roster on their keys (`breakglass roster sign ROSTER --id ID`). Then re-seal the runbook for the new roster. \
         The whole deployment, step by step: docs/deploy.md."
    );
    Ok(0)
}

/// The custodian's own PIN and PUK (factory ones replaced) and a random PIN-protected management
/// key, authenticated; returns the PIN.
fn own_credentials(yk: &mut YubiKey, p: &mut Prompter) -> anyhow::Result<zeroize::Zeroizing<String>> {
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
        key.set_protected(yk).map_err(yk_err).context("storing a random PIN-protected management key")?;
        yk.verify_pin(pin.as_bytes()).map_err(yk_err)?;
        let key = MgmKey::get_protected(yk).map_err(yk_err)?;
        yk.authenticate(key).map_err(yk_err)?;
        errln!("The factory management key was replaced by a random one, stored PIN-protected on the key.");
    } else {
        let key = MgmKey::get_protected(yk).map_err(yk_err).context("the management key is neither the factory one nor PIN-protected: reset the PIV application (`ykman piv reset`) and enrol again")?;
        yk.authenticate(key).map_err(yk_err)?;
    }
    Ok(pin)
}

/// The attestation certificates of slots 9c and 82, and the f9 certificate that signs them, as
/// PEM files in `a.out`; returns their names.
fn write_attestations(yk: &mut YubiKey, a: &EnrollArgs) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut names = vec![];
    let f9 = yubikey::certificate::Certificate::read(yk, SlotId::Attestation).map_err(yk_err)?;
    let f9 = der::Encode::to_der(&f9.cert)?;
    let attested: [(&str, Vec<u8>); 3] = [
        ("9c", piv::attest(yk, SIGN_SLOT).map_err(yk_err)?.to_vec()),
        ("82", piv::attest(yk, AGE_SLOT).map_err(yk_err)?.to_vec()),
        ("f9", f9),
    ];
    for (name, der) in attested {
        let file = format!("{}-{name}.pem", a.id);
        let path = a.out.join(&file);
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).context("PEM")?;
        std::fs::write(&path, pem).with_context(|| format!("cannot write {}", path.display()))?;
        names.push(file);
    }
    Ok(names)
}

/// Self-signed certificates made on the card, as stock tools expect them in a slot.
mod cert {
    use der::asn1::{Any, GeneralizedTime};
    use der::oid::db::rfc4519;
    use der::oid::{AssociatedOid, ObjectIdentifier};
    use der::{Encode, Length, Tag, Writer};
    use x509_cert::builder::CertificateBuilder;
    use x509_cert::ext::{AsExtension, Extension};
    use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::{Time, Validity};
    use yubikey::certificate::{Certificate, yubikey_signer::Signer};
    use yubikey::piv::SlotId;
    use yubikey::{PinPolicy, TouchPolicy, YubiKey};

    /// Yubico's PIN/touch policy extension (1.3.6.1.4.1.41482.3.8): two bytes, as in an
    /// attestation; age-plugin-yubikey reads a slot's policies from it.
    struct Policy {
        pin: u8,
        touch: u8,
    }

    impl AssociatedOid for Policy {
        const OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");
    }

    impl Encode for Policy {
        fn encoded_len(&self) -> der::Result<Length> {
            Ok(Length::new(2))
        }
        fn encode(&self, w: &mut impl Writer) -> der::Result<()> {
            w.write(&[self.pin, self.touch])
        }
    }

    impl AsExtension for Policy {
        /// Not critical: a reader that does not know it must still take the certificate.
        fn critical(&self, _: &Name, _: &[Extension]) -> bool {
            false
        }
    }

    fn rdn(oid: ObjectIdentifier, s: &str) -> der::Result<RelativeDistinguishedName> {
        RelativeDistinguishedName::try_from(vec![x509_cert::attr::AttributeTypeAndValue {
            oid,
            value: Any::new(Tag::Utf8String, s.as_bytes())?,
        }])
    }

    /// From now to 9999-12-31, as age-plugin-yubikey writes (the key lives as long as the card).
    fn validity() -> der::Result<Validity> {
        let not_before = Validity::from_now(std::time::Duration::from_secs(1))?.not_before;
        let not_after = Time::GeneralTime(GeneralizedTime::from_date_time(der::DateTime::new(9999, 12, 31, 23, 59, 59)?));
        Ok(Validity { not_before, not_after })
    }

    fn serial() -> der::Result<SerialNumber> {
        let mut b = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        b[0] = (b[0] & 0x7f) | 1;
        SerialNumber::new(&b)
    }

    fn cut(s: &str) -> String {
        s.chars().take(64).collect()
    }

    /// Slot 9c: a plain certificate for PKCS#11 (ykcs11, `ssh-keygen -D`).
    pub(crate) fn write_plain(yk: &mut YubiKey, slot: SlotId, spki: SubjectPublicKeyInfoOwned, cn: &str) -> yubikey::Result<Certificate> {
        let subject = RdnSequence(vec![rdn(rfc4519::CN, &cut(cn))?]);
        Certificate::generate_self_signed::<_, p256::NistP256>(yk, slot, serial()?, validity()?, subject, spki, |_| Ok(()))
    }

    /// Slot 82: the certificate age-plugin-yubikey writes for its identities (O=age-plugin-yubikey,
    /// OU=its version, CN=the name; the policy extension), so `age-plugin-yubikey --identity`
    /// lists the runbook key and stock `age` opens the custodian's layers by hand.
    pub(crate) fn write_age(yk: &mut YubiKey, slot: SlotId, spki: SubjectPublicKeyInfoOwned, name: &str) -> yubikey::Result<Certificate> {
        let policy = Policy { pin: PinPolicy::Once.into(), touch: TouchPolicy::Always.into() };
        let subject = RdnSequence(vec![rdn(rfc4519::O, "age-plugin-yubikey")?, rdn(rfc4519::OU, "0.5.1")?, rdn(rfc4519::CN, &cut(name))?]);
        Certificate::generate_self_signed::<_, p256::NistP256>(
            yk,
            slot,
            serial()?,
            validity()?,
            subject,
            spki,
            |b: &mut CertificateBuilder<'_, Signer<'_, p256::NistP256>>| {
                b.add_extension(&policy).map_err(|_| der::Error::from(der::ErrorKind::Failed))
            },
        )
    }
}
