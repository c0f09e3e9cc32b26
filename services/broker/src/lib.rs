//! orghub's RabbitMQ seam: everything that speaks AMQP or the RabbitMQ management API, so the
//! writer, the subscriber and the ops tool never build lapin types by hand.
//!
//! Layout:
//! - [`connection`]: [`connect`] (no automatic recovery: owners reconnect, see its docs) and the
//!   topology every process shares, [`declare_events_exchange`].
//! - [`publisher`]: [`Publisher`], a channel in confirm mode that tells `Routed`, `Unroutable`,
//!   `Nacked` and `ConnectionLost` apart, one result per message.
//! - [`delivery`]: the AMQP form of an event both ways: [`properties_for`] an outgoing
//!   [`AmqpMessage`](orghub_contracts::AmqpMessage), [`headers_to_map`] and [`decode_delivery`] for
//!   an incoming one.
//! - [`mgmt`]: a small client of the management HTTP API (vhosts, permissions, policies, queue
//!   depths, closing connections).
//! - [`local`]: first-run set-up of a broker on this machine (enabling the management plugin), for
//!   the demo and the tests.

pub mod connection;
pub mod delivery;
pub mod local;
pub mod mgmt;
pub mod publisher;

pub use lapin;

pub use connection::{
    BrokerError, CLOSE_TIMEOUT, close_channel, close_connection, connect, declare_events_exchange,
    redact_url, with_path,
};
pub use delivery::{decode_delivery, headers_to_map, properties_for};
pub use publisher::{Delivered, InFlight, PublishError, Publisher};
