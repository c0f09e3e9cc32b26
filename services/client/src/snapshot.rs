//! Reading `GET /snapshot` (NDJSON: `{"sequence": W}`, then one entity document per line) as a
//! stream, in bounded memory: one line at a time, each at most [`MAX_SNAPSHOT_LINE`] bytes.
//!
//! The line limit is a contract check, not a buffer size: the writer refuses documents over
//! 256 KiB (DESIGN §2 *Limits*), so a longer line means the writer and this client disagree, and
//! reading the snapshot again would meet the same line. It is therefore a permanent error
//! ([`WriterError::LineTooLong`]), never a retry. A cut stream, a read that stalls, or a partial
//! last line are transient ([`WriterError::Unreachable`]).

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use orghub_contracts::api::SnapshotHead;
use serde_json::Value;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use crate::WriterError;

/// The longest snapshot line read: four times the writer's 256 KiB document limit (DESIGN §2),
/// margin for JSON escaping and a CPR-scoped reader, yet small enough that a broken writer
/// cannot make a reader buffer without bound.
pub const MAX_SNAPSHOT_LINE: usize = 1 << 20;

/// How long one line may take to arrive before the stream counts as stalled.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

type Body = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An open snapshot: its watermark, then its documents one by one.
pub struct Snapshot {
    /// The event-log sequence the documents are at: events after it are not in the snapshot.
    pub watermark: u64,
    url: String,
    lines: FramedRead<StreamReader<Body, Bytes>, LinesCodec>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("watermark", &self.watermark)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Reads the head line of a snapshot body; `url` (password redacted) names it in errors.
    pub async fn from_stream<S, E>(url: String, body: S) -> Result<Self, WriterError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let body: Body = Box::pin(body.map_err(std::io::Error::other));
        let mut snapshot = Snapshot {
            watermark: 0,
            url,
            lines: FramedRead::new(
                StreamReader::new(body),
                LinesCodec::new_with_max_length(MAX_SNAPSHOT_LINE),
            ),
        };
        let first = snapshot
            .next_line()
            .await?
            .ok_or_else(|| WriterError::Unreachable {
                url: snapshot.url.clone(),
                detail: "the snapshot ended before its first line".into(),
            })?;
        let head: SnapshotHead = serde_json::from_str(&first).map_err(|_| WriterError::Broken {
            url: snapshot.url.clone(),
            detail: format!("the first line is not {{\"sequence\": N}}: {first:.200}"),
        })?;
        snapshot.watermark = head.sequence;
        Ok(snapshot)
    }

    /// The next document as JSON (the caller reads it into its own types), or `None` at the end.
    pub async fn next_document(&mut self) -> Result<Option<Value>, WriterError> {
        loop {
            let Some(line) = self.next_line().await? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            // Only a cut stream ends in a partial line: worth reading again.
            return serde_json::from_str(&line)
                .map(Some)
                .map_err(|e| WriterError::Unreachable {
                    url: self.url.clone(),
                    detail: format!("a snapshot line is not JSON (a cut stream?): {e}"),
                });
        }
    }

    async fn next_line(&mut self) -> Result<Option<String>, WriterError> {
        let next = tokio::time::timeout(LINE_TIMEOUT, self.lines.next())
            .await
            .map_err(|_| WriterError::Unreachable {
                url: self.url.clone(),
                detail: format!("no snapshot line within {LINE_TIMEOUT:?}"),
            })?;
        match next {
            None => Ok(None),
            Some(Ok(line)) => Ok(Some(line)),
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => Err(WriterError::LineTooLong {
                url: self.url.clone(),
                limit: MAX_SNAPSHOT_LINE,
            }),
            Some(Err(LinesCodecError::Io(e))) => Err(WriterError::Unreachable {
                url: self.url.clone(),
                detail: crate::error_chain(&e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c))))
    }

    #[tokio::test]
    async fn documents_follow_the_watermark_line() {
        let text = b"{\"sequence\": 42}\n{\"uuid\": \"a\"}\n\n{\"uuid\": \"b\"}\n".to_vec();
        let mut s = Snapshot::from_stream("u".into(), body(vec![text]))
            .await
            .expect("opens");
        assert_eq!(s.watermark, 42);
        let mut uuids = Vec::new();
        while let Some(doc) = s.next_document().await.expect("reads") {
            uuids.push(doc["uuid"].as_str().unwrap_or_default().to_owned());
        }
        assert_eq!(uuids, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_a_permanent_error() {
        let mut huge = b"{\"sequence\": 1}\n{\"uuid\": \"".to_vec();
        huge.resize(huge.len() + MAX_SNAPSHOT_LINE, b'x');
        huge.extend_from_slice(b"\"}\n{\"uuid\": \"after\"}\n");
        // Delivered in small chunks, as a network would.
        let chunks = huge.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
        let mut s = Snapshot::from_stream("u".into(), body(chunks))
            .await
            .expect("opens");
        let e = s.next_document().await.expect_err("too long");
        assert!(matches!(e, WriterError::LineTooLong { .. }), "{e}");
        assert!(!e.is_transient());
        assert!(e.to_string().contains("longer than 1048576 bytes"), "{e}");
    }

    #[tokio::test]
    async fn a_line_at_the_limit_is_read() {
        let mut text = b"{\"sequence\": 1}\n{\"pad\": \"".to_vec();
        let doc_start = text.len() - b"{\"pad\": \"".len();
        text.resize(doc_start + MAX_SNAPSHOT_LINE - 2, b'x');
        text.extend_from_slice(b"\"}\n");
        let mut s = Snapshot::from_stream("u".into(), body(vec![text]))
            .await
            .expect("opens");
        assert!(s.next_document().await.expect("read").is_some());
    }

    #[tokio::test]
    async fn a_cut_stream_is_transient_and_a_missing_head_is_not() {
        let text = b"{\"sequence\": 1}\n{\"uuid\": \"a".to_vec();
        let mut s = Snapshot::from_stream("u".into(), body(vec![text]))
            .await
            .expect("opens");
        let e = s.next_document().await.expect_err("partial line");
        assert!(e.is_transient(), "{e}");

        let e = Snapshot::from_stream("u".into(), body(vec![b"{\"uuid\": \"a\"}\n".to_vec()]))
            .await
            .expect_err("no head");
        assert!(matches!(e, WriterError::Broken { .. }), "{e}");
        let e = Snapshot::from_stream("u".into(), body(vec![]))
            .await
            .expect_err("empty");
        assert!(e.is_transient(), "{e}");
    }
}
