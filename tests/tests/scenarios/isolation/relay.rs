//! Isolation in the relay (DESIGN §7): an event the broker refuses, or one too large to send,
//! halts its own municipality only, visibly, without a duplicate storm for the others, and the
//! municipality resumes by itself once the cause is gone.

use std::collections::BTreeMap;
use std::time::Duration;

use orghub_broker::lapin::Connection;
use orghub_broker::lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_contracts::amqp::EXCHANGE;
use orghub_tests::ops::Ctl;
use orghub_tests::writer::TestWriter;
use orghub_tests::{ProbeQueue, TestDatabase, TestVhost, bind_probe_queue, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);

fn id(kommune: u32, n: u32) -> Uuid {
    Uuid::from_u128(
        0x0000_0000_0000_4000_8000_0000_0000_0000 | (u128::from(kommune) << 32) | u128::from(n),
    )
}

/// A fresh database and vhost, and probe queues bound to 751 and 101 on a connection.
async fn start() -> (TestDatabase, TestVhost, Connection, ProbeQueue, ProbeQueue) {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let conn = orghub_broker::connect(&vhost.amqp_url, "isolation test")
        .await
        .expect("amqp");
    let q751 = bind_probe_queue(&conn, "org.751.#").await;
    let q101 = bind_probe_queue(&conn, "org.101.#").await;
    (db, vhost, conn, q751, q101)
}

