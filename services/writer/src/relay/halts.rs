//! Halts: a municipality whose head event cannot be published waits alone.
//!
//! When RabbitMQ refuses an event (a nack: a queue bound to its routing key refuses messages,
//! e.g. `x-overflow=reject-publish` on a full or zero-length queue, or an operator's policy on an
//! abandoned queue), or the event is larger than the relay may send, or its row cannot be read,
//! the relay halts that municipality at that event: nothing of it after the refused head is sent
//! (order per municipality holds), its position stays before the head, and every other
//! municipality goes on. The head alone is tried again after a capped exponential backoff; once
//! the broker takes it, the halt clears and the municipality flows again. A halt is visible as
//! the metric `orghub_relay_halted{kommune,reason}`, one ERROR log line when it starts, and a row
//! of `relay_halt`, which `orghubctl status` shows.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::metrics::{HaltLabels, Metrics};

/// The wait before the first retry of a refused head; it doubles with each refusal after.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two tries of a refused head: how long a municipality may wait after
/// its cause is gone.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// Why an event could not be published.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The broker answered `basic.nack`.
    Nacked { routing_key: String },
    /// The message is larger than `ORGHUB_RELAY_MAX_MESSAGE_BYTES` (which must not exceed
    /// RabbitMQ's `max_message_size`, or the broker closes the channel instead of refusing).
    TooLarge { bytes: usize, limit: usize },
    /// The stored row does not make a message.
    Unreadable(String),
}

impl Refusal {
    /// The metric's `reason` label and `relay_halt.kind`: a small fixed set.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Nacked { .. } => "refused",
            Refusal::TooLarge { .. } => "too-large",
            Refusal::Unreadable(_) => "unreadable",
        }
    }

    /// What an operator reads: the cause and where to look.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Nacked { routing_key } => format!(
                "RabbitMQ refused (nacked) the event with routing key {routing_key}: a queue \
                 bound to it refuses messages (x-overflow=reject-publish with x-max-length, a \
                 policy, a quorum queue without a majority); find the queues bound to that key \
                 and fix or delete the one refusing"
            ),
            Refusal::TooLarge { bytes, limit } => format!(
                "the event is {bytes} bytes, over the relay's limit of {limit} bytes \
                 (ORGHUB_RELAY_MAX_MESSAGE_BYTES, at most RabbitMQ's max_message_size)"
            ),
            Refusal::Unreadable(detail) => {
                format!("the stored event cannot be made into a message: {detail}")
            }
        }
    }
}

/// One halt as stored in `relay_halt` and shown by `orghubctl status`.
#[derive(Debug, Clone, PartialEq)]
pub struct HaltRow {
    /// The refused head: every event before it is published, none after it.
    pub sequence: i64,
    pub event_id: Option<Uuid>,
    pub kind: String,
    pub reason: String,
    pub since: DateTime<Utc>,
    /// Tries of the head so far (the first refusal included).
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Halt {
    row: HaltRow,
    next_attempt: Instant,
}

/// The halted municipalities of the running relay.
#[derive(Debug, Default)]
pub struct Halts {
    map: HashMap<i32, Halt>,
}

fn retry_delay(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

impl Halts {
    /// Halts as stored by an earlier holder: each head is tried first, before anything after it.
    pub fn resumed_from(rows: BTreeMap<i32, HaltRow>, metrics: &Metrics) -> Halts {
        let now = Instant::now();
        let map = rows
            .into_iter()
            .map(|(kommune, row)| {
                metrics
                    .relay_halted
                    .get_or_create(&HaltLabels::new(kommune, &row.kind))
                    .set(1);
                (
                    kommune,
                    Halt {
                        row,
                        next_attempt: now,
                    },
                )
            })
            .collect();
        Halts { map }
    }

    /// The refused head of a halted municipality.
    pub fn head(&self, kommune: i32) -> Option<i64> {
        self.map.get(&kommune).map(|h| h.row.sequence)
    }

    /// Whether a halted municipality's head may be tried now.
    pub fn due(&self, kommune: i32, now: Instant) -> bool {
        self.map
            .get(&kommune)
            .is_some_and(|h| h.next_attempt <= now)
    }

    /// The next time a halted head is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.map.values().map(|h| h.next_attempt).min()
    }

    /// Records that `sequence` of `kommune` could not be published: halts the municipality there,
    /// or, for its halted head, counts one more try and waits longer.
    pub fn refuse(
        &mut self,
        kommune: i32,
        sequence: i64,
        event_id: Option<Uuid>,
        refusal: &Refusal,
        metrics: &Metrics,
    ) {
        let reason = refusal.reason();
        match self.map.get_mut(&kommune) {
            // A later event of a halted municipality, sent before the halt was known: it is
            // sent again after the head.
            Some(halt) if halt.row.sequence < sequence => {}
            Some(halt) if halt.row.sequence == sequence => {
                halt.row.attempts += 1;
                let delay = retry_delay(halt.row.attempts);
                halt.next_attempt = Instant::now() + delay;
                halt.row.next_attempt_at = Utc::now() + delay;
                if halt.row.kind != refusal.kind() {
                    metrics
                        .relay_halted
                        .remove(&HaltLabels::new(kommune, &halt.row.kind));
                    halt.row.kind = refusal.kind().to_owned();
                }
                halt.row.reason = reason;
                metrics
                    .relay_halted
                    .get_or_create(&HaltLabels::new(kommune, &halt.row.kind))
                    .set(1);
                tracing::warn!(
                    kommune,
                    sequence,
                    attempts = halt.row.attempts,
                    retry_in = ?delay,
                    reason = %halt.row.reason,
                    "municipality still halted: its head event was refused again"
                );
            }
            // Not halted yet, or halted at a later event while this earlier one was in flight:
            // this one is the head now.
            earlier => {
                if let Some(later) = earlier {
                    metrics
                        .relay_halted
                        .remove(&HaltLabels::new(kommune, &later.row.kind));
                }
                let delay = retry_delay(1);
                tracing::error!(
                    kommune,
                    sequence,
                    event_id = ?event_id,
                    reason = %reason,
                    retry_in = ?delay,
                    "relay halted municipality {kommune} at event {sequence}: {reason}. Its later \
                     events wait; other municipalities go on; the event is tried again with \
                     backoff and the municipality resumes by itself once it is taken"
                );
                metrics
                    .relay_halted
                    .get_or_create(&HaltLabels::new(kommune, refusal.kind()))
                    .set(1);
                self.map.insert(
                    kommune,
                    Halt {
                        row: HaltRow {
                            sequence,
                            event_id,
                            kind: refusal.kind().to_owned(),
                            reason,
                            since: Utc::now(),
                            attempts: 1,
                            next_attempt_at: Utc::now() + delay,
                        },
                        next_attempt: Instant::now() + delay,
                    },
                );
            }
        }
    }

    /// Records that `sequence` of `kommune` was confirmed: clears the halt when it was the head.
    pub fn confirm(&mut self, kommune: i32, sequence: i64, metrics: &Metrics) {
        if self.head(kommune) != Some(sequence) {
            return;
        }
        if let Some(halt) = self.map.remove(&kommune) {
            metrics
                .relay_halted
                .remove(&HaltLabels::new(kommune, &halt.row.kind));
            tracing::info!(
                kommune,
                sequence,
                attempts = halt.row.attempts,
                halted_for = ?(Utc::now() - halt.row.since).to_std().unwrap_or_default(),
                "municipality resumed: RabbitMQ took its halted event"
            );
        }
    }

    /// What `relay_halt` should hold.
    pub fn rows(&self) -> BTreeMap<i32, HaltRow> {
        self.map.iter().map(|(k, h)| (*k, h.row.clone())).collect()
    }
}

/// The halts an earlier holder stored.
pub async fn load(conn: &mut PgConnection) -> Result<BTreeMap<i32, HaltRow>, sqlx::Error> {
    type Row = (
        i32,
        i64,
        Option<Uuid>,
        String,
        String,
        DateTime<Utc>,
        i32,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT kommune, sequence, event_id, kind, reason, since, attempts, next_attempt_at
         FROM relay_halt",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.0,
                HaltRow {
                    sequence: r.1,
                    event_id: r.2,
                    kind: r.3,
                    reason: r.4,
                    since: r.5,
                    attempts: r.6,
                    next_attempt_at: r.7,
                },
            )
        })
        .collect())
}

