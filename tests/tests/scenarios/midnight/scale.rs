//! The midnight transition at the scale of DESIGN §4 (a municipality of 200,000 entities, 5 %
//! changing at one midnight), measured rather than asserted on time: transitions per second,
//! the relay's catch-up, and the latency of another municipality's live writes during it
//! against the same writes before it. Ignored by default (minutes in the dev profile):
//!
//! ```sh
//! cargo nextest run -p orghub-tests --run-ignored only -E 'test(/midnight::scale/)' --no-capture
//! ```
//!
//! `ORGHUB_MIDNIGHT_SCALE_ENTITIES` sets the size (default 200000);
//! `ORGHUB_MIDNIGHT_SCALE_WITHOUT_INDEX=1` imports without the boundary index (to see its cost).

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use orghub_tests::writer::{TestWriter, unpublished};
use orghub_tests::{TestDatabase, TestVhost, eventually};
use orghub_writer::clock::Clock;
use serde_json::json;
use uuid::Uuid;

use super::{clock_before, start};

fn uuid(kommune: u128, n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | (kommune << 40) | u128::from(n))
}

/// PUTs in kommune 101 one after another: at least `at_least`, and on until `stop` says so; the
/// latency of each.
async fn live_puts(
    w: &TestWriter,
    round: &mut u32,
    at_least: usize,
    stop: impl Fn() -> bool,
) -> Vec<Duration> {
    let mut out = Vec::new();
    while out.len() < at_least || !stop() {
        *round += 1;
        let n = *round % 50;
        let state = json!({"validity": {"from": "2020-01-01"}, "given_name": "Live", "surname": format!("Navn {}", *round)});
        let started = Instant::now();
        let reply = w.put("101", "persons", uuid(101, n), state).await;
        out.push(started.elapsed());
        assert!((200..300).contains(&reply.status), "{}", reply.text);
        if out.len() > 100_000 {
            break;
        }
    }
    out
}

fn p(latencies: &mut [Duration], q: f64) -> Duration {
    latencies.sort_unstable();
    let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
    latencies.get(i).copied().unwrap_or_default()
}

#[tokio::test]
#[ignore = "minutes: a measurement, run on demand"]
async fn midnight_scale_two_hundred_thousand_entities_five_percent_changing() {
    let entities: u32 = std::env::var("ORGHUB_MIDNIGHT_SCALE_ENTITIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let changing = entities / 20;
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let day = super::the_day();
    let since = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");

    // Registered today by the system clock.
    let writer = start(&db.url, &vhost.amqp_url, Clock::system()).await;
    // What the boundary index costs an import: `ORGHUB_MIDNIGHT_SCALE_WITHOUT_INDEX=1` imports
    // without it (and builds it afterwards).
    let without_index = std::env::var_os("ORGHUB_MIDNIGHT_SCALE_WITHOUT_INDEX").is_some();
    if without_index {
        sqlx::query("DROP INDEX entity_midnight_keys")
            .execute(&db.pool)
            .await
            .expect("drop the index");
    }
    let mut body = String::new();
    for n in 0..entities {
        let validity = if n >= changing {
            json!({"from": since.to_string()})
        } else if n % 2 == 0 {
            json!({"from": day.to_string()})
        } else {
            json!({"from": since.to_string(), "to": day.to_string()})
        };
        let state =
            json!({"validity": validity, "given_name": format!("P{n}"), "surname": "Skala"});
        body.push_str(&json!({"kind": "person", "uuid": uuid(751, n), "state": state}).to_string());
        body.push('\n');
    }
    let started = Instant::now();
    let reply = writer
        .post_text("/api/v1/751/import?mode=partial", body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let import = started.elapsed();
    if without_index {
        sqlx::query(
            "CREATE INDEX entity_midnight_keys ON entity
             USING gin (midnight_keys(kommune, timeline)) WHERE NOT deleted",
        )
        .execute(&db.pool)
        .await
        .expect("build the index");
    }
    let mut round = 0;
    live_puts(&writer, &mut round, 50, || true).await;
    let mut idle = live_puts(&writer, &mut round, 300, || true).await;
    eventually(
        Duration::from_secs(600),
        "the relay to publish the import",
        || async { (unpublished(&db.pool).await == 0).then_some(()) },
    )
    .await;
    writer.stop().await;

    // The next writer starts 1 s after the midnight: the transition runs at start-up while
    // kommune 101 keeps writing.
    let writer = start(&db.url, &vhost.amqp_url, clock_before(day, -1)).await;
    let started = Instant::now();
    let pool = db.pool.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                let complete: Option<bool> =
                    sqlx::query_scalar("SELECT true FROM midnight_day WHERE day = $1")
                        .bind(day)
                        .fetch_optional(&pool)
                        .await
                        .ok()
                        .flatten();
                if complete.is_some() {
                    done.store(true, std::sync::atomic::Ordering::SeqCst);
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut during = live_puts(&writer, &mut round, 20, || {
        done.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let finished = watcher.await.expect("the watcher");
    let took = finished - started;
    let transitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM event WHERE kommune = 751 AND (type LIKE '%.effective.v1' OR type LIKE '%.expired.v1')",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(
        transitions,
        i64::from(changing),
        "one transition per changing person"
    );
    eventually(
        Duration::from_secs(600),
        "the relay to publish the transitions",
        || async { (unpublished(&db.pool).await == 0).then_some(()) },
    )
    .await;
    let published = started.elapsed();

    let days: Vec<(NaiveDate, chrono::DateTime<Utc>, i64)> =
        sqlx::query_as("SELECT day, completed_at, transitions FROM midnight_day ORDER BY day")
            .fetch_all(&db.pool)
            .await
            .expect("the days");
    for (day, at, n) in &days {
        println!("midnight {day} completed at {at}: {n} transitions");
    }
    // The day itself: from the day before's completion (the catch-up of the empty days in
    // between runs first) to its own.
    let day_took = match days.as_slice() {
        [.., (_, before, _), (_, at, _)] => (*at - *before).to_std().unwrap_or_default(),
        _ => took,
    };
    let (idle50, idle99) = (p(&mut idle, 0.5), p(&mut idle, 0.99));
    let (during50, during99) = (p(&mut during, 0.5), p(&mut during, 0.99));
    println!(
        "midnight scale at {}: {entities} entities, {changing} transitions; import {:.1} s; \
         start-up to complete {:.2} s, the day itself {:.2} s ({:.0} transitions/s), published \
         {:.2} s after start; \
         kommune 101 live PUT p50/p99 idle {:.1}/{:.1} ms, during {:.1}/{:.1} ms ({} PUTs, p99 \
         ratio {:.2})",
        Utc::now(),
        import.as_secs_f64(),
        took.as_secs_f64(),
        day_took.as_secs_f64(),
        f64::from(changing) / day_took.as_secs_f64().max(1e-9),
        published.as_secs_f64(),
        idle50.as_secs_f64() * 1e3,
        idle99.as_secs_f64() * 1e3,
        during50.as_secs_f64() * 1e3,
        during99.as_secs_f64() * 1e3,
        during.len(),
        during99.as_secs_f64() / idle99.as_secs_f64().max(1e-9),
    );

    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
