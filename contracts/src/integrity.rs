//! The integrity rules of DESIGN §2, written once: pure functions over [`Lookup`], a small view
//! of the world they check. The writer's transaction implements it over PostgreSQL (what its
//! transaction sees, pending writes included); the generator's offline checker over memory.
//!
//! The rules check a change from an entity's `old` timeline to its `new` one:
//! - [`check_references`]: every reference of a segment points at an entity of the right kind in
//!   the same municipality, not deleted, valid for the segment's whole interval (a class
//!   reference at a class of the right facet); nothing references itself; each unit hierarchy
//!   keeps one root and no cycle on any date and a parent in the same hierarchy; groups nest
//!   without a cycle; a person has at most one primary engagement on any date; an IT account
//!   serves engagements of its own person; a class keeps its facet and a user_key unique within
//!   it.
//! - [`check_dependents`]: entities that reference this one stay covered by its new timeline.
//!
//! Only the segments the change added are checked for references, and dependents only when the
//! change removed cover: the rules held for everything else when it was written, and the
//! dependents rule keeps them holding. That keeps a write's cost to what it changed, not to the
//! length of the timeline it changed.

use std::future::Future;

use uuid::Uuid;

use crate::entity::{Attrs, FieldError};
use crate::facet::Facet;
use crate::kind::EntityKind;
use crate::validity::{Segment, Timeline, Validity};

/// Steps of a walk up a unit hierarchy before it gives up (a hierarchy that deep is an error).
pub const MAX_HIERARCHY_STEPS: usize = 100_000;

/// An entity as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub kind: EntityKind,
    /// `false`: it belongs to another municipality than the one being written.
    pub same_kommune: bool,
    pub deleted: bool,
    pub timeline: &'a Timeline<Attrs>,
}

/// A segment of another entity that references the checked one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependent {
    pub kind: EntityKind,
    pub uuid: Uuid,
    /// The interval of the referencing segment.
    pub validity: Validity,
}

/// What the rules need to know about the world around a change. Every method answers for the
/// municipality being written, as it is at this point of the write (earlier changes of the same
/// transaction included).
pub trait Lookup: Send {
    /// Why looking something up failed (the store's error; the offline checker never fails).
    type Error;

    /// The entity `uuid`, in any municipality, or `None` when there is none.
    fn entity(
        &mut self,
        uuid: Uuid,
    ) -> impl Future<Output = Result<Option<Known<'_>>, Self::Error>> + Send;

    /// A unit other than `unit` that is a root (parent null) of `hierarchy` (`None`: the line
    /// organisation) during some date of `during`.
    fn root_besides(
        &mut self,
        unit: Uuid,
        hierarchy: Option<Uuid>,
        during: Validity,
    ) -> impl Future<Output = Result<Option<Uuid>, Self::Error>> + Send;

    /// A primary engagement of `person` other than `engagement` during some date of `during`.
    fn primary_besides(
        &mut self,
        person: Uuid,
        engagement: Uuid,
        during: Validity,
    ) -> impl Future<Output = Result<Option<Uuid>, Self::Error>> + Send;

    /// A class other than `class` of `facet` with `user_key` during some date of `during`.
    fn class_key_besides(
        &mut self,
        class: Uuid,
        facet: Facet,
        user_key: &str,
        during: Validity,
    ) -> impl Future<Output = Result<Option<Uuid>, Self::Error>> + Send;

    /// Every segment of another live entity that references `target`.
    fn dependents(
        &mut self,
        target: Uuid,
    ) -> impl Future<Output = Result<Vec<Dependent>, Self::Error>> + Send;
}

/// Kinds that other entities can point at (so changing them may break a dependent).
pub fn can_be_referenced(kind: EntityKind) -> bool {
    matches!(
        kind,
        EntityKind::Unit
            | EntityKind::Person
            | EntityKind::Engagement
            | EntityKind::Class
            | EntityKind::Group
    )
}

