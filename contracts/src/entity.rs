//! The ten kinds' attributes as typed values, their input parsing with JSON-pointer errors, and
//! the references between entities that the writer's integrity rules check.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::facet::Facet;
use crate::kind::EntityKind;
use crate::validity::Segment;
use crate::values::{self, Cpr, KleNumber, Label, Name, UserKey};

/// One problem with an input, located by a JSON pointer (RFC 6901) into the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }

    /// The same error, located below `prefix` (e.g. `/0/state`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.pointer = format!("{prefix}{}", self.pointer);
        self
    }
}

/// A reference from one entity to another, which must exist in the same municipality and be valid
/// for the whole interval of the referencing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    /// JSON pointer of the referencing field within a state, e.g. `/parent` (for a list, the
    /// list's pointer: `/responsibilities`).
    pub field: &'static str,
    pub kind: EntityKind,
    pub uuid: Uuid,
    /// For a class reference: the facet the class must belong to.
    pub facet: Option<Facet>,
}

impl Reference {
    /// A reference to an entity of `kind`.
    pub fn to(field: &'static str, kind: EntityKind, uuid: Uuid) -> Self {
        Reference {
            field,
            kind,
            uuid,
            facet: None,
        }
    }

    /// A reference to a class of `facet`.
    pub fn class(field: &'static str, facet: Facet, uuid: Uuid) -> Self {
        Reference {
            field,
            kind: EntityKind::Class,
            uuid,
            facet: Some(facet),
        }
    }
}

/// Collects references, skipping absent optional ones.
#[derive(Default)]
struct Refs(Vec<Reference>);

impl Refs {
    fn to(mut self, field: &'static str, kind: EntityKind, uuid: Option<Uuid>) -> Self {
        self.0
            .extend(uuid.map(|uuid| Reference::to(field, kind, uuid)));
        self
    }
    fn class(mut self, field: &'static str, facet: Facet, uuid: Option<Uuid>) -> Self {
        self.0
            .extend(uuid.map(|uuid| Reference::class(field, facet, uuid)));
        self
    }
    fn classes(mut self, field: &'static str, facet: Facet, uuids: &[Uuid]) -> Self {
        self.0.extend(
            uuids
                .iter()
                .map(|&uuid| Reference::class(field, facet, uuid)),
        );
        self
    }
    fn done(self) -> Vec<Reference> {
        self.0
    }
}

/// Refuses a list longer than the limit or with repeated items.
fn check_list<T: PartialEq>(pointer: &str, what: &str, items: &[T]) -> Vec<FieldError> {
    let n = items.len();
    if n > crate::limits::MAX_LIST_ITEMS {
        return vec![FieldError::new(
            pointer,
            format!(
                "{n} {what}, at most {} are allowed",
                crate::limits::MAX_LIST_ITEMS
            ),
        )];
    }
    let repeated = items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a));
    if repeated {
        vec![FieldError::new(pointer, format!("{what} must not repeat"))]
    } else {
        Vec::new()
    }
}

/// What every kind's attribute type provides.
pub trait Attributes:
    Serialize + DeserializeOwned + schemars::JsonSchema + Clone + PartialEq + std::fmt::Debug
{
    const KIND: EntityKind;
    /// Every attribute name a state may carry (beside `validity`).
    const FIELDS: &'static [&'static str];
    /// The attributes without which a state is refused.
    const REQUIRED: &'static [&'static str];

    /// The entities this state points at.
    fn references(&self) -> Vec<Reference>;

    /// Rules across fields, beyond what each value's type enforces.
    fn check(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Removes data that must never leave the hub without a `cpr` scope.
    fn strip_sensitive(&mut self) {}
}

/// An organisation unit (ORG OrganisationEnhed, OS2mo org_unit) in one of the municipality's
/// hierarchies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unit {
    pub name: Name,
    #[serde(default)]
    pub user_key: Option<UserKey>,
    /// A class of facet `unit_type`.
    #[serde(default)]
    pub unit_type: Option<Uuid>,
    /// A class of facet `unit_level`.
    #[serde(default)]
    pub unit_level: Option<Uuid>,
    /// A class of facet `hierarchy`; `null` is the line organisation.
    #[serde(default)]
    pub hierarchy: Option<Uuid>,
    /// The parent unit, in the same hierarchy; `null` for that hierarchy's root.
    #[serde(default)]
    pub parent: Option<Uuid>,
}

