//! Wiring: `Application::build` prepares the database and binds the port; `run_until_stopped`
//! serves the API and runs the relay until the shutdown future completes.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::net::TcpListener;

use crate::config::{Config, redact};
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
        let store = store
            .with_group_sizes(metrics.write_group_requests.clone())
            .with_write_queue(config.write_queue.get())
            .with_queue_metrics(crate::store::QueueMetrics {
                waiting: metrics.write_queue_waiting.clone(),
                refused: metrics.write_queue_refused.clone(),
            });
        let state = AppState {
            store,
            metrics,
            admin_token: config.admin_token.clone(),
            amqp_addr: amqp_host_port(&config.amqp_url),
        };
        let relay = config.relay.then(|| RelayConfig {
            database_url: config.database_url.clone(),
            amqp_url: config.amqp_url.clone(),
            batch: i64::from(config.relay_batch),
            poll: config.relay_poll(),
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

    /// Serves until `shutdown` completes, then stops the relay and waits for it.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let relay_task = self.relay.map(|cfg| {
            tokio::spawn(relay::run(
                self.state.store.clone(),
                cfg,
                self.state.metrics.clone(),
                stop_rx,
            ))
        });
        tracing::info!(addr = %self.listener.local_addr()?, "orghub-writer listening");
        let router = http::router(self.state);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await
            .context("HTTP server failed")?;
        if let Some(task) = relay_task {
            let _ = task.await;
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
