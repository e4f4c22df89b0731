//! The runbook: Markdown whose `- [ ]` items are the steps the ceremony checks off.
//!
//! Fenced blocks with the info string `secret` hold secrets: they are kept in `secrecy` types and
//! masked on screen until revealed. The parsed runbook lives only in memory; nothing of its text
//! is ever written to the journal (steps are journalled by number).

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use secrecy::{ExposeSecret, SecretString};

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
    /// `name=` in its info string: how sessions and `audit` name it (else `secret-N`).
    pub name: Option<String>,
    /// How it is rotated (`rotate=` in its info string).
    pub rotate: Rotate,
    /// Where the whole fenced block stands in the Markdown (to write a new value in its place).
    span: std::ops::Range<usize>,
}

impl std::fmt::Debug for SecretBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBlock([REDACTED], {} lines, for step {:?}, {:?})", self.lines, self.for_step, self.rotate)
    }
}

impl SecretBlock {
    /// Its name in the journal and in `audit`: `name=` if given, else `secret-N` (N from 1).
    pub fn id(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| format!("secret-{}", index + 1))
    }
}

/// How a secret is rotated at the close, from the attributes of its info string:
/// `rotate=generate` (the default; `length=` 8 to 128, default 32; `alphabet=aws|alnum|digits|hex`,
/// default `aws`), `rotate=typed` (typed twice by the custodians), `rotate=out-of-band` (someone
/// else changes it, such as an AWS Support PIN: the custodians record on their keys that it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotate {
    Generate { length: usize, alphabet: Alphabet },
    Typed,
    OutOfBand,
}

impl Default for Rotate {
    fn default() -> Self {
        Rotate::Generate { length: 32, alphabet: Alphabet::Aws }
    }
}

/// The characters a generated value is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// Upper and lower case letters, digits and the symbols AWS accepts in a root password; at
    /// least one of each class.
    Aws,
    Alnum,
    Digits,
    Hex,
}

impl Alphabet {
    fn classes(self) -> &'static [&'static [u8]] {
        const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
        const DIGIT: &[u8] = b"23456789";
        const SYMBOL: &[u8] = b"!@#$%^&*()_+-=[]{}|";
        match self {
            Alphabet::Aws => &[UPPER, LOWER, DIGIT, SYMBOL],
            Alphabet::Alnum => &[UPPER, LOWER, DIGIT],
            Alphabet::Digits => &[b"0123456789"],
            Alphabet::Hex => &[b"0123456789abcdef"],
        }
    }
}

/// Reads a secret block's info string (`secret name=root-password rotate=generate length=40`).
/// Unknown attributes and bad values fall back to the defaults: a runbook always opens.
fn attributes(info: &str) -> (Option<String>, Rotate) {
    let mut name = None;
    let (mut kind, mut length, mut alphabet) = ("generate", 32usize, Alphabet::Aws);
    for a in info.split_whitespace().skip(1) {
        match a.split_once('=') {
            Some(("name", v))
                if !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                name = Some(v.to_string())
            }
            Some(("rotate", v @ ("generate" | "typed" | "out-of-band"))) => kind = v,
            Some(("length", v)) => length = v.parse::<usize>().map_or(length, |n| n.clamp(8, 128)),
            Some(("alphabet", v)) => {
                alphabet = match v {
                    "alnum" => Alphabet::Alnum,
                    "digits" => Alphabet::Digits,
                    "hex" => Alphabet::Hex,
                    _ => Alphabet::Aws,
                }
            }
            _ => {}
        }
    }
    let rotate = match kind {
        "typed" => Rotate::Typed,
        "out-of-band" => Rotate::OutOfBand,
        _ => Rotate::Generate { length, alphabet },
    };
    (name, rotate)
}

/// A new value for a `rotate=generate` secret: `length` characters drawn uniformly from the
/// alphabet, with at least one of each of its classes (AWS's rule for a root password).
pub fn generate(length: usize, alphabet: Alphabet, rng: &mut (impl rand::Rng + rand::CryptoRng)) -> SecretString {
    use rand::seq::SliceRandom;
    let classes = alphabet.classes();
    let all: Vec<u8> = classes.iter().flat_map(|c| c.iter().copied()).collect();
    let length = length.max(classes.len());
    let mut out: zeroize::Zeroizing<Vec<u8>> = zeroize::Zeroizing::new(Vec::with_capacity(length));
    for c in classes {
        out.push(c[rng.gen_range(0..c.len())]);
    }
    while out.len() < length {
        out.push(all[rng.gen_range(0..all.len())]);
    }
    out.shuffle(rng);
    SecretString::from(String::from_utf8_lossy(&out).into_owned())
}

