//! End to end: a subscriber is poisoned (its cache database refuses one entity), the operator
//! finds the dead letters and their reason with `orghubctl dlq list/show`, repairs the sink,
//! runs `orghubctl dlq replay --all`, and the cache converges with the DLQ empty and no event
//! applied twice.

use std::time::Duration;

use orghub_contracts::Kommune;
use orghub_contracts::facet::{Facet, class_uuid};
use orghub_subscriber::Command;
use orghub_tests::fixtures::id;
use orghub_tests::ops::{Ctl, queue_depth, unique_name};
use orghub_tests::subscriber::{Probe, Spec, TestSubscriber, refuse_units_named_forbudt, snapshot};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost, eventually};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(30);

/// The unit type class `user_key` of kommune 751.
fn unit_type(user_key: &str) -> uuid::Uuid {
    class_uuid(
        Kommune::parse("751").expect("kommune"),
        Facet::UnitType,
        user_key,
    )
}

/// The import lines of the two unit types the units refer to.
fn unit_types() -> String {
    ["afdeling", "center"]
        .map(|key| {
            let state = json!({"validity": {"from": "2020-01-01"}, "facet": "unit_type",
                               "user_key": key, "title": key});
            json!({"kind": "class", "uuid": unit_type(key), "state": state}).to_string() + "\n"
        })
        .concat()
}

fn unit(n: u32, name: &str, unit_type_key: &str) -> String {
    let state = json!({"validity": {"from": "2020-01-01"}, "name": name,
                       "unit_type": unit_type(unit_type_key), "parent": (n > 1).then(|| id(1))});
    json!({"kind": "unit", "uuid": id(n), "state": state}).to_string() + "\n"
}

#[tokio::test]
async fn a_poisoned_subscriber_is_repaired_by_dlq_replay_and_converges_without_applying_anything_twice()
 {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    // The classes exist before the subscriber: it loads them from the snapshot at its start.
    assert_eq!(
        writer
            .post_text("/api/v1/751/import", unit_types())
            .await
            .body["created"],
        2
    );
    let name = unique_name("poisoned");
    let spec = Spec::new(
        &name,
        &vhost.amqp_url,
        &writer,
        format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
    );
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    // The fagsystem's own rule, as a trigger on the cache table: no unit named "Forbudt".
    refuse_units_named_forbudt(&cache.pool).await;

    // 30 units, one of them refused; then a second version of the refused one: 2 dead letters.
    // (The second is written after the first was dead-lettered: in one batch, the sink would
    // rightly skip the older version as superseded.)
    let amqp = orghub_broker::connect(&vhost.amqp_url, "poison probe")
        .await
        .expect("amqp");
    let dlq = format!("sub.{name}.dlq");
    let body: String = (1..=30)
        .map(|n| unit(n, if n == 17 { "Forbudt" } else { "Enhed" }, "afdeling"))
        .collect();
    assert_eq!(
        writer.post_text("/api/v1/751/import", body).await.body["created"],
        30
    );
    eventually(DEADLINE, "the first dead letter", || async {
        (queue_depth(&amqp, &dlq).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        writer
            .post_text("/api/v1/751/import", unit(17, "Forbudt", "center"))
            .await
            .body["updated"],
        1
    );
    let events = writer.events("751").await.len() as u64;
    assert_eq!(
        events, 33,
        "2 classes, 30 units and the second version of unit 17"
    );

    let ctl = Ctl::new(&db.url, &vhost, &writer.base);
    eventually(DEADLINE, "two dead letters", || async {
        (queue_depth(&amqp, &dlq).await == 2).then_some(())
    })
    .await;

    // The operator finds them: list (management statistics lag a few seconds), then show.
    eventually(
        DEADLINE,
        "dlq list to show the subscriber's 2 dead letters",
        || async {
            let out = ctl.run(&["dlq", "list", "--json"]).await;
            let rows = if out.code == 0 {
                out.json()
            } else {
                serde_json::Value::Null
            };
            let row = rows
                .as_array()?
                .iter()
                .find(|r| r["subscriber"] == name.as_str())?
                .clone();
            (row["dlq"] == 2).then_some(())
        },
    )
    .await;
    let show = ctl.run(&["dlq", "show", &name]).await;
    show.expect_code(0);
    assert!(show.stdout.contains("sink-permanent"), "{}", show.stdout);
    assert!(show.stdout.contains(&id(17).to_string()), "{}", show.stdout);
    assert!(
        show.stdout.contains("Forbudt"),
        "the error says why: {}",
        show.stdout
    );
    let applied_before = subscriber.metrics.applied.get();
    assert_eq!(applied_before, 29, "every other unit was applied once");

    // Repair the sink, replay everything, converge.
    sqlx::raw_sql("DROP TRIGGER no_forbidden ON orghub_cache.entity")
        .execute(&cache.pool)
        .await
        .expect("repair");
    ctl.run(&["dlq", "replay", &name, "--all"])
        .await
        .expect_code(0);
    let expected = snapshot(&writer, "751").await;
    Probe::Postgres {
        pool: cache.pool.clone(),
        schema: "orghub_cache".into(),
    }
    .converges_to(&expected, DEADLINE)
    .await;
    assert_eq!(queue_depth(&amqp, &dlq).await, 0, "the DLQ is empty");
    eventually(DEADLINE, "both replayed events settled", || async {
        let settled = subscriber.metrics.applied.get() + subscriber.metrics.stale.get();
        (settled >= applied_before + 2).then_some(())
    })
    .await;
    assert!(
        subscriber.metrics.applied.get() <= events,
        "no event applied twice: {} applied of {events} events",
        subscriber.metrics.applied.get()
    );

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
