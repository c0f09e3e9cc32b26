//! The seam between the runtime and a fagsystem: the [`Sink`] trait.
//!
//! # The acknowledgement contract
//!
//! The runtime alone talks to the broker. It calls [`Sink::apply`] with a batch of decoded events
//! in delivery order and gets one result per event, in the same order:
//!
//! - `Ok(Applied::Applied)` / `Ok(Applied::Stale)`: the sink has **durably committed** the event
//!   (or knows it already holds that version or a newer one). The runtime acknowledges the
//!   delivery after this, and only after this. A sink must not return `Ok` for work that a crash
//!   could still lose (an unflushed file, an uncommitted transaction).
//! - `Err(SinkError::Transient)`: nothing is known to be committed and trying again later may
//!   succeed (the database or fagsystem is down, a timeout, HTTP 5xx/429). The runtime retries in
//!   process, then through the delayed retry tiers, then dead-letters.
//! - `Err(SinkError::Permanent)`: this event will never be accepted as it is (a constraint of the
//!   fagsystem refuses it, HTTP 4xx). The runtime dead-letters it at once with the message.
//!
//! Events are delivered **at least once** and may come again, also out of order after retries.
//! `apply` must therefore be idempotent and guarded by version: an event is applied only if its
//! `entityversion` is newer than what the sink holds for that entity; equal or older is `Stale`.
//! Since an event's `data` is the whole entity document, the newest version alone is enough to
//! converge.
//!
//! A sink never acknowledges, rejects or publishes anything itself.

use std::collections::HashSet;
use std::future::Future;

use chrono::Utc;
use orghub_contracts::{Action, Attrs, EntityDocument, EntityKind, Kommune, OrgEvent, Timeline};
use uuid::Uuid;

/// What became of one event that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Committed: the sink now holds this version.
    Applied,
    /// Skipped: the sink already holds this version or a newer one (a duplicate, a late retry,
    /// or an older event of the same entity later in the same batch).
    Stale,
}

/// Why a sink could not apply an event, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Trying again later may succeed: the target is unavailable, overloaded or timed out.
    #[error("{0}")]
    Transient(String),
    /// Trying again cannot help: the target refuses this event as it is.
    #[error("{0}")]
    Permanent(String),
}

impl SinkError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient(message.into())
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent(message.into())
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// What a resync covers: one municipality, some kinds, and the snapshot's event-log watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncScope {
    pub kommune: Kommune,
    pub kinds: Vec<EntityKind>,
    /// The `sequence` of the snapshot: every event up to it is reflected in the documents.
    pub watermark: u64,
}

impl ResyncScope {
    pub fn covers(&self, kind: EntityKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// The sinks' side of the subscriber. See the module documentation for the contract.
pub trait Sink: Send + Sync + 'static {
    /// A short name for logs and metrics: `postgres`, `webhook`, `ndjson`.
    fn kind(&self) -> &'static str;

    /// Applies a batch of events in delivery order; returns exactly one result per event, in the
    /// same order. Must be idempotent and guarded by entity version.
    fn apply(
        &self,
        events: &[OrgEvent],
    ) -> impl Future<Output = Vec<Result<Applied, SinkError>>> + Send;

    /// Whether the sink holds nothing at all of `kommune` (not even a deletion): then the runtime
    /// bootstraps it from the writer's snapshot before consuming.
    fn is_empty(&self, kommune: Kommune) -> impl Future<Output = Result<bool, SinkError>> + Send;

    /// Loads a chunk of snapshot documents: each replaces what the sink holds if its version is
    /// newer (equal or older ones are left alone). Documents carry no CPR.
    fn resync_load(
        &self,
        scope: &ResyncScope,
        documents: &[EntityDocument<Attrs>],
    ) -> impl Future<Output = Result<u64, SinkError>> + Send;

    /// Called once after the whole snapshot was loaded: removes the scope's entities that the
    /// snapshot did not have (deleted in the writer meanwhile), except those the sink learned of
    /// from an event after the snapshot's watermark. Returns how many were removed.
    fn resync_prune(
        &self,
        scope: &ResyncScope,
        present: &HashSet<Uuid>,
    ) -> impl Future<Output = Result<u64, SinkError>> + Send;
}

/// A re-statement of a snapshot document as an event, for sinks that speak events (webhook,
/// NDJSON): `created` for version 1, else `updated`; a fresh id; `sequence` is the snapshot's
/// watermark. Its JSON form gets the extension `orghubresync: true` (see [`restatement_json`]).
pub fn restatement(document: EntityDocument<Attrs>, watermark: u64) -> OrgEvent {
    OrgEvent {
        id: Uuid::now_v7(),
        kommune: document.kommune,
        action: if document.version <= 1 {
            Action::Created
        } else {
            Action::Updated
        },
        time: document.registered_at,
        entity_version: document.version,
        sequence: watermark,
        traceparent: None,
        data: document,
    }
}

/// A `deleted` re-statement for an entity a resync found gone: version `held + 1`, which is at
/// most the writer's real deletion version, so no newer real event is ever shadowed.
pub fn deletion_restatement(
    uuid: Uuid,
    kind: EntityKind,
    kommune: Kommune,
    held_version: u64,
    watermark: u64,
) -> OrgEvent {
    let now = Utc::now();
    OrgEvent {
        id: Uuid::now_v7(),
        kommune,
        action: Action::Deleted,
        time: now,
        entity_version: held_version + 1,
        sequence: watermark,
        traceparent: None,
        data: EntityDocument {
            uuid,
            kind,
            kommune,
            version: held_version + 1,
            registered_at: now,
            deleted: true,
            current: None,
            timeline: Timeline::new(),
        },
    }
}

/// The structured-mode CloudEvent JSON of a re-statement, marked `orghubresync: true` so a
/// receiver can tell it from an event of the hub's log.
pub fn restatement_json(event: &OrgEvent) -> serde_json::Value {
    let mut json = event.to_json();
    if let Some(object) = json.as_object_mut() {
        object.insert("orghubresync".into(), serde_json::Value::Bool(true));
    }
    json
}
