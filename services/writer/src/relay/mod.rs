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
//! Failures are kept as small as their cause:
//! - An event the broker refuses (a nack), one too large to send, or one whose row cannot be
//!   read halts *its municipality* at that event ([`halts`]): the others go on, nothing of the
//!   halted one is sent after its head, and the head is retried with backoff until it is taken.
//! - A lost connection, or a broker that neither takes a message nor confirms one within
//!   `confirm_timeout` (a memory or disk alarm), ends the round: every position stays after its
//!   last confirmed event, the rest are published again on a new connection, so nothing is lost
//!   and a subscriber may see a duplicate (which its version guard ignores).
//! - Shutdown waits at most [`SHUTDOWN_GRACE`] for outstanding confirms, whatever the broker
//!   does; what stays unconfirmed is published again by the next relay.
//!
//! An unroutable event (no queue bound) counts as published: it stays in the event log,
//! reachable by replay and resync.
//!
//! Layout: [`log`] reads the event log, [`halts`] keeps the halted municipalities,
//! [`progress`] stores positions and halts in the background, [`error`] says why a round ended.

pub mod error;
pub mod halts;
mod log;
mod progress;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use orghub_broker::{Delivered, PublishError, Publisher};
use orghub_contracts::AmqpMessage;
use orghub_runtime::Shutdown;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::watch;
use uuid::Uuid;

use crate::metrics::Metrics;
pub use error::RelayError;
use halts::{Halts, Refusal};
use log::{Outgoing, Want};
use progress::Progress;

/// The advisory lock key of the relay ("orghub-r" in ASCII).
pub const RELAY_LOCK_KEY: i64 = 0x6f72_6768_7562_2d72;
/// The `application_name` prefix of the lock-holding session, which `orghubctl status` reports.
pub const RELAY_APPLICATION_NAME: &str = "orghub-relay";
/// How long a stopping relay still waits for the confirms of what it sent. What is not confirmed
/// by then is published again by the next relay.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub database_url: String,
    pub amqp_url: String,
    pub batch: i64,
    pub poll: Duration,
    /// The largest message the relay sends: a larger event halts its municipality with that
    /// reason instead of making the broker close the channel.
    pub max_message_bytes: usize,
    /// How long the broker may take to take a message, confirm it, or open a channel before the
    /// connection counts as lost.
    pub confirm_timeout: Duration,
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
async fn wait_or_stop(d: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => shutdown.is_cancelled(),
        _ = shutdown.cancelled() => true,
    }
}

