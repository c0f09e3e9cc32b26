//! `orghubctl status [--check]`: event-log lag and the relay holder from PostgreSQL, and every
//! subscriber's queues from the management API.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use orghub_broker::SubscriberName;
use orghub_broker::mgmt::{Management, QueueInfo};
use orghub_runtime::redact_url;
use orghub_writer::relay::RELAY_LOCK_KEY;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, Row as _};

use crate::dead_letters::FAILED_AT;
use crate::error::CliError;
use crate::settings::Settings;
use crate::table::{Table, age, or_dash, print_json};

const DB_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check thresholds and exit with code 3 when one is exceeded, naming it (for cron and
    /// monitoring).
    #[arg(long)]
    pub check: bool,
    /// With --check: the most unpublished events the event log may hold [default: no limit].
    #[arg(long, value_name = "N", requires = "check")]
    pub max_lag_events: Option<u64>,
    /// With --check: the oldest unpublished event's greatest allowed age, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300.0,
        requires = "check"
    )]
    pub max_lag_seconds: f64,
    /// With --check: the most dead letters any subscriber's DLQ may hold.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "check")]
    pub max_dlq: u64,
}

/// Everything `status` reports.
#[derive(Debug, Serialize)]
pub struct Status {
    pub vhost: String,
    pub event_log: EventLog,
    pub subscribers: Vec<SubscriberQueues>,
    /// With `--check`: what exceeded its threshold (empty: all fine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exceeded: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct EventLog {
    /// Events not yet confirmed by the broker.
    pub unpublished: i64,
    /// Age of the oldest unpublished event.
    pub oldest_unpublished_seconds: Option<f64>,
    /// The session holding the relay lock, `None` when no relay runs.
    pub relay: Option<RelayHolder>,
    /// Municipalities with unpublished events, most behind first.
    pub behind: Vec<Behind>,
    /// Municipalities the relay halted at an event it cannot publish (the others go on).
    pub halted: Vec<Halted>,
}

