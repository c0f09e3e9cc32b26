//! `orghubctl` from outside: the demo, dead letters, a poisoned subscriber repaired, status, subscriber
//! provisioning with broker-enforced tenancy, tokens and imports.

mod classes;
mod console;
mod console_browser;
mod demo;
mod dlq;
mod poison;
mod status;
mod subscriber;
mod tokens_import;
