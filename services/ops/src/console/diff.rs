//! A field-by-field comparison of two JSON documents (a dead letter's event data and the
//! entity's current document in the hub): both flattened to JSON Pointers with their leaf
//! values, then lined up pointer by pointer.

use std::collections::BTreeMap;

use serde_json::Value;

/// How one field compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Same,
    Changed,
    /// Only the event (the left side) has it.
    OnlyLeft,
    /// Only the hub (the right side) has it.
    OnlyRight,
}

/// One field of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// A JSON Pointer (`/timeline/0/name`); `""` for a document that is a bare value.
    pub pointer: String,
    pub left: Option<String>,
    pub right: Option<String>,
    pub change: Change,
}

/// Every leaf of both documents, in pointer order. Empty objects and arrays count as leaves, so
/// "became empty" shows.
pub fn compare(left: &Value, right: &Value) -> Vec<Row> {
    let (mut l, mut r) = (BTreeMap::new(), BTreeMap::new());
    flatten(left, String::new(), &mut l);
    flatten(right, String::new(), &mut r);
    let mut pointers: Vec<&String> = l.keys().chain(r.keys()).collect();
    pointers.sort_by_cached_key(|p| natural(p));
    pointers.dedup();
    pointers
        .into_iter()
        .map(|p| {
            let (a, b) = (l.get(p).cloned(), r.get(p).cloned());
            let change = match (&a, &b) {
                (Some(x), Some(y)) if x == y => Change::Same,
                (Some(_), Some(_)) => Change::Changed,
                (Some(_), None) => Change::OnlyLeft,
                _ => Change::OnlyRight,
            };
            Row {
                pointer: p.clone(),
                left: a,
                right: b,
                change,
            }
        })
        .collect()
}

/// Sorts `/timeline/10` after `/timeline/9`: numeric segments compare as numbers.
fn natural(pointer: &str) -> Vec<(u64, String)> {
    pointer
        .split('/')
        .map(|s| match s.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (u64::MAX, s.to_owned()),
        })
        .collect()
}

fn flatten(value: &Value, pointer: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                flatten(v, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{pointer}/{i}"), out);
            }
        }
        leaf => {
            out.insert(pointer, leaf.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_line_up_and_say_how_they_differ() {
        let event = json!({"version": 2, "current": {"name": "A", "parent": null},
                           "timeline": [{"name": "A"}], "gone": "x"});
        let hub = json!({"version": 3, "current": {"name": "B", "parent": null},
                         "timeline": [{"name": "A"}, {"name": "B"}], "new/key": []});
        let rows = compare(&event, &hub);
        let find = |p: &str| rows.iter().find(|r| r.pointer == p).expect(p).clone();
        assert_eq!(find("/version").change, Change::Changed);
        assert_eq!(find("/current/name").left.as_deref(), Some("\"A\""));
        assert_eq!(find("/current/name").right.as_deref(), Some("\"B\""));
        assert_eq!(find("/current/parent").change, Change::Same);
        assert_eq!(find("/timeline/0/name").change, Change::Same);
        assert_eq!(find("/timeline/1/name").change, Change::OnlyRight);
        assert_eq!(find("/gone").change, Change::OnlyLeft);
        assert_eq!(find("/new~1key").right.as_deref(), Some("[]"));
    }

    #[test]
    fn array_indexes_sort_as_numbers() {
        let items: Vec<Value> = (0..12).map(|i| json!(i)).collect();
        let doc = json!({ "a": items });
        let rows = compare(&doc, &doc);
        let pointers: Vec<&str> = rows.iter().map(|r| r.pointer.as_str()).collect();
        assert_eq!(pointers[9..12], ["/a/9", "/a/10", "/a/11"]);
    }
}
