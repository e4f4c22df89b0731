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

mod rotate;

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
            Line::from(format!("Now: {} · {}", c.mode().label(), c.rail().get(c.rail_index()).map_or("done", String::as_str))),
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

/// The list a secret is revealed from: which step needs each one, and whether it is shown.
fn render_reveal_pick(f: &mut Frame, c: &Ceremony, v: &View, rb: &crate::core::runbook::Runbook, cur: usize, t: &Theme, area: Rect) {
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

/// The rekey screens: the change as a diff, newcomers proving their keys, signatures, the swap.
fn render_rekey<'a>(lines: &mut Vec<Line<'a>>, c: &Ceremony, v: &View, t: &Theme, stage: &crate::core::ceremony::RekeyStage, spin: &str) {
    use crate::core::ceremony::RekeyStage;
    let Some(k) = &c.rekey() else { return };
    match stage {
        RekeyStage::Review => rekey_review_lines(lines, k, t, key(c, v, "go on")),
        RekeyStage::Newcomer { n, key } => newcomer_lines(lines, c, v, t, k, *n, key, spin),
        RekeyStage::Sign { who, working, failed } => rekey_sign_lines(lines, c, v, t, k, *who, *working, failed.as_deref(), spin),
        RekeyStage::Committing => {
            lines.push(Line::from(Span::styled(
                format!("{spin} Sealing the runbook for version {} and swapping it in...", k.new_version),
                t.bold(),
            )));
            lines.push(Line::from("Staged beside the live files, checked (every group here opens it), then swapped in one step."));
        }
        RekeyStage::Failed(e) => {
            lines.push(Line::from(Span::styled("✘ The new roster was not put in place.", t.bad())));
            lines.push(Line::from(e.clone()));
            lines.push(Line::from(""));
            lines
                .push(Line::from("The live roster and runbook are whole (the previous version, or the new one if the swap had happened)."));
            lines.push(Line::from(format!("Press {} to try again, or {} to abort (recorded).", key(c, v, "retry"), key(c, v, "abort"))));
        }
    }
}

/// The roster's change, one line per custodian added (+) or removed (-).
fn rekey_diff<'a>(lines: &mut Vec<Line<'a>>, k: &crate::core::ceremony::Rekey, t: &Theme) {
    for d in &k.diff {
        let style = match d.chars().next() {
            Some('+') => t.ok(),
            Some('-') => t.bad(),
            _ => Style::default(),
        };
        lines.push(Line::from(Span::styled(format!("  {d}"), style)));
    }
}