/// A municipality whose publishing waits at an event the broker refused (or that is too large,
/// or unreadable); the relay retries it with backoff and resumes by itself once it is taken.
#[derive(Debug, Serialize)]
pub struct Halted {
    /// Kommunekode, four digits.
    pub kommune: String,
    pub name: String,
    /// The event it waits at: every event before it is published, none after it.
    pub sequence: i64,
    pub event_id: Option<String>,
    /// `refused`, `too-large` or `unreadable` (the metric's `reason` label).
    pub kind: String,
    /// What happened and what to look at.
    pub reason: String,
    pub since: DateTime<Utc>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

/// One municipality's unpublished part of the event log.
#[derive(Debug, Serialize)]
pub struct Behind {
    /// Kommunekode, four digits.
    pub kommune: String,
    pub name: String,
    /// Its last sequence minus the relay's position.
    pub unpublished: i64,
    /// The relay's position: every event up to this sequence was confirmed by the broker.
    pub published_through: i64,
    pub oldest_unpublished_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct RelayHolder {
    /// `orghub-relay@host:pid` of the writer process.
    pub application_name: String,
    /// PostgreSQL backend pid of the session.
    pub backend_pid: i32,
    pub client_addr: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// One subscriber's queues. `None` where the queue does not exist (yet).
#[derive(Debug, Default, Serialize)]
pub struct SubscriberQueues {
    pub name: String,
    pub ready: Option<u64>,
    pub unacked: Option<u64>,
    pub consumers: Option<u64>,
    /// Retry wait queues by delay (`5s`, `1m`, ...) with their depth.
    pub retry: BTreeMap<String, u64>,
    pub dlq: Option<u64>,
    pub parked: Option<u64>,
    /// When the dead letter at the head of the DLQ failed, and how long ago.
    pub oldest_dead_letter_at: Option<String>,
    pub oldest_dead_letter_seconds: Option<f64>,
}

pub async fn run(args: Args, settings: &Settings) -> Result<(), CliError> {
    let vhost = settings.vhost()?;
    let mgmt = settings.management()?;
    let event_log = event_log(&settings.database_url).await?;
    let subscribers = subscriber_queues(&mgmt, &vhost, true).await?;
    let exceeded = args
        .check
        .then(|| thresholds(&args, &event_log, &subscribers));
    let status = Status {
        vhost,
        event_log,
        subscribers,
        exceeded,
    };
    if settings.json {
        print_json(&status);
    } else {
        print_human(&status);
    }
    match status.exceeded {
        Some(exceeded) if !exceeded.is_empty() => Err(CliError::Thresholds(exceeded)),
        _ => Ok(()),
    }
}

fn thresholds(args: &Args, log: &EventLog, subscribers: &[SubscriberQueues]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(max) = args.max_lag_events
        && log.unpublished > i64::try_from(max).unwrap_or(i64::MAX)
    {
        out.push(format!(
            "event log: {} unpublished events (max {max})",
            log.unpublished
        ));
    }
    if let Some(age_s) = log.oldest_unpublished_seconds
        && age_s > args.max_lag_seconds
    {
        out.push(format!(
            "event log: oldest unpublished event is {} old (max {}s)",
            age(age_s),
            args.max_lag_seconds
        ));
    }
    for h in &log.halted {
        out.push(format!(
            "event log: {} {} halted at sequence {} ({})",
            h.kommune, h.name, h.sequence, h.kind
        ));
    }
    for s in subscribers {
        if let Some(dlq) = s.dlq
            && dlq > args.max_dlq
        {
            out.push(format!(
                "subscriber {}: {dlq} dead letters in sub.{}.dlq (max {})",
                s.name, s.name, args.max_dlq
            ));
        }
    }
    out
}

/// Unpublished count, oldest age and the relay holder, from the hub's database.
pub async fn event_log(database_url: &str) -> Result<EventLog, CliError> {
    let shown = redact_url(database_url);
    let mut conn = tokio::time::timeout(DB_TIMEOUT, PgConnection::connect(database_url))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {DB_TIMEOUT:?}"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| format!("cannot connect to PostgreSQL at {shown}"))?;
    let row = sqlx::query(orghub_writer::store::RELAY_LAG_SQL)
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("reading the event log at {shown}"))?;
    let unpublished: i64 = row.try_get("n").context("reading the event log")?;
    let oldest: Option<f64> = row.try_get("age").context("reading the event log")?;
    let behind = sqlx::query(
        "SELECT m.code, m.name, m.last_sequence - coalesce(r.published_through, 0) AS unpublished,
                coalesce(r.published_through, 0) AS published_through,
                EXTRACT(EPOCH FROM now() - e.created_at)::float8 AS age
         FROM municipality m
         LEFT JOIN relay_position r ON r.kommune = m.code
         LEFT JOIN event e ON e.kommune = m.code
                          AND e.sequence = coalesce(r.published_through, 0) + 1
         WHERE m.last_sequence > coalesce(r.published_through, 0)
         ORDER BY unpublished DESC, m.code",
    )
    .fetch_all(&mut conn)
    .await
    .with_context(|| format!("reading the relay's positions at {shown}"))?
    .into_iter()
    .map(|r| -> Result<Behind, sqlx::Error> {
        Ok(Behind {
            kommune: format!("{:04}", r.try_get::<i32, _>("code")?),
            name: r.try_get("name")?,
            unpublished: r.try_get("unpublished")?,
            published_through: r.try_get("published_through")?,
            oldest_unpublished_seconds: r.try_get("age")?,
        })
    })
    .collect::<Result<Vec<_>, _>>()
    .context("reading the relay's positions")?;
    let halted = halted(&mut conn)
        .await
        .with_context(|| format!("reading the relay's halts at {shown}"))?;
    // A session advisory lock on a bigint key is listed with the key's high half as classid,
    // the low half as objid and objsubid 1. pg_locks covers every database: keep ours only.
    let relay = sqlx::query(
        "SELECT a.application_name, a.pid, host(a.client_addr) AS client_addr, a.backend_start
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.classid::bigint = $1 AND l.objid::bigint = $2
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY a.backend_start LIMIT 1",
    )
    .bind(RELAY_LOCK_KEY >> 32)
    .bind(RELAY_LOCK_KEY & 0xffff_ffff)
    .fetch_optional(&mut conn)
    .await
    .with_context(|| format!("reading pg_locks at {shown}"))?;
    let relay = relay
        .map(|r| -> Result<RelayHolder, sqlx::Error> {
            Ok(RelayHolder {
                application_name: r
                    .try_get::<Option<String>, _>("application_name")?
                    .unwrap_or_default(),
                backend_pid: r.try_get("pid")?,
                client_addr: r.try_get("client_addr")?,
                since: r.try_get("backend_start")?,
            })
        })
        .transpose()
        .context("reading pg_stat_activity")?;
    let _ = conn.close().await;
    Ok(EventLog {
        unpublished,
        oldest_unpublished_seconds: oldest,
        relay,
        behind,
        halted,
    })
}

/// The relay's halted municipalities (none on a database the writer has not migrated yet).
async fn halted(conn: &mut PgConnection) -> Result<Vec<Halted>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('relay_halt') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query(
        "SELECT h.kommune, m.name, h.sequence, h.event_id::text AS event_id, h.kind, h.reason,
                h.since, h.attempts, h.next_attempt_at
         FROM relay_halt h JOIN municipality m ON m.code = h.kommune
         ORDER BY h.since, h.kommune",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Halted {
            kommune: format!("{:04}", r.try_get::<i32, _>("kommune")?),
            name: r.try_get("name")?,
            sequence: r.try_get("sequence")?,
            event_id: r.try_get("event_id")?,
            kind: r.try_get("kind")?,
            reason: r.try_get("reason")?,
            since: r.try_get("since")?,
            attempts: r.try_get("attempts")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
        })
    })
    .collect()
}