impl Attributes for Unit {
    const KIND: EntityKind = EntityKind::Unit;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "user_key",
        "unit_type",
        "unit_level",
        "hierarchy",
        "parent",
    ];
    const REQUIRED: &'static [&'static str] = &["name"];
    fn references(&self) -> Vec<Reference> {
        Refs::default()
            .to("/parent", EntityKind::Unit, self.parent)
            .class("/unit_type", Facet::UnitType, self.unit_type)
            .class("/unit_level", Facet::UnitLevel, self.unit_level)
            .class("/hierarchy", Facet::Hierarchy, self.hierarchy)
            .done()
    }
}

/// A person (ORG Bruger + Person, OS2mo employee).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Person {
    pub given_name: Name,
    pub surname: Name,
    #[serde(default)]
    pub user_key: Option<UserKey>,
    /// Sensitive: only shown to tokens with the `cpr` scope, never in events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub cpr: Option<Cpr>,
}

impl Attributes for Person {
    const KIND: EntityKind = EntityKind::Person;
    const FIELDS: &'static [&'static str] = &["given_name", "surname", "user_key", "cpr"];
    const REQUIRED: &'static [&'static str] = &["given_name", "surname"];
    fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
    fn strip_sensitive(&mut self) {
        self.cpr = None;
    }
}

/// An engagement: a person employed in a unit (ORG OrganisationFunktion "Ansat").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Engagement {
    pub person: Uuid,
    pub unit: Uuid,
    /// A class of facet `job_title`.
    #[serde(default)]
    pub job_title: Option<Uuid>,
    /// A class of facet `engagement_type`.
    #[serde(default)]
    pub engagement_type: Option<Uuid>,
    /// The person's primary engagement: at most one per person on any date.
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub user_key: Option<UserKey>,
}

impl Attributes for Engagement {
    const KIND: EntityKind = EntityKind::Engagement;
    const FIELDS: &'static [&'static str] = &[
        "person",
        "unit",
        "job_title",
        "engagement_type",
        "primary",
        "user_key",
    ];
    const REQUIRED: &'static [&'static str] = &["person", "unit"];
    fn references(&self) -> Vec<Reference> {
        Refs::default()
            .to("/person", EntityKind::Person, Some(self.person))
            .to("/unit", EntityKind::Unit, Some(self.unit))
            .class("/job_title", Facet::JobTitle, self.job_title)
            .class(
                "/engagement_type",
                Facet::EngagementType,
                self.engagement_type,
            )
            .done()
    }
}

/// A manager function of a unit (ORG OrganisationFunktion "Leder"); `person: null` is vacant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Manager {
    pub unit: Uuid,
    #[serde(default)]
    pub person: Option<Uuid>,
    /// A class of facet `manager_type`.
    #[serde(default)]
    pub manager_type: Option<Uuid>,
    /// A class of facet `manager_level`.
    #[serde(default)]
    pub manager_level: Option<Uuid>,
    /// Classes of facet `responsibility`, no repeats.
    #[serde(default)]
    pub responsibilities: Vec<Uuid>,
}

impl Attributes for Manager {
    const KIND: EntityKind = EntityKind::Manager;
    const FIELDS: &'static [&'static str] = &[
        "unit",
        "person",
        "manager_type",
        "manager_level",
        "responsibilities",
    ];
    const REQUIRED: &'static [&'static str] = &["unit"];
    fn check(&self) -> Vec<FieldError> {
        check_list(
            "/responsibilities",
            "responsibilities",
            &self.responsibilities,
        )
    }
    fn references(&self) -> Vec<Reference> {
        Refs::default()
            .to("/unit", EntityKind::Unit, Some(self.unit))
            .to("/person", EntityKind::Person, self.person)
            .class("/manager_type", Facet::ManagerType, self.manager_type)
            .class("/manager_level", Facet::ManagerLevel, self.manager_level)
            .classes(
                "/responsibilities",
                Facet::Responsibility,
                &self.responsibilities,
            )
            .done()
    }
}

/// What an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    Unit,
    Person,
    Engagement,
}

