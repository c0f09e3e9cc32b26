//! Running the real `orghubctl` against a test's database, vhost and writer ([`Ctl`]), and what
//! the dead-letter scenarios need around it: a subscriber's topology declared as the conventions
//! say ([`declare_subscriber_topology`]), fabricated dead letters ([`dead_letter`]), exact queue
//! depths and reading a queue's messages.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt as _;
use orghub_broker::lapin::message::Delivery;
use orghub_broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::lapin::{BasicProperties, Confirmation, Connection};
use orghub_contracts::OrgEvent;
use serde_json::Value;

use crate::TestVhost;
use crate::writer::ADMIN_TOKEN;

/// The longest one `orghubctl` run may take before the test fails.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The `orghubctl` binary with the environment of one test.
#[derive(Debug, Clone)]
pub struct Ctl {
    bin: PathBuf,
    env: Vec<(String, String)>,
}

/// What one run printed and how it exited.
#[derive(Debug, Clone)]
pub struct CtlOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CtlOutput {
    /// Panics with both outputs unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "orghubctl exited with {} instead of {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Stdout as JSON (for `--json` runs).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "orghubctl stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Ctl {
    /// `orghubctl` with `DATABASE_URL`, `AMQP_URL`, `RABBITMQ_MGMT_URL`, `ORGHUB_VHOST`,
    /// `ORGHUB_WRITER_URL` and `ORGHUB_ADMIN_TOKEN` pointing at the test's own.
    pub fn new(database_url: &str, vhost: &TestVhost, writer_url: &str) -> Ctl {
        let mgmt_url = crate::env_or("ORGHUB_TEST_MGMT_URL", crate::DEFAULT_MGMT_URL);
        Ctl {
            bin: crate::cargo_bin("orghubctl"),
            env: vec![
                ("DATABASE_URL".into(), database_url.into()),
                ("AMQP_URL".into(), vhost.amqp_url.clone()),
                ("RABBITMQ_MGMT_URL".into(), mgmt_url),
                ("ORGHUB_VHOST".into(), vhost.name.clone()),
                ("ORGHUB_WRITER_URL".into(), writer_url.into()),
                ("ORGHUB_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ],
        }
    }

    /// The same with one variable set to another value.
    pub fn with_env(&self, name: &str, value: &str) -> Ctl {
        let mut ctl = self.clone();
        ctl.env.retain(|(k, _)| k != name);
        ctl.env.push((name.into(), value.into()));
        ctl
    }

    /// Runs `orghubctl args...` to its end (without blocking the test's runtime, so an
    /// in-process writer keeps serving). Panics if it takes longer than a minute.
    pub async fn run(&self, args: &[&str]) -> CtlOutput {
        let mut command = tokio::process::Command::new(&self.bin);
        command
            .args(args)
            .env_remove("ORGHUB_TOKEN")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let output = tokio::time::timeout(RUN_DEADLINE, command.output())
            .await
            .unwrap_or_else(|_| panic!("orghubctl {args:?} did not finish in {RUN_DEADLINE:?}"))
            .unwrap_or_else(|e| panic!("cannot run orghubctl: {e}"));
        CtlOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A unique subscriber name for one test (RabbitMQ users are global to the broker, so names
/// must not collide between tests running side by side).
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Declares a subscriber's topology as the operator's `orghubctl subscriber create` does
/// (without the policy and the user).
pub async fn declare_subscriber_topology(conn: &Connection, name: &str) {
    let name = orghub_broker::SubscriberName::parse(name).expect("a subscriber name");
    orghub_broker::Topology::new(name, orghub_broker::subscriber::default_tiers())
        .declare(conn)
        .await
        .expect("declare the subscriber's topology");
}

/// A fabricated dead letter of `event`: its AMQP form plus the runtime's dead-letter headers and
/// an `x-death` entry (which a replay must not copy).
pub fn dead_letter(
    event: &OrgEvent,
    subscriber: &str,
    reason: &str,
    attempts: u32,
    error: &str,
) -> (Vec<u8>, BasicProperties) {
    let message = event.to_amqp();
    let props = orghub_broker::properties_for(&message);
    let mut headers = props.headers().clone().unwrap_or_default();
    let long = |s: &str| AMQPValue::LongString(s.into());
    headers.insert("orghub-error-kind".into(), long(reason));
    headers.insert("orghub-error".into(), long(error));
    headers.insert("orghub-attempts".into(), long(&attempts.to_string()));
    headers.insert(
        "orghub-failed-at".into(),
        long(&chrono::Utc::now().to_rfc3339()),
    );
    headers.insert("orghub-subscriber".into(), long(subscriber));
    headers.insert("orghub-retries".into(), long("2"));
    headers.insert("x-death".into(), x_death(&format!("sub.{subscriber}")));
    (message.body, props.with_headers(headers))
}

/// A dead letter the broker made: the event with an `x-death` (delivery limit), no orghub
/// headers.
pub fn broker_dead_letter(event: &OrgEvent, subscriber: &str) -> (Vec<u8>, BasicProperties) {
    let message = event.to_amqp();
    let props = orghub_broker::properties_for(&message);
    let mut headers = props.headers().clone().unwrap_or_default();
    headers.insert("x-death".into(), x_death(&format!("sub.{subscriber}")));
    (message.body, props.with_headers(headers))
}

fn x_death(queue: &str) -> AMQPValue {
    let mut entry = FieldTable::default();
    entry.insert(
        "reason".into(),
        AMQPValue::LongString("delivery_limit".into()),
    );
    entry.insert("queue".into(), AMQPValue::LongString(queue.into()));
    entry.insert(
        "time".into(),
        AMQPValue::Timestamp(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)),
    );
    entry.insert("count".into(), AMQPValue::LongLongInt(1));
    AMQPValue::FieldArray(vec![AMQPValue::FieldTable(entry)].into())
}

/// Publishes with a confirm to `exchange`/`routing_key`; panics unless it was routed.
pub async fn publish_confirmed(
    conn: &Connection,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let confirm = ch
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            props,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(
        matches!(confirm, Confirmation::Ack(None)),
        "publishing to {exchange} with {routing_key} was not routed and acked: {confirm:?}"
    );
    let _ = ch.close(200, "done".into()).await;
}

/// The exact number of ready messages in `queue` (a passive declare, not the management API's
/// delayed figures). Panics if the queue does not exist.
pub async fn queue_depth(conn: &Connection, queue: &str) -> u32 {
    orghub_broker::queue_depth(conn, queue)
        .await
        .unwrap_or_else(|e| panic!("passive declare of {queue}: {e}"))
}

/// Takes (and acks) every message in `queue` right now. Consumes rather than `basic.get`s, which
/// quorum queues with a single active consumer refuse.
pub async fn take_all(conn: &Connection, queue: &str) -> Vec<Delivery> {
    let depth = queue_depth(conn, queue).await as usize;
    let mut out = Vec::with_capacity(depth);
    if depth == 0 {
        return out;
    }
    let ch = conn.create_channel().await.expect("channel");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "orghub-test-take-all".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("consume {queue}: {e}"));
    while out.len() < depth {
        let next = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("{queue} had {depth} messages, got {}", out.len()));
        let delivery = next
            .unwrap_or_else(|| panic!("the consumer on {queue} ended"))
            .unwrap_or_else(|e| panic!("consuming {queue}: {e}"));
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        out.push(delivery);
    }
    let _ = ch.close(200, "done".into()).await;
    out
}
