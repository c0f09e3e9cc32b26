//! Bootstrap and repair from the writer: `GET /api/v1/{kommune}/snapshot` into the sink.
//!
//! The snapshot is NDJSON: `{"sequence": W}`, then every live entity document, read by the writer
//! in one repeatable-read transaction. Documents are loaded in chunks (newer versions win, CPR
//! stripped), and only after the stream ended cleanly are the entities it no longer has removed:
//! a cut stream must never look like mass deletion.
//!
//! Ordering with the queue: the topology (the bindings) is declared before the snapshot is read,
//! so every event after `W` is in the queue, and events up to `W` that are also in the queue are
//! skipped as stale by the version guard.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::TryStreamExt;
use orghub_contracts::{Attrs, EntityDocument, Kommune};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::io::StreamReader;
use uuid::Uuid;

use crate::config::{Binding, Secret};
use crate::metrics::Metrics;
use crate::sink::{ResyncScope, Sink, SinkError};

/// Documents per `resync_load` call.
const CHUNK: usize = 500;
/// The longest snapshot line accepted.
const MAX_LINE: usize = 16 << 20;

/// Why a resync did not complete, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

impl From<SinkError> for ResyncError {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::Transient(m) => ResyncError::Transient(format!("sink: {m}")),
            SinkError::Permanent(m) => ResyncError::Permanent(format!("sink: {m}")),
        }
    }
}

/// What one municipality's resync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub watermark: u64,
    pub documents: u64,
    pub loaded: u64,
    pub removed: u64,
}

/// A client of the writer's snapshot API.
#[derive(Debug, Clone)]
pub struct WriterClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Secret,
}

impl WriterClient {
    pub fn new(base: reqwest::Url, token: Secret) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        WriterClient { http, base, token }
    }

    fn url(&self, kommune: Kommune) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", &kommune.to_string(), "snapshot"]);
        }
        url
    }

    /// Loads one municipality's snapshot into the sink and prunes what it no longer has.
    pub async fn resync<S: Sink>(
        &self,
        sink: &S,
        binding: &Binding,
        metrics: &Metrics,
    ) -> Result<Report, ResyncError> {
        let url = self.url(binding.kommune);
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            ResyncError::Transient(format!("{what} {url}: {e}"))
        };
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| transient("GET", &e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            let body: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let message = format!("GET {url} answered {status}: {}", body.trim());
            return Err(if matches!(status.as_u16(), 401 | 403 | 404) {
                ResyncError::Permanent(format!(
                    "{message} (does writer_token have read:{}?)",
                    binding.kommune
                ))
            } else {
                ResyncError::Transient(message)
            });
        }
        let body = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
        let mut lines = FramedRead::new(body, LinesCodec::new_with_max_length(MAX_LINE));
        let first = lines
            .try_next()
            .await
            .map_err(|e| transient("reading", &e))?
            .ok_or_else(|| ResyncError::Transient(format!("{url}: empty snapshot")))?;
        let watermark = serde_json::from_str::<Value>(&first)
            .ok()
            .and_then(|v| v.get("sequence").and_then(Value::as_u64))
            .ok_or_else(|| {
                ResyncError::Permanent(format!(
                    "{url}: the first line is not {{\"sequence\": N}}: {first:.200}"
                ))
            })?;
        let scope = ResyncScope {
            kommune: binding.kommune,
            kinds: binding.kinds.clone(),
            watermark,
        };
        let mut report = Report {
            watermark,
            ..Report::default()
        };
        let mut present: HashSet<Uuid> = HashSet::new();
        let mut chunk: Vec<EntityDocument<Attrs>> = Vec::with_capacity(CHUNK);
        while let Some(line) = lines
            .try_next()
            .await
            .map_err(|e| transient("reading", &e))?
        {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| ResyncError::Transient(format!("{url}: a line is not JSON: {e}")))?;
            // Whatever has a uuid counts as present, so an unreadable document is never pruned.
            if let Some(uuid) = value
                .get("uuid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                present.insert(uuid);
            }
            match EntityDocument::from_json(value) {
                Ok(doc) if scope.covers(doc.kind) => {
                    report.documents += 1;
                    chunk.push(doc.without_sensitive());
                }
                Ok(_) => {}
                Err(e) => tracing::error!(
                    kommune = %binding.kommune,
                    pointer = %e.pointer,
                    detail = %e.detail,
                    "a snapshot document does not match the contract; skipped"
                ),
            }
            if chunk.len() >= CHUNK {
                report.loaded += sink.resync_load(&scope, &chunk).await?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            report.loaded += sink.resync_load(&scope, &chunk).await?;
        }
        report.removed = sink.resync_prune(&scope, &present).await?;
        metrics.resync_loaded.inc_by(report.loaded);
        metrics.resync_removed.inc_by(report.removed);
        Ok(report)
    }
}

/// Resyncs every binding (`all`), or only those the sink holds nothing of, retrying transient
/// failures with backoff until `stop`. A permanent failure (no permission, a broken contract) is
/// returned: the subscriber cannot work without it.
pub async fn bootstrap<S: Sink>(
    client: &WriterClient,
    sink: &S,
    bindings: &[Binding],
    all: bool,
    metrics: &Metrics,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    for binding in bindings {
        let mut pause = Duration::from_millis(200);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let attempt = async {
                if !all && !sink.is_empty(binding.kommune).await? {
                    return Ok(None);
                }
                client.resync(sink, binding, metrics).await.map(Some)
            };
            match attempt.await {
                Ok(None) => break,
                Ok(Some(report)) => {
                    tracing::info!(
                        kommune = %binding.kommune,
                        watermark = report.watermark,
                        documents = report.documents,
                        loaded = report.loaded,
                        removed = report.removed,
                        "resynced from the writer's snapshot"
                    );
                    break;
                }
                Err(ResyncError::Permanent(m)) => {
                    anyhow::bail!("resync of kommune {} failed: {m}", binding.kommune)
                }
                Err(ResyncError::Transient(m)) => {
                    tracing::warn!(
                        kommune = %binding.kommune,
                        error = %m,
                        retry_in = ?pause,
                        "resync failed; retrying"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = crate::runtime::until_stopped(stop) => return Ok(()),
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_urls_keep_a_base_path() {
        let k = Kommune::parse("751").expect("kommune");
        let c = WriterClient::new(
            reqwest::Url::parse("http://h:8080/hub/").expect("url"),
            Secret::new("t"),
        );
        assert_eq!(c.url(k).as_str(), "http://h:8080/hub/api/v1/751/snapshot");
        let c = WriterClient::new(
            reqwest::Url::parse("http://h:8080").expect("url"),
            Secret::new("t"),
        );
        assert_eq!(c.url(k).as_str(), "http://h:8080/api/v1/751/snapshot");
    }
}
