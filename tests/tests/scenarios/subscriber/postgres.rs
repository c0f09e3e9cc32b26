//! The PostgreSQL cache against a real writer, RabbitMQ and a separate fagsystem database: it
//! equals the writer's snapshot after a mixed workload, bootstraps a late subscriber, repairs
//! itself by resync, isolates a row the database refuses, and declares the agreed topology.

use std::time::Duration;

use chrono::{Days, NaiveDate};
use orghub_contracts::Kommune;
use orghub_contracts::facet::{Facet, class_uuid};
use orghub_subscriber::Command;
use orghub_tests::fixtures::today;
use orghub_tests::subscriber::{
    Probe, Spec, TestSubscriber, drain_queue, header, queue_depth, snapshot, snapshots,
};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(30);
const SCHEMA: &str = "orghub_cache";

/// A uuid per (kommune, n).
fn id(kommune: &str, n: u32) -> Uuid {
    let k: u128 = kommune.parse().expect("numeric kommune");
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | (k << 32) | u128::from(n))
}

fn postgres_sink(cache: &TestDatabase) -> String {
    format!("type = \"postgres\"\nurl = \"{}\"", cache.url)
}

fn probe(cache: &TestDatabase) -> Probe {
    Probe::Postgres {
        pool: cache.pool.clone(),
        schema: SCHEMA.into(),
    }
}

async fn ok(reply: orghub_tests::writer::Reply, what: &str) {
    assert!(
        (200..300).contains(&reply.status),
        "{what}: {} {}",
        reply.status,
        reply.text
    );
}

async fn put(w: &TestWriter, k: &str, path: &str, n: u32, state: Value) {
    ok(
        w.put(k, path, id(k, n), state).await,
        &format!("PUT {path}/{n}"),
    )
    .await;
}

async fn terminate(w: &TestWriter, k: &str, path: &str, n: u32, to: NaiveDate) {
    let reply = w
        .admin(
            Method::POST,
            &format!("/api/v1/{k}/{path}/{}/terminate", id(k, n)),
            Some(&json!({"to": to.to_string()})),
        )
        .await;
    ok(reply, &format!("terminate {path}/{n}")).await;
}

async fn delete(w: &TestWriter, k: &str, path: &str, n: u32) {
    let reply = w
        .admin(
            Method::DELETE,
            &format!("/api/v1/{k}/{path}/{}", id(k, n)),
            None,
        )
        .await;
    ok(reply, &format!("DELETE {path}/{n}")).await;
}

fn since() -> Value {
    json!({"from": "2020-01-01"})
}

/// The classes the workload refers to: `(facet, user_key, title)`.
const CLASSES: [(Facet, &str, &str); 6] = [
    (Facet::UnitType, "afdeling", "Afdeling"),
    (Facet::JobTitle, "sagsbehandler", "Sagsbehandler"),
    (Facet::ManagerType, "leder", "Leder"),
    (Facet::Responsibility, "personale", "Personale"),
    (Facet::Responsibility, "budget", "Budget"),
    (Facet::ItSystem, "ad", "Active Directory"),
];

/// The uuid of the workload's class `user_key` of `facet` in `k`.
fn class(k: &str, facet: Facet, user_key: &str) -> Uuid {
    class_uuid(Kommune::parse(k).expect("kommune"), facet, user_key)
}

