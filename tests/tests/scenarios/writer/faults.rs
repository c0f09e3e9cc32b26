//! Fault scenarios of the writer: RabbitMQ connections closed under load, and the writer process
//! killed with SIGKILL in the middle of a large import. Nothing may be lost or invented.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use orghub_broker::lapin::options::BasicConsumeOptions;
use orghub_broker::lapin::types::FieldTable;
use orghub_tests::fixtures::{id, unit_line, units_under_a_root};
use orghub_tests::writer::{ADMIN_TOKEN, TestWriter, WriterProcess};
use orghub_tests::{TestDatabase, TestVhost, declare_durable_probe, eventually};
use serde_json::json;
use uuid::Uuid;

/// Consumes from `queue` until every sequence 1..=n was seen; returns sequences in arrival order.
pub(crate) async fn consume_sequences(amqp_url: &str, queue: &str, n: u64) -> Vec<u64> {
    let conn = orghub_broker::connect(amqp_url, "probe")
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "probe".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut seen = Vec::new();
    let mut distinct = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while (distinct.len() as u64) < n {
        let next = tokio::time::timeout_at(deadline, consumer.next()).await;
        let delivery = match next {
            Ok(Some(Ok(d))) => d,
            other => panic!(
                "only {} of {n} sequences arrived ({:?})",
                distinct.len(),
                other.map(|o| o.map(|r| r.is_ok()))
            ),
        };
        let event = orghub_broker::decode_delivery(&delivery).expect("a valid event");
        distinct.insert(event.sequence);
        seen.push(event.sequence);
    }
    let _ = conn.close(200, "done".into()).await;
    seen
}

/// Every sequence 1..=n arrived, and first arrivals are in order (duplicates allowed).
pub(crate) fn assert_complete_and_ordered(seen: &[u64], n: u64) {
    let mut first = Vec::new();
    let mut had = BTreeSet::new();
    for s in seen {
        if had.insert(*s) {
            first.push(*s);
        }
    }
    assert_eq!(
        first,
        (1..=n).collect::<Vec<_>>(),
        "first arrivals in sequence order"
    );
}

#[tokio::test]
async fn writes_succeed_while_broker_connections_are_closed_and_every_event_arrives_in_order() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    declare_durable_probe(&vhost.amqp_url, "probe.outage", "org.751.#").await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let lines: Vec<String> = std::iter::once(unit_line(1, None))
        .chain((2..=300).map(|n| unit_line(n, Some(1))))
        .collect();
    for (i, chunk) in lines.chunks(30).enumerate() {
        let r = writer.post_text("/api/v1/751/import", chunk.concat()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["rejected_count"], 0, "{}", r.text);
        if i % 3 == 1 {
            // Cut the relay's connection (and anything else in the vhost). The management API
            // lists a connection only after its next statistics round, so wait until one closes.
            eventually(Duration::from_secs(30), "a connection to close", || async {
                let closed = vhost.mgmt.close_connections(&vhost.name).await.ok()?;
                (closed > 0).then_some(())
            })
            .await;
        }
    }
    let seen = consume_sequences(&vhost.amqp_url, "probe.outage", 300).await;
    assert_complete_and_ordered(&seen, 300);
    eventually(
        Duration::from_secs(30),
        "the relay's position past every event",
        || async {
            let n: i64 = sqlx::query_scalar(orghub_writer::store::RELAY_LAG_SQL)
                .fetch_one(&db.pool)
                .await
                .ok()?;
            (n == 0).then_some(())
        },
    )
    .await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn a_writer_killed_mid_import_leaves_state_and_events_consistent_and_the_restart_publishes_the_rest()
 {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    declare_durable_probe(&vhost.amqp_url, "probe.crash", "org.751.#").await;
    let mut first = WriterProcess::spawn(&db.url, &vhost.amqp_url).await;

    // A large import, streamed: a root and 20,000 units under it.
    let total = 20_000u32;
    let body = units_under_a_root(total);
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/751/import", first.base);
    let import = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
            .await
    });
    eventually(
        Duration::from_secs(60),
        "the import is under way",
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM event")
                .fetch_one(&db.pool)
                .await
                .ok()?;
            (n >= 2_000).then_some(())
        },
    )
    .await;
    first.child.start_kill().expect("SIGKILL");
    let _ = first.child.wait().await;
    let _ = import.await;

    // No event without its state, no state without its event, no gap in the sequence.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM event")
        .fetch_one(&db.pool)
        .await
        .expect("q");
    assert!(
        events < i64::from(total),
        "killed before the end ({events} events)"
    );
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entity e
         WHERE e.version <> (SELECT count(*) FROM event v WHERE v.entity = e.uuid)
            OR e.version <> (SELECT count(*) FROM registration r WHERE r.uuid = e.uuid)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("q");
    assert_eq!(mismatched, 0);
    let orphans: i64 = sqlx::query_scalar("SELECT count(*) FROM event v WHERE NOT EXISTS (SELECT 1 FROM entity e WHERE e.uuid = v.entity)").fetch_one(&db.pool).await.expect("q");
    assert_eq!(orphans, 0);
    let (max, last): (i64, i64) = sqlx::query_as("SELECT (SELECT coalesce(max(sequence), 0) FROM event WHERE kommune = 751), (SELECT last_sequence FROM municipality WHERE code = 751)").fetch_one(&db.pool).await.expect("q");
    assert_eq!((max, last), (events, events), "gap-free sequence");

    // The restarted writer publishes whatever the killed one had not.
    let mut second = WriterProcess::spawn(&db.url, &vhost.amqp_url).await;
    let seen = consume_sequences(&vhost.amqp_url, "probe.crash", events as u64).await;
    assert_complete_and_ordered(&seen, events as u64);
    second.child.start_kill().expect("kill");
    let _ = second.child.wait().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

