//! The webhook sink: signed CloudEvents over HTTP, per-entity order, concurrent across entities.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::Utc;
use futures_util::{StreamExt, stream};
use hmac::{Hmac, KeyInit, Mac};
use orghub_contracts::{Attrs, EntityDocument, Kommune, OrgEvent};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;
use uuid::Uuid;

use super::config::WebhookConfig;
use super::state::Journal;
use crate::sink::{
    Applied, ResyncScope, Sink, SinkError, deletion_restatement, restatement, restatement_json,
};
use crate::sinks::versions::Held;

/// The request header carrying the timestamp and HMAC: `t=<unix seconds>,v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "orghub-signature";
/// The request header naming the subscriber.
pub const SUBSCRIBER_HEADER: &str = "orghub-subscriber";
/// `content-type` of a structured-mode CloudEvent.
const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// How much of an error response's body goes into the dead letter's `orghub-error`.
const ERROR_BODY_CHARS: usize = 300;

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`: the `v1` of
/// [`SIGNATURE_HEADER`].
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// One entity's events of a batch (with their positions) and the version held before it.
type EntityWork = (Uuid, Vec<(usize, OrgEvent)>, Option<u64>);

/// POSTs events to the fagsystem.
#[derive(Debug)]
pub struct WebhookSink {
    client: reqwest::Client,
    config: WebhookConfig,
    /// The URL without credentials, for messages.
    shown_url: String,
    journal: Arc<Mutex<Journal>>,
}

impl WebhookSink {
    /// Reads (and compacts) the state journal and builds the HTTP client.
    pub async fn open(config: &WebhookConfig) -> anyhow::Result<Self> {
        let path = config.state_path.clone();
        let journal = tokio::task::spawn_blocking(move || Journal::open(&path))
            .await
            .context("reading the webhook state panicked")?
            .with_context(|| {
                format!(
                    "cannot read or write the webhook state file {}",
                    config.state_path.display()
                )
            })?;
        let mut builder = reqwest::Client::builder();
        if let Some(roots) = &config.extra_roots {
            builder = builder.tls_certs_merge(roots.certificates.iter().cloned());
        }
        let client = builder
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(config.max_in_flight)
            .user_agent(concat!("orghub-subscriber/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(WebhookSink {
            client,
            shown_url: orghub_runtime::redact_url(config.url.as_str()),
            config: config.clone(),
            journal: Arc::new(Mutex::new(journal)),
        })
    }

    fn held_version(&self, uuid: Uuid) -> Option<u64> {
        self.journal
            .lock()
            .map(|j| j.versions.version(uuid))
            .unwrap_or_default()
    }

    /// Records delivered versions; the journal is a cache of what the fagsystem has, so failing
    /// to write it only means a version may be sent again after a restart.
    async fn remember(&self, entries: Vec<Held>) {
        if entries.is_empty() {
            return;
        }
        let journal = self.journal.clone();
        let written = tokio::task::spawn_blocking(move || match journal.lock() {
            Ok(mut j) => j.append(&entries),
            Err(_) => Err(std::io::Error::other("the journal lock is poisoned")),
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                path = %self.config.state_path.display(),
                "cannot write the webhook state journal; delivered versions may be sent again \
                 after a restart"
            ),
            Err(e) => tracing::warn!(error = %e, "writing the webhook state journal panicked"),
        }
    }

    /// One signed POST, classified.
    async fn post(&self, event: &serde_json::Value) -> Result<(), SinkError> {
        let body = serde_json::to_vec(event)
            .map_err(|e| SinkError::permanent(format!("cannot serialise the event: {e}")))?;
        let t = Utc::now().timestamp();
        let signature = sign(self.config.secret.expose().as_bytes(), t, &body);
        let sent = self
            .client
            .post(self.config.url.clone())
            .header(CONTENT_TYPE, CLOUDEVENTS_JSON)
            .header(SIGNATURE_HEADER, format!("t={t},v1={signature}"))
            .header(SUBSCRIBER_HEADER, &self.config.subscriber)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "failed"
                };
                return Err(SinkError::transient(format!(
                    "POST {} {what}: {}",
                    self.shown_url,
                    chain(&e.without_url())
                )));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        let message = format!("POST {} answered {status}: {}", self.shown_url, text.trim());
        Err(if is_transient(status) {
            SinkError::Transient(message)
        } else {
            SinkError::Permanent(message)
        })
    }

    /// Sends one entity's events of a batch in order. After a failure the rest of the entity's
    /// events are held back (transient), so they are never delivered ahead of an earlier one.
    async fn send_entity(
        &self,
        uuid: Uuid,
        indexed: Vec<(usize, OrgEvent)>,
        mut held: Option<u64>,
    ) -> Vec<(usize, Result<Applied, SinkError>)> {
        let mut out = Vec::with_capacity(indexed.len());
        let mut failed: Option<SinkError> = None;
        for (i, event) in indexed {
            if held.is_some_and(|h| event.entity_version <= h) {
                out.push((i, Ok(Applied::Stale)));
                continue;
            }
            if let Some(earlier) = &failed {
                out.push((
                    i,
                    Err(SinkError::transient(format!(
                        "held back: an earlier event of {uuid} in the same batch failed ({earlier})"
                    ))),
                ));
                continue;
            }
            match self.post(&event.to_json()).await {
                Ok(()) => {
                    held = Some(event.entity_version);
                    out.push((i, Ok(Applied::Applied)));
                }
                Err(e) => {
                    failed = Some(e.clone());
                    out.push((i, Err(e)));
                }
            }
        }
        out
    }

    /// Sends re-statements concurrently (distinct entities); a refused one is logged and
    /// skipped, a transient failure fails the load (the runtime tries the resync again).
    async fn send_restatements(&self, events: Vec<OrgEvent>) -> Result<u64, SinkError> {
        let outcomes: Vec<(OrgEvent, Result<(), SinkError>)> = stream::iter(events)
            .map(|event| async move {
                let result = self.post(&restatement_json(&event)).await;
                (event, result)
            })
            .buffer_unordered(self.config.max_in_flight)
            .collect()
            .await;
        let mut sent = Vec::new();
        let mut transient = None;
        for (event, result) in outcomes {
            match result {
                Ok(()) => sent.push(Held::of(&event)),
                Err(SinkError::Permanent(message)) => tracing::error!(
                    subject = %event.subject(),
                    version = event.entity_version,
                    error = %message,
                    "the webhook refused a resync re-statement; the entity is skipped"
                ),
                Err(e @ SinkError::Transient(_)) => transient = Some(e),
            }
        }
        let n = sent.len() as u64;
        self.remember(sent).await;
        match transient {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

/// 408, 429 and 5xx are worth retrying; the rest of the non-2xx statuses are not.
fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl Sink for WebhookSink {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn apply(&self, events: &[OrgEvent]) -> Vec<Result<Applied, SinkError>> {
        let mut order: Vec<Uuid> = Vec::new();
        let mut groups: HashMap<Uuid, Vec<(usize, OrgEvent)>> = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            let uuid = event.subject();
            groups
                .entry(uuid)
                .or_insert_with(|| {
                    order.push(uuid);
                    Vec::new()
                })
                .push((i, event.clone()));
        }
        // Owned events: the futures below must not borrow from the caller's slice.
        let work: Vec<EntityWork> = order
            .into_iter()
            .filter_map(|uuid| {
                let group = groups.remove(&uuid)?;
                Some((uuid, group, self.held_version(uuid)))
            })
            .collect();
        let outcomes: Vec<(usize, Result<Applied, SinkError>)> = stream::iter(work)
            .map(|(uuid, group, held)| self.send_entity(uuid, group, held))
            .buffer_unordered(self.config.max_in_flight)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect();
        let mut results: Vec<Result<Applied, SinkError>> =
            vec![Err(SinkError::transient("not attempted")); events.len()];
        let mut delivered = Vec::new();
        for (i, result) in outcomes {
            if matches!(result, Ok(Applied::Applied)) {
                delivered.push(Held::of(&events[i]));
            }
            results[i] = result;
        }
        self.remember(delivered).await;
        results
    }

    async fn is_empty(&self, kommune: Kommune) -> Result<bool, SinkError> {
        let journal = self
            .journal
            .lock()
            .map_err(|_| SinkError::transient("the journal lock is poisoned"))?;
        Ok(!journal.versions.has_kommune(kommune))
    }

    async fn resync_load(
        &self,
        scope: &ResyncScope,
        documents: &[EntityDocument<Attrs>],
    ) -> Result<u64, SinkError> {
        let events: Vec<OrgEvent> = documents
            .iter()
            .filter(|d| {
                self.held_version(d.uuid)
                    .is_none_or(|held| d.version > held)
            })
            .map(|d| restatement(d.clone(), scope.watermark))
            .collect();
        self.send_restatements(events).await
    }

    async fn resync_prune(
        &self,
        scope: &ResyncScope,
        present: &HashSet<Uuid>,
    ) -> Result<u64, SinkError> {
        let gone = {
            let journal = self
                .journal
                .lock()
                .map_err(|_| SinkError::transient("the journal lock is poisoned"))?;
            journal.versions.missing_from(scope, present)
        };
        let events = gone
            .into_iter()
            .map(|h| deletion_restatement(h.uuid, h.kind, h.kommune, h.version, scope.watermark))
            .collect();
        self.send_restatements(events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: HMAC-SHA256(key "Jefe", "1700000000.what do ya want for
        // nothing?").
        assert_eq!(
            sign(b"Jefe", 1_700_000_000, b"what do ya want for nothing?"),
            "1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
        assert_ne!(sign(b"k", 1, b"body"), sign(b"k", 2, b"body"));
    }

    #[test]
    fn only_408_429_and_5xx_are_transient() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                is_transient(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
        for s in [300, 301, 400, 401, 403, 404, 409, 410, 422] {
            assert!(
                !is_transient(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
    }
}
