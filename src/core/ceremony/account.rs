//! The AWS account check at the start, and the root posture at the start and the close.

use super::*;

/// The account's part of the ceremony: who the account check found, and the root posture read
/// then (compared with the close's).
#[derive(Debug, Clone, Default)]
pub(super) struct AccountState {
    /// The AWS principal the account check found.
    pub(super) principal: Option<String>,
    pub(super) posture_start: Option<Vec<(String, String, String)>>,
}

/// Why the account check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountProblem {
    /// The credentials reach no account (AWS unreachable, no credentials, a refusal).
    Unreachable(Failed),
    /// They reach `account` (as `arn`), not the configured `expected` one.
    Elsewhere { account: String, arn: String, expected: String },
}

impl AccountProblem {
    /// In words: what the screen says and the journal records (`aws.skipped`), as one text.
    pub fn record(&self) -> String {
        match self {
            AccountProblem::Unreachable(e) => e.to_string(),
            AccountProblem::Elsewhere { account, arn, expected } => format!(
                "These AWS credentials reach account {account} ({arn}), but breakglass.toml says aws.account_id = {expected}. \
                 Nothing was sent. Fix the profile or the config (wrong credentials here could touch the wrong account)."
            ),
        }
    }
}

impl Ceremony {
    /// Sends a notice, unless the drill rehearses the channel being down (then the failure is
    /// simulated here, without touching the network, and recorded as simulated).
    pub(super) fn after_begin(&mut self, fx: &mut Vec<Effect>) -> Phase {
        if self.info.aws {
            fx.push(Effect::CheckAccount { expected: self.info.account.clone() });
            Phase::Account { failed: None }
        } else {
            Phase::CheckIn(KeyStage::AwaitKey)
        }
    }

    pub(super) fn account_checked(&mut self, result: Result<(String, String), Failed>, fx: &mut Vec<Effect>) -> Phase {
        let expected = self.info.account.clone().unwrap_or_default();
        match result {
            Ok((account, arn)) if expected.is_empty() || account == expected => {
                fx.push(self.entry(Entry::AwsIdentity {
                    account: Some(account),
                    principal: Some(arn.clone()),
                    expected: None,
                    refused: false,
                    error: None,
                }));
                self.account.principal = Some(arn);
                self.clear_transient();
                Phase::CheckIn(KeyStage::AwaitKey)
            }
            Ok((account, arn)) => {
                fx.push(self.entry(Entry::AwsIdentity {
                    account: Some(account.clone()),
                    principal: Some(arn.clone()),
                    expected: Some(expected.clone()),
                    refused: true,
                    error: None,
                }));
                Phase::Account { failed: Some(AccountProblem::Elsewhere { account, arn, expected }) }
            }
            Err(e) => {
                fx.push(self.entry(Entry::AwsIdentity {
                    account: None,
                    principal: None,
                    expected: None,
                    refused: false,
                    error: Some(e.to_string()),
                }));
                Phase::Account { failed: Some(AccountProblem::Unreachable(e)) }
            }
        }
    }

    /// Journals the posture read (`posture.checked`, with what changed since the start) and, at
    /// the close, root's events in CloudTrail for the session's window (`root.activity`).
    pub(super) fn posture_checked(&mut self, when: PostureWhen, result: Result<Posture, Failed>, fx: &mut Vec<Effect>) {
        if self.notify.aws_skipped || matches!(self.phase, Phase::Sign { .. } | Phase::Summary | Phase::Halted(_) | Phase::Quit) {
            // Never after anyone may have signed: the signatures cover the whole journal.
            return;
        }
        let p = match result {
            Ok(p) => p,
            Err(e) => {
                fx.push(self.entry(Entry::PostureChecked {
                    when: when.as_str().into(),
                    account: None,
                    checks: None,
                    changed: None,
                    error: Some(e.to_string()),
                }));
                return;
            }
        };
        let checks = p
            .checks
            .iter()
            .map(|(id, status, reason)| PostureCheck { id: id.clone(), status: status.clone(), reason: reason.clone() })
            .collect();
        let changed = match when {
            PostureWhen::Start => {
                self.account.posture_start = Some(p.checks.clone());
                None
            }
            PostureWhen::Close => {
                let before = self.account.posture_start.clone().unwrap_or_default();
                Some(
                    p.checks
                        .iter()
                        .filter_map(|(id, status, _)| {
                            let from = before.iter().find(|(b, _, _)| b == id).map(|(_, s, _)| s.clone());
                            (from.as_deref() != Some(status.as_str())).then(|| PostureChange { id: id.clone(), from, to: status.clone() })
                        })
                        .collect(),
                )
            }
        };
        fx.push(self.entry(Entry::PostureChecked {
            when: when.as_str().into(),
            account: Some(p.account.clone()),
            checks: Some(checks),
            changed,
            error: None,
        }));
        if when == PostureWhen::Close {
            let events = p
                .root_events
                .iter()
                .map(|e| ActivityEvent {
                    time: e.time.clone(),
                    event: e.event.clone(),
                    source_ip: e.source_ip.clone(),
                    user_agent: e.user_agent.clone(),
                })
                .collect();
            fx.push(self.entry(Entry::RootActivity {
                since: self.started_ts.clone(),
                events,
                note: "CloudTrail's event history can lag by several minutes: events that arrive later show in `breakglass audit`".into(),
            }));
        }
    }
}
