//! The writer from outside: its HTTP API, its integrity rules, and its faults (broker connections
//! closed, the process killed mid-import).

mod api;
pub(crate) mod faults;
mod integrity;
mod openapi;
