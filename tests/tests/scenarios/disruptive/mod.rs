//! Scenarios that disrupt the shared services (stop RabbitMQ, set an alarm): they must never run
//! beside another test. `.config/nextest.toml` keeps every test under `disruptive::` out of a
//! plain `cargo nextest run` (the default filter) and, in the `ci` profile that includes them,
//! makes each take every test thread, so it runs alone. Each restores the service before it
//! ends, also when it fails (a guard's `Drop`).
//!
//! On a machine shared with other test runs, run them under an exclusive lock:
//! `flock -x /tmp/orghub-services.lock cargo nextest run --workspace --profile ci -E 'test(/^disruptive::/)'`.

mod alarm;
mod writer;
