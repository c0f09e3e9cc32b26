//! The writer's integrity rules, one scenario each, through the HTTP API: a refused write answers
//! with a problem naming the field (or the dependents) and leaves no registration and no event.

use orghub_tests::fixtures::{SINCE, id};
use orghub_tests::writer::{ADMIN_TOKEN, Reply, TestWriter};
use orghub_tests::{HubOptions, TestHub};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const K: &str = "751";

fn unit(n: u32, parent: Option<u32>) -> Value {
    json!({"validity": {"from": SINCE}, "name": format!("Enhed {n}"), "parent": parent.map(id)})
}

fn unit_until(n: u32, parent: Option<u32>, to: &str) -> Value {
    json!({"validity": {"from": SINCE, "to": to}, "name": format!("Enhed {n}"), "parent": parent.map(id)})
}

fn person() -> Value {
    json!({"validity": {"from": SINCE}, "given_name": "Mette", "surname": "Kristensen"})
}

fn engagement(person: u32, unit: u32) -> Value {
    json!({"validity": {"from": SINCE}, "person": id(person), "unit": id(unit)})
}

async fn put_ok(w: &TestWriter, kommune: &str, path: &str, n: u32, state: Value) {
    let r = w.put(kommune, path, id(n), state).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
}

async fn terminate_unit(w: &TestWriter, n: u32, to: &str) -> Reply {
    w.call(
        Method::POST,
        &format!("/api/v1/{K}/units/{}/terminate", id(n)),
        Some(ADMIN_TOKEN),
        Some(&json!({"to": to})),
    )
    .await
}

/// A root unit 1 and unit 2 under it in 751.
async fn with_a_root_and_a_child() -> TestHub {
    let hub = TestHub::start(HubOptions::without_relay()).await;
    put_ok(&hub.writer, K, "units", 1, unit(1, None)).await;
    put_ok(&hub.writer, K, "units", 2, unit(2, Some(1))).await;
    hub
}

/// Asserts the refusal's status and problem type, and that the refused write left no event
/// (`events` is the count before it). Returns the problem.
async fn assert_refused(hub: &TestHub, r: Reply, status: u16, ty: &str, events: i64) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.body["type"],
        format!("urn:orghub:problem:{ty}"),
        "{}",
        r.text
    );
    assert_eq!(
        hub.event_count().await,
        events,
        "a refused write emits nothing"
    );
    r.body
}

/// The first error's pointer and detail.
fn first_error(problem: &Value) -> (&str, &str) {
    let e = &problem["errors"][0];
    (
        e["pointer"].as_str().unwrap_or(""),
        e["detail"].as_str().unwrap_or(""),
    )
}

