//! The writer's request metrics stay bounded whatever unauthenticated clients send: the method
//! label is one of the standard methods or `other`, the route label a route template or
//! `unmatched`, never a value the client chose.

use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost};
use reqwest::Method;
use uuid::Uuid;

#[tokio::test]
async fn made_up_methods_and_paths_do_not_become_metric_labels() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    let marker = Uuid::new_v4().simple().to_string();

    for n in 0..5 {
        let method = Method::from_bytes(format!("BREW{n}{marker}").as_bytes()).expect("method");
        let reply = writer.call(method, "/api/v1/101/units", None, None).await;
        assert!(reply.status >= 400, "{}", reply.text);
        let reply = writer
            .call(Method::GET, &format!("/{marker}/{n}"), None, None)
            .await;
        assert_eq!(reply.status, 404, "{}", reply.text);
    }

    let metrics = writer.get("/metrics").await.text;
    assert!(
        !metrics.contains(&marker),
        "a client's value became a label:\n{metrics}"
    );
    let requests: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("orghub_http_requests_total{"))
        .collect();
    assert!(
        requests
            .iter()
            .any(|l| l.contains("method=\"other\"")
                && l.contains("route=\"/api/v1/{kommune}/{kind}\"")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("method=\"GET\"") && l.contains("route=\"unmatched\"")),
        "{requests:#?}"
    );

    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
