//! The kind of session: an incident, a drill, a rekey or an offboarding. Serialised as the
//! journal, the notices and `verify --json` write it: "incident", "drill", "rekey", "offboard".

use serde::{Deserialize, Serialize};

/// Incident or drill; or a rekey (custodians change: the roster's next version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Incident,
    Drill,
    Rekey,
    /// Someone leaves: their removal from the roster (a rekey, when they are a custodian) and a
    /// checklist that strips their access.
    Offboard,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Incident, Mode::Drill, Mode::Rekey, Mode::Offboard];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incident => "incident",
            Mode::Drill => "drill",
            Mode::Rekey => "rekey",
            Mode::Offboard => "offboard",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::Incident => "INCIDENT",
            Mode::Drill => "DRILL",
            Mode::Rekey => "REKEY",
            Mode::Offboard => "OFFBOARD",
        }
    }

    /// The mode a journal entry names (`None`: not one this release knows).
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// A drill: the ceremony rehearsed (marked DRILL in every notice; it never covers root use).
    pub(crate) fn is_rehearsal(self) -> bool {
        self == Mode::Drill
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_reads_back_from_its_own_string_as_old_bundles_wrote_it() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<Mode>(&format!("\"{}\"", m.as_str())).unwrap(), m);
        }
        assert_eq!(Mode::parse("party"), None);
        assert_eq!(Mode::parse("DRILL"), None);
    }
}
