//! The OpenAPI document as a client sees it: the writer serves the committed
//! `contracts/openapi.json`, with typed paths per kind, and what the writer really answers fits
//! the schemas the document names for each kind's operations.

use orghub_contracts::EntityKind;
use orghub_tests::fixtures::{SINCE, id};
use orghub_tests::writer::{Reply, TestWriter};
use orghub_tests::{HubOptions, TestHub};
use reqwest::Method;
use serde_json::{Value, json};

fn committed() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("contracts/openapi.json is JSON")
}

/// The schema the document gives for one answer (or, with `status` "request", the body).
fn schema_of(doc: &Value, path: &str, method: &str, status: &str) -> Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "the document has no {method} {path}");
    let schema = if status == "request" {
        &op["requestBody"]["content"]["application/json"]["schema"]
    } else {
        let content = &op["responses"][status]["content"];
        content
            .get("application/json")
            .or_else(|| content.get("application/problem+json"))
            .map(|c| &c["schema"])
            .unwrap_or(&Value::Null)
    };
    assert!(
        schema.is_object(),
        "{method} {path} {status} has no JSON schema"
    );
    schema.clone()
}

/// Checks `value` against the schema the document gives, resolving `$ref`s into its components.
fn fits(doc: &Value, path: &str, method: &str, status: &str, value: &Value) {
    let mut root = schema_of(doc, path, method, status);
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("the schema of {method} {path} {status} compiles: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} ({}): {errors:?}\n{value}",
        root["$ref"]
    );
}

