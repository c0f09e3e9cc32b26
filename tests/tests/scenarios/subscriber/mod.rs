//! `orghub-subscriber` from outside: the conformance suite every sink passes, the PostgreSQL cache
//! and its views of the organisation's structure, midnight events in every sink,
//! the webhook sink, and faults (SIGKILL, connections closed under load).

mod conformance;
mod faults;
mod postgres;
mod structure;
mod webhook;
