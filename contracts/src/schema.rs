//! JSON Schemas (2020-12) of each kind's event `data`, generated from the Rust types.
//!
//! The committed files in `contracts/schemas/` must equal [`render`]'s output; the contract test
//! fails on drift and says how to regenerate them.

use crate::document::EntityDocument;
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
    value
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
