//! Configuration from flags and environment (DESIGN §1), parsed into types before anything binds:
//! URLs are checked and kept as [`Secret`]s, sizes are non-zero, the poll interval is a
//! `Duration`. A bad value stops the binary at argument parsing (exit 2) with a message that names
//! the variable and never shows a password; an `Application` cannot be built from an unchecked
//! value.

use std::ffi::OsStr;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use orghub_runtime::{Secret, redact_url};

use crate::clock::{Clock, ClockStart};
use sqlx::postgres::PgConnectOptions;

/// The largest `ORGHUB_RELAY_BATCH`.
pub const MAX_RELAY_BATCH: u32 = 10_000;
/// The smallest `ORGHUB_DB_POOL`: the API's requests and its readiness check each need one.
pub const MIN_DB_POOL: u32 = 2;
/// The shortest relay poll interval.
pub const MIN_RELAY_POLL: Duration = Duration::from_millis(10);
/// The shortest `ORGHUB_ADMIN_TOKEN`.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// The smallest `ORGHUB_RELAY_MAX_MESSAGE_BYTES`.
pub const MIN_RELAY_MAX_MESSAGE_BYTES: usize = 1024;
/// The shortest `ORGHUB_RELAY_CONFIRM_TIMEOUT_MS`.
pub const MIN_RELAY_CONFIRM_TIMEOUT: Duration = Duration::from_millis(100);

/// orghub-writer: the HTTP API of the organisation hub and the relay that publishes its events
/// to RabbitMQ.
#[derive(Debug, Clone, Parser)]
#[command(name = "orghub-writer", version, about, long_about = None)]
pub struct Config {
    /// PostgreSQL URL of the hub's database (created if it does not exist).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/orghub",
        hide_env_values = true,
        value_parser = Checked(DatabaseUrl::from_str)
    )]
    pub database_url: DatabaseUrl,

    /// RabbitMQ AMQP URL the relay publishes to.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true,
        value_parser = Checked(AmqpUrl::from_str)
    )]
    pub amqp_url: AmqpUrl,

    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "ORGHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Bootstrap admin token, accepted with the `admin` scope (at least 16 characters).
    #[arg(
        long,
        env = "ORGHUB_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = Checked(admin_token)
    )]
    pub admin_token: Option<Secret>,

    /// Run the relay in this process (one writer across the cluster holds the relay lock; the
    /// others stand by).
    #[arg(long, env = "ORGHUB_RELAY", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay: bool,

    /// Write the midnight transitions (`effective`/`expired` events) in this process, just
    /// after each midnight Europe/Copenhagen and at start-up for missed ones (one writer across
    /// the cluster does each run; the others stand by).
    #[arg(long, env = "ORGHUB_MIDNIGHT", default_value_t = true, action = clap::ArgAction::Set)]
    pub midnight: bool,

    /// Events the relay reads per batch, 1 to 10000 (shared between the municipalities with a
    /// backlog); up to two batches wait for their publisher confirms at once.
    #[arg(
        long,
        env = "ORGHUB_RELAY_BATCH",
        default_value = "500",
        value_parser = Checked(relay_batch)
    )]
    pub relay_batch: NonZeroU32,

    /// Milliseconds between relay polls when no notification arrives (a fallback for lost
    /// NOTIFYs; at least 10).
    #[arg(
        long = "relay-poll-ms",
        value_name = "MS",
        env = "ORGHUB_RELAY_POLL_MS",
        default_value = "1000",
        value_parser = Checked(relay_poll)
    )]
    pub relay_poll: Duration,

    /// The largest event (message body, bytes) the relay publishes, at least 1024. A larger one
    /// halts its municipality with that reason (see `orghubctl status`) instead of failing the
    /// publish; keep it at or below RabbitMQ's `max_message_size` (128 MiB by default).
    #[arg(
        long,
        env = "ORGHUB_RELAY_MAX_MESSAGE_BYTES",
        default_value = "16777216",
        value_parser = Checked(relay_max_message_bytes)
    )]
    pub relay_max_message_bytes: NonZeroUsize,

    /// Milliseconds RabbitMQ may take to take a message or confirm it before the relay counts
    /// the connection as lost, reconnects and publishes again from the confirmed positions (a
    /// memory or disk alarm blocks publishers without closing anything; at least 100).
    #[arg(
        long = "relay-confirm-timeout-ms",
        value_name = "MS",
        env = "ORGHUB_RELAY_CONFIRM_TIMEOUT_MS",
        default_value = "30000",
        value_parser = Checked(relay_confirm_timeout)
    )]
    pub relay_confirm_timeout: Duration,

    /// Maximum PostgreSQL connections of the API's pool (at least 2).
    #[arg(
        long,
        env = "ORGHUB_DB_POOL",
        default_value = "16",
        value_parser = Checked(db_pool)
    )]
    pub db_pool: NonZeroU32,

    /// Writing requests (PUT, terminate, DELETE, /changes) that may wait for their turn per
    /// municipality (at least 1); past that, a write is answered 503 with `Retry-After` instead
    /// of queueing without bound.
    #[arg(
        long,
        env = "ORGHUB_WRITE_QUEUE",
        default_value_t = crate::store::DEFAULT_WRITE_QUEUE_SIZE,
        value_parser = Checked(positive_usize)
    )]
    pub write_queue: NonZeroUsize,

    /// PostgreSQL connections for `/snapshot`, a pool of their own so that slow snapshot readers
    /// never take connections from writes; also the most snapshots served at once (more get 503
    /// with Retry-After; at least 1).
    #[arg(
        long,
        env = "ORGHUB_SNAPSHOT_POOL",
        default_value = "4",
        value_parser = Checked(positive_u32)
    )]
    pub snapshot_pool: NonZeroU32,

    /// The most snapshots one token may read at once (more get 503 with Retry-After; at least
    /// 1).
    #[arg(
        long,
        env = "ORGHUB_SNAPSHOT_PER_TOKEN",
        default_value = "2",
        value_parser = Checked(positive_u32)
    )]
    pub snapshot_per_token: NonZeroU32,

    /// Seconds a snapshot may take in all, however slowly its client reads; then it is cut (the
    /// client sees a broken body, never a short one) and its connection freed (at least 1).
    #[arg(
        long = "snapshot-timeout-secs",
        value_name = "SECS",
        env = "ORGHUB_SNAPSHOT_TIMEOUT_SECS",
        default_value = "600",
        value_parser = Checked(snapshot_timeout)
    )]
    pub snapshot_timeout: Duration,

    /// Start the writer's clock at this RFC 3339 instant (e.g. `2026-12-31T23:59:40+01:00`) and
    /// let it run at real speed from there: today, registration times, event times and the
    /// midnight transitions all read it. For tests and demos of midnight; a warning is logged
    /// when it is set. Unset: the system clock.
    #[arg(
        long,
        value_name = "RFC3339",
        env = "ORGHUB_CLOCK_START",
        value_parser = Checked(clock_start)
    )]
    pub clock_start: Option<Clock>,
}

