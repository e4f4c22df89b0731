//! The session journal: one JSON object per line, hash-chained, fsynced before the step it records.
//!
//! Each line is `{"seq":N,"ts":"...","mono_ms":N,"kind":"...","prev":"hex",...}` where `prev` is the
//! SHA-256 of the previous line's exact bytes (64 zeros for seq 0). The writer appends the line and
//! syncs it to disk before returning, so a step never takes effect before it is recorded. The
//! reader checks the chain and reports the first problem by line number.

mod entry;
pub use entry::*;

use crate::core::evidence::Rule;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The file name of the journal inside a session bundle.
pub(crate) const FILE_NAME: &str = "journal.jsonl";
/// `prev` of the first line.
#[cfg(test)]
pub(crate) const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where journal lines go. The file store fsyncs each line; tests may keep lines in memory.
pub trait JournalStore: Send {
    /// Appends one complete line (without its newline) durably.
    fn append_line(&mut self, line: &[u8]) -> std::io::Result<()>;
}

/// Appends lines to `journal.jsonl` and fsyncs each one.
pub(crate) struct FileStore {
    file: File,
}

impl FileStore {
    /// Creates a new journal file; refuses to overwrite an existing one.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new().create_new(true).append(true).mode(0o600).open(path)?;
        // Make the new directory entry durable too.
        if let Some(dir) = path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(Self { file })
    }

    /// Opens an existing journal to continue its chain. Refuses a symlink.
    pub(crate) fn open_append(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new().append(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(path)?;
        Ok(Self { file })
    }

    /// Cuts the file to `keep` bytes (the intact lines; a partial last line left by a crash goes).
    pub fn truncate(&mut self, keep: u64) -> std::io::Result<()> {
        if self.file.metadata()?.len() != keep {
            self.file.set_len(keep)?;
            self.file.sync_all()?;
        }
        Ok(())
    }
}

impl JournalStore for FileStore {
    fn append_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let before = self.file.metadata()?.len();
        if let Err(e) = self.file.write_all(&buf).and_then(|()| self.file.sync_data()) {
            // A disk that filled up (or a file-size limit) may have taken half the line: cut it
            // off again so the journal stays whole lines (best effort; recovery cuts it otherwise).
            let _ = self.file.set_len(before).and_then(|()| self.file.sync_all());
            return Err(explain_write_error(e));
        }
        Ok(())
    }
}

/// Why a disk refused a write, in the custodians' words (`None`: not a refusal of room or rights).
fn refusal(e: &std::io::Error) -> Option<&'static str> {
    use rustix::io::Errno;
    Some(match Errno::from_raw_os_error(e.raw_os_error()?) {
        Errno::NOSPC => "the disk is full",
        Errno::DQUOT => "the disk quota is used up",
        Errno::FBIG => "the file-size limit (ulimit -f) was reached",
        Errno::ROFS => "the file system is read-only",
        _ => return None,
    })
}

/// A failed write in the custodians' words, for a message: "the disk is full (No space left ...)".
pub(crate) fn storage_cause(e: &std::io::Error) -> String {
    match refusal(e) {
        Some(why) => format!("{why} ({e})"),
        None => e.to_string(),
    }
}

/// Names the ways a disk refuses a write in the custodians' words.
fn explain_write_error(e: std::io::Error) -> std::io::Error {
    match refusal(&e) {
        Some(_) => std::io::Error::new(e.kind(), storage_cause(&e)),
        None => e,
    }
}

/// Keeps lines in memory (tests, benchmarks).
#[derive(Default)]
pub struct MemoryStore {
    pub bytes: Vec<u8>,
}

impl JournalStore for MemoryStore {
    fn append_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.bytes.extend_from_slice(line);
        self.bytes.push(b'\n');
        Ok(())
    }
}

