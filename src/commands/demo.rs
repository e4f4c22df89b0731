//! The built-in DEMO: three custodians with software keys, a signed roster and a realistic
//! root-recovery runbook, all shipped in `assets/demo/` and labelled DEMO everywhere.
//!
//! The demo keys are public: a DEMO session proves nothing about anyone. It exists so a newcomer
//! can walk the whole ceremony without a YubiKey or AWS, and so tests can run it end to end.

use crate::adapters::session::{Outside, Runner, drive};
use crate::adapters::token::Token;
use crate::adapters::token::soft::SoftToken;
use crate::core::ceremony::{Ceremony, Intent, Mode, Scenario};
use crate::core::clock::Clock;
use crate::core::roster::Roster;
use crate::core::runbook::Runbook;
use crate::core::seal;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;

pub use crate::core::ceremony::people;
pub use crate::core::roster::DEMO_ROSTER as ROSTER;
pub const RUNBOOK: &str = include_str!("../../assets/demo/runbook.md");
const KEYS: [(&str, &str, &str); 4] = [
    ("alice", include_str!("../../assets/demo/alice.ssh"), include_str!("../../assets/demo/alice.agekey")),
    ("bob", include_str!("../../assets/demo/bob.ssh"), include_str!("../../assets/demo/bob.agekey")),
    ("carol", include_str!("../../assets/demo/carol.ssh"), include_str!("../../assets/demo/carol.agekey")),
    // The newcomer of `demo --rekey`: in no roster until a rekey adds him.
    ("dave", include_str!("../../assets/demo/dave.ssh"), include_str!("../../assets/demo/dave.agekey")),
];

pub use crate::core::roster::demo_pin as pin_of;

/// The demo roster (trusted: signed by alice and bob).
pub fn roster() -> Roster {
    crate::core::roster::demo()
}

pub fn roster_sigs() -> Vec<(String, Vec<u8>)> {
    crate::core::roster::demo_sigs()
}

/// The three DEMO software keys.
pub fn tokens(roster: &Roster) -> Vec<Box<dyn Token>> {
    KEYS.iter()
        .filter_map(|(id, ssh, agekey)| {
            let serial = roster.custodian(id)?.yubikey_serial;
            SoftToken::from_files_text(serial, ssh, agekey, pin_of(id)).ok().map(|t| Box::new(t) as Box<dyn Token>)
        })
        .collect()
}

/// A ready-to-run DEMO ceremony: the runbook is sealed afresh for the demo roster, then the
/// ceremony opens it with the custodians' keys exactly as a real one would.
pub fn setup(data_dir: &Path, clock: Arc<dyn Clock>, outside: Outside) -> anyhow::Result<(Ceremony, Runner)> {
    let roster = roster();
    let path = prepare(data_dir)?;
    if let Err(e) = crate::core::rotate::settle(&path) {
        anyhow::bail!("{e}\nThe DEMO runbook is in {}: remove that directory to start the DEMO afresh.", path.display());
    }
    let sealed = seal::Sealed::read_dir(&path)?;
    let tokens = tokens(&roster);
    let basis = crate::adapters::session::Basis { roster, roster_sigs: roster_sigs(), sealed };
    let (c, mut runner) = crate::adapters::session::start(&data_dir.join("sessions"), clock, basis, tokens, outside, Default::default());
    runner.runbook_path = Some(path);
    Ok((c, runner))
}

/// Seals the built-in runbook for the DEMO roster into [`sealed_path`] unless it is there already
/// (the first DEMO on this data directory); returns where it is.
pub fn prepare(data_dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let path = sealed_path(data_dir);
    if !path.exists() {
        crate::core::fsread::create_private_dir(path.parent().unwrap_or(data_dir))?;
        seal::seal_serial(&roster(), RUNBOOK.as_bytes(), 1)?.write_dir(&path)?;
    }
    Ok(path)
}

/// Where the DEMO keeps its sealed runbook, so that a secret rotated in one DEMO ceremony is the
/// one the next opens: `DATA_DIR/demo/runbook-<first 8 hex of the built-in runbook's SHA-256>.sealed`
/// (a new version of the built-in runbook starts afresh).
pub fn sealed_path(data_dir: &Path) -> std::path::PathBuf {
    let sha = hex::encode(sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(RUNBOOK.as_bytes())));
    data_dir.join("demo").join(format!("runbook-{}.sealed", &sha[..8]))
}

