//! The HTTP API (DESIGN §3): routes, shared state and request metrics.
//!
//! Every extractor that can fail on client input is ours (paths, queries and bodies are read as
//! raw strings and parsed here), so that every client error is problem+json, never plain text.

mod admin;
pub mod auth;
mod changes;
mod entities;
pub mod error;
mod feed;
mod import;
pub mod openapi;
mod sources;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use orghub_contracts::{EntityKind, Kommune, limits};
use orghub_runtime::Secret;
use orghub_runtime::metrics::{method_label, route_label};

use crate::metrics::{HttpLabels, Metrics};
use crate::store::Store;
use error::ApiError;
pub use feed::SnapshotLimits;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// The bounds of `/snapshot`.
    pub snapshots: Arc<SnapshotLimits>,
    pub metrics: Arc<Metrics>,
    pub admin_token: Option<Secret>,
    /// `host:port` of the broker, for readiness.
    pub amqp_addr: String,
}

/// The router with every route of the OpenAPI document ([`openapi::document`]).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/admin/tokens", get(admin::list).post(admin::create))
        .route(
            "/api/v1/admin/tokens/{id}",
            axum::routing::delete(admin::revoke),
        )
        .route(
            "/api/v1/{kommune}/changes",
            post(changes::post_changes)
                .layer(DefaultBodyLimit::max(limits::MAX_CHANGES_BODY_BYTES)),
        )
        .route("/api/v1/{kommune}/import", post(import::post_import))
        .route("/api/v1/{kommune}/sources", get(sources::list))
        .route(
            "/api/v1/{kommune}/sources/{source}",
            get(sources::get_one).put(sources::put),
        )
        .route("/api/v1/{kommune}/snapshot", get(feed::snapshot))
        .route("/api/v1/{kommune}/events", get(feed::events))
        .route("/api/v1/{kommune}/{kind}", get(entities::list))
        .route(
            "/api/v1/{kommune}/{kind}/{uuid}",
            get(entities::get_one)
                .put(entities::put)
                .patch(entities::patch)
                .delete(entities::delete)
                .layer(DefaultBodyLimit::max(limits::MAX_WRITE_BODY_BYTES)),
        )
        .route(
            "/api/v1/{kommune}/{kind}/{uuid}/terminate",
            post(entities::terminate).layer(DefaultBodyLimit::max(limits::MAX_WRITE_BODY_BYTES)),
        )
        .route(
            "/api/v1/{kommune}/{kind}/{uuid}/history",
            get(entities::history),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::BadRequest {
                detail: "method not allowed on this route".into(),
            }
        });
    api.layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Bounded label values: a client chooses the method and the path, not the series.
    let method = method_label(req.method()).to_owned();
    let route = route_label(&req);
    let response = next.run(req).await;
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .http_latency
        .observe(start.elapsed().as_secs_f64());
    response
}

async fn readyz(State(state): State<AppState>) -> Response {
    let db = state.store.ping().await.is_ok();
    let broker = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::TcpStream::connect(&state.amqp_addr),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let body = serde_json::json!({"database": db, "broker": broker});
    let status = if db && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok((n, age)) = state.store.relay_lag().await {
        state.metrics.relay_lag_events.set(n);
        state.metrics.relay_lag_seconds.set(age.unwrap_or(0.0));
    }
    orghub_runtime::metrics::response(state.metrics.render())
}

/// Parses the `{kommune}` path segment.
pub fn parse_kommune(raw: &str) -> Result<Kommune, ApiError> {
    Kommune::parse(raw).map_err(|e| ApiError::UnknownKommune(e.to_string()))
}

/// Parses the `{kind}` collection path segment.
pub fn parse_kind(raw: &str) -> Result<EntityKind, ApiError> {
    EntityKind::from_path(raw).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no collection {raw:?}; expected one of {}",
            EntityKind::ALL.map(EntityKind::path).join(", ")
        ))
    })
}

/// Parses a `{uuid}` path segment.
pub fn parse_uuid(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|e| ApiError::NotFound(format!("{raw:?} is not a UUID: {e}")))
}

/// The body a route's [`DefaultBodyLimit`] let through, or why not: over the limit is a 413
/// problem, like every other client error (axum's own rejection is plain text).
pub fn body_within(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge {
                detail: format!("the body is over {limit} bytes, the limit of this request"),
            }
        } else {
            ApiError::BadRequest {
                detail: format!("reading the body failed: {rejection}"),
            }
        }
    })
}

/// Parses a JSON body, refusing anything else with a 400.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// The W3C trace context of the request, if it carries a well-formed one.
pub fn traceparent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() == 55 && v.split('-').count() == 4)
        .map(str::to_owned)
}
