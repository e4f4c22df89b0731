//! Bundles written by this release, kept as they are: every later build must still verify them
//! (the journal's bytes are a contract, ../shared/DESIGN.md). A standard DEMO ceremony, a drill
//! whose notice channel was down, and a session killed after entry 9 and closed by `recover`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use std::path::PathBuf;

const GOLDEN: [(&str, &str, &str, &str); 3] = [
    ("20261201-173039-fee3f3", "incident", "closed", "standard DEMO ceremony"),
    ("20261201-173040-633fc4", "drill", "closed", "drill, notice channel down, acknowledged"),
    ("20261201-173040-c44ab2", "incident", "aborted", "killed after entry 9, recovered"),
];

#[test]
fn bundles_written_by_this_release_still_verify() {
    for (sid, mode, outcome, what) in GOLDEN {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden").join(sid);
        let data = tempfile::tempdir().unwrap();
        let o = run(data.path(), &["verify", "--json", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stdout(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((v["status"].as_str(), v["mode"].as_str(), v["outcome"].as_str()), (Some("valid"), Some(mode), Some(outcome)), "{what}");
        assert_eq!(v["session_id"], sid);
        assert_eq!(v["signers"], serde_json::json!(["alice", "bob"]), "{what}");
        assert!(v["warnings"].as_array().is_some_and(|w| w.iter().all(|w| !w.as_str().unwrap_or("").contains("named"))), "{what}: {v}");
        assert_eq!(v["recovered"].is_null(), !what.contains("recovered"), "{what}");
    }
}
