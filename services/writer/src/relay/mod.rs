//! The relay: publishes committed events from the event log to RabbitMQ, in sequence order per
//! municipality, pipelined with publisher confirms, and marks rows published only after the
//! broker's Ack.
//!
//! Exactly one relay is active across writer replicas: it holds a PostgreSQL session advisory
//! lock on a dedicated connection (never a pooled one, which could silently change sessions).
//! Others stand by and retry the lock. The relay is woken by `NOTIFY orghub_events` from each
//! writing transaction, with a polling fallback for notifications lost on reconnects.
//!
//! A failed publish (Nack, lost connection) ends the round: rows confirmed before it are marked,
//! the rest are published again after reconnecting, so nothing is lost and a subscriber may see
//! a duplicate (which its version guard ignores).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use orghub_broker::{Delivered, Publisher};
use orghub_contracts::AmqpMessage;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::store::Store;

/// The advisory lock key of the relay ("orghub-r" in ASCII).
pub const RELAY_LOCK_KEY: i64 = 0x6f72_6768_7562_2d72;
/// The `application_name` prefix of the lock-holding session, which `orghubctl status` reports.
pub const RELAY_APPLICATION_NAME: &str = "orghub-relay";

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub database_url: String,
    pub amqp_url: String,
    pub batch: i64,
    pub poll: Duration,
}

struct Row0 {
    kommune: i32,
    sequence: i64,
    message: AmqpMessage,
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps, or returns `true` early when shutdown was requested.
async fn wait_or_stop(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

/// Runs until shutdown: stand by for the lock, then publish.
pub async fn run(
    store: Store,
    cfg: RelayConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delays = backoff();
    while !*shutdown.borrow() {
        match lead(&store, &cfg, &metrics, &mut shutdown).await {
            Ok(()) => return,
            Err(e) => {
                metrics.relay_active.set(0);
                tracing::warn!(error = format!("{e:#}"), "relay interrupted; retrying");
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if wait_or_stop(delay, &mut shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Takes the lock (standing by until it can) and publishes while holding it. Returns `Ok` on
/// shutdown, `Err` when the lock connection was lost.
async fn lead(
    store: &Store,
    cfg: &RelayConfig,
    metrics: &Metrics,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = format!(
        "{RELAY_APPLICATION_NAME}@{}:{}",
        hostname(),
        std::process::id()
    );
    let options: PgConnectOptions = cfg
        .database_url
        .parse::<PgConnectOptions>()?
        .application_name(&name);
    let mut lock_conn: PgConnection = options.connect().await?;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(RELAY_LOCK_KEY)
            .fetch_one(&mut lock_conn)
            .await?;
        if got {
            break;
        }
        if wait_or_stop(cfg.poll.max(Duration::from_secs(1)), shutdown).await {
            return Ok(());
        }
    }
    tracing::info!(holder = %name, "relay lock taken; publishing");
    metrics.relay_active.set(1);
    let mut listener = PgListener::connect_with(store.pool()).await?;
    listener.listen("orghub_events").await?;
    let mut delays = backoff();
    let result = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        let publisher = match connect(cfg).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "relay cannot reach RabbitMQ; retrying"
                );
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if wait_or_stop(delay, shutdown).await {
                    break Ok(());
                }
                lock_conn.ping().await?;
                continue;
            }
        };
        tracing::info!("relay connected to RabbitMQ");
        match pump(
            store,
            cfg,
            metrics,
            &publisher,
            &mut listener,
            &mut lock_conn,
            shutdown,
        )
        .await
        {
            Ok(()) => break Ok(()),
            Err(PumpError::Broker(e)) => {
                tracing::warn!(error = %e, "publishing failed; reconnecting");
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if wait_or_stop(delay, shutdown).await {
                    break Ok(());
                }
            }
            Err(PumpError::Database(e)) => break Err(e),
        }
    };
    metrics.relay_active.set(0);
    // Closing the session releases the lock for a standby writer.
    let _ = lock_conn.close().await;
    result
}

async fn connect(cfg: &RelayConfig) -> anyhow::Result<Publisher> {
    let conn = orghub_broker::connect(&cfg.amqp_url, "orghub-writer relay").await?;
    Ok(Publisher::new(&conn).await?)
}

enum PumpError {
    Broker(String),
    Database(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for PumpError {
    fn from(e: E) -> Self {
        PumpError::Database(e.into())
    }
}

async fn fetch(store: &Store, limit: i64) -> anyhow::Result<Vec<Row0>> {
    let rows = sqlx::query(
        "SELECT kommune, sequence, body FROM event WHERE published_at IS NULL
         ORDER BY kommune, sequence LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let body: String = row.try_get("body")?;
        let message = AmqpMessage::from_structured_body(body.into_bytes())
            .map_err(|e| anyhow::anyhow!("stored event is not a valid envelope: {e}"))?;
        out.push(Row0 {
            kommune: row.try_get("kommune")?,
            sequence: row.try_get("sequence")?,
            message,
        });
    }
    Ok(out)
}

async fn mark_published(store: &Store, rows: &[(i32, i64, bool)]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let kommuner: Vec<i32> = rows.iter().map(|r| r.0).collect();
    let sequences: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let routed: Vec<bool> = rows.iter().map(|r| r.2).collect();
    sqlx::query(
        "UPDATE event e SET published_at = now(), routed = u.routed
         FROM UNNEST($1::int[], $2::bigint[], $3::bool[]) AS u(kommune, sequence, routed)
         WHERE e.kommune = u.kommune AND e.sequence = u.sequence",
    )
    .bind(&kommuner)
    .bind(&sequences)
    .bind(&routed)
    .execute(store.pool())
    .await?;
    Ok(())
}

async fn pump(
    store: &Store,
    cfg: &RelayConfig,
    metrics: &Metrics,
    publisher: &Publisher,
    listener: &mut PgListener,
    lock_conn: &mut PgConnection,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), PumpError> {
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let batch = fetch(store, cfg.batch).await?;
        if !batch.is_empty() {
            let messages: Vec<AmqpMessage> = batch.iter().map(|r| r.message.clone()).collect();
            let started = Instant::now();
            let results = publisher.publish_batch(&messages).await;
            metrics
                .confirm_latency
                .observe(started.elapsed().as_secs_f64());
            let mut done = Vec::with_capacity(batch.len());
            let mut failure = None;
            for (row, result) in batch.iter().zip(results) {
                match result {
                    Ok(delivered) => {
                        done.push((row.kommune, row.sequence, delivered == Delivered::Routed))
                    }
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            mark_published(store, &done).await?;
            let unroutable = done.iter().filter(|d| !d.2).count() as u64;
            metrics.events_published.inc_by(done.len() as u64);
            metrics.events_unroutable.inc_by(unroutable);
            if let Some(e) = failure {
                return Err(PumpError::Broker(e));
            }
            if batch.len() as i64 == cfg.batch {
                continue;
            }
        }
        // Idle: wait for a notification, the poll interval, or shutdown; check the lock session.
        tokio::select! {
            n = listener.recv() => { n?; }
            _ = tokio::time::sleep(cfg.poll) => { lock_conn.ping().await?; }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}
