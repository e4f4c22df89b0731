//! The ratatui screens. They render from the ceremony's state (plus a little view state such as
//! what is being typed) and never call a token, AWS or the journal.
//!
//! Every screen answers: where are we (the rail), who is here (the custodians), what do I do now
//! (the instruction pane). Symbols carry meaning (✔ done, ▶ now, · later, ✘ refused) so nothing
//! depends on colour; with NO_COLOR set there is none.

use crate::core::ceremony::{CLOSING, Ceremony, KeyStage, Mode, NotifyStatus, Phase, RootStage, SignStage, SlotIx, Tone};
use crate::core::notice::Phase as NoticePhase;
use crate::core::root::{Action as RootAction, TASKS};
use crate::core::runbook::Line as RLine;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

mod checkin;
mod close;
mod notify;
mod offboard;
mod rekey;
mod root;
mod rotate;
mod runbook;
mod setup;
use checkin::{check_in_lines, render_reauth};
use close::{closing_lines, sign_lines, summary_lines};
use notify::notify_lines;
use offboard::render_offboard;
use rekey::{pin_lines, render_rekey};
pub(crate) use root::root_actions;
use root::root_lines;
pub use runbook::secret_position;
use runbook::{render_reveal_pick, render_runbook};
pub(crate) use runbook::{runbook_rows, runbook_width, secret_for_step, step_positions};
use setup::setup_lines;

use crate::terminal::view::{ArchiveView, SecretEntry, View, reauth_pending};

struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color { Style::default().fg(c) } else { Style::default() }
    }
    fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.color { Style::default().fg(Color::DarkGray) } else { Style::default() }
    }
    fn frame(&self, mode: Mode) -> Style {
        match mode {
            Mode::Drill => self.fg(Color::Yellow),
            Mode::Incident => self.fg(Color::Red),
            Mode::Rekey | Mode::Offboard => self.fg(Color::Magenta),
        }
    }
}

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

/// The session's running time; on the summary, its duration (the clock stops at the last entry).
fn elapsed(c: &Ceremony, now: DateTime<Utc>) -> String {
    let Some(start) = c.started_ts().as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else { return "00:00:00".into() };
    let end = match (c.phase(), ended(c)) {
        (Phase::Summary, Some(end)) => end,
        _ => now,
    };
    let s = (end - start.with_timezone(&Utc)).num_seconds().max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The time of the session's last entry.
fn ended(c: &Ceremony) -> Option<DateTime<Utc>> {
    c.last().as_ref().and_then(|w| DateTime::parse_from_rfc3339(&w.ts).ok()).map(|t| t.with_timezone(&Utc))
}

/// Draws the whole screen.
/// The smallest terminal every screen is laid out for.
pub(crate) const MIN_SIZE: (u16, u16) = (80, 24);

pub fn render(f: &mut Frame, c: &Ceremony, v: &View, now: DateTime<Utc>) {
    let t = Theme { color: v.color };
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        // Below the supported size words would be cut mid-way: say so instead of drawing them.
        let text = vec![
            Line::from(Span::styled("Terminal too small", t.bad())),
            Line::from(format!("It is {}x{}; the ceremony needs at least {}x{}.", area.width, area.height, MIN_SIZE.0, MIN_SIZE.1)),
            Line::from("Enlarge the window or reduce the font size."),
            Line::from("Nothing is lost: the ceremony waits as it was."),
            Line::from(""),
            Line::from(format!("Now: {} · {}", c.mode().label(), c.rail().get(c.rail_index()).map_or("done".into(), ToString::to_string))),
            Line::from(ctrl_c_help(c)),
        ];
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        if c.confirm_abort() {
            render_abort(f, c, v, &t, area);
        }
        return;
    }
    let mut title = format!(" breakglass ─ {}", c.mode().label());
    if matches!(c.phase(), Phase::Setup) {
        title = format!(" breakglass ─ {}", v.setup.mode.label());
    }
    if c.info().demo {
        title.push_str(" ─ DEMO");
    }
    title.push_str(&format!(" ─ session {} ", c.info().session_id));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.frame(if matches!(c.phase(), Phase::Setup) { v.setup.mode } else { c.mode() }))
        .title(Span::styled(title, t.bold()))
        .title_top(Line::from(format!(" {} ", elapsed(c, now))).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [body, status, hints] = Layout::vertical([Constraint::Min(5), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    let rail_w = if body.width >= 100 { 24 } else { 19 };
    let [rail, right] = Layout::horizontal([Constraint::Length(rail_w), Constraint::Min(20)]).areas(body);
    render_rail(f, c, &t, rail);
    let cust_h = (c.info().quorum as u16 + 2).min(right.height / 2);
    let [cust, pane] = Layout::vertical([Constraint::Length(cust_h), Constraint::Min(3)]).areas(right);
    render_custodians(f, c, v, &t, cust);
    render_pane(f, c, v, &t, pane, now);
    render_status(f, c, &t, status);
    f.render_widget(Paragraph::new(Line::from(hint_spans(c, v, &t, usize::from(hints.width)))), hints);
    if c.confirm_abort() {
        render_abort(f, c, v, &t, area);
    } else if v.confirm_leave {
        let r = popup(area, 70, 8);
        f.render_widget(Clear, r);
        let text = vec![
            Line::from(Span::styled("Leave without every signature?", t.bad())),
            Line::from(
                "The session is closed and recorded, but until every custodian who checked in has signed it, verify reports it INCOMPLETE (exit 3).",
            ),
            Line::from(""),
            Line::from(key_line(c, v)),
        ];
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).block(Block::default().borders(Borders::ALL).title(" Leave ")), r);
    } else if v.help {
        render_help(f, c, v, &t, area);
    } else if let Some(e) = &v.secret_entry {
        render_secret_entry(f, e, &t, area, key_line(c, v));
    } else if let (Some(cur), Phase::Runbook, Some(rb)) = (v.reveal_pick, &c.phase(), c.runbook().as_ref()) {
        render_reveal_pick(f, c, v, rb, cur, &t, area);
    }
}

