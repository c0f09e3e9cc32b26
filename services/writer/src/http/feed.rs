//! The feeds subscribers bootstrap and repair from: `/snapshot` and `/events`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::auth::{Caller, Need};
use super::entities::visible;
use super::error::ApiError;
use super::{AppState, parse_kommune};
use crate::store::SnapshotItem;

/// NDJSON: `{"sequence": W}`, then every live entity document; read in one REPEATABLE READ
/// transaction and streamed.
pub async fn snapshot(
    State(state): State<AppState>,
    Path(kommune): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let store = state.store.clone();
    let failed = tx.clone();
    tokio::spawn(async move {
        if let Err(e) = store.snapshot(kommune, tx).await {
            let _ = failed.send(Err(e)).await;
        }
    });
    let today = crate::store::today();
    let lines = ReceiverStream::new(rx).map(move |item| match item {
        Ok(SnapshotItem::Watermark(w)) => Ok(format!("{{\"sequence\":{w}}}\n")),
        Ok(SnapshotItem::Entity(e)) => {
            let mut line = visible(e.document(today), &caller, kommune).to_string();
            line.push('\n');
            Ok(line)
        }
        Err(e) => {
            // The status line is already sent: cut the stream so the client sees a broken body.
            tracing::error!(error = %e, "snapshot failed mid-stream");
            Err(std::io::Error::other(e.to_string()))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
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