/// What was written: the entry's number, kind, time and the chain head after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub seq: u64,
    pub kind: String,
    pub ts: String,
    /// SHA-256 of the line just written: the chain head.
    pub head: [u8; 32],
}

/// Builds and appends chained lines.
pub struct Journal<S: JournalStore> {
    store: S,
    seq: u64,
    prev: [u8; 32],
    started: bool,
}

impl<S: JournalStore> Journal<S> {
    pub fn new(store: S) -> Self {
        Self { store, seq: 0, prev: [0; 32], started: false }
    }

    /// Continues an existing chain: the next line gets `next_seq` and `prev` = `head`.
    pub fn resume(store: S, next_seq: u64, head: [u8; 32]) -> Self {
        Self { store, seq: next_seq, prev: head, started: next_seq > 0 }
    }

    /// The SHA-256 of the last line written (all zeros before the first).
    pub fn head(&self) -> [u8; 32] {
        self.prev
    }

    /// Number of lines written.
    pub fn len(&self) -> u64 {
        if self.started { self.seq } else { 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Appends an entry with its labels and makes it durable.
    pub fn append(&mut self, ts: &str, mono_ms: u64, labels: Labels, entry: &Entry) -> std::io::Result<Written> {
        self.append_fields(ts, mono_ms, entry.kind(), &entry.fields(labels))
    }

    /// Appends a line of any kind and fields (tests and benchmarks write lines the ceremony never
    /// writes). `fields` follow the header keys in sorted order; header keys among them are refused.
    pub fn append_fields(&mut self, ts: &str, mono_ms: u64, kind: &str, fields: &Map<String, Value>) -> std::io::Result<Written> {
        let seq = if self.started { self.seq } else { 0 };
        let line = render_line(seq, ts, mono_ms, kind, &self.prev, fields)?;
        self.store.append_line(line.as_bytes())?;
        let head: [u8; 32] = Sha256::digest(line.as_bytes()).into();
        self.prev = head;
        self.seq = seq + 1;
        self.started = true;
        Ok(Written { seq, kind: kind.to_string(), ts: ts.to_string(), head })
    }
}

const HEADER_KEYS: [&str; 5] = ["seq", "ts", "mono_ms", "kind", "prev"];

/// A line as written: the header in its fixed order, then the fields.
#[derive(Serialize)]
struct OutLine<'a> {
    seq: u64,
    ts: &'a str,
    mono_ms: u64,
    kind: &'a str,
    prev: &'a str,
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
}

fn render_line(seq: u64, ts: &str, mono_ms: u64, kind: &str, prev: &[u8; 32], fields: &Map<String, Value>) -> std::io::Result<String> {
    if let Some(k) = fields.keys().find(|k| HEADER_KEYS.contains(&k.as_str())) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("journal field `{k}` is reserved")));
    }
    let prev = hex::encode(prev);
    serde_json::to_string(&OutLine { seq, ts, mono_ms, kind, prev: &prev, fields }).map_err(std::io::Error::other)
}

/// The fixed header of a journal line, parsed without copying.
#[derive(Debug, Deserialize)]
pub(crate) struct Header<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub ts: &'a str,
    pub mono_ms: u64,
    // Required (a line without them is not a journal line), though the seed of a part reads
    // only the fields above.
    #[serde(borrow)]
    #[expect(dead_code, reason = "parsed to be required, not read")]
    pub kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    #[expect(dead_code, reason = "parsed to be required, not read")]
    pub prev: &'a str,
}

