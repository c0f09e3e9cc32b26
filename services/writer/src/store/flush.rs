//! Sending a transaction's pending writes: rows kept in memory by [`Tx`] and sent in a few
//! set-based statements, in foreign-key order, before commit (and when many are pending). The
//! timelines are serialised here, once per row that is really sent, not once per operation.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use orghub_contracts::{Action, Attrs, DocumentHead, EntityDocument, EntityKind, OrgEvent};
use orghub_contracts::{Timeline, Validity};
use uuid::Uuid;

use super::codec::timeline_to_json;
use super::operation::WriteError;
use super::to_u64;
use super::transaction::Tx;

/// Rows written by the transaction but not sent yet. Reads of entities go through the
/// transaction's `seen`, which always holds the latest state; the integrity rules read these
/// rows for the entities written since the last flush.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// The latest row of each entity written since the last flush.
    pub entities: HashMap<Uuid, EntityRow>,
    /// In write order.
    pub registrations: Vec<RegistrationRow>,
    /// The complete reference rows of each entity written since the last flush.
    pub references: HashMap<Uuid, Vec<ReferenceRow>>,
    /// In sequence order.
    pub events: Vec<EventRow>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.events.is_empty()
    }
}

#[derive(Debug)]
pub(super) struct EntityRow {
    pub kind: EntityKind,
    pub version: i64,
    pub deleted: bool,
    pub registered_at: DateTime<Utc>,
    pub timeline: Arc<Timeline<Attrs>>,
}

#[derive(Debug)]
pub(super) struct RegistrationRow {
    pub uuid: Uuid,
    pub version: i64,
    pub action: Action,
    pub registered_at: DateTime<Utc>,
    pub deleted: bool,
    pub timeline: Arc<Timeline<Attrs>>,
    pub actor: String,
    pub note: Option<String>,
    pub source: Option<String>,
}

#[derive(Debug)]
pub(super) struct ReferenceRow {
    pub kind: EntityKind,
    pub field: &'static str,
    pub target: Option<Uuid>,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    /// For a row without a target, what must be unique (migration 0005): the hierarchy of a
    /// root (`""`: the line organisation), the person of a primary engagement, the
    /// `facet:user_key` of a class.
    pub key: Option<String>,
}

impl ReferenceRow {
    pub fn validity(&self) -> Validity {
        Validity {
            from: self.from,
            to: self.to,
        }
    }
}

#[derive(Debug)]
pub(super) struct EventRow {
    pub sequence: i64,
    pub id: Uuid,
    pub entity: Uuid,
    pub kind: EntityKind,
    pub version: i64,
    pub action: Action,
    pub time: DateTime<Utc>,
    pub deleted: bool,
    pub timeline: Arc<Timeline<Attrs>>,
    pub traceparent: Option<String>,
    pub origin: Option<String>,
}

