//! The AMQP 0-9-1 mapping of events, as plain data (the broker crate turns it into lapin types).
//!
//! Outgoing: structured content mode, the Knative / CloudEvents-SDK RabbitMQ convention of `ce-*`
//! headers so that foreign consumers can route without parsing; never an `x-` header. Incoming:
//! structured mode, or binary mode with `ce-`, `ce_`, `cloudEvents_` or `cloudEvents:` headers.

use std::collections::BTreeMap;

use cloudevents::{EventBuilder, EventBuilderV10};

use crate::event::{DecodeError, EventType, OrgEvent, RoutingKey, SOURCE_PREFIX, format_sequence};
use crate::kommune::Kommune;

/// The durable topic exchange every event is published to.
pub const EXCHANGE: &str = "org.events";
/// AMQP `content_type` of a structured-mode event.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// AMQP `app_id` of events published by the hub.
pub const APP_ID: &str = "orghub-writer";
/// Persistent delivery.
pub const DELIVERY_MODE_PERSISTENT: u8 = 2;

/// An event ready to publish: routing key, body and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpMessage {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub delivery_mode: u8,
    pub message_id: String,
    /// The AMQP `type` property: the CloudEvent type.
    pub message_type: String,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    pub app_id: &'static str,
    /// `ce-*` headers, all string-valued.
    pub headers: BTreeMap<String, String>,
}

impl AmqpMessage {
    /// Builds the message from a stored structured-mode CloudEvent body without decoding its data.
    pub fn from_structured_body(body: Vec<u8>) -> Result<Self, DecodeError> {
        #[derive(serde::Deserialize)]
        struct Envelope {
            id: String,
            #[serde(rename = "type")]
            ty: String,
            source: String,
            specversion: String,
            subject: Option<String>,
            time: Option<chrono::DateTime<chrono::Utc>>,
            kommune: Option<String>,
            entityversion: Option<serde_json::Value>,
            sequence: Option<String>,
            traceparent: Option<String>,
            origin: Option<String>,
        }
        let env: Envelope =
            serde_json::from_slice(&body).map_err(|e| DecodeError::NotCloudEvent(e.to_string()))?;
        let ty = EventType::parse(&env.ty)?;
        let kommune = env
            .kommune
            .as_deref()
            .and_then(|k| Kommune::parse(k).ok())
            .ok_or(DecodeError::BadAttribute {
                name: "kommune",
                detail: "is missing or not a kommunekode".into(),
            })?;
        Ok(Self::build(
            Attributes {
                id: env.id,
                ty: env.ty,
                event_type: ty,
                source: env.source,
                specversion: env.specversion,
                subject: env.subject,
                kommune,
                entityversion: env.entityversion.map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }),
                sequence: env.sequence,
                traceparent: env.traceparent,
                origin: env.origin,
                time: env.time,
            },
            body,
        ))
    }

    /// Builds the message of an event the writer stored, from what it stored beside the body
    /// (the event row's columns), without reading the body: the same message
    /// [`AmqpMessage::from_structured_body`] makes of it.
    pub fn from_stored(event: &StoredEvent<'_>, body: Vec<u8>) -> Self {
        Self::build(
            Attributes {
                id: event.id.to_string(),
                ty: event.event_type.to_string(),
                event_type: event.event_type,
                source: format!("{SOURCE_PREFIX}{}", event.kommune),
                specversion: "1.0".to_owned(),
                subject: Some(event.subject.to_string()),
                kommune: event.kommune,
                entityversion: Some(
                    i64::try_from(event.entity_version)
                        .unwrap_or(i64::MAX)
                        .to_string(),
                ),
                sequence: Some(format_sequence(event.sequence)),
                traceparent: event.traceparent.map(str::to_owned),
                origin: event.origin.map(str::to_owned),
                time: Some(event.time),
            },
            body,
        )
    }

    fn build(a: Attributes, body: Vec<u8>) -> Self {
        let routing_key = RoutingKey {
            kommune: a.kommune,
            kind: a.event_type.kind,
            action: a.event_type.action,
        };
        let mut headers = BTreeMap::new();
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(v) = value {
                headers.insert(name.to_owned(), v);
            }
        };
        put("ce-id", Some(a.id.clone()));
        put("ce-type", Some(a.ty.clone()));
        put("ce-source", Some(a.source));
        put("ce-specversion", Some(a.specversion));
        put("ce-subject", a.subject);
        put("ce-kommune", Some(a.kommune.to_string()));
        put("ce-entityversion", a.entityversion);
        put("ce-sequence", a.sequence);
        put("ce-traceparent", a.traceparent);
        put("ce-origin", a.origin);
        AmqpMessage {
            routing_key: routing_key.to_string(),
            content_type: CONTENT_TYPE,
            delivery_mode: DELIVERY_MODE_PERSISTENT,
            message_id: a.id,
            message_type: a.ty,
            timestamp: a
                .time
                .map_or(0, |t| u64::try_from(t.timestamp()).unwrap_or(0)),
            app_id: APP_ID,
            headers,
            body,
        }
    }
}

