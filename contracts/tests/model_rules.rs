//! Contract tests of what a consumer can rely on beyond the field types: class references name
//! their facet in the schemas and resolve by UUID, an association belongs to exactly one of a unit
//! and a group, an IT account names its IT system, facet keys round-trip, and the midnight
//! examples (`effective`, `expired`) change only `current`; and the README catalogue shows the
//! committed example and names every kind, action and class reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{Duration, NaiveDate, Timelike};
use orghub_contracts::entity::Class;
use orghub_contracts::facet::{self, Facet};
use orghub_contracts::{
    Action, Attrs, EntityKind, EventType, FieldError, OrgEvent, examples, parse_state, schema,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn load_schema(kind: EntityKind) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema::file_name(kind));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn valid(kind: EntityKind, document: &Value) -> bool {
    jsonschema::validator_for(&load_schema(kind))
        .expect("the data schema compiles")
        .is_valid(document)
}

fn example(kind: EntityKind, action: Action) -> OrgEvent {
    examples::event(EventType { kind, action })
}

/// The `created` example's document of `kind` with its one segment replaced by `state`.
fn document_with(kind: EntityKind, state: &Value) -> Value {
    let mut doc = example(kind, Action::Created).to_json()["data"].clone();
    doc["current"] = state.clone();
    doc["timeline"] = json!([state]);
    doc
}

/// The `created` example's state of `kind`, `{validity, ...attributes}`, as client input.
fn example_state(kind: EntityKind) -> Value {
    example(kind, Action::Created).to_json()["data"]["current"].clone()
}

fn pointers(result: Result<impl std::fmt::Debug, Vec<FieldError>>) -> Vec<String> {
    result
        .expect_err("refused")
        .into_iter()
        .map(|e| e.pointer)
        .collect()
}

#[test]
fn every_class_reference_names_its_facet_in_the_schema() {
    for kind in EntityKind::ALL {
        let schema = load_schema(kind);
        let props = schema["$defs"]["Segment"]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{kind}: no segment properties"));
        let expected: BTreeMap<&str, &str> = facet::class_attributes(kind)
            .map(|a| (a.field, a.facet.key()))
            .collect();
        let marked: BTreeMap<&str, &str> = props
            .iter()
            .filter_map(|(name, p)| {
                p.get(schema::FACET_KEYWORD)
                    .and_then(Value::as_str)
                    .map(|f| (name.as_str(), f))
            })
            .collect();
        assert_eq!(marked, expected, "{kind}");
        for (field, key) in expected {
            let description = props[field]["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("facet `{key}`")),
                "{kind}.{field}: the description {description:?} does not name facet `{key}`"
            );
        }
    }
}

#[test]
fn the_class_attributes_are_exactly_the_class_references_the_writer_checks() {
    for kind in EntityKind::ALL
        .into_iter()
        .filter(|k| *k != EntityKind::Class)
    {
        let mut state = example_state(kind);
        let mut expected = BTreeSet::new();
        for (i, attr) in facet::class_attributes(kind).enumerate() {
            let uuid = Uuid::from_u128(0xc1a5_5000 + i as u128);
            state[attr.field] = if state[attr.field].is_array() {
                json!([uuid])
            } else {
                json!(uuid)
            };
            expected.insert((format!("/{}", attr.field), attr.facet, uuid));
        }
        let segment = parse_state(kind, state).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        let found: BTreeSet<(String, Facet, Uuid)> = segment
            .attrs
            .references()
            .into_iter()
            .filter(|r| r.kind == EntityKind::Class)
            .map(|r| {
                let facet = r
                    .facet
                    .unwrap_or_else(|| panic!("{kind}{}: no facet", r.field));
                (r.field.to_owned(), facet, r.uuid)
            })
            .collect();
        assert_eq!(found, expected, "{kind}");
    }
}

#[test]
fn a_class_parent_is_a_class_of_the_same_facet() {
    let mut state = example_state(EntityKind::Class);
    let parent = Uuid::from_u128(0xc1a5_5100);
    state["parent"] = json!(parent);
    let segment = parse_state(EntityKind::Class, state).expect("valid class");
    let refs = segment.attrs.references();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        (refs[0].kind, refs[0].facet, refs[0].uuid),
        (EntityKind::Class, Some(Facet::JobTitle), parent)
    );
}

