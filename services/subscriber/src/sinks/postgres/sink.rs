//! The PostgreSQL sink: batched, version-guarded upserts into the cache table.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use orghub_contracts::{Attrs, EntityDocument, Kommune, OrgEvent};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row as _};
use uuid::Uuid;

use super::config::PostgresConfig;
use super::state;
use crate::sink::{Applied, ResyncScope, Sink, SinkError};

/// The cache in the fagsystem's database.
#[derive(Debug, Clone)]
pub struct PostgresSink {
    pool: PgPool,
    schema: String,
    upsert: String,
    holds_kommune: String,
    prune: String,
}

/// One cache row to write.
#[derive(Debug)]
struct Row {
    uuid: Uuid,
    kommune: String,
    kind: &'static str,
    version: i64,
    sequence: i64,
    deleted: bool,
    document: String,
}

impl Row {
    fn of_document(document: &EntityDocument<Attrs>, sequence: u64) -> Self {
        Row {
            uuid: document.uuid,
            kommune: document.kommune.to_string(),
            kind: document.kind.word(),
            version: to_i64(document.version),
            sequence: to_i64(sequence),
            deleted: document.deleted,
            document: serde_json::to_string(document).unwrap_or_else(|_| "null".into()),
        }
    }

    fn of_event(event: &OrgEvent) -> Self {
        let mut row = Self::of_document(&event.data, event.sequence);
        row.deleted |= event.action == orghub_contracts::Action::Deleted;
        row
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// SQLSTATE classes where the row itself is refused: data exceptions (22), integrity constraint
/// violations (23), and PL/pgSQL exceptions raised by the fagsystem's triggers (P0). Anything else
/// — connections, locks, serialization, a missing table or privilege — may pass later.
fn classify(error: &sqlx::Error) -> SinkError {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = format!("PostgreSQL error {code}: {}", db.message());
            if ["22", "23", "P0"]
                .iter()
                .any(|class| code.starts_with(class))
            {
                SinkError::Permanent(message)
            } else {
                SinkError::Transient(message)
            }
        }
        other => SinkError::Transient(format!("PostgreSQL: {other}")),
    }
}

/// How long a statement waits for a lock the fagsystem holds on the cache (`LOCK TABLE`, a long
/// transaction) before it fails as transient and is retried later: the runtime, and its
/// shutdown, never hang on the fagsystem's transactions.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any statement may run; batches take milliseconds.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

impl PostgresSink {
    /// Connects and creates (or checks) the cache schema.
    pub async fn open(config: &PostgresConfig) -> anyhow::Result<Self> {
        let options = config
            .url
            .expose()
            .parse::<PgConnectOptions>()
            .context("the cache database URL")?
            .options([
                ("lock_timeout", format!("{}ms", LOCK_TIMEOUT.as_millis())),
                (
                    "statement_timeout",
                    format!("{}ms", STATEMENT_TIMEOUT.as_millis()),
                ),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(config.pool)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| {
                format!(
                    "cannot connect to the cache database {}",
                    orghub_runtime::redact_url(config.url.expose())
                )
            })?;
        let s = config.schema.as_str();
        sqlx::raw_sql(AssertSqlSafe(state::ddl(s)))
            .execute(&pool)
            .await
            .with_context(|| format!("cannot create the cache schema {s}"))?;
        Ok(PostgresSink {
            pool,
            schema: s.to_owned(),
            upsert: state::upsert(s),
            holds_kommune: state::holds_kommune(s),
            prune: state::prune(s),
        })
    }

    /// The schema the cache lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Upserts rows (at most one per uuid, sorted by uuid so concurrent writers lock in the same
    /// order) and returns the uuids actually written. The texts are bound borrowed, not copied.
    async fn write(&self, rows: &[Row]) -> Result<HashSet<Uuid>, sqlx::Error> {
        if rows.is_empty() {
            return Ok(HashSet::new());
        }
        let written = sqlx::query(AssertSqlSafe(self.upsert.clone()))
            .bind(rows.iter().map(|r| r.uuid).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.kommune.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.sequence).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.deleted).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.document.as_str()).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await?;
        written.iter().map(|r| r.try_get::<Uuid, _>(0)).collect()
    }

    /// Writes rows one statement each, to find the ones the database refuses while the rest
    /// commit. `Ok(true)` = written, `Ok(false)` = an equal or newer version was held.
    async fn write_each(&self, rows: &[Row]) -> Vec<Result<bool, SinkError>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(match self.write(std::slice::from_ref(row)).await {
                Ok(written) => Ok(written.contains(&row.uuid)),
                Err(e) => Err(classify(&e)),
            });
        }
        out
    }
}

