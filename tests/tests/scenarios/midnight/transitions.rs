//! One midnight crossed by a running writer, by a restarted one, by two at once, and midnights
//! missed while no writer ran.

use chrono::{DateTime, Days, NaiveDate, Utc};
use orghub_subscriber::Command;
use orghub_tests::fixtures::id;
use orghub_tests::subscriber::{Probe, Spec, TestSubscriber, snapshot};
use orghub_tests::{TestDatabase, TestVhost};
use orghub_writer::clock::{Clock, midnight};
use serde_json::Value;

use super::{
    DEADLINE, K, action, clock_before, day_completed, of, person, start, terminate, transitions,
};

fn since() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")
}

fn after(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_add_days(Days::new(days)).expect("date")
}

/// The scenario is only valid if its writes were registered before the midnight.
fn still_before(clock: Clock, day: NaiveDate) {
    assert!(
        clock.now() < midnight(day),
        "the writes took until after the midnight; the scenario needs them before it"
    );
}

fn time(event: &Value) -> DateTime<Utc> {
    event["time"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("an RFC 3339 time")
}

fn version(event: &Value) -> u64 {
    event["entityversion"].as_u64().expect("an entity version")
}

#[tokio::test]
async fn a_future_dated_segment_becomes_effective_and_an_ending_validity_expires_once_after_midnight()
 {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let day = super::the_day();
    let clock = clock_before(day, 20);
    let writer = start(&db.url, &vhost.amqp_url, clock).await;
    let spec = Spec::new(
        "midnight",
        &vhost.amqp_url,
        &writer,
        format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
    );
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;

    // 1: renamed from the day on; 2: starts on the day; 3: ends the day before (to is
    // exclusive); 4: unchanged; 5: changes the day after (not this midnight's business).
    person(&writer, 1, since(), None, "Før").await;
    person(&writer, 1, day, None, "Efter").await;
    person(&writer, 2, day, None, "Ny").await;
    person(&writer, 3, since(), None, "Slut").await;
    terminate(&writer, 3, day).await;
    person(&writer, 4, since(), None, "Uændret").await;
    person(&writer, 5, since(), None, "I dag").await;
    person(&writer, 5, after(day, 1), None, "I overmorgen").await;
    still_before(clock, day);
    let before = writer.events(K).await;
    assert!(
        transitions(&before).is_empty(),
        "nothing changes before midnight"
    );
    assert!(of(&before, 2)[0]["data"]["current"].is_null());

    day_completed(&db.pool, day).await;
    let events = writer.events(K).await;
    let after_midnight = &events[before.len()..];
    let t = transitions(&events);
    assert_eq!(
        t.len(),
        3,
        "one transition for each of persons 1, 2 and 3, nothing else: {after_midnight:#?}"
    );
    assert_eq!(
        after_midnight.len(),
        3,
        "no other event: {after_midnight:#?}"
    );
    for e in &t {
        assert!(
            time(e) >= midnight(day),
            "dated after midnight by the writer's clock: {e}"
        );
    }

    let p1 = of(&events, 1);
    assert_eq!(p1.len(), 3);
    assert_eq!(action(&p1[2]), "effective");
    assert_eq!(version(&p1[2]), 3);
    assert_eq!(p1[2]["data"]["version"], 3);
    assert_eq!(p1[2]["data"]["current"]["surname"], "Efter");
    assert_eq!(
        p1[2]["data"]["current"]["validity"]["from"],
        day.to_string()
    );

    let p2 = of(&events, 2);
    assert_eq!(p2.len(), 2);
    assert_eq!(action(&p2[1]), "effective");
    assert_eq!(version(&p2[1]), 2);
    assert_eq!(p2[1]["data"]["current"]["surname"], "Ny");

    let p3 = of(&events, 3);
    assert_eq!(p3.len(), 3);
    assert_eq!(action(&p3[2]), "expired");
    assert_eq!(version(&p3[2]), 3);
    assert!(p3[2]["data"]["current"].is_null(), "{}", p3[2]);

    assert_eq!(of(&events, 4).len(), 1, "an unchanged person gets nothing");
    assert_eq!(of(&events, 5).len(), 2, "tomorrow's change is not today's");

    // The cache holds what the writer holds: the new versions with the new `current`.
    let expected = snapshot(&writer, K).await;
    let probe = Probe::Postgres {
        pool: cache.pool.clone(),
        schema: "orghub_cache".into(),
    };
    probe.converges_to(&expected, DEADLINE).await;
    let held = probe.state().await;
    let (v3, doc3) = held.get(&id(3)).expect("person 3 in the cache");
    assert_eq!(*v3, 3);
    assert!(doc3["current"].is_null(), "{doc3}");
    let (v1, doc1) = held.get(&id(1)).expect("person 1 in the cache");
    assert_eq!(*v1, 3);
    assert_eq!(doc1["current"]["surname"], "Efter");

    subscriber.stop().await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn a_writer_restarted_after_midnight_emits_nothing_again() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let day = super::the_day();
    let clock = clock_before(day, 20);
    let writer = start(&db.url, &vhost.amqp_url, clock).await;
    person(&writer, 1, day, None, "Ny").await;
    person(&writer, 2, since(), Some(day), "Går").await;
    still_before(clock, day);
    day_completed(&db.pool, day).await;
    let events = writer.events(K).await;
    assert_eq!(transitions(&events).len(), 2, "{events:#?}");
    writer.stop().await;

    // The constraint itself: a second transition of an entity on the same day is refused.
    let duplicate = sqlx::query(
        "INSERT INTO midnight_transition (entity, day, kommune, version)
         SELECT entity, day, kommune, version + 1 FROM midnight_transition LIMIT 1",
    )
    .execute(&db.pool)
    .await
    .expect_err("one transition per entity and day");
    assert!(
        duplicate.to_string().contains("midnight_transition_pkey"),
        "{duplicate}"
    );

    // Forget that the day is complete, so the restarted writer runs it again.
    sqlx::query("DELETE FROM midnight_day WHERE day = $1")
        .bind(day)
        .execute(&db.pool)
        .await
        .expect("forget the day");
    let writer = start(&db.url, &vhost.amqp_url, Clock::starting_at(clock.now())).await;
    day_completed(&db.pool, day).await;
    let again = writer.events(K).await;
    assert_eq!(
        again.len(),
        events.len(),
        "nothing new: {:#?}",
        &again[events.len()..]
    );

    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn two_writers_emit_each_transition_once() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let day = super::the_day();
    let clock = clock_before(day, 20);
    let (one, two) = tokio::join!(
        start(&db.url, &vhost.amqp_url, clock),
        start(&db.url, &vhost.amqp_url, clock)
    );
    const N: u32 = 60;
    for n in 1..=N {
        if n % 2 == 0 {
            person(&one, n, day, None, "Ny").await;
        } else {
            person(&two, n, since(), Some(day), "Går").await;
        }
    }
    still_before(clock, day);
    day_completed(&db.pool, day).await;
    let events = one.events(K).await;
    let t = transitions(&events);
    assert_eq!(t.len(), N as usize, "one transition per person");
    for n in 1..=N {
        let mine = of(&t, n);
        assert_eq!(mine.len(), 1, "person {n}: {mine:#?}");
        assert_eq!(version(&mine[0]), 2);
        let expected = if n % 2 == 0 { "effective" } else { "expired" };
        assert_eq!(action(&mine[0]), expected, "person {n}");
    }

    one.stop().await;
    two.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn missed_midnights_are_caught_up_in_order_at_start_up() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let day = super::the_day();
    let next = after(day, 1);
    let clock = clock_before(day, 120);
    let writer = start(&db.url, &vhost.amqp_url, clock).await;
    // The writer's first start records the day before as done.
    day_completed(&db.pool, day.pred_opt().expect("date")).await;
    // 1: valid for the day only (effective, then expired); 2: renamed the day after;
    // 3: ends the day before.
    person(&writer, 1, day, Some(next), "Kort").await;
    person(&writer, 2, since(), None, "Før").await;
    person(&writer, 2, next, None, "Efter").await;
    person(&writer, 3, since(), Some(day), "Går").await;
    still_before(clock, day);
    let before = writer.events(K).await;
    writer.stop().await;

    // Down across both midnights: the next writer starts 30 s after the second.
    let writer = start(&db.url, &vhost.amqp_url, clock_before(next, -30)).await;
    day_completed(&db.pool, next).await;
    let events = writer.events(K).await;
    let caught_up: Vec<(String, &str, u64, Value)> = events[before.len()..]
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap_or_default().to_owned(),
                action(e),
                version(e),
                e["data"]["current"]["surname"].clone(),
            )
        })
        .collect();
    let (p1, p2, p3) = (id(1).to_string(), id(2).to_string(), id(3).to_string());
    assert_eq!(
        caught_up,
        vec![
            // The first midnight, then the second: each in order, each once.
            (p1.clone(), "effective", 2, Value::from("Kort")),
            (p3, "expired", 2, Value::Null),
            (p1, "expired", 3, Value::Null),
            (p2, "effective", 3, Value::from("Efter")),
        ]
    );

    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
