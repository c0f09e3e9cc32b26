//! An offline model of the writer's rules, to check generated streams without a database.
//!
//! [`World`] applies import lines and changes in order the way the writer's store does
//! (`services/writer/src/store/write.rs`): the state is parsed with
//! [`orghub_contracts::parse_state`], put into the entity's timeline with the same
//! [`orghub_contracts::Timeline`] algebra, a result equal to the current timeline is a no-op, and
//! otherwise every segment's references must point at an existing entity of the right kind whose
//! timeline covers the whole segment, units keep one root and no cycle on every date, and entities
//! that reference the changed one must stay covered.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use orghub_contracts::{Attrs, EntityKind, Timeline, Validity, parse_state};
use uuid::Uuid;

use crate::{Change, Line};

/// What applying one operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Terminated,
    /// The result equals the current timeline.
    Unchanged,
}

#[derive(Debug)]
struct Entity {
    kind: EntityKind,
    timeline: Timeline<Attrs>,
}

/// Every entity's timeline, and who references whom.
#[derive(Debug, Default)]
pub struct World {
    entities: HashMap<Uuid, Entity>,
    /// Target → the entities whose timelines reference it.
    referenced_by: HashMap<Uuid, HashSet<Uuid>>,
    /// Units → the intervals in which they are a root (parent null).
    roots: HashMap<Uuid, Vec<Validity>>,
}

fn show(v: &Validity) -> String {
    match v.to {
        Some(to) => format!("[{}, {to})", v.from),
        None => format!("[{}, open)", v.from),
    }
}

