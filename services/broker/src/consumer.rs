//! Taking messages from a queue: [`QueueConsumer`] (a consumer with a prefetch, for the
//! subscriber runtime), [`QueueReader`] (`basic.get` without auto-ack up to the depth at the
//! start, for `orghubctl dlq`), and settling a [`Delivery`].
//!
//! Settling is the caller's decision; these are its only ways: [`ack_through`] (one `multiple`
//! ack), [`requeue`] (one `basic.reject` with requeue; RabbitMQ counts it towards a quorum
//! queue's delivery limit).

use futures_util::StreamExt;
pub use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicQosOptions, BasicRejectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};

use crate::connection::CLOSE_TIMEOUT;

/// Acknowledges `delivery` and every earlier unsettled delivery of its channel. `Ok(false)` when
/// the channel closed before the ack could be sent (the broker redelivers them).
pub async fn ack_through(delivery: &Delivery) -> Result<bool, lapin::Error> {
    delivery.acker.ack(BasicAckOptions { multiple: true }).await
}

/// Hands `delivery` back to the broker (`basic.reject` with requeue).
pub async fn requeue(delivery: &Delivery) -> Result<(), lapin::Error> {
    delivery
        .acker
        .reject(BasicRejectOptions { requeue: true })
        .await
        .map(drop)
}

/// The number of ready messages in `queue` now, with a passive declare on a channel of its own
/// (exact, unlike the management API's sampled figures). A missing queue is an error that
/// [`is_not_found`](crate::subscriber::is_not_found) recognises.
pub async fn queue_depth(conn: &Connection, queue: &str) -> Result<u32, lapin::Error> {
    let channel = conn.create_channel().await?;
    let depth = ready_messages(&channel, queue).await?;
    crate::close_channel(&channel, "counted").await;
    Ok(depth)
}

/// A passive declare of `queue` (which needs no permission): its ready messages. A missing queue
/// closes the channel.
async fn ready_messages(channel: &Channel, queue: &str) -> Result<u32, lapin::Error> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map(|q| q.message_count())
}

/// A consumer of one queue on its own channel.
#[derive(Debug)]
pub struct QueueConsumer {
    channel: Channel,
    consumer: Consumer,
    queue: String,
    tag: String,
}

impl QueueConsumer {
    /// Opens a channel with `prefetch` unacknowledged deliveries at most and consumes `queue`.
    pub async fn start(
        conn: &Connection,
        queue: &str,
        prefetch: u16,
        tag: &str,
    ) -> Result<Self, lapin::Error> {
        let channel = conn.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            channel,
            consumer,
            queue: queue.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// The next delivery; `None` when the broker cancelled the consumer.
    pub async fn next(&mut self) -> Option<Result<Delivery, lapin::Error>> {
        self.consumer.next().await
    }

    /// The number of ready messages in the queue now (a passive declare); `None` if it cannot be
    /// read.
    pub async fn depth(&self) -> Option<u32> {
        ready_messages(&self.channel, &self.queue).await.ok()
    }

    /// Stops taking deliveries and closes the channel, waiting [`CLOSE_TIMEOUT`] at most for
    /// each; whatever was prefetched and not settled goes back to the queue.
    pub async fn stop(self, reason: &str) {
        let cancel = BasicCancelOptions::default();
        let _ = tokio::time::timeout(
            CLOSE_TIMEOUT,
            self.channel.basic_cancel(self.tag.as_str().into(), cancel),
        )
        .await;
        crate::close_channel(&self.channel, reason).await;
    }
}

/// Reads a queue with `basic.get` without auto-ack, up to the depth it had when opened (so
/// messages that arrive meanwhile, or come back from a requeue, are not visited twice). Every
/// message read stays unacknowledged until the caller acks or requeues it; [`QueueReader::finish`]
/// requeues the rest, and if the process dies the broker does.
#[derive(Debug)]
pub struct QueueReader {
    channel: Channel,
    queue: String,
    /// Messages still to visit of the depth at the start.
    remaining: u32,
    last_tag: Option<u64>,
    /// Visited and not settled yet.
    held: usize,
}

impl QueueReader {
    /// Opens a channel and checks `queue` with a passive declare: a missing queue is an error that
    /// [`is_not_found`](crate::subscriber::is_not_found) recognises.
    pub async fn open(conn: &Connection, queue: &str) -> Result<Self, lapin::Error> {
        let channel = conn.create_channel().await?;
        let remaining = ready_messages(&channel, queue).await?;
        Ok(Self {
            channel,
            remaining,
            queue: queue.to_owned(),
            last_tag: None,
            held: 0,
        })
    }

    /// The next message, `None` once the depth at the start was visited or the queue is empty.
    pub async fn next(&mut self) -> Result<Option<Delivery>, lapin::Error> {
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

    /// Removes `delivery` from the queue.
    pub async fn ack(&mut self, delivery: &Delivery) -> Result<(), lapin::Error> {
        self.channel
            .basic_ack(delivery.delivery_tag, BasicAckOptions::default())
            .await?;
        self.held -= 1;
        Ok(())
    }

    /// Puts `delivery` back now.
    pub async fn requeue(&mut self, delivery: &Delivery) -> Result<(), lapin::Error> {
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
    pub async fn finish(self) -> Result<(), lapin::Error> {
        let result = match self.last_tag {
            Some(tag) if self.held > 0 => {
                self.channel
                    .basic_nack(
                        tag,
                        BasicNackOptions {
                            multiple: true,
                            requeue: true,
                        },
                    )
                    .await
            }
            _ => Ok(()),
        };
        crate::close_channel(&self.channel, "read done").await;
        result
    }
}
