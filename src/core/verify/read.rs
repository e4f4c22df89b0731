//! Reads the journal once, on both cores: the hash chain (rule E6), the labels (E8, E9), one
//! timeline line per entry, and the few entries the rules read whole.

use super::timeline::{kind_of, small_summary, summary};
use super::{Common, Event};
use crate::core::evidence::Rule;
use crate::core::journal::{self, Entry, Problem, ProblemKind, kind};
use sha2::{Digest, Sha256};

/// The SHA-512 of a whole journal (what each co-signature signs).
pub(super) type Sha512Digest = aws_lc_rs::digest::Digest;

/// SHA-512 with aws-lc's assembly (the co-signatures' hash of a whole journal runs beside the
/// parse; the `sha2` crate's is about half as fast on a 27 MB journal).
fn sha512(bytes: &[u8]) -> Sha512Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, bytes)
}
use std::borrow::Cow;

/// An intact entry of a kind the walk reads whole (signatures, notices, the outcome, the first
/// entry), with its 0-based index. (Keeping every entry whole would cost about 1 KB each on a
/// 100,000-entry journal; the others are checked where they are parsed.)
pub(super) struct Special<'a> {
    pub index: usize,
    pub ts: &'a str,
    pub mode: Option<Cow<'a, str>>,
    pub demo: Option<bool>,
    pub entry: Box<Entry>,
}

/// What the parallel reader hands the walk.
pub(super) struct Read<'a> {
    /// One timeline line per intact entry, in order.
    pub events: Vec<Event>,
    pub specials: Vec<Special<'a>>,
    /// Label and placement problems found while parsing (a second session.opened, a mode or DEMO
    /// label that differs from the first entry's).
    pub problems: Vec<Problem>,
}

/// Kinds whose every field the walk reads.
fn whole(kind: &str, index: usize) -> bool {
    index == 0
        || matches!(
            kind,
            kind::SessionOpened
                | kind::CustodianVerified
                | kind::NoticeAcknowledged
                | kind::NoticeSent
                | kind::NoticeFailed
                | kind::RootConfirmed
                | kind::SecretRevealed
                | kind::SessionClosed
                | kind::SessionAborted
        )
}

/// A chunk of lines parsed, hashed and linked: the entries up to its first problem, and that
/// problem (by 0-based index into the whole journal).
struct Chunk<'a> {
    events: Vec<Event>,
    specials: Vec<Special<'a>>,
    problems: Vec<Problem>,
    /// Lines read (up to and including a broken one).
    lines: usize,
    /// SHA-256 of the chunk's last intact line.
    head: Option<[u8; 32]>,
    problem: Option<(usize, String)>,
}

/// Parses, hashes and links `lines` (starting at index `offset` of the journal) with
/// [`journal::check_link`], seeded by the line before the chunk (hash and times), so both cores
/// can each take a part of the journal.
fn parse_lines<'a>(body: &'a [u8], before: Option<&'a [u8]>, capacity: usize, session: (&str, bool)) -> Chunk<'a> {
    let mut prev = [0u8; 32];
    let (mut last_mono, mut last_ts): (u64, &str) = (0, "");
    // Lines before this part: taken from the line before it (if that line is wrong, the other
    // part reports it first and this part's result is not used).
    let mut offset = 0usize;
    let seed;
    if let Some(b) = before {
        prev = Sha256::digest(b).into();
        if let Ok(h) = serde_json::from_slice::<journal::Header<'a>>(b) {
            seed = h;
            last_mono = seed.mono_ms;
            last_ts = seed.ts;
            // A wrong seq here is reported by the other part; any offset will do, without overflow.
            offset = usize::try_from(seed.seq).unwrap_or(usize::MAX).saturating_add(1);
        }
    }
    let lines = memchr::memchr_iter(b'\n', body).scan(0usize, |start, end| {
        let l = &body[*start..end];
        *start = end + 1;
        Some(l)
    });
    let mut out = Chunk { events: Vec::with_capacity(capacity), specials: vec![], problems: vec![], head: None, problem: None, lines: 0 };
    for (i, l) in lines.enumerate() {
        out.lines += 1;
        let l: &'a [u8] = l;
        let n = offset.saturating_add(i).saturating_add(1);
        let hash: [u8; 32] = Sha256::digest(l).into();
        let c = match serde_json::from_slice::<Common<'a>>(l) {
            Ok(c) => c,
            Err(e) => {
                out.problem = Some((n, format!("not a journal entry ({e})")));
                break;
            }
        };
        if let Err(e) = journal::strict_line(l) {
            out.problem = Some((n, format!("not a journal entry ({e})")));
            break;
        }
        // `check_link` keeps a borrow of the time for the next line; the line's bytes outlive it.
        let ts: &'a str = match c.ts {
            Cow::Borrowed(t) => t,
            Cow::Owned(_) => {
                out.problem = Some((n, "ts holds escape sequences".into()));
                break;
            }
        };
        if let Some(what) = journal::check_link(c.seq, ts, c.mono_ms, &c.prev, n, &prev, &mut last_mono, &mut last_ts) {
            out.problem = Some((n, what));
            break;
        }
        let gi = n - 1;
        let (entry, words) = read_entry(&c, l, gi, &mut out.problems);
        prev = hash;
        out.head = Some(hash);
        out.events.push(Event { seq: c.seq, ts: ts.to_string(), kind: kind_of(&c.kind), summary: words });
        if gi > 0 && c.kind == kind::SessionOpened {
            out.problems.push(Problem::new(n, Rule::E8, ProblemKind::Entry, "a second session.opened inside the session"));
        } else if gi > 0 && (c.mode.as_deref().unwrap_or("incident") != session.0 || (c.demo == Some(true)) != session.1) {
            out.problems.push(Problem::new(n, Rule::E9, ProblemKind::Label, "mode or DEMO label differs from the session's"));
        }
        if let Some(entry) = entry {
            out.specials.push(Special { index: gi, ts, mode: c.mode, demo: c.demo, entry });
        }
    }
    out
}

