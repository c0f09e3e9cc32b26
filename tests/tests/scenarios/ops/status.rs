//! `orghubctl status [--check]` against real PostgreSQL, RabbitMQ and an in-process writer: lag
//! from the event log, the relay holder from pg_locks, subscribers from the management API.

use std::time::Duration;

use orghub_broker::connect;
use orghub_contracts::{Action, EntityKind, EventType, examples};
use orghub_tests::ops::{dead_letter, declare_subscriber_topology, publish_confirmed, unique_name};
use orghub_tests::{HubOptions, TestHub, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(30);

/// Writes a unit: the first is the municipality's root, later ones its children.
async fn write_unit(hub: &TestHub, n: u128) {
    let root = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    let (uuid, parent) = if n == 1 {
        (root, Value::Null)
    } else {
        (
            Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n),
            json!(root),
        )
    };
    let r = hub
            .writer
            .put(
                "751",
                "units",
                uuid,
                json!({"validity": {"from": "2020-01-01"}, "name": format!("Enhed {n}"), "parent": parent}),
            )
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Polls `status --json [args]` until `accept` takes its output.
async fn status_until(
    hub: &TestHub,
    what: &str,
    args: &[&str],
    accept: impl Fn(i32, &Value, &str) -> bool,
) -> Value {
    let ctl = hub.ctl();
    let mut all = vec!["status", "--json"];
    all.extend_from_slice(args);
    eventually(DEADLINE, what, || {
        let all = all.clone();
        let (accept, ctl) = (&accept, &ctl);
        async move {
            let out = ctl.run(&all).await;
            let value = out.json();
            accept(out.code, &value, &out.stderr).then_some(value)
        }
    })
    .await
}

#[tokio::test]
async fn status_names_the_relay_holder_and_each_subscribers_queues() {
    let env = TestHub::start(HubOptions::default()).await;
    let conn = connect(&env.vhost.amqp_url, "ops-status-test")
        .await
        .expect("amqp");
    let name = unique_name("st");
    declare_subscriber_topology(&conn, &name).await;
    let event = examples::event(EventType {
        kind: EntityKind::Kle,
        action: Action::Created,
    });
    let (body, props) = dead_letter(&event, &name, "bad-data", 1, "boom");
    publish_confirmed(
        &conn,
        &format!("sub.{name}.x"),
        &format!("sub.{name}.dlq"),
        &body,
        props,
    )
    .await;

    let status = status_until(
        &env,
        "the relay holder and a dead letter",
        &[],
        |code, v, _| {
            code == 0
                && v["event_log"]["relay"]["application_name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("orghub-relay@"))
                && v["subscribers"][0]["dlq"] == 1
        },
    )
    .await;
    let sub = &status["subscribers"][0];
    assert_eq!(sub["name"], name.as_str());
    assert_eq!(sub["ready"], 0);
    assert_eq!(sub["consumers"], 0);
    assert_eq!(sub["parked"], 0);
    assert!(
        sub["oldest_dead_letter_seconds"]
            .as_f64()
            .is_some_and(|s| (0.0..600.0).contains(&s)),
        "{sub}"
    );
    assert_eq!(status["vhost"], env.vhost.name.as_str());

    let out = env.ctl().run(&["status"]).await;
    out.expect_code(0);
    assert!(
        out.stdout.contains("relay      orghub-relay@"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&name), "{}", out.stdout);
    // Reading the DLQ's head for its age left it there (requeued: back a moment later).
    let dlq = format!("sub.{name}.dlq");
    eventually(DEADLINE, "the peeked dead letter back in the DLQ", || {
        let (conn, dlq) = (&conn, dlq.clone());
        async move { (orghub_tests::ops::queue_depth(conn, &dlq).await == 1).then_some(()) }
    })
    .await;
    let _ = conn.close(200, "done".into()).await;
    env.stop().await;
}

#[tokio::test]
async fn status_check_exits_3_when_unpublished_events_are_older_than_the_threshold() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let out = env.ctl().run(&["status", "--check"]).await;
    out.expect_code(0);
    assert!(out.stdout.contains("relay      none"), "{}", out.stdout);
    assert!(out.stdout.contains("check      ok"), "{}", out.stdout);

    write_unit(&env, 1).await;
    write_unit(&env, 2).await;
    let out = env
        .ctl()
        .run(&[
            "status",
            "--check",
            "--max-lag-seconds",
            "3600",
            "--max-lag-events",
            "10",
        ])
        .await;
    out.expect_code(0);
    let out = env
        .ctl()
        .run(&["status", "--check", "--max-lag-events", "1"])
        .await;
    out.expect_code(3);
    assert!(
        out.stderr.contains("2 unpublished events (max 1)"),
        "{}",
        out.stderr
    );

    let status = status_until(
        &env,
        "the oldest unpublished event to pass 1 s",
        &["--check", "--max-lag-seconds", "1"],
        |code, _, _| code == 3,
    )
    .await;
    assert_eq!(status["event_log"]["unpublished"], 2);
    assert!(status["event_log"]["relay"].is_null());
    // Which municipality is behind, and from where.
    let behind = &status["event_log"]["behind"];
    assert_eq!(behind.as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(behind[0]["kommune"], "0751");
    assert_eq!(behind[0]["name"], "Aarhus");
    assert_eq!(behind[0]["unpublished"], 2);
    assert_eq!(behind[0]["published_through"], 0);
    assert!(behind[0]["oldest_unpublished_seconds"].as_f64() >= Some(1.0));
    let out = env.ctl().run(&["status"]).await;
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("0751 Aarhus: 2 unpublished after sequence 0"),
        "{}",
        out.stdout
    );
    let exceeded = status["exceeded"].as_array().cloned().unwrap_or_default();
    assert!(
        exceeded.iter().any(|e| e
            .as_str()
            .is_some_and(|e| e.contains("oldest unpublished event"))),
        "{status}"
    );
    // A threshold without --check is a usage error.
    env.ctl()
        .run(&["status", "--max-dlq", "3"])
        .await
        .expect_code(2);
    env.stop().await;
}

#[tokio::test]
async fn status_check_exits_3_when_a_dlq_is_not_empty() {
    let env = TestHub::start(HubOptions::default()).await;
    let conn = connect(&env.vhost.amqp_url, "ops-status-test")
        .await
        .expect("amqp");
    let name = unique_name("sd");
    declare_subscriber_topology(&conn, &name).await;
    env.ctl().run(&["status", "--check"]).await.expect_code(0);

    let event = examples::event(EventType {
        kind: EntityKind::Unit,
        action: Action::Deleted,
    });
    let (body, props) = dead_letter(&event, &name, "sink-permanent", 1, "gone");
    publish_confirmed(
        &conn,
        &format!("sub.{name}.x"),
        &format!("sub.{name}.dlq"),
        &body,
        props,
    )
    .await;
    let ctl = env.ctl().clone();
    let stderr = eventually(DEADLINE, "status --check to see the dead letter", || {
        let ctl = ctl.clone();
        async move {
            let out = ctl.run(&["status", "--check"]).await;
            (out.code == 3).then_some(out.stderr)
        }
    })
    .await;
    assert!(
        stderr.contains(&format!(
            "subscriber {name}: 1 dead letters in sub.{name}.dlq (max 0)"
        )),
        "{stderr}"
    );
    env.ctl()
        .run(&["status", "--check", "--max-dlq", "1"])
        .await
        .expect_code(0);
    let _ = conn.close(200, "done".into()).await;
    env.stop().await;
}

#[tokio::test]
async fn the_metrics_document_lists_every_metric_the_writer_exposes() {
    let env = TestHub::start(HubOptions::default()).await;
    write_unit(&env, 1).await;
    let metrics = env
        .writer
        .client
        .get(format!("{}/metrics", env.writer.base))
        .send()
        .await;
    let text = metrics.expect("GET /metrics").text().await.expect("body");
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../services/ops/METRICS.md"
    ))
    .expect("services/ops/METRICS.md");
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (name, kind) = (parts.next()?, parts.next()?);
            // The text format's TYPE line names counters without their `_total` sample suffix.
            Some(if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            })
        })
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{text}");
    for name in &names {
        assert!(
            doc.contains(&format!("`{name}`")),
            "METRICS.md does not document {name}"
        );
    }
    env.stop().await;
}