/// The new value of a `rotate=typed` secret, typed twice and masked.
fn render_secret_entry(f: &mut Frame, e: &SecretEntry, t: &Theme, area: Rect, keys: String) {
    let r = popup(area, 72, 8);
    f.render_widget(Clear, r);
    let again = e.first.is_some();
    let mut text = vec![
        Line::from(format!(
            "Secret {}: type the new value{} (it is never shown or written).",
            e.secret + 1,
            if again { " again" } else { "" }
        )),
        Line::from(Span::styled("•".repeat(e.buf.chars().count().min(60)), t.accent())),
    ];
    if e.mismatch {
        text.push(Line::from(Span::styled("✘ The two did not match: type it again, from the start.", t.bad())));
    }
    text.push(Line::from(""));
    text.push(Line::from(Span::styled(keys, t.dim())));
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(Block::default().borders(Borders::ALL).title(" New value ")), r);
}

/// One line per custodian checked in, for something each confirms on their key: done, being
/// signed (touch), or the key that asks for it. `words`: (done, what the key does).
fn on_each_key<'a>(c: &Ceremony, acked: &[SlotIx], acking: Option<SlotIx>, spin: &str, words: (&str, &str)) -> Vec<Line<'a>> {
    c.checked()
        .enumerate()
        .map(|(i, k)| {
            let state = if acked.contains(&i) {
                format!("✔ {}", words.0)
            } else if acking == Some(i) {
                format!("{spin} touch your key")
            } else {
                format!("press {} {}", i.number(), words.1)
            };
            Line::from(format!("  {}: {state}", c.person(k.custodian).id))
        })
        .collect()
}

fn render_rail(f: &mut Frame, c: &Ceremony, t: &Theme, area: Rect) {
    let now = c.rail_index();
    let mut lines = vec![Line::from(Span::styled("Steps", t.bold()))];
    let rail = c.rail();
    let sign_at = rail.len() - 1;
    for (i, name) in rail.iter().enumerate() {
        let skipped = c.aborted_at().is_some_and(|a| i >= a && i < sign_at);
        let halted_here = matches!(c.phase(), Phase::Halted(_)) && i == now;
        let unsigned = i == sign_at && matches!(c.phase(), Phase::Summary) && c.signed().is_empty();
        // "Notify team" passed without the "in use" notice delivered (acknowledged instead).
        let announcing = if matches!(c.mode(), Mode::Rekey | Mode::Offboard) { NoticePhase::RosterChanged } else { NoticePhase::InUse };
        let undelivered = i == c.notify_rail_index() && i < now && !c.notices().iter().any(|(p, _)| *p == announcing);
        let (sym, style) = if skipped || halted_here || unsigned {
            ("✘", t.bad())
        } else if undelivered && c.announced() {
            ("!", t.bad())
        } else if undelivered {
            ("✘", t.bad())
        } else if i < now {
            ("✔", t.ok())
        } else if i == now {
            ("▶", t.accent())
        } else {
            ("·", t.dim())
        };
        lines.push(Line::from(vec![Span::styled(format!("{sym} {} ", i + 1), style), Span::styled(name.to_string(), style)]));
    }
    let n = now.min(rail.len() - 1) + 1;
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        if matches!(c.phase(), Phase::Summary) { "done".to_string() } else { format!("step {n} of {}", rail.len()) },
        t.dim(),
    )));
    if c.outcome() == Some(crate::core::ceremony::Outcome::Aborted) {
        lines.push(Line::from(Span::styled("✘ ABORTED", t.bad())));
    }
    if !c.degraded().is_empty() {
        lines.push(Line::from(Span::styled("! degraded", t.bad())));
    }
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::RIGHT)), area);
}

