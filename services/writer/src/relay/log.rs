//! Reading the event log for the relay: the stored positions, which municipalities have
//! something to send, and their next events as AMQP messages.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orghub_contracts::{AmqpMessage, EventType, Kommune, StoredEvent};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// One event to publish.
pub struct Outgoing {
    pub kommune: i32,
    pub sequence: i64,
    pub id: Option<Uuid>,
    /// The message, or why the stored row cannot become one (a poison that halts its
    /// municipality instead of the relay).
    pub message: Result<AmqpMessage, String>,
}

/// What to read of one municipality: its events after `after`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub kommune: i32,
    pub after: i64,
    pub limit: i64,
}

/// The stored positions, read when the relay takes the lock.
pub async fn positions(conn: &mut PgConnection) -> Result<HashMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT kommune, published_through FROM relay_position")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Every municipality's last sequence (those with any event).
pub async fn last_sequences(conn: &mut PgConnection) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT code, last_sequence FROM municipality WHERE last_sequence > 0")
        .fetch_all(&mut *conn)
        .await
}

/// The next events of each wanted municipality, in sequence order per municipality (and by
/// sequence across them, so each municipality's share of a batch is spread over it).
pub async fn fetch(conn: &mut PgConnection, wants: &[Want]) -> Result<Vec<Outgoing>, sqlx::Error> {
    let kommuner: Vec<i32> = wants.iter().map(|w| w.kommune).collect();
    let after: Vec<i64> = wants.iter().map(|w| w.after).collect();
    let limits: Vec<i64> = wants.iter().map(|w| w.limit).collect();
    let rows = sqlx::query(
        "SELECT e.*
         FROM UNNEST($1::int[], $2::bigint[], $3::bigint[]) AS p(kommune, after, lim)
         CROSS JOIN LATERAL (
             SELECT kommune, sequence, id, type, entity, entity_version, event_time, traceparent,
                    origin, body
             FROM event
             WHERE kommune = p.kommune AND sequence > p.after
             ORDER BY sequence LIMIT p.lim) AS e
         ORDER BY e.sequence, e.kommune",
    )
    .bind(&kommuner)
    .bind(&after)
    .bind(&limits)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let kommune: i32 = row.try_get("kommune")?;
        let sequence: i64 = row.try_get("sequence")?;
        let id: Option<Uuid> = row.try_get("id").ok();
        let message = message(&row, kommune, sequence);
        out.push(Outgoing {
            kommune,
            sequence,
            id,
            message,
        });
    }
    Ok(out)
}

/// The AMQP message of a stored event, from its columns (or its body, for rows written before
/// the columns existed).
fn message(
    row: &sqlx::postgres::PgRow,
    kommune: i32,
    sequence: i64,
) -> Result<AmqpMessage, String> {
    let body: String = row.try_get("body").map_err(|e| e.to_string())?;
    match stored_event(row, kommune, sequence)? {
        Some((stored, traceparent, origin)) => Ok(AmqpMessage::from_stored(
            &StoredEvent {
                traceparent: traceparent.as_deref(),
                origin: origin.as_deref(),
                ..stored
            },
            body.into_bytes(),
        )),
        // Written before the columns existed: the body says it all.
        None => AmqpMessage::from_structured_body(body.into_bytes())
            .map_err(|e| format!("not a valid envelope: {e}")),
    }
}

/// The event's attributes from its row's columns (`None` for a row without `event_time`), and
/// its traceparent and origin.
type StoredRow = (StoredEvent<'static>, Option<String>, Option<String>);

fn stored_event(
    row: &sqlx::postgres::PgRow,
    kommune: i32,
    sequence: i64,
) -> Result<Option<StoredRow>, String> {
    let column = |e: sqlx::Error| e.to_string();
    let Some(time) = row
        .try_get::<Option<DateTime<Utc>>, _>("event_time")
        .map_err(column)?
    else {
        return Ok(None);
    };
    let event_type =
        EventType::parse(row.try_get("type").map_err(column)?).map_err(|e| format!("type: {e}"))?;
    let kommune_code = u16::try_from(kommune)
        .ok()
        .and_then(Kommune::from_code)
        .ok_or_else(|| format!("unknown kommune {kommune}"))?;
    let stored = StoredEvent {
        id: row.try_get("id").map_err(column)?,
        event_type,
        kommune: kommune_code,
        subject: row.try_get("entity").map_err(column)?,
        entity_version: u64::try_from(row.try_get::<i64, _>("entity_version").map_err(column)?)
            .map_err(|_| "negative entity_version".to_owned())?,
        sequence: u64::try_from(sequence).map_err(|_| "negative sequence".to_owned())?,
        time,
        traceparent: None,
        origin: None,
    };
    Ok(Some((
        stored,
        row.try_get("traceparent").map_err(column)?,
        row.try_get("origin").map_err(column)?,
    )))
}
