//! `[sink] type = "postgres"`: `url`, `schema`, `pool`.

use serde::Deserialize;

use crate::config::{ConfigError, Secret, invalid};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: String,
    schema: Option<String>,
    pool: Option<u32>,
}

/// The cache database.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// The fagsystem's database (not the hub's).
    pub url: Secret,
    /// The schema the cache lives in (default `orghub_cache`): `^[a-z_][a-z0-9_]{0,62}$`.
    pub schema: String,
    /// Connections in the pool (default 4).
    pub pool: u32,
}

impl PostgresConfig {
    pub fn parse(table: toml::Table) -> Result<Self, ConfigError> {
        let raw: Raw = crate::sinks::options(table)?;
        let scheme_ok = raw.url.starts_with("postgres://") || raw.url.starts_with("postgresql://");
        if !scheme_ok || raw.url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
            return Err(invalid(
                "sink.url",
                format!(
                    "{:?} is not a PostgreSQL URL (postgres://user@host:5432/database)",
                    orghub_runtime::redact_url(&raw.url)
                ),
            ));
        }
        let schema = raw.schema.unwrap_or_else(|| "orghub_cache".to_owned());
        let ident_ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .enumerate()
                .all(|(i, b)| b == b'_' || b.is_ascii_lowercase() || (i > 0 && b.is_ascii_digit()));
        if !ident_ok {
            return Err(invalid(
                "sink.schema",
                format!("{schema:?} must match ^[a-z_][a-z0-9_]{{0,62}}$"),
            ));
        }
        let pool = raw.pool.unwrap_or(4);
        if !(1..=64).contains(&pool) {
            return Err(invalid("sink.pool", "must be between 1 and 64"));
        }
        Ok(PostgresConfig {
            url: Secret::new(raw.url),
            schema,
            pool,
        })
    }
}
