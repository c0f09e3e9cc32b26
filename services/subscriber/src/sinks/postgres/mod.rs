//! The `postgres` sink: a cache of the organisation in the fagsystem's own PostgreSQL, in its own
//! schema (`orghub_cache` unless `schema` says otherwise), created at start with idempotent DDL.
//!
//! # What the fagsystem queries
//!
//! - `<schema>.entities`: one row per live entity: `uuid, kommune, kind, version, document
//!   (jsonb, the entity document of the event), updated_at`.
//! - One typed view per kind, named by the API's collection path (`units`, `persons`,
//!   `engagements`, `managers`, `addresses`, `kle`, `itaccounts`), with the attributes of the
//!   segment valid **today** (Europe/Copenhagen) as columns, plus `valid_from`/`valid_to`. Today is
//!   evaluated when the view is queried, so a future-dated change shows up on its day without an
//!   event, and an entity with no segment valid today (not started yet, or ended) has no row.
//!   Example: `units(uuid, kommune, version, name, user_key, unit_type, parent, valid_from,
//!   valid_to, updated_at)`.
//!
//! # Version guard and deletions
//!
//! The table `<schema>.entity` holds one row per entity ever seen, with `version`, the `sequence`
//! it was learned at, and a `deleted` flag. Writes are batched upserts that only replace an older
//! version (`ON CONFLICT (uuid) DO UPDATE ... WHERE entity.version < EXCLUDED.version`). A
//! `deleted` event keeps the row as a tombstone (`deleted = true`, excluded from every view) so
//! that an older event arriving later cannot resurrect the entity; a re-creation has a higher
//! version and replaces the tombstone. A tombstone is one small row per deleted entity, and
//! keeping it avoids a second table that every upsert would have to consult.
//!
//! # Errors
//!
//! Classified by SQLSTATE: data exceptions (class 22), integrity violations (23) and exceptions
//! raised by the fagsystem's own triggers (P0) are permanent for that event; everything else
//! (connection, lock and serialization failures, missing privileges or tables, which an operator
//! can fix) is transient. A batch that fails permanently is re-applied one event at a time, so
//! only the offending event goes to the DLQ.

mod config;
mod sink;
mod state;

pub use config::PostgresConfig;
pub use sink::PostgresSink;