#[test]
fn a_class_reference_resolves_to_its_title_by_joining_on_the_uuid() {
    let engagement = example(EntityKind::Engagement, Action::Created);
    let class = example(EntityKind::Class, Action::Created);
    let job_title = engagement.to_json()["data"]["current"]["job_title"].clone();
    assert_eq!(job_title, json!(class.data.uuid));
    assert_eq!(
        class.data.uuid,
        facet::class_uuid(examples::kommune(), Facet::JobTitle, "paedagog"),
        "the example class is the standard catalogue's, with its deterministic UUID"
    );
    let current = class.to_json()["data"]["current"].clone();
    assert_eq!(current["facet"], "job_title");
    assert_eq!(current["title"], "Pædagog");
}

#[test]
fn an_association_belongs_to_exactly_one_of_a_unit_and_a_group() {
    let unit = json!(examples::entity_uuid(EntityKind::Unit));
    let group = json!(examples::entity_uuid(EntityKind::Group));
    let cases = [
        (Some(Value::Null), Some(group.clone()), None),
        (Some(unit.clone()), Some(Value::Null), None),
        (Some(unit.clone()), None, None),
        (None, Some(group.clone()), None),
        (Some(unit.clone()), Some(group.clone()), Some("/group")),
        (Some(Value::Null), Some(Value::Null), Some("/unit")),
        (None, None, Some("/unit")),
    ];
    for (unit, group, refused_at) in cases {
        let mut state = example_state(EntityKind::Association);
        let object = state.as_object_mut().expect("a state is an object");
        object.remove("unit");
        object.remove("group");
        object.extend(unit.clone().map(|u| ("unit".to_owned(), u)));
        object.extend(group.clone().map(|g| ("group".to_owned(), g)));
        let case = format!("unit {unit:?}, group {group:?}");
        assert_eq!(
            valid(
                EntityKind::Association,
                &document_with(EntityKind::Association, &state)
            ),
            refused_at.is_none(),
            "schema, {case}"
        );
        let parsed = parse_state(EntityKind::Association, state);
        match refused_at {
            None => assert!(parsed.is_ok(), "writer, {case}: {parsed:?}"),
            Some(pointer) => assert_eq!(pointers(parsed), vec![pointer], "writer, {case}"),
        }
    }
}

#[test]
fn an_itaccount_names_its_it_system() {
    let mut state = example_state(EntityKind::ItAccount);
    assert!(valid(
        EntityKind::ItAccount,
        &document_with(EntityKind::ItAccount, &state)
    ));
    for missing in [None, Some(Value::Null)] {
        let object = state.as_object_mut().expect("a state is an object");
        object.remove("it_system");
        object.extend(missing.map(|m| ("it_system".to_owned(), m)));
        assert!(!valid(
            EntityKind::ItAccount,
            &document_with(EntityKind::ItAccount, &state)
        ));
        assert_eq!(
            pointers(parse_state(EntityKind::ItAccount, state.clone())),
            vec!["/it_system"]
        );
    }
}

#[test]
fn an_itaccount_serves_engagements_listed_once() {
    let mut state = example_state(EntityKind::ItAccount);
    let engagement = examples::entity_uuid(EntityKind::Engagement);
    let segment = parse_state(EntityKind::ItAccount, state.clone()).expect("valid");
    assert!(
        segment
            .attrs
            .references()
            .iter()
            .any(|r| r.kind == EntityKind::Engagement && r.uuid == engagement)
    );
    state["engagements"] = json!([engagement, engagement]);
    assert_eq!(
        pointers(parse_state(EntityKind::ItAccount, state.clone())),
        vec!["/engagements"]
    );
    // Absent means none: an account that serves no particular engagement.
    state.as_object_mut().map(|o| o.remove("engagements"));
    let segment = parse_state(EntityKind::ItAccount, state).expect("valid");
    let Attrs::ItAccount(account) = segment.attrs else {
        panic!("an itaccount");
    };
    assert!(account.engagements.is_empty());
}

