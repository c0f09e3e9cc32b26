//! The AMQP work on a subscriber's dead-letter queue: reading without consuming, replaying and
//! purging selected dead letters.
//!
//! Selecting by id, reason or type means looking at every message, so each operation scans the
//! queue: `basic.get` without auto-ack, up to the depth the queue had when the scan started
//! (so messages that arrive meanwhile, or come back from a replay, are not visited twice).
//! Every visited message stays unacknowledged — invisible to other consumers, but owned by the
//! broker — until the scan settles it: acked after its replayed copy was confirmed or when it is
//! purged, otherwise requeued at the end with one `basic.nack(multiple, requeue)`. If this
//! process dies mid-scan the broker requeues everything it held. A message is never acked
//! before what replaces it is confirmed, so no path loses one. The order within the DLQ may
//! change, which nothing relies on.

use orghub_broker::subscriber::is_not_found;
use orghub_broker::{
    BrokerError, Connection, Delivered, Delivery, Publisher, QueueReader, SubscriberName, lapin,
};
use serde::Serialize;

use super::{DeadLetter, DeadLetterMessage, Republish, Selector, republish_properties};

/// What went wrong working on a dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// RabbitMQ could not be reached (worth retrying), or refused the credentials (not).
    #[error(transparent)]
    Connect(#[from] BrokerError),
    /// The subscriber's DLQ does not exist: no such subscriber in this vhost.
    #[error("no subscriber {name:?}: queue {queue} does not exist in this vhost")]
    NoSuchSubscriber { name: String, queue: String },
    /// The broker failed or closed the channel mid-way; whatever was not settled is requeued.
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
}

/// A republish that was not confirmed; its dead letter was requeued and stays in the DLQ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error(
    "republishing dead letter {} to {routing_key} was not confirmed ({detail}); it stays in the \
     DLQ",
    id.as_deref().unwrap_or("-")
)]
pub struct Unconfirmed {
    pub id: Option<String>,
    pub routing_key: String,
    pub detail: String,
}

/// The result of a replay.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    /// Sent back to `sub.<name>`.
    pub replayed: Vec<DeadLetter>,
    /// Sent to `sub.<name>.parked` (replayed too often before).
    pub parked: Vec<DeadLetter>,
    /// Dead letters visited that did not match, left in the DLQ.
    pub left: usize,
    /// The republish that failed, which ended the replay early.
    pub unconfirmed: Option<Unconfirmed>,
}

/// The result of a purge, or of its dry run.
#[derive(Debug, Default, Serialize)]
pub struct PurgeReport {
    /// Whether `matched` were removed (`false`: a dry run, nothing changed).
    pub removed: bool,
    pub matched: Vec<DeadLetter>,
    /// Dead letters visited that did not match, left in the DLQ.
    pub left: usize,
}

/// A connection for work on dead-letter queues. Each operation opens its own channel.
#[derive(Debug)]
pub struct DeadLetterQueues {
    conn: Connection,
}

impl DeadLetterQueues {
    /// Connects to `amqp_url` (whose vhost is the one worked on).
    pub async fn connect(amqp_url: &str) -> Result<Self, DlqError> {
        let conn = orghub_broker::connect(amqp_url, "orghubctl dlq").await?;
        Ok(Self { conn })
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        orghub_broker::close_connection(&self.conn, "orghubctl done").await;
    }

