//! Safe full imports (DESIGN §3): nothing is ended when a line was rejected or unreadable, and an
//! entity another client wrote while the import ran is never ended by it.

use std::time::Duration;

use orghub_tests::fixtures::{SINCE, id, today};
use orghub_tests::writer::{ADMIN_TOKEN, TestWriter};
use orghub_tests::{HubOptions, TestHub, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{K, import_as, line};

fn person(n: u32) -> Value {
    json!({"validity": {"from": SINCE}, "given_name": format!("Person {n}"), "surname": "Hansen"})
}

/// The entity's timeline end and whether it is deleted.
async fn end_of(w: &TestWriter, collection: &str, uuid: Uuid) -> (Value, Value) {
    let r = w.get(&format!("/api/v1/{K}/{collection}/{uuid}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let timeline = r.body["timeline"].as_array().cloned().unwrap_or_default();
    let to = timeline
        .last()
        .map_or(Value::Null, |s| s["validity"]["to"].clone());
    (to, r.body["deleted"].clone())
}

#[tokio::test]
async fn a_full_import_with_one_corrupted_line_for_an_existing_entity_ends_nothing_and_says_so() {
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    for n in 1..=3 {
        let r = w.put(K, "persons", id(n), person(n)).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // Person 1 as it is, person 2 on a line cut short (unreadable), person 3 absent.
    let broken = line("person", id(2), person(2));
    let file = line("person", id(1), person(1)) + &broken[..broken.len() / 2] + "\n";
    let r = import_as(w, ADMIN_TOKEN, "full", file).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rejected_count"], 1, "{}", r.text);
    assert_eq!(r.body["terminated"], 0, "{}", r.text);
    assert_eq!(r.body["deleted"], 0, "{}", r.text);
    let why = r.body["not_ended_because"].as_str().unwrap_or_default();
    assert!(why.contains("rejected"), "the summary says why: {}", r.text);
    for n in 1..=3 {
        assert_eq!(
            end_of(w, "persons", id(n)).await,
            (Value::Null, json!(false)),
            "person {n} is live and open-ended"
        );
    }

    // The same file without the broken line does end what it lacks: the rule, not a no-op.
    let r = import_as(w, ADMIN_TOKEN, "full", line("person", id(1), person(1))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["terminated"], 2, "{}", r.text);
    assert!(r.body.get("not_ended_because").is_none(), "{}", r.text);
    assert_eq!(
        end_of(w, "persons", id(2)).await.0,
        json!(today().to_string())
    );
    env.stop().await;
}

/// A person written by another client while a 200,000-line full import runs survives it. The
/// import's body is streamed: its first half goes, the other client writes once the import has
/// applied lines of it (polled), then the rest goes.
#[tokio::test]
async fn a_person_written_by_another_client_during_a_long_full_import_survives_it() {
    const LINES: u32 = 200_000;
    let env = TestHub::start(HubOptions::without_relay()).await;
    let w = &env.writer;
    // Present before the import and absent from its file: the import ends it.
    let gone = Uuid::from_u128(0xdead);
    let r = w.put(K, "persons", gone, person(0)).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let body = reqwest::Body::wrap_stream(stream);
    let request = w
        .client
        .post(format!("{}/api/v1/{K}/import?mode=full", w.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send();
    let import = tokio::spawn(request);
    let chunk = |from: u32, to: u32| -> String {
        (from..to)
            .map(|n| line("person", id(n), person(n)))
            .collect()
    };
    let half = LINES / 2;
    for start in (1..half).step_by(5_000) {
        tx.send(Ok(chunk(start, (start + 5_000).min(half))))
            .await
            .expect("the import reads on");
    }
    // The import has applied some of its lines: it runs.
    eventually(
        Duration::from_secs(120),
        "the import applies lines",
        || async {
            let r = w.get(&format!("/api/v1/{K}/persons/{}", id(1))).await;
            (r.status == 200).then_some(())
        },
    )
    .await;

    // Another client hires someone, future-dated, and someone already employed.
    let hire = Uuid::from_u128(0xbeef);
    let future = (today() + chrono::Duration::days(30)).to_string();
    let r = w
        .put(
            K,
            "persons",
            hire,
            json!({"validity": {"from": future}, "given_name": "Ny", "surname": "Medarbejder"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let other = Uuid::from_u128(0xcafe);
    let r = w.put(K, "persons", other, person(7)).await;
    assert_eq!(r.status, 201, "{}", r.text);

    for start in (half..=LINES).step_by(5_000) {
        tx.send(Ok(chunk(start, (start + 5_000).min(LINES + 1))))
            .await
            .expect("the import reads on");
    }
    drop(tx);
    let resp = import
        .await
        .expect("the import task")
        .expect("the import answers");
    assert_eq!(resp.status().as_u16(), 200);
    let summary: Value = resp.json().await.expect("a summary");
    assert_eq!(summary["lines"], LINES, "{summary}");
    assert_eq!(summary["rejected_count"], 0, "{summary}");
    assert_eq!(summary["terminated"], 1, "only `gone` ends: {summary}");
    assert_eq!(summary["deleted"], 0, "{summary}");

    assert_eq!(
        end_of(w, "persons", hire).await,
        (Value::Null, json!(false)),
        "the future hire survives"
    );
    assert_eq!(
        end_of(w, "persons", other).await,
        (Value::Null, json!(false)),
        "the other client's person survives"
    );
    assert_eq!(
        end_of(w, "persons", gone).await.0,
        json!(today().to_string())
    );
    env.stop().await;
}
