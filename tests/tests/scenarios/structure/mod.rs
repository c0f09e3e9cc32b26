//! The organisation a municipality really has (issue #12, DESIGN §2): classifications and class
//! references, several unit hierarchies, groups and associations, the primary engagement, IT
//! accounts tied to engagements, and writing CPR numbers. One scenario per rule, through the
//! writer's HTTP API; each refusal is checked for its status, problem type and pointer, and for
//! leaving no event behind.

mod classes;
mod cpr;
mod engagements;
mod groups;
mod hierarchies;
mod paths;

use orghub_tests::fixtures::{Facet, SINCE, class, id, seed_classes};
use orghub_tests::writer::{ADMIN_TOKEN, Reply, TestWriter};
use orghub_tests::{HubOptions, TestHub};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const K: &str = "751";

/// A hub without a relay, with the fixtures' classes seeded in 751.
async fn hub_with_classes() -> TestHub {
    let hub = TestHub::start(HubOptions::without_relay()).await;
    seed_classes(&hub.writer, K).await;
    hub
}

/// Class `key` of `facet` in 751.
fn c(facet: Facet, key: &str) -> Uuid {
    class(K, facet, key)
}

/// A unit valid from [`SINCE`] in `hierarchy` (`None`: the line organisation).
fn unit_in(name: &str, hierarchy: Option<Uuid>, parent: Option<Uuid>) -> Value {
    json!({"validity": {"from": SINCE}, "name": name, "hierarchy": hierarchy, "parent": parent})
}

fn person() -> Value {
    json!({"validity": {"from": SINCE}, "given_name": "Mette", "surname": "Kristensen"})
}

/// An engagement of `person` in `unit` over `[from, to)`.
fn engagement(person: Uuid, unit: Uuid, primary: bool, from: &str, to: Option<&str>) -> Value {
    json!({"validity": {"from": from, "to": to}, "person": person, "unit": unit,
           "job_title": c(Facet::JobTitle, "paedagog"), "primary": primary})
}

async fn put_ok(w: &TestWriter, path: &str, uuid: Uuid, state: Value) -> Reply {
    let r = w.put(K, path, uuid, state).await;
    assert!(
        r.status == 200 || r.status == 201,
        "PUT {path}/{uuid}: {}",
        r.text
    );
    r
}

/// Asserts a refusal: status, problem type, and no event since `events`. Returns the problem.
async fn refused(hub: &TestHub, r: Reply, status: u16, ty: &str, events: i64) -> Value {
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

/// Asserts a 422 integrity refusal whose first error is at `pointer` and mentions `says`.
async fn refused_at(hub: &TestHub, r: Reply, pointer: &str, says: &str, events: i64) {
    let problem = refused(hub, r, 422, "integrity", events).await;
    let e = &problem["errors"][0];
    assert_eq!(e["pointer"], pointer, "{problem}");
    let detail = e["detail"].as_str().unwrap_or("");
    assert!(detail.contains(says), "{says:?} not in {detail:?}");
}

/// The UUIDs of a 409's dependents.
fn dependents(problem: &Value) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = problem["dependents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["uuid"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn terminate(w: &TestWriter, path: &str, uuid: Uuid, to: &str) -> Reply {
    w.call(
        Method::POST,
        &format!("/api/v1/{K}/{path}/{uuid}/terminate"),
        Some(ADMIN_TOKEN),
        Some(&json!({"to": to})),
    )
    .await
}

async fn delete(w: &TestWriter, path: &str, uuid: Uuid) -> Reply {
    w.call(
        Method::DELETE,
        &format!("/api/v1/{K}/{path}/{uuid}"),
        Some(ADMIN_TOKEN),
        None,
    )
    .await
}

/// POSTs `/changes` as admin.
async fn changes(w: &TestWriter, ops: Value) -> Reply {
    w.call(
        Method::POST,
        &format!("/api/v1/{K}/changes"),
        Some(ADMIN_TOKEN),
        Some(&ops),
    )
    .await
}

/// An import as admin (partial).
async fn import(w: &TestWriter, lines: &[Value]) -> Reply {
    let body: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    let r = w.post_text(&format!("/api/v1/{K}/import"), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// The line numbers an import rejected, with the first pointer of each.
fn rejected(r: &Reply) -> Vec<(u64, String)> {
    r.body["rejected"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["line"].as_u64().unwrap_or(0),
                        x["errors"][0]["pointer"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A token with `scopes`, made by the admin.
async fn token(w: &TestWriter, scopes: &[&str]) -> String {
    let r = w
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(&json!({"name": "structure", "scopes": scopes})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().expect("the token").to_owned()
}

/// `id(n)` as a string-free shorthand for the scenarios.
fn u(n: u32) -> Uuid {
    id(n)
}