/// The fields every reader of the chain reads from every line, with their types: the header
/// (`seq`, `ts`, `mono_ms`, `kind`, `prev`, all required) and the small fields of the common kinds
/// (steps, notes, reveals, closing items). The chain check and verify parse each line with this one
/// struct, so a field of the wrong type breaks the chain for both alike (the fuzzer found a
/// `"step":"incident"` that one reader skipped and the other refused).
#[derive(Debug, Deserialize)]
pub struct Line<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub ts: std::borrow::Cow<'a, str>,
    pub mono_ms: u64,
    #[serde(borrow)]
    pub kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub prev: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    pub mode: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub demo: Option<bool>,
    #[serde(default)]
    pub step: Option<u64>,
    #[serde(default)]
    pub of: Option<u64>,
    #[serde(default, borrow)]
    pub text: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub secret: Option<u64>,
    #[serde(default)]
    pub for_step: Option<u64>,
    #[serde(default)]
    pub item: Option<u64>,
}

/// One problem found in a bundle: the 1-based journal line (0 for the bundle as a whole), its
/// kind, the evidence rule it breaks, and words for people. The verdict is computed from kinds, never from the words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: usize,
    pub kind: ProblemKind,
    /// The rule of docs/evidence-model.md it breaks.
    pub rule: Rule,
    pub what: String,
}

impl Problem {
    pub fn new(line: usize, rule: Rule, kind: ProblemKind, what: impl Into<String>) -> Self {
        Self { line, kind, rule, what: what.into() }
    }
}

/// What kind of problem a bundle has. Only [`ProblemKind::Interrupted`] leaves a bundle
/// *incomplete*; every other kind makes it *invalid*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The process stopped: an empty journal, a partial last line, a bundle not yet written.
    Interrupted,
    /// The hash chain, a sequence number or the order of times is broken.
    Chain,
    /// An entry is not readable, or a required entry is missing or out of place.
    Entry,
    /// The mode or DEMO label differs within the session, or from the roster it is checked against.
    Label,
    /// A signature (in an entry, or over the journal) does not verify.
    Signature,
    /// A signer who is not a custodian of the session's roster, twice the same custodian, or a
    /// co-signer who never checked in.
    Signer,
    /// The session's roster is not trusted, or is not the trusted roster or a version in its chain.
    Roster,
    /// A signed statement is not in its exact format, or names another session.
    Statement,
    /// A bundle file that is not a regular file, or is too large to be what it claims.
    File,
}

/// The outcome of reading a journal's chain.
#[derive(Debug, Default)]
pub struct ChainReport {
    /// Complete, well-formed, correctly chained lines (each with its 1-based number).
    pub entries: usize,
    /// SHA-256 of the last good line.
    pub head: [u8; 32],
    /// The file ends with a partial line (the process stopped mid-write): incomplete, not tampered.
    pub truncated_tail: bool,
    pub problems: Vec<Problem>,
}

/// Checks the chain of a whole journal file's bytes.
///
/// Every line must parse, carry `seq` = its index, `prev` = SHA-256 of the previous line, and
/// times that never go backwards. A final line without a newline is reported as a partial write.
pub fn check_chain(bytes: &[u8]) -> ChainReport {
    let mut report = ChainReport::default();
    let mut prev = [0u8; 32];
    let mut last_mono = 0u64;
    let mut last_ts: &str = "";
    let mut rest = bytes;
    let mut n = 0usize;
    while !rest.is_empty() {
        let (line, tail, complete) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..], true),
            None => (rest, &rest[rest.len()..], false),
        };
        rest = tail;
        n += 1;
        if !complete {
            report.truncated_tail = true;
            report.problems.push(Problem::new(
                n,
                Rule::E7,
                ProblemKind::Interrupted,
                "partial last line (the writer stopped mid-line); everything before it is intact",
            ));
            break;
        }
        let what = check_line(line, n, &prev, &mut last_mono, &mut last_ts);
        if let Some(what) = what {
            report.problems.push(Problem::new(n, Rule::E6, ProblemKind::Chain, what));
            // The chain is broken from here on; further lines cannot be trusted.
            break;
        }
        prev = Sha256::digest(line).into();
        report.entries += 1;
    }
    if n == 0 {
        report.problems.push(Problem::new(
            0,
            Rule::E7,
            ProblemKind::Interrupted,
            "the journal is empty (the process stopped right after creating it)",
        ));
    }
    report.head = prev;
    report
}