/// A rekey's first screen: the change, and who can open the runbook afterwards.
fn rekey_review_lines<'a>(lines: &mut Vec<Line<'a>>, k: &crate::core::ceremony::Rekey, t: &Theme, go_on: &str) {
    lines.push(Line::from(Span::styled(
        format!("Roster version {} → version {}: check the change", k.new_version - 1, k.new_version),
        t.bold(),
    )));
    lines.push(Line::from(""));
    rekey_diff(lines, k, t);
    lines.push(Line::from(""));
    lines.push(Line::from(format!("Afterwards the runbook opens for {} of these:", k.new_quorum)));
    let groups: Vec<String> = k.quorums_after.iter().map(|g| g.join("+")).collect();
    lines.push(Line::from(Span::styled(format!("  {}", groups.join("  ")), t.accent())));
    if !k.removed.is_empty() {
        lines.push(Line::from(format!("No group with {} remains.", k.removed.join(" or "))));
    }
    if k.quorums_after.len() == 1 {
        // Nobody can be absent any more: say it before anyone signs.
        lines.push(Line::from(Span::styled(
            format!(
                "! Only {} together can open root afterwards: if one of them is away or loses their key, nobody can. Add a custodian soon (`breakglass roster rekey --add`).",
                k.quorums_after[0].join(" and ")
            ),
            t.bad(),
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        "Press {} to go on: {}",
        go_on,
        if k.added.is_empty() {
            "everyone present signs the new version on their key."
        } else {
            "newcomers prove their keys, then everyone present signs."
        }
    )));
}

/// A newcomer proves their key: insert it, enter its PIN, sign the new version.
#[allow(clippy::too_many_arguments)] // the screen's parts, each used
fn newcomer_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    c: &Ceremony,
    v: &View,
    t: &Theme,
    k: &crate::core::ceremony::Rekey,
    n: usize,
    key: &crate::core::ceremony::NewKey,
    spin: &str,
) {
    use crate::core::ceremony::NewKey;
    let Some(p) = k.added.get(n) else { return };
    match key {
        NewKey::AwaitKey => {
            lines.push(Line::from(Span::styled(format!("Newcomer {}: insert your YubiKey (serial {}).", p.name, p.serial), t.bold())));
            lines.push(Line::from(""));
            lines.push(Line::from("Your key signs the new roster: proof that the key the roster names is yours."));
            lines.push(Line::from(Span::styled(
                "Two USB ports? A checked-in key may come out meanwhile; it goes back in, with its PIN, to sign.",
                t.dim(),
            )));
            if let Some(e) = &v.scan_error {
                lines.push(Line::from(Span::styled(format!("✘ {e}"), t.bad())));
            }
            for (i, key) in v.keys.iter().enumerate() {
                let mark = if i == v.key_cursor { "▶ " } else { "  " };
                let checked = c.checked().iter().find(|k| k.serial == key.serial).map(|k| c.person(k.custodian).id.clone());
                let who = match checked {
                    _ if key.serial == p.serial => format!("{} (newcomer)", p.id),
                    Some(id) => format!("{id}'s key (checked in)"),
                    None => "not this newcomer's key".into(),
                };
                lines.push(Line::from(Span::styled(
                    format!("{mark}serial {}  {who}", key.serial),
                    if i == v.key_cursor { t.accent() } else { Style::default() },
                )));
            }
        }
        NewKey::AwaitPin { retries } => {
            lines.push(Line::from(Span::styled(format!("{}: enter your PIN.", p.name), t.bold())));
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::raw(format!("PIN ({retries} tries left): ")),
                Span::styled(format!("{}_", "•".repeat(v.pin_len)), t.accent()),
            ]));
            if let Some(pin) = v.demo_pins.iter().find(|(id, _)| *id == p.id) {
                lines.push(Line::from(Span::styled(format!("DEMO PIN for {}: {}", p.id, pin.1), t.dim())));
            }
        }
        NewKey::AwaitTouch => {
            lines.push(Line::from(Span::styled(format!("{}: touch your key to sign version {}.", p.name, k.new_version), t.bold())));
            lines.push(Line::from(touch_line(c, v)));
        }
        NewKey::Working => lines.push(Line::from(format!("{spin} Talking to {}'s key... (touch it if it blinks)", p.id))),
    }
}

/// Everyone present signs the new version, one after another.
#[allow(clippy::too_many_arguments)] // the screen's parts, each used
fn rekey_sign_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    c: &Ceremony,
    v: &View,
    t: &Theme,
    k: &crate::core::ceremony::Rekey,
    who: crate::core::ceremony::SlotIx,
    working: bool,
    failed: Option<&str>,
    spin: &str,
) {
    let id = c.checked().get(who).map(|x| c.person(x.custodian).id.clone()).unwrap_or_default();
    if working {
        lines.push(Line::from(format!("{spin} {id} is signing version {}... (touch the key if it blinks)", k.new_version)));
    } else {
        lines.push(Line::from(Span::styled(format!("{id}: touch your key to sign roster version {}.", k.new_version), t.bold())));
        lines.push(Line::from(""));
        lines.push(Line::from("You sign the new roster (and the runbook sealed for it) as shown:"));
        rekey_diff(lines, k, t);
        lines.push(Line::from(""));
        lines.push(Line::from(touch_line(c, v)));
        if let Some(e) = failed {
            lines.push(Line::from(Span::styled(format!("✘ {e}"), t.bad())));
        }
    }
    lines.push(Line::from(Span::styled(
        format!("Signed so far: {}", if k.signed.is_empty() { "nobody".into() } else { k.signed.join(", ") }),
        t.dim(),
    )));
}