impl World {
    pub fn new() -> World {
        World::default()
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// How many entities of `kind` exist.
    pub fn count(&self, kind: EntityKind) -> usize {
        self.entities.values().filter(|e| e.kind == kind).count()
    }

    /// The units that are a root (parent null), with the intervals in which they are.
    pub fn roots(&self) -> Vec<(Uuid, Vec<Validity>)> {
        let mut roots: Vec<(Uuid, Vec<Validity>)> =
            self.roots.iter().map(|(u, v)| (*u, v.clone())).collect();
        roots.sort_by_key(|(u, _)| *u);
        roots
    }

    /// Applies one import line (a put).
    pub fn apply_line(&mut self, line: &Line) -> Result<Outcome, String> {
        self.put(line.kind, line.uuid, line.state.clone())
    }

    /// Applies one change.
    pub fn apply(&mut self, change: &Change) -> Result<Outcome, String> {
        match change {
            Change::Put(line) => self.apply_line(line),
            Change::Terminate { kind, uuid, to } => self.terminate(*kind, *uuid, *to),
        }
    }

    /// Writes a state for its validity interval.
    pub fn put(
        &mut self,
        kind: EntityKind,
        uuid: Uuid,
        state: serde_json::Value,
    ) -> Result<Outcome, String> {
        let segment = parse_state(kind, state).map_err(|errors| {
            let details: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.pointer, e.detail))
                .collect();
            format!("{kind} {uuid}: invalid state: {}", details.join("; "))
        })?;
        let existing = self.entities.get(&uuid);
        if let Some(e) = existing
            && e.kind != kind
        {
            return Err(format!("{uuid} is a {}, not a {kind}", e.kind));
        }
        let mut timeline = existing.map(|e| e.timeline.clone()).unwrap_or_default();
        timeline.put(segment.validity, segment.attrs);
        let outcome = match existing {
            Some(e) if e.timeline == timeline => return Ok(Outcome::Unchanged),
            Some(_) => Outcome::Updated,
            None => Outcome::Created,
        };
        self.check_and_store(kind, uuid, timeline)?;
        Ok(outcome)
    }

    /// Ends validity at `to` (exclusive).
    pub fn terminate(
        &mut self,
        kind: EntityKind,
        uuid: Uuid,
        to: NaiveDate,
    ) -> Result<Outcome, String> {
        let Some(existing) = self.entities.get(&uuid) else {
            return Err(format!("no {kind} {uuid} to terminate"));
        };
        if existing.kind != kind {
            return Err(format!("{uuid} is a {}, not a {kind}", existing.kind));
        }
        let span = existing
            .timeline
            .span()
            .ok_or_else(|| format!("{kind} {uuid} has no validity to end"))?;
        if to <= span.from {
            return Err(format!(
                "cannot terminate {kind} {uuid} at {to}: it is valid from {}",
                span.from
            ));
        }
        let mut timeline = existing.timeline.clone();
        timeline.terminate(to);
        if timeline == existing.timeline {
            return Ok(Outcome::Unchanged);
        }
        self.check_and_store(kind, uuid, timeline)?;
        Ok(Outcome::Terminated)
    }

    fn check_and_store(
        &mut self,
        kind: EntityKind,
        uuid: Uuid,
        timeline: Timeline<Attrs>,
    ) -> Result<(), String> {
        self.check_references(kind, uuid, &timeline)?;
        self.check_dependents(kind, uuid, &timeline)?;
        self.store(kind, uuid, timeline);
        Ok(())
    }

    fn check_references(
        &self,
        kind: EntityKind,
        uuid: Uuid,
        timeline: &Timeline<Attrs>,
    ) -> Result<(), String> {
        for seg in timeline.segments() {
            for r in seg.attrs.references() {
                if r.uuid == uuid {
                    return Err(format!("{kind} {uuid} references itself at {}", r.field));
                }
                let problem = match self.entities.get(&r.uuid) {
                    None => Some(format!("no {} {} exists", r.kind, r.uuid)),
                    Some(t) if t.kind != r.kind => {
                        Some(format!("{} is a {}, expected a {}", r.uuid, t.kind, r.kind))
                    }
                    Some(t) if !t.timeline.covers(&seg.validity) => Some(format!(
                        "{} {} is not valid for the whole interval {}",
                        r.kind,
                        r.uuid,
                        show(&seg.validity)
                    )),
                    Some(_) => None,
                };
                if let Some(p) = problem {
                    return Err(format!("{kind} {uuid} {}: {p}", r.field));
                }
            }
            if let Attrs::Unit(unit) = &seg.attrs {
                match unit.parent {
                    None => {
                        let other = self.roots.iter().find(|(other, intervals)| {
                            **other != uuid && intervals.iter().any(|v| v.overlaps(&seg.validity))
                        });
                        if let Some((other, _)) = other {
                            return Err(format!(
                                "unit {uuid} would be a second root beside {other} during {}",
                                show(&seg.validity)
                            ));
                        }
                    }
                    Some(parent) if self.reaches(parent, uuid, seg.validity) => {
                        return Err(format!(
                            "unit {uuid}: parent {parent} is below it during {}: a cycle",
                            show(&seg.validity)
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Whether walking up the hierarchy from `start` during `v` reaches `goal` on some date.
    fn reaches(&self, start: Uuid, goal: Uuid, v: Validity) -> bool {
        let mut stack = vec![(start, v)];
        let mut steps = 0usize;
        while let Some((unit, interval)) = stack.pop() {
            if unit == goal {
                return true;
            }
            steps += 1;
            if steps > 1_000_000 {
                return true;
            }
            let Some(e) = self.entities.get(&unit) else {
                continue;
            };
            for seg in e.timeline.segments() {
                if let Attrs::Unit(u) = &seg.attrs
                    && let Some(parent) = u.parent
                    && let Some(overlap) = seg.validity.intersect(&interval)
                {
                    stack.push((parent, overlap));
                }
            }
        }
        false
    }

    fn check_dependents(
        &self,
        kind: EntityKind,
        uuid: Uuid,
        timeline: &Timeline<Attrs>,
    ) -> Result<(), String> {
        let Some(sources) = self.referenced_by.get(&uuid) else {
            return Ok(());
        };
        for source in sources {
            let Some(s) = self.entities.get(source) else {
                continue;
            };
            for seg in s.timeline.segments() {
                let refers = seg.attrs.references().iter().any(|r| r.uuid == uuid);
                if refers && !timeline.covers(&seg.validity) {
                    return Err(format!(
                        "{kind} {uuid} is still referenced by {} {source} during {}",
                        s.kind,
                        show(&seg.validity)
                    ));
                }
            }
        }
        Ok(())
    }

    fn store(&mut self, kind: EntityKind, uuid: Uuid, timeline: Timeline<Attrs>) {
        if let Some(old) = self.entities.get(&uuid) {
            for seg in old.timeline.segments() {
                for r in seg.attrs.references() {
                    if let Some(set) = self.referenced_by.get_mut(&r.uuid) {
                        set.remove(&uuid);
                    }
                }
            }
        }
        let mut roots = Vec::new();
        for seg in timeline.segments() {
            for r in seg.attrs.references() {
                self.referenced_by.entry(r.uuid).or_default().insert(uuid);
            }
            if let Attrs::Unit(u) = &seg.attrs
                && u.parent.is_none()
            {
                roots.push(seg.validity);
            }
        }
        if roots.is_empty() {
            self.roots.remove(&uuid);
        } else {
            self.roots.insert(uuid, roots);
        }
        self.entities.insert(uuid, Entity { kind, timeline });
    }
}
