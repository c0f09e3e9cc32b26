//! The writing transaction: applies operations to one municipality, checks the limits and the
//! integrity rules, and records each change (entity row, registration, references, event with the
//! municipality's next sequence) as pending rows that [`super::flush`] sends.
//!
//! Every writing transaction first locks its municipality's row. That serialises writers of one
//! municipality (so sequences are gap-free and in commit order, and integrity checks see a stable
//! world) while different municipalities write in parallel.
//!
//! The operations of one request on one entity make one registration and one event: the request
//! is atomic, so its intermediate states never existed for anyone, and a request of 10,000
//! operations on one entity costs what its final state costs, not 10,000 copies of a growing
//! timeline.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use orghub_contracts::integrity::{self, Dependent, Known, Lookup};
use orghub_contracts::{
    Action, Attrs, DocumentHead, EntityDocument, EntityKind, Kommune, Timeline, Validity, limits,
};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::codec::timeline_from_json;
use super::flush::{EntityRow, EventRow, Pending, ReferenceRow, RegistrationRow};
use super::operation::{OpResult, Operation, Outcome, WriteContext, WriteError};
use super::{Store, kind_of, to_u64};

/// Pending entities past which the transaction flushes before its next operation, so that the
/// integrity queries, which leave pending entities to memory, stay small.
const FLUSH_AT: usize = 1_000;

/// The state of an entity inside a transaction.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub kind: EntityKind,
    pub kommune: i32,
    pub version: i64,
    pub deleted: bool,
    pub registered_at: DateTime<Utc>,
    pub timeline: Arc<Timeline<Attrs>>,
    /// The JSON size of the timeline's segments, summed (for the document limit).
    pub segment_bytes: usize,
}

/// Where the current request's write of an entity is among the pending rows.
#[derive(Debug, Clone, Copy)]
struct JobWrite {
    registration: usize,
    event: usize,
    first_action: Action,
}

#[derive(Debug)]
pub(super) struct Tx {
    pub(super) db: Transaction<'static, Postgres>,
    pub(super) kommune: Kommune,
    pub(super) code: i32,
    pub(super) sequence: i64,
    first_sequence: i64,
    pub(super) today: NaiveDate,
    /// The writer's clock; `today` is its date when the municipality's lock was taken.
    clock: crate::clock::Clock,
    /// Who writes the request being applied (a group of requests changes it per request).
    ctx: WriteContext,
    /// Entities read or written in this transaction, as it sees them now.
    seen: HashMap<Uuid, Option<Current>>,
    /// Entities that have a row in the `entity` table (read from it, or flushed).
    pub(super) persisted: HashSet<Uuid>,
    /// Writes not yet sent to PostgreSQL; see [`Tx::flush`].
    pub(super) pending: Pending,
    /// The entities the current request wrote whose rows are still pending.
    job: HashMap<Uuid, JobWrite>,
    /// Per person: its primary engagements' intervals, as this transaction sees them now. Exact
    /// for every person it holds (loaded with a group's entities, kept so by [`Tx::record`]), so
    /// an import's primary checks cost one query per batch, not one per engagement.
    primaries: HashMap<Uuid, Vec<(Uuid, Validity)>>,
}

/// The JSON size of a segment.
fn segment_bytes(segment: &orghub_contracts::Segment<Attrs>) -> usize {
    limits::json_bytes(segment)
}

impl Tx {
    pub(super) async fn begin(store: &Store, kommune: Kommune) -> Result<Tx, WriteError> {
        let mut db = store.pool.begin().await?;
        let code = i32::from(kommune.code());
        let sequence: i64 =
            sqlx::query_scalar("SELECT last_sequence FROM municipality WHERE code = $1 FOR UPDATE")
                .bind(code)
                .fetch_one(&mut *db)
                .await?;
        Ok(Tx {
            db,
            kommune,
            code,
            sequence,
            first_sequence: sequence,
            today: store.clock.today(),
            clock: store.clock,
            ctx: WriteContext::default(),
            seen: HashMap::new(),
            persisted: HashSet::new(),
            pending: Pending::default(),
            job: HashMap::new(),
            primaries: HashMap::new(),
        })
    }

