//! The runbook: Markdown whose `- [ ]` items are the steps the ceremony checks off.
//!
//! Fenced blocks with the info string `secret` hold secrets: they are kept in `secrecy` types and
//! masked on screen until revealed. The parsed runbook lives only in memory; nothing of its text
//! is ever written to the journal (steps are journalled by number).

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use secrecy::SecretString;

/// One rendered line of the runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Heading {
        level: u8,
        text: String,
    },
    Text(String),
    Bullet {
        depth: usize,
        text: String,
    },
    /// A step, by index into [`Runbook::steps`].
    Step(usize),
    Code(String),
    /// A secret block, by index into [`Runbook::secrets`].
    Secret(usize),
    Quote(String),
    Rule,
    Blank,
}

/// A `- [ ]` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    /// The heading the step stands under, for context in the journal view.
    pub section: String,
}

/// A fenced `secret` block. Debug output never shows it.
pub struct SecretBlock {
    pub text: SecretString,
    pub lines: usize,
    /// The heading it stands under (its label on screen and in the reveal list).
    pub section: String,
    /// The step that needs it: the first step after it (else the last one before it).
    pub for_step: Option<usize>,
}

impl std::fmt::Debug for SecretBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBlock([REDACTED], {} lines, for step {:?})", self.lines, self.for_step)
    }
}

/// The parsed runbook. Its Debug output shows only counts: the text is confidential.
#[derive(Default)]
pub struct Runbook {
    pub title: String,
    pub lines: Vec<Line>,
    pub steps: Vec<Step>,
    pub secrets: Vec<SecretBlock>,
}

impl std::fmt::Debug for Runbook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runbook {{ {} lines, {} steps, {} secrets: [REDACTED] }}", self.lines.len(), self.steps.len(), self.secrets.len())
    }
}

