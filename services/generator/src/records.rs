//! Typed records of each kind, as the generator holds them, and their rendering into import-line
//! states.
//!
//! JSON objects are built with their keys in sorted order, so the bytes are the same whether or
//! not some other crate in the build turns on serde_json's `preserve_order`.

use chrono::NaiveDate;
use orghub_contracts::catalogue::{self, Entry};
use orghub_contracts::{EntityKind, Facet};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Line;
use crate::classes::Classes;

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

/// A class reference: the UUID of the catalogue class of `facet` titled `title`.
fn class(c: &Classes, facet: Facet, title: &str) -> Value {
    id(c.uuid(facet, title))
}

/// A class of the standard catalogue, in the generated municipality.
#[derive(Debug, Clone)]
pub(crate) struct ClassRec {
    pub entry: Entry,
}

#[derive(Debug, Clone)]
pub(crate) struct UnitRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub name: String,
    pub user_key: String,
    /// Titles of the unit's classes.
    pub unit_type: &'static str,
    pub unit_level: Option<String>,
    /// `None`: the line organisation.
    pub hierarchy: Option<&'static str>,
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
    pub engagements: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub name: String,
    pub user_key: String,
    pub group_type: &'static str,
    pub parent: Option<Uuid>,
    pub unit: Option<Uuid>,
}

/// What an association ties a person to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member {
    Unit(Uuid),
    Group(Uuid),
}

#[derive(Debug, Clone)]
pub(crate) struct AssociationRec {
    pub uuid: Uuid,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub person: Uuid,
    pub of: Member,
    pub association_type: &'static str,
}

impl ClassRec {
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let k = c.kommune();
        let e = &self.entry;
        let state = object(vec![
            ("validity", validity(catalogue::valid_from(), None)),
            ("facet", text(e.facet.key())),
            ("user_key", text(e.user_key)),
            ("title", text(e.title)),
            (
                "parent",
                e.parent.map_or(Value::Null, |p| {
                    id(orghub_contracts::facet::class_uuid(k, e.facet, p))
                }),
            ),
        ]);
        Line::new(EntityKind::Class, e.uuid(k), state)
    }
}

impl UnitRec {
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, None)),
            ("name", text(&self.name)),
            ("user_key", text(&self.user_key)),
            ("unit_type", class(c, Facet::UnitType, self.unit_type)),
            (
                "unit_level",
                self.unit_level
                    .as_deref()
                    .map_or(Value::Null, |l| class(c, Facet::UnitLevel, l)),
            ),
            (
                "hierarchy",
                self.hierarchy
                    .map_or(Value::Null, |h| class(c, Facet::Hierarchy, h)),
            ),
            ("parent", self.parent.map_or(Value::Null, id)),
        ]);
        Line::new(EntityKind::Unit, self.uuid, state)
    }
}

impl PersonRec {
    pub(crate) fn line(&self, _: &Classes) -> Line {
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
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, self.to)),
            ("person", id(self.person)),
            ("unit", id(self.unit)),
            ("job_title", class(c, Facet::JobTitle, self.job_title)),
            (
                "engagement_type",
                class(c, Facet::EngagementType, self.engagement_type),
            ),
            ("primary", Value::Bool(self.primary)),
            ("user_key", text(&self.user_key)),
        ]);
        Line::new(EntityKind::Engagement, self.uuid, state)
    }
}

impl ManagerRec {
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, None)),
            ("unit", id(self.unit)),
            ("person", self.person.map_or(Value::Null, id)),
            (
                "manager_type",
                class(c, Facet::ManagerType, self.manager_type),
            ),
            (
                "manager_level",
                class(c, Facet::ManagerLevel, &self.manager_level),
            ),
            (
                "responsibilities",
                Value::Array(
                    self.responsibilities
                        .iter()
                        .map(|r| class(c, Facet::Responsibility, r))
                        .collect(),
                ),
            ),
        ]);
        Line::new(EntityKind::Manager, self.uuid, state)
    }
}

impl AddressRec {
    pub(crate) fn line(&self, _: &Classes) -> Line {
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
    pub(crate) fn line(&self, _: &Classes) -> Line {
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
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let mut pairs = vec![
            ("validity", validity(self.from, None)),
            ("person", id(self.person)),
            ("it_system", class(c, Facet::ItSystem, self.it_system)),
            ("user_id", text(&self.user_id)),
            (
                "engagements",
                Value::Array(self.engagements.iter().map(|e| id(*e)).collect()),
            ),
        ];
        if let Some(external) = &self.external_id {
            pairs.push(("external_id", text(external)));
        }
        Line::new(EntityKind::ItAccount, self.uuid, object(pairs))
    }
}

impl GroupRec {
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let state = object(vec![
            ("validity", validity(self.from, self.to)),
            ("name", text(&self.name)),
            ("user_key", text(&self.user_key)),
            ("group_type", class(c, Facet::GroupType, self.group_type)),
            ("parent", self.parent.map_or(Value::Null, id)),
            ("unit", self.unit.map_or(Value::Null, id)),
        ]);
        Line::new(EntityKind::Group, self.uuid, state)
    }
}

impl AssociationRec {
    pub(crate) fn line(&self, c: &Classes) -> Line {
        let (unit, group) = match self.of {
            Member::Unit(u) => (id(u), Value::Null),
            Member::Group(g) => (Value::Null, id(g)),
        };
        let state = object(vec![
            ("validity", validity(self.from, self.to)),
            ("person", id(self.person)),
            ("unit", unit),
            ("group", group),
            (
                "association_type",
                class(c, Facet::AssociationType, self.association_type),
            ),
        ]);
        Line::new(EntityKind::Association, self.uuid, state)
    }
}

/// One generated entity, typed.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Class(ClassRec),
    Unit(UnitRec),
    Person(PersonRec),
    Engagement(EngagementRec),
    Manager(ManagerRec),
    Address(AddressRec),
    Kle(KleRec),
    ItAccount(ItAccountRec),
    Group(GroupRec),
    Association(AssociationRec),
}

impl Item {
    pub(crate) fn kind(&self) -> EntityKind {
        match self {
            Item::Class(_) => EntityKind::Class,
            Item::Unit(_) => EntityKind::Unit,
            Item::Person(_) => EntityKind::Person,
            Item::Engagement(_) => EntityKind::Engagement,
            Item::Manager(_) => EntityKind::Manager,
            Item::Address(_) => EntityKind::Address,
            Item::Kle(_) => EntityKind::Kle,
            Item::ItAccount(_) => EntityKind::ItAccount,
            Item::Group(_) => EntityKind::Group,
            Item::Association(_) => EntityKind::Association,
        }
    }

    pub(crate) fn line(&self, c: &Classes) -> Line {
        match self {
            Item::Class(r) => r.line(c),
            Item::Unit(r) => r.line(c),
            Item::Person(r) => r.line(c),
            Item::Engagement(r) => r.line(c),
            Item::Manager(r) => r.line(c),
            Item::Address(r) => r.line(c),
            Item::Kle(r) => r.line(c),
            Item::ItAccount(r) => r.line(c),
            Item::Group(r) => r.line(c),
            Item::Association(r) => r.line(c),
        }
    }
}
