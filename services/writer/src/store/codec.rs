//! Reading stored JSON back into typed timelines.

use orghub_contracts::{Attrs, EntityKind, Segment, Timeline, Validity};

use super::StoreError;

/// Reads a stored timeline of `kind` (the JSON written from a `Timeline<Attrs>`).
pub fn timeline_from_json(
    kind: EntityKind,
    value: serde_json::Value,
) -> Result<Timeline<Attrs>, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt(format!("stored {kind} timeline: {detail}"));
    let serde_json::Value::Array(items) = value else {
        return Err(corrupt("not an array".into()));
    };
    let mut segments = Vec::with_capacity(items.len());
    for item in items {
        let serde_json::Value::Object(mut obj) = item else {
            return Err(corrupt("segment is not an object".into()));
        };
        let validity: Validity = obj
            .remove("validity")
            .ok_or_else(|| corrupt("segment without validity".into()))
            .and_then(|v| serde_json::from_value(v).map_err(|e| corrupt(e.to_string())))?;
        let attrs = Attrs::from_value(kind, serde_json::Value::Object(obj)).map_err(corrupt)?;
        segments.push(Segment { validity, attrs });
    }
    Timeline::from_segments(segments).map_err(corrupt)
}

pub fn timeline_to_json(timeline: &Timeline<Attrs>) -> serde_json::Value {
    serde_json::to_value(timeline).unwrap_or(serde_json::Value::Array(Vec::new()))
}
