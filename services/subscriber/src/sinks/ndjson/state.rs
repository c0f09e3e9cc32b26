//! The NDJSON sink's version state: rebuilt from the events file at start.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use orghub_contracts::{EntityKind, EventType, Kommune};
use serde_json::Value;
use uuid::Uuid;

use crate::sinks::versions::{Held, Versions};

/// The versions held, and whether the file ends mid-line (a torn write).
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub versions: Versions,
    pub torn: bool,
    pub lines: u64,
    pub unreadable: u64,
}

/// Reads the file (missing = empty).
pub fn rebuild(path: &Path) -> std::io::Result<Rebuilt> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Rebuilt::default()),
        Err(e) => return Err(e),
    };
    let mut out = Rebuilt::default();
    if file.metadata()?.len() > 0 {
        file.seek(SeekFrom::End(-1))?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last)?;
        out.torn = last[0] != b'\n';
        file.seek(SeekFrom::Start(0))?;
    }
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.lines += 1;
        match held_of_line(&line) {
            Some(h) => out.versions.record(h),
            None => out.unreadable += 1,
        }
    }
    Ok(out)
}

/// The envelope attributes of one line; `None` if it is not an orghub CloudEvent.
fn held_of_line(line: &[u8]) -> Option<Held> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let ty = EventType::parse(v.get("type")?.as_str()?).ok()?;
    let number = |name: &str| -> Option<u64> {
        match v.get(name)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    let kind: EntityKind = ty.kind;
    Some(Held {
        uuid: Uuid::parse_str(v.get("subject")?.as_str()?).ok()?,
        version: number("entityversion")?,
        kommune: Kommune::parse(v.get("kommune")?.as_str()?).ok()?,
        kind,
        sequence: number("sequence").unwrap_or(0),
        deleted: ty.action == orghub_contracts::Action::Deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orghub_contracts::{Action, examples};
    use std::io::Write;

    #[test]
    fn the_newest_version_per_entity_is_rebuilt_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.ndjson");
        let created = examples::event(EventType {
            kind: EntityKind::Unit,
            action: Action::Created,
        });
        let mut updated = created.clone();
        updated.entity_version = 2;
        let mut f = std::fs::File::create(&path).expect("create");
        for e in [&updated, &created] {
            writeln!(f, "{}", e.to_json()).expect("write");
        }
        write!(f, "{{\"type\": \"dk.orghub.org.un").expect("write");
        drop(f);
        let rebuilt = rebuild(&path).expect("rebuild");
        assert_eq!(rebuilt.versions.version(created.subject()), Some(2));
        assert!(rebuilt.torn);
        assert_eq!((rebuilt.lines, rebuilt.unreadable), (3, 1));
        assert!(
            rebuild(&dir.path().join("missing"))
                .expect("empty")
                .versions
                .is_empty()
        );
    }
}
