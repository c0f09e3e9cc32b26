//! Typed records of each kind, as the generator holds them, and their rendering into import-line
//! states.
//!
//! JSON objects are built with their keys in sorted order, so the bytes are the same whether or
//! not some other crate in the build turns on serde_json's `preserve_order`.

use chrono::NaiveDate;
use orghub_contracts::EntityKind;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Line;

/// A JSON object from key/value pairs, inserted in sorted key order.
pub(crate) fn object(mut pairs: Vec<(&'static str, Value)>) -> Value {
    pairs.sort_by_key(|(k, _)| *k);
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k.to_owned(), v);
    }
    Value::Object(map)
}

fn date(d: NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}

fn validity(from: NaiveDate, to: Option<NaiveDate>) -> Value {
    object(vec![
        ("from", date(from)),
        ("to", to.map_or(Value::Null, date)),
    ])
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn id(u: Uuid) -> Value {
    Value::String(u.to_string())
}

#[derive(Debug, Clone)]
pub(crate) struct UnitRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub name: String,
    pub user_key: String,
    pub unit_type: &'static str,
    pub parent: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub(crate) struct PersonRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub given_name: String,
    pub surname: String,
    pub user_key: String,
    pub cpr: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct EngagementRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub person: Uuid,
    pub unit: Uuid,
    pub job_title: &'static str,
    pub engagement_type: &'static str,
    pub primary: bool,
    pub user_key: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ManagerRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub unit: Uuid,
    pub person: Option<Uuid>,
    pub manager_type: &'static str,
    pub manager_level: String,
    pub responsibilities: &'static [&'static str],
}

#[derive(Debug, Clone)]
pub(crate) struct AddressRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    /// `unit` or `person`.
    pub owner_kind: &'static str,
    pub owner: Uuid,
    pub address_type: &'static str,
    pub value: String,
    pub visibility: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct KleRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub unit: Uuid,
    pub kle_number: &'static str,
    pub aspects: &'static [&'static str],
}

#[derive(Debug, Clone)]
pub(crate) struct ItAccountRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub person: Uuid,
    pub it_system: &'static str,
    pub user_id: String,
    pub external_id: Option<String>,
}

impl UnitRec {
    pub(crate) fn line(&self) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, None)),
            ("name", text(&self.name)),
            ("user_key", text(&self.user_key)),
            ("unit_type", text(self.unit_type)),
            ("parent", self.parent.map_or(Value::Null, id)),
        ]);
        Line::new(EntityKind::Unit, self.uuid, state)
    }
}

impl PersonRec {
    pub(crate) fn line(&self) -> Line {
        let mut pairs = vec![
            ("validity", validity(self.from, None)),
            ("given_name", text(&self.given_name)),
            ("surname", text(&self.surname)),
            ("user_key", text(&self.user_key)),
        ];
        if let Some(cpr) = &self.cpr {
            pairs.push(("cpr", text(cpr)));
        }
        Line::new(EntityKind::Person, self.uuid, object(pairs))
    }
}

impl EngagementRec {
    pub(crate) fn line(&self) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, self.to)),
            ("person", id(self.person)),
            ("unit", id(self.unit)),
            ("job_title", text(self.job_title)),
            ("engagement_type", text(self.engagement_type)),
            ("primary", Value::Bool(self.primary)),
            ("user_key", text(&self.user_key)),
        ]);
        Line::new(EntityKind::Engagement, self.uuid, state)
    }
}

impl ManagerRec {
    pub(crate) fn line(&self) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, None)),
            ("unit", id(self.unit)),
            ("person", self.person.map_or(Value::Null, id)),
            ("manager_type", text(self.manager_type)),
            ("manager_level", text(&self.manager_level)),
            (
                "responsibilities",
                Value::Array(self.responsibilities.iter().map(|r| text(r)).collect()),
            ),
        ]);
        Line::new(EntityKind::Manager, self.uuid, state)
    }
}

impl AddressRec {
    pub(crate) fn line(&self) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, None)),
            (
                "owner",
                object(vec![
                    ("kind", text(self.owner_kind)),
                    ("uuid", id(self.owner)),
                ]),
            ),
            ("address_type", text(self.address_type)),
            ("value", text(&self.value)),
            ("visibility", text(self.visibility)),
        ]);
        Line::new(EntityKind::Address, self.uuid, state)
    }
}

impl KleRec {
    pub(crate) fn line(&self) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, None)),
            ("unit", id(self.unit)),
            ("kle_number", text(self.kle_number)),
            (
                "aspects",
                Value::Array(self.aspects.iter().map(|a| text(a)).collect()),
            ),
        ]);
        Line::new(EntityKind::Kle, self.uuid, state)
    }
}

impl ItAccountRec {
    pub(crate) fn line(&self) -> Line {
        let mut pairs = vec![
            ("validity", validity(self.from, None)),
            ("person", id(self.person)),
            ("it_system", text(self.it_system)),
            ("user_id", text(&self.user_id)),
        ];
        if let Some(external) = &self.external_id {
            pairs.push(("external_id", text(external)));
        }
        Line::new(EntityKind::ItAccount, self.uuid, object(pairs))
    }
}

/// One generated entity, typed.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Unit(UnitRec),
    Person(PersonRec),
    Engagement(EngagementRec),
    Manager(ManagerRec),
    Address(AddressRec),
    Kle(KleRec),
    ItAccount(ItAccountRec),
}

impl Item {
    pub(crate) fn kind(&self) -> EntityKind {
        match self {
            Item::Unit(_) => EntityKind::Unit,
            Item::Person(_) => EntityKind::Person,
            Item::Engagement(_) => EntityKind::Engagement,
            Item::Manager(_) => EntityKind::Manager,
            Item::Address(_) => EntityKind::Address,
            Item::Kle(_) => EntityKind::Kle,
            Item::ItAccount(_) => EntityKind::ItAccount,
        }
    }

    pub(crate) fn line(&self) -> Line {
        match self {
            Item::Unit(r) => r.line(),
            Item::Person(r) => r.line(),
            Item::Engagement(r) => r.line(),
            Item::Manager(r) => r.line(),
            Item::Address(r) => r.line(),
            Item::Kle(r) => r.line(),
            Item::ItAccount(r) => r.line(),
        }
    }
}
