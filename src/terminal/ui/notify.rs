//! The notices: "root in use", "root released", "roster changed", and the acknowledgements when one cannot go out.

use super::*;

/// The pane's lines for a notice going out, or failed and waiting for the acknowledgements.
pub(super) fn notify_lines<'a>(
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
            lines.extend(on_each_key(c, acked, *acking, spin, ("acknowledged", "to acknowledge")));
        }
    }
}
