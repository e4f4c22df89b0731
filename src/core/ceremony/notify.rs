//! Notices: "root in use", heartbeats, "root released", the acknowledgements when one cannot
//! go out, and their retries in the background.

use super::*;

/// The notices' part of the ceremony.
#[derive(Debug, Clone, Default)]
pub(super) struct Notices {
    /// Each notice's fate, in order.
    pub(super) sent: Vec<(NoticePhase, Delivery)>,
    /// Set once the "root in use" notice went out (or its absence was acknowledged).
    pub(super) announced: bool,
    /// Notices in the background: retries and heartbeats.
    pub(super) bg: Background,
    /// What went on degraded (a notice acknowledged as not sent).
    pub(super) degraded: Vec<String>,
    /// AWS was set aside for this session (both custodians then acknowledge each missing notice).
    pub(super) aws_skipped: bool,
    /// The session is closed and waits for the close's posture read before "root released".
    pub(super) release_after_posture: bool,
}

/// Notices that go out in the background: those that failed, were acknowledged and are retried,
/// and the heartbeats while root is in use.
#[derive(Debug, Clone, Default)]
pub(super) struct Background {
    /// Failed and acknowledged: retried every minute, journalled when delivered.
    pub(super) pending: Vec<NoticePhase>,
    /// The one on its way now (a retry or a heartbeat).
    pub(super) busy: Option<NoticePhase>,
    pub(super) last_retry_s: u64,
    pub(super) last_heartbeat_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyStatus {
    Sending,
    /// Delivery failed: retry, or both custodians acknowledge going on without it (each with their key).
    Failed {
        error: String,
        acked: Vec<SlotIx>,
        acking: Option<SlotIx>,
    },
}

/// Which journal hash a notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeHash {
    /// The genesis hash (entry 0): "root in use".
    Genesis,
    /// The chain head when it is sent: every later notice.
    Head,
    /// The notice names its own hash already (a rekey's new roster version).
    AsGiven,
}

/// The statement a custodian signs to go on without a notice.
pub(crate) fn ack_message(session_id: &str, phase: NoticePhase, head: &str) -> crate::core::statement::Statement {
    crate::core::statement::Statement::Ack { session: session_id.to_string(), phase: phase.as_str().to_string(), head: head.to_string() }
}

impl Ceremony {
    /// The notice for `phase`, as the team reads it; the runner adds the time and the journal
    /// hash (the genesis hash for "root in use", the chain head otherwise; a rekey's "roster
    /// changed" names the new roster version instead).
    pub(super) fn notice(&self, phase: NoticePhase) -> Effect {
        let base = Notice {
            session_id: self.info.session_id.clone(),
            phase,
            mode: self.mode,
            demo: self.info.demo,
            account: self.info.account.clone(),
            custodians: self
                .checked
                .iter()
                .map(|k| format!("{} ({})", self.roster[k.custodian].name, self.roster[k.custodian].id))
                .collect(),
            reason: self.reason.clone(),
            ticket: self.ticket.clone(),
            host: self.info.host.clone(),
            started: self.started_ts.clone().unwrap_or_default(),
            at: String::new(),
            journal_hash: String::new(),
            journal_words: String::new(),
            journal_entry: None,
            idempotency_key: String::new(),
            maybe_repeat: false,
        };
        if let (NoticePhase::RosterChanged, Some(k)) = (phase, &self.rekey) {
            let ids = |v: Vec<String>| if v.is_empty() { "nobody".to_string() } else { v.join(", ") };
            let notice = Notice {
                custodians: k.new_ids.clone(),
                reason: format!(
                    "{}. Roster version {} (quorum {}): added {}; removed {}. Done in rekey session {} by {}.",
                    self.reason.trim_end_matches('.'),
                    k.new_version,
                    k.new_quorum,
                    ids(k.added.iter().map(|p| format!("{} ({})", p.name, p.id)).collect()),
                    ids(k.removed.clone()),
                    self.info.session_id,
                    self.checked_ids().join(", ")
                ),
                journal_hash: k.new_sha256.clone(),
                journal_words: crate::core::notice::words_hex(&k.new_sha256),
                ..base
            };
            return Effect::SendNotice { notice: Box::new(notice), hash: NoticeHash::AsGiven };
        }
        let hash = if phase == NoticePhase::InUse { NoticeHash::Genesis } else { NoticeHash::Head };
        Effect::SendNotice { notice: Box::new(base), hash }
    }

