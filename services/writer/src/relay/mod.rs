//! The relay: publishes committed events from the event log to RabbitMQ, in sequence order per
//! municipality, with a window of publisher confirms in flight across batches, and moves each
//! municipality's stored position (`relay_position.published_through`) only over events the
//! broker confirmed. Municipalities with a backlog share each batch equally.
//!
//! Exactly one relay is active across writer replicas: it holds a PostgreSQL session advisory
//! lock on a dedicated connection (never a pooled one, which could silently change sessions).
//! Others stand by and retry the lock. The relay is woken by `NOTIFY orghub_events` from each
//! writing transaction, with a polling fallback for notifications lost on reconnects.
//!
//! A failed publish (Nack, lost connection) ends the round: the position stays after the last
//! confirmed event, the rest are published again after reconnecting, so nothing is lost and a
//! subscriber may see a duplicate (which its version guard ignores). An unroutable event (no
//! queue bound) counts as published: it stays in the event log, reachable by replay and resync.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use orghub_broker::{Delivered, InFlight, Publisher};
use orghub_contracts::{AmqpMessage, EventType, Kommune, StoredEvent};
use orghub_runtime::Shutdown;
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

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps, or returns `true` early when shutdown was requested.
async fn wait_or_stop(d: Duration, shutdown: &mut Shutdown) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => shutdown.is_cancelled(),
        _ = shutdown.cancelled() => true,
    }
}