/// Makes `relay_halt` hold exactly `halts`.
pub async fn store(
    conn: &mut PgConnection,
    halts: &BTreeMap<i32, HaltRow>,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    let kommuner: Vec<i32> = halts.keys().copied().collect();
    sqlx::query("DELETE FROM relay_halt WHERE kommune <> ALL($1)")
        .bind(&kommuner)
        .execute(&mut *tx)
        .await?;
    for (kommune, h) in halts {
        sqlx::query(
            "INSERT INTO relay_halt
                 (kommune, sequence, event_id, kind, reason, since, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (kommune) DO UPDATE
             SET sequence = EXCLUDED.sequence, event_id = EXCLUDED.event_id,
                 kind = EXCLUDED.kind, reason = EXCLUDED.reason, since = EXCLUDED.since,
                 attempts = EXCLUDED.attempts, next_attempt_at = EXCLUDED.next_attempt_at,
                 updated_at = now()",
        )
        .bind(kommune)
        .bind(h.sequence)
        .bind(h.event_id)
        .bind(&h.kind)
        .bind(&h.reason)
        .bind(h.since)
        .bind(h.attempts)
        .bind(h.next_attempt_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_doubles_from_the_first_and_is_capped() {
        assert_eq!(retry_delay(1), FIRST_RETRY);
        assert_eq!(retry_delay(2), FIRST_RETRY * 2);
        assert_eq!(retry_delay(3), FIRST_RETRY * 4);
        assert_eq!(retry_delay(50), MAX_RETRY);
        assert_eq!(retry_delay(i32::MAX), MAX_RETRY);
    }

    #[test]
    fn a_refusal_halts_only_its_municipality_and_its_head_confirmed_clears_it() {
        let metrics = Metrics::new();
        let mut halts = Halts::default();
        let refused = Refusal::Nacked {
            routing_key: "org.101.unit.created".into(),
        };
        halts.refuse(101, 7, None, &refused, &metrics);
        assert_eq!(halts.head(101), Some(7));
        assert_eq!(halts.head(751), None);
        assert!(
            !halts.due(101, Instant::now()),
            "waits before the first retry"
        );
        // Later events sent before the halt was known neither move nor clear it.
        halts.refuse(101, 8, None, &refused, &metrics);
        halts.confirm(101, 9, &metrics);
        assert_eq!(halts.rows()[&101].attempts, 1);
        assert_eq!(halts.head(101), Some(7));
        assert!(
            metrics
                .render()
                .contains("relay_halted{kommune=\"101\",reason=\"refused\"} 1")
        );
        halts.refuse(101, 7, None, &refused, &metrics);
        assert_eq!(halts.rows()[&101].attempts, 2);
        halts.confirm(101, 7, &metrics);
        assert_eq!(halts.head(101), None);
        assert!(!metrics.render().contains("kommune=\"101\""));
    }
}
