//! A full import's bookkeeping, kept in the database: the UUIDs its file named, so that an
//! import of any length runs in bounded memory (a partial import keeps nothing).

use orghub_contracts::{EntityKind, Kommune};
use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError, kind_of};

/// Rows of imports older than this are left-overs of a writer that stopped mid-import.
const STALE_AFTER_SECS: u64 = 7 * 24 * 3600;

impl Store {
    /// Starts a full import's record of the UUIDs it names; returns its id. Clears what imports
    /// that never finished left behind.
    pub async fn import_begin(&self) -> Result<Uuid, StoreError> {
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
        Ok(Uuid::now_v7())
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

    /// Live entities of the municipality that the import's file did not name.
    pub async fn import_absent(
        &self,
        kommune: Kommune,
        import: Uuid,
    ) -> Result<Vec<(EntityKind, Uuid)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, uuid FROM entity e
             WHERE kommune = $1 AND NOT deleted
               AND NOT EXISTS (SELECT 1 FROM import_seen s WHERE s.import = $2 AND s.uuid = e.uuid)",
        )
        .bind(i32::from(kommune.code()))
        .bind(import)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((kind_of(row.try_get("kind")?)?, row.try_get("uuid")?)))
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
