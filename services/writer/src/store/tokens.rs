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

/// A live token as authentication reads it.
#[derive(Debug, Clone)]
pub struct LiveToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub source: Option<String>,
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
        source: Option<&str>,
    ) -> Result<NewToken, StoreError> {
        let token = random_secret()?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO api_token (id, name, hash, scopes, source) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(hash_token(&token))
        .bind(scopes)
        .bind(source)
        .execute(&self.pool)
        .await?;
        Ok(NewToken {
            id,
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            source: source.map(str::to_owned),
            token,
        })
    }

    /// A live (not revoked) token's id, name, scopes and source.
    pub async fn token_scopes(&self, token: &str) -> Result<Option<LiveToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scopes, source FROM api_token WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_token(token))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LiveToken {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                scopes: r.try_get("scopes")?,
                source: r.try_get("source")?,
            })
        })
        .transpose()
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, scopes, source, created_at, revoked_at FROM api_token ORDER BY created_at",
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
                    source: r.try_get("source")?,
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
