//! Configuration: a TOML file plus flags and environment overrides, parsed into types before
//! anything connects.
//!
//! Precedence, highest first: command-line flag, environment variable, config file, default. The
//! file format is the one `orghubctl subscriber create` prints; [`FILE_HELP`] documents every key
//! and is shown by `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orghub_contracts::{EntityKind, Kommune, RoutingKey};
use serde::Deserialize;

pub use orghub_broker::SubscriberName;

use crate::retry::{Delay, RetryPolicy};
use crate::sinks::SinkConfig;

/// Default AMQP URL (DESIGN §1).
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Default address of the `/metrics` endpoint.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9465";
const DEFAULT_BATCH_SIZE: u16 = 200;
const DEFAULT_PREFETCH: u16 = 500;
const DEFAULT_BATCH_LINGER: Duration = Duration::from_millis(5);

/// Every key of the config file, shown at the end of `--help`.
pub const FILE_HELP: &str = r#"CONFIG FILE (TOML; flags and environment variables override it):
  name = "fagsystem-x"            subscriber name, ^[a-z0-9][a-z0-9-]{0,62}$; its queue is sub.<name>
  amqp_url = "amqp://..."         RabbitMQ AMQP URL with the vhost (default amqp://guest:guest@127.0.0.1:5672/%2f)
  management_url = "http://..."   optional, for development set-ups: a management API user allowed to set
                                  the policy and remove stale bindings (no default; a subscriber made by
                                  orghubctl has neither right: its operator sets the policy)
  writer_url = "http://..."       the orghub writer's base URL, for bootstrap and resync
  writer_token = "ohk_..."        a writer token with read:<kommune> for every bound municipality
  metrics_listen = "127.0.0.1:9465"  optional; address of the Prometheus /metrics endpoint
  batch_size = 200                optional; deliveries per sink write and per acknowledgement (1-5000)
  prefetch = 500                  optional; unacknowledged deliveries in flight, >= batch_size (max 65535)
  batch_linger_ms = 5             optional; how long a batch waits to fill after its first delivery

  [[bindings]]                    one or more; the queue is bound with org.<kommune>.<kind>.*
  kommune = "751"                 the kommunekode (0751 is accepted)
  kinds = ["unit", "engagement"]  optional; absent or empty = all ten kinds (unit, person,
                                  engagement, manager, address, kle, itaccount, class, group,
                                  association)

  [retry]                         optional section
  in_process = 3                  retries inside the process, with jittered exponential backoff
  tiers = ["5s", "1m", "10m"]     delayed retries via sub.<name>.retry.<delay> (units ms, s, m, h)
  delivery_limit = 10             broker redeliveries before RabbitMQ dead-letters (policy)
  backoff_min = "100ms"           first in-process backoff
  backoff_max = "5s"              longest in-process backoff

  [sink]
  type = "postgres"               postgres | webhook | ndjson
    postgres: url = "postgres://...", schema = "orghub_cache" (optional), pool = 4 (optional)
    webhook:  url = "https://...", secret = "...", timeout_ms = 5000 (optional),
              max_in_flight = 8 (optional), state_path = "<name>.webhook-state.jsonl" (optional),
              ca_file = "private-ca.pem" (optional: CAs trusted besides the system's)
    ndjson:   path = "/var/lib/orghub/events.ndjson""#;

/// orghub-subscriber: keeps a fagsystem's copy of the municipal organisation in sync by consuming
/// orghub's events from RabbitMQ into a sink (a PostgreSQL cache, a webhook, or an NDJSON file).
///
/// Every setting lives in the config file; the flags and environment variables below override
/// it.
#[derive(Debug, Clone, Parser)]
#[command(name = "orghub-subscriber", version, about, long_about, after_long_help = FILE_HELP)]
pub struct Cli {
    /// Path of the TOML config file.
    #[arg(long, short = 'c', env = "ORGHUB_SUBSCRIBER_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Subscriber name (overrides `name`).
    #[arg(long, env = "ORGHUB_SUBSCRIBER_NAME", global = true)]
    pub name: Option<String>,

    /// RabbitMQ AMQP URL including the vhost (overrides `amqp_url`).
    #[arg(long, env = "AMQP_URL", global = true, hide_env_values = true)]
    pub amqp_url: Option<String>,

    /// RabbitMQ management API URL with rights to set the subscriber's policy (overrides
    /// `management_url`; not needed for a subscriber provisioned by `orghubctl`).
    #[arg(long, env = "RABBITMQ_MGMT_URL", global = true, hide_env_values = true)]
    pub management_url: Option<String>,

    /// Base URL of the orghub writer, for bootstrap and resync (overrides `writer_url`).
    #[arg(long, env = "ORGHUB_WRITER_URL", global = true, hide_env_values = true)]
    pub writer_url: Option<String>,

    /// Writer API token with read access to the bound municipalities (overrides
    /// `writer_token`).
    #[arg(
        long,
        env = "ORGHUB_WRITER_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub writer_token: Option<String>,

    /// Address of the Prometheus `/metrics` endpoint (overrides `metrics_listen`).
    #[arg(long, env = "ORGHUB_SUBSCRIBER_METRICS", global = true)]
    pub metrics_listen: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do after start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Consume events (the default). Municipalities the sink holds nothing of are first loaded
    /// from the writer's snapshot.
    Run,
    /// Load every bound municipality from the writer's `/snapshot` into the sink (newer versions
    /// win; entities the snapshot no longer has are removed), then consume.
    Resync,
}

pub use orghub_runtime::Secret;

/// One municipality and the kinds the subscriber wants from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub kommune: Kommune,
    /// Never empty: "all kinds" is spelled out.
    pub kinds: Vec<EntityKind>,
}

impl Binding {
    /// `org.<kommune>.<kind>.*`, one per kind.
    pub fn routing_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.kinds
            .iter()
            .map(|kind| RoutingKey::binding(self.kommune, Some(*kind)))
    }
}

