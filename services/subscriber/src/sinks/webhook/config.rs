//! `[sink] type = "webhook"`: `url`, `secret`, `timeout_ms`, `max_in_flight`, `state_path`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, Secret, SubscriberName, http_url, invalid};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: String,
    secret: String,
    timeout_ms: Option<u64>,
    max_in_flight: Option<usize>,
    state_path: Option<PathBuf>,
}

/// Where and how events are POSTed.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: reqwest::Url,
    /// The HMAC key of `orghub-signature`.
    pub secret: Secret,
    /// Per request, connecting included (default 5 s).
    pub timeout: Duration,
    /// Requests in flight at once, each for a different entity (default 8).
    pub max_in_flight: usize,
    /// The journal of versions sent (default `<name>.webhook-state.jsonl` in the working
    /// directory).
    pub state_path: PathBuf,
    /// The subscriber's name, sent as `orghub-subscriber`.
    pub subscriber: String,
}

impl WebhookConfig {
    pub fn parse(table: toml::Table, name: &SubscriberName) -> Result<Self, ConfigError> {
        let raw: Raw = crate::sinks::options(table)?;
        let url = http_url(&raw.url).map_err(|m| invalid("sink.url", m))?;
        if raw.secret.len() < 16 {
            return Err(invalid("sink.secret", "must be at least 16 characters"));
        }
        let timeout_ms = raw.timeout_ms.unwrap_or(5000);
        if !(1..=300_000).contains(&timeout_ms) {
            return Err(invalid("sink.timeout_ms", "must be between 1 and 300000"));
        }
        let max_in_flight = raw.max_in_flight.unwrap_or(8);
        if !(1..=256).contains(&max_in_flight) {
            return Err(invalid("sink.max_in_flight", "must be between 1 and 256"));
        }
        Ok(WebhookConfig {
            url,
            secret: Secret::new(raw.secret),
            timeout: Duration::from_millis(timeout_ms),
            max_in_flight,
            state_path: raw
                .state_path
                .unwrap_or_else(|| PathBuf::from(format!("{name}.webhook-state.jsonl"))),
            subscriber: name.to_string(),
        })
    }
}
