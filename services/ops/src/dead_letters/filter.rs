//! The dead-letter filter as operators write it: `key=value` pairs, from `orghubctl dlq ...
//! --filter reason=sink-permanent,kommune=751,since=2026-12-01` or from the console's query
//! string, into one [`Selector`]; and back again ([`pairs`]), so a page can carry a filter in its
//! links and forms. One parser for both, so a filter means the same in a script and on the page.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use orghub_contracts::{EntityKind, EventType, Kommune};

use super::{Selector, short_type};

/// The keys a filter knows, in the order [`pairs`] gives them.
pub const KEYS: [&str; 7] = ["id", "reason", "type", "kommune", "kind", "since", "until"];

/// Why a filter cannot be read. Retrying the same filter cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter {0:?} is not key=value")]
    NotAPair(String),
    #[error(
        "unknown filter key {0:?}; expected one of id, reason, type, kommune, kind, since, until"
    )]
    UnknownKey(String),
    #[error("filter key {0:?} is given twice")]
    Twice(String),
    #[error("filter {key}={value:?}: {detail}")]
    BadValue {
        key: String,
        value: String,
        detail: String,
    },
}

impl Selector {
    /// Parses `--filter` expressions (`key=value` pairs separated by commas, each expression
    /// adding to the one before) into a selector.
    pub fn from_expressions<S: AsRef<str>>(expressions: &[S]) -> Result<Selector, FilterError> {
        let mut selector = Selector::default();
        for expression in expressions {
            selector.add_expression(expression.as_ref())?;
        }
        Ok(selector)
    }

    /// Adds the pairs of one `--filter` expression.
    pub fn add_expression(&mut self, expression: &str) -> Result<(), FilterError> {
        for pair in expression
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| FilterError::NotAPair(pair.to_owned()))?;
            self.add(key.trim(), value.trim())?;
        }
        Ok(())
    }

    /// Adds one criterion. An empty value adds nothing: an empty form field means "any".
    pub fn add(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(());
        }
        let bad = |detail: &str| FilterError::BadValue {
            key: key.to_owned(),
            value: value.chars().take(100).collect(),
            detail: detail.to_owned(),
        };
        fn once<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), FilterError> {
            if slot.is_some() {
                return Err(FilterError::Twice(key.to_owned()));
            }
            *slot = Some(value);
            Ok(())
        }
        match key {
            "id" => {
                if value.len() > 200 || value.chars().any(char::is_control) {
                    return Err(bad("not an event id"));
                }
                self.ids.push(value.to_owned());
                Ok(())
            }
            "reason" => {
                let ok = value.len() <= 64
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err(bad("a reason is lower-case letters, digits and '-'"));
                }
                once(&mut self.reason, key, value.to_owned())
            }
            "type" => {
                if EventType::parse(value).is_err() && short_type(value).is_none() {
                    return Err(bad(
                        "expected an event type: unit.created or dk.orghub.org.unit.created.v1",
                    ));
                }
                once(&mut self.event_type, key, value.to_owned())
            }
            "kommune" => {
                let kommune = Kommune::parse(value).map_err(|e| bad(&e.to_string()))?;
                once(&mut self.kommune, key, kommune)
            }
            "kind" => {
                let kind: EntityKind = value.parse().map_err(|e: String| bad(&e))?;
                once(&mut self.kind, key, kind)
            }
            "since" | "until" => {
                let at = parse_time(value).map_err(|e| bad(&e))?;
                let slot = if key == "since" {
                    &mut self.since
                } else {
                    &mut self.until
                };
                once(slot, key, at)
            }
            other => Err(FilterError::UnknownKey(other.chars().take(40).collect())),
        }
    }
}

/// The selector's criteria as `key=value` pairs (ids one pair each), in [`KEYS`] order; times
/// as RFC 3339 UTC. `all` has no pair.
pub fn pairs(selector: &Selector) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> =
        selector.ids.iter().map(|id| ("id", id.clone())).collect();
    if let Some(r) = &selector.reason {
        out.push(("reason", r.clone()));
    }
    if let Some(t) = &selector.event_type {
        out.push(("type", t.clone()));
    }
    if let Some(k) = selector.kommune {
        out.push(("kommune", k.to_string()));
    }
    if let Some(k) = selector.kind {
        out.push(("kind", k.to_string()));
    }
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    if let Some(t) = &selector.since {
        out.push(("since", time(t)));
    }
    if let Some(t) = &selector.until {
        out.push(("until", time(t)));
    }
    out
}

/// An instant as operators type it: RFC 3339 (`2026-12-01T10:00:00+01:00`), a date and time
/// without zone taken as UTC (`2026-12-01T09:00`, what a browser's `datetime-local` field sends,
/// seconds optional, `T` or a space), or a date (`2026-12-01`, midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err("expected RFC 3339, YYYY-MM-DDTHH:MM (UTC) or YYYY-MM-DD".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_fill_every_criterion_and_pairs_write_them_back() {
        let s = Selector::from_expressions(&[
            "reason=sink-permanent, kommune=0751,kind=unit",
            "since=2026-12-01,until=2026-12-02T10:30,type=unit.created,id=a,id=b",
        ])
        .expect("valid");
        assert_eq!(s.reason.as_deref(), Some("sink-permanent"));
        assert_eq!(s.kommune, Kommune::parse("751").ok());
        assert_eq!(s.kind, Some(EntityKind::Unit));
        assert_eq!(s.ids, ["a", "b"]);
        assert_eq!(
            s.since.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-01T00:00:00+00:00")
        );
        let back: Vec<String> = pairs(&s)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            back,
            [
                "id=a",
                "id=b",
                "reason=sink-permanent",
                "type=unit.created",
                "kommune=751",
                "kind=unit",
                "since=2026-12-01T00:00:00Z",
                "until=2026-12-02T10:30:00Z"
            ]
        );
        let again = Selector::from_expressions(&[back.join(",")]).expect("round trip");
        assert_eq!(again, s);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let err = |e: &str| Selector::from_expressions(&[e]).expect_err(e).to_string();
        assert!(err("kommune=1234").contains("kommune"));
        assert!(err("kind=planet").contains("unknown entity kind"));
        assert!(err("colour=red").contains("unknown filter key"));
        assert!(err("reason").contains("not key=value"));
        assert!(err("reason=a,reason=b").contains("twice"));
        assert!(err("since=yesterday").contains("RFC 3339"));
        assert!(err("type=unit.exploded").contains("event type"));
        assert!(err("reason=Bad Reason").contains("lower-case"));
        assert_eq!(
            Selector::from_expressions(&["reason=,kommune= "]).expect("empty values"),
            Selector::default()
        );
    }

    #[test]
    fn times_read_as_utc_unless_they_say_otherwise() {
        let t = |s: &str| parse_time(s).expect(s).to_rfc3339();
        assert_eq!(t("2026-12-01T10:00:00+01:00"), "2026-12-01T09:00:00+00:00");
        assert_eq!(t("2026-12-01T09:00"), "2026-12-01T09:00:00+00:00");
        assert_eq!(t("2026-12-01 09:00:05"), "2026-12-01T09:00:05+00:00");
        assert_eq!(t("2026-12-01"), "2026-12-01T00:00:00+00:00");
    }
}
