//! Events: types, routing keys, and the typed event with its CloudEvents form (DESIGN §4).

use std::fmt;

use chrono::{DateTime, Utc};
use cloudevents::event::{Data, ExtensionValue};
use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use uuid::Uuid;

use crate::document::EntityDocument;
use crate::entity::Attrs;
use crate::kind::{Action, EntityKind};
use crate::kommune::Kommune;

mod structured;

const TYPE_PREFIX: &str = "dk.orghub.org.";
const TYPE_SUFFIX: &str = ".v1";
pub(crate) const SOURCE_PREFIX: &str = "/orghub/kommune/";
/// `datacontenttype` of every event.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// Why a message is not a usable orghub event. Every variant is permanent: retrying the same bytes
/// cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("not a CloudEvent: {0}")]
    NotCloudEvent(String),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("attribute `{name}` {detail}")]
    BadAttribute { name: &'static str, detail: String },
    #[error("data is not a valid {kind} document: {detail}")]
    BadData { kind: EntityKind, detail: String },
}

impl DecodeError {
    /// A stable, machine-readable reason (used in dead-letter headers and metrics labels).
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) => "not-json",
            DecodeError::NotCloudEvent(_) => "not-cloudevent",
            DecodeError::UnknownType(_) => "unknown-type",
            DecodeError::BadAttribute { .. } => "bad-attribute",
            DecodeError::BadData { .. } => "bad-data",
        }
    }

    fn attr(name: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::BadAttribute {
            name,
            detail: detail.into(),
        }
    }
}

/// An event type: `dk.orghub.org.<kind>.<action>.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType {
    pub kind: EntityKind,
    pub action: Action,
}

impl EventType {
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
        let unknown = || DecodeError::UnknownType(s.to_owned());
        let inner = s
            .strip_prefix(TYPE_PREFIX)
            .and_then(|r| r.strip_suffix(TYPE_SUFFIX))
            .ok_or_else(unknown)?;
        let (kind, action) = inner.split_once('.').ok_or_else(unknown)?;
        Ok(EventType {
            kind: EntityKind::from_word(kind).ok_or_else(unknown)?,
            action: Action::from_word(action).ok_or_else(unknown)?,
        })
    }

    /// All 60 types (10 kinds × 6 actions), kind-major.
    pub fn all() -> impl Iterator<Item = EventType> {
        EntityKind::ALL.into_iter().flat_map(|kind| {
            Action::ALL
                .into_iter()
                .map(move |action| EventType { kind, action })
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TYPE_PREFIX}{}.{}{TYPE_SUFFIX}", self.kind, self.action)
    }
}

/// Why a string is not a routing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing key {key:?}: {detail}")]
pub struct RoutingKeyError {
    pub key: String,
    pub detail: String,
}

/// `org.<kommune>.<kind>.<action>`, e.g. `org.751.engagement.created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoutingKey {
    pub kommune: Kommune,
    pub kind: EntityKind,
    pub action: Action,
}

impl RoutingKey {
    pub fn parse(key: &str) -> Result<Self, RoutingKeyError> {
        let fail = |detail: String| RoutingKeyError {
            key: key.to_owned(),
            detail,
        };
        let words: Vec<&str> = key.split('.').collect();
        let [org, kommune, kind, action] = words[..] else {
            return Err(fail(format!(
                "has {} words, expected 4: org.<kommune>.<kind>.<action>",
                words.len()
            )));
        };
        if org != "org" {
            return Err(fail(format!("starts with {org:?}, expected \"org\"")));
        }
        Ok(RoutingKey {
            kommune: Kommune::parse(kommune).map_err(|e| fail(e.to_string()))?,
            kind: kind.parse().map_err(fail)?,
            action: Action::from_word(action)
                .ok_or_else(|| fail(format!("unknown action {action:?}")))?,
        })
    }

    /// The binding key for one municipality and one kind (`org.751.unit.*`), or all kinds
    /// (`org.751.#`).
    pub fn binding(kommune: Kommune, kind: Option<EntityKind>) -> String {
        match kind {
            Some(kind) => format!("org.{kommune}.{kind}.*"),
            None => format!("org.{kommune}.#"),
        }
    }
}

impl fmt::Display for RoutingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "org.{}.{}.{}", self.kommune, self.kind, self.action)
    }
}

/// Formats an event-log sequence as the `sequence` extension: 20 digits, so it sorts as text.
pub fn format_sequence(sequence: u64) -> String {
    SequenceText(sequence).to_string()
}

/// Displays a sequence as [`format_sequence`] formats it.
struct SequenceText(u64);

impl fmt::Display for SequenceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:020}", self.0)
    }
}

