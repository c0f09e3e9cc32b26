//! `POST /import?mode=partial|full`: an NDJSON stream of `{kind, uuid, state}` lines, read
//! line by line, applied in batches, no-ops skipped. `full` also ends the municipality's entities
//! that the file no longer has, by the rules of DESIGN §3: only entities that existed when the
//! import began and nobody wrote since (an [`Operation::End`] checks the version it saw), only of
//! kinds its token's source owns wholly (every kind for an unsourced token), and nothing at all
//! when a line was rejected or unreadable (`not_ended_because` says so). A sourced token's lines
//! are merge patches, like its `PUT`s (see [`super::sources`]).
//!
//! A stream of any length runs in bounded memory: a batch is read while the previous one is
//! written, a line over [`limits::MAX_IMPORT_LINE_BYTES`] is rejected without being held, refusals
//! are reported in full up to [`MAX_REJECTED_DETAILS`], and a full import records the UUIDs its
//! file named in the database, not in memory.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use orghub_contracts::api::{ImportSummary as Summary, RejectedLine};
use orghub_contracts::{Attrs, EntityKind, FieldError, Kommune, limits, parse_state};
use serde_json::Value;
use tokio_util::codec::{Decoder, FramedRead};
use uuid::Uuid;

use super::auth::{Caller, Need};
use super::error::ApiError;
use super::sources::{Guard, note_write, patch_op};
use super::{AppState, parse_kommune, traceparent};
use crate::store::{Operation, Outcome, WriteContext, WriteError};

const BATCH: usize = 500;
/// Rejected lines reported in full; more are only counted.
const MAX_REJECTED_DETAILS: usize = 1000;
const MAX_LINE: usize = limits::MAX_IMPORT_LINE_BYTES;

/// The import's counting, over the answer's type.
trait Tally {
    fn reject(&mut self, line: u64, uuid: Option<Uuid>, errors: Vec<FieldError>);
    fn merge(&mut self, read: Summary);
    fn count(&mut self, outcome: Outcome);
}

impl Tally for Summary {
    fn reject(&mut self, line: u64, uuid: Option<Uuid>, errors: Vec<FieldError>) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_REJECTED_DETAILS {
            self.rejected.push(RejectedLine { line, uuid, errors });
        }
    }

    /// Adds what reading the body counted; refusals end up in line order.
    fn merge(&mut self, read: Summary) {
        self.lines += read.lines;
        self.rejected_count += read.rejected_count;
        self.rejected.extend(read.rejected);
        self.rejected.sort_by_key(|r| r.line);
        self.rejected.truncate(MAX_REJECTED_DETAILS);
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Terminated => self.terminated += 1,
            Outcome::Deleted => self.deleted += 1,
        }
    }
}