    /// Starts applying the next request: what follows is written as `ctx`.
    pub(super) fn begin_job(&mut self, ctx: WriteContext) {
        self.ctx = ctx;
        self.job.clear();
    }

    pub(super) async fn commit(mut self) -> Result<(), WriteError> {
        self.flush().await?;
        if self.sequence != self.first_sequence {
            sqlx::query("UPDATE municipality SET last_sequence = $2 WHERE code = $1")
                .bind(self.code)
                .bind(self.sequence)
                .execute(&mut *self.db)
                .await?;
            // Wakes the relay once the transaction commits (NOTIFY is transactional).
            sqlx::query("SELECT pg_notify('orghub_events', $1)")
                .bind(self.kommune.to_string())
                .execute(&mut *self.db)
                .await?;
        }
        self.db.commit().await?;
        Ok(())
    }

    /// Reads the entities among `uuids` that this transaction has not seen yet, in one query.
    pub(super) async fn preload(&mut self, uuids: &[Uuid]) -> Result<(), WriteError> {
        let mut wanted: Vec<Uuid> = uuids
            .iter()
            .copied()
            .filter(|u| !self.seen.contains_key(u))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query(
            "SELECT uuid, kind, kommune, version, deleted, registered_at, timeline
             FROM entity WHERE uuid = ANY($1)",
        )
        .bind(&wanted)
        .fetch_all(&mut *self.db)
        .await?;
        for uuid in &wanted {
            self.seen.insert(*uuid, None);
        }
        let mut persons = Vec::new();
        for row in rows {
            let uuid: Uuid = row.try_get("uuid")?;
            let kind = kind_of(row.try_get("kind")?)?;
            let timeline = timeline_from_json(kind, row.try_get("timeline")?)?;
            let current = Current {
                kind,
                kommune: row.try_get("kommune")?,
                version: row.try_get("version")?,
                deleted: row.try_get("deleted")?,
                registered_at: row.try_get("registered_at")?,
                segment_bytes: timeline.segments().iter().map(segment_bytes).sum(),
                timeline: Arc::new(timeline),
            };
            if kind == EntityKind::Person {
                persons.push(uuid);
            }
            self.persisted.insert(uuid);
            self.seen.insert(uuid, Some(current));
        }
        self.load_primaries(&persons).await
    }

    /// Reads the primary engagements of the stored persons `uuids` into `primaries`: stored
    /// rows, except those of entities written since the last flush, whose pending rows count
    /// instead. One index lookup per person (the `OFFSET 0` keeps the planner from trading them
    /// for a scan of every primary engagement of the municipality).
    async fn load_primaries(&mut self, uuids: &[Uuid]) -> Result<(), WriteError> {
        let wanted: Vec<Uuid> = uuids
            .iter()
            .copied()
            .filter(|u| !self.primaries.contains_key(u))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = wanted.iter().map(Uuid::to_string).collect();
        let pending: Vec<Uuid> = self.pending.references.keys().copied().collect();
        let rows = sqlx::query(
            "SELECT r.key, r.source, r.valid_from, r.valid_to
             FROM UNNEST($2::text[]) AS k(key)
             CROSS JOIN LATERAL (
                 SELECT key, source, valid_from, valid_to FROM reference
                 WHERE kommune = $1 AND target IS NULL AND field = '/primary' AND key = k.key
                   AND NOT (source = ANY($3))
                 OFFSET 0) AS r",
        )
        .bind(self.code)
        .bind(&keys)
        .bind(&pending)
        .fetch_all(&mut *self.db)
        .await?;
        for uuid in &wanted {
            self.primaries.insert(*uuid, Vec::new());
        }
        for row in rows {
            let key: String = row.try_get("key")?;
            let Ok(person) = Uuid::parse_str(&key) else {
                continue;
            };
            let validity = Validity {
                from: row.try_get("valid_from")?,
                to: row.try_get("valid_to")?,
            };
            if let Some(list) = self.primaries.get_mut(&person) {
                list.push((row.try_get("source")?, validity));
            }
        }
        let wanted: HashSet<Uuid> = wanted.into_iter().collect();
        for (source, rows) in &self.pending.references {
            for r in rows
                .iter()
                .filter(|r| r.field == PRIMARY && r.target.is_none())
            {
                let Some(person) = r.key.as_deref().and_then(|k| Uuid::parse_str(k).ok()) else {
                    continue;
                };
                if wanted.contains(&person)
                    && let Some(list) = self.primaries.get_mut(&person)
                {
                    list.push((*source, r.validity()));
                }
            }
        }
        Ok(())
    }