fn check_line<'a>(line: &'a [u8], n: usize, prev: &[u8; 32], last_mono: &mut u64, last_ts: &mut &'a str) -> Option<String> {
    let h: Line<'a> = match serde_json::from_slice(line) {
        Ok(h) => h,
        Err(e) => return Some(format!("not a journal entry ({e})")),
    };
    if let Err(e) = strict_line(line) {
        return Some(format!("not a journal entry ({e})"));
    }
    let std::borrow::Cow::Borrowed(ts) = h.ts else { return Some("ts holds escape sequences".into()) };
    check_link(h.seq, ts, h.mono_ms, &h.prev, n, prev, last_mono, last_ts)
}

/// The whole line is UTF-8, every string in it valid Unicode, and no object in it (at any depth)
/// names a key twice. A reader does not decode the fields it skips, so bytes that are not UTF-8
/// (or a `\u` escape naming half a surrogate pair) in such a field would pass one reader and fail
/// another; and parsers differ in which of two equal keys they keep, so a duplicate key is an
/// ambiguity a forger can use. The fuzzer found both. Every reader of the chain asks this, so they
/// agree on every line.
///
/// For a line serde_json has already parsed (every reader parses it first): its syntax is not
/// checked again. A byte scan finds the keys of each object; a line with a `\u` escape or a key
/// holding any escape goes through [`strict_line_parsed`], the full serde pass, which is the
/// reference (the fuzz target compares both). The scan costs a few ms per 100,000 entries, the full
/// pass about 20.
pub fn strict_line(line: &[u8]) -> Result<(), String> {
    if let Err(e) = std::str::from_utf8(line) {
        return Err(format!("not UTF-8 at byte {}", e.valid_up_to()));
    }
    match distinct_keys(line) {
        Some(r) => r,
        None => strict_line_parsed(line),
    }
}

