//! Logging set-up: `tracing` to stderr, JSON lines when not on a terminal.

use std::io::IsTerminal;

/// Initialises `tracing` for a service: JSON lines when stderr is not a terminal, readable text
/// when it is; the level from `RUST_LOG` (default `info`).
pub fn init(service: &str) {
    init_with(service, "info")
}

/// Like [`init`] for a command-line tool, whose own output is the point: warnings and errors
/// only unless `RUST_LOG` says otherwise.
pub fn init_quiet(service: &str) {
    // lapin also logs, at ERROR, connection errors that reach the tool through its own calls
    // anyway (and harmless ones while shutting down).
    init_with(service, "warn,lapin=off")
}

fn init_with(service: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // lapin logs every returned (unroutable) message with its body at WARN; the relay counts
        // them instead.
        tracing_subscriber::EnvFilter::new(format!("{level},lapin::returned_messages=error"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().with_current_span(false).try_init()
    };
    if result.is_ok() {
        tracing::debug!(service, "logging initialised");
    }
}
