//! The `postgres` sink: a cache of the organisation in the fagsystem's own PostgreSQL, in its own
//! schema (`orghub_cache` unless `schema` says otherwise), created at start with idempotent DDL.
//!
//! # What the fagsystem queries
//!
//! - `<schema>.entities`: one row per live entity: `uuid, kommune, kind, version, document
//!   (jsonb, the entity document of the event), updated_at`.
//! - One typed view per kind, named by the API's collection path (`units`, `persons`,
//!   `engagements`, `managers`, `addresses`, `kle`, `itaccounts`, `classes`, `groups`,
//!   `associations`), with the attributes of the segment valid **today** (Europe/Copenhagen) as
//!   columns, plus `valid_from`/`valid_to`. Today is evaluated when the view is queried, so a
//!   future-dated change shows up on its day without an event, and an entity with no segment
//!   valid today (not started yet, or ended) has no row. Columns are named as the attributes,
//!   except SQL's reserved words (`primary` is `is_primary`, an association's `group` is
//!   `group_uuid`). Example: `units(uuid, kommune, version, name, user_key, unit_type,
//!   unit_type_title, unit_level, unit_level_title, hierarchy, hierarchy_title, parent,
//!   valid_from, valid_to, updated_at)`.
//!
//! # Class references
//!
//! Every class reference is a `uuid` column named as the attribute, followed by its title today
//! in `<attribute>_title` (`job_title`, `job_title_title`; lists: `responsibilities uuid[]`,
//! `responsibility_titles text[]` in the same order). The title is looked up in the `classes`
//! view when the referencing view is queried, for the same date, so a class renamed by one class
//! event shows in every referencing row at once: the hub does not re-publish referencing
//! entities, and the cache does not need it to. A join does the same for any class column:
//! `JOIN orghub_cache.classes c ON c.uuid = e.engagement_type`. A reference to a class the cache
//! does not hold, or one not valid today, has a null title. A class's own `parent` is
//! resolved by joining `classes` to itself.
//!
//! Two consumer queries, in [`queries`] and run by the scenario tests:
//!
#![doc = concat!("```sql\n", include_str!("queries/committee_members.sql"), "```\n")]
//!
#![doc = concat!("```sql\n", include_str!("queries/unit_engagements.sql"), "```\n")]
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

//! The midnight actions `effective` and `expired` are applied like any other event: their
//! `entityversion` is one more than the entity's last, so they replace the document (whose
//! `current` moved), and a late or duplicate one is skipped. The views do not need them (they
//! compute today's segment when queried), `entities.document->'current'` does.
//!
//! # Upgrades
//!
//! The views carry a layout version (`<schema>.cache_layout`); a subscriber that finds an older
//! layout drops and recreates the views once at start, in the DDL's transaction. Cached documents
//! are kept: a label cached before class references shows as a null `uuid` column (never an
//! error) until the entity's next event or a `resync` replaces it.
//! Recreated views lose the grants given on them: a fagsystem that grants its readers access per
//! view should use `ALTER DEFAULT PRIVILEGES IN SCHEMA <schema> GRANT SELECT ON TABLES TO ...`
//! (or grant again after an upgrade); a fagsystem view built on ours makes the start fail with
//! PostgreSQL's "other objects depend on it" instead of being dropped with ours.
//!
//! # Errors
//!
//! Classified by SQLSTATE: data exceptions (class 22), integrity violations (23) and exceptions
//! raised by the fagsystem's own triggers (P0) are permanent for that event; everything else
//! (connection, lock and serialization failures, missing privileges or tables, which an operator
//! can fix) is transient. A batch that fails permanently is re-applied one event at a time, so
//! only the offending event goes to the DLQ.

mod config;
pub mod queries;
mod sink;
mod state;

pub use config::PostgresConfig;
pub use sink::PostgresSink;
