//! Wiring: `Application::build` prepares the database and binds the port; `run_until_stopped`
//! serves the API and runs the relay until the shutdown future completes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::net::TcpListener;

use crate::config::{Config, redact};
use crate::http::{self, AppState, SnapshotLimits};
use crate::metrics::Metrics;
use crate::relay::{self, RelayConfig};
use crate::store::Store;

/// How long open HTTP requests may still run after shutdown was requested.
pub const HTTP_DRAIN: Duration = Duration::from_secs(10);
/// How long the relay may take to stop after the HTTP server did.
pub const RELAY_STOP: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    relay: Option<RelayConfig>,
}

impl Application {
    /// Checks the configuration, creates the database if needed, migrates, and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        ensure_database(&config.database_url).await?;
        let store = Store::connect(&config.database_url, config.db_pool)
            .await
            .with_context(|| {
                format!(
                    "cannot connect to PostgreSQL at {}",
                    redact(&config.database_url)
                )
            })?;
        store
            .migrate()
            .await
            .context("cannot migrate the database")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let metrics = Arc::new(Metrics::new());
        // Snapshots read on connections of their own: however many slow readers there are, the
        // writes keep theirs.
        let snapshot_pool = PgPoolOptions::new()
            .max_connections(config.snapshot_pool)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(config.database_url.parse::<PgConnectOptions>()?);
        let store = store
            .with_group_sizes(metrics.write_group_requests.clone())
            .with_snapshot_pool(snapshot_pool)
            .with_write_queue(config.write_queue.get())
            .with_queue_metrics(crate::store::QueueMetrics {
                waiting: metrics.write_queue_waiting.clone(),
                refused: metrics.write_queue_refused.clone(),
            });
        let snapshots = Arc::new(SnapshotLimits::new(
            config.snapshot_pool as usize,
            config.snapshot_per_token as usize,
            Duration::from_secs(config.snapshot_timeout_secs),
        ));
        let state = AppState {
            store,
            snapshots,
            metrics,
            admin_token: config.admin_token.clone(),
            amqp_addr: amqp_host_port(&config.amqp_url),
        };
        let relay = config.relay.then(|| RelayConfig {
            database_url: config.database_url.clone(),
            amqp_url: config.amqp_url.clone(),
            batch: i64::from(config.relay_batch),
            poll: config.relay_poll(),
            max_message_bytes: config.relay_max_message_bytes,
            confirm_timeout: config.relay_confirm_timeout(),
        });
        Ok(Application {
            listener,
            state,
            relay,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` completes, then stops the relay and waits for it. Stopping takes
    /// at most [`HTTP_DRAIN`] plus [`RELAY_STOP`], whatever clients and the broker do.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut stopping = stop_rx.clone();
        let relay_task = self
            .relay
            .map(|cfg| tokio::spawn(relay::run(cfg, self.state.metrics.clone(), stop_rx)));
        tracing::info!(addr = %self.listener.local_addr()?, "orghub-writer listening");
        let router = http::router(self.state);
        let serve = axum::serve(self.listener, router).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        // Graceful shutdown waits for every open connection; a client that stopped reading a
        // response would hold it forever.
        let drain_bound = async move {
            let _ = stopping.wait_for(|s| *s).await;
            tokio::time::sleep(HTTP_DRAIN).await;
        };
        tokio::select! {
            served = serve => served.context("HTTP server failed")?,
            () = drain_bound => tracing::warn!(
                bound = ?HTTP_DRAIN,
                "HTTP connections still open at shutdown are closed"
            ),
        }
        if let Some(mut task) = relay_task {
            // The relay bounds its own waits; this is the backstop. Whatever it had not
            // confirmed is published again by the next relay.
            if tokio::time::timeout(RELAY_STOP, &mut task).await.is_err() {
                tracing::warn!(bound = ?RELAY_STOP, "the relay did not stop in time; abandoning it");
                task.abort();
            }
        }
        Ok(())
    }
}

/// Creates the configured database when it does not exist yet (a fresh machine's first run).
async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options: PgConnectOptions = url.parse()?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    match options.connect().await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let mut admin = options
                .clone()
                .database("postgres")
                .connect()
                .await
                .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))?;
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            // The name is quoted as an identifier above; it comes from our own configuration.
            let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"));
            match sqlx::query(create).execute(&mut admin).await {
                Ok(_) => tracing::info!(database = %name, "created the database"),
                // Another writer created it at the same moment.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
                Err(e) => return Err(e).context("cannot create the database"),
            }
            Ok(())
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot connect to PostgreSQL at {} (is it running?)",
                redact(url)
            )
        }),
    }
}

/// `host:port` of an AMQP URL.
fn amqp_host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5672")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amqp_addresses_are_extracted() {
        assert_eq!(
            super::amqp_host_port("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
        assert_eq!(super::amqp_host_port("amqp://rabbit/vh"), "rabbit:5672");
    }
}
