//! The store: a concrete type over `PgPool`. An entity changes only through [`Store::apply`] (a
//! request's operations, all or none, combined with the municipality's other waiting requests),
//! [`Store::apply_idempotent`] (the same behind an `Idempotency-Key`) and [`Store::apply_each`]
//! (an import batch, refused operations skipped); each writes state, history and the event row in
//! one transaction, so no caller can change state without its event. API tokens are the one other
//! thing the store writes.
//!
//! Layout (the reads are here):
//! - [`operation`]: what a write asks for, its outcome, why it is refused.
//! - `combine`: the ways to write; each municipality's bounded queue of waiting requests, applied
//!   in groups, one request's failure isolated from the others'.
//! - `transaction`: one writing transaction: limits, the integrity rules of
//!   [`orghub_contracts::integrity`] over what it sees, the changes it records.
//! - `flush`: sending a transaction's pending rows in set-based statements.
//! - `import`: a full import's record of the UUIDs its file named.
//! - [`midnight`]: one midnight's `effective`/`expired` events, in batches, once per entity
//!   and date.
//! - `patch`: a JSON merge patch over an interval (`PATCH`, sourced writes).
//! - `codec`, `tokens`, `sources`: stored JSON, API tokens, what each source system owns.

mod codec;
mod combine;
mod flush;
mod import;
pub mod midnight;
pub mod operation;
mod patch;
pub mod sources;
mod tokens;
mod transaction;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use orghub_contracts::{Attrs, DocumentHead, EntityDocument, EntityKind, Kommune};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::clock::Clock;

pub use codec::timeline_from_json;
pub use combine::IDEMPOTENCY_KEY_TTL_HOURS;
pub use operation::{Idempotent, OpResult, Operation, Outcome, WriteContext, WriteError};
pub use sources::{Owns, SourceRecord};
pub use tokens::{LiveToken, NewToken, TokenRecord};

/// Writing requests that may wait per municipality unless configured otherwise.
pub const DEFAULT_WRITE_QUEUE: usize = 512;
/// [`DEFAULT_WRITE_QUEUE`], as the configuration holds it.
pub const DEFAULT_WRITE_QUEUE_SIZE: std::num::NonZeroUsize =
    match std::num::NonZeroUsize::new(DEFAULT_WRITE_QUEUE) {
        Some(n) => n,
        None => std::num::NonZeroUsize::MIN,
    };

/// The writer's schema migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A failure of the store itself (not of the request): retrying may help for `Database`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// An entity as stored: head, deletion flag and the full timeline (with sensitive attributes).
#[derive(Debug, Clone)]
pub struct StoredEntity {
    pub head: DocumentHead,
    pub deleted: bool,
    pub timeline: orghub_contracts::Timeline<Attrs>,
}

impl StoredEntity {
    pub fn document(self, today: NaiveDate) -> EntityDocument<Attrs> {
        EntityDocument::new(self.head, self.deleted, self.timeline, today)
    }
}

/// One registration of an entity's history.
#[derive(Debug, Clone)]
pub struct RegistrationRecord {
    pub version: u64,
    pub action: String,
    pub registered_at: DateTime<Utc>,
    pub actor: String,
    pub note: Option<String>,
    /// The source system of the writer (DESIGN §2 *Source systems*), when it had one.
    pub source: Option<String>,
    pub deleted: bool,
    pub timeline: orghub_contracts::Timeline<Attrs>,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    /// Where snapshots read: a pool of their own in the writer, so that slow snapshot readers
    /// never hold the connections writes need.
    snapshot_pool: PgPool,
    /// Per municipality: its writing requests waiting for their turn.
    combiners: Arc<Mutex<HashMap<i32, Arc<combine::Combiner>>>>,
    /// Writing requests that may wait per municipality; more are refused as busy.
    write_queue: usize,
    /// Observes how many requests each writing transaction applied, when set.
    group_sizes: Option<prometheus_client::metrics::histogram::Histogram>,
    /// Counts the writing requests waiting for their turn and those refused as busy, when set.
    queue_metrics: Option<QueueMetrics>,
    /// The writer's one clock: today, registration and event times (DESIGN §3 *Clock*).
    clock: Clock,
}

/// The metrics of the municipalities' queues of waiting writes.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    pub waiting: prometheus_client::metrics::gauge::Gauge,
    pub refused: prometheus_client::metrics::counter::Counter,
}

fn kommune_of(code: i32, ctx: &str) -> Result<Kommune, StoreError> {
    u16::try_from(code)
        .ok()
        .and_then(Kommune::from_code)
        .ok_or_else(|| StoreError::Corrupt(format!("{ctx}: kommune {code}")))
}

fn kind_of(word: &str) -> Result<EntityKind, StoreError> {
    EntityKind::from_word(word).ok_or_else(|| StoreError::Corrupt(format!("entity kind {word:?}")))
}