fn dependents(problem: &Value) -> Vec<Uuid> {
    problem["dependents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["uuid"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_second_root_in_a_municipality_is_refused_while_another_municipality_has_its_own() {
    let hub = with_a_root_and_a_child().await;
    let events = hub.event_count().await;

    let r = hub.writer.put(K, "units", id(3), unit(3, None)).await;
    let problem = assert_refused(&hub, r, 422, "integrity", events).await;
    let (pointer, detail) = first_error(&problem);
    assert_eq!(pointer, "/parent");
    assert!(detail.contains(&id(1).to_string()), "{detail}");

    // Making the child a root is a second root as well.
    let r = hub.writer.put(K, "units", id(2), unit(2, None)).await;
    assert_refused(&hub, r, 422, "integrity", events).await;

    // Each municipality has its own hierarchy.
    put_ok(&hub.writer, "101", "units", 900, unit(900, None)).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_unit_under_its_own_descendant_is_refused_as_a_cycle() {
    let hub = with_a_root_and_a_child().await;
    put_ok(&hub.writer, K, "units", 3, unit(3, Some(2))).await;
    let events = hub.event_count().await;

    let r = hub.writer.put(K, "units", id(2), unit(2, Some(3))).await;
    let problem = assert_refused(&hub, r, 422, "integrity", events).await;
    let (pointer, detail) = first_error(&problem);
    assert_eq!(pointer, "/parent");
    assert!(detail.contains("cycle"), "{detail}");
    hub.stop().await;
}

#[tokio::test]
async fn a_reference_to_an_entity_that_does_not_exist_is_refused() {
    let hub = with_a_root_and_a_child().await;
    let events = hub.event_count().await;

    let r = hub.writer.put(K, "units", id(3), unit(3, Some(77))).await;
    let problem = assert_refused(&hub, r, 422, "integrity", events).await;
    let (pointer, detail) = first_error(&problem);
    assert_eq!(pointer, "/parent");
    assert!(detail.contains("exists"), "{detail}");
    hub.stop().await;
}

#[tokio::test]
async fn a_reference_into_another_municipality_is_refused() {
    let hub = with_a_root_and_a_child().await;
    put_ok(&hub.writer, "101", "units", 900, unit(900, None)).await;
    let events = hub.event_count().await;

    let r = hub.writer.put(K, "units", id(3), unit(3, Some(900))).await;
    let problem = assert_refused(&hub, r, 422, "integrity", events).await;
    let (pointer, detail) = first_error(&problem);
    assert_eq!(pointer, "/parent");
    assert!(detail.contains("another municipality"), "{detail}");
    hub.stop().await;
}

#[tokio::test]
async fn a_reference_valid_for_only_part_of_the_interval_is_refused() {
    let hub = with_a_root_and_a_child().await;
    put_ok(
        &hub.writer,
        K,
        "units",
        3,
        unit_until(3, Some(1), "2021-01-01"),
    )
    .await;
    put_ok(&hub.writer, K, "persons", 10, person()).await;
    let events = hub.event_count().await;

    // Unit 3 ends on 2021-01-01; the engagement runs on without an end.
    let r = hub
        .writer
        .put(K, "engagements", id(20), engagement(10, 3))
        .await;
    let problem = assert_refused(&hub, r, 422, "integrity", events).await;
    let (pointer, detail) = first_error(&problem);
    assert_eq!(pointer, "/unit");
    assert!(detail.contains("whole interval"), "{detail}");
    hub.stop().await;
}

#[tokio::test]
async fn an_owner_may_end_only_after_its_dependents_do() {
    let hub = with_a_root_and_a_child().await;
    put_ok(&hub.writer, K, "persons", 10, person()).await;
    let until_2022 =
        json!({"validity": {"from": SINCE, "to": "2022-01-01"}, "person": id(10), "unit": id(2)});
    put_ok(&hub.writer, K, "engagements", 20, until_2022).await;
    let events = hub.event_count().await;
    let r = terminate_unit(&hub.writer, 2, "2021-01-01").await;
    let problem = assert_refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![id(20)], "{problem}");

    let r = terminate_unit(&hub.writer, 2, "2022-01-01").await;
    assert_eq!(
        r.status, 200,
        "the engagement has ended by then: {}",
        r.text
    );
    hub.stop().await;
}

#[tokio::test]
async fn terminating_a_unit_with_dependents_is_refused_with_the_dependents() {
    let hub = with_a_root_and_a_child().await;
    put_ok(&hub.writer, K, "units", 3, unit(3, Some(2))).await;
    let events = hub.event_count().await;

    let r = terminate_unit(&hub.writer, 2, "2022-01-01").await;
    let problem = assert_refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![id(3)], "{problem}");
    hub.stop().await;
}

#[tokio::test]
async fn deleting_an_entity_with_dependents_is_refused_with_the_dependents() {
    let hub = with_a_root_and_a_child().await;
    put_ok(&hub.writer, K, "persons", 10, person()).await;
    put_ok(&hub.writer, K, "engagements", 20, engagement(10, 2)).await;
    let events = hub.event_count().await;

    let r = hub
        .writer
        .call(
            Method::DELETE,
            &format!("/api/v1/{K}/persons/{}", id(10)),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    let problem = assert_refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![id(20)], "{problem}");
    hub.stop().await;
}
