//! `POST /import?mode=partial|full`: an NDJSON stream of `{kind, uuid, state}` lines, read
//! line by line (bounded memory), applied in batches, no-ops skipped. `full` also ends the
//! municipality's entities that the file no longer has.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use orghub_contracts::api::{ImportSummary as Summary, RejectedLine};
use orghub_contracts::{EntityKind, FieldError, Kommune, parse_state};
use serde_json::Value;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use uuid::Uuid;

use super::auth::{Caller, Need};
use super::error::ApiError;
use super::{AppState, parse_kommune, traceparent};
use crate::store::{Operation, Outcome, WriteContext, WriteError};

const BATCH: usize = 500;
/// Rejected lines reported in full; more are only counted.
const MAX_REJECTED_DETAILS: usize = 1000;
const MAX_LINE: usize = 1 << 20;

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

/// Parsed operations of up to [`BATCH`] lines, with their line numbers.
#[derive(Default)]
struct Batch {
    ops: Vec<Operation>,
    lines: Vec<u64>,
}

/// Applies one batch in one transaction and counts its outcomes.
async fn apply_batch(
    state: &AppState,
    kommune: Kommune,
    ctx: &WriteContext,
    batch: Batch,
    summary: &mut Summary,
) -> Result<(), ApiError> {
    if batch.ops.is_empty() {
        return Ok(());
    }
    let uuids: Vec<Uuid> = batch.ops.iter().map(Operation::uuid).collect();
    let results = state.store.apply_each(kommune, batch.ops, ctx).await?;
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

/// What reading the body found: lines, refusals of parsing, the UUIDs seen.
#[derive(Default)]
struct Read {
    summary: Summary,
    seen: HashSet<Uuid>,
}

/// Reads and validates the NDJSON body line by line and hands over a batch every [`BATCH`]
/// valid lines. Runs as a task of its own, so that the next batch is parsed while the previous
/// one is in the database.
async fn read_body(
    body: Body,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> Result<Read, ApiError> {
    let reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let mut lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE));
    let mut read = Read::default();
    let mut batch = Batch::default();
    let mut line_no = 0u64;
    while let Some(line) = lines.next().await {
        line_no += 1;
        let text = match line {
            Ok(text) => text,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
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
            Err(LinesCodecError::Io(e)) => {
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
                read.seen.insert(uuid);
                match parse_state(kind, value) {
                    Err(errors) => read.summary.reject(
                        line_no,
                        Some(uuid),
                        errors.into_iter().map(|e| e.under("/state")).collect(),
                    ),
                    Ok(segment) => {
                        batch.ops.push(Operation::Put {
                            kind,
                            uuid,
                            state: segment,
                        });
                        batch.lines.push(line_no);
                        if batch.ops.len() >= BATCH
                            && batches.send(std::mem::take(&mut batch)).await.is_err()
                        {
                            // The writing side stopped (a store failure): it reports why.
                            return Ok(read);
                        }
                    }
                }
            }
        }
    }
    if !batch.ops.is_empty() {
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
    };
    // One batch may wait while the previous one is written: reading and validating overlap
    // with the database work, and memory stays bounded.
    let (batches, mut ready) = tokio::sync::mpsc::channel::<Batch>(1);
    let reader = tokio::spawn(read_body(body, batches));
    let mut summary = Summary::default();
    let mut written = Ok(());
    while let Some(batch) = ready.recv().await {
        written = apply_batch(&state, kommune, &ctx, batch, &mut summary).await;
        if written.is_err() {
            break;
        }
    }
    // Dropping the receiver stops the reader at its next batch.
    drop(ready);
    let read = reader.await.map_err(|e| ApiError::Internal(e.into()))?;
    written?;
    let Read {
        summary: parsed,
        seen,
    } = read?;
    summary.merge(parsed);
    if full {
        end_absent(&state, kommune, &ctx, &seen, &mut summary).await?;
    }
    Ok(Json(summary).into_response())
}

/// Ends every live entity the full file did not contain: dependents first, units leaf-first
/// (repeated passes until no more progress).
async fn end_absent(
    state: &AppState,
    kommune: Kommune,
    ctx: &WriteContext,
    seen: &HashSet<Uuid>,
    summary: &mut Summary,
) -> Result<(), ApiError> {
    let today = crate::store::today();
    let mut absent = state.store.live_uuids_except(kommune, seen).await?;
    let order = [
        EntityKind::Address,
        EntityKind::Kle,
        EntityKind::ItAccount,
        EntityKind::Manager,
        EntityKind::Engagement,
        EntityKind::Person,
        EntityKind::Unit,
    ];
    absent.sort_by_key(|(k, _)| order.iter().position(|o| o == k));
    loop {
        let mut blocked = Vec::new();
        let mut progress = false;
        for chunk in absent.chunks(BATCH) {
            let mut ops = Vec::with_capacity(chunk.len());
            for (kind, uuid) in chunk {
                let entity = state.store.get(kommune, *kind, *uuid, None).await?;
                let starts = entity.and_then(|e| e.timeline.span()).map(|s| s.from);
                ops.push(match starts {
                    Some(from) if from < today => Operation::Terminate {
                        kind: *kind,
                        uuid: *uuid,
                        to: today,
                    },
                    _ => Operation::Delete {
                        kind: *kind,
                        uuid: *uuid,
                    },
                });
            }
            let results = state.store.apply_each(kommune, ops, ctx).await?;
            for (result, (kind, uuid)) in results.into_iter().zip(chunk) {
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
                    Err(WriteError::Dependents { .. }) => blocked.push((*kind, *uuid)),
                    Err(e) => summary.reject(0, Some(*uuid), write_error_fields(e)),
                }
            }
        }
        if blocked.is_empty() {
            return Ok(());
        }
        if !progress {
            for (_, uuid) in blocked {
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
