//! The structured-mode JSON of an event, written and read in one pass over the typed structs: no
//! `cloudevents::Event` and no `serde_json::Value` in between.
//!
//! Writing gives the bytes `serde_json::to_string(&event.to_cloudevent())` gives: the SDK's
//! attribute order, then `data` with every object's keys sorted (as a `serde_json::Value` writes
//! them), then the extensions. The SDK keeps extensions in a `HashMap` and so writes them in an
//! arbitrary order; here they always come as kommune, entityversion, sequence, traceparent,
//! origin (the source system of the registration, written when the writer gives one: see
//! [`OrgEvent::to_structured_json_with_origin`]).
//!
//! Reading takes only the shape the hub writes (any key order): the envelope's attributes borrowed
//! from the body, `data` deserialised straight into the kind's typed document. Anything else —
//! malformed, unusual (an extra extension, a numeric `kommune`, `data_base64`, escapes in an
//! attribute) or inconsistent — yields `None`, and the caller falls back to the general path
//! through `cloudevents::Event`, which accepts or refuses it exactly as before and names what is
//! wrong. So the one-pass reader never changes what is accepted nor any error.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{DATA_CONTENT_TYPE, EventType, OrgEvent, SOURCE_PREFIX, SequenceText};
use crate::document::EntityDocument;
use crate::entity::{
    Address, Association, Attributes, Attrs, Class, Engagement, Group, IntoAttrs, ItAccount, Kle,
    Manager, Person, Unit,
};
use crate::facet::Facet;
use crate::kind::EntityKind;
use crate::kommune::Kommune;
use crate::validity::{Segment, Validity};

/// Writes the event's structured-mode JSON (see the module documentation), with the `origin`
/// extension when given.
pub(super) fn write(event: &OrgEvent, origin: Option<&str>) -> String {
    let EntityDocument {
        uuid,
        kind,
        kommune,
        version,
        registered_at,
        deleted,
        current,
        timeline,
    } = &event.data;
    let envelope = EnvelopeOut {
        specversion: "1.0",
        id: &event.id,
        ty: Shown(event.event_type()),
        source: Shown(Source(event.kommune)),
        datacontenttype: DATA_CONTENT_TYPE,
        dataschema: kind.data_schema_urn(),
        subject: uuid,
        time: &event.time,
        data: DocumentOut {
            current: current.as_ref().map(StateOut),
            deleted: *deleted,
            kind: *kind,
            kommune: *kommune,
            registered_at,
            timeline: StatesOut(timeline.segments()),
            uuid,
            version: *version,
        },
        kommune: &event.kommune,
        entityversion: i64::try_from(event.entity_version).unwrap_or(i64::MAX),
        sequence: Shown(SequenceText(event.sequence)),
        traceparent: event.traceparent.as_deref(),
        origin,
    };
    serde_json::to_string(&envelope).expect("the typed event serialises to JSON infallibly")
}

/// Serialises a value through its `Display`, without an intermediate `String`.
struct Shown<T>(T);

impl<T: fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// `/orghub/kommune/<kommunekode>`.
struct Source(Kommune);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SOURCE_PREFIX}{}", self.0)
    }
}

/// The envelope in the order the CloudEvents SDK writes it.
#[derive(Serialize)]
struct EnvelopeOut<'a> {
    specversion: &'static str,
    id: &'a Uuid,
    #[serde(rename = "type")]
    ty: Shown<EventType>,
    source: Shown<Source>,
    datacontenttype: &'static str,
    dataschema: String,
    subject: &'a Uuid,
    time: &'a DateTime<Utc>,
    data: DocumentOut<'a>,
    kommune: &'a Kommune,
    entityversion: i64,
    sequence: Shown<SequenceText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'a str>,
}

/// The document with its keys sorted, as a `serde_json::Value` writes it.
#[derive(Serialize)]
struct DocumentOut<'a> {
    current: Option<StateOut<'a>>,
    deleted: bool,
    kind: EntityKind,
    kommune: Kommune,
    registered_at: &'a DateTime<Utc>,
    timeline: StatesOut<'a>,
    uuid: &'a Uuid,
    version: u64,
}

struct StatesOut<'a>(&'a [Segment<Attrs>]);

impl Serialize for StatesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(StateOut))
    }
}

/// One segment: its attributes and `validity`, keys sorted, sensitive attributes left out.
struct StateOut<'a>(&'a Segment<Attrs>);

