//! Bootstrap and repair from the writer: `GET /api/v1/{kommune}/snapshot` into the sink.
//!
//! The snapshot is NDJSON: `{"sequence": W}`, then every live entity document, read by the writer
//! in one repeatable-read transaction. Documents are loaded in chunks (newer versions win, CPR
//! stripped), and only after the stream ended cleanly are the entities it no longer has removed:
//! a cut stream must never look like mass deletion.
//!
//! The stream is read by `orghub_client::WriterClient::snapshot`, whose errors decide between
//! retrying (a cut stream, an unreachable writer) and stopping (a refused token, a line longer
//! than any document may be).
//!
//! Ordering with the queue: the topology (the bindings) is declared before the snapshot is read,
//! so every event after `W` is in the queue, and events up to `W` that are also in the queue are
//! skipped as stale by the version guard.

use std::collections::HashSet;
use std::time::Duration;

use orghub_contracts::{Attrs, EntityDocument};
use orghub_runtime::Shutdown;
use serde_json::Value;
use uuid::Uuid;

pub use orghub_client::WriterClient;
use orghub_client::WriterError;

use crate::config::Binding;
use crate::metrics::Metrics;
use crate::sink::{ResyncScope, Sink, SinkError};

/// Documents per `resync_load` call.
const CHUNK: usize = 500;

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

impl ResyncError {
    fn from_writer(e: WriterError, binding: &Binding) -> Self {
        match e {
            e if e.is_transient() => ResyncError::Transient(e.to_string()),
            e @ WriterError::Refused { .. } | e @ WriterError::NotFound { .. } => {
                ResyncError::Permanent(format!(
                    "{e} (does writer_token have read:{}?)",
                    binding.kommune
                ))
            }
            e => ResyncError::Permanent(e.to_string()),
        }
    }
}

/// Loads one municipality's snapshot into the sink and prunes what it no longer has.
pub async fn resync<S: Sink>(
    client: &WriterClient,
    sink: &S,
    binding: &Binding,
    metrics: &Metrics,
) -> Result<Report, ResyncError> {
    let writer = |e| ResyncError::from_writer(e, binding);
    let mut snapshot = client.snapshot(binding.kommune).await.map_err(writer)?;
    let watermark = snapshot.watermark;
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
    while let Some(value) = snapshot.next_document().await.map_err(writer)? {
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

/// Resyncs every binding (`all`), or only those the sink holds nothing of, retrying transient
/// failures with backoff until `stop`. A permanent failure (no permission, a broken contract) is
/// returned: the subscriber cannot work without it.
pub async fn bootstrap<S: Sink>(
    client: &WriterClient,
    sink: &S,
    bindings: &[Binding],
    all: bool,
    metrics: &Metrics,
    stop: &Shutdown,
) -> anyhow::Result<()> {
    for binding in bindings {
        let mut pause = Duration::from_millis(200);
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let attempt = async {
                if !all && !sink.is_empty(binding.kommune).await? {
                    return Ok(None);
                }
                resync(client, sink, binding, metrics).await.map(Some)
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
                        _ = stop.cancelled() => return Ok(()),
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
    use orghub_contracts::{EntityKind, Kommune};

    #[test]
    fn an_oversized_snapshot_line_stops_the_resync_instead_of_retrying() {
        let binding = Binding {
            kommune: Kommune::parse("751").expect("kommune"),
            kinds: vec![EntityKind::Unit],
        };
        let too_long = WriterError::LineTooLong {
            url: "http://writer/api/v1/751/snapshot".into(),
            limit: orghub_client::MAX_SNAPSHOT_LINE,
        };
        let e = ResyncError::from_writer(too_long, &binding);
        assert!(
            matches!(e, ResyncError::Permanent(ref m) if m.contains("longer than")),
            "{e}"
        );
        let cut = WriterError::Unreachable {
            url: "u".into(),
            detail: "connection reset".into(),
        };
        assert!(matches!(
            ResyncError::from_writer(cut, &binding),
            ResyncError::Transient(_)
        ));
        let refused = WriterError::NotFound {
            detail: "no".into(),
        };
        assert!(matches!(
            ResyncError::from_writer(refused, &binding),
            ResyncError::Permanent(ref m) if m.contains("read:751")
        ));
    }
}
