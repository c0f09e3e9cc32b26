//! orghub's black-box scenarios: one test binary (each links the whole workspace, so one link
//! instead of twenty), one module per part of the hub. Every scenario runs against the real
//! PostgreSQL and RabbitMQ through the `orghub_tests` harness: a fresh database and vhost each,
//! in-process services on port 0, `eventually` instead of sleeps.
//!
//! A new scenario file goes in the module of what it tests (`writer/`, `subscriber/`, `ops/`,
//! `isolation/`, …) with a `mod <file>;` line in that module's `mod.rs`. Scenarios that disrupt
//! the shared services go under [`disruptive`], which runs alone.

mod broker;
mod deploy_files;
mod disruptive;
mod generator;
mod harness;
mod isolation;
mod midnight;
mod ops;
mod sources;
mod structure;
mod subscriber;
mod writer;
