//! The confirmed publisher: the only way orghub puts anything on the bus.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use orghub_contracts::AmqpMessage;
use orghub_contracts::amqp::EXCHANGE;

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

/// A channel in confirm mode: the only way orghub publishes anything, events (the relay) and
/// copies of deliveries (the subscriber's retries and dead letters, `orghubctl dlq replay`)
/// alike.
///
/// Every message is published with `mandatory`, so a message no queue takes comes back and is
/// told apart as [`Delivered::Unroutable`]. Confirms arrive in publishing order on one channel;
/// await [`InFlight`]s in that order. Share a `Publisher` between tasks only if the interleaving
/// of their messages does not matter.
#[derive(Debug, Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    /// Opens a channel, switches it to confirm mode and declares the events exchange: the
    /// relay's publisher.
    pub async fn new(conn: &Connection) -> Result<Self, BrokerError> {
        let publisher = Self::confirming(conn).await?;
        declare_events_exchange(&publisher.channel).await?;
        Ok(publisher)
    }

    /// Opens a channel in confirm mode without declaring anything, for credentials that may
    /// only publish to exchanges that exist (a subscriber's own `sub.<name>.x`).
    pub async fn confirming(conn: &Connection) -> Result<Self, BrokerError> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self { channel })
    }

    /// Sends one event to `org.events` and returns without waiting for its confirm, so that a
    /// caller can keep a window of messages in flight across batches. After a `ConnectionLost`
    /// here, send nothing more on this publisher.
    pub async fn send_one(&self, message: &AmqpMessage) -> Result<InFlight, PublishError> {
        self.send_to(
            EXCHANGE,
            &message.routing_key,
            &message.body,
            properties_for(message),
        )
        .await
    }

    /// Publishes one event to `org.events` and waits for its confirm.
    pub async fn publish(&self, message: &AmqpMessage) -> Result<Delivered, PublishError> {
        self.send_one(message).await?.confirmed().await
    }

    /// Sends `body` with `properties` to `exchange` with `routing_key`, without waiting for the
    /// confirm. A routing key AMQP cannot carry (over 255 bytes) is [`PublishError::Nacked`]
    /// without a round trip.
    pub async fn send_to(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<InFlight, PublishError> {
        let Ok(key) = ShortString::try_new(routing_key) else {
            tracing::error!(exchange, "routing key over 255 bytes cannot be published");
            return Err(PublishError::Nacked);
        };
        self.channel
            .basic_publish(
                exchange.into(),
                key,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .map(InFlight)
            .map_err(lost)
    }

    /// [`Publisher::send_to`] and wait for the confirm.
    pub async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<Delivered, PublishError> {
        self.send_to(exchange, routing_key, body, properties)
            .await?
            .confirmed()
            .await
    }

    /// Whether the channel (and so its connection) is still open. A `false` here is final for this
    /// publisher.
    pub fn is_connected(&self) -> bool {
        self.channel.status().connected()
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
