//! Drills: every drill bundle in the data directory, checked with verify and timed; who has not
//! drilled lately; the overdue warning; the evidence pack an auditor asks for. Only valid bundles
//! count; tampered or incomplete ones are listed as such and never counted.

use crate::core::config::Config;
use crate::core::journal::kind;
use crate::core::verify::{self, Status};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One drill bundle as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DrillRow {
    pub session_id: String,
    pub valid: bool,
    /// Counts toward "last valid drill", participation and overdue: valid, completed (not
    /// aborted), checked against a pinned roster (or the DEMO one where no real roster is
    /// configured), and not a rehearsal on virtual cards (see [`counts`]).
    pub counted: bool,
    /// Why a valid drill is not counted (aborted, rehearsal, unpinned, DEMO), if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_counted: Option<String>,
    /// A rehearsal on virtual cards (`[rehearsal] attestation_roots`): never a drill of the real setup.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rehearsal: bool,
    pub status: Status,
    pub started: Option<String>,
    pub ended: Option<String>,
    pub scenario: String,
    pub time_to_runbook_s: Option<f64>,
    /// Seconds a secret's rotation took, from its new sealing staged to its confirmation on both
    /// keys (the first rotation rehearsed; none when no rotation was rehearsed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_s: Option<f64>,
    pub custodians: Vec<String>,
    pub demo: bool,
    pub outcome: Option<String>,
    /// How the "root in use" alert went: `sent <message id>`, `not delivered; acknowledged`, or `none`.
    pub alert: String,
    pub alert_message_id: Option<String>,
    pub runbook_opened: bool,
    pub steps_done: usize,
    /// Seconds from the runbook opening (or the step before) to each step done.
    pub step_times_s: Vec<f64>,
    /// Notes taken during the drill: the post-drill actions.
    pub notes: Vec<String>,
    pub problems: Vec<String>,
    #[serde(skip)]
    pub dir: PathBuf,
    /// The roster this bundle was checked against (`verify`'s "checked against").
    pub checked_against: String,
    #[serde(skip)]
    pub roster_custodians: Vec<String>,
}

/// Who took part in a valid drill within the interval.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Participation {
    pub custodian: String,
    pub last_drill: Option<String>,
    pub within_interval: bool,
}

#[derive(Debug, Serialize)]
pub struct DrillReport {
    pub drills: Vec<DrillRow>,
    pub last_valid_drill: Option<String>,
    pub overdue: bool,
    pub days_since_last_valid: Option<i64>,
    pub interval_days: u32,
    pub participation: Vec<Participation>,
    /// Which roster the drills were checked against, and by which rule it is trusted.
    pub checked_against: String,
    /// Set when that rule is weak (nothing pinned): what a valid drill here does not prove.
    pub warning: Option<String>,
}

fn ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Seconds from one journal time to another.
pub(crate) fn secs(a: &str, b: &str) -> Option<f64> {
    Some((ts(b)? - ts(a)?).num_milliseconds() as f64 / 1000.0)
}

/// "1m 05s" / "42.0s".
pub(crate) fn human_secs(s: f64) -> String {
    if s >= 60.0 { format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64) } else { format!("{s:.1}s") }
}

/// A drill's timing, from its journal's (kind, time) pairs: time to runbook (session start to
/// `runbook.unsealed`) and each step's time (from the previous step, or the runbook opening, to
/// its `step.done`). The summary screen and `drill report` both use it.
pub(crate) fn timing<'a>(start: Option<&str>, events: impl Iterator<Item = (&'a str, &'a str)>) -> (Option<f64>, Vec<f64>) {
    let (mut ttr, mut steps, mut prev): (Option<f64>, Vec<f64>, Option<&str>) = (None, vec![], None);
    for (kind, at) in events {
        match kind {
            kind::RunbookUnsealed if prev.is_none() => {
                ttr = start.and_then(|s| secs(s, at));
                prev = Some(at);
            }
            kind::StepDone => {
                if let Some(d) = prev.and_then(|p| secs(p, at)) {
                    steps.push(d);
                }
                prev = Some(at);
            }
            _ => {}
        }
    }
    (ttr, steps)
}

