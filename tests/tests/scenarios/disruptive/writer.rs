//! The writer while the RabbitMQ application is stopped: writes go on, readiness says no, and every
//! event arrives in order once the broker is back.

use orghub_tests::fixtures::unit_line;
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost};

use orghub_tests::declare_durable_probe;

use crate::writer::faults::{assert_complete_and_ordered, consume_sequences};

/// The RabbitMQ application, stopped until this is dropped: started again (and awaited) even when
/// the test panics in between, so a failing test never leaves the broker down for everyone.
struct StoppedRabbitMq;

impl StoppedRabbitMq {
    fn stop() -> StoppedRabbitMq {
        rabbitmqctl(&["stop_app"]);
        StoppedRabbitMq
    }
}

impl Drop for StoppedRabbitMq {
    fn drop(&mut self) {
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("run rabbitmqctl");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn writes_succeed_while_rabbitmq_is_stopped_and_every_event_arrives_once_it_is_back() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    declare_durable_probe(&vhost.amqp_url, "probe.stopped", "org.751.#").await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let lines: Vec<String> = std::iter::once(unit_line(1, None))
        .chain((2..=200).map(|n| unit_line(n, Some(1))))
        .collect();
    let r = writer
        .post_text("/api/v1/751/import", lines[..100].concat())
        .await;
    assert_eq!(r.body["created"], 100, "{}", r.text);

    let stopped = StoppedRabbitMq::stop();
    let during = writer
        .post_text("/api/v1/751/import", lines[100..].concat())
        .await;
    let readyz = writer.get("/readyz").await;
    drop(stopped);
    assert_eq!(during.status, 200, "{}", during.text);
    assert_eq!(
        during.body["created"], 100,
        "writes succeed while the broker is down"
    );
    assert_eq!(
        readyz.status, 503,
        "not ready without the broker: {}",
        readyz.text
    );

    let seen = consume_sequences(&vhost.amqp_url, "probe.stopped", 200).await;
    assert_complete_and_ordered(&seen, 200);
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