/// Sends a request the document describes, checks the request against the document's body
/// schema and the answer against the schema of its status.
async fn call(
    w: &TestWriter,
    doc: &Value,
    method: Method,
    (template, concrete): (&str, &str),
    body: Option<Value>,
) -> Reply {
    let m = method.as_str().to_lowercase();
    if let Some(b) = &body {
        fits(doc, template, &m, "request", b);
    }
    let reply = w.admin(method, concrete, body.as_ref()).await;
    fits(doc, template, &m, &reply.status.to_string(), &reply.body);
    reply
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one_with_a_path_per_kind() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let served = env.writer.get("/openapi.json").await;
    assert_eq!(served.status, 200, "{}", served.text);
    let doc = committed();
    assert!(
        served.body == doc,
        "the writer serves another document than contracts/openapi.json; regenerate it with \
         UPDATE_CONTRACTS=1 cargo test -p orghub-contracts --test contract"
    );
    assert_eq!(doc["openapi"], "3.1.0");
    for kind in EntityKind::ALL {
        let (word, collection) = (kind.word(), kind.path());
        let one = format!("/api/v1/{{kommune}}/{collection}/{{uuid}}");
        for (path, method, operation) in [
            (one.clone(), "put", format!("put_{word}")),
            (one.clone(), "patch", format!("patch_{word}")),
            (one.clone(), "get", format!("get_{word}")),
            (one.clone(), "delete", format!("delete_{word}")),
            (
                format!("{one}/terminate"),
                "post",
                format!("terminate_{word}"),
            ),
            (
                format!("{one}/history"),
                "get",
                format!("get_{word}_history"),
            ),
            (
                format!("/api/v1/{{kommune}}/{collection}"),
                "get",
                format!("list_{collection}"),
            ),
        ] {
            assert_eq!(
                doc["paths"][&path][method]["operationId"], operation,
                "{method} {path}"
            );
        }
        let body = schema_of(&doc, &one, "put", "request");
        let name = body["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("a component");
        let properties = &doc["components"]["schemas"][name]["properties"];
        assert!(properties["validity"].is_object(), "{name}: {properties}");
    }
    env.stop().await;
}

#[tokio::test]
async fn the_writers_answers_fit_the_schemas_the_document_names_per_kind() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    let doc = w.get("/openapi.json").await.body;
    let at = |collection: &str, n: u32| format!("/api/v1/751/{collection}/{}", id(n));
    let one = |collection: &str| format!("/api/v1/{{kommune}}/{collection}/{{uuid}}");

    let writes = [
        (
            "units",
            1,
            json!({"validity": {"from": SINCE}, "name": "Aarhus Kommune"}),
        ),
        (
            "persons",
            2,
            json!({"validity": {"from": SINCE, "to": null}, "given_name": "Mette", "surname": "Kristensen",
                   "cpr": "0101901234", "note": "from the payroll system"}),
        ),
        (
            "classes",
            3,
            json!({"validity": {"from": SINCE}, "facet": "job_title", "user_key": "paedagog", "title": "Pædagog"}),
        ),
    ];
    for (collection, n, state) in writes {
        let template = one(collection);
        let concrete = at(collection, n);
        let r = call(w, &doc, Method::PUT, (&template, &concrete), Some(state)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["changed"], true);
        let r = call(w, &doc, Method::GET, (&template, &concrete), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = call(
            w,
            &doc,
            Method::GET,
            (
                &format!("/api/v1/{{kommune}}/{collection}"),
                &format!("/api/v1/751/{collection}"),
            ),
            None,
        )
        .await;
        assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    }
    assert!(
        w.get(&at("persons", 2)).await.body["current"]["cpr"].is_string(),
        "the admin token reads CPR, as PersonSegment describes"
    );

    let unit = one("units");
    let r = call(
        w,
        &doc,
        Method::POST,
        (
            &format!("{unit}/terminate"),
            &format!("{}/terminate", at("units", 1)),
        ),
        Some(json!({"to": "2030-01-01", "note": "merged"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(
        w,
        &doc,
        Method::GET,
        (
            &format!("{unit}/history"),
            &format!("{}/history", at("units", 1)),
        ),
        None,
    )
    .await;
    assert_eq!(
        r.body["registrations"][0]["action"], "terminated",
        "{}",
        r.text
    );
    let r = call(
        w,
        &doc,
        Method::DELETE,
        (&one("classes"), &at("classes", 3)),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A refused write answers the typed problem.
    let r = call(
        w,
        &doc,
        Method::PUT,
        (&unit, &at("units", 4)),
        Some(json!({"validity": {"from": SINCE}, "name": "Sundhed", "parent": id(99)})),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/parent");

    let changes = json!([
        {"op": "put", "kind": "unit", "uuid": id(5), "state": {"validity": {"from": SINCE, "to": "2030-01-01"}, "name": "Teknik og Miljø", "parent": id(1)}},
        {"op": "terminate", "kind": "person", "uuid": id(2), "to": "2031-01-01"},
        {"op": "delete", "kind": "unit", "uuid": id(5)}
    ]);
    let r = call(
        w,
        &doc,
        Method::POST,
        ("/api/v1/{kommune}/changes", "/api/v1/751/changes"),
        Some(changes),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][2]["outcome"], "deleted", "{}", r.text);
    env.stop().await;
}

/// [`call`] with `token` instead of the admin's.
async fn call_as(
    w: &TestWriter,
    doc: &Value,
    token: &str,
    method: Method,
    (template, concrete): (&str, &str),
    body: Option<Value>,
) -> Reply {
    let m = method.as_str().to_lowercase();
    if let Some(b) = &body {
        fits(doc, template, &m, "request", b);
    }
    let reply = w.call(method, concrete, Some(token), body.as_ref()).await;
    fits(doc, template, &m, &reply.status.to_string(), &reply.body);
    reply
}

/// A token with `scopes` (in 751) writing for `source`, if any.
async fn token_with(w: &TestWriter, scopes: &[&str], source: Option<&str>) -> String {
    let mut body = json!({"name": "openapi-client", "scopes": scopes});
    if let Some(source) = source {
        body["source"] = json!(source);
    }
    let r = w
        .admin(Method::POST, "/api/v1/admin/tokens", Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().expect("the secret").to_owned()
}

#[tokio::test]
async fn patches_sources_and_their_problems_fit_the_document() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    let doc = w.get("/openapi.json").await.body;
    let person = "/api/v1/{kommune}/persons/{uuid}";
    let unit = "/api/v1/{kommune}/units/{uuid}";
    let at = |collection: &str, n: u32| format!("/api/v1/751/{collection}/{}", id(n));
    let (sources, one_source) = (
        "/api/v1/{kommune}/sources",
        "/api/v1/{kommune}/sources/{source}",
    );

    // The admin declares two sources; a second claim of an owned field is the ownership problem.
    let sd = json!({"owns": {"person": ["given_name", "surname", "cpr"], "engagement": "*"}});
    let r = call(
        w,
        &doc,
        Method::PUT,
        (one_source, "/api/v1/751/sources/sd"),
        Some(sd.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call(
        w,
        &doc,
        Method::PUT,
        (one_source, "/api/v1/751/sources/sd"),
        Some(sd),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ad = json!({"owns": {"itaccount": "*", "person": ["user_key"]}});
    let r = call(
        w,
        &doc,
        Method::PUT,
        (one_source, "/api/v1/751/sources/ad"),
        Some(ad),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let grab = json!({"owns": {"persons": ["surname"]}});
    let r = call(
        w,
        &doc,
        Method::PUT,
        (one_source, "/api/v1/751/sources/hr"),
        Some(grab),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["type"], "urn:orghub:problem:ownership", "{}", r.text);
    assert_eq!(r.body["owner"], "sd", "{}", r.text);

    // A sourced token writes what its source owns; its PUT is a merge patch.
    let sd_token = token_with(w, &["read:751", "write:751", "cpr:751"], Some("sd")).await;
    let state = json!({"validity": {"from": SINCE}, "given_name": "Mette", "surname": "Kristensen",
                       "cpr": "0101901234"});
    let r = call_as(
        w,
        &doc,
        &sd_token,
        Method::PUT,
        (person, &at("persons", 2)),
        Some(state),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call_as(
        w,
        &doc,
        &sd_token,
        Method::PATCH,
        (person, &at("persons", 2)),
        Some(json!({"validity": {"from": SINCE}, "user_key": "mk"})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["type"], "urn:orghub:problem:ownership", "{}", r.text);
    assert_eq!(r.body["owner"], "ad", "{}", r.text);

    // PATCH: only what it names changes; null clears.
    let r = call(
        w,
        &doc,
        Method::PUT,
        (unit, &at("units", 1)),
        Some(json!({"validity": {"from": SINCE}, "name": "Aarhus Kommune", "user_key": "aarhus"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call(
        w,
        &doc,
        Method::PATCH,
        (unit, &at("units", 1)),
        Some(
            json!({"validity": {"from": "2025-01-01"}, "name": "Aarhus", "user_key": null,
                    "note": "renamed"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["current"]["name"], "Aarhus", "{}", r.text);
    assert!(r.body["current"]["user_key"].is_null(), "{}", r.text);
    assert_eq!(
        r.body["timeline"][0]["name"], "Aarhus Kommune",
        "{}",
        r.text
    );

    // `op: patch` in /changes.
    let changes = json!([
        {"op": "patch", "kind": "unit", "uuid": id(1), "state": {"validity": {"from": "2026-01-01"}, "name": "Aarhus K"}}
    ]);
    let r = call(
        w,
        &doc,
        Method::POST,
        ("/api/v1/{kommune}/changes", "/api/v1/751/changes"),
        Some(changes),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["outcome"], "updated", "{}", r.text);

    // Writing a CPR number needs `cpr:<k>`, on PATCH as on PUT.
    let no_cpr = token_with(w, &["read:751", "write:751"], None).await;
    let r = call_as(
        w,
        &doc,
        &no_cpr,
        Method::PATCH,
        (person, &at("persons", 2)),
        Some(json!({"validity": {"from": SINCE}, "cpr": "0202902345"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/cpr", "{}", r.text);

    // The sources as a reader sees them.
    let r = call(w, &doc, Method::GET, (sources, "/api/v1/751/sources"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["sources"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );
    let r = call(
        w,
        &doc,
        Method::GET,
        (one_source, "/api/v1/751/sources/sd"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["owns"]["engagement"], "*", "{}", r.text);
    assert!(r.body["last_write_at"].is_string(), "{}", r.text);
    let r = call(
        w,
        &doc,
        Method::GET,
        (one_source, "/api/v1/751/sources/nobody"),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    env.stop().await;
}