    /// A notice about to go out: `notice.sending` (with its idempotency key) is journalled first,
    /// then it is sent. A recovery resending one the interrupted session was sending, or a release
    /// after the interrupted session's own release went out, marks it as a possible repeat.
    pub(super) fn push_notice(&mut self, phase: NoticePhase, fx: &mut Vec<Effect>) {
        let key = match phase {
            NoticePhase::Heartbeat => format!("{}:heartbeat:{}", self.info.session_id, self.now_s),
            p => format!("{}:{}", self.info.session_id, p.as_str()),
        };
        let is_release = matches!(phase, NoticePhase::Released | NoticePhase::Aborted);
        let maybe_repeat =
            self.recovering.as_ref().is_some_and(|r| r.unsure.iter().any(|u| u == phase.as_str()) || (is_release && r.released));
        let mut effect = self.notice(phase);
        if let Effect::SendNotice { notice, .. } = &mut effect {
            notice.idempotency_key.clone_from(&key);
            notice.maybe_repeat = maybe_repeat;
        }
        fx.push(self.entry(Entry::NoticeSending { phase: phase.as_str().into(), key }));
        fx.push(effect);
    }

    pub(super) fn notify(&mut self, notice: NoticePhase, status: NotifyStatus, intent: Intent, fx: &mut Vec<Effect>) -> Phase {
        match (status, intent) {
            (NotifyStatus::Sending, Intent::NoticeDone { phase, result }) if phase == notice => match result {
                Ok(d) => {
                    fx.push(self.entry(Entry::NoticeSent {
                        phase: notice.as_str().into(),
                        channel: d.channel.clone(),
                        message_id: d.message_id.clone(),
                        late: None,
                    }));
                    self.clear_transient();
                    if notice == NoticePhase::InUse {
                        // Said where the custodians look next (the runbook), not only on the
                        // sending screen they may never see.
                        self.info_msg(Say::InUseSent { channel: d.channel.clone(), message_id: d.message_id.clone() });
                    }
                    self.notify.sent.push((notice, d));
                    self.after_notice(notice, fx)
                }
                Err(e) => {
                    self.clear_transient();
                    fx.push(self.entry(Entry::NoticeFailed { phase: notice.as_str().into(), error: e.to_string(), simulated: false }));
                    Phase::Notify { notice, status: NotifyStatus::Failed { error: e.to_string(), acked: vec![], acking: None } }
                }
            },
            // Not while a key signs an acknowledgement: a retry's journal line would change the
            // head that the acknowledgement names.
            (status @ NotifyStatus::Failed { acking: Some(_), .. }, Intent::RetryNotice) => {
                self.refuse(Say::SignatureUnderWay);
                Phase::Notify { notice, status }
            }
            (NotifyStatus::Failed { .. }, Intent::RetryNotice) => self.send_notice(notice, fx),
            (NotifyStatus::Failed { error, acked, acking: None }, Intent::Acknowledge { who })
                if self.checked.has(who) && !acked.contains(&who) =>
            {
                let c = &self.checked[who];
                let head = self.last.as_ref().map(|w| hex::encode(w.head)).unwrap_or_default();
                fx.push(Effect::Attest {
                    custodian: c.custodian,
                    serial: c.serial,
                    statement: ack_message(&self.info.session_id, notice, &head),
                });
                Phase::Notify { notice, status: NotifyStatus::Failed { error, acked, acking: Some(who) } }
            }
            (NotifyStatus::Failed { error, mut acked, acking: Some(who) }, Intent::Attested { custodian, result })
                if self.checked[who].custodian == custodian =>
            {
                match result {
                    Ok(sig) => {
                        let id = self.roster[custodian].id.clone();
                        let head = self.last.as_ref().map(|w| hex::encode(w.head)).unwrap_or_default();
                        fx.push(self.entry(Entry::NoticeAcknowledged {
                            phase: notice.as_str().into(),
                            custodian: id.clone(),
                            statement: ack_message(&self.info.session_id, notice, &head).render(),
                            sshsig: sig,
                        }));
                        acked.push(who);
                        if acked.len() >= self.checked.len().max(1) {
                            // Simulated or deliberate outages are not retried; real ones are.
                            if !self.notify.aws_skipped && (self.mode != Mode::Drill || self.scenario != Scenario::NoticeDown) {
                                self.notify.bg.pending.push(notice);
                            }
                            self.notify.degraded.push(format!(
                                "notice {} not delivered; going on was acknowledged by {}",
                                notice.as_str(),
                                self.checked_ids().join(" and ")
                            ));
                            self.info_msg(Say::AcknowledgedGoingOn);
                            self.after_notice(notice, fx)
                        } else {
                            Phase::Notify { notice, status: NotifyStatus::Failed { error, acked, acking: None } }
                        }
                    }
                    Err(e) => {
                        self.refuse(Say::AckNotSigned { error: e.to_string() });
                        Phase::Notify { notice, status: NotifyStatus::Failed { error, acked, acking: None } }
                    }
                }
            }
            (status, _) => Phase::Notify { notice, status },
        }
    }

