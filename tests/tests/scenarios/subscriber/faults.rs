//! Fault scenarios of the subscriber: the real `orghub-subscriber` process killed with SIGKILL
//! while it consumes, then restarted (and finally stopped with SIGTERM); and its broker
//! connection closed through the management API under load. The cache must converge to the
//! writer's snapshot either way.

use std::time::Duration;

use orghub_subscriber::Command;
use orghub_tests::fixtures::id;
use orghub_tests::subscriber::{Probe, Spec, TestSubscriber, snapshot, spawn_subscriber};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost, eventually};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(60);

fn units(range: std::ops::RangeInclusive<u32>, name: &str) -> String {
    range
        .map(|n| {
            let state = json!({"validity": {"from": "2020-01-01"}, "name": format!("{name} {n}"), "parent": (n > 1).then(|| id(1))});
            json!({"kind": "unit", "uuid": id(n), "state": state}).to_string() + "\n"
        })
        .collect()
}

async fn cache_rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orghub_cache.entity")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn a_subscriber_killed_with_sigkill_while_consuming_converges_after_a_restart() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = Spec::new(
        "killed",
        &vhost.amqp_url,
        &writer,
        format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
    );
    spec.batch_size = 100;
    let config = dir.path().join("subscriber.toml");
    std::fs::write(&config, spec.toml()).expect("write the config");
    let log = dir.path().join("subscriber.log");
    let mut first = spawn_subscriber(&config, &log);

    // Its queue exists once the topology is declared; then it bootstraps (nothing) and consumes.
    let amqp = orghub_broker::connect(&vhost.amqp_url, "probe")
        .await
        .expect("amqp");
    eventually(
        Duration::from_secs(30),
        "the subscriber's queue",
        || async {
            let mgmt = &vhost.mgmt;
            mgmt.get_json(&["queues", &vhost.name, &spec.queue()])
                .await
                .ok()
                .flatten()
                .map(|_| ())
        },
    )
    .await;

    let total = 2000;
    let client = writer.client.clone();
    let url = format!("{}/api/v1/751/import", writer.base);
    let body = units(1..=total, "Enhed");
    let import = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(orghub_tests::writer::ADMIN_TOKEN)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    eventually(
        DEADLINE,
        "the subscriber to be consuming the import",
        || async { (cache_rows(&cache.pool).await >= 300).then_some(()) },
    )
    .await;
    first.start_kill().expect("SIGKILL");
    let status = first.wait().await.expect("wait");
    assert!(!status.success(), "killed, not exited: {status}");
    let at_kill = cache_rows(&cache.pool).await;
    assert_eq!(import.await.expect("import task").expect("import"), 200);

    let mut second = spawn_subscriber(&config, &log);
    let expected = snapshot(&writer, "751").await;
    assert_eq!(expected.len() as u32, total);
    let probe = Probe::Postgres {
        pool: cache.pool.clone(),
        schema: "orghub_cache".into(),
    };
    probe.converges_to(&expected, DEADLINE).await;
    eprintln!("killed with {at_kill} of {total} rows in the cache");

    // SIGTERM: a graceful stop with exit status 0.
    let pid = second.id().expect("pid").to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(20), second.wait())
        .await
        .expect("stops within 20 s")
        .expect("wait");
    assert!(
        status.success(),
        "graceful stop: {status}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn closing_the_subscribers_broker_connection_under_load_converges() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let mut spec = Spec::new(
        "cut",
        &vhost.amqp_url,
        &writer,
        format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
    );
    spec.batch_size = 50;
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;

    for (i, chunk) in (0..10u32)
        .map(|c| (c * 100 + 1)..=(c * 100 + 100))
        .enumerate()
    {
        let reply = writer
            .post_text("/api/v1/751/import", units(chunk, "Enhed"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        if i == 2 || i == 6 {
            // Close every connection in the vhost until the subscriber's was among them. The
            // management API lists a connection only after its next statistics round (~5 s).
            let sessions = subscriber.metrics.sessions.get();
            eventually(
                Duration::from_secs(30),
                "the subscriber to reconnect",
                || async {
                    if subscriber.metrics.sessions.get() > sessions {
                        return Some(());
                    }
                    let _ = vhost.mgmt.close_connections(&vhost.name).await;
                    None
                },
            )
            .await;
        }
    }
    assert!(subscriber.metrics.sessions.get() >= 3);
    let expected = snapshot(&writer, "751").await;
    assert_eq!(expected.len(), 1000);
    Probe::Postgres {
        pool: cache.pool.clone(),
        schema: "orghub_cache".into(),
    }
    .converges_to(&expected, DEADLINE)
    .await;
    subscriber.wait_consuming().await;

    subscriber.stop().await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