/// [`strict_line`] by a full serde pass that decodes every string and keeps each object's keys.
pub fn strict_line_parsed(line: &[u8]) -> Result<(), String> {
    if let Err(e) = std::str::from_utf8(line) {
        return Err(format!("not UTF-8 at byte {}", e.valid_up_to()));
    }
    let mut de = serde_json::Deserializer::from_slice(line);
    serde::Deserialize::deserialize(&mut de).map(|Strict| ()).map_err(|e: serde_json::Error| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

/// The most keys one object of a journal line may hold (an entry has a few dozen at most): a
/// planted line with hundreds of thousands of keys is refused, naming this limit.
pub const MAX_KEYS_PER_OBJECT: usize = 256;

fn too_many_keys() -> String {
    format!("an object with more than {MAX_KEYS_PER_OBJECT} keys (the journal's limit per object; an entry has a few dozen)")
}

fn duplicate_message(k: &[u8]) -> String {
    format!("the key `{}` appears twice in one object", String::from_utf8_lossy(k))
}

/// The byte scan of [`strict_line`] over syntactically valid JSON: `None` when a key holds an
/// escape (raw bytes would not compare decoded keys), a string holds a `\u` escape, or the line
/// looks malformed.
fn distinct_keys(line: &[u8]) -> Option<Result<(), String>> {
    // The keys of every open object, in one list; `starts` marks where each object's keys begin.
    // On the stack: a journal entry has a few dozen keys at most, nested two deep; a line with
    // more goes to the full pass.
    let mut keys: [&[u8]; 64] = [&[]; 64];
    let mut nkeys = 0;
    let mut starts = [0usize; 8];
    let mut depth = 0;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'{' => {
                *starts.get_mut(depth)? = nkeys;
                depth += 1;
            }
            b'}' => {
                depth = depth.checked_sub(1)?;
                nkeys = starts[depth];
            }
            b'"' => {
                // A string: find its closing quote, stepping over escapes.
                let start = i + 1;
                let mut escaped = false;
                i = start;
                loop {
                    i += memchr::memchr2(b'"', b'\\', line.get(i..)?)?;
                    if line[i] == b'"' {
                        break;
                    }
                    // A `\u` escape may name half a surrogate pair: the full pass decides.
                    if line.get(i + 1) == Some(&b'u') {
                        return None;
                    }
                    escaped = true;
                    i += 2;
                }
                let s = &line[start..i];
                let mut k = i + 1;
                while line.get(k).is_some_and(u8::is_ascii_whitespace) {
                    k += 1;
                }
                if line.get(k) == Some(&b':') {
                    if escaped {
                        return None;
                    }
                    let from = starts[depth.checked_sub(1)?];
                    if keys[from..nkeys].contains(&s) {
                        return Some(Err(duplicate_message(s)));
                    }
                    *keys.get_mut(nkeys)? = s;
                    nkeys += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (depth == 0).then_some(Ok(()))
}

/// Any JSON value, checked by [`strict_line`]: strings decoded, keys of each object distinct.
struct Strict;

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

/// An object key, borrowed from the line unless it holds an escape.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        // Keys seen so far: the first 32 borrowed ones on the stack (a journal entry has fewer),
        // the rest, and any with an escape, in a set (linear in the line, whatever it holds), at
        // most MAX_KEYS_PER_OBJECT in all.
        let mut near: [&'de str; 32] = [""; 32];
        let mut n = 0;
        let mut far: std::collections::HashSet<std::borrow::Cow<'de, str>> = std::collections::HashSet::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if near[..n].contains(&&*k) || far.contains(&k) {
                return Err(serde::de::Error::custom(duplicate_message(k.as_bytes())));
            }
            if n + far.len() >= MAX_KEYS_PER_OBJECT {
                return Err(serde::de::Error::custom(too_many_keys()));
            }
            map.next_value::<Strict>()?;
            match k {
                std::borrow::Cow::Borrowed(b) if n < near.len() => {
                    near[n] = b;
                    n += 1;
                }
                other => {
                    far.insert(other);
                }
            }
        }
        Ok(Strict)
    }
}

/// The rule for one line of the chain (1-based `n`), given the SHA-256 of the line before it
/// and the times so far: `seq` is its index, `prev` that hash, times never go backwards. The one
/// place this rule lives; `check_chain` and verify's parallel reader both use it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_link<'a>(
    seq: u64,
    ts: &'a str,
    mono_ms: u64,
    prev_field: &str,
    n: usize,
    prev: &[u8; 32],
    last_mono: &mut u64,
    last_ts: &mut &'a str,
) -> Option<String> {
    if seq != (n - 1) as u64 {
        return Some(format!("seq is {seq} where {} was expected (a line was removed, added or reordered)", n - 1));
    }
    let mut want = [0u8; 64];
    hex::encode_to_slice(prev, &mut want).ok()?;
    if prev_field.as_bytes() != want {
        return Some(if n == 1 {
            "prev of the first entry is not 64 zeros".to_string()
        } else {
            format!("prev does not match the SHA-256 of line {} (that line, or this one, was changed)", n - 1)
        });
    }
    if !valid_ts(ts) {
        return Some(format!("ts `{ts}` is not RFC 3339 UTC with milliseconds"));
    }
    if ts < *last_ts {
        return Some(format!("ts {ts} is earlier than the entry before it"));
    }
    if mono_ms < *last_mono {
        return Some("mono_ms goes backwards".to_string());
    }
    *last_mono = mono_ms;
    *last_ts = ts;
    None
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, checked by shape (cheap) and by chrono.
/// Checked by shape and field ranges (cheap: it runs for every line); only days past the 28th,
/// which some months lack, go through chrono.
fn valid_ts(ts: &str) -> bool {
    let b = ts.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'.' || b[23] != b'Z' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let (Some(_), Some(mo), Some(d), Some(h), Some(mi), Some(s), Some(_)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19), num(20..23))
    else {
        return false;
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return false;
    }
    d <= 28 || chrono::DateTime::parse_from_rfc3339(ts).is_ok()
}

