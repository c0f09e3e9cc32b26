//! Wiring: [`Subscriber::build`] opens the sink and binds the metrics port;
//! [`Subscriber::run_until_stopped`] runs the runtime until its shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orghub_runtime::Shutdown;
use tokio::net::TcpListener;

use crate::config::{Command, Config};
use crate::metrics::Metrics;
use crate::runtime::{self, Shared};
use crate::sink::Sink;
use crate::sinks::AnySink;

/// How long after the shutdown signal the runtime may take to settle the batch in hand before
/// [`Subscriber::run_until_stopped`] returns without it, so SIGTERM ends the process within 30 s
/// whatever the sink or the broker does.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// A subscriber ready to run.
#[derive(Debug)]
pub struct Subscriber<S = AnySink> {
    shared: Arc<Shared<S>>,
    listener: TcpListener,
}

impl Subscriber<AnySink> {
    /// Opens the configured sink (connects to the cache database and creates its schema, or reads
    /// a state file) and binds the metrics port. Nothing touches RabbitMQ yet.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let sink = AnySink::open(&config.sink)
            .await
            .context("cannot open the sink")?;
        Self::with_sink(config, sink).await
    }
}

impl<S: Sink> Subscriber<S> {
    /// Like [`Subscriber::build`] with a sink built by the caller (the config's `[sink]` is then
    /// not used).
    pub async fn with_sink(config: Config, sink: S) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {} for /metrics", config.metrics_listen))?;
        Ok(Subscriber {
            shared: Arc::new(Shared {
                topology: orghub_broker::Topology::new(
                    config.name.clone(),
                    config.retry.tiers.clone(),
                ),
                config,
                sink: Arc::new(sink),
                metrics: Arc::new(Metrics::new()),
            }),
            listener,
        })
    }

    /// The address `/metrics` is served on (useful with port 0).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config.metrics_listen)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    pub fn sink(&self) -> Arc<S> {
        self.shared.sink.clone()
    }

    /// The subscriber's name and retry tiers.
    pub fn topology(&self) -> &orghub_broker::Topology {
        &self.shared.topology
    }

    /// Serves `/metrics` and runs the runtime (`command`: consume, or resync first) until
    /// `shutdown` is cancelled, then stops taking deliveries, settles the batch in hand and closes,
    /// or returns after [`SHUTDOWN_GRACE`] without waiting any longer.
    pub async fn run_until_stopped(
        self,
        command: Command,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        // Ends the metrics server also when the runtime returns by itself (a finished resync, a
        // permanent error), without cancelling the caller's token.
        let stop = shutdown.child_token();
        tracing::info!(
            subscriber = %self.shared.topology.name,
            metrics = %self.metrics_addr(),
            sink = self.shared.sink.kind(),
            "orghub-subscriber starting"
        );
        let metrics = self.shared.metrics.clone();
        let server = tokio::spawn(orghub_runtime::metrics::serve(
            self.listener,
            move || metrics.render(),
            stop.clone(),
        ));
        let runtime = runtime::run(self.shared.clone(), command, stop.clone());
        tokio::pin!(runtime);
        let overdue = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let result = tokio::select! {
            result = &mut runtime => result,
            () = overdue => {
                // Whatever the runtime waits for (a sink, the broker) does not answer. Leaving
                // loses nothing: the connection closes with the process and the broker redelivers
                // every unacknowledged delivery.
                tracing::warn!(
                    grace = ?SHUTDOWN_GRACE,
                    "the runtime did not stop in time; leaving without it"
                );
                Ok(())
            }
        };
        stop.cancel();
        let _ = server.await;
        tracing::info!("orghub-subscriber stopped");
        result
    }
}
