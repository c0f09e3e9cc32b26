//! orghub's shared black-box test harness: what every scenario in `tests/tests/scenarios/` needs to run
//! against the real PostgreSQL and RabbitMQ, isolated from every other test running beside it.
//!
//! Layout:
//! - [`eventually`]: a bounded poll, the only way a test waits. Never a fixed sleep.
//! - [`TestDatabase`]: a fresh, empty PostgreSQL database per test (`orghub_test_<uuid>`).
//! - [`TestVhost`]: a fresh RabbitMQ vhost per test (`orghub-test-<uuid>`) with its AMQP URL and a
//!   management client.
//! - [`bind_probe_queue`] / [`ProbeQueue`]: an exclusive queue bound on `org.events` that reads
//!   what was published, decoded; [`declare_durable_probe`] one that outlives connections.
//! - [`writer`]: an in-process writer (API and relay) on port 0 and a JSON client for it.
//! - [`cargo_bin`]: the path of a workspace binary, for tests that run and kill real processes.
//! - [`subscriber`]: subscriber config files, an in-process subscriber, sink state probes, a DLQ
//!   reader, a fault-injecting sink decorator and the webhook test server.
//! - [`ops`]: the real `orghubctl` run against a test's database, vhost and writer, subscriber
//!   topologies and fabricated dead letters.
//! - [`console`]: the operator's console in-process, a cookie-keeping client for it, and a hub
//!   with a poisoned subscriber to look at.
//! - [`TestHub`]: the usual start of a scenario, a database, a vhost and a writer on them (and
//!   `orghubctl` pointed at all three), stopped and removed with [`TestHub::stop`].
//! - [`fixtures`]: the ids, import lines and dates scenarios write with.
//!
//! A test's [`TestVhost::create`] enables RabbitMQ's management plugin first if the broker is on
//! this machine and the API does not answer (a fresh install has it off); see
//! [`orghub_broker::local`].
//!
//! Tests call [`TestDatabase::drop_now`] and [`TestVhost::delete_now`] at their end. A test that
//! panics before leaves its database or vhost behind; that is harmless, since every name is
//! unique and nothing looks at them again. To clean up by hand, drop the databases named
//! `orghub_test_*` (`psql -U postgres -h 127.0.0.1 -c '\l orghub_test_*'`) and delete the vhosts
//! named `orghub-test-*` (`rabbitmqctl list_vhosts`).
//!
//! Environment overrides: `ORGHUB_TEST_PG_ADMIN_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), `ORGHUB_TEST_MGMT_URL` (default
//! `http://guest:guest@127.0.0.1:15672`), `ORGHUB_TEST_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672`, without a vhost).

pub mod console;
pub mod fixtures;
mod hub;
pub mod ops;
pub mod subscriber;
pub mod writer;

pub use hub::{HubOptions, TestHub};

use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use orghub_broker::lapin::message::Delivery;
use orghub_broker::lapin::options::{
    BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions,
};
use orghub_broker::lapin::types::FieldTable;
use orghub_broker::lapin::{Channel, Connection};
use orghub_broker::mgmt::{Management, percent_encode};
use orghub_contracts::OrgEvent;
use orghub_contracts::amqp::EXCHANGE;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool};

/// How often [`eventually`] and [`ProbeQueue`] poll.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_MGMT_URL: &str = "http://guest:guest@127.0.0.1:15672";
const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672";

