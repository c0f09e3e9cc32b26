//! The confirmed publisher: the only way orghub puts events on the bus.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation, Connection, PublisherConfirm};
use orghub_contracts::AmqpMessage;
use orghub_contracts::amqp::EXCHANGE;
use tracing::instrument;

use crate::connection::{BrokerError, declare_events_exchange};
use crate::delivery::properties_for;

/// What the broker did with a message it confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Acked, and routed to at least one queue.
    Routed,
    /// Acked together with a `basic.return`: no queue is bound for the routing key (yet). Not an
    /// error for orghub — the event stays in the event log and is reachable by replay.
    Unroutable,
}

/// Why a message was not confirmed. Both are worth retrying; neither says the message is lost or
/// delivered, so the caller publishes it again (consumers deduplicate on the event id and
/// version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The broker answered `basic.nack` (an internal error in the queue, e.g. a quorum queue
    /// without a majority, or a `reject-publish` overflow policy). Also returned, without a round
    /// trip, for a routing key AMQP cannot carry (over 255 bytes); `orghub_contracts` never builds
    /// one.
    #[error("broker nacked the message")]
    Nacked,
    /// The connection or the channel closed before the confirm arrived, or was already closed.
    /// This `Publisher` is done: open a new connection and a new one.
    #[error("connection or channel lost: {0}")]
    ConnectionLost(String),
}

/// A channel in confirm mode on which the `org.events` exchange has been declared.
///
/// Ordering: messages go out in the order of the slice given to [`Publisher::publish_batch`];
/// after the first message that could not be *sent* (connection lost) nothing more of that batch
/// is sent. A message the broker nacks may still be followed by confirmed ones, since the batch is
/// pipelined; the caller publishes the failed ones again, and consumers order by entity version.
/// Share a `Publisher` between tasks only if the interleaving of their batches does not matter.
#[derive(Debug, Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    /// Opens a channel, switches it to confirm mode and declares the events exchange.
    pub async fn new(conn: &Connection) -> Result<Self, BrokerError> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        declare_events_exchange(&channel).await?;
        Ok(Self { channel })
    }

    /// Publishes every message to `org.events` with `mandatory` set, pipelined: all
    /// `basic.publish` frames first, then the confirms awaited in order. Returns one result per
    /// message, in order.
    #[instrument(skip_all, fields(messages = messages.len()))]
    pub async fn publish_batch(
        &self,
        messages: &[AmqpMessage],
    ) -> Vec<Result<Delivered, PublishError>> {
        let mut pending: Vec<Result<PublisherConfirm, PublishError>> =
            Vec::with_capacity(messages.len());
        let mut lost: Option<PublishError> = None;
        for message in messages {
            if let Some(error) = &lost {
                // Sending later messages after a failed one would reorder them on the retry.
                pending.push(Err(error.clone()));
                continue;
            }
            let sent = self.send(message).await;
            if let Err(error @ PublishError::ConnectionLost(_)) = &sent {
                lost = Some(error.clone());
            }
            pending.push(sent);
        }
        let mut results = Vec::with_capacity(pending.len());
        for confirm in pending {
            results.push(match confirm {
                Ok(confirm) => confirmation(confirm.await),
                Err(error) => Err(error),
            });
        }
        results
    }

    /// Sends one message and returns without waiting for its confirm, so that a caller can keep
    /// a window of messages in flight across batches (confirms arrive in publishing order on one
    /// channel; await them in that order). After a `ConnectionLost` here, send nothing more on
    /// this publisher.
    pub async fn send_one(&self, message: &AmqpMessage) -> Result<InFlight, PublishError> {
        self.send(message).await.map(InFlight)
    }

    /// Publishes one message and waits for its confirm.
    pub async fn publish(&self, message: &AmqpMessage) -> Result<Delivered, PublishError> {
        match self.send(message).await {
            Ok(confirm) => confirmation(confirm.await),
            Err(error) => Err(error),
        }
    }

    /// Whether the channel (and so its connection) is still open. A `false` here is final for this
    /// publisher.
    pub fn is_connected(&self) -> bool {
        self.channel.status().connected()
    }

    async fn send(&self, message: &AmqpMessage) -> Result<PublisherConfirm, PublishError> {
        let Ok(routing_key) = ShortString::try_new(message.routing_key.as_str()) else {
            tracing::error!(
                message_id = %message.message_id,
                "routing key over 255 bytes cannot be published"
            );
            return Err(PublishError::Nacked);
        };
        self.channel
            .basic_publish(
                EXCHANGE.into(),
                routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &message.body,
                properties_for(message),
            )
            .await
            .map_err(lost)
    }
}

/// A sent message whose confirm has not been awaited yet.
#[must_use = "a message is only published once its confirm says so"]
pub struct InFlight(PublisherConfirm);

impl InFlight {
    /// Waits for the broker's confirm.
    pub async fn confirmed(self) -> Result<Delivered, PublishError> {
        confirmation(self.0.await)
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InFlight")
    }
}

fn confirmation(result: lapin::Result<Confirmation>) -> Result<Delivered, PublishError> {
    match result.map_err(lost)? {
        Confirmation::Ack(None) => Ok(Delivered::Routed),
        Confirmation::Ack(Some(_returned)) => Ok(Delivered::Unroutable),
        Confirmation::Nack(_) => Err(PublishError::Nacked),
        // Only possible if confirm mode were off, which `Publisher::new` rules out; claiming
        // success without a confirm would break the relay's guarantee.
        Confirmation::NotRequested => Err(PublishError::ConnectionLost(
            "the channel is not in confirm mode".into(),
        )),
    }
}

fn lost(error: lapin::Error) -> PublishError {
    PublishError::ConnectionLost(error.to_string())
}
