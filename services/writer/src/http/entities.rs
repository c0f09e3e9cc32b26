//! One entity: `PUT`, `terminate`, `DELETE`, `GET` (with `at` and `as_of`), `history`, lists.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use orghub_contracts::values::Note;
use orghub_contracts::{Attrs, EntityDocument, FieldError, Kommune, limits, parse_state};
use serde_json::{Value, json};

use super::auth::{Caller, Need};
use super::error::ApiError;
use axum::extract::rejection::BytesRejection;

use super::sources::{Guard, note_write, patch_op};
use super::{
    AppState, body_within, parse_json, parse_kind, parse_kommune, parse_uuid, traceparent,
};
use crate::store::{OpResult, Operation, Outcome, WriteContext};

/// The document as this caller may see it: without CPR unless the token has `cpr:<k>`.
pub fn visible(doc: EntityDocument<Attrs>, caller: &Caller, kommune: Kommune) -> Value {
    let doc = if caller.allows(Need::Cpr(kommune)) {
        doc
    } else {
        doc.without_sensitive()
    };
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

fn respond(result: OpResult, caller: &Caller, kommune: Kommune) -> Response {
    let status = if result.outcome == Outcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let document = std::sync::Arc::unwrap_or_clone(result.document);
    let mut body = visible(document, caller, kommune);
    body["changed"] = json!(result.outcome.changed());
    (status, Json(body)).into_response()
}

/// Takes an optional `note` (a string) out of a request object.
fn take_note(body: &mut Value) -> Result<Option<String>, ApiError> {
    match body.as_object_mut().and_then(|o| o.remove("note")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Note::parse(&s)
            .map(|n| Some(n.into_string()))
            .map_err(|e| ApiError::Validation(vec![FieldError::new("/note", e.0)])),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "/note",
            format!("must be a string of at most {} characters", Note::MAX_CHARS),
        )])),
    }
}

async fn write_one(
    state: &AppState,
    caller: &Caller,
    kommune: Kommune,
    op: Operation,
    note: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    caller.may_write_op(kommune, &op)?;
    let ctx = WriteContext {
        actor: caller.actor.clone(),
        note,
        traceparent: traceparent(headers),
        keeps_cpr: !caller.allows(Need::Cpr(kommune)),
        source: caller.source.clone(),
    };
    let mut results = state
        .store
        .apply(kommune, vec![op], &ctx)
        .await
        .map_err(|(_, e)| ApiError::from(e))?;
    let result = results
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no result")))?;
    if result.outcome.changed() {
        state.metrics.events_written.inc();
    }
    note_write(state, caller, kommune, result.outcome.changed()).await;
    Ok(respond(result, caller, kommune))
}

pub async fn put(
    State(state): State<AppState>,
    Path((kommune, kind, uuid)): Path<(String, String, String)>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Write(kommune))?;
    let (kind, uuid) = (parse_kind(&kind)?, parse_uuid(&uuid)?);
    let body = body_within(body, limits::MAX_WRITE_BODY_BYTES)?;
    let mut value = parse_json(&body)?;
    let note = take_note(&mut value)?;
    let op = match Guard::of(&state, &caller, kommune).await? {
        // A sourced token changes only what its source owns: its state is a merge patch.
        Some(guard) => patch_op(kind, uuid, value, Some(&guard))?,
        None => Operation::Put {
            kind,
            uuid,
            state: parse_state(kind, value).map_err(ApiError::Validation)?,
        },
    };
    write_one(&state, &caller, kommune, op, note, &headers).await
}

/// `PATCH /{kind-path}/{uuid}`: a JSON merge patch over the interval `validity` names.
pub async fn patch(
    State(state): State<AppState>,
    Path((kommune, kind, uuid)): Path<(String, String, String)>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Write(kommune))?;
    let (kind, uuid) = (parse_kind(&kind)?, parse_uuid(&uuid)?);
    let body = body_within(body, limits::MAX_WRITE_BODY_BYTES)?;
    let mut value = parse_json(&body)?;
    let note = take_note(&mut value)?;
    let guard = Guard::of(&state, &caller, kommune).await?;
    let op = patch_op(kind, uuid, value, guard.as_ref())?;
    write_one(&state, &caller, kommune, op, note, &headers).await
}

pub async fn terminate(
    State(state): State<AppState>,
    Path((kommune, kind, uuid)): Path<(String, String, String)>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Write(kommune))?;
    let (kind, uuid) = (parse_kind(&kind)?, parse_uuid(&uuid)?);
    let body = body_within(body, limits::MAX_WRITE_BODY_BYTES)?;
    let mut value = parse_json(&body)?;
    let note = take_note(&mut value)?;
    let to = parse_terminate_to(&value)?;
    if let Some(guard) = Guard::of(&state, &caller, kommune).await? {
        guard.may_end(kind)?;
    }
    write_one(
        &state,
        &caller,
        kommune,
        Operation::Terminate { kind, uuid, to },
        note,
        &headers,
    )
    .await
}

