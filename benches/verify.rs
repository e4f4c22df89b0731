//! `verify` on a 100,000-entry journal (35.6 MB: notes of about 300 bytes), against the two stock
//! `ssh-keygen -Y verify` runs over the same file (target: at most half their time, issue "evidence
//! model"; see the README's Performance table for why it is out of reach). Reports entries/s and the ratio.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use breakglass::core::clock::{FixedClock, rfc3339_ms};
use breakglass::core::journal::{Journal, MemoryStore};
use breakglass::core::verify::verify;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const ENTRIES: usize = 100_000;

/// A signed DEMO bundle whose journal holds `ENTRIES` lines: a demo session with notes taken
/// during its runbook (before it closed: nothing may follow the end, rule E14).
fn big_bundle(data: &Path) -> PathBuf {
    let (mut c, mut r) = breakglass::commands::demo::setup(
        data,
        Arc::new(FixedClock::new()),
        breakglass::adapters::session::Outside::outbox(data.join("outbox")),
    )
    .unwrap();
    breakglass::commands::demo::play(&mut c, &mut r, breakglass::core::ceremony::Mode::Drill, "benchmark", Default::default());
    let dir = r.dir.clone();
    let path = dir.join("journal.jsonl");
    let played = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = played.lines().collect();
    let close = lines.iter().position(|l| l.contains("\"kind\":\"session.closed\"")).unwrap();
    let head: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(lines[close - 1].as_bytes()).into();
    let mut j = Journal::resume(MemoryStore::default(), close as u64, head);
    let clock = FixedClock::starting_at(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, 4, 0, 0).unwrap(), 5);
    let mut mono = 1_000_000u64;
    let mut append = |j: &mut Journal<MemoryStore>, kind: &str, fields: &serde_json::Map<String, serde_json::Value>| {
        mono += 5;
        j.append_fields(&rfc3339_ms(breakglass::core::clock::Clock::now(&clock)), mono, kind, fields).unwrap();
    };
    for i in lines.len()..ENTRIES {
        let fields = json!({"demo": true, "mode": "drill", "step": (i % 13) + 1, "text": format!("observation {i}: CloudTrail event reviewed (ConsoleLogin, GetAccountSummary, ListUsers from the ceremony host), nothing unexpected; the next one is read now")});
        append(&mut j, "note", fields.as_object().unwrap());
    }
    // The close, as the ceremony wrote it, after the notes.
    for l in &lines[close..] {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(l).unwrap();
        let kind = v["kind"].as_str().unwrap().to_string();
        for k in ["seq", "ts", "mono_ms", "kind", "prev"] {
            v.remove(k);
        }
        append(&mut j, &kind, &v);
    }
    let mut bytes: Vec<u8> = lines[..close].iter().flat_map(|l| [l.as_bytes(), b"\n"]).flatten().copied().collect();
    bytes.extend_from_slice(&j.store().bytes);
    std::fs::write(&path, &bytes).unwrap();
    let roster = breakglass::commands::demo::roster();
    for (i, mut t) in breakglass::commands::demo::tokens(&roster).into_iter().take(2).enumerate() {
        let id = &roster.custodians[i].id;
        t.verify_pin(&secrecy::SecretString::from(breakglass::commands::demo::pin_of(id).to_string())).unwrap();
        let sig = breakglass::core::sign::sshsig(t.as_mut(), breakglass::core::sign::SESSION_NAMESPACE, &bytes).unwrap();
        std::fs::write(dir.join(format!("journal.jsonl.{id}.sig")), breakglass::core::sign::to_pem(&sig).unwrap()).unwrap();
    }
    dir
}

fn ssh_keygen_twice(dir: &Path) -> f64 {
    let mut times = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        for id in ["alice", "bob"] {
            let ok = Command::new("ssh-keygen")
                .args([
                    "-Y",
                    "verify",
                    "-f",
                    "allowed_signers",
                    "-I",
                    id,
                    "-n",
                    "breakglass-session",
                    "-s",
                    &format!("journal.jsonl.{id}.sig"),
                ])
                .current_dir(dir)
                .stdin(std::fs::File::open(dir.join("journal.jsonl")).unwrap())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "ssh-keygen must verify the benchmark bundle (is openssh-client installed?)");
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn bench(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap();
    let dir = big_bundle(data.path());
    let report = verify(&dir, &Default::default(), None).unwrap();
    assert_eq!(report.status, breakglass::core::verify::Status::Valid, "{:?}", report.problems.iter().take(3).collect::<Vec<_>>());
    assert_eq!(report.entries, ENTRIES);
    let theirs = ssh_keygen_twice(&dir);
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(ENTRIES as u64));
    g.sample_size(10);
    g.bench_function("100k-entry journal", |b| b.iter(|| verify(&dir, &Default::default(), None).unwrap()));
    g.finish();
    let t = Instant::now();
    let n = 5;
    for _ in 0..n {
        verify(&dir, &Default::default(), None).unwrap();
    }
    let ours = t.elapsed().as_secs_f64() / n as f64;
    eprintln!(
        "verify 100k entries, {:.1} MB: {:.0} ms ({:.0} entries/s); ssh-keygen -Y verify x2: {:.0} ms; ratio {:.2} (target <= 0.5{})",
        std::fs::metadata(dir.join("journal.jsonl")).map_or(0.0, |m| m.len() as f64 / 1e6),
        ours * 1e3,
        ENTRIES as f64 / ours,
        theirs * 1e3,
        ours / theirs,
        if ours / theirs <= 0.5 { ": met" } else { ": MISSED" }
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
