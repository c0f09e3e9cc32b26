//! The sinks, one folder each with the same files:
//!
//! - `config.rs`: the `[sink]` options of that type, parsed and checked.
//! - `state.rs`: where the sink remembers which version of each entity it holds (the version
//!   guard), and how that survives a restart.
//! - `sink.rs`: the [`Sink`](crate::sink::Sink) implementation.
//! - `mod.rs`: what the sink does for a fagsystem, in prose.
//!
//! [`SinkConfig`] picks one from the config file; [`AnySink`] is the one the binary runs.
//! [`versions`] is the in-memory version map the file-backed sinks share.

pub mod ndjson;
pub mod postgres;
pub mod versions;
pub mod webhook;

use std::collections::HashSet;

use orghub_contracts::{Attrs, EntityDocument, Kommune, OrgEvent};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::config::{ConfigError, SubscriberName, invalid};
use crate::sink::{Applied, ResyncScope, Sink, SinkError};

/// The `[sink]` section.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    Postgres(postgres::PostgresConfig),
    Webhook(webhook::WebhookConfig),
    Ndjson(ndjson::NdjsonConfig),
}

impl SinkConfig {
    /// Reads `type` and hands the rest to that sink's config.
    pub fn parse(mut table: toml::Table, name: &SubscriberName) -> Result<Self, ConfigError> {
        let kind = match table.remove("type") {
            Some(toml::Value::String(s)) => s,
            Some(other) => return Err(invalid("sink.type", format!("{other} is not a string"))),
            None => {
                return Err(invalid(
                    "sink.type",
                    "is missing: \"postgres\", \"webhook\" or \"ndjson\"",
                ));
            }
        };
        match kind.as_str() {
            "postgres" => postgres::PostgresConfig::parse(table).map(SinkConfig::Postgres),
            "webhook" => webhook::WebhookConfig::parse(table, name).map(SinkConfig::Webhook),
            "ndjson" => ndjson::NdjsonConfig::parse(table).map(SinkConfig::Ndjson),
            other => Err(invalid(
                "sink.type",
                format!("{other:?} is not one of \"postgres\", \"webhook\", \"ndjson\""),
            )),
        }
    }
}

/// Deserialises a sink's options from its table, unknown keys refused, errors prefixed `sink`.
pub(crate) fn options<T: DeserializeOwned>(table: toml::Table) -> Result<T, ConfigError> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| invalid("sink", e.message().trim_end().to_owned()))
}

/// Whichever sink the config names.
#[derive(Debug)]
pub enum AnySink {
    Postgres(postgres::PostgresSink),
    Webhook(webhook::WebhookSink),
    Ndjson(ndjson::NdjsonSink),
}

impl AnySink {
    /// Opens the configured sink: connects and prepares the cache schema, or reads the state file.
    pub async fn open(config: &SinkConfig) -> anyhow::Result<Self> {
        Ok(match config {
            SinkConfig::Postgres(c) => AnySink::Postgres(postgres::PostgresSink::open(c).await?),
            SinkConfig::Webhook(c) => AnySink::Webhook(webhook::WebhookSink::open(c).await?),
            SinkConfig::Ndjson(c) => AnySink::Ndjson(ndjson::NdjsonSink::open(c).await?),
        })
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $body:expr) => {
        match $self {
            AnySink::Postgres($s) => $body,
            AnySink::Webhook($s) => $body,
            AnySink::Ndjson($s) => $body,
        }
    };
}

impl Sink for AnySink {
    fn kind(&self) -> &'static str {
        each!(self, s => s.kind())
    }

    async fn apply(&self, events: &[OrgEvent]) -> Vec<Result<Applied, SinkError>> {
        each!(self, s => s.apply(events).await)
    }

    async fn is_empty(&self, kommune: Kommune) -> Result<bool, SinkError> {
        each!(self, s => s.is_empty(kommune).await)
    }

    async fn resync_load(
        &self,
        scope: &ResyncScope,
        documents: &[EntityDocument<Attrs>],
    ) -> Result<u64, SinkError> {
        each!(self, s => s.resync_load(scope, documents).await)
    }

    async fn resync_prune(
        &self,
        scope: &ResyncScope,
        present: &HashSet<Uuid>,
    ) -> Result<u64, SinkError> {
        each!(self, s => s.resync_prune(scope, present).await)
    }
}
