//! What a journal line says: one variant per `kind`, each with its own fields (../shared/DESIGN.md,
//! "Journal"). The ceremony writes these, verify, drill, recovery and the screens read them, and the
//! compiler checks the format in every place.
//!
//! The bytes on disk are a contract: a line's fields follow the header keys in sorted order, an
//! `Option` marked `skip` is left out when it is `None`, and every other `Option` is written as
//! `null` (as the first releases wrote it; tests/golden.rs keeps bundles they wrote). The labels
//! `mode` and `demo` are on every line and come from [`Labels`], not from the variant.

use serde::{Deserialize, Serialize};

/// The mode and DEMO label written on every line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    /// `incident`, `drill`, `rekey` or `offboard`.
    pub mode: &'static str,
    /// Written as `"demo":true` when set, left out otherwise.
    pub demo: bool,
}

/// What the key attestation said about a custodian's key at check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationNote {
    pub firmware: String,
    pub form_factor: String,
    /// Which Yubico CA the chain ends at.
    pub root: String,
}

/// The offboarding a session was opened for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardOpened {
    pub person: String,
    pub iam_user: String,
    pub target_s: u64,
    pub items: usize,
    pub rehearsal: bool,
}

/// The roster change a rekey session was opened for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyOpened {
    pub new_roster_sha256: String,
    pub new_version: u32,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub quorum_after: usize,
}

/// One root-posture check: its id, status and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureCheck {
    pub id: String,
    pub status: String,
    pub reason: String,
}

/// A posture check whose status changed during the session (`from` is null for a new check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureChange {
    pub id: String,
    #[serde(default)]
    pub from: Option<String>,
    pub to: String,
}

/// One CloudTrail event of root's, as journalled at the close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub time: String,
    pub event: String,
    pub source_ip: String,
    pub user_agent: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Defines [`Entry`] and its `kind` strings in one place.
