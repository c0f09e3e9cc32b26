//! Wiring: `Application::build` prepares the database and binds the port; `run_until_stopped`
//! serves the API and runs the relay until its shutdown token is cancelled.

use std::sync::Arc;

use anyhow::Context;
use orghub_runtime::Shutdown;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::net::TcpListener;

use crate::config::{Config, DatabaseUrl};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::relay::{self, RelayConfig};
use crate::store::Store;

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    relay: Option<RelayConfig>,
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
        let metrics = Arc::new(Metrics::new());
        let store = store.with_group_sizes(metrics.write_group_requests.clone());
        let state = AppState {
            store,
            metrics,
            admin_token: config.admin_token.clone(),
            amqp_addr: config.amqp_url.host_port(),
        };
        let relay = config.relay.then(|| RelayConfig {
            database_url: config.database_url.expose().to_owned(),
            amqp_url: config.amqp_url.expose().to_owned(),
            batch: i64::from(config.relay_batch.get()),
            poll: config.relay_poll,
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

    /// Serves until `shutdown` is cancelled, then stops the relay and waits for it.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        // The relay also stops when the server fails, without cancelling the caller's token.
        let stop = shutdown.child_token();
        let relay_task = self.relay.map(|cfg| {
            tokio::spawn(relay::run(
                self.state.store.clone(),
                cfg,
                self.state.metrics.clone(),
                stop.clone(),
            ))
        });
        tracing::info!(addr = %self.listener.local_addr()?, "orghub-writer listening");
        let router = http::router(self.state);
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .await;
        stop.cancel();
        if let Some(task) = relay_task {
            let _ = task.await;
        }
        served.context("HTTP server failed")
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
