//! What scenarios write with: stable entity ids, unit import lines and the writer's "today".
//! One definition each, so every scenario speaks of the same `id(1)`.

use chrono::{NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

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