/// Classes first, then creates, future-dated changes, terminations, deletes and a re-creation
/// across all kinds.
async fn mixed_workload(w: &TestWriter, k: &str) {
    for (facet, user_key, title) in CLASSES {
        ok(
            w.put(k, "classes", class(k, facet, user_key), json!({"validity": since(), "facet": facet.key(), "user_key": user_key, "title": title})).await,
            &format!("PUT class {user_key}"),
        )
        .await;
    }
    let afdeling = class(k, Facet::UnitType, "afdeling");
    put(
        w,
        k,
        "units",
        1,
        json!({"validity": since(), "name": "Kommunen"}),
    )
    .await;
    for n in 2..=9 {
        put(w, k, "units", n, json!({"validity": since(), "name": format!("Afdeling {n}"), "unit_type": afdeling, "parent": id(k, 1)})).await;
    }
    for n in 20..=25 {
        put(
            w,
            k,
            "persons",
            n,
            json!({"validity": since(), "given_name": format!("Person{n}"), "surname": "Hansen"}),
        )
        .await;
    }
    for n in 20..=25 {
        put(w, k, "engagements", n + 10, json!({"validity": since(), "person": id(k, n), "unit": id(k, n - 18), "job_title": class(k, Facet::JobTitle, "sagsbehandler"), "primary": n % 2 == 0})).await;
    }
    put(w, k, "managers", 40, json!({"validity": since(), "unit": id(k, 2), "person": id(k, 20), "manager_type": class(k, Facet::ManagerType, "leder"), "responsibilities": [class(k, Facet::Responsibility, "personale"), class(k, Facet::Responsibility, "budget")]})).await;
    put(
        w,
        k,
        "managers",
        41,
        json!({"validity": since(), "unit": id(k, 3), "person": null}),
    )
    .await;
    put(w, k, "addresses", 50, json!({"validity": since(), "owner": {"kind": "unit", "uuid": id(k, 2)}, "address_type": "email", "value": "post@kommune.dk", "visibility": "public"})).await;
    put(w, k, "addresses", 51, json!({"validity": since(), "owner": {"kind": "person", "uuid": id(k, 21)}, "address_type": "email", "value": "p21@kommune.dk"})).await;
    put(w, k, "kle", 60, json!({"validity": since(), "unit": id(k, 4), "kle_number": "17.01", "aspects": ["ansvarlig", "udfoerende"]})).await;
    put(w, k, "itaccounts", 70, json!({"validity": since(), "person": id(k, 20), "it_system": class(k, Facet::ItSystem, "ad"), "user_id": format!("AD{k}")})).await;
    put(w, k, "itaccounts", 71, json!({"validity": since(), "person": id(k, 22), "it_system": class(k, Facet::ItSystem, "ad"), "user_id": format!("AE{k}")})).await;

    // Changes: a rename today, a rename next month, a person's new surname.
    put(w, k, "units", 3, json!({"validity": since(), "name": "Afdeling 3 (ny)", "unit_type": afdeling, "parent": id(k, 1)})).await;
    let next_month = today().checked_add_days(Days::new(30)).expect("date");
    put(w, k, "units", 4, json!({"validity": {"from": next_month.to_string()}, "name": "Afdeling 4 fra næste måned", "unit_type": afdeling, "parent": id(k, 1)})).await;
    put(
        w,
        k,
        "persons",
        23,
        json!({"validity": since(), "given_name": "Person23", "surname": "Jensen"}),
    )
    .await;
    // Terminations: one ended today (gone from today's views), one ending in ten days.
    terminate(w, k, "itaccounts", 70, today()).await;
    terminate(
        w,
        k,
        "engagements",
        35,
        today().checked_add_days(Days::new(10)).expect("date"),
    )
    .await;
    // Deletes, and a delete followed by a re-creation (a higher version replaces the tombstone).
    delete(w, k, "kle", 60).await;
    delete(w, k, "addresses", 50).await;
    delete(w, k, "units", 9).await;
    delete(w, k, "addresses", 51).await;
    put(w, k, "addresses", 51, json!({"validity": since(), "owner": {"kind": "person", "uuid": id(k, 21)}, "address_type": "email", "value": "ny21@kommune.dk"})).await;
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn the_postgres_cache_equals_the_snapshot_after_a_mixed_workload_in_two_municipalities() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let mut spec = Spec::new("mixed", &vhost.amqp_url, &writer, postgres_sink(&cache));
    spec.bindings = vec![("751".into(), Vec::new()), ("101".into(), Vec::new())];
    spec.batch_size = 50;
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;

    let (a, b) = tokio::join!(
        mixed_workload(&writer, "751"),
        mixed_workload(&writer, "101")
    );
    let ((), ()) = (a, b);
    let expected = snapshots(&writer, &["751", "101"]).await;
    assert_eq!(
        expected.len(),
        2 * 31,
        "the workload leaves 31 live entities (6 of them classes) per municipality"
    );
    probe(&cache).converges_to(&expected, DEADLINE).await;

    // The typed views show the segment valid today.
    let pool = &cache.pool;
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orghub_cache.units WHERE kommune = '751'"
        )
        .await,
        8
    );
    let name: String = sqlx::query_scalar("SELECT name FROM orghub_cache.units WHERE uuid = $1")
        .bind(id("751", 4))
        .fetch_one(pool)
        .await
        .expect("unit 4 in the view");
    assert_eq!(name, "Afdeling 4", "next month's name is not today's");
    let (parent, valid_to): (Option<Uuid>, Option<NaiveDate>) =
        sqlx::query_as("SELECT parent, valid_to FROM orghub_cache.units WHERE uuid = $1")
            .bind(id("751", 4))
            .fetch_one(pool)
            .await
            .expect("unit 4");
    assert_eq!(parent, Some(id("751", 1)));
    assert_eq!(valid_to, today().checked_add_days(Days::new(30)));
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orghub_cache.itaccounts WHERE kommune = '101'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orghub_cache.engagements WHERE kommune = '101'"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orghub_cache.engagements WHERE is_primary"
        )
        .await,
        6
    );
    assert_eq!(
        count(pool, "SELECT count(*) FROM orghub_cache.kle").await,
        0
    );
    let (responsibilities, titles): (Vec<Uuid>, Vec<String>) = sqlx::query_as(
        "SELECT responsibilities, responsibility_titles FROM orghub_cache.managers WHERE uuid = $1",
    )
    .bind(id("751", 40))
    .fetch_one(pool)
    .await
    .expect("manager 40");
    assert_eq!(
        responsibilities,
        [
            class("751", Facet::Responsibility, "personale"),
            class("751", Facet::Responsibility, "budget")
        ]
    );
    assert_eq!(titles, ["Personale", "Budget"]);
    let (job_title, job_title_title): (Uuid, String) = sqlx::query_as(
        "SELECT job_title, job_title_title FROM orghub_cache.engagements WHERE uuid = $1",
    )
    .bind(id("101", 30))
    .fetch_one(pool)
    .await
    .expect("engagement 30");
    assert_eq!(
        (job_title, job_title_title.as_str()),
        (
            class("101", Facet::JobTitle, "sagsbehandler"),
            "Sagsbehandler"
        ),
        "each municipality's own class"
    );
    let value: String =
        sqlx::query_scalar("SELECT value FROM orghub_cache.addresses WHERE uuid = $1")
            .bind(id("751", 51))
            .fetch_one(pool)
            .await
            .expect("address 51, re-created");
    assert_eq!(value, "ny21@kommune.dk");
    // Deleted entities stay as tombstones, out of every view.
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orghub_cache.entity WHERE deleted"
        )
        .await,
        6
    );
    assert_eq!(
        count(pool, "SELECT count(*) FROM orghub_cache.entities").await,
        62
    );
    assert_eq!(subscriber.metrics.dead_lettered_count("sink-permanent"), 0);
    let scraped = subscriber.scrape().await;
    for metric in [
        "orghub_subscriber_events_applied_total",
        "orghub_subscriber_events_stale_total",
        "orghub_subscriber_apply_seconds",
        "orghub_subscriber_lag_seconds",
    ] {
        assert!(
            scraped.contains(metric),
            "/metrics lacks {metric}:\n{scraped}"
        );
    }

    subscriber.stop().await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

