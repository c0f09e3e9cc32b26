//! Contract tests: the committed schemas and examples are what the Rust types generate, every
//! example validates against the official CloudEvents schema and its data schema, and events
//! survive every mapping both ways.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orghub_contracts::event::format_sequence;
use orghub_contracts::{
    Action, DecodeError, EntityKind, EventType, IncomingMessage, OrgEvent, decode, examples, schema,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const REGENERATE: &str = "UPDATE_CONTRACTS=1 cargo test -p orghub-contracts --test contract";

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares a committed file with its generated text; with UPDATE_CONTRACTS=1 rewrites it.
fn check_generated(path: &Path, generated: &str) -> Option<String> {
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::write(path, generated).expect("write generated contract file");
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(committed) if committed == generated => None,
        Ok(_) => Some(format!(
            "{} differs from what the Rust types generate",
            path.display()
        )),
        Err(e) => Some(format!("{} cannot be read: {e}", path.display())),
    }
}

#[test]
fn committed_schemas_equal_the_generated_ones() {
    let drift: Vec<String> = EntityKind::ALL
        .into_iter()
        .filter_map(|k| {
            check_generated(
                &contracts_dir().join("schemas").join(schema::file_name(k)),
                &schema::render(k),
            )
        })
        .collect();
    assert!(
        drift.is_empty(),
        "{}\nregenerate with: {REGENERATE}",
        drift.join("\n")
    );
}

#[test]
fn the_committed_openapi_document_equals_the_generated_one() {
    let drift = check_generated(
        &contracts_dir().join("openapi.json"),
        &orghub_contracts::openapi::render(),
    );
    assert!(drift.is_none(), "{drift:?}\nregenerate with: {REGENERATE}");
}