/// Runs until shutdown: stand by for the lock, then publish.
pub async fn run(store: Store, cfg: RelayConfig, metrics: Arc<Metrics>, mut shutdown: Shutdown) {
    let mut delays = backoff();
    while !shutdown.is_cancelled() {
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
    shutdown: &mut Shutdown,
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
    // The lock session also reads the log: the relay never waits for a pooled connection that
    // API requests hold. Positions are written by a task on a connection of its own.
    let stored = positions(&mut lock_conn).await?;
    let mut cursor = Cursor {
        sent: stored.clone(),
        confirmed: stored.clone(),
    };
    let (positions_tx, positions_rx) = watch::channel(stored);
    let writer = spawn_position_writer(
        options.application_name(&format!("{name} positions")),
        positions_rx,
    );
    let mut delays = backoff();
    let result = loop {
        if shutdown.is_cancelled() {
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
            &mut lock_conn,
            cfg,
            metrics,
            &publisher,
            &mut listener,
            &mut cursor,
            &positions_tx,
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
    // The last confirmed positions are stored before the lock goes to a standby writer (which
    // would otherwise publish them again: harmless, but avoidable).
    drop(positions_tx);
    let _ = writer.await;
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

/// One event to publish.
struct Outgoing {
    kommune: i32,
    sequence: i64,
    message: AmqpMessage,
}

/// Where the relay is in each municipality's log.
#[derive(Debug, Default)]
struct Cursor {
    /// The last sequence sent to the broker (confirmed or in flight).
    sent: HashMap<i32, i64>,
    /// The last sequence up to which everything was confirmed.
    confirmed: HashMap<i32, i64>,
}

impl Cursor {
    fn sent(&self, kommune: i32) -> i64 {
        self.sent.get(&kommune).copied().unwrap_or(0)
    }
}

/// The stored positions, read when the relay takes the lock.
async fn positions(conn: &mut PgConnection) -> anyhow::Result<HashMap<i32, i64>> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT kommune, published_through FROM relay_position")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The municipalities whose log goes past what was sent, with how far.
async fn backlog(conn: &mut PgConnection, cursor: &Cursor) -> anyhow::Result<Vec<(i32, i64)>> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT code, last_sequence FROM municipality WHERE last_sequence > 0")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows
        .into_iter()
        .filter(|(k, last)| *last > cursor.sent(*k))
        .collect())
}

/// The next events of every municipality with a backlog, at most `batch` in all, shared fairly:
/// each municipality gets an equal part, so one municipality's bulk import cannot hold back
/// another's live changes. In sequence order per municipality.
async fn fetch(
    conn: &mut PgConnection,
    cursor: &Cursor,
    backlog: &[(i32, i64)],
    batch: i64,
) -> anyhow::Result<Vec<Outgoing>> {
    let kommuner: Vec<i32> = backlog.iter().map(|b| b.0).collect();
    let after: Vec<i64> = kommuner.iter().map(|k| cursor.sent(*k)).collect();
    let per = (batch / i64::try_from(kommuner.len()).unwrap_or(1).max(1)).max(1);
    let rows = sqlx::query(
        "SELECT e.*
         FROM UNNEST($1::int[], $2::bigint[]) AS p(kommune, after)
         CROSS JOIN LATERAL (
             SELECT kommune, sequence, id, type, entity, entity_version, event_time, traceparent,
                    body
             FROM event
             WHERE kommune = p.kommune AND sequence > p.after
             ORDER BY sequence LIMIT $3) AS e
         ORDER BY e.sequence, e.kommune",
    )
    .bind(&kommuner)
    .bind(&after)
    .bind(per)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let kommune: i32 = row.try_get("kommune")?;
        let sequence: i64 = row.try_get("sequence")?;
        let body: String = row.try_get("body")?;
        let message = match stored_event(&row, kommune, sequence)? {
            Some((stored, traceparent)) => AmqpMessage::from_stored(
                &StoredEvent {
                    traceparent: traceparent.as_deref(),
                    ..stored
                },
                body.into_bytes(),
            ),
            // Written before the columns existed: the body says it all.
            None => AmqpMessage::from_structured_body(body.into_bytes()).map_err(|e| {
                anyhow::anyhow!("stored event {kommune}/{sequence} is not a valid envelope: {e}")
            })?,
        };
        out.push(Outgoing {
            kommune,
            sequence,
            message,
        });
    }
    Ok(out)
}

/// The event's attributes from its row's columns (`None` for a row without `event_time`), and
/// its traceparent.
fn stored_event(
    row: &sqlx::postgres::PgRow,
    kommune: i32,
    sequence: i64,
) -> anyhow::Result<Option<(StoredEvent<'static>, Option<String>)>> {
    let Some(time) = row.try_get::<Option<DateTime<Utc>>, _>("event_time")? else {
        return Ok(None);
    };
    let bad = |what: &str| anyhow::anyhow!("stored event {kommune}/{sequence}: {what}");
    let event_type = EventType::parse(row.try_get("type")?).map_err(|e| bad(&e.to_string()))?;
    let kommune_code = u16::try_from(kommune)
        .ok()
        .and_then(Kommune::from_code)
        .ok_or_else(|| bad("unknown kommune"))?;
    let stored = StoredEvent {
        id: row.try_get("id")?,
        event_type,
        kommune: kommune_code,
        subject: row.try_get("entity")?,
        entity_version: u64::try_from(row.try_get::<i64, _>("entity_version")?)
            .map_err(|_| bad("negative entity_version"))?,
        sequence: u64::try_from(sequence).map_err(|_| bad("negative sequence"))?,
        time,
        traceparent: None,
    };
    Ok(Some((stored, row.try_get("traceparent")?)))
}

/// Stores confirmed positions, in the background: the publishing loop hands over the latest
/// positions and goes on; this task writes them with one statement per round (coalescing
/// whatever arrived meanwhile) on a connection of its own. Positions only move forward, so a
/// late write of an older position can do no harm.
fn spawn_position_writer(
    options: PgConnectOptions,
    mut positions: watch::Receiver<HashMap<i32, i64>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conn: Option<PgConnection> = None;
        // What the relay read at the start is stored already.
        let mut stored: HashMap<i32, i64> = positions.borrow_and_update().clone();
        let mut delays = backoff();
        loop {
            let wanted: Vec<(i32, i64)> = positions
                .borrow_and_update()
                .iter()
                .filter(|(k, p)| stored.get(*k) != Some(*p))
                .map(|(k, p)| (*k, *p))
                .collect();
            if !wanted.is_empty() {
                match store_positions(&mut conn, &options, &wanted).await {
                    Ok(()) => {
                        stored.extend(wanted);
                        delays = backoff();
                    }
                    Err(e) => {
                        conn = None;
                        if positions.has_changed().is_err() {
                            // The relay stopped: the next one publishes these events again.
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "cannot store the relay's last position"
                            );
                            return;
                        }
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "cannot store the relay's position; retrying"
                        );
                        tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))).await;
                        continue;
                    }
                }
            }
            // `changed` reports a value sent before the sender went away first, so this ends
            // only once the last position was stored above (or could not be, and said so).
            if positions.changed().await.is_err() {
                return;
            }
        }
    })
}

async fn store_positions(
    conn: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    positions: &[(i32, i64)],
) -> anyhow::Result<()> {
    if conn.is_none() {
        *conn = Some(options.connect().await?);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(());
    };
    let kommuner: Vec<i32> = positions.iter().map(|p| p.0).collect();
    let through: Vec<i64> = positions.iter().map(|p| p.1).collect();
    sqlx::query(
        "INSERT INTO relay_position (kommune, published_through)
         SELECT * FROM UNNEST($1::int[], $2::bigint[])
         ON CONFLICT (kommune) DO UPDATE
         SET published_through = GREATEST(relay_position.published_through,
                                          EXCLUDED.published_through),
             updated_at = now()",
    )
    .bind(&kommuner)
    .bind(&through)
    .execute(c)
    .await?;
    Ok(())
}

