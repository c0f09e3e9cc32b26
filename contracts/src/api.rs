//! The writer API's own request and answer types (DESIGN §3), apart from the entity documents
//! ([`crate::document`]): the writer serialises them, its clients (`orghub-client`, `orghubctl`,
//! the bench) read them, so a field is spelled in one place.
//!
//! - [`Problem`]: the RFC 9457 problem document of every error, with [`FieldError`]s for
//!   validation and [`Dependent`]s for a refused termination.
//! - [`ImportSummary`] and [`RejectedLine`]: the answer of `POST /import`.
//! - [`TokenRecord`], [`NewToken`], [`NewTokenRequest`], [`TokenList`], [`Revoked`]: the admin
//!   token API.
//! - [`SourceDeclaration`], [`SourceDeclared`], [`SourceRecord`], [`SourceList`] ([`Owned`]):
//!   the sources API.
//! - [`Readiness`]: the body of `/readyz`.
//! - [`SnapshotHead`]: the first line of `GET /snapshot`.
//! - Per kind, generic over its attributes: [`PutBody`] and [`TerminateBody`] (the bodies of a
//!   write), [`Written`] (its answer), [`History`] of [`Registration`]s, a [`Page`] of a list;
//!   [`Change`]s and the [`ChangesAnswer`] of `POST /changes`. [`crate::openapi`] names their
//!   schemas per kind (`UnitPut`, `UnitWritten`, …).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::document::EntityDocument;
pub use crate::entity::FieldError;
use crate::kind::{Action, EntityKind};
use crate::kommune::Kommune;
use crate::validity::{Timeline, Validity};
use crate::values::Note;

/// The `type` URI of every problem starts with this, followed by the kind's slug.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:orghub:problem:";

/// The content type of a [`Problem`].
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document: what every error answer of the writer carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// `urn:orghub:problem:<slug>`, stable per error kind.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    /// What is wrong with the input, field by field (validation and integrity problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The entities that still reference the one a request tried to end or delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependents: Option<Vec<Dependent>>,
    /// The source system that owns what an `ownership` problem's request touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Problem {
    /// A problem of the kind `slug` (`validation`, `not-found`, …).
    pub fn new(slug: &str, title: &str, status: u16, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            errors: None,
            dependents: None,
            owner: None,
        }
    }

    /// The slug of `type` (`validation` for `urn:orghub:problem:validation`).
    pub fn slug(&self) -> Option<&str> {
        self.type_uri.strip_prefix(PROBLEM_TYPE_PREFIX)
    }

    /// The detail and each field problem on one line, for messages.
    pub fn one_line(&self) -> String {
        let mut out = self.detail.clone();
        for e in self.errors.iter().flatten() {
            out.push_str(&format!("; {}: {}", e.pointer, e.detail));
        }
        out
    }
}

/// An entity that still references another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dependent {
    pub kind: EntityKind,
    pub uuid: Uuid,
}

/// A line the import refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RejectedLine {
    /// 1-based; 0 for an entity a full import could not end.
    pub line: u64,
    /// The line's UUID when it could be read.
    #[serde(default)]
    pub uuid: Option<Uuid>,
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// The answer of `POST /import`: counts per outcome and the refused lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ImportSummary {
    pub lines: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub terminated: u64,
    pub deleted: u64,
    pub rejected_count: u64,
    /// The first rejected lines in detail, in line order (the writer caps the list;
    /// `rejected_count` counts all).
    pub rejected: Vec<RejectedLine>,
    /// Set when a full import ended nothing although the file lacked entities, and why (a line
    /// was rejected or unreadable: ending what a broken file lacks would end live entities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ended_because: Option<String>,
}

impl ImportSummary {
    /// Lines that changed an entity, each of which emitted one event.
    pub fn changed(&self) -> u64 {
        self.created + self.updated + self.terminated + self.deleted
    }
}

/// The body of `POST /api/v1/admin/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewTokenRequest {
    pub name: String,
    pub scopes: Vec<String>,
    /// The source system the token writes for (DESIGN §2 *Source systems*), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A token as the admin API lists it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The source system the token writes for (DESIGN §2 *Source systems*), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The answer of `GET /api/v1/admin/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenRecord>,
}

/// A freshly created token; `token` is the secret, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    /// The source system the token writes for (DESIGN §2 *Source systems*), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for NewToken {
    // The secret stays out of logs; it is shown once, on purpose, by whoever asked for it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What one source system owns of one kind (DESIGN §2 *Source systems*): the whole kind (`"*"`)
/// or some of its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Owned {
    /// `"*"`: every attribute, and ending and deleting entities of the kind.
    Whole(String),
    /// These attributes of the kind.
    Fields(Vec<String>),
}

/// The body of `PUT /api/v1/{kommune}/sources/{source}` (admin): what the source owns, by kind
/// word or path. An owned item (a kind, or one attribute of a kind) belongs to one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceDeclaration {
    pub owns: std::collections::BTreeMap<String, Owned>,
}

/// The answer of `PUT /api/v1/{kommune}/sources/{source}`: the declaration as stored (kinds by
/// word, fields sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceDeclared {
    pub source: String,
    pub owns: std::collections::BTreeMap<String, Owned>,
}