/// The runbook `md` with secret `index`'s block holding `value` instead: the opening fence line
/// (with its attributes) and the closing fence are kept, and nothing else changes. The text is
/// zeroized when dropped; `None` when there is no such secret.
pub(crate) fn with_secret(md: &str, rb: &Runbook, index: usize, value: &str) -> Option<zeroize::Zeroizing<String>> {
    let span = rb.secrets.get(index)?.span.clone();
    let block = md.get(span.clone())?;
    let line_start = md[..span.start].rfind('\n').map_or(0, |n| n + 1);
    let lead = &md[line_start..span.start];
    // What opens each line of the block: its container's prefix (`> ` of a quote kept, a list
    // marker turned to spaces).
    let indent: String = lead.chars().map(|c| if c == '>' || c == '\t' { c } else { ' ' }).collect();
    let (open, _) = block.split_once('\n')?;
    let fence: String = open.trim_start().chars().take_while(|c| *c == '`' || *c == '~').collect();
    let mut out = zeroize::Zeroizing::new(String::with_capacity(md.len() + value.len()));
    out.push_str(&md[..span.start]);
    out.push_str(open);
    out.push('\n');
    for l in value.lines() {
        out.push_str(&indent);
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&indent);
    out.push_str(&fence);
    if block.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&md[span.end..]);
    // The result must read back as the same runbook with only this value changed: a value that
    // would close the block early (a fence of its own), or a container it would break, is refused.
    let back = Runbook::parse(&out);
    let same = back.secrets.len() == rb.secrets.len()
        && back.steps == rb.steps
        && back.secrets.get(index).is_some_and(|s| s.text.expose_secret() == value.trim_end_matches('\n'));
    same.then_some(out)
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
        let mut r = Reader::default();
        for (ev, range) in Parser::new_ext(md, Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH).into_offset_iter() {
            r.event(ev, range);
        }
        let mut rb = r.rb;
        link_secrets(&mut rb);
        rb
    }
}

/// Each secret serves the first step after it (or, at the end, the last step before it).
fn link_secrets(rb: &mut Runbook) {
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
}

/// The runbook as the Markdown events come: what is being read (a heading, a list item, a code
/// block) and where in the document.
#[derive(Default)]
struct Reader {
    rb: Runbook,
    text: String,
    heading: Option<u8>,
    /// In a code block: whether it is a secret.
    code: Option<bool>,
    depth: usize,
    /// The open list items: whether each is a task.
    item_task: Vec<bool>,
    quote: usize,
    section: String,
    /// The open code block's info string and its place in the source.
    info: String,
    span: std::ops::Range<usize>,
}

