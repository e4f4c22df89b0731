//! The runbook: steps, notes, secrets (masked until revealed), and the positions the keys move through.

use super::*;

/// The list a secret is revealed from: which step needs each one, and whether it is shown.
pub(super) fn render_reveal_pick(
    f: &mut Frame,
    c: &Ceremony,
    v: &View,
    rb: &crate::core::runbook::Runbook,
    cur: usize,
    t: &Theme,
    area: Rect,
) {
    let drill = c.mode() == Mode::Drill && !c.info().demo;
    let h = (rb.secrets.len() as u16 + 5 + if drill { 2 } else { 0 }).min(area.height.saturating_sub(2));
    let r = popup(area, 72, h);
    f.render_widget(Clear, r);
    let mut text = vec![Line::from(if v.rotate_pick {
        "Rotate which secret? The new value is sealed back into the runbook; the journal records which, never the value.".to_string()
    } else {
        format!("Reveal which secret? {} will see it; the journal records it.", c.everyone_cap())
    })];
    if drill && !v.rotate_pick {
        // A drill opens the real runbook: what it reveals is the real secret.
        text.push(Line::from(Span::styled(
            "DRILL: this shows the REAL secret, not a rehearsal copy. Reveal it only if the drill needs it; rotate it afterwards.",
            t.bad(),
        )));
    }
    for i in 0..rb.secrets.len() {
        let shown = c.revealed().get(i).copied().unwrap_or(false);
        let mark = if i == cur { "▶ " } else { "  " };
        let style = if i == cur { t.accent() } else { Style::default() };
        text.push(Line::from(vec![
            Span::styled(format!("{mark}{}", secret_label(rb, i)), style),
            Span::styled(
                if c.rotated().get(i).copied().unwrap_or(false) {
                    "  (rotated)"
                } else if c.unrotated().contains(&i) {
                    "  (revealed, not rotated)"
                } else if shown {
                    "  (shown)"
                } else {
                    ""
                },
                t.dim(),
            ),
        ]));
    }
    text.push(Line::from(""));
    text.push(Line::from(Span::styled(key_line(c, v), t.dim())));
    let title = if v.rotate_pick { " Rotate a secret " } else { " Reveal a secret " };
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(Block::default().borders(Borders::ALL).title(title)), r);
}

/// Word-wraps `text` to `width` columns: the first row starts with `prefix`, the rest are
/// indented to line up under the text.
pub(super) fn push_wrapped<'a>(out: &mut Vec<Line<'a>>, prefix: Span<'a>, text: &str, style: Style, width: usize) {
    use unicode_width::UnicodeWidthStr;
    let indent = prefix.content.width();
    let avail = width.saturating_sub(indent).max(10);
    let mut rows: Vec<String> = vec![];
    let mut cur = String::new();
    for word in text.split(' ') {
        let (wl, cl) = (word.width(), cur.width());
        if cl > 0 && cl + 1 + wl > avail {
            rows.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        // A single word longer than the row is cut into pieces.
        while cur.width() > avail {
            let cut: String = cur.chars().take(avail).collect();
            let rest: String = cur.chars().skip(avail).collect();
            rows.push(cut);
            cur = rest;
        }
    }
    rows.push(cur);
    for (i, r) in rows.into_iter().enumerate() {
        let lead = if i == 0 { prefix.clone() } else { Span::raw(" ".repeat(indent)) };
        out.push(Line::from(vec![lead, Span::styled(r, style)]));
    }
}

/// A code line is never reflowed: indentation is kept, and a line wider than the pane is cut
/// into rows at the exact column, each cut marked (`↩` at the end, `↪` where it goes on), so a
/// custodian typing it never mistakes one command for two.
pub(super) fn push_code(out: &mut Vec<Line<'_>>, prefix: &str, s: &str, style: Style, width: usize) {
    let s = s.replace('\t', "    ");
    let lead = unicode_width::UnicodeWidthStr::width(prefix);
    let first = width.saturating_sub(lead + 1).max(8);
    let next = width.saturating_sub(lead + 3).max(8);
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= width.saturating_sub(lead).max(8) {
        out.push(Line::from(vec![Span::raw(prefix.to_string()), Span::styled(s, style)]));
        return;
    }
    let mut at = 0;
    let mut row = 0;
    while at < chars.len() {
        let take = if row == 0 { first } else { next };
        let end = (at + take).min(chars.len());
        let chunk: String = chars[at..end].iter().collect();
        let mut spans = vec![Span::raw(prefix.to_string())];
        if row > 0 {
            spans.push(Span::styled("↪ ", style.add_modifier(ratatui::style::Modifier::DIM)));
        }
        spans.push(Span::styled(chunk, style));
        if end < chars.len() {
            spans.push(Span::styled("↩", style.add_modifier(ratatui::style::Modifier::DIM)));
        }
        out.push(Line::from(spans));
        at = end;
        row += 1;
    }
}

