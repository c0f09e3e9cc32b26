//! The one way to change state: apply operations in a transaction that also writes each change's
//! registration, references and event row, with the municipality's next sequence.
//!
//! Every writing transaction first locks its municipality's row. That serialises writers of one
//! municipality (so sequences are gap-free and in commit order, and integrity checks see a stable
//! world) while different municipalities write in parallel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use orghub_contracts::{
    Action, Attrs, DocumentHead, EntityDocument, EntityKind, FieldError, Kommune, OrgEvent,
    Segment, Timeline, Validity,
};
use sqlx::{Postgres, Row, Transaction};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::codec::{timeline_from_json, timeline_to_json};
use super::{Store, StoreError, kind_of, to_u64};

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
}

impl Operation {
    pub fn uuid(&self) -> Uuid {
        match self {
            Operation::Put { uuid, .. }
            | Operation::Terminate { uuid, .. }
            | Operation::Delete { uuid, .. } => *uuid,
        }
    }

    pub fn kind(&self) -> EntityKind {
        match self {
            Operation::Put { kind, .. }
            | Operation::Terminate { kind, .. }
            | Operation::Delete { kind, .. } => *kind,
        }
    }
}

/// Who writes, and why.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    pub actor: String,
    pub note: Option<String>,
    pub traceparent: Option<String>,
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

/// The result of one applied operation: the entity document (with sensitive attributes).
#[derive(Debug, Clone)]
pub struct OpResult {
    pub outcome: Outcome,
    pub document: EntityDocument<Attrs>,
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        WriteError::Store(StoreError::Database(e))
    }
}

/// The state of an entity inside a transaction.
#[derive(Debug, Clone)]
struct Current {
    kind: EntityKind,
    kommune: i32,
    version: i64,
    deleted: bool,
    registered_at: DateTime<Utc>,
    timeline: Timeline<Attrs>,
}

struct Tx {
    tx: Transaction<'static, Postgres>,
    kommune: Kommune,
    code: i32,
    sequence: i64,
    first_sequence: i64,
    today: NaiveDate,
    /// Who writes the operation being applied (a group of requests changes it per request).
    ctx: WriteContext,
    /// Entities read or written in this transaction.
    seen: HashMap<Uuid, Option<Current>>,
    /// Entities that have a row in the `entity` table (read from it, or flushed).
    persisted: HashSet<Uuid>,
    /// Writes not yet sent to PostgreSQL; see [`Tx::flush`].
    pending: Pending,
}

/// Rows written by the transaction but not sent yet. They are sent in a few set-based statements
/// by [`Tx::flush`]: before any query that reads the `reference` table, and before commit. Reads
/// of entities go through `seen`, which always holds the latest state.
#[derive(Default)]
struct Pending {
    /// The latest row of each entity written since the last flush.
    entities: HashMap<Uuid, EntityRow>,
    /// In write order.
    registrations: Vec<RegistrationRow>,
    /// The complete reference rows of each entity written since the last flush.
    references: HashMap<Uuid, Vec<ReferenceRow>>,
    /// In sequence order.
    events: Vec<EventRow>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.events.is_empty()
    }
}

struct EntityRow {
    kind: EntityKind,
    version: i64,
    deleted: bool,
    registered_at: DateTime<Utc>,
    timeline: serde_json::Value,
}

struct RegistrationRow {
    uuid: Uuid,
    version: i64,
    action: Action,
    registered_at: DateTime<Utc>,
    deleted: bool,
    timeline: serde_json::Value,
    actor: String,
    note: Option<String>,
}

struct ReferenceRow {
    kind: EntityKind,
    field: &'static str,
    target: Option<Uuid>,
    from: NaiveDate,
    to: Option<NaiveDate>,
}

struct EventRow {
    sequence: i64,
    id: Uuid,
    entity: Uuid,
    version: i64,
    event_type: String,
    routing_key: String,
    body: String,
    time: DateTime<Utc>,
    traceparent: Option<String>,
}

