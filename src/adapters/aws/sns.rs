//! Notices over SNS: "root in use", heartbeats, "root released", with the message attributes
//! `session_id`, `mode` and `phase`, so subscribers can filter and correlate.

use super::{Aws, AwsError, classify};
use crate::core::notice::{Broadcaster, Delivery, Notice, NoticeError};
use aws_sdk_sns::types::MessageAttributeValue;

pub struct SnsBroadcaster {
    pub aws: Aws,
    pub topic_arn: String,
}

impl SnsBroadcaster {
    /// How many confirmed subscriptions the topic has (alerts that go to nobody are a known way
    /// break-glass fails).
    pub(crate) fn confirmed_subscriptions(&self) -> Result<usize, AwsError> {
        let client = aws_sdk_sns::Client::new(&self.aws.sdk);
        let mut n = 0;
        let mut token = None;
        loop {
            let out = self
                .aws
                .rt
                .block_on(client.list_subscriptions_by_topic().topic_arn(&self.topic_arn).set_next_token(token).send())
                .map_err(|e| classify("sns:ListSubscriptionsByTopic", &e, "this principal"))?;
            n += out.subscriptions().iter().filter(|s| s.subscription_arn().is_some_and(|a| a.starts_with("arn:"))).count();
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(n);
            }
        }
    }
}

fn attr(v: &str) -> Result<MessageAttributeValue, NoticeError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| NoticeError::Failed { channel: "sns".into(), what: e.to_string() })
}

impl Broadcaster for SnsBroadcaster {
    fn channel(&self) -> String {
        "sns".into()
    }

    fn send(&mut self, notice: &Notice) -> Result<Delivery, NoticeError> {
        let client = aws_sdk_sns::Client::new(&self.aws.sdk);
        let mut req = client.publish().topic_arn(&self.topic_arn).subject(notice.subject()).message(notice.body());
        for (k, v) in notice.attributes() {
            req = req.message_attributes(k, attr(&v)?);
        }
        let out = self.aws.rt.block_on(req.send()).map_err(|e| NoticeError::Failed {
            channel: "sns".into(),
            what: format!("{} (topic {})", classify("sns:Publish", &e, "this principal"), self.topic_arn),
        })?;
        Ok(Delivery { channel: "sns".into(), message_id: out.message_id().unwrap_or_default().to_string() })
    }

    fn warning(&self) -> Option<String> {
        match self.confirmed_subscriptions() {
            Ok(0) => Some(format!(
                "the notice topic {} has no confirmed subscription: alerts would reach nobody. Subscribe the team (and confirm) first.",
                self.topic_arn
            )),
            Ok(_) => None,
            Err(e) => Some(format!("could not check the notice topic's subscriptions: {e}")),
        }
    }
}