/// Splits a journal into its complete lines (without newlines).
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&c| c == b'\n').filter(|l| !l.is_empty())
}

/// What a journal says happened, as far as a recovery needs it. The journal's word only: whoever
/// could write the file chose it, so a recovery always releases root whatever it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Happened {
    /// "root in use" went out, or may have (it was being sent, or a notice line does not read).
    pub announced: bool,
    /// `session.closed` or `session.aborted`.
    pub closed: bool,
    /// `session.closed`.
    pub closed_normally: bool,
    /// "root released" (or the abort's release) went out, or was acknowledged as not delivered.
    pub released: bool,
    pub anyone_checked_in: bool,
    /// Notices being sent when it stopped (`notice.sending` with no outcome after it), by phase.
    pub unsure: Vec<String>,
    /// Runbook steps ticked at the end (a step ticked, then unticked, does not count).
    pub steps_done: u64,
}

/// Reads `lines` (whole journal lines, in order) into what happened.
pub fn happened(lines: &[&[u8]]) -> Happened {
    let mut h = Happened::default();
    let mut steps = std::collections::BTreeMap::new();
    for l in lines {
        let Ok(c) = serde_json::from_slice::<Line<'_>>(l) else { continue };
        match c.kind.as_ref() {
            kind::StepDone | kind::StepUndone => {
                if let Some(n) = c.step {
                    steps.insert(n, c.kind == kind::StepDone);
                }
            }
            kind::SessionClosed => (h.closed, h.closed_normally) = (true, true),
            kind::SessionAborted => h.closed = true,
            kind::CustodianVerified => h.anyone_checked_in = true,
            kind::NoticeSending | kind::NoticeFailed | kind::NoticeSent | kind::NoticeAcknowledged => notice_line(&mut h, l),
            _ => {}
        }
    }
    h.steps_done = steps.values().filter(|d| **d).count() as u64;
    h
}

