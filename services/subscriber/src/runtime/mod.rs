//! The runtime: owns the AMQP connection, the consume loop, batching and acknowledgement, and
//! calls the sink. Sinks never see the broker.
//!
//! - [`batch`]: one batch from decoding to settlement (retry, dead-letter, ack).
//! - [`republish`]: what the copies to the retry queues and the DLQ say.
//!
//! A session is one connection: check the topology and bind the config's keys, (the first time)
//! apply the policy and remove stale bindings where the credentials allow, and bootstrap/resync,
//! then consume in batches. A lost connection ends the
//! session; unacknowledged deliveries go back to the queue and the next session starts over
//! (the version guard makes re-applying harmless). Shutdown stops taking new batches, finishes and
//! settles the current one, cancels the consumer and closes the connection.

pub mod batch;
pub mod republish;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orghub_broker::mgmt::Management;
use orghub_broker::{Connection, Delivery, Publisher, QueueConsumer, Topology};
use orghub_runtime::Shutdown;
use tokio::time::Instant;

use crate::config::{Command, Config};
use crate::metrics::Metrics;
use crate::resync::{self, WriterClient};
use crate::sink::Sink;
use crate::topology;

/// How often the queue depth is sampled for `queue_messages`.
const DEPTH_EVERY: Duration = Duration::from_secs(1);
/// Pause after a batch that had to hand deliveries back to the broker.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);
/// Reconnect backoff bounds.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// What the runtime's parts share.
#[derive(Debug)]
pub struct Shared<S> {
    pub config: Config,
    /// The subscriber's name and retry tiers.
    pub topology: Topology,
    pub sink: Arc<S>,
    pub metrics: Arc<Metrics>,
}

/// How a session ended.
enum End {
    /// Shutdown was requested and everything is settled.
    Stopped,
    /// The connection or channel broke; try again.
    Lost(String),
}

/// Runs sessions until `stop` turns true. Returns an error only for what retrying cannot fix
/// (a resync the writer refuses).
pub async fn run<S: Sink>(
    shared: Arc<Shared<S>>,
    command: Command,
    stop: Shutdown,
) -> anyhow::Result<()> {
    let mut setup_done = false;
    let mut pause = RECONNECT_MIN;
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        let started = Instant::now();
        let why = match session(&shared, command, &mut setup_done, &stop).await {
            Ok(End::Stopped) => return Ok(()),
            Ok(End::Lost(why)) => why,
            Err(Fatal(e)) => return Err(e),
        };
        shared.metrics.connected.set(0);
        if started.elapsed() > RECONNECT_MAX * 3 {
            pause = RECONNECT_MIN;
        }
        tracing::warn!(error = %why, retry_in = ?pause, "RabbitMQ session ended; reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return Ok(()),
        }
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// An error that ends the runtime.
struct Fatal(anyhow::Error);

async fn session<S: Sink>(
    shared: &Shared<S>,
    command: Command,
    setup_done: &mut bool,
    stop: &Shutdown,
) -> Result<End, Fatal> {
    let config = &shared.config;
    let topology = &shared.topology;
    let conn = match orghub_broker::connect(
        config.amqp_url.expose(),
        &format!("orghub-subscriber {}", topology.name),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return Ok(End::Lost(e.to_string())),
    };
    let routing_keys = config.routing_keys();
    if let Err(e) = topology::prepare(&conn, topology, &routing_keys).await {
        // Retried at every reconnect: once the operator ran what the message says, it works.
        tracing::error!(error = %e, "the subscriber's topology is not usable");
        close(&conn).await;
        return Ok(End::Lost(format!("{e:#}")));
    }
    if !*setup_done {
        first_time_setup(shared, &conn, &routing_keys).await;
        let client = WriterClient::new(config.writer_url.clone(), config.writer_token.clone());
        let all = command == Command::Resync;
        if let Err(e) = resync::bootstrap(
            &client,
            shared.sink.as_ref(),
            &config.bindings,
            all,
            &shared.metrics,
            stop,
        )
        .await
        {
            close(&conn).await;
            return Err(Fatal(e));
        }
        if stop.is_cancelled() {
            close(&conn).await;
            return Ok(End::Stopped);
        }
        *setup_done = true;
    }
    let end = consume(shared, &conn, stop).await;
    close(&conn).await;
    Ok(match end {
        Ok(end) => end,
        Err(e) => End::Lost(format!("{e:#}")),
    })
}

/// Policy and stale bindings, through the management API when the config gives one (a
/// development set-up); problems are logged, not fatal.
async fn first_time_setup<S: Sink>(shared: &Shared<S>, conn: &Connection, routing_keys: &[String]) {
    let config = &shared.config;
    let Some(url) = &config.management_url else {
        tracing::info!(
            "no management_url: the policy is the operator's, and bindings removed from the \
             config stay until the operator removes them"
        );
        return;
    };
    let mgmt = match Management::parse(url.expose()) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no management API client; policy and stale bindings not handled"
            );
            return;
        }
    };
    let vhost = config.vhost();
    let topology = &shared.topology;
    topology::apply_policy(&mgmt, &vhost, topology, config.retry.delivery_limit).await;
    if let Err(e) = topology::unbind_stale(conn, &mgmt, &vhost, topology, routing_keys).await {
        tracing::warn!(error = %e, "cannot remove stale bindings");
    }
}

