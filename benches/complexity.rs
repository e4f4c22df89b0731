//! Hostile input costs linear time: each reader given an input and the same input doubled, the
//! work may grow at most 2.5x (a quadratic path would show 4x). And each hostile case the review
//! found (a line of 300,000 keys, a roster of thousands of custodians, a MANIFEST naming a file
//! thousands of times) is refused by its limit well under a second. Run with
//! `cargo bench --bench complexity`; it fails (exit 101) when a reader misses its budget.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmarks fail loudly by design

use breakglass::core::journal::{self, Journal, MemoryStore};
use std::time::{Duration, Instant};

/// The fastest of several runs (the least disturbed by anything else on the machine).
fn time(mut f: impl FnMut()) -> Duration {
    (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Work on `n` and on `2n`: the ratio, checked against 2.5.
fn doubling(what: &str, n: usize, mut run: impl FnMut(usize)) -> bool {
    let (a, b) = (time(|| run(n)), time(|| run(2 * n)));
    let ratio = b.as_secs_f64() / a.as_secs_f64().max(1e-9);
    let ok = ratio <= 2.5;
    eprintln!(
        "{what}: n={n} {:.2} ms, 2n {:.2} ms, ratio {ratio:.2} ({})",
        a.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        if ok { "ok" } else { "OVER 2.5" }
    );
    ok
}

/// A hostile case: refused by its limit (an error naming it), well under a second.
fn refused(what: &str, limit: &str, run: impl FnOnce() -> Result<(), String>) -> bool {
    let t = Instant::now();
    let r = run();
    let took = t.elapsed();
    let ok = took < Duration::from_millis(500) && r.as_ref().is_err_and(|e| e.contains(limit));
    eprintln!(
        "{what}: {:.1} ms, {} ({})",
        took.as_secs_f64() * 1e3,
        r.err().unwrap_or_else(|| "accepted".into()),
        if ok { "ok" } else { "NOT REFUSED IN TIME" }
    );
    ok
}

fn keys_line(k: usize) -> String {
    let fields: Vec<String> = (0..k).map(|i| format!("\"k{i}\":{i}")).collect();
    format!("{{\"seq\":0,\"ts\":\"t\",\"mono_ms\":0,\"kind\":\"note\",\"prev\":\"00\",{}}}", fields.join(","))
}

fn journal_of(n: usize) -> Vec<u8> {
    let mut j = Journal::new(MemoryStore::default());
    for i in 0..n {
        let fields = serde_json::json!({"text": format!("observation {i}: nothing unexpected")});
        let ts = chrono::DateTime::from_timestamp(1_796_000_000 + i as i64, 0).unwrap().format("%Y-%m-%dT%H:%M:%S.000Z").to_string();
        j.append_fields(&ts, i as u64, "note", fields.as_object().unwrap()).unwrap();
    }
    j.store().bytes.clone()
}

fn roster_of(n: usize) -> String {
    use rand::rngs::OsRng;
    let mut s = String::from("quorum = 2\n");
    for i in 0..n {
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        let public = ssh_key::PublicKey::from(ssh_key::public::EcdsaPublicKey::from(*key.verifying_key())).to_openssh().unwrap();
        let recipient = age::x25519::Identity::generate().to_public();
        s.push_str(&format!(
            "\n[[custodian]]\nid = \"c{i}\"\nname = \"C {i}\"\nemail = \"c{i}@example.com\"\nyubikey_serial = {}\nsigning_key = \"{public}\"\nage_recipient = \"{recipient}\"\n",
            1000 + i
        ));
    }
    s
}

fn manifest_of(n: usize, same_name: bool) -> String {
    let mut s = String::from("format = 1\nquorum = 2\nroster_sha256 = \"00\"\n");
    for i in 0..n {
        let name = if same_name { "runbook.age".to_string() } else { format!("f{i}.age") };
        s.push_str(&format!("[[file]]\nname = \"{name}\"\nlayers = [\"a\", \"b\"]\nsha256 = \"00\"\n"));
    }
    s
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut ok = true;
    // 1. Keys in one journal line (under the per-object limit), and lines in a journal.
    let lines = [keys_line(journal::MAX_KEYS_PER_OBJECT / 4), keys_line(journal::MAX_KEYS_PER_OBJECT / 2)];
    ok &= doubling("journal line: distinct keys", 1, |n| {
        for _ in 0..2000 {
            journal::strict_line(lines[n - 1].as_bytes()).unwrap();
        }
    });
    let journals = [journal_of(20_000), journal_of(40_000)];
    let chain = journal::check_chain(&journals[1]);
    assert!(chain.problems.is_empty(), "{:?}", chain.problems.first());
    ok &= doubling("journal: check_chain over entries", 1, |n| assert!(journal::check_chain(&journals[n - 1]).problems.is_empty()));
    ok &= refused("journal line: 300,000 distinct keys", &journal::MAX_KEYS_PER_OBJECT.to_string(), || {
        journal::strict_line(keys_line(300_000).as_bytes())
    });
    // 3. Custodians in a roster (under the limit), and a roster of thousands.
    let rosters = [roster_of(breakglass::core::roster::MAX_CUSTODIANS / 2), roster_of(breakglass::core::roster::MAX_CUSTODIANS)];
    ok &= doubling("roster: custodians", 1, |n| {
        for _ in 0..20 {
            breakglass::core::roster::Roster::parse(rosters[n - 1].as_bytes(), "roster.toml").unwrap();
        }
    });
    let huge = roster_of(3000);
    ok &= refused("roster: 3,000 custodians", &breakglass::core::roster::MAX_CUSTODIANS.to_string(), || {
        breakglass::core::roster::Roster::parse(huge.as_bytes(), "roster.toml").map(|_| ()).map_err(|e| e.to_string())
    });
    // 4. Files named in a MANIFEST (under the limit), and one file named thousands of times.
    let manifests = [
        manifest_of(breakglass::core::seal::MAX_MANIFEST_FILES / 2, false),
        manifest_of(breakglass::core::seal::MAX_MANIFEST_FILES, false),
    ];
    ok &= doubling("MANIFEST: files", 1, |n| {
        for _ in 0..20 {
            breakglass::core::seal::Manifest::parse(manifests[n - 1].as_bytes()).unwrap();
        }
    });
    ok &= refused("MANIFEST: one file named 5,000 times", &breakglass::core::seal::MAX_MANIFEST_FILES.to_string(), || {
        breakglass::core::seal::Manifest::parse(manifest_of(5000, true).as_bytes()).map(|_| ()).map_err(|e| e.to_string())
    });
    ok &= refused("MANIFEST: one file named twice", "twice", || {
        breakglass::core::seal::Manifest::parse(manifest_of(2, true).as_bytes()).map(|_| ()).map_err(|e| e.to_string())
    });
    assert!(ok, "a reader missed its budget (see above)");
}
