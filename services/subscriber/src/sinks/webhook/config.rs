//! `[sink] type = "webhook"`: `url`, `secret`, `timeout_ms`, `max_in_flight`, `state_path`,
//! `ca_file`.

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
    ca_file: Option<PathBuf>,
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
    /// PEM certificates of CAs trusted for an https `url` besides the system's (a municipality's
    /// or vendor's private CA), read and checked when the configuration is loaded.
    pub extra_roots: Option<ExtraRoots>,
}

/// CA certificates from a PEM file.
#[derive(Clone)]
pub struct ExtraRoots {
    pub path: PathBuf,
    pub certificates: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} certificates)",
            self.path.display(),
            self.certificates.len()
        )
    }
}

impl ExtraRoots {
    fn read(path: PathBuf) -> Result<ExtraRoots, String> {
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{} is not a PEM certificate bundle: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        Ok(ExtraRoots { path, certificates })
    }
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
        let extra_roots = match raw.ca_file {
            None => None,
            Some(_) if url.scheme() != "https" => {
                return Err(invalid(
                    "sink.ca_file",
                    "is only used for an https:// url; remove it or use https",
                ));
            }
            Some(path) => Some(ExtraRoots::read(path).map_err(|m| invalid("sink.ca_file", m))?),
        };
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
            extra_roots,
        })
    }
}