/// Reads `{"to": "YYYY-MM-DD"}`.
pub fn parse_terminate_to(value: &Value) -> Result<NaiveDate, ApiError> {
    match value.get("to") {
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
            .and_then(orghub_contracts::validity::check_date)
            .map_err(|detail| ApiError::Validation(vec![FieldError::new("/to", detail)])),
        _ => Err(ApiError::Validation(vec![FieldError::new(
            "/to",
            "is required: the date (YYYY-MM-DD) validity ends, exclusive",
        )])),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path((kommune, kind, uuid)): Path<(String, String, String)>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Write(kommune))?;
    let (kind, uuid) = (parse_kind(&kind)?, parse_uuid(&uuid)?);
    if let Some(guard) = Guard::of(&state, &caller, kommune).await? {
        guard.may_end(kind)?;
    }
    write_one(
        &state,
        &caller,
        kommune,
        Operation::Delete { kind, uuid },
        None,
        &headers,
    )
    .await
}

fn query_date(q: &HashMap<String, String>) -> Result<Option<NaiveDate>, ApiError> {
    q.get("at")
        .map(|s| {
            s.parse().map_err(|_| ApiError::BadRequest {
                detail: format!("at={s:?} is not a date (YYYY-MM-DD)"),
            })
        })
        .transpose()
}

fn query_as_of(q: &HashMap<String, String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.get("as_of")
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::BadRequest {
                    detail: format!("as_of={s:?} is not an RFC 3339 time"),
                })
        })
        .transpose()
}

pub async fn get_one(
    State(state): State<AppState>,
    Path((kommune, kind, uuid)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let (kind, uuid) = (parse_kind(&kind)?, parse_uuid(&uuid)?);
    let at = query_date(&q)?;
    let as_of = query_as_of(&q)?;
    let entity = state
        .store
        .get(kommune, kind, uuid, as_of)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no {kind} {uuid} in {kommune}{}",
                if as_of.is_some() {
                    " at that registration time"
                } else {
                    ""
                }
            ))
        })?;
    let doc = entity.document(at.unwrap_or_else(|| state.store.today()));
    Ok(Json(visible(doc, &caller, kommune)).into_response())
}

/// A page of registrations, newest first: `?limit=` (1..=100, default 50) and `?cursor=` (the
/// `next_cursor` of the previous page). Bounded, since each registration holds a whole timeline.
pub async fn history(
    State(state): State<AppState>,
    Path((kommune, kind, uuid)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let (kind, uuid) = (parse_kind(&kind)?, parse_uuid(&uuid)?);
    let limit = match q.get("limit") {
        None => limits::DEFAULT_HISTORY_PAGE,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=limits::MAX_HISTORY_PAGE).contains(n))
            .ok_or_else(|| ApiError::BadRequest {
                detail: format!("limit={s:?} must be 1..{}", limits::MAX_HISTORY_PAGE),
            })?,
    };
    let before = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| ApiError::BadRequest {
            detail: format!("cursor={c:?} is not a cursor from this API"),
        })?),
    };
    let cpr = caller.allows(Need::Cpr(kommune));
    let records = state
        .store
        .history(kommune, kind, uuid, before, limit)
        .await?;
    if records.is_empty() && before.is_none() {
        return Err(ApiError::NotFound(format!("no {kind} {uuid} in {kommune}")));
    }
    let next = match records.last() {
        Some(r) if records.len() == limit && r.version > 1 => Some(r.version.to_string()),
        _ => None,
    };
    let items: Vec<Value> = records
        .into_iter()
        .map(|r| {
            let timeline = if cpr {
                r.timeline
            } else {
                r.timeline.map(|mut a| {
                    a.strip_sensitive();
                    a
                })
            };
            json!({
                "version": r.version,
                "action": r.action,
                "registered_at": r.registered_at,
                "actor": r.actor,
                "note": r.note,
                "source": r.source,
                "deleted": r.deleted,
                "timeline": timeline,
            })
        })
        .collect();
    Ok(Json(
        json!({"uuid": uuid, "kind": kind, "kommune": kommune, "registrations": items,
                    "next_cursor": next}),
    )
    .into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Path((kommune, kind)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let kind = parse_kind(&kind)?;
    let limit: i64 = match q.get("limit") {
        None => 100,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::BadRequest {
                detail: format!("limit={s:?} must be 1..1000"),
            })?,
    };
    let after = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(uuid::Uuid::parse_str(c).map_err(|_| ApiError::BadRequest {
            detail: format!("cursor={c:?} is not a cursor from this API"),
        })?),
    };
    let rows = state.store.list(kommune, kind, after, limit).await?;
    let next = if rows.len() as i64 == limit {
        rows.last().map(|e| e.head.uuid)
    } else {
        None
    };
    let today = state.store.today();
    let items: Vec<Value> = rows
        .into_iter()
        .map(|e| visible(e.document(today), &caller, kommune))
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": next})).into_response())
}