/// The reference rules over the segments `new` adds to `old`; pointers are relative to a state
/// (`/parent`, `/owner/uuid`). Empty when the change keeps every rule.
pub async fn check_references<L: Lookup>(
    world: &mut L,
    uuid: Uuid,
    old: &Timeline<Attrs>,
    new: &Timeline<Attrs>,
) -> Result<Vec<FieldError>, L::Error> {
    let mut errors = Vec::new();
    check_fixed_facet(old, new, &mut errors);
    for seg in new.diff(old).added {
        check_segment(world, uuid, seg, &mut errors).await?;
    }
    Ok(errors)
}

/// A class's facet is fixed for its life: every segment of `new` has the facet `old` had.
fn check_fixed_facet(old: &Timeline<Attrs>, new: &Timeline<Attrs>, errors: &mut Vec<FieldError>) {
    let facet_of = |t: &Timeline<Attrs>| {
        t.segments().iter().find_map(|s| match &s.attrs {
            Attrs::Class(c) => Some(c.facet),
            _ => None,
        })
    };
    let Some(fixed) = facet_of(old).or_else(|| facet_of(new)) else {
        return;
    };
    let changed = new
        .segments()
        .iter()
        .any(|s| matches!(&s.attrs, Attrs::Class(c) if c.facet != fixed));
    if changed {
        errors.push(FieldError::new(
            "/facet",
            format!("a class's facet is fixed for its life; this class is a {fixed}"),
        ));
    }
}

/// The facet of a class over `during` (any segment: the facet is fixed).
fn facet_of(known: &Known<'_>) -> Option<Facet> {
    known
        .timeline
        .segments()
        .iter()
        .find_map(|s| match &s.attrs {
            Attrs::Class(c) => Some(c.facet),
            _ => None,
        })
}

