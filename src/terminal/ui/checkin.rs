//! Check-in: each custodian's key, PIN and touch, and a key put back that needs its PIN again.

use super::*;

pub(super) fn render_reauth(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect, slot: SlotIx) {
    let Some(k) = c.checked().get(slot) else { return };
    let p = c.person(k.custodian);
    let mut lines = vec![
        Line::from(Span::styled(format!("{}: your key is back. Enter your PIN again.", p.name), t.bold())),
        Line::from(""),
        Line::from(format!("Seen: serial {} ({}) ✔", k.serial, p.id)),
        Line::from(vec![Span::raw("PIN: "), Span::styled(format!("{}_", "•".repeat(v.pin_len)), t.accent())]),
    ];
    if let Some(pin) = v.demo_pins.iter().find(|(id, _)| *id == p.id) {
        lines.push(Line::from(Span::styled(format!("DEMO PIN for {}: {}", p.id, pin.1), t.dim())));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("The ceremony is paused until the key is unlocked; nothing is lost."));
    render_with_message(f, c, v, t, area, lines);
}

/// The pane's lines for a custodian checking in: their key, their PIN, the touch.
pub(super) fn check_in_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme, stage: &KeyStage, spin: &str) {
    let n = c.checked().len() + 1;
    match stage {
        KeyStage::AwaitKey => {
            lines.push(Line::from(Span::styled(format!("Custodian {n}: insert your YubiKey."), t.bold())));
            lines.push(Line::from(""));
            if let Some(e) = &v.scan_error {
                lines.push(Line::from(Span::styled(format!("✘ {e}"), t.bad())));
            } else if v.keys.is_empty() {
                lines.push(Line::from(format!("{spin} Waiting for a key...")));
            } else {
                lines.push(Line::from(if c.info().demo { "DEMO keys on the table (choose yours):" } else { "Keys seen:" }));
                for (i, k) in v.keys.iter().enumerate() {
                    let owner = c.roster().iter().find(|p| p.serial == k.serial);
                    let taken = c.checked().iter().any(|x| x.serial == k.serial);
                    let mark = if i == v.key_cursor { "▶ " } else { "  " };
                    let who = owner.map_or("not on the roster".to_string(), |p| format!("{} ({})", p.id, p.name));
                    let model = if c.info().demo { String::new() } else { format!("{}, ", k.model) };
                    let missing = owner.is_some_and(|p| {
                        c.mode() == Mode::Drill && *c.scenario() == crate::core::ceremony::Scenario::KeyMissing(p.id.clone())
                    });
                    let note = if taken {
                        "  ✔ checked in"
                    } else if missing {
                        "  ✘ declared missing in this drill"
                    } else {
                        ""
                    };
                    let line = format!("{mark}{model}serial {}  {who}{note}", k.serial);
                    lines.push(Line::from(Span::styled(line, if i == v.key_cursor { t.accent() } else { Style::default() })));
                }
            }
        }
        KeyStage::AwaitPin { custodian, serial, model, retries, .. } => {
            let p = c.person(*custodian);
            lines.push(Line::from(Span::styled(format!("{}: enter your PIN.", p.name), t.bold())));
            lines.push(Line::from(""));
            lines.push(Line::from(format!("Seen: {model}, serial {serial} ({}) ✔", p.id)));
            lines.push(Line::from(vec![
                Span::raw(format!("PIN ({retries} tries left): ")),
                Span::styled(format!("{}_", "•".repeat(v.pin_len)), t.accent()),
            ]));
            if let Some(pin) = v.demo_pins.iter().find(|(id, _)| *id == p.id) {
                lines.push(Line::from(Span::styled(format!("DEMO PIN for {}: {}", p.id, pin.1), t.dim())));
            }
            lines.push(Line::from(""));
            lines.push(Line::from("Then touch the key when it blinks."));
        }
        KeyStage::AwaitTouch { custodian, .. } => {
            let p = c.person(*custodian);
            lines.push(Line::from(Span::styled(format!("{}: touch your key now.", p.name), t.bold())));
            lines.push(Line::from(""));
            lines.push(Line::from(
                "The key signs a fresh challenge for this session; the signature is checked against your key in the roster.",
            ));
            let touch = touch_line(c, v);
            lines.push(if c.info().demo { Line::from(Span::styled(touch, t.dim())) } else { Line::from(touch) });
        }
        KeyStage::Working { custodian, .. } => {
            lines.push(Line::from(format!("{spin} Talking to {}'s key... (touch it if it blinks)", c.person(*custodian).id)));
        }
    }
}
