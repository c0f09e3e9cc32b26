//! What scenarios write with: stable entity ids, the classes they refer to, unit import lines
//! and the writer's "today". One definition each, so every scenario speaks of the same `id(1)`.

use chrono::{NaiveDate, Utc};
use orghub_contracts::Kommune;
pub use orghub_contracts::facet::Facet;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::writer::TestWriter;

/// The valid-from date of the classes scenarios seed: before anything that refers to them.
pub const CLASSES_SINCE: &str = "1900-01-01";

/// The classes scenarios refer to: facet and user_key of the standard catalogue (the same keys
/// the contract's examples use), with a title.
pub const CLASSES: &[(Facet, &str, &str)] = &[
    (Facet::UnitType, "forvaltning", "Forvaltning"),
    (Facet::UnitType, "afdeling", "Afdeling"),
    (Facet::UnitLevel, "niveau-2", "Niveau 2"),
    (Facet::Hierarchy, "linjeorganisation", "Linjeorganisation"),
    (Facet::Hierarchy, "loenorganisation", "Lønorganisation"),
    (Facet::Hierarchy, "med-organisation", "MED-organisation"),
    (Facet::JobTitle, "paedagog", "Pædagog"),
    (Facet::JobTitle, "paedagogisk-leder", "Pædagogisk leder"),
    (Facet::JobTitle, "sagsbehandler", "Sagsbehandler"),
    (
        Facet::EngagementType,
        "maanedsloennet-fuldtid",
        "Månedslønnet, fuldtid",
    ),
    (Facet::ManagerType, "direktoer", "Direktør"),
    (Facet::ManagerLevel, "niveau-1", "Niveau 1"),
    (Facet::Responsibility, "personale", "Personale"),
    (Facet::Responsibility, "oekonomi", "Økonomi"),
    (Facet::ItSystem, "ad", "Active Directory"),
    (Facet::GroupType, "projekt", "Projekt"),
    (Facet::AssociationType, "projektdeltager", "Projektdeltager"),
    (Facet::AssociationType, "projektleder", "Projektleder"),
];

/// The UUID of class `user_key` of `facet` in `kommune` (the catalogue's deterministic one).
pub fn class(kommune: &str, facet: Facet, user_key: &str) -> Uuid {
    let kommune: Kommune = kommune.parse().expect("a valid kommune code");
    orghub_contracts::facet::class_uuid(kommune, facet, user_key)
}

/// The state of class `user_key` of `facet`, valid from [`CLASSES_SINCE`] on.
pub fn class_state(facet: Facet, user_key: &str, title: &str) -> Value {
    json!({"validity": {"from": CLASSES_SINCE}, "facet": facet, "user_key": user_key, "title": title})
}

/// The NDJSON import lines (newlines included) of [`CLASSES`] in `kommune`.
pub fn class_lines(kommune: &str) -> String {
    CLASSES
        .iter()
        .map(|&(facet, key, title)| {
            let line = json!({"kind": "class", "uuid": class(kommune, facet, key),
                              "state": class_state(facet, key, title)});
            line.to_string() + "\n"
        })
        .collect()
}

/// Writes [`CLASSES`] into `kommune` (one import; one `class.created` event each). Write them
/// before anything that refers to them.
pub async fn seed_classes(w: &TestWriter, kommune: &str) {
    let r = w
        .post_text(
            &format!("/api/v1/{kommune}/import?mode=partial"),
            class_lines(kommune),
        )
        .await;
    assert_eq!(r.status, 200, "seeding the classes: {}", r.text);
    assert_eq!(
        r.body["rejected_count"], 0,
        "seeding the classes: {}",
        r.text
    );
}

/// The valid-from date scenario units start at.
pub const SINCE: &str = "2020-01-01";

/// The `n`th test entity's id: a valid version-4 UUID that shows `n` at its end
/// (`00000000-0000-4000-8000-00000000002a` for 42), so failures are readable.
pub fn id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// One NDJSON import line (newline included) for unit `id(n)` named `Enhed <n>`, valid from
/// [`SINCE`], under `id(parent)` or a root without one.
pub fn unit_line(n: u32, parent: Option<u32>) -> String {
    let state = json!({"validity": {"from": SINCE}, "name": format!("Enhed {n}"), "parent": parent.map(id)});
    json!({"kind": "unit", "uuid": id(n), "state": state}).to_string() + "\n"
}

/// A root `id(1)` and units `id(2)..=id(last)` under it, as one import body.
pub fn units_under_a_root(last: u32) -> String {
    std::iter::once(unit_line(1, None))
        .chain((2..=last).map(|n| unit_line(n, Some(1))))
        .collect()
}

/// Today in Copenhagen, the writer's calendar (valid time is in Danish dates).
pub fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive()
}
