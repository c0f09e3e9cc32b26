//! JSON Schemas (2020-12) of each kind's event `data`, generated from the Rust types.
//!
//! Beyond what the types derive: every class reference names its facet with the custom keyword
//! [`FACET_KEYWORD`] (from [`crate::facet::CLASS_ATTRIBUTES`]), and an association's segment needs
//! exactly one of `unit` and `group` (`oneOf`), the rule its `check` enforces on input.
//!
//! The committed files in `contracts/schemas/` must equal [`render`]'s output; the contract test
//! fails on drift and says how to regenerate them.

use crate::document::EntityDocument;
use crate::facet;
use crate::kind::EntityKind;

/// The schema of a `kind` document as a JSON value.
pub fn data_schema(kind: EntityKind) -> serde_json::Value {
    let schema = crate::with_kind!(kind, T => schemars::schema_for!(EntityDocument<T>));
    let mut value = schema.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$id".into(), kind.data_schema_urn().into());
        obj.insert("title".into(), format!("orghub {kind} document, v1").into());
        obj.insert(
            "description".into(),
            format!(
                "The `data` of every dk.orghub.org.{kind}.*.v1 event: the {kind} entity document \
                 at the event's version (without CPR)."
            )
            .into(),
        );
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("kind".into(), serde_json::json!({"const": kind.word()}));
        }
    }
    if let Some(segment) = value.pointer_mut("/$defs/Segment") {
        mark_class_references(kind, segment);
        if kind == EntityKind::Association {
            require_unit_or_group(segment);
        }
    }
    value
}

/// The custom keyword naming the facet of a class reference, so integrators and generated code
/// see which code list an attribute's UUID comes from (JSON Schema validators ignore it).
pub const FACET_KEYWORD: &str = "x-orghub-facet";

/// Adds [`FACET_KEYWORD`] to every class reference of the kind's segment.
fn mark_class_references(kind: EntityKind, segment: &mut serde_json::Value) {
    for attr in facet::class_attributes(kind) {
        if let Some(prop) = segment
            .pointer_mut(&format!("/properties/{}", attr.field))
            .and_then(|p| p.as_object_mut())
        {
            prop.insert(FACET_KEYWORD.into(), attr.facet.key().into());
        }
    }
}

/// An association belongs to exactly one of a unit and a group: the segment needs one of them as
/// a UUID and the other absent or null.
fn require_unit_or_group(segment: &mut serde_json::Value) {
    let one = |given: &str, other: &str| {
        serde_json::json!({
            "required": [given],
            "properties": {given: {"type": "string"}, other: {"type": "null"}}
        })
    };
    if let Some(obj) = segment.as_object_mut() {
        obj.insert(
            "oneOf".into(),
            serde_json::json!([one("unit", "group"), one("group", "unit")]),
        );
    }
}

/// The file name of a kind's schema in `contracts/schemas/`.
pub fn file_name(kind: EntityKind) -> String {
    format!("{}.v1.json", kind.word())
}

/// The committed text of a kind's schema: pretty JSON with a final newline.
pub fn render(kind: EntityKind) -> String {
    let mut text = serde_json::to_string_pretty(&data_schema(kind)).unwrap_or_default();
    text.push('\n');
    text
}
