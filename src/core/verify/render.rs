//! `breakglass verify`'s text: the verdict first, what the session did, then the timeline.

use super::timeline::{list, short};
use super::{EXIT_UNPINNED, Report, Status};
use crate::core::journal::ProblemKind;
use crate::core::plain::one_line;

/// The report for humans: verdict first, then the timeline.
pub fn render_text(r: &Report) -> String {
    let verdict = match r.status {
        Status::Valid if r.exit_code() == EXIT_UNPINNED => {
            "VALID SIGNATURES, UNTRUSTED ROSTER (not pinned: set [trust] roster_sha256 or pass --roster; exit 4)"
        }
        Status::Valid => "VALID",
        Status::Invalid => "INVALID (tampered or forged)",
        Status::Incomplete => "INCOMPLETE (never finished or never signed)",
    };
    let mut s = format!(
        "session {}  {}{}\nverdict: {verdict}\nreason: {}{}\nentries: {}   outcome: {}   signed by: {}\nchecked against: {}\nchain head at entry #{}: {}\n  words: {}\n",
        if r.session_id.is_empty() { "?".into() } else { one_line(&r.session_id) },
        r.mode.label(),
        if r.demo { " DEMO" } else { "" },
        if r.reason.is_empty() { "-".into() } else { one_line(&r.reason) },
        r.ticket.as_deref().map(|t| format!("   ticket: {}", one_line(t))).unwrap_or_default(),
        match r.entries {
            0 => "0".to_string(),
            n => format!("{n} (#0 to #{})", n - 1),
        },
        one_line(r.outcome.as_deref().unwrap_or("not closed")),
        if r.signers.is_empty() { "nobody".to_string() } else { r.signers.join(", ") },
        r.roster_source,
        r.head_seq.map_or("-".to_string(), |n| n.to_string()),
        r.head,
        r.head_words,
    );
    // Entries are numbered as in the timeline (#0 is the first line of journal.jsonl).
    for p in &r.problems {
        // The rule it breaks (docs/evidence-model.md) leads, so a reviewer can look it up.
        if p.line > 0 {
            s.push_str(&format!("PROBLEM [{}] at entry #{} (line {}): {}\n", p.rule, p.line - 1, p.line, one_line(&p.what)));
        } else {
            s.push_str(&format!("PROBLEM [{}]: {}\n", p.rule, one_line(&p.what)));
        }
    }
    s.push_str(&records(r));
    for w in &r.warnings {
        s.push_str(&format!("warning: {}\n", one_line(w)));
    }
    s.push_str(&timeline(r));
    s
}

/// What the session changed or went through: an offboarding, a rekey, a recovery, a rehearsal.
fn records(r: &Report) -> String {
    let mut s = String::new();
    if let Some(o) = &r.offboard {
        s.push_str(&format!(
            "offboarding of {}: {} of {} items done{}, in {} ({} the {}-minute target); AWS changes made: {}\n",
            one_line(&o.person),
            o.done,
            o.total,
            if o.not_done.is_empty() { String::new() } else { format!(" (NOT done: {:?})", o.not_done) },
            o.elapsed_s.map_or("an unknown time".into(), |e| format!("{:02}:{:02}", e / 60, e % 60)),
            if o.elapsed_s.is_some_and(|e| e as u64 <= o.target_s) { "within" } else { "OVER" },
            o.target_s / 60,
            if o.applied.is_empty() { "none".to_string() } else { o.applied.len().to_string() }
        ));
    }
    if let Some(k) = &r.rekey {
        s.push_str(&format!(
            "roster changed: version {} ({}) replaces {}; added {}; removed {}; signed by {}\n",
            k.new_version,
            short(&k.new_roster_sha256),
            short(&k.old_roster_sha256),
            list(&k.added),
            list(&k.removed),
            list(&k.signed_by)
        ));
    }
    if let Some(rec) = &r.recovered {
        s.push_str(&format!(
            "recovered: the process stopped after entry #{} ({}); closed at entry #{} ({}), {} later\n",
            rec.entries_before.saturating_sub(1),
            one_line(&rec.last_ts_before),
            rec.at_entry,
            one_line(&rec.recovered_ts),
            rec.gap_s.map_or("an unknown time".to_string(), |g| format!("{g} s"))
        ));
    }
    if !r.rehearsal_roots.is_empty() {
        s.push_str(&format!(
            "REHEARSAL: the keys were attested by roots beside Yubico's ({}); never audit cover, never a drill of the real setup\n",
            one_line(&r.rehearsal_roots.join("; "))
        ));
    }
    s
}

/// The timeline, at most 400 entries, each problem's entry marked.
fn timeline(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("\ntimeline:\n");
    const MAX: usize = 400;
    let flagged = |line: usize| r.problems.iter().any(|p| p.line == line && p.kind != ProblemKind::Interrupted);
    // Where the chain broke, the line before the break is as suspect as the broken one: a changed
    // entry shows only as the next entry's `prev` not matching.
    let suspect = |line: usize| r.problems.iter().any(|p| p.kind == ProblemKind::Chain && p.line == line + 1);
    for e in r.timeline.iter().take(MAX) {
        let mark = if flagged(e.seq as usize + 1) {
            "✘"
        } else if suspect(e.seq as usize + 1) {
            "?"
        } else {
            " "
        };
        s.push_str(&format!(" {mark}#{:<4} {}  {}\n", e.seq, one_line(&e.ts), one_line(&e.summary)));
    }
    if r.timeline.len() > MAX {
        s.push_str(&format!("  ... {} more entries (use --json for all)\n", r.timeline.len() - MAX));
    }
    // Where the chain broke, the entry is not in the timeline (nothing after it can be trusted).
    for p in r.problems.iter().filter(|p| p.kind == ProblemKind::Chain) {
        s.push_str(&format!(" ✘#{:<4} chain broken here: {}; nothing from here on is trusted\n", p.line - 1, one_line(&p.what)));
    }
    s
}