    /// Up to `limit` dead letters matching `filter` (an empty selector matches all), read
    /// without consuming.
    pub async fn show(
        &self,
        name: &SubscriberName,
        filter: &Selector,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, DlqError> {
        let messages = self.read(name, filter, limit).await?;
        Ok(messages.into_iter().map(|m| m.letter).collect())
    }

    /// As [`DeadLetterQueues::show`], with each message's headers, properties and body.
    pub async fn read(
        &self,
        name: &SubscriberName,
        filter: &Selector,
        limit: usize,
    ) -> Result<Vec<DeadLetterMessage>, DlqError> {
        let mut scan = Scan::open(&self.conn, name).await?;
        let mut out = Vec::new();
        let result = async {
            while out.len() < limit {
                let Some(delivery) = scan.next().await? else {
                    break;
                };
                let message = DeadLetterMessage::read(&delivery.properties, &delivery.data);
                if filter.is_empty() || filter.matches(&message.letter) {
                    out.push(message);
                }
            }
            Ok(())
        }
        .await;
        scan.finish().await.and(result).map(|()| out)
    }

    /// Moves the selected dead letters back to `sub.<name>` (through `sub.<name>.x`, routing
    /// key `sub.<name>`), or to `sub.<name>.parked` when they were replayed `max_replays` times
    /// already. Each copy is published with `mandatory` and confirmed before its dead letter is
    /// acked; the first one not confirmed ends the replay, reported in
    /// [`ReplayReport::unconfirmed`], its dead letter requeued.
    pub async fn replay(
        &self,
        name: &SubscriberName,
        selector: &Selector,
        max_replays: u32,
    ) -> Result<ReplayReport, DlqError> {
        let mut scan = Scan::open(&self.conn, name).await?;
        let publisher = Publisher::confirming(&self.conn).await?;
        let mut report = ReplayReport::default();
        let result = async {
            while let Some(delivery) = scan.next().await? {
                let letter = DeadLetter::read(&delivery.properties, &delivery.data);
                if !selector.matches(&letter) {
                    report.left += 1;
                    continue;
                }
                let (routing_key, how) = if letter.replay_count >= max_replays {
                    (name.parked(), Republish::Park)
                } else {
                    let replay_count = letter.replay_count + 1;
                    (name.queue(), Republish::Replay { replay_count })
                };
                match publish(&publisher, &name.exchange(), &routing_key, &delivery, how).await {
                    Ok(()) => {
                        scan.ack(&delivery).await?;
                        tracing::info!(
                            subscriber = %name,
                            id = letter.id.as_deref().unwrap_or("-"),
                            to = %routing_key,
                            "dead letter {}",
                            if how == Republish::Park { "parked" } else { "replayed" }
                        );
                        match how {
                            Republish::Park => report.parked.push(letter),
                            Republish::Replay { .. } => report.replayed.push(letter),
                        }
                    }
                    Err(detail) => {
                        scan.requeue(&delivery).await?;
                        let failure = Unconfirmed {
                            id: letter.id,
                            routing_key,
                            detail,
                        };
                        tracing::error!(subscriber = %name, error = %failure, "replay stopped");
                        report.unconfirmed = Some(failure);
                        break;
                    }
                }
            }
            Ok(())
        }
        .await;
        scan.finish().await.and(result).map(|()| report)
    }

    /// Removes the selected dead letters (acks them), or with `remove == false` only says which
    /// it would remove. Every removed id is logged.
    pub async fn purge(
        &self,
        name: &SubscriberName,
        selector: &Selector,
        remove: bool,
    ) -> Result<PurgeReport, DlqError> {
        let mut scan = Scan::open(&self.conn, name).await?;
        let mut report = PurgeReport {
            removed: remove,
            ..PurgeReport::default()
        };
        let result = async {
            while let Some(delivery) = scan.next().await? {
                let letter = DeadLetter::read(&delivery.properties, &delivery.data);
                if !selector.matches(&letter) {
                    report.left += 1;
                    continue;
                }
                if remove {
                    scan.ack(&delivery).await?;
                    tracing::info!(
                        subscriber = %name,
                        id = letter.id.as_deref().unwrap_or("-"),
                        reason = %letter.reason,
                        "dead letter purged"
                    );
                }
                report.matched.push(letter);
            }
            Ok(())
        }
        .await;
        scan.finish().await.and(result).map(|()| report)
    }
}

/// Publishes the republished copy of `delivery` and waits for the broker's confirm. `Err` says
/// why it is not confirmed.
async fn publish(
    publisher: &Publisher,
    exchange: &str,
    routing_key: &str,
    delivery: &Delivery,
    how: Republish,
) -> Result<(), String> {
    let properties = republish_properties(&delivery.properties, how);
    // mandatory (always, in the publisher): a copy no queue takes comes back, and then the dead
    // letter stays.
    match publisher
        .publish_to(exchange, routing_key, &delivery.data, properties)
        .await
    {
        Ok(Delivered::Routed) => Ok(()),
        Ok(Delivered::Unroutable) => Err(format!(
            "unroutable: no queue is bound to {exchange} with key {routing_key}"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// One pass over a DLQ (see the module docs).
struct Scan {
    reader: QueueReader,
}

impl Scan {
    async fn open(conn: &Connection, name: &SubscriberName) -> Result<Scan, DlqError> {
        let queue = name.dlq();
        let reader = QueueReader::open(conn, &queue).await.map_err(|e| {
            if is_not_found(&e) {
                DlqError::NoSuchSubscriber {
                    name: name.to_string(),
                    queue: queue.clone(),
                }
            } else {
                DlqError::Amqp(e)
            }
        })?;
        Ok(Scan { reader })
    }

    async fn next(&mut self) -> Result<Option<Delivery>, DlqError> {
        Ok(self.reader.next().await?)
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), DlqError> {
        Ok(self.reader.ack(delivery).await?)
    }

    async fn requeue(&mut self, delivery: &Delivery) -> Result<(), DlqError> {
        Ok(self.reader.requeue(delivery).await?)
    }

    /// Requeues every message still held and closes the channel.
    async fn finish(self) -> Result<(), DlqError> {
        Ok(self.reader.finish().await?)
    }
}
