//! The standard catalogue as the generator uses it: its classes as the first import lines, and
//! the generator's labels (the catalogue's titles: "Pædagog", "Månedslønnet, fuldtid", "Active
//! Directory", …) resolved to the class UUIDs of one municipality.

use std::collections::HashMap;

use orghub_contracts::catalogue::{self, Entry};
use orghub_contracts::facet::class_uuid;
use orghub_contracts::{Facet, Kommune};
use uuid::Uuid;

/// The catalogue's classes of one municipality, by facet and title.
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    kommune: Kommune,
    by_title: HashMap<(Facet, &'static str), Uuid>,
}

impl Classes {
    pub(crate) fn new(kommune: Kommune) -> Classes {
        let by_title = catalogue::entries()
            .map(|e| ((e.facet, e.title), e.uuid(kommune)))
            .collect();
        Classes { kommune, by_title }
    }

    /// The UUID of the class of `facet` titled `title`. A label the catalogue lacks gets the
    /// UUID such a class would have, which no line creates, so the writer (and [`crate::check`])
    /// refuses the reference: the tests see it, nothing is silently dropped.
    pub(crate) fn uuid(&self, facet: Facet, title: &str) -> Uuid {
        self.by_title
            .get(&(facet, title))
            .copied()
            .unwrap_or_else(|| class_uuid(self.kommune, facet, title))
    }

    pub(crate) fn kommune(&self) -> Kommune {
        self.kommune
    }
}

/// The catalogue's entries in import order (parents before children).
pub(crate) fn entries() -> impl Iterator<Item = Entry> {
    catalogue::entries()
}