/// The offboarding checklist: each item with its state, the clock against the target.
fn render_offboard<'a>(lines: &mut Vec<Line<'a>>, c: &Ceremony, v: &View, t: &Theme, spin: &'a str, now: DateTime<Utc>) {
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

fn render_reauth(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect, slot: SlotIx) {
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
        Phase::Account { failed } => match failed {
            None => lines.push(Line::from(format!("{spin} Checking which AWS account these credentials reach (sts:GetCallerIdentity)..."))),
            Some(e) => {
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
        },
        Phase::CheckIn(stage) => check_in_lines(&mut lines, c, v, t, stage, spin),
        Phase::Rekey(stage) => render_rekey(&mut lines, c, v, t, stage, spin),
        Phase::Offboard => render_offboard(&mut lines, c, v, t, spin, now),
        Phase::Notify { notice, status } => notify_lines(&mut lines, c, v, t, notice, status, spin),
        Phase::Unseal { failed } => match failed {
            None => lines.push(Line::from(format!(
                "{spin} Opening the sealed runbook with the keys of {} (touch them if they blink)...",
                c.everyone()
            ))),
            Some(e) => {
                lines.push(Line::from(Span::styled("✘ The runbook did not open.", t.bad())));
                lines.push(Line::from(e.as_str()));
                lines.push(Line::from(format!(
                    "Press {} to try again (re-insert the keys first), or {} to abort.",
                    key(c, v, "retry"),
                    key(c, v, "abort")
                )));
            }
        },
        Phase::Closing => closing_lines(&mut lines, c, v, t),
        Phase::Sign { who, stage } => sign_lines(&mut lines, c, v, t, who, stage, spin),
        Phase::Summary => summary_lines(&mut lines, c, v, t, spin),
        Phase::Root(stage) => lines.extend(root_lines(c, v, t, stage)),
        Phase::Rotate(stage) => lines.extend(rotate::rotate_lines(c, v, t, stage, spin)),
        Phase::Halted(why) => {
            lines.push(Line::from(Span::styled("✘ The ceremony stopped.", t.bad())));
            lines.push(Line::from(crate::terminal::words::halted(why, c.last().is_some())));
        }
        Phase::Quit | Phase::Runbook => {}
    }
    render_with_message(f, c, v, t, area, lines);
}

