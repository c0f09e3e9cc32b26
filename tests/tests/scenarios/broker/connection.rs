//! Connecting, against a real RabbitMQ.

use std::time::Duration;

use orghub_broker::{BrokerError, connect};
use orghub_tests::{TestVhost, eventually};

#[tokio::test]
async fn connecting_to_a_missing_vhost_fails_with_the_password_redacted() {
    let url = "amqp://guest:guest@127.0.0.1:5672/orghub-no-such-vhost";
    let error = connect(url, "broker-test").await.unwrap_err();
    assert!(matches!(error, BrokerError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("amqp://guest:***@127.0.0.1:5672/orghub-no-such-vhost"),
        "{text}"
    );
    assert!(!text.contains("guest:guest"), "{text}");
}

#[tokio::test]
async fn connecting_where_nothing_listens_fails_promptly() {
    let error = tokio::time::timeout(
        Duration::from_secs(15),
        connect("amqp://guest:guest@127.0.0.1:9/%2f", "broker-test"),
    )
    .await
    .expect("connect gives up by itself")
    .unwrap_err();
    assert!(matches!(error, BrokerError::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn the_connection_name_is_shown_by_the_management_api() {
    let vhost = TestVhost::create().await;
    let _conn = connect(&vhost.amqp_url, "orghub-relay-test").await.unwrap();

    // Listed after the next statistics collection (up to 5 s).
    let name = eventually(
        Duration::from_secs(20),
        "the connection to be listed",
        || async {
            let list = vhost
                .mgmt
                .get_json(&["vhosts", &vhost.name, "connections"])
                .await
                .unwrap()?;
            list.get(0)?["client_properties"]["connection_name"]
                .as_str()
                .map(str::to_owned)
        },
    )
    .await;
    assert_eq!(name, "orghub-relay-test");

    vhost.delete_now().await;
}
