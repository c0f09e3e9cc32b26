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

/// The properties of a copy of a delivery sent on elsewhere (a delayed retry, a dead letter, a
/// replay, a parked message): the one header-copy rule. Every AMQP property and header of the
/// original is kept except
/// - headers starting with `x-` (`x-death`, `x-delivery-count`, ...): the broker's own, which a
///   client must not forge and which would make the copy look dead-lettered already (DESIGN §4:
///   never publish `x-` headers);
/// - headers named in `remove` or in `set` (those are then set afresh, as long strings);
/// - `expiration`: a copy must not expire on its way;
/// - `user_id`: RabbitMQ refuses a publish whose `user_id` is not the publishing user.
///
/// The copy is persistent.
pub fn copy_properties(
    original: &BasicProperties,
    remove: &[&str],
    set: &[(&str, String)],
) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(table) = original.headers() {
        for (name, value) in table.inner() {
            let name_str = name.as_str();
            let dropped = name_str.starts_with("x-")
                || remove.contains(&name_str)
                || set.iter().any(|(n, _)| *n == name_str);
            if !dropped {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    for (name, value) in set {
        headers.insert((*name).into(), AMQPValue::LongString(value.as_str().into()));
    }
    let mut out = BasicProperties::default().with_headers(headers);
    macro_rules! keep {
        ($($get:ident => $with:ident),* $(,)?) => {
            $(if let Some(v) = original.$get() { out = out.$with(v.clone()); })*
        };
    }
    keep!(
        content_type => with_content_type,
        content_encoding => with_content_encoding,
        priority => with_priority,
        correlation_id => with_correlation_id,
        reply_to => with_reply_to,
        message_id => with_message_id,
        timestamp => with_timestamp,
        kind => with_type,
        app_id => with_app_id,
        cluster_id => with_cluster_id,
    );
    out.with_delivery_mode(2)
}

/// Reads a decimal count header (the runtime writes them as strings; integers of any AMQP type
/// count too); absent or unreadable = 0.
pub fn count_header(properties: &BasicProperties, name: &str) -> u32 {
    let Some(table) = properties.headers() else {
        return 0;
    };
    let value = table
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == name)
        .map(|(_, v)| v);
    let number = match value {
        Some(AMQPValue::LongString(s)) => s.to_string().trim().parse::<i64>().ok(),
        Some(AMQPValue::ShortString(s)) => s.as_str().trim().parse::<i64>().ok(),
        Some(AMQPValue::ShortShortInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortShortUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongLongInt(n)) => Some(*n),
        _ => None,
    };
    number
        .and_then(|n| u32::try_from(n.max(0)).ok())
        .unwrap_or(0)
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
    fn a_copy_drops_x_headers_and_named_ones_sets_its_own_and_keeps_the_rest() {
        let (_, message) = example_message();
        let mut table = properties_for(&message)
            .headers()
            .clone()
            .unwrap_or_default();
        table.insert("x-death".into(), AMQPValue::FieldArray(Vec::new().into()));
        table.insert("x-delivery-count".into(), AMQPValue::LongLongInt(3));
        table.insert("orghub-attempts".into(), AMQPValue::LongString("7".into()));
        table.insert("orghub-error".into(), AMQPValue::LongString("old".into()));
        table.insert(
            "orghub-replay-count".into(),
            AMQPValue::LongString("1".into()),
        );
        let original = properties_for(&message)
            .with_headers(table)
            .with_expiration("5000".into())
            .with_user_id("sub-x".into())
            .with_delivery_mode(1);
        let copy = copy_properties(
            &original,
            &["orghub-error"],
            &[("orghub-attempts", "9".to_owned())],
        );
        let headers = headers_to_map(&copy);
        for (name, value) in &message.headers {
            assert_eq!(headers.get(name), Some(value), "{name}");
        }
        assert_eq!(count_header(&copy, "orghub-attempts"), 9);
        assert_eq!(count_header(&copy, "orghub-replay-count"), 1);
        assert!(!headers.contains_key("orghub-error"));
        let raw = copy.headers().clone().unwrap_or_default();
        assert!(raw.inner().keys().all(|k| !k.as_str().starts_with("x-")));
        assert_eq!(copy.message_id(), original.message_id());
        assert_eq!(copy.kind(), original.kind());
        assert_eq!(copy.content_type(), original.content_type());
        assert_eq!(copy.timestamp(), original.timestamp());
        assert_eq!(copy.app_id(), original.app_id());
        assert_eq!(*copy.delivery_mode(), Some(2));
        assert_eq!(*copy.expiration(), None);
        assert_eq!(*copy.user_id(), None);
    }

    #[test]
    fn counts_are_read_from_strings_or_integers_and_default_to_zero() {
        let mut table = FieldTable::default();
        table.insert("a".into(), AMQPValue::LongString("2".into()));
        table.insert("b".into(), AMQPValue::LongInt(5));
        table.insert("c".into(), AMQPValue::LongInt(-5));
        let props = BasicProperties::default().with_headers(table);
        assert_eq!(count_header(&props, "a"), 2);
        assert_eq!(count_header(&props, "b"), 5);
        assert_eq!(count_header(&props, "c"), 0);
        assert_eq!(count_header(&props, "none"), 0);
        assert_eq!(count_header(&BasicProperties::default(), "a"), 0);
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