impl OwnerKind {
    pub fn entity_kind(self) -> EntityKind {
        match self {
            OwnerKind::Unit => EntityKind::Unit,
            OwnerKind::Person => EntityKind::Person,
            OwnerKind::Engagement => EntityKind::Engagement,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Owner {
    pub kind: OwnerKind,
    pub uuid: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AddressType {
    Email,
    Phone,
    Postal,
    Ean,
    Pnumber,
    Www,
    Text,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    #[default]
    Internal,
    Secret,
}

/// A typed address of a unit, person or engagement (ORG Adresse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Address {
    pub owner: Owner,
    pub address_type: AddressType,
    /// Checked against `address_type`: e-mail syntax, phone digits, EAN-13 check digit,
    /// P-number 10 digits, http(s) URL; postal and text up to 500 characters.
    #[schemars(length(min = 1, max = 500))]
    pub value: String,
    /// Defaults to `internal`.
    #[serde(default)]
    pub visibility: Visibility,
}

impl Attributes for Address {
    const KIND: EntityKind = EntityKind::Address;
    const FIELDS: &'static [&'static str] = &["owner", "address_type", "value", "visibility"];
    const REQUIRED: &'static [&'static str] = &["owner", "address_type", "value"];
    fn references(&self) -> Vec<Reference> {
        vec![Reference::to(
            "/owner/uuid",
            self.owner.kind.entity_kind(),
            self.owner.uuid,
        )]
    }
    fn check(&self) -> Vec<FieldError> {
        let v = self.value.as_str();
        if let Err(e) = values::check_no_control(v, "value") {
            return vec![FieldError::new("/value", e.0)];
        }
        let result = match self.address_type {
            AddressType::Email => values::check_email(v),
            AddressType::Phone => values::check_phone(v),
            AddressType::Ean => values::check_ean(v),
            AddressType::Pnumber => values::check_pnumber(v),
            AddressType::Www => values::check_www(v),
            AddressType::Postal | AddressType::Text => {
                let n = v.chars().count();
                if v.trim().is_empty() || n > 500 {
                    Err(values::ValueError(format!(
                        "value must be 1-500 characters, got {n}"
                    )))
                } else {
                    Ok(())
                }
            }
        };
        result
            .err()
            .map(|e| FieldError::new("/value", e.0))
            .into_iter()
            .collect()
    }
}

/// A KLE aspect: how a unit relates to a KLE task.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KleAspect {
    Ansvarlig,
    Indsigt,
    Udfoerende,
}

/// A unit's responsibility for a KLE task (ORG Opgaver).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Kle {
    pub unit: Uuid,
    pub kle_number: KleNumber,
    /// At least one, no repeats.
    pub aspects: Vec<KleAspect>,
}

impl Attributes for Kle {
    const KIND: EntityKind = EntityKind::Kle;
    const FIELDS: &'static [&'static str] = &["unit", "kle_number", "aspects"];
    const REQUIRED: &'static [&'static str] = &["unit", "kle_number", "aspects"];
    fn references(&self) -> Vec<Reference> {
        vec![Reference::to("/unit", EntityKind::Unit, self.unit)]
    }
    fn check(&self) -> Vec<FieldError> {
        let mut sorted = self.aspects.clone();
        sorted.sort();
        sorted.dedup();
        if self.aspects.is_empty() {
            vec![FieldError::new(
                "/aspects",
                "at least one aspect is required",
            )]
        } else if sorted.len() != self.aspects.len() {
            vec![FieldError::new("/aspects", "aspects must not repeat")]
        } else {
            Vec::new()
        }
    }
}

/// A person's account in an IT system (ORG Bruger in an IT system, OS2mo ituser).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ItAccount {
    pub person: Uuid,
    /// A class of facet `it_system`.
    pub it_system: Uuid,
    pub user_id: UserKey,
    #[serde(default)]
    pub external_id: Option<Label>,
    /// Engagements of the same person that the account serves, valid over the interval; no
    /// repeats.
    #[serde(default)]
    pub engagements: Vec<Uuid>,
}

