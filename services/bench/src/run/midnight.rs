//! Phase 6, midnight (DESIGN §4): a municipality of as many persons as the main one, 5 % of
//! them changing at one midnight (half start, half end), and the writer restarted with its
//! clock just after that midnight, so the transition runs at start-up while the main
//! municipality's units are renamed at the live rate. Measures the transitions per second of the
//! day itself (from the writer's `midnight_day` record), how soon the relay has published them,
//! and the live latency meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    Hubs, MIDNIGHT, Plan, Renames, collect, convergence_deadline, install_trigger, kommune, listen,
    run_puts, start_writer_at,
};
use crate::env::with_application;
use crate::hub::CACHE_SCHEMA;
use crate::report::{Midnight, Rate};
use crate::workload::Municipality;

/// The import of the phase's persons: 5 % change at `day` (even ones start, odd ones end).
fn persons(kommune: u16, n: u64, day: NaiveDate) -> (Vec<u8>, u64) {
    let changing = (n / 20).max(1);
    let mut body = Vec::new();
    for i in 0..n {
        let validity = if i >= changing {
            json!({"from": "2020-01-01"})
        } else if i % 2 == 0 {
            json!({"from": day.to_string()})
        } else {
            json!({"from": "2020-01-01", "to": day.to_string()})
        };
        let uuid = Uuid::from_u128(
            0x0000_0000_0000_4000_8000_0000_0000_0000 | (u128::from(kommune) << 40) | u128::from(i),
        );
        let line = json!({"kind": "person", "uuid": uuid, "state": {"validity": validity, "given_name": format!("Person {i}"), "surname": "Midnat"}});
        body.extend_from_slice(line.to_string().as_bytes());
        body.push(b'\n');
    }
    (body, changing)
}

pub(super) async fn run(
    h: &mut Hubs<'_>,
    main: &Municipality,
    plan: &Plan,
) -> anyhow::Result<Midnight> {
    let k = kommune(MIDNIGHT)?;
    // A week ahead: no real midnight of the run can be mistaken for it.
    let day = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(7))
        .context("a date")?;
    let (body, changing) = persons(MIDNIGHT, main.entities, day);
    let summary = h.hub.import(k, body).await?;
    println!(
        "    imported {} persons, {changing} of them changing at midnight {day}",
        summary.changed()
    );
    let deadline = Instant::now() + convergence_deadline(main.entities);
    while h.hub.unpublished().await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    install_trigger(&h.hub, main.kommune).await?;
    let (seen, listener) = listen(&with_application(&h.env.cache_db_url, "orghub-bench")).await?;
    let mut renames = Renames::new(main);

    println!("    restarting the writer with its clock 1 s after that midnight");
    if let Some(w) = h.writer.take() {
        w.stop().await?;
    }
    let clock = (orghub_writer::clock::midnight(day) + TimeDelta::seconds(1)).to_rfc3339();
    let started = Instant::now();
    h.writer = Some(
        start_writer_at(
            h.env,
            "writer",
            &format!("127.0.0.1:{}", h.port),
            true,
            Some(clock),
        )
        .await?,
    );
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, db) = (done.clone(), h.hub.writer_db.clone());
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(3600);
            while Instant::now() < until {
                let complete: Option<bool> =
                    sqlx::query_scalar("SELECT true FROM midnight_day WHERE day = $1")
                        .bind(day)
                        .fetch_optional(&db)
                        .await
                        .ok()
                        .flatten();
                if complete.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let slow_before = h.slow_acquires();
    let puts = run_puts(h, &mut renames, plan.live_rate, || {
        done.load(Ordering::SeqCst)
    })
    .await;
    watcher.await.context("the midnight watcher")?;
    let complete = started.elapsed();
    while h.hub.unpublished().await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let published = started.elapsed();
    let mut latency = collect(&seen, &puts, Duration::from_secs(300), plan.live_rate).await;
    latency.slow_pool_acquires = h.slow_acquires().saturating_sub(slow_before);
    latency.print();
    listener.abort();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TRIGGER IF EXISTS orghub_bench_notify ON {CACHE_SCHEMA}.entity"
    )))
    .execute(&h.hub.cache_db)
    .await?;

    // The day itself: from the completion of the day before it (the empty days of the week
    // run first) to its own.
    let days: Vec<(NaiveDate, DateTime<Utc>, i64)> =
        sqlx::query_as("SELECT day, completed_at, transitions FROM midnight_day ORDER BY day")
            .fetch_all(&h.hub.writer_db)
            .await?;
    let (transitions, day_took) = match days.as_slice() {
        [.., (_, before, _), (d, at, n)] if *d == day => (
            u64::try_from(*n).unwrap_or(0),
            (*at - *before).to_std().unwrap_or_default(),
        ),
        _ => (0, complete),
    };
    let m = Midnight {
        kommune: k,
        entities: main.entities,
        transitions,
        expected: changing,
        day: Rate::new(transitions, day_took),
        complete,
        published,
        latency,
    };
    println!(
        "    {} transitions ({} expected) in {:.2} s: {:.0}/s; complete {:.1} s and published \
         {:.1} s after the writer's restart",
        m.transitions,
        m.expected,
        m.day.seconds,
        m.day.per_second(),
        m.complete.as_secs_f64(),
        m.published.as_secs_f64()
    );
    Ok(m)
}
