//! What a write asks for and what it gets back: operations, who writes them, their outcomes, and
//! why one is refused.

use std::sync::Arc;

use chrono::NaiveDate;
use orghub_contracts::{Attrs, EntityDocument, EntityKind, FieldError, Segment, Validity};
use uuid::Uuid;

use super::StoreError;

/// One requested change.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Write a state for its validity interval, replacing the timeline there.
    Put {
        kind: EntityKind,
        uuid: Uuid,
        state: Segment<Attrs>,
    },
    /// End validity at `to` (exclusive).
    Terminate {
        kind: EntityKind,
        uuid: Uuid,
        to: NaiveDate,
    },
    /// Registered in error: remove from the present view.
    Delete { kind: EntityKind, uuid: Uuid },
    /// A JSON merge patch over `validity`: each segment inside the interval (and each gap, as a
    /// state of its own) gets the given fields, `null` clearing one; its other fields are kept.
    Patch {
        kind: EntityKind,
        uuid: Uuid,
        validity: Validity,
        patch: serde_json::Map<String, serde_json::Value>,
    },
    /// A full import's end of an entity its file lacked: only if the entity is still at
    /// `version` (nobody wrote it since the import looked); terminated today when it began
    /// before today, deleted otherwise. Never refused for having been written: then it is
    /// [`Outcome::Unchanged`].
    End {
        kind: EntityKind,
        uuid: Uuid,
        version: i64,
    },
}

impl Operation {
    pub fn uuid(&self) -> Uuid {
        match self {
            Operation::Put { uuid, .. }
            | Operation::Terminate { uuid, .. }
            | Operation::Delete { uuid, .. }
            | Operation::Patch { uuid, .. }
            | Operation::End { uuid, .. } => *uuid,
        }
    }

    pub fn kind(&self) -> EntityKind {
        match self {
            Operation::Put { kind, .. }
            | Operation::Terminate { kind, .. }
            | Operation::Delete { kind, .. }
            | Operation::Patch { kind, .. }
            | Operation::End { kind, .. } => *kind,
        }
    }

    /// The UUIDs the operation reads: its own and those its state references.
    pub(super) fn uuids(&self) -> Vec<Uuid> {
        let mut out = vec![self.uuid()];
        if let Operation::Put { state, .. } = self {
            out.extend(state.attrs.references().into_iter().map(|r| r.uuid));
        }
        out
    }
}

/// Who writes, and why.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    pub actor: String,
    pub note: Option<String>,
    pub traceparent: Option<String>,
    /// The writer may not see CPR numbers (its token lacks `cpr:<k>`): a person state without
    /// one keeps the numbers stored for its interval instead of clearing them, so a client that
    /// writes back what it read never erases what it could not see.
    pub keeps_cpr: bool,
    /// The source system of the writing token (DESIGN §2 *Source systems*), when it has one.
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Terminated,
    Deleted,
    /// The result equals the current timeline: no registration, no event.
    Unchanged,
}

impl Outcome {
    pub fn changed(self) -> bool {
        self != Outcome::Unchanged
    }
}

/// The result of one applied operation. `document` is the entity as the request left it (with
/// sensitive attributes): the operations of one request on one entity make one registration, so
/// they share its document and version.
#[derive(Debug, Clone)]
pub struct OpResult {
    pub outcome: Outcome,
    pub document: Arc<EntityDocument<Attrs>>,
}

/// The outcome of an idempotent batch.
#[derive(Debug)]
pub enum Idempotent {
    /// Applied now; `status` and `body` were stored under the key.
    Applied {
        results: Vec<OpResult>,
        status: u16,
        body: serde_json::Value,
    },
    /// The key was used before with the same body: its first response.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// The key was used before with another body.
    Mismatch,
}

/// Why an operation was refused. Nothing of a refused operation is written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("no {kind} {uuid} in this municipality")]
    NotFound { kind: EntityKind, uuid: Uuid },
    #[error("{uuid} is a {existing}, not a {requested}")]
    WrongKind {
        uuid: Uuid,
        existing: EntityKind,
        requested: EntityKind,
    },
    #[error("{uuid} belongs to another municipality")]
    OtherKommune { uuid: Uuid },
    /// References or hierarchy rules broken; pointers are relative to the state.
    #[error("integrity rules refused the change")]
    Integrity(Vec<FieldError>),
    #[error("{kind} {uuid} is still referenced in that interval")]
    Dependents {
        kind: EntityKind,
        uuid: Uuid,
        dependents: Vec<(EntityKind, Uuid)>,
    },
    #[error("{0}")]
    Invalid(String),
    /// The state a patch makes is not valid; pointers are relative to the state.
    #[error("the patched state is invalid")]
    Validation(Vec<FieldError>),
    /// A limit of DESIGN §2 (segments, document size) would be crossed.
    #[error("{0}")]
    Limit(String),
    /// The municipality's queue of waiting writes is full: try again shortly.
    #[error("too many writes are waiting for this municipality; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        WriteError::Store(StoreError::Database(e))
    }
}

impl WriteError {
    /// A failure the database raised over this request's data (a constraint, a value it
    /// refuses), as opposed to losing the database: another request of the same transaction is
    /// not to blame, so it is worth applying the others without this one.
    pub(super) fn is_data_dependent(&self) -> bool {
        matches!(
            self,
            WriteError::Store(StoreError::Database(sqlx::Error::Database(_)))
        )
    }
}
