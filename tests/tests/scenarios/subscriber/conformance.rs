//! The conformance suite every sink passes, run once per sink against a real writer, RabbitMQ and
//! the sink's real target: the same event twice gives the same state; an older version after a
//! newer one is ignored; a transient error is retried and applied later; a permanent error lands
//! in the DLQ with its reason; a garbage body lands in the DLQ.

use std::time::Duration;

use chrono::DateTime;
use orghub_subscriber::{AnySink, Command};
use orghub_tests::fixtures::id;
use orghub_tests::subscriber::{
    Behaviour, Fault, Faulty, Probe, Spec, TestSubscriber, WebhookServer, drain_queue, header,
    header_names, publish_raw, queue_depth, replay, republish_event, snapshot,
};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost, eventually};
use serde_json::{Value, json};

const K: &str = "751";
const SECRET: &str = "conformance-secret-0123456789";
const DEADLINE: Duration = Duration::from_secs(30);

async fn put_unit(writer: &TestWriter, n: u32, name: &str, parent: Option<u32>) {
    let state = json!({"validity": {"from": "2020-01-01"}, "name": name, "parent": parent.map(id)});
    let r = writer.put(K, "units", id(n), state).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
}

/// The copy carries no `x-` header; the quorum DLQ itself adds `x-delivery-count` when it
/// delivers, which is the broker's, not copied.
fn assert_no_copied_x_headers(d: &orghub_broker::lapin::message::Delivery) {
    let names = header_names(d);
    assert!(
        names
            .iter()
            .all(|h| !h.starts_with("x-") || h == "x-delivery-count"),
        "{names:?}"
    );
}

#[derive(Debug, Clone, Copy)]
enum SinkKind {
    Postgres,
    Webhook,
    Ndjson,
}

