//! The end: the closing checklist, the co-signatures and the summary (with a drill's timings).

use super::*;

/// The pane's lines for the closing checklist, and what was revealed and not rotated.
pub(super) fn closing_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme) {
    lines.push(Line::from(Span::styled(
        if c.closing_for().is_some() {
            "Root was in use. Before it is released, confirm each item, or mark what cannot be done (x):"
        } else {
            "Before root is released, confirm each item:"
        },
        t.bold(),
    )));
    for (i, item) in CLOSING.iter().enumerate() {
        let mark = if v.closing_cursor == i { "▶" } else { " " };
        let tick = if c.closing()[i] {
            "[✔]"
        } else if c.not_done()[i] {
            "[✘ not done]"
        } else {
            "[ ]"
        };
        lines.push(Line::from(Span::styled(
            format!("{mark} {tick} {item}"),
            if v.closing_cursor == i { t.accent() } else { Style::default() },
        )));
    }
    let done = c.done().iter().filter(|d| **d).count();
    lines.push(Line::from(""));
    lines.push(Line::from(format!("Runbook: {done} of {} steps done.", c.done().len())));
    let unrotated = c.unrotated();
    if let Some(rb) = c.runbook().as_ref()
        && !unrotated.is_empty()
    {
        let names: Vec<String> = unrotated.iter().map(|i| rb.secrets[*i].id(*i)).collect();
        lines.push(Line::from(Span::styled(
            format!(
                "Revealed and not rotated: {}. Press {} to rotate (verify and audit list it until it is).",
                names.join(", "),
                key(c, v, "rotate")
            ),
            t.bad(),
        )));
    }
}

/// The pane's lines for a custodian co-signing the journal.
pub(super) fn sign_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &View, t: &Theme, who: &SlotIx, stage: &SignStage, spin: &str) {
    let k = &c.checked()[*who];
    let p = c.person(k.custodian);
    lines.push(Line::from(Span::styled(format!("{}: sign the session log on your key.", p.name), t.bold())));
    lines.push(Line::from(""));
    lines.push(Line::from(format!("Signer {} of {}. The signature covers every line of the journal.", who.number(), c.checked().len())));
    match stage {
        SignStage::AwaitTouch => {
            let sign = key(c, v, "sign");
            lines.push(Line::from(format!("Press {sign}, then touch the key when it blinks.")));
            if c.info().demo {
                lines.push(Line::from(Span::styled(format!("DEMO: {sign} stands in for the touch."), t.dim())));
            }
        }
        SignStage::Working => lines.push(Line::from(format!("{spin} Signing... touch the key if it blinks."))),
        SignStage::Failed(e @ crate::core::ceremony::Failed::Storage(_)) => {
            lines.push(Line::from(Span::styled(format!("✘ The signature could not be written: {e}"), t.bad())));
            lines.push(Line::from(format!(
                "Make room on the disk, then press {} to sign again; or leave ({}) and sign later with `breakglass recover`.",
                key(c, v, "sign"),
                key(c, v, "leave unsigned")
            )));
        }
        SignStage::Failed(e) => {
            lines.push(Line::from(Span::styled(format!("✘ Not signed: {e}"), t.bad())));
            lines.push(Line::from(format!("Re-insert the key if it was removed, then press {} to try again.", key(c, v, "sign"))));
        }
    }
}