/// Plays the custodians through the whole ceremony, unattended: the first ones in roster order
/// whom the ceremony (and the drill's scenario) accepts check in.
pub fn play(c: &mut Ceremony, r: &mut Runner, mode: Mode, reason: &str, scenario: Scenario) {
    drive(c, r, Intent::Begin { mode, reason: reason.into(), ticket: None, scenario });
    let people: Vec<(String, u32)> = r.roster.custodians.iter().map(|p| (p.id.clone(), p.yubikey_serial)).collect();
    for (id, serial) in people {
        if c.checked().len() >= c.info().quorum || !matches!(c.phase(), crate::core::ceremony::Phase::CheckIn(_)) {
            break;
        }
        crate::adapters::session::present(c, r, serial);
        if matches!(c.phase(), crate::core::ceremony::Phase::CheckIn(crate::core::ceremony::KeyStage::AwaitPin { .. })) {
            drive(c, r, Intent::PinEntered(SecretString::from(pin_of(&id).to_string())));
            drive(c, r, Intent::Touch);
        }
    }
    // A notice that could not go out: both acknowledge with their keys (journalled), as people would.
    for who in c.checked().indices() {
        drive(c, r, Intent::Acknowledge { who });
    }
    let steps = c.done().len();
    for i in 0..steps {
        drive(c, r, Intent::ToggleStep(i));
    }
    drive(c, r, Intent::FinishRunbook);
    for i in 0..crate::core::ceremony::CLOSING.len() {
        drive(c, r, Intent::ToggleClosing(i));
    }
    drive(c, r, Intent::ConfirmClose);
    for who in c.checked().indices() {
        drive(c, r, Intent::Acknowledge { who });
    }
    for _ in 0..c.checked().len() {
        drive(c, r, Intent::Touch);
    }
}

/// The DEMO newcomer of `demo --rekey` (public DEMO keys, like the others).
pub fn newcomer() -> crate::core::roster::Custodian {
    crate::core::roster::Custodian {
        id: "dave".into(),
        name: "Dave Example".into(),
        email: "dave@example.com".into(),
        yubikey_serial: 10000004,
        signing_key: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLlWQyA2UJHDK6z0DIrZTypS3s8p8UBCDF1qupQv6E5Za1tmbKPbhXNOy6yo8NEDl62FvmiT8Bou9919tOOfqEw=".into(),
        age_recipient: "age1394hz75cugjd32rld835h7pjumzd3n2t9wz9dmfflzsk70qaqd2qwy2l20".into(),
        attestation: vec![],
    }
}

/// The DEMO rekey: carol leaves, dave joins, the quorum stays 2.
pub fn rekey_change() -> crate::core::rekey::Change {
    crate::core::rekey::Change { add: vec![newcomer()], remove: vec!["carol".into()], quorum: None }
}

/// A ready-to-run DEMO rekey: the DEMO roster (signed) and its runbook, sealed and signed by alice
/// and bob, are written to `<data_dir>/demo-rekey/<session>/`, and the rekey ceremony replaces
/// them there with version 2 (carol removed, dave added). Nothing outside that folder changes.
pub fn setup_rekey(data_dir: &Path, clock: Arc<dyn Clock>, outside: Outside) -> anyhow::Result<(Ceremony, Runner)> {
    setup_rekey_with(data_dir, clock, outside, &rekey_change(), None)
}

/// A ready-to-run DEMO rekey making `change` (and, for an offboarding, its checklist).
pub fn setup_rekey_with(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    outside: Outside,
    change: &crate::core::rekey::Change,
    offboard: Option<crate::core::ceremony::Offboard>,
) -> anyhow::Result<(Ceremony, Runner)> {
    let roster = roster();
    let plan = crate::core::rekey::plan(&roster, change).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut signers = tokens(&roster);
    let mut sealed = seal::seal(&roster, RUNBOOK.as_bytes())?;
    for t in signers.iter_mut().take(2) {
        let id = roster.custodians.iter().find(|c| c.yubikey_serial == t.info().serial).map(|c| c.id.clone()).unwrap_or_default();
        t.verify_pin(&SecretString::from(pin_of(&id).to_string()))?;
        let sig = crate::core::sign::sshsig(t.as_mut(), crate::core::sign::RUNBOOK_NAMESPACE, &sealed.manifest_bytes)?;
        sealed.signatures.insert(id, crate::core::sign::to_pem(&sig)?.into_bytes());
    }
    // A fresh token state for the ceremony: the PINs above must be entered again by the custodians.
    let mut keys = tokens(&roster);
    keys.extend(tokens_of(&plan.new, &["dave"]));
    let basis = crate::adapters::session::Basis { roster: roster.clone(), roster_sigs: roster_sigs(), sealed: sealed.clone() };
    let rekey = crate::core::ceremony::Rekey::from_plan(&plan);
    let purpose = match offboard {
        Some(o) => crate::core::ceremony::Purpose::offboard(Some(rekey), o),
        None => crate::core::ceremony::Purpose::rekey(rekey),
    };
    let (c, mut r) = crate::adapters::session::start(&data_dir.join("sessions"), clock, basis, keys, outside, purpose);
    let dir = data_dir.join("demo-rekey").join(&c.info().session_id);
    crate::core::fsread::create_private_dir(&dir)?;
    let paths = crate::core::rekey::Paths { roster: dir.join("roster.toml"), runbook: dir.join("runbook") };
    crate::core::fsread::write_atomic(&paths.roster, &roster.bytes)?;
    for (id, sig) in roster_sigs() {
        crate::core::fsread::write_atomic(&crate::core::roster::sig_path(&paths.roster, &id), &sig)?;
    }
    sealed.write_dir(&paths.runbook)?;
    r.rekey = Some(crate::adapters::session::RekeyJob::new(plan.new, paths));
    Ok((c, r))
}

