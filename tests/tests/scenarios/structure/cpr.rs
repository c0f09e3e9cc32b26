//! Writing a CPR number needs the `cpr:<k>` scope, as reading one does: on PUT, `/changes` and
//! `/import`.

use orghub_tests::fixtures::SINCE;
use reqwest::Method;
use serde_json::json;

use super::{K, hub_with_classes, token, u};

#[tokio::test]
async fn writing_a_cpr_number_without_the_cpr_scope_is_forbidden_and_with_it_allowed() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    let writer_only = token(w, &["write:751", "read:751"]).await;
    let with_cpr = token(w, &["write:751", "read:751", "cpr:751"]).await;
    let events = hub.event_count().await;
    let p = json!({"validity": {"from": SINCE}, "given_name": "Mette", "surname": "Kristensen",
                   "cpr": "0101901234"});
    let path = format!("/api/v1/{K}/persons/{}", u(10));

    // PUT.
    let r = w
        .call(Method::PUT, &path, Some(&writer_only), Some(&p))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["type"], "urn:orghub:problem:forbidden", "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/cpr", "{}", r.text);
    assert!(r.text.contains("cpr:751"), "{}", r.text);
    // /changes: the whole request is refused.
    let ops = json!([
        {"op": "put", "kind": "person", "uuid": u(11), "state": {"validity": {"from": SINCE},
         "given_name": "Jens", "surname": "Nielsen"}},
        {"op": "put", "kind": "person", "uuid": u(10), "state": p},
    ]);
    let changes = format!("/api/v1/{K}/changes");
    let r = w
        .call(Method::POST, &changes, Some(&writer_only), Some(&ops))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/1/state/cpr", "{}", r.text);
    // /import: the line is refused, the others applied.
    let lines = [
        json!({"kind": "person", "uuid": u(12), "state": {"validity": {"from": SINCE},
               "given_name": "Anna", "surname": "Hansen"}}),
        json!({"kind": "person", "uuid": u(10), "state": p}),
    ];
    let body: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/{K}/import", w.base))
        .bearer_auth(&writer_only)
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .expect("import");
    assert_eq!(resp.status().as_u16(), 200);
    let summary: serde_json::Value = resp.json().await.expect("summary");
    assert_eq!(summary["created"], 1, "{summary}");
    assert_eq!(summary["rejected"][0]["line"], 2, "{summary}");
    assert_eq!(
        summary["rejected"][0]["errors"][0]["pointer"], "/state/cpr",
        "{summary}"
    );
    assert_eq!(
        hub.event_count().await,
        events + 1,
        "only the line without CPR"
    );
    let r = w.call(Method::GET, &path, Some(&with_cpr), None).await;
    assert_eq!(
        r.status, 404,
        "no person was written with the CPR number: {}",
        r.text
    );

    // With the scope, each path writes it.
    let r = w.call(Method::PUT, &path, Some(&with_cpr), Some(&p)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["current"]["cpr"], "0101901234", "{}", r.text);
    let r = w
        .call(Method::POST, &changes, Some(&with_cpr), Some(&ops))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/{K}/import", w.base))
        .bearer_auth(&with_cpr)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("import");
    let summary: serde_json::Value = resp.json().await.expect("summary");
    assert_eq!(summary["rejected_count"], 0, "{summary}");
    // A person without a CPR number needs no cpr scope.
    let plain = json!({"validity": {"from": SINCE}, "given_name": "Ole", "surname": "Berg"});
    let r = w
        .call(
            Method::PUT,
            &format!("/api/v1/{K}/persons/{}", u(13)),
            Some(&writer_only),
            Some(&plain),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // What a writer without the scope cannot see, it does not clear: writing back the person as
    // it reads it (without the number) keeps the number, and a rename keeps it too.
    let r = w.call(Method::GET, &path, Some(&writer_only), None).await;
    let mut read_back = r.body["current"].clone();
    assert!(read_back.get("cpr").is_none(), "{read_back}");
    read_back.as_object_mut().map(|o| o.remove("validity"));
    read_back["validity"] = json!({"from": SINCE});
    let r = w
        .call(Method::PUT, &path, Some(&writer_only), Some(&read_back))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changed"], false, "{}", r.text);
    read_back["surname"] = json!("Kristensen-Berg");
    let r = w
        .call(Method::PUT, &path, Some(&writer_only), Some(&read_back))
        .await;
    assert_eq!(r.body["changed"], true, "{}", r.text);
    let r = w.call(Method::GET, &path, Some(&with_cpr), None).await;
    assert_eq!(
        r.body["current"]["surname"], "Kristensen-Berg",
        "{}",
        r.text
    );
    assert_eq!(r.body["current"]["cpr"], "0101901234", "{}", r.text);
    hub.stop().await;
}