/// The entry on line `l` (index `gi`), when the walk reads its kind whole, and its timeline words.
fn read_entry(c: &Common, l: &[u8], gi: usize, problems: &mut Vec<Problem>) -> (Option<Box<Entry>>, String) {
    let n = gi + 1;
    let small = if whole(&c.kind, gi) { None } else { small_summary(c) };
    match small {
        Some(words) => (None, words),
        // A kind this release does not write (a later one may): shown, not judged.
        None if !Entry::KINDS.contains(&c.kind.as_ref()) => (None, c.kind.to_string()),
        None => match serde_json::from_slice::<Entry>(l) {
            Ok(e) => {
                let words = summary(&e, c.mode.as_deref());
                (Some(Box::new(e)), words)
            }
            // The chain holds (every reader agrees on the fields of [`journal::Line`]);
            // this entry's own fields do not: invalid, and the timeline goes on.
            Err(e) => {
                problems.push(Problem::new(n, Rule::E8, ProblemKind::Entry, format!("this {} entry is malformed ({e})", c.kind)));
                (None, format!("{} (malformed)", c.kind))
            }
        },
    }
}

/// Reads the journal once, on both cores: one thread hashes the whole file with SHA-512 (for the
/// co-signatures) and takes the first part of the lines, the other takes the rest; each part is
/// parsed, hashed and linked with [`journal::check_link`], the rule `check_chain` applies.
/// Returns the SHA-512, the chain report (as `check_chain` makes it) and the intact entries.
pub(super) fn read_journal(bytes: &[u8]) -> (Sha512Digest, journal::ChainReport, Read<'_>) {
    let body_end = memchr::memrchr(b'\n', bytes).map_or(0, |p| p + 1);
    let body = &bytes[..body_end];
    // Split at a line boundary: the hashing thread also parses two fifths of the lines. Each
    // thread finds its own lines. Measured (benches/verify.rs, 100,000 entries, 35.6 MB, 2
    // cores): 128 ms, of which one SHA-512 pass of the file alone takes 58 ms, against 100 ms for
    // the two stock `ssh-keygen -Y verify` runs.
    let at = body.len() * 2 / 5;
    let cut = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |p| at + p + 1);
    let (head_part, tail_part) = body.split_at(cut);
    let before = head_part.len().checked_sub(1).map(|end| {
        let start = memchr::memrchr(b'\n', &head_part[..end]).map_or(0, |p| p + 1);
        &head_part[start..end]
    });
    let estimate = body.len() / 200 + 16;
    // The session's mode and DEMO label, from its first entry: every other entry must match.
    let first_line = &body[..memchr::memchr(b'\n', body).unwrap_or(0)];
    let opened = serde_json::from_slice::<Common>(first_line).ok();
    let mode = opened.as_ref().and_then(|c| c.mode.as_deref()).unwrap_or("incident").to_string();
    let session = (mode.as_str(), opened.as_ref().is_some_and(|c| c.demo == Some(true)));
    let (sha512, first, rest) = std::thread::scope(|s| {
        // The first part's vectors have room for all, so the rest is appended without moving them.
        let first = s.spawn(|| (sha512(bytes), parse_lines(head_part, None, estimate, session)));
        let rest = parse_lines(tail_part, before, 0, session);
        let (sha512, first) = first.join().unwrap_or_else(|_| (self::sha512(bytes), parse_lines(head_part, None, estimate, session)));
        (sha512, first, rest)
    });
    let total_lines = first.lines + rest.lines;
    let mut report = journal::ChainReport::default();
    let (problem, head) = match &first.problem {
        Some(p) => (Some(p.clone()), first.head),
        None => (rest.problem.clone(), rest.head.or(first.head)),
    };
    let mut read = Read { events: first.events, specials: first.specials, problems: first.problems };
    if first.problem.is_none() {
        read.events.extend(rest.events);
        read.specials.extend(rest.specials);
        read.problems.extend(rest.problems);
    }
    report.entries = read.events.len();
    report.head = head.unwrap_or([0; 32]);
    match problem {
        Some((n, what)) => report.problems.push(Problem::new(n, Rule::E6, ProblemKind::Chain, what)),
        None if body_end < bytes.len() => {
            report.truncated_tail = true;
            report.problems.push(Problem::new(
                total_lines + 1,
                Rule::E7,
                ProblemKind::Interrupted,
                "partial last line (the writer stopped mid-line); everything before it is intact",
            ));
        }
        None => {}
    }
    if bytes.is_empty() {
        report.problems.push(Problem::new(
            0,
            Rule::E7,
            ProblemKind::Interrupted,
            "the journal is empty (the process stopped right after creating it)",
        ));
    }
    (sha512, report, read)
}
