//! Connecting to RabbitMQ and declaring the topology every orghub process shares.
//!
//! Connections are made *without* lapin's automatic recovery. A lost connection surfaces as an
//! error (`PublishError::ConnectionLost`, a consumer stream ending with an error) and the owner —
//! the relay, the subscriber runtime — opens a new connection and starts over from its durable
//! state (the event log, the broker's requeued deliveries). That keeps "what was confirmed" simple
//! to reason about: a confirm either arrived on the channel that published, or the message is
//! published again. lapin 4's recovery also replays topology and confirm mode behind the caller's
//! back, and is known not to come back after some broker restarts (amqp-rs/lapin#450).

use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use orghub_contracts::amqp::EXCHANGE;
use orghub_runtime::redact_url;
use tracing::instrument;

/// How long [`connect`] waits for TCP, TLS and the AMQP handshake together. The operating
/// system's own TCP timeout can be minutes, far too long for a readiness check or a reconnect
/// loop.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking AMQP. Both are worth retrying later except when the cause is
/// configuration (wrong credentials or vhost), which the message makes plain.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot connect to RabbitMQ at {url}: {source}")]
    Connect {
        /// The URL with its password replaced by `***`.
        url: String,
        source: lapin::Error,
    },
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
}

/// How long a graceful close may wait for the broker's close-ok.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes a connection gracefully, but never waits longer than [`CLOSE_TIMEOUT`]: lapin can wait
/// forever for a close-ok once the connection failed underneath (amqp-rs/lapin#400), e.g. when a
/// delivery arrives on a channel that is closing. Whoever closes is leaving either way; dropping
/// the connection afterwards closes the socket, and the broker requeues anything unacknowledged.
pub async fn close_connection(conn: &Connection, reason: &str) {
    if tokio::time::timeout(CLOSE_TIMEOUT, conn.close(200, reason.into()))
        .await
        .is_err()
    {
        tracing::warn!(
            reason,
            "RabbitMQ did not confirm closing the connection in time"
        );
    }
}

/// Closes a channel like [`close_connection`] closes a connection.
pub async fn close_channel(channel: &Channel, reason: &str) {
    if tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, reason.into()))
        .await
        .is_err()
    {
        tracing::warn!(
            reason,
            "RabbitMQ did not confirm closing the channel in time"
        );
    }
}

/// Opens a connection on the current tokio runtime. `connection_name` is sent as the
/// `connection_name` client property, so the management UI and `orghubctl` show who is who.
///
/// Fails after [`CONNECT_TIMEOUT`] at most.
#[instrument(skip_all, fields(url = %redact_url(url), connection_name))]
pub async fn connect(url: &str, connection_name: &str) -> Result<Connection, BrokerError> {
    let properties = ConnectionProperties::default().with_connection_name(connection_name.into());
    let connecting = Connection::connect(url, properties);
    let result = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(result) => result,
        Err(_elapsed) => Err(lapin::Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no AMQP handshake within {CONNECT_TIMEOUT:?}"),
        ))),
    };
    let connection = result.map_err(|source| BrokerError::Connect {
        url: redact_url(url),
        source,
    })?;
    tracing::debug!("connected to RabbitMQ");
    Ok(connection)
}

/// Declares the durable topic exchange [`EXCHANGE`] (`org.events`). Idempotent.
pub async fn declare_events_exchange(channel: &Channel) -> Result<(), BrokerError> {
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
    Ok(())
}

/// The vhost of an AMQP URL (`/` when it names none), or why it is not one.
pub fn vhost_of(url: &str) -> Result<String, String> {
    url.parse::<lapin::uri::AMQPUri>().map(|u| u.vhost)
}

/// `url` with its path replaced by `path`, keeping the scheme, userinfo, host, port and query:
/// a PostgreSQL URL's database, an AMQP URL's (percent-encoded) vhost.
pub fn with_path(url: &str, path: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = head[authority_start..]
        .find('/')
        .map_or(head.len(), |i| authority_start + i);
    format!("{}/{path}{query}", &head[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_of_a_url_is_replaced_and_the_rest_kept() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "x",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "x",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgres://h:5432", "x", "postgres://h:5432/x"),
            (
                "postgres://h?application_name=t",
                "x",
                "postgres://h/x?application_name=t",
            ),
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "orghub-demo",
                "amqp://guest:guest@127.0.0.1:5672/orghub-demo",
            ),
            ("amqp://127.0.0.1:5672", "v", "amqp://127.0.0.1:5672/v"),
        ];
        for (url, path, expected) in cases {
            assert_eq!(with_path(url, path), expected, "{url}");
        }
    }
}
