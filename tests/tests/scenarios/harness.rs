//! The harness itself, against the real PostgreSQL and RabbitMQ.

use std::time::Duration;

use orghub_broker::{Delivered, Publisher, connect};
use orghub_contracts::{Action, EntityKind, EventType, examples};
use orghub_tests::{TestDatabase, TestVhost, bind_probe_queue, eventually};
use sqlx::Connection as _;

const DEADLINE: Duration = Duration::from_secs(10);

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

async fn database_exists(name: &str) -> bool {
    let admin_url = std::env::var("ORGHUB_TEST_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
    admin.close().await.expect("close");
    exists
}

#[tokio::test]
async fn a_test_database_is_fresh_usable_and_gone_after_drop_now() {
    let db = TestDatabase::create().await;
    let name = db.name().to_owned();
    assert!(name.starts_with("orghub_test_"), "{name}");
    assert!(db.url.ends_with(&format!("/{name}")), "{}", db.url);
    assert!(database_exists(&name).await);

    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    // A second connection through the URL, as a server under test would open, does not stop the
    // drop.
    let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut other).await.unwrap();

    db.drop_now().await;
    assert!(!database_exists(&name).await);
}

#[tokio::test]
async fn two_test_databases_are_distinct() {
    let (a, b) = (TestDatabase::create().await, TestDatabase::create().await);
    assert_ne!(a.url, b.url);
    a.drop_now().await;
    b.drop_now().await;
}

#[tokio::test]
async fn a_test_vhost_carries_events_to_a_probe_queue_and_is_gone_after_delete_now() {
    let vhost = TestVhost::create().await;
    assert!(vhost.name.starts_with("orghub-test-"), "{}", vhost.name);
    let conn = connect(&vhost.amqp_url, "harness-test").await.unwrap();
    let probe = bind_probe_queue(&conn, "org.751.unit.*").await;
    let publisher = Publisher::new(&conn).await.unwrap();

    let created = examples::event(EventType {
        kind: EntityKind::Unit,
        action: Action::Created,
    });
    let updated = examples::event(EventType {
        kind: EntityKind::Unit,
        action: Action::Updated,
    });
    let person = examples::event(EventType {
        kind: EntityKind::Person,
        action: Action::Created,
    });
    for event in [&created, &person, &updated] {
        let expected = if event.kind() == EntityKind::Unit {
            Delivered::Routed
        } else {
            Delivered::Unroutable
        };
        assert_eq!(publisher.publish(&event.to_amqp()).await, Ok(expected));
    }

    assert_eq!(
        probe.next_events(2, DEADLINE).await,
        vec![created.clone(), updated]
    );
    assert_eq!(probe.drain_now().await, vec![]);
    publisher.publish(&created.to_amqp()).await.unwrap();
    // Confirmed means queued, so it is there to drain at once.
    assert_eq!(probe.drain_now().await, vec![created]);

    let name = vhost.name.clone();
    let mgmt = vhost.mgmt.clone();
    vhost.delete_now().await;
    assert_eq!(mgmt.get_json(&["vhosts", &name]).await.unwrap(), None);
}

#[tokio::test]
async fn a_probe_that_waits_in_vain_says_what_it_got() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "harness-test").await.unwrap();
    let probe = bind_probe_queue(&conn, "org.751.#").await;
    let publisher = Publisher::new(&conn).await.unwrap();
    let event = examples::event(EventType {
        kind: EntityKind::Kle,
        action: Action::Updated,
    });
    publisher.publish(&event.to_amqp()).await.unwrap();

    let waited = tokio::spawn(async move {
        probe.next_events(2, Duration::from_millis(200)).await;
    })
    .await;
    let text = panic_text(waited.expect_err("two events cannot arrive").into_panic());
    assert!(text.contains("waiting for 2 messages"), "{text}");
    assert!(text.contains("got 1:"), "{text}");
    assert!(text.contains("org.751.kle.updated"), "{text}");

    vhost.delete_now().await;
}

#[tokio::test]
async fn eventually_returns_the_first_value_a_probe_gives() {
    let mut calls = 0;
    let value = eventually(DEADLINE, "the third call", || {
        calls += 1;
        let n = calls;
        async move { (n == 3).then_some(n * 10) }
    })
    .await;
    assert_eq!(value, 30);
}

#[tokio::test]
#[should_panic(expected = "timed out after 100ms waiting for the moon to turn blue")]
async fn eventually_panics_with_what_it_waited_for_and_the_deadline() {
    eventually(
        Duration::from_millis(100),
        "the moon to turn blue",
        || async { None::<()> },
    )
    .await;
}

#[tokio::test]
#[should_panic(expected = "timed out after 100ms waiting for a probe that hangs")]
async fn eventually_gives_up_on_a_probe_that_hangs() {
    eventually(Duration::from_millis(100), "a probe that hangs", || {
        std::future::pending::<Option<()>>()
    })
    .await;
}

#[test]
#[should_panic(expected = "run `cargo build --bin orghub-no-such-binary` first")]
fn a_missing_binary_is_reported_with_how_to_build_it() {
    orghub_tests::cargo_bin("orghub-no-such-binary");
}
