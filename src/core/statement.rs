//! Every statement a custodian signs on their key during a ceremony, as one type: the ceremony
//! renders it and asks the key to sign it under its namespace; verify rebuilds it from the entry
//! that records it and accepts the signature only over exactly that text (rule E10 of
//! docs/evidence-model.md). One type for both sides, so what is signed and what is checked cannot
//! drift apart.
//!
//! | statement            | namespace                 | text signed                                          |
//! |----------------------|---------------------------|------------------------------------------------------|
//! | check-in             | `breakglass-checkin`      | `breakglass-checkin:<session>:<nonce, 32 hex>`        |
//! | acknowledgement      | `breakglass-ack`          | `breakglass-ack:<session>:notice-<phase>:<head, 64 hex>` |
//! | root confirmation    | `breakglass-confirm`      | `breakglass-root:<session>:<target>:<action>`         |
//! | offboarding change   | `breakglass-confirm`      | `breakglass-offboard:<session>:<item>:<user>:<api>:<target>` |
//! | new roster version   | `breakglass-roster[-drill]` | the roster file's bytes                            |
//! | rotated out of band  | `breakglass-confirm`      | `breakglass-rotated:<session>:<secret name>`          |

use crate::core::journal::Entry;
use std::borrow::Cow;

/// Namespace of the check-in challenge signatures.
pub(crate) const CHECKIN_NAMESPACE: &str = "breakglass-checkin";
/// Namespace of a custodian's signed acknowledgement that the ceremony goes on without a notice.
pub(crate) const ACK_NAMESPACE: &str = "breakglass-ack";
/// Namespace of a custodian's confirmation of a root action or an offboarding change.
pub(crate) const CONFIRM_NAMESPACE: &str = "breakglass-confirm";

/// A statement a custodian signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// "I am here, with this key, in this session": a fresh nonce binds it to this moment.
    CheckIn { session: String, nonce: String },
    /// "We go on without notice `phase`", bound to the journal's head at that moment.
    Ack { session: String, phase: String, head: String },
    /// "Run root action `action` on `target`".
    Root { session: String, target: String, action: String },
    /// "Make offboarding item `item`'s change `api` on `target` for IAM user `iam_user`".
    Offboard { session: String, item: u64, iam_user: String, api: String, target: String },
    /// A rekey's signature over the new roster version (a drill's uses its own namespace, so it can
    /// never make that version trusted).
    RosterVersion { bytes: Vec<u8>, drill: bool },
    /// "Secret `secret` was rotated out of band" (someone else changed it, e.g. AWS Support).
    OutOfBand { session: String, secret: String },
}

/// A signed statement as an entry records it: who signed, the text the entry says was signed, and
/// the armoured signature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded<'a> {
    pub custodian: &'a str,
    pub text: &'a str,
    pub sshsig: &'a str,
}