#[test]
fn committed_examples_equal_the_generated_ones() {
    let drift: Vec<String> = EventType::all()
        .filter_map(|t| {
            check_generated(
                &contracts_dir()
                    .join("examples")
                    .join(examples::file_name(t)),
                &examples::render(t),
            )
        })
        .collect();
    assert!(
        drift.is_empty(),
        "{}\nregenerate with: {REGENERATE}",
        drift.join("\n")
    );
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn envelope_validator() -> jsonschema::Validator {
    let path = contracts_dir().join("../../shared/spec/cloudevents-1.0.schema.json");
    jsonschema::validator_for(&load_json(&path)).expect("the CloudEvents schema compiles")
}

fn data_validator(kind: EntityKind) -> jsonschema::Validator {
    let path = contracts_dir()
        .join("schemas")
        .join(schema::file_name(kind));
    jsonschema::validator_for(&load_json(&path)).expect("the data schema compiles")
}

fn errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_example_validates_against_the_envelope_and_its_data_schema() {
    let envelope = envelope_validator();
    let mut seen = 0;
    for ty in EventType::all() {
        let path = contracts_dir()
            .join("examples")
            .join(examples::file_name(ty));
        let example = load_json(&path);
        let env_errors = errors(&envelope, &example);
        assert!(env_errors.is_empty(), "{}: {env_errors:?}", path.display());
        let data_errors = errors(&data_validator(ty.kind), &example["data"]);
        assert!(
            data_errors.is_empty(),
            "{}: {data_errors:?}",
            path.display()
        );
        assert_eq!(example["type"], ty.to_string());
        assert_eq!(example["dataschema"], ty.kind.data_schema_urn());
        assert_eq!(example["sequence"].as_str().map(str::len), Some(20));
        assert!(example["entityversion"].is_u64());
        seen += 1;
    }
    assert_eq!(seen, EntityKind::ALL.len() * Action::ALL.len());
}

#[test]
fn every_example_round_trips_through_the_rust_types() {
    for ty in EventType::all() {
        let path = contracts_dir()
            .join("examples")
            .join(examples::file_name(ty));
        let bytes = std::fs::read(&path).expect("example readable");
        let event =
            OrgEvent::from_json_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(event.event_type(), ty);
        assert_eq!(event, examples::event(ty));
        assert_eq!(examples::to_json(ty), load_json(&path));
        assert_eq!(
            orghub_contracts::event::origin_of(&bytes).as_deref(),
            examples::origin(ty)
        );
    }
}

#[test]
fn data_schemas_reject_documents_of_another_kind() {
    let person = examples::event(EventType {
        kind: EntityKind::Person,
        action: Action::Created,
    });
    let doc = person.to_json()["data"].clone();
    assert!(!errors(&data_validator(EntityKind::Unit), &doc).is_empty());
    assert!(errors(&data_validator(EntityKind::Person), &doc).is_empty());
}

#[test]
fn the_asyncapi_document_has_a_message_for_every_event_type() {
    let text =
        std::fs::read_to_string(contracts_dir().join("asyncapi.yaml")).expect("asyncapi.yaml");
    let missing: Vec<String> = EventType::all()
        .flat_map(|t| {
            let action = t.action.word();
            let name = format!("{}{}{}", t.kind, action[..1].to_uppercase(), &action[1..]);
            [
                format!("messageType: {t}"),
                format!("- $ref: '#/channels/orgEvents/messages/{name}'"),
                format!("$ref: '#/components/messages/{name}'"),
                format!("$ref: './schemas/{}'", schema::file_name(t.kind)),
            ]
        })
        .filter(|line| !text.contains(line.as_str()))
        .collect();
    assert!(missing.is_empty(), "asyncapi.yaml lacks {missing:?}");
    for list in ["kind", "action"] {
        let words: Vec<&str> = match list {
            "kind" => EntityKind::ALL.iter().map(|k| k.word()).collect(),
            _ => Action::ALL.iter().map(|a| a.word()).collect(),
        };
        let line = format!("enum: [{}]", words.join(", "));
        assert!(
            text.contains(&line),
            "asyncapi.yaml: the {list} parameter lacks `{line}`"
        );
    }
}

fn unit_created() -> Value {
    examples::event(EventType {
        kind: EntityKind::Unit,
        action: Action::Created,
    })
    .to_json()
}

fn decode_json(value: &Value) -> Result<OrgEvent, DecodeError> {
    OrgEvent::from_json_bytes(value.to_string().as_bytes())
}

#[test]
fn decoding_names_what_is_wrong() {
    assert!(matches!(
        OrgEvent::from_json_bytes(b"{not json"),
        Err(DecodeError::NotJson(_))
    ));
    assert!(matches!(
        decode_json(&json!({"hello": "world"})),
        Err(DecodeError::NotCloudEvent(_))
    ));
    assert!(matches!(
        decode_json(&json!([1, 2])),
        Err(DecodeError::NotCloudEvent(_))
    ));

    let mut no_subject = unit_created();
    no_subject.as_object_mut().map(|o| o.remove("subject"));
    assert_eq!(
        decode_json(&no_subject),
        Err(DecodeError::BadAttribute {
            name: "subject",
            detail: "is missing".into()
        })
    );

    let mut unknown = unit_created();
    unknown["type"] = json!("dk.orghub.org.unit.moved.v1");
    assert_eq!(
        decode_json(&unknown),
        Err(DecodeError::UnknownType(
            "dk.orghub.org.unit.moved.v1".into()
        ))
    );

    let mut wrong_kind = unit_created();
    wrong_kind["type"] = json!("dk.orghub.org.person.created.v1");
    let err = decode_json(&wrong_kind).expect_err("unit data under a person type");
    assert!(
        matches!(
            err,
            DecodeError::BadData {
                kind: EntityKind::Person,
                ..
            }
        ),
        "{err}"
    );

    let mut bad_version = unit_created();
    bad_version["entityversion"] = json!(7);
    assert!(matches!(
        decode_json(&bad_version),
        Err(DecodeError::BadData { .. })
    ));

    let mut bad_source = unit_created();
    bad_source["source"] = json!("/orghub/kommune/999");
    assert!(matches!(
        decode_json(&bad_source),
        Err(DecodeError::BadAttribute { name: "source", .. })
    ));
}

#[test]
fn amqp_messages_carry_the_contracted_properties() {
    let event = examples::event(EventType {
        kind: EntityKind::Engagement,
        action: Action::Created,
    });
    let msg = event.to_amqp();
    assert_eq!(msg.routing_key, "org.751.engagement.created");
    assert_eq!(msg.content_type, "application/cloudevents+json");
    assert_eq!(msg.delivery_mode, 2);
    assert_eq!(msg.message_id, event.id.to_string());
    assert_eq!(msg.message_type, "dk.orghub.org.engagement.created.v1");
    assert_eq!(msg.app_id, "orghub-writer");
    assert_eq!(msg.timestamp, event.time.timestamp() as u64);
    for name in [
        "id",
        "type",
        "source",
        "subject",
        "specversion",
        "kommune",
        "entityversion",
        "sequence",
    ] {
        assert!(
            msg.headers.contains_key(&format!("ce-{name}")),
            "ce-{name} missing"
        );
    }
    assert_eq!(msg.headers["ce-sequence"], format_sequence(event.sequence));
    assert_eq!(msg.headers["ce-entityversion"], "1");
    assert!(msg.headers.keys().all(|k| !k.starts_with("x-")));
}

#[test]
fn binary_mode_deliveries_decode_with_either_header_prefix() {
    let event = examples::event(EventType {
        kind: EntityKind::Kle,
        action: Action::Updated,
    });
    let ce = event.to_json();
    let data = serde_json::to_vec(&ce["data"]).expect("data");
    for prefix in ["ce-", "cloudEvents_"] {
        let mut headers = BTreeMap::new();
        for name in [
            "id",
            "source",
            "type",
            "subject",
            "time",
            "kommune",
            "entityversion",
            "sequence",
            "traceparent",
            "dataschema",
            "specversion",
        ] {
            let value = match &ce[name] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.insert(format!("{prefix}{name}"), value);
        }
        let decoded = decode(IncomingMessage {
            body: &data,
            content_type: Some("application/json"),
            headers: &headers,
        })
        .unwrap_or_else(|e| panic!("{prefix}: {e}"));
        assert_eq!(decoded, event);
    }
}

proptest! {
    #[test]
    fn events_round_trip_through_amqp(kind in 0usize..EntityKind::ALL.len(), action in 0usize..Action::ALL.len(), sequence in 0u64..u64::MAX / 2, extra in 0u64..1000) {
        let ty = EventType { kind: EntityKind::ALL[kind], action: Action::ALL[action] };
        let mut event = examples::event(ty);
        event.sequence = sequence;
        event.entity_version += extra;
        event.data.version = event.entity_version;
        let msg = event.to_amqp();
        let decoded = decode(IncomingMessage { body: &msg.body, content_type: Some(msg.content_type), headers: &msg.headers });
        prop_assert_eq!(decoded, Ok(event));
    }
}