    /// Keeps `primaries` exact when `uuid`'s timeline changes from `old` to `new`.
    fn update_primaries(&mut self, uuid: Uuid, old: &Timeline<Attrs>, new: &Timeline<Attrs>) {
        let persons = old
            .segments()
            .iter()
            .chain(new.segments())
            .filter_map(|s| match &s.attrs {
                Attrs::Engagement(e) => Some(e.person),
                _ => None,
            });
        for person in persons {
            let Some(list) = self.primaries.get_mut(&person) else {
                continue;
            };
            list.retain(|(source, _)| *source != uuid);
            list.extend(new.segments().iter().filter_map(|s| match &s.attrs {
                Attrs::Engagement(e) if e.primary && e.person == person => Some((uuid, s.validity)),
                _ => None,
            }));
        }
    }

    async fn load(&mut self, uuid: Uuid) -> Result<Option<Current>, WriteError> {
        if !self.seen.contains_key(&uuid) {
            self.preload(&[uuid]).await?;
        }
        Ok(self.seen.get(&uuid).cloned().flatten())
    }

    /// Applies one operation of the current request.
    pub(super) async fn apply_one(&mut self, op: &Operation) -> Result<Outcome, WriteError> {
        if self.pending.entities.len() >= FLUSH_AT {
            self.flush().await?;
        }
        let (kind, uuid) = (op.kind(), op.uuid());
        let existing = self.load(uuid).await?;
        if let Some(e) = &existing {
            if e.kommune != self.code {
                return Err(WriteError::OtherKommune { uuid });
            }
            if e.kind != kind {
                return Err(WriteError::WrongKind {
                    uuid,
                    existing: e.kind,
                    requested: kind,
                });
            }
        }
        let live = existing.as_ref().filter(|e| !e.deleted);
        let old_timeline = live.map(|e| Arc::clone(&e.timeline)).unwrap_or_default();
        let (timeline, action, deleted) = match op {
            Operation::Put { state, .. } => {
                let mut t = Timeline::clone(&old_timeline);
                t.put(state.validity, state.attrs.clone());
                if self.ctx.keeps_cpr {
                    keep_cpr(&old_timeline, state, &mut t);
                }
                let action = if live.is_some() {
                    Action::Updated
                } else {
                    Action::Created
                };
                (t, action, false)
            }
            Operation::Terminate { to, .. } => {
                let span = old_timeline
                    .span()
                    .ok_or(WriteError::NotFound { kind, uuid })?;
                if *to <= span.from {
                    return Err(WriteError::Invalid(format!(
                        "cannot terminate at {to}: the {kind} is valid from {}; to remove an entity \
                         registered in error, DELETE it",
                        span.from
                    )));
                }
                let mut t = Timeline::clone(&old_timeline);
                t.terminate(*to);
                (t, Action::Terminated, false)
            }
            Operation::Delete { .. } => {
                if existing.is_none() {
                    return Err(WriteError::NotFound { kind, uuid });
                }
                (Timeline::new(), Action::Deleted, true)
            }
            Operation::Patch {
                validity, patch, ..
            } => {
                let t = super::patch::patched(kind, &old_timeline, *validity, patch)?;
                let action = if live.is_some() {
                    Action::Updated
                } else {
                    Action::Created
                };
                (t, action, false)
            }
            Operation::End { version, .. } => {
                // Written since the import looked (or gone): not the import's to end.
                let Some(span) = live
                    .filter(|e| e.version == *version)
                    .and_then(|_| old_timeline.span())
                else {
                    return Ok(Outcome::Unchanged);
                };
                if span.from < self.today {
                    let mut t = Timeline::clone(&old_timeline);
                    t.terminate(self.today);
                    (t, Action::Terminated, false)
                } else {
                    (Timeline::new(), Action::Deleted, true)
                }
            }
        };
        let unchanged = match &existing {
            Some(e) => e.deleted == deleted && (deleted || *e.timeline == timeline),
            None => false,
        };
        if unchanged {
            return Ok(Outcome::Unchanged);
        }
        let old_bytes = live.map_or(0, |e| e.segment_bytes);
        let segment_bytes = self.check_limits(&old_timeline, old_bytes, &timeline)?;
        let errors = integrity::check_references(self, uuid, &old_timeline, &timeline).await?;
        if !errors.is_empty() {
            return Err(WriteError::Integrity(errors));
        }
        let dependents =
            integrity::check_dependents(self, kind, uuid, &old_timeline, &timeline).await?;
        if !dependents.is_empty() {
            return Err(WriteError::Dependents {
                kind,
                uuid,
                dependents,
            });
        }
        // A second write of the entity by the same request replaces the first one's rows.
        let version = match (&existing, self.job.contains_key(&uuid)) {
            (Some(e), true) => e.version,
            (Some(e), false) => e.version + 1,
            (None, _) => 1,
        };
        let mut registered_at = self.registration_time();
        if let Some(e) = &existing
            && registered_at <= e.registered_at
        {
            registered_at = e.registered_at + chrono::Duration::microseconds(1);
        }
        self.record(
            Current {
                kind,
                kommune: self.code,
                version,
                deleted,
                registered_at,
                timeline: Arc::new(timeline),
                segment_bytes,
            },
            uuid,
            action,
        );
        Ok(match action {
            Action::Created => Outcome::Created,
            Action::Updated => Outcome::Updated,
            Action::Terminated => Outcome::Terminated,
            Action::Deleted => Outcome::Deleted,
            // Midnight transitions are never the result of a write.
            Action::Effective | Action::Expired => Outcome::Updated,
        })
    }

