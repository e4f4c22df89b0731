//! A rekey: the change reviewed, the newcomers' keys, the signatures on the new version, the pin lines.

use super::*;

/// The rekey screens: the change as a diff, newcomers proving their keys, signatures, the swap.
pub(super) fn render_rekey<'a>(
    lines: &mut Vec<Line<'a>>,
    c: &Ceremony,
    v: &View,
    t: &Theme,
    stage: &crate::core::ceremony::RekeyStage,
    spin: &str,
) {
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
pub(super) fn rekey_diff<'a>(lines: &mut Vec<Line<'a>>, k: &crate::core::ceremony::Rekey, t: &Theme) {
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
pub(super) fn rekey_review_lines<'a>(lines: &mut Vec<Line<'a>>, k: &crate::core::ceremony::Rekey, t: &Theme, go_on: &str) {
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
pub(super) fn newcomer_lines<'a>(
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
pub(super) fn rekey_sign_lines<'a>(
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

/// After a rekey: the exact lines that move the pin to the new version, for the configuration the
/// ceremony host cannot change alone (the tool never writes it), with the words both custodians
/// read against the "roster changed" notice before anyone pastes them.
pub(super) fn pin_lines<'a>(k: &crate::core::ceremony::Rekey, t: &Theme) -> Vec<Line<'a>> {
    let mut out = vec![Line::from(format!(
        "Next: move the pin. Both custodians check these words: {}; then, in the configuration the ceremony host cannot change alone:",
        crate::core::notice::words_hex(&k.new_sha256)
    ))];
    for l in crate::core::trust::pin_lines(&k.new_sha256, k.new_version).lines() {
        out.push(Line::from(Span::styled(format!("  {l}"), t.accent())));
    }
    out
}