/// A value that is not what its setting needs; the message never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// A PostgreSQL URL (`postgres://` or `postgresql://`) that sqlx accepts.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: Secret,
    options: PgConnectOptions,
}

impl DatabaseUrl {
    /// The URL itself, to connect with.
    pub fn expose(&self) -> &str {
        self.url.expose()
    }

    /// The URL with its password hidden, for messages.
    pub fn redacted(&self) -> String {
        redact_url(self.url.expose())
    }

    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }
}

impl FromStr for DatabaseUrl {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let refuse = || {
            ConfigError(format!(
                "{:?} is not a PostgreSQL URL (postgres://user@host:port/db)",
                redact_url(s)
            ))
        };
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Err(refuse());
        }
        let options = s.parse::<PgConnectOptions>().map_err(|_| refuse())?;
        Ok(DatabaseUrl {
            url: Secret::new(s),
            options,
        })
    }
}

impl fmt::Debug for DatabaseUrl {
    // PgConnectOptions' own Debug shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// An `amqp://` or `amqps://` URL with a host.
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpUrl(Secret);

impl AmqpUrl {
    /// The URL itself, to connect with.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL with its password hidden, for messages.
    pub fn redacted(&self) -> String {
        redact_url(self.0.expose())
    }

    /// `host:port` of the broker (port 5672 when the URL has none), for the readiness check.
    pub fn host_port(&self) -> String {
        let url = self.0.expose();
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if hostport.contains(':') {
            hostport.to_owned()
        } else {
            format!("{hostport}:5672")
        }
    }
}

impl FromStr for AmqpUrl {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let rest = s
            .strip_prefix("amqp://")
            .or_else(|| s.strip_prefix("amqps://"))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{:?} must start with amqp:// or amqps://",
                    redact_url(s)
                ))
            })?;
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') {
            return Err(ConfigError(format!("{:?} has no host", redact_url(s))));
        }
        Ok(AmqpUrl(Secret::new(s)))
    }
}

impl fmt::Debug for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AmqpUrl").field(&self.redacted()).finish()
    }
}

/// Admin tokens that have been published (in earlier versions of `docker-compose.yml` and the
/// README): anyone could use them, so the writer refuses to start with one.
const PUBLISHED_TOKENS: &[&str] = &["change-me-please-0123456789"];

