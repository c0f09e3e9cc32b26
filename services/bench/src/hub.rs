//! The running hub as the bench sees it: the writer's HTTP API, the writer's database (event log,
//! the relay's position), the subscriber's cache database and its `/metrics`, and the depth of the
//! subscriber's queue.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use orghub_broker::lapin::Connection;
use orghub_client::WriterClient;
use orghub_contracts::Kommune;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::env::ADMIN_TOKEN;

/// The subscriber's name, so its queue is `sub.bench`.
pub const SUBSCRIBER: &str = "bench";
/// The cache schema (the postgres sink's default).
pub const CACHE_SCHEMA: &str = "orghub_cache";

pub use orghub_contracts::api::ImportSummary;

/// A span of timestamps over a set of rows: how many, first and last, and how many came after
/// the first timestamp.
///
/// The timestamps are per batch (the relay stores its position once per batch, sampled every
/// 20 ms; the sink writes a batch in one statement), so the rows of the first batch carry the span's start although
/// their work happened before it. The rate is therefore the rows *after* the first batch over
/// the time from the first timestamp to the last: an unbiased estimate, undefined when
/// everything fit in one batch.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub count: u64,
    pub after_first: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

type SpanRow = (i64, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

impl Span {
    fn of((count, after_first, first, last): SpanRow) -> Span {
        Span {
            count: u64::try_from(count).unwrap_or(0),
            after_first: u64::try_from(after_first).unwrap_or(0),
            first,
            last,
        }
    }

    /// Rows per second; see the type's documentation.
    pub fn rate(&self) -> Option<f64> {
        let secs = self.seconds()?;
        (secs > 0.0 && self.after_first > 0).then(|| self.after_first as f64 / secs)
    }

    pub fn seconds(&self) -> Option<f64> {
        Some((self.last? - self.first?).num_microseconds()? as f64 / 1e6)
    }
}

/// The subscriber's counters from its `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberCounts {
    pub applied: u64,
    pub stale: u64,
    pub dead_lettered: u64,
}

/// Handles on everything the bench reads and calls.
#[derive(Debug, Clone)]
pub struct Hub {
    pub base: String,
    http: reqwest::Client,
    writer: WriterClient,
    pub writer_db: PgPool,
    pub cache_db: PgPool,
    pub metrics_url: String,
}

impl Hub {
    pub async fn connect(
        base: String,
        writer_db_url: &str,
        cache_db_url: &str,
        metrics_addr: &str,
    ) -> anyhow::Result<Hub> {
        let pool = |url: &str| {
            PgPoolOptions::new()
                .max_connections(3)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy(url)
        };
        Ok(Hub {
            writer: WriterClient::parse(&base, ADMIN_TOKEN.into())?,
            base,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .context("HTTP client")?,
            writer_db: pool(writer_db_url).context("writer database URL")?,
            cache_db: pool(cache_db_url).context("cache database URL")?,
            metrics_url: format!("http://{metrics_addr}/metrics"),
        })
    }

    /// `POST /api/v1/{k}/import` (partial) with an NDJSON body.
    pub async fn import(&self, kommune: Kommune, ndjson: Vec<u8>) -> anyhow::Result<ImportSummary> {
        self.writer
            .import(kommune, false, ndjson.into())
            .await
            .context("POST /import")
    }