/// A version or sequence read from the database: never negative, and a negative one is corrupt
/// data to report, not a number to round to 0.
fn unsigned(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n} is negative")))
}

/// A version or sequence this process computed from stored ones (in `flush.rs` and
/// `transaction.rs`).
// TODO(store): its four calls should use `unsigned` and this function go; that makes
// `Tx::head` and `flush::org_event` fallible, so it waits for a change of its own.
fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn entity_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredEntity, StoreError> {
    let kind = kind_of(row.try_get("kind")?)?;
    let uuid: Uuid = row.try_get("uuid")?;
    Ok(StoredEntity {
        head: DocumentHead {
            uuid,
            kind,
            kommune: kommune_of(row.try_get("kommune")?, "entity")?,
            version: unsigned(row.try_get("version")?, "entity version")?,
            registered_at: row.try_get("registered_at")?,
        },
        deleted: row.try_get("deleted")?,
        timeline: timeline_from_json(kind, row.try_get("timeline")?)?,
    })
}

impl Store {
    /// Connects with a small pool; does not touch the schema.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Store::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Store {
            snapshot_pool: pool.clone(),
            pool,
            combiners: Arc::default(),
            write_queue: DEFAULT_WRITE_QUEUE,
            group_sizes: None,
            queue_metrics: None,
            clock: Clock::system(),
        }
    }

    /// Dates everything by `clock` instead of the system clock.
    pub fn with_clock(self, clock: Clock) -> Self {
        Store { clock, ..self }
    }

    /// The writer's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The Europe/Copenhagen date now by the writer's clock: what "today" means for `current`.
    pub fn today(&self) -> NaiveDate {
        self.clock.today()
    }

    /// Reports the waiting and refused writing requests to `metrics`.
    pub fn with_queue_metrics(self, metrics: QueueMetrics) -> Self {
        Store {
            queue_metrics: Some(metrics),
            ..self
        }
    }

    /// Lets at most `waiting` writing requests wait per municipality (at least 1); more are
    /// refused at once with [`WriteError::Busy`] instead of queueing without bound.
    pub fn with_write_queue(self, waiting: usize) -> Self {
        Store {
            write_queue: waiting.max(1),
            ..self
        }
    }

    /// Reads snapshots on `pool` instead of the pool writes use.
    pub fn with_snapshot_pool(self, pool: PgPool) -> Self {
        Store {
            snapshot_pool: pool,
            ..self
        }
    }

    /// Reports the number of requests applied per writing transaction to `histogram`.
    pub fn with_group_sizes(
        self,
        histogram: prometheus_client::metrics::histogram::Histogram,
    ) -> Self {
        Store {
            group_sizes: Some(histogram),
            ..self
        }
    }

    /// The municipality's queue of writing requests.
    fn combiner(&self, kommune: Kommune) -> Arc<combine::Combiner> {
        let mut map = self
            .combiners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(i32::from(kommune.code())).or_default())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies migrations (serialised across writers by sqlx's advisory lock) and seeds the 98
    /// municipalities.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        let codes: Vec<i32> = Kommune::all().map(|k| i32::from(k.code())).collect();
        let names: Vec<String> = Kommune::all().map(|k| k.name().to_owned()).collect();
        let cvrs: Vec<String> = Kommune::all().map(|k| k.cvr().to_owned()).collect();
        sqlx::query(
            "INSERT INTO municipality (code, name, cvr)
             SELECT * FROM UNNEST($1::int[], $2::text[], $3::text[])
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(&codes)
        .bind(&names)
        .bind(&cvrs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The entity at its latest registration, or at the last registration made at or before
    /// `as_of`. `None` if it does not exist (then) in this municipality as this kind.
    pub async fn get(
        &self,
        kommune: Kommune,
        kind: EntityKind,
        uuid: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<StoredEntity>, StoreError> {
        let row = match as_of {
            None => {
                sqlx::query(
                    "SELECT uuid, kind, kommune, version, deleted, registered_at, timeline
                     FROM entity WHERE uuid = $1 AND kommune = $2 AND kind = $3",
                )
                .bind(uuid)
                .bind(i32::from(kommune.code()))
                .bind(kind.word())
                .fetch_optional(&self.pool)
                .await?
            }
            Some(as_of) => {
                sqlx::query(
                    "SELECT r.uuid, e.kind, e.kommune, r.version, r.deleted, r.registered_at, r.timeline
                     FROM registration r JOIN entity e ON e.uuid = r.uuid
                     WHERE r.uuid = $1 AND e.kommune = $2 AND e.kind = $3 AND r.registered_at <= $4
                     ORDER BY r.version DESC LIMIT 1",
                )
                .bind(uuid)
                .bind(i32::from(kommune.code()))
                .bind(kind.word())
                .bind(as_of)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.as_ref().map(entity_from_row).transpose()
    }

    /// A page of an entity's registrations, newest first: at most `limit`, older than version
    /// `before` when given.
    pub async fn history(
        &self,
        kommune: Kommune,
        kind: EntityKind,
        uuid: Uuid,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.version, r.action, r.registered_at, r.actor, r.note, r.source, r.deleted, r.timeline
             FROM registration r JOIN entity e ON e.uuid = r.uuid
             WHERE r.uuid = $1 AND e.kommune = $2 AND e.kind = $3 AND r.version < $4
             ORDER BY r.version DESC LIMIT $5",
        )
        .bind(uuid)
        .bind(i32::from(kommune.code()))
        .bind(kind.word())
        .bind(before.map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX)))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RegistrationRecord {
                    version: unsigned(row.try_get("version")?, "registration version")?,
                    action: row.try_get("action")?,
                    registered_at: row.try_get("registered_at")?,
                    actor: row.try_get("actor")?,
                    note: row.try_get("note")?,
                    source: row.try_get("source")?,
                    deleted: row.try_get("deleted")?,
                    timeline: timeline_from_json(kind, row.try_get("timeline")?)?,
                })
            })
            .collect()
    }

    /// Live entities of one kind, ordered by UUID, after the cursor.
    pub async fn list(
        &self,
        kommune: Kommune,
        kind: EntityKind,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<StoredEntity>, StoreError> {
        let rows = sqlx::query(
            "SELECT uuid, kind, kommune, version, deleted, registered_at, timeline
             FROM entity
             WHERE kommune = $1 AND kind = $2 AND NOT deleted AND uuid > $3
             ORDER BY uuid LIMIT $4",
        )
        .bind(i32::from(kommune.code()))
        .bind(kind.word())
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entity_from_row).collect()
    }

    /// The municipality's event log after `after`, as stored CloudEvent bodies.
    pub async fn events(
        &self,
        kommune: Kommune,
        after: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let bodies = sqlx::query_scalar(
            "SELECT body FROM event WHERE kommune = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
        )
        .bind(i32::from(kommune.code()))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(bodies)
    }

    /// Streams a consistent snapshot: first the municipality's event-log watermark, then every
    /// live entity, all read in one REPEATABLE READ transaction. Items go to `sink` until it
    /// closes.
    pub async fn snapshot(
        &self,
        kommune: Kommune,
        sink: tokio::sync::mpsc::Sender<Result<SnapshotItem, StoreError>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.snapshot_pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let code = i32::from(kommune.code());
        let watermark: i64 =
            sqlx::query_scalar("SELECT last_sequence FROM municipality WHERE code = $1")
                .bind(code)
                .fetch_one(&mut *tx)
                .await?;
        if sink
            .send(Ok(SnapshotItem::Watermark(unsigned(
                watermark, "sequence",
            )?)))
            .await
            .is_err()
        {
            return Ok(());
        }
        let mut rows = sqlx::query(
            "SELECT uuid, kind, kommune, version, deleted, registered_at, timeline
             FROM entity WHERE kommune = $1 AND NOT deleted ORDER BY kind, uuid",
        )
        .bind(code)
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let item = entity_from_row(&row).map(SnapshotItem::Entity);
            if sink.send(item).await.is_err() {
                break;
            }
        }
        drop(rows);
        tx.commit().await?;
        Ok(())
    }

    /// Unpublished events: count and the age of the oldest, over all municipalities.
    pub async fn relay_lag(&self) -> Result<(i64, Option<f64>), StoreError> {
        let row = sqlx::query(RELAY_LAG_SQL).fetch_one(&self.pool).await?;
        Ok((row.try_get("n")?, row.try_get("age")?))
    }
}

/// Unpublished events (`n`) and the age in seconds of the oldest (`age`, NULL when none), over
/// all municipalities: each municipality's log past the relay's position. Reads one row per
/// municipality and one event per municipality with a backlog; `orghubctl status` runs the same.
pub const RELAY_LAG_SQL: &str = "
    SELECT coalesce(sum(m.last_sequence - coalesce(r.published_through, 0)), 0)::bigint AS n,
           EXTRACT(EPOCH FROM now() - min(e.created_at))::float8 AS age
    FROM municipality m
    LEFT JOIN relay_position r ON r.kommune = m.code
    LEFT JOIN event e ON e.kommune = m.code AND e.sequence = coalesce(r.published_through, 0) + 1
    WHERE m.last_sequence > coalesce(r.published_through, 0)";

/// One line of a snapshot.
#[derive(Debug)]
pub enum SnapshotItem {
    Watermark(u64),
    Entity(StoredEntity),
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_negative_stored_number_is_corrupt_data_not_zero() {
        assert_eq!(super::unsigned(7, "sequence").expect("valid"), 7);
        let e = super::unsigned(-1, "entity version").expect_err("negative");
        assert!(e.to_string().contains("entity version -1"), "{e}");
    }
}