    /// Now by the writer's clock, but never past the end of `today`: a transaction that began
    /// before a midnight and writes after it computed `current` for the day before, and the
    /// midnight transition (which waits for it, see `store::midnight`) relies on a registration
    /// time on the day its `current` was computed for.
    fn registration_time(&self) -> DateTime<Utc> {
        let now = self.clock.now().trunc_subsecs(6);
        match self.today.succ_opt() {
            Some(tomorrow) => {
                now.min(crate::clock::midnight(tomorrow) - chrono::Duration::microseconds(1))
            }
            None => now,
        }
    }

    /// Refuses a timeline that grows past the limits of DESIGN §2; returns its segments' size.
    /// A timeline already past a limit (stored before it existed) may still shrink.
    fn check_limits(
        &self,
        old: &Timeline<Attrs>,
        old_bytes: usize,
        new: &Timeline<Attrs>,
    ) -> Result<usize, WriteError> {
        let diff = new.diff(old);
        let removed: usize = diff.removed.iter().map(|s| segment_bytes(s)).sum();
        let added: usize = diff.added.iter().map(|s| segment_bytes(s)).sum();
        let bytes = (old_bytes + added).saturating_sub(removed);
        let n = new.segments().len();
        if n > limits::MAX_SEGMENTS && n > old.segments().len() {
            return Err(WriteError::Limit(format!(
                "the timeline would have {n} segments, at most {} are allowed",
                limits::MAX_SEGMENTS
            )));
        }
        let current = new.at(self.today).map_or(0, segment_bytes);
        let document = limits::document_bytes(bytes, n, current);
        if document > limits::MAX_DOCUMENT_BYTES && bytes > old_bytes {
            return Err(WriteError::Limit(format!(
                "the entity document would be about {document} bytes, at most {} are allowed",
                limits::MAX_DOCUMENT_BYTES
            )));
        }
        Ok(bytes)
    }