/// Sends the pending writes of `tx` in set-based statements, in foreign-key order.
pub(super) async fn flush(tx: &mut Tx) -> Result<(), WriteError> {
    if tx.pending.is_empty() {
        return Ok(());
    }
    let p = std::mem::take(&mut tx.pending);

    let replaced: Vec<Uuid> = p
        .references
        .keys()
        .filter(|u| tx.persisted.contains(*u))
        .copied()
        .collect();
    let (mut new_rows, mut changed_rows) = (Vec::new(), Vec::new());
    for (uuid, row) in p.entities {
        if tx.persisted.contains(&uuid) {
            changed_rows.push((uuid, row));
        } else {
            new_rows.push((uuid, row));
        }
    }
    if !new_rows.is_empty() {
        let uuids: Vec<Uuid> = new_rows.iter().map(|r| r.0).collect();
        let kinds: Vec<&str> = new_rows.iter().map(|r| r.1.kind.word()).collect();
        let versions: Vec<i64> = new_rows.iter().map(|r| r.1.version).collect();
        let deleted: Vec<bool> = new_rows.iter().map(|r| r.1.deleted).collect();
        let times: Vec<DateTime<Utc>> = new_rows.iter().map(|r| r.1.registered_at).collect();
        let timelines: Vec<serde_json::Value> = new_rows
            .iter()
            .map(|r| timeline_to_json(&r.1.timeline))
            .collect();
        sqlx::query(
            "INSERT INTO entity (uuid, kind, version, deleted, registered_at, timeline, kommune)
             SELECT u.*, $7 FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::bool[],
                                        $5::timestamptz[], $6::jsonb[]) AS u",
        )
        .bind(&uuids)
        .bind(&kinds)
        .bind(&versions)
        .bind(&deleted)
        .bind(&times)
        .bind(&timelines)
        .bind(tx.code)
        .execute(&mut *tx.db)
        .await?;
        tx.persisted.extend(uuids);
    }
    if !changed_rows.is_empty() {
        let uuids: Vec<Uuid> = changed_rows.iter().map(|r| r.0).collect();
        let versions: Vec<i64> = changed_rows.iter().map(|r| r.1.version).collect();
        let deleted: Vec<bool> = changed_rows.iter().map(|r| r.1.deleted).collect();
        let times: Vec<DateTime<Utc>> = changed_rows.iter().map(|r| r.1.registered_at).collect();
        let timelines: Vec<serde_json::Value> = changed_rows
            .iter()
            .map(|r| timeline_to_json(&r.1.timeline))
            .collect();
        sqlx::query(
            "UPDATE entity e SET version = u.version, deleted = u.deleted,
                    registered_at = u.registered_at, timeline = u.timeline
             FROM UNNEST($1::uuid[], $2::bigint[], $3::bool[], $4::timestamptz[], $5::jsonb[])
                  AS u(uuid, version, deleted, registered_at, timeline)
             WHERE e.uuid = u.uuid",
        )
        .bind(&uuids)
        .bind(&versions)
        .bind(&deleted)
        .bind(&times)
        .bind(&timelines)
        .execute(&mut *tx.db)
        .await?;
    }

    if !p.registrations.is_empty() {
        let r = &p.registrations;
        let uuids: Vec<Uuid> = r.iter().map(|x| x.uuid).collect();
        let versions: Vec<i64> = r.iter().map(|x| x.version).collect();
        let actions: Vec<&str> = r.iter().map(|x| x.action.word()).collect();
        let times: Vec<DateTime<Utc>> = r.iter().map(|x| x.registered_at).collect();
        let deleted: Vec<bool> = r.iter().map(|x| x.deleted).collect();
        let actors: Vec<&str> = r.iter().map(|x| x.actor.as_str()).collect();
        let notes: Vec<Option<&str>> = r.iter().map(|x| x.note.as_deref()).collect();
        let sources: Vec<Option<&str>> = r.iter().map(|x| x.source.as_deref()).collect();
        let timelines: Vec<serde_json::Value> =
            r.iter().map(|x| timeline_to_json(&x.timeline)).collect();
        sqlx::query(
            "INSERT INTO registration (uuid, version, action, registered_at, deleted, timeline, actor, note,
                                      source)
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[],
                                  $5::bool[], $6::jsonb[], $7::text[], $8::text[], $9::text[])",
        )
        .bind(&uuids)
        .bind(&versions)
        .bind(&actions)
        .bind(&times)
        .bind(&deleted)
        .bind(&timelines)
        .bind(&actors)
        .bind(&notes)
        .bind(&sources)
        .execute(&mut *tx.db)
        .await?;
    }

    // Only entities that had rows before this flush can have old references.
    if !replaced.is_empty() {
        sqlx::query("DELETE FROM reference WHERE source = ANY($1)")
            .bind(&replaced)
            .execute(&mut *tx.db)
            .await?;
    }
    let rows: Vec<(Uuid, ReferenceRow)> = p
        .references
        .into_iter()
        .flat_map(|(uuid, rows)| rows.into_iter().map(move |r| (uuid, r)))
        .collect();
    if !rows.is_empty() {
        let uuids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.1.kind.word()).collect();
        let fields: Vec<&str> = rows.iter().map(|r| r.1.field).collect();
        let targets: Vec<Option<Uuid>> = rows.iter().map(|r| r.1.target).collect();
        let froms: Vec<NaiveDate> = rows.iter().map(|r| r.1.from).collect();
        let tos: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.1.to).collect();
        let keys: Vec<Option<&str>> = rows.iter().map(|r| r.1.key.as_deref()).collect();
        sqlx::query(
            "INSERT INTO reference (source, source_kind, field, target, valid_from, valid_to, key,
                                    kommune)
             SELECT u.*, $8 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[],
                                        $5::date[], $6::date[], $7::text[]) AS u",
        )
        .bind(&uuids)
        .bind(&kinds)
        .bind(&fields)
        .bind(&targets)
        .bind(&froms)
        .bind(&tos)
        .bind(&keys)
        .bind(tx.code)
        .execute(&mut *tx.db)
        .await?;
    }

    if !p.events.is_empty() {
        let events: Vec<OrgEvent> = p.events.iter().map(|e| org_event(tx, e)).collect();
        let sequences: Vec<i64> = p.events.iter().map(|x| x.sequence).collect();
        let ids: Vec<Uuid> = p.events.iter().map(|x| x.id).collect();
        let entities: Vec<Uuid> = p.events.iter().map(|x| x.entity).collect();
        let versions: Vec<i64> = p.events.iter().map(|x| x.version).collect();
        let types: Vec<String> = events.iter().map(|e| e.event_type().to_string()).collect();
        let keys: Vec<String> = events.iter().map(|e| e.routing_key().to_string()).collect();
        let bodies: Vec<String> = events
            .iter()
            .zip(&p.events)
            .map(|(e, row)| e.to_structured_json_with_origin(row.origin.as_deref()))
            .collect();
        let origins: Vec<Option<&str>> = p.events.iter().map(|x| x.origin.as_deref()).collect();
        let times: Vec<DateTime<Utc>> = p.events.iter().map(|x| x.time).collect();
        let traceparents: Vec<Option<&str>> =
            p.events.iter().map(|x| x.traceparent.as_deref()).collect();
        sqlx::query(
            "INSERT INTO event (sequence, id, entity, entity_version, type, routing_key, body,
                                event_time, traceparent, origin, kommune)
             SELECT u.*, $11 FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[],
                                         $5::text[], $6::text[], $7::text[],
                                         $8::timestamptz[], $9::text[], $10::text[]) AS u",
        )
        .bind(&sequences)
        .bind(&ids)
        .bind(&entities)
        .bind(&versions)
        .bind(&types)
        .bind(&keys)
        .bind(&bodies)
        .bind(&times)
        .bind(&traceparents)
        .bind(&origins)
        .bind(tx.code)
        .execute(&mut *tx.db)
        .await?;
    }
    Ok(())
}

/// The event of a pending change: the entity document at its version.
fn org_event(tx: &Tx, e: &EventRow) -> OrgEvent {
    let head = DocumentHead {
        uuid: e.entity,
        kind: e.kind,
        kommune: tx.kommune,
        version: to_u64(e.version),
        registered_at: e.time,
    };
    OrgEvent {
        id: e.id,
        kommune: tx.kommune,
        action: e.action,
        time: e.time,
        entity_version: to_u64(e.version),
        sequence: to_u64(e.sequence),
        traceparent: e.traceparent.clone(),
        data: EntityDocument::new(head, e.deleted, Timeline::clone(&e.timeline), tx.today),
    }
}