/// Polls `probe` every 25 ms until it returns `Some`, and returns that value. Panics with `what`
/// once `deadline` has passed, including when a single probe is still running then.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let remaining = until.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(remaining, probe()).await {
            Ok(Some(value)) => return value,
            Ok(None) if tokio::time::Instant::now() < until => {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            Ok(None) | Err(_) => panic!("timed out after {deadline:?} waiting for {what}"),
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The path of the workspace binary `name` (e.g. `orghub-writer`) in the target directory this
/// test runs from. Cargo builds other packages' binaries for `cargo nextest run --workspace` and
/// `cargo test --workspace`, but not for `cargo test -p orghub-tests`: then build it first. Panics
/// with that advice when it is missing.
pub fn cargo_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    // target/<profile>/deps/<test binary> → target/<profile>/<name>
    let dir = exe
        .parent()
        .filter(|d| d.ends_with("deps"))
        .and_then(std::path::Path::parent)
        .or_else(|| exe.parent())
        .expect("the test binary lives in a directory");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo build --bin {name}` first (or `cargo nextest run \
         --workspace`, which builds every binary)",
        path.display()
    );
    path
}

/// A fresh, empty PostgreSQL database. The writer's migrations are the writer's business.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL, for `DATABASE_URL`.
    pub url: String,
    /// A small pool on it (5 connections), for the test's own queries.
    pub pool: PgPool,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates `orghub_test_<uuid>` through the admin URL (`ORGHUB_TEST_PG_ADMIN_URL`).
    pub async fn create() -> TestDatabase {
        let admin_url = env_or("ORGHUB_TEST_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL);
        let name = format!("orghub_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "cannot connect to PostgreSQL at {admin_url} (set ORGHUB_TEST_PG_ADMIN_URL): {e}"
            )
        });
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        admin.close().await.ok();
        let url = orghub_broker::with_path(&admin_url, &name);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database {url}: {e}"));
        TestDatabase {
            url,
            pool,
            name,
            admin_url,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the pool and drops the database, ending any session still on it (a server under
    /// test that has not stopped yet, say).
    pub async fn drop_now(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL to drop {}: {e}", self.name));
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot drop test database {}: {e}", self.name));
        admin.close().await.ok();
    }
}

/// A fresh RabbitMQ vhost on which the management user has every permission.
#[derive(Debug)]
pub struct TestVhost {
    pub name: String,
    /// `amqp://guest:guest@127.0.0.1:5672/<vhost, percent-encoded>`, for `AMQP_URL`.
    pub amqp_url: String,
    pub mgmt: Management,
}

impl TestVhost {
    /// Creates `orghub-test-<uuid>` through the management API (`ORGHUB_TEST_MGMT_URL`) and grants
    /// its user `.*` for configure, write and read.
    pub async fn create() -> TestVhost {
        let mgmt_url = env_or("ORGHUB_TEST_MGMT_URL", DEFAULT_MGMT_URL);
        let mgmt = Management::parse(&mgmt_url)
            .unwrap_or_else(|e| panic!("ORGHUB_TEST_MGMT_URL is not usable: {e}"));
        let name = format!("orghub-test-{}", uuid::Uuid::new_v4().simple());
        // A fresh local broker has the plugin off: the first test of a run switches it on.
        if let Err(e) = orghub_broker::local::ensure_management_api(&mgmt, |line| {
            eprintln!("orghub-tests: {line}");
        })
        .await
        {
            panic!("{e}");
        }
        if let Err(e) = mgmt.create_vhost(&name).await {
            if e.is_unreachable() || e.status().is_some_and(|s| s.as_u16() == 404) {
                panic!(
                    "the RabbitMQ management API at {} does not answer ({e}). Start RabbitMQ and \
                     run `rabbitmq-plugins enable rabbitmq_management`, or point \
                     ORGHUB_TEST_MGMT_URL at it",
                    mgmt.base_url()
                );
            }
            panic!("cannot create test vhost {name}: {e}");
        }
        mgmt.grant_permissions(&name, mgmt.user(), ".*", ".*", ".*")
            .await
            .unwrap_or_else(|e| panic!("cannot grant permissions on {name}: {e}"));
        let amqp_base = env_or("ORGHUB_TEST_AMQP_URL", DEFAULT_AMQP_URL);
        let amqp_url = format!(
            "{}/{}",
            amqp_base.trim_end_matches('/'),
            percent_encode(&name)
        );
        TestVhost {
            name,
            amqp_url,
            mgmt,
        }
    }

    /// Deletes the vhost with all its queues, exchanges and connections.
    pub async fn delete_now(self) {
        self.mgmt
            .delete_vhost(&self.name)
            .await
            .unwrap_or_else(|e| panic!("cannot delete test vhost {}: {e}", self.name));
    }
}

/// An exclusive, server-named queue bound on `org.events`; it disappears with its connection.
#[derive(Debug)]
pub struct ProbeQueue {
    /// The server-generated queue name.
    pub name: String,
    /// The binding key it was bound with.
    pub binding: String,
    channel: Channel,
}