/// Runs until shutdown: stand by for the lock, then publish.
pub async fn run(cfg: RelayConfig, metrics: Arc<Metrics>, shutdown: Shutdown) {
    let mut delays = backoff();
    while !shutdown.is_cancelled() {
        match lead(&cfg, &metrics, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                metrics.relay_active.set(0);
                tracing::warn!(error = %e, "relay interrupted; retrying");
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if wait_or_stop(delay, &shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Takes the lock (standing by until it can) and publishes while holding it. Returns `Ok` on
/// shutdown, `Err` when the lock connection was lost.
async fn lead(cfg: &RelayConfig, metrics: &Metrics, shutdown: &Shutdown) -> Result<(), RelayError> {
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
    // A listener of its own, not one from the API's pool: the relay must be able to (re)start
    // while API requests hold every pooled connection.
    let mut listener = PgListener::connect(&cfg.database_url).await?;
    listener.listen("orghub_events").await?;
    // The lock session also reads the log: the relay never waits for a pooled connection that
    // API requests hold. Progress is written by a task on a connection of its own.
    let (mut cursor, stored) = Cursor::resume(&mut lock_conn, cfg, metrics).await?;
    let (progress_tx, progress_rx) = watch::channel(cursor.progress());
    let writer = progress::spawn_writer(
        options.application_name(&format!("{name} positions")),
        stored,
        progress_rx,
    );
    let mut delays = backoff();
    let result = loop {
        if shutdown.is_cancelled() {
            break Ok(());
        }
        let publisher = tokio::select! {
            p = connect(cfg) => p,
            _ = shutdown.cancelled() => break Ok(()),
        };
        let publisher = match publisher {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "relay cannot reach RabbitMQ; retrying");
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if wait_or_stop(delay, shutdown).await {
                    break Ok(());
                }
                lock_conn.ping().await?;
                continue;
            }
        };
        tracing::info!("relay connected to RabbitMQ");
        let mut pump = Pump {
            conn: &mut lock_conn,
            cfg,
            metrics,
            publisher: &publisher,
            cursor: &mut cursor,
            progress: &progress_tx,
            window: VecDeque::new(),
        };
        match pump.run(&mut listener, shutdown).await {
            Ok(()) => break Ok(()),
            Err(e) if e.is_broker() => {
                tracing::warn!(
                    error = %e,
                    "publishing interrupted; reconnecting and publishing again from the \
                     confirmed positions"
                );
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if wait_or_stop(delay, shutdown).await {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    metrics.relay_active.set(0);
    // Another holder reports the halts from here on (it reads them from `relay_halt`).
    metrics.relay_halted.clear();
    // The last confirmed positions are stored before the lock goes to a standby writer (which
    // would otherwise publish them again: harmless, but avoidable).
    drop(progress_tx);
    let _ = writer.await;
    // Closing the session releases the lock for a standby writer.
    let _ = lock_conn.close().await;
    result
}

async fn connect(cfg: &RelayConfig) -> Result<Publisher, RelayError> {
    // `connect` bounds itself; opening the channel is bounded here.
    let conn = orghub_broker::connect(&cfg.amqp_url, "orghub-writer relay").await?;
    match tokio::time::timeout(cfg.confirm_timeout, Publisher::new(&conn)).await {
        Ok(publisher) => Ok(publisher?),
        Err(_) => Err(RelayError::Stalled {
            what: "opened no confirm channel",
            bound: cfg.confirm_timeout,
        }),
    }
}

/// Where the relay is in each municipality's log.
#[derive(Debug, Default)]
struct Cursor {
    /// The last sequence sent to the broker (confirmed or in flight).
    sent: HashMap<i32, i64>,
    /// The last sequence up to which everything was confirmed.
    confirmed: HashMap<i32, i64>,
    /// Messages in flight per municipality.
    in_flight: HashMap<i32, usize>,
    halts: Halts,
    /// The largest message sent: the configured limit, or RabbitMQ's `max_message_size` once
    /// the broker said it is lower.
    max_message_bytes: usize,
}

impl Cursor {
    /// The stored positions and halts, read when the relay takes the lock, and the progress as
    /// stored. A stored halt's head becomes the first unconfirmed event, which is tried before
    /// anything after it; a halt of a municipality with nothing left to publish is dropped.
    async fn resume(
        conn: &mut PgConnection,
        cfg: &RelayConfig,
        metrics: &Metrics,
    ) -> Result<(Cursor, Progress), sqlx::Error> {
        let confirmed = log::positions(conn).await?;
        let last: HashMap<i32, i64> = log::last_sequences(conn).await?.into_iter().collect();
        let stored = Progress {
            positions: confirmed.clone(),
            halts: halts::load(conn).await?,
        };
        let mut rows = stored.halts.clone();
        rows.retain(|k, row| {
            let through = confirmed.get(k).copied().unwrap_or(0);
            row.sequence = through + 1;
            last.get(k).is_some_and(|l| *l > through)
        });
        let cursor = Cursor {
            sent: confirmed.clone(),
            confirmed,
            in_flight: HashMap::new(),
            halts: Halts::resumed_from(rows, metrics),
            max_message_bytes: cfg.max_message_bytes,
        };
        Ok((cursor, stored))
    }

    fn sent(&self, kommune: i32) -> i64 {
        self.sent.get(&kommune).copied().unwrap_or(0)
    }

    fn in_flight(&self, kommune: i32) -> usize {
        self.in_flight.get(&kommune).copied().unwrap_or(0)
    }

    fn progress(&self) -> Progress {
        Progress {
            positions: self.confirmed.clone(),
            halts: self.halts.rows(),
        }
    }

    /// What to read next, of the municipalities whose log goes past what was sent: a fair share
    /// of `batch` each (so one municipality's bulk import cannot hold back another's live
    /// changes); of a halted one only its head, once it is due and nothing of it is in flight.
    fn wants(&self, last: &[(i32, i64)], batch: i64) -> Vec<Want> {
        let now = Instant::now();
        let mut wants: Vec<Want> = last
            .iter()
            .filter(|(k, last)| *last > self.sent(*k))
            .filter(|(k, _)| {
                self.halts.head(*k).is_none()
                    || (self.halts.due(*k, now) && self.in_flight(*k) == 0)
            })
            .map(|(k, _)| Want {
                kommune: *k,
                after: self.sent(*k),
                limit: 1,
            })
            .collect();
        let per = (batch / i64::try_from(wants.len()).unwrap_or(1).max(1)).max(1);
        for w in &mut wants {
            if self.halts.head(w.kommune).is_none() {
                w.limit = per;
            }
        }
        wants
    }

    /// Whether `row` goes out now: the next of its municipality, and, of a halted one, only its
    /// head when due with nothing else of it in flight.
    fn may_send(&self, row: &Outgoing) -> bool {
        let k = row.kommune;
        if row.sequence != self.sent(k) + 1 {
            // A halt in this batch rewound its municipality.
            return false;
        }
        match self.halts.head(k) {
            None => true,
            Some(head) => {
                row.sequence == head && self.in_flight(k) == 0 && self.halts.due(k, Instant::now())
            }
        }
    }

    /// Halts (or keeps halted) `kommune` at `sequence`; nothing after its head is sent again
    /// until the head is taken.
    fn refuse(
        &mut self,
        kommune: i32,
        sequence: i64,
        id: Option<Uuid>,
        refusal: &Refusal,
        metrics: &Metrics,
    ) {
        self.halts.refuse(kommune, sequence, id, refusal, metrics);
        if let Some(head) = self.halts.head(kommune) {
            let sent = self.sent.entry(kommune).or_default();
            *sent = (*sent).min(head - 1);
        }
    }

    /// Records a confirm of `sequence` of `kommune`. Of a halted municipality, confirms of events
    /// after its head (sent before the halt was known) move nothing: they are sent again after it.
    fn confirm(&mut self, kommune: i32, sequence: i64, metrics: &Metrics) {
        if self.halts.head(kommune).is_some_and(|head| sequence > head) {
            return;
        }
        self.halts.confirm(kommune, sequence, metrics);
        let confirmed = self.confirmed.entry(kommune).or_default();
        *confirmed = (*confirmed).max(sequence);
    }

    /// After a round: whatever was sent but not confirmed is sent again by the next one.
    fn rewind(&mut self) {
        self.sent = self.confirmed.clone();
        self.in_flight.clear();
    }
}

/// The message of `row`, or why it cannot go out.
fn prepare(row: &mut Outgoing, max_bytes: usize) -> Result<AmqpMessage, Refusal> {
    let message =
        std::mem::replace(&mut row.message, Err(String::new())).map_err(Refusal::Unreadable)?;
    if message.body.len() > max_bytes {
        return Err(Refusal::TooLarge {
            bytes: message.body.len(),
            limit: max_bytes,
        });
    }
    Ok(message)
}

/// A message sent whose confirm has not been taken yet.
struct Sent {
    kommune: i32,
    sequence: i64,
    id: Option<Uuid>,
    routing_key: String,
    sent_at: Instant,
    confirm: BoxFuture<'static, Result<Delivered, PublishError>>,
}

/// How taking a confirm ended.
enum Settled {
    /// Taken (confirmed or refused), or none was outstanding.
    Done,
    /// Shutdown was requested while waiting; the confirm is still outstanding.
    Stopping,
}

/// One connection's publishing: fetches the next events while the broker confirms the previous
/// ones, keeping up to two batches in flight, and hands progress to the progress writer.
struct Pump<'a> {
    conn: &'a mut PgConnection,
    cfg: &'a RelayConfig,
    metrics: &'a Metrics,
    publisher: &'a Publisher,
    cursor: &'a mut Cursor,
    progress: &'a watch::Sender<Progress>,
    /// Sent messages, oldest first. Confirms are taken in publishing order, so a municipality's
    /// position only moves over events that are all confirmed.
    window: VecDeque<Sent>,
}

impl Pump<'_> {
    async fn run(
        &mut self,
        listener: &mut PgListener,
        shutdown: &Shutdown,
    ) -> Result<(), RelayError> {
        let result = self.publish(listener, shutdown).await;
        self.publish_progress();
        self.window.clear();
        self.cursor.rewind();
        result
    }

    fn publish_progress(&self) {
        let now = self.cursor.progress();
        self.progress.send_if_modified(|stored| {
            let changed = *stored != now;
            if changed {
                *stored = now;
            }
            changed
        });
    }

    async fn publish(
        &mut self,
        listener: &mut PgListener,
        shutdown: &Shutdown,
    ) -> Result<(), RelayError> {
        let window_size = usize::try_from(self.cfg.batch.max(1) * 2).unwrap_or(1000);
        loop {
            if shutdown.is_cancelled() {
                return self.drain_for_shutdown().await;
            }
            let last = log::last_sequences(self.conn).await?;
            let wants = self.cursor.wants(&last, self.cfg.batch);
            let batch = if wants.is_empty() {
                Vec::new()
            } else {
                log::fetch(self.conn, &wants).await?
            };
            if batch.is_empty() {
                // Everything fetched was sent: take the remaining confirms, then wait.
                while !self.window.is_empty() {
                    if let Settled::Stopping = self.settle_oldest(Some(shutdown), None).await? {
                        break;
                    }
                }
                self.publish_progress();
                if shutdown.is_cancelled() {
                    continue;
                }
                // Idle: wait for a notification, the poll interval (or a halted head's next
                // try, if sooner), or shutdown.
                let wake = self
                    .cursor
                    .halts
                    .next_due()
                    .map_or(self.cfg.poll, |due| {
                        due.saturating_duration_since(Instant::now())
                    })
                    .min(self.cfg.poll);
                tokio::select! {
                    n = listener.recv() => { n?; }
                    _ = tokio::time::sleep(wake) => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            for mut row in batch {
                if shutdown.is_cancelled() {
                    break;
                }
                if !self.cursor.may_send(&row) {
                    continue;
                }
                let message = match prepare(&mut row, self.cursor.max_message_bytes) {
                    Ok(m) => m,
                    Err(refusal) => {
                        self.cursor.refuse(
                            row.kommune,
                            row.sequence,
                            row.id,
                            &refusal,
                            self.metrics,
                        );
                        continue;
                    }
                };
                self.send(&row, &message).await?;
                while self.window.len() > window_size {
                    if let Settled::Stopping = self.settle_oldest(Some(shutdown), None).await? {
                        break;
                    }
                }
            }
            self.publish_progress();
        }
    }

    /// Sends one message and puts it in the window; a refusal without a round trip halts its
    /// municipality.
    async fn send(&mut self, row: &Outgoing, message: &AmqpMessage) -> Result<(), RelayError> {
        let sending = self.publisher.send_one(message);
        let sent = tokio::time::timeout(self.cfg.confirm_timeout, sending)
            .await
            .map_err(|_| RelayError::Stalled {
                what: "took no message",
                bound: self.cfg.confirm_timeout,
            })?;
        match sent {
            Ok(in_flight) => {
                self.cursor.sent.insert(row.kommune, row.sequence);
                *self.cursor.in_flight.entry(row.kommune).or_default() += 1;
                self.window.push_back(Sent {
                    kommune: row.kommune,
                    sequence: row.sequence,
                    id: row.id,
                    routing_key: message.routing_key.clone(),
                    sent_at: Instant::now(),
                    confirm: Box::pin(in_flight.confirmed()),
                });
                Ok(())
            }
            Err(PublishError::Nacked) => {
                let refusal = Refusal::Nacked {
                    routing_key: message.routing_key.clone(),
                };
                self.cursor
                    .refuse(row.kommune, row.sequence, row.id, &refusal, self.metrics);
                Ok(())
            }
            Err(PublishError::ConnectionLost(why)) => Err(self.lost(why)),
        }
    }

    /// Takes the oldest confirm, waiting at most until its `confirm_timeout` (or `until`, if
    /// sooner: then it stays outstanding and `Stopping` is returned). With `shutdown`, a
    /// shutdown request ends the wait the same way.
    async fn settle_oldest(
        &mut self,
        shutdown: Option<&Shutdown>,
        until: Option<Instant>,
    ) -> Result<Settled, RelayError> {
        let Some(mut sent) = self.window.pop_front() else {
            return Ok(Settled::Done);
        };
        let timeout_at = sent.sent_at + self.cfg.confirm_timeout;
        let deadline = until.map_or(timeout_at, |u| u.min(timeout_at));
        let interrupt = async {
            match shutdown {
                Some(s) => s.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let waited = tokio::select! {
            r = tokio::time::timeout_at(deadline.into(), &mut sent.confirm) => Some(r),
            () = interrupt => None,
        };
        let Some(result) = waited else {
            self.window.push_front(sent);
            return Ok(Settled::Stopping);
        };
        let Ok(result) = result else {
            if deadline < timeout_at {
                self.window.push_front(sent);
                return Ok(Settled::Stopping);
            }
            return Err(RelayError::Stalled {
                what: "sent no confirm",
                bound: self.cfg.confirm_timeout,
            });
        };
        let k = sent.kommune;
        if let Some(n) = self.cursor.in_flight.get_mut(&k) {
            *n = n.saturating_sub(1);
        }
        self.metrics
            .confirm_latency
            .observe(sent.sent_at.elapsed().as_secs_f64());
        match result {
            Ok(delivered) => {
                self.metrics.events_published.inc();
                if delivered == Delivered::Unroutable {
                    self.metrics.events_unroutable.inc();
                }
                self.cursor.confirm(k, sent.sequence, self.metrics);
                Ok(Settled::Done)
            }
            Err(PublishError::Nacked) => {
                let refusal = Refusal::Nacked {
                    routing_key: sent.routing_key,
                };
                self.cursor
                    .refuse(k, sent.sequence, sent.id, &refusal, self.metrics);
                Ok(Settled::Done)
            }
            Err(PublishError::ConnectionLost(why)) => Err(self.lost(why)),
        }
    }

    /// The error of a lost channel. When RabbitMQ closed it over a message larger than its
    /// `max_message_size`, the relay learns that limit: after reconnecting, the event halts its
    /// municipality as too large instead of closing the channel again for everyone.
    fn lost(&mut self, why: String) -> RelayError {
        // The broker's reason may reach a pending confirm rather than the call that failed.
        let pending =
            self.window
                .iter_mut()
                .filter_map(|sent| match (&mut sent.confirm).now_or_never() {
                    Some(Err(PublishError::ConnectionLost(reason))) => Some(reason),
                    _ => None,
                });
        let learned = std::iter::once(why.clone())
            .chain(pending)
            .find_map(|reason| broker_max_message_size(&reason));
        if let Some(broker_max) = learned
            && broker_max < self.cursor.max_message_bytes
        {
            tracing::warn!(
                broker_max,
                configured = self.cfg.max_message_bytes,
                "RabbitMQ's max_message_size is below ORGHUB_RELAY_MAX_MESSAGE_BYTES; the relay \
                 sends at most {broker_max} bytes from now on (lower the setting to match)"
            );
            self.cursor.max_message_bytes = broker_max;
        }
        RelayError::ConnectionLost(why)
    }

    /// Takes what confirms arrive within [`SHUTDOWN_GRACE`]; the rest are published again by
    /// the next relay.
    async fn drain_for_shutdown(&mut self) -> Result<(), RelayError> {
        let until = Instant::now() + SHUTDOWN_GRACE;
        while !self.window.is_empty() {
            match self.settle_oldest(None, Some(until)).await {
                Ok(Settled::Done) => {}
                Ok(Settled::Stopping) | Err(_) => {
                    tracing::warn!(
                        unconfirmed = self.window.len(),
                        "stopping with events RabbitMQ has not confirmed; the next relay \
                         publishes them again"
                    );
                    break;
                }
            }
        }
        Ok(())
    }
}

/// RabbitMQ's `max_message_size` from the reason it closed a channel for a larger message
/// ("PRECONDITION_FAILED - message size 2000 is larger than configured max size 1024").
fn broker_max_message_size(reason: &str) -> Option<usize> {
    let (_, after) = reason.split_once("larger than configured max size ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brokers_message_size_limit_is_read_from_its_close_reason() {
        assert_eq!(
            broker_max_message_size(
                "protocol error: PRECONDITION_FAILED - message size 2000 is larger than \
                 configured max size 1024"
            ),
            Some(1024)
        );
        assert_eq!(broker_max_message_size("connection reset by peer"), None);
    }
}