#[test]
fn facet_keys_round_trip_through_the_schema_the_types_and_class_documents() {
    let schema = load_schema(EntityKind::Class);
    let keys: Vec<&str> = Facet::ALL.iter().map(|f| f.key()).collect();
    assert_eq!(schema["$defs"]["Facet"]["enum"], json!(keys));
    for facet in Facet::ALL {
        assert_eq!(facet.key().parse::<Facet>(), Ok(facet));
        assert_eq!(
            serde_json::to_value(facet).expect("json"),
            json!(facet.key())
        );
        let mut state = example_state(EntityKind::Class);
        state["facet"] = json!(facet.key());
        assert!(valid(
            EntityKind::Class,
            &document_with(EntityKind::Class, &state)
        ));
        let segment = parse_state(EntityKind::Class, state).expect("valid class");
        let Attrs::Class(Class { facet: parsed, .. }) = &segment.attrs else {
            panic!("a class");
        };
        assert_eq!(*parsed, facet);
        assert_eq!(
            serde_json::to_value(&segment.attrs).expect("json")["facet"],
            json!(facet.key())
        );
    }
    for unknown in ["jobtitle", "JobTitle", "job-title", ""] {
        let mut state = example_state(EntityKind::Class);
        state["facet"] = json!(unknown);
        assert!(!valid(
            EntityKind::Class,
            &document_with(EntityKind::Class, &state)
        ));
        assert_eq!(
            pointers(parse_state(EntityKind::Class, state)),
            vec!["/facet"]
        );
        assert!(unknown.parse::<Facet>().is_err());
    }
}

/// The Europe/Copenhagen date and time of an example's `time`: both midnight examples fall on
/// summer time (UTC+2).
fn copenhagen(event: &OrgEvent) -> chrono::NaiveDateTime {
    (event.time + Duration::hours(2)).naive_utc()
}

#[test]
fn an_effective_example_is_the_day_a_future_dated_segment_became_current() {
    for kind in EntityKind::ALL {
        let updated = example(kind, Action::Updated);
        let effective = example(kind, Action::Effective);
        let local = copenhagen(&effective);
        assert!(local.hour() == 0 && local.minute() == 0, "{kind}: {local}");
        assert_eq!(effective.entity_version, updated.entity_version + 1);
        assert_eq!(effective.data.timeline, updated.data.timeline, "{kind}");
        let current = effective
            .data
            .current
            .as_ref()
            .unwrap_or_else(|| panic!("{kind}: effective with no current"));
        assert_eq!(current.validity.from, local.date(), "{kind}");
        assert_ne!(updated.data.current.as_ref(), Some(current), "{kind}");
        assert!(effective.traceparent.is_none(), "{kind}: no request");
        assert!(!effective.data.deleted);
    }
}

#[test]
fn an_expired_example_is_the_day_the_validity_ended() {
    for kind in EntityKind::ALL {
        let terminated = example(kind, Action::Terminated);
        let expired = example(kind, Action::Expired);
        let local = copenhagen(&expired);
        assert!(local.hour() == 0 && local.minute() == 0, "{kind}: {local}");
        assert_eq!(expired.entity_version, terminated.entity_version + 1);
        assert_eq!(expired.data.timeline, terminated.data.timeline, "{kind}");
        assert!(terminated.data.current.is_some(), "{kind}");
        assert_eq!(expired.data.current, None, "{kind}");
        let end = expired.data.timeline.span().and_then(|s| s.to);
        assert_eq!(end, Some(local.date()), "{kind}");
        assert_eq!(end, NaiveDate::from_ymd_opt(2026, 9, 1));
        assert!(expired.traceparent.is_none(), "{kind}: no request");
        assert!(!expired.data.deleted);
    }
}

fn readme() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("contracts/README.md")
}

#[test]
fn the_readme_example_is_the_committed_example() {
    let readme = readme();
    let intro = "Example, `examples/engagement.created.json`";
    let after = &readme[readme.find(intro).expect("the README shows an example")..];
    let start = after.find("```json\n").expect("a json block") + "```json\n".len();
    let block = &after[start..start + after[start..].find("```").expect("the block ends")];
    let committed = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/engagement.created.json"),
    )
    .expect("example");
    assert_eq!(block, committed);
}

#[test]
fn the_readme_names_every_kind_and_what_references_which_facet() {
    let readme = readme();
    for kind in EntityKind::ALL {
        let row = format!("| `{kind}` | `{}` |", kind.path());
        assert!(readme.contains(&row), "the kinds table lacks {row}");
        assert!(
            readme.contains(&format!("### `{kind}`")),
            "no section for {kind}"
        );
    }
    for attr in facet::CLASS_ATTRIBUTES {
        let row = format!("| `{}` | `{}.{}", attr.facet, attr.kind, attr.field);
        assert!(readme.contains(&row), "the facets table lacks {row}");
    }
    for action in Action::ALL {
        assert!(
            readme.contains(&format!("| `{action}` |")),
            "no row for {action}"
        );
    }
}
