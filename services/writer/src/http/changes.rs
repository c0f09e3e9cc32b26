//! `POST /changes`: a JSON array of operations on any kinds, applied atomically, made safe to
//! retry by an `Idempotency-Key` (scoped to the caller's token, remembered for 24 hours).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orghub_contracts::{EntityKind, FieldError, limits, parse_state};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::{Caller, Need};
use super::entities::parse_terminate_to;
use super::error::ApiError;
use super::sources::{Guard, note_write, patch_op};
use super::{AppState, body_within, parse_json, parse_kommune, traceparent};
use crate::store::{Idempotent, OpResult, Operation, WriteContext};

/// Parses one element of the array: `{"op": "put"|"patch"|"terminate"|"delete", "kind", "uuid",
/// ...}`, held to `guard` for a sourced caller: field problems as `ApiError::Validation`.
fn parse_operation(value: Value, guard: Option<&Guard>) -> Result<Operation, ApiError> {
    parse_unguarded(value, guard)
        .map_err(ApiError::Validation)
        .and_then(|r| r)
}

fn parse_unguarded(
    value: Value,
    guard: Option<&Guard>,
) -> Result<Result<Operation, ApiError>, Vec<FieldError>> {
    let err = |p: &str, d: String| vec![FieldError::new(p, d)];
    let Value::Object(mut obj) = value else {
        return Err(err("", "an operation must be a JSON object".into()));
    };
    let kind = match obj.remove("kind") {
        Some(Value::String(k)) => EntityKind::from_word(&k)
            .or_else(|| EntityKind::from_path(&k))
            .ok_or_else(|| err("/kind", format!("unknown kind {k:?}")))?,
        _ => {
            return Err(err(
                "/kind",
                "is required (unit, person, engagement, ...)".into(),
            ));
        }
    };
    let uuid = match obj.remove("uuid") {
        Some(Value::String(u)) => uuid::Uuid::parse_str(&u)
            .map_err(|e| err("/uuid", format!("{u:?} is not a UUID: {e}")))?,
        _ => return Err(err("/uuid", "is required".into())),
    };
    let op = obj.remove("op");
    let op = op.as_ref().and_then(Value::as_str);
    if let Some(guard) = guard
        && matches!(op, Some("terminate" | "delete"))
        && let Err(e) = guard.may_end(kind)
    {
        return Ok(Err(e));
    }
    Ok(Ok(match op {
        Some(op @ ("put" | "patch")) if guard.is_some() || op == "patch" => {
            let state = obj
                .remove("state")
                .ok_or_else(|| err("/state", format!("is required for {op}")))?;
            match patch_op(kind, uuid, state, guard) {
                Ok(op) => op,
                Err(ApiError::Validation(es)) => {
                    return Err(es.into_iter().map(|e| e.under("/state")).collect());
                }
                Err(other) => return Ok(Err(other)),
            }
        }
        Some("put") => {
            let state = obj
                .remove("state")
                .ok_or_else(|| err("/state", "is required for put".into()))?;
            let state = parse_state(kind, state).map_err(|es| {
                es.into_iter()
                    .map(|e| e.under("/state"))
                    .collect::<Vec<_>>()
            })?;
            Operation::Put { kind, uuid, state }
        }
        Some("terminate") => {
            let to = parse_terminate_to(&Value::Object(obj)).map_err(|e| match e {
                ApiError::Validation(es) => es,
                other => err("/to", other.to_string()),
            })?;
            Operation::Terminate { kind, uuid, to }
        }
        Some("delete") => Operation::Delete { kind, uuid },
        _ => {
            return Err(err(
                "/op",
                "must be one of put, patch, terminate, delete".into(),
            ));
        }
    }))
}

fn render(results: &[OpResult]) -> (u16, Value) {
    let items: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "kind": r.document.kind,
                "uuid": r.document.uuid,
                "outcome": format!("{:?}", r.outcome).to_lowercase(),
                "changed": r.outcome.changed(),
                "version": r.document.version,
            })
        })
        .collect();
    (200, json!({"results": items}))
}

pub async fn post_changes(
    State(state): State<AppState>,
    Path(kommune): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Write(kommune))?;
    let body = body_within(body, limits::MAX_CHANGES_BODY_BYTES)?;
    let Value::Array(items) = parse_json(&body)? else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "the body must be a JSON array of operations",
        )]));
    };
    if items.len() > limits::MAX_CHANGES_OPERATIONS {
        return Err(ApiError::Limit {
            detail: format!(
                "{} operations; at most {} per request, use /import for more",
                items.len(),
                limits::MAX_CHANGES_OPERATIONS
            ),
        });
    }
    let guard = Guard::of(&state, &caller, kommune).await?;
    let mut ops = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match parse_operation(item, guard.as_ref()) {
            Ok(op) => ops.push(op),
            Err(ApiError::Validation(es)) => {
                errors.extend(es.into_iter().map(|e| e.under(&format!("/{i}"))));
            }
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    for (i, op) in ops.iter().enumerate() {
        caller
            .may_write_op(kommune, op)
            .map_err(|e| e.under(&format!("/{i}/state")))?;
    }
    let ctx = WriteContext {
        actor: caller.actor.clone(),
        note: None,
        traceparent: traceparent(&headers),
        keeps_cpr: !caller.allows(Need::Cpr(kommune)),
        source: caller.source.clone(),
    };
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::BadRequest {
            detail: "Idempotency-Key must be visible ASCII".into(),
        })?;
    let located =
        |(i, e): (usize, crate::store::WriteError)| ApiError::from(e).under(&format!("/{i}/state"));
    let (status, body, written) = match key {
        None => {
            let results = state
                .store
                .apply(kommune, ops, &ctx)
                .await
                .map_err(located)?;
            let written = results.iter().filter(|r| r.outcome.changed()).count();
            let (status, body) = render(&results);
            (status, body, written)
        }
        Some(key) if key.is_empty() || key.len() > 200 => {
            return Err(ApiError::BadRequest {
                detail: "Idempotency-Key must be 1-200 characters".into(),
            });
        }
        Some(key) => {
            let hash = Sha256::digest(&body).to_vec();
            // The key as this caller's token made it: another token's key of the same text is
            // another key.
            let scope = Sha256::new()
                .chain_update(caller.actor.as_bytes())
                .chain_update([0])
                .chain_update(key.as_bytes())
                .finalize()
                .to_vec();
            match state
                .store
                .apply_idempotent(kommune, ops, &ctx, &scope, &hash, render)
                .await
                .map_err(located)?
            {
                Idempotent::Applied {
                    results,
                    status,
                    body,
                } => (
                    status,
                    body,
                    results.iter().filter(|r| r.outcome.changed()).count(),
                ),
                Idempotent::Replay { status, body } => (status, body, 0),
                Idempotent::Mismatch => return Err(ApiError::IdempotencyMismatch),
            }
        }
    };
    state.metrics.events_written.inc_by(written as u64);
    note_write(&state, &caller, kommune, written > 0).await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok((status, Json(body)).into_response())
}
