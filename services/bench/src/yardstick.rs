//! The yardsticks, measured in the same run on the same services: what the broker and the
//! database do when driven directly and carefully, with messages and rows like orghub's.
//!
//! - AMQP publish: raw lapin, `N` real encoded events (the relay's exact properties and
//!   `mandatory` flag) to a topic exchange bound to one durable quorum queue, with publisher
//!   confirms pipelined over a sliding window of [`WINDOW`] unconfirmed messages.
//! - The same, in batches of [`RELAY_BATCH`] whose confirms are all awaited before the next batch
//!   is sent — the relay's pattern without its database work, to separate the two costs.
//! - AMQP consume: the `N` messages back from the quorum queue (prefetch [`PREFETCH`], one
//!   `multiple` ack per [`ACK_EVERY`]).
//! - PostgreSQL insert: `N` rows `(uuid, kommune, kind, version, document jsonb)` into a table
//!   with a uuid primary key, [`PG_BATCH`] rows per `INSERT … SELECT FROM UNNEST(…)` statement,
//!   each its own transaction (synchronous commit), on one connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use orghub_broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions, QueuePurgeOptions,
};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::lapin::{Channel, Confirmation, ExchangeKind, PublisherConfirm};
use orghub_contracts::{AmqpMessage, OrgEvent};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::meter::Meter;
use crate::report::Rate;

const EXCHANGE: &str = "bench.yardstick";
const QUEUE: &str = "bench.yardstick";
/// Unconfirmed messages in flight when publishing with a sliding window.
pub const WINDOW: usize = 1000;
/// The relay's default batch (`ORGHUB_RELAY_BATCH`).
pub const RELAY_BATCH: usize = 500;
pub const PREFETCH: u16 = 1000;
pub const ACK_EVERY: u64 = 250;
pub const PG_BATCH: usize = 1000;

/// The yardsticks' figures.
#[derive(Debug, Clone)]
pub struct Yardstick {
    pub messages: u64,
    pub average_body_bytes: f64,
    pub publish: Rate,
    pub publish_batches: Rate,
    pub consume: Rate,
    pub pg_insert: Rate,
    /// RabbitMQ's CPU time for publishing (windowed) and consuming the `messages`.
    pub broker_cpu: Duration,
    /// PostgreSQL's CPU time for the inserts.
    pub database_cpu: Duration,
}

impl Yardstick {
    /// The slowest raw leg an event passes through on its way to a cache: publish, consume,
    /// insert.
    pub fn slowest_leg(&self) -> f64 {
        self.publish
            .per_second()
            .min(self.consume.per_second())
            .min(self.pg_insert.per_second())
    }

    /// The subscriber's raw legs: consume, then write.
    pub fn subscriber_leg(&self) -> f64 {
        self.consume.per_second().min(self.pg_insert.per_second())
    }
}

/// Runs all four on `amqp_url` (the bench's vhost) and `pg_url` (the cache database).
pub async fn measure(
    amqp_url: &str,
    pg_url: &str,
    events: &[OrgEvent],
    n: u64,
) -> anyhow::Result<Yardstick> {
    if events.is_empty() {
        bail!("no sample events for the yardstick");
    }
    let messages: Vec<AmqpMessage> = events.iter().map(OrgEvent::to_amqp).collect();
    let average_body_bytes =
        messages.iter().map(|m| m.body.len()).sum::<usize>() as f64 / messages.len() as f64;
    let conn = orghub_broker::connect(amqp_url, "orghub-bench yardstick").await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    declare(&channel).await?;

    println!("  AMQP publish, {n} messages, window {WINDOW} …");
    let meter = Meter::start(None, None);
    let windowed = publish(&channel, &messages, n, Some(WINDOW)).await?;
    println!("    {:.0} msg/s", windowed.per_second());
    println!("  AMQP consume, {n} messages …");
    let consume = consume(&conn, n).await?;
    let broker_cpu = meter.finish(n, None).await.rabbitmq;
    println!("    {:.0} msg/s", consume.per_second());
    println!("  AMQP publish, {n} messages, batches of {RELAY_BATCH} …");
    let publish_batches = publish(&channel, &messages, n, None).await?;
    println!("    {:.0} msg/s", publish_batches.per_second());
    channel
        .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
        .await?;
    channel
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await?;
    orghub_broker::close_connection(&conn, "yardstick done").await;

    println!("  PostgreSQL insert, {n} rows, {PG_BATCH} per statement …");
    let documents: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e.kommune.to_string(),
                e.kind().word().to_owned(),
                serde_json::to_string(&e.data).unwrap_or_else(|_| "{}".into()),
            )
        })
        .collect();
    let (pg_insert, database_cpu) = pg_insert(pg_url, &documents, n).await?;
    println!("    {:.0} rows/s", pg_insert.per_second());
    Ok(Yardstick {
        messages: n,
        average_body_bytes,
        publish: windowed,
        publish_batches,
        consume,
        pg_insert,
        broker_cpu,
        database_cpu,
    })
}

