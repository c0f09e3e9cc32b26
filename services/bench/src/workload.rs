//! What the bench feeds the hub: a generated municipality as import NDJSON, its units (for the
//! live renames), and real encoded events of the same organisation for the yardsticks.

use chrono::Utc;
use orghub_contracts::{
    Action, DocumentHead, EntityDocument, EntityKind, Kommune, OrgEvent, Timeline, parse_state,
};
use orghub_generator::{Line, Options, Size};
use serde_json::Value;
use uuid::Uuid;

/// How much of which generated organisation.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub size: Size,
    /// Only the first this-many lines (a prefix of the stream is still import-valid: every line
    /// refers only to earlier ones).
    pub limit: Option<usize>,
    pub seed: u64,
}

impl Shape {
    fn lines(&self, kommune: Kommune) -> impl Iterator<Item = Line> + use<> {
        let opts = Options {
            kommune,
            size: self.size,
            seed: self.seed,
        };
        orghub_generator::organisation(&opts).take(self.limit.unwrap_or(usize::MAX))
    }
}

/// A municipality ready to import.
#[derive(Debug, Clone)]
pub struct Municipality {
    pub kommune: Kommune,
    pub ndjson: Vec<u8>,
    pub entities: u64,
    /// The first line alone (the catalogue's first class), for seeding a municipality into the
    /// cache.
    pub first_line: Vec<u8>,
    /// `(uuid, state)` of every unit, as imported.
    pub units: Vec<(Uuid, Value)>,
}

impl Municipality {
    pub fn generate(kommune: Kommune, shape: Shape) -> Municipality {
        let mut ndjson = Vec::new();
        let mut first_line = Vec::new();
        let mut units = Vec::new();
        let mut entities = 0;
        for line in shape.lines(kommune) {
            let text = line.to_json();
            if entities == 0 {
                first_line = format!("{text}\n").into_bytes();
            }
            ndjson.extend_from_slice(text.as_bytes());
            ndjson.push(b'\n');
            entities += 1;
            if line.kind == EntityKind::Unit {
                units.push((line.uuid, line.state));
            }
        }
        Municipality {
            kommune,
            ndjson,
            entities,
            first_line,
            units,
        }
    }
}

/// About `count` `created` events of the organisation, sampled evenly over the whole stream so
/// their sizes mix the kinds as the real import does; CPR removed, as on the bus.
pub fn sample_events(kommune: Kommune, shape: Shape, total: u64, count: usize) -> Vec<OrgEvent> {
    let every = usize::try_from(total).unwrap_or(usize::MAX) / count.max(1);
    let today = Utc::now().date_naive();
    shape
        .lines(kommune)
        .step_by(every.max(1))
        .take(count)
        .enumerate()
        .filter_map(|(i, line)| {
            let segment = parse_state(line.kind, line.state).ok()?;
            let mut timeline = Timeline::new();
            timeline.put(segment.validity, segment.attrs);
            let now = Utc::now();
            let head = DocumentHead {
                uuid: line.uuid,
                kind: line.kind,
                kommune,
                version: 1,
                registered_at: now,
            };
            Some(OrgEvent {
                id: Uuid::now_v7(),
                kommune,
                action: Action::Created,
                time: now,
                entity_version: 1,
                sequence: i as u64 + 1,
                traceparent: None,
                data: EntityDocument::new(head, false, timeline, today).without_sensitive(),
            })
        })
        .collect()
}