/// Kinds that other entities can point at (so writing them may break a dependent).
fn can_be_referenced(kind: EntityKind) -> bool {
    matches!(
        kind,
        EntityKind::Unit | EntityKind::Person | EntityKind::Engagement
    )
}

/// The UUIDs an operation reads: its own and those its state references.
fn uuids_of(op: &Operation) -> Vec<Uuid> {
    let mut out = vec![op.uuid()];
    if let Operation::Put { state, .. } = op {
        out.extend(state.attrs.references().into_iter().map(|r| r.uuid));
    }
    out
}

/// Formats an interval for messages.
fn show(v: &Validity) -> String {
    match v.to {
        Some(to) => format!("[{}, {to})", v.from),
        None => format!("[{}, open)", v.from),
    }
}

/// The writing requests of one municipality that wait for their turn.
///
/// Flat combining: a request queues itself, then waits for the municipality's turn; whoever gets
/// the turn takes every queued request (its own, unless an earlier turn took it) and applies them
/// together. Waiting happens here, not on a database connection: a request holds a pooled
/// connection only while its group runs, so a burst of writes to one municipality cannot starve
/// the pool, and the lock, the round trips and the commit are paid once per group.
#[derive(Debug, Default)]
pub(super) struct Combiner {
    queue: std::sync::Mutex<Vec<Job>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The most requests applied in one transaction.
const MAX_GROUP: usize = 128;

impl Combiner {
    fn enqueue(&self, job: Job) {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(job);
    }

    /// The queued requests, oldest first, at most [`MAX_GROUP`] (the rest wait for a later turn).
    fn take(&self) -> Vec<Job> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = queue.len().min(MAX_GROUP);
        let rest = queue.split_off(at);
        std::mem::replace(&mut *queue, rest)
    }
}

#[derive(Debug)]
struct Job {
    ops: Vec<Operation>,
    ctx: WriteContext,
    reply: oneshot::Sender<Result<Vec<OpResult>, (usize, WriteError)>>,
}

enum GroupFailure {
    /// The request at `job` was refused at its operation `op`.
    Refused {
        job: usize,
        op: usize,
        error: WriteError,
    },
    Store(WriteError),
}

impl Store {
    /// Applies all operations atomically: all are written, or none (the first refusal is returned
    /// with its index).
    ///
    /// Requests of one municipality are serialised (its row lock), so waiting ones are combined:
    /// whoever gets the municipality's turn applies every request queued by then in one
    /// transaction, each with its own result, and commits once (see [`Combiner`]). A refused
    /// request leaves no trace: the group is applied again without it.
    pub async fn apply(
        &self,
        kommune: Kommune,
        ops: Vec<Operation>,
        ctx: &WriteContext,
    ) -> Result<Vec<OpResult>, (usize, WriteError)> {
        let combiner = self.combiner(kommune);
        let (reply, answer) = oneshot::channel();
        combiner.enqueue(Job {
            ops,
            ctx: ctx.clone(),
            reply,
        });
        let turn = Arc::clone(&combiner.turn).lock_owned().await;
        let jobs = combiner.take();
        if !jobs.is_empty() {
            // In a task of its own, so that a caller who goes away (a closed HTTP connection
            // drops the handler) cannot abandon the other callers' requests half done.
            let store = self.clone();
            let group = tokio::spawn(async move {
                store.apply_group(kommune, jobs).await;
                drop(turn);
            });
            let _ = group.await;
        }
        answer.await.unwrap_or_else(|_| {
            Err((
                0,
                WriteError::Store(StoreError::Corrupt(
                    "the writing task ended without an answer".into(),
                )),
            ))
        })
    }