/// The whole, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: SubscriberName,
    pub amqp_url: Secret,
    /// Only where the credentials may set policies (development); `None` for a provisioned
    /// subscriber, whose operator set its policy.
    pub management_url: Option<Secret>,
    pub writer_url: reqwest::Url,
    pub writer_token: Secret,
    pub metrics_listen: SocketAddr,
    pub batch_size: u16,
    pub prefetch: u16,
    pub batch_linger: Duration,
    /// One per municipality (bindings of the same municipality are merged).
    pub bindings: Vec<Binding>,
    pub retry: RetryPolicy,
    pub sink: SinkConfig,
}

/// Why the configuration cannot be used. The message names the field; retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The file as written, before checking.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    name: Option<String>,
    amqp_url: Option<String>,
    management_url: Option<String>,
    writer_url: Option<String>,
    writer_token: Option<String>,
    metrics_listen: Option<String>,
    batch_size: Option<i64>,
    prefetch: Option<i64>,
    batch_linger_ms: Option<u64>,
    #[serde(default)]
    bindings: Vec<FileBinding>,
    retry: Option<FileRetry>,
    sink: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBinding {
    kommune: toml::Value,
    #[serde(default)]
    kinds: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetry {
    in_process: Option<u32>,
    tiers: Option<Vec<String>>,
    delivery_limit: Option<u32>,
    backoff_min: Option<String>,
    backoff_max: Option<String>,
}

/// Overrides of the file's values (from flags and the environment).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub amqp_url: Option<String>,
    pub management_url: Option<String>,
    pub writer_url: Option<String>,
    pub writer_token: Option<String>,
    pub metrics_listen: Option<String>,
}

impl From<&Cli> for Overrides {
    fn from(cli: &Cli) -> Self {
        let keep = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        Overrides {
            name: keep(&cli.name),
            amqp_url: keep(&cli.amqp_url),
            management_url: keep(&cli.management_url),
            writer_url: keep(&cli.writer_url),
            writer_token: keep(&cli.writer_token),
            metrics_listen: keep(&cli.metrics_listen),
        }
    }
}