fn admin_token(s: &str) -> Result<Secret, ConfigError> {
    if s.chars().count() < MIN_ADMIN_TOKEN_LEN {
        return Err(ConfigError(format!(
            "must be at least {MIN_ADMIN_TOKEN_LEN} characters"
        )));
    }
    if PUBLISHED_TOKENS.contains(&s) {
        return Err(ConfigError(
            "is a published example value that anyone can use; set a secret of your own (e.g. \
             `openssl rand -hex 24`)"
                .into(),
        ));
    }
    Ok(Secret::new(s))
}

fn relay_batch(s: &str) -> Result<NonZeroU32, ConfigError> {
    s.trim()
        .parse::<NonZeroU32>()
        .ok()
        .filter(|n| n.get() <= MAX_RELAY_BATCH)
        .ok_or_else(|| {
            ConfigError(format!(
                "{s:?} is not a number between 1 and {MAX_RELAY_BATCH}"
            ))
        })
}

fn relay_poll(s: &str) -> Result<Duration, ConfigError> {
    let ms: u64 = s
        .trim()
        .parse()
        .map_err(|_| ConfigError(format!("{s:?} is not a number of milliseconds")))?;
    Ok(Duration::from_millis(ms).max(MIN_RELAY_POLL))
}

fn db_pool(s: &str) -> Result<NonZeroU32, ConfigError> {
    s.trim()
        .parse::<NonZeroU32>()
        .ok()
        .filter(|n| n.get() >= MIN_DB_POOL)
        .ok_or_else(|| ConfigError(format!("{s:?} is not a number of at least {MIN_DB_POOL}")))
}

fn relay_max_message_bytes(s: &str) -> Result<NonZeroUsize, ConfigError> {
    s.trim()
        .parse::<NonZeroUsize>()
        .ok()
        .filter(|n| n.get() >= MIN_RELAY_MAX_MESSAGE_BYTES)
        .ok_or_else(|| {
            ConfigError(format!(
                "{s:?} is not a number of at least {MIN_RELAY_MAX_MESSAGE_BYTES}"
            ))
        })
}

fn relay_confirm_timeout(s: &str) -> Result<Duration, ConfigError> {
    s.trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_millis)
        .filter(|d| *d >= MIN_RELAY_CONFIRM_TIMEOUT)
        .ok_or_else(|| {
            ConfigError(format!(
                "{s:?} is not a number of milliseconds of at least {}",
                MIN_RELAY_CONFIRM_TIMEOUT.as_millis()
            ))
        })
}

fn snapshot_timeout(s: &str) -> Result<Duration, ConfigError> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|secs| *secs >= 1)
        .map(Duration::from_secs)
        .ok_or_else(|| ConfigError(format!("{s:?} is not a number of seconds of at least 1")))
}

fn clock_start(s: &str) -> Result<Clock, ConfigError> {
    let start: ClockStart = s.parse().map_err(ConfigError)?;
    Ok(Clock::starting_at(start.0))
}

fn positive_u32(s: &str) -> Result<NonZeroU32, ConfigError> {
    s.trim()
        .parse::<NonZeroU32>()
        .map_err(|_| ConfigError(format!("{s:?} is not a number of at least 1")))
}

fn positive_usize(s: &str) -> Result<NonZeroUsize, ConfigError> {
    s.trim()
        .parse::<NonZeroUsize>()
        .map_err(|_| ConfigError(format!("{s:?} is not a number of at least 1")))
}

