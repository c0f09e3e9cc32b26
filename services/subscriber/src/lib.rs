//! orghub's subscriber adapter: keeps a fagsystem's copy of the organisation in sync with the
//! hub. A runtime owns the AMQP consume loop, acknowledgement, retries and dead-lettering; sinks
//! behind a small trait only apply events (DESIGN §5).
//!
//! Layout:
//! - [`config`]: the TOML file, flags and environment, parsed into types before anything
//!   connects.
//! - [`sink`]: the [`Sink`] trait and its acknowledgement contract.
//! - [`sinks`]: `postgres/`, `webhook/`, `ndjson/`, each with `config.rs`, `state.rs`, `sink.rs`.
//! - [`runtime`]: sessions, the consume loop, batches, settlement; `republish` for retry and
//!   dead-letter copies. Shutdown is bounded ([`app::SHUTDOWN_GRACE`]).
//! - [`retry`]: the retry policy, delay names, and what follows a transient failure.
//! - [`topology`]: checking the subscriber's topology and binding its keys at each connect
//!   (the conventions are `orghub_broker::subscriber`'s; the operator declares them).
//! - [`resync`]: bootstrap and repair from the writer's `/snapshot` (read by `orghub-client`).
//! - [`metrics`]: the Prometheus metrics, named once (`orghub-runtime` serves them).
//! - [`app`]: wiring: [`Subscriber::build`], [`Subscriber::run_until_stopped`].

pub mod app;
pub mod config;
pub mod metrics;
pub mod resync;
pub mod retry;
pub mod runtime;
pub mod sink;
pub mod sinks;
pub mod topology;

pub use app::Subscriber;
pub use config::{Cli, Command, Config};
pub use sink::{Applied, ResyncScope, Sink, SinkError};
pub use sinks::AnySink;