/// One notice line: about to go out (unsure until its outcome), failed, sent or acknowledged.
fn notice_line(h: &mut Happened, l: &[u8]) {
    match serde_json::from_slice::<Entry>(l) {
        Ok(Entry::NoticeSending { phase, .. }) => {
            // Root may have been announced: "root released" then goes out (the safe side).
            h.announced |= phase == "in_use";
            h.unsure.retain(|p| *p != phase);
            h.unsure.push(phase);
        }
        Ok(Entry::NoticeFailed { phase, .. }) => h.unsure.retain(|p| *p != phase),
        Ok(Entry::NoticeSent { phase, .. } | Entry::NoticeAcknowledged { phase, .. }) => {
            h.unsure.retain(|p| *p != phase);
            h.announced |= phase == "in_use";
            h.released |= phase == "released" || phase == "aborted";
        }
        // A notice line that does not read: the team may have been told that root is in use, so
        // "root released" goes out (the safe side). (A failure that does not read changes nothing.)
        Ok(_) => {}
        Err(_) => {
            if serde_json::from_slice::<Line<'_>>(l).is_ok_and(|c| c.kind != kind::NoticeFailed && c.kind != kind::NoticeSending) {
                h.announced = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn sample(n: usize) -> Vec<u8> {
        let mut j = Journal::new(MemoryStore::default());
        for i in 0..n {
            let ts = format!("2026-11-25T03:00:{:02}.000Z", i % 60);
            j.append_fields(&ts, i as u64 * 10, "note", &obj(json!({"text": format!("entry {i}")}))).unwrap();
        }
        j.store().bytes.clone()
    }

    /// What a recovery reads from a journal: a notice under way is unsure until its outcome; a
    /// release that went out counts; a step ticked then unticked does not; a notice line that does
    /// not read counts as "root in use" (the safe side).
    #[test]
    fn happened_reads_notices_steps_and_the_end() {
        let mut j = Journal::new(MemoryStore::default());
        let mut add = |kind: &str, fields: Value| j.append_fields("2026-11-25T03:00:00.000Z", 0, kind, &obj(fields)).unwrap();
        add("custodian.verified", json!({}));
        add("notice.sending", json!({"phase": "in_use", "key": "s:in_use"}));
        add("notice.sent", json!({"phase": "in_use", "channel": "outbox", "message_id": "m"}));
        add("step.done", json!({"step": 1}));
        add("step.done", json!({"step": 2}));
        add("step.undone", json!({"step": 2}));
        add("session.aborted", json!({}));
        add("notice.sending", json!({"phase": "aborted", "key": "s:aborted"}));
        let bytes = j.store().bytes.clone();
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let h = happened(&lines);
        assert_eq!(
            h,
            Happened {
                announced: true,
                closed: true,
                closed_normally: false,
                released: false,
                anyone_checked_in: true,
                unsure: vec!["aborted".into()],
                steps_done: 1
            }
        );
        let garbled: &[u8] = br#"{"seq":0,"ts":"2026-11-25T03:00:00.000Z","mono_ms":0,"kind":"notice.sent","prev":"00","phase":7}"#;
        assert!(happened(&[garbled]).announced, "an unreadable notice line counts as root in use");
        assert_eq!(happened(&[]), Happened::default());
    }

    #[test]
    fn a_fresh_chain_checks() {
        let r = check_chain(&sample(5));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.entries, 5);
    }

    /// A planted line with hundreds of thousands of distinct keys (it hung every reader for
    /// minutes: the duplicate check was quadratic) is refused by the limit, naming it; a line at
    /// the limit still reads.
    #[test]
    fn a_line_with_more_keys_than_the_limit_is_refused() {
        let line = |n: usize| {
            let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":1")).collect();
            format!("{{{}}}", keys.join(","))
        };
        assert_eq!(strict_line(line(MAX_KEYS_PER_OBJECT).as_bytes()), Ok(()));
        let e = strict_line(line(300_000).as_bytes()).unwrap_err();
        assert!(e.contains(&MAX_KEYS_PER_OBJECT.to_string()), "{e}");
        let r = check_chain(format!("{}\n", line(300_000)).as_bytes());
        assert_eq!((r.entries, r.problems[0].kind), (0, ProblemKind::Chain));
    }

    #[test]
    fn a_key_written_twice_breaks_the_chain_at_any_depth() {
        let good = String::from_utf8(sample(2)).unwrap();
        let first = good.lines().next().unwrap();
        // Same key twice at the top, inside a nested object, and once through an escape.
        for twice in [
            first.replacen("\"kind\":\"note\"", "\"kind\":\"note\",\"text\":\"x\"", 1),
            first.replacen("\"kind\":\"note\"", "\"kind\":\"note\",\"a\":{\"b\":1,\"b\":2}", 1),
            first.replacen("\"kind\":\"note\"", "\"kind\":\"note\",\"te\\u0078t\":\"y\"", 1),
        ] {
            assert!(strict_line(twice.as_bytes()).unwrap_err().contains("twice"), "{twice}");
            let r = check_chain(format!("{twice}\n").as_bytes());
            assert_eq!((r.entries, r.problems[0].kind), (0, ProblemKind::Chain), "{twice}");
        }
        // The same key in two sibling objects, and in an array of objects, is not a duplicate.
        let siblings = first.replacen("\"kind\":\"note\"", "\"kind\":\"note\",\"a\":[{\"b\":1},{\"b\":2}],\"c\":{\"b\":3}", 1);
        assert_eq!(strict_line(siblings.as_bytes()), Ok(()));
        assert!(strict_line_parsed(b"{\"a\":1} trailing").is_err());
        // The byte scan and the full pass give the same verdict.
        for l in [siblings.as_str(), first, "{\"a\":\"}\\\"{\",\"b\":{\"a\":1},\"a\":2}", "{\"a\" : 1, \"a\":2}"] {
            assert_eq!(strict_line(l.as_bytes()).is_ok(), strict_line_parsed(l.as_bytes()).is_ok(), "{l}");
        }
    }

    #[test]
    fn first_line_has_zero_prev_and_fixed_key_order() {
        let b = sample(1);
        let s = String::from_utf8(b).unwrap();
        assert!(s.starts_with(&format!(
            "{{\"seq\":0,\"ts\":\"2026-11-25T03:00:00.000Z\",\"mono_ms\":0,\"kind\":\"note\",\"prev\":\"{GENESIS_PREV}\""
        )));
    }

    #[test]
    fn reserved_keys_are_refused() {
        let mut j = Journal::new(MemoryStore::default());
        assert!(j.append_fields("2026-11-25T03:00:00.000Z", 0, "note", &obj(json!({"seq": 3}))).is_err());
    }

    #[test]
    fn timestamps_are_checked_by_shape_and_calendar() {
        for ok in ["2026-11-25T03:00:00.000Z", "2028-02-29T23:59:59.999Z", "2026-12-31T00:00:00.000Z"] {
            assert!(valid_ts(ok), "{ok}");
        }
        for bad in [
            "2026-02-30T03:00:00.000Z",
            "2026-13-01T03:00:00.000Z",
            "2026-11-25T24:00:00.000Z",
            "2026-11-25 03:00:00.000Z",
            "2026-1a-25T03:00:00.000Z",
            "2026-11-25T03:00:00.000+",
        ] {
            assert!(!valid_ts(bad), "{bad}");
        }
    }

    #[test]
    fn partial_last_line_is_incomplete_not_tampered() {
        let mut b = sample(3);
        b.extend_from_slice(b"{\"seq\":3,\"ts\":\"2026");
        let r = check_chain(&b);
        assert!(r.truncated_tail);
        assert_eq!(r.entries, 3);
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].line, 4);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn any_changed_byte_is_caught(idx in 0usize..10_000, bit in 0u8..8) {
                let b = sample(6);
                let body_len = b.len() - 1; // never the final newline
                let i = idx % body_len;
                let mut t = b.clone();
                t[i] ^= 1 << bit;
                // A changed byte in the last line does not break the chain (only the signatures
                // catch that); every other change must.
                let last_start = b[..body_len].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
                let r = check_chain(&t);
                if i < last_start {
                    prop_assert!(!r.problems.is_empty(), "flip at {} of {} not caught", i, b.len());
                } else {
                    // The last line's bytes are the head: a change there moves the head that
                    // both signatures cover (unless it already breaks the line).
                    prop_assert!(!r.problems.is_empty() || r.head != check_chain(&b).head, "flip at {} changed nothing", i);
                }
            }

            #[test]
            fn removed_duplicated_or_swapped_lines_are_caught(a in 0usize..6, b in 0usize..6, op in 0u8..3) {
                let bytes = sample(6);
                let mut ls: Vec<&[u8]> = lines(&bytes).collect();
                match op {
                    0 => { ls.remove(a); }
                    1 => { let l = ls[a]; ls.insert(a, l); }
                    _ => { prop_assume!(a != b); ls.swap(a, b); }
                }
                let mut t = Vec::new();
                for l in &ls { t.extend_from_slice(l); t.push(b'\n'); }
                let r = check_chain(&t);
                // Removing the last line leaves a shorter valid chain: the signatures catch that.
                if op == 0 && a == 5 {
                    prop_assert_eq!(r.entries, 5);
                } else {
                    prop_assert!(!r.problems.is_empty());
                }
            }
        }
    }
}