impl Config {
    /// Reads the file named by `--config` / `ORGHUB_SUBSCRIBER_CONFIG` (if any) and applies the
    /// overrides.
    pub fn load(cli: &Cli) -> Result<Self, ConfigError> {
        let text = match &cli.config {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                    path: path.clone(),
                    source,
                })?
            }
            None => String::new(),
        };
        let origin = cli
            .config
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
        Self::parse(&text, &origin, &Overrides::from(cli))
    }

    /// Parses TOML text (the file's contents) without overrides.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, "(inline)", &Overrides::default())
    }

    /// Parses TOML text and applies the overrides; `origin` names the file in messages.
    pub fn parse(text: &str, origin: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let pick = |o: &Option<String>, f: Option<String>| o.clone().or(f);

        let name = pick(&overrides.name, file.name)
            .ok_or_else(|| invalid("name", "is missing (set it or ORGHUB_SUBSCRIBER_NAME)"))?;
        let name = SubscriberName::parse(&name).map_err(|e| invalid("name", e.to_string()))?;

        let amqp_url =
            pick(&overrides.amqp_url, file.amqp_url).unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned());
        if !(amqp_url.starts_with("amqp://") || amqp_url.starts_with("amqps://"))
            || orghub_broker::vhost_of(&amqp_url).is_err()
        {
            return Err(invalid(
                "amqp_url",
                format!(
                    "{:?} is not an AMQP URL (amqp://user:password@host:5672/vhost)",
                    orghub_runtime::redact_url(&amqp_url)
                ),
            ));
        }

        let management_url = pick(&overrides.management_url, file.management_url);
        if let Some(url) = &management_url {
            orghub_broker::mgmt::Management::parse(url)
                .map_err(|e| invalid("management_url", e.to_string()))?;
        }

        let writer_url = pick(&overrides.writer_url, file.writer_url).ok_or_else(|| {
            invalid(
                "writer_url",
                "is missing (set it or ORGHUB_WRITER_URL): bootstrap and resync read the writer",
            )
        })?;
        let writer_url = http_url(&writer_url).map_err(|m| invalid("writer_url", m))?;

        let writer_token = pick(&overrides.writer_token, file.writer_token)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| invalid("writer_token", "is missing (set it or ORGHUB_WRITER_TOKEN)"))?;

        let metrics_listen = pick(&overrides.metrics_listen, file.metrics_listen)
            .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.to_owned());
        let metrics_listen: SocketAddr = metrics_listen.parse().map_err(|_| {
            invalid(
                "metrics_listen",
                format!("{metrics_listen:?} is not an address like 127.0.0.1:9465"),
            )
        })?;

        let batch_size = bounded(
            "batch_size",
            file.batch_size,
            DEFAULT_BATCH_SIZE.into(),
            1,
            5000,
        )?;
        let prefetch = bounded(
            "prefetch",
            file.prefetch,
            DEFAULT_PREFETCH.max(batch_size).into(),
            1,
            65535,
        )?;
        if prefetch < batch_size {
            return Err(invalid(
                "prefetch",
                format!(
                    "{prefetch} is smaller than batch_size {batch_size}: batches could never fill"
                ),
            ));
        }
        let batch_linger = file
            .batch_linger_ms
            .map_or(DEFAULT_BATCH_LINGER, Duration::from_millis);
        if batch_linger > Duration::from_secs(10) {
            return Err(invalid("batch_linger_ms", "must be at most 10000"));
        }

        let bindings = parse_bindings(file.bindings)?;
        let retry = parse_retry(file.retry.unwrap_or_default())?;
        let sink_table = file.sink.ok_or_else(|| {
            invalid(
                "sink",
                "is missing: add a [sink] section with type = \"postgres\", \"webhook\" or \
                 \"ndjson\"",
            )
        })?;
        let sink = SinkConfig::parse(sink_table, &name)?;

        Ok(Config {
            name,
            amqp_url: Secret::new(amqp_url),
            management_url: management_url.map(Secret::new),
            writer_url,
            writer_token: Secret::new(writer_token),
            metrics_listen,
            batch_size,
            prefetch,
            batch_linger,
            bindings,
            retry,
            sink,
        })
    }

    /// The vhost of [`Config::amqp_url`] (`/` when the URL has none).
    pub fn vhost(&self) -> String {
        orghub_broker::vhost_of(self.amqp_url.expose()).unwrap_or_else(|_| "/".to_owned())
    }

    /// Every binding key of the subscriber's queue on `org.events`.
    pub fn routing_keys(&self) -> Vec<String> {
        self.bindings
            .iter()
            .flat_map(Binding::routing_keys)
            .collect()
    }
}

fn bounded(
    field: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<u16, ConfigError> {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(invalid(
            field,
            format!("{v} must be between {min} and {max}"),
        ));
    }
    u16::try_from(v).map_err(|_| invalid(field, format!("{v} is too large")))
}

/// An absolute http(s) URL.
pub(crate) fn http_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{s:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(url)
}

