//! The facets of a municipality's classification (DESIGN §2 *Classifications*): the fixed keys a
//! `class` belongs to, and which attribute of which kind refers to a class of which facet.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::kind::EntityKind;
use crate::kommune::Kommune;

/// A facet key: the code list a class belongs to, fixed for the class's life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Facet {
    UnitType,
    UnitLevel,
    Hierarchy,
    JobTitle,
    EngagementType,
    ManagerType,
    ManagerLevel,
    Responsibility,
    ItSystem,
    GroupType,
    AssociationType,
}

impl Facet {
    pub const ALL: [Facet; 11] = [
        Facet::UnitType,
        Facet::UnitLevel,
        Facet::Hierarchy,
        Facet::JobTitle,
        Facet::EngagementType,
        Facet::ManagerType,
        Facet::ManagerLevel,
        Facet::Responsibility,
        Facet::ItSystem,
        Facet::GroupType,
        Facet::AssociationType,
    ];

    /// The key as written in documents and the catalogue: `job_title`, `it_system`, …
    pub fn key(self) -> &'static str {
        match self {
            Facet::UnitType => "unit_type",
            Facet::UnitLevel => "unit_level",
            Facet::Hierarchy => "hierarchy",
            Facet::JobTitle => "job_title",
            Facet::EngagementType => "engagement_type",
            Facet::ManagerType => "manager_type",
            Facet::ManagerLevel => "manager_level",
            Facet::Responsibility => "responsibility",
            Facet::ItSystem => "it_system",
            Facet::GroupType => "group_type",
            Facet::AssociationType => "association_type",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }
}

impl fmt::Display for Facet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Facet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_key(s).ok_or_else(|| {
            format!(
                "unknown facet {s:?}; expected one of {}",
                Self::ALL.map(Facet::key).join(", ")
            )
        })
    }
}

/// A class reference: an attribute of a kind that holds the UUID of a `class` of one facet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassAttribute {
    pub kind: EntityKind,
    /// The attribute's name in a state (for `responsibilities`, a list of class UUIDs).
    pub field: &'static str,
    pub facet: Facet,
}

const fn attr(kind: EntityKind, field: &'static str, facet: Facet) -> ClassAttribute {
    ClassAttribute { kind, field, facet }
}

/// Every class reference of every kind, as the schemas announce them (`x-orghub-facet`) and
/// caches resolve them to titles. A `class`'s own `parent` is not listed: its facet is the class's.
pub const CLASS_ATTRIBUTES: [ClassAttribute; 11] = [
    attr(EntityKind::Unit, "unit_type", Facet::UnitType),
    attr(EntityKind::Unit, "unit_level", Facet::UnitLevel),
    attr(EntityKind::Unit, "hierarchy", Facet::Hierarchy),
    attr(EntityKind::Engagement, "job_title", Facet::JobTitle),
    attr(
        EntityKind::Engagement,
        "engagement_type",
        Facet::EngagementType,
    ),
    attr(EntityKind::Manager, "manager_type", Facet::ManagerType),
    attr(EntityKind::Manager, "manager_level", Facet::ManagerLevel),
    attr(
        EntityKind::Manager,
        "responsibilities",
        Facet::Responsibility,
    ),
    attr(EntityKind::ItAccount, "it_system", Facet::ItSystem),
    attr(EntityKind::Group, "group_type", Facet::GroupType),
    attr(
        EntityKind::Association,
        "association_type",
        Facet::AssociationType,
    ),
];

/// The class references of one kind.
pub fn class_attributes(kind: EntityKind) -> impl Iterator<Item = ClassAttribute> {
    CLASS_ATTRIBUTES.into_iter().filter(move |a| a.kind == kind)
}

/// The namespace of orghub's deterministic class UUIDs (a UUIDv5 of the URL below in the URL
/// namespace), so every installation derives the same UUID for the same catalogue class.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:orghub:catalogue:v1")
}

/// The UUID of the standard catalogue's class `user_key` of `facet` in `kommune`: a UUIDv5 of
/// `<kommune>/<facet>/<user_key>`, the same on every machine and every run, so seeding twice
/// changes nothing and a source system can compute a class reference without asking.
pub fn class_uuid(kommune: Kommune, facet: Facet, user_key: &str) -> Uuid {
    let name = format!("{kommune}/{}/{user_key}", facet.key());
    Uuid::new_v5(&namespace(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for f in Facet::ALL {
            assert_eq!(f.key().parse::<Facet>(), Ok(f));
            assert_eq!(
                serde_json::to_value(f).expect("json"),
                serde_json::json!(f.key())
            );
        }
    }

    #[test]
    fn class_uuids_are_deterministic_and_distinct() {
        let k: Kommune = "751".parse().expect("kommune");
        let other: Kommune = "101".parse().expect("kommune");
        let a = class_uuid(k, Facet::JobTitle, "paedagog");
        assert_eq!(a, class_uuid(k, Facet::JobTitle, "paedagog"));
        assert_ne!(a, class_uuid(other, Facet::JobTitle, "paedagog"));
        assert_ne!(a, class_uuid(k, Facet::UnitType, "paedagog"));
        assert_eq!(a.get_version_num(), 5);
    }
}