/// The label of secret `i` in lists and above its value: number, step, section.
pub(crate) fn secret_label(rb: &crate::core::runbook::Runbook, i: usize) -> String {
    let Some(sb) = rb.secrets.get(i) else { return format!("secret {}", i + 1) };
    let step = sb.for_step.map(|n| format!(" · for step {}", n + 1)).unwrap_or_default();
    let section = if sb.section.is_empty() { String::new() } else { format!(" · {}", sb.section) };
    format!("secret {}{step}{section}", i + 1)
}

/// The runbook as rendered rows at `width`, with the row where each step starts.
pub(super) fn runbook_lines<'a>(c: &'a Ceremony, v: &View, t: &Theme, width: usize) -> Rendered<'a> {
    let mut out = vec![];
    let mut step_at = vec![];
    let mut secret_at = vec![];
    let Some(rb) = c.runbook().as_ref() else { return Rendered { lines: out, step_at, secret_at } };
    for l in &rb.lines {
        match l {
            RLine::Heading { level, text } => {
                let style = if *level <= 1 { t.accent() } else { t.bold() };
                push_wrapped(&mut out, Span::styled(format!("{} ", "#".repeat(*level as usize)), style), text, style, width);
            }
            RLine::Text(s) => push_wrapped(&mut out, Span::raw(""), s, Style::default(), width),
            RLine::Quote(s) => push_wrapped(&mut out, Span::styled("│ ", t.dim()), s, t.dim(), width),
            RLine::Bullet { depth, text } => {
                push_wrapped(&mut out, Span::raw(format!("{}• ", "  ".repeat(*depth))), text, Style::default(), width)
            }
            RLine::Code(s) => push_code(&mut out, "    ", s, t.fg(Color::Cyan), width),
            RLine::Rule => out.push(Line::from("────────")),
            RLine::Blank => out.push(Line::from("")),
            RLine::Step(i) => {
                step_at.push(out.len());
                let done = c.done().get(*i).copied().unwrap_or(false);
                let cur = v.step_cursor == *i;
                let style = if cur {
                    t.accent()
                } else if done {
                    t.ok()
                } else {
                    Style::default()
                };
                let prefix = format!("{}[{}] {}. ", if cur { "▶" } else { " " }, if done { "✔" } else { " " }, i + 1);
                push_wrapped(&mut out, Span::styled(prefix, style), &rb.steps[*i].text, style, width);
                for n in c.notes().get(*i).into_iter().flatten() {
                    push_wrapped(&mut out, Span::styled("      note: ", t.dim()), n, t.dim(), width);
                }
            }
            RLine::Secret(i) => {
                secret_at.push(out.len());
                let label = secret_label(rb, *i);
                if c.revealed().get(*i).copied().unwrap_or(false) {
                    use secrecy::ExposeSecret;
                    push_wrapped(&mut out, Span::raw("    "), &format!("┌ {label} · REVEALED (h hides)"), t.bad(), width);
                    for s in rb.secrets[*i].text.expose_secret().lines() {
                        push_code(&mut out, "    │ ", s, t.bad(), width);
                    }
                    out.push(Line::from(Span::styled("    └", t.bad())));
                } else {
                    push_wrapped(
                        &mut out,
                        Span::raw("    "),
                        &format!("[{label} · masked: r to choose a secret to reveal]"),
                        t.fg(Color::Yellow),
                        width,
                    );
                }
            }
        }
    }
    Rendered { lines: out, step_at, secret_at }
}