impl Attributes for ItAccount {
    const KIND: EntityKind = EntityKind::ItAccount;
    const FIELDS: &'static [&'static str] = &[
        "person",
        "it_system",
        "user_id",
        "external_id",
        "engagements",
    ];
    const REQUIRED: &'static [&'static str] = &["person", "it_system", "user_id"];
    fn check(&self) -> Vec<FieldError> {
        check_list("/engagements", "engagements", &self.engagements)
    }
    fn references(&self) -> Vec<Reference> {
        let mut refs = Refs::default()
            .to("/person", EntityKind::Person, Some(self.person))
            .class("/it_system", Facet::ItSystem, Some(self.it_system))
            .done();
        refs.extend(
            self.engagements
                .iter()
                .map(|&e| Reference::to("/engagements", EntityKind::Engagement, e)),
        );
        refs
    }
}

/// A class of the municipality's classification (ORG Klasse in a Facet, OS2mo class): a job
/// title, a unit type, an IT system, a hierarchy, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Class {
    /// Fixed for the class's life.
    pub facet: Facet,
    /// Unique within its facet on any date.
    pub user_key: UserKey,
    pub title: Name,
    /// A class of the same facet, or `null`.
    #[serde(default)]
    pub parent: Option<Uuid>,
}

impl Attributes for Class {
    const KIND: EntityKind = EntityKind::Class;
    const FIELDS: &'static [&'static str] = &["facet", "user_key", "title", "parent"];
    const REQUIRED: &'static [&'static str] = &["facet", "user_key", "title"];
    fn references(&self) -> Vec<Reference> {
        Refs::default()
            .class("/parent", self.facet, self.parent)
            .done()
    }
}

/// A group across the hierarchies: a project organisation, a network, a committee (ORG
/// Interessefællesskab).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Group {
    pub name: Name,
    #[serde(default)]
    pub user_key: Option<UserKey>,
    /// A class of facet `group_type`.
    pub group_type: Uuid,
    /// The group this one is part of, or `null`.
    #[serde(default)]
    pub parent: Option<Uuid>,
    /// The unit that owns the group, if any.
    #[serde(default)]
    pub unit: Option<Uuid>,
}

impl Attributes for Group {
    const KIND: EntityKind = EntityKind::Group;
    const FIELDS: &'static [&'static str] = &["name", "user_key", "group_type", "parent", "unit"];
    const REQUIRED: &'static [&'static str] = &["name", "group_type"];
    fn references(&self) -> Vec<Reference> {
        Refs::default()
            .class("/group_type", Facet::GroupType, Some(self.group_type))
            .to("/parent", EntityKind::Group, self.parent)
            .to("/unit", EntityKind::Unit, self.unit)
            .done()
    }
}

/// A person's typed membership of a unit or a group: MED member, AMR, TR, project lead, …
/// (ORG OrganisationFunktion "Tilknytning", OS2mo association).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Association {
    pub person: Uuid,
    /// Exactly one of `unit` and `group`.
    #[serde(default)]
    pub unit: Option<Uuid>,
    /// Exactly one of `unit` and `group`.
    #[serde(default)]
    pub group: Option<Uuid>,
    /// A class of facet `association_type`.
    pub association_type: Uuid,
    #[serde(default)]
    pub user_key: Option<UserKey>,
}

impl Attributes for Association {
    const KIND: EntityKind = EntityKind::Association;
    const FIELDS: &'static [&'static str] =
        &["person", "unit", "group", "association_type", "user_key"];
    const REQUIRED: &'static [&'static str] = &["person", "association_type"];
    fn check(&self) -> Vec<FieldError> {
        match (self.unit, self.group) {
            (Some(_), None) | (None, Some(_)) => Vec::new(),
            (None, None) => vec![FieldError::new(
                "/unit",
                "an association needs exactly one of unit and group; neither is given",
            )],
            (Some(_), Some(_)) => vec![FieldError::new(
                "/group",
                "an association needs exactly one of unit and group; both are given",
            )],
        }
    }
    fn references(&self) -> Vec<Reference> {
        Refs::default()
            .to("/person", EntityKind::Person, Some(self.person))
            .to("/unit", EntityKind::Unit, self.unit)
            .to("/group", EntityKind::Group, self.group)
            .class(
                "/association_type",
                Facet::AssociationType,
                Some(self.association_type),
            )
            .done()
    }
}

/// The attributes of any kind: what the writer stores and compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Attrs {
    Unit(Unit),
    Person(Person),
    Engagement(Engagement),
    Manager(Manager),
    Address(Address),
    Kle(Kle),
    ItAccount(ItAccount),
    Class(Class),
    Group(Group),
    Association(Association),
}

