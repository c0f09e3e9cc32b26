//! The ten entity kinds and the event actions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An entity kind. Its `word` is used in routing keys, event types and documents; its `path` is
/// the API collection.
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
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Unit,
    Person,
    Engagement,
    Manager,
    Address,
    Kle,
    #[serde(rename = "itaccount")]
    ItAccount,
    Class,
    Group,
    Association,
}

impl EntityKind {
    pub const ALL: [EntityKind; 10] = [
        EntityKind::Unit,
        EntityKind::Person,
        EntityKind::Engagement,
        EntityKind::Manager,
        EntityKind::Address,
        EntityKind::Kle,
        EntityKind::ItAccount,
        EntityKind::Class,
        EntityKind::Group,
        EntityKind::Association,
    ];

    /// The word in routing keys and types: `unit`, `itaccount`, …
    pub fn word(self) -> &'static str {
        match self {
            EntityKind::Unit => "unit",
            EntityKind::Person => "person",
            EntityKind::Engagement => "engagement",
            EntityKind::Manager => "manager",
            EntityKind::Address => "address",
            EntityKind::Kle => "kle",
            EntityKind::ItAccount => "itaccount",
            EntityKind::Class => "class",
            EntityKind::Group => "group",
            EntityKind::Association => "association",
        }
    }

    /// The API collection path segment: `units`, `kle`, …
    pub fn path(self) -> &'static str {
        match self {
            EntityKind::Unit => "units",
            EntityKind::Person => "persons",
            EntityKind::Engagement => "engagements",
            EntityKind::Manager => "managers",
            EntityKind::Address => "addresses",
            EntityKind::Kle => "kle",
            EntityKind::ItAccount => "itaccounts",
            EntityKind::Class => "classes",
            EntityKind::Group => "groups",
            EntityKind::Association => "associations",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.word() == word)
    }

    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.path() == path)
    }

    /// `urn:orghub:schema:<kind>:v1`, the event's `dataschema`.
    pub fn data_schema_urn(self) -> String {
        format!("urn:orghub:schema:{}:v1", self.word())
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for EntityKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_word(s).ok_or_else(|| {
            format!(
                "unknown entity kind {s:?}; expected one of {}",
                Self::ALL.map(EntityKind::word).join(", ")
            )
        })
    }
}

/// What happened to an entity in one registration.
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
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The first registration of the entity (or its re-creation after a delete).
    Created,
    /// Any other change of the timeline.
    Updated,
    /// The validity was ended with `terminate` (or a full import that no longer has it).
    Terminated,
    /// Registered in error: removed from the present view.
    Deleted,
    /// At midnight (Europe/Copenhagen) a segment became current without a write that day: a
    /// future-dated change took effect.
    Effective,
    /// At midnight the entity's validity ended without a write that day: `current` is now null.
    Expired,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Created,
        Action::Updated,
        Action::Terminated,
        Action::Deleted,
        Action::Effective,
        Action::Expired,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Terminated => "terminated",
            Action::Deleted => "deleted",
            Action::Effective => "effective",
            Action::Expired => "expired",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.word() == word)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}