fn render_custodians(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect) {
    let mut lines = vec![Line::from(Span::styled("Custodians", t.bold()))];
    for slot in (0..c.info().quorum).map(SlotIx) {
        let line = if let Some(k) = c.checked().get(slot) {
            let p = c.person(k.custodian);
            let signed = c.signed().contains(&p.id);
            // A key that cannot be seen, or that came back and waits for its PIN, says so here.
            let (mark, state, style) = if c.removed().contains(&k.serial) {
                ("✘ ", "key missing", t.bad())
            } else if c.reauth().contains(&slot) {
                ("! ", "PIN again", t.bad())
            } else if signed {
                ("✔ ", "signed", t.ok())
            } else {
                ("✔ ", "verified", t.ok())
            };
            Line::from(vec![
                Span::styled(mark, style),
                Span::styled(format!("{:<7}", p.id), t.bold()),
                Span::raw(format!("{}  key {}  ", p.name, k.serial)),
                Span::styled(state, style),
            ])
        } else if slot == c.checked().next_index() && matches!(c.phase(), Phase::CheckIn(_)) {
            let who = match &c.phase() {
                Phase::CheckIn(
                    KeyStage::AwaitPin { custodian, .. } | KeyStage::AwaitTouch { custodian, .. } | KeyStage::Working { custodian, .. },
                ) => {
                    format!("{}  (checking in)", c.person(*custodian).id)
                }
                _ => "(waiting for a key)".into(),
            };
            Line::from(vec![Span::styled("▶ ", t.accent()), Span::raw(format!("custodian {}: {who}", slot.number()))])
        } else {
            Line::from(Span::styled(format!("· custodian {}: not checked in", slot.number()), t.dim()))
        };
        lines.push(line);
    }
    let _ = v;
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::BOTTOM)), area);
}

fn message_line<'a>(c: &'a Ceremony, v: &View, t: &Theme) -> Option<Line<'a>> {
    // The summary tells the whole story itself: a report kept on screen until then goes.
    c.message().as_ref().filter(|m| !(matches!(c.phase(), Phase::Summary) && m.say.lasts())).map(|m| {
        let text = crate::terminal::words::words_on(&m.say, c, v);
        match m.tone {
            Tone::Info => Line::from(Span::raw(text)),
            Tone::Refusal => Line::from(vec![Span::styled("✘ ", t.bad()), Span::raw(text)]),
            Tone::Error => Line::from(vec![Span::styled("✘ ", t.bad()), Span::styled(text, t.bad())]),
        }
    })
}

/// The pane's lines, then the ceremony's message below them, wrapped inside a one-column margin.
fn render_with_message<'a>(f: &mut Frame, c: &'a Ceremony, v: &View, t: &Theme, area: Rect, mut lines: Vec<Line<'a>>) {
    if let Some(m) = message_line(c, v, t) {
        lines.push(Line::from(""));
        lines.push(m);
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::default().borders(Borders::NONE)),
        area.inner(ratatui::layout::Margin { horizontal: 1, vertical: 0 }),
    );
}

fn render_pane(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect, now: DateTime<Utc>) {
    if let Some(slot) = reauth_pending(c)
        && !matches!(c.phase(), Phase::Summary | Phase::Halted(_))
    {
        return render_reauth(f, c, v, t, area, slot);
    }
    if matches!(c.phase(), Phase::Runbook) {
        return render_runbook(f, c, v, t, area);
    }
    let mut lines: Vec<Line> = vec![];
    let spin = SPINNER[(v.tick % 4) as usize];
    match &c.phase() {
        Phase::Setup => setup_lines(&mut lines, c, v, t),
        Phase::Account { failed } => account_lines(&mut lines, c, v, t, failed.as_ref(), spin),
        Phase::CheckIn(stage) => check_in_lines(&mut lines, c, v, t, stage, spin),
        Phase::Rekey(stage) => render_rekey(&mut lines, c, v, t, stage, spin),
        Phase::Offboard => render_offboard(&mut lines, c, v, t, spin, now),
        Phase::Notify { notice, status } => notify_lines(&mut lines, c, v, t, notice, status, spin),
        Phase::Unseal { failed } => unseal_lines(&mut lines, c, v, t, failed.as_deref(), spin),
        Phase::Closing => closing_lines(&mut lines, c, v, t),
        Phase::Sign { who, stage } => sign_lines(&mut lines, c, v, t, who, stage, spin),
        Phase::Summary => summary_lines(&mut lines, c, v, t, spin),
        Phase::Root(stage) => lines.extend(root_lines(c, v, t, stage)),
        Phase::Rotate(stage) => lines.extend(rotate::rotate_lines(c, v, t, stage, spin)),
        Phase::Halted(why) => halted_lines(&mut lines, c, t, why),
        Phase::Quit | Phase::Runbook => {}
    }
    render_with_message(f, c, v, t, area, lines);
}

