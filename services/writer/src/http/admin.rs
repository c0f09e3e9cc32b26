//! The admin API: create, list and revoke tokens (used by `orghubctl token ...`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orghub_contracts::FieldError;
use orghub_contracts::api::{Revoked, TokenList};
use serde_json::Value;

use super::auth::{Caller, Need, valid_scope, valid_source};
use super::error::ApiError;
use super::{AppState, parse_json};

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Need::Admin)?;
    let value = parse_json(&body)?;
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "/name",
            "is required, at most 100 characters, no control characters",
        ));
    }
    let scopes: Vec<String> = match value.get("scopes").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.as_str() {
                Some(s) if valid_scope(s) => Some(s.to_owned()),
                _ => {
                    errors.push(FieldError::new(
                        format!("/scopes/{i}"),
                        "a scope is admin, read:<k>, write:<k> or cpr:<k> with a 3-digit kommunekode",
                    ));
                    None
                }
            })
            .collect(),
        _ => {
            errors.push(FieldError::new("/scopes", "is required: a non-empty array of scopes"));
            Vec::new()
        }
    };
    let source = match value.get("source") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_source(s) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                "/source",
                "a source is a label [a-z][a-z0-9-]{0,31}, e.g. sd",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let token = state
        .store
        .create_token(&name, &scopes, source.as_deref())
        .await?;
    tracing::info!(token_id = %token.id, name = %token.name, scopes = ?token.scopes, source = ?token.source, "token created");
    Ok((StatusCode::CREATED, Json(token)).into_response())
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Need::Admin)?;
    let tokens = state.store.list_tokens().await?;
    Ok(Json(TokenList { tokens }).into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Need::Admin)?;
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound(format!("no token {id:?}")))?;
    if state.store.revoke_token(id).await? {
        tracing::info!(token_id = %id, "token revoked");
        Ok(Json(Revoked { id, revoked: true }).into_response())
    } else {
        Err(ApiError::NotFound(format!("no live token {id}")))
    }
}
