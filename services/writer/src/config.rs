//! Configuration from flags and environment (DESIGN §1), checked before anything binds.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// orghub-writer: the HTTP API of the organisation hub and the relay that publishes its events
/// to RabbitMQ.
#[derive(Debug, Clone, Parser)]
#[command(name = "orghub-writer", version, about, long_about = None)]
pub struct Config {
    /// PostgreSQL URL of the hub's database (created if it does not exist).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/orghub"
    )]
    pub database_url: String,

    /// RabbitMQ AMQP URL the relay publishes to.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "ORGHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Bootstrap admin token, accepted with the `admin` scope (at least 16 characters).
    #[arg(long, env = "ORGHUB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Run the relay in this process (one writer across the cluster holds the relay lock; the
    /// others stand by).
    #[arg(long, env = "ORGHUB_RELAY", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay: bool,

    /// Events the relay reads per batch (shared between the municipalities with a backlog); up
    /// to two batches wait for their publisher confirms at once.
    #[arg(long, env = "ORGHUB_RELAY_BATCH", default_value_t = 500)]
    pub relay_batch: u32,

    /// Milliseconds between relay polls when no notification arrives (a fallback for lost
    /// NOTIFYs).
    #[arg(long, env = "ORGHUB_RELAY_POLL_MS", default_value_t = 1000)]
    pub relay_poll_ms: u64,

    /// Maximum PostgreSQL connections of the API's pool.
    #[arg(long, env = "ORGHUB_DB_POOL", default_value_t = 16)]
    pub db_pool: u32,
}

/// Admin tokens that have been published (in earlier versions of `docker-compose.yml` and the
/// README): anyone could use them, so the writer refuses to start with one.
const PUBLISHED_TOKENS: &[&str] = &["change-me-please-0123456789"];

/// An admin token must be long enough to guess and must not be one of the published examples.
pub fn check_admin_token(token: &str) -> Result<(), String> {
    if token.len() < 16 {
        return Err("ORGHUB_ADMIN_TOKEN must be at least 16 characters".into());
    }
    if PUBLISHED_TOKENS.contains(&token) {
        return Err(
            "ORGHUB_ADMIN_TOKEN is a published example value that anyone can use; set a secret of \
             your own (e.g. `openssl rand -hex 24`)"
                .into(),
        );
    }
    Ok(())
}

impl Config {
    /// Checks what clap cannot: a clear message before anything binds.
    pub fn validate(&self) -> Result<(), String> {
        let scheme_ok = self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://");
        if !scheme_ok
            || self
                .database_url
                .parse::<sqlx::postgres::PgConnectOptions>()
                .is_err()
        {
            return Err(format!(
                "DATABASE_URL {:?} is not a PostgreSQL URL (postgres://user@host:port/db)",
                redact(&self.database_url)
            ));
        }
        if !(self.amqp_url.starts_with("amqp://") || self.amqp_url.starts_with("amqps://")) {
            return Err(format!(
                "AMQP_URL {:?} must start with amqp:// or amqps://",
                redact(&self.amqp_url)
            ));
        }
        if let Some(token) = &self.admin_token {
            check_admin_token(token)?;
        }
        if self.relay_batch == 0 || self.relay_batch > 10_000 {
            return Err("ORGHUB_RELAY_BATCH must be between 1 and 10000".into());
        }
        if self.db_pool < 2 {
            return Err("ORGHUB_DB_POOL must be at least 2".into());
        }
        Ok(())
    }

    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms.max(10))
    }
}

/// The URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/orghub"),
            "postgres://postgres@127.0.0.1/orghub"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_a_message() {
        let mut c = Config::parse_from(["orghub-writer"]);
        assert!(c.validate().is_ok());
        c.amqp_url = "http://x".into();
        assert!(c.validate().expect_err("bad amqp").contains("AMQP_URL"));
        let mut c = Config::parse_from(["orghub-writer", "--admin-token", "short"]);
        assert!(c.validate().expect_err("short token").contains("16"));
        c.admin_token = Some("change-me-please-0123456789".into());
        assert!(
            c.validate()
                .expect_err("published token")
                .contains("published example")
        );
        c.admin_token = None;
        c.database_url = "mysql://x".into();
        assert!(c.validate().expect_err("bad db").contains("DATABASE_URL"));
    }
}
