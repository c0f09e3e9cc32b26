//! `ApiError`: every failure of a request as RFC 9457 problem+json, with a stable `type` per kind.
//! Internal errors become opaque 500s and are logged once, with their cause chain.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orghub_contracts::api::{Dependent, PROBLEM_CONTENT_TYPE, Problem};
use orghub_contracts::{EntityKind, FieldError};
use uuid::Uuid;

use crate::store::{StoreError, WriteError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed bearer token")]
    Unauthenticated,
    #[error("the token lacks the scope {0}")]
    Forbidden(String),
    /// A state with a CPR number from a token without `cpr:<k>` (DESIGN §3 *Auth*); `pointer`
    /// is where the number is in the request.
    #[error("writing a CPR number needs the scope {scope}, which the token lacks")]
    CprForbidden { scope: String, pointer: String },
    #[error("{0}")]
    UnknownKommune(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{detail}")]
    BadRequest { detail: String },
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("integrity rules refused the change")]
    Integrity(Vec<FieldError>),
    #[error("{detail}")]
    Conflict { detail: String },
    /// A sourced write touched what another source owns (DESIGN §2 *Source systems*).
    #[error("{detail}")]
    Ownership { detail: String, owner: String },
    #[error("{kind} {uuid} is still referenced in that interval")]
    Dependents {
        kind: EntityKind,
        uuid: Uuid,
        dependents: Vec<(EntityKind, Uuid)>,
    },
    #[error("this Idempotency-Key was used with another request body")]
    IdempotencyMismatch,
    /// A body over its size limit (DESIGN §2 *Limits*).
    #[error("{detail}")]
    TooLarge { detail: String },
    /// A semantic limit crossed: operations per request, segments, document size.
    #[error("{detail}")]
    Limit { detail: String },
    /// Too much waiting already: try again after `retry_after` seconds.
    #[error("{detail}")]
    Overloaded { detail: String, retry_after: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
            ),
            Forbidden(_) | CprForbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            UnknownKommune(_) => (
                StatusCode::NOT_FOUND,
                "unknown-kommune",
                "Unknown municipality",
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Validation failed",
            ),
            Integrity(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "integrity",
                "Integrity rule broken",
            ),
            Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Ownership { .. } => (StatusCode::CONFLICT, "ownership", "Owned by another source"),
            Dependents { .. } => (StatusCode::CONFLICT, "dependents", "Still referenced"),
            IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
            ),
            Limit { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "limit", "Limit exceeded"),
            Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Overloaded"),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    /// The error with its field pointers moved below `prefix` (for batched operations).
    pub fn under(self, prefix: &str) -> Self {
        let move_all = |errs: Vec<FieldError>| errs.into_iter().map(|e| e.under(prefix)).collect();
        match self {
            ApiError::Validation(e) => ApiError::Validation(move_all(e)),
            ApiError::Integrity(e) => ApiError::Integrity(move_all(e)),
            ApiError::CprForbidden { scope, pointer } => ApiError::CprForbidden {
                scope,
                pointer: format!("{prefix}{pointer}"),
            },
            other => other,
        }
    }

    /// The problem document (without status-line concerns).
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.parts();
        let mut problem = Problem::new(slug, title, status.as_u16(), self.to_string());
        match self {
            ApiError::Validation(errors) | ApiError::Integrity(errors) => {
                problem.errors = Some(errors.clone());
            }
            ApiError::CprForbidden { pointer, .. } => {
                problem.errors = Some(vec![FieldError::new(pointer, self.to_string())]);
            }
            ApiError::Dependents { dependents, .. } => {
                problem.dependents = Some(
                    dependents
                        .iter()
                        .map(|&(kind, uuid)| Dependent { kind, uuid })
                        .collect(),
                );
            }
            ApiError::Ownership { owner, .. } => problem.owner = Some(owner.clone()),
            _ => {}
        }
        problem
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
        let mut response = (self.status(), axum::Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let ApiError::Overloaded { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if matches!(self, ApiError::Unauthenticated) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            WriteError::WrongKind { .. } | WriteError::OtherKommune { .. } => ApiError::Conflict {
                detail: e.to_string(),
            },
            WriteError::Integrity(errors) => ApiError::Integrity(errors),
            WriteError::Dependents {
                kind,
                uuid,
                dependents,
            } => ApiError::Dependents {
                kind,
                uuid,
                dependents,
            },
            WriteError::Invalid(detail) => ApiError::Validation(vec![FieldError::new("", detail)]),
            WriteError::Validation(errors) => ApiError::Validation(errors),
            WriteError::Limit(detail) => ApiError::Limit { detail },
            WriteError::Busy => ApiError::Overloaded {
                detail: e.to_string(),
                retry_after: 1,
            },
            WriteError::Store(s) => s.into(),
        }
    }
}
