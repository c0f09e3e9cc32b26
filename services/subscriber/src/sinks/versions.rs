//! The in-memory version map of the file-backed sinks (webhook, NDJSON): per entity, the newest
//! version the sink has committed, and enough about it to prune after a resync.

use std::collections::{HashMap, HashSet};

use orghub_contracts::{Action, EntityKind, Kommune, OrgEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sink::ResyncScope;

/// What a sink holds of one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub uuid: Uuid,
    pub version: u64,
    pub kommune: Kommune,
    pub kind: EntityKind,
    /// The event-log position it was learned at (a snapshot's watermark for resync loads).
    pub sequence: u64,
    pub deleted: bool,
}

impl Held {
    pub fn of(event: &OrgEvent) -> Self {
        Held {
            uuid: event.subject(),
            version: event.entity_version,
            kommune: event.kommune,
            kind: event.kind(),
            sequence: event.sequence,
            deleted: event.action == Action::Deleted || event.data.deleted,
        }
    }
}

/// Newest held version per entity.
#[derive(Debug, Clone, Default)]
pub struct Versions {
    map: HashMap<Uuid, Held>,
}

impl Versions {
    pub fn version(&self, uuid: Uuid) -> Option<u64> {
        self.map.get(&uuid).map(|h| h.version)
    }

    /// Whether `version` of `uuid` is newer than what is held (the version guard).
    pub fn is_newer(&self, uuid: Uuid, version: u64) -> bool {
        self.version(uuid).is_none_or(|held| version > held)
    }

    /// Records `held` unless a newer version is already held.
    pub fn record(&mut self, held: Held) {
        match self.map.get(&held.uuid) {
            Some(existing) if existing.version >= held.version => {}
            _ => {
                self.map.insert(held.uuid, held);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn has_kommune(&self, kommune: Kommune) -> bool {
        self.map.values().any(|h| h.kommune == kommune)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Held> {
        self.map.values()
    }

    /// Live entities of the scope that a complete snapshot did not have and that were not learned
    /// after its watermark: deleted in the writer meanwhile.
    pub fn missing_from(&self, scope: &ResyncScope, present: &HashSet<Uuid>) -> Vec<Held> {
        let mut gone: Vec<Held> = self
            .map
            .values()
            .filter(|h| {
                !h.deleted
                    && h.kommune == scope.kommune
                    && scope.covers(h.kind)
                    && h.sequence <= scope.watermark
                    && !present.contains(&h.uuid)
            })
            .copied()
            .collect();
        gone.sort_by_key(|h| h.uuid);
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(n: u128, version: u64, sequence: u64) -> Held {
        Held {
            uuid: Uuid::from_u128(n),
            version,
            kommune: Kommune::parse("751").expect("kommune"),
            kind: EntityKind::Unit,
            sequence,
            deleted: false,
        }
    }

    #[test]
    fn only_newer_versions_replace_what_is_held() {
        let mut v = Versions::default();
        v.record(held(1, 2, 10));
        v.record(held(1, 1, 11));
        assert_eq!(v.version(Uuid::from_u128(1)), Some(2));
        assert!(!v.is_newer(Uuid::from_u128(1), 2));
        assert!(v.is_newer(Uuid::from_u128(1), 3));
        assert!(v.is_newer(Uuid::from_u128(2), 1));
    }

    #[test]
    fn midnight_events_are_versions_like_any_other_and_expiry_is_no_deletion() {
        use orghub_contracts::{EventType, examples};
        let mut v = Versions::default();
        for kind in [
            EntityKind::Class,
            EntityKind::Group,
            EntityKind::Association,
        ] {
            let created = examples::event(EventType {
                kind,
                action: Action::Created,
            });
            let mut effective = examples::event(EventType {
                kind,
                action: Action::Effective,
            });
            effective.data.uuid = created.subject();
            effective.entity_version = created.entity_version + 1;
            let mut expired = examples::event(EventType {
                kind,
                action: Action::Expired,
            });
            expired.data.uuid = created.subject();
            expired.entity_version = created.entity_version + 2;
            v.record(Held::of(&created));
            assert!(v.is_newer(created.subject(), effective.entity_version));
            v.record(Held::of(&effective));
            assert!(!v.is_newer(created.subject(), created.entity_version));
            v.record(Held::of(&expired));
            let held = v.iter().find(|h| h.uuid == created.subject()).copied();
            assert_eq!(
                held.map(|h| (h.version, h.kind, h.deleted)),
                Some((created.entity_version + 2, kind, false))
            );
        }
    }

    #[test]
    fn pruning_spares_what_was_learned_after_the_snapshot() {
        let mut v = Versions::default();
        v.record(held(1, 1, 5));
        v.record(held(2, 1, 50));
        v.record(held(3, 1, 5));
        let scope = ResyncScope {
            kommune: Kommune::parse("751").expect("kommune"),
            kinds: vec![EntityKind::Unit],
            watermark: 20,
        };
        let present = HashSet::from([Uuid::from_u128(3)]);
        let gone: Vec<Uuid> = v
            .missing_from(&scope, &present)
            .iter()
            .map(|h| h.uuid)
            .collect();
        assert_eq!(gone, [Uuid::from_u128(1)]);
    }
}