/// The pane's lines for the setup form (or a recovery's), with what the interrupted session did.
fn setup_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme) {
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

/// The pane's lines for a custodian checking in: their key, their PIN, the touch.
fn check_in_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme, stage: &KeyStage, spin: &str) {
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

/// The pane's lines for a notice going out, or failed and waiting for the acknowledgements.
fn notify_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    c: &'a Ceremony,
    v: &View,
    t: &Theme,
    notice: &NoticePhase,
    status: &'a NotifyStatus,
    spin: &str,
) {
    let what = match notice {
        NoticePhase::InUse => "\"root in use\"",
        NoticePhase::Heartbeat => "heartbeat",
        NoticePhase::Released => "\"root released\"",
        NoticePhase::Aborted => "\"root released (aborted)\"",
        NoticePhase::RosterChanged => "\"roster changed\"",
    };
    match status {
        NotifyStatus::Sending => {
            lines.push(Line::from(Span::styled(format!("{spin} Sending the {what} notice to the team..."), t.bold())));
            if c.info().aws {
                lines.push(Line::from(format!("  AWS SNS: waiting {} s at most.", crate::adapters::aws::CALL_LIMIT_S)));
            }
        }
        NotifyStatus::Failed { error, acked, acking } => {
            let failures: Vec<&String> =
                c.times().iter().filter(|(k, _)| k == crate::core::journal::kind::NoticeFailed).map(|(_, ts)| ts).collect();
            let when = failures.last().and_then(|ts| ts.get(11..19)).unwrap_or("");
            let attempt = if when.is_empty() { String::new() } else { format!(" (attempt {} at {when})", failures.len()) };
            lines.push(Line::from(Span::styled(format!("✘ The {what} notice was NOT delivered{attempt}."), t.bad())));
            lines.push(Line::from(error.as_str()));
            lines.push(Line::from(""));
            lines.push(Line::from(format!(
                "Press {} to try again. To go on without it, {} acknowledge by signing on their own key (recorded):",
                key(c, v, "retry"),
                if c.quorum() == 2 { "BOTH custodians".to_string() } else { format!("ALL {} custodians", c.quorum()) }
            )));
            for (i, k) in c.checked().enumerate() {
                let p = c.person(k.custodian);
                let state = if acked.contains(&i) {
                    "✔ acknowledged".to_string()
                } else if *acking == Some(i) {
                    format!("{spin} touch your key")
                } else {
                    format!("press {} to acknowledge", i.number())
                };
                lines.push(Line::from(format!("  {}: {state}", p.id)));
            }
        }
    }
}

/// The pane's lines for the closing checklist, and what was revealed and not rotated.
fn closing_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme) {
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
fn sign_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &View, t: &Theme, who: &SlotIx, stage: &SignStage, spin: &str) {
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

/// After a rekey: the exact lines that move the pin to the new version, for the configuration the
/// ceremony host cannot change alone (the tool never writes it), with the words both custodians
/// read against the "roster changed" notice before anyone pastes them.
fn pin_lines<'a>(k: &crate::core::ceremony::Rekey, t: &Theme) -> Vec<Line<'a>> {
    let mut out = vec![Line::from(format!(
        "Next: move the pin. Both custodians check these words: {}; then, in the configuration the ceremony host cannot change alone:",
        crate::core::notice::words_hex(&k.new_sha256)
    ))];
    for l in crate::core::trust::pin_lines(&k.new_sha256, k.new_version).lines() {
        out.push(Line::from(Span::styled(format!("  {l}"), t.accent())));
    }
    out
}

/// The pane's lines for the summary: the outcome, the words for paper, how to verify.
fn summary_lines<'a>(lines: &mut Vec<Line<'a>>, c: &'a Ceremony, v: &'a View, t: &Theme, spin: &str) {
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

/// Word-wraps `text` to `width` columns: the first row starts with `prefix`, the rest are
/// indented to line up under the text.
fn push_wrapped<'a>(out: &mut Vec<Line<'a>>, prefix: Span<'a>, text: &str, style: Style, width: usize) {
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
fn push_code(out: &mut Vec<Line<'_>>, prefix: &str, s: &str, style: Style, width: usize) {
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

/// The runbook rendered at a width: rows, and where each step and each secret starts.
pub(crate) struct Rendered<'a> {
    pub lines: Vec<Line<'a>>,
    pub step_at: Vec<usize>,
    pub secret_at: Vec<usize>,
}

/// The runbook as rendered rows at `width`, with the row where each step starts.
fn runbook_lines<'a>(c: &'a Ceremony, v: &View, t: &Theme, width: usize) -> Rendered<'a> {
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

