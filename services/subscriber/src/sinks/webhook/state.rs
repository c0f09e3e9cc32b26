//! The webhook sink's version state: a journal file of one JSON line per delivered version,
//! compacted to one line per entity at start (written to a temporary file, synced, renamed).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::sinks::versions::{Held, Versions};

/// The journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
    pub versions: Versions,
    lines: usize,
}

impl Journal {
    /// Reads the journal (missing = empty), compacts it and opens it for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut versions = Versions::default();
        match std::fs::File::open(path) {
            Ok(file) => {
                for line in BufReader::new(file).split(b'\n') {
                    // A torn last line (a crash mid-append) is not an entry; the version it was
                    // about is sent again at most, which the receiver deduplicates.
                    if let Ok(held) = serde_json::from_slice::<Held>(&line?) {
                        versions.record(held);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let journal = Journal {
            path: path.to_owned(),
            file: compact(path, &versions)?,
            lines: versions.len(),
            versions,
        };
        journal.file.sync_all()?;
        Ok(journal)
    }

    /// Records the entries in memory and appends them durably.
    pub fn append(&mut self, entries: &[Held]) -> std::io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for h in entries {
            self.versions.record(*h);
            serde_json::to_writer(&mut buf, h)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.lines += entries.len();
        if self.lines > 2 * self.versions.len() + 10_000 {
            self.file = compact(&self.path, &self.versions)?;
            self.lines = self.versions.len();
        }
        Ok(())
    }
}

/// Writes one line per entity to `<path>.tmp`, syncs, renames it over `path`, and returns the new
/// file open for appending.
fn compact(path: &Path, versions: &Versions) -> std::io::Result<std::fs::File> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for h in versions.iter() {
            serde_json::to_writer(&mut out, h)?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    std::fs::OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orghub_contracts::{EntityKind, Kommune};
    use uuid::Uuid;

    fn held(n: u128, version: u64) -> Held {
        Held {
            uuid: Uuid::from_u128(n),
            version,
            kommune: Kommune::parse("751").expect("kommune"),
            kind: EntityKind::Person,
            sequence: version,
            deleted: false,
        }
    }

    #[test]
    fn the_journal_survives_a_reopen_compacted_to_one_line_per_entity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.jsonl");
        let mut j = Journal::open(&path).expect("open");
        j.append(&[held(1, 1), held(2, 1)]).expect("append");
        j.append(&[held(1, 2)]).expect("append");
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("f");
        f.write_all(b"{\"uuid\": \"torn").expect("torn");
        drop(f);
        let j = Journal::open(&path).expect("reopen");
        assert_eq!(j.versions.version(Uuid::from_u128(1)), Some(2));
        assert_eq!(j.versions.version(Uuid::from_u128(2)), Some(1));
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert_eq!(lines, 2);
    }
}
