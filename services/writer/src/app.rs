//! Wiring: `Application::build` prepares the database and binds the port; `run_until_stopped`
//! serves the API and runs the relay until its shutdown token is cancelled.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orghub_runtime::Shutdown;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::net::TcpListener;

use crate::config::{Config, DatabaseUrl};
use crate::http::{self, AppState, SnapshotLimits};
use crate::metrics::Metrics;
use crate::midnight;
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
    /// The database URL the midnight run takes its lock with, when it runs in this process.
    midnight: Option<String>,
}

impl Application {
    /// Creates the database if needed, migrates, and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        ensure_database(&config.database_url).await?;
        let store = Store::connect(config.database_url.expose(), config.db_pool.get())
            .await
            .with_context(|| {
                format!(
                    "cannot connect to PostgreSQL at {}",
                    config.database_url.redacted()
                )
            })?;
        store
            .migrate()
            .await
            .context("cannot migrate the database")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let clock = config.clock_start.unwrap_or_default();
        if clock.is_set() {
            tracing::warn!(
                now = %clock.now().to_rfc3339(),
                today = %clock.today(),
                "ORGHUB_CLOCK_START is set: the writer's clock is not the system clock; dates, \
                 registration times and midnights follow it"
            );
        }
        let metrics = Arc::new(Metrics::new());
        // Snapshots read on connections of their own: however many slow readers there are, the
        // writes keep theirs.
        let snapshot_pool = PgPoolOptions::new()
            .max_connections(config.snapshot_pool.get())
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(config.database_url.options().clone());
        let store = store
            .with_clock(clock)
            .with_group_sizes(metrics.write_group_requests.clone())
            .with_snapshot_pool(snapshot_pool)
            .with_write_queue(config.write_queue.get())
            .with_queue_metrics(crate::store::QueueMetrics {
                waiting: metrics.write_queue_waiting.clone(),
                refused: metrics.write_queue_refused.clone(),
            });
        let snapshots = Arc::new(SnapshotLimits::new(
            config.snapshot_pool.get() as usize,
            config.snapshot_per_token.get() as usize,
            config.snapshot_timeout,
        ));
        let state = AppState {
            store,
            snapshots,
            metrics,
            admin_token: config.admin_token.clone(),
            amqp_addr: config.amqp_url.host_port(),
        };
        let relay = config.relay.then(|| RelayConfig {
            database_url: config.database_url.expose().to_owned(),
            amqp_url: config.amqp_url.expose().to_owned(),
            batch: i64::from(config.relay_batch.get()),
            poll: config.relay_poll,
            max_message_bytes: config.relay_max_message_bytes.get(),
            confirm_timeout: config.relay_confirm_timeout,
        });
        let midnight = config
            .midnight
            .then(|| config.database_url.expose().to_owned());
        Ok(Application {
            listener,
            state,
            relay,
            midnight,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` is cancelled, then stops the relay and waits for it. Stopping
    /// takes at most [`HTTP_DRAIN`] plus [`RELAY_STOP`], whatever clients and the broker do.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        // The relay also stops when the server fails, without cancelling the caller's token.
        let stop = shutdown.child_token();
        let relay_task = self
            .relay
            .map(|cfg| tokio::spawn(relay::run(cfg, self.state.metrics.clone(), stop.clone())));
        let midnight_task = self
            .midnight
            .map(|url| tokio::spawn(midnight::run(self.state.store.clone(), url, stop.clone())));
        tracing::info!(addr = %self.listener.local_addr()?, "orghub-writer listening");
        let router = http::router(self.state);
        let serve = axum::serve(self.listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        // Graceful shutdown waits for every open connection; a client that stopped reading a
        // response would hold it forever.
        let stopping = stop.clone();
        let drain_bound = async move {
            stopping.cancelled().await;
            tokio::time::sleep(HTTP_DRAIN).await;
        };
        let served = tokio::select! {
            served = serve => served.context("HTTP server failed"),
            () = drain_bound => {
                tracing::warn!(
                    bound = ?HTTP_DRAIN,
                    "HTTP connections still open at shutdown are closed"
                );
                Ok(())
            }
        };
        stop.cancel();
        if let Some(mut task) = relay_task {
            // The relay bounds its own waits; this is the backstop. Whatever it had not
            // confirmed is published again by the next relay.
            if tokio::time::timeout(RELAY_STOP, &mut task).await.is_err() {
                tracing::warn!(bound = ?RELAY_STOP, "the relay did not stop in time; abandoning it");
                task.abort();
            }
        }
        if let Some(mut task) = midnight_task {
            // A run stops between batches; what it had not written runs again next time.
            if tokio::time::timeout(RELAY_STOP, &mut task).await.is_err() {
                tracing::warn!(bound = ?RELAY_STOP, "the midnight run did not stop in time; abandoning it");
                task.abort();
            }
        }
        served
    }
}

/// Creates the configured database when it does not exist yet (a fresh machine's first run).
async fn ensure_database(url: &DatabaseUrl) -> anyhow::Result<()> {
    let options: PgConnectOptions = url.options().clone();
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
                .with_context(|| format!("cannot connect to PostgreSQL at {}", url.redacted()))?;
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
                url.redacted()
            )
        }),
    }
}
