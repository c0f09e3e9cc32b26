//! The management API client against a real RabbitMQ.

use std::time::Duration;

use orghub_broker::connect;
use orghub_broker::lapin::options::QueueDeclareOptions;
use orghub_broker::lapin::types::FieldTable;
use orghub_broker::mgmt::Management;
use orghub_tests::{TestVhost, eventually};
use serde_json::json;

/// Queue figures come from the statistics database, refreshed every 5 s by default.
const STATS_DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn deleting_a_vhost_twice_is_not_an_error() {
    let vhost = TestVhost::create().await;
    vhost.mgmt.delete_vhost(&vhost.name).await.unwrap();
    vhost.mgmt.delete_vhost(&vhost.name).await.unwrap();
}

#[tokio::test]
async fn a_queue_is_none_until_declared_and_then_reports_its_figures() {
    let vhost = TestVhost::create().await;
    assert_eq!(
        vhost.mgmt.queue(&vhost.name, "sub.probe").await.unwrap(),
        None
    );

    let conn = connect(&vhost.amqp_url, "mgmt-test").await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_declare(
            "sub.probe".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();

    let info = eventually(
        STATS_DEADLINE,
        "the queue in the management API",
        || async { vhost.mgmt.queue(&vhost.name, "sub.probe").await.unwrap() },
    )
    .await;
    assert_eq!(info.name, "sub.probe");
    assert_eq!((info.messages, info.consumers), (0, 0));
    let all = vhost.mgmt.queues(&vhost.name).await.unwrap();
    assert!(all.iter().any(|q| q.name == "sub.probe"), "{all:?}");

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_policy_is_stored_with_its_definition() {
    let vhost = TestVhost::create().await;
    let definition = json!({ "delivery-limit": 5, "dead-letter-exchange": "" });
    vhost
        .mgmt
        .put_policy(
            &vhost.name,
            "sub-limits",
            "^sub\\.",
            "queues",
            definition.clone(),
            7,
        )
        .await
        .unwrap();

    let stored = vhost
        .mgmt
        .get_json(&["policies", &vhost.name, "sub-limits"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["definition"], definition);
    assert_eq!(stored["apply-to"], "queues");
    assert_eq!(stored["priority"], 7);

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_refused_request_carries_the_status_and_the_answer() {
    let vhost = TestVhost::create().await;
    let error = vhost
        .mgmt
        .put_policy(&vhost.name, "bad", "^x", "not-a-kind", json!({}), 0)
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400), "{error}");
    assert!(error.to_string().contains("400"), "{error}");
    vhost.delete_now().await;
}

#[tokio::test]
async fn an_api_that_does_not_answer_is_reported_as_unreachable() {
    let mgmt = Management::parse("http://guest:guest@127.0.0.1:9").unwrap();
    assert!(!mgmt.overview_ok().await);
    let error = mgmt.create_vhost("x").await.unwrap_err();
    assert!(error.is_unreachable(), "{error}");
    assert!(!error.to_string().contains("guest:guest"), "{error}");
}

#[tokio::test]
async fn the_running_api_answers_the_overview() {
    let vhost = TestVhost::create().await;
    assert!(vhost.mgmt.overview_ok().await);
    vhost.delete_now().await;
}
