//! One batch of deliveries, from decoding to acknowledgement.
//!
//! 1. Decode each delivery. What does not decode is permanent: dead-lettered with
//!    `DecodeError::reason()`.
//! 2. Apply the events through the sink, in delivery order. Transient failures are retried in
//!    process with jittered exponential backoff (only the failed ones, still in order).
//! 3. What still fails transiently goes to the next retry tier (`orghub-retries` + 1), or to the
//!    DLQ as `retries-exhausted` after the last tier. Permanent failures go to the DLQ as
//!    `sink-permanent`.
//! 4. Copies are published with confirms. Only then are the originals settled: a delivery whose
//!    copy was not confirmed is rejected with requeue (the broker redelivers it; at the policy's
//!    delivery limit it dead-letters it itself); the rest are acknowledged with one `multiple`
//!    ack of the highest tag.

use std::time::Instant;

use chrono::Utc;
use orghub_broker::{Delivery, Publisher, count_header};
use orghub_contracts::OrgEvent;
use orghub_runtime::Shutdown;

use super::Shared;
use super::republish::{ATTEMPTS, RETRIES, Reroute, publish_all};
use crate::metrics::Metrics;
use crate::retry::NextStep;
use crate::sink::{Applied, Sink, SinkError};

/// The stable reason codes of dead letters the runtime writes (beside `DecodeError::reason()`).
pub const SINK_PERMANENT: &str = "sink-permanent";
pub const RETRIES_EXHAUSTED: &str = "retries-exhausted";

/// What becomes of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Still being worked on.
    Pending,
    /// Applied or stale: acknowledge.
    Done,
    DeadLetter {
        reason: &'static str,
        error: String,
    },
    Delay {
        tier: usize,
        error: String,
    },
    /// Hand it back to the broker.
    Requeue(String),
}

struct Item {
    delivery: Delivery,
    label: String,
    /// `orghub-attempts` of the delivery: attempts before this one.
    prior_attempts: u32,
    /// `orghub-retries`: delayed retries so far.
    delayed: u32,
    /// Sink attempts in this process.
    attempts: u32,
    event: Option<OrgEvent>,
    fate: Fate,
}

impl Item {
    fn total_attempts(&self) -> u32 {
        self.prior_attempts + self.attempts.max(1)
    }
}

/// Why a batch could not be settled: the channel is gone. Unsettled deliveries come back from the
/// broker to whoever consumes next.
#[derive(Debug, thiserror::Error)]
#[error("settling the batch failed: {0}")]
pub struct Lost(pub String);

/// Processes and settles one batch. Returns how many deliveries were handed back to the broker.
pub async fn process<S: Sink>(
    shared: &Shared<S>,
    publisher: &Publisher,
    deliveries: Vec<Delivery>,
    stop: &Shutdown,
) -> Result<usize, Lost> {
    let metrics = &shared.metrics;
    metrics.batch_size.observe(deliveries.len() as f64);
    let mut items: Vec<Item> = deliveries.into_iter().map(decode).collect();

    apply_with_retries(shared, &mut items, stop).await;

    for item in items.iter_mut() {
        if let Fate::Delay { tier, error } = &item.fate
            && *tier >= shared.config.retry.tiers.len()
        {
            item.fate = Fate::DeadLetter {
                reason: RETRIES_EXHAUSTED,
                error: error.clone(),
            };
        }
    }
    publish_copies(shared, publisher, &mut items).await;
    settle(metrics, items).await
}

fn decode(delivery: Delivery) -> Item {
    let label = delivery.properties.message_id().as_ref().map_or_else(
        || format!("delivery {}", delivery.delivery_tag),
        |m| m.to_string(),
    );
    let prior_attempts = count_header(&delivery.properties, ATTEMPTS);
    let delayed = count_header(&delivery.properties, RETRIES);
    let (event, fate) = match orghub_broker::decode_delivery(&delivery) {
        Ok(event) => (Some(event), Fate::Pending),
        Err(e) => (
            None,
            Fate::DeadLetter {
                reason: e.reason(),
                error: e.to_string(),
            },
        ),
    };
    Item {
        delivery,
        label,
        prior_attempts,
        delayed,
        attempts: 0,
        event,
        fate,
    }
}

