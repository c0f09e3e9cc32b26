//! `[sink] type = "ndjson"`: `path`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{ConfigError, invalid};

/// Where the events go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NdjsonConfig {
    /// The file events are appended to (created if missing; its directory must exist).
    pub path: PathBuf,
}

impl NdjsonConfig {
    pub fn parse(table: toml::Table) -> Result<Self, ConfigError> {
        let config: NdjsonConfig = crate::sinks::options(table)?;
        if config.path.as_os_str().is_empty() {
            return Err(invalid("sink.path", "must not be empty"));
        }
        Ok(config)
    }
}