impl Serialize for StateOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use crate::entity::{AddressType, Owner, Visibility};
        use crate::values::{KleNumber, Label, Name, UserKey};

        let validity = &self.0.validity;
        // Each pattern names every field, so a new attribute fails to compile here until it is
        // given its sorted place.
        match &self.0.attrs {
            Attrs::Unit(Unit {
                name,
                user_key,
                unit_type,
                unit_level,
                hierarchy,
                parent,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    hierarchy: &'a Option<Uuid>,
                    name: &'a Name,
                    parent: &'a Option<Uuid>,
                    unit_level: &'a Option<Uuid>,
                    unit_type: &'a Option<Uuid>,
                    user_key: &'a Option<UserKey>,
                    validity: &'a Validity,
                }
                Out {
                    hierarchy,
                    name,
                    parent,
                    unit_level,
                    unit_type,
                    user_key,
                    validity,
                }
                .serialize(s)
            }
            // `cpr` is sensitive: never in an event.
            Attrs::Person(Person {
                given_name,
                surname,
                user_key,
                cpr: _,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    given_name: &'a Name,
                    surname: &'a Name,
                    user_key: &'a Option<UserKey>,
                    validity: &'a Validity,
                }
                Out {
                    given_name,
                    surname,
                    user_key,
                    validity,
                }
                .serialize(s)
            }
            Attrs::Engagement(Engagement {
                person,
                unit,
                job_title,
                engagement_type,
                primary,
                user_key,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    engagement_type: &'a Option<Uuid>,
                    job_title: &'a Option<Uuid>,
                    person: &'a Uuid,
                    primary: bool,
                    unit: &'a Uuid,
                    user_key: &'a Option<UserKey>,
                    validity: &'a Validity,
                }
                Out {
                    engagement_type,
                    job_title,
                    person,
                    primary: *primary,
                    unit,
                    user_key,
                    validity,
                }
                .serialize(s)
            }
            Attrs::Manager(Manager {
                unit,
                person,
                manager_type,
                manager_level,
                responsibilities,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    manager_level: &'a Option<Uuid>,
                    manager_type: &'a Option<Uuid>,
                    person: &'a Option<Uuid>,
                    responsibilities: &'a [Uuid],
                    unit: &'a Uuid,
                    validity: &'a Validity,
                }
                Out {
                    manager_level,
                    manager_type,
                    person,
                    responsibilities,
                    unit,
                    validity,
                }
                .serialize(s)
            }
            Attrs::Address(Address {
                owner,
                address_type,
                value,
                visibility,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    address_type: &'a AddressType,
                    owner: &'a Owner,
                    validity: &'a Validity,
                    value: &'a str,
                    visibility: &'a Visibility,
                }
                Out {
                    address_type,
                    owner,
                    validity,
                    value,
                    visibility,
                }
                .serialize(s)
            }
            Attrs::Kle(Kle {
                unit,
                kle_number,
                aspects,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    aspects: &'a [crate::entity::KleAspect],
                    kle_number: &'a KleNumber,
                    unit: &'a Uuid,
                    validity: &'a Validity,
                }
                Out {
                    aspects,
                    kle_number,
                    unit,
                    validity,
                }
                .serialize(s)
            }
            Attrs::ItAccount(ItAccount {
                person,
                it_system,
                user_id,
                external_id,
                engagements,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    engagements: &'a [Uuid],
                    external_id: &'a Option<Label>,
                    it_system: &'a Uuid,
                    person: &'a Uuid,
                    user_id: &'a UserKey,
                    validity: &'a Validity,
                }
                Out {
                    engagements,
                    external_id,
                    it_system,
                    person,
                    user_id,
                    validity,
                }
                .serialize(s)
            }
            Attrs::Class(Class {
                facet,
                user_key,
                title,
                parent,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    facet: &'a Facet,
                    parent: &'a Option<Uuid>,
                    title: &'a Name,
                    user_key: &'a UserKey,
                    validity: &'a Validity,
                }
                Out {
                    facet,
                    parent,
                    title,
                    user_key,
                    validity,
                }
                .serialize(s)
            }
            Attrs::Group(Group {
                name,
                user_key,
                group_type,
                parent,
                unit,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    group_type: &'a Uuid,
                    name: &'a Name,
                    parent: &'a Option<Uuid>,
                    unit: &'a Option<Uuid>,
                    user_key: &'a Option<UserKey>,
                    validity: &'a Validity,
                }
                Out {
                    group_type,
                    name,
                    parent,
                    unit,
                    user_key,
                    validity,
                }
                .serialize(s)
            }
            Attrs::Association(Association {
                person,
                unit,
                group,
                association_type,
                user_key,
            }) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    association_type: &'a Uuid,
                    group: &'a Option<Uuid>,
                    person: &'a Uuid,
                    unit: &'a Option<Uuid>,
                    user_key: &'a Option<UserKey>,
                    validity: &'a Validity,
                }
                Out {
                    association_type,
                    group,
                    person,
                    unit,
                    user_key,
                    validity,
                }
                .serialize(s)
            }
        }
    }
}

