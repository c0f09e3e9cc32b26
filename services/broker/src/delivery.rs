//! The AMQP form of an event, both ways: lapin properties for an outgoing
//! [`AmqpMessage`], and an incoming delivery reduced to what `orghub_contracts::decode` reads.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use orghub_contracts::{AmqpMessage, DecodeError, IncomingMessage, OrgEvent};

/// The key under which [`headers_to_map`] puts the `content_type` property, beside the headers.
pub const CONTENT_TYPE_KEY: &str = "content-type";

/// Builds the lapin properties of a message: `content_type`, `delivery_mode`, `message_id`,
/// `type`, `timestamp`, `app_id` and every header as an AMQP long string.
///
/// A `message_id` longer than an AMQP short string (255 bytes) is left out rather than panicking;
/// the `ce-id` header still carries it. Events the writer makes have UUIDs there.
pub fn properties_for(message: &AmqpMessage) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in &message.headers {
        match ShortString::try_new(name.as_str()) {
            Ok(name) => {
                headers.insert(name, AMQPValue::LongString(value.as_str().into()));
            }
            Err(_) => tracing::warn!(header = %name, "header name over 255 bytes left out"),
        }
    }
    let mut properties = BasicProperties::default()
        .with_content_type(message.content_type.into())
        .with_delivery_mode(message.delivery_mode)
        .with_timestamp(message.timestamp)
        .with_app_id(message.app_id.into())
        .with_headers(headers);
    match ShortString::try_new(message.message_id.as_str()) {
        Ok(id) => properties = properties.with_message_id(id),
        Err(_) => tracing::warn!("message_id over 255 bytes left out"),
    }
    if let Ok(ty) = ShortString::try_new(message.message_type.as_str()) {
        properties = properties.with_type(ty);
    }
    properties
}

/// The delivery's headers as the string map [`IncomingMessage`] wants: long and short strings as
/// text (lossy UTF-8), integers and timestamps in decimal, floats as Rust prints them, booleans as
/// `true`/`false`. Nested tables and arrays (such as RabbitMQ's `x-death`), byte arrays, decimals
/// and voids are skipped. The `content_type` property, when set, is added under
/// [`CONTENT_TYPE_KEY`] unless a header of that name exists.
pub fn headers_to_map(props: &BasicProperties) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = props
        .headers()
        .iter()
        .flat_map(|table| table.inner())
        .filter_map(|(name, value)| Some((name.to_string(), render(value)?)))
        .collect();
    if let Some(content_type) = props.content_type() {
        map.entry(CONTENT_TYPE_KEY.to_owned())
            .or_insert_with(|| content_type.to_string());
    }
    map
}

fn render(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::LongString(s) => s.to_string(),
        AMQPValue::DecimalValue(_)
        | AMQPValue::FieldArray(_)
        | AMQPValue::FieldTable(_)
        | AMQPValue::ByteArray(_)
        | AMQPValue::Void => return None,
    })
}

/// Decodes a delivery (structured or binary content mode) into a typed event. A structured-mode
/// delivery is decoded from its body alone, so its headers are not converted.
pub fn decode_delivery(delivery: &Delivery) -> Result<OrgEvent, DecodeError> {
    let content_type = delivery
        .properties
        .content_type()
        .as_ref()
        .map(|ct| ct.as_str());
    let headers = if orghub_contracts::amqp::is_structured(content_type) {
        BTreeMap::new()
    } else {
        headers_to_map(&delivery.properties)
    };
    orghub_contracts::decode(IncomingMessage {
        body: &delivery.data,
        content_type,
        headers: &headers,
    })
}

#[cfg(test)]
mod tests {
    use orghub_contracts::examples;
    use orghub_contracts::{Action, EntityKind, EventType};

    use super::*;

    fn example_message() -> (OrgEvent, AmqpMessage) {
        let event = examples::event(EventType {
            kind: EntityKind::Engagement,
            action: Action::Created,
        });
        let message = event.to_amqp();
        (event, message)
    }

    fn delivery_of(message: &AmqpMessage) -> Delivery {
        let mut delivery = Delivery::mock(
            1,
            "org.events".into(),
            message.routing_key.as_str().into(),
            false,
            message.body.clone(),
        );
        delivery.properties = properties_for(message);
        delivery
    }