async fn consume<S: Sink>(
    shared: &Shared<S>,
    conn: &Connection,
    stop: &Shutdown,
) -> anyhow::Result<End> {
    let config = &shared.config;
    let queue = shared.topology.name.queue();
    // Copies go through the subscriber's own exchange, which exists: nothing to declare.
    let publisher = Publisher::confirming(conn)
        .await
        .context("opening the publishing channel")?;
    let tag = format!(
        "orghub-subscriber-{}-{}",
        shared.topology.name,
        std::process::id()
    );
    let mut consumer = QueueConsumer::start(conn, &queue, config.prefetch, &tag)
        .await
        .with_context(|| format!("consuming from {queue}"))?;
    shared.metrics.connected.set(1);
    shared.metrics.sessions.inc();
    tracing::info!(%queue, sink = shared.sink.kind(), "consuming");
    let mut last_depth = Instant::now() - DEPTH_EVERY;
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                // Stop taking deliveries; whatever was prefetched goes back when the channel
                // closes.
                consumer.stop("shutting down").await;
                return Ok(End::Stopped);
            }
            next = consumer.next() => next,
        };
        let first = match first {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Ok(End::Lost(format!("consumer: {e}"))),
            None => return Ok(End::Lost("the broker cancelled the consumer".into())),
        };
        let (deliveries, broken) = fill(
            &mut consumer,
            first,
            config.batch_size.into(),
            config.batch_linger,
        )
        .await;
        if let Some(why) = broken {
            // The channel is gone: these deliveries cannot be acknowledged and come back anyway.
            return Ok(End::Lost(why));
        }
        match batch::process(shared, &publisher, deliveries, stop).await {
            Err(lost) => return Ok(End::Lost(lost.to_string())),
            // Copies could not be published (broker trouble, a missing queue): the broker
            // redelivers those at once. Pause so that, without a delivery limit, this is not a
            // hot loop.
            Ok(requeued) if requeued > 0 => {
                tokio::select! {
                    _ = tokio::time::sleep(REQUEUE_PAUSE) => {}
                    _ = stop.cancelled() => {}
                }
            }
            Ok(_) => {}
        }
        if last_depth.elapsed() >= DEPTH_EVERY {
            last_depth = Instant::now();
            if let Some(depth) = consumer.depth().await {
                shared.metrics.queue_messages.set(i64::from(depth));
            }
        }
    }
}

/// Takes more deliveries after `first` until the batch is full or `linger` has passed. A broken
/// consumer is reported with the reason.
async fn fill(
    consumer: &mut QueueConsumer,
    first: Delivery,
    size: usize,
    linger: Duration,
) -> (Vec<Delivery>, Option<String>) {
    let deadline = Instant::now() + linger;
    let mut batch = Vec::with_capacity(size);
    batch.push(first);
    while batch.len() < size {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(d))) => batch.push(d),
            Ok(Some(Err(e))) => return (batch, Some(format!("consumer: {e}"))),
            Ok(None) => return (batch, Some("the broker cancelled the consumer".into())),
            Err(_) => break,
        }
    }
    (batch, None)
}

async fn close(conn: &Connection) {
    orghub_broker::close_connection(conn, "bye").await;
}