/// The account check: under way, or what did not pass and the three ways on.
fn account_lines(
    lines: &mut Vec<Line>,
    c: &Ceremony,
    v: &View,
    t: &Theme,
    failed: Option<&crate::core::ceremony::AccountProblem>,
    spin: &str,
) {
    let Some(e) = failed else {
        lines.push(Line::from(format!("{spin} Checking which AWS account these credentials reach (sts:GetCallerIdentity)...")));
        return;
    };
    lines.push(Line::from(Span::styled("✘ The AWS account check did not pass.", t.bad())));
    lines.push(Line::from(crate::terminal::words::account_problem(e)));
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        "Press {} to check again, {} to go on without AWS (recorded: notices then need the acknowledgement of {}), or {} to abort.",
        key(c, v, "retry"),
        key(c, v, "go on without AWS"),
        c.everyone(),
        key(c, v, "abort")
    )));
}

/// The runbook being opened on the keys, or why it did not open.
fn unseal_lines<'a>(lines: &mut Vec<Line<'a>>, c: &Ceremony, v: &View, t: &Theme, failed: Option<&'a str>, spin: &str) {
    let Some(e) = failed else {
        lines
            .push(Line::from(format!("{spin} Opening the sealed runbook with the keys of {} (touch them if they blink)...", c.everyone())));
        return;
    };
    lines.push(Line::from(Span::styled("✘ The runbook did not open.", t.bad())));
    lines.push(Line::from(e));
    lines.push(Line::from(format!(
        "Press {} to try again (re-insert the keys first), or {} to abort.",
        key(c, v, "retry"),
        key(c, v, "abort")
    )));
}

/// The ceremony stopped: why, and what is kept.
fn halted_lines(lines: &mut Vec<Line>, c: &Ceremony, t: &Theme, why: &str) {
    lines.push(Line::from(Span::styled("✘ The ceremony stopped.", t.bad())));
    lines.push(Line::from(crate::terminal::words::halted(why, c.last().is_some())));
}

/// The runbook rendered at a width: rows, and where each step and each secret starts.
pub(crate) struct Rendered<'a> {
    pub lines: Vec<Line<'a>>,
    pub step_at: Vec<usize>,
    pub secret_at: Vec<usize>,
}

fn render_status(f: &mut Frame, c: &Ceremony, t: &Theme, area: Rect) {
    let line = match &c.last() {
        Some(w) => {
            let time = w.ts.get(11..19).unwrap_or("");
            let head = crate::core::notice::words(&w.head[..2]);
            format!("journal #{} {time} {} · head: {head} …", w.seq, w.kind)
        }
        None => "journal: nothing recorded yet".into(),
    };
    f.render_widget(Paragraph::new(Line::from(Span::styled(line, t.dim()))).block(Block::default().borders(Borders::NONE)), area);
}

fn hint_spans<'a>(c: &Ceremony, v: &View, t: &Theme, width: usize) -> Vec<Span<'a>> {
    let mut keys = crate::terminal::keys::hints(c, v);
    // A line too long for the terminal drops the hints anyone can guess first (the help screen
    // still lists every key): scrolling, the arrows, then the note, the arrows of a list.
    // "k w" each, " · " between them.
    let len =
        |keys: &[(&str, &str)]| (keys.iter().map(|(k, w)| k.chars().count() + w.chars().count() + 4).sum::<usize>()).saturating_sub(3);
    for drop in ["scroll", "step", "note", "item", "runbook"] {
        if len(&keys) <= width {
            break;
        }
        keys.retain(|(_, what)| *what != drop);
    }
    let mut spans = vec![];
    for (i, (k, what)) in keys.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(k.to_string(), t.bold()));
        spans.push(Span::raw(format!(" {what}")));
    }
    spans
}

fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// The key that does `label` on this screen, for a sentence that names it ("Press r to try
/// again"): read from the screen's key table, so the sentence follows the key.
fn key(c: &Ceremony, v: &View, label: &str) -> &'static str {
    crate::terminal::keys::key(c, v, label)
}

/// Where a key signs: what Enter does there, in a sentence (in the DEMO it stands in for the touch).
fn touch_line(c: &Ceremony, v: &View) -> String {
    if c.info().demo {
        format!("DEMO: press {} to stand in for the touch.", key(c, v, "touch (DEMO)"))
    } else {
        format!("Press {}, then touch the key when it blinks.", key(c, v, "sign, then touch the key"))
    }
}

/// A question's keys, from its table: "y: leave · n: stay".
fn key_line(c: &Ceremony, v: &View) -> String {
    crate::terminal::keys::hints(c, v)
        .iter()
        .filter(|(_, w)| *w != "help")
        .map(|(k, w)| format!("{k}: {w}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn render_abort(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect) {
    let r = popup(area, 70, 9);
    f.render_widget(Clear, r);
    let text = if matches!(c.phase(), Phase::Setup) {
        vec![
            Line::from("Leave without starting a session?"),
            Line::from("Nothing has been recorded yet."),
            Line::from(""),
            Line::from(key_line(c, v)),
        ]
    } else {
        vec![
            Line::from(Span::styled("Abort the ceremony?", t.bad())),
            Line::from(if c.closing_for().is_some() {
                "The closing items not confirmed are recorded as NOT done (by those checked in); then root is released and both sign."
            } else if c.announced() && matches!(c.mode(), Mode::Incident | Mode::Drill) {
                "Root was in use: the closing checklist comes first (confirm, or mark what cannot be done), then \"root released\" and the signatures."
            } else if c.root_announced() {
                "It is recorded as aborted, the team gets the \"root released\" notice, and those who checked in still sign what happened."
            } else {
                "It is recorded as aborted. Root was never announced as in use, so no notice goes out; those who checked in still sign."
            }),
            Line::from(""),
            Line::from(key_line(c, v)),
        ]
    };
    let title = if matches!(c.phase(), Phase::Setup) { " Leave " } else { " Abort " };
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).block(Block::default().borders(Borders::ALL).title(title)), r);
}

/// What Ctrl-C does now, in words: the help and the "too small" screen say the same as the key.
fn ctrl_c_help(c: &Ceremony) -> &'static str {
    match c.phase() {
        Phase::Summary | Phase::Halted(_) => "Ctrl-C (or q) leaves: everything is recorded.",
        Phase::Sign { .. } if c.outcome().is_some() => {
            "Ctrl-C asks before leaving without every signature (recorded; `breakglass recover` collects them later)."
        }
        Phase::Setup => "Ctrl-C asks before leaving: nothing has been recorded yet.",
        _ => "Ctrl-C asks before aborting. An abort is recorded and still signed.",
    }
}

fn render_help(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect) {
    let r = popup(area, 70, 20);
    f.render_widget(Clear, r);
    let mut text = vec![
        Line::from(Span::styled("How this works", t.bold())),
        Line::from(if c.quorum() == 2 {
            "Two custodians check in with their own keys; the team is told root is in use; the runbook opens only with both keys; \
             every action is recorded in the journal; at the end both custodians sign the journal on their keys."
                .to_string()
        } else {
            format!(
                "{q} custodians check in with their own keys; the team is told root is in use; the runbook opens only with all {q} \
                 keys; every action is recorded in the journal; at the end all {q} sign the journal on their keys.",
                q = c.quorum()
            )
        }),
        Line::from(""),
        Line::from(ctrl_c_help(c)),
        Line::from(format!("If a notice cannot be sent, {} must acknowledge on their keys.", c.everyone())),
        Line::from("The bottom line shows the last journal entry: everything is recorded."),
    ];
    if c.info().demo {
        text.push(Line::from(""));
        text.push(Line::from(Span::styled("DEMO: software keys; PINs are shown on the PIN screen.", t.dim())));
    }
    // Every key of the screen behind, from its table (the hint line shows the first ones).
    let mut under = v.clone();
    under.help = false;
    text.push(Line::from(""));
    text.push(Line::from(Span::styled("Keys here", t.bold())));
    text.push(Line::from(crate::terminal::keys::all(c, &under).iter().map(|(k, w)| format!("{k}: {w}")).collect::<Vec<_>>().join(" · ")));
    text.push(Line::from(crate::terminal::keys::all(c, v).iter().map(|(k, w)| format!("{k}: {w}")).collect::<Vec<_>>().join(" · ")));
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(Block::default().borders(Borders::ALL).title(" Help ")), r);
}
