//! Copies of deliveries to the retry queues and the DLQ, through the subscriber's own exchange
//! `sub.<name>.x`, on a channel in confirm mode.
//!
//! A copy keeps the body and every AMQP property and header of the original (the `ce-*` headers,
//! `orghub-replay-count`), except that headers starting with `x-` (the broker's own, such as
//! `x-death`) are never copied, the runtime's own `orghub-*` headers are replaced, and the copy is
//! persistent. All added headers are AMQP long strings.

use chrono::{SecondsFormat, Utc};
use orghub_broker::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use orghub_broker::lapin::types::{AMQPValue, FieldTable, ShortString};
use orghub_broker::lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};

pub use orghub_contracts::dead_letter::{
    ATTEMPTS, ERROR, ERROR_KIND, FAILED_AT, MAX_ERROR_CHARS, REPLAY_COUNT, RETRIES, SUBSCRIBER,
};

/// The headers the runtime owns: replaced on every copy.
const OWN: [&str; 6] = [ERROR_KIND, ERROR, ATTEMPTS, FAILED_AT, SUBSCRIBER, RETRIES];

/// Where a copy goes and what it says.
#[derive(Debug, Clone)]
pub struct Copy {
    pub routing_key: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Copy {
    /// A dead letter, routed to `sub.<name>.dlq`.
    pub fn dead_letter(
        dlq: &str,
        subscriber: &str,
        reason: &str,
        error: &str,
        attempts: u32,
    ) -> Self {
        Copy {
            routing_key: dlq.to_owned(),
            headers: vec![
                (ERROR_KIND, reason.to_owned()),
                (ERROR, error.chars().take(MAX_ERROR_CHARS).collect()),
                (ATTEMPTS, attempts.to_string()),
                (
                    FAILED_AT,
                    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                ),
                (SUBSCRIBER, subscriber.to_owned()),
            ],
        }
    }

    /// A delayed retry, routed to `sub.<name>.retry.<tier>`.
    pub fn retry(retry_queue: &str, retries: u32, attempts: u32) -> Self {
        Copy {
            routing_key: retry_queue.to_owned(),
            headers: vec![
                (RETRIES, retries.to_string()),
                (ATTEMPTS, attempts.to_string()),
            ],
        }
    }
}

/// The properties of a copy: the original's, with the header rules of the module docs.
pub fn copy_properties(
    original: &BasicProperties,
    own: &[(&'static str, String)],
) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(table) = original.headers() {
        for (name, value) in table.inner() {
            let name_str = name.as_str();
            if name_str.starts_with("x-") || OWN.contains(&name_str) {
                continue;
            }
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in own {
        headers.insert((*name).into(), AMQPValue::LongString(value.as_str().into()));
    }
    original.clone().with_headers(headers).with_delivery_mode(2)
}

/// Reads a decimal header written by the runtime (or anyone: integers of any AMQP type count);
/// absent or unreadable = 0.
pub fn count_header(properties: &BasicProperties, name: &str) -> u32 {
    let Some(table) = properties.headers() else {
        return 0;
    };
    let value = table
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == name)
        .map(|(_, v)| v);
    let number = match value {
        Some(AMQPValue::LongString(s)) => s.to_string().trim().parse::<i64>().ok(),
        Some(AMQPValue::ShortString(s)) => s.as_str().trim().parse::<i64>().ok(),
        Some(AMQPValue::ShortShortInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortShortUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongLongInt(n)) => Some(*n),
        _ => None,
    };
    number
        .and_then(|n| u32::try_from(n.max(0)).ok())
        .unwrap_or(0)
}

/// A confirm-mode channel that publishes copies to `sub.<name>.x`.
#[derive(Debug, Clone)]
pub struct Republisher {
    channel: Channel,
    exchange: String,
}

impl Republisher {
    pub async fn new(
        conn: &Connection,
        exchange: &str,
    ) -> Result<Self, orghub_broker::lapin::Error> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Republisher {
            channel,
            exchange: exchange.to_owned(),
        })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes every copy (pipelined, `mandatory`), then waits for each confirm. `Ok(())` only
    /// for an ack without a returned message: a copy that reached no queue is not safe.
    pub async fn publish_all(
        &self,
        copies: Vec<(Vec<u8>, BasicProperties, String)>,
    ) -> Vec<Result<(), String>> {
        let mut pending: Vec<Result<PublisherConfirm, String>> = Vec::with_capacity(copies.len());
        for (body, properties, routing_key) in copies {
            let Ok(key) = ShortString::try_new(routing_key.as_str()) else {
                pending.push(Err(format!("routing key {routing_key:?} is too long")));
                continue;
            };
            let sent = self
                .channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    key,
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    properties,
                )
                .await
                .map_err(|e| format!("publishing to {}: {e}", self.exchange));
            pending.push(sent);
        }
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            results.push(match p {
                Err(e) => Err(e),
                Ok(confirm) => match confirm.await {
                    Ok(Confirmation::Ack(None)) => Ok(()),
                    Ok(Confirmation::Ack(Some(_))) => Err(format!(
                        "the copy was returned unroutable by {} (is its queue missing?)",
                        self.exchange
                    )),
                    Ok(Confirmation::Nack(_)) => Err("the broker nacked the copy".to_owned()),
                    Ok(Confirmation::NotRequested) => {
                        Err("the channel is not in confirm mode".to_owned())
                    }
                    Err(e) => Err(format!("waiting for the confirm: {e}")),
                },
            });
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_drop_x_headers_replace_our_own_and_keep_the_rest() {
        let mut table = FieldTable::default();
        table.insert("ce-id".into(), AMQPValue::LongString("abc".into()));
        table.insert("x-death".into(), AMQPValue::FieldArray(Vec::new().into()));
        table.insert("x-delivery-count".into(), AMQPValue::LongLongInt(3));
        table.insert(ATTEMPTS.into(), AMQPValue::LongString("7".into()));
        table.insert(REPLAY_COUNT.into(), AMQPValue::LongString("1".into()));
        let original = BasicProperties::default()
            .with_headers(table)
            .with_message_id("m1".into())
            .with_content_type("application/cloudevents+json".into());
        let copy = Copy::dead_letter("sub.a.dlq", "a", "sink-permanent", &"é".repeat(1500), 9);
        let props = copy_properties(&original, &copy.headers);
        let headers = props.headers().clone().expect("headers");
        let names: Vec<&str> = headers.inner().keys().map(|k| k.as_str()).collect();
        assert!(!names.iter().any(|n| n.starts_with("x-")), "{names:?}");
        assert!(names.contains(&"ce-id") && names.contains(&REPLAY_COUNT));
        assert_eq!(count_header(&props, ATTEMPTS), 9);
        let error = match headers.inner().get(ERROR) {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            other => panic!("orghub-error is {other:?}"),
        };
        assert_eq!(error.chars().count(), MAX_ERROR_CHARS);
        assert_eq!(props.message_id().as_ref().map(|m| m.as_str()), Some("m1"));
        assert_eq!(*props.delivery_mode(), Some(2));
    }

    #[test]
    fn counts_are_read_from_strings_or_integers_and_default_to_zero() {
        let mut table = FieldTable::default();
        table.insert(RETRIES.into(), AMQPValue::LongString("2".into()));
        table.insert(ATTEMPTS.into(), AMQPValue::LongInt(5));
        let props = BasicProperties::default().with_headers(table);
        assert_eq!(count_header(&props, RETRIES), 2);
        assert_eq!(count_header(&props, ATTEMPTS), 5);
        assert_eq!(count_header(&props, "orghub-none"), 0);
        assert_eq!(count_header(&BasicProperties::default(), RETRIES), 0);
    }
}