/// Writes unit `n` of `kommune`: the first is the root, the others its children.
async fn write_unit(writer: &TestWriter, kommune: u32, n: u32, name: &str) {
    let parent = (n > 1).then(|| id(kommune, 1));
    let r = writer
        .put(
            &kommune.to_string(),
            "units",
            id(kommune, n),
            json!({"validity": {"from": "2020-01-01"}, "name": name, "parent": parent}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// The sequences on `queue`: exactly `n` within the deadline, then whatever else is there now.
async fn sequences(queue: &ProbeQueue, n: usize) -> Vec<u64> {
    let mut got: Vec<u64> = queue
        .next_events(n, DEADLINE)
        .await
        .iter()
        .map(|e| e.sequence)
        .collect();
    got.extend(queue.drain_now().await.iter().map(|e| e.sequence));
    got
}

/// The relay's halts as stored: kommune → (sequence, kind, attempts).
async fn stored_halts(db: &TestDatabase) -> BTreeMap<i32, (i64, String, i32)> {
    let rows: Vec<(i32, i64, String, i32)> =
        sqlx::query_as("SELECT kommune, sequence, kind, attempts FROM relay_halt")
            .fetch_all(&db.pool)
            .await
            .unwrap_or_default();
    rows.into_iter()
        .map(|(k, s, kind, a)| (k, (s, kind, a)))
        .collect()
}

async fn metrics(writer: &TestWriter) -> String {
    writer.get("/metrics").await.text
}

/// `orghubctl status --json`'s halted municipalities.
async fn status_halted(ctl: &Ctl) -> Vec<Value> {
    let out = ctl.run(&["status", "--json"]).await;
    out.expect_code(0);
    out.json()["event_log"]["halted"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_queue_refusing_one_municipalitys_events_halts_only_it_without_duplicates_and_it_resumes_once_the_queue_is_gone()
 {
    let (db, vhost, conn, q751, q101_early) = start().await;
    // What a subscriber's own credentials could declare: a queue that refuses every message.
    let trap = conn.create_channel().await.expect("channel");
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    trap.queue_declare("sub.trap".into(), QueueDeclareOptions::default(), args)
        .await
        .expect("declare the trap");
    trap.queue_bind(
        "sub.trap".into(),
        EXCHANGE.into(),
        "org.101.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind the trap");

    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let ctl = Ctl::new(&db.url, &vhost, &writer.base);
    // Interleaved, so both municipalities share every batch of the relay.
    const N: u32 = 20;
    for n in 1..=N {
        write_unit(&writer, 101, n, &format!("København {n}")).await;
        write_unit(&writer, 751, n, &format!("Aarhus {n}")).await;
    }

    // 751 flows, and 101 is halted at its first event, visibly.
    let first = q751.next_events(N as usize, DEADLINE).await;
    let seq: Vec<u64> = first.iter().map(|e| e.sequence).collect();
    assert_eq!(seq, (1..=u64::from(N)).collect::<Vec<_>>(), "751 in order");
    let halted = eventually(DEADLINE, "101 halted and tried again twice", || async {
        let halts = stored_halts(&db).await;
        let h = halts.get(&101)?.clone();
        (h.2 >= 3).then_some(h)
    })
    .await;
    assert_eq!((halted.0, halted.1.as_str()), (1, "refused"), "{halted:?}");
    assert_eq!(stored_halts(&db).await.len(), 1, "only 101 is halted");
    let m = metrics(&writer).await;
    assert!(
        m.contains("orghub_relay_halted{kommune=\"101\",reason=\"refused\"} 1"),
        "{m}"
    );
    let status = status_halted(&ctl).await;
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0]["kommune"], "0101", "{status:?}");
    assert!(
        status[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("org.101.unit.created")),
        "the reason names the routing key: {status:?}"
    );
    assert!(status[0]["since"].is_string(), "{status:?}");
    // While 101 was retried, 751's events were not published again.
    let again = q751.drain_now().await;
    assert!(
        again.is_empty(),
        "751's events were published again while 101 was halted: {:?}",
        again.iter().map(|e| e.sequence).collect::<Vec<_>>()
    );
    // 751 keeps flowing while 101 stays halted.
    write_unit(&writer, 751, N + 1, "Aarhus later").await;
    let later = q751.next_events(1, DEADLINE).await;
    assert_eq!(later[0].sequence, u64::from(N) + 1);

    // The cause goes (between two tries of the head, so the new queue sees each event once).
    eventually(
        DEADLINE,
        "a pause of over 2 s before the next try",
        || async {
            let next: chrono::DateTime<chrono::Utc> =
                sqlx::query_scalar("SELECT next_attempt_at FROM relay_halt WHERE kommune = 101")
                    .fetch_one(&db.pool)
                    .await
                    .ok()?;
            (next - chrono::Utc::now() > chrono::TimeDelta::seconds(2)).then_some(())
        },
    )
    .await;
    let q101 = bind_probe_queue(&conn, "org.101.#").await;
    trap.queue_delete("sub.trap".into(), QueueDeleteOptions::default())
        .await
        .expect("delete the trap");

    let seq101 = sequences(&q101, N as usize).await;
    assert_eq!(
        seq101,
        (1..=u64::from(N)).collect::<Vec<_>>(),
        "101's events once each, in order"
    );
    // The queue bound all along got the refused head once per try, the events sent behind it
    // before its refusal was known once more, and then the rest in order: no storm.
    let early = q101_early.drain_now().await;
    let mut firsts: Vec<u64> = Vec::new();
    for e in &early {
        if !firsts.contains(&e.sequence) {
            firsts.push(e.sequence);
        }
    }
    assert_eq!(firsts, (1..=u64::from(N)).collect::<Vec<_>>());
    for s in 2..=u64::from(N) {
        let copies = early.iter().filter(|e| e.sequence == s).count();
        assert!(copies <= 2, "{s} arrived {copies} times");
    }
    eventually(DEADLINE, "the halt to clear", || async {
        let cleared = stored_halts(&db).await.is_empty()
            && !metrics(&writer).await.contains("orghub_relay_halted{");
        cleared.then_some(())
    })
    .await;
    assert!(status_halted(&ctl).await.is_empty());
    assert!(q751.drain_now().await.is_empty(), "no duplicate of 751");

    let _ = conn.close(200, "done".into()).await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn an_event_larger_than_the_relay_may_send_halts_only_its_municipality_until_the_limit_allows_it()
 {
    let (db, vhost, conn, q751, q101) = start().await;

    // The log first: a small unit of 751, a large person of 101, then 751 again.
    let quiet = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    write_unit(&quiet, 751, 1, "Aarhus").await;
    let long = "x".repeat(200);
    let r = quiet
        .put(
            "101",
            "persons",
            id(101, 1),
            json!({"validity": {"from": "2020-01-01"}, "given_name": long, "surname": long}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    write_unit(&quiet, 751, 2, "Aarhus 2").await;
    quiet.stop().await;
    let (small, large): (i32, i32) = sqlx::query_as(
        "SELECT (SELECT max(octet_length(body)) FROM event WHERE kommune = 751),
                (SELECT max(octet_length(body)) FROM event WHERE kommune = 101)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("sizes");
    let limit = (small + large) / 2;
    assert!(
        small < limit && limit < large,
        "{small} < {limit} < {large}"
    );

    let writer = TestWriter::start_tuned(&db.url, &vhost.amqp_url, |c| {
        c.relay_max_message_bytes = std::num::NonZeroUsize::new(limit as usize).expect("non-zero");
    })
    .await;
    let seq: Vec<u64> = q751
        .next_events(2, DEADLINE)
        .await
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(seq, vec![1, 2], "751 flows");
    let halted = eventually(DEADLINE, "101 halted", || async {
        stored_halts(&db).await.get(&101).cloned()
    })
    .await;
    assert_eq!((halted.0, halted.1.as_str()), (1, "too-large"));
    let ctl = Ctl::new(&db.url, &vhost, &writer.base);
    let status = status_halted(&ctl).await;
    assert!(
        status[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ORGHUB_RELAY_MAX_MESSAGE_BYTES")),
        "{status:?}"
    );
    assert!(
        metrics(&writer)
            .await
            .contains("orghub_relay_halted{kommune=\"101\",reason=\"too-large\"} 1")
    );
    assert!(q101.drain_now().await.is_empty(), "nothing of 101 was sent");
    writer.stop().await;

    // With a limit that allows it, the next relay publishes it and clears the halt.
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let got = q101.next_events(1, DEADLINE).await;
    assert_eq!(got[0].sequence, 1);
    eventually(DEADLINE, "the halt to clear", || async {
        stored_halts(&db).await.is_empty().then_some(())
    })
    .await;
    assert!(q751.drain_now().await.is_empty(), "no duplicate of 751");

    let _ = conn.close(200, "done".into()).await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
