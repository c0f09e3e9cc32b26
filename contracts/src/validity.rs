//! Valid time ("virkning"): `Validity` intervals and the `Timeline` algebra.
//!
//! A timeline is a sorted list of non-overlapping segments, adjacent equal segments merged, so two
//! timelines describe the same history exactly when they are equal; the writer's no-op detection
//! rests on that.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A valid-time interval: `from` inclusive, `to` exclusive, `to: None` open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawValidity")]
pub struct Validity {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

#[derive(Deserialize)]
struct RawValidity {
    from: NaiveDate,
    #[serde(default)]
    to: Option<NaiveDate>,
}

impl TryFrom<RawValidity> for Validity {
    type Error = String;
    fn try_from(raw: RawValidity) -> Result<Self, Self::Error> {
        Validity::new(raw.from, raw.to)
    }
}

impl schemars::JsonSchema for Validity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Validity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "Valid time (virkning): from inclusive, to exclusive, to null = open-ended.",
            "required": ["from", "to"],
            "properties": {
                "from": {"type": "string", "format": "date"},
                "to": {"type": ["string", "null"], "format": "date"}
            }
        })
    }
}

/// The end of an interval as a date, `None` (open) being later than every date.
fn end(to: Option<NaiveDate>) -> NaiveDate {
    to.unwrap_or(NaiveDate::MAX)
}

/// The first date the hub stores (PostgreSQL and ORG both go further back, but nothing real does).
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// The last date the hub stores.
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// Refuses a date outside [`FIRST_DATE`] … [`LAST_DATE`]: PostgreSQL refuses some of them (a
/// year -5000 would fail the whole transaction it is written in), and none is a real validity.
pub fn check_date(date: NaiveDate) -> Result<NaiveDate, String> {
    if (FIRST_DATE..=LAST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(format!(
            "{date} is outside the dates the hub stores ({FIRST_DATE} … {LAST_DATE})"
        ))
    }
}

impl std::fmt::Display for Validity {
    /// `[from, to)`, or `[from, open)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to {
            Some(to) => write!(f, "[{}, {to})", self.from),
            None => write!(f, "[{}, open)", self.from),
        }
    }
}

impl Validity {
    /// An interval; `to` must be after `from`, both within [`FIRST_DATE`] … [`LAST_DATE`].
    pub fn new(from: NaiveDate, to: Option<NaiveDate>) -> Result<Self, String> {
        check_date(from)?;
        if let Some(to) = to {
            check_date(to)?;
        }
        match to {
            Some(to) if to <= from => Err(format!(
                "validity.to ({to}) must be after validity.from ({from}); to is exclusive"
            )),
            _ => Ok(Validity { from, to }),
        }
    }

    /// `[from, ∞)`.
    pub fn open(from: NaiveDate) -> Self {
        Validity { from, to: None }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.from <= date && date < end(self.to)
    }

    pub fn overlaps(&self, other: &Validity) -> bool {
        self.from < end(other.to) && other.from < end(self.to)
    }

    /// The part of `self` inside `other`.
    pub fn intersect(&self, other: &Validity) -> Option<Validity> {
        let from = self.from.max(other.from);
        let to = match (self.to, other.to) {
            (None, t) | (t, None) => t,
            (Some(a), Some(b)) => Some(a.min(b)),
        };
        Validity::new(from, to).ok()
    }
}

/// One state of an entity over one validity interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Segment<A> {
    pub validity: Validity,
    #[serde(flatten)]
    pub attrs: A,
}

/// An entity's valid-time history: sorted, non-overlapping, adjacent equal segments merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Timeline<A>(Vec<Segment<A>>);

/// The segments a change removed and added; see [`Timeline::diff`].
#[derive(Debug)]
pub struct TimelineDiff<'a, A> {
    pub removed: Vec<&'a Segment<A>>,
    pub added: Vec<&'a Segment<A>>,
}

impl<A> Default for Timeline<A> {
    fn default() -> Self {
        Timeline(Vec::new())
    }
}