pub(super) fn render_runbook(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect) {
    let lines = runbook_lines(c, v, t, area.width.saturating_sub(2) as usize).lines;
    let done = c.done().iter().filter(|d| **d).count();
    // Notes being typed and messages wrap onto up to three rows instead of being cut.
    let foot_text = v
        .note
        .as_ref()
        .map(|n| n.len() + 24)
        .or_else(|| c.message().as_ref().map(|m| crate::terminal::words::words_on(&m.say, c, v).len() + 2));
    let foot_h = foot_text.map_or(0, |n| (n / usize::from(area.width.max(1)) + 1).min(3) as u16);
    let [head, now_row, body, foot] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(2), Constraint::Min(1), Constraint::Length(foot_h)]).areas(area);
    f.render_widget(Paragraph::new(Line::from(Span::styled(format!(" Runbook: {done}/{} steps done", c.done().len()), t.bold()))), head);
    // The step in hand stays pinned here, wherever the text is scrolled.
    let now_line = match c.runbook().as_ref().and_then(|rb| rb.steps.get(v.step_cursor)) {
        Some(step) => {
            let mark = if c.done().get(v.step_cursor).copied().unwrap_or(false) { "✔" } else { " " };
            Line::from(vec![
                Span::styled(format!(" ▶ [{mark}] {}. ", v.step_cursor + 1), t.accent()),
                Span::styled(step.text.clone(), t.accent()),
            ])
        }
        None => Line::from(Span::styled(" (no `- [ ]` steps in this runbook)", t.dim())),
    };
    // The step in hand wraps onto a second row rather than being cut at the pane's edge.
    f.render_widget(Paragraph::new(now_line).wrap(Wrap { trim: false }), now_row);
    // Never scrolled past the end: the last row sits at the bottom of the pane.
    let total = lines.len();
    let max = total.saturating_sub(usize::from(body.height));
    let scroll = v.scroll.min(max);
    let visible: Vec<Line> = lines.into_iter().skip(scroll).collect();
    // Where the pane is, in the header row.
    let shown_to = (scroll + usize::from(body.height)).min(total);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(format!("rows {}-{shown_to} of {total} ", scroll + 1), t.dim())).right_aligned()),
        head,
    );
    f.render_widget(
        Paragraph::new(visible).block(Block::default().borders(Borders::NONE)),
        body.inner(ratatui::layout::Margin { horizontal: 1, vertical: 0 }),
    );
    if let Some(n) = &v.note {
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" Note on step {}: ", v.step_cursor + 1), t.bold()),
                Span::raw(format!("{n}_")),
            ]))
            .wrap(Wrap { trim: false }),
            foot,
        );
    } else if let Some(m) = message_line(c, v, t) {
        f.render_widget(Paragraph::new(m).wrap(Wrap { trim: false }), foot);
    }
}

/// Where each step starts among the runbook's rendered lines (for scrolling to a step).
pub(crate) fn step_positions(c: &Ceremony, v: &View, width: usize) -> Vec<usize> {
    runbook_lines(c, v, &Theme { color: false }, width).step_at
}

/// How many rows the runbook takes at this width.
pub(crate) fn runbook_rows(c: &Ceremony, v: &View, width: usize) -> usize {
    runbook_lines(c, v, &Theme { color: false }, width).lines.len()
}

/// The row at which secret `i` is drawn at this width.
pub fn secret_position(c: &Ceremony, v: &View, width: usize, i: usize) -> Option<usize> {
    runbook_lines(c, v, &Theme { color: false }, width).secret_at.get(i).copied()
}

/// The secret that the step `step` needs, else the nearest one.
pub(crate) fn secret_for_step(c: &Ceremony, step: usize) -> Option<usize> {
    let rb = c.runbook().as_ref()?;
    rb.secrets.iter().position(|s| s.for_step == Some(step)).or_else(|| secret_near(c, step))
}

/// Which secret lies nearest at or after the line `from` (else the last one before it).
pub(crate) fn secret_near(c: &Ceremony, from_step: usize) -> Option<usize> {
    let rb = c.runbook().as_ref()?;
    let mut seen_step = 0usize;
    let mut before = None;
    let mut passed = false;
    for l in &rb.lines {
        match l {
            RLine::Step(i) => {
                seen_step = *i;
                if *i >= from_step {
                    passed = true;
                }
            }
            RLine::Secret(i) => {
                if passed || seen_step >= from_step {
                    return Some(*i);
                }
                before = Some(*i);
            }
            _ => {}
        }
    }
    before
}

/// The width the runbook text is wrapped to on a screen of this size.
pub(crate) fn runbook_width(area: Rect) -> usize {
    let inner = area.width.saturating_sub(2);
    let rail = if inner >= 100 { 24 } else { 19 };
    inner.saturating_sub(rail).saturating_sub(2) as usize
}
