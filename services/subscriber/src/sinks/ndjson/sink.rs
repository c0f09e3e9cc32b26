//! The NDJSON sink: one CloudEvent per line, `fsync`ed before `apply` returns.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::Context;
use orghub_contracts::{Attrs, EntityDocument, Kommune, OrgEvent};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::config::NdjsonConfig;
use super::state;
use crate::sink::{
    Applied, ResyncScope, Sink, SinkError, deletion_restatement, restatement, restatement_json,
};
use crate::sinks::versions::{Held, Versions};

/// Appends events to a file.
#[derive(Debug)]
pub struct NdjsonSink {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: Option<tokio::fs::File>,
    versions: Versions,
    /// The file may end mid-line: start the next write with a newline.
    torn: bool,
}

impl NdjsonSink {
    /// Reads the file's versions back and opens it for appending.
    pub async fn open(config: &NdjsonConfig) -> anyhow::Result<Self> {
        let path = config.path.clone();
        let rebuilt = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || state::rebuild(&path))
                .await
                .context("reading the NDJSON file panicked")?
                .with_context(|| format!("cannot read {}", config.path.display()))?
        };
        if rebuilt.unreadable > 0 {
            tracing::warn!(
                path = %path.display(),
                unreadable = rebuilt.unreadable,
                "lines of the NDJSON file that are not orghub events were skipped"
            );
        }
        let sink = NdjsonSink {
            path,
            inner: Mutex::new(Inner {
                file: None,
                versions: rebuilt.versions,
                torn: rebuilt.torn,
            }),
        };
        sink.inner
            .lock()
            .await
            .file(&sink.path)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(sink)
    }
}

impl Inner {
    async fn file(&mut self, path: &PathBuf) -> Result<&mut tokio::fs::File, SinkError> {
        if self.file.is_none() {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(|e| io_error("open", path, &e))?;
            self.file = Some(file);
        }
        self.file
            .as_mut()
            .ok_or_else(|| SinkError::transient("the NDJSON file is not open"))
    }

    /// Appends the lines and syncs; on failure the file is reopened next time and the next write
    /// starts on a fresh line.
    async fn append(&mut self, path: &PathBuf, lines: &[String]) -> Result<(), SinkError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 1);
        if self.torn {
            buf.push('\n');
        }
        for line in lines {
            buf.push_str(line);
            buf.push('\n');
        }
        let file = self.file(path).await?;
        let written = async {
            file.write_all(buf.as_bytes()).await?;
            file.flush().await?;
            file.sync_data().await
        }
        .await;
        match written {
            Ok(()) => {
                self.torn = false;
                Ok(())
            }
            Err(e) => {
                self.torn = true;
                self.file = None;
                Err(io_error("append to", path, &e))
            }
        }
    }
}

/// File-system errors are transient: a full disk or a missing mount can be fixed by an operator,
/// and the delayed retries give them the time.
fn io_error(what: &str, path: &std::path::Path, e: &std::io::Error) -> SinkError {
    SinkError::transient(format!("cannot {what} {}: {e}", path.display()))
}

impl Sink for NdjsonSink {
    fn kind(&self) -> &'static str {
        "ndjson"
    }

    async fn apply(&self, events: &[OrgEvent]) -> Vec<Result<Applied, SinkError>> {
        let mut inner = self.inner.lock().await;
        let mut batch: HashMap<Uuid, u64> = HashMap::new();
        let mut lines = Vec::new();
        let mut results: Vec<Result<Applied, SinkError>> = Vec::with_capacity(events.len());
        for event in events {
            let uuid = event.subject();
            let newer = inner.versions.is_newer(uuid, event.entity_version)
                && batch.get(&uuid).is_none_or(|v| event.entity_version > *v);
            if newer {
                batch.insert(uuid, event.entity_version);
                lines.push(event.to_json().to_string());
                results.push(Ok(Applied::Applied));
            } else {
                results.push(Ok(Applied::Stale));
            }
        }
        if let Err(e) = inner.append(&self.path, &lines).await {
            for r in &mut results {
                if matches!(r, Ok(Applied::Applied)) {
                    *r = Err(e.clone());
                }
            }
            return results;
        }
        for (event, r) in events.iter().zip(&results) {
            if matches!(r, Ok(Applied::Applied)) {
                inner.versions.record(Held::of(event));
            }
        }
        results
    }

    async fn is_empty(&self, kommune: Kommune) -> Result<bool, SinkError> {
        Ok(!self.inner.lock().await.versions.has_kommune(kommune))
    }

    async fn resync_load(
        &self,
        scope: &ResyncScope,
        documents: &[EntityDocument<Attrs>],
    ) -> Result<u64, SinkError> {
        let mut inner = self.inner.lock().await;
        let events: Vec<OrgEvent> = documents
            .iter()
            .filter(|d| inner.versions.is_newer(d.uuid, d.version))
            .map(|d| restatement(d.clone(), scope.watermark))
            .collect();
        let lines: Vec<String> = events
            .iter()
            .map(|e| restatement_json(e).to_string())
            .collect();
        inner.append(&self.path, &lines).await?;
        for e in &events {
            inner.versions.record(Held::of(e));
        }
        Ok(events.len() as u64)
    }

    async fn resync_prune(
        &self,
        scope: &ResyncScope,
        present: &HashSet<Uuid>,
    ) -> Result<u64, SinkError> {
        let mut inner = self.inner.lock().await;
        let events: Vec<OrgEvent> = inner
            .versions
            .missing_from(scope, present)
            .into_iter()
            .map(|h| deletion_restatement(h.uuid, h.kind, h.kommune, h.version, scope.watermark))
            .collect();
        let lines: Vec<String> = events
            .iter()
            .map(|e| restatement_json(e).to_string())
            .collect();
        inner.append(&self.path, &lines).await?;
        for e in &events {
            inner.versions.record(Held::of(e));
        }
        Ok(events.len() as u64)
    }
}