    fn head(
        &self,
        uuid: Uuid,
        kind: EntityKind,
        version: i64,
        registered_at: DateTime<Utc>,
    ) -> DocumentHead {
        DocumentHead {
            uuid,
            kind,
            kommune: self.kommune,
            version: to_u64(version),
            registered_at,
        }
    }

    /// The results of the current request's operations: each entity's document as the request
    /// left it, built once and shared by every operation on it.
    pub(super) fn results(&self, applied: &[(Uuid, Outcome)]) -> Vec<OpResult> {
        let mut documents: HashMap<Uuid, Arc<EntityDocument<Attrs>>> = HashMap::new();
        let mut out = Vec::with_capacity(applied.len());
        for (uuid, outcome) in applied {
            let document = documents.entry(*uuid).or_insert_with(|| {
                let e = self.seen.get(uuid).cloned().flatten();
                let document = match e {
                    Some(e) => EntityDocument::new(
                        self.head(*uuid, e.kind, e.version, e.registered_at),
                        e.deleted,
                        Timeline::clone(&e.timeline),
                        self.today,
                    ),
                    // Not reached: an applied operation's entity is always seen.
                    None => EntityDocument::new(
                        self.head(*uuid, EntityKind::Unit, 0, self.clock.now()),
                        true,
                        Timeline::new(),
                        self.today,
                    ),
                };
                Arc::new(document)
            });
            out.push(OpResult {
                outcome: *outcome,
                document: Arc::clone(document),
            });
        }
        out
    }

    /// Records a change: the entity row, its registration, its references and its event, with
    /// the municipality's next sequence (or, for the current request's second write of the
    /// entity, in place of its first). Sent to PostgreSQL by [`Tx::flush`].
    fn record(&mut self, state: Current, uuid: Uuid, action: Action) {
        let timeline = Arc::clone(&state.timeline);
        let mut references = Vec::new();
        for seg in timeline.segments() {
            for r in seg.attrs.references() {
                references.push(ReferenceRow {
                    kind: state.kind,
                    field: r.field,
                    target: Some(r.uuid),
                    from: seg.validity.from,
                    to: seg.validity.to,
                    key: None,
                });
            }
            let keyed = |field: &'static str, key: String| ReferenceRow {
                kind: state.kind,
                field,
                target: None,
                from: seg.validity.from,
                to: seg.validity.to,
                key: Some(key),
            };
            match &seg.attrs {
                Attrs::Unit(u) if u.parent.is_none() => {
                    references.push(keyed(ROOT, hierarchy_key(u.hierarchy)));
                }
                Attrs::Engagement(e) if e.primary => {
                    references.push(keyed(PRIMARY, e.person.to_string()));
                }
                Attrs::Class(c) => {
                    references.push(keyed(CLASS_KEY, class_key(c.facet, c.user_key.as_str())));
                }
                _ => {}
            }
        }
        // A person that never existed before has no primary engagement anywhere yet.
        if state.kind == EntityKind::Person && matches!(self.seen.get(&uuid), Some(None)) {
            self.primaries.entry(uuid).or_default();
        }
        if state.kind == EntityKind::Engagement {
            let old = self
                .seen
                .get(&uuid)
                .and_then(Option::as_ref)
                .map(|c| Arc::clone(&c.timeline))
                .unwrap_or_default();
            self.update_primaries(uuid, &old, &timeline);
        }
        self.pending.references.insert(uuid, references);
        self.pending.entities.insert(
            uuid,
            EntityRow {
                kind: state.kind,
                version: state.version,
                deleted: state.deleted,
                registered_at: state.registered_at,
                timeline: Arc::clone(&timeline),
            },
        );
        let registration = RegistrationRow {
            uuid,
            version: state.version,
            action,
            registered_at: state.registered_at,
            deleted: state.deleted,
            timeline: Arc::clone(&timeline),
            actor: self.ctx.actor.clone(),
            note: self.ctx.note.clone(),
            source: self.ctx.source.clone(),
        };
        let mut event = EventRow {
            sequence: self.sequence + 1,
            id: Uuid::now_v7(),
            entity: uuid,
            kind: state.kind,
            version: state.version,
            action,
            time: state.registered_at,
            deleted: state.deleted,
            timeline,
            traceparent: self.ctx.traceparent.clone(),
            origin: self.ctx.source.clone(),
        };
        match self.job.get(&uuid).copied() {
            Some(w) => {
                let action = match (w.first_action, action) {
                    (_, Action::Deleted) => Action::Deleted,
                    (Action::Created, _) => Action::Created,
                    (_, latest) => latest,
                };
                event.sequence = self.pending.events[w.event].sequence;
                event.id = self.pending.events[w.event].id;
                event.action = action;
                self.pending.events[w.event] = event;
                self.pending.registrations[w.registration] = RegistrationRow {
                    action,
                    ..registration
                };
            }
            None => {
                self.sequence += 1;
                self.job.insert(
                    uuid,
                    JobWrite {
                        registration: self.pending.registrations.len(),
                        event: self.pending.events.len(),
                        first_action: action,
                    },
                );
                self.pending.registrations.push(registration);
                self.pending.events.push(event);
            }
        }
        self.seen.insert(uuid, Some(state));
    }

    /// Sends the pending writes (see [`super::flush`]); the current request's later writes of an
    /// entity are then new registrations.
    pub(super) async fn flush(&mut self) -> Result<(), WriteError> {
        self.job.clear();
        super::flush::flush(self).await
    }
}

