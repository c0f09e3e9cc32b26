//! The subscriber's Prometheus metrics, named once (`orghub_runtime::metrics::serve` serves
//! them).
//!
//! Outcomes that an operator may need to look at are *telemetry events*: one method that both
//! counts and logs ([`Metrics::dead_lettered`], [`Metrics::delayed`], [`Metrics::requeued`]), so
//! the log and the counter never disagree.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `tier`: `in-process` or a delay such as `5s`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabel {
    pub tier: String,
}

/// `reason`: the `orghub-error-kind` of a dead letter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// The tier label of in-process retries.
pub const IN_PROCESS: &str = "in-process";

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Events the sink committed.
    pub applied: Counter,
    /// Events skipped because the sink held that version or a newer one.
    pub stale: Counter,
    /// Retries, by tier (`in-process` or the delay).
    pub retried: Family<TierLabel, Counter>,
    /// Deliveries dead-lettered by the runtime, by reason.
    pub dead_lettered_total: Family<ReasonLabel, Counter>,
    /// Deliveries handed back to the broker (`basic.reject` with requeue).
    pub requeued_total: Counter,
    /// Time one `Sink::apply` call takes.
    pub apply_seconds: Histogram,
    /// Deliveries per batch.
    pub batch_size: Histogram,
    /// Age of the newest applied event at the moment it was applied (registration to commit).
    pub lag_seconds: Gauge<f64, AtomicU64>,
    /// Ready messages in `sub.<name>` at the last check.
    pub queue_messages: Gauge,
    /// Snapshot documents written by resync, and entities it removed.
    pub resync_loaded: Counter,
    pub resync_removed: Counter,
    /// 1 while connected to RabbitMQ and consuming.
    pub connected: Gauge,
    /// Sessions (connections) that started consuming; more than one means reconnects.
    pub sessions: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("orghub_subscriber");
        let m = Metrics {
            registry: Registry::default(),
            applied: Counter::default(),
            stale: Counter::default(),
            retried: Family::default(),
            dead_lettered_total: Family::default(),
            requeued_total: Counter::default(),
            apply_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            lag_seconds: Gauge::default(),
            queue_messages: Gauge::default(),
            resync_loaded: Counter::default(),
            resync_removed: Counter::default(),
            connected: Gauge::default(),
            sessions: Counter::default(),
        };
        registry.register(
            "events_applied",
            "Events the sink committed",
            m.applied.clone(),
        );
        registry.register(
            "events_stale",
            "Events skipped as stale: the sink held that version or a newer one",
            m.stale.clone(),
        );
        registry.register(
            "events_retried",
            "Retries by tier: in-process, or the delay of a retry queue",
            m.retried.clone(),
        );
        registry.register(
            "events_dead_lettered",
            "Deliveries the runtime sent to the DLQ, by reason",
            m.dead_lettered_total.clone(),
        );
        registry.register(
            "deliveries_requeued",
            "Deliveries handed back to the broker because a retry or dead-letter copy could not be published",
            m.requeued_total.clone(),
        );
        registry.register(
            "apply_seconds",
            "Duration of one sink apply call (one batch)",
            m.apply_seconds.clone(),
        );
        registry.register("batch_size", "Deliveries per batch", m.batch_size.clone());
        registry.register(
            "lag_seconds",
            "Age of the newest applied event when it was applied (registration to commit)",
            m.lag_seconds.clone(),
        );
        registry.register(
            "queue_messages",
            "Ready messages in the subscriber's queue at the last check",
            m.queue_messages.clone(),
        );
        registry.register(
            "resync_loaded",
            "Snapshot documents written by resync",
            m.resync_loaded.clone(),
        );
        registry.register(
            "resync_removed",
            "Entities removed by resync because the snapshot no longer had them",
            m.resync_removed.clone(),
        );
        registry.register(
            "connected",
            "1 while connected to RabbitMQ and consuming",
            m.connected.clone(),
        );
        registry.register(
            "sessions",
            "RabbitMQ sessions that started consuming (more than one means reconnects)",
            m.sessions.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        orghub_runtime::metrics::render(&self.registry)
    }

    pub fn retried_count(&self, tier: &str) -> u64 {
        self.retried
            .get_or_create(&TierLabel {
                tier: tier.to_owned(),
            })
            .get()
    }

    pub fn dead_lettered_count(&self, reason: &str) -> u64 {
        self.dead_lettered_total
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .get()
    }

    /// In-process retries of `n` deliveries.
    pub fn retried_in_process(&self, n: usize) {
        self.retried
            .get_or_create(&TierLabel {
                tier: IN_PROCESS.to_owned(),
            })
            .inc_by(n as u64);
    }

    /// A delivery was sent to a retry tier.
    pub fn delayed(&self, tier: &str, message_id: &str, error: &str) {
        tracing::info!(tier, message_id, error, "delivery sent to a retry queue");
        self.retried
            .get_or_create(&TierLabel {
                tier: tier.to_owned(),
            })
            .inc();
    }

    /// A delivery was dead-lettered by the runtime.
    pub fn dead_lettered(&self, reason: &str, message_id: &str, error: &str) {
        tracing::warn!(reason, message_id, error, "delivery dead-lettered");
        self.dead_lettered_total
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A delivery was handed back to the broker.
    pub fn requeued(&self, message_id: &str, why: &str) {
        tracing::warn!(message_id, why, "delivery requeued to the broker");
        self.requeued_total.inc();
    }
}