/// Messages sent whose confirms have not been taken yet, oldest first.
struct Window {
    in_flight: VecDeque<(i32, i64, Instant, InFlight)>,
}

impl Window {
    /// Takes every outstanding confirm, stopping at the first failure.
    async fn drain(&mut self, cursor: &mut Cursor, metrics: &Metrics) -> Result<(), String> {
        while let Some(r) = self.settle_oldest(cursor, metrics).await {
            r?;
        }
        Ok(())
    }

    /// Takes the oldest confirm: moves the confirmed position on, or says why not.
    async fn settle_oldest(
        &mut self,
        cursor: &mut Cursor,
        metrics: &Metrics,
    ) -> Option<Result<(), String>> {
        let (kommune, sequence, sent_at, confirm) = self.in_flight.pop_front()?;
        let result = confirm.confirmed().await;
        metrics
            .confirm_latency
            .observe(sent_at.elapsed().as_secs_f64());
        Some(match result {
            Ok(delivered) => {
                cursor.confirmed.insert(kommune, sequence);
                metrics.events_published.inc();
                if delivered == Delivered::Unroutable {
                    metrics.events_unroutable.inc();
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        })
    }
}

/// Publishes continuously: fetches the next events while the broker confirms the previous ones,
/// keeping up to `window` messages in flight, and hands confirmed positions to the position
/// writer. Confirms are taken in publishing order, so a municipality's position only moves over
/// events that are all confirmed. A failed confirm (Nack, lost connection) ends the round: the
/// events after the last confirmed position are sent again after reconnecting.
#[allow(clippy::too_many_arguments)]
async fn pump(
    conn: &mut PgConnection,
    cfg: &RelayConfig,
    metrics: &Metrics,
    publisher: &Publisher,
    listener: &mut PgListener,
    cursor: &mut Cursor,
    positions: &watch::Sender<HashMap<i32, i64>>,
    shutdown: &mut Shutdown,
) -> Result<(), PumpError> {
    let window_size = usize::try_from(cfg.batch.max(1) * 2).unwrap_or(1000);
    let mut window = Window {
        in_flight: VecDeque::with_capacity(window_size + 1),
    };
    let publish_positions = |cursor: &Cursor| {
        positions.send_if_modified(|stored| {
            let mut changed = false;
            for (k, p) in &cursor.confirmed {
                if stored.get(k) != Some(p) {
                    stored.insert(*k, *p);
                    changed = true;
                }
            }
            changed
        });
    };
    let result = loop {
        if shutdown.is_cancelled() {
            let drained = window.drain(cursor, metrics).await;
            publish_positions(cursor);
            break drained.map_err(PumpError::Broker);
        }
        let backlog = backlog(conn, cursor).await?;
        let batch = if backlog.is_empty() {
            Vec::new()
        } else {
            fetch(conn, cursor, &backlog, cfg.batch).await?
        };
        if batch.is_empty() {
            // Everything fetched was sent: take the remaining confirms, then wait.
            let drained = window.drain(cursor, metrics).await;
            publish_positions(cursor);
            if let Err(e) = drained {
                break Err(PumpError::Broker(e));
            }
            // Idle: wait for a notification, the poll interval, or shutdown.
            tokio::select! {
                n = listener.recv() => { n?; }
                _ = tokio::time::sleep(cfg.poll) => {}
                // Nothing is in flight here: the loop's head stops.
                _ = shutdown.cancelled() => {}
            }
            continue;
        }
        let mut failed = None;
        for row in batch {
            match publisher.send_one(&row.message).await {
                Ok(confirm) => {
                    cursor.sent.insert(row.kommune, row.sequence);
                    window.in_flight.push_back((
                        row.kommune,
                        row.sequence,
                        Instant::now(),
                        confirm,
                    ));
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
            while window.in_flight.len() > window_size {
                if let Some(Err(e)) = window.settle_oldest(cursor, metrics).await {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_some() {
                break;
            }
        }
        publish_positions(cursor);
        if let Some(e) = failed {
            break Err(PumpError::Broker(e));
        }
    };
    // Whatever was sent but not confirmed is sent again by the next round.
    window.in_flight.clear();
    cursor.sent = cursor.confirmed.clone();
    result
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
