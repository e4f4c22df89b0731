//! DEMO ceremonies of every mode, walked in a pseudo-terminal as data: each is a list of steps
//! (wait for a text on screen, then type keys), and some steps name the phase the ceremony is in
//! while it waits there. A test walks to a phase, does something to the process, and checks what
//! is left; the whole walk is the happy path.
#![allow(dead_code)]

use super::pty::{DOWN, ENTER, Screen};

/// The modes a ceremony runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    Incident,
    /// A drill whose notice channel is down: both custodians acknowledge the missing notice.
    DrillNoticeDown,
    Rekey,
    Offboard,
    /// `recover` in the terminal, on a DEMO incident killed mid-runbook.
    Recovery,
}

pub const ALL: [Walk; 5] = [Walk::Incident, Walk::DrillNoticeDown, Walk::Rekey, Walk::Offboard, Walk::Recovery];

/// One step: wait until `wait` is on screen; if the walk stops at `phase`, stop there; else type
/// `keys`, one string at a time.
pub struct Step {
    pub phase: Option<&'static str>,
    pub wait: &'static str,
    pub keys: Vec<&'static str>,
}

fn step(wait: &'static str, keys: &[&'static str]) -> Step {
    Step { phase: None, wait, keys: keys.to_vec() }
}

fn at(phase: &'static str, wait: &'static str, keys: &[&'static str]) -> Step {
    Step { phase: Some(phase), wait, keys: keys.to_vec() }
}

/// Custodian `n` (1 or 2) checks in with the key under the cursor; the phase, if named, is the
/// moment their key is asked for.
fn check_in(phase: Option<&'static str>, n: u8, pin: &'static str) -> Vec<Step> {
    let wait = if n == 1 { "Custodian 1: insert your YubiKey" } else { "Custodian 2: insert your YubiKey" };
    vec![Step { phase, wait, keys: vec![ENTER] }, step("enter your PIN", &[pin, ENTER]), step("touch your key now", &[ENTER])]
}

fn both_check_in(second: Option<&'static str>) -> Vec<Step> {
    let mut v = check_in(None, 1, "314159");
    v.extend(check_in(second, 2, "271828"));
    v
}

/// Both custodians co-sign; `phase` names the moment the first is asked.
fn both_sign(phase: &'static str) -> Vec<Step> {
    vec![at(phase, "Alice Example: sign the session log", &[ENTER]), step("Bob Example: sign the session log", &[ENTER])]
}

fn closing(phase: &'static str, wait: &'static str) -> Step {
    at(phase, wait, &[" ", DOWN, " ", DOWN, " ", DOWN, " ", DOWN, ENTER])
}

impl Walk {
    /// The command line after `--data-dir DIR` (Recovery: the session directory follows).
    pub fn args(self) -> Vec<&'static str> {
        match self {
            Walk::Incident => vec!["demo"],
            Walk::DrillNoticeDown => vec!["demo", "--drill", "--scenario", "notice-down"],
            Walk::Rekey => vec!["demo", "--rekey"],
            Walk::Offboard => vec!["demo", "--offboard"],
            Walk::Recovery => vec!["recover"],
        }
    }

    pub fn steps(self) -> Vec<Step> {
        let mut v = Vec::new();
        match self {
            Walk::Incident => {
                v.push(at("setup", "Start a session", &["fault matrix", ENTER]));
                v.extend(both_check_in(Some("check-in")));
                v.push(at("runbook", "Runbook: 0/13 steps done", &[" "]));
                v.push(step("Runbook: 1/13 steps done", &[ENTER]));
                v.push(closing("closing", "Before root is released"));
                v.extend(both_sign("signing"));
                v.push(at("summary", "Ceremony complete", &[]));
            }
            Walk::DrillNoticeDown => {
                v.push(at("setup", "Start a session", &["fault matrix", ENTER]));
                v.extend(both_check_in(Some("check-in")));
                v.push(at("acknowledgement", "was NOT delivered", &["1"]));
                v.push(step("alice: ✔ acknowledged", &["2"]));
                v.push(at("runbook", "Runbook: 0/13 steps done", &[ENTER]));
                v.push(closing("closing", "Before root is released"));
                v.extend(both_sign("signing"));
                v.push(at("summary", "time to runbook", &[]));
            }
            Walk::Rekey => {
                v.push(at("setup", "Start a session", &["fault matrix", ENTER]));
                v.extend(both_check_in(Some("check-in")));
                v.push(at("change", "check the change", &[ENTER]));
                v.push(at("newcomer", "Newcomer Dave Example: insert your YubiKey", &[ENTER]));
                v.push(at("newcomer-pin", "Dave Example: enter your PIN", &["161803", ENTER]));
                v.push(step("touch your key to sign version 2", &[ENTER]));
                v.push(at("roster-signature", "alice: touch your key to sign roster version 2", &[ENTER]));
                v.push(step("bob: touch your key to sign roster version 2", &[ENTER]));
                v.extend(both_sign("signing"));
                v.push(at("summary", "Rekey complete: roster version 2 is in place", &[]));
            }
            Walk::Offboard => {
                v.push(at("setup", "Start a session", &["fault matrix", ENTER]));
                v.extend(both_check_in(Some("check-in")));
                v.push(at("change", "check the change", &[ENTER]));
                v.push(at("roster-signature", "alice: touch your key to sign roster version 2", &[ENTER]));
                v.push(step("bob: touch your key to sign roster version 2", &[ENTER]));
                v.push(at("checklist", "Offboarding carol: 0/4 done", &[" "]));
                v.push(step("Offboarding carol: 1/4 done", &[DOWN, " ", DOWN, " ", DOWN, " "]));
                v.push(step("Offboarding carol: 4/4 done", &[ENTER]));
                v.extend(both_sign("signing"));
                v.push(at("summary", "Offboarding of carol recorded", &[]));
            }
            Walk::Recovery => {
                v.push(at("setup", "Close an interrupted session (recovery)", &[ENTER]));
                v.extend(both_check_in(Some("check-in")));
                v.push(closing("closing", "Root was in use. Before it is released"));
                v.extend(both_sign("signing"));
                v.push(at("summary", "recorded", &[]));
            }
        }
        v
    }

    /// The phases a walk can stop at, in order.
    pub fn phases(self) -> Vec<&'static str> {
        self.steps().iter().filter_map(|s| s.phase).collect()
    }
}

