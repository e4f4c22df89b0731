//! The built-in DEMO: three custodians with software keys, a signed roster and a realistic
//! root-recovery runbook, all shipped in `assets/demo/` and labelled DEMO everywhere.
//!
//! The demo keys are public: a DEMO session proves nothing about anyone. It exists so a newcomer
//! can walk the whole ceremony without a YubiKey or AWS, and so tests can run it end to end.

use crate::ceremony::{Ceremony, Intent, Mode, Scenario};
use crate::clock::Clock;
use crate::roster::Roster;
use crate::runbook::Runbook;
use crate::seal;
use crate::session::{Outside, Runner, drive};
use crate::token::Token;
use crate::token::soft::SoftToken;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;

pub use crate::ceremony::people;
pub use crate::roster::DEMO_ROSTER as ROSTER;
pub const RUNBOOK: &str = include_str!("../assets/demo/runbook.md");
const KEYS: [(&str, &str, &str); 3] = [
    ("alice", include_str!("../assets/demo/alice.ssh"), include_str!("../assets/demo/alice.agekey")),
    ("bob", include_str!("../assets/demo/bob.ssh"), include_str!("../assets/demo/bob.agekey")),
    ("carol", include_str!("../assets/demo/carol.ssh"), include_str!("../assets/demo/carol.agekey")),
];

/// The DEMO PINs, shown on the demo's check-in screen.
pub fn pin_of(id: &str) -> &'static str {
    match id {
        "alice" => "314159",
        "bob" => "271828",
        _ => "161803",
    }
}

/// The demo roster (trusted: signed by alice and bob).
pub fn roster() -> Roster {
    crate::roster::demo()
}

pub fn roster_sigs() -> Vec<(String, Vec<u8>)> {
    crate::roster::demo_sigs()
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
    let sealed = seal::seal(&roster, RUNBOOK.as_bytes())?;
    let tokens = tokens(&roster);
    let (c, runner) = crate::session::start(&data_dir.join("sessions"), clock, roster, roster_sigs(), sealed, tokens, outside);
    Ok((c, runner))
}

/// Plays the custodians through the whole ceremony, unattended: the first ones in roster order
/// whom the ceremony (and the drill's scenario) accepts check in.
pub fn play(c: &mut Ceremony, r: &mut Runner, mode: Mode, reason: &str, scenario: Scenario) {
    drive(c, r, Intent::Begin { mode, reason: reason.into(), ticket: None, scenario });
    let people: Vec<(String, u32)> = r.roster.custodians.iter().map(|p| (p.id.clone(), p.yubikey_serial)).collect();
    for (id, serial) in people {
        if c.checked.len() >= c.info.quorum || !matches!(c.phase, crate::ceremony::Phase::CheckIn(_)) {
            break;
        }
        crate::session::present(c, r, serial);
        if matches!(c.phase, crate::ceremony::Phase::CheckIn(crate::ceremony::KeyStage::AwaitPin { .. })) {
            drive(c, r, Intent::PinEntered(SecretString::from(pin_of(&id).to_string())));
            drive(c, r, Intent::Touch);
        }
    }
    // A notice that could not go out: both acknowledge with their keys (journalled), as people would.
    for who in 0..c.checked.len() {
        drive(c, r, Intent::Acknowledge { who });
    }
    let steps = c.done.len();
    for i in 0..steps {
        drive(c, r, Intent::ToggleStep(i));
    }
    drive(c, r, Intent::FinishRunbook);
    for i in 0..crate::ceremony::CLOSING.len() {
        drive(c, r, Intent::ToggleClosing(i));
    }
    drive(c, r, Intent::ConfirmClose);
    for who in 0..c.checked.len() {
        drive(c, r, Intent::Acknowledge { who });
    }
    for _ in 0..c.checked.len() {
        drive(c, r, Intent::Touch);
    }
}

/// Parsed demo runbook (for previews and tests).
pub fn runbook() -> Runbook {
    Runbook::parse(RUNBOOK)
}