async fn apply_with_retries<S: Sink>(shared: &Shared<S>, items: &mut [Item], stop: &Shutdown) {
    let metrics = &shared.metrics;
    let mut backoff = shared.config.retry.backoff();
    let mut todo: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].fate == Fate::Pending)
        .collect();
    while !todo.is_empty() {
        let events: Vec<OrgEvent> = todo
            .iter()
            .filter_map(|&i| items[i].event.clone())
            .collect();
        let started = Instant::now();
        let mut results = shared.sink.apply(&events).await;
        metrics
            .apply_seconds
            .observe(started.elapsed().as_secs_f64());
        if results.len() != events.len() {
            tracing::error!(
                sink = shared.sink.kind(),
                events = events.len(),
                results = results.len(),
                "the sink broke its contract: one result per event; treating the batch as failed"
            );
            results = vec![
                Err(SinkError::transient(
                    "the sink returned the wrong number of results"
                ));
                events.len()
            ];
        }
        let mut failed = Vec::new();
        let mut newest: Option<chrono::DateTime<Utc>> = None;
        for (&i, result) in todo.iter().zip(results) {
            let item = &mut items[i];
            item.attempts += 1;
            match result {
                Ok(Applied::Applied) => {
                    metrics.applied.inc();
                    if let Some(e) = &item.event {
                        newest = newest.max(Some(e.time));
                    }
                    item.fate = Fate::Done;
                }
                Ok(Applied::Stale) => {
                    metrics.stale.inc();
                    item.fate = Fate::Done;
                }
                Err(SinkError::Permanent(error)) => {
                    item.fate = Fate::DeadLetter {
                        reason: SINK_PERMANENT,
                        error,
                    };
                }
                Err(SinkError::Transient(error)) => {
                    item.fate = Fate::Delay { tier: 0, error };
                    failed.push(i);
                }
            }
        }
        if let Some(time) = newest {
            let lag = (Utc::now() - time).num_milliseconds().max(0) as f64 / 1000.0;
            metrics.lag_seconds.set(lag);
        }
        if failed.is_empty() {
            break;
        }
        let Some(pause) = backoff.next() else {
            // In-process retries used up: on to the delayed tiers.
            for &i in &failed {
                let item = &mut items[i];
                if let Fate::Delay { tier, .. } = &mut item.fate {
                    *tier = match shared.config.retry.after_in_process(item.delayed) {
                        NextStep::Delay(t) => t,
                        NextStep::GiveUp => usize::MAX,
                    };
                }
            }
            break;
        };
        metrics.retried_in_process(failed.len());
        tracing::debug!(failed = failed.len(), ?pause, "retrying in process");
        let stopped = tokio::select! {
            _ = tokio::time::sleep(pause) => false,
            _ = stop.cancelled() => true,
        };
        if stopped {
            // Shutting down: the broker hands these to the next consumer.
            for &i in &failed {
                items[i].fate = Fate::Requeue("shutting down during in-process retries".into());
            }
            break;
        }
        todo = failed;
    }
}

async fn publish_copies<S: Sink>(shared: &Shared<S>, publisher: &Publisher, items: &mut [Item]) {
    let name = &shared.topology.name;
    let mut copies = Vec::new();
    let mut which = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let reroute = match &item.fate {
            Fate::DeadLetter { reason, error } => Reroute::dead_letter(
                &name.dlq(),
                name.as_str(),
                reason,
                error,
                item.total_attempts(),
            ),
            Fate::Delay { tier, .. } => Reroute::retry(
                &name.retry(shared.config.retry.tiers[*tier]),
                item.delayed + 1,
                item.total_attempts(),
            ),
            _ => continue,
        };
        copies.push((&item.delivery, reroute));
        which.push(i);
    }
    if copies.is_empty() {
        return;
    }
    let results = publish_all(publisher, &name.exchange(), copies).await;
    for (i, result) in which.into_iter().zip(results) {
        let item = &mut items[i];
        match (result, &item.fate) {
            (Ok(()), Fate::DeadLetter { reason, error }) => {
                shared.metrics.dead_lettered(reason, &item.label, error);
            }
            (Ok(()), Fate::Delay { tier, error }) => {
                let tier = shared.config.retry.tiers[*tier].to_string();
                shared.metrics.delayed(&tier, &item.label, error);
            }
            (Ok(()), _) => {}
            (Err(why), _) => item.fate = Fate::Requeue(why),
        }
    }
}

async fn settle(metrics: &Metrics, items: Vec<Item>) -> Result<usize, Lost> {
    let mut highest_ack: Option<&Delivery> = None;
    let mut requeued = 0;
    for item in &items {
        match &item.fate {
            Fate::Requeue(why) => {
                requeued += 1;
                metrics.requeued(&item.label, why);
                orghub_broker::requeue(&item.delivery)
                    .await
                    .map_err(|e| Lost(e.to_string()))?;
            }
            Fate::Pending => {
                // Not reachable: every pending item gets a fate above. Requeue to be safe.
                orghub_broker::requeue(&item.delivery)
                    .await
                    .map_err(|e| Lost(e.to_string()))?;
            }
            Fate::Done | Fate::DeadLetter { .. } | Fate::Delay { .. } => {
                if highest_ack.is_none_or(|d| item.delivery.delivery_tag > d.delivery_tag) {
                    highest_ack = Some(&item.delivery);
                }
            }
        }
    }
    // Rejected ones are settled already, and every earlier batch was settled, so one `multiple`
    // ack of the highest tag acknowledges exactly this batch's other deliveries.
    if let Some(delivery) = highest_ack {
        let acked = orghub_broker::ack_through(delivery)
            .await
            .map_err(|e| Lost(e.to_string()))?;
        if !acked {
            return Err(Lost("the channel closed before the ack".into()));
        }
    }
    Ok(requeued)
}
