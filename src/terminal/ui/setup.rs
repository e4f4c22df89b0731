//! The setup screen: the form (or a recovery's), and what the interrupted session did.

use super::*;

/// The pane's lines for the setup form (or a recovery's), with what the interrupted session did.
pub(super) fn setup_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme) {
    lines.push(Line::from(Span::styled(
        if c.recovering().is_some() { "Close an interrupted session (recovery)" } else { "Start a session" },
        t.bold(),
    )));
    if let Some(r) = c.recovering() {
        // What the interrupted session did, before anyone is asked for anything.
        lines.push(Line::from(format!(
            "It recorded {} entries, the last at {}: root {}; {} runbook step(s) done{}.",
            r.entries,
            r.last_ts,
            match (r.announced, r.released) {
                (true, true) => "was announced as in use, then released",
                (true, false) => "was announced as in use and NOT released",
                (false, _) => "was never announced as in use",
            },
            r.steps_done,
            if r.closed { "; it had ended, only signatures are missing" } else { "" },
        )));
        if r.announced && !r.released && !r.closed {
            lines.push(Line::from(Span::styled(
                "Root was in use: once a quorum has checked in, the closing checklist comes before root is released.",
                t.bad(),
            )));
        }
    }
    lines.push(Line::from(""));
    let field = |i: usize, label: &str, value: String| {
        let mark = if v.setup.field == i { "▶ " } else { "  " };
        Line::from(vec![Span::styled(mark.to_string(), t.accent()), Span::styled(format!("{label:<10}"), t.bold()), Span::raw(value)])
    };
    let mode = match (&c.recovering(), v.setup.mode) {
        // A recovery keeps the interrupted session's mode.
        (Some(r), _) => format!("{} (the interrupted session's)", r.mode.label()),
        (None, Mode::Incident) => "[INCIDENT]  drill ".to_string(),
        (None, Mode::Drill) => " incident  [DRILL]".to_string(),
        (None, Mode::Rekey) => {
            let change = c.rekey().as_ref().map(|k| {
                let mut parts: Vec<String> = k.added.iter().map(|p| format!("+{}", p.id)).collect();
                parts.extend(k.removed.iter().map(|id| format!("-{id}")));
                format!("{} (roster version {})", parts.join(" "), k.new_version)
            });
            format!("[REKEY] {}", change.unwrap_or_else(|| "the custodians change".into()))
        }
        (None, Mode::Offboard) => format!(
            "[OFFBOARD{}] {} leaves",
            if c.rehearsal() { " DRILL" } else { "" },
            c.offboard().as_ref().map(|o| o.person.as_str()).unwrap_or("")
        ),
    };
    lines.push(field(0, "Mode", mode));
    if v.setup.confirm_mode {
        let ask = if v.setup.mode == Mode::Incident {
            "Switch to DRILL? A drill rehearses: the team's notice says [DRILL] and nobody acts on it."
        } else {
            "Switch to INCIDENT? Root is opened for real: the team is told root is in use."
        };
        lines.push(Line::from(Span::styled(format!("  {ask} {}", key_line(c, v)), t.bad())));
    }
    let cursor = |i: usize| if v.setup.field == i { "_" } else { "" };
    lines.push(field(1, "Reason", format!("{}{}", v.setup.reason, cursor(1))));
    lines.push(field(2, "Ticket", format!("{}{}", v.setup.ticket, cursor(2))));
    if v.setup.mode == Mode::Drill {
        let all = crate::core::ceremony::Scenario::all(c.roster().as_slice());
        let sc = all.get(v.setup.scenario).cloned().unwrap_or_default();
        lines.push(field(3, "Scenario", format!("◀ {} ▶", sc.name())));
        lines.push(Line::from(Span::styled(format!("            {}", sc.describe_on(c.roster().as_slice(), c.quorum())), t.dim())));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(match (c.recovering().is_some(), v.setup.mode) {
        (true, _) => "Write why the session is closed now: it is recorded, and the team reads it in the notice.",
        (false, Mode::Rekey) => "Write why the custodians change: the team reads it in the \"roster changed\" notice.",
        (false, Mode::Offboard) => "Write why this person leaves: it is recorded with the offboarding.",
        (false, _) => "Write why root is needed: the team reads it in the notice.",
    }));
    lines.push(Line::from(format!("Then press {}; custodian 1 checks in next.", key(c, v, "start"))));
    if c.info().demo {
        lines.push(Line::from(Span::styled("DEMO: software keys, no AWS. Nothing here is secret.", t.dim())));
    }
    if let Some(o) = &v.overdue {
        lines.push(Line::from(Span::styled(format!("! Drills are overdue: {o}."), t.bad())));
    }
    for w in &v.warnings {
        lines.push(Line::from(Span::styled(format!("! {w}"), t.bad())));
    }
}
