//! A full import's bookkeeping, kept in the database: the UUIDs its file named, so that an
//! import of any length runs in bounded memory (a partial import keeps nothing).

use orghub_contracts::{EntityKind, Kommune};
use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError, kind_of};

/// Rows of imports older than this are left-overs of a writer that stopped mid-import.
const STALE_AFTER_SECS: u64 = 7 * 24 * 3600;

impl Store {
    /// Starts a full import's record of the UUIDs it names; returns its id and the
    /// municipality's event-log position when it began (what was registered later is not the
    /// import's to end). Clears what imports that never finished left behind.
    pub async fn import_begin(&self, kommune: Kommune) -> Result<(Uuid, i64), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stale = now.saturating_sub(std::time::Duration::from_secs(STALE_AFTER_SECS));
        let bound = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            stale.as_secs(),
            0,
        ));
        sqlx::query("DELETE FROM import_seen WHERE import < $1")
            .bind(bound)
            .execute(&self.pool)
            .await?;
        let began: i64 =
            sqlx::query_scalar("SELECT last_sequence FROM municipality WHERE code = $1")
                .bind(i32::from(kommune.code()))
                .fetch_one(&self.pool)
                .await?;
        Ok((Uuid::now_v7(), began))
    }

    /// Records that the import's file named `uuids`.
    pub async fn import_saw(&self, import: Uuid, uuids: &[Uuid]) -> Result<(), StoreError> {
        if uuids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO import_seen (import, uuid) SELECT $1, u FROM UNNEST($2::uuid[]) AS u
             ON CONFLICT DO NOTHING",
        )
        .bind(import)
        .bind(uuids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Live entities of the municipality that the import's file did not name, that existed when
    /// it began and nobody wrote since (no event after `began`), of `kinds` (all when `None`),
    /// each with its version (see [`super::Operation::End`]).
    pub async fn import_absent(
        &self,
        kommune: Kommune,
        import: Uuid,
        began: i64,
        kinds: Option<&[EntityKind]>,
    ) -> Result<Vec<(EntityKind, Uuid, i64)>, StoreError> {
        let kinds: Option<Vec<&str>> = kinds.map(|ks| ks.iter().map(|k| k.word()).collect());
        let rows = sqlx::query(
            "SELECT kind, uuid, version FROM entity e
             WHERE kommune = $1 AND NOT deleted
               AND ($4::text[] IS NULL OR kind = ANY($4))
               AND NOT EXISTS (SELECT 1 FROM import_seen s WHERE s.import = $2 AND s.uuid = e.uuid)
               AND NOT EXISTS (SELECT 1 FROM event v
                               WHERE v.entity = e.uuid AND v.kommune = $1 AND v.sequence > $3)",
        )
        .bind(i32::from(kommune.code()))
        .bind(import)
        .bind(began)
        .bind(kinds)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    kind_of(row.try_get("kind")?)?,
                    row.try_get("uuid")?,
                    row.try_get("version")?,
                ))
            })
            .collect()
    }

    /// Drops the import's record.
    pub async fn import_end(&self, import: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM import_seen WHERE import = $1")
            .bind(import)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