/// The attributes an AMQP message is made of, as header text.
struct Attributes {
    id: String,
    ty: String,
    event_type: EventType,
    source: String,
    specversion: String,
    subject: Option<String>,
    kommune: Kommune,
    entityversion: Option<String>,
    sequence: Option<String>,
    traceparent: Option<String>,
    origin: Option<String>,
    time: Option<chrono::DateTime<chrono::Utc>>,
}

/// An event as the writer stores it beside its body: enough to publish it without reading the
/// body.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    pub id: uuid::Uuid,
    pub event_type: EventType,
    pub kommune: Kommune,
    /// The entity's UUID (the CloudEvent `subject`).
    pub subject: uuid::Uuid,
    pub entity_version: u64,
    pub sequence: u64,
    pub time: chrono::DateTime<chrono::Utc>,
    pub traceparent: Option<&'a str>,
    /// The source system of the registration (the `origin` extension), when it had one.
    pub origin: Option<&'a str>,
}

impl OrgEvent {
    /// The AMQP message for this event (structured mode).
    pub fn to_amqp(&self) -> AmqpMessage {
        AmqpMessage::from_structured_body(self.to_structured_json().into_bytes())
            .expect("an OrgEvent always serialises to a well-formed envelope")
    }
}

/// A received message, reduced to what decoding needs. Header values are given as strings
/// (the broker crate renders numbers in decimal).
#[derive(Debug, Clone, Copy)]
pub struct IncomingMessage<'a> {
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub headers: &'a BTreeMap<String, String>,
}

const BINARY_PREFIXES: [&str; 4] = ["ce-", "ce_", "cloudEvents_", "cloudEvents:"];

fn binary_attributes(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            BINARY_PREFIXES
                .iter()
                .find_map(|p| k.strip_prefix(p))
                .map(|name| (name.to_ascii_lowercase(), v.clone()))
        })
        .collect()
}

/// Whether a message with this AMQP `content_type` is in structured content mode, in which case
/// [`decode`] reads only its body and never looks at its headers.
pub fn is_structured(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| ct.starts_with("application/cloudevents"))
}

/// Decodes a delivery into a typed event, precise about what is wrong.
pub fn decode(msg: IncomingMessage<'_>) -> Result<OrgEvent, DecodeError> {
    if is_structured(msg.content_type) {
        return OrgEvent::from_json_bytes(msg.body);
    }
    let attrs = binary_attributes(msg.headers);
    if !attrs.contains_key("specversion") {
        return OrgEvent::from_json_bytes(msg.body);
    }
    let event = binary_to_cloudevent(msg, attrs)?;
    OrgEvent::from_cloudevent(&event)
}

fn binary_to_cloudevent(
    msg: IncomingMessage<'_>,
    mut attrs: BTreeMap<String, String>,
) -> Result<cloudevents::Event, DecodeError> {
    let specversion = attrs.remove("specversion").unwrap_or_default();
    if specversion != "1.0" {
        return Err(DecodeError::NotCloudEvent(format!(
            "binary-mode specversion {specversion:?} is not 1.0"
        )));
    }
    let missing =
        |name: &str| DecodeError::NotCloudEvent(format!("binary-mode header {name} is missing"));
    let mut builder = EventBuilderV10::new()
        .id(attrs.remove("id").ok_or_else(|| missing("ce-id"))?)
        .source(attrs.remove("source").ok_or_else(|| missing("ce-source"))?)
        .ty(attrs.remove("type").ok_or_else(|| missing("ce-type"))?);
    if let Some(subject) = attrs.remove("subject") {
        builder = builder.subject(subject);
    }
    if let Some(time) = attrs.remove("time") {
        builder = builder.time(time);
    }
    let _ = attrs.remove("datacontenttype");
    let dataschema = attrs.remove("dataschema");
    for (name, value) in attrs {
        builder = builder.extension(&name, value);
    }
    let content_type = msg.content_type.unwrap_or("application/json").to_owned();
    let data: serde_json::Value =
        serde_json::from_slice(msg.body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    builder = match dataschema {
        Some(schema) => builder.data_with_schema(content_type, schema, data),
        None => builder.data(content_type, data),
    };
    builder
        .build()
        .map_err(|e| DecodeError::NotCloudEvent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    fn stored<'a>(event: &'a OrgEvent, origin: Option<&'a str>) -> StoredEvent<'a> {
        StoredEvent {
            id: event.id,
            event_type: event.event_type(),
            kommune: event.kommune,
            subject: event.subject(),
            entity_version: event.entity_version,
            sequence: event.sequence,
            time: event.time,
            traceparent: event.traceparent.as_deref(),
            origin,
        }
    }

    #[test]
    fn a_stored_event_gives_the_message_its_body_gives() {
        for ty in EventType::all() {
            let mut event = examples::event(ty);
            for traceparent in [
                None,
                Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
            ] {
                event.traceparent = traceparent;
                for origin in [None, Some("sd")] {
                    let body = event.to_structured_json_with_origin(origin).into_bytes();
                    let from_body = AmqpMessage::from_structured_body(body.clone()).expect("valid");
                    assert_eq!(
                        from_body.headers.get("ce-origin").map(String::as_str),
                        origin,
                        "{ty}"
                    );
                    assert_eq!(
                        AmqpMessage::from_stored(&stored(&event, origin), body),
                        from_body,
                        "{ty}"
                    );
                }
            }
        }
    }
}