/// A clap value parser from a parse function whose error names the setting (environment
/// variable and flag) and says what is wrong, without clap's usual echo of the raw value, which
/// would print a password.
#[derive(Clone, Copy)]
struct Checked<T>(fn(&str) -> Result<T, ConfigError>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let setting = arg.map_or_else(String::new, |a| {
            let flag = a.get_long().map(|l| format!("--{l}")).unwrap_or_default();
            match a.get_env() {
                Some(env) => format!("{} ({flag})", env.to_string_lossy()),
                None => flag,
            }
        });
        let detail = match value.to_str() {
            Some(text) => (self.0)(text).map_err(|e| e.0),
            None => Err("is not valid UTF-8".to_owned()),
        };
        detail.map_err(|detail| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{setting}: {detail}\n"))
                .with_cmd(cmd)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        Config::try_parse_from(std::iter::once("orghub-writer").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_defaults_parse() {
        let c = parse(&[]).expect("defaults");
        assert_eq!(c.amqp_url.host_port(), "127.0.0.1:5672");
        assert_eq!(c.db_pool.get(), 16);
        assert_eq!(c.relay_poll, Duration::from_secs(1));
        assert_eq!(c.relay_max_message_bytes.get(), 16 * 1024 * 1024);
        assert_eq!(c.relay_confirm_timeout, Duration::from_secs(30));
        assert_eq!(c.write_queue, crate::store::DEFAULT_WRITE_QUEUE_SIZE);
        assert_eq!(c.snapshot_pool.get(), 4);
        assert_eq!(c.snapshot_per_token.get(), 2);
        assert_eq!(c.snapshot_timeout, Duration::from_secs(600));
    }

    #[test]
    fn bad_settings_are_refused_with_a_message_naming_them() {
        let e = parse(&["--amqp-url", "http://x"]).expect_err("bad amqp");
        assert!(e.contains("AMQP_URL"), "{e}");
        let e = parse(&["--admin-token", "short"]).expect_err("short token");
        assert!(e.contains("ORGHUB_ADMIN_TOKEN") && e.contains("16"), "{e}");
        let e = parse(&["--admin-token", "change-me-please-0123456789"]).expect_err("published");
        assert!(e.contains("published example"), "{e}");
        let e = parse(&["--database-url", "mysql://x"]).expect_err("bad db");
        assert!(e.contains("DATABASE_URL"), "{e}");
        let e = parse(&["--relay-batch", "0"]).expect_err("zero batch");
        assert!(e.contains("ORGHUB_RELAY_BATCH"), "{e}");
        let e = parse(&["--relay-batch", "10001"]).expect_err("huge batch");
        assert!(e.contains("10000"), "{e}");
        let e = parse(&["--db-pool", "1"]).expect_err("tiny pool");
        assert!(e.contains("ORGHUB_DB_POOL"), "{e}");
        let e = parse(&["--relay-max-message-bytes", "1023"]).expect_err("tiny message");
        assert!(e.contains("ORGHUB_RELAY_MAX_MESSAGE_BYTES"), "{e}");
        let e = parse(&["--relay-confirm-timeout-ms", "99"]).expect_err("short timeout");
        assert!(e.contains("ORGHUB_RELAY_CONFIRM_TIMEOUT_MS"), "{e}");
        let e = parse(&["--write-queue", "0"]).expect_err("no queue");
        assert!(e.contains("ORGHUB_WRITE_QUEUE"), "{e}");
        let e = parse(&["--snapshot-pool", "0"]).expect_err("no snapshot pool");
        assert!(e.contains("ORGHUB_SNAPSHOT_POOL"), "{e}");
        let e = parse(&["--snapshot-per-token", "0"]).expect_err("no snapshots");
        assert!(e.contains("ORGHUB_SNAPSHOT_PER_TOKEN"), "{e}");
        let e = parse(&["--snapshot-timeout-secs", "0"]).expect_err("no time");
        assert!(e.contains("ORGHUB_SNAPSHOT_TIMEOUT_SECS"), "{e}");
    }

    #[test]
    fn the_clock_starts_where_orghub_clock_start_says_and_is_the_system_clock_otherwise() {
        assert_eq!(parse(&[]).expect("defaults").clock_start, None);
        let c = parse(&["--clock-start", "2026-12-31T23:59:40+01:00"]).expect("an instant");
        let clock = c.clock_start.expect("a clock");
        assert!(clock.is_set());
        assert_eq!(clock.today().to_string(), "2026-12-31");
        let e = parse(&["--clock-start", "23:59:40"]).expect_err("a time is not an instant");
        assert!(
            e.contains("ORGHUB_CLOCK_START") && e.contains("RFC 3339"),
            "{e}"
        );
    }

    #[test]
    fn a_refused_url_never_shows_its_password() {
        let e = parse(&["--amqp-url", "http://guest:hunter2@h/"]).expect_err("bad amqp");
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse(&["--database-url", "mysql://u:hunter2@h/db"]).expect_err("bad db");
        assert!(!e.contains("hunter2"), "{e}");
        let c = parse(&[
            "--database-url",
            "postgres://u:hunter2@h/db",
            "--amqp-url",
            "amqp://u:hunter2@h/%2f",
            "--admin-token",
            "hunter2-hunter2-hunter2",
        ])
        .expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
    }

    #[test]
    fn amqp_addresses_are_extracted() {
        let host_port = |s: &str| s.parse::<AmqpUrl>().expect("url").host_port();
        assert_eq!(
            host_port("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
        assert_eq!(host_port("amqp://rabbit/vh"), "rabbit:5672");
        assert_eq!(host_port("amqps://u:p@w@rabbit:5671"), "rabbit:5671");
        assert!("amqp:///vh".parse::<AmqpUrl>().is_err());
    }
}
