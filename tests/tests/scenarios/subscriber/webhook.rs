//! The webhook sink against a local HTTP server standing in for a fagsystem (the only mock): it
//! converges through 503s and timeouts, and a 400 for one entity sends exactly that entity's
//! events to the DLQ while the rest converge; over HTTPS it trusts a private CA from `ca_file`.

use std::time::Duration;

use orghub_subscriber::Command;
use orghub_tests::fixtures::id;
use orghub_tests::subscriber::{
    Behaviour, Probe, Spec, TestCa, TestSubscriber, WebhookServer, drain_queue, header,
    queue_depth, snapshot,
};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost};
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "webhook-test-secret-0123456789";
const DEADLINE: Duration = Duration::from_secs(45);

fn webhook_sink(server: &WebhookServer, dir: &std::path::Path, timeout_ms: u64) -> String {
    format!(
        "type = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_ms = {timeout_ms}\n\
         state_path = \"{}\"",
        server.url,
        dir.join("webhook-state.jsonl").display()
    )
}

async fn import_units(w: &TestWriter, range: std::ops::RangeInclusive<u32>, name: &str) {
    let body: String = range
        .map(|n| {
            let state = json!({"validity": {"from": "2020-01-01"}, "name": format!("{name} {n}"), "parent": (n > 1).then(|| id(1))});
            json!({"kind": "unit", "uuid": id(n), "state": state}).to_string() + "\n"
        })
        .collect();
    let reply = w.post_text("/api/v1/751/import", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["rejected_count"], 0, "{}", reply.text);
}

#[tokio::test]
async fn a_webhook_that_fails_30_percent_and_times_out_on_some_still_ends_with_every_entity_at_its_latest_version()
 {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = WebhookServer::start(
        SECRET,
        Behaviour {
            fail_percent: 30,
            hang_every: Some(13),
            hang_for: Duration::from_millis(1500),
            refuse: None,
        },
    )
    .await;
    let mut spec = Spec::new(
        "flaky",
        &vhost.amqp_url,
        &writer,
        webhook_sink(&server, dir.path(), 300),
    );
    spec.in_process = 3;
    spec.tiers = vec![
        "100ms".into(),
        "200ms".into(),
        "400ms".into(),
        "800ms".into(),
    ];
    spec.batch_size = 50;
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;

    import_units(&writer, 1..=40, "Enhed").await;
    import_units(&writer, 2..=21, "Omdøbt").await;
    let reply = writer
        .admin(
            Method::DELETE,
            &format!("/api/v1/751/units/{}", id(40)),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let expected = snapshot(&writer, "751").await;
    assert_eq!(expected.len(), 39);
    Probe::Webhook(server.clone())
        .converges_to(&expected, DEADLINE)
        .await;
    let (requests, failed, hung, refused, bad_signatures) = server.counts();
    assert!(
        failed > 0 && hung > 0,
        "the server misbehaved: {requests} requests, {failed} 503s, {hung} hangs"
    );
    assert_eq!((refused, bad_signatures), (0, 0));
    assert!(subscriber.metrics.retried_count("in-process") > 0);
    let amqp = orghub_broker::connect(&vhost.amqp_url, "check")
        .await
        .expect("amqp");
    assert_eq!(
        queue_depth(&amqp, &spec.dlq()).await,
        0,
        "nothing was dead-lettered"
    );

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn a_webhook_that_answers_400_for_one_entity_sends_exactly_its_events_to_the_dlq_and_the_rest_converge()
 {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = WebhookServer::start(
        SECRET,
        Behaviour {
            refuse: Some(id(7)),
            ..Behaviour::default()
        },
    )
    .await;
    let spec = Spec::new(
        "refused",
        &vhost.amqp_url,
        &writer,
        webhook_sink(&server, dir.path(), 5000),
    );
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;

    import_units(&writer, 1..=20, "Enhed").await;
    import_units(&writer, 5..=9, "Omdøbt").await;

    let amqp = orghub_broker::connect(&vhost.amqp_url, "dlq reader")
        .await
        .expect("amqp");
    let dead = drain_queue(&amqp, &spec.dlq(), 2, DEADLINE).await;
    let mut versions: Vec<String> = dead
        .iter()
        .map(|d| {
            assert_eq!(header(d, "ce-subject"), Some(id(7).to_string()));
            assert_eq!(
                header(d, "orghub-error-kind").as_deref(),
                Some("sink-permanent")
            );
            let error = header(d, "orghub-error").unwrap_or_default();
            assert!(
                error.contains("400") && error.contains("violates a rule of this fagsystem"),
                "{error}"
            );
            header(d, "ce-entityversion").unwrap_or_default()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);

    let mut expected = snapshot(&writer, "751").await;
    assert!(expected.remove(&id(7)).is_some());
    Probe::Webhook(server.clone())
        .converges_to(&expected, DEADLINE)
        .await;
    assert_eq!(
        queue_depth(&amqp, &spec.dlq()).await,
        0,
        "only entity 7 was dead-lettered"
    );
    assert_eq!(subscriber.metrics.dead_lettered_count("sink-permanent"), 2);

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

/// A fagsystem behind HTTPS with a certificate of its own (private) CA: with the CA in
/// `ca_file` the sink verifies the server and delivers every event; the certificate is checked
/// for real (a client without the CA is refused by the same server).
#[tokio::test]
async fn a_webhook_over_https_with_a_private_ca_receives_every_entity() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::generate();
    let server = WebhookServer::start_https(SECRET, Behaviour::default(), &ca).await;
    assert!(
        server.url.starts_with("https://localhost:"),
        "{}",
        server.url
    );

    // Without the CA, the certificate is not trusted: the handshake fails.
    let untrusted = reqwest::Client::new().post(&server.url).send().await;
    assert!(
        untrusted.as_ref().is_err_and(reqwest::Error::is_connect),
        "a client without the CA reached the server: {untrusted:?}"
    );

    let ca_file = dir.path().join("fagsystem-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write the CA");
    let sink = format!(
        "{}\nca_file = \"{}\"",
        webhook_sink(&server, dir.path(), 5000),
        ca_file.display()
    );
    let spec = Spec::new("secure", &vhost.amqp_url, &writer, sink);
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    import_units(&writer, 1..=25, "Enhed").await;
    let expected = snapshot(&writer, "751").await;
    assert_eq!(expected.len(), 25);
    Probe::Webhook(server.clone())
        .converges_to(&expected, DEADLINE)
        .await;
    let (_, failed, _, refused, bad_signatures) = server.counts();
    assert_eq!((failed, refused, bad_signatures), (0, 0, 0));

    subscriber.stop().await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
