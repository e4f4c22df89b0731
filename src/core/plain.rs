//! Text from outside (a bundle's journal, a roster's names, a file name, an AWS event) made safe to
//! print: a control character or a bidirectional override in it must not drive the reader's
//! terminal. `ESC[2J` followed by a fake "verdict: VALID" in a note would otherwise clear the screen
//! and show a forged session as valid; `\r` would overwrite a line; U+202E would reverse one.

use std::borrow::Cow;

/// Characters that reorder or hide text without being control characters.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` would act on a terminal rather than be shown (line breaks and tabs are shown).
fn acts(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi(c)
}

/// Text for a terminal: each control character (but line breaks and tabs) and each bidi
/// override is written as a visible escape (`\x1b`, `\u{202e}`), so the reader sees it was there.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !acts(c) {
            out.push(c);
        } else if u32::from(c) < 0x100 {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    Cow::Owned(out)
}

/// A value from outside for one line of a report (a note, a session id): a line break in it is
/// written as `\n`, so it cannot start a line of its own ("verdict: VALID") under the report's.
pub(crate) fn one_line(s: &str) -> Cow<'_, str> {
    if !s.contains(['\n', '\r']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace('\n', "\\n").replace('\r', "\\r"))
}

/// JSON text (as serde_json writes it) with the characters it leaves raw (DEL, the C1 controls,
/// bidi overrides) written as `\uXXXX` escapes: the same JSON value, safe on a terminal.
pub(crate) fn for_json(s: &str) -> Cow<'_, str> {
    if !s.chars().any(acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        // serde_json escapes C0 controls itself; any left here sit inside strings as DEL, C1 or
        // bidi (all in the Basic Multilingual Plane, so one \u escape each).
        if acts(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_drive_the_terminal_and_keeps_the_rest() {
        assert_eq!(for_terminal("a\x1b[2Jb\r\u{9b}c\u{202e}d\u{7f}"), "a\\x1b[2Jb\\x0d\\x9bc\\u{202e}d\\x7f");
        assert_eq!(for_terminal("line\n\tnext é ✓"), "line\n\tnext é ✓");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_value_stays_on_its_line() {
        assert_eq!(one_line("note\nverdict: VALID\r"), "note\\nverdict: VALID\\r");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        // Any text at all: nothing that acts on a terminal is left in the terminal form, and the
        // JSON form of any string is the same JSON value.
        #[test]
        fn nothing_that_acts_survives(s in "\\PC*|[\\x00-\\x{a0}\\u{2000}-\\u{2070}]*") {
            proptest::prop_assert!(!for_terminal(&s).chars().any(acts));
            proptest::prop_assert!(!one_line(&for_terminal(&s)).contains('\n'));
            let json = serde_json::to_string(&serde_json::json!({"v": s})).unwrap();
            let safe = for_json(&json);
            proptest::prop_assert!(!safe.chars().any(acts));
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            proptest::prop_assert_eq!(back["v"].as_str(), Some(s.as_str()));
        }
    }

    #[test]
    fn json_stays_the_same_value() {
        let v = serde_json::json!({"note": "x\u{7f}\u{9b}31m\u{202e}y\u{1b}", "n": 1});
        let text = serde_json::to_string_pretty(&v).unwrap();
        let safe = for_json(&text);
        assert!(!safe.chars().any(acts));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }
}
