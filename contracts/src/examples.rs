//! Deterministic example events, one per kind and action: the source of `contracts/examples/`
//! and a ready fixture for other crates' tests.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use crate::document::{DocumentHead, EntityDocument};
use crate::entity::{
    Address, AddressType, Association, Attrs, Class, Engagement, Group, ItAccount, Kle, KleAspect,
    Manager, Owner, OwnerKind, Person, Unit, Visibility,
};
use crate::event::{EventType, OrgEvent};
use crate::facet::{Facet, class_uuid};
use crate::kind::{Action, EntityKind};
use crate::kommune::Kommune;
use crate::validity::{Timeline, Validity};
use crate::values::{KleNumber, Label, Name, UserKey};

/// Aarhus, the examples' municipality.
pub fn kommune() -> Kommune {
    Kommune::from_code(751).expect("751 is Aarhus")
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x5f1c_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// The example entities' UUIDs, fixed so examples reference each other. The example class is the
/// standard catalogue's job title `paedagog`, the one the engagement example references first.
pub fn entity_uuid(kind: EntityKind) -> Uuid {
    match kind {
        EntityKind::Class => class(Facet::JobTitle, "paedagog"),
        _ => uuid(EntityKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u128 + 1),
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid example date")
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("valid example name")
}

fn label(s: &str) -> Label {
    Label::parse(s).expect("valid example label")
}

fn key(s: &str) -> UserKey {
    UserKey::parse(s).expect("valid example user key")
}

/// The UUID of the standard catalogue's class `user_key` of `facet` in the examples' municipality.
fn class(facet: Facet, user_key: &str) -> Uuid {
    class_uuid(kommune(), facet, user_key)
}

/// The first state and the changed state of each kind's example entity.
fn states(kind: EntityKind) -> (Attrs, Attrs) {
    let unit = entity_uuid(EntityKind::Unit);
    let person = entity_uuid(EntityKind::Person);
    let engagement = entity_uuid(EntityKind::Engagement);
    let group = entity_uuid(EntityKind::Group);
    match kind {
        EntityKind::Unit => {
            let a = Unit {
                name: name("Børn og Unge"),
                user_key: Some(key("BU")),
                unit_type: Some(class(Facet::UnitType, "forvaltning")),
                unit_level: Some(class(Facet::UnitLevel, "niveau-2")),
                hierarchy: None,
                parent: Some(uuid(0x100)),
            };
            let b = Unit {
                name: name("Børn, Unge og Familier"),
                ..a.clone()
            };
            (Attrs::Unit(a), Attrs::Unit(b))
        }
        EntityKind::Person => {
            let a = Person {
                given_name: name("Mette"),
                surname: name("Kristensen"),
                user_key: Some(key("mekr")),
                cpr: None,
            };
            let b = Person {
                surname: name("Kristensen Holm"),
                ..a.clone()
            };
            (Attrs::Person(a), Attrs::Person(b))
        }
        EntityKind::Engagement => {
            let a = Engagement {
                person,
                unit,
                job_title: Some(class(Facet::JobTitle, "paedagog")),
                engagement_type: Some(class(Facet::EngagementType, "maanedsloennet-fuldtid")),
                primary: true,
                user_key: Some(key("12345-1")),
            };
            let b = Engagement {
                job_title: Some(class(Facet::JobTitle, "paedagogisk-leder")),
                ..a.clone()
            };
            (Attrs::Engagement(a), Attrs::Engagement(b))
        }
        EntityKind::Manager => {
            let a = Manager {
                unit,
                person: None,
                manager_type: Some(class(Facet::ManagerType, "direktoer")),
                manager_level: Some(class(Facet::ManagerLevel, "niveau-1")),
                responsibilities: vec![
                    class(Facet::Responsibility, "personale"),
                    class(Facet::Responsibility, "oekonomi"),
                ],
            };
            let b = Manager {
                person: Some(person),
                ..a.clone()
            };
            (Attrs::Manager(a), Attrs::Manager(b))
        }
        EntityKind::Address => {
            let a = Address {
                owner: Owner {
                    kind: OwnerKind::Person,
                    uuid: person,
                },
                address_type: AddressType::Email,
                value: "mekr@aarhus.dk".into(),
                visibility: Visibility::Internal,
            };
            let b = Address {
                value: "mette.kristensen@aarhus.dk".into(),
                visibility: Visibility::Public,
                ..a.clone()
            };
            (Attrs::Address(a), Attrs::Address(b))
        }
        EntityKind::Kle => {
            let a = Kle {
                unit,
                kle_number: KleNumber::parse("28.09.10").expect("valid KLE"),
                aspects: vec![KleAspect::Ansvarlig],
            };
            let b = Kle {
                aspects: vec![KleAspect::Ansvarlig, KleAspect::Udfoerende],
                ..a.clone()
            };
            (Attrs::Kle(a), Attrs::Kle(b))
        }
        EntityKind::ItAccount => {
            let a = ItAccount {
                person,
                it_system: class(Facet::ItSystem, "ad"),
                user_id: key("AZ12345"),
                external_id: Some(label("S-1-5-21-1004336348-1177238915-682003330-512")),
                engagements: vec![engagement],
            };
            let b = ItAccount {
                user_id: key("mekr"),
                ..a.clone()
            };
            (Attrs::ItAccount(a), Attrs::ItAccount(b))
        }
        EntityKind::Class => {
            let a = Class {
                facet: Facet::JobTitle,
                user_key: key("paedagog"),
                title: name("Pædagog"),
                parent: None,
            };
            let b = Class {
                title: name("Pædagog (uddannet)"),
                ..a.clone()
            };
            (Attrs::Class(a), Attrs::Class(b))
        }
        EntityKind::Group => {
            let a = Group {
                name: name("Projekt Ny Skolestruktur"),
                user_key: Some(key("PRJ-SKOLE-2026")),
                group_type: class(Facet::GroupType, "projekt"),
                parent: None,
                unit: Some(unit),
            };
            let b = Group {
                name: name("Projekt Ny Skolestruktur 2027"),
                ..a.clone()
            };
            (Attrs::Group(a), Attrs::Group(b))
        }
        EntityKind::Association => {
            let a = Association {
                person,
                unit: None,
                group: Some(group),
                association_type: class(Facet::AssociationType, "projektdeltager"),
                user_key: None,
            };
            let b = Association {
                association_type: class(Facet::AssociationType, "projektleder"),
                ..a.clone()
            };
            (Attrs::Association(a), Attrs::Association(b))
        }
    }
}

/// The example event of one kind and action, all six telling one entity's life in 2026:
///
/// 1. `created` (2 March): valid from 2024-01-01, open-ended; `current` is that state.
/// 2. `updated` (2 March): a change from 1 April is registered ahead; `current` is still the
///    first state, the timeline has both.
/// 3. `effective` (just after midnight into 1 April, Europe/Copenhagen): nobody wrote that day,
///    the future-dated segment became `current`; the timeline is unchanged.
/// 4. `terminated` (4 May): the validity ends at 1 September; `current` is still the second state.
/// 5. `expired` (just after midnight into 1 September): the validity ended, `current` is null.
/// 6. `deleted` (7 September): registered in error after all; empty timeline.
///
/// The midnight events carry no `traceparent`: no request caused them.
pub fn event(ty: EventType) -> OrgEvent {
    let (first, second) = states(ty.kind);
    let start = Validity::open(date(2024, 1, 1));
    let change = date(2026, 4, 1);
    let end = date(2026, 9, 1);
    let mut timeline = Timeline::new();
    timeline.put(start, first);
    let (version, today): (u64, NaiveDate) = match ty.action {
        Action::Created => (1, date(2026, 3, 2)),
        Action::Updated => (2, date(2026, 3, 2)),
        Action::Effective => (3, change),
        Action::Terminated => (4, date(2026, 5, 4)),
        Action::Expired => (5, end),
        Action::Deleted => (6, date(2026, 9, 7)),
    };
    if version >= 2 {
        timeline.put(Validity::open(change), second);
    }
    if version >= 4 {
        timeline.terminate(end);
    }
    let kind_index = EntityKind::ALL
        .iter()
        .position(|k| *k == ty.kind)
        .unwrap_or(0) as u64;
    let registered_at = match ty.action {
        // Midnight transitions are registered just after midnight Europe/Copenhagen, which is
        // on summer time (UTC+2) on both 1 April and 1 September.
        Action::Effective | Action::Expired => {
            Utc.with_ymd_and_hms(
                today.year(),
                today.month(),
                today.day(),
                0,
                0,
                u32::try_from(kind_index).unwrap_or(0),
            )
            .single()
            .expect("valid example time")
                - chrono::Duration::hours(2)
        }
        _ => Utc
            .with_ymd_and_hms(
                today.year(),
                today.month(),
                today.day(),
                7 + version as u32,
                15,
                u32::try_from(kind_index).unwrap_or(0),
            )
            .single()
            .expect("valid example time"),
    };
    let head = DocumentHead {
        uuid: entity_uuid(ty.kind),
        kind: ty.kind,
        kommune: kommune(),
        version,
        registered_at,
    };
    let data = EntityDocument::new(head, ty.action == Action::Deleted, timeline, today);
    OrgEvent {
        id: Uuid::from_u128(
            0x019c_a000_0000_7000_8000_0000_0000_0000 | u128::from(kind_index * 16 + version),
        ),
        kommune: kommune(),
        action: ty.action,
        time: registered_at,
        entity_version: version,
        sequence: 1000 + kind_index * 10 + version,
        traceparent: match ty.action {
            Action::Effective | Action::Expired => None,
            _ => Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        },
        data,
    }
}

/// The file name of an example in `contracts/examples/`: `<kind>.<action>.json`.
pub fn file_name(ty: EventType) -> String {
    format!("{}.{}.json", ty.kind, ty.action)
}

/// The `origin` extension an example shows (DESIGN §4): the person's creation and update are
/// sourced writes of the payroll system `sd`; the other examples come from unsourced writes (or,
/// `effective` and `expired`, from no write). The typed [`OrgEvent`] does not carry it.
pub fn origin(ty: EventType) -> Option<&'static str> {
    match (ty.kind, ty.action) {
        (EntityKind::Person, Action::Created | Action::Updated) => Some("sd"),
        _ => None,
    }
}

/// An example as structured-mode JSON, with its [`origin`] when it has one.
pub fn to_json(ty: EventType) -> serde_json::Value {
    let mut json = event(ty).to_json();
    if let (Some(origin), Some(object)) = (origin(ty), json.as_object_mut()) {
        object.insert("origin".into(), origin.into());
    }
    json
}

/// The committed text of an example: pretty structured-mode JSON with a final newline.
pub fn render(ty: EventType) -> String {
    let mut text = serde_json::to_string_pretty(&to_json(ty)).unwrap_or_default();
    text.push('\n');
    text
}
