//! `orghubctl classes seed`: the standard catalogue loaded into a municipality, readable through
//! the API with its deterministic UUIDs, and a second seed changing nothing and emitting nothing.

use orghub_contracts::catalogue;
use orghub_contracts::facet::class_uuid;
use orghub_contracts::{Facet, Kommune};
use orghub_tests::{HubOptions, TestHub};

#[tokio::test]
async fn seeding_the_catalogue_twice_emits_its_events_once() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let kommune: Kommune = "751".parse().expect("kommune");
    let classes = catalogue::entries().count() as i64;
    assert!(classes > 200, "a realistic catalogue: {classes} classes");

    let first = env
        .ctl()
        .run(&["classes", "seed", "--kommune", "751", "--json"])
        .await
        .expect_code(0)
        .json();
    assert_eq!(first["created"], classes, "{first}");
    assert_eq!(first["rejected_count"], 0, "{first}");
    assert_eq!(
        first["per_facet"]["job_title"].as_u64().map(|n| n > 100),
        Some(true)
    );
    assert_eq!(env.event_count().await, classes, "one event per class");

    let second = env
        .ctl()
        .run(&["classes", "seed", "--kommune", "751"])
        .await;
    second.expect_code(0);
    assert!(
        second.stdout.contains("unchanged") && second.stdout.contains("nothing changed"),
        "{}",
        second.stdout
    );
    assert_eq!(
        env.event_count().await,
        classes,
        "the second seed emits no event"
    );

    // Readable by their derived UUIDs, with the catalogue's titles and parents.
    let paedagog = class_uuid(kommune, Facet::JobTitle, "paedagog");
    let r = env
        .writer
        .get(&format!("/api/v1/751/classes/{paedagog}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["current"]["title"], "Pædagog", "{}", r.body);
    assert_eq!(r.body["current"]["facet"], "job_title", "{}", r.body);
    let mus = class_uuid(kommune, Facet::Responsibility, "mus");
    let r = env.writer.get(&format!("/api/v1/751/classes/{mus}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["current"]["parent"],
        class_uuid(kommune, Facet::Responsibility, "personale").to_string(),
        "{}",
        r.body
    );
    // Another municipality's catalogue has its own UUIDs and is not there yet.
    let other = class_uuid("101".parse().expect("kommune"), Facet::JobTitle, "paedagog");
    let r = env
        .writer
        .get(&format!("/api/v1/101/classes/{other}"))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    env.stop().await;
}