/// Runs `$body` with `$a` bound to the typed attributes inside an `Attrs`.
macro_rules! with_attrs {
    ($value:expr, $a:ident => $body:expr) => {
        match $value {
            Attrs::Unit($a) => $body,
            Attrs::Person($a) => $body,
            Attrs::Engagement($a) => $body,
            Attrs::Manager($a) => $body,
            Attrs::Address($a) => $body,
            Attrs::Kle($a) => $body,
            Attrs::ItAccount($a) => $body,
            Attrs::Class($a) => $body,
            Attrs::Group($a) => $body,
            Attrs::Association($a) => $body,
        }
    };
}

/// Runs `$body` with the type alias `$t` set to the attribute type of `$kind`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_kind {
    ($kind:expr, $t:ident => $body:expr) => {
        match $kind {
            $crate::EntityKind::Unit => {
                type $t = $crate::entity::Unit;
                $body
            }
            $crate::EntityKind::Person => {
                type $t = $crate::entity::Person;
                $body
            }
            $crate::EntityKind::Engagement => {
                type $t = $crate::entity::Engagement;
                $body
            }
            $crate::EntityKind::Manager => {
                type $t = $crate::entity::Manager;
                $body
            }
            $crate::EntityKind::Address => {
                type $t = $crate::entity::Address;
                $body
            }
            $crate::EntityKind::Kle => {
                type $t = $crate::entity::Kle;
                $body
            }
            $crate::EntityKind::ItAccount => {
                type $t = $crate::entity::ItAccount;
                $body
            }
            $crate::EntityKind::Class => {
                type $t = $crate::entity::Class;
                $body
            }
            $crate::EntityKind::Group => {
                type $t = $crate::entity::Group;
                $body
            }
            $crate::EntityKind::Association => {
                type $t = $crate::entity::Association;
                $body
            }
        }
    };
}

/// Converts typed attributes into `Attrs` and back.
pub trait IntoAttrs: Attributes {
    fn into_attrs(self) -> Attrs;
    fn from_attrs(attrs: Attrs) -> Option<Self>;
}

macro_rules! into_attrs {
    ($($t:ident),*) => {$(
        impl IntoAttrs for $t {
            fn into_attrs(self) -> Attrs {
                Attrs::$t(self)
            }
            fn from_attrs(attrs: Attrs) -> Option<Self> {
                match attrs {
                    Attrs::$t(a) => Some(a),
                    _ => None,
                }
            }
        }
    )*};
}
into_attrs!(
    Unit,
    Person,
    Engagement,
    Manager,
    Address,
    Kle,
    ItAccount,
    Class,
    Group,
    Association
);

impl Attrs {
    pub fn kind(&self) -> EntityKind {
        fn kind_of<A: Attributes>(_: &A) -> EntityKind {
            A::KIND
        }
        with_attrs!(self, a => kind_of(a))
    }

    pub fn references(&self) -> Vec<Reference> {
        with_attrs!(self, a => a.references())
    }

    pub fn check(&self) -> Vec<FieldError> {
        with_attrs!(self, a => a.check())
    }

    pub fn strip_sensitive(&mut self) {
        with_attrs!(self, a => a.strip_sensitive())
    }

    /// Deserialises attributes of a known kind (no input checks beyond the types: for documents
    /// and stored timelines; use [`parse_state`] for client input).
    pub fn from_value(kind: EntityKind, value: serde_json::Value) -> Result<Self, String> {
        with_kind!(kind, T => serde_json::from_value::<T>(value)
            .map(IntoAttrs::into_attrs)
            .map_err(|e| e.to_string()))
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        with_attrs!(self, a => a.serialize(s))
    }
}

/// Converts a serde path into a JSON pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment as P;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            P::Seq { index } => out.push_str(&format!("/{index}")),
            P::Map { key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            P::Enum { .. } | P::Unknown => {}
        }
    }
    out
}

/// Deserialises `value` into `T`, reporting the failing place as a JSON pointer.
pub fn from_value_located<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let pointer = pointer_of(e.path());
        FieldError::new(pointer, e.into_inner().to_string())
    })
}

