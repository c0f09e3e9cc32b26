//! `orghub-subscriber` from outside: the conformance suite every sink passes, the PostgreSQL cache,
//! the webhook sink, and faults (SIGKILL, connections closed under load).

mod conformance;
mod faults;
mod postgres;
mod webhook;
