//! Wiring: [`Subscriber::build`] opens the sink and binds the metrics port;
//! [`Subscriber::run_until_stopped`] runs the runtime until its shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use orghub_runtime::Shutdown;
use tokio::net::TcpListener;

use crate::config::{Command, Config};
use crate::metrics::Metrics;
use crate::runtime::{self, Shared};
use crate::sink::Sink;
use crate::sinks::AnySink;
use crate::topology::Names;

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
                names: Names::new(&config.name),
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

    pub fn names(&self) -> &Names {
        &self.shared.names
    }

    /// Serves `/metrics` and runs the runtime (`command`: consume, or resync first) until
    /// `shutdown` is cancelled, then stops taking deliveries, settles the batch in hand and closes.
    pub async fn run_until_stopped(
        self,
        command: Command,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        // Ends the metrics server also when the runtime returns by itself (a finished resync, a
        // permanent error), without cancelling the caller's token.
        let stop = shutdown.child_token();
        tracing::info!(
            subscriber = %self.shared.names.subscriber,
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
        let result = runtime::run(self.shared.clone(), command, stop.clone()).await;
        stop.cancel();
        let _ = server.await;
        tracing::info!("orghub-subscriber stopped");
        result
    }
}