/// The `origin` extension of a structured-mode body (DESIGN §4), if it has one: the source
/// system whose write made the event. The typed [`OrgEvent`] does not carry it.
pub fn origin_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Origin {
        origin: Option<String>,
    }
    serde_json::from_slice::<Origin>(body).ok()?.origin
}

/// A typed orghub event. `kind` and `subject` are the document's.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgEvent {
    pub id: Uuid,
    pub kommune: Kommune,
    pub action: Action,
    /// Registration time.
    pub time: DateTime<Utc>,
    pub entity_version: u64,
    pub sequence: u64,
    pub traceparent: Option<String>,
    pub data: EntityDocument<Attrs>,
}

impl OrgEvent {
    pub fn kind(&self) -> EntityKind {
        self.data.kind
    }

    pub fn subject(&self) -> Uuid {
        self.data.uuid
    }

    pub fn event_type(&self) -> EventType {
        EventType {
            kind: self.kind(),
            action: self.action,
        }
    }

    pub fn routing_key(&self) -> RoutingKey {
        RoutingKey {
            kommune: self.kommune,
            kind: self.kind(),
            action: self.action,
        }
    }

    /// The CloudEvent, with `data` stripped of sensitive attributes.
    pub fn to_cloudevent(&self) -> cloudevents::Event {
        let data = serde_json::to_value(self.data.clone().without_sensitive())
            .unwrap_or(serde_json::Value::Null);
        let mut builder = EventBuilderV10::new()
            .id(self.id.to_string())
            .source(format!("{SOURCE_PREFIX}{}", self.kommune))
            .ty(self.event_type().to_string())
            .subject(self.subject().to_string())
            .time(self.time)
            .extension("kommune", self.kommune.to_string())
            .extension(
                "entityversion",
                i64::try_from(self.entity_version).unwrap_or(i64::MAX),
            )
            .extension("sequence", format_sequence(self.sequence));
        if let Some(tp) = &self.traceparent {
            builder = builder.extension("traceparent", tp.as_str());
        }
        builder
            .data_with_schema(DATA_CONTENT_TYPE, self.kind().data_schema_urn(), data)
            .build()
            .expect("every attribute is set and the dataschema URN is a valid URL")
    }

    /// The structured-mode CloudEvent as compact JSON text (the message body), written in one
    /// pass straight from the typed event. Byte for byte what
    /// `serde_json::to_string(&self.to_cloudevent())` gives, except that the extensions, which
    /// the CloudEvents SDK writes in an arbitrary order, always come as kommune, entityversion,
    /// sequence, traceparent.
    pub fn to_structured_json(&self) -> String {
        structured::write(self, None)
    }

    /// [`OrgEvent::to_structured_json`] with the `origin` extension (DESIGN §4: the source system
    /// of the registration) after the others, when `origin` is given: what
    /// `to_cloudevent()` with the extension `origin` set gives, in that order.
    pub fn to_structured_json_with_origin(&self, origin: Option<&str>) -> String {
        structured::write(self, origin)
    }

    /// The structured-mode JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_cloudevent()).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a structured-mode JSON body. A body of the shape the hub writes is read in one pass;
    /// any other goes through [`OrgEvent::from_json_value`], so what is accepted and every error
    /// are the same either way.
    pub fn from_json_bytes(body: &[u8]) -> Result<Self, DecodeError> {
        match structured::read(body) {
            Some(event) => Ok(event),
            None => Self::from_json_bytes_generally(body),
        }
    }