fn parse_bindings(raw: Vec<FileBinding>) -> Result<Vec<Binding>, ConfigError> {
    if raw.is_empty() {
        return Err(invalid(
            "bindings",
            "at least one [[bindings]] entry with a kommune is required",
        ));
    }
    let mut out: Vec<Binding> = Vec::new();
    for (i, b) in raw.into_iter().enumerate() {
        let code = match &b.kommune {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            other => {
                return Err(invalid(
                    format!("bindings[{i}].kommune"),
                    format!("{other} is not a kommunekode"),
                ));
            }
        };
        let kommune = Kommune::parse(&code)
            .map_err(|e| invalid(format!("bindings[{i}].kommune"), e.to_string()))?;
        let mut kinds = Vec::new();
        for (j, word) in b.kinds.iter().enumerate() {
            let kind: EntityKind = word
                .parse()
                .map_err(|m: String| invalid(format!("bindings[{i}].kinds[{j}]"), m))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            kinds = EntityKind::ALL.to_vec();
        }
        match out.iter_mut().find(|o| o.kommune == kommune) {
            Some(existing) => {
                for k in kinds {
                    if !existing.kinds.contains(&k) {
                        existing.kinds.push(k);
                    }
                }
            }
            None => out.push(Binding { kommune, kinds }),
        }
    }
    for b in &mut out {
        b.kinds.sort();
    }
    Ok(out)
}

