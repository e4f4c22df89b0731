//! The rotation screen: the new value (masked until revealed), sealed for the safe, set where it
//! belongs, confirmed on each custodian's key, swapped in.

use super::{Theme, View, key};
use crate::core::ceremony::{Ceremony, Idx, RotateStage};
use crate::core::runbook::{Alphabet, Rotate};
use ratatui::text::{Line, Span};
use secrecy::ExposeSecret;

fn how(r: Rotate) -> String {
    match r {
        Rotate::Generate { length, alphabet } => {
            let chars = match alphabet {
                Alphabet::Aws => "letters, digits and symbols, as AWS asks of a root password",
                Alphabet::Alnum => "letters and digits",
                Alphabet::Digits => "digits",
                Alphabet::Hex => "hex digits",
            };
            format!("a new random value drawn by the tool: {length} characters ({chars})")
        }
        Rotate::Typed => "a new value typed twice by the custodians".into(),
        Rotate::OutOfBand => "out of band: someone else changes it (e.g. AWS Support)".into(),
    }
}

pub(super) fn rotate_lines<'a>(c: &'a Ceremony, v: &View, t: &Theme, stage: &RotateStage, spin: &str) -> Vec<Line<'a>> {
    let mut out = vec![];
    let Some(r) = c.rotation() else { return out };
    let step =
        c.runbook().as_ref().and_then(|rb| rb.secrets.get(r.secret)).and_then(|s| s.for_step).map(|n| format!(" (for step {})", n + 1));
    out.push(Line::from(Span::styled(format!("Rotate secret {}: {}{}", r.secret + 1, r.name, step.unwrap_or_default()), t.bold())));
    out.push(Line::from(format!("How: {}.", how(r.how))));
    if c.mode() == crate::core::ceremony::Mode::Drill {
        out.push(Line::from(Span::styled(
            "DRILL: the rotation is rehearsed on a copy of the runbook; change nothing anywhere.",
            t.accent(),
        )));
    }
    if let Some(value) = &r.value {
        let shown = if r.shown { value.expose_secret().to_string() } else { "•".repeat(value.expose_secret().chars().count().min(40)) };
        out.push(Line::from(vec![
            Span::raw("New value: "),
            Span::styled(shown, t.accent()),
            Span::styled(if r.shown { "  (v hides it)" } else { "  (v shows it; the journal records that)" }, t.dim()),
        ]));
    }
    out.push(Line::from(""));
    let who_done = |out: &mut Vec<Line<'a>>| {
        for (n, k) in c.checked().iter().enumerate() {
            let p = c.person(k.custodian);
            let done = r.confirmed.iter().any(|w| w.index() == n);
            let now = r.confirming.is_some_and(|w| w.index() == n);
            let (mark, what) = if done {
                ("✔", "confirmed on their key".to_string())
            } else if now {
                (spin, "touch the key when it blinks".to_string())
            } else {
                ("·", format!("press {} to confirm on their key", n + 1))
            };
            out.push(Line::from(format!("  {mark} {}: {what}", p.name)));
        }
    };
    match stage {
        RotateStage::Value => {
            out.push(Line::from(format!(
                "Press {} to seal it for the safe. Nothing changes where it is used yet: the tool seals the runbook again with it, stages that beside the live one, and opens it back.",
                key(c, v, "seal it")
            )));
            let leave = format!("{} leaves the old value as it is", key(c, v, "leave"));
            if matches!(r.how, Rotate::Generate { .. }) {
                out.push(Line::from(Span::styled(format!("{} draws another value · {leave}", key(c, v, "another")), t.dim())));
            } else {
                out.push(Line::from(Span::styled(leave, t.dim())));
            }
        }
        RotateStage::Staging => out.push(Line::from(format!("{spin} Sealing the runbook again and opening it back with your keys..."))),
        RotateStage::SetIt => {
            let serial = r.staged.as_ref().map(|(_, s)| *s).unwrap_or_default();
            out.push(Line::from(Span::styled(format!("Sealed for the safe (serial {serial}), not yet live. Now:"), t.bold())));
            out.push(Line::from(
                format!("1. Set the new value where it belongs (root password: sign in as root, Security credentials, Update password). Type it from the screen ({} shows it); never paste it into a file.", key(c, v, "show")),
            ));
            out.push(Line::from("2. When it took, each custodian confirms on their key:"));
            who_done(&mut out);
            out.push(Line::from(Span::styled(
                format!(
                    "If it did not take: press {} (the new sealing is thrown away; the old value stands).",
                    key(c, v, "it did not take")
                ),
                t.dim(),
            )));
        }
        RotateStage::Committing => {
            out.push(Line::from(format!("{spin} Swapping the new sealing in; the old one is kept as superseded...")))
        }
        RotateStage::OutOfBand => {
            out.push(Line::from("The tool cannot change this one. When whoever owns it changed it, each custodian records on their key that it was rotated:"));
            who_done(&mut out);
            out.push(Line::from(Span::styled(
                format!("{}: not yet (the secret stays listed as revealed and not rotated).", key(c, v, "not yet")),
                t.dim(),
            )));
        }
        RotateStage::Failed(e) => {
            out.push(Line::from(Span::styled(format!("✘ Not rotated: {e}"), t.bad())));
            out.push(Line::from(format!(
                "The live sealed runbook is unchanged. Press {} to try again, or {} to leave the old value.",
                key(c, v, "retry"),
                key(c, v, "leave")
            )));
        }
    }
    out
}
