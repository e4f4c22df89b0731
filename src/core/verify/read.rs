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

/// Parts the lines are cut into: small enough that the cores finish together (the one that
/// hashes the whole file with SHA-512 first joins late), large enough that each costs far more
/// than taking it.
const PARTS: usize = 32;

/// `body` cut into `n` parts at line ends: (start, end) byte ranges, in order, none empty.
fn split_lines(body: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..=n {
        if start >= body.len() {
            break;
        }
        let at = (body.len() * k / n).max(start);
        let end = if k == n { body.len() } else { memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |p| at + p + 1) };
        if end > start {
            parts.push((start, end));
            start = end;
        }
    }
    parts
}

/// The line that ends just before byte `start` of `body` (without its newline), if any.
fn previous_line(body: &[u8], start: usize) -> Option<&[u8]> {
    let end = start.checked_sub(1)?;
    let from = memchr::memrchr(b'\n', &body[..end]).map_or(0, |p| p + 1);
    Some(&body[from..end])
}

/// Reads the journal once, on every core (up to eight): one thread first hashes the whole file
/// with SHA-512 (for the co-signatures); meanwhile the others, then all of them, take the lines
/// part by part. Each part is parsed, hashed and linked with [`journal::check_link`], seeded by
/// the line before it; the parts are put back in order, up to the first problem (the rule
/// `check_chain` applies). Returns the SHA-512, the chain report (as `check_chain` makes it) and
/// the intact entries.
pub(super) fn read_journal(bytes: &[u8]) -> (Sha512Digest, journal::ChainReport, Read<'_>) {
    let body_end = memchr::memrchr(b'\n', bytes).map_or(0, |p| p + 1);
    let body = &bytes[..body_end];
    // Measured (benches/verify.rs, 100,000 entries, 35.6 MB, 2 cores): one SHA-512 pass of the
    // file alone takes 58 ms of the whole; the parts balance the rest across the cores.
    let parts = split_lines(body, PARTS);
    let estimate = body.len() / 200 + 16;
    // The session's mode and DEMO label, from its first entry: every other entry must match.
    let first_line = &body[..memchr::memchr(b'\n', body).unwrap_or(0)];
    let opened = serde_json::from_slice::<Common>(first_line).ok();
    let mode = opened.as_ref().and_then(|c| c.mode.as_deref()).unwrap_or("incident").to_string();
    let session = (mode.as_str(), opened.as_ref().is_some_and(|c| c.demo == Some(true)));
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Takes parts until none is left; the first part's vectors have room for all, so the rest
    // are appended to them without moving.
    let work = || {
        let mut done = vec![];
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&(start, end)) = parts.get(i) else { return done };
            let before = previous_line(body, start);
            done.push((i, parse_lines(&body[start..end], before, if i == 0 { estimate } else { 0 }, session)));
        }
    };
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).clamp(2, 8);
    let (sha512, mut chunks) = std::thread::scope(|s| {
        let hasher = s.spawn(|| (sha512(bytes), work()));
        let helpers: Vec<_> = (2..cores).map(|_| s.spawn(work)).collect();
        let mut chunks = work();
        for h in helpers {
            chunks.extend(h.join().unwrap_or_default());
        }
        let sha512 = match hasher.join() {
            Ok((d, theirs)) => {
                chunks.extend(theirs);
                d
            }
            // Unreachable (the parse does not panic: fuzzed); the parts it held are read again.
            Err(_) => self::sha512(bytes),
        };
        (sha512, chunks)
    });
    chunks.sort_unstable_by_key(|(i, _)| *i);
    if chunks.len() < parts.len() {
        // A thread that failed took its parts with it: read them here, in order.
        let have: Vec<usize> = chunks.iter().map(|(i, _)| *i).collect();
        for (i, &(start, end)) in parts.iter().enumerate().filter(|(i, _)| !have.contains(i)) {
            chunks.push((i, parse_lines(&body[start..end], previous_line(body, start), 0, session)));
        }
        chunks.sort_unstable_by_key(|(i, _)| *i);
    }
    let mut total_lines = 0;
    let (mut problem, mut head) = (None, None);
    let mut read: Option<Read> = None;
    for (_, c) in chunks {
        total_lines += c.lines;
        head = c.head.or(head);
        match read.as_mut() {
            // The first part's vectors, made with room for all, take the rest.
            None => read = Some(Read { events: c.events, specials: c.specials, problems: c.problems }),
            Some(r) => {
                r.events.extend(c.events);
                r.specials.extend(c.specials);
                r.problems.extend(c.problems);
            }
        }
        if c.problem.is_some() {
            // Past the first broken line, nothing is intact.
            problem = c.problem;
            break;
        }
    }
    let read = read.unwrap_or(Read { events: vec![], specials: vec![], problems: vec![] });
    let mut report = journal::ChainReport { entries: read.events.len(), head: head.unwrap_or([0; 32]), ..Default::default() };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts cover the body exactly, in order, each ending at a line end, whatever the number
    /// of lines against the number of parts.
    #[test]
    fn parts_cover_every_line_once_in_order() {
        for lines in [0usize, 1, 2, 5, 31, 32, 33, 100] {
            let body: Vec<u8> = (0..lines).flat_map(|i| format!("{{\"line\":{}}}\n", "x".repeat(i % 7)).into_bytes()).collect();
            for n in [1, 2, PARTS] {
                let parts = split_lines(&body, n);
                assert!(parts.len() <= n.min(lines.max(1)));
                let mut at = 0;
                for &(start, end) in &parts {
                    assert_eq!(start, at);
                    assert!(end > start && body[end - 1] == b'\n');
                    at = end;
                }
                assert_eq!(at, body.len(), "{lines} lines in {n} parts");
            }
        }
    }

    /// A broken line in a late part is the one reported, and nothing after it is read as intact.
    #[test]
    fn a_break_in_any_part_is_found_at_its_line() {
        let mut j = crate::core::journal::Journal::new(crate::core::journal::MemoryStore::default());
        for i in 0..200u64 {
            let f = serde_json::json!({"text": format!("note {i}")});
            j.append_fields("2026-12-08T00:00:00.000Z", i, "note", f.as_object().unwrap_or(&serde_json::Map::new())).ok();
        }
        let good = j.store().bytes.clone();
        let (_, chain, read) = read_journal(&good);
        assert!(chain.problems.is_empty() && read.events.len() == 200, "{:?}", chain.problems);
        for broken in [0usize, 57, 150, 199] {
            let mut lines: Vec<&[u8]> = good.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
            lines[broken] = b"not a journal line";
            let bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            let (_, chain, read) = read_journal(&bytes);
            let found: Vec<(usize, Rule)> = chain.problems.iter().map(|p| (p.line, p.rule)).collect();
            assert_eq!(found, [(broken + 1, Rule::E6)]);
            assert_eq!(read.events.len(), broken, "only the entries before line {} are intact", broken + 1);
        }
    }
}