async fn declare(channel: &Channel) -> anyhow::Result<()> {
    channel
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            QUEUE.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await?;
    channel
        .queue_bind(
            QUEUE.into(),
            EXCHANGE.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Publishes `n` messages (cycling through `messages`): with a sliding window of unconfirmed
/// messages, or (`window = None`) in relay-sized batches awaited one after the other.
async fn publish(
    channel: &Channel,
    messages: &[AmqpMessage],
    n: u64,
    window: Option<usize>,
) -> anyhow::Result<Rate> {
    let mut in_flight: VecDeque<PublisherConfirm> = VecDeque::with_capacity(WINDOW);
    let started = Instant::now();
    for (i, message) in messages.iter().cycle().take(n as usize).enumerate() {
        let confirm = channel
            .basic_publish(
                EXCHANGE.into(),
                message.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &message.body,
                orghub_broker::properties_for(message),
            )
            .await
            .context("basic.publish")?;
        in_flight.push_back(confirm);
        match window {
            Some(w) => {
                while in_flight.len() >= w {
                    settle(in_flight.pop_front()).await?;
                }
            }
            None if (i + 1).is_multiple_of(RELAY_BATCH) => {
                while let Some(c) = in_flight.pop_front() {
                    settle(Some(c)).await?;
                }
            }
            None => {}
        }
    }
    while let Some(c) = in_flight.pop_front() {
        settle(Some(c)).await?;
    }
    Ok(Rate::new(n, started.elapsed()))
}

async fn settle(confirm: Option<PublisherConfirm>) -> anyhow::Result<()> {
    let Some(confirm) = confirm else {
        return Ok(());
    };
    match confirm.await.context("publisher confirm")? {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => bail!("a yardstick message was unroutable"),
        Confirmation::Nack(_) => bail!("the broker nacked a yardstick message"),
        Confirmation::NotRequested => bail!("the channel is not in confirm mode"),
    }
}

async fn consume(conn: &orghub_broker::lapin::Connection, n: u64) -> anyhow::Result<Rate> {
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            QUEUE.into(),
            "orghub-bench-yardstick".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let mut got = 0u64;
    while got < n {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .with_context(|| format!("no yardstick message for 30 s after {got} of {n}"))?
            .context("the yardstick consumer was cancelled")?
            .context("yardstick delivery")?;
        got += 1;
        if got.is_multiple_of(ACK_EVERY) || got == n {
            delivery
                .acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .context("ack")?;
        }
    }
    let rate = Rate::new(n, started.elapsed());
    orghub_broker::close_channel(&channel, "consumed").await;
    Ok(rate)
}

/// Returns the rate and the CPU time of the inserting backend (read before it disconnects).
async fn pg_insert(
    url: &str,
    documents: &[(String, String, String)],
    n: u64,
) -> anyhow::Result<(Rate, Duration)> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("the yardstick's database")?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_yardstick;
         CREATE TABLE bench_yardstick (
             uuid uuid PRIMARY KEY,
             kommune text NOT NULL,
             kind text NOT NULL,
             version bigint NOT NULL,
             document jsonb NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .execute(&pool)
    .await?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let meter = Meter::start(None, None);
    let started = Instant::now();
    let mut done = 0;
    let mut source = documents.iter().cycle();
    while done < n {
        let take = PG_BATCH.min(n - done);
        let mut uuids = Vec::with_capacity(take);
        let mut kommuner = Vec::with_capacity(take);
        let mut kinds = Vec::with_capacity(take);
        let mut docs = Vec::with_capacity(take);
        for (kommune, kind, doc) in source.by_ref().take(take) {
            uuids.push(Uuid::new_v4());
            kommuner.push(kommune.as_str());
            kinds.push(kind.as_str());
            docs.push(doc.as_str());
        }
        sqlx::query(
            "INSERT INTO bench_yardstick (uuid, kommune, kind, version, document)
             SELECT u.uuid, u.kommune, u.kind, 1, u.document::jsonb
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[])
                  AS u(uuid, kommune, kind, document)",
        )
        .bind(&uuids)
        .bind(&kommuner)
        .bind(&kinds)
        .bind(&docs)
        .execute(&pool)
        .await
        .context("yardstick insert")?;
        done += take;
    }
    let rate = Rate::new(n as u64, started.elapsed());
    let cpu = meter.finish(n as u64, None).await.postgres;
    sqlx::raw_sql("DROP TABLE bench_yardstick")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok((rate, cpu))
}