/// The envelope as the hub writes it. Unknown keys, duplicate keys, `null`s, attributes that are
/// not plain (unescaped) strings and a non-integer `entityversion` all fail here, leaving the
/// message to the general path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeIn<'a> {
    specversion: &'a str,
    id: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
    source: &'a str,
    #[serde(borrow)]
    datacontenttype: Option<&'a str>,
    #[serde(borrow)]
    dataschema: Option<&'a str>,
    subject: &'a str,
    time: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
    kommune: &'a str,
    entityversion: i64,
    sequence: &'a str,
    #[serde(borrow)]
    traceparent: Option<&'a str>,
    /// Read so that a body with it is still read in one pass; the typed event does not carry
    /// it (see [`super::origin_of`]).
    #[serde(borrow)]
    #[allow(dead_code)]
    origin: Option<&'a str>,
}

/// Reads a structured-mode body of the hub's own shape in one pass, checked as
/// [`OrgEvent::from_cloudevent`] checks it; `None` for anything else (see the module
/// documentation).
pub(super) fn read(body: &[u8]) -> Option<OrgEvent> {
    let env: EnvelopeIn<'_> = serde_json::from_slice(body).ok()?;
    if env.specversion != "1.0"
        || env
            .datacontenttype
            .is_some_and(|ct| ct != DATA_CONTENT_TYPE)
    {
        return None;
    }
    let ty = EventType::parse(env.ty).ok()?;
    if env
        .dataschema
        .is_some_and(|schema| schema != ty.kind.data_schema_urn())
    {
        return None;
    }
    let kommune = Kommune::parse(env.source.strip_prefix(SOURCE_PREFIX)?).ok()?;
    if Kommune::parse(env.kommune).ok()? != kommune {
        return None;
    }
    let id = Uuid::parse_str(env.id).ok()?;
    let subject = Uuid::parse_str(env.subject).ok()?;
    let time = DateTime::parse_from_rfc3339(env.time).ok()?.to_utc();
    let entity_version = u64::try_from(env.entityversion).ok()?;
    let sequence = env.sequence.parse::<u64>().ok()?;
    let data = crate::with_kind!(ty.kind, T => typed::<T>(env.data.get()))?;
    if data.uuid != subject || data.kommune != kommune || data.version != entity_version {
        return None;
    }
    Some(OrgEvent {
        id,
        kommune,
        action: ty.action,
        time,
        entity_version,
        sequence,
        traceparent: env.traceparent.map(str::to_owned),
        data,
    })
}