    /// `PUT /api/v1/{k}/{path}/{uuid}`; returns the new version.
    pub async fn put(
        &self,
        kommune: Kommune,
        path: &str,
        uuid: Uuid,
        state: &Value,
    ) -> anyhow::Result<u64> {
        let resp = self
            .http
            .put(format!("{}/api/v1/{kommune}/{path}/{uuid}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(state)
            .send()
            .await
            .context("PUT")?;
        let status = resp.status();
        let body: Value = resp.json().await.context("the PUT's answer")?;
        if !status.is_success() {
            bail!("PUT {path}/{uuid} answered {status}: {body}");
        }
        body["version"]
            .as_u64()
            .with_context(|| format!("the PUT's answer has no version: {body}"))
    }

    /// `uuid → version` of every live entity in `GET /snapshot`.
    pub async fn snapshot_versions(&self, kommune: Kommune) -> anyhow::Result<HashMap<Uuid, u64>> {
        #[derive(Deserialize)]
        struct Doc {
            uuid: Uuid,
            version: u64,
            #[serde(default)]
            deleted: bool,
        }
        let mut snapshot = self
            .writer
            .snapshot(kommune)
            .await
            .context("GET /snapshot")?;
        let mut out = HashMap::new();
        while let Some(doc) = snapshot
            .next_document()
            .await
            .context("reading the snapshot")?
        {
            let doc: Doc = serde_json::from_value(doc).context("a snapshot line")?;
            if !doc.deleted {
                out.insert(doc.uuid, doc.version);
            }
        }
        Ok(out)
    }

    /// The municipality's last event-log sequence (0 before its first event).
    pub async fn last_sequence(&self, kommune: Kommune) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(max(sequence), 0)::int8 FROM event WHERE kommune = $1",
        )
        .bind(i32::from(kommune.code()))
        .fetch_one(&self.writer_db)
        .await?)
    }

    /// Events not yet published, all municipalities (the writer's own lag query).
    pub async fn unpublished(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(orghub_writer::store::RELAY_LAG_SQL)
            .fetch_one(&self.writer_db)
            .await?)
    }

    /// The relay's stored position in the municipality's log (0 before it published any).
    pub async fn relay_position(&self, kommune: Kommune) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(max(published_through), 0)::int8 FROM relay_position WHERE kommune = $1",
        )
        .bind(i32::from(kommune.code()))
        .fetch_one(&self.writer_db)
        .await?)
    }

    /// Follows the relay's position in the municipality's log from `after` until it reaches
    /// `through` (or the sender of `through` is dropped), sampling every 20 ms, and returns the
    /// span it took. The
    /// relay stores its position once per batch, so the samples are as fine as its batches.
    pub fn track_relay(
        &self,
        kommune: Kommune,
        after: i64,
        through: tokio::sync::watch::Receiver<i64>,
    ) -> tokio::task::JoinHandle<Span> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut first: Option<(DateTime<Utc>, i64)> = None;
            let mut last: Option<(DateTime<Utc>, i64)> = None;
            loop {
                let target = *through.borrow();
                let position = hub.relay_position(kommune).await.unwrap_or(after);
                let now = Utc::now();
                if position > after {
                    if first.is_none() {
                        first = Some((now, position));
                    }
                    if last.is_none_or(|(_, p)| position > p) {
                        last = Some((now, position));
                    }
                }
                if target > after && position >= target {
                    break;
                }
                // The sender goes away when the phase ended (converged, or gave up).
                if through.has_changed().is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let count = last.map_or(0, |(_, p)| p - after);
            Span::of((
                count,
                match (first, last) {
                    (Some((_, f)), Some((_, l))) => l - f,
                    _ => 0,
                },
                first.map(|f| f.0),
                last.map(|l| l.0),
            ))
        })
    }

    /// Average size of the municipality's stored CloudEvent bodies, in bytes.
    pub async fn average_event_bytes(&self, kommune: Kommune) -> anyhow::Result<f64> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(avg(octet_length(body)), 0)::float8 FROM event WHERE kommune = $1",
        )
        .bind(i32::from(kommune.code()))
        .fetch_one(&self.writer_db)
        .await?)
    }

    /// `(count, sum of versions)` of the municipality's live entities in the writer.
    pub async fn writer_totals(&self, kommune: Kommune) -> anyhow::Result<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT count(*), coalesce(sum(version), 0)::int8 FROM entity
             WHERE kommune = $1 AND NOT deleted",
        )
        .bind(i32::from(kommune.code()))
        .fetch_one(&self.writer_db)
        .await?)
    }

    /// `(count, sum of versions)` of the municipality's live rows in the cache.
    pub async fn cache_totals(&self, kommune: Kommune) -> anyhow::Result<(i64, i64)> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), coalesce(sum(version), 0)::int8 FROM {CACHE_SCHEMA}.entity
             WHERE kommune = $1 AND NOT deleted"
        )))
        .bind(kommune.to_string())
        .fetch_one(&self.cache_db)
        .await?)
    }

    /// `uuid → version` of the municipality's live rows in the cache.
    pub async fn cache_versions(&self, kommune: Kommune) -> anyhow::Result<HashMap<Uuid, u64>> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT uuid, version FROM {CACHE_SCHEMA}.entity WHERE kommune = $1 AND NOT deleted"
        )))
        .bind(kommune.to_string())
        .fetch_all(&self.cache_db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(u, v)| (u, u64::try_from(v).unwrap_or(0)))
            .collect())
    }

    /// When the sink wrote the municipality's rows (`updated_at`, the sink transaction's start),
    /// optionally only rows written since `since`.
    pub async fn applied_span(
        &self,
        kommune: Kommune,
        since: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Span> {
        let row: SpanRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH t AS (SELECT updated_at AS at FROM {CACHE_SCHEMA}.entity
                        WHERE kommune = $1
                          AND updated_at >= coalesce($2, '-infinity'::timestamptz))
             SELECT count(*), count(*) FILTER (WHERE at > (SELECT min(at) FROM t)),
                    min(at), max(at) FROM t"
        )))
        .bind(kommune.to_string())
        .bind(since)
        .fetch_one(&self.cache_db)
        .await?;
        Ok(Span::of(row))
    }

    /// The database clock now (the writer's and the cache's are the same server).
    pub async fn db_now(&self) -> anyhow::Result<DateTime<Utc>> {
        Ok(sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&self.cache_db)
            .await?)
    }

    /// The subscriber's counters. `None` when it does not answer (not running).
    pub async fn subscriber_counts(&self) -> Option<SubscriberCounts> {
        let text = self
            .http
            .get(&self.metrics_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let mut counts = SubscriberCounts::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value = value.parse::<f64>().unwrap_or(0.0) as u64;
            let name = name.split('{').next().unwrap_or(name);
            match name {
                "orghub_subscriber_events_applied_total" => counts.applied += value,
                "orghub_subscriber_events_stale_total" => counts.stale += value,
                "orghub_subscriber_events_dead_lettered_total" => counts.dead_lettered += value,
                _ => {}
            }
        }
        Some(counts)
    }

    /// Points the metrics scrape at another subscriber process.
    pub fn set_metrics_addr(&mut self, addr: &str) {
        self.metrics_url = format!("http://{addr}/metrics");
    }

    /// Checks that the cache holds exactly the snapshot's `uuid → version`; describes the
    /// difference otherwise.
    pub async fn verify_against_snapshot(
        &self,
        kommune: Kommune,
    ) -> anyhow::Result<Result<usize, String>> {
        let snapshot = self.snapshot_versions(kommune).await?;
        let cache = self.cache_versions(kommune).await?;
        if snapshot == cache {
            return Ok(Ok(snapshot.len()));
        }
        let missing = snapshot.keys().filter(|u| !cache.contains_key(u)).count();
        let extra = cache.keys().filter(|u| !snapshot.contains_key(u)).count();
        let other = snapshot
            .iter()
            .filter(|(u, v)| cache.get(u).is_some_and(|c| c != *v))
            .count();
        Ok(Err(format!(
            "snapshot has {} entities, cache {}: {missing} missing, {extra} extra, {other} at \
             another version",
            snapshot.len(),
            cache.len()
        )))
    }
}

/// Ready messages in `queue` (a passive declare on its own channel).
pub async fn queue_depth(conn: &Connection, queue: &str) -> Option<u32> {
    orghub_broker::queue_depth(conn, queue).await.ok()
}