impl<A: Clone + PartialEq> Timeline<A> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a timeline from segments in any order; fails when two of them overlap.
    pub fn from_segments(mut segments: Vec<Segment<A>>) -> Result<Self, String> {
        segments.sort_by_key(|s| s.validity.from);
        for pair in segments.windows(2) {
            if pair[0].validity.overlaps(&pair[1].validity) {
                return Err(format!(
                    "segments starting {} and {} overlap",
                    pair[0].validity.from, pair[1].validity.from
                ));
            }
        }
        let mut timeline = Timeline(segments);
        timeline.merge();
        Ok(timeline)
    }

    pub fn segments(&self) -> &[Segment<A>] {
        &self.0
    }

    pub fn into_segments(self) -> Vec<Segment<A>> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The segment valid on `date`.
    pub fn at(&self, date: NaiveDate) -> Option<&Segment<A>> {
        self.0.iter().find(|s| s.validity.contains(date))
    }

    /// From the first segment's start to the last one's end (gaps included).
    pub fn span(&self) -> Option<Validity> {
        let (first, last) = (self.0.first()?, self.0.last()?);
        Some(Validity {
            from: first.validity.from,
            to: last.validity.to,
        })
    }

    /// Whether every date of `validity` lies in some segment.
    pub fn covers(&self, validity: &Validity) -> bool {
        let mut cursor = validity.from;
        for s in &self.0 {
            if s.validity.from <= cursor && cursor < end(s.validity.to) {
                cursor = end(s.validity.to);
            }
            if cursor >= end(validity.to) {
                return true;
            }
        }
        cursor >= end(validity.to)
    }

    /// What changed from `old` to `self`: the segments of `old` that `self` no longer holds as
    /// they were (`removed`), and the segments of `self` that `old` did not hold (`added`). Both
    /// timelines are sorted, so this is one pass over each.
    pub fn diff<'a>(&'a self, old: &'a Timeline<A>) -> TimelineDiff<'a, A> {
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < old.0.len() && j < self.0.len() {
            let (o, n) = (&old.0[i], &self.0[j]);
            if o == n {
                i += 1;
                j += 1;
            } else if o.validity.from < n.validity.from {
                removed.push(o);
                i += 1;
            } else if n.validity.from < o.validity.from {
                added.push(n);
                j += 1;
            } else {
                removed.push(o);
                added.push(n);
                i += 1;
                j += 1;
            }
        }
        removed.extend(&old.0[i..]);
        added.extend(&self.0[j..]);
        TimelineDiff { removed, added }
    }

    /// Writes `attrs` for `validity`: replaces whatever the timeline held in that interval and
    /// leaves the rest.
    pub fn put(&mut self, validity: Validity, attrs: A) {
        self.clear(&validity);
        let at = self.0.partition_point(|s| s.validity.from < validity.from);
        self.0.insert(at, Segment { validity, attrs });
        self.merge();
    }

    /// Removes `validity` from the timeline, splitting segments that straddle its edges.
    pub fn clear(&mut self, validity: &Validity) {
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        for s in self.0.drain(..) {
            if !s.validity.overlaps(validity) {
                kept.push(s);
                continue;
            }
            if s.validity.from < validity.from {
                kept.push(Segment {
                    validity: Validity {
                        from: s.validity.from,
                        to: Some(validity.from),
                    },
                    attrs: s.attrs.clone(),
                });
            }
            if let Some(cut) = validity.to
                && cut < end(s.validity.to)
            {
                kept.push(Segment {
                    validity: Validity {
                        from: cut,
                        to: s.validity.to,
                    },
                    attrs: s.attrs,
                });
            }
        }
        self.0 = kept;
    }

    /// Ends the timeline at `to` (exclusive): nothing is valid from `to` on.
    pub fn terminate(&mut self, to: NaiveDate) {
        self.clear(&Validity::open(to));
    }

    /// Joins touching segments with equal attributes. Idempotent.
    pub fn merge(&mut self) {
        let mut merged: Vec<Segment<A>> = Vec::with_capacity(self.0.len());
        for s in self.0.drain(..) {
            match merged.last_mut() {
                Some(prev)
                    if prev.validity.to == Some(s.validity.from) && prev.attrs == s.attrs =>
                {
                    prev.validity.to = s.validity.to;
                }
                _ => merged.push(s),
            }
        }
        self.0 = merged;
    }

    /// Applies `f` to every segment's attributes.
    pub fn map<B>(self, mut f: impl FnMut(A) -> B) -> Timeline<B> {
        Timeline(
            self.0
                .into_iter()
                .map(|s| Segment {
                    validity: s.validity,
                    attrs: f(s.attrs),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(n: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 1, 1).expect("date") + chrono::Duration::days(n)
    }

    fn v(from: i64, to: Option<i64>) -> Validity {
        Validity::new(d(from), to.map(d)).expect("valid interval")
    }

    prop_compose! {
        fn interval()(from in 0i64..60, len in proptest::option::of(1i64..40)) -> Validity {
            v(from, len.map(|l| from + l))
        }
    }

    fn timeline() -> impl Strategy<Value = Timeline<u8>> {
        proptest::collection::vec((interval(), 0u8..3), 0..6).prop_map(|puts| {
            let mut t = Timeline::new();
            for (validity, value) in puts {
                t.put(validity, value);
            }
            t
        })
    }

    proptest! {
        #[test]
        fn put_gives_new_state_inside_and_old_state_outside(
            t in timeline(), validity in interval(), value in 10u8..12, probe in 0i64..120
        ) {
            let before = t.clone();
            let mut after = t;
            after.put(validity, value);
            let date = d(probe);
            if validity.contains(date) {
                prop_assert_eq!(after.at(date).map(|s| s.attrs), Some(value));
            } else {
                prop_assert_eq!(after.at(date).map(|s| s.attrs), before.at(date).map(|s| s.attrs));
            }
        }

        #[test]
        fn merge_is_idempotent_and_keeps_every_date(t in timeline(), probe in 0i64..120) {
            let mut once = t.clone();
            once.merge();
            let mut twice = once.clone();
            twice.merge();
            prop_assert_eq!(&once, &twice);
            prop_assert_eq!(once.at(d(probe)).map(|s| s.attrs), t.at(d(probe)).map(|s| s.attrs));
        }

        #[test]
        fn timelines_stay_sorted_disjoint_and_merged(t in timeline()) {
            for pair in t.segments().windows(2) {
                prop_assert!(end(pair[0].validity.to) <= pair[1].validity.from);
                let touching = pair[0].validity.to == Some(pair[1].validity.from);
                prop_assert!(!(touching && pair[0].attrs == pair[1].attrs));
            }
        }

        #[test]
        fn put_of_the_present_state_is_a_no_op(t in timeline(), probe in 0i64..60) {
            if let Some(seg) = t.at(d(probe)).cloned() {
                let mut again = t.clone();
                again.put(seg.validity, seg.attrs);
                prop_assert_eq!(again, t);
            }
        }

        #[test]
        fn diff_names_exactly_the_segments_that_differ(t in timeline(), validity in interval(), value in 0u8..4) {
            let mut after = t.clone();
            after.put(validity, value);
            let diff = after.diff(&t);
            for s in t.segments() {
                prop_assert_eq!(diff.removed.contains(&s), !after.segments().contains(s));
            }
            for s in after.segments() {
                prop_assert_eq!(diff.added.contains(&s), !t.segments().contains(s));
            }
        }

        #[test]
        fn covers_agrees_with_pointwise_lookup(t in timeline(), from in 0i64..80, len in 1i64..30) {
            let validity = v(from, Some(from + len));
            let pointwise = (from..from + len).all(|n| t.at(d(n)).is_some());
            prop_assert_eq!(t.covers(&validity), pointwise);
        }
    }

    #[test]
    fn terminate_ends_the_timeline() {
        let mut t = Timeline::new();
        t.put(v(0, None), 1u8);
        t.put(v(10, Some(20)), 2);
        t.terminate(d(15));
        assert_eq!(t.segments().len(), 2);
        assert_eq!(t.span(), Some(v(0, Some(15))));
        assert!(t.at(d(15)).is_none());
    }

    #[test]
    fn dates_outside_what_the_hub_stores_are_refused() {
        let far = serde_json::json!({"from": "-5000-01-01", "to": null});
        let e = serde_json::from_value::<Validity>(far).expect_err("year -5000");
        assert!(e.to_string().contains("outside"), "{e}");
        let late = serde_json::json!({"from": "2024-01-01", "to": "+10000-01-01"});
        assert!(serde_json::from_value::<Validity>(late).is_err());
        assert!(check_date(LAST_DATE).is_ok() && check_date(FIRST_DATE).is_ok());
    }

    #[test]
    fn validity_rejects_empty_intervals() {
        assert!(Validity::new(d(5), Some(d(5))).is_err());
        let json = serde_json::json!({"from": "2024-02-01", "to": "2024-01-01"});
        assert!(serde_json::from_value::<Validity>(json).is_err());
        let open: Validity = serde_json::from_value(serde_json::json!({"from": "2024-02-01"}))
            .expect("to defaults to open");
        assert_eq!(open.to, None);
    }
}