impl Reader {
    fn event(&mut self, ev: Event<'_>, range: std::ops::Range<usize>) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => {
                self.heading = Some(match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    _ => 4,
                });
                self.text.clear();
            }
            Event::End(TagEnd::Heading(_)) => self.heading_end(),
            Event::Start(Tag::Paragraph) if self.item_task.is_empty() => self.text.clear(),
            Event::End(TagEnd::Paragraph) => self.paragraph_end(),
            Event::Start(Tag::List(_)) => {
                if let Some(task) = self.item_task.last().copied()
                    && !self.text.trim().is_empty()
                {
                    self.flush_item(task);
                    if let Some(t) = self.item_task.last_mut() {
                        *t = false;
                    }
                }
                self.depth += 1;
            }
            Event::End(TagEnd::List(_)) => self.depth = self.depth.saturating_sub(1),
            Event::Start(Tag::Item) => {
                self.item_task.push(false);
                self.text.clear();
            }
            Event::TaskListMarker(_) => {
                if let Some(t) = self.item_task.last_mut() {
                    *t = true;
                }
            }
            Event::End(TagEnd::Item) => {
                let task = self.item_task.pop().unwrap_or(false);
                self.flush_item(task);
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let secret = matches!(&kind, CodeBlockKind::Fenced(info) if info.split_whitespace().next() == Some("secret"));
                if let CodeBlockKind::Fenced(i) = &kind {
                    self.info = i.to_string();
                }
                self.span = range;
                self.code = Some(secret);
                self.text.clear();
            }
            Event::End(TagEnd::CodeBlock) => self.code_end(),
            Event::Start(Tag::BlockQuote(_)) => self.quote += 1,
            Event::End(TagEnd::BlockQuote(_)) => self.quote = self.quote.saturating_sub(1),
            Event::Text(t) => self.text.push_str(&t),
            Event::Code(t) => {
                self.text.push('`');
                self.text.push_str(&t);
                self.text.push('`');
            }
            Event::SoftBreak | Event::HardBreak => self.text.push(if self.code.is_some() { '\n' } else { ' ' }),
            Event::Rule => self.rb.lines.push(Line::Rule),
            _ => {}
        }
    }

    fn heading_end(&mut self) {
        let level = self.heading.take().unwrap_or(1);
        let t = self.text.trim().to_string();
        self.text.clear();
        if self.rb.title.is_empty() && level == 1 {
            self.rb.title = t.clone();
        }
        self.section = t.clone();
        if !self.rb.lines.is_empty() {
            self.rb.lines.push(Line::Blank);
        }
        self.rb.lines.push(Line::Heading { level, text: t });
    }

    fn paragraph_end(&mut self) {
        if !self.item_task.is_empty() {
            self.text.push(' ');
            return;
        }
        let t = self.text.trim().to_string();
        self.text.clear();
        self.rb.lines.push(if self.quote > 0 { Line::Quote(t) } else { Line::Text(t) });
    }

    /// A list item read: a step (a task) or a bullet.
    fn flush_item(&mut self, task: bool) {
        let t = self.text.trim().to_string();
        self.text.clear();
        if task {
            self.rb.steps.push(Step { text: t, section: self.section.clone() });
            self.rb.lines.push(Line::Step(self.rb.steps.len() - 1));
        } else if !t.is_empty() {
            self.rb.lines.push(Line::Bullet { depth: self.depth.saturating_sub(1), text: t });
        }
    }

    /// A code block read: a secret (kept as a secret, never as text) or code lines.
    fn code_end(&mut self) {
        let body = std::mem::take(&mut self.text);
        let body = body.trim_end_matches('\n');
        if self.code.take() == Some(true) {
            let (name, rotate) = attributes(&self.info);
            self.rb.secrets.push(SecretBlock {
                name,
                rotate,
                span: self.span.clone(),
                lines: body.lines().count().max(1),
                text: SecretString::from(body.to_string()),
                section: self.section.clone(),
                for_step: None,
            });
            self.rb.lines.push(Line::Secret(self.rb.secrets.len() - 1));
        } else {
            for l in body.lines() {
                self.rb.lines.push(Line::Code(l.to_string()));
            }
        }
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
        assert!(rb.secrets.iter().any(|s| s.rotate == Rotate::OutOfBand));
        assert!(rb.secrets.iter().any(|s| s.name.as_deref() == Some("root-password") && matches!(s.rotate, Rotate::Generate { .. })));
    }

    #[test]
    fn attributes_say_how_a_secret_is_rotated() {
        assert_eq!(attributes("secret"), (None, Rotate::default()));
        assert_eq!(
            attributes("secret name=root-password rotate=generate length=40 alphabet=alnum"),
            (Some("root-password".into()), Rotate::Generate { length: 40, alphabet: Alphabet::Alnum })
        );
        assert_eq!(attributes("secret rotate=out-of-band").1, Rotate::OutOfBand);
        assert_eq!(attributes("secret rotate=typed name=x").1, Rotate::Typed);
        // Out of range or unknown: clamped or the default, never a runbook that does not open.
        assert_eq!(attributes("secret length=3").1, Rotate::Generate { length: 8, alphabet: Alphabet::Aws });
        assert_eq!(attributes("secret rotate=sometimes name=a:b").0, None);
    }

    #[test]
    fn a_generated_value_has_its_length_and_every_class() {
        let mut rng = rand::rngs::OsRng;
        for _ in 0..50 {
            let v = generate(12, Alphabet::Aws, &mut rng);
            let v = v.expose_secret();
            assert_eq!(v.chars().count(), 12);
            for class in Alphabet::Aws.classes() {
                assert!(v.bytes().any(|b| class.contains(&b)), "{v}");
            }
        }
        let d = generate(10, Alphabet::Digits, &mut rng);
        assert!(d.expose_secret().bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn a_new_value_replaces_only_its_own_block() {
        let md = format!("{MD}\n- [ ] Later\n\n  ```secret name=pin\n  1234\n  ```\n\nEnd.\n");
        let rb = Runbook::parse(&md);
        assert_eq!(rb.secrets.len(), 2);
        let new = with_secret(&md, &rb, 0, "s3cret-NEW").unwrap();
        let back = Runbook::parse(&new);
        assert_eq!(back.secrets[0].text.expose_secret(), "s3cret-NEW");
        assert_eq!(back.secrets[1].text.expose_secret(), "1234");
        assert_eq!(back.steps, rb.steps);
        assert!(!new.contains("hunter2"));
        // An indented block (inside a list item) stays one.
        let new = with_secret(&md, &rb, 1, "9876").unwrap();
        let back = Runbook::parse(&new);
        assert_eq!(back.secrets[1].text.expose_secret(), "9876");
        assert_eq!(back.secrets[1].name.as_deref(), Some("pin"));
        assert!(new.ends_with("End.\n") && !new.contains("1234"));
        assert!(with_secret(&md, &rb, 2, "x").is_none());
        // A value that would close its block, or a block inside a quote.
        assert!(with_secret(&md, &rb, 0, "a\n```\nb").is_none());
        let quoted = "# Q\n\n> ```secret name=q\n> old\n> ```\n\n- [ ] step\n";
        let rb = Runbook::parse(quoted);
        assert_eq!(rb.secrets.len(), 1);
        let new = with_secret(quoted, &rb, 0, "new-v").unwrap();
        assert_eq!(Runbook::parse(&new).secrets[0].text.expose_secret(), "new-v");
    }
}