    pub(super) fn send_notice(&mut self, notice: NoticePhase, fx: &mut Vec<Effect>) -> Phase {
        if self.mode == Mode::Drill && self.scenario == Scenario::NoticeDown && notice == NoticePhase::InUse {
            let error = format!(
                "DRILL scenario: the notice channel is down (simulated). Tell the team by phone, then {} acknowledge.",
                self.everyone()
            );
            fx.push(self.entry(Entry::NoticeFailed { phase: notice.as_str().into(), error: error.clone(), simulated: true }));
            return Phase::Notify { notice, status: NotifyStatus::Failed { error, acked: vec![], acking: None } };
        }
        if self.notify.aws_skipped {
            let error = format!(
                "AWS was set aside for this session: the notice cannot be sent. Tell the team by phone, then {} acknowledge.",
                self.everyone()
            );
            fx.push(self.entry(Entry::NoticeFailed { phase: notice.as_str().into(), error: error.clone(), simulated: false }));
            return Phase::Notify { notice, status: NotifyStatus::Failed { error, acked: vec![], acking: None } };
        }
        self.push_notice(notice, fx);
        Phase::Notify { notice, status: NotifyStatus::Sending }
    }

    /// Heartbeats while root is in use, and background retries of undelivered notices.
    pub(super) fn tick(&mut self, now_s: u64, fx: &mut Vec<Effect>) {
        self.now_s = now_s;
        if matches!(self.phase, Phase::Root(RootStage::Ready | RootStage::Confirm { .. }))
            && self.root.as_ref().is_some_and(|r| now_s >= r.expires_s)
        {
            fx.push(Effect::DropRoot);
            self.phase = Phase::Root(RootStage::Expired);
            self.refuse(Say::RootExpired);
        }
        // Nothing new in the background once the custodians sign: a line appended between two
        // signatures would leave the first one over other bytes.
        if self.notify.bg.busy.is_some() || self.confirm_abort || matches!(self.phase, Phase::Sign { .. } | Phase::Summary) {
            return;
        }
        let in_use =
            self.notify.announced && self.outcome.is_none() && matches!(self.phase, Phase::Unseal { .. } | Phase::Runbook | Phase::Closing);
        if let Some(&p) = self.notify.bg.pending.first() {
            if !self.notify.aws_skipped && now_s >= self.notify.bg.last_retry_s + 60 {
                self.notify.bg.last_retry_s = now_s;
                self.notify.bg.busy = Some(p);
                self.push_notice(p, fx);
            }
        } else if in_use
            && self.info.heartbeat_s > 0
            && !self.notify.aws_skipped
            && now_s >= self.notify.bg.last_heartbeat_s + self.info.heartbeat_s
        {
            self.notify.bg.last_heartbeat_s = now_s;
            self.notify.bg.busy = Some(NoticePhase::Heartbeat);
            self.push_notice(NoticePhase::Heartbeat, fx);
        }
    }

    pub(super) fn background_done(&mut self, phase: NoticePhase, result: Result<Delivery, Failed>, fx: &mut Vec<Effect>) {
        let late = self.notify.bg.pending.contains(&phase);
        match result {
            Ok(d) => {
                fx.push(self.entry(Entry::NoticeSent {
                    phase: phase.as_str().into(),
                    channel: d.channel.clone(),
                    message_id: d.message_id.clone(),
                    late: Some(late),
                }));
                self.notify.bg.pending.retain(|p| *p != phase);
                self.notify.sent.push((phase, d));
                if late {
                    self.info_msg(Say::NoticeFinallySent { phase });
                }
            }
            Err(e) if !late => {
                fx.push(self.entry(Entry::NoticeFailed { phase: phase.as_str().into(), error: e.to_string(), simulated: false }))
            }
            // A retry that failed again: it stays pending; the first failure is already recorded.
            Err(_) => {}
        }
    }

    /// Sends the release (or abort) notice; a notice still undelivered goes first, so the team
    /// hears the whole story in order.
    pub(super) fn release(&mut self, notice: NoticePhase, fx: &mut Vec<Effect>) -> Phase {
        if let Some(&p) = self.notify.bg.pending.first()
            && self.notify.bg.busy.is_none()
            && !self.notify.aws_skipped
        {
            self.notify.bg.busy = Some(p);
            self.push_notice(p, fx);
        }
        self.send_notice(notice, fx)
    }

    pub(super) fn after_notice(&mut self, notice: NoticePhase, fx: &mut Vec<Effect>) -> Phase {
        match notice {
            NoticePhase::InUse => {
                self.notify.announced = true;
                self.notify.bg.last_heartbeat_s = self.now_s;
                fx.push(Effect::Unseal { ids: self.checked_ids() });
                Phase::Unseal { failed: None }
            }
            // A rekey's last act: the team hears who was added and removed; then it closes.
            NoticePhase::RosterChanged if self.mode == Mode::Offboard => {
                self.info_msg(Say::OffboardRosterChanged);
                Phase::Offboard
            }
            NoticePhase::RosterChanged if self.mode == Mode::Rekey => {
                self.outcome = Some(Outcome::Closed);
                fx.push(self.entry(Entry::SessionClosed { steps_done: 0, steps_total: 0, rekey: Some("committed".into()) }));
                self.start_signing()
            }
            // Sent before a ceremony starts, never from inside one.
            NoticePhase::Heartbeat | NoticePhase::RosterChanged => Phase::Runbook,
            NoticePhase::Released | NoticePhase::Aborted => self.start_signing(),
        }
    }
}
