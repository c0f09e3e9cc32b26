//! Midnight (DESIGN §4): the writer's clock set ~20 s before a midnight Europe/Copenhagen
//! (`ORGHUB_CLOCK_START`, here through the typed config), entities whose `current` changes at
//! that midnight, and what the event log and a subscriber's cache hold afterwards.

mod scale;
mod transitions;

use std::time::Duration;

use chrono::{Days, NaiveDate, TimeDelta, Utc};
use orghub_tests::fixtures::id;
use orghub_tests::writer::{Reply, TestWriter};
use orghub_writer::clock::{Clock, midnight};
use reqwest::Method;
use serde_json::{Value, json};

/// The municipality the scenarios write in.
const K: &str = "751";
/// How long a scenario waits for a midnight that is ~20 s away, or for a catch-up.
const DEADLINE: Duration = Duration::from_secs(60);

/// The day whose midnight the scenarios cross: a week from the real today, so that nothing else
/// (a real midnight during the run) can be mistaken for it.
fn the_day() -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_add_days(Days::new(7))
        .expect("a date")
}

/// A clock reading `seconds` before (negative: after) the start of `day` in Copenhagen.
fn clock_before(day: NaiveDate, seconds: i64) -> Clock {
    Clock::starting_at(midnight(day) - TimeDelta::seconds(seconds))
}

async fn start(db: &str, amqp: &str, clock: Clock) -> TestWriter {
    TestWriter::start_tuned(db, amqp, |c| c.clock_start = Some(clock)).await
}

fn ok(reply: &Reply, what: &str) {
    assert!(
        (200..300).contains(&reply.status),
        "{what}: {} {}",
        reply.status,
        reply.text
    );
}

/// PUTs person `id(n)` with `surname` over `[from, to)`.
async fn person(w: &TestWriter, n: u32, from: NaiveDate, to: Option<NaiveDate>, surname: &str) {
    let state = json!({
        "validity": {"from": from.to_string(), "to": to.map(|d| d.to_string())},
        "given_name": format!("Person{n}"),
        "surname": surname,
    });
    ok(
        &w.put(K, "persons", id(n), state).await,
        &format!("PUT person {n}"),
    );
}

async fn terminate(w: &TestWriter, n: u32, to: NaiveDate) {
    let reply = w
        .admin(
            Method::POST,
            &format!("/api/v1/{K}/persons/{}/terminate", id(n)),
            Some(&json!({"to": to.to_string()})),
        )
        .await;
    ok(&reply, &format!("terminate person {n}"));
}

/// The action of an event (`effective` from `dk.orghub.org.person.effective.v1`).
fn action(event: &Value) -> &str {
    event["type"]
        .as_str()
        .and_then(|t| t.split('.').nth(4))
        .unwrap_or("")
}

/// The midnight transitions in `events`.
fn transitions(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| matches!(action(e), "effective" | "expired"))
        .cloned()
        .collect()
}

/// The events of entity `id(n)`, in log order.
fn of(events: &[Value], n: u32) -> Vec<Value> {
    let subject = id(n).to_string();
    events
        .iter()
        .filter(|e| e["subject"].as_str() == Some(subject.as_str()))
        .cloned()
        .collect()
}

/// Waits until the writer has recorded midnight `day` as complete.
async fn day_completed(pool: &sqlx::PgPool, day: NaiveDate) {
    orghub_tests::eventually(
        DEADLINE,
        &format!("midnight {day} to be complete"),
        || async {
            let done: Option<bool> =
                sqlx::query_scalar("SELECT true FROM midnight_day WHERE day = $1")
                    .bind(day)
                    .fetch_optional(pool)
                    .await
                    .ok()
                    .flatten();
            done
        },
    )
    .await;
}
