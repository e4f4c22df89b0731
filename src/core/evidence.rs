//! The evidence model's rules, by id: what a signed session bundle proves, and what the audit
//! concludes from bundles and trail events. docs/evidence-model.md states each rule in words; a
//! test holds the ids there and here equal, both ways. Every problem `verify` reports names the
//! rule it breaks, and every audit decision about cover cites its rule.

use serde::Serialize;

/// Defines [`Rule`], its ids and titles in one list.
macro_rules! rules {
    ($( $(#[$m:meta])* $V:ident = $title:literal ),* $(,)?) => {
        /// A rule of docs/evidence-model.md.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule {
            $( $(#[$m])* $V ),*
        }

        impl Rule {
            /// Every rule, in the document's order.
            pub const ALL: &[Rule] = &[$(Rule::$V),*];

            /// The id the document and `verify --json` use (`E7`).
            pub fn id(self) -> &'static str {
                match self { $( Rule::$V => stringify!($V) ),* }
            }

            /// The rule's title in the document.
            pub fn title(self) -> &'static str {
                match self { $( Rule::$V => $title ),* }
            }
        }
    };
}

rules! {
    /// Bundle files are regular files within their size limits.
    E1 = "A bundle's files",
    /// The trusted roster is chosen outside the bundle.
    E2 = "The anchor: which roster verify trusts",
    /// DEMO keys are public: DEMO bundles only against the built-in DEMO roster.
    E3 = "DEMO is never evidence",
    /// The session ran under a version of the trusted chain, and the bundle holds that version.
    E4 = "The session's roster version",
    /// A roster nothing pins is never trusted (exit 4).
    E5 = "Unpinned is untrusted",
    /// The hash chain, sequence numbers and times.
    E6 = "The hash chain",
    /// A journal cut short is incomplete, never invalid.
    E7 = "Interrupted is incomplete",
    /// `session.opened` first and once; every entry readable.
    E8 = "The first entry and readable entries",
    /// One mode and one DEMO label for the whole session.
    E9 = "One label for the whole session",
    /// Signed statements: exact format, this session, a custodian's key.
    E10 = "Signed statements",
    /// Two different custodians.
    E11 = "Two different custodians",
    /// The runbook opens only after a quorum's signed check-ins.
    E12 = "The runbook opens after a quorum checked in",
    /// A destructive root action follows every present custodian's signed confirmation.
    E13 = "Destructive root actions are confirmed by everyone present",
    /// Nothing happens in a session after it ended.
    E14 = "Nothing after the end",
    /// Recovery: what `session.recovered` names, and who checks in after it.
    E15 = "Recovery",
    /// The co-signatures over the whole journal.
    E16 = "Co-signatures",
    /// A roster change is committed only by a rekey or an offboarding, signed as a rotation.
    E17 = "Roster changes",
    /// The verdict and the exit code, from the problems' kinds.
    E18 = "The verdict",
    /// The window a session covers.
    E19 = "The window a session covers",
    /// Every recovery's gap is outside the window.
    E20 = "Gaps are never covered",
    /// What never covers root use.
    E21 = "What never covers",
    /// A session under a retired roster version.
    E22 = "Retired roster versions",
    /// The roster's health.
    E23 = "A healthy roster",
    /// What counts as a drill.
    E24 = "What counts as a drill",
    /// A rehearsal on virtual cards is marked and never evidence of the real setup.
    E25 = "Rehearsals",
    /// The audit's sources: a failing one never hides what another found.
    E26 = "Sources",
    /// A secret's rotation: the new sealing in the bundle, signed by everyone who confirmed it.
    E27 = "Rotations",
    /// A secret revealed in a verified session and not rotated since.
    E28 = "Secrets rotated",
    /// Every member account's root events, read from the organization trail.
    E29 = "Member accounts",
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The most clock skew the audit allows around a session's window (rule E19): more would let
/// one config line stretch an old session over unrelated root use.
pub(crate) const MAX_CLOCK_SKEW_SECONDS: u32 = 900;

#[cfg(test)]
mod tests {
    use super::Rule;

    /// Ids are E1, E2, ... in order, each once, and serialise as their id.
    #[test]
    fn ids_are_numbered_in_order() {
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(r.id(), format!("E{}", i + 1));
            assert_eq!(serde_json::to_string(r).unwrap(), format!("\"E{}\"", i + 1));
            assert!(!r.title().is_empty());
        }
    }
}
