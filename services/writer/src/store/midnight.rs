//! The midnight transition's writes (DESIGN §4 *Midnight*): for one day, every entity whose
//! `current` on that day differs from the `current` of its last event gets one `effective` (a
//! segment became current) or `expired` (current became null) event, with entity version + 1
//! and the document with its new `current`, in the same transactional outbox as every write.
//! [`crate::midnight`] decides which days to run and that only one writer runs them.
//!
//! - Candidates come from the GIN index `entity_midnight_keys` (migration 0006): the entities
//!   with a segment boundary on the day, keyed by municipality, never a scan of every entity.
//!   They are read after every write that began before midnight has committed (such a write
//!   computed `current` for the day before).
//! - An entity is transitioned for day D only when its last event's `current` was computed for
//!   an earlier day: a write on day D (after midnight) already carried D's `current`.
//! - Exactly once per entity and date is the primary key of `midnight_transition`, written in
//!   the event's transaction: whatever runs a day again (a restart, a second writer, a day run
//!   twice) writes nothing for an entity that has its row.
//! - Each batch of at most [`BATCH`] entities is its own transaction holding its municipality's
//!   lock (as every write does), so live writes of that municipality wait at most one batch and
//!   other municipalities' writes never wait.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, SubsecRound, Utc};
use orghub_contracts::{
    Action, DocumentHead, EntityDocument, EntityKind, Kommune, OrgEvent, Validity,
};
use orghub_runtime::Shutdown;
use sqlx::Row;
use uuid::Uuid;

use super::codec::timeline_from_json;
use super::{Store, StoreError, kind_of, unsigned};
use crate::clock::copenhagen_date;

/// Entities per transaction of a midnight transition.
pub const BATCH: usize = 1_000;
/// Who the transitions' registrations name as their actor.
pub const MIDNIGHT_ACTOR: &str = "orghub-midnight";
/// How long `midnight_transition` rows are kept: far longer than any day a writer still runs.
const KEEP_DAYS: u64 = 62;

/// The key `midnight_keys(kommune, timeline)` (migration 0006) gives `day` in `kommune`.
fn midnight_key(kommune: i32, day: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
    i64::from(kommune) * 1_000_000 + (day - epoch).num_days()
}

/// What one day's transition wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DayOutcome {
    pub effective: u64,
    pub expired: u64,
    /// Whether every municipality was done (a stop in between leaves the day to run again).
    pub complete: bool,
}

impl Store {
    /// The last midnight whose transitions are complete, if any ran in this database.
    pub async fn midnight_last_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        Ok(sqlx::query_scalar("SELECT max(day) FROM midnight_day")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Records `day` as done without writing anything: where the first writer of a database
    /// starts counting midnights.
    pub async fn midnight_baseline(&self, day: NaiveDate) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO midnight_day (day) VALUES ($1) ON CONFLICT (day) DO NOTHING")
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Writes the transitions of midnight `day` in every municipality, for the entities with a
    /// segment boundary on one of `boundaries` (normally just `day`; a catch-up after a long
    /// downtime passes the days it skips too), and records the day as complete unless `stop`
    /// was cancelled first.
    pub async fn midnight_day(
        &self,
        day: NaiveDate,
        boundaries: &[NaiveDate],
        stop: &Shutdown,
    ) -> Result<DayOutcome, StoreError> {
        let mut out = DayOutcome::default();
        // The municipalities with a write in flight (their row locked now). In every other one,
        // each write that began before midnight has committed, so one listing of all their
        // candidates, read after this, sees it; the busy ones wait for their lock and are
        // listed one by one. The lock taken on the free rows lasts one statement, and is all
        // the transaction writes: no WAL flush at commit.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        let free: HashSet<i32> =
            sqlx::query_scalar("SELECT code FROM municipality FOR UPDATE SKIP LOCKED")
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        tx.commit().await?;
        let keys: Vec<i64> = Kommune::all()
            .flat_map(|k| {
                let code = i32::from(k.code());
                boundaries.iter().map(move |d| midnight_key(code, *d))
            })
            .collect();
        let rows: Vec<(i32, Uuid)> = sqlx::query_as(
            "SELECT kommune, uuid FROM entity
             WHERE midnight_keys(kommune, timeline) && $1::bigint[] AND NOT deleted
             ORDER BY kommune, uuid",
        )
        .bind(&keys)
        .fetch_all(&self.pool)
        .await?;
        let mut listed: HashMap<i32, Vec<Uuid>> = HashMap::new();
        for (code, uuid) in rows {
            listed.entry(code).or_default().push(uuid);
        }
        for kommune in Kommune::all() {
            if stop.is_cancelled() {
                return Ok(out);
            }
            let code = i32::from(kommune.code());
            let candidates = if free.contains(&code) {
                listed.remove(&code).unwrap_or_default()
            } else {
                self.midnight_candidates(kommune, boundaries).await?
            };
            for chunk in candidates.chunks(BATCH) {
                if stop.is_cancelled() {
                    return Ok(out);
                }
                self.midnight_batch(kommune, day, chunk, &mut out).await?;
            }
        }
        if stop.is_cancelled() {
            return Ok(out);
        }
        let n = i64::try_from(out.effective + out.expired).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO midnight_day (day, transitions) VALUES ($1, $2)
             ON CONFLICT (day) DO UPDATE SET transitions = midnight_day.transitions + $2",
        )
        .bind(day)
        .bind(n)
        .execute(&self.pool)
        .await?;
        let keep_from = day.checked_sub_days(Days::new(KEEP_DAYS)).unwrap_or(day);
        sqlx::query("DELETE FROM midnight_transition WHERE day < $1")
            .bind(keep_from)
            .execute(&self.pool)
            .await?;
        out.complete = true;
        Ok(out)
    }