/// The pane's lines for the summary: the outcome, the words for paper, how to verify.
pub(super) fn summary_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme, spin: &str) {
    let head = c.last().as_ref().map(|w| w.head).unwrap_or_default();
    let aborted = c.outcome() == Some(crate::core::ceremony::Outcome::Aborted);
    let rekeyed = c.rekey().as_ref().and_then(|k| k.committed.as_ref().map(|_| k));
    let headline = match (aborted, rekeyed) {
        (false, _) if c.offboard().is_some() => {
            let o = c.offboard().as_ref().map(|o| (o.person.clone(), o.done(), o.items.len(), o.target_s)).unwrap_or_default();
            let took = c
                .started_ts()
                .as_deref()
                .zip(c.last().as_ref().map(|w| w.ts.as_str()))
                .and_then(|(a, b)| Some((DateTime::parse_from_rfc3339(b).ok()? - DateTime::parse_from_rfc3339(a).ok()?).num_seconds()))
                .unwrap_or(0)
                .max(0) as u64;
            format!(
                "Offboarding of {} {}: {}/{} items done in {:02}:{:02} ({} the {}-minute target).",
                o.0,
                if c.rehearsal() { "REHEARSED" } else { "recorded" },
                o.1,
                o.2,
                took / 60,
                took % 60,
                if took <= o.3 { "within" } else { "OVER" },
                o.3 / 60
            )
        }
        (true, Some(k)) => format!("Rekey ABORTED after the swap: roster version {} is in place. Recorded.", k.new_version),
        (true, None) if c.mode() == Mode::Rekey => "Rekey ABORTED and recorded: the roster and runbook are unchanged.".to_string(),
        (true, None) => "Ceremony ABORTED and recorded.".to_string(),
        (false, Some(k)) => format!("Rekey complete: roster version {} is in place, the runbook sealed for it.", k.new_version),
        (false, None) => "Ceremony complete. Root is released.".to_string(),
    };
    lines.push(Line::from(Span::styled(headline, if aborted { t.bad() } else { t.ok() })));
    if let (false, Some(k)) = (aborted, rekeyed)
        && !c.info().demo
    {
        lines.extend(pin_lines(k, t));
    }
    let span = c
        .started_ts()
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .zip(ended(c))
        .map(|(a, b)| format!(" · {}–{} UTC ({})", a.format("%H:%M:%S"), b.format("%H:%M:%S"), elapsed(c, b)))
        .unwrap_or_default();
    lines.push(Line::from(format!("Signed by: {}{span}", if c.signed().is_empty() { "nobody".into() } else { c.signed().join(", ") })));
    let entry = c.last().as_ref().map_or(0, |w| w.seq);
    let unsigned = c.signed().is_empty() && c.checked().is_empty();
    if unsigned {
        // Nobody checked in: there is nothing to sign, no words to keep on paper.
        lines.push(Line::from(
            "Nothing to sign: nobody checked in. verify calls this session INCOMPLETE (a start left before anyone checked in); it is kept as the record of that.",
        ));
    } else {
        lines.push(Line::from(format!("Chain head at entry #{entry}; write it down:")));
        // Eight words in two rows of four, so they never wrap somewhere arbitrary.
        let words = crate::core::notice::head_words(&head);
        let w: Vec<&str> = words.split(' ').collect();
        for (i, row) in w.chunks(4).enumerate() {
            lines.push(Line::from(Span::styled(format!("  {}-{}: {}", i * 4 + 1, i * 4 + row.len(), row.join(" ")), t.accent())));
        }
        lines.push(Line::from(Span::styled(format!("  {}…", &hex::encode(head)[..16]), t.dim())));
    }
    if let Some(r) = &c.recovering() {
        lines.push(Line::from(format!("Recovered: the interrupted session ({} entries, the last at {}) is closed.", r.entries, r.last_ts)));
    } else {
        match c.notices().iter().find(|(p, _)| *p == NoticePhase::InUse) {
            Some((_, d)) => lines.push(Line::from(format!("\"Root in use\" delivered via {} (id {})", d.channel, d.message_id))),
            None if c.announced() => lines.push(Line::from(Span::styled(
                format!("\"Root in use\" was NOT delivered ({} acknowledged going on)", c.everyone()),
                t.bad(),
            ))),
            None => {}
        }
    }
    match &v.archive {
        None => {}
        Some(ArchiveView::Pushing) => {
            lines.push(Line::from(format!("{spin} Archiving the bundle (S3 Object Lock)...")));
        }
        Some(ArchiveView::Done(m)) => lines.push(Line::from(Span::styled(format!("✔ {m}"), t.ok()))),
        Some(ArchiveView::Failed(m)) => lines.push(Line::from(Span::styled(format!("✘ {m}"), t.bad()))),
    }
    if c.mode() == Mode::Drill && c.recovering().is_none() {
        lines.extend(drill_timing(c, v, t));
    }
    // The command names the session's directory: one line, not two.
    lines.push(Line::from(format!(
        "Verify: breakglass verify {}",
        v.session_dir.clone().unwrap_or_else(|| format!("sessions/{}", c.info().session_id))
    )));
    if !unsigned {
        // Broken where a shell allows it, each break marked: never wrapped mid-word.
        lines.push(Line::from("  or ssh-keygen -Y verify -f allowed_signers -I <id> \\"));
        lines.push(Line::from("     -n breakglass-session -s journal.jsonl.<id>.sig \\"));
        lines.push(Line::from("     < journal.jsonl"));
    }
}

/// Time to runbook and per-step times of this drill, compared with earlier drills.
pub(super) fn drill_timing<'a>(c: &Ceremony, v: &View, t: &Theme) -> Vec<Line<'a>> {
    use crate::core::drill::human_secs;
    let mut out = vec![];
    let (ttr, step_times) =
        crate::core::drill::timing(c.started_ts().as_deref(), c.times().iter().map(|(k, ts)| (k.as_str(), ts.as_str())));
    let mut line = format!("Drill ({}): time to runbook {}", c.scenario().name(), ttr.map_or("-".into(), human_secs));
    if let (Some(now), Some(best)) = (ttr, v.previous.iter().copied().reduce(f64::min)) {
        let last = v.previous.last().copied().unwrap_or(best);
        line.push_str(&format!(
            " (last drill {}, best {}{})",
            human_secs(last),
            human_secs(best),
            if now > last * 1.2 { ", SLOWER" } else { "" }
        ));
    }
    out.push(Line::from(Span::styled(line, t.bold())));
    // A small chart of time to runbook over the drills, this one last.
    let mut series: Vec<f64> = v.previous.iter().rev().take(11).rev().copied().collect();
    if let Some(now) = ttr {
        series.push(now);
    }
    if series.len() > 1 {
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let max = series.iter().copied().fold(f64::MIN, f64::max).max(0.001);
        let bars: String = series.iter().map(|x| BARS[((x / max) * 7.0).round().clamp(0.0, 7.0) as usize]).collect();
        out.push(Line::from(format!("Time to runbook, last {} drills: {bars} (this one last)", series.len())));
    }
    // The slowest steps, by the time each took.
    let mut steps: Vec<(String, f64)> = step_times.iter().enumerate().map(|(i, d)| (format!("#{}", i + 1), *d)).collect();
    steps.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !steps.is_empty() {
        let slow: Vec<String> = steps.iter().take(3).map(|(n, d)| format!("{n} {}", human_secs(*d))).collect();
        out.push(Line::from(format!("Slowest steps: {}", slow.join(", "))));
    }
    out
}
