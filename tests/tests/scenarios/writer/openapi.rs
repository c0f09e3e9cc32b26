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
