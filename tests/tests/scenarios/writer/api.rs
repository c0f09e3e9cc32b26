//! Black-box scenarios of the writer: real PostgreSQL and RabbitMQ, a fresh database and vhost
//! per test, the writer (API and relay) in-process on port 0.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, Months, Utc};
use orghub_tests::fixtures::{CLASSES, Facet, SINCE, class, class_state, id, today};
use orghub_tests::writer::{ADMIN_TOKEN, TestWriter};
use orghub_tests::{HubOptions, TestHub, bind_probe_queue};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

fn unit(name: &str, parent: Option<Uuid>) -> Value {
    json!({"validity": {"from": SINCE}, "name": name, "parent": parent})
}

/// Builds a small municipality; returns the number of changing writes.
async fn build_small_municipality(w: &TestWriter, k: &str) -> usize {
    let c = |facet: Facet, key: &str| class(k, facet, key);
    // The classes first: everything below refers to them.
    let mut writes: Vec<(&str, Uuid, Value)> = CLASSES
        .iter()
        .map(|&(facet, key, title)| ("classes", c(facet, key), class_state(facet, key, title)))
        .collect();
    writes.extend([
        ("units", id(1), unit("Aarhus Kommune", None)),
        ("units", id(2), unit("Børn og Unge", Some(id(1)))),
        ("units", id(3), unit("Sundhed og Omsorg", Some(id(1)))),
        ("units", id(4), unit("Skovvangskolen", Some(id(2)))),
        (
            "persons",
            id(10),
            json!({"validity": {"from": SINCE}, "given_name": "Mette", "surname": "Kristensen", "cpr": "0101901234"}),
        ),
        (
            "persons",
            id(11),
            json!({"validity": {"from": SINCE}, "given_name": "Jens", "surname": "Nielsen"}),
        ),
        (
            "engagements",
            id(20),
            json!({"validity": {"from": "2021-08-01"}, "person": id(10), "unit": id(4), "job_title": c(Facet::JobTitle, "paedagog"), "primary": true}),
        ),
        (
            "engagements",
            id(21),
            json!({"validity": {"from": SINCE}, "person": id(11), "unit": id(3), "job_title": c(Facet::JobTitle, "sagsbehandler")}),
        ),
        (
            "managers",
            id(30),
            json!({"validity": {"from": SINCE}, "unit": id(2), "person": id(11), "manager_type": c(Facet::ManagerType, "direktoer")}),
        ),
        (
            "addresses",
            id(40),
            json!({"validity": {"from": SINCE}, "owner": {"kind": "unit", "uuid": id(4)}, "address_type": "email", "value": "skovvangskolen@aarhus.dk", "visibility": "public"}),
        ),
        (
            "addresses",
            id(41),
            json!({"validity": {"from": SINCE}, "owner": {"kind": "unit", "uuid": id(4)}, "address_type": "ean", "value": "4006381333931"}),
        ),
        (
            "kle",
            id(50),
            json!({"validity": {"from": SINCE}, "unit": id(4), "kle_number": "17.01", "aspects": ["ansvarlig"]}),
        ),
        (
            "itaccounts",
            id(60),
            json!({"validity": {"from": "2021-08-01"}, "person": id(10), "it_system": c(Facet::ItSystem, "ad"), "user_id": "AZ10001", "engagements": [id(20)]}),
        ),
        // A change of an existing entity: a second version.
        (
            "engagements",
            id(20),
            json!({"validity": {"from": "2024-01-01"}, "person": id(10), "unit": id(4), "job_title": c(Facet::JobTitle, "paedagogisk-leder"), "primary": true}),
        ),
    ]);
    for (collection, uuid, state) in &writes {
        let r = w.put(k, collection, *uuid, state.clone()).await;
        assert!(
            r.status == 201 || r.status == 200,
            "PUT {collection}/{uuid}: {}",
            r.text
        );
        assert_eq!(r.body["changed"], true, "{}", r.text);
    }
    writes.len()
}

