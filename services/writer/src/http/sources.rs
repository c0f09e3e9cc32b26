//! Source systems (DESIGN §2 *Source systems*, §3): the `sources` admin API, and how a write
//! with a sourced token becomes a change of only what its source owns.
//!
//! A sourced token's state (in `PUT`, `/changes` and import lines) is a merge patch over its
//! validity: fields it omits keep their value, and naming a field that another source owns is
//! refused with `urn:orghub:problem:ownership`, naming the owner. `PATCH` is the same merge for
//! every token. A field's value is replaced whole (an object-valued field is not merged deeper).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orghub_contracts::{EntityKind, FieldError, Kommune, Validity};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::{Caller, Need, valid_source};
use super::error::ApiError;
use super::{AppState, parse_json, parse_kommune};
use crate::store::sources::{Ownership, fields_of};
use crate::store::{Operation, Owns, SourceRecord};

fn shown(record: &SourceRecord) -> Value {
    json!({"source": record.source, "owns": record.owns.to_json(), "updated_at": record.updated_at,
           "last_write_at": record.last_write_at,
           "last_full_import_at": record.last_full_import_at,
           "last_full_import": record.last_full_import})
}

/// Notes a sourced caller's changing write for `GET /sources`; bookkeeping that never fails the
/// write it follows.
pub async fn note_write(state: &AppState, caller: &Caller, kommune: Kommune, changed: bool) {
    if let (Some(source), true) = (&caller.source, changed)
        && let Err(e) = state.store.source_wrote(kommune, source).await
    {
        tracing::warn!(error = %e, %kommune, %source, "could not note a source's last write");
    }
}

fn parse_source(raw: &str) -> Result<String, ApiError> {
    if valid_source(raw) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::NotFound(format!(
            "{raw:?} is not a source label ([a-z][a-z0-9-]{{0,31}})"
        )))
    }
}

/// `PUT /api/v1/{kommune}/sources/{source}` (admin): `{"owns": {...}}`.
pub async fn put(
    State(state): State<AppState>,
    Path((kommune, source)): Path<(String, String)>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Admin)?;
    let source = parse_source(&source)?;
    let value = parse_json(&body)?;
    let owns = match value.get("owns") {
        Some(owns) => Owns::parse(owns).map_err(|es| {
            ApiError::Validation(es.into_iter().map(|e| e.under("/owns")).collect())
        })?,
        None => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "/owns",
                "is required: {\"<kind>\": \"*\" or [\"field\", …]}",
            )]));
        }
    };
    match state.store.put_source(kommune, &source, &owns).await? {
        Ok(new) => {
            tracing::info!(%kommune, %source, owns = %owns.to_json(), "source declared");
            let status = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                status,
                Json(json!({"source": source, "owns": owns.to_json()})),
            )
                .into_response())
        }
        Err(elsewhere) => Err(ApiError::Ownership {
            detail: format!(
                "{} is owned by the source {} in {kommune}: an owned item belongs to one source",
                elsewhere.item, elsewhere.owner
            ),
            owner: elsewhere.owner,
        }),
    }
}

/// `GET /api/v1/{kommune}/sources`: every declared source.
pub async fn list(
    State(state): State<AppState>,
    Path(kommune): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let sources = state.store.sources(kommune).await?;
    let items: Vec<Value> = sources.0.iter().map(shown).collect();
    Ok(Json(json!({"kommune": kommune, "sources": items})).into_response())
}

/// `GET /api/v1/{kommune}/sources/{source}`.
pub async fn get_one(
    State(state): State<AppState>,
    Path((kommune, source)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Read(kommune))?;
    let source = parse_source(&source)?;
    let sources = state.store.sources(kommune).await?;
    let record = sources
        .0
        .iter()
        .find(|s| s.source == source)
        .ok_or_else(|| ApiError::NotFound(format!("no source {source} declared in {kommune}")))?;
    Ok(Json(shown(record)).into_response())
}

/// Who a write is held to: the caller's source and the municipality's declarations.
#[derive(Debug, Clone)]
pub struct Guard {
    pub source: String,
    pub ownership: Ownership,
}

impl Guard {
    /// The guard of a sourced caller (`None` for an unsourced one: it writes whole states).
    pub async fn of(
        state: &AppState,
        caller: &Caller,
        kommune: Kommune,
    ) -> Result<Option<Guard>, ApiError> {
        match &caller.source {
            None => Ok(None),
            Some(source) => Ok(Some(Guard {
                source: source.clone(),
                ownership: state.store.sources(kommune).await?,
            })),
        }
    }

    /// Refuses ending or deleting an entity of a kind another source owns wholly.
    pub fn may_end(&self, kind: EntityKind) -> Result<(), ApiError> {
        match self.ownership.other_whole_owner(&self.source, kind) {
            Some(owner) => Err(ApiError::Ownership {
                detail: format!("{kind} is owned by the source {owner}, not {}", self.source),
                owner: owner.to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// A state (`{validity, ...fields}`) as a merge patch over its validity, held to `guard` when
/// the caller is sourced. Errors are relative to the state.
pub fn patch_op(
    kind: EntityKind,
    uuid: Uuid,
    value: Value,
    guard: Option<&Guard>,
) -> Result<Operation, ApiError> {
    let Value::Object(mut patch) = value else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            format!("a {kind} state or patch must be a JSON object"),
        )]));
    };
    let mut errors = Vec::new();
    let validity = match patch.remove("validity") {
        None => {
            errors.push(FieldError::new(
                "/validity",
                "is required: the interval the change applies to",
            ));
            None
        }
        Some(v) => orghub_contracts::entity::from_value_located::<Validity>(v)
            .map_err(|e| errors.push(e.under("/validity")))
            .ok(),
    };
    for key in patch.keys() {
        if !fields_of(kind).contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("/{key}"),
                format!(
                    "unknown attribute of a {kind}; expected validity, {}",
                    fields_of(kind).join(", ")
                ),
            ));
        }
    }
    let Some(validity) = validity.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    if let Some(guard) = guard {
        for field in patch.keys() {
            if let Some(owner) = guard.ownership.other_owner(&guard.source, kind, field) {
                return Err(ApiError::Ownership {
                    detail: format!(
                        "{kind}.{field} is owned by the source {owner}; the source {} may not \
                         write it (omit it to keep its value)",
                        guard.source
                    ),
                    owner: owner.to_owned(),
                });
            }
        }
    }
    Ok(Operation::Patch {
        kind,
        uuid,
        validity,
        patch,
    })
}