    /// Reads a structured-mode JSON body through `serde_json::Value` and `cloudevents::Event`.
    fn from_json_bytes_generally(body: &[u8]) -> Result<Self, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        Self::from_json_value(value)
    }

    pub fn from_json_value(value: serde_json::Value) -> Result<Self, DecodeError> {
        if !value.is_object() {
            return Err(DecodeError::NotCloudEvent(
                "the JSON is not an object".into(),
            ));
        }
        let event: cloudevents::Event =
            serde_json::from_value(value).map_err(|e| DecodeError::NotCloudEvent(e.to_string()))?;
        Self::from_cloudevent(&event)
    }

    /// Checks and converts a CloudEvent into an orghub event.
    pub fn from_cloudevent(event: &cloudevents::Event) -> Result<Self, DecodeError> {
        if event.specversion().as_str() != "1.0" {
            return Err(DecodeError::attr(
                "specversion",
                format!("is {}, expected 1.0", event.specversion()),
            ));
        }
        let ty = EventType::parse(event.ty())?;
        let kommune = event
            .source()
            .strip_prefix(SOURCE_PREFIX)
            .and_then(|k| Kommune::parse(k).ok())
            .ok_or_else(|| {
                DecodeError::attr(
                    "source",
                    format!("{:?} is not /orghub/kommune/<kommunekode>", event.source()),
                )
            })?;
        let ext = |name: &'static str| event.extension(name).map(ExtensionValue::to_string);
        match ext("kommune") {
            Some(k) if Kommune::parse(&k) == Ok(kommune) => {}
            Some(k) => {
                return Err(DecodeError::attr(
                    "kommune",
                    format!("{k:?} does not match source"),
                ));
            }
            None => return Err(DecodeError::attr("kommune", "is missing")),
        }
        let id = Uuid::parse_str(event.id())
            .map_err(|e| DecodeError::attr("id", format!("is not a UUID: {e}")))?;
        let subject = event
            .subject()
            .ok_or_else(|| DecodeError::attr("subject", "is missing"))
            .and_then(|s| {
                Uuid::parse_str(s)
                    .map_err(|e| DecodeError::attr("subject", format!("is not a UUID: {e}")))
            })?;
        let time = *event
            .time()
            .ok_or_else(|| DecodeError::attr("time", "is missing"))?;
        let number = |name: &'static str| -> Result<u64, DecodeError> {
            let raw = ext(name).ok_or_else(|| DecodeError::attr(name, "is missing"))?;
            raw.parse::<u64>().map_err(|_| {
                DecodeError::attr(name, format!("{raw:?} is not a non-negative integer"))
            })
        };
        let entity_version = number("entityversion")?;
        let sequence = number("sequence")?;
        let data_value = match event.data() {
            Some(Data::Json(v)) => v.clone(),
            Some(Data::String(s)) => serde_json::from_str(s).map_err(|e| DecodeError::BadData {
                kind: ty.kind,
                detail: format!("not JSON: {e}"),
            })?,
            Some(Data::Binary(b)) => {
                serde_json::from_slice(b).map_err(|e| DecodeError::BadData {
                    kind: ty.kind,
                    detail: format!("not JSON: {e}"),
                })?
            }
            None => return Err(DecodeError::attr("data", "is missing")),
        };
        let data = EntityDocument::from_json_of_kind(ty.kind, data_value).map_err(|e| {
            DecodeError::BadData {
                kind: ty.kind,
                detail: format!("at {:?}: {}", e.pointer, e.detail),
            }
        })?;
        let bad = |detail: String| DecodeError::BadData {
            kind: ty.kind,
            detail,
        };
        if data.uuid != subject {
            return Err(bad(format!(
                "data.uuid {} differs from subject {subject}",
                data.uuid
            )));
        }
        if data.kommune != kommune {
            return Err(bad(format!(
                "data.kommune {} differs from the event's {kommune}",
                data.kommune
            )));
        }
        if data.version != entity_version {
            return Err(bad(format!(
                "data.version {} differs from entityversion {entity_version}",
                data.version
            )));
        }
        Ok(OrgEvent {
            id,
            kommune,
            action: ty.action,
            time,
            entity_version,
            sequence,
            traceparent: ext("traceparent"),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn types_parse_and_print() {
        let t = EventType::parse("dk.orghub.org.itaccount.terminated.v1").expect("valid");
        assert_eq!(
            (t.kind, t.action),
            (EntityKind::ItAccount, Action::Terminated)
        );
        assert_eq!(t.to_string(), "dk.orghub.org.itaccount.terminated.v1");
        assert_eq!(EventType::all().count(), 60);
        for bad in [
            "dk.orghub.org.unit.moved.v1",
            "dk.orghub.org.unit.created.v2",
            "com.example",
        ] {
            assert_eq!(
                EventType::parse(bad),
                Err(DecodeError::UnknownType(bad.into()))
            );
        }
    }

    #[test]
    fn routing_keys_are_checked_word_by_word() {
        let k = RoutingKey::parse("org.0751.engagement.created").expect("valid");
        assert_eq!(k.to_string(), "org.751.engagement.created");
        let three = RoutingKey::parse("org.751.unit").expect_err("three words");
        assert!(three.detail.contains("3 words"), "{three}");
        assert!(RoutingKey::parse("xyz.751.unit.created").is_err());
        assert!(RoutingKey::parse("org.999.unit.created").is_err());
        assert!(RoutingKey::parse("org.751.team.created").is_err());
        assert!(RoutingKey::parse("org.751.unit.moved").is_err());
        assert_eq!(
            RoutingKey::binding(Kommune::parse("751").expect("k"), None),
            "org.751.#"
        );
    }

    proptest! {
        #[test]
        fn routing_keys_round_trip(k in 0usize..98, kind in 0usize..EntityKind::ALL.len(), action in 0usize..Action::ALL.len()) {
            let key = RoutingKey {
                kommune: Kommune::all().nth(k).expect("98 municipalities"),
                kind: EntityKind::ALL[kind],
                action: Action::ALL[action],
            };
            prop_assert_eq!(RoutingKey::parse(&key.to_string()), Ok(key));
        }
    }
}
