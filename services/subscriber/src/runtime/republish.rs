//! Copies of deliveries to the retry queues and the DLQ, through the subscriber's own exchange
//! `sub.<name>.x`, with the broker's confirmed [`Publisher`].
//!
//! A copy keeps the body and what [`copy_properties`] keeps of the original (the `ce-*` headers,
//! `orghub-replay-count`, never an `x-` header); the runtime's own `orghub-*` headers are
//! replaced.

use chrono::{SecondsFormat, Utc};
use orghub_broker::{Delivered, Delivery, Publisher, copy_properties};

pub use orghub_contracts::dead_letter::{
    ATTEMPTS, ERROR, ERROR_KIND, FAILED_AT, MAX_ERROR_CHARS, REPLAY_COUNT, RETRIES, SUBSCRIBER,
};

/// The headers the runtime owns: replaced on every copy.
const OWN: [&str; 6] = [ERROR_KIND, ERROR, ATTEMPTS, FAILED_AT, SUBSCRIBER, RETRIES];

/// Where a copy of a delivery goes and the runtime headers it carries.
#[derive(Debug, Clone)]
pub struct Reroute {
    pub routing_key: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Reroute {
    /// A dead letter, routed to `sub.<name>.dlq`.
    pub fn dead_letter(
        dlq: &str,
        subscriber: &str,
        reason: &str,
        error: &str,
        attempts: u32,
    ) -> Self {
        Reroute {
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
        Reroute {
            routing_key: retry_queue.to_owned(),
            headers: vec![
                (RETRIES, retries.to_string()),
                (ATTEMPTS, attempts.to_string()),
            ],
        }
    }
}

/// Publishes every copy (pipelined, `mandatory`) through `exchange`, then waits for each
/// confirm. `Ok(())` only for an ack without a returned message: a copy that reached no queue is
/// not safe.
pub async fn publish_all(
    publisher: &Publisher,
    exchange: &str,
    copies: Vec<(&Delivery, Reroute)>,
) -> Vec<Result<(), String>> {
    let mut pending = Vec::with_capacity(copies.len());
    for (delivery, reroute) in copies {
        let properties = copy_properties(&delivery.properties, &OWN, &reroute.headers);
        pending.push(
            publisher
                .send_to(exchange, &reroute.routing_key, &delivery.data, properties)
                .await,
        );
    }
    let mut results = Vec::with_capacity(pending.len());
    for sent in pending {
        let confirmed = match sent {
            Ok(in_flight) => in_flight.confirmed().await,
            Err(e) => Err(e),
        };
        results.push(match confirmed {
            Ok(Delivered::Routed) => Ok(()),
            Ok(Delivered::Unroutable) => Err(format!(
                "the copy was returned unroutable by {exchange} (is its queue missing?)"
            )),
            Err(e) => Err(format!("publishing to {exchange}: {e}")),
        });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_says_why_with_the_error_cut_to_its_limit() {
        let copy = Reroute::dead_letter("sub.a.dlq", "a", "sink-permanent", &"é".repeat(1500), 9);
        assert_eq!(copy.routing_key, "sub.a.dlq");
        let header = |name: &str| {
            copy.headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header(ERROR_KIND).as_deref(), Some("sink-permanent"));
        assert_eq!(header(ATTEMPTS).as_deref(), Some("9"));
        assert_eq!(header(SUBSCRIBER).as_deref(), Some("a"));
        assert_eq!(
            header(ERROR).map(|e| e.chars().count()),
            Some(MAX_ERROR_CHARS)
        );
        assert!(copy.headers.iter().all(|(n, _)| OWN.contains(n)));
    }
}