fn write_error_fields(e: WriteError) -> Vec<FieldError> {
    match e {
        WriteError::Integrity(es) => es.into_iter().map(|e| e.under("/state")).collect(),
        WriteError::Dependents { dependents, .. } => vec![FieldError::new(
            "",
            format!(
                "still referenced by {}",
                dependents
                    .iter()
                    .map(|(k, u)| format!("{k} {u}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )],
        other => vec![FieldError::new("", other.to_string())],
    }
}

/// One line of the stream as [`NdjsonLines`] reads it.
enum Line {
    Text(String),
    /// Longer than [`MAX_LINE`]: dropped as it arrived, never held whole.
    TooLong,
    NotUtf8,
}

/// Splits a body into lines of at most [`MAX_LINE`] bytes. Unlike `LinesCodec`, a longer line is
/// one refused line and reading goes on after it (a codec error would end the stream and lose
/// the lines after it).
#[derive(Debug, Default)]
struct NdjsonLines {
    /// Where to look for the next newline (what is before it was searched already).
    searched: usize,
    /// Within a line over the limit: drop bytes up to its newline.
    discarding: bool,
}

impl NdjsonLines {
    fn line(&mut self, bytes: &[u8]) -> Line {
        if std::mem::take(&mut self.discarding) {
            return Line::TooLong;
        }
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => Line::Text(text.to_owned()),
            Err(_) => Line::NotUtf8,
        }
    }
}

impl Decoder for NdjsonLines {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(
        &mut self,
        buf: &mut tokio_util::bytes::BytesMut,
    ) -> Result<Option<Line>, std::io::Error> {
        loop {
            let until = buf.len().min(MAX_LINE + 1);
            match buf[self.searched.min(until)..until]
                .iter()
                .position(|b| *b == b'\n')
            {
                Some(offset) => {
                    let end = self.searched + offset;
                    self.searched = 0;
                    let line = buf.split_to(end + 1);
                    return Ok(Some(self.line(&line[..end])));
                }
                // Over the limit without a newline: drop what was searched (what follows may
                // already be the next lines) and look on.
                None if until > MAX_LINE => {
                    let _ = buf.split_to(until);
                    self.searched = 0;
                    self.discarding = true;
                }
                None => {
                    self.searched = until;
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(
        &mut self,
        buf: &mut tokio_util::bytes::BytesMut,
    ) -> Result<Option<Line>, std::io::Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        self.searched = 0;
        if buf.is_empty() && !self.discarding {
            return Ok(None);
        }
        let rest = buf.split_to(buf.len());
        Ok(Some(self.line(&rest)))
    }
}

/// A refused line: the UUID when it could be read, and what is wrong.
type LineError = (Option<Uuid>, Vec<FieldError>);

fn parse_line(text: &str) -> Result<(EntityKind, Uuid, Value), LineError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| (None, vec![FieldError::new("", format!("not JSON: {e}"))]))?;
    let Value::Object(mut obj) = value else {
        return Err((
            None,
            vec![FieldError::new(
                "",
                "a line must be a JSON object {kind, uuid, state}",
            )],
        ));
    };
    let uuid = obj
        .get("uuid")
        .and_then(Value::as_str)
        .and_then(|u| Uuid::parse_str(u).ok());
    let fail = |p: &str, d: &str| (uuid, vec![FieldError::new(p, d)]);
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| EntityKind::from_word(k).or_else(|| EntityKind::from_path(k)))
        .ok_or_else(|| fail("/kind", "missing or unknown kind"))?;
    let uuid = uuid.ok_or_else(|| fail("/uuid", "missing or not a UUID"))?;
    let state = obj
        .remove("state")
        .ok_or_else(|| fail("/state", "is required"))?;
    Ok((kind, uuid, state))
}

/// Parsed operations of up to [`BATCH`] lines, with their line numbers, and (for a full import)
/// the UUIDs of every line read since the previous batch, refused ones included.
#[derive(Default)]
struct Batch {
    ops: Vec<Operation>,
    lines: Vec<u64>,
    seen: Vec<Uuid>,
}

impl Batch {
    fn is_full(&self) -> bool {
        self.ops.len() >= BATCH || self.seen.len() >= 4 * BATCH
    }
}

/// Applies one batch in one transaction and counts its outcomes; a full import (`import`) first
/// records the UUIDs the batch named.
async fn apply_batch(
    state: &AppState,
    kommune: Kommune,
    ctx: &WriteContext,
    import: Option<Uuid>,
    batch: Batch,
    summary: &mut Summary,
) -> Result<(), ApiError> {
    if let Some(import) = import {
        state.store.import_saw(import, &batch.seen).await?;
    }
    if batch.ops.is_empty() {
        return Ok(());
    }
    let uuids: Vec<Uuid> = batch.ops.iter().map(Operation::uuid).collect();
    let results = state.store.apply_each(kommune, &batch.ops, ctx).await?;
    let mut written = 0;
    for ((result, line), uuid) in results.into_iter().zip(batch.lines).zip(uuids) {
        match result {
            Ok(r) => {
                written += u64::from(r.outcome.changed());
                summary.count(r.outcome);
            }
            Err(e) => summary.reject(line, Some(uuid), write_error_fields(e)),
        }
    }
    state.metrics.events_written.inc_by(written);
    Ok(())
}

/// What reading the body found: lines and refusals of parsing.
#[derive(Default)]
struct Read {
    summary: Summary,
}

/// Whether an operation writes a CPR number (a person's state or patch that carries one).
fn carries_cpr(op: &Operation) -> bool {
    match op {
        Operation::Put { state, .. } => matches!(&state.attrs, Attrs::Person(p) if p.cpr.is_some()),
        Operation::Patch {
            kind: EntityKind::Person,
            patch,
            ..
        } => patch.get("cpr").is_some_and(|v| !v.is_null()),
        _ => false,
    }
}

/// Reads and validates the NDJSON body line by line and hands over a batch every [`BATCH`]
/// valid lines. Runs as a task of its own, so that the next batch is parsed while the previous
/// one is in the database. `full`: batches carry the UUIDs the lines name. `cpr_denied`: the
/// scope the token lacks to write CPR numbers (lines with one are refused), if it does.
async fn read_body(
    body: Body,
    full: bool,
    guard: Option<Guard>,
    cpr_denied: Option<String>,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> Result<Read, ApiError> {
    let reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let mut lines = FramedRead::new(reader, NdjsonLines::default());
    let mut read = Read::default();
    let mut batch = Batch::default();
    let mut line_no = 0u64;
    while let Some(line) = lines.next().await {
        line_no += 1;
        let text = match line {
            Ok(Line::Text(text)) => text,
            Ok(Line::TooLong) => {
                read.summary.reject(
                    line_no,
                    None,
                    vec![FieldError::new(
                        "",
                        format!("line longer than {MAX_LINE} bytes"),
                    )],
                );
                continue;
            }
            Ok(Line::NotUtf8) => {
                read.summary.reject(
                    line_no,
                    None,
                    vec![FieldError::new("", "line is not UTF-8")],
                );
                continue;
            }
            Err(e) => {
                return Err(ApiError::BadRequest {
                    detail: format!("reading the body failed after line {}: {e}", line_no - 1),
                });
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        read.summary.lines += 1;
        match parse_line(&text) {
            Err((uuid, errors)) => read.summary.reject(line_no, uuid, errors),
            Ok((kind, uuid, value)) => {
                if full {
                    batch.seen.push(uuid);
                }
                let op = match &guard {
                    // A sourced token changes only what its source owns (DESIGN §2).
                    Some(guard) => patch_op(kind, uuid, value, Some(guard)).map_err(|e| match e {
                        ApiError::Validation(errors) => errors,
                        other => vec![FieldError::new("", other.to_string())],
                    }),
                    None => {
                        parse_state(kind, value).map(|state| Operation::Put { kind, uuid, state })
                    }
                };
                match op {
                    Err(errors) => read.summary.reject(
                        line_no,
                        Some(uuid),
                        errors.into_iter().map(|e| e.under("/state")).collect(),
                    ),
                    Ok(op)
                        if let Some(scope) = &cpr_denied
                            && carries_cpr(&op) =>
                    {
                        read.summary.reject(
                            line_no,
                            Some(uuid),
                            vec![FieldError::new(
                                "/state/cpr",
                                format!(
                                    "writing a CPR number needs the scope {scope}, which the \
                                     token lacks"
                                ),
                            )],
                        );
                    }
                    Ok(op) => {
                        batch.ops.push(op);
                        batch.lines.push(line_no);
                    }
                }
            }
        }
        if batch.is_full() && batches.send(std::mem::take(&mut batch)).await.is_err() {
            // The writing side stopped (a store failure): it reports why.
            return Ok(read);
        }
    }
    if !batch.ops.is_empty() || !batch.seen.is_empty() {
        let _ = batches.send(batch).await;
    }
    Ok(read)
}

pub async fn post_import(
    State(state): State<AppState>,
    Path(kommune): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let kommune = parse_kommune(&kommune)?;
    caller.require(Need::Write(kommune))?;
    let full = match q.get("mode").map(String::as_str) {
        None | Some("partial") => false,
        Some("full") => true,
        Some(other) => {
            return Err(ApiError::BadRequest {
                detail: format!("mode={other:?}: expected partial or full"),
            });
        }
    };
    let ctx = WriteContext {
        actor: caller.actor.clone(),
        note: Some(if full { "full import" } else { "import" }.into()),
        traceparent: traceparent(&headers),
        keeps_cpr: !caller.allows(Need::Cpr(kommune)),
        source: caller.source.clone(),
    };
    let guard = Guard::of(&state, &caller, kommune).await?;
    let import = if full {
        let (id, began) = state.store.import_begin(kommune).await?;
        Some(FullImport {
            id,
            began,
            kinds: guard
                .as_ref()
                .map(|g| g.ownership.kinds_owned_wholly(&g.source)),
        })
    } else {
        None
    };
    // Writing a CPR number needs `cpr:<k>`: without it, lines that carry one are refused.
    let cpr_denied = (!caller.allows(Need::Cpr(kommune))).then(|| format!("cpr:{kommune}"));
    let result = import_stream(
        &state,
        kommune,
        &ctx,
        import.as_ref(),
        guard,
        cpr_denied,
        body,
    )
    .await;
    if let Some(import) = &import
        && let Err(e) = state.store.import_end(import.id).await
    {
        tracing::warn!(error = %e, import = %import.id, "could not clear a full import's record; a later import will");
    }
    let summary = result?;
    note_write(&state, &caller, kommune, summary.changed() > 0).await;
    if let (Some(source), true) = (&caller.source, full) {
        let mut shown = serde_json::to_value(&summary).unwrap_or_default();
        // The counts, not the refused lines in detail.
        if let Some(o) = shown.as_object_mut() {
            o.remove("rejected");
        }
        if let Err(e) = state.store.source_imported(kommune, source, shown).await {
            tracing::warn!(error = %e, %kommune, %source, "could not note a source's full import");
        }
    }
    Ok(Json(summary).into_response())
}

/// A full import under way (DESIGN §3).
struct FullImport {
    /// Its record of the UUIDs its file named.
    id: Uuid,
    /// The municipality's event-log position when it began.
    began: i64,
    /// The kinds it may end: those its token's source owns wholly (`None`: every kind).
    kinds: Option<Vec<EntityKind>>,
}

/// Reads and applies the stream; a full import (`import`) then ends what its file lacked,
/// unless a line was rejected or unreadable.
async fn import_stream(
    state: &AppState,
    kommune: Kommune,
    ctx: &WriteContext,
    import: Option<&FullImport>,
    guard: Option<Guard>,
    cpr_denied: Option<String>,
    body: Body,
) -> Result<Summary, ApiError> {
    // One batch may wait while the previous one is written: reading and validating overlap
    // with the database work, and memory stays bounded.
    let (batches, mut ready) = tokio::sync::mpsc::channel::<Batch>(1);
    let reader = tokio::spawn(read_body(
        body,
        import.is_some(),
        guard,
        cpr_denied,
        batches,
    ));
    let mut summary = Summary::default();
    let mut written = Ok(());
    while let Some(batch) = ready.recv().await {
        written = apply_batch(
            state,
            kommune,
            ctx,
            import.map(|i| i.id),
            batch,
            &mut summary,
        )
        .await;
        if written.is_err() {
            break;
        }
    }
    // Dropping the receiver stops the reader at its next batch.
    drop(ready);
    let read = reader.await.map_err(|e| ApiError::Internal(e.into()))?;
    written?;
    summary.merge(read?.summary);
    if let Some(import) = import {
        if summary.rejected_count > 0 {
            summary.not_ended_because = Some(format!(
                "{} line(s) of the file were rejected or unreadable: a full import ends nothing \
                 unless every line was applied, since an entity on a broken line would be ended",
                summary.rejected_count
            ));
        } else if import.kinds.as_ref().is_some_and(Vec::is_empty) {
            summary.not_ended_because = Some(format!(
                "the source {} owns no kind wholly in {kommune}: a sourced full import ends only \
                 entities of kinds its source owns wholly",
                ctx.source.as_deref().unwrap_or("")
            ));
        } else {
            end_absent(state, kommune, ctx, import, &mut summary).await?;
        }
    }
    Ok(summary)
}

/// Ends every entity the full file did not contain that existed when the import began, nobody
/// wrote since, and is of a kind the import may end: dependents first, units leaf-first
/// (repeated passes until no more progress).
async fn end_absent(
    state: &AppState,
    kommune: Kommune,
    ctx: &WriteContext,
    import: &FullImport,
    summary: &mut Summary,
) -> Result<(), ApiError> {
    let mut absent = state
        .store
        .import_absent(kommune, import.id, import.began, import.kinds.as_deref())
        .await?;
    // Referencing kinds before the kinds they reference, classes last: fewer rounds blocked by
    // dependents.
    let order = [
        EntityKind::Address,
        EntityKind::Kle,
        EntityKind::ItAccount,
        EntityKind::Manager,
        EntityKind::Association,
        EntityKind::Engagement,
        EntityKind::Person,
        EntityKind::Group,
        EntityKind::Unit,
        EntityKind::Class,
    ];
    absent.sort_by_key(|(k, _, _)| order.iter().position(|o| o == k));
    loop {
        let mut blocked = Vec::new();
        let mut progress = false;
        for chunk in absent.chunks(BATCH) {
            let ops: Vec<Operation> = chunk
                .iter()
                .map(|&(kind, uuid, version)| Operation::End {
                    kind,
                    uuid,
                    version,
                })
                .collect();
            let results = state.store.apply_each(kommune, &ops, ctx).await?;
            for (result, &(kind, uuid, version)) in results.into_iter().zip(chunk) {
                match result {
                    Ok(r) => {
                        progress = true;
                        state
                            .metrics
                            .events_written
                            .inc_by(u64::from(r.outcome.changed()));
                        if r.outcome.changed() {
                            summary.count(r.outcome);
                        }
                    }
                    Err(WriteError::Dependents { .. }) => blocked.push((kind, uuid, version)),
                    Err(e) => summary.reject(0, Some(uuid), write_error_fields(e)),
                }
            }
        }
        if blocked.is_empty() {
            return Ok(());
        }
        if !progress {
            for (_, uuid, _) in blocked {
                summary.reject(
                    0,
                    Some(uuid),
                    vec![FieldError::new(
                        "",
                        "absent from the full file but still referenced by entities the file keeps",
                    )],
                );
            }
            return Ok(());
        }
        absent = blocked;
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::bytes::BytesMut;
    use tokio_util::codec::Decoder;

    use super::{Line, MAX_LINE, NdjsonLines};

    fn lines(input: &[u8]) -> Vec<String> {
        let mut codec = NdjsonLines::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // Fed in small pieces, as a body arrives.
        for piece in input.chunks(4096) {
            buf.extend_from_slice(piece);
            while let Some(line) = codec.decode(&mut buf).expect("decodes") {
                out.push(line);
            }
        }
        while let Some(line) = codec.decode_eof(&mut buf).expect("decodes") {
            out.push(line);
        }
        out.into_iter()
            .map(|l| match l {
                Line::Text(t) => t,
                Line::TooLong => "<too long>".into(),
                Line::NotUtf8 => "<not utf-8>".into(),
            })
            .collect()
    }

    #[test]
    fn a_line_over_the_limit_is_one_refused_line_and_reading_goes_on() {
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("a\r\n{long}\nb\n{long}");
        assert_eq!(
            lines(input.as_bytes()),
            ["a", "<too long>", "b", "<too long>"]
        );
        let exactly = "y".repeat(MAX_LINE);
        assert_eq!(
            lines(format!("{exactly}\nc").as_bytes()),
            [exactly.as_str(), "c"]
        );
        assert_eq!(lines(b"\xff\xfe\nd\n"), ["<not utf-8>", "d"]);
    }
}