/// Why a valid drill does not count as a drill of the real setup (rule E24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotCounted {
    #[error("aborted: an aborted drill is not a completed drill")]
    Aborted,
    #[error("a rehearsal on virtual cards ([rehearsal] attestation_roots), not a drill of the real setup")]
    Rehearsal,
    #[error("DEMO keys: they prove nothing about the real custodians")]
    Demo,
    #[error("not pinned: checked against a roster nothing anchors ([trust] roster_sha256)")]
    Unpinned,
}

/// Whether a valid drill counts as a drill of the real setup, or why not.
pub fn counts(r: &verify::Report, real_roster: bool) -> Result<(), NotCounted> {
    if r.outcome.as_deref() == Some("aborted") {
        return Err(NotCounted::Aborted);
    }
    if !r.rehearsal_roots.is_empty() {
        return Err(NotCounted::Rehearsal);
    }
    if r.demo && real_roster {
        return Err(NotCounted::Demo);
    }
    if matches!(r.roster_rule, Some(crate::core::trust::Rule::Unpinned) | None) {
        return Err(NotCounted::Unpinned);
    }
    Ok(())
}

/// Seconds from the first `secret.rotation_staged` to the `secret.rotated` after it.
fn rotation_time<'a>(events: impl Iterator<Item = (&'a str, &'a str)>) -> Option<f64> {
    let t = |ts: &str| chrono::DateTime::parse_from_rfc3339(ts).ok();
    let mut staged = None;
    for (k, ts) in events {
        match k {
            kind::RotationStaged if staged.is_none() => staged = t(ts),
            kind::SecretRotated => {
                if let (Some(a), Some(b)) = (staged, t(ts)) {
                    return Some((b - a).num_milliseconds() as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }
    None
}

fn row(dir: PathBuf, r: verify::Report, real_roster: bool) -> DrillRow {
    let (ttr, step_times) = timing(r.started.as_deref(), r.timeline.iter().map(|e| (e.kind.as_ref(), e.ts.as_str())));
    let unsealed = r.timeline.iter().any(|e| e.kind == kind::RunbookUnsealed);
    let in_use: Vec<&verify::NoticeRecord> = r.notices.iter().filter(|n| n.phase == "in_use").collect();
    let sent = in_use.iter().find(|n| n.outcome == "sent");
    let alert = match sent {
        Some(n) => format!("sent via {} ({})", n.channel.as_deref().unwrap_or("?"), n.message_id.as_deref().unwrap_or("?")),
        None if in_use.iter().any(|n| n.outcome == "acknowledged") => "not delivered; going on was acknowledged by both custodians".into(),
        None if in_use.iter().any(|n| n.outcome == "failed") => "not delivered".into(),
        None => "none".into(),
    };
    DrillRow {
        session_id: if r.session_id.is_empty() {
            dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
        } else {
            r.session_id.clone()
        },
        valid: r.status == Status::Valid,
        counted: r.status == Status::Valid && counts(&r, real_roster).is_ok(),
        not_counted: if r.status == Status::Valid { counts(&r, real_roster).err().map(|e| e.to_string()) } else { None },
        rehearsal: !r.rehearsal_roots.is_empty(),
        status: r.status,
        started: r.started.clone(),
        ended: r.ended.clone(),
        scenario: r.scenario.clone().unwrap_or_else(|| "standard".into()),
        time_to_runbook_s: ttr,
        rotation_s: rotation_time(r.timeline.iter().map(|e| (e.kind.as_ref(), e.ts.as_str()))),
        custodians: r.custodians.clone(),
        demo: r.demo,
        outcome: r.outcome.clone(),
        alert,
        alert_message_id: sent.and_then(|n| n.message_id.clone()),
        runbook_opened: unsealed,
        steps_done: r
            .timeline
            .iter()
            .filter(|e| e.kind == kind::StepDone)
            .count()
            .saturating_sub(r.timeline.iter().filter(|e| e.kind == kind::StepUndone).count()),
        step_times_s: step_times,
        notes: r.timeline.iter().filter(|e| e.kind == kind::Note).map(|e| e.summary.clone()).collect(),
        problems: r.problems.iter().map(|p| if p.line > 0 { format!("line {}: {}", p.line, p.what) } else { p.what.clone() }).collect(),
        dir,
        checked_against: r.roster_source,
        roster_custodians: r.roster_custodians,
    }
}

/// Finds and verifies every drill session under the data directory, oldest first.
/// The configured roster must be trusted (a missing or unreadable one is an error, never a
/// fallback); without one, each bundle is checked against its own copy, as `verify` does.
pub fn collect(config: &Config, sessions: &Path, since: Option<NaiveDate>) -> Result<Vec<DrillRow>, crate::core::trust::TrustError> {
    let mut rows = vec![];
    let anchor = crate::core::trust::Anchor::for_sessions(config)?;
    let Ok(rd) = std::fs::read_dir(sessions) else { return Ok(rows) };
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join(crate::core::journal::FILE_NAME).is_file()).collect();
    dirs.sort();
    for dir in dirs {
        let Ok(r) = anchor.verify(config, &dir) else { continue };
        if r.mode != crate::core::mode::Mode::Drill {
            continue;
        }
        if let (Some(since), Some(start)) = (since, r.started.as_deref().and_then(ts))
            && start.date_naive() < since
        {
            continue;
        }
        rows.push(row(dir, r, config.roster_path().is_some()));
    }
    rows.sort_by(|a, b| a.started.cmp(&b.started));
    Ok(rows)
}

/// Days past the interval since the last valid drill (negative: days left); None if none.
pub(crate) fn overdue_days(config: &Config, sessions: &Path) -> Option<i64> {
    let rows = collect(config, sessions, None).ok()?;
    let last = rows.iter().filter(|r| r.counted).filter_map(|r| r.started.as_deref().and_then(ts)).max()?;
    Some((Utc::now() - last).num_days() - i64::from(config.drill.interval_days))
}

/// The report as of `now`. Overdue: no valid drill, or the last one more than `interval_days` ago.
pub fn report_from(drills: Vec<DrillRow>, interval_days: u32, roster: &[String], now: DateTime<Utc>) -> DrillReport {
    let valid: Vec<&DrillRow> = drills.iter().filter(|r| r.counted).collect();
    let last = valid.iter().filter_map(|r| r.started.clone()).max();
    let days = last.as_deref().and_then(ts).map(|t| (now - t).num_days());
    let mut people: Vec<String> = roster.to_vec();
    if people.is_empty() {
        people = valid.last().map(|r| r.roster_custodians.clone()).unwrap_or_default();
    }
    let participation = people
        .into_iter()
        .map(|id| {
            let last = valid.iter().filter(|r| r.custodians.contains(&id)).filter_map(|r| r.started.clone()).max();
            let within = last.as_deref().and_then(ts).is_some_and(|t| (now - t).num_days() <= i64::from(interval_days));
            Participation { custodian: id, last_drill: last, within_interval: within }
        })
        .collect();
    DrillReport {
        overdue: days.is_none_or(|d| d > i64::from(interval_days)),
        last_valid_drill: last,
        days_since_last_valid: days,
        interval_days,
        participation,
        drills,
        checked_against: String::new(),
        warning: None,
    }
}

pub fn report(
    config: &Config,
    sessions: &Path,
    since: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<DrillReport, crate::core::trust::TrustError> {
    let roster: Vec<String> = match config.roster_path() {
        Some(_) => crate::core::trust::resolve(config, None, None)?.roster().custodians.iter().map(|c| c.id.clone()).collect(),
        None => vec![],
    };
    // Overdue and participation come from every drill; --since only narrows the listing.
    let mut rep = report_from(collect(config, sessions, None)?, config.drill.interval_days, &roster, now);
    (rep.checked_against, rep.warning) = match crate::core::trust::Anchor::for_sessions(config)? {
        crate::core::trust::Anchor::Configured(t) => (t.describe(), t.warning()),
        crate::core::trust::Anchor::PerBundle => (
            "each bundle's own roster.toml (no paths.roster is configured)".into(),
            Some(format!(
                "NOT PINNED: no roster is configured, so each drill was checked against the roster in its own bundle, which anyone holding two keys can make: a drill counted here proves nothing about who your custodians are. Set paths.roster and [trust] roster_sha256 in {}",
                config.describe()
            )),
        ),
    };
    if let Some(since) = since {
        rep.drills.retain(|d| d.started.as_deref().and_then(ts).is_some_and(|t| t.date_naive() >= since));
    }
    Ok(rep)
}

/// Time to runbook of each valid drill as a bar chart (drawn with ratatui, printed as text).
pub fn chart(rep: &DrillReport, width: u16) -> String {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Widget};
    let valid: Vec<&DrillRow> = rep.drills.iter().filter(|d| d.counted && d.time_to_runbook_s.is_some()).collect();
    if valid.is_empty() {
        return String::new();
    }
    let bars: Vec<Bar> = valid
        .iter()
        .map(|d| {
            let s = d.time_to_runbook_s.unwrap_or(0.0);
            let label = d.started.as_deref().and_then(|t| t.get(5..10)).unwrap_or("?").to_string();
            Bar::default().value(s.round() as u64).label(ratatui::text::Line::from(label)).text_value(human_secs(s))
        })
        .collect();
    let height = 12;
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    BarChart::default()
        .block(Block::default().borders(Borders::ALL).title(" time to runbook per valid drill (MM-DD) "))
        .bar_width(7)
        .bar_gap(2)
        .data(BarGroup::default().bars(&bars))
        .render(area, &mut buf);
    let mut out = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn render_text(rep: &DrillReport) -> String {
    use crate::core::plain::one_line;
    let mut s = String::from("Drills (each bundle checked with `breakglass verify`; only valid ones count):\n");
    if !rep.checked_against.is_empty() {
        s.push_str(&format!("checked against: {}\n", rep.checked_against));
    }
    if let Some(w) = &rep.warning {
        s.push_str(&format!("WARNING: {w}\n"));
    }
    if rep.drills.is_empty() {
        s.push_str("  none found. Rehearse with `breakglass ceremony --drill` (or `breakglass demo --drill`).\n");
    }
    for d in &rep.drills {
        s.push_str(&format!(
            "  {:<24} {:<10} {}  {:<22} runbook after {:>7}  custodians: {}{}\n",
            one_line(&d.session_id),
            format!("{:?}", d.status).to_uppercase(),
            one_line(d.started.as_deref().and_then(|t| t.get(..16)).unwrap_or("?")),
            one_line(&d.scenario),
            d.time_to_runbook_s.map_or("-".into(), human_secs),
            if d.custodians.is_empty() { "-".into() } else { one_line(&d.custodians.join(", ")).into_owned() },
            if d.demo { "  (DEMO)" } else { "" }
        ));
        if let Some(r) = d.rotation_s {
            s.push_str(&format!("      secret rotation rehearsed in {}\n", human_secs(r)));
        }
        if let Some(why) = &d.not_counted {
            s.push_str(&format!("      not counted: {}\n", one_line(why)));
        }
    }
    s.push('\n');
    s.push_str(&chart(rep, 72));
    match (&rep.last_valid_drill, rep.overdue) {
        (Some(l), true) => s.push_str(&format!(
            "OVERDUE: the last valid drill ({l}) was {} days ago; the interval is {} days.\n",
            rep.days_since_last_valid.unwrap_or(0),
            rep.interval_days
        )),
        (Some(l), false) => s.push_str(&format!(
            "Last valid drill {l} ({} days ago; interval {} days).\n",
            rep.days_since_last_valid.unwrap_or(0),
            rep.interval_days
        )),
        (None, _) => s.push_str("OVERDUE: no valid drill on record.\n"),
    }
    let missing: Vec<&str> = rep.participation.iter().filter(|p| !p.within_interval).map(|p| p.custodian.as_str()).collect();
    if !missing.is_empty() {
        s.push_str(&format!("Not drilled within {} days: {}.\n", rep.interval_days, missing.join(", ")));
    }
    s
}

pub fn render_md(rep: &DrillReport) -> String {
    use crate::core::plain::one_line;
    // A table cell: on one line, and a `|` in it does not open a column of its own.
    let cell = |v: &str| one_line(v).replace('|', "\\|");
    let mut s = String::from("# Break-glass drill report\n\n");
    s.push_str(&format!(
        "Interval: {} days. Last valid drill: {}. Overdue: **{}**.\n\n",
        rep.interval_days,
        rep.last_valid_drill.as_deref().unwrap_or("none"),
        if rep.overdue { "yes" } else { "no" }
    ));
    if !rep.checked_against.is_empty() {
        s.push_str(&format!("Checked against: {}.\n\n", rep.checked_against));
    }
    if let Some(w) = &rep.warning {
        s.push_str(&format!("**WARNING**: {w}.\n\n"));
    }
    s.push_str("| session | verified | started | scenario | custodians | alert | runbook opened | time to runbook | steps done |\n|---|---|---|---|---|---|---|---|---|\n");
    for d in &rep.drills {
        s.push_str(&format!(
            "| {}{} | {:?} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&d.session_id),
            if d.demo { " (DEMO)" } else { "" },
            d.status,
            cell(d.started.as_deref().unwrap_or("?")),
            cell(&d.scenario),
            cell(&d.custodians.join(", ")),
            cell(&d.alert),
            if d.runbook_opened { "yes" } else { "no" },
            d.time_to_runbook_s.map_or("-".into(), human_secs),
            d.steps_done
        ));
    }
    s.push_str("\n## Participation\n\n");
    for p in &rep.participation {
        s.push_str(&format!(
            "- {}: last drill {}{}\n",
            p.custodian,
            p.last_drill.as_deref().unwrap_or("never"),
            if p.within_interval { "" } else { " — **not within the interval**" }
        ));
    }
    for d in rep.drills.iter().filter(|d| d.valid) {
        s.push_str(&format!("\n## {}\n\n", one_line(&d.session_id)));
        if !d.step_times_s.is_empty() {
            let times: Vec<String> = d.step_times_s.iter().enumerate().map(|(i, t)| format!("#{} {}", i + 1, human_secs(*t))).collect();
            s.push_str(&format!("Step times: {}\n\n", times.join(", ")));
        }
        if d.notes.is_empty() {
            s.push_str("Post-drill actions: none recorded.\n");
        } else {
            s.push_str("Post-drill actions and notes:\n\n");
            for n in &d.notes {
                s.push_str(&format!("- {}\n", one_line(n)));
            }
        }
    }
    let invalid: Vec<&DrillRow> = rep.drills.iter().filter(|d| !d.valid).collect();
    if !invalid.is_empty() {
        s.push_str("\n## Not counted\n\n");
        for d in invalid {
            s.push_str(&format!(
                "- {} ({:?}): {}\n",
                one_line(&d.session_id),
                d.status,
                one_line(d.problems.first().map(String::as_str).unwrap_or("never signed"))
            ));
        }
    }
    s.push_str(
        "\n## Verify by hand\n\nIn each bundle directory, for each signer `<id>`:\n\n    ssh-keygen -Y verify -f allowed_signers -I <id> -n breakglass-session -s journal.jsonl.<id>.sig < journal.jsonl\n\n\
         Compare the keys in `allowed_signers` with the roster you trust first (docs/verify-by-hand.md).\n",
    );
    s
}

/// Writes drills.md, drills.json and a copy of every bundle (valid or not) to `dir`.
pub fn export(rep: &DrillReport, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("bundles"))?;
    // Read with `cat` as often as with an editor: outside text in them cannot drive a terminal.
    let json = serde_json::to_string_pretty(rep)?;
    crate::core::fsread::write_atomic(&dir.join("drills.json"), crate::core::plain::for_json(&json).as_bytes())?;
    crate::core::fsread::write_atomic(&dir.join("drills.md"), crate::core::plain::for_terminal(&render_md(rep)).as_bytes())?;
    for d in &rep.drills {
        // Named by its directory in the sessions folder (unique there, one path component), never
        // by the session id its journal claims: that is the bundle's own word, and an id like
        // `../x` or `/home/me/.ssh` would write outside the pack or over another drill's copy.
        let name = d.dir.file_name().ok_or_else(|| anyhow::anyhow!("{}: not a session directory", d.dir.display()))?;
        let to = dir.join("bundles").join(name);
        std::fs::create_dir_all(&to)?;
        for e in std::fs::read_dir(&d.dir)?.flatten() {
            // Regular files only: a symlink in a bundle is not followed (it could point anywhere).
            if e.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::copy(e.path(), to.join(e.file_name()))?;
            }
        }
    }
    Ok(())
}

/// A sentence for the setup screen when drills are overdue.
pub(crate) fn overdue_note(config: &Config, sessions: &Path) -> Option<String> {
    let rep = report(config, sessions, None, Utc::now()).ok()?;
    if !rep.overdue {
        return None;
    }
    Some(match rep.days_since_last_valid {
        Some(d) => format!("the last valid drill was {d} days ago (interval {} days)", rep.interval_days),
        None => "no valid drill on record".to_string(),
    })
}

/// Time to runbook of earlier valid drills, oldest first.
pub(crate) fn previous_times(config: &Config, sessions: &Path) -> Vec<f64> {
    collect(config, sessions, None).unwrap_or_default().into_iter().filter(|d| d.counted).filter_map(|d| d.time_to_runbook_s).collect()
}

#[cfg(test)]
mod tests {
    use super::{NotCounted, counts};
    use crate::core::trust::Rule as Anchor;
    use crate::core::verify::{Report, Status};

    /// E24: a drill counts when it is valid, ended normally, pinned (or DEMO with no real roster)
    /// and not a rehearsal.
    #[test]
    fn e24_what_counts_as_a_drill() {
        let good = Report {
            status: Status::Valid,
            mode: crate::core::mode::Mode::Drill,
            outcome: Some("closed".into()),
            roster_rule: Some(Anchor::Pinned),
            ..Default::default()
        };
        assert!(counts(&good, true).is_ok());
        assert_eq!(counts(&Report { outcome: Some("aborted".into()), ..good.clone() }, true), Err(NotCounted::Aborted));
        assert_eq!(counts(&Report { rehearsal_roots: vec!["lab".into()], ..good.clone() }, true), Err(NotCounted::Rehearsal));
        assert_eq!(counts(&Report { roster_rule: Some(Anchor::Unpinned), ..good.clone() }, true), Err(NotCounted::Unpinned));
        assert_eq!(counts(&Report { roster_rule: None, ..good.clone() }, true), Err(NotCounted::Unpinned), "no trusted roster");
        let demo = Report { demo: true, roster_rule: Some(Anchor::Demo), ..good };
        assert_eq!(counts(&demo, true), Err(NotCounted::Demo), "DEMO against a real roster");
        assert!(counts(&demo, false).is_ok(), "DEMO where nothing real is configured");
    }
}
