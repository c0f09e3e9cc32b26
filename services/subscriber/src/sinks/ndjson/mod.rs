//! The `ndjson` sink: appends every applied event to a file, one structured-mode CloudEvent JSON
//! per line, flushed to disk before the runtime acknowledges. Meant for debugging and audits.
//!
//! The version state is the file itself: at start every line is read back (the newest
//! `entityversion` per `subject` wins), so a restart never writes an older version after a newer
//! one. A torn last line (a crash mid-write) is skipped and the next write starts on a new line.
//! Resync appends re-statements (marked `"orghubresync": true`) and, for entities the snapshot no
//! longer has, a `deleted` re-statement.

mod config;
mod sink;
mod state;

pub use config::NdjsonConfig;
pub use sink::NdjsonSink;
