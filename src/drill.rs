//! Drills: every drill bundle in the data directory, checked with verify, timed, and the overdue
//! warning. Only valid bundles count; tampered or incomplete ones are listed as such.

use crate::cli::{DrillReportArgs, Format};
use crate::commands::Env;
use crate::verify::{self, Status, TrustedRoster};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct DrillRow {
    pub session_id: String,
    pub valid: bool,
    pub status: Status,
    pub started: Option<String>,
    pub scenario: String,
    pub time_to_runbook_s: Option<f64>,
    pub custodians: Vec<String>,
    pub demo: bool,
    pub dir: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct DrillReport {
    pub drills: Vec<DrillRow>,
    pub last_valid_drill: Option<String>,
    pub overdue: bool,
    pub days_since_last_valid: Option<i64>,
    pub interval_days: u32,
}

fn ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Finds and verifies every drill session under the data directory.
pub fn collect(env: &Env, since: Option<NaiveDate>) -> Vec<DrillRow> {
    let mut rows = vec![];
    let Ok(rd) = std::fs::read_dir(env.sessions_dir()) else { return rows };
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join(crate::journal::FILE_NAME).is_file()).collect();
    dirs.sort();
    for dir in dirs {
        let trusted = match env.config.roster_path() {
            Some(p) if p.exists() && !verify::is_demo(&dir) => match crate::roster::Roster::load(&p) {
                Ok(r) => TrustedRoster::File(r),
                Err(_) => TrustedRoster::Bundle,
            },
            _ => TrustedRoster::Bundle,
        };
        let Ok(r) = verify::verify_dir(&dir, trusted) else { continue };
        if r.mode != "drill" {
            continue;
        }
        if let (Some(since), Some(start)) = (since, r.started.as_deref().and_then(ts)) {
            if start.date_naive() < since {
                continue;
            }
        }
        let unsealed = r.timeline.iter().find(|e| e.kind == "runbook.unsealed").and_then(|e| ts(&e.ts));
        let ttr = match (r.started.as_deref().and_then(ts), unsealed) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        };
        rows.push(DrillRow {
            session_id: if r.session_id.is_empty() {
                dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
            } else {
                r.session_id.clone()
            },
            valid: r.status == Status::Valid,
            status: r.status,
            started: r.started.clone(),
            scenario: "standard".into(),
            time_to_runbook_s: ttr,
            custodians: r.custodians.clone(),
            demo: r.demo,
            dir,
        });
    }
    rows
}

/// Days past the interval since the last valid drill (negative: days left); None if none.
pub fn overdue_days(env: &Env) -> Option<i64> {
    let rows = collect(env, None);
    let last = rows.iter().filter(|r| r.valid).filter_map(|r| r.started.as_deref().and_then(ts)).max()?;
    Some((Utc::now() - last).num_days() - i64::from(env.config.drill.interval_days))
}

pub fn report(env: &Env, since: Option<NaiveDate>, now: DateTime<Utc>) -> DrillReport {
    let drills = collect(env, since);
    let last = drills.iter().filter(|r| r.valid).filter_map(|r| r.started.clone()).max();
    let days = last.as_deref().and_then(ts).map(|t| (now - t).num_days());
    DrillReport {
        overdue: days.is_none_or(|d| d > i64::from(env.config.drill.interval_days)),
        last_valid_drill: last,
        days_since_last_valid: days,
        interval_days: env.config.drill.interval_days,
        drills,
    }
}

pub fn report_cmd(env: &Env, a: &DrillReportArgs) -> anyhow::Result<i32> {
    let since = match &a.since {
        Some(s) => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| anyhow::anyhow!("--since `{s}` is not a date: write it as YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let rep = report(env, since, Utc::now());
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rep)?),
        Format::Text => print!("{}", render_text(&rep)),
        Format::Md => print!("{}", render_md(&rep)),
    }
    if let Some(dir) = &a.export {
        export(&rep, dir)?;
        eprintln!("evidence pack written to {}", dir.display());
    }
    Ok(0)
}

fn render_text(rep: &DrillReport) -> String {
    let mut s = String::from("drills (each checked with `breakglass verify`):\n");
    if rep.drills.is_empty() {
        s.push_str("  none found. Rehearse with `breakglass ceremony --drill` (or `breakglass demo --drill`).\n");
    }
    for d in &rep.drills {
        s.push_str(&format!(
            "  {:<26} {:<10} {}  runbook after {}  custodians: {}{}\n",
            d.session_id,
            format!("{:?}", d.status).to_uppercase(),
            d.started.as_deref().unwrap_or("?"),
            d.time_to_runbook_s.map_or("-".into(), |t| format!("{t:.1}s")),
            d.custodians.join(", "),
            if d.demo { "  (DEMO)" } else { "" }
        ));
    }
    match (&rep.last_valid_drill, rep.overdue) {
        (Some(l), true) => s.push_str(&format!(
            "OVERDUE: last valid drill {l}, {} days ago (interval {} days)\n",
            rep.days_since_last_valid.unwrap_or(0),
            rep.interval_days
        )),
        (Some(l), false) => s.push_str(&format!(
            "last valid drill {l} ({} days ago; interval {} days)\n",
            rep.days_since_last_valid.unwrap_or(0),
            rep.interval_days
        )),
        (None, _) => s.push_str("OVERDUE: no valid drill on record\n"),
    }
    s
}

fn render_md(rep: &DrillReport) -> String {
    let mut s = String::from(
        "# Break-glass drill report\n\n| session | status | started | time to runbook | custodians |\n|---|---|---|---|---|\n",
    );
    for d in &rep.drills {
        s.push_str(&format!(
            "| {}{} | {:?} | {} | {} | {} |\n",
            d.session_id,
            if d.demo { " (DEMO)" } else { "" },
            d.status,
            d.started.as_deref().unwrap_or("?"),
            d.time_to_runbook_s.map_or("-".into(), |t| format!("{t:.1} s")),
            d.custodians.join(", ")
        ));
    }
    s.push_str(&format!(
        "\nLast valid drill: {}. Overdue: {}.\n\nVerify any bundle by hand: `ssh-keygen -Y verify -f allowed_signers -I <id> -n breakglass-session -s journal.jsonl.<id>.sig < journal.jsonl`\n",
        rep.last_valid_drill.as_deref().unwrap_or("none"),
        if rep.overdue { "yes" } else { "no" }
    ));
    s
}

fn export(rep: &DrillReport, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("bundles"))?;
    std::fs::write(dir.join("drills.json"), serde_json::to_vec_pretty(rep)?)?;
    std::fs::write(dir.join("drills.md"), render_md(rep))?;
    for d in &rep.drills {
        let to = dir.join("bundles").join(&d.session_id);
        std::fs::create_dir_all(&to)?;
        for e in std::fs::read_dir(&d.dir)?.flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name()))?;
            }
        }
    }
    Ok(())
}