/// Puts back into `new` the CPR numbers `old` had where `state` (a person without one) was
/// written: what a writer without the `cpr` scope cannot see, it does not clear.
fn keep_cpr(
    old: &Timeline<Attrs>,
    state: &orghub_contracts::Segment<Attrs>,
    new: &mut Timeline<Attrs>,
) {
    let Attrs::Person(written) = &state.attrs else {
        return;
    };
    if written.cpr.is_some() {
        return;
    }
    for seg in old.segments() {
        if let Attrs::Person(stored) = &seg.attrs
            && stored.cpr.is_some()
            && let Some(overlap) = seg.validity.intersect(&state.validity)
        {
            let mut kept = written.clone();
            kept.cpr.clone_from(&stored.cpr);
            new.put(overlap, Attrs::Person(kept));
        }
    }
}

/// The `field` of a unit's root row (target null): keyed by its hierarchy.
const ROOT: &str = "/parent";
/// The `field` of a primary engagement's row: keyed by its person.
const PRIMARY: &str = "/primary";
/// The `field` of a class's row: keyed by facet and user_key.
const CLASS_KEY: &str = "/user_key";

/// The key of a root row: the hierarchy class, or `""` for the line organisation.
fn hierarchy_key(hierarchy: Option<Uuid>) -> String {
    hierarchy.map(|h| h.to_string()).unwrap_or_default()
}

/// The key of a class row: unique per facet and user_key (a facet key has no `:`).
fn class_key(facet: orghub_contracts::Facet, user_key: &str) -> String {
    format!("{}:{user_key}", facet.key())
}

