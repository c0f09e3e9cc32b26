//! `PATCH` and sourced writes (DESIGN §3): a JSON merge patch over a validity interval, applied to
//! the timeline a writing transaction sees.

use orghub_contracts::{Attrs, EntityKind, Timeline, Validity};

use super::operation::WriteError;

/// The timeline `old` with the JSON merge patch `patch` applied over `validity`: each segment
/// inside the interval keeps the fields the patch does not name, a gap in the interval becomes a
/// state of the patch alone (so it must be whole). `null` clears a field.
pub(super) fn patched(
    kind: EntityKind,
    old: &Timeline<Attrs>,
    validity: Validity,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> Result<Timeline<Attrs>, WriteError> {
    let mut pieces: Vec<(Validity, Option<&Attrs>)> = Vec::new();
    let mut cursor = Some(validity.from);
    for seg in old.segments() {
        let Some(inside) = seg.validity.intersect(&validity) else {
            continue;
        };
        if let Some(c) = cursor
            && c < inside.from
        {
            pieces.push((
                Validity {
                    from: c,
                    to: Some(inside.from),
                },
                None,
            ));
        }
        pieces.push((inside, Some(&seg.attrs)));
        cursor = inside.to;
    }
    if let Some(c) = cursor
        && validity.to.is_none_or(|to| c < to)
    {
        pieces.push((
            Validity {
                from: c,
                to: validity.to,
            },
            None,
        ));
    }
    let mut t = Timeline::clone(old);
    for (v, base) in pieces {
        let mut object = match base.map(serde_json::to_value) {
            Some(Ok(serde_json::Value::Object(o))) => o,
            _ => serde_json::Map::new(),
        };
        for (field, value) in patch {
            if value.is_null() {
                object.remove(field);
            } else {
                object.insert(field.clone(), value.clone());
            }
        }
        object.insert(
            "validity".into(),
            serde_json::to_value(v).unwrap_or_default(),
        );
        let segment = orghub_contracts::parse_state(kind, serde_json::Value::Object(object))
            .map_err(WriteError::Validation)?;
        t.put(v, segment.attrs);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use orghub_contracts::{EntityKind, Timeline, Validity, parse_state};
    use serde_json::json;

    use super::patched;

    fn person(
        from: &str,
        to: Option<&str>,
        surname: &str,
    ) -> orghub_contracts::Segment<orghub_contracts::Attrs> {
        parse_state(
            EntityKind::Person,
            json!({"validity": {"from": from, "to": to}, "given_name": "Mette", "surname": surname,
                   "user_key": "mk"}),
        )
        .expect("valid")
    }

    fn date(s: &str) -> chrono::NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn a_patch_keeps_each_segments_other_fields_and_fills_gaps_with_itself() {
        let a = person("2020-01-01", Some("2021-01-01"), "Kristensen");
        let b = person("2022-01-01", None, "Hansen");
        let old = Timeline::from_segments(vec![a.clone(), b]).expect("timeline");
        let patch = json!({"given_name": "Mette Marie", "user_key": null});
        let patch = patch.as_object().expect("object");
        let t = patched(
            EntityKind::Person,
            &old,
            Validity::open(date("2020-06-01")),
            patch,
        )
        .map_err(|e| e.to_string());
        // The gap [2021, 2022) has no surname: the patch alone is not a whole state.
        assert!(t.is_err(), "{t:?}");
        let with_surname =
            json!({"given_name": "Mette Marie", "user_key": null, "surname": "Berg"});
        let t = patched(
            EntityKind::Person,
            &old,
            Validity::open(date("2020-06-01")),
            with_surname.as_object().expect("object"),
        )
        .expect("patched");
        let shown: Vec<String> = t
            .segments()
            .iter()
            .map(|s| {
                let v = serde_json::to_value(s).expect("json");
                format!(
                    "{} {} {} {}",
                    v["validity"]["from"], v["given_name"], v["surname"], v["user_key"]
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                r#""2020-01-01" "Mette" "Kristensen" "mk""#,
                r#""2020-06-01" "Mette Marie" "Berg" null"#,
            ]
        );
        // Over one segment only, without a gap: its surname is kept.
        let t = patched(
            EntityKind::Person,
            &old,
            Validity::new(date("2022-01-01"), None).expect("validity"),
            patch,
        )
        .expect("patched");
        let last = serde_json::to_value(t.segments().last().expect("segment")).expect("json");
        assert_eq!(last["surname"], "Hansen");
        assert_eq!(last["given_name"], "Mette Marie");
        assert!(last["user_key"].is_null());
        assert_eq!(t.segments()[0], a);
    }
}