fn unit_line(k: &str, n: u32, parent: Option<u32>) -> String {
    let state = json!({"validity": {"from": "2020-01-01"}, "name": format!("Enhed {n}"), "parent": parent.map(|p| id(k, p))});
    json!({"kind": "unit", "uuid": id(k, n), "state": state}).to_string() + "\n"
}

async fn import_units(w: &TestWriter, k: &str, range: std::ops::RangeInclusive<u32>) {
    let body: String = range
        .map(|n| unit_line(k, n, (n > 1).then_some(1)))
        .collect();
    let reply = w.post_text(&format!("/api/v1/{k}/import"), body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["rejected_count"], 0, "{}", reply.text);
}

#[tokio::test]
async fn a_subscriber_created_after_a_thousand_writes_bootstraps_from_the_snapshot_and_then_follows_live_changes()
 {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    import_units(&writer, "751", 1..=1000).await;
    // Nothing was bound when these were published: only the snapshot has them.
    let spec = Spec::new("late", &vhost.amqp_url, &writer, postgres_sink(&cache));
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    assert_eq!(subscriber.metrics.resync_loaded.get(), 1000);
    let probe = probe(&cache);
    assert_eq!(probe.state().await, snapshot(&writer, "751").await);

    // Live changes follow: renames, new units, a delete.
    for n in 2..=11 {
        let state = json!({"validity": {"from": "2020-01-01"}, "name": format!("Omdøbt {n}"), "parent": id("751", 1)});
        ok(
            writer.put("751", "units", id("751", n), state).await,
            "rename",
        )
        .await;
    }
    import_units(&writer, "751", 1001..=1005).await;
    delete(&writer, "751", "units", 500).await;
    let expected = snapshot(&writer, "751").await;
    assert_eq!(expected.len(), 1004);
    probe.converges_to(&expected, DEADLINE).await;

    subscriber.stop().await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn resync_removes_cache_rows_of_entities_deleted_while_the_subscriber_was_stopped() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let spec = Spec::new("repair", &vhost.amqp_url, &writer, postgres_sink(&cache));
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    import_units(&writer, "751", 1..=20).await;
    let probe = probe(&cache);
    probe
        .converges_to(&snapshot(&writer, "751").await, DEADLINE)
        .await;
    subscriber.stop().await;

    // While it is stopped: deletes, an update and a create, whose events are then lost (the
    // queue purged, as after an operator's mistake).
    for n in [5, 6, 7] {
        delete(&writer, "751", "units", n).await;
    }
    import_units(&writer, "751", 21..=22).await;
    let state =
        json!({"validity": {"from": "2020-01-01"}, "name": "Ændret", "parent": id("751", 1)});
    ok(
        writer.put("751", "units", id("751", 8), state).await,
        "update",
    )
    .await;
    let amqp = orghub_broker::connect(&vhost.amqp_url, "purge")
        .await
        .expect("amqp");
    eventually(DEADLINE, "the six events in the queue", || async {
        (queue_depth(&amqp, &spec.queue()).await == 6).then_some(())
    })
    .await;
    let channel = amqp.create_channel().await.expect("channel");
    channel
        .queue_purge(spec.queue().as_str().into(), Default::default())
        .await
        .expect("purge");
    assert_eq!(
        probe.state().await.len(),
        20,
        "the cache still has the deleted ones"
    );

    let subscriber = TestSubscriber::start(&spec, Command::Resync).await;
    let expected = snapshot(&writer, "751").await;
    assert_eq!(expected.len(), 19);
    assert_eq!(
        probe.state().await,
        expected,
        "resync alone repaired the cache"
    );
    assert_eq!(subscriber.metrics.resync_removed.get(), 3);
    let tombstones: Vec<(Uuid, i64, bool)> = sqlx::query_as(
        "SELECT uuid, version, (document->>'deleted')::boolean FROM orghub_cache.entity
         WHERE deleted ORDER BY uuid",
    )
    .fetch_all(&cache.pool)
    .await
    .expect("tombstones");
    assert_eq!(
        tombstones,
        [5, 6, 7].map(|n| (id("751", n), 2, true)).to_vec(),
        "removed rows are tombstones one version on"
    );

    // And it follows live changes after the resync.
    delete(&writer, "751", "units", 10).await;
    probe
        .converges_to(&snapshot(&writer, "751").await, DEADLINE)
        .await;

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn a_row_the_cache_database_refuses_goes_to_the_dlq_and_the_rest_of_its_batch_commits() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let spec = Spec::new("refusing", &vhost.amqp_url, &writer, postgres_sink(&cache));
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    // The fagsystem's own rule, as a trigger on the cache table: no unit named "Forbudt".
    sqlx::raw_sql(
        "CREATE FUNCTION public.no_forbidden() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.document->'timeline'->0->>'name' = 'Forbudt' THEN
             RAISE EXCEPTION 'units named Forbudt are not allowed here';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER no_forbidden BEFORE INSERT OR UPDATE ON orghub_cache.entity
           FOR EACH ROW EXECUTE FUNCTION public.no_forbidden();",
    )
    .execute(&cache.pool)
    .await
    .expect("trigger");

    let body: String = (1..=30)
        .map(|n| {
            let name = if n == 17 { "Forbudt".to_owned() } else { format!("Enhed {n}") };
            let state = json!({"validity": {"from": "2020-01-01"}, "name": name, "parent": (n > 1).then(|| id("751", 1))});
            json!({"kind": "unit", "uuid": id("751", n), "state": state}).to_string() + "\n"
        })
        .collect();
    let reply = writer.post_text("/api/v1/751/import", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let amqp = orghub_broker::connect(&vhost.amqp_url, "dlq reader")
        .await
        .expect("amqp");
    let dead = drain_queue(&amqp, &spec.dlq(), 1, DEADLINE).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        header(&dead[0], "ce-subject"),
        Some(id("751", 17).to_string())
    );
    assert_eq!(
        header(&dead[0], "orghub-error-kind").as_deref(),
        Some("sink-permanent")
    );
    let error = header(&dead[0], "orghub-error").unwrap_or_default();
    assert!(
        error.contains("P0001") && error.contains("Forbudt"),
        "{error}"
    );
    let mut expected = snapshot(&writer, "751").await;
    expected.remove(&id("751", 17));
    probe(&cache).converges_to(&expected, DEADLINE).await;

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn the_topology_follows_the_conventions_and_bindings_removed_from_the_config_are_unbound() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let mut spec = Spec::new(
        "fagsystem-x",
        &vhost.amqp_url,
        &writer,
        postgres_sink(&cache),
    );
    spec.bindings = vec![("751".into(), vec!["unit".into(), "person".into()])];
    spec.tiers = vec!["5s".into(), "1m".into()];
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    let mgmt = &vhost.mgmt;
    let v = vhost.name.as_str();

    let queue = mgmt
        .get_json(&["queues", v, "sub.fagsystem-x"])
        .await
        .expect("mgmt")
        .expect("queue");
    assert_eq!(queue["durable"], true);
    assert_eq!(queue["arguments"]["x-queue-type"], "quorum");
    assert_eq!(queue["arguments"]["x-single-active-consumer"], true);
    for (name, ttl) in [
        ("sub.fagsystem-x.retry.5s", 5000),
        ("sub.fagsystem-x.retry.1m", 60000),
    ] {
        let q = mgmt
            .get_json(&["queues", v, name])
            .await
            .expect("mgmt")
            .expect(name);
        assert_eq!(q["durable"], true, "{name}");
        assert_eq!(q["arguments"]["x-message-ttl"], ttl, "{name}");
        assert_eq!(
            q["arguments"]["x-dead-letter-exchange"], "sub.fagsystem-x.x",
            "{name}"
        );
        assert_eq!(
            q["arguments"]["x-dead-letter-routing-key"], "sub.fagsystem-x",
            "{name}"
        );
    }
    for name in ["sub.fagsystem-x.dlq", "sub.fagsystem-x.parked"] {
        let q = mgmt
            .get_json(&["queues", v, name])
            .await
            .expect("mgmt")
            .expect(name);
        assert_eq!(q["arguments"]["x-queue-type"], "quorum", "{name}");
    }
    let exchange = mgmt
        .get_json(&["exchanges", v, "sub.fagsystem-x.x"])
        .await
        .expect("mgmt")
        .expect("exchange");
    assert_eq!(
        (exchange["type"].as_str(), exchange["durable"].as_bool()),
        (Some("direct"), Some(true))
    );
    let mut internal: Vec<(String, String)> = mgmt
        .get_json(&["exchanges", v, "sub.fagsystem-x.x", "bindings", "source"])
        .await
        .expect("mgmt")
        .expect("bindings")
        .as_array()
        .expect("array")
        .iter()
        .map(|b| {
            (
                b["destination"].as_str().unwrap_or_default().to_owned(),
                b["routing_key"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    internal.sort();
    let expected_internal: Vec<(String, String)> = [
        "sub.fagsystem-x",
        "sub.fagsystem-x.dlq",
        "sub.fagsystem-x.parked",
        "sub.fagsystem-x.retry.1m",
        "sub.fagsystem-x.retry.5s",
    ]
    .iter()
    .map(|q| ((*q).to_owned(), (*q).to_owned()))
    .collect();
    assert_eq!(internal, expected_internal);
    let policy = mgmt
        .get_json(&["policies", v, "orghub-sub-fagsystem-x"])
        .await
        .expect("mgmt")
        .expect("policy");
    assert_eq!(policy["pattern"], "^sub\\.fagsystem-x$");
    assert_eq!(policy["apply-to"], "queues");
    assert_eq!(
        policy["definition"],
        json!({"delivery-limit": 10, "dead-letter-exchange": "sub.fagsystem-x.x", "dead-letter-routing-key": "sub.fagsystem-x.dlq", "dead-letter-strategy": "at-least-once", "overflow": "reject-publish"})
    );
    let keys = |bindings: Value| -> Vec<String> {
        let mut keys: Vec<String> = bindings
            .as_array()
            .expect("array")
            .iter()
            .filter(|b| b["source"] == "org.events")
            .map(|b| b["routing_key"].as_str().unwrap_or_default().to_owned())
            .collect();
        keys.sort();
        keys
    };
    let bindings = mgmt
        .get_json(&["queues", v, "sub.fagsystem-x", "bindings"])
        .await
        .expect("mgmt")
        .expect("bindings");
    assert_eq!(keys(bindings), ["org.751.person.*", "org.751.unit.*"]);
    subscriber.stop().await;

    // Person removed from the config: its binding goes at the next start.
    spec.bindings = vec![("751".into(), vec!["unit".into()])];
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    let bindings = mgmt
        .get_json(&["queues", v, "sub.fagsystem-x", "bindings"])
        .await
        .expect("mgmt")
        .expect("bindings");
    assert_eq!(keys(bindings), ["org.751.unit.*"]);
    subscriber.stop().await;

    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
