//! API tokens: random, shown once, stored as SHA-256 hashes.

pub use orghub_contracts::api::{NewToken, TokenRecord};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError};

/// The stored form of a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn random_secret() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(format!("ohk_{}", hex::encode(bytes)))
}

impl Store {
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &[String],
    ) -> Result<NewToken, StoreError> {
        let token = random_secret()?;
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO api_token (id, name, hash, scopes) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(hash_token(&token))
            .bind(scopes)
            .execute(&self.pool)
            .await?;
        Ok(NewToken {
            id,
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            token,
        })
    }

    /// The scopes of a live (not revoked) token, with its id.
    pub async fn token_scopes(
        &self,
        token: &str,
    ) -> Result<Option<(Uuid, String, Vec<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scopes FROM api_token WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_token(token))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("scopes")?)))
            .transpose()
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, scopes, created_at, revoked_at FROM api_token ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    scopes: r.try_get("scopes")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token; `false` if there was no live token with that id.
    pub async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_token SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
