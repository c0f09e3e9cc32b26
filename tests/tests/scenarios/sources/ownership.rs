//! Sourced tokens change only what their source owns; `PATCH`; provenance in `/history` and the
//! `origin` of events.

use std::time::Duration;

use orghub_tests::fixtures::{SINCE, id, today};
use orghub_tests::writer::ADMIN_TOKEN;
use orghub_tests::{HubOptions, TestHub, bind_probe_queue};
use reqwest::Method;
use serde_json::{Value, json};

use super::{K, declare_sd_and_ad, import_as, it_system_ad, line, put_as, token};

fn sd_person(given: &str) -> Value {
    json!({"validity": {"from": SINCE}, "given_name": given, "surname": "Kristensen",
           "cpr": "0101901234"})
}

#[tokio::test]
async fn an_owned_item_belongs_to_one_source() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    declare_sd_and_ad(w).await;
    let greedy = json!({"owns": {"person": ["cpr"]}});
    let r = w
        .admin(
            Method::PUT,
            &format!("/api/v1/{K}/sources/opus"),
            Some(&greedy),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["type"], "urn:orghub:problem:ownership", "{}", r.text);
    assert_eq!(r.body["owner"], "sd", "{}", r.text);
    // Redeclaring one's own items is fine; the list shows both sources.
    let r = w
        .admin(
            Method::PUT,
            &format!("/api/v1/{K}/sources/ad"),
            Some(&json!({"owns": {"itaccount": "*"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = w.get(&format!("/api/v1/{K}/sources")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r.body["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["source"].as_str())
        .collect();
    assert_eq!(names, ["ad", "sd"]);
    let r = w.get(&format!("/api/v1/{K}/sources/ad")).await;
    assert_eq!(r.body["owns"], json!({"itaccount": "*"}), "{}", r.text);
    // A bad label is refused.
    let r = w
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(&json!({"name": "x", "scopes": ["read:751"], "source": "SD!"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    env.stop().await;
}

#[tokio::test]
async fn an_ad_write_that_omits_cpr_keeps_the_sds_cpr() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    declare_sd_and_ad(w).await;
    let (sd, ad) = (token(w, "sd").await, token(w, "ad").await);
    let path = format!("persons/{}", id(10));
    let r = put_as(w, &sd, &path, &sd_person("Mette")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = put_as(
        w,
        &ad,
        &path,
        &json!({"validity": {"from": SINCE}, "user_key": "mekr"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changed"], true, "{}", r.text);
    let current = &r.body["current"];
    assert_eq!(current["cpr"], "0101901234", "{}", r.text);
    assert_eq!(current["given_name"], "Mette", "{}", r.text);
    assert_eq!(current["user_key"], "mekr", "{}", r.text);
    // And SD's next write, without user_key, keeps the AD's.
    let r = put_as(w, &sd, &path, &sd_person("Mette Marie")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["current"]["user_key"], "mekr", "{}", r.text);
    assert_eq!(r.body["current"]["given_name"], "Mette Marie", "{}", r.text);
    env.stop().await;
}

#[tokio::test]
async fn an_ad_write_touching_given_name_owned_by_sd_is_refused_naming_sd() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    declare_sd_and_ad(w).await;
    let (sd, ad) = (token(w, "sd").await, token(w, "ad").await);
    let path = format!("persons/{}", id(10));
    let r = put_as(w, &sd, &path, &sd_person("Mette")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = put_as(
        w,
        &ad,
        &path,
        &json!({"validity": {"from": SINCE}, "given_name": "Mete", "user_key": "mekr"}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["type"], "urn:orghub:problem:ownership", "{}", r.text);
    assert_eq!(r.body["owner"], "sd", "{}", r.text);
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains("sd"),
        "{}",
        r.text
    );
    // Nothing changed; the AD may not end SD's engagements either, nor PATCH its fields.
    let r = w.get(&format!("/api/v1/{K}/{path}")).await;
    assert_eq!(r.body["current"]["given_name"], "Mette");
    assert_eq!(r.body["version"], 1);
    let r = w
        .call(
            Method::PATCH,
            &format!("/api/v1/{K}/{path}"),
            Some(&ad),
            Some(&json!({"validity": {"from": SINCE}, "surname": "X"})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    env.stop().await;
}

#[tokio::test]
async fn an_sd_full_import_does_not_end_the_ads_it_accounts() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    declare_sd_and_ad(w).await;
    let (sd, ad) = (token(w, "sd").await, token(w, "ad").await);
    let ad_system = it_system_ad(w).await;
    let r = w
        .put(
            K,
            "units",
            id(1),
            json!({"validity": {"from": SINCE}, "name": "Aarhus Kommune"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let engagement = |p: u32| json!({"validity": {"from": SINCE}, "person": id(p), "unit": id(1)});
    let first = line("person", id(10), sd_person("Mette"))
        + &line("person", id(11), sd_person("Jens"))
        + &line("engagement", id(20), engagement(10))
        + &line("engagement", id(21), engagement(11));
    let r = import_as(w, &sd, "full", first).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created"], 4, "{}", r.text);
    let r = put_as(
        w,
        &ad,
        &format!("itaccounts/{}", id(30)),
        &json!({"validity": {"from": SINCE}, "person": id(10), "it_system": ad_system,
                "user_id": "mekr"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The next night's file lacks engagement 21: SD owns engagements wholly, so it ends; the
    // AD's account, the admin's unit and the class are not SD's to end.
    let second = line("person", id(10), sd_person("Mette"))
        + &line("person", id(11), sd_person("Jens"))
        + &line("engagement", id(20), engagement(10));
    let r = import_as(w, &sd, "full", second).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["terminated"], 1, "{}", r.text);
    assert_eq!(r.body["deleted"], 0, "{}", r.text);
    assert_eq!(r.body["unchanged"], 3, "{}", r.text);
    let r = w.get(&format!("/api/v1/{K}/itaccounts/{}", id(30))).await;
    assert_eq!(r.body["current"]["user_id"], "mekr", "{}", r.text);
    let r = w.get(&format!("/api/v1/{K}/engagements/{}", id(21))).await;
    assert_eq!(
        r.body["timeline"][0]["validity"]["to"],
        json!(today().to_string())
    );
    let r = w.get(&format!("/api/v1/{K}/units/{}", id(1))).await;
    assert!(r.body["current"].is_object(), "{}", r.text);
    // The AD may not end SD's engagements, nor write SD's fields through /changes (all or
    // nothing: its own operation in the same request is not applied either).
    let r = w
        .call(
            Method::POST,
            &format!("/api/v1/{K}/engagements/{}/terminate", id(20)),
            Some(&ad),
            Some(&json!({"to": today().to_string()})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["owner"], "sd", "{}", r.text);
    let changes = json!([
        {"op": "put", "kind": "itaccount", "uuid": id(30),
         "state": {"validity": {"from": SINCE}, "user_id": "mette.k"}},
        {"op": "put", "kind": "person", "uuid": id(10),
         "state": {"validity": {"from": SINCE}, "cpr": "0202901234"}}
    ]);
    let r = w
        .call(
            Method::POST,
            &format!("/api/v1/{K}/changes"),
            Some(&ad),
            Some(&changes),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["owner"], "sd", "{}", r.text);
    let r = w.get(&format!("/api/v1/{K}/itaccounts/{}", id(30))).await;
    assert_eq!(r.body["current"]["user_id"], "mekr", "{}", r.text);
    // Each source's last write and last full import, with its counts.
    let r = w.get(&format!("/api/v1/{K}/sources/sd")).await;
    assert_eq!(r.body["last_full_import"]["terminated"], 1, "{}", r.text);
    assert!(r.body["last_write_at"].is_string(), "{}", r.text);
    let r = w.get(&format!("/api/v1/{K}/sources/ad")).await;
    assert!(r.body["last_write_at"].is_string(), "{}", r.text);
    assert!(r.body["last_full_import"].is_null(), "{}", r.text);
    env.stop().await;
}

#[tokio::test]
async fn origin_is_on_every_event_of_a_sourced_write_and_in_history() {
    let env = TestHub::start(HubOptions::default()).await;
    let conn = orghub_broker::connect(&env.vhost.amqp_url, "probe")
        .await
        .expect("amqp");
    let probe = bind_probe_queue(&conn, "org.751.#").await;
    let w = &env.writer;
    declare_sd_and_ad(w).await;
    let (sd, ad) = (token(w, "sd").await, token(w, "ad").await);
    let ad_system = it_system_ad(w).await; // admin: no origin
    let r = put_as(w, &sd, &format!("persons/{}", id(10)), &sd_person("Mette")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = import_as(
        w,
        &sd,
        "partial",
        line("person", id(11), sd_person("Jens")) + &line("person", id(12), sd_person("Ida")),
    )
    .await;
    assert_eq!(r.body["created"], 2, "{}", r.text);
    let changes = json!([
        {"op": "put", "kind": "itaccount", "uuid": id(30),
         "state": {"validity": {"from": SINCE}, "person": id(10), "it_system": ad_system, "user_id": "mekr"}},
        {"op": "patch", "kind": "person", "uuid": id(10),
         "state": {"validity": {"from": SINCE}, "user_key": "mekr"}}
    ]);
    let r = w
        .call(
            Method::POST,
            &format!("/api/v1/{K}/changes"),
            Some(&ad),
            Some(&changes),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let expected = [
        None,
        Some("sd"),
        Some("sd"),
        Some("sd"),
        Some("ad"),
        Some("ad"),
    ];
    let events = w.events(K).await;
    let origins: Vec<Option<&str>> = events.iter().map(|e| e["origin"].as_str()).collect();
    assert_eq!(origins, expected);
    let deliveries = probe
        .next_deliveries(expected.len(), Duration::from_secs(20))
        .await;
    for (d, origin) in deliveries.iter().zip(expected) {
        let headers = orghub_broker::headers_to_map(&d.properties);
        assert_eq!(headers.get("ce-origin").map(String::as_str), origin);
        assert_eq!(
            orghub_contracts::event::origin_of(&d.data).as_deref(),
            origin
        );
    }
    let r = w
        .get(&format!("/api/v1/{K}/persons/{}/history", id(10)))
        .await;
    let sources: Vec<&Value> = r.body["registrations"]
        .as_array()
        .expect("registrations")
        .iter()
        .map(|r| &r["source"])
        .collect();
    assert_eq!(sources, [&json!("ad"), &json!("sd")], "{}", r.text);
    env.stop().await;
}

#[tokio::test]
async fn patch_changes_only_the_given_fields_over_its_interval() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    let path = format!("/api/v1/{K}/persons/{}", id(10));
    let r = w
        .put(
            K,
            "persons",
            id(10),
            json!({"validity": {"from": "2020-01-01", "to": "2022-01-01"}, "given_name": "Mette",
                   "surname": "Kristensen", "user_key": "mk"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = w
        .put(
            K,
            "persons",
            id(10),
            json!({"validity": {"from": "2022-01-01"}, "given_name": "Mette",
                   "surname": "Hansen", "user_key": "mk"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Over both segments: the given name changes, each keeps its surname, user_key is cleared.
    let patch = json!({"validity": {"from": "2021-01-01"}, "given_name": "Mette Marie",
                       "user_key": null});
    let r = w
        .call(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(&patch))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let timeline: Vec<(String, String, Value)> = r.body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|s| {
            (
                s["validity"]["from"].as_str().unwrap_or("").to_owned(),
                format!("{} {}", s["given_name"], s["surname"]),
                s["user_key"].clone(),
            )
        })
        .collect();
    assert_eq!(
        timeline,
        [
            (
                "2020-01-01".into(),
                "\"Mette\" \"Kristensen\"".into(),
                json!("mk")
            ),
            (
                "2021-01-01".into(),
                "\"Mette Marie\" \"Kristensen\"".into(),
                Value::Null
            ),
            (
                "2022-01-01".into(),
                "\"Mette Marie\" \"Hansen\"".into(),
                Value::Null
            ),
        ]
    );
    // The same patch again changes nothing; a required field cannot be cleared.
    let r = w
        .call(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(&patch))
        .await;
    assert_eq!(r.body["changed"], false, "{}", r.text);
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(ADMIN_TOKEN),
            Some(&json!({"validity": {"from": "2021-01-01"}, "surname": null})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    env.stop().await;
}

#[tokio::test]
async fn orghubctl_creates_a_sourced_token_whose_writes_record_the_source() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    declare_sd_and_ad(w).await;
    let out = env
        .ctl()
        .run(&[
            "token",
            "create",
            "--name",
            "sd-løn",
            "--scope",
            "write:751",
            // The SD person carries a CPR number: writing one needs the `cpr` scope.
            "--scope",
            "cpr:751",
            "--source",
            "sd",
            "--json",
        ])
        .await;
    let created = out.expect_code(0).json();
    assert_eq!(created["source"], "sd");
    let token = created["token"].as_str().expect("the secret").to_owned();
    let r = put_as(
        w,
        &token,
        &format!("persons/{}", id(10)),
        &sd_person("Mette"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(w.events(K).await[0]["origin"], "sd");
    let listed = env.ctl().run(&["token", "list", "--json"]).await;
    let tokens = listed.expect_code(0).json();
    assert_eq!(tokens[0]["source"], "sd", "{tokens}");
    let refused = env
        .ctl()
        .run(&[
            "token",
            "create",
            "--name",
            "x",
            "--scope",
            "write:751",
            "--source",
            "Not OK",
        ])
        .await;
    assert_ne!(refused.code, 0);

    // `orghubctl sources`: set one, list them; an item another source owns is refused.
    let kle = r#"{"kle": "*"}"#;
    let out = env
        .ctl()
        .run(&["sources", "set", "opus", "--kommune", "751", "--owns", kle])
        .await;
    out.expect_code(0);
    assert!(
        out.stdout.contains("opus owns in 751: kle"),
        "{}",
        out.stdout
    );
    let listed = env
        .ctl()
        .run(&["sources", "list", "--kommune", "751", "--json"])
        .await;
    let names: Vec<String> = listed.expect_code(0).json()["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["source"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["ad", "opus", "sd"]);
    let cpr = r#"{"person": ["cpr"]}"#;
    let taken = env
        .ctl()
        .run(&["sources", "set", "opus", "--kommune", "751", "--owns", cpr])
        .await;
    taken.expect_code(2);
    assert!(taken.stderr.contains("sd"), "{}", taken.stderr);
    env.stop().await;
}