/// The document of one kind, read straight from its JSON text.
fn typed<A: Attributes + IntoAttrs>(json: &str) -> Option<EntityDocument<Attrs>> {
    let doc: EntityDocument<A> = serde_json::from_str(json).ok()?;
    (doc.kind == A::KIND).then(|| doc.map_attrs(IntoAttrs::into_attrs))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::entity::{AddressType, KleAspect, Owner, OwnerKind, Visibility};
    use crate::examples;
    use crate::kind::Action;
    use crate::validity::Timeline;
    use crate::values::{Cpr, KleNumber, Label, Name, UserKey};

    const EXTENSIONS: [&str; 5] = [
        "kommune",
        "entityversion",
        "sequence",
        "traceparent",
        "origin",
    ];

    /// A JSON object's entries in the order written, each value as its exact text.
    struct Entries(Vec<(String, Box<RawValue>)>);

    impl<'de> Deserialize<'de> for Entries {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Entries;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<M: serde::de::MapAccess<'de>>(
                    self,
                    mut map: M,
                ) -> Result<Entries, M::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(Visitor)
        }
    }

    fn compact(entries: &[(String, Box<RawValue>)]) -> String {
        let fields: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).expect("key"), v.get()))
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    /// Asserts that `ours` is `sdk`'s text with only the extensions (which the SDK writes in
    /// `HashMap` order) reordered: the same bytes once `sdk`'s entries are put in `ours`' order.
    fn assert_same_but_extension_order(ours: &str, sdk: &str) {
        let Entries(ours_entries) = serde_json::from_str(ours).expect("ours is an object");
        let Entries(mut sdk_entries) = serde_json::from_str(sdk).expect("the SDK's is an object");
        assert_eq!(compact(&ours_entries), ours, "ours is compact JSON");
        assert_eq!(compact(&sdk_entries), sdk, "the SDK's is compact JSON");
        let keys = |entries: &[(String, Box<RawValue>)]| -> Vec<String> {
            entries.iter().map(|(k, _)| k.clone()).collect()
        };
        let (ours_keys, sdk_keys) = (keys(&ours_entries), keys(&sdk_entries));
        let attributes = |keys: &[String]| -> Vec<String> {
            keys.iter()
                .filter(|k| !EXTENSIONS.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(attributes(&ours_keys), attributes(&sdk_keys));
        let core = attributes(&sdk_keys).len();
        assert_eq!(ours_keys[..core], sdk_keys[..core], "extensions come last");
        sdk_entries.sort_by_key(|(k, _)| ours_keys.iter().position(|o| o == k));
        assert_eq!(keys(&sdk_entries), ours_keys, "the same keys");
        assert_eq!(compact(&sdk_entries), ours);
    }

    fn sdk_text(event: &OrgEvent) -> String {
        serde_json::to_string(&event.to_cloudevent()).expect("the SDK serialises")
    }

    fn example_files() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .expect("contracts/examples")
            .map(|entry| {
                let path = entry.expect("directory entry").path();
                let bytes = std::fs::read(&path).expect("example readable");
                (path.display().to_string(), bytes)
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_example_is_written_byte_for_byte_as_the_sdk_writes_it() {
        let files = example_files();
        assert_eq!(files.len(), EventType::all().count());
        for (path, bytes) in files {
            let event = read(&bytes).unwrap_or_else(|| panic!("{path}: not read in one pass"));
            assert_eq!(
                Ok(&event),
                OrgEvent::from_json_bytes_generally(&bytes).as_ref(),
                "{path}"
            );
            // An example may show the `origin` of a sourced write, which the typed event does
            // not carry: it is written back beside it.
            let origin = super::super::origin_of(&bytes);
            let mut sdk = event.to_cloudevent();
            if let Some(origin) = &origin {
                sdk.set_extension("origin", origin.as_str());
            }
            assert_same_but_extension_order(
                &event.to_structured_json_with_origin(origin.as_deref()),
                &serde_json::to_string(&sdk).expect("the SDK serialises"),
            );
        }
        for ty in EventType::all() {
            let event = examples::event(ty);
            let ours = event.to_structured_json();
            assert_same_but_extension_order(&ours, &sdk_text(&event));
            assert_eq!(read(ours.as_bytes()), Some(event));
        }
    }

    #[test]
    fn extensions_come_in_a_fixed_order_and_traceparent_only_when_set() {
        let mut event = examples::event(EventType {
            kind: EntityKind::Unit,
            action: Action::Created,
        });
        let with = event.to_structured_json();
        assert!(
            with.ends_with(
                r#""kommune":"751","entityversion":1,"sequence":"00000000000000001001","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#
            ),
            "{with}"
        );
        event.traceparent = None;
        let without = event.to_structured_json();
        assert!(without.ends_with(r#""sequence":"00000000000000001001"}"#));
        assert_same_but_extension_order(&without, &sdk_text(&event));
    }

    #[test]
    fn origin_comes_last_is_the_sdks_extension_and_is_read_in_one_pass() {
        let event = examples::event(EventType {
            kind: EntityKind::Person,
            action: Action::Updated,
        });
        let body = event.to_structured_json_with_origin(Some("sd"));
        assert!(body.ends_with(r#","origin":"sd"}"#), "{body}");
        let mut sdk = event.to_cloudevent();
        sdk.set_extension("origin", "sd");
        assert_same_but_extension_order(
            &body,
            &serde_json::to_string(&sdk).expect("the SDK serialises"),
        );
        assert_eq!(read(body.as_bytes()), Some(event.clone()));
        assert_eq!(
            OrgEvent::from_json_bytes_generally(body.as_bytes()),
            Ok(event.clone())
        );
        assert_eq!(
            super::super::origin_of(body.as_bytes()).as_deref(),
            Some("sd")
        );
        assert_eq!(
            event.to_structured_json_with_origin(None),
            event.to_structured_json()
        );
        assert_eq!(
            super::super::origin_of(event.to_structured_json().as_bytes()),
            None
        );
    }

    /// Every change of one attribute, one data field or the raw text of a body, fed to both
    /// readers.
    fn mutations(event: &OrgEvent) -> Vec<Vec<u8>> {
        let body = event.to_structured_json();
        let value: Value = serde_json::from_str(&body).expect("JSON");
        let replacements = [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(7),
            json!(1.5),
            json!(9_223_372_036_854_775_808u64),
            json!(""),
            json!("1.0"),
            json!("0.3"),
            json!("751"),
            json!("0751"),
            json!("101"),
            json!("/orghub/kommune/751"),
            json!("application/json"),
            json!("text/plain"),
            json!("urn:x"),
            json!("not a url"),
            json!("dk.orghub.org.person.created.v1"),
            json!(event.data.uuid.to_string()),
            json!("2026-03-03T09:15:00+01:00"),
            json!("00000000000000001001"),
            json!("+1"),
            json!([]),
            json!({}),
        ];
        let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
        keys.extend(["data_base64", "orghubresync", "foo"].map(String::from));
        let mut out = Vec::new();
        for key in &keys {
            let mut removed = value.clone();
            removed.as_object_mut().map(|o| o.remove(key));
            out.push(removed);
            for replacement in &replacements {
                let mut changed = value.clone();
                changed[key.as_str()] = replacement.clone();
                out.push(changed);
            }
        }
        let data_keys: Vec<String> = value["data"]
            .as_object()
            .expect("data object")
            .keys()
            .cloned()
            .collect();
        for key in &data_keys {
            let mut removed = value.clone();
            removed["data"].as_object_mut().map(|o| o.remove(key));
            out.push(removed);
            for replacement in &replacements {
                let mut changed = value.clone();
                changed["data"][key.as_str()] = replacement.clone();
                out.push(changed);
            }
        }
        let mut bodies: Vec<Vec<u8>> = out
            .iter()
            .map(|v| serde_json::to_vec(v).expect("JSON"))
            .collect();
        let trimmed = body.strip_suffix('}').expect("object");
        for raw in [
            body.replace("/orghub/kommune/", "\\/orghub\\/kommune\\/"),
            body.replace("\"1.0\"", "\"1.\\u0030\""),
            format!("{trimmed},\"id\":\"{}\"}}", Uuid::nil()),
            format!("{trimmed},\"kommune\":\"101\"}}"),
            format!("{trimmed},\"kommune\":\"751\"}}"),
            format!("{body} x"),
            format!(" \n{body}\n "),
            format!("\u{feff}{body}"),
            body.replacen("\"data\":", "\"data\":\"", 1),
            body.replacen("\"current\":", "\"current\":null,\"current\":", 1),
            body.replacen("\"validity\":", "\"extra\":1,\"validity\":", 1),
            body.replacen("{", "[", 1),
            String::new(),
            "{}".into(),
            "[1,2]".into(),
            "{not json".into(),
        ] {
            bodies.push(raw.into_bytes());
        }
        bodies
    }

    #[test]
    fn the_one_pass_reader_accepts_and_refuses_exactly_as_the_general_path() {
        let mut accepted_by_both = 0;
        for ty in EventType::all() {
            for body in mutations(&examples::event(ty)) {
                let general = OrgEvent::from_json_bytes_generally(&body);
                if let Some(event) = read(&body) {
                    assert_eq!(
                        Ok(&event),
                        general.as_ref(),
                        "{}",
                        String::from_utf8_lossy(&body)
                    );
                    accepted_by_both += 1;
                }
                assert_eq!(
                    OrgEvent::from_json_bytes(&body),
                    general,
                    "{}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        assert!(
            accepted_by_both > EventType::all().count(),
            "some mutations are harmless"
        );
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9æøåÆØÅé \"\\\\/<>&'😀\u{2028}.-]{1,12}"
    }

    fn name() -> impl Strategy<Value = Name> {
        text().prop_filter_map("a name", |s| Name::parse(&s).ok())
    }

    fn label() -> impl Strategy<Value = Label> {
        text().prop_filter_map("a label", |s| Label::parse(&s).ok())
    }

    fn key() -> impl Strategy<Value = UserKey> {
        text().prop_filter_map("a user key", |s| UserKey::parse(&s).ok())
    }

    fn uuid() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn attrs(kind: EntityKind) -> BoxedStrategy<Attrs> {
        match kind {
            EntityKind::Unit => (
                name(),
                of(key()),
                of(uuid()),
                of(uuid()),
                of(uuid()),
                of(uuid()),
            )
                .prop_map(
                    |(name, user_key, unit_type, unit_level, hierarchy, parent)| {
                        Attrs::Unit(Unit {
                            name,
                            user_key,
                            unit_type,
                            unit_level,
                            hierarchy,
                            parent,
                        })
                    },
                )
                .boxed(),
            EntityKind::Person => (
                name(),
                name(),
                of(key()),
                of(prop::sample::select(vec!["0101901234", "3112994321"])),
            )
                .prop_map(|(given_name, surname, user_key, cpr)| {
                    Attrs::Person(Person {
                        given_name,
                        surname,
                        user_key,
                        cpr: cpr.map(|c| Cpr::parse(c).expect("valid CPR")),
                    })
                })
                .boxed(),
            EntityKind::Engagement => (
                uuid(),
                uuid(),
                of(uuid()),
                of(uuid()),
                any::<bool>(),
                of(key()),
            )
                .prop_map(
                    |(person, unit, job_title, engagement_type, primary, user_key)| {
                        Attrs::Engagement(Engagement {
                            person,
                            unit,
                            job_title,
                            engagement_type,
                            primary,
                            user_key,
                        })
                    },
                )
                .boxed(),
            EntityKind::Manager => (
                uuid(),
                of(uuid()),
                of(uuid()),
                of(uuid()),
                vec(uuid(), 0..3),
            )
                .prop_map(
                    |(unit, person, manager_type, manager_level, responsibilities)| {
                        Attrs::Manager(Manager {
                            unit,
                            person,
                            manager_type,
                            manager_level,
                            responsibilities,
                        })
                    },
                )
                .boxed(),
            EntityKind::Address => (
                prop::sample::select(vec![
                    OwnerKind::Unit,
                    OwnerKind::Person,
                    OwnerKind::Engagement,
                ]),
                uuid(),
                prop::sample::select(vec![
                    AddressType::Email,
                    AddressType::Phone,
                    AddressType::Postal,
                    AddressType::Ean,
                    AddressType::Pnumber,
                    AddressType::Www,
                    AddressType::Text,
                ]),
                any::<String>(),
                prop::sample::select(vec![
                    Visibility::Public,
                    Visibility::Internal,
                    Visibility::Secret,
                ]),
            )
                .prop_map(|(kind, uuid, address_type, value, visibility)| {
                    Attrs::Address(Address {
                        owner: Owner { kind, uuid },
                        address_type,
                        value,
                        visibility,
                    })
                })
                .boxed(),
            EntityKind::Kle => (
                uuid(),
                "[0-9]{2}(\\.[0-9]{2}){0,2}",
                prop::sample::subsequence(
                    vec![
                        KleAspect::Ansvarlig,
                        KleAspect::Indsigt,
                        KleAspect::Udfoerende,
                    ],
                    1..=3,
                ),
            )
                .prop_map(|(unit, number, aspects)| {
                    Attrs::Kle(Kle {
                        unit,
                        kle_number: KleNumber::parse(&number).expect("valid KLE number"),
                        aspects,
                    })
                })
                .boxed(),
            EntityKind::ItAccount => (uuid(), uuid(), key(), of(label()), vec(uuid(), 0..3))
                .prop_map(|(person, it_system, user_id, external_id, engagements)| {
                    Attrs::ItAccount(ItAccount {
                        person,
                        it_system,
                        user_id,
                        external_id,
                        engagements,
                    })
                })
                .boxed(),
            EntityKind::Class => (
                prop::sample::select(Facet::ALL.to_vec()),
                key(),
                name(),
                of(uuid()),
            )
                .prop_map(|(facet, user_key, title, parent)| {
                    Attrs::Class(Class {
                        facet,
                        user_key,
                        title,
                        parent,
                    })
                })
                .boxed(),
            EntityKind::Group => (name(), of(key()), uuid(), of(uuid()), of(uuid()))
                .prop_map(|(name, user_key, group_type, parent, unit)| {
                    Attrs::Group(Group {
                        name,
                        user_key,
                        group_type,
                        parent,
                        unit,
                    })
                })
                .boxed(),
            EntityKind::Association => (uuid(), uuid(), any::<bool>(), uuid(), of(key()))
                .prop_map(|(person, place, in_group, association_type, user_key)| {
                    let (unit, group) = if in_group {
                        (None, Some(place))
                    } else {
                        (Some(place), None)
                    };
                    Attrs::Association(Association {
                        person,
                        unit,
                        group,
                        association_type,
                        user_key,
                    })
                })
                .boxed(),
        }
    }

    /// Any event: every kind and action, several segments, optional attributes, CPR (which must
    /// not be written), odd text, the whole range of versions and sequences.
    fn event() -> impl Strategy<Value = OrgEvent> {
        (0usize..EntityKind::ALL.len())
            .prop_flat_map(|k| {
                let kind = EntityKind::ALL[k];
                (
                    (
                        Just(kind),
                        0usize..Action::ALL.len(),
                        0usize..98,
                        any::<bool>(),
                    ),
                    (
                        vec((attrs(kind), 1i64..800), 0..4),
                        any::<bool>(),
                        of(0usize..4),
                    ),
                    (
                        any::<u128>(),
                        any::<u128>(),
                        0i64..4_000_000_000,
                        0u32..1_000_000_000,
                    ),
                    (
                        prop_oneof![Just(u64::MAX), any::<u64>(), 0u64..100],
                        any::<u64>(),
                        of(prop_oneof!["[0-9a-f-]{55}", "[ -~]{0,60}"]),
                    ),
                )
            })
            .prop_map(
                |(
                    (kind, action, kommune, deleted),
                    (states, open, current),
                    (id, uuid, secs, nanos),
                    (version, sequence, traceparent),
                )| {
                    let mut from = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
                    let count = states.len();
                    let segments = states
                        .into_iter()
                        .enumerate()
                        .map(|(i, (attrs, days))| {
                            let to = from + chrono::Duration::days(days);
                            let validity = if open && i + 1 == count {
                                Validity::open(from)
                            } else {
                                Validity::new(from, Some(to)).expect("to after from")
                            };
                            from = to;
                            Segment { validity, attrs }
                        })
                        .collect();
                    let timeline = Timeline::from_segments(segments).expect("consecutive");
                    let kommune = Kommune::all().nth(kommune).expect("98 municipalities");
                    let time = Utc.timestamp_opt(secs, nanos).single().expect("a time");
                    OrgEvent {
                        id: Uuid::from_u128(id),
                        kommune,
                        action: Action::ALL[action],
                        time,
                        entity_version: version,
                        sequence,
                        traceparent,
                        data: EntityDocument {
                            uuid: Uuid::from_u128(uuid),
                            kind,
                            kommune,
                            version,
                            registered_at: time,
                            deleted,
                            current: current.and_then(|i| timeline.segments().get(i)).cloned(),
                            timeline,
                        },
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn any_event_is_written_byte_for_byte_as_the_sdk_writes_it(event in event()) {
            assert_same_but_extension_order(&event.to_structured_json(), &sdk_text(&event));
        }

        #[test]
        fn any_event_reads_back_as_the_general_path_reads_it(event in event()) {
            let body = event.to_structured_json();
            let decoded = OrgEvent::from_json_bytes(body.as_bytes());
            prop_assert_eq!(&decoded, &OrgEvent::from_json_bytes_generally(body.as_bytes()));
            let plain = event
                .traceparent
                .as_deref()
                .is_none_or(|tp| !tp.contains(['"', '\\']));
            if event.entity_version <= i64::MAX as u64 {
                let expected = OrgEvent {
                    data: event.data.clone().without_sensitive(),
                    ..event.clone()
                };
                prop_assert_eq!(decoded, Ok(expected.clone()));
                if plain {
                    prop_assert_eq!(read(body.as_bytes()), Some(expected));
                }
            } else {
                prop_assert!(decoded.is_err());
            }
        }
    }
}
