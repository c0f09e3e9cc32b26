//! Why a relay round ended: the broker side (reconnect, then publish again from the confirmed
//! positions) or the database side (give the lock up and take it again).

use std::time::Duration;

use orghub_broker::BrokerError;

/// What ends a round of publishing. Refusals of single events are not errors: they halt their
/// municipality only (see [`super::halts`]).
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Connecting, opening the confirm channel or declaring the exchange failed. Retrying helps
    /// once RabbitMQ is back (or its URL, credentials and vhost are right).
    #[error("cannot open a publishing channel on RabbitMQ: {0}")]
    Connect(#[from] BrokerError),
    /// The connection or channel closed under a publish or before its confirm.
    #[error("the connection to RabbitMQ was lost: {0}")]
    ConnectionLost(String),
    /// RabbitMQ neither took a message nor confirmed one within the bound: a memory or disk
    /// alarm blocks publishers, or a quorum queue has no leader. Handled like a lost connection:
    /// what was not confirmed is published again on a new connection.
    #[error(
        "RabbitMQ {what} within {bound:?} (a memory or disk alarm, or a quorum queue without a \
         leader?)"
    )]
    Stalled { what: &'static str, bound: Duration },
    /// The relay's own PostgreSQL session failed: the lock may be gone with it.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl RelayError {
    /// Whether the round ended on the broker's side (the lock is still held).
    pub fn is_broker(&self) -> bool {
        !matches!(self, RelayError::Database(_))
    }
}
