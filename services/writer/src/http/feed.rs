//! The feeds subscribers bootstrap and repair from: `/snapshot` and `/events`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use super::auth::{Caller, Need};
use super::entities::visible;
use super::error::ApiError;
use super::{AppState, parse_kommune};
use crate::store::SnapshotItem;

/// How long a client turned away from `/snapshot` is asked to wait.
const SNAPSHOT_RETRY_AFTER_SECS: u64 = 5;

/// The bounds of `/snapshot`, so that snapshot readers can never starve writes or each other:
/// a few slots (one per connection of the snapshot pool), a few per token, and a time limit.
#[derive(Debug)]
pub struct SnapshotLimits {
    slots: Arc<Semaphore>,
    per_token: usize,
    /// Snapshots being served, per caller.
    active: Mutex<HashMap<String, usize>>,
    timeout: Duration,
}

impl SnapshotLimits {
    pub fn new(slots: usize, per_token: usize, timeout: Duration) -> Self {
        SnapshotLimits {
            slots: Arc::new(Semaphore::new(slots)),
            per_token,
            active: Mutex::default(),
            timeout,
        }
    }

    /// A slot and a place among the caller's snapshots, or 503.
    fn admit(self: &Arc<Self>, caller: &str) -> Result<(Admitted, OwnedSemaphorePermit), ApiError> {
        let busy = |detail: String| ApiError::Overloaded {
            detail,
            retry_after: SNAPSHOT_RETRY_AFTER_SECS,
        };
        {
            let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            let mine = active.entry(caller.to_owned()).or_default();
            if *mine >= self.per_token {
                return Err(busy(format!(
                    "this token already reads {} snapshots at once, its limit",
                    self.per_token
                )));
            }
            *mine += 1;
        }
        let admitted = Admitted {
            limits: self.clone(),
            caller: caller.to_owned(),
        };
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy("every snapshot slot is taken; try again shortly".to_owned()))?;
        Ok((admitted, slot))
    }
}

/// One of a caller's snapshots, counted until the response is done with.
#[derive(Debug)]
struct Admitted {
    limits: Arc<SnapshotLimits>,
    caller: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut active = self
            .limits
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = active.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.remove(&self.caller);
            }
        }
    }
}

/// NDJSON: `{"sequence": W}`, then every live entity document; read in one REPEATABLE READ
/// transaction on the snapshot pool and streamed.
///
/// The reading task holds a slot (and so a pooled connection) for at most the time limit, however
/// slowly the client reads; the caller's count holds until the response is dropped. A snapshot
/// that fails or is cut ends the body with an error, so a client never mistakes a short snapshot
/// for a whole one.
pub async fn snapshot(
    State(state): State<AppState>,
    Path(kommune): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let (admitted, slot) = state.snapshots.admit(&caller.actor).inspect_err(|_| {
        state.metrics.snapshots_refused.inc();
    })?;
    let admitted = Arc::new(admitted);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (done_tx, done_rx) = oneshot::channel::<Result<(), String>>();
    let store = state.store.clone();
    let timeout = state.snapshots.timeout;
    let reading = admitted.clone();
    tokio::spawn(async move {
        let outcome = match tokio::time::timeout(timeout, store.snapshot(kommune, tx)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "snapshot failed mid-stream");
                Err(e.to_string())
            }
            Err(_) => {
                tracing::warn!(
                    kommune = %kommune,
                    limit = ?timeout,
                    "snapshot cut: its client did not read it within the time limit"
                );
                Err(format!(
                    "the snapshot took longer than its limit of {timeout:?}"
                ))
            }
        };
        drop((slot, reading));
        let _ = done_tx.send(outcome);
    });
    let today = state.store.today();
    let lines = ReceiverStream::new(rx).map(move |item| match item {
        Ok(SnapshotItem::Watermark(w)) => Ok(format!("{{\"sequence\":{w}}}\n")),
        Ok(SnapshotItem::Entity(e)) => {
            let mut line = visible(e.document(today), &caller, kommune).to_string();
            line.push('\n');
            Ok(line)
        }
        Err(e) => Err(std::io::Error::other(e.to_string())),
    });
    // The status line is already sent: a failure can only cut the stream, so the client sees a
    // broken body rather than a short one.
    let end = futures_util::stream::once(async move {
        let _response = admitted;
        match done_rx.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(std::io::Error::other(e))),
            Err(_) => Some(Err(std::io::Error::other("the snapshot stopped"))),
        }
    })
    .filter_map(std::future::ready);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines.chain(end)),
    )
        .into_response())
}

/// The event log from `after + 1`, as a CloudEvents JSON batch.
pub async fn events(
    State(state): State<AppState>,
    Path(kommune): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let number = |name: &str, default: i64, max: i64| -> Result<i64, ApiError> {
        match q.get(name) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| ApiError::BadRequest {
                    detail: format!("{name}={s:?} must be an integer from 0 to {max}"),
                }),
        }
    };
    let after = number("after", 0, i64::MAX)?;
    let limit = number("limit", 1000, 10_000)?.max(1);
    let bodies = state.store.events(kommune, after, limit).await?;
    let mut out = String::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
    out.push('[');
    out.push_str(&bodies.join(","));
    out.push(']');
    Ok((
        [(header::CONTENT_TYPE, "application/cloudevents-batch+json")],
        out,
    )
        .into_response())
}
