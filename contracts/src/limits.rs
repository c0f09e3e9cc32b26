//! The hub's size limits (DESIGN §2 *Limits*), named once: the writer enforces them, clients and
//! tests can read them. Crossing one is a 413 (a body over its size) or a 422 (anything else),
//! never a 500, a hang or an out-of-memory.

/// Segments of one entity's valid-time timeline.
pub const MAX_SEGMENTS: usize = 1_000;
/// One entity document as JSON (its timeline, its `current` segment and its head).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The body of a `PUT`, `PATCH` or `terminate`.
pub const MAX_WRITE_BODY_BYTES: usize = 1024 * 1024;
/// The body of a `POST /changes`.
pub const MAX_CHANGES_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Operations in one `POST /changes`.
pub const MAX_CHANGES_OPERATIONS: usize = 10_000;
/// One line of a `POST /import` stream (longer lines are rejected, the rest is applied).
pub const MAX_IMPORT_LINE_BYTES: usize = 1024 * 1024;
/// Items of a list attribute (a manager's responsibilities).
pub const MAX_LIST_ITEMS: usize = 50;
/// Registrations per page of `GET /history` (default [`DEFAULT_HISTORY_PAGE`]).
pub const MAX_HISTORY_PAGE: usize = 100;
/// Registrations in a page of `GET /history` when the client does not say.
pub const DEFAULT_HISTORY_PAGE: usize = 50;

/// A bound on everything of an entity document but its segments: uuid, kind, kommune, version,
/// registered_at, deleted and the keys (about 200 bytes), with room to spare.
const DOCUMENT_HEAD_BYTES: usize = 512;

/// The size of an entity document as JSON, at most: its timeline (segments of `segment_bytes`
/// bytes in total, `segments` of them) plus its `current` segment (`current_bytes`) and head.
pub fn document_bytes(segment_bytes: usize, segments: usize, current_bytes: usize) -> usize {
    // `[` `]` and a comma between segments.
    let timeline = 2 + segment_bytes + segments.saturating_sub(1);
    timeline + current_bytes + DOCUMENT_HEAD_BYTES
}

/// The length of `value` serialised as compact JSON, counted without building it.
pub fn json_bytes<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        // Serialising attributes cannot fail (no maps with non-string keys); were it to, the
        // value would not be stored either.
        Err(_) => 0,
    }
}
