//! The ways to write, and who waits for whom: each municipality's writing requests queue in its
//! [`Combiner`] and are applied in groups, one transaction per group.
//!
//! Flat combining: a request queues itself, then waits for the municipality's turn; whoever gets
//! the turn takes every queued request (its own, unless an earlier turn took it) and applies them
//! together. Waiting happens here, not on a database connection: a request holds a pooled
//! connection only while its group runs, so a burst of writes to one municipality cannot starve
//! the pool, and the lock, the round trips and the commit are paid once per group.
//!
//! One request never fails another: a refused request is answered and the group runs again
//! without it; a request the database refuses (a value or a constraint the validation did not
//! foresee) is found by applying the group's requests one by one. The queue is bounded: past
//! [`Store::with_write_queue`] waiting requests, a request is refused at once as
//! [`WriteError::Busy`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orghub_contracts::Kommune;
use sqlx::Row;
use tokio::sync::oneshot;

use super::operation::{Idempotent, OpResult, Operation, WriteContext, WriteError};
use super::transaction::Tx;
use super::{Store, StoreError};

/// The most requests applied in one transaction.
const MAX_GROUP: usize = 128;

/// How long an idempotency key is remembered (DESIGN §3): a retry later than this is a new
/// request.
pub const IDEMPOTENCY_KEY_TTL_HOURS: i32 = 24;

/// The writing requests of one municipality that wait for their turn.
#[derive(Debug, Default)]
pub(super) struct Combiner {
    queue: std::sync::Mutex<Vec<Job>>,
    /// Idempotent requests waiting for the turn (they are applied alone, not queued as jobs).
    waiting_alone: AtomicUsize,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Combiner {
    /// Queues `job` unless `cap` requests already wait (then the job is dropped: `false`).
    fn enqueue(&self, job: Job, cap: usize) -> bool {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if queue.len() + self.waiting_alone.load(Ordering::Relaxed) >= cap {
            return false;
        }
        queue.push(job);
        true
    }

    /// Counts an idempotent request as waiting until the guard drops, unless `cap` already wait.
    fn wait_alone(&self, cap: usize) -> Option<WaitingAlone<'_>> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if queue.len() + self.waiting_alone.load(Ordering::Relaxed) >= cap {
            return None;
        }
        self.waiting_alone.fetch_add(1, Ordering::Relaxed);
        Some(WaitingAlone(&self.waiting_alone))
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

struct WaitingAlone<'a>(&'a AtomicUsize);