/// Walks `steps` until `stop` (the whole walk if `None`); returns whether `stop` was reached.
pub fn walk_to(s: &mut Screen, steps: &[Step], stop: Option<&str>) -> bool {
    walk(s, steps, 0, stop)
}

/// Goes on from phase `from` (where an earlier walk stopped: its keys are typed now) until `stop`.
pub fn resume(s: &mut Screen, steps: &[Step], from: &str, stop: Option<&str>) -> bool {
    let i = steps.iter().position(|st| st.phase == Some(from)).expect("the phase is in the walk");
    for k in &steps[i].keys {
        s.keys(k);
    }
    walk(s, steps, i + 1, stop)
}

fn walk(s: &mut Screen, steps: &[Step], first: usize, stop: Option<&str>) -> bool {
    for st in &steps[first..] {
        s.wait_for(st.wait);
        if st.phase.is_some() && st.phase == stop {
            return true;
        }
        for k in &st.keys {
            s.keys(k);
        }
    }
    stop.is_none()
}

/// Goes on from `stop` (typing the keys of that step and the next ones, each once its text is on
/// screen) until `until` holds for the screen; returns whether it did before the walk ran out.
pub fn go_on_until(s: &mut Screen, steps: &[Step], stop: &str, until: impl Fn(&str) -> bool) -> bool {
    let i = steps.iter().position(|st| st.phase == Some(stop)).expect("the phase is in the walk");
    for (n, st) in steps[i..].iter().enumerate() {
        if n > 0 {
            let start = std::time::Instant::now();
            while !s.text().contains(st.wait) && !until(&s.text()) && start.elapsed() < std::time::Duration::from_secs(5) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if until(&s.text()) {
            return true;
        }
        for k in &st.keys {
            s.keys(k);
        }
    }
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(2) {
        if until(&s.text()) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
