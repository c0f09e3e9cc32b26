//! `orghubctl demo --clock 23:59:30`: the demo with the writer's clock set just before a
//! midnight Europe/Copenhagen (`ORGHUB_CLOCK_START`), showing one midnight transition: a person
//! who starts tomorrow becomes `effective`, one whose employment ends today `expired`, and the
//! subscriber's cache follows. Without `--clock` the demo is unchanged.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use orghub_contracts::Kommune;
use orghub_writer::clock::{Clock, copenhagen_date, midnight};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::CliError;

/// How far before a midnight `--clock` may start: the demo waits for it.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// Reads `--clock`: `HH:MM:SS` (today, Copenhagen time) or an RFC 3339 instant. The clock must
/// reach a midnight within [`MAX_WAIT`].
pub fn parse_clock(s: &str) -> Result<DateTime<Utc>, String> {
    let start = match NaiveTime::parse_from_str(s, "%H:%M:%S") {
        Ok(time) => {
            let today = copenhagen_date(Utc::now());
            chrono_tz::Europe::Copenhagen
                .from_local_datetime(&today.and_time(time))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| format!("{s} does not exist today in Copenhagen"))?
        }
        Err(_) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("{s:?} is neither HH:MM:SS nor an RFC 3339 instant"))?,
    };
    let until = (Clock::starting_at(start).next_midnight() - start)
        .to_std()
        .unwrap_or_default();
    if until > MAX_WAIT {
        return Err(format!(
            "{s} is {} min before the next midnight; the demo waits at most {} min (e.g. 23:59:30)",
            until.as_secs() / 60,
            MAX_WAIT.as_secs() / 60
        ));
    }
    Ok(start)
}

/// The two people whose `current` changes at the midnight.
#[derive(Debug, Clone, Copy)]
pub struct Planned {
    starts: Uuid,
    ends: Uuid,
    /// The day the midnight begins.
    day: NaiveDate,
}

/// Writes, before the midnight: a person starting on the coming day, and one whose validity ends
/// with today.
pub async fn plan(
    api: &str,
    token: &str,
    kommune: Kommune,
    clock: Clock,
) -> Result<Planned, CliError> {
    let day = clock
        .today()
        .checked_add_days(Days::new(1))
        .ok_or_else(|| CliError::usage("the clock is at the end of time"))?;
    let planned = Planned {
        starts: Uuid::new_v4(),
        ends: Uuid::new_v4(),
        day,
    };
    let client = reqwest::Client::new();
    for (uuid, state) in [
        (
            planned.starts,
            json!({"validity": {"from": day.to_string()}, "given_name": "Nanna", "surname": "Nystartet"}),
        ),
        (
            planned.ends,
            json!({"validity": {"from": "2020-01-01", "to": day.to_string()}, "given_name": "Frede", "surname": "Fratrådt"}),
        ),
    ] {
        let response = client
            .put(format!("{api}/api/v1/{kommune}/persons/{uuid}"))
            .bearer_auth(token)
            .json(&state)
            .send()
            .await
            .map_err(|e| anyhow!("the writer did not answer PUT persons: {e}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(CliError::Dependency(anyhow!(
                "PUT persons answered {status}: {body}"
            )));
        }
    }
    Ok(planned)
}

/// Waits for the midnight and its two events, then for the cache to hold them; prints what
/// happened. `Ok(false)`: the cache did not follow within `timeout`.
pub async fn show(
    hub: &PgPool,
    cache: &PgPool,
    clock: Clock,
    planned: Planned,
    timeout: Duration,
) -> Result<bool, CliError> {
    let until = (midnight(planned.day) - clock.now())
        .to_std()
        .unwrap_or_default();
    if !until.is_zero() {
        eprintln!(
            "    the writer's clock reads {}; midnight in {} s",
            clock
                .now()
                .with_timezone(&chrono_tz::Europe::Copenhagen)
                .format("%H:%M:%S"),
            until.as_secs()
        );
    }
    let deadline = Instant::now() + until + timeout;
    let events = loop {
        let rows: Vec<(Uuid, String, i64, String)> = sqlx::query_as(
            "SELECT entity, type, entity_version, body FROM event
             WHERE entity = ANY($1) AND (type LIKE '%.effective.v1' OR type LIKE '%.expired.v1')
             ORDER BY sequence",
        )
        .bind([planned.starts, planned.ends])
        .fetch_all(hub)
        .await
        .map_err(|e| anyhow!("cannot read the event log: {e}"))?;
        if rows.len() >= 2 {
            break rows;
        }
        if Instant::now() > deadline {
            return Err(CliError::Dependency(anyhow!(
                "no midnight transition within {timeout:?} after midnight"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (uuid, ty, version, body) in &events {
        let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let current = &body["data"]["current"];
        let shown = if current.is_null() {
            "null".to_owned()
        } else {
            format!(
                "{} {} from {}",
                current["given_name"].as_str().unwrap_or(""),
                current["surname"].as_str().unwrap_or(""),
                current["validity"]["from"].as_str().unwrap_or("")
            )
        };
        println!(
            "  midnight          {ty}  person {uuid}  entityversion {version}  current: {shown}"
        );
    }
    let want: Vec<(Uuid, i64)> = events.iter().map(|e| (e.0, e.2)).collect();
    let cache_deadline = Instant::now() + timeout;
    loop {
        let mut held = 0;
        for (uuid, version) in &want {
            let v: Option<i64> =
                sqlx::query_scalar("SELECT version FROM orghub_cache.entity WHERE uuid = $1")
                    .bind(uuid)
                    .fetch_optional(cache)
                    .await
                    .ok()
                    .flatten();
            if v == Some(*version) {
                held += 1;
            }
        }
        if held == want.len() {
            println!("  midnight cache    holds both transitions at their versions");
            return Ok(true);
        }
        if Instant::now() > cache_deadline {
            println!(
                "  midnight cache    holds {held} of {} transitions",
                want.len()
            );
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_far_from_midnight_is_refused_and_an_instant_just_before_is_taken() {
        assert!(parse_clock("2026-12-31T12:00:00+01:00").is_err());
        assert!(parse_clock("noon").is_err());
        let t = parse_clock("2026-12-31T23:59:30+01:00").expect("30 s before midnight");
        assert_eq!(
            copenhagen_date(t),
            NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")
        );
    }
}
