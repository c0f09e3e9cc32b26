//! The entity document: what `GET` returns and what an event's `data` carries (DESIGN §3).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{Attributes, Attrs, FieldError, IntoAttrs, from_value_located};
use crate::kind::EntityKind;
use crate::kommune::Kommune;
use crate::validity::{Segment, Timeline};

/// An entity at one version: its identity, registration and whole valid-time timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EntityDocument<A> {
    pub uuid: Uuid,
    pub kind: EntityKind,
    pub kommune: Kommune,
    /// The entity's event version: 1 for its first event, +1 for each later one.
    pub version: u64,
    /// Registration (transaction) time of this version.
    pub registered_at: DateTime<Utc>,
    /// Registered in error and removed from the present view; the timeline is then empty.
    pub deleted: bool,
    /// The segment valid on the registration day (Europe/Copenhagen), or null.
    pub current: Option<Segment<A>>,
    pub timeline: Timeline<A>,
}

impl<A: Clone + PartialEq> EntityDocument<A> {
    pub fn map_attrs<B: Clone + PartialEq>(self, mut f: impl FnMut(A) -> B) -> EntityDocument<B> {
        EntityDocument {
            uuid: self.uuid,
            kind: self.kind,
            kommune: self.kommune,
            version: self.version,
            registered_at: self.registered_at,
            deleted: self.deleted,
            current: self.current.map(|s| Segment {
                validity: s.validity,
                attrs: f(s.attrs),
            }),
            timeline: self.timeline.map(f),
        }
    }
}

/// The identity and registration of a document, everything but its timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentHead {
    pub uuid: Uuid,
    pub kind: EntityKind,
    pub kommune: Kommune,
    pub version: u64,
    pub registered_at: DateTime<Utc>,
}

impl EntityDocument<Attrs> {
    /// Builds the document; `today` (in Europe/Copenhagen) picks `current`. A deleted entity has
    /// an empty timeline.
    pub fn new(
        head: DocumentHead,
        deleted: bool,
        timeline: Timeline<Attrs>,
        today: NaiveDate,
    ) -> Self {
        let timeline = if deleted { Timeline::new() } else { timeline };
        EntityDocument {
            uuid: head.uuid,
            kind: head.kind,
            kommune: head.kommune,
            version: head.version,
            registered_at: head.registered_at,
            deleted,
            current: timeline.at(today).cloned(),
            timeline,
        }
    }

    /// The document without sensitive attributes (CPR), as events and scope-less readers see it.
    pub fn without_sensitive(mut self) -> Self {
        if let Some(s) = self.current.as_mut() {
            s.attrs.strip_sensitive();
        }
        self.timeline = self.timeline.map(|mut a| {
            a.strip_sensitive();
            a
        });
        self
    }

    /// Reads a document of `kind` from JSON; its own `kind` field must agree.
    pub fn from_json_of_kind(
        kind: EntityKind,
        value: serde_json::Value,
    ) -> Result<Self, FieldError> {
        fn typed<A: Attributes + IntoAttrs>(
            value: serde_json::Value,
        ) -> Result<EntityDocument<Attrs>, FieldError> {
            let doc: EntityDocument<A> = from_value_located(value)?;
            if doc.kind != A::KIND {
                return Err(FieldError::new(
                    "/kind",
                    format!("document is a {}, expected a {}", doc.kind, A::KIND),
                ));
            }
            Ok(doc.map_attrs(IntoAttrs::into_attrs))
        }
        crate::with_kind!(kind, T => typed::<T>(value))
    }

    /// Reads a document whose kind is taken from its own `kind` field.
    pub fn from_json(value: serde_json::Value) -> Result<Self, FieldError> {
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .and_then(EntityKind::from_word)
            .ok_or_else(|| FieldError::new("/kind", "missing or unknown entity kind"))?;
        Self::from_json_of_kind(kind, value)
    }
}