impl Sink for PostgresSink {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn apply(&self, events: &[OrgEvent]) -> Vec<Result<Applied, SinkError>> {
        // Only the newest event per entity is written; the others in the batch are superseded
        // (one statement cannot update a row twice anyway).
        let mut newest: HashMap<Uuid, usize> = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            newest
                .entry(event.subject())
                .and_modify(|best| {
                    if event.entity_version > events[*best].entity_version {
                        *best = i;
                    }
                })
                .or_insert(i);
        }
        let mut chosen: Vec<usize> = newest.values().copied().collect();
        chosen.sort_by_key(|&i| events[i].subject());
        let rows: Vec<Row> = chosen.iter().map(|&i| Row::of_event(&events[i])).collect();
        let mut results: Vec<Result<Applied, SinkError>> = vec![Ok(Applied::Stale); events.len()];
        match self.write(&rows).await {
            Ok(written) => {
                for &i in &chosen {
                    if written.contains(&events[i].subject()) {
                        results[i] = Ok(Applied::Applied);
                    }
                }
            }
            Err(e) => match classify(&e) {
                transient @ SinkError::Transient(_) => {
                    for &i in &chosen {
                        results[i] = Err(transient.clone());
                    }
                }
                SinkError::Permanent(_) => {
                    for (&i, result) in chosen.iter().zip(self.write_each(&rows).await) {
                        results[i] = result.map(|written| {
                            if written {
                                Applied::Applied
                            } else {
                                Applied::Stale
                            }
                        });
                    }
                }
            },
        }
        results
    }

    async fn is_empty(&self, kommune: Kommune) -> Result<bool, SinkError> {
        let holds: bool = sqlx::query_scalar(AssertSqlSafe(self.holds_kommune.clone()))
            .bind(kommune.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify(&e))?;
        Ok(!holds)
    }

    async fn resync_load(
        &self,
        scope: &ResyncScope,
        documents: &[EntityDocument<Attrs>],
    ) -> Result<u64, SinkError> {
        let mut rows: Vec<Row> = documents
            .iter()
            .map(|d| Row::of_document(d, scope.watermark))
            .collect();
        rows.sort_by_key(|r| r.uuid);
        rows.dedup_by_key(|r| r.uuid);
        match self.write(&rows).await {
            Ok(written) => Ok(written.len() as u64),
            Err(e) => match classify(&e) {
                transient @ SinkError::Transient(_) => Err(transient),
                SinkError::Permanent(_) => {
                    let mut written = 0;
                    for (row, result) in rows.iter().zip(self.write_each(&rows).await) {
                        match result {
                            Ok(true) => written += 1,
                            Ok(false) => {}
                            Err(e @ SinkError::Transient(_)) => return Err(e),
                            Err(SinkError::Permanent(message)) => tracing::error!(
                                uuid = %row.uuid,
                                version = row.version,
                                error = %message,
                                "the cache database refused a snapshot document; it is skipped"
                            ),
                        }
                    }
                    Ok(written)
                }
            },
        }
    }

    async fn resync_prune(
        &self,
        scope: &ResyncScope,
        present: &HashSet<Uuid>,
    ) -> Result<u64, SinkError> {
        let kinds: Vec<String> = scope.kinds.iter().map(|k| k.word().to_owned()).collect();
        let done = sqlx::query(AssertSqlSafe(self.prune.clone()))
            .bind(scope.kommune.to_string())
            .bind(kinds)
            .bind(to_i64(scope.watermark))
            .bind(present.iter().copied().collect::<Vec<Uuid>>())
            .execute(&self.pool)
            .await
            .map_err(|e| classify(&e))?;
        Ok(done.rows_affected())
    }
}