    /// Applies a group of requests in one transaction. A refused request is answered and the
    /// transaction is rolled back and run again without it (what came before it is unchanged,
    /// so the refusal stands); a store failure answers every request of the group.
    async fn apply_group(&self, kommune: Kommune, mut jobs: Vec<Job>) {
        // A request whose caller went away before its turn (a closed connection drops the
        // handler) is not applied: nobody would learn of it, and it would land at some later
        // write to the municipality.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            return;
        }
        if let Some(h) = &self.group_sizes {
            h.observe(jobs.len() as f64);
        }
        while !jobs.is_empty() {
            match self.try_group(kommune, &jobs).await {
                Ok(results) => {
                    for (job, result) in jobs.into_iter().zip(results) {
                        let _ = job.reply.send(Ok(result));
                    }
                    return;
                }
                Err(GroupFailure::Refused { job, op, error }) => {
                    let refused = jobs.remove(job);
                    let _ = refused.reply.send(Err((op, error)));
                }
                Err(GroupFailure::Store(error)) => {
                    let text = error.to_string();
                    let mut first = Some(error);
                    for job in jobs {
                        let error = first.take().unwrap_or_else(|| {
                            WriteError::Store(StoreError::Corrupt(format!(
                                "a request applied in the same transaction failed: {text}"
                            )))
                        });
                        let _ = job.reply.send(Err((0, error)));
                    }
                    return;
                }
            }
        }
    }

    async fn try_group(
        &self,
        kommune: Kommune,
        jobs: &[Job],
    ) -> Result<Vec<Vec<OpResult>>, GroupFailure> {
        let first_ctx = jobs.first().map(|j| j.ctx.clone()).unwrap_or_default();
        let mut tx = Tx::begin(self, kommune, first_ctx)
            .await
            .map_err(GroupFailure::Store)?;
        let wanted: Vec<Uuid> = jobs
            .iter()
            .flat_map(|j| j.ops.iter().flat_map(uuids_of))
            .collect();
        tx.preload(&wanted).await.map_err(GroupFailure::Store)?;
        let mut results = Vec::with_capacity(jobs.len());
        for (j, job) in jobs.iter().enumerate() {
            tx.ctx = job.ctx.clone();
            let mut result = Vec::with_capacity(job.ops.len());
            for (i, op) in job.ops.iter().enumerate() {
                match tx.apply_one(op.clone()).await {
                    Ok(r) => result.push(r),
                    Err(WriteError::Store(e)) => {
                        return Err(GroupFailure::Store(WriteError::Store(e)));
                    }
                    Err(error) => {
                        return Err(GroupFailure::Refused {
                            job: j,
                            op: i,
                            error,
                        });
                    }
                }
            }
            results.push(result);
        }
        tx.commit().await.map_err(GroupFailure::Store)?;
        Ok(results)
    }

    /// Like [`Store::apply`], guarded by an idempotency key: a retry with the same key and body
    /// gets the first response back; the same key with another body is refused. The key is
    /// checked after the municipality lock, so two concurrent retries cannot both apply.
    pub async fn apply_idempotent(
        &self,
        kommune: Kommune,
        ops: Vec<Operation>,
        ctx: &WriteContext,
        key: &str,
        request_hash: &[u8],
        render: impl FnOnce(&[OpResult]) -> (u16, serde_json::Value),
    ) -> Result<Idempotent, (usize, WriteError)> {
        let combiner = self.combiner(kommune);
        let _turn = combiner.turn.lock().await;
        let mut tx = Tx::begin(self, kommune, ctx.clone())
            .await
            .map_err(|e| (0, e))?;
        let stored = sqlx::query(
            "SELECT request_hash, status, response FROM idempotency_key WHERE kommune = $1 AND key = $2",
        )
        .bind(tx.code)
        .bind(key)
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(|e| (0, e.into()))?;
        if let Some(row) = stored {
            let hash: Vec<u8> = row.try_get("request_hash").map_err(|e| (0, e.into()))?;
            if hash != request_hash {
                return Ok(Idempotent::Mismatch);
            }
            let status: i32 = row.try_get("status").map_err(|e| (0, e.into()))?;
            let body = row.try_get("response").map_err(|e| (0, e.into()))?;
            return Ok(Idempotent::Replay {
                status: u16::try_from(status).unwrap_or(200),
                body,
            });
        }
        let wanted: Vec<Uuid> = ops.iter().flat_map(uuids_of).collect();
        tx.preload(&wanted).await.map_err(|e| (0, e))?;
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            results.push(tx.apply_one(op).await.map_err(|e| (i, e))?);
        }
        let (status, body) = render(&results);
        sqlx::query(
            "INSERT INTO idempotency_key (kommune, key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tx.code)
        .bind(key)
        .bind(request_hash)
        .bind(i32::from(status))
        .bind(&body)
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| (0, e.into()))?;
        tx.commit().await.map_err(|e| (0, e))?;
        Ok(Idempotent::Applied {
            results,
            status,
            body,
        })
    }

    /// Applies operations one by one in one transaction, skipping refused ones (for imports).
    /// Only a store failure aborts the whole batch.
    pub async fn apply_each(
        &self,
        kommune: Kommune,
        ops: Vec<Operation>,
        ctx: &WriteContext,
    ) -> Result<Vec<Result<OpResult, WriteError>>, StoreError> {
        let unwrap_store = |e: WriteError| match e {
            WriteError::Store(s) => s,
            other => StoreError::Corrupt(other.to_string()),
        };
        let combiner = self.combiner(kommune);
        let _turn = combiner.turn.lock().await;
        let mut tx = Tx::begin(self, kommune, ctx.clone())
            .await
            .map_err(unwrap_store)?;
        let wanted: Vec<Uuid> = ops.iter().flat_map(uuids_of).collect();
        tx.preload(&wanted).await.map_err(unwrap_store)?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match tx.apply_one(op).await {
                Err(WriteError::Store(e)) => return Err(e),
                other => results.push(other),
            }
        }
        tx.commit().await.map_err(unwrap_store)?;
        Ok(results)
    }

    /// Live entities of the municipality whose UUIDs are not in `keep` (for full imports).
    pub async fn live_uuids_except(
        &self,
        kommune: Kommune,
        keep: &std::collections::HashSet<Uuid>,
    ) -> Result<Vec<(EntityKind, Uuid)>, StoreError> {
        let rows = sqlx::query("SELECT kind, uuid FROM entity WHERE kommune = $1 AND NOT deleted")
            .bind(i32::from(kommune.code()))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let uuid: Uuid = row.try_get("uuid")?;
            if !keep.contains(&uuid) {
                out.push((kind_of(row.try_get("kind")?)?, uuid));
            }
        }
        Ok(out)
    }
}

