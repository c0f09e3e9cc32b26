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

use orghub_broker::lapin::message::Delivery;
use orghub_broker::lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use orghub_broker::lapin::types::FieldTable;
use orghub_broker::lapin::{Channel, Confirmation, Connection, ErrorKind};
use orghub_broker::{BrokerError, lapin};
use serde::Serialize;

use super::{DeadLetter, DeadLetterMessage, Republish, Selector, republish_properties};
use crate::names::SubscriberName;

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
        let mut scan = Scan::open(&self.conn, name, false).await?;
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
        let mut scan = Scan::open(&self.conn, name, true).await?;
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
                match publish(
                    &scan.channel,
                    &name.exchange(),
                    &routing_key,
                    &delivery,
                    how,
                )
                .await
                {
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
        let mut scan = Scan::open(&self.conn, name, false).await?;
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
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    delivery: &Delivery,
    how: Republish,
) -> Result<(), String> {
    let properties = republish_properties(&delivery.properties, how);
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            // mandatory: a copy no queue takes comes back, and then the dead letter stays.
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &delivery.data,
            properties,
        )
        .await
        .map_err(|e| e.to_string())?;
    match confirm.await.map_err(|e| e.to_string())? {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(format!(
            "unroutable: no queue is bound to {exchange} with key {routing_key}"
        )),
        Confirmation::Nack(_) => Err("the broker nacked it".into()),
        Confirmation::NotRequested => Err("the channel is not in confirm mode".into()),
    }
}

/// One pass over a DLQ (see the module docs).
struct Scan {
    channel: Channel,
    queue: String,
    /// Messages still to visit of the depth at the start.
    remaining: u32,
    last_tag: Option<u64>,
    /// Visited and not settled yet.
    held: usize,
}

impl Scan {
    async fn open(
        conn: &Connection,
        name: &SubscriberName,
        confirm: bool,
    ) -> Result<Scan, DlqError> {
        let channel = conn.create_channel().await?;
        if confirm {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
        }
        let queue = name.dlq();
        let declared = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    DlqError::NoSuchSubscriber {
                        name: name.to_string(),
                        queue: queue.clone(),
                    }
                } else {
                    DlqError::Amqp(e)
                }
            })?;
        Ok(Scan {
            channel,
            remaining: declared.message_count(),
            queue,
            last_tag: None,
            held: 0,
        })
    }

    async fn next(&mut self) -> Result<Option<Delivery>, DlqError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let got = self
            .channel
            .basic_get(
                self.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?;
        let Some(message) = got else {
            self.remaining = 0;
            return Ok(None);
        };
        self.last_tag = Some(message.delivery.delivery_tag);
        self.held += 1;
        Ok(Some(message.delivery))
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), DlqError> {
        self.channel
            .basic_ack(delivery.delivery_tag, BasicAckOptions::default())
            .await?;
        self.held -= 1;
        Ok(())
    }

    async fn requeue(&mut self, delivery: &Delivery) -> Result<(), DlqError> {
        self.channel
            .basic_nack(
                delivery.delivery_tag,
                BasicNackOptions {
                    multiple: false,
                    requeue: true,
                },
            )
            .await?;
        self.held -= 1;
        Ok(())
    }

    /// Requeues every message still held, with one `multiple` nack up to the last tag (every
    /// settled one is gone already, so it covers exactly the held ones), and closes the channel.
    async fn finish(self) -> Result<(), DlqError> {
        let result = match self.last_tag {
            Some(tag) if self.held > 0 => self
                .channel
                .basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await
                .map_err(DlqError::from),
            _ => Ok(()),
        };
        orghub_broker::close_channel(&self.channel, "scan done").await;
        result
    }
}

/// The broker answered 404 NOT_FOUND (a passive declare of a queue that does not exist).
pub fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), ErrorKind::ProtocolError(err) if err.get_id() == 404)
}