#[tokio::test]
async fn building_a_municipality_emits_one_event_per_changing_write() {
    let env = TestHub::start(HubOptions::default()).await;
    let conn = orghub_broker::connect(&env.vhost.amqp_url, "probe")
        .await
        .expect("amqp");
    let probe = bind_probe_queue(&conn, "org.751.#").await;
    let writes = build_small_municipality(&env.writer, "751").await;

    let events = probe.next_events(writes, Duration::from_secs(20)).await;
    assert_eq!(events.len(), writes);
    // Sequences are contiguous for the municipality and arrive in order.
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=writes as u64).collect::<Vec<_>>());
    // Entity versions are contiguous per entity.
    let mut versions: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    for e in &events {
        versions
            .entry(e.subject())
            .or_default()
            .push(e.entity_version);
    }
    for (uuid, v) in &versions {
        assert_eq!(
            *v,
            (1..=v.len() as u64).collect::<Vec<_>>(),
            "versions of {uuid}"
        );
    }
    // Each event's data is the GET document at that version, without CPR.
    for e in &events {
        let as_of = e.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let path = format!(
            "/api/v1/751/{}/{}?as_of={}",
            e.kind().path(),
            e.subject(),
            urlencode(&as_of)
        );
        let doc = env
            .writer
            .call(Method::GET, &path, Some(ADMIN_TOKEN), None)
            .await;
        assert_eq!(doc.status, 200, "{}", doc.text);
        let mut expected = doc.body.clone();
        strip_cpr(&mut expected);
        let data = serde_json::to_value(&e.data).expect("data");
        assert_eq!(
            data,
            expected,
            "event {} of {}",
            e.entity_version,
            e.subject()
        );
        assert!(!data.to_string().contains("cpr"));
    }
    // CPR is kept in the store and shown to the admin.
    let person = env
        .writer
        .get(&format!("/api/v1/751/persons/{}", id(10)))
        .await;
    assert_eq!(person.body["current"]["cpr"], "0101901234");
    assert!(probe.drain_now().await.is_empty(), "no extra events");
    env.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

fn strip_cpr(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("cpr");
            o.values_mut().for_each(strip_cpr);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_cpr),
        _ => {}
    }
}

#[tokio::test]
async fn a_rename_next_month_shows_in_the_timeline_but_not_today() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    assert_eq!(
        w.put("751", "units", id(1), unit("Aarhus Kommune", None))
            .await
            .status,
        201
    );
    let before = Utc::now();
    let next_month = today()
        .checked_add_months(Months::new(1))
        .expect("date")
        .with_day(1)
        .expect("day 1");
    let rename = json!({"validity": {"from": next_month.to_string()}, "name": "Aarhus Byråd", "parent": null});
    let r = w.put("751", "units", id(1), rename).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["current"]["name"], "Aarhus Kommune");
    let timeline = r.body["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[1]["name"], "Aarhus Byråd");
    assert_eq!(timeline[1]["validity"]["from"], next_month.to_string());

    let at = w
        .get(&format!("/api/v1/751/units/{}?at={next_month}", id(1)))
        .await;
    assert_eq!(at.body["current"]["name"], "Aarhus Byråd");
    let as_of = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let old = w
        .get(&format!(
            "/api/v1/751/units/{}?as_of={}",
            id(1),
            urlencode(&as_of)
        ))
        .await;
    assert_eq!(old.status, 200, "{}", old.text);
    assert_eq!(old.body["version"], 1);
    assert_eq!(old.body["timeline"].as_array().map(Vec::len), Some(1));
    let history = w.get(&format!("/api/v1/751/units/{}/history", id(1))).await;
    let versions: Vec<i64> = history.body["registrations"]
        .as_array()
        .expect("registrations")
        .iter()
        .map(|r| r["version"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(versions, vec![2, 1], "newest first");
    env.stop().await;
}

#[tokio::test]
async fn writing_the_same_state_or_importing_the_same_file_again_changes_nothing() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    let writes = build_small_municipality(w, "751").await;
    assert_eq!(env.event_count().await, writes as i64);
    let again = w
        .put("751", "units", id(2), unit("Børn og Unge", Some(id(1))))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["changed"], false);
    assert_eq!(again.body["version"], 1);

    let ndjson: String = (100..150)
        .map(|n| json!({"kind": "unit", "uuid": id(n), "state": unit(&format!("Institution {n}"), Some(id(3)))}).to_string() + "\n")
        .collect();
    let first = w.post_text("/api/v1/751/import", ndjson.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["created"], 50);
    let count = env.event_count().await;
    assert_eq!(count, writes as i64 + 50);
    let second = w.post_text("/api/v1/751/import", ndjson).await;
    assert_eq!(second.body["unchanged"], 50, "{}", second.text);
    assert_eq!(second.body["created"], 0);
    assert_eq!(
        env.event_count().await,
        count,
        "a no-op import emits nothing"
    );
    let registrations: i64 = sqlx::query_scalar("SELECT count(*) FROM registration")
        .fetch_one(&env.db.pool)
        .await
        .expect("count");
    assert_eq!(
        registrations, count,
        "one registration per event, none for no-ops"
    );
    env.stop().await;
}