async fn check_segment<L: Lookup>(
    world: &mut L,
    uuid: Uuid,
    seg: &Segment<Attrs>,
    errors: &mut Vec<FieldError>,
) -> Result<(), L::Error> {
    for r in seg.attrs.references() {
        if r.uuid == uuid {
            errors.push(FieldError::new(
                r.field,
                "an entity cannot reference itself",
            ));
            continue;
        }
        let problem = match world.entity(r.uuid).await? {
            None => Some(format!("no {} {} exists", r.kind, r.uuid)),
            Some(t) if !t.same_kommune => Some(format!(
                "{} {} belongs to another municipality",
                r.kind, r.uuid
            )),
            Some(t) if t.kind != r.kind => {
                Some(format!("{} is a {}, expected a {}", r.uuid, t.kind, r.kind))
            }
            Some(t) if t.deleted => Some(format!("{} {} was deleted", r.kind, r.uuid)),
            Some(t) if !t.timeline.covers(&seg.validity) => Some(format!(
                "{} {} is not valid for the whole interval {}",
                r.kind, r.uuid, seg.validity
            )),
            Some(t) => match (r.facet, facet_of(&t)) {
                (Some(want), Some(have)) if want != have => Some(format!(
                    "class {} is of facet {have}, expected a class of facet {want}",
                    r.uuid
                )),
                _ => None,
            },
        };
        if let Some(detail) = problem {
            errors.push(FieldError::new(r.field, detail));
        }
    }
    match &seg.attrs {
        Attrs::Unit(unit) => check_unit(world, uuid, seg, unit, errors).await?,
        Attrs::Group(group) => {
            if let Some(parent) = group.parent
                && parent != uuid
            {
                check_cycle(
                    world,
                    "/parent",
                    "group",
                    parent,
                    uuid,
                    seg.validity,
                    errors,
                )
                .await?;
            }
        }
        Attrs::Engagement(e) if e.primary => {
            if let Some(other) = world.primary_besides(e.person, uuid, seg.validity).await? {
                errors.push(FieldError::new(
                    "/primary",
                    format!(
                        "engagement {other} is already the primary engagement of person {} \
                         during {}; a person has at most one primary engagement on any date",
                        e.person, seg.validity
                    ),
                ));
            }
        }
        Attrs::ItAccount(account) => {
            for &engagement in &account.engagements {
                let Some(known) = world.entity(engagement).await? else {
                    continue;
                };
                let foreign = known.timeline.segments().iter().any(|s| {
                    matches!(&s.attrs, Attrs::Engagement(e) if e.person != account.person)
                        && s.validity.overlaps(&seg.validity)
                });
                if foreign {
                    errors.push(FieldError::new(
                        "/engagements",
                        format!(
                            "engagement {engagement} is not an engagement of person {} during {}",
                            account.person, seg.validity
                        ),
                    ));
                }
            }
        }
        Attrs::Class(class) => {
            let key = class.user_key.as_str();
            if let Some(other) = world
                .class_key_besides(uuid, class.facet, key, seg.validity)
                .await?
            {
                errors.push(FieldError::new(
                    "/user_key",
                    format!(
                        "class {other} of facet {} already has user_key {key:?} during {}",
                        class.facet, seg.validity
                    ),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A unit's hierarchy rules: one root per hierarchy, a parent in the same hierarchy, no cycle.
async fn check_unit<L: Lookup>(
    world: &mut L,
    uuid: Uuid,
    seg: &Segment<Attrs>,
    unit: &crate::entity::Unit,
    errors: &mut Vec<FieldError>,
) -> Result<(), L::Error> {
    let hierarchy_name = |h: Option<Uuid>| match h {
        None => "the line organisation".to_string(),
        Some(h) => format!("hierarchy {h}"),
    };
    match unit.parent {
        None => {
            if let Some(other) = world
                .root_besides(uuid, unit.hierarchy, seg.validity)
                .await?
            {
                errors.push(FieldError::new(
                    "/parent",
                    format!(
                        "unit {other} is already the root of {} during {}; a unit needs a parent",
                        hierarchy_name(unit.hierarchy),
                        seg.validity
                    ),
                ));
            }
        }
        Some(parent) if parent != uuid => {
            if let Some(known) = world.entity(parent).await? {
                let elsewhere = known
                    .timeline
                    .segments()
                    .iter()
                    .find_map(|s| match &s.attrs {
                        Attrs::Unit(p)
                            if p.hierarchy != unit.hierarchy
                                && s.validity.overlaps(&seg.validity) =>
                        {
                            Some(p.hierarchy)
                        }
                        _ => None,
                    });
                if let Some(theirs) = elsewhere {
                    errors.push(FieldError::new(
                        "/parent",
                        format!(
                            "parent {parent} belongs to {}, this unit to {}: a parent is in the \
                             same hierarchy",
                            hierarchy_name(theirs),
                            hierarchy_name(unit.hierarchy)
                        ),
                    ));
                }
            }
            check_cycle(world, "/parent", "unit", parent, uuid, seg.validity, errors).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Refuses a parent below the entity itself (a unit's or a group's).
async fn check_cycle<L: Lookup>(
    world: &mut L,
    field: &'static str,
    what: &str,
    parent: Uuid,
    uuid: Uuid,
    during: Validity,
    errors: &mut Vec<FieldError>,
) -> Result<(), L::Error> {
    {
        {
            {
                match reaches(world, parent, uuid, during).await? {
                    Reach::No => {}
                    Reach::Yes => errors.push(FieldError::new(
                        field,
                        format!(
                            "parent {parent} is below this {what} during {during}: that would \
                             make a cycle"
                        ),
                    )),
                    Reach::TooDeep => errors.push(FieldError::new(
                        field,
                        format!(
                            "the {what} hierarchy above {parent} is too deep to check \
                         (over {MAX_HIERARCHY_STEPS} steps)"
                        ),
                    )),
                }
            }
        }
    }
    Ok(())
}

enum Reach {
    No,
    Yes,
    TooDeep,
}

/// Whether walking up the parents (of units or groups) from `start` during `v` reaches `goal` on
/// some date. Entities that are deleted or of another municipality end a walk.
async fn reaches<L: Lookup>(
    world: &mut L,
    start: Uuid,
    goal: Uuid,
    v: Validity,
) -> Result<Reach, L::Error> {
    let mut stack = vec![(start, v)];
    let mut steps = 0;
    while let Some((unit, interval)) = stack.pop() {
        if unit == goal {
            return Ok(Reach::Yes);
        }
        steps += 1;
        if steps > MAX_HIERARCHY_STEPS {
            return Ok(Reach::TooDeep);
        }
        let Some(known) = world.entity(unit).await? else {
            continue;
        };
        if known.deleted || !known.same_kommune {
            continue;
        }
        for seg in known.timeline.segments() {
            let parent = match &seg.attrs {
                Attrs::Unit(u) => u.parent,
                Attrs::Group(g) => g.parent,
                _ => None,
            };
            if let Some(parent) = parent
                && parent != unit
                && let Some(overlap) = seg.validity.intersect(&interval)
            {
                stack.push((parent, overlap));
            }
        }
    }
    Ok(Reach::No)
}

/// The entities that reference `uuid` where its `new` timeline no longer covers them, each once.
/// Empty when nothing can reference its kind or the change removed no cover (a rename or an
/// extension cannot break a dependent).
pub async fn check_dependents<L: Lookup>(
    world: &mut L,
    kind: EntityKind,
    uuid: Uuid,
    old: &Timeline<Attrs>,
    new: &Timeline<Attrs>,
) -> Result<Vec<(EntityKind, Uuid)>, L::Error> {
    if !can_be_referenced(kind) {
        return Ok(Vec::new());
    }
    let shrinks = new
        .diff(old)
        .removed
        .iter()
        .any(|s| !new.covers(&s.validity));
    if !shrinks {
        return Ok(Vec::new());
    }
    let mut dependents: Vec<(EntityKind, Uuid)> = Vec::new();
    for d in world.dependents(uuid).await? {
        if d.uuid != uuid && !new.covers(&d.validity) && !dependents.contains(&(d.kind, d.uuid)) {
            dependents.push((d.kind, d.uuid));
        }
    }
    Ok(dependents)
}

/// Runs a future that never waits (a [`Lookup`] over memory) to its end, without a runtime.
/// `None` if it did wait.
pub fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;

    use chrono::NaiveDate;

    use super::*;
    use crate::entity::{Engagement, Person, Unit};
    use crate::values::Name;

    /// A world in memory: every entity live in the checked municipality.
    #[derive(Default)]
    struct Memory(HashMap<Uuid, (EntityKind, Timeline<Attrs>)>);

    impl Lookup for Memory {
        type Error = Infallible;
        async fn entity(&mut self, uuid: Uuid) -> Result<Option<Known<'_>>, Infallible> {
            Ok(self.0.get(&uuid).map(|(kind, timeline)| Known {
                kind: *kind,
                same_kommune: true,
                deleted: false,
                timeline,
            }))
        }
        async fn root_besides(
            &mut self,
            unit: Uuid,
            hierarchy: Option<Uuid>,
            during: Validity,
        ) -> Result<Option<Uuid>, Infallible> {
            Ok(self.0.iter().find_map(|(u, (_, t))| {
                let root = t.segments().iter().any(|s| {
                    matches!(&s.attrs, Attrs::Unit(x) if x.parent.is_none() && x.hierarchy == hierarchy)
                        && s.validity.overlaps(&during)
                });
                (*u != unit && root).then_some(*u)
            }))
        }
        async fn primary_besides(
            &mut self,
            person: Uuid,
            engagement: Uuid,
            during: Validity,
        ) -> Result<Option<Uuid>, Infallible> {
            Ok(self.0.iter().find_map(|(u, (_, t))| {
                let primary = t.segments().iter().any(|s| {
                    matches!(&s.attrs, Attrs::Engagement(e) if e.primary && e.person == person)
                        && s.validity.overlaps(&during)
                });
                (*u != engagement && primary).then_some(*u)
            }))
        }
        async fn class_key_besides(
            &mut self,
            class: Uuid,
            facet: Facet,
            user_key: &str,
            during: Validity,
        ) -> Result<Option<Uuid>, Infallible> {
            Ok(self.0.iter().find_map(|(u, (_, t))| {
                let taken = t.segments().iter().any(|s| {
                    matches!(&s.attrs, Attrs::Class(c) if c.facet == facet && c.user_key.as_str() == user_key)
                        && s.validity.overlaps(&during)
                });
                (*u != class && taken).then_some(*u)
            }))
        }
        async fn dependents(&mut self, target: Uuid) -> Result<Vec<Dependent>, Infallible> {
            let mut out = Vec::new();
            for (u, (kind, t)) in &self.0 {
                for s in t.segments() {
                    if s.attrs.references().iter().any(|r| r.uuid == target) {
                        out.push(Dependent {
                            kind: *kind,
                            uuid: *u,
                            validity: s.validity,
                        });
                    }
                }
            }
            Ok(out)
        }
    }

    fn since(y: i32) -> Validity {
        Validity::open(NaiveDate::from_ymd_opt(y, 1, 1).expect("date"))
    }

    fn unit(parent: Option<Uuid>, v: Validity) -> Timeline<Attrs> {
        let mut t = Timeline::new();
        let name = Name::parse("Enhed").expect("name");
        t.put(
            v,
            Attrs::Unit(Unit {
                name,
                user_key: None,
                unit_type: None,
                unit_level: None,
                hierarchy: None,
                parent,
            }),
        );
        t
    }

    fn run<T>(f: impl Future<Output = Result<T, Infallible>>) -> T {
        match now_or_never(f) {
            Some(Ok(v)) => v,
            Some(Err(never)) => match never {},
            None => panic!("a lookup in memory waited"),
        }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_second_root_is_refused() {
        let mut w = Memory::default();
        w.0.insert(id(1), (EntityKind::Unit, unit(None, since(2020))));
        let errors = run(check_references(
            &mut w,
            id(2),
            &Timeline::new(),
            &unit(None, since(2021)),
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].pointer, "/parent");
        assert!(
            errors[0]
                .detail
                .contains("already the root of the line organisation")
        );
    }

    #[test]
    fn a_cycle_is_refused_and_a_tree_is_not() {
        let mut w = Memory::default();
        w.0.insert(id(1), (EntityKind::Unit, unit(None, since(2020))));
        w.0.insert(id(2), (EntityKind::Unit, unit(Some(id(1)), since(2020))));
        w.0.insert(id(3), (EntityKind::Unit, unit(Some(id(2)), since(2020))));
        let old = w.0[&id(2)].1.clone();
        let cyclic = unit(Some(id(3)), since(2022));
        let errors = run(check_references(&mut w, id(2), &old, &cyclic));
        assert!(errors[0].detail.contains("cycle"), "{errors:?}");
        let fine = unit(Some(id(1)), since(2021));
        assert_eq!(run(check_references(&mut w, id(3), &old, &fine)), vec![]);
    }

    #[test]
    fn references_must_cover_the_whole_interval() {
        let mut w = Memory::default();
        w.0.insert(id(1), (EntityKind::Unit, unit(None, since(2020))));
        let person = Person {
            given_name: Name::parse("Anna").expect("name"),
            surname: Name::parse("Hansen").expect("name"),
            user_key: None,
            cpr: None,
        };
        let mut p = Timeline::new();
        p.put(since(2022), Attrs::Person(person));
        w.0.insert(id(2), (EntityKind::Person, p));
        let mut e = Timeline::new();
        e.put(
            since(2021),
            Attrs::Engagement(Engagement {
                person: id(2),
                unit: id(1),
                job_title: None,
                engagement_type: None,
                primary: false,
                user_key: None,
            }),
        );
        let errors = run(check_references(&mut w, id(3), &Timeline::new(), &e));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].pointer, "/person");
        w.0.insert(id(3), (EntityKind::Engagement, e));
        let mut ended = w.0[&id(1)].1.clone();
        let old = ended.clone();
        ended.terminate(NaiveDate::from_ymd_opt(2023, 1, 1).expect("date"));
        let dependents = run(check_dependents(
            &mut w,
            EntityKind::Unit,
            id(1),
            &old,
            &ended,
        ));
        assert_eq!(dependents, vec![(EntityKind::Engagement, id(3))]);
    }
}
