//! Shared helpers for the integration tests.
#![allow(dead_code)]

use breakglass::core::ceremony::{Ceremony, Person, Say, SessionInfo};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod card;
pub mod forge;
pub mod moto;
pub mod proxy;
pub mod pty;
pub mod walk;

pub const SID: &str = "20261125-030000-abcdef";

/// What the ceremony says under the instruction (a refusal or a piece of information).
#[allow(dead_code)] // not every test file asks
pub fn said(c: &Ceremony) -> Option<&Say> {
    c.message().as_ref().map(|m| &m.say)
}

/// An INCIDENT session interrupted after 6 entries, root announced, `steps_done` steps ticked.
#[allow(dead_code)] // not every test file asks
pub fn interrupted(steps_done: u64) -> breakglass::core::ceremony::Recovery {
    breakglass::core::ceremony::Recovery {
        entries: 6,
        last_ts: "2026-11-25T03:00:05.000Z".into(),
        partial_tail: None,
        announced: true,
        closed: false,
        closed_normally: false,
        released: false,
        steps_done,
        mode: breakglass::core::ceremony::Mode::Incident,
        rekey: None,
        unsure: vec![],
    }
}

pub fn info(demo: bool) -> SessionInfo {
    SessionInfo {
        session_id: SID.into(),
        demo,
        host: "safe-laptop".into(),
        tool_version: "0.1.0".into(),
        roster_sha256: "ab".repeat(32),
        runbook_sha256: "cd".repeat(32),
        account: Some("123456789012".into()),
        quorum: 2,
        aws: false,
        heartbeat_s: 0,
        rehearsal_roots: vec![],
    }
}

pub fn people() -> Vec<Person> {
    vec![
        Person { id: "alice".into(), name: "Alice Example".into(), serial: 10000001 },
        Person { id: "bob".into(), name: "Bob Example".into(), serial: 10000002 },
        Person { id: "carol".into(), name: "Carol Example".into(), serial: 10000003 },
    ]
}

pub fn ceremony(demo: bool) -> Ceremony {
    ceremony_for(demo, Default::default())
}

/// A ceremony made for `purpose` (a rekey, an offboarding, a recovery).
pub fn ceremony_for(demo: bool, purpose: breakglass::core::ceremony::Purpose) -> Ceremony {
    Ceremony::new(info(demo), people(), purpose)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_breakglass"))
}

/// Runs the binary with a data dir; returns its output.
pub fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(bin()).arg("--data-dir").arg(data).args(args).env_remove("BREAKGLASS_DATA_DIR").output().expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Runs `demo --auto` and returns the session directory.
pub fn demo_session(data: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["demo", "--auto"];
    args.extend_from_slice(extra);
    let o = run(data, &args);
    assert!(o.status.success(), "demo --auto failed: {}", stderr(&o));
    let out = stdout(&o);
    let last = out.lines().rfind(|l| !l.trim().is_empty()).expect("demo --auto prints the session directory");
    PathBuf::from(last.trim())
}

/// Stock `ssh-keygen -Y verify` of `id`'s co-signature over the session journal in `dir`, with the
/// bundle's own `allowed_signers`: `Err` with what ssh-keygen said.
pub fn ssh_keygen_verifies(dir: &Path, id: &str) -> Result<(), String> {
    let journal = std::fs::File::open(dir.join("journal.jsonl")).map_err(|e| e.to_string())?;
    let o = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", "allowed_signers", "-I", id, "-n", "breakglass-session", "-s"])
        .arg(format!("journal.jsonl.{id}.sig"))
        .current_dir(dir)
        .stdin(journal)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).to_string()) }
}

/// Fails the test with what is missing if a stock tool is absent (never skips silently).
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
    assert!(found, "`{tool}` is missing: install Debian's `{package}` (./scripts/test does this)");
}

/// Rewrites a journal as whoever can write the session directory could: `edit` gets the lines
/// (without their newlines) and returns the new ones; then every `seq` and `prev` is made right.
pub fn forge_chain(j: &Path, edit: impl Fn(Vec<String>) -> Vec<String>) {
    use sha2::Digest;
    let text = std::fs::read_to_string(j).unwrap();
    let lines = edit(text.lines().map(str::to_string).collect());
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(l).unwrap();
        v.insert("seq".into(), i.into());
        v.insert("prev".into(), prev.clone().into());
        // The header first, as the journal writes it; the rest sorted.
        let mut line = format!("{{\"seq\":{i},\"ts\":{},\"mono_ms\":{},\"kind\":{},\"prev\":\"{prev}\"", v["ts"], v["mono_ms"], v["kind"]);
        for (k, val) in &v {
            if !["seq", "ts", "mono_ms", "kind", "prev"].contains(&k.as_str()) {
                line.push_str(&format!(",{}:{}", serde_json::Value::from(k.as_str()), val));
            }
        }
        line.push('}');
        prev = hex::encode(sha2::Sha256::digest(line.as_bytes()));
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(j, out).unwrap();
}