#[tokio::test]
async fn integrity_rules_refuse_bad_writes_with_problem_details_and_no_event() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    build_small_municipality(w, "751").await;
    assert_eq!(
        w.put("101", "units", id(900), unit("Københavns Kommune", None))
            .await
            .status,
        201
    );
    let events = env.event_count().await;

    let check = |r: orghub_tests::writer::Reply, status: u16, ty: &str| {
        assert_eq!(r.status, status, "{}", r.text);
        assert_eq!(
            r.body["type"],
            format!("urn:orghub:problem:{ty}"),
            "{}",
            r.text
        );
        r
    };
    // A parent in another municipality.
    let r = check(
        w.put("751", "units", id(5), unit("Fremmed", Some(id(900))))
            .await,
        422,
        "integrity",
    );
    assert_eq!(r.body["errors"][0]["pointer"], "/parent");
    // A cycle: the root under its own grandchild.
    let r = check(
        w.put("751", "units", id(2), unit("Børn og Unge", Some(id(4))))
            .await,
        422,
        "integrity",
    );
    assert!(
        r.body["errors"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("cycle"),
        "{}",
        r.text
    );
    // An engagement outside its unit's validity.
    let short = json!({"validity": {"from": SINCE, "to": "2021-01-01"}, "name": "Projektenhed", "parent": id(1)});
    assert_eq!(w.put("751", "units", id(6), short).await.status, 201);
    let events = events + 1;
    let eng = json!({"validity": {"from": "2020-06-01"}, "person": id(11), "unit": id(6)});
    let r = check(
        w.put("751", "engagements", id(22), eng).await,
        422,
        "integrity",
    );
    assert_eq!(r.body["errors"][0]["pointer"], "/unit");
    // Terminating a unit that still has engagements.
    let r = w
        .call(
            Method::POST,
            &format!("/api/v1/751/units/{}/terminate", id(4)),
            Some(ADMIN_TOKEN),
            Some(&json!({"to": "2022-01-01"})),
        )
        .await;
    let r = check(r, 409, "dependents");
    let dependents: Vec<String> = r.body["dependents"]
        .as_array()
        .expect("dependents")
        .iter()
        .map(|d| d["uuid"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(dependents.contains(&id(20).to_string()), "{}", r.text);
    // Deleting a person with an engagement.
    let r = w
        .call(
            Method::DELETE,
            &format!("/api/v1/751/persons/{}", id(10)),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    check(r, 409, "dependents");
    // An unknown municipality.
    check(
        w.put("999", "units", id(7), unit("X", Some(id(1)))).await,
        404,
        "unknown-kommune",
    );
    // Malformed JSON and wrong types.
    let r = w
        .client
        .put(format!("{}/api/v1/751/units/{}", w.base, id(7)))
        .bearer_auth(ADMIN_TOKEN)
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = check(
        w.put(
            "751",
            "units",
            id(7),
            json!({"validity": {"from": SINCE}, "name": 42, "parent": id(1)}),
        )
        .await,
        422,
        "validation",
    );
    assert_eq!(r.body["errors"][0]["pointer"], "/name");
    let r = check(w.put("751", "persons", id(12), json!({"validity": {"from": SINCE}, "given_name": "A", "surname": "B", "cpr": "0113901234"})).await, 422, "validation");
    assert_eq!(r.body["errors"][0]["pointer"], "/cpr");
    assert_eq!(
        env.event_count().await,
        events,
        "refused writes emit nothing"
    );
    env.stop().await;
}

#[tokio::test]
async fn tokens_are_scoped_per_municipality() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    let created = w
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(&json!({"name": "hr-kbh", "scopes": ["write:101", "read:101"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = created.body["token"]
        .as_str()
        .expect("token shown once")
        .to_owned();
    let state = unit("Aarhus Kommune", None);
    let path = format!("/api/v1/751/units/{}", id(1));
    assert_eq!(
        w.call(Method::PUT, &path, Some(&token), Some(&state))
            .await
            .status,
        403
    );
    assert_eq!(
        w.call(Method::PUT, &path, None, Some(&state)).await.status,
        401
    );
    assert_eq!(
        w.call(Method::PUT, &path, Some("ohk_wrong"), Some(&state))
            .await
            .status,
        401
    );
    let own = format!("/api/v1/101/units/{}", id(1));
    assert_eq!(
        w.call(Method::PUT, &own, Some(&token), Some(&state))
            .await
            .status,
        201
    );
    // Without the cpr scope, a CPR number can be neither written nor read.
    let p = json!({"validity": {"from": SINCE}, "given_name": "A", "surname": "B", "cpr": "0101901234"});
    let person = format!("/api/v1/101/persons/{}", id(2));
    let r = w.call(Method::PUT, &person, Some(&token), Some(&p)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/cpr", "{}", r.text);
    assert_eq!(w.admin(Method::PUT, &person, Some(&p)).await.status, 201);
    let r = w.call(Method::GET, &person, Some(&token), None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["current"].get("cpr").is_none(), "{}", r.text);
    // Revoked tokens stop working; hashes only at rest.
    let tid = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        w.admin(Method::DELETE, &format!("/api/v1/admin/tokens/{tid}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        w.call(Method::GET, &own, Some(&token), None).await.status,
        401
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_token WHERE position($1::bytea in hash) > 0")
            .bind(token.as_bytes())
            .fetch_one(&env.db.pool)
            .await
            .expect("q");
    assert_eq!(stored, 0);
    env.stop().await;
}

#[tokio::test]
async fn changes_are_atomic_and_idempotent() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    let ops = json!([
        {"op": "put", "kind": "unit", "uuid": id(1), "state": unit("Aarhus Kommune", None)},
        {"op": "put", "kind": "unit", "uuid": id(2), "state": unit("Teknik og Miljø", Some(id(1)))},
    ]);
    let send = |body: Value, key: &'static str| {
        w.client
            .post(format!("{}/api/v1/751/changes", w.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", key)
            .body(body.to_string())
            .send()
    };
    let first = send(ops.clone(), "k1").await.expect("send");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let retry: Value = send(ops.clone(), "k1")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(first, retry);
    assert_eq!(env.event_count().await, 2);
    let other = send(
        json!([{"op": "delete", "kind": "unit", "uuid": id(2)}]),
        "k1",
    )
    .await
    .expect("send");
    assert_eq!(other.status(), 422);
    // All or nothing: the second operation is refused, so the first is not written either.
    let bad = json!([
        {"op": "put", "kind": "unit", "uuid": id(3), "state": unit("Kultur", Some(id(1)))},
        {"op": "put", "kind": "unit", "uuid": id(4), "state": unit("Løs", Some(id(99)))},
    ]);
    let r = w
        .admin(Method::POST, "/api/v1/751/changes", Some(&bad))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/1/state/parent");
    assert_eq!(
        w.get(&format!("/api/v1/751/units/{}", id(3))).await.status,
        404
    );
    assert_eq!(env.event_count().await, 2);
    env.stop().await;
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    let doc = w.get("/openapi.json").await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, methods) in paths {
        for method in methods.as_object().expect("methods").keys() {
            let concrete = path
                .replace("{kommune}", "751")
                .replace("{kind}", "units")
                .replace("{uuid}", &id(1).to_string())
                .replace("{id}", &Uuid::nil().to_string());
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let r = w
                .call(m, &concrete, Some(ADMIN_TOKEN), Some(&json!({})))
                .await;
            let detail = r.body["detail"].as_str().unwrap_or("");
            assert!(
                detail != "no such route" && !detail.contains("method not allowed"),
                "{method} {path}: {}",
                r.text
            );
            checked += 1;
        }
    }
    assert!(checked >= 17, "{checked}");
    assert_eq!(w.get("/healthz").await.status, 200);
    assert_eq!(w.get("/nope").await.status, 404);
    env.stop().await;
}

/// The README's example write, taken from the README itself so the two cannot drift apart.
#[tokio::test]
async fn the_readme_example_write_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    let start = readme
        .find("curl -X PUT")
        .expect("the README has a curl PUT example");
    let example: String = readme[start..]
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let url = example
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL");
    let path = &url[url.find("/api/").expect("an API path")..];
    let body = &example[example.find("-d '").expect("a -d body") + 4..];
    let body: Value =
        serde_json::from_str(&body[..body.find('\'').expect("closing quote")]).expect("JSON body");
    let env = TestHub::start(HubOptions::default()).await;
    let r = env
        .writer
        .call(Method::PUT, path, Some(ADMIN_TOKEN), Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["changed"], true);
    env.stop().await;
}

/// Concurrent writes to one municipality are applied together (one transaction per group of
/// waiting requests): every request still gets its own answer, a refused one — even an atomic
/// batch refused at its second operation — leaves nothing behind, and the event log stays
/// gap-free with one event per accepted change.
#[tokio::test]
async fn concurrent_writes_each_get_their_own_answer_and_refusals_leave_no_trace() {
    let env = TestHub::start(HubOptions::default()).await;
    let w = &env.writer;
    let r = w
        .put("751", "units", id(1), unit("Aarhus Kommune", None))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let requests = (0..60u32).map(|n| {
        let uuid = id(1_000 + n);
        async move {
            match n % 6 {
                // Refused: the parent does not exist.
                0 => (
                    n,
                    w.put("751", "units", uuid, unit("Løs", Some(id(99))))
                        .await,
                ),
                // Refused at its second operation: the first must not be written either.
                1 => {
                    let ops = json!([
                        {"op": "put", "kind": "unit", "uuid": uuid, "state": unit("Med", Some(id(1)))},
                        {"op": "put", "kind": "unit", "uuid": id(5_000 + n), "state": unit("Løs", Some(id(98)))},
                    ]);
                    (n, w.admin(Method::POST, "/api/v1/751/changes", Some(&ops)).await)
                }
                _ => (
                    n,
                    w.put("751", "units", uuid, unit(&format!("Afdeling {n}"), Some(id(1))))
                        .await,
                ),
            }
        }
    });
    let replies = futures_util::future::join_all(requests).await;
    let mut accepted = 0;
    for (n, reply) in &replies {
        let uuid = id(1_000 + n);
        match n % 6 {
            0 | 1 => {
                assert_eq!(reply.status, 422, "request {n}: {}", reply.text);
                assert_eq!(
                    w.get(&format!("/api/v1/751/units/{uuid}")).await.status,
                    404,
                    "request {n} was refused but its unit exists"
                );
            }
            _ => {
                assert_eq!(reply.status, 201, "request {n}: {}", reply.text);
                assert_eq!(
                    reply.body["uuid"],
                    uuid.to_string(),
                    "request {n}'s own answer"
                );
                assert_eq!(reply.body["version"], 1);
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, 40);
    let (count, max, last): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), max(sequence), (SELECT last_sequence FROM municipality WHERE code = 751)
         FROM event WHERE kommune = 751",
    )
    .fetch_one(&env.db.pool)
    .await
    .expect("event log");
    assert_eq!(
        (count, max, last),
        (41, 41, 41),
        "one event per accepted write, gap-free"
    );
    env.stop().await;
}

/// The relay builds each message's properties and `ce-*` headers from the event row's columns,
/// not from the body: they must say exactly what the published body says, traceparent included.
#[tokio::test]
async fn published_properties_and_headers_match_the_body() {
    let env = TestHub::start(HubOptions::default()).await;
    let conn = orghub_broker::connect(&env.vhost.amqp_url, "probe")
        .await
        .expect("amqp");
    let probe = bind_probe_queue(&conn, "org.751.#").await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let w = &env.writer;
    let traced = w
        .client
        .put(format!("{}/api/v1/751/units/{}", w.base, id(1)))
        .bearer_auth(ADMIN_TOKEN)
        .header("traceparent", traceparent)
        .json(&unit("Aarhus Kommune", None))
        .send()
        .await
        .expect("PUT");
    assert_eq!(traced.status(), 201);
    let r = w
        .put("751", "units", id(2), unit("Teknik og Miljø", Some(id(1))))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let deliveries = probe.next_deliveries(2, Duration::from_secs(20)).await;
    assert_eq!(deliveries.len(), 2);
    for (delivery, expect_trace) in deliveries.iter().zip([Some(traceparent), None]) {
        let from_body = orghub_contracts::AmqpMessage::from_structured_body(delivery.data.clone())
            .expect("a valid body");
        let mut headers = orghub_broker::headers_to_map(&delivery.properties);
        // headers_to_map adds the content type from the properties, as decoding reads it.
        assert_eq!(
            headers.remove("content-type").as_deref(),
            Some(from_body.content_type)
        );
        assert_eq!(headers, from_body.headers);
        assert_eq!(
            headers.get("ce-traceparent").map(String::as_str),
            expect_trace
        );
        let p = &delivery.properties;
        assert_eq!(
            p.message_id().as_ref().map(|s| s.as_str()),
            Some(from_body.message_id.as_str())
        );
        assert_eq!(
            p.kind().as_ref().map(|s| s.as_str()),
            Some(from_body.message_type.as_str())
        );
        assert_eq!(*p.timestamp(), Some(from_body.timestamp));
        assert_eq!(delivery.routing_key.as_str(), from_body.routing_key);
    }
    env.stop().await;
}