    #[test]
    fn properties_carry_every_attribute_of_the_message() {
        let (_, message) = example_message();
        let props = properties_for(&message);
        assert_eq!(
            props.content_type().as_ref().map(ShortString::as_str),
            Some("application/cloudevents+json")
        );
        assert_eq!(*props.delivery_mode(), Some(2));
        assert_eq!(
            props.message_id().as_ref().map(ShortString::as_str),
            Some(message.message_id.as_str())
        );
        assert_eq!(
            props.kind().as_ref().map(ShortString::as_str),
            Some("dk.orghub.org.engagement.created.v1")
        );
        assert_eq!(*props.timestamp(), Some(message.timestamp));
        assert_eq!(
            props.app_id().as_ref().map(ShortString::as_str),
            Some("orghub-writer")
        );
        let mut expected = message.headers.clone();
        expected.insert(CONTENT_TYPE_KEY.into(), message.content_type.into());
        assert_eq!(headers_to_map(&props), expected);
    }

    #[test]
    fn a_delivery_of_an_event_decodes_back_to_the_same_event() {
        let (event, message) = example_message();
        assert_eq!(decode_delivery(&delivery_of(&message)), Ok(event));
    }

    #[test]
    fn header_values_of_every_scalar_type_become_text_and_nested_ones_are_skipped() {
        let mut table = FieldTable::default();
        table.insert("long".into(), AMQPValue::LongString("text".into()));
        table.insert("short".into(), AMQPValue::ShortString("short".into()));
        table.insert("i8".into(), AMQPValue::ShortShortInt(-3));
        table.insert("u32".into(), AMQPValue::LongUInt(7));
        table.insert("i64".into(), AMQPValue::LongLongInt(-9_000_000_000));
        table.insert("yes".into(), AMQPValue::Boolean(true));
        table.insert("no".into(), AMQPValue::Boolean(false));
        table.insert("at".into(), AMQPValue::Timestamp(1_700_000_000));
        table.insert("x-death".into(), AMQPValue::FieldArray(Vec::new().into()));
        table.insert(
            "nested".into(),
            AMQPValue::FieldTable(FieldTable::default()),
        );
        table.insert("bytes".into(), AMQPValue::ByteArray(vec![1u8, 2].into()));
        let props = BasicProperties::default().with_headers(table);
        let map = headers_to_map(&props);
        let expected: BTreeMap<String, String> = [
            ("long", "text"),
            ("short", "short"),
            ("i8", "-3"),
            ("u32", "7"),
            ("i64", "-9000000000"),
            ("yes", "true"),
            ("no", "false"),
            ("at", "1700000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(map, expected);
    }

    #[test]
    fn a_binary_mode_delivery_with_integer_headers_decodes() {
        let (event, message) = example_message();
        let ce: serde_json::Value =
            serde_json::from_slice(&message.body).expect("the example body is JSON");
        let attr = |name: &str| {
            ce[name]
                .as_str()
                .expect("string attribute in the example")
                .to_owned()
        };
        let mut table = FieldTable::default();
        for name in [
            "id",
            "type",
            "source",
            "specversion",
            "subject",
            "time",
            "dataschema",
            "kommune",
            "sequence",
            "traceparent",
        ] {
            table.insert(
                format!("ce_{name}").into(),
                AMQPValue::LongString(attr(name).into()),
            );
        }
        let version = ce["entityversion"]
            .as_i64()
            .expect("integer entityversion in the example");
        table.insert("ce_entityversion".into(), AMQPValue::LongLongInt(version));
        let body = serde_json::to_vec(&ce["data"]).expect("data serialises");
        let mut delivery = Delivery::mock(1, "org.events".into(), "k".into(), false, body);
        delivery.properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(table);
        assert_eq!(decode_delivery(&delivery), Ok(event));
    }

    #[test]
    fn garbage_is_reported_as_not_json() {
        let mut delivery = Delivery::mock(1, "".into(), "".into(), false, b"{nope".to_vec());
        delivery.properties = BasicProperties::default();
        assert!(matches!(
            decode_delivery(&delivery),
            Err(DecodeError::NotJson(_))
        ));
    }
}
