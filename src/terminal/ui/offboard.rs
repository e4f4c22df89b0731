//! An offboarding: the timed checklist, each AWS change confirmed on the keys.

use super::*;

/// The offboarding checklist: each item with its state, the clock against the target.
pub(super) fn render_offboard<'a>(lines: &mut Vec<Line<'a>>, c: &Ceremony, v: &View, t: &Theme, spin: &'a str, now: DateTime<Utc>) {
    use crate::core::ceremony::OffState;
    let Some(o) = &c.offboard() else { return };
    let elapsed = c
        .started_ts()
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|s| (now - s.with_timezone(&Utc)).num_seconds().max(0) as u64)
        .unwrap_or(0);
    let over = elapsed > o.target_s;
    lines.push(Line::from(vec![
        Span::styled(format!("Offboarding {}: {}/{} done", o.person, o.done(), o.items.len()), t.bold()),
        Span::styled(
            format!("   {:02}:{:02} of {:02}:00 target", elapsed / 60, elapsed % 60, o.target_s / 60),
            if over { t.bad() } else { t.dim() },
        ),
    ]));
    if o.rehearsal {
        lines.push(Line::from(Span::styled("DRILL: AWS changes are confirmed but not made; the roster is not swapped.", t.dim())));
    }
    lines.push(Line::from(""));
    for (i, x) in o.items.iter().enumerate() {
        let (mark, style) = match &x.state {
            OffState::Open => ("[ ]", Style::default()),
            OffState::Confirming { .. } => ("[…]", t.accent()),
            OffState::Applying => (spin, t.accent()),
            OffState::Done { .. } => ("[✔]", t.ok()),
            OffState::Failed(_) => ("[✘]", t.bad()),
        };
        let cursor = if i == v.step_cursor { "▶" } else { " " };
        let who = if x.api.is_some() { "AWS" } else { "you" };
        lines.push(Line::from(vec![
            Span::styled(format!("{cursor}{mark} "), style),
            Span::raw(format!("{:>2}. ", i + 1)),
            Span::styled(format!("{who}: "), t.dim()),
            Span::raw(x.what.clone()),
        ]));
        match &x.state {
            OffState::Confirming { acked, .. } => {
                let names: Vec<String> = acked.iter().map(|w| c.person(c.checked()[*w].custodian).id.clone()).collect();
                lines.push(Line::from(Span::styled(
                    format!("       confirmed on their key by: {}", if names.is_empty() { "nobody yet".into() } else { names.join(", ") }),
                    t.accent(),
                )));
            }
            OffState::Done { request_id: Some(r), note } => {
                lines.push(Line::from(Span::styled(
                    format!("       request id {r}{}", note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()),
                    t.dim(),
                )));
            }
            OffState::Done { request_id: None, note: Some(n) } => lines.push(Line::from(Span::styled(format!("       {n}"), t.dim()))),
            OffState::Failed(e) => lines.push(Line::from(Span::styled(format!("       {e}"), t.bad()))),
            _ => {}
        }
    }
}
