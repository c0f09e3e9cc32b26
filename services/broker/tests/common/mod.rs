//! A fresh vhost per test and a bounded poll, for this crate's integration tests. (The shared
//! harness in `orghub-tests` depends on this crate, so it cannot be used here.)

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use orghub_broker::mgmt::{Management, percent_encode};

pub struct Vhost {
    pub name: String,
    pub amqp_url: String,
    pub mgmt: Management,
}

impl Vhost {
    pub async fn create() -> Vhost {
        let mgmt_url = std::env::var("ORGHUB_TEST_MGMT_URL")
            .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".into());
        let amqp_base = std::env::var("ORGHUB_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into());
        let mgmt = Management::parse(&mgmt_url).expect("valid management URL");
        let name = format!("orghub-test-{}", uuid::Uuid::new_v4().simple());
        mgmt.create_vhost(&name).await.expect(
            "create a vhost (is the management plugin on? `rabbitmq-plugins enable rabbitmq_management`)",
        );
        mgmt.grant_permissions(&name, mgmt.user(), ".*", ".*", ".*")
            .await
            .expect("grant permissions");
        let amqp_url = format!(
            "{}/{}",
            amqp_base.trim_end_matches('/'),
            percent_encode(&name)
        );
        Vhost {
            name,
            amqp_url,
            mgmt,
        }
    }

    pub async fn delete(self) {
        self.mgmt
            .delete_vhost(&self.name)
            .await
            .expect("delete the test vhost");
    }
}

/// Polls `probe` every 20 ms until it returns `Some`, panicking after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
