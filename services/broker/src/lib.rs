//! orghub's RabbitMQ seam: everything that speaks AMQP or the RabbitMQ management API, so the
//! writer, the subscriber and the ops tool never build lapin types by hand.
//!
//! Layout:
//! - [`connection`]: [`connect`] (no automatic recovery: owners reconnect, see its docs) and the
//!   topology every process shares, [`declare_events_exchange`].
//! - [`publisher`]: [`Publisher`], a channel in confirm mode that tells `Routed`, `Unroutable`,
//!   `Nacked` and `ConnectionLost` apart, one result per message: events to `org.events`
//!   ([`Publisher::send_one`]) and copies anywhere ([`Publisher::send_to`]).
//! - [`consumer`]: [`QueueConsumer`] and [`QueueReader`] take messages from a queue;
//!   [`ack_through`] and [`requeue`] settle them.
//! - [`delivery`]: the AMQP form of an event both ways: [`properties_for`] an outgoing
//!   [`AmqpMessage`](orghub_contracts::AmqpMessage), [`headers_to_map`] and [`decode_delivery`] for
//!   an incoming one; [`copy_properties`], the one rule for what a copy of a delivery carries.
//! - [`subscriber`]: the subscriber conventions: [`SubscriberName`] and every name derived from
//!   it, the [`Topology`] (declared by the operator, checked by the subscriber), its policy and
//!   permissions.
//! - [`mgmt`]: a small client of the management HTTP API (vhosts, permissions, policies, queue
//!   depths, closing connections).
//! - [`local`]: first-run set-up of a broker on this machine (enabling the management plugin), for
//!   the demo and the tests.

pub mod connection;
pub mod consumer;
pub mod delivery;
pub mod local;
pub mod mgmt;
pub mod publisher;
pub mod subscriber;

pub use lapin;
pub use lapin::Connection;

pub use connection::{
    BrokerError, CLOSE_TIMEOUT, close_channel, close_connection, connect, declare_events_exchange,
    vhost_of, with_path,
};
pub use consumer::{Delivery, QueueConsumer, QueueReader, ack_through, queue_depth, requeue};
pub use delivery::{
    copy_properties, count_header, decode_delivery, headers_to_map, properties_for,
};
pub use publisher::{Delivered, InFlight, PublishError, Publisher};
pub use subscriber::{Delay, SubscriberName, Topology, TopologyError};
