//! orghub's public contract, with no I/O: the single place where JSON field names are spelled.
//!
//! Layout:
//! - [`kommune`]: the 98 municipalities and the `Kommune` code type.
//! - [`values`]: validated attribute values (names, CPR, KLE numbers, contact checks).
//! - [`kind`]: the ten entity kinds and the event actions.
//! - [`facet`]: the classification's facet keys and the catalogue's deterministic class UUIDs.
//! - [`catalogue`]: the standard catalogue of Danish classes for every facet.
//! - [`entity`]: each kind's attributes, client-input parsing with JSON-pointer errors, references.
//! - [`validity`]: valid-time intervals and the timeline algebra (put, clear, merge, covers, diff).
//! - [`integrity`]: the writer's integrity rules, over a small lookup of the world they check.
//! - [`limits`]: the size limits of DESIGN §2, named once.
//! - [`document`]: the entity document returned by the API and carried in events.
//! - [`event`]: event types, routing keys, the typed event and its CloudEvents form (its
//!   structured-mode JSON written and read in one pass).
//! - [`amqp`]: the AMQP mapping of events, both ways.
//! - [`dead_letter`]: the headers a dead letter carries.
//! - [`schema`]: JSON Schemas of each kind's event data, generated from these types.
//! - [`examples`]: deterministic example events, the source of `contracts/examples/`.
//! - [`api`]: the writer API's own request and answer types (problems, import summary, tokens,
//!   readiness, each kind's bodies and answers), shared by the writer and its clients.
//! - [`openapi`]: the writer API's OpenAPI 3.1 document, a typed path per kind and operation,
//!   generated from these types (committed as `contracts/openapi.json`).

pub mod amqp;
pub mod api;
pub mod catalogue;
pub mod dead_letter;
pub mod document;
pub mod entity;
pub mod event;
pub mod examples;
pub mod facet;
pub mod integrity;
pub mod kind;
pub mod kommune;
pub mod limits;
pub mod openapi;
pub mod schema;
pub mod validity;
pub mod values;

pub use amqp::{AmqpMessage, IncomingMessage, StoredEvent, decode};
pub use document::{DocumentHead, EntityDocument};
pub use entity::{Attributes, Attrs, FieldError, Reference, parse_state};
pub use event::{DecodeError, EventType, OrgEvent, RoutingKey};
pub use facet::Facet;
pub use kind::{Action, EntityKind};
pub use kommune::{Kommune, KommuneError};
pub use validity::{Segment, Timeline, TimelineDiff, Validity};