fn parse_typed<A: Attributes + IntoAttrs>(
    mut object: serde_json::Map<String, serde_json::Value>,
) -> Result<Segment<Attrs>, Vec<FieldError>> {
    let mut errors = Vec::new();
    for key in object.keys() {
        if key != "validity" && !A::FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("/{key}"),
                format!(
                    "unknown attribute of a {}; expected validity, {}",
                    A::KIND,
                    A::FIELDS.join(", ")
                ),
            ));
        }
    }
    for field in A::REQUIRED {
        if object.get(*field).is_none_or(serde_json::Value::is_null) {
            errors.push(FieldError::new(format!("/{field}"), "is required"));
        }
    }
    let validity = match object.remove("validity") {
        None => {
            errors.push(FieldError::new("/validity", "is required"));
            None
        }
        Some(v) => from_value_located(v)
            .map_err(|e| errors.push(e.under("/validity")))
            .ok(),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let attrs: A = from_value_located(serde_json::Value::Object(object)).map_err(|e| vec![e])?;
    let checks = attrs.check();
    match validity {
        Some(validity) if checks.is_empty() => Ok(Segment {
            validity,
            attrs: attrs.into_attrs(),
        }),
        _ => Err(checks),
    }
}

/// Parses one state of `kind` from client input (`{validity, ...attributes}`): unknown attributes,
/// missing required ones, wrong types and invalid values are all refused with JSON pointers.
pub fn parse_state(
    kind: EntityKind,
    value: serde_json::Value,
) -> Result<Segment<Attrs>, Vec<FieldError>> {
    let serde_json::Value::Object(object) = value else {
        return Err(vec![FieldError::new(
            "",
            format!("a {kind} state must be a JSON object"),
        )]);
    };
    with_kind!(kind, T => parse_typed::<T>(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(r: Result<Segment<Attrs>, Vec<FieldError>>) -> Vec<String> {
        r.expect_err("refused")
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn a_valid_unit_parses() {
        let s = parse_state(
            EntityKind::Unit,
            json!({"validity": {"from": "2024-01-01", "to": null}, "name": "Teknik og Miljø"}),
        )
        .expect("valid");
        assert_eq!(s.attrs.kind(), EntityKind::Unit);
        assert!(s.attrs.references().is_empty());
    }

    #[test]
    fn errors_point_at_the_offending_field() {
        let r = parse_state(
            EntityKind::Unit,
            json!({"validity": {"from": "2024-01-01"}, "nmae": "x"}),
        );
        assert_eq!(pointers(r), vec!["/nmae", "/name"]);
        let r = parse_state(
            EntityKind::Person,
            json!({"validity": {"from": "2024-01-01"}, "given_name": "Anna", "surname": "Hansen", "cpr": "0113901234"}),
        );
        assert_eq!(pointers(r), vec!["/cpr"]);
        let r = parse_state(
            EntityKind::Address,
            json!({"validity": {"from": "2024-01-01"}, "owner": {"kind": "unit", "uuid": Uuid::nil()},
                   "address_type": "ean", "value": "4006381333932"}),
        );
        assert_eq!(pointers(r), vec!["/value"]);
        let r = parse_state(
            EntityKind::Kle,
            json!({"validity": {"from": "2024-01-01"}, "unit": Uuid::nil(), "kle_number": "1.2", "aspects": ["ansvarlig"]}),
        );
        assert_eq!(pointers(r), vec!["/kle_number"]);
        let r = parse_state(
            EntityKind::Engagement,
            json!({"validity": {"from": "x"}, "person": 5, "unit": Uuid::nil()}),
        );
        assert_eq!(pointers(r), vec!["/validity/from"]);
        let r = parse_state(
            EntityKind::Engagement,
            json!({"validity": {"from": "2024-01-01"}, "person": 5, "unit": Uuid::nil()}),
        );
        assert_eq!(pointers(r), vec!["/person"]);
        assert_eq!(pointers(parse_state(EntityKind::Kle, json!([1]))), vec![""]);
    }

    #[test]
    fn cpr_is_stripped() {
        let mut s = parse_state(
            EntityKind::Person,
            json!({"validity": {"from": "2024-01-01"}, "given_name": "Anna", "surname": "Hansen", "cpr": "0101901234"}),
        )
        .expect("valid");
        assert!(
            serde_json::to_string(&s.attrs)
                .expect("json")
                .contains("cpr")
        );
        s.attrs.strip_sensitive();
        assert!(
            !serde_json::to_string(&s.attrs)
                .expect("json")
                .contains("cpr")
        );
    }
}