/// A ready-to-run DEMO offboarding: carol leaves. Her removal is a rekey of a scratch copy of the
/// DEMO roster (as [`setup_rekey`], without a newcomer), followed by `items`; `job` makes the AWS
/// changes (tests point it at the local AWS server; the DEMO has none).
pub fn setup_offboard(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    outside: Outside,
    items: Vec<crate::core::ceremony::OffItem>,
    job: crate::adapters::session::OffboardJob,
    rehearsal: bool,
) -> anyhow::Result<(Ceremony, Runner)> {
    let change = crate::core::rekey::Change { remove: vec!["carol".into()], ..Default::default() };
    let offboard = crate::core::ceremony::Offboard {
        person: "carol".into(),
        iam_user: job.user.clone(),
        target_s: 15 * 60,
        items,
        rehearsal,
        finish_armed: false,
    };
    let (c, mut r) = setup_rekey_with(data_dir, clock, outside, &change, Some(offboard))?;
    r.offboard = Some(job);
    Ok((c, r))
}

/// A DEMO custodian presents their key, types their DEMO PIN and touches it.
fn present_key(c: &mut Ceremony, r: &mut Runner, id: &str, serial: u32) {
    crate::adapters::session::present(c, r, serial);
    drive(c, r, Intent::PinEntered(SecretString::from(pin_of(id).to_string())));
    drive(c, r, Intent::Touch);
}

/// Plays a DEMO offboarding unattended: the rekey without a newcomer, then every checklist item
/// (AWS changes confirmed by both custodians on their keys), then the co-signature.
pub fn play_offboard(c: &mut Ceremony, r: &mut Runner, reason: &str) {
    drive(c, r, Intent::Begin { mode: Mode::Offboard, reason: reason.into(), ticket: None, scenario: Scenario::Standard });
    for (id, serial) in [("alice", 10000001), ("bob", 10000002)] {
        present_key(c, r, id, serial);
    }
    drive(c, r, Intent::RekeyGo);
    for _ in 0..c.checked().len() {
        drive(c, r, Intent::Touch);
    }
    for who in c.checked().indices() {
        drive(c, r, Intent::Acknowledge { who });
    }
    let n = c.offboard().as_ref().map_or(0, |o| o.items.len());
    for i in 0..n {
        drive(c, r, Intent::OffboardDo(i));
        for who in c.checked().indices() {
            drive(c, r, Intent::Acknowledge { who });
        }
    }
    drive(c, r, Intent::OffboardFinish);
    for _ in 0..c.checked().len() {
        drive(c, r, Intent::Touch);
    }
}

/// DEMO keys of `ids` whose serials `roster` names.
fn tokens_of(roster: &Roster, ids: &[&str]) -> Vec<Box<dyn Token>> {
    tokens(roster)
        .into_iter()
        .filter(|t| roster.custodians.iter().any(|c| c.yubikey_serial == t.info().serial && ids.contains(&c.id.as_str())))
        .collect()
}

/// Plays a DEMO rekey unattended: alice and bob check in, dave proves his key, everyone signs
/// version 2, the swap, the "roster changed" notice (acknowledged if it cannot go out), and the
/// co-signature.
pub(crate) fn play_rekey(c: &mut Ceremony, r: &mut Runner, reason: &str) {
    drive(c, r, Intent::Begin { mode: Mode::Rekey, reason: reason.into(), ticket: None, scenario: Scenario::Standard });
    for (id, serial) in [("alice", 10000001), ("bob", 10000002)] {
        present_key(c, r, id, serial);
    }
    drive(c, r, Intent::RekeyGo);
    let dave = newcomer();
    present_key(c, r, &dave.id, dave.yubikey_serial);
    for _ in 0..c.checked().len() {
        drive(c, r, Intent::Touch);
    }
    for who in c.checked().indices() {
        drive(c, r, Intent::Acknowledge { who });
    }
    for _ in 0..c.checked().len() {
        drive(c, r, Intent::Touch);
    }
}

/// Parsed demo runbook (for previews and tests).
pub fn runbook() -> Runbook {
    Runbook::parse(RUNBOOK)
}