impl Statement {
    /// The SSHSIG namespace it is signed under.
    pub fn namespace(&self) -> &'static str {
        match self {
            Statement::CheckIn { .. } => CHECKIN_NAMESPACE,
            Statement::Ack { .. } => ACK_NAMESPACE,
            Statement::Root { .. } | Statement::Offboard { .. } | Statement::OutOfBand { .. } => CONFIRM_NAMESPACE,
            Statement::RosterVersion { drill: false, .. } => crate::core::sign::ROSTER_NAMESPACE,
            Statement::RosterVersion { drill: true, .. } => crate::core::sign::ROSTER_DRILL_NAMESPACE,
        }
    }

    /// The bytes the key signs.
    pub fn message(&self) -> Cow<'_, [u8]> {
        match self {
            Statement::RosterVersion { bytes, .. } => Cow::Borrowed(bytes),
            other => Cow::Owned(other.render().into_bytes()),
        }
    }

    /// The statement as text (what the journal entry records beside its signature).
    pub fn render(&self) -> String {
        match self {
            Statement::CheckIn { session, nonce } => format!("breakglass-checkin:{session}:{nonce}"),
            Statement::Ack { session, phase, head } => format!("breakglass-ack:{session}:notice-{phase}:{head}"),
            Statement::Root { session, target, action } => format!("breakglass-root:{session}:{target}:{action}"),
            Statement::Offboard { session, item, iam_user, api, target } => {
                format!("breakglass-offboard:{session}:{item}:{iam_user}:{api}:{target}")
            }
            Statement::RosterVersion { bytes, .. } => String::from_utf8_lossy(bytes).into_owned(),
            Statement::OutOfBand { session, secret } => format!("breakglass-rotated:{session}:{secret}"),
        }
    }

    /// The statement an entry of this session records, rebuilt from the entry's own fields (and,
    /// for what only the text holds: the check-in's nonce, the acknowledged head, the root task's
    /// target, each checked for its shape), with what the entry says was signed. `None` for an
    /// entry that records no signed statement. Whether the recorded text is exactly the rebuilt
    /// statement is [`Statement::matches`].
    pub(crate) fn of_entry<'a>(e: &'a Entry, session: &str) -> Option<(Statement, Recorded<'a>)> {
        let tail = |text: &'a str, prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|t| t.strip_prefix(':'))
                .and_then(|t| t.strip_prefix(session))
                .and_then(|t| t.strip_prefix(':'))
        };
        let s = session.to_string();
        Some(match e {
            Entry::CustodianVerified { custodian, challenge, sshsig, .. } => {
                let nonce = tail(challenge, "breakglass-checkin").filter(|n| is_hex(n, 32)).unwrap_or("");
                (Statement::CheckIn { session: s, nonce: nonce.into() }, Recorded { custodian, text: challenge, sshsig })
            }
            Entry::NoticeAcknowledged { phase, custodian, statement, sshsig } => {
                let head = statement.rsplit_once(':').map(|(_, h)| h).filter(|h| is_hex(h, 64)).unwrap_or("");
                (Statement::Ack { session: s, phase: phase.clone(), head: head.into() }, Recorded { custodian, text: statement, sshsig })
            }
            Entry::RootConfirmed { custodian, action, statement, sshsig } => {
                let target = tail(statement, "breakglass-root")
                    .and_then(|t| t.strip_suffix(action.as_str()))
                    .and_then(|t| t.strip_suffix(':'))
                    .filter(|t| !t.contains(':'))
                    .unwrap_or("");
                (
                    Statement::Root { session: s, target: target.into(), action: action.clone() },
                    Recorded { custodian, text: statement, sshsig },
                )
            }
            Entry::OffboardConfirmed { item, iam_user, api, target, custodian, statement, sshsig } => (
                Statement::Offboard {
                    session: s,
                    item: *item,
                    iam_user: iam_user.clone(),
                    api: api.clone().unwrap_or_default(),
                    target: target.clone(),
                },
                Recorded { custodian, text: statement, sshsig },
            ),
            Entry::SecretConfirmed { name, custodian, statement: Some(statement), sshsig, .. } => {
                (Statement::OutOfBand { session: s, secret: name.clone() }, Recorded { custodian, text: statement, sshsig })
            }
            _ => return None,
        })
    }

    /// Whether `text` is exactly this statement, and the statement is whole (no empty session,
    /// nonce, head, target or user): a signature over some other text proves nothing here.
    pub fn matches(&self, text: &str) -> bool {
        let whole = match self {
            Statement::CheckIn { session, nonce } => !session.is_empty() && is_hex(nonce, 32),
            Statement::Ack { session, head, .. } => !session.is_empty() && is_hex(head, 64),
            Statement::Root { session, target, .. } => !session.is_empty() && !target.is_empty(),
            Statement::Offboard { session, iam_user, api, .. } => !session.is_empty() && !iam_user.is_empty() && !api.is_empty(),
            Statement::RosterVersion { .. } => true,
            Statement::OutOfBand { session, secret } => !session.is_empty() && !secret.is_empty(),
        };
        whole && self.render() == text
    }
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkin(text: &str) -> Entry {
        Entry::CustodianVerified {
            custodian: "alice".into(),
            serial: 1,
            key: "YubiKey 5".into(),
            slot: 1,
            challenge: text.into(),
            sshsig: "sig".into(),
            attestation: None,
        }
    }

    #[test]
    fn a_rendered_statement_is_read_back_from_its_entry() {
        let nonce = "0123456789abcdef0123456789abcdef";
        let text = Statement::CheckIn { session: "S1".into(), nonce: nonce.into() }.render();
        let e = checkin(&text);
        let (st, rec) = Statement::of_entry(&e, "S1").unwrap();
        assert!(st.matches(rec.text));
        assert_eq!(st.namespace(), CHECKIN_NAMESPACE);
        // Another session's check-in, or a short nonce, is not this session's statement.
        let (st, rec) = Statement::of_entry(&e, "S2").unwrap();
        assert!(!st.matches(rec.text));
        let e = checkin("breakglass-checkin:S1:abc");
        let (st, rec) = Statement::of_entry(&e, "S1").unwrap();
        assert!(!st.matches(rec.text));
    }

    #[test]
    fn a_root_confirmation_names_its_target_and_action() {
        let st = Statement::Root { session: "S1".into(), target: "111122223333".into(), action: "delete-mfa".into() };
        let e = Entry::RootConfirmed { custodian: "bob".into(), action: "delete-mfa".into(), statement: st.render(), sshsig: "s".into() };
        let (back, rec) = Statement::of_entry(&e, "S1").unwrap();
        assert_eq!(back, st);
        assert!(back.matches(rec.text));
        // The same text recorded for another action does not match.
        let e =
            Entry::RootConfirmed { custodian: "bob".into(), action: "unlock-bucket".into(), statement: st.render(), sshsig: "s".into() };
        let (back, rec) = Statement::of_entry(&e, "S1").unwrap();
        assert!(!back.matches(rec.text));
    }

    #[test]
    fn an_offboarding_confirmation_is_compared_whole() {
        let st = Statement::Offboard {
            session: "S1".into(),
            item: 2,
            iam_user: "mallory".into(),
            api: "iam:DeleteLoginProfile".into(),
            target: "arn:aws:iam::1:user/mallory".into(),
        };
        let e = Entry::OffboardConfirmed {
            item: 2,
            iam_user: "mallory".into(),
            api: Some("iam:DeleteLoginProfile".into()),
            target: "arn:aws:iam::1:user/mallory".into(),
            custodian: "alice".into(),
            statement: st.render(),
            sshsig: "s".into(),
        };
        let (back, rec) = Statement::of_entry(&e, "S1").unwrap();
        assert!(back.matches(rec.text));
        assert_eq!(back.namespace(), CONFIRM_NAMESPACE);
    }

    #[test]
    fn entries_without_a_statement_have_none() {
        assert!(Statement::of_entry(&Entry::Note { step: None, text: "x".into() }, "S1").is_none());
    }
}
