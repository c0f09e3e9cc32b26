//! orghub's writer: the authoritative, bitemporal store of every municipality's organisation and
//! the only producer of events.
//!
//! Layout:
//! - [`clock`]: the writer's one clock (`ORGHUB_CLOCK_START`): today, registration and event
//!   times.
//! - [`config`]: flags and environment, parsed into types (URLs and tokens as `Secret`s) before
//!   anything binds.
//! - [`store`]: PostgreSQL: entities, registrations, references, the event log (outbox), tokens.
//! - [`http`]: the API of DESIGN §3: routes, auth, problem+json errors, import, snapshot.
//! - [`relay`]: publishes committed events to RabbitMQ with confirms, one active per cluster.
//! - [`midnight`]: the `effective`/`expired` events just after each midnight Europe/Copenhagen,
//!   one active per cluster.
//! - [`metrics`]: the Prometheus metrics, named once.
//! - [`app`]: wiring: `Application::build` binds, `run_until_stopped` serves until its
//!   `Shutdown` token is cancelled.

pub mod app;
pub mod clock;
pub mod config;
pub mod http;
pub mod metrics;
pub mod midnight;
pub mod relay;
pub mod store;

pub use app::Application;
pub use config::Config;
