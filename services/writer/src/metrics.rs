//! The writer's Prometheus metrics, named once.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// One of a closed set (`orghub_runtime::metrics::method_label`).
    pub method: String,
    /// The matched route template, never the raw path.
    pub route: String,
    pub status: u16,
}

/// A halted municipality: its kommunekode and why (`refused`, `too-large`, `unreadable`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HaltLabels {
    pub kommune: String,
    pub reason: String,
}

impl HaltLabels {
    pub fn new(kommune: i32, reason: &str) -> Self {
        HaltLabels {
            kommune: kommune.to_string(),
            reason: reason.to_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Events written to the event log (one per changing registration).
    pub events_written: Counter,
    /// Events confirmed by the broker.
    pub events_published: Counter,
    /// Of those, events no queue was bound for.
    pub events_unroutable: Counter,
    /// Unpublished events in the log.
    pub relay_lag_events: Gauge,
    /// Age of the oldest unpublished event, seconds.
    pub relay_lag_seconds: Gauge<f64, AtomicU64>,
    /// 1 while this process holds the relay lock.
    pub relay_active: Gauge,
    /// 1 per municipality the relay halted, with the reason; absent when none is.
    pub relay_halted: Family<HaltLabels, Gauge>,
    /// Time from sending an event to its confirm.
    pub confirm_latency: Histogram,
    /// `/snapshot` requests turned away with 503 because the snapshot slots were taken.
    pub snapshots_refused: Counter,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_latency: Histogram,
    /// Writing requests of one municipality applied together in one transaction.
    pub write_group_requests: Histogram,
    /// Writing requests waiting for their municipality's turn, over all municipalities.
    pub write_queue_waiting: Gauge,
    /// Writes refused because their municipality's queue was full (answered 503).
    pub write_queue_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("orghub");
        let m = Metrics {
            events_written: Counter::default(),
            events_published: Counter::default(),
            events_unroutable: Counter::default(),
            relay_lag_events: Gauge::default(),
            relay_lag_seconds: Gauge::default(),
            relay_active: Gauge::default(),
            relay_halted: Family::default(),
            snapshots_refused: Counter::default(),
            confirm_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            http_requests: Family::default(),
            http_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            write_group_requests: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            write_queue_waiting: Gauge::default(),
            write_queue_refused: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_written",
            "Events written to the event log",
            m.events_written.clone(),
        );
        registry.register(
            "events_published",
            "Events confirmed by RabbitMQ",
            m.events_published.clone(),
        );
        registry.register(
            "events_unroutable",
            "Published events that no queue was bound for",
            m.events_unroutable.clone(),
        );
        registry.register(
            "relay_lag_events",
            "Unpublished events in the event log",
            m.relay_lag_events.clone(),
        );
        registry.register(
            "relay_lag_seconds",
            "Age of the oldest unpublished event in seconds",
            m.relay_lag_seconds.clone(),
        );
        registry.register(
            "relay_active",
            "1 while this process holds the relay lock",
            m.relay_active.clone(),
        );
        registry.register(
            "relay_halted",
            "1 for each municipality the relay halted because its next event cannot be published, \
             by reason",
            m.relay_halted.clone(),
        );
        registry.register(
            "snapshots_refused",
            "Snapshot requests refused with 503 because the snapshot slots were taken",
            m.snapshots_refused.clone(),
        );
        registry.register(
            "publish_confirm_seconds",
            "Time from sending an event to its broker confirm",
            m.confirm_latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "HTTP request latency",
            m.http_latency.clone(),
        );
        registry.register(
            "write_group_requests",
            "Writing requests of one municipality applied together in one transaction",
            m.write_group_requests.clone(),
        );
        registry.register(
            "write_queue_waiting",
            "Writing requests waiting for their municipality's turn",
            m.write_queue_waiting.clone(),
        );
        registry.register(
            "write_queue_refused",
            "Writes answered 503 because their municipality's queue of waiting writes was full",
            m.write_queue_refused.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        orghub_runtime::metrics::render(&self.registry)
    }
}
