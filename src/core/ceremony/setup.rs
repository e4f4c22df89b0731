//! Setup: the mode, the reason and the drill scenario, then the first entry (`session.opened`, or
//! `session.recovered` when an interrupted session is taken up again).

use super::*;

impl Ceremony {
    pub(super) fn begin(&mut self, mode: Mode, reason: String, ticket: Option<String>, scenario: Scenario, fx: &mut Vec<Effect>) -> Phase {
        let reason = reason.trim().to_string();
        // A recovery continues the interrupted session: its mode is not the custodians' to change.
        let (mode, scenario) = match &self.recovering {
            Some(r) => (r.mode, Scenario::Standard),
            None => (mode, scenario),
        };
        if reason.is_empty() {
            self.refuse(Say::ReasonMissing);
            Phase::Setup
        } else if self.recovering.is_none()
            && !match mode {
                Mode::Rekey => self.rekey.is_some() && self.offboard.is_none(),
                Mode::Offboard => self.offboard.is_some(),
                Mode::Incident | Mode::Drill => self.rekey.is_none() && self.offboard.is_none(),
            }
        {
            self.refuse(Say::WrongMode { asked: mode, planned: self.planned_mode() });
            Phase::Setup
        } else if mode != Mode::Drill && scenario != Scenario::Standard {
            self.refuse(Say::ScenarioDrillOnly { scenario: scenario.name().to_string() });
            Phase::Setup
        } else if !Scenario::all(self.roster.as_slice()).contains(&scenario) {
            self.refuse(Say::ScenarioDoesNotFit { scenario: scenario.name().to_string() });
            Phase::Setup
        } else {
            self.scenario = scenario;
            self.mode = mode;
            self.reason = reason;
            self.ticket = ticket.filter(|t| !t.trim().is_empty());
            self.clear_transient();
            if let Some(rec) = &self.recovering {
                // The same chain goes on: what the journal held, where it stopped, and why. Held,
                // with all that follows, until a quorum has checked in again (rule E15).
                self.held = Some(vec![]);
                fx.push(self.entry(Entry::SessionRecovered {
                    session_id: self.info.session_id.clone(),
                    entries: rec.entries,
                    last_ts: rec.last_ts.clone(),
                    partial_tail: rec.partial_tail.clone(),
                    announced: rec.announced,
                    reason: self.reason.clone(),
                    host: self.info.host.clone(),
                    tool: format!("breakglass {}", self.info.tool_version),
                }));
                if let Some(k) = &rec.rekey {
                    // What the settled files say: the new version in place, or not.
                    fx.push(self.entry(Entry::RekeySettled {
                        new_roster_sha256: k.new_roster_sha256.clone(),
                        live_roster_sha256: k.live_roster_sha256.clone(),
                        in_place: k.new_roster_sha256 == k.live_roster_sha256,
                    }));
                }
            } else {
                fx.push(self.entry(Entry::SessionOpened {
                    session_id: self.info.session_id.clone(),
                    reason: self.reason.clone(),
                    ticket: self.ticket.clone(),
                    host: self.info.host.clone(),
                    tool: format!("breakglass {}", self.info.tool_version),
                    roster_sha256: self.info.roster_sha256.clone(),
                    runbook_sha256: self.info.runbook_sha256.clone(),
                    account: self.info.account.clone(),
                    quorum: self.info.quorum,
                    scenario: (self.mode == Mode::Drill).then(|| self.scenario.name().to_string()),
                    custodians: self.roster.iter().map(|p| p.id.clone()).collect(),
                    offboard: self.offboard.as_ref().map(|o| OffboardOpened {
                        person: o.person.clone(),
                        iam_user: o.iam_user.clone(),
                        target_s: o.target_s,
                        items: o.items.len(),
                        rehearsal: o.rehearsal,
                    }),
                    rekey: self.rekey.as_ref().map(|k| RekeyOpened {
                        new_roster_sha256: k.new_sha256.clone(),
                        new_version: k.new_version,
                        added: k.added.iter().map(|p| p.id.clone()).collect(),
                        removed: k.removed.clone(),
                        quorum_after: k.new_quorum,
                    }),
                    rehearsal_roots: self.info.rehearsal_roots.clone(),
                }));
            }
            self.after_begin(fx)
        }
    }
}