/// Every subscriber of the vhost with its queues' figures (the management API's, up to a stats
/// interval old). With `peek`, reads the head of each non-empty DLQ (and requeues it) for the
/// oldest dead letter's age.
pub async fn subscriber_queues(
    mgmt: &Management,
    vhost: &str,
    peek: bool,
) -> Result<Vec<SubscriberQueues>, CliError> {
    if mgmt.get_json(&["vhosts", vhost]).await?.is_none() {
        return Err(CliError::NotFound(format!(
            "vhost {vhost:?} does not exist at {}",
            mgmt.base_url()
        )));
    }
    let queues = mgmt.queues(vhost).await?;
    let mut by_name: BTreeMap<SubscriberName, SubscriberQueues> = BTreeMap::new();
    for q in &queues {
        let Some(name) = SubscriberName::of_queue(&q.name) else {
            continue;
        };
        let entry = by_name
            .entry(name.clone())
            .or_insert_with(|| SubscriberQueues {
                name: name.to_string(),
                ..SubscriberQueues::default()
            });
        apply(entry, &name, q);
    }
    let mut out: Vec<SubscriberQueues> = by_name.into_values().collect();
    if peek {
        for s in &mut out {
            if s.dlq.unwrap_or(0) == 0 {
                continue;
            }
            let queue = format!("sub.{}.dlq", s.name);
            // The age is a nicety: a failed peek must not fail the status (or --check).
            match peek_failed_at(mgmt, vhost, &queue).await {
                Ok(Some(at)) => {
                    s.oldest_dead_letter_seconds =
                        Some((Utc::now() - at).num_milliseconds() as f64 / 1000.0);
                    s.oldest_dead_letter_at = Some(at.to_rfc3339());
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(queue, error = %e, "cannot read the oldest dead letter"),
            }
        }
    }
    Ok(out)
}

fn apply(entry: &mut SubscriberQueues, name: &SubscriberName, q: &QueueInfo) {
    if q.name == name.queue() {
        entry.ready = Some(q.messages_ready);
        entry.unacked = Some(q.messages_unacknowledged);
        entry.consumers = Some(q.consumers);
    } else if q.name == name.dlq() {
        entry.dlq = Some(q.messages);
    } else if q.name == name.parked() {
        entry.parked = Some(q.messages);
    } else if let Some(delay) = q.name.strip_prefix(&name.retry_prefix()) {
        entry.retry.insert(delay.to_owned(), q.messages);
    }
}

/// When the dead letter at the head of `queue` failed: read through the management API with
/// `ack_requeue_true`, so it goes back to the queue.
async fn peek_failed_at(
    mgmt: &Management,
    vhost: &str,
    queue: &str,
) -> Result<Option<DateTime<Utc>>, CliError> {
    let body =
        json!({"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 1});
    let answer = mgmt
        .post_json(&["queues", vhost, queue, "get"], &body)
        .await?;
    let Some(headers) = answer
        .as_ref()
        .and_then(|a| a.get(0))
        .and_then(|m| m.pointer("/properties/headers"))
    else {
        return Ok(None);
    };
    let from_header = headers
        .get(FAILED_AT)
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let from_death = || {
        headers
            .pointer("/x-death/0/time")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
    };
    Ok(from_header.or_else(from_death))
}

fn print_human(status: &Status) {
    let log = &status.event_log;
    println!("vhost      {}", status.vhost);
    match log.oldest_unpublished_seconds {
        Some(s) if log.unpublished > 0 => println!(
            "event log  {} unpublished, oldest {} old",
            log.unpublished,
            age(s)
        ),
        _ => println!("event log  all published"),
    }
    // The municipalities behind, most first (a few; --json has them all).
    const SHOWN: usize = 5;
    for b in log.behind.iter().take(SHOWN) {
        println!(
            "           {} {}: {} unpublished after sequence {}{}",
            b.kommune,
            b.name,
            b.unpublished,
            b.published_through,
            b.oldest_unpublished_seconds
                .map(|s| format!(", oldest {} old", age(s)))
                .unwrap_or_default()
        );
    }
    if log.behind.len() > SHOWN {
        println!(
            "           … and {} more municipalities",
            log.behind.len() - SHOWN
        );
    }
    for h in &log.halted {
        println!(
            "halted     {} {}: waits at sequence {} since {} ({} tries, next {}): {}",
            h.kommune,
            h.name,
            h.sequence,
            h.since.format("%Y-%m-%d %H:%M:%S UTC"),
            h.attempts,
            h.next_attempt_at.format("%H:%M:%S UTC"),
            h.reason
        );
    }
    match &log.relay {
        Some(r) => println!(
            "relay      {} (backend pid {}{})",
            r.application_name,
            r.backend_pid,
            r.since
                .map(|t| format!(", since {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                .unwrap_or_default()
        ),
        None => println!("relay      none"),
    }
    println!();
    if status.subscribers.is_empty() {
        println!("no subscribers (no sub.<name> queues in this vhost)");
    } else {
        let mut table = Table::new(&[
            "SUBSCRIBER",
            "READY",
            "UNACKED",
            "CONSUMERS",
            "RETRY",
            "DLQ",
            "PARKED",
            "OLDEST DEAD LETTER",
        ]);
        for s in &status.subscribers {
            let retry = if s.retry.is_empty() {
                "-".to_owned()
            } else {
                s.retry
                    .iter()
                    .map(|(delay, n)| format!("{delay}:{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            table.row(vec![
                s.name.clone(),
                or_dash(s.ready),
                or_dash(s.unacked),
                or_dash(s.consumers),
                retry,
                or_dash(s.dlq),
                or_dash(s.parked),
                or_dash(s.oldest_dead_letter_seconds.map(age)),
            ]);
        }
        table.print();
    }
    if let Some(exceeded) = &status.exceeded
        && exceeded.is_empty()
    {
        println!("\ncheck      ok");
    }
}