async fn conformance(kind: SinkKind) {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache_db = None;
    let (sink_toml, probe) = match kind {
        SinkKind::Postgres => {
            let cache = TestDatabase::create().await;
            let toml = format!("type = \"postgres\"\nurl = \"{}\"", cache.url);
            let probe = Probe::Postgres {
                pool: cache.pool.clone(),
                schema: "orghub_cache".into(),
            };
            cache_db = Some(cache);
            (toml, probe)
        }
        SinkKind::Webhook => {
            let server = WebhookServer::start(SECRET, Behaviour::default()).await;
            let toml = format!(
                "type = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_ms = 5000\n\
                 state_path = \"{}\"",
                server.url,
                dir.path().join("webhook-state.jsonl").display()
            );
            (toml, Probe::Webhook(server))
        }
        SinkKind::Ndjson => {
            let path = dir.path().join("events.ndjson");
            let toml = format!("type = \"ndjson\"\npath = \"{}\"", path.display());
            (toml, Probe::Ndjson(path))
        }
    };
    let mut spec = Spec::new(
        &format!("conformance-{}", format!("{kind:?}").to_lowercase()),
        &vhost.amqp_url,
        &writer,
        sink_toml,
    );
    spec.in_process = 1;
    spec.tiers = vec!["100ms".into(), "200ms".into()];
    let sink = AnySink::open(&spec.config().sink)
        .await
        .expect("the sink opens");
    let (sink, faults) = Faulty::new(sink);
    let subscriber = TestSubscriber::start_with(&spec, sink, Command::Run).await;
    let amqp = orghub_broker::connect(&vhost.amqp_url, "conformance test")
        .await
        .expect("amqp");

    // Ordinary writes converge.
    put_unit(&writer, 1, "Aarhus Kommune", None).await;
    put_unit(&writer, 2, "Børn og Unge", Some(1)).await;
    put_unit(&writer, 1, "Aarhus Kommune (omdøbt)", None).await;
    probe
        .converges_to(&snapshot(&writer, K).await, DEADLINE)
        .await;
    let settled = probe.state().await;
    assert_eq!(settled[&id(1)].0, 2);

    // The same event twice gives the same state.
    let log = writer.events(K).await;
    let event_of = |n: u32, version: u64| -> Value {
        log.iter()
            .find(|e| e["subject"] == json!(id(n)) && e["entityversion"] == json!(version))
            .cloned()
            .unwrap_or_else(|| panic!("event v{version} of entity {n} in the log"))
    };
    let stale_before = subscriber.metrics.stale.get();
    republish_event(&amqp, &event_of(1, 2)).await;
    republish_event(&amqp, &event_of(1, 2)).await;
    eventually(DEADLINE, "both duplicates skipped as stale", || async {
        (subscriber.metrics.stale.get() >= stale_before + 2).then_some(())
    })
    .await;
    assert_eq!(
        probe.state().await,
        settled,
        "a duplicate changed the state"
    );

    // An older version after a newer one is ignored.
    republish_event(&amqp, &event_of(1, 1)).await;
    eventually(DEADLINE, "the older version skipped as stale", || async {
        (subscriber.metrics.stale.get() >= stale_before + 3).then_some(())
    })
    .await;
    assert_eq!(
        probe.state().await,
        settled,
        "an older version changed the state"
    );

    // A transient error is retried (in process, then through a retry queue) and applied later.
    faults.set(id(3), Fault::Transient(3));
    put_unit(&writer, 3, "Sundhed og Omsorg", Some(1)).await;
    probe
        .converges_to(&snapshot(&writer, K).await, DEADLINE)
        .await;
    assert!(subscriber.metrics.retried_count("in-process") >= 2);
    assert!(subscriber.metrics.retried_count("100ms") >= 1);

    // A permanent error lands in the DLQ with its reason, the original message intact.
    faults.set(
        id(4),
        Fault::Permanent("refused by the conformance suite".into()),
    );
    put_unit(&writer, 4, "Teknik og Miljø", Some(1)).await;
    let dead = drain_queue(&amqp, &spec.dlq(), 1, DEADLINE).await;
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(
        header(d, "orghub-error-kind").as_deref(),
        Some("sink-permanent")
    );
    assert_eq!(
        header(d, "orghub-error").as_deref(),
        Some("refused by the conformance suite")
    );
    assert_eq!(header(d, "orghub-attempts").as_deref(), Some("1"));
    assert_eq!(
        header(d, "orghub-subscriber").as_deref(),
        Some(spec.name.as_str())
    );
    let failed_at = header(d, "orghub-failed-at").expect("orghub-failed-at");
    DateTime::parse_from_rfc3339(&failed_at).expect("RFC 3339");
    assert!(failed_at.ends_with('Z'), "{failed_at}");
    assert_eq!(header(d, "ce-subject"), Some(id(4).to_string()));
    assert_no_copied_x_headers(d);
    let event = orghub_broker::decode_delivery(d).expect("the dead letter is the event");
    assert_eq!(event.subject(), id(4));

    // Once the cause is fixed, a replayed dead letter is processed like any new delivery.
    faults.clear(id(4));
    replay(&amqp, &spec.name, d).await;
    probe
        .converges_to(&snapshot(&writer, K).await, DEADLINE)
        .await;

    // Garbage lands in the DLQ with the decoding reason, body kept.
    publish_raw(&amqp, "org.751.unit.created", b"{nope", None).await;
    publish_raw(
        &amqp,
        "org.751.unit.updated",
        br#"{"hello": "world"}"#,
        Some("application/cloudevents+json"),
    )
    .await;
    let dead = drain_queue(&amqp, &spec.dlq(), 2, DEADLINE).await;
    let mut reasons: Vec<(String, Vec<u8>)> = dead
        .iter()
        .map(|d| {
            assert_eq!(header(d, "orghub-attempts").as_deref(), Some("1"));
            assert_no_copied_x_headers(d);
            (
                header(d, "orghub-error-kind").unwrap_or_default(),
                d.data.clone(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            (
                "not-cloudevent".to_owned(),
                br#"{"hello": "world"}"#.to_vec()
            ),
            ("not-json".to_owned(), b"{nope".to_vec()),
        ]
    );

    // In the end: everything, and nothing else dead-lettered.
    probe
        .converges_to(&snapshot(&writer, K).await, DEADLINE)
        .await;
    assert_eq!(queue_depth(&amqp, &spec.dlq()).await, 0);
    assert_eq!(subscriber.metrics.dead_lettered_count("sink-permanent"), 1);

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    if let Some(cache) = cache_db {
        cache.drop_now().await;
    }
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn the_postgres_sink_passes_the_conformance_suite() {
    conformance(SinkKind::Postgres).await;
}

#[tokio::test]
async fn the_webhook_sink_passes_the_conformance_suite() {
    conformance(SinkKind::Webhook).await;
}

#[tokio::test]
async fn the_ndjson_sink_passes_the_conformance_suite() {
    conformance(SinkKind::Ndjson).await;
}