impl Tx {
    async fn begin(store: &Store, kommune: Kommune, ctx: WriteContext) -> Result<Tx, WriteError> {
        let mut tx = store.pool.begin().await?;
        let code = i32::from(kommune.code());
        let sequence: i64 =
            sqlx::query_scalar("SELECT last_sequence FROM municipality WHERE code = $1 FOR UPDATE")
                .bind(code)
                .fetch_one(&mut *tx)
                .await?;
        Ok(Tx {
            tx,
            kommune,
            code,
            sequence,
            first_sequence: sequence,
            today: super::today(),
            ctx,
            seen: HashMap::new(),
            persisted: HashSet::new(),
            pending: Pending::default(),
        })
    }

    async fn commit(mut self) -> Result<(), WriteError> {
        self.flush().await?;
        if self.sequence != self.first_sequence {
            sqlx::query("UPDATE municipality SET last_sequence = $2 WHERE code = $1")
                .bind(self.code)
                .bind(self.sequence)
                .execute(&mut *self.tx)
                .await?;
            // Wakes the relay once the transaction commits (NOTIFY is transactional).
            sqlx::query("SELECT pg_notify('orghub_events', $1)")
                .bind(self.kommune.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    async fn load(&mut self, uuid: Uuid) -> Result<Option<Current>, WriteError> {
        if !self.seen.contains_key(&uuid) {
            self.preload(&[uuid]).await?;
        }
        Ok(self.seen.get(&uuid).cloned().flatten())
    }

    /// Reads the entities among `uuids` that this transaction has not seen yet, in one query.
    async fn preload(&mut self, uuids: &[Uuid]) -> Result<(), WriteError> {
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
        .fetch_all(&mut *self.tx)
        .await?;
        for uuid in &wanted {
            self.seen.insert(*uuid, None);
        }
        for row in rows {
            let uuid: Uuid = row.try_get("uuid")?;
            let kind = kind_of(row.try_get("kind")?)?;
            let current = Current {
                kind,
                kommune: row.try_get("kommune")?,
                version: row.try_get("version")?,
                deleted: row.try_get("deleted")?,
                registered_at: row.try_get("registered_at")?,
                timeline: timeline_from_json(kind, row.try_get("timeline")?)?,
            };
            self.persisted.insert(uuid);
            self.seen.insert(uuid, Some(current));
        }
        Ok(())
    }

    async fn apply_one(&mut self, op: Operation) -> Result<OpResult, WriteError> {
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
        let old_timeline = live.map(|e| e.timeline.clone()).unwrap_or_default();
        let (timeline, action, deleted) = match op {
            Operation::Put { state, .. } => {
                let mut t = old_timeline.clone();
                t.put(state.validity, state.attrs);
                let action = if live.is_some() {
                    Action::Updated
                } else {
                    Action::Created
                };
                (t, action, false)
            }
            Operation::Terminate { to, .. } => {
                let span = live
                    .and_then(|e| e.timeline.span())
                    .ok_or(WriteError::NotFound { kind, uuid })?;
                if to <= span.from {
                    return Err(WriteError::Invalid(format!(
                        "cannot terminate at {to}: the {kind} is valid from {}; to remove an entity \
                         registered in error, DELETE it",
                        span.from
                    )));
                }
                let mut t = old_timeline.clone();
                t.terminate(to);
                (t, Action::Terminated, false)
            }
            Operation::Delete { .. } => {
                if existing.is_none() {
                    return Err(WriteError::NotFound { kind, uuid });
                }
                (Timeline::new(), Action::Deleted, true)
            }
        };
        let unchanged = match &existing {
            Some(e) => e.deleted == deleted && (deleted || e.timeline == timeline),
            None => false,
        };
        if unchanged {
            let e = existing.ok_or(WriteError::NotFound { kind, uuid })?;
            let head = self.head(uuid, kind, to_u64(e.version), e.registered_at);
            return Ok(OpResult {
                outcome: Outcome::Unchanged,
                document: EntityDocument::new(head, e.deleted, e.timeline, self.today),
            });
        }
        self.check_references(uuid, &timeline).await?;
        // Only a live entity of a referable kind can have dependents, and they can only lose
        // their cover where the new timeline no longer covers what the old one did (dependents
        // were covered by the old one): a rename or an extension cannot break them.
        let shrinks = old_timeline
            .segments()
            .iter()
            .any(|s| !timeline.covers(&s.validity));
        if can_be_referenced(kind) && existing.as_ref().is_some_and(|e| !e.deleted) && shrinks {
            self.check_dependents(kind, uuid, &timeline).await?;
        }
        let version = existing.as_ref().map_or(1, |e| e.version + 1);
        let mut registered_at = Utc::now().trunc_subsecs(6);
        if let Some(e) = &existing
            && registered_at <= e.registered_at
        {
            registered_at = e.registered_at + chrono::Duration::microseconds(1);
        }
        self.write(
            kind,
            uuid,
            version,
            registered_at,
            action,
            deleted,
            &timeline,
        )?;
        let head = self.head(uuid, kind, to_u64(version), registered_at);
        let outcome = match action {
            Action::Created => Outcome::Created,
            Action::Updated => Outcome::Updated,
            Action::Terminated => Outcome::Terminated,
            Action::Deleted => Outcome::Deleted,
        };
        Ok(OpResult {
            outcome,
            document: EntityDocument::new(head, deleted, timeline, self.today),
        })
    }

    fn head(
        &self,
        uuid: Uuid,
        kind: EntityKind,
        version: u64,
        registered_at: DateTime<Utc>,
    ) -> DocumentHead {
        DocumentHead {
            uuid,
            kind,
            kommune: self.kommune,
            version,
            registered_at,
        }
    }

    /// Every reference of every segment must point at a live entity of the right kind in this
    /// municipality that is valid for the segment's whole interval; units must keep one root and
    /// no cycle.
    async fn check_references(
        &mut self,
        uuid: Uuid,
        timeline: &Timeline<Attrs>,
    ) -> Result<(), WriteError> {
        let mut errors = Vec::new();
        for seg in timeline.segments() {
            for r in seg.attrs.references() {
                if r.uuid == uuid {
                    errors.push(FieldError::new(
                        r.field,
                        "an entity cannot reference itself",
                    ));
                    continue;
                }
                let target = self.load(r.uuid).await?;
                let problem = match &target {
                    None => Some(format!("no {} {} exists", r.kind, r.uuid)),
                    Some(t) if t.kommune != self.code => Some(format!(
                        "{} {} belongs to another municipality",
                        r.kind, r.uuid
                    )),
                    Some(t) if t.kind != r.kind => {
                        Some(format!("{} is a {}, expected a {}", r.uuid, t.kind, r.kind))
                    }
                    Some(t) if t.deleted => Some(format!("{} {} was deleted", r.kind, r.uuid)),
                    Some(t) if !t.timeline.covers(&seg.validity) => Some(format!(
                        "{} {} is not valid for the whole interval {}",
                        r.kind,
                        r.uuid,
                        show(&seg.validity)
                    )),
                    Some(_) => None,
                };
                if let Some(detail) = problem {
                    errors.push(FieldError::new(r.field, detail));
                }
            }
            if let Attrs::Unit(unit) = &seg.attrs {
                match unit.parent {
                    None => {
                        if let Some(other) = self.other_root(uuid, &seg.validity).await? {
                            errors.push(FieldError::new(
                                "/parent",
                                format!(
                                    "unit {other} is already the municipality's root during {}; \
                                     a unit needs a parent",
                                    show(&seg.validity)
                                ),
                            ));
                        }
                    }
                    Some(parent) if parent != uuid => {
                        if self.reaches(parent, uuid, seg.validity).await? {
                            errors.push(FieldError::new(
                                "/parent",
                                format!(
                                    "parent {parent} is below this unit during {}: that would make a cycle",
                                    show(&seg.validity)
                                ),
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Integrity(errors))
        }
    }

    async fn other_root(&mut self, uuid: Uuid, v: &Validity) -> Result<Option<Uuid>, WriteError> {
        self.flush().await?;
        let other = sqlx::query_scalar(
            "SELECT source FROM reference
             WHERE kommune = $1 AND target IS NULL AND field = '/parent' AND source <> $2
               AND daterange(valid_from, valid_to) && daterange($3, $4)
             LIMIT 1",
        )
        .bind(self.code)
        .bind(uuid)
        .bind(v.from)
        .bind(v.to)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(other)
    }

    /// Whether walking up the hierarchy from `start` during `v` reaches `goal` on some date.
    ///
    /// Walks the units' timelines as this transaction sees them (loading each unit once), not
    /// the reference table: no flush of pending writes, and no query for a unit already seen.
    async fn reaches(&mut self, start: Uuid, goal: Uuid, v: Validity) -> Result<bool, WriteError> {
        let mut stack = vec![(start, v)];
        let mut steps = 0;
        while let Some((unit, interval)) = stack.pop() {
            if unit == goal {
                return Ok(true);
            }
            steps += 1;
            if steps > 100_000 {
                return Err(WriteError::Invalid(
                    "the unit hierarchy is too deep to check".into(),
                ));
            }
            if !self.seen.contains_key(&unit) {
                self.preload(&[unit]).await?;
            }
            let Some(Some(current)) = self.seen.get(&unit) else {
                continue;
            };
            if current.deleted || current.kommune != self.code {
                continue;
            }
            for seg in current.timeline.segments() {
                if let Attrs::Unit(u) = &seg.attrs
                    && let Some(parent) = u.parent
                    && parent != unit
                    && let Some(overlap) = seg.validity.intersect(&interval)
                {
                    stack.push((parent, overlap));
                }
            }
        }
        Ok(false)
    }

    /// Entities referencing this one must stay covered by its new timeline.
    async fn check_dependents(
        &mut self,
        kind: EntityKind,
        uuid: Uuid,
        timeline: &Timeline<Attrs>,
    ) -> Result<(), WriteError> {
        self.flush().await?;
        let rows = sqlx::query(
            "SELECT source, source_kind, valid_from, valid_to FROM reference
             WHERE target = $1 AND source <> $1",
        )
        .bind(uuid)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut dependents: Vec<(EntityKind, Uuid)> = Vec::new();
        for row in rows {
            let v = Validity {
                from: row.try_get("valid_from")?,
                to: row.try_get("valid_to")?,
            };
            if !timeline.covers(&v) {
                let dep = (
                    kind_of(row.try_get("source_kind")?)?,
                    row.try_get("source")?,
                );
                if !dependents.contains(&dep) {
                    dependents.push(dep);
                }
            }
        }
        if dependents.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Dependents {
                kind,
                uuid,
                dependents,
            })
        }
    }

    /// Records a change: the entity row, its registration, its references and its event, with
    /// the municipality's next sequence. Sent to PostgreSQL by [`Tx::flush`].
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        kind: EntityKind,
        uuid: Uuid,
        version: i64,
        registered_at: DateTime<Utc>,
        action: Action,
        deleted: bool,
        timeline: &Timeline<Attrs>,
    ) -> Result<(), WriteError> {
        let json = timeline_to_json(timeline);
        self.pending.registrations.push(RegistrationRow {
            uuid,
            version,
            action,
            registered_at,
            deleted,
            timeline: json.clone(),
            actor: self.ctx.actor.clone(),
            note: self.ctx.note.clone(),
        });
        self.pending.entities.insert(
            uuid,
            EntityRow {
                kind,
                version,
                deleted,
                registered_at,
                timeline: json,
            },
        );
        let mut references = Vec::new();
        for seg in timeline.segments() {
            for r in seg.attrs.references() {
                references.push(ReferenceRow {
                    kind,
                    field: r.field,
                    target: Some(r.uuid),
                    from: seg.validity.from,
                    to: seg.validity.to,
                });
            }
            if let Attrs::Unit(u) = &seg.attrs
                && u.parent.is_none()
            {
                references.push(ReferenceRow {
                    kind,
                    field: "/parent",
                    target: None,
                    from: seg.validity.from,
                    to: seg.validity.to,
                });
            }
        }
        self.pending.references.insert(uuid, references);

        self.sequence += 1;
        let document = EntityDocument::new(
            self.head(uuid, kind, to_u64(version), registered_at),
            deleted,
            timeline.clone(),
            self.today,
        );
        let event = OrgEvent {
            id: Uuid::now_v7(),
            kommune: self.kommune,
            action,
            time: registered_at,
            entity_version: to_u64(version),
            sequence: to_u64(self.sequence),
            traceparent: self.ctx.traceparent.clone(),
            data: document,
        };
        let body = event.to_structured_json();
        self.pending.events.push(EventRow {
            sequence: self.sequence,
            id: event.id,
            entity: uuid,
            version,
            event_type: event.event_type().to_string(),
            routing_key: event.routing_key().to_string(),
            body,
            time: event.time,
            traceparent: event.traceparent.clone(),
        });

        self.seen.insert(
            uuid,
            Some(Current {
                kind,
                kommune: self.code,
                version,
                deleted,
                registered_at,
                timeline: timeline.clone(),
            }),
        );
        Ok(())
    }

    /// Sends the pending writes in set-based statements, in foreign-key order.
    async fn flush(&mut self) -> Result<(), WriteError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let p = std::mem::take(&mut self.pending);

        let replaced: Vec<Uuid> = p
            .references
            .keys()
            .filter(|u| self.persisted.contains(*u))
            .copied()
            .collect();
        let (mut new_rows, mut changed_rows) = (Vec::new(), Vec::new());
        for (uuid, row) in p.entities {
            if self.persisted.contains(&uuid) {
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
            let timelines: Vec<serde_json::Value> =
                new_rows.into_iter().map(|r| r.1.timeline).collect();
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
            .bind(self.code)
            .execute(&mut *self.tx)
            .await?;
            self.persisted.extend(uuids);
        }
        if !changed_rows.is_empty() {
            let uuids: Vec<Uuid> = changed_rows.iter().map(|r| r.0).collect();
            let versions: Vec<i64> = changed_rows.iter().map(|r| r.1.version).collect();
            let deleted: Vec<bool> = changed_rows.iter().map(|r| r.1.deleted).collect();
            let times: Vec<DateTime<Utc>> =
                changed_rows.iter().map(|r| r.1.registered_at).collect();
            let timelines: Vec<serde_json::Value> =
                changed_rows.into_iter().map(|r| r.1.timeline).collect();
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
            .execute(&mut *self.tx)
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
            let timelines: Vec<&serde_json::Value> = r.iter().map(|x| &x.timeline).collect();
            sqlx::query(
                "INSERT INTO registration (uuid, version, action, registered_at, deleted, timeline, actor, note)
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[],
                                      $5::bool[], $6::jsonb[], $7::text[], $8::text[])",
            )
            .bind(&uuids)
            .bind(&versions)
            .bind(&actions)
            .bind(&times)
            .bind(&deleted)
            .bind(&timelines)
            .bind(&actors)
            .bind(&notes)
            .execute(&mut *self.tx)
            .await?;
        }

        // Only entities that had rows before this flush can have old references.
        if !replaced.is_empty() {
            sqlx::query("DELETE FROM reference WHERE source = ANY($1)")
                .bind(&replaced)
                .execute(&mut *self.tx)
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
            sqlx::query(
                "INSERT INTO reference (source, source_kind, field, target, valid_from, valid_to, kommune)
                 SELECT u.*, $7 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[],
                                            $5::date[], $6::date[]) AS u",
            )
            .bind(&uuids)
            .bind(&kinds)
            .bind(&fields)
            .bind(&targets)
            .bind(&froms)
            .bind(&tos)
            .bind(self.code)
            .execute(&mut *self.tx)
            .await?;
        }

        if !p.events.is_empty() {
            let e = &p.events;
            let sequences: Vec<i64> = e.iter().map(|x| x.sequence).collect();
            let ids: Vec<Uuid> = e.iter().map(|x| x.id).collect();
            let entities: Vec<Uuid> = e.iter().map(|x| x.entity).collect();
            let versions: Vec<i64> = e.iter().map(|x| x.version).collect();
            let types: Vec<&str> = e.iter().map(|x| x.event_type.as_str()).collect();
            let keys: Vec<&str> = e.iter().map(|x| x.routing_key.as_str()).collect();
            let bodies: Vec<&str> = e.iter().map(|x| x.body.as_str()).collect();
            let times: Vec<DateTime<Utc>> = e.iter().map(|x| x.time).collect();
            let traceparents: Vec<Option<&str>> =
                e.iter().map(|x| x.traceparent.as_deref()).collect();
            sqlx::query(
                "INSERT INTO event (sequence, id, entity, entity_version, type, routing_key, body,
                                    event_time, traceparent, kommune)
                 SELECT u.*, $10 FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[],
                                             $5::text[], $6::text[], $7::text[],
                                             $8::timestamptz[], $9::text[]) AS u",
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
            .bind(self.code)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }
}