/// A municipality's backlog does not hold back another's changes: the relay shares each batch
/// between the municipalities that have one, so a live change of 751 goes out among the first
/// batch although 101 (which sorts first) has thousands of events waiting.
#[tokio::test]
async fn a_backlog_of_one_municipality_does_not_hold_back_another() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    declare_durable_probe(&vhost.amqp_url, "probe.fair", "org.#").await;

    // Both logs are written with the relay off: 101 gets 3,000 events, then 751 one.
    let quiet = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    let backlog = 3_000u32;
    let body = units_under_a_root(backlog);
    let reply = quiet.post_text("/api/v1/101/import", body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = quiet
        .put(
            "751",
            "units",
            id(0xbeef),
            json!({"validity": {"from": "2020-01-01"}, "name": "Aarhus Kommune", "parent": null}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    quiet.stop().await;

    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let conn = orghub_broker::connect(&vhost.amqp_url, "probe")
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    let mut consumer = ch
        .basic_consume(
            "probe.fair".into(),
            "probe".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut before = 0u32;
    loop {
        let delivery = match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            other => panic!("751's event did not arrive ({before} of 101's did): {other:?}"),
        };
        let event = orghub_broker::decode_delivery(&delivery).expect("a valid event");
        if event.kommune.code() == 751 {
            break;
        }
        before += 1;
    }
    assert!(
        before < 1_000,
        "751's only event came after {before} of 101's {backlog}: the backlog held it back"
    );
    let _ = conn.close(200, "done".into()).await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

/// Events stored before `event_time`/`traceparent` existed (migration 0002) have them NULL: the
/// relay reads those bodies instead, and publishes the same message.
#[tokio::test]
async fn events_stored_before_the_relay_columns_are_published_from_their_bodies() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    declare_durable_probe(&vhost.amqp_url, "probe.old", "org.751.#").await;
    let quiet = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    let body = units_under_a_root(5);
    let reply = quiet.post_text("/api/v1/751/import", body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    quiet.stop().await;
    let cleared =
        sqlx::query("UPDATE event SET event_time = NULL, traceparent = NULL WHERE sequence <= 3")
            .execute(&db.pool)
            .await
            .expect("clear")
            .rows_affected();
    assert_eq!(cleared, 3);

    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let seen = consume_sequences(&vhost.amqp_url, "probe.old", 5).await;
    assert_complete_and_ordered(&seen, 5);
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

/// A write whose caller went away while it waited for its municipality's turn is dropped, not
/// applied by a later group: nobody would learn of it, and it would land at some later write.
#[tokio::test]
async fn a_write_abandoned_while_waiting_for_its_turn_is_not_applied_later() {
    use orghub_contracts::{EntityKind, Kommune, parse_state};
    use orghub_writer::store::{Operation, Store, WriteContext};

    let db = TestDatabase::create().await;
    let store = Store::connect(&db.url, 4).await.expect("store");
    store.migrate().await.expect("migrate");
    let aarhus = Kommune::parse("751").expect("kommune");
    let put = |n: u32, parent: Option<u32>| {
        Operation::Put {
        kind: EntityKind::Unit,
        uuid: id(n),
        state: parse_state(
            EntityKind::Unit,
            json!({"validity": {"from": "2020-01-01"}, "name": format!("Enhed {n}"), "parent": parent.map(id)}),
        )
        .expect("a valid unit"),
    }
    };
    let ctx = WriteContext {
        actor: "test".into(),
        ..WriteContext::default()
    };

    // Another session holds the municipality's row: the first write takes the turn and waits.
    let mut blocker = db.pool.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM municipality WHERE code = 751 FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let first = {
        let (store, ctx, op) = (store.clone(), ctx.clone(), put(1, None));
        tokio::spawn(async move { store.apply(aarhus, vec![op], &ctx).await })
    };
    eventually(
        Duration::from_secs(10),
        "the first write to wait for the row",
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&db.pool)
            .await
            .ok()?;
            (waiting == 1).then_some(())
        },
    )
    .await;
    // The second queues behind it; its caller gives up before its turn comes.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        store.apply(aarhus, vec![put(2, Some(1))], &ctx),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the second write cannot have had its turn yet"
    );
    blocker.rollback().await.expect("release");
    first
        .await
        .expect("task")
        .map_err(|(_, e)| e.to_string())
        .expect("the first write applies");

    // The next write gets the turn and finds the abandoned one in the queue.
    store
        .apply(aarhus, vec![put(3, Some(1))], &ctx)
        .await
        .map_err(|(_, e)| e.to_string())
        .expect("the third write applies");
    let units: Vec<Uuid> = sqlx::query_scalar("SELECT uuid FROM entity ORDER BY uuid")
        .fetch_all(&db.pool)
        .await
        .expect("entities");
    assert_eq!(units, vec![id(1), id(3)], "the abandoned write was applied");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM event")
        .fetch_one(&db.pool)
        .await
        .expect("events");
    assert_eq!(events, 2);
    store.pool().close().await;
    db.drop_now().await;
}