fn render_runbook(f: &mut Frame, c: &Ceremony, v: &View, t: &Theme, area: Rect) {
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

/// Time to runbook and per-step times of this drill, compared with earlier drills.
fn drill_timing<'a>(c: &Ceremony, v: &View, t: &Theme) -> Vec<Line<'a>> {
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

/// The actions offered in the open root session, numbered from 1 (names filled from the view).
pub(crate) fn root_actions(c: &Ceremony, v: &View) -> Vec<RootAction> {
    let Some(r) = c.root().as_ref() else { return vec![] };
    RootAction::for_task(r.task)
        .into_iter()
        .map(|a| match a {
            RootAction::DeleteBucketPolicy { .. } => RootAction::DeleteBucketPolicy { bucket: v.root_arg.trim().to_string() },
            RootAction::DeleteQueuePolicy { .. } => RootAction::DeleteQueuePolicy { queue_url: v.root_arg.trim().to_string() },
            other => other,
        })
        .collect()
}

fn root_lines<'a>(c: &'a Ceremony, v: &View, t: &Theme, stage: &RootStage) -> Vec<Line<'a>> {
    let mut out = vec![Line::from(Span::styled("Root task on a member account (sts:AssumeRoot)", t.bold()))];
    let spin = SPINNER[(v.tick % 4) as usize];
    match stage {
        RootStage::Pick => {
            let task = TASKS[v.root_task % TASKS.len()];
            out.push(Line::from(vec![Span::styled("Account  ", t.bold()), Span::raw(format!("{}_", v.root_target))]));
            out.push(Line::from(vec![
                Span::styled("Task     ", t.bold()),
                Span::styled(format!("◀ {} ▶", task.policy_name()), t.accent()),
            ]));
            out.push(Line::from(Span::styled(format!("         {}", task.describe()), t.dim())));
            if c.mode() == Mode::Drill {
                out.push(Line::from(Span::styled("DRILL: only IAMAuditRootUserCredentials (read-only) is allowed.", t.dim())));
            }
            out.push(Line::from(format!("{} opens a root session of at most 900 s; every call is recorded.", key(c, v, "assume"))));
        }
        RootStage::Assuming => out.push(Line::from(format!("{spin} Opening the root session (sts:AssumeRoot)..."))),
        RootStage::Ready | RootStage::Working | RootStage::Confirm { .. } | RootStage::Expired => {
            if let Some(r) = &c.root() {
                let left = r.expires_s.saturating_sub(c.now_s());
                let clock = if matches!(stage, RootStage::Expired) {
                    "EXPIRED".to_string()
                } else {
                    format!("{:02}:{:02} left", left / 60, left % 60)
                };
                out.push(Line::from(vec![
                    Span::raw(format!("{} on {} · ", r.task.policy_name(), r.target)),
                    Span::styled(clock, if left < 120 { t.bad() } else { t.accent() }),
                ]));
                if let Some(a) = &r.audit {
                    out.push(Line::from(format!("Root: {}", a.summary())));
                }
                if r.task.needs_arg() {
                    let what = if r.task == crate::core::root::Task::UnlockBucketPolicy { "Bucket" } else { "Queue URL" };
                    out.push(Line::from(vec![Span::styled(format!("{what}: "), t.bold()), Span::raw(format!("{}_", v.root_arg))]));
                }
                for (i, a) in root_actions(c, v).iter().enumerate().filter(|_| !matches!(stage, RootStage::Confirm { .. })) {
                    let mark = if a.destructive() { if c.quorum() == 2 { " (both confirm)" } else { " (all confirm)" } } else { "" };
                    out.push(Line::from(format!("  {} {}{mark}", i + 1, a.label())));
                }
            }
            match stage {
                RootStage::Working => out.push(Line::from(format!("{spin} Working..."))),
                RootStage::Confirm { action, acked, acking } => {
                    out.push(Line::from(Span::styled(format!("Confirm: {}", action.label()), t.bad())));
                    for (i, k) in c.checked().enumerate() {
                        let p = c.person(k.custodian);
                        let state = if acked.contains(&i) {
                            "✔ confirmed".to_string()
                        } else if *acking == Some(i) {
                            format!("{spin} touch your key")
                        } else {
                            format!("press {} to confirm on your key", i.number())
                        };
                        out.push(Line::from(format!("  {}: {state}", p.id)));
                    }
                }
                _ => {}
            }
        }
    }
    out
}