impl Tx {
    /// An entity other than `besides` with a keyed row (`field`, `key`) during some date of
    /// `during`: the pending rows first, then the stored ones of entities not written since the
    /// last flush (one lookup on the `reference_keys` index).
    async fn keyed_besides(
        &mut self,
        field: &'static str,
        key: &str,
        besides: Uuid,
        during: Validity,
    ) -> Result<Option<Uuid>, WriteError> {
        for (source, rows) in &self.pending.references {
            let hit = rows.iter().any(|r| {
                r.target.is_none()
                    && r.field == field
                    && r.key.as_deref() == Some(key)
                    && r.validity().overlaps(&during)
            });
            if *source != besides && hit {
                return Ok(Some(*source));
            }
        }
        let pending: Vec<Uuid> = self.pending.references.keys().copied().collect();
        let other = sqlx::query_scalar(
            "SELECT source FROM reference
             WHERE kommune = $1 AND target IS NULL AND field = $2 AND key = $3 AND source <> $4
               AND daterange(valid_from, valid_to) && daterange($5, $6)
               AND NOT (source = ANY($7))
             LIMIT 1",
        )
        .bind(self.code)
        .bind(field)
        .bind(key)
        .bind(besides)
        .bind(during.from)
        .bind(during.to)
        .bind(&pending)
        .fetch_optional(&mut *self.db)
        .await?;
        Ok(other)
    }
}

/// The world as this transaction sees it: the entities through `seen` (loaded once each), the
/// `reference` table for what is stored, and the pending rows for what it wrote since its last
/// flush (their stored rows are outdated, so the queries leave them out).
impl Lookup for Tx {
    type Error = WriteError;

    async fn entity(&mut self, uuid: Uuid) -> Result<Option<Known<'_>>, WriteError> {
        if !self.seen.contains_key(&uuid) {
            self.preload(&[uuid]).await?;
        }
        let code = self.code;
        Ok(self
            .seen
            .get(&uuid)
            .and_then(Option::as_ref)
            .map(|c| Known {
                kind: c.kind,
                same_kommune: c.kommune == code,
                deleted: c.deleted,
                timeline: &c.timeline,
            }))
    }

    async fn root_besides(
        &mut self,
        unit: Uuid,
        hierarchy: Option<Uuid>,
        during: Validity,
    ) -> Result<Option<Uuid>, WriteError> {
        self.keyed_besides(ROOT, &hierarchy_key(hierarchy), unit, during)
            .await
    }

    async fn primary_besides(
        &mut self,
        person: Uuid,
        engagement: Uuid,
        during: Validity,
    ) -> Result<Option<Uuid>, WriteError> {
        if let Some(list) = self.primaries.get(&person) {
            return Ok(list
                .iter()
                .find(|(source, v)| *source != engagement && v.overlaps(&during))
                .map(|(source, _)| *source));
        }
        self.keyed_besides(PRIMARY, &person.to_string(), engagement, during)
            .await
    }

    async fn class_key_besides(
        &mut self,
        class: Uuid,
        facet: orghub_contracts::Facet,
        user_key: &str,
        during: Validity,
    ) -> Result<Option<Uuid>, WriteError> {
        self.keyed_besides(CLASS_KEY, &class_key(facet, user_key), class, during)
            .await
    }

    async fn dependents(&mut self, target: Uuid) -> Result<Vec<Dependent>, WriteError> {
        let mut out = Vec::new();
        for (source, rows) in &self.pending.references {
            for r in rows {
                if r.target == Some(target) && *source != target {
                    out.push(Dependent {
                        kind: r.kind,
                        uuid: *source,
                        validity: r.validity(),
                    });
                }
            }
        }
        let pending: Vec<Uuid> = self.pending.references.keys().copied().collect();
        let rows = sqlx::query(
            "SELECT source, source_kind, valid_from, valid_to FROM reference
             WHERE target = $1 AND source <> $1 AND NOT (source = ANY($2))",
        )
        .bind(target)
        .bind(&pending)
        .fetch_all(&mut *self.db)
        .await?;
        for row in rows {
            out.push(Dependent {
                kind: kind_of(row.try_get("source_kind")?)?,
                uuid: row.try_get("source")?,
                validity: Validity {
                    from: row.try_get("valid_from")?,
                    to: row.try_get("valid_to")?,
                },
            });
        }
        Ok(out)
    }
}