/// A declared source system as `GET /api/v1/{kommune}/sources[/{source}]` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceRecord {
    /// The source label, `[a-z][a-z0-9-]{0,31}`: the `origin` of the events its writes make.
    pub source: String,
    pub owns: std::collections::BTreeMap<String, Owned>,
    /// When the declaration was last put.
    pub updated_at: DateTime<Utc>,
    /// The source's last write that changed something.
    #[serde(default)]
    pub last_write_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_full_import_at: Option<DateTime<Utc>>,
    /// The summary of the source's last full import.
    #[serde(default)]
    pub last_full_import: Option<ImportSummary>,
}

/// The answer of `GET /api/v1/{kommune}/sources`: every declared source of the municipality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceList {
    pub kommune: Kommune,
    pub sources: Vec<SourceRecord>,
}

/// The answer of `DELETE /api/v1/admin/tokens/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Revoked {
    pub id: Uuid,
    pub revoked: bool,
}

/// The body of `/readyz`: which dependencies answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Readiness {
    pub database: bool,
    pub broker: bool,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database && self.broker
    }
}

/// The first line of `GET /snapshot`: the event-log watermark the documents that follow are at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotHead {
    pub sequence: u64,
}

/// The validity of a state a client writes: unlike a stored one, `to` may be left out.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct ValidityInput {
    from: NaiveDate,
    /// Exclusive; absent or null: open-ended.
    #[serde(default)]
    to: Option<NaiveDate>,
}

/// One state of a kind for one validity interval, as a client writes it: `validity` and the
/// kind's attributes (the writer refuses any other field).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "{A}State", deny_unknown_fields)]
pub struct State<A> {
    #[schemars(with = "ValidityInput")]
    pub validity: Validity,
    #[serde(flatten)]
    pub attrs: A,
}

/// The body of `PUT /{kind-path}/{uuid}`: the state and an optional note for the registration.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "{A}Put", deny_unknown_fields)]
pub struct PutBody<A> {
    #[serde(flatten)]
    pub state: State<A>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

/// The body of `POST /{kind-path}/{uuid}/terminate`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Terminate")]
pub struct TerminateBody {
    /// The date validity ends, exclusive.
    pub to: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

/// The answer of a write (`PUT`, `terminate`, `DELETE`): the entity document and whether the
/// write changed anything (`false`: same timeline, no registration, no event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "{A}Written")]
pub struct Written<A> {
    #[serde(flatten)]
    pub document: EntityDocument<A>,
    pub changed: bool,
}

/// One registration of an entity: the whole timeline as it was registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "{A}Registration")]
pub struct Registration<A> {
    pub version: u64,
    pub action: Action,
    pub registered_at: DateTime<Utc>,
    /// Who wrote it: `token:<name>:<id>`, or `admin` for the admin token.
    pub actor: String,
    pub note: Option<String>,
    pub deleted: bool,
    pub timeline: Timeline<A>,
}

/// The answer of `GET /{kind-path}/{uuid}/history`: a page of registrations, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "{A}History")]
pub struct History<A> {
    pub uuid: Uuid,
    pub kind: EntityKind,
    pub kommune: Kommune,
    pub registrations: Vec<Registration<A>>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The answer of `GET /{kind-path}`: a page of live entity documents in UUID order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "{A}Page")]
pub struct Page<A> {
    pub items: Vec<EntityDocument<A>>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<Uuid>,
}

/// A `put` of one state in `POST /changes`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "{A}PutChange")]
pub struct PutChange<A> {
    /// `put`.
    pub op: String,
    /// The kind's word (`unit`) or path (`units`).
    pub kind: EntityKind,
    pub uuid: Uuid,
    pub state: State<A>,
}

/// A `terminate` or `delete` in `POST /changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    #[schemars(title = "TerminateChange")]
    Terminate {
        kind: EntityKind,
        uuid: Uuid,
        /// The date validity ends, exclusive.
        to: NaiveDate,
    },
    #[schemars(title = "DeleteChange")]
    Delete { kind: EntityKind, uuid: Uuid },
}

/// What one operation of `POST /changes` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeResult {
    pub kind: EntityKind,
    pub uuid: Uuid,
    pub outcome: Outcome,
    pub changed: bool,
    pub version: u64,
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Terminated,
    Deleted,
    /// Same timeline as before: no registration, no event.
    Unchanged,
}

/// The answer of `POST /changes`: one result per operation, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangesAnswer {
    pub results: Vec<ChangeResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_reads_and_writes_the_rfc_9457_names() {
        let mut p = Problem::new(
            "validation",
            "Validation failed",
            422,
            "the request is invalid",
        );
        p.errors = Some(vec![FieldError::new("/scopes/0", "bad")]);
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(
            v,
            json!({"type": "urn:orghub:problem:validation", "title": "Validation failed",
                   "status": 422, "detail": "the request is invalid",
                   "errors": [{"pointer": "/scopes/0", "detail": "bad"}]})
        );
        let back: Problem = serde_json::from_value(v).expect("read back");
        assert_eq!(back.slug(), Some("validation"));
        assert_eq!(back.one_line(), "the request is invalid; /scopes/0: bad");
    }

    #[test]
    fn a_new_token_keeps_its_secret_out_of_debug() {
        let t = NewToken {
            id: Uuid::nil(),
            name: "n".into(),
            scopes: vec!["admin".into()],
            source: None,
            token: "ohk_secret".into(),
        };
        assert!(!format!("{t:?}").contains("ohk_secret"));
    }
}