fn parse_retry(raw: FileRetry) -> Result<RetryPolicy, ConfigError> {
    let defaults = RetryPolicy::default();
    let in_process = raw.in_process.unwrap_or(defaults.in_process);
    if in_process > 20 {
        return Err(invalid("retry.in_process", "must be at most 20"));
    }
    let tiers = match raw.tiers {
        None => defaults.tiers,
        Some(list) => {
            let mut tiers: Vec<Delay> = Vec::with_capacity(list.len());
            for (i, text) in list.iter().enumerate() {
                let d = Delay::parse(text).map_err(|m| invalid(format!("retry.tiers[{i}]"), m))?;
                if tiers.contains(&d) {
                    return Err(invalid(
                        format!("retry.tiers[{i}]"),
                        format!("{d} appears twice"),
                    ));
                }
                tiers.push(d);
            }
            if tiers.len() > 10 {
                return Err(invalid("retry.tiers", "at most 10 tiers"));
            }
            tiers
        }
    };
    let delivery_limit = raw.delivery_limit.unwrap_or(defaults.delivery_limit);
    if delivery_limit == 0 || delivery_limit > 1000 {
        return Err(invalid(
            "retry.delivery_limit",
            "must be between 1 and 1000",
        ));
    }
    let duration =
        |field: &str, v: Option<String>, default: Duration| -> Result<Duration, ConfigError> {
            match v {
                None => Ok(default),
                Some(text) => Delay::parse(&text)
                    .map(|d| d.duration())
                    .map_err(|m| invalid(field, m)),
            }
        };
    let backoff_min = duration("retry.backoff_min", raw.backoff_min, defaults.backoff_min)?;
    let backoff_max = duration("retry.backoff_max", raw.backoff_max, defaults.backoff_max)?;
    if backoff_max < backoff_min {
        return Err(invalid(
            "retry.backoff_max",
            "must not be smaller than backoff_min",
        ));
    }
    Ok(RetryPolicy {
        in_process,
        tiers,
        delivery_limit,
        backoff_min,
        backoff_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "fagsystem-x"
        writer_url = "http://127.0.0.1:8080"
        writer_token = "ohk_secret"
        [[bindings]]
        kommune = "751"
        [sink]
        type = "ndjson"
        path = "/tmp/events.ndjson"
    "#;

    fn err(text: &str) -> String {
        Config::from_toml(text).expect_err("invalid").to_string()
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let c = Config::from_toml(MINIMAL).expect("valid");
        assert_eq!(c.name.as_str(), "fagsystem-x");
        assert_eq!(c.amqp_url.expose(), DEFAULT_AMQP_URL);
        assert_eq!(c.vhost(), "/");
        assert!(c.management_url.is_none());
        assert_eq!(c.metrics_listen.to_string(), DEFAULT_METRICS_LISTEN);
        assert_eq!((c.batch_size, c.prefetch), (200, 500));
        assert_eq!(c.bindings.len(), 1);
        assert_eq!(c.bindings[0].kinds, EntityKind::ALL);
        assert_eq!(c.routing_keys().len(), EntityKind::ALL.len());
        for kind in ["itaccount", "class", "group", "association"] {
            assert!(
                c.routing_keys().contains(&format!("org.751.{kind}.*")),
                "{kind}"
            );
        }
        assert_eq!(
            c.retry
                .tiers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["5s", "1m", "10m"]
        );
        assert_eq!((c.retry.in_process, c.retry.delivery_limit), (3, 10));
    }

    #[test]
    fn bindings_accept_the_classification_and_group_kinds() {
        let c = Config::from_toml(&MINIMAL.replace(
            "kommune = \"751\"",
            "kommune = \"751\"\nkinds = [\"association\", \"class\", \"group\"]",
        ))
        .expect("valid");
        let mut keys = c.routing_keys();
        keys.sort();
        assert_eq!(
            keys,
            [
                "org.751.association.*",
                "org.751.class.*",
                "org.751.group.*"
            ]
        );
    }

    #[test]
    fn the_example_file_of_the_ops_conventions_parses() {
        let text = r#"
            name = "fagsystem-x"
            amqp_url = "amqp://sub-fagsystem-x:PASSWORD@127.0.0.1:5672/%2f"
            management_url = "http://guest:guest@127.0.0.1:15672"
            writer_url = "http://127.0.0.1:8080"
            writer_token = "ohk_abc"
            metrics_listen = "127.0.0.1:9465"
            batch_size = 200
            prefetch = 500

            [[bindings]]
            kommune = "751"
            kinds = ["unit", "engagement"]

            [[bindings]]
            kommune = "0101"

            [retry]
            in_process = 3
            tiers = ["5s", "1m", "10m"]
            delivery_limit = 10

            [sink]
            type = "postgres"
            url = "postgres://postgres@127.0.0.1:5432/fagsystem"
        "#;
        let c = Config::from_toml(text).expect("valid");
        assert_eq!(
            c.bindings[0].kinds,
            [EntityKind::Unit, EntityKind::Engagement]
        );
        assert_eq!(c.bindings[1].kommune.to_string(), "101");
        assert!(
            !format!("{c:?}").contains("PASSWORD"),
            "secrets stay out of Debug"
        );
        assert!(!format!("{c:?}").contains("ohk_abc"));
    }

    #[test]
    fn the_deploy_example_parses() {
        let c = Config::from_toml(include_str!("../../../deploy/subscriber.example.toml"))
            .expect("deploy/subscriber.example.toml is valid");
        assert_eq!(c.bindings.len(), 2);
        assert!(matches!(c.sink, SinkConfig::Postgres(_)));
    }

    #[test]
    fn overrides_win_over_the_file() {
        let overrides = Overrides {
            name: Some("other".into()),
            metrics_listen: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        };
        let c = Config::parse(MINIMAL, "f", &overrides).expect("valid");
        assert_eq!(c.name.as_str(), "other");
        assert_eq!(c.metrics_listen.port(), 0);
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let cases = [
            (MINIMAL.replace("fagsystem-x", "Fag_X"), "name"),
            (MINIMAL.replace("\"751\"", "\"999\""), "bindings[0].kommune"),
            (
                MINIMAL.replace("kommune = \"751\"", "kommune = \"751\"\nkinds = [\"team\"]"),
                "bindings[0].kinds[0]",
            ),
            (
                MINIMAL.replace("http://127.0.0.1:8080", "ftp://x"),
                "writer_url",
            ),
            (
                MINIMAL.replace("type = \"ndjson\"", "type = \"kafka\""),
                "sink.type",
            ),
            (
                format!("{MINIMAL}\n[retry]\ntiers = [\"5 s\"]"),
                "retry.tiers[0]",
            ),
            (format!("batch_size = 0\n{MINIMAL}"), "batch_size"),
            (
                format!("batch_size = 600\nprefetch = 500\n{MINIMAL}"),
                "prefetch",
            ),
            (format!("amqp_url = \"http://x\"\n{MINIMAL}"), "amqp_url"),
            (format!("surprise = 1\n{MINIMAL}"), "surprise"),
        ];
        for (text, field) in cases {
            let message = err(&text);
            assert!(message.contains(field), "{field}: {message}");
        }
        assert!(err("").contains("name"));
    }

    #[test]
    fn a_webhook_ca_file_must_be_a_readable_pem_bundle_for_an_https_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let webhook = |url: &str, ca_file: &std::path::Path| {
            MINIMAL.replace(
                "type = \"ndjson\"\n        path = \"/tmp/events.ndjson\"",
                &format!(
                    "type = \"webhook\"\nurl = \"{url}\"\nsecret = \"0123456789abcdef\"\n\
                     ca_file = \"{}\"",
                    ca_file.display()
                ),
            )
        };
        let missing = dir.path().join("missing.pem");
        let message = err(&webhook("https://fagsystem.example.dk/hook", &missing));
        assert!(
            message.contains("sink.ca_file") && message.contains("cannot read"),
            "{message}"
        );
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate").expect("write");
        let message = err(&webhook("https://fagsystem.example.dk/hook", &not_pem));
        assert!(
            message.contains("sink.ca_file") && message.contains("no PEM certificate"),
            "{message}"
        );
        let message = err(&webhook("http://fagsystem.example.dk/hook", &not_pem));
        assert!(
            message.contains("sink.ca_file") && message.contains("https"),
            "{message}"
        );
    }
}