macro_rules! entries {
    ($( $(#[$vm:meta])* $kind:literal => $V:ident { $( $(#[$fm:meta])* $f:ident : $t:ty ),* $(,)? } ),* $(,)?) => {
        /// One journal entry: the `kind` and its fields (the header and the labels are the
        /// writer's). Unknown fields are ignored when reading, so a later release may add some.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        // session.opened is the largest by far and is written once; entries live for one write.
        #[allow(clippy::large_enum_variant)]
        pub enum Entry {
            $( $(#[$vm])* #[serde(rename = $kind)] $V { $( $(#[$fm])* $f : $t ),* } ),*
        }

        impl Entry {
            /// Every kind this release writes.
            pub(crate) const KINDS: &[&str] = &[$($kind),*];

            /// The line's `kind`.
            pub fn kind(&self) -> &'static str {
                match self { $( Self::$V { .. } => $kind ),* }
            }
        }

        /// The `kind` strings, for readers that hold a kind without its entry (a timeline, a
        /// report).
        #[allow(non_upper_case_globals)]
        pub mod kind {
            $( pub const $V: &str = $kind; )*
        }
    };
}

entries! {
    /// The session begins: why, who may take part, and which roster and runbook it runs under.
    "session.opened" => SessionOpened {
        session_id: String,
        reason: String,
        #[serde(default)] ticket: Option<String>,
        host: String,
        tool: String,
        roster_sha256: String,
        runbook_sha256: String,
        #[serde(default)] account: Option<String>,
        quorum: usize,
        #[serde(default)] scenario: Option<String>,
        custodians: Vec<String>,
        #[serde(default)] offboard: Option<OffboardOpened>,
        #[serde(default)] rekey: Option<RekeyOpened>,
        /// A rehearsal: the PIV attestation roots trusted beside Yubico's ("CN (SHA-256 hex)").
        #[serde(default, skip_serializing_if = "Vec::is_empty")] rehearsal_roots: Vec<String>,
    },
    /// An interrupted session is taken up again: what the journal held and where it stopped.
    "session.recovered" => SessionRecovered {
        session_id: String,
        entries: u64,
        last_ts: String,
        #[serde(default)] partial_tail: Option<String>,
        announced: bool,
        reason: String,
        host: String,
        tool: String,
    },
    /// The wall clock stepped between two entries.
    "clock.jump" => ClockJump { observed: String, expected: String, jump_ms: i64 },
    /// The AWS account the credentials reach (or why it could not be read, or that it is not the
    /// configured one).
    "aws.identity" => AwsIdentity {
        #[serde(default, skip_serializing_if = "Option::is_none")] account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] principal: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] expected: Option<String>,
        #[serde(default, skip_serializing_if = "is_false")] refused: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")] error: Option<String>,
    },
    /// Both custodians chose to go on without AWS.
    "aws.skipped" => AwsSkipped { why: String },
    /// One AWS API call made for a root task.
    "aws.call" => AwsCall { api: String, target: String, #[serde(default)] request_id: Option<String>, outcome: String },
    /// The root posture at the start or the close (and, at the close, what changed).
    "posture.checked" => PostureChecked {
        when: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] checks: Option<Vec<PostureCheck>>,
        #[serde(default, skip_serializing_if = "Option::is_none")] changed: Option<Vec<PostureChange>>,
        #[serde(default, skip_serializing_if = "Option::is_none")] error: Option<String>,
    },
    /// A custodian's key signed the check-in challenge.
    "custodian.verified" => CustodianVerified {
        custodian: String,
        serial: u32,
        key: String,
        slot: usize,
        challenge: String,
        sshsig: String,
        #[serde(default)] attestation: Option<AttestationNote>,
    },
    /// A key was refused at check-in (not on the roster, PIN, attestation, signature...).
    "custodian.refused" => CustodianRefused {
        serial: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")] custodian: Option<String>,
        why: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] retries_left: Option<u8>,
    },
    /// A checked-in custodian's key came back and its PIN was entered again.
    "custodian.reauthenticated" => CustodianReauthenticated { custodian: String, serial: u32 },
    /// A checked-in custodian's key was removed (or stopped answering).
    "custodian.key_removed" => CustodianKeyRemoved {
        custodian: String,
        serial: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")] why: Option<String>,
    },
    /// The removed key is back.
    "custodian.key_returned" => CustodianKeyReturned { custodian: String, serial: u32 },
    /// A notice is about to go out (journalled before it is sent: a process cut between the two
    /// leaves a journal from which `recover` knows it may have gone out). `key` is the notice's
    /// idempotency key, the same in every repeat of it.
    "notice.sending" => NoticeSending { phase: String, key: String },
    /// A notice went out.
    "notice.sent" => NoticeSent {
        phase: String,
        channel: String,
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] late: Option<bool>,
    },
    /// A notice did not go out.
    "notice.failed" => NoticeFailed {
        phase: String,
        error: String,
        #[serde(default, skip_serializing_if = "is_false")] simulated: bool,
    },
    /// A custodian signed that they go on without the notice.
    "notice.acknowledged" => NoticeAcknowledged { phase: String, custodian: String, statement: String, sshsig: String },
    /// The runbook opened with the custodians' keys (`for` says why when it is not shown).
    "runbook.unsealed" => RunbookUnsealed {
        with: Vec<String>,
        steps: usize,
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")] purpose: Option<String>,
    },
    /// The runbook did not open.
    "runbook.failed" => RunbookFailed { error: String },
    /// A runbook step ticked.
    "step.done" => StepDone { step: u64, of: u64 },
    /// A runbook step un-ticked.
    "step.undone" => StepUndone { step: u64, of: u64 },
    /// A note, on a step or on the session.
    "note" => Note { #[serde(default)] step: Option<u64>, text: String },
    /// A secret of the runbook shown on screen (never its text).
    "secret.revealed" => SecretRevealed {
        secret: u64,
        #[serde(default)] for_step: Option<u64>,
        shown: String,
        by: Vec<String>,
        /// The secret's name (`name=` in the runbook, else `secret-N`): what `audit` follows.
        #[serde(default, skip_serializing_if = "Option::is_none")] name: Option<String>,
    },
    /// A secret shown on screen was masked again (by the custodians, or as the runbook closed).
    "secret.hidden" => SecretHidden { secret: u64 },
    /// A rotation's new sealing was made in memory, staged beside the live one (a drill's on its
    /// copy) and opened back by the custodians present (never the value).
    "secret.rotation_staged" => RotationStaged {
        secret: u64,
        name: String,
        manifest_sha256: String,
        serial: u64,
        opened: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")] drill: bool,
    },
    /// A custodian confirmed on their key that the new value took: for a sealed value, their
    /// signature over the new sealing's MANIFEST.toml (namespace `breakglass-runbook`, a drill's
    /// `breakglass-runbook-drill`); for one rotated out of band, over `statement`.
    "secret.confirmed" => SecretConfirmed {
        secret: u64,
        name: String,
        custodian: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] manifest_sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] statement: Option<String>,
        sshsig: String,
    },
    /// The secret was rotated: `how` is generated, typed or out-of-band; a sealed value names the
    /// new sealing (the live one from now on, a drill's copy removed).
    "secret.rotated" => SecretRotated {
        secret: u64,
        name: String,
        how: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] manifest_sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] serial: Option<u64>,
        confirmed_by: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")] drill: bool,
    },
    /// A rotation stopped: staging failed, the swap failed, or the new value did not take. The
    /// live sealing is unchanged.
    "secret.rotation_failed" => RotationFailed { secret: u64, name: String, error: String },
    /// Both custodians confirmed a root action on their keys (one entry each).
    "root.confirmed" => RootConfirmed { custodian: String, action: String, statement: String, sshsig: String },
    /// A root action's outcome.
    "root.action" => RootAction {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")] result: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")] error: Option<String>,
    },
    /// The root session's credentials were dropped.
    "root.closed" => RootClosed { #[serde(default)] target: Option<String> },
    /// Root's CloudTrail events during the session, read at the close.
    "root.activity" => RootActivity { #[serde(default)] since: Option<String>, events: Vec<ActivityEvent>, note: String },
    /// A closing checklist item confirmed.
    "closing.checked" => ClosingChecked { item: u64, text: String },
    /// A closing checklist item un-checked.
    "closing.unchecked" => ClosingUnchecked { item: u64 },
    /// A closing item recorded as not done: who said so (none when the process was stopped), and why.
    "closing.not_done" => ClosingNotDone { item: u64, text: String, by: Vec<String>, why: String },
    /// The quorum approved a roster change.
    "rekey.approved" => RekeyApproved { by: Vec<String>, old_roster_sha256: String, new_roster_sha256: String, diff: Vec<String> },
    /// A custodian (or a newcomer) signed the new roster version.
    "rekey.signed" => RekeySigned {
        custodian: String,
        serial: u32,
        #[serde(rename = "as")] role: String,
        roster_sha256: String,
        sshsig: String,
    },
    /// The swap is about to happen (or is tried again).
    "rekey.committing" => RekeyCommitting {
        new_roster_sha256: String,
        #[serde(default, skip_serializing_if = "is_false")] retry: bool,
    },
    /// The new roster and runbook are in place.
    "rekey.committed" => RekeyCommitted {
        old_roster_sha256: String,
        new_roster_sha256: String,
        new_version: u32,
        added: Vec<String>,
        removed: Vec<String>,
        signed_by: Vec<String>,
        opened: Vec<String>,
        rehearsal: bool,
    },
    /// A drill's rekey: sealed, checked and set aside.
    "rekey.rehearsed" => RekeyRehearsed { old_roster_sha256: String, new_roster_sha256: String, new_version: u32, opened: Vec<String> },
    /// The swap did not happen.
    "rekey.failed" => RekeyFailed { error: String },
    /// What a recovery found of an interrupted swap.
    "rekey.settled" => RekeySettled { new_roster_sha256: String, live_roster_sha256: String, in_place: bool },
    /// An offboarding item done by people (never a runbook step's text).
    "offboard.done" => OffboardDone { item: u64, what: String, by: Vec<String> },
    /// A custodian confirmed an offboarding AWS change on their key.
    "offboard.confirmed" => OffboardConfirmed {
        item: u64,
        iam_user: String,
        #[serde(default)] api: Option<String>,
        target: String,
        custodian: String,
        statement: String,
        sshsig: String,
    },
    /// A drill's offboarding change: confirmed, not made.
    "offboard.rehearsed" => OffboardRehearsed { item: u64, #[serde(default)] api: Option<String>, target: String },
    /// An offboarding change is about to be made.
    "offboard.applying" => OffboardApplying { item: u64, #[serde(default)] api: Option<String>, target: String },
    /// An offboarding change was made.
    "offboard.applied" => OffboardApplied { item: u64, #[serde(default)] api: Option<String>, target: String, #[serde(default)] request_id: Option<String>, #[serde(default)] note: Option<String> },
    /// An offboarding change failed.
    "offboard.failed" => OffboardFailed { item: u64, #[serde(default)] api: Option<String>, target: String, error: String },
    /// The offboarding checklist ended.
    "offboard.finished" => OffboardFinished { person: String, done: usize, total: usize, not_done: Vec<usize>, target_s: u64 },
    /// The session ended normally.
    "session.closed" => SessionClosed {
        steps_done: u64,
        steps_total: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")] rekey: Option<String>,
    },
    /// The session was aborted (by the custodians, a signal, or a recovery).
    "session.aborted" => SessionAborted {
        at: String,
        #[serde(default, skip_serializing_if = "is_false")] recovered: bool,
        steps_done: u64,
        /// Left out for a recovery; null when the custodians aborted.
        #[serde(default, skip_serializing_if = "Option::is_none")] signal: Option<Option<String>>,
    },
}

impl Entry {
    /// The fields written after the header: the entry's own and the labels, sorted by key.
    pub fn fields(&self, labels: Labels) -> serde_json::Map<String, serde_json::Value> {
        let mut m = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            // Every variant is a struct of strings, numbers, lists and options.
            _ => serde_json::Map::new(),
        };
        m.remove("kind");
        m.insert("mode".into(), labels.mode.into());
        if labels.demo {
            m.insert("demo".into(), true.into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const L: Labels = Labels { mode: "incident", demo: false };

    fn line(e: &Entry, labels: Labels) -> String {
        serde_json::to_string(&e.fields(labels)).unwrap()
    }

    /// The fields of the kinds the ceremony tests do not reach, as the first releases wrote them
    /// (an `Option` is null, left out, or a value exactly as it was).
    #[test]
    fn fields_are_written_as_the_format_says() {
        let s = |v: &str| v.to_string();
        let cases: Vec<(Entry, &str)> = vec![
            (Entry::AwsSkipped { why: s("no network") }, r#"{"mode":"incident","why":"no network"}"#),
            (Entry::RootClosed { target: None }, r#"{"mode":"incident","target":null}"#),
            (
                Entry::RekeySettled { new_roster_sha256: s("n"), live_roster_sha256: s("n"), in_place: true },
                r#"{"in_place":true,"live_roster_sha256":"n","mode":"incident","new_roster_sha256":"n"}"#,
            ),
            (
                Entry::RekeyRehearsed {
                    old_roster_sha256: s("o"),
                    new_roster_sha256: s("n"),
                    new_version: 2,
                    opened: vec![s("alice+bob")],
                },
                r#"{"mode":"incident","new_roster_sha256":"n","new_version":2,"old_roster_sha256":"o","opened":["alice+bob"]}"#,
            ),
            (
                Entry::OffboardRehearsed { item: 3, api: Some(s("iam:DeleteLoginProfile")), target: s("mallory") },
                r#"{"api":"iam:DeleteLoginProfile","item":3,"mode":"incident","target":"mallory"}"#,
            ),
            (
                Entry::OffboardFailed { item: 1, api: None, target: s("t"), error: s("denied") },
                r#"{"api":null,"error":"denied","item":1,"mode":"incident","target":"t"}"#,
            ),
            (
                Entry::ClockJump { observed: s("a"), expected: s("b"), jump_ms: -90_000 },
                r#"{"expected":"b","jump_ms":-90000,"mode":"incident","observed":"a"}"#,
            ),
            (
                Entry::SessionAborted { at: s("Runbook"), recovered: false, steps_done: 2, signal: Some(None) },
                r#"{"at":"Runbook","mode":"incident","signal":null,"steps_done":2}"#,
            ),
            (
                Entry::SessionAborted { at: s("interrupted"), recovered: true, steps_done: 0, signal: None },
                r#"{"at":"interrupted","mode":"incident","recovered":true,"steps_done":0}"#,
            ),
            (
                Entry::NoticeFailed { phase: s("in_use"), error: s("down"), simulated: false },
                r#"{"error":"down","mode":"incident","phase":"in_use"}"#,
            ),
            (
                Entry::RunbookUnsealed { with: vec![s("alice"), s("bob")], steps: 4, purpose: Some(s("reseal")) },
                r#"{"for":"reseal","mode":"incident","steps":4,"with":["alice","bob"]}"#,
            ),
            (Entry::Note { step: None, text: s("called AWS") }, r#"{"mode":"incident","step":null,"text":"called AWS"}"#),
        ];
        for (e, want) in &cases {
            assert_eq!(line(e, L), *want, "{}", e.kind());
        }
        assert_eq!(
            line(&Entry::StepDone { step: 1, of: 3 }, Labels { mode: "drill", demo: true }),
            r#"{"demo":true,"mode":"drill","of":3,"step":1}"#
        );
    }

    /// A line reads back as the entry that wrote it (the header and labels are ignored), and a
    /// field of the wrong type is refused rather than skipped.
    #[test]
    fn a_line_reads_back_as_its_entry() {
        let e = Entry::CustodianRefused { serial: 7, custodian: Some("bob".into()), why: "wrong PIN".into(), retries_left: Some(2) };
        let mut m = e.fields(L);
        m.insert("kind".into(), e.kind().into());
        m.insert("seq".into(), 4.into());
        let back: Entry = serde_json::from_value(serde_json::Value::Object(m.clone())).unwrap();
        assert_eq!(back, e);
        m.insert("serial".into(), "seven".into());
        assert!(serde_json::from_value::<Entry>(serde_json::Value::Object(m)).is_err());
        assert_eq!(Entry::KINDS.len(), 50);
        assert!(Entry::KINDS.contains(&kind::OffboardFinished));
    }
}

#[cfg(test)]
mod docs {
    #![allow(clippy::unwrap_used)]
    /// docs/formats.md describes every kind this release writes, in its table of kinds.
    #[test]
    fn every_kind_is_in_the_format_document() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/formats.md")).unwrap();
        let table: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        for k in super::Entry::KINDS {
            assert!(
                table.iter().any(|l| l.split('|').nth(1).is_some_and(|c| c.contains(&format!("`{k}`")))),
                "{k} is not in docs/formats.md"
            );
        }
    }
}