    /// The candidates of a municipality with a write in flight: listed once its lock is free.
    async fn midnight_candidates(
        &self,
        kommune: Kommune,
        boundaries: &[NaiveDate],
    ) -> Result<Vec<Uuid>, StoreError> {
        let code = i32::from(kommune.code());
        let keys: Vec<i64> = boundaries.iter().map(|d| midnight_key(code, *d)).collect();
        // Taking the municipality's lock first waits for its writes in flight: one that began
        // before midnight (and computed `current` for the day before) is committed, and its
        // entity listed, before the candidates are read.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT 1 FROM municipality WHERE code = $1 FOR UPDATE")
            .bind(code)
            .execute(&mut *tx)
            .await?;
        let candidates: Vec<Uuid> = sqlx::query_scalar(
            "SELECT uuid FROM entity
             WHERE midnight_keys(kommune, timeline) && $1::bigint[] AND NOT deleted
             ORDER BY uuid",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(candidates)
    }

    /// One transaction of a transition: the entities among `uuids` whose `current` changes at
    /// `day`, each with its `midnight_transition` row, registration and event.
    async fn midnight_batch(
        &self,
        kommune: Kommune,
        day: NaiveDate,
        uuids: &[Uuid],
        out: &mut DayOutcome,
    ) -> Result<(), StoreError> {
        let code = i32::from(kommune.code());
        let mut tx = self.pool.begin().await?;
        let mut sequence: i64 =
            sqlx::query_scalar("SELECT last_sequence FROM municipality WHERE code = $1 FOR UPDATE")
                .bind(code)
                .fetch_one(&mut *tx)
                .await?;
        // The day each entity's last event computed its `current` for: a transition's own day,
        // or the day it was registered on.
        let rows = sqlx::query(
            "SELECT e.uuid, e.kind, e.version, e.registered_at, e.timeline, mt.day AS transition_day,
                    (ev.body::jsonb) #> '{data,current,validity}' AS was
             FROM entity e
             JOIN event ev ON ev.entity = e.uuid AND ev.entity_version = e.version
             LEFT JOIN midnight_transition mt ON mt.entity = e.uuid AND mt.version = e.version
             WHERE e.uuid = ANY($1) AND e.kommune = $2 AND NOT e.deleted
             ORDER BY e.uuid",
        )
        .bind(uuids)
        .bind(code)
        .fetch_all(&mut *tx)
        .await?;
        let now = self.clock.now().trunc_subsecs(6);
        let mut changes = Vec::new();
        for row in &rows {
            let registered_at: DateTime<Utc> = row.try_get("registered_at")?;
            let transition_day: Option<NaiveDate> = row.try_get("transition_day")?;
            let computed_for = transition_day.unwrap_or_else(|| copenhagen_date(registered_at));
            if computed_for >= day {
                continue;
            }
            let kind = kind_of(row.try_get("kind")?)?;
            let timeline = timeline_from_json(kind, row.try_get("timeline")?)?;
            let was: Option<serde_json::Value> = row.try_get("was")?;
            let was: Option<Validity> = match was {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(serde_json::from_value(v).map_err(|e| {
                    StoreError::Corrupt(format!("the current of an event's data: {e}"))
                })?),
            };
            let becomes = timeline.at(day).map(|s| s.validity);
            if becomes == was {
                continue;
            }
            let uuid: Uuid = row.try_get("uuid")?;
            let version = unsigned(row.try_get("version")?, "entity version")? + 1;
            changes.push(Change {
                uuid,
                kind,
                version,
                action: if becomes.is_some() {
                    Action::Effective
                } else {
                    Action::Expired
                },
                // Registration times of an entity only grow.
                registered_at: now.max(registered_at + chrono::Duration::microseconds(1)),
                timeline,
            });
        }
        if changes.is_empty() {
            tx.commit().await?;
            return Ok(());
        }
        let ids: Vec<Uuid> = changes.iter().map(|c| c.uuid).collect();
        let versions: Vec<i64> = changes.iter().map(|c| version_i64(c.version)).collect();
        // The constraint that makes it exactly once: only entities whose row is new get an event.
        let claimed: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO midnight_transition (entity, day, kommune, version)
             SELECT u.entity, $3, $4, u.version FROM UNNEST($1::uuid[], $2::bigint[]) AS u(entity, version)
             ON CONFLICT (entity, day) DO NOTHING
             RETURNING entity",
        )
        .bind(&ids)
        .bind(&versions)
        .bind(day)
        .bind(code)
        .fetch_all(&mut *tx)
        .await?;
        let claimed: std::collections::HashSet<Uuid> = claimed.into_iter().collect();
        changes.retain(|c| claimed.contains(&c.uuid));
        if changes.is_empty() {
            tx.commit().await?;
            return Ok(());
        }

        let ids: Vec<Uuid> = changes.iter().map(|c| c.uuid).collect();
        let versions: Vec<i64> = changes.iter().map(|c| version_i64(c.version)).collect();
        let times: Vec<DateTime<Utc>> = changes.iter().map(|c| c.registered_at).collect();
        let actions: Vec<&str> = changes.iter().map(|c| c.action.word()).collect();
        sqlx::query(
            "UPDATE entity e SET version = u.version, registered_at = u.registered_at
             FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[]) AS u(uuid, version, registered_at)
             WHERE e.uuid = u.uuid",
        )
        .bind(&ids)
        .bind(&versions)
        .bind(&times)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO registration (uuid, version, action, registered_at, actor, note, deleted, timeline)
             SELECT u.uuid, u.version, u.action, u.registered_at, $5, $6, false, e.timeline
             FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[])
                  AS u(uuid, version, action, registered_at)
             JOIN entity e ON e.uuid = u.uuid",
        )
        .bind(&ids)
        .bind(&versions)
        .bind(&actions)
        .bind(&times)
        .bind(MIDNIGHT_ACTOR)
        .bind(format!("midnight {day}"))
        .execute(&mut *tx)
        .await?;

        let (mut effective, mut expired) = (0, 0);
        let mut sequences = Vec::with_capacity(changes.len());
        let mut event_ids = Vec::with_capacity(changes.len());
        let mut types = Vec::with_capacity(changes.len());
        let mut keys = Vec::with_capacity(changes.len());
        let mut bodies = Vec::with_capacity(changes.len());
        for c in changes {
            sequence += 1;
            if c.action == Action::Effective {
                effective += 1;
            } else {
                expired += 1;
            }
            let head = DocumentHead {
                uuid: c.uuid,
                kind: c.kind,
                kommune,
                version: c.version,
                registered_at: c.registered_at,
            };
            let event = OrgEvent {
                id: Uuid::now_v7(),
                kommune,
                action: c.action,
                time: c.registered_at,
                entity_version: c.version,
                sequence: unsigned(sequence, "sequence")?,
                traceparent: None,
                data: EntityDocument::new(head, false, c.timeline, day),
            };
            sequences.push(sequence);
            event_ids.push(event.id);
            types.push(event.event_type().to_string());
            keys.push(event.routing_key().to_string());
            bodies.push(event.to_structured_json());
        }
        sqlx::query(
            "INSERT INTO event (sequence, id, entity, entity_version, type, routing_key, body,
                                event_time, kommune)
             SELECT u.*, $9 FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[],
                                        $5::text[], $6::text[], $7::text[],
                                        $8::timestamptz[]) AS u",
        )
        .bind(&sequences)
        .bind(&event_ids)
        .bind(&ids)
        .bind(&versions)
        .bind(&types)
        .bind(&keys)
        .bind(&bodies)
        .bind(&times)
        .bind(code)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE municipality SET last_sequence = $2 WHERE code = $1")
            .bind(code)
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
        // Wakes the relay once the transaction commits (NOTIFY is transactional).
        sqlx::query("SELECT pg_notify('orghub_events', $1)")
            .bind(kommune.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        out.effective += effective;
        out.expired += expired;
        Ok(())
    }
}

/// An entity whose `current` changes at the day being run.
struct Change {
    uuid: Uuid,
    kind: EntityKind,
    version: u64,
    action: Action,
    registered_at: DateTime<Utc>,
    timeline: orghub_contracts::Timeline<orghub_contracts::Attrs>,
}

fn version_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::midnight;

    #[test]
    fn the_midnight_key_matches_the_migrations_encoding() {
        let day = NaiveDate::from_ymd_opt(2000, 1, 31).expect("date");
        assert_eq!(midnight_key(751, day), 751_000_030);
        // The instant the day starts is Copenhagen midnight.
        assert_eq!(copenhagen_date(midnight(day)), day);
    }
}
