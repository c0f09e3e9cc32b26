//! Several source systems per municipality (DESIGN §2 *Source systems*, §3 `sources`, `PATCH` and
//! the full-import rules, §4 `origin`): sourced tokens change only what their source owns, a
//! full import ends only what it may, and every event of a sourced write names its origin.

mod import;
mod ownership;

use orghub_tests::writer::{Reply, TestWriter};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

pub const K: &str = "751";

/// SD owns the persons' names and CPR numbers and the engagements; the AD owns IT accounts and
/// the persons' user_key.
pub async fn declare_sd_and_ad(w: &TestWriter) {
    let sd = json!({"owns": {"person": ["given_name", "surname", "cpr"], "engagement": "*"}});
    let r = w
        .admin(Method::PUT, &format!("/api/v1/{K}/sources/sd"), Some(&sd))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ad = json!({"owns": {"itaccount": "*", "person": ["user_key"]}});
    let r = w
        .admin(Method::PUT, &format!("/api/v1/{K}/sources/ad"), Some(&ad))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A token writing (and reading, with CPR) for `source` in [`K`].
pub async fn token(w: &TestWriter, source: &str) -> String {
    let body = json!({"name": format!("{source}-integration"),
                      "scopes": [format!("read:{K}"), format!("write:{K}"), format!("cpr:{K}")],
                      "source": source});
    let r = w
        .admin(Method::POST, "/api/v1/admin/tokens", Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["source"], source, "{}", r.text);
    r.body["token"].as_str().expect("the secret").to_owned()
}

pub async fn put_as(w: &TestWriter, token: &str, path: &str, state: &Value) -> Reply {
    w.call(
        Method::PUT,
        &format!("/api/v1/{K}/{path}"),
        Some(token),
        Some(state),
    )
    .await
}

/// Posts an NDJSON import as `token`.
pub async fn import_as(w: &TestWriter, token: &str, mode: &str, ndjson: String) -> Reply {
    let resp = w
        .client
        .post(format!("{}/api/v1/{K}/import?mode={mode}", w.base))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .expect("request reaches the writer");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("response body");
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// One import line.
pub fn line(kind: &str, uuid: Uuid, state: Value) -> String {
    json!({"kind": kind, "uuid": uuid, "state": state}).to_string() + "\n"
}

/// The class `it_system`/`ad` that IT accounts refer to, written by the admin.
pub async fn it_system_ad(w: &TestWriter) -> Uuid {
    let kommune = orghub_contracts::Kommune::parse(K).expect("kommune");
    let class = orghub_contracts::facet::class_uuid(
        kommune,
        orghub_contracts::facet::Facet::ItSystem,
        "ad",
    );
    let r = w
        .put(
            K,
            "classes",
            class,
            json!({"validity": {"from": orghub_tests::fixtures::SINCE}, "facet": "it_system",
                   "user_key": "ad", "title": "Active Directory"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    class
}
