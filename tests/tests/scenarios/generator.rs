//! The generator against the real writer: a generated organisation imports without a single
//! rejected line, and a change stream against it is accepted operation by operation, each one
//! changing something. The relay is off: this is about what the writer accepts, not publishing.

use std::time::Instant;

use chrono::NaiveDate;
use orghub_generator::{Change, Options, Size, changes, stats, write_ndjson};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost};
use reqwest::Method;
use serde_json::Value;

/// The change stream's `today`: fixed, so the test sends the same operations on every run.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).expect("date")
}

async fn import_then_change(code: &str, size: Size, change_count: usize) {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let w = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    let opts = Options {
        kommune: code.parse().expect("kommune"),
        size,
        seed: 1,
    };

    let mut ndjson = Vec::new();
    let lines = write_ndjson(&opts, &mut ndjson).expect("generates");
    assert_eq!(lines, stats(&opts).total());
    let started = Instant::now();
    let r = w
        .post_text(
            &format!("/api/v1/{code}/import"),
            String::from_utf8(ndjson).expect("UTF-8"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["rejected_count"], 0,
        "first rejections: {}",
        r.body["rejected"]
    );
    assert_eq!(r.body["lines"], lines);
    assert_eq!(r.body["created"], lines);
    eprintln!(
        "{size} organisation of {code}: {lines} lines imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let stream = changes(&opts, change_count, today());
    let mut accepted = 0;
    for chunk in stream.chunks(40) {
        let ops: Vec<Value> = chunk.iter().map(Change::operation).collect();
        let r = w
            .admin(
                Method::POST,
                &format!("/api/v1/{code}/changes"),
                Some(&Value::Array(ops)),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let results = r.body["results"].as_array().expect("results");
        assert_eq!(results.len(), chunk.len());
        for (result, change) in results.iter().zip(chunk) {
            assert_eq!(
                result["changed"],
                true,
                "{result} for {}",
                change.operation()
            );
            assert_eq!(result["uuid"], change.uuid().to_string());
        }
        accepted += results.len();
    }
    assert_eq!(accepted, change_count);

    w.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn the_small_organisation_imports_cleanly_and_accepts_its_change_stream() {
    import_then_change("825", Size::Small, 200).await;
}

#[tokio::test]
async fn the_medium_organisation_imports_cleanly_and_accepts_its_change_stream() {
    import_then_change("751", Size::Medium, 200).await;
}