impl Drop for WaitingAlone<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
    fn count_waiting(&self, change: i64) {
        if let Some(m) = &self.queue_metrics {
            m.waiting.inc_by(change);
        }
    }

    /// Refuses a write because its municipality's queue is full.
    fn busy(&self) -> WriteError {
        if let Some(m) = &self.queue_metrics {
            m.refused.inc();
        }
        WriteError::Busy
    }

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
        let job = Job {
            ops,
            ctx: ctx.clone(),
            reply,
        };
        if !combiner.enqueue(job, self.write_queue) {
            return Err((0, self.busy()));
        }
        self.count_waiting(1);
        let turn = Arc::clone(&combiner.turn).lock_owned().await;
        let jobs = combiner.take();
        self.count_waiting(-(jobs.len() as i64));
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
    /// so the refusal stands). When the database refuses the group, its requests are applied
    /// one by one, so that only the request to blame fails.
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
                Err(GroupFailure::Store(error)) if error.is_data_dependent() => {
                    tracing::warn!(
                        error = %error,
                        requests = jobs.len(),
                        "the database refused a group of writes; applying its requests one by one"
                    );
                    for job in jobs {
                        self.apply_alone(kommune, job).await;
                    }
                    return;
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

    /// Applies one request in a transaction of its own and answers it. Run once more after the
    /// database refused its group, this also sees what a concurrent writer committed meanwhile
    /// (another municipality creating the same UUID is then an ordinary refusal).
    async fn apply_alone(&self, kommune: Kommune, job: Job) {
        let answer = match self.try_group(kommune, std::slice::from_ref(&job)).await {
            Ok(mut results) => Ok(results.pop().unwrap_or_default()),
            Err(GroupFailure::Refused { op, error, .. }) => Err((op, error)),
            Err(GroupFailure::Store(error)) => Err((0, error)),
        };
        let _ = job.reply.send(answer);
    }

    async fn try_group(
        &self,
        kommune: Kommune,
        jobs: &[Job],
    ) -> Result<Vec<Vec<OpResult>>, GroupFailure> {
        let mut tx = Tx::begin(self, kommune)
            .await
            .map_err(GroupFailure::Store)?;
        let wanted: Vec<_> = jobs
            .iter()
            .flat_map(|j| j.ops.iter().flat_map(Operation::uuids))
            .collect();
        tx.preload(&wanted).await.map_err(GroupFailure::Store)?;
        let mut results = Vec::with_capacity(jobs.len());
        for (j, job) in jobs.iter().enumerate() {
            tx.begin_job(job.ctx.clone());
            let mut applied = Vec::with_capacity(job.ops.len());
            for (i, op) in job.ops.iter().enumerate() {
                match tx.apply_one(op).await {
                    Ok(outcome) => applied.push((op.uuid(), outcome)),
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
            results.push(tx.results(&applied));
        }
        tx.commit().await.map_err(GroupFailure::Store)?;
        Ok(results)
    }

    /// Like [`Store::apply`], guarded by an idempotency key: a retry with the same key and body
    /// gets the first response back; the same key with another body is refused. `scope` is the
    /// key as its caller's token made it (a hash of both), so one token never sees another's
    /// answers; a key is remembered for [`IDEMPOTENCY_KEY_TTL_HOURS`]. The key is checked after
    /// the municipality lock, so two concurrent retries cannot both apply.
    pub async fn apply_idempotent(
        &self,
        kommune: Kommune,
        ops: Vec<Operation>,
        ctx: &WriteContext,
        scope: &[u8],
        request_hash: &[u8],
        render: impl FnOnce(&[OpResult]) -> (u16, serde_json::Value),
    ) -> Result<Idempotent, (usize, WriteError)> {
        let combiner = self.combiner(kommune);
        let waiting = combiner
            .wait_alone(self.write_queue)
            .ok_or_else(|| (0, self.busy()))?;
        self.count_waiting(1);
        let _turn = combiner.turn.lock().await;
        drop(waiting);
        self.count_waiting(-1);
        let mut tx = Tx::begin(self, kommune).await.map_err(|e| (0, e))?;
        let stored = sqlx::query(
            "SELECT request_hash, status, response FROM idempotency_key
             WHERE kommune = $1 AND scope = $2
               AND created_at > now() - make_interval(hours => $3)",
        )
        .bind(tx.code)
        .bind(scope)
        .bind(IDEMPOTENCY_KEY_TTL_HOURS)
        .fetch_optional(&mut *tx.db)
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
        let wanted: Vec<_> = ops.iter().flat_map(Operation::uuids).collect();
        tx.preload(&wanted).await.map_err(|e| (0, e))?;
        tx.begin_job(ctx.clone());
        let mut applied = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            applied.push((op.uuid(), tx.apply_one(op).await.map_err(|e| (i, e))?));
        }
        let results = tx.results(&applied);
        let (status, body) = render(&results);
        // Expired keys go lazily, a municipality at a time, when a new key is stored.
        sqlx::query(
            "DELETE FROM idempotency_key
             WHERE kommune = $1 AND created_at <= now() - make_interval(hours => $2)",
        )
        .bind(tx.code)
        .bind(IDEMPOTENCY_KEY_TTL_HOURS)
        .execute(&mut *tx.db)
        .await
        .map_err(|e| (0, e.into()))?;
        sqlx::query(
            "INSERT INTO idempotency_key (kommune, scope, request_hash, status, response)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tx.code)
        .bind(scope)
        .bind(request_hash)
        .bind(i32::from(status))
        .bind(&body)
        .execute(&mut *tx.db)
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
    /// When the database refuses the batch, it is split until the operations to blame are found;
    /// they are refused, the rest applied. Only losing the database aborts the batch.
    pub async fn apply_each(
        &self,
        kommune: Kommune,
        ops: &[Operation],
        ctx: &WriteContext,
    ) -> Result<Vec<Result<OpResult, WriteError>>, StoreError> {
        let combiner = self.combiner(kommune);
        let _turn = combiner.turn.lock().await;
        self.apply_each_isolated(kommune, ops, ctx).await
    }

    async fn apply_each_isolated(
        &self,
        kommune: Kommune,
        ops: &[Operation],
        ctx: &WriteContext,
    ) -> Result<Vec<Result<OpResult, WriteError>>, StoreError> {
        let error = match self.try_each(kommune, ops, ctx).await {
            Ok(results) => return Ok(results),
            Err(e) if e.is_data_dependent() => e,
            Err(WriteError::Store(e)) => return Err(e),
            Err(other) => return Err(StoreError::Corrupt(other.to_string())),
        };
        if ops.len() == 1 {
            // Once more alone: a concurrent writer's commit may be what the database refused.
            return match self.try_each(kommune, ops, ctx).await {
                Ok(results) => Ok(results),
                Err(e) if e.is_data_dependent() => Ok(vec![Err(error)]),
                Err(WriteError::Store(e)) => Err(e),
                Err(other) => Err(StoreError::Corrupt(other.to_string())),
            };
        }
        let (left, right) = ops.split_at(ops.len() / 2);
        let mut results = Box::pin(self.apply_each_isolated(kommune, left, ctx)).await?;
        results.extend(Box::pin(self.apply_each_isolated(kommune, right, ctx)).await?);
        Ok(results)
    }

    async fn try_each(
        &self,
        kommune: Kommune,
        ops: &[Operation],
        ctx: &WriteContext,
    ) -> Result<Vec<Result<OpResult, WriteError>>, WriteError> {
        let mut tx = Tx::begin(self, kommune).await?;
        let wanted: Vec<_> = ops.iter().flat_map(Operation::uuids).collect();
        tx.preload(&wanted).await?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            tx.begin_job(ctx.clone());
            match tx.apply_one(op).await {
                Err(WriteError::Store(e)) => return Err(WriteError::Store(e)),
                Err(refused) => results.push(Err(refused)),
                Ok(outcome) => {
                    results.extend(tx.results(&[(op.uuid(), outcome)]).into_iter().map(Ok))
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }
}