/// Declares `org.events` (so the probe can bind before anything published), an exclusive queue,
/// and binds it with `binding` (e.g. `org.751.#`). Bind before publishing: the exchange keeps
/// nothing for queues bound later.
pub async fn bind_probe_queue(conn: &Connection, binding: &str) -> ProbeQueue {
    let channel = conn.create_channel().await.expect("open a probe channel");
    orghub_broker::declare_events_exchange(&channel)
        .await
        .expect("declare org.events");
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare the probe queue");
    let name = queue.name().to_string();
    channel
        .queue_bind(
            name.as_str().into(),
            EXCHANGE.into(),
            binding.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("bind the probe queue with {binding}: {e}"));
    ProbeQueue {
        name,
        binding: binding.to_owned(),
        channel,
    }
}

/// Declares a durable queue `name` bound on `org.events` with `binding`. Unlike a
/// [`ProbeQueue`] it outlives the test's connections, so it collects what writers publish across
/// restarts, kills and broker outages.
pub async fn declare_durable_probe(amqp_url: &str, name: &str, binding: &str) {
    let conn = orghub_broker::connect(amqp_url, "probe-setup")
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    orghub_broker::declare_events_exchange(&ch)
        .await
        .expect("exchange");
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue");
    ch.queue_bind(
        name.into(),
        EXCHANGE.into(),
        binding.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let _ = conn.close(200, "setup done".into()).await;
}

impl ProbeQueue {
    /// Takes and acks exactly `n` messages, in queue order, waiting up to `deadline` for them.
    /// Panics with what did arrive if they do not.
    pub async fn next_deliveries(&self, n: usize, deadline: Duration) -> Vec<Delivery> {
        let until = tokio::time::Instant::now() + deadline;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self.get().await {
                Some(delivery) => got.push(delivery),
                None if tokio::time::Instant::now() < until => {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                None => panic!(
                    "timed out after {deadline:?} waiting for {n} messages on the probe queue \
                     bound with {}; got {}:{}",
                    self.binding,
                    got.len(),
                    describe(&got)
                ),
            }
        }
        got
    }

    /// Takes, acks and decodes exactly `n` events, in queue order, waiting up to `deadline`.
    /// Panics with what did arrive if they do not, or if one does not decode.
    pub async fn next_events(&self, n: usize, deadline: Duration) -> Vec<OrgEvent> {
        self.next_deliveries(n, deadline)
            .await
            .iter()
            .map(decode_or_panic)
            .collect()
    }

    /// Takes and acks whatever is in the queue right now, without waiting for more.
    pub async fn drain_deliveries_now(&self) -> Vec<Delivery> {
        let mut got = Vec::new();
        while let Some(delivery) = self.get().await {
            got.push(delivery);
        }
        got
    }

    /// Takes, acks and decodes whatever is in the queue right now, without waiting for more.
    pub async fn drain_now(&self) -> Vec<OrgEvent> {
        self.drain_deliveries_now()
            .await
            .iter()
            .map(decode_or_panic)
            .collect()
    }

    async fn get(&self) -> Option<Delivery> {
        let message = self
            .channel
            .basic_get(self.name.as_str().into(), BasicGetOptions::default())
            .await
            .unwrap_or_else(|e| panic!("basic.get on the probe queue {}: {e}", self.name))?;
        let delivery = message.delivery;
        delivery
            .ack(BasicAckOptions::default())
            .await
            .unwrap_or_else(|e| panic!("ack on the probe queue {}: {e}", self.name));
        Some(delivery)
    }
}

fn decode_or_panic(delivery: &Delivery) -> OrgEvent {
    orghub_broker::decode_delivery(delivery).unwrap_or_else(|e| {
        panic!(
            "a message with routing key {} on the probe queue is not an orghub event ({e}): {}",
            delivery.routing_key,
            String::from_utf8_lossy(&delivery.data)
        )
    })
}

/// One line per delivery: routing key, then sequence, subject and version when it decodes.
fn describe(deliveries: &[Delivery]) -> String {
    let mut out = String::new();
    for d in deliveries {
        let _ = match orghub_broker::decode_delivery(d) {
            Ok(e) => write!(
                out,
                "\n  {} sequence {} subject {} version {}",
                d.routing_key, e.sequence, e.data.uuid, e.entity_version
            ),
            Err(err) => write!(out, "\n  {} (not an event: {err})", d.routing_key),
        };
    }
    out
}