impl Runbook {
    /// Parses runbook Markdown. Never fails: any text is a (possibly step-less) runbook.
    pub fn parse(md: &str) -> Self {
        let mut rb = Runbook::default();
        let mut text = String::new();
        let mut heading: Option<u8> = None;
        let mut code: Option<bool> = None; // Some(is_secret)
        let mut depth = 0usize;
        let mut item_task: Vec<bool> = Vec::new();
        let mut quote = 0usize;
        let mut section = String::new();
        let flush_item = |rb: &mut Runbook, text: &mut String, task: bool, depth: usize, section: &str| {
            let t = text.trim().to_string();
            text.clear();
            if task {
                rb.steps.push(Step { text: t, section: section.to_string() });
                rb.lines.push(Line::Step(rb.steps.len() - 1));
            } else if !t.is_empty() {
                rb.lines.push(Line::Bullet { depth: depth.saturating_sub(1), text: t });
            }
        };
        for ev in Parser::new_ext(md, Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH) {
            match ev {
                Event::Start(Tag::Heading { level, .. }) => {
                    heading = Some(match level {
                        HeadingLevel::H1 => 1,
                        HeadingLevel::H2 => 2,
                        HeadingLevel::H3 => 3,
                        _ => 4,
                    });
                    text.clear();
                }
                Event::End(TagEnd::Heading(_)) => {
                    let level = heading.take().unwrap_or(1);
                    let t = text.trim().to_string();
                    text.clear();
                    if rb.title.is_empty() && level == 1 {
                        rb.title = t.clone();
                    }
                    section = t.clone();
                    if !rb.lines.is_empty() {
                        rb.lines.push(Line::Blank);
                    }
                    rb.lines.push(Line::Heading { level, text: t });
                }
                Event::Start(Tag::Paragraph) if item_task.is_empty() => {
                    text.clear();
                }
                Event::End(TagEnd::Paragraph) => {
                    if item_task.is_empty() {
                        let t = text.trim().to_string();
                        text.clear();
                        if quote > 0 {
                            rb.lines.push(Line::Quote(t));
                        } else {
                            rb.lines.push(Line::Text(t));
                        }
                    } else {
                        text.push(' ');
                    }
                }
                Event::Start(Tag::List(_)) => {
                    if let Some(task) = item_task.last().copied()
                        && !text.trim().is_empty()
                    {
                        flush_item(&mut rb, &mut text, task, depth, &section);
                        if let Some(t) = item_task.last_mut() {
                            *t = false;
                        }
                    }
                    depth += 1;
                }
                Event::End(TagEnd::List(_)) => depth = depth.saturating_sub(1),
                Event::Start(Tag::Item) => {
                    item_task.push(false);
                    text.clear();
                }
                Event::TaskListMarker(_) => {
                    if let Some(t) = item_task.last_mut() {
                        *t = true;
                    }
                }
                Event::End(TagEnd::Item) => {
                    let task = item_task.pop().unwrap_or(false);
                    flush_item(&mut rb, &mut text, task, depth, &section);
                }
                Event::Start(Tag::CodeBlock(kind)) => {
                    let secret = matches!(&kind, CodeBlockKind::Fenced(info) if info.split_whitespace().next() == Some("secret"));
                    code = Some(secret);
                    text.clear();
                }
                Event::End(TagEnd::CodeBlock) => {
                    let body = std::mem::take(&mut text);
                    let body = body.trim_end_matches('\n');
                    if code.take() == Some(true) {
                        rb.secrets.push(SecretBlock {
                            lines: body.lines().count().max(1),
                            text: SecretString::from(body.to_string()),
                            section: section.clone(),
                            for_step: None,
                        });
                        rb.lines.push(Line::Secret(rb.secrets.len() - 1));
                    } else {
                        for l in body.lines() {
                            rb.lines.push(Line::Code(l.to_string()));
                        }
                    }
                }
                Event::Start(Tag::BlockQuote(_)) => quote += 1,
                Event::End(TagEnd::BlockQuote(_)) => quote = quote.saturating_sub(1),
                Event::Text(t) => text.push_str(&t),
                Event::Code(t) => {
                    text.push('`');
                    text.push_str(&t);
                    text.push('`');
                }
                Event::SoftBreak | Event::HardBreak => {
                    if code.is_some() {
                        text.push('\n');
                    } else {
                        text.push(' ');
                    }
                }
                Event::Rule => rb.lines.push(Line::Rule),
                _ => {}
            }
        }
        // Each secret serves the first step after it (or, at the end, the last step before it).
        let mut last_step = None;
        let mut waiting: Vec<usize> = vec![];
        for l in &rb.lines {
            match l {
                Line::Step(i) => {
                    for w in waiting.drain(..) {
                        rb.secrets[w].for_step = Some(*i);
                    }
                    last_step = Some(*i);
                }
                Line::Secret(i) => waiting.push(*i),
                _ => {}
            }
        }
        for w in waiting {
            rb.secrets[w].for_step = last_step;
        }
        rb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const MD: &str = "# Recover root\n\nIntro text.\n\n## Sign in\n\n- [ ] Open the safe\n- [ ] Sign in as root\n  with `aws`\n- a plain bullet\n\n```sh\naws sts get-caller-identity\n```\n\n```secret\nhunter2\n```\n";

    #[test]
    fn steps_code_and_secrets_are_found() {
        let rb = Runbook::parse(MD);
        assert_eq!(rb.title, "Recover root");
        assert_eq!(rb.steps.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["Open the safe", "Sign in as root with `aws`"]);
        assert_eq!(rb.steps[0].section, "Sign in");
        assert_eq!(rb.secrets.len(), 1);
        assert_eq!(rb.secrets[0].text.expose_secret(), "hunter2");
        assert!(rb.lines.contains(&Line::Code("aws sts get-caller-identity".into())));
        assert!(rb.lines.contains(&Line::Bullet { depth: 0, text: "a plain bullet".into() }));
    }

    #[test]
    fn debug_never_shows_a_secret_or_the_text() {
        let rb = Runbook::parse(MD);
        let d = format!("{rb:?}");
        assert!(!d.contains("hunter2") && !d.contains("Open the safe") && !d.contains("aws sts"), "{d}");
    }

    #[test]
    fn the_demo_runbook_has_steps_and_secrets() {
        let rb = Runbook::parse(include_str!("../../assets/demo/runbook.md"));
        assert!(rb.steps.len() >= 8, "{}", rb.steps.len());
        assert!(!rb.secrets.is_empty());
    }
}
