//! The writer's rules offline, to check generated streams without a database.
//!
//! [`World`] applies import lines and changes in order the way the writer's store does: the state
//! is parsed with [`orghub_contracts::parse_state`], put into the entity's timeline with the same
//! [`orghub_contracts::Timeline`] algebra, a result equal to the current timeline is a no-op, and
//! otherwise the change must keep the integrity rules of [`orghub_contracts::integrity`], the
//! writer's own, over this world in memory (it implements their [`Lookup`]).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use chrono::NaiveDate;
use orghub_contracts::integrity::{self, Dependent, Known, Lookup};
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
        let old = self
            .entities
            .get(&uuid)
            .map(|e| e.timeline.clone())
            .unwrap_or_default();
        let checked = integrity::now_or_never(async {
            let errors = integrity::check_references(self, uuid, &old, &timeline).await?;
            if let Some(e) = errors.first() {
                return Ok(Err(format!("{kind} {uuid} {}: {}", e.pointer, e.detail)));
            }
            let dependents = integrity::check_dependents(self, kind, uuid, &old, &timeline).await?;
            if let Some((k, u)) = dependents.first() {
                return Ok(Err(format!(
                    "{kind} {uuid} is still referenced by {k} {u} outside {}",
                    timeline
                        .span()
                        .map_or_else(|| "any interval".to_owned(), |s| s.to_string())
                )));
            }
            Ok::<_, Infallible>(Ok(()))
        });
        match checked {
            Some(Ok(result)) => result?,
            Some(Err(never)) => match never {},
            None => return Err("the offline check waited, which it never does".into()),
        }
        self.store(kind, uuid, timeline);
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

impl Lookup for World {
    type Error = Infallible;

    async fn entity(&mut self, uuid: Uuid) -> Result<Option<Known<'_>>, Infallible> {
        Ok(self.entities.get(&uuid).map(|e| Known {
            kind: e.kind,
            same_kommune: true,
            deleted: false,
            timeline: &e.timeline,
        }))
    }

    async fn root_besides(
        &mut self,
        unit: Uuid,
        hierarchy: Option<Uuid>,
        during: Validity,
    ) -> Result<Option<Uuid>, Infallible> {
        let entities = &self.entities;
        let mut others: Vec<Uuid> = self
            .roots
            .keys()
            .filter(|other| **other != unit)
            .filter(|other| {
                entities.get(other).is_some_and(|e| {
                    e.timeline.segments().iter().any(|s| {
                        matches!(&s.attrs, Attrs::Unit(u) if u.parent.is_none() && u.hierarchy == hierarchy)
                            && s.validity.overlaps(&during)
                    })
                })
            })
            .copied()
            .collect();
        others.sort();
        Ok(others.first().copied())
    }

    async fn primary_besides(
        &mut self,
        person: Uuid,
        engagement: Uuid,
        during: Validity,
    ) -> Result<Option<Uuid>, Infallible> {
        let Some(sources) = self.referenced_by.get(&person) else {
            return Ok(None);
        };
        let mut others: Vec<Uuid> = sources
            .iter()
            .filter(|other| **other != engagement)
            .filter(|other| {
                self.entities.get(other).is_some_and(|e| {
                    e.timeline.segments().iter().any(|s| {
                        matches!(&s.attrs, Attrs::Engagement(x) if x.primary && x.person == person)
                            && s.validity.overlaps(&during)
                    })
                })
            })
            .copied()
            .collect();
        others.sort();
        Ok(others.first().copied())
    }

    async fn class_key_besides(
        &mut self,
        class: Uuid,
        facet: orghub_contracts::Facet,
        user_key: &str,
        during: Validity,
    ) -> Result<Option<Uuid>, Infallible> {
        let mut others: Vec<Uuid> = self
            .entities
            .iter()
            .filter(|(other, e)| {
                **other != class
                    && e.kind == EntityKind::Class
                    && e.timeline.segments().iter().any(|s| {
                        matches!(&s.attrs, Attrs::Class(c) if c.facet == facet && c.user_key.as_str() == user_key)
                            && s.validity.overlaps(&during)
                    })
            })
            .map(|(other, _)| *other)
            .collect();
        others.sort();
        Ok(others.first().copied())
    }

    async fn dependents(&mut self, target: Uuid) -> Result<Vec<Dependent>, Infallible> {
        let mut out = Vec::new();
        let Some(sources) = self.referenced_by.get(&target) else {
            return Ok(out);
        };
        for source in sources {
            let Some(s) = self.entities.get(source) else {
                continue;
            };
            for seg in s.timeline.segments() {
                if seg.attrs.references().iter().any(|r| r.uuid == target) {
                    out.push(Dependent {
                        kind: s.kind,
                        uuid: *source,
                        validity: seg.validity,
                    });
                }
            }
        }
        Ok(out)
    }
}
