//! Subscriber scenarios' harness: config files, an in-process subscriber, probes of each sink's
//! state, the DLQ reader, a fault-injecting sink decorator for the conformance suite, and the
//! webhook test server (the only mock: it stands in for a fagsystem's HTTP endpoint).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use orghub_broker::lapin::message::Delivery;
use orghub_broker::lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::lapin::{BasicProperties, Connection};
use orghub_contracts::{AmqpMessage, Attrs, EntityDocument, Kommune, OrgEvent};
use orghub_runtime::Shutdown;
use orghub_subscriber::metrics::Metrics;
use orghub_subscriber::sinks::webhook::sign;
use orghub_subscriber::{Applied, Command, Config, ResyncScope, Sink, SinkError, Subscriber};
use serde_json::Value;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::writer::{ADMIN_TOKEN, TestWriter};

/// An entity as a sink holds it: version and document.
pub type SinkState = BTreeMap<Uuid, (u64, Value)>;

/// The settings of a test subscriber, rendered as the TOML file `orghubctl` would print.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub amqp_url: String,
    pub writer_url: String,
    /// `(kommune, kinds)`; empty kinds = all.
    pub bindings: Vec<(String, Vec<String>)>,
    /// The `[sink]` body without the header.
    pub sink: String,
    pub in_process: u32,
    pub tiers: Vec<String>,
    pub batch_size: u32,
}

impl Spec {
    /// A subscriber of kommune 751, all kinds, with short retry tiers.
    pub fn new(name: &str, amqp_url: &str, writer: &TestWriter, sink: String) -> Self {
        Spec {
            name: name.to_owned(),
            amqp_url: amqp_url.to_owned(),
            writer_url: writer.base.clone(),
            bindings: vec![("751".to_owned(), Vec::new())],
            sink,
            in_process: 2,
            tiers: vec!["100ms".into(), "200ms".into(), "400ms".into()],
            batch_size: 100,
        }
    }

    pub fn toml(&self) -> String {
        let mut out = format!(
            "name = \"{}\"\namqp_url = \"{}\"\nmanagement_url = \"{}\"\nwriter_url = \"{}\"\n\
             writer_token = \"{ADMIN_TOKEN}\"\nmetrics_listen = \"127.0.0.1:0\"\nbatch_size = {}\n\
             prefetch = {}\n",
            self.name,
            self.amqp_url,
            std::env::var("ORGHUB_TEST_MGMT_URL")
                .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".into()),
            self.writer_url,
            self.batch_size,
            self.batch_size * 2,
        );
        for (kommune, kinds) in &self.bindings {
            let kinds: Vec<String> = kinds.iter().map(|k| format!("\"{k}\"")).collect();
            out.push_str(&format!(
                "\n[[bindings]]\nkommune = \"{kommune}\"\nkinds = [{}]\n",
                kinds.join(", ")
            ));
        }
        let tiers: Vec<String> = self.tiers.iter().map(|t| format!("\"{t}\"")).collect();
        out.push_str(&format!(
            "\n[retry]\nin_process = {}\ntiers = [{}]\ndelivery_limit = 10\nbackoff_min = \"10ms\"\n\
             backoff_max = \"100ms\"\n\n[sink]\n{}\n",
            self.in_process,
            tiers.join(", "),
            self.sink
        ));
        out
    }

    pub fn config(&self) -> Config {
        Config::from_toml(&self.toml())
            .unwrap_or_else(|e| panic!("the test config is invalid: {e}\n{}", self.toml()))
    }

    pub fn queue(&self) -> String {
        format!("sub.{}", self.name)
    }

    pub fn dlq(&self) -> String {
        format!("sub.{}.dlq", self.name)
    }
}

/// Starts the real `orghub-subscriber` binary with `config` (nothing from the environment), its
/// log appended to `log`. The process is killed if the handle is dropped.
pub fn spawn_subscriber(config: &std::path::Path, log: &std::path::Path) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    tokio::process::Command::new(crate::cargo_bin("orghub-subscriber"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env_remove("AMQP_URL")
        .env_remove("ORGHUB_SUBSCRIBER_NAME")
        .env_remove("ORGHUB_WRITER_URL")
        .env_remove("ORGHUB_WRITER_TOKEN")
        .env_remove("ORGHUB_SUBSCRIBER_METRICS")
        .env_remove("RABBITMQ_MGMT_URL")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn orghub-subscriber")
}

/// A subscriber running in this process.
#[derive(Debug)]
pub struct TestSubscriber {
    pub metrics: Arc<Metrics>,
    pub metrics_addr: SocketAddr,
    stop: Option<Shutdown>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestSubscriber {
    /// Starts the sink the spec names and waits until it consumes.
    pub async fn start(spec: &Spec, command: Command) -> TestSubscriber {
        let subscriber = Subscriber::build(spec.config())
            .await
            .expect("the subscriber builds");
        Self::run(subscriber, command).await
    }

    /// Starts with a sink built by the test and waits until it consumes.
    pub async fn start_with<S: Sink>(spec: &Spec, sink: S, command: Command) -> TestSubscriber {
        let subscriber = Subscriber::with_sink(spec.config(), sink)
            .await
            .expect("the subscriber builds");
        Self::run(subscriber, command).await
    }

    async fn run<S: Sink>(subscriber: Subscriber<S>, command: Command) -> TestSubscriber {
        let metrics = subscriber.metrics();
        let metrics_addr = subscriber.metrics_addr();
        let stop = Shutdown::new();
        let task = tokio::spawn(subscriber.run_until_stopped(command, stop.clone()));
        let s = TestSubscriber {
            metrics,
            metrics_addr,
            stop: Some(stop),
            task: Some(task),
        };
        s.wait_consuming().await;
        s
    }

    /// Waits until the runtime is connected and consuming (bootstrap done, queue bound).
    pub async fn wait_consuming(&self) {
        crate::eventually(
            Duration::from_secs(30),
            "the subscriber to consume",
            || async { (self.metrics.connected.get() == 1).then_some(()) },
        )
        .await;
    }

    /// Graceful stop; the runtime must end without an error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the subscriber task does not panic")
                .expect("the subscriber stops cleanly");
        }
    }

    /// The `/metrics` text over HTTP.
    pub async fn scrape(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics_addr))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

impl Drop for TestSubscriber {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Poisons a PostgreSQL sink the way a fagsystem's own rule would: a trigger on its cache table
/// refuses units named "Forbudt" (`units named Forbudt are not allowed here`), so their events
/// dead-letter as `sink-permanent`. `DROP TRIGGER no_forbidden ON orghub_cache.entity` repairs it.
pub async fn refuse_units_named_forbudt(cache: &PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION public.no_forbidden() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.document->'timeline'->0->>'name' = 'Forbudt' THEN
             RAISE EXCEPTION 'units named Forbudt are not allowed here';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER no_forbidden BEFORE INSERT OR UPDATE ON orghub_cache.entity
           FOR EACH ROW EXECUTE FUNCTION public.no_forbidden();",
    )
    .execute(cache)
    .await
    .expect("the poisoning trigger");
}

/// The writer's snapshot of `kommune`: live entities, CPR removed (sinks never hold it).
pub async fn snapshot(writer: &TestWriter, kommune: &str) -> SinkState {
    let reply = writer.get(&format!("/api/v1/{kommune}/snapshot")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut lines = reply.text.lines();
    let first: Value = serde_json::from_str(lines.next().expect("watermark line")).expect("json");
    assert!(first["sequence"].is_u64(), "{first}");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("document line");
            let doc = EntityDocument::from_json(v).expect("a valid document");
            let version = doc.version;
            let uuid = doc.uuid;
            let json = serde_json::to_value(doc.without_sensitive()).expect("serialise");
            (uuid, (version, json))
        })
        .collect()
}

/// Both snapshots merged.
pub async fn snapshots(writer: &TestWriter, kommuner: &[&str]) -> SinkState {
    let mut all = SinkState::new();
    for k in kommuner {
        all.extend(snapshot(writer, k).await);
    }
    all
}

/// What a sink holds, read from where the fagsystem would read it.
#[derive(Debug, Clone)]
pub enum Probe {
    /// `<schema>.entities`.
    Postgres { pool: PgPool, schema: String },
    /// The webhook server's entities.
    Webhook(WebhookServer),
    /// The newest line per subject of the file (deleted ones left out).
    Ndjson(PathBuf),
}

impl Probe {
    pub async fn state(&self) -> SinkState {
        match self {
            Probe::Postgres { pool, schema } => {
                let rows: Vec<(Uuid, i64, Value)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT uuid, version, document FROM {schema}.entities"
                )))
                .fetch_all(pool)
                .await
                .unwrap_or_default();
                rows.into_iter()
                    .map(|(u, v, d)| (u, (u64::try_from(v).unwrap_or(0), d)))
                    .collect()
            }
            Probe::Webhook(server) => server.state(),
            Probe::Ndjson(path) => {
                let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
                let mut newest: BTreeMap<Uuid, (u64, Value)> = BTreeMap::new();
                for line in text.lines() {
                    let Ok(event) = serde_json::from_str::<Value>(line) else {
                        continue;
                    };
                    let (Some(subject), Some(version)) = (
                        event["subject"]
                            .as_str()
                            .and_then(|s| Uuid::parse_str(s).ok()),
                        event["entityversion"].as_u64(),
                    ) else {
                        continue;
                    };
                    if newest.get(&subject).is_none_or(|(v, _)| version > *v) {
                        newest.insert(subject, (version, event["data"].clone()));
                    }
                }
                newest
                    .into_iter()
                    .filter(|(_, (_, data))| data["deleted"] != Value::Bool(true))
                    .collect()
            }
        }
    }

    /// Polls until the sink holds exactly `expected`; panics with the difference.
    pub async fn converges_to(&self, expected: &SinkState, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let state = self.state().await;
            if &state == expected {
                return;
            }
            if tokio::time::Instant::now() > until {
                panic!(
                    "the sink did not converge within {deadline:?}: {}",
                    difference(expected, &state)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A short description of how two states differ.
pub fn difference(expected: &SinkState, actual: &SinkState) -> String {
    let mut out = format!(
        "expected {} entities, sink has {}",
        expected.len(),
        actual.len()
    );
    let mut shown = 0;
    for (uuid, (v, doc)) in expected {
        if shown >= 5 {
            break;
        }
        match actual.get(uuid) {
            None => out.push_str(&format!("\n  missing {uuid} v{v}")),
            Some((av, adoc)) if av != v || adoc != doc => out.push_str(&format!(
                "\n  {uuid}: expected v{v}, has v{av}{}",
                if av == v {
                    " with another document"
                } else {
                    ""
                }
            )),
            Some(_) => continue,
        }
        shown += 1;
    }
    for uuid in actual.keys().filter(|u| !expected.contains_key(u)).take(5) {
        out.push_str(&format!("\n  unexpected {uuid}"));
    }
    out
}

/// Takes and acks every message in `queue`, waiting up to `deadline` until there are at least
/// `at_least`.
pub async fn drain_queue(
    conn: &Connection,
    queue: &str,
    at_least: usize,
    deadline: Duration,
) -> Vec<Delivery> {
    let channel = conn.create_channel().await.expect("channel");
    let until = tokio::time::Instant::now() + deadline;
    let mut got = Vec::new();
    loop {
        while let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap_or_else(|e| panic!("basic.get on {queue}: {e}"))
        {
            let delivery = message.delivery;
            delivery.ack(BasicAckOptions::default()).await.expect("ack");
            got.push(delivery);
        }
        if got.len() >= at_least {
            let _ = channel.close(200, "drained".into()).await;
            return got;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "only {} of {at_least} messages arrived in {queue} within {deadline:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Exact number of messages in `queue` right now (a passive declare).
pub async fn queue_depth(conn: &Connection, queue: &str) -> u32 {
    orghub_broker::queue_depth(conn, queue)
        .await
        .unwrap_or_else(|e| panic!("passive declare of {queue}: {e}"))
}

/// A header of a delivery as text (`None` if absent).
pub fn header(delivery: &Delivery, name: &str) -> Option<String> {
    orghub_broker::headers_to_map(&delivery.properties)
        .get(name)
        .cloned()
}

/// Every header name of a delivery.
pub fn header_names(delivery: &Delivery) -> Vec<String> {
    delivery
        .properties
        .headers()
        .as_ref()
        .map(|t| t.inner().keys().map(|k| k.to_string()).collect())
        .unwrap_or_default()
}

/// Publishes a stored CloudEvent JSON (from the writer's `/events`) to `org.events` again, as the
/// relay would: a duplicate or late delivery.
pub async fn republish_event(conn: &Connection, event: &Value) {
    let message = AmqpMessage::from_structured_body(event.to_string().into_bytes())
        .expect("a structured CloudEvent");
    let publisher = orghub_broker::Publisher::new(conn)
        .await
        .expect("publisher");
    publisher.publish(&message).await.expect("confirmed");
}

/// Publishes raw bytes to `org.events` with `routing_key` and optional content type.
pub async fn publish_raw(
    conn: &Connection,
    routing_key: &str,
    body: &[u8],
    content_type: Option<&str>,
) {
    let channel = conn.create_channel().await.expect("channel");
    let mut props = BasicProperties::default().with_delivery_mode(2);
    if let Some(ct) = content_type {
        props = props.with_content_type(ct.into());
    }
    let mut headers = FieldTable::default();
    headers.insert(
        "x-test".into(),
        AMQPValue::LongString("dropped on copy".into()),
    );
    props = props.with_headers(headers);
    channel
        .basic_publish(
            orghub_contracts::amqp::EXCHANGE.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let _ = channel.close(200, "published".into()).await;
}

/// Replays a dead letter as `orghubctl dlq replay` does: to `sub.<name>.x` with key `sub.<name>`,
/// the runtime's `orghub-*` headers and the broker's `x-*` headers stripped, `orghub-replay-count`
/// incremented.
pub async fn replay(conn: &Connection, subscriber: &str, dead: &Delivery) {
    const STRIPPED: [&str; 6] = [
        "orghub-retries",
        "orghub-attempts",
        "orghub-error",
        "orghub-error-kind",
        "orghub-failed-at",
        "orghub-subscriber",
    ];
    let mut headers = FieldTable::default();
    let mut count = 0u32;
    for (name, value) in dead
        .properties
        .headers()
        .clone()
        .unwrap_or_default()
        .inner()
    {
        let n = name.as_str();
        if n == "orghub-replay-count" {
            count = header(dead, n).and_then(|c| c.parse().ok()).unwrap_or(0);
        } else if !n.starts_with("x-") && !STRIPPED.contains(&n) {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers.insert(
        "orghub-replay-count".into(),
        AMQPValue::LongString((count + 1).to_string().into()),
    );
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(Default::default())
        .await
        .expect("confirm mode");
    let queue = format!("sub.{subscriber}");
    let confirm = channel
        .basic_publish(
            format!("{queue}.x").as_str().into(),
            queue.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &dead.data,
            dead.properties.clone().with_headers(headers),
        )
        .await
        .expect("publish the replay")
        .await
        .expect("confirm");
    assert!(
        matches!(confirm, orghub_broker::lapin::Confirmation::Ack(None)),
        "the replay was not routed: {confirm:?}"
    );
    let _ = channel.close(200, "replayed".into()).await;
}

// ---------------------------------------------------------------------------------------------
// Fault injection for the conformance suite.

/// A fault to inject for one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fail transiently this many more times, then pass.
    Transient(u32),
    /// Refuse permanently with this message.
    Permanent(String),
}

/// A sink decorator that fails chosen entities and passes everything else to the real sink. It
/// stands for "the sink's target failed", which the conformance suite needs the same way for
/// every sink; the real sinks' own failure classification is tested against real failures
/// (a refusing database trigger, an HTTP server answering 503, 400 or nothing).
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    faults: Arc<Mutex<HashMap<Uuid, Fault>>>,
}

/// Controls a [`Faulty`] sink from the test.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<Uuid, Fault>>>);

impl Faults {
    pub fn set(&self, uuid: Uuid, fault: Fault) {
        self.0.lock().expect("faults").insert(uuid, fault);
    }

    pub fn clear(&self, uuid: Uuid) {
        self.0.lock().expect("faults").remove(&uuid);
    }
}

impl<S: Sink> Faulty<S> {
    pub fn new(inner: S) -> (Self, Faults) {
        let faults = Faults::default();
        (
            Faulty {
                inner,
                faults: faults.0.clone(),
            },
            faults,
        )
    }

    /// The injected outcome for one event, if any (consuming a transient count).
    fn injected(&self, event: &OrgEvent) -> Option<SinkError> {
        let mut faults = self.faults.lock().expect("faults");
        match faults.get_mut(&event.subject()) {
            Some(Fault::Transient(n)) if *n > 0 => {
                *n -= 1;
                Some(SinkError::transient("injected transient failure"))
            }
            Some(Fault::Permanent(message)) => Some(SinkError::Permanent(message.clone())),
            _ => None,
        }
    }
}

impl<S: Sink> Sink for Faulty<S> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn apply(&self, events: &[OrgEvent]) -> Vec<Result<Applied, SinkError>> {
        let mut results: Vec<Option<Result<Applied, SinkError>>> =
            events.iter().map(|e| self.injected(e).map(Err)).collect();
        let pass: Vec<OrgEvent> = events
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_none())
            .map(|(e, _)| e.clone())
            .collect();
        let mut inner = self.inner.apply(&pass).await.into_iter();
        results
            .iter_mut()
            .map(|r| match r.take() {
                Some(injected) => injected,
                None => inner
                    .next()
                    .unwrap_or(Err(SinkError::transient("missing result"))),
            })
            .collect()
    }

    async fn is_empty(&self, kommune: Kommune) -> Result<bool, SinkError> {
        self.inner.is_empty(kommune).await
    }

    async fn resync_load(
        &self,
        scope: &ResyncScope,
        documents: &[EntityDocument<Attrs>],
    ) -> Result<u64, SinkError> {
        self.inner.resync_load(scope, documents).await
    }

    async fn resync_prune(
        &self,
        scope: &ResyncScope,
        present: &std::collections::HashSet<Uuid>,
    ) -> Result<u64, SinkError> {
        self.inner.resync_prune(scope, present).await
    }
}

// ---------------------------------------------------------------------------------------------
// The webhook test server.

/// How the webhook test server misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Percentage of requests answered 503 (chosen by a fixed pseudo-random sequence).
    pub fail_percent: u64,
    /// Every n-th request hangs for `hang_for` (longer than the sink's timeout) and records
    /// nothing.
    pub hang_every: Option<u64>,
    pub hang_for: Duration,
    /// Events of this entity are refused with 400.
    pub refuse: Option<Uuid>,
}

#[derive(Debug, Default)]
struct Received {
    entities: SinkState,
    /// Versions of deleted entities, so an older event cannot bring them back.
    tombstones: HashMap<Uuid, u64>,
    requests: u64,
    failed: u64,
    hung: u64,
    refused: u64,
    bad_signatures: u64,
}

/// A small axum server that verifies signatures and keeps the newest version of each entity, as
/// a careful fagsystem would.
#[derive(Debug, Clone)]
pub struct WebhookServer {
    pub url: String,
    received: Arc<Mutex<Received>>,
    counter: Arc<AtomicU64>,
    _task: Arc<JoinHandle<()>>,
}

#[derive(Clone)]
struct ServerState {
    secret: String,
    behaviour: Behaviour,
    received: Arc<Mutex<Received>>,
    counter: Arc<AtomicU64>,
}

/// splitmix64: a fixed pseudo-random sequence, so a run's failures are reproducible.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A test certificate authority and a server certificate it issued for `localhost`.
pub struct TestCa {
    /// The CA's certificate, PEM: what a client must trust.
    pub ca_pem: String,
    server: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    pub fn generate() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "orghub test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca)
            .expect("server certificate");
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server TLS config");
        TestCa {
            ca_pem: ca.pem(),
            server: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl WebhookServer {
    /// Serves `POST /hook` over plain HTTP.
    pub async fn start(secret: &str, behaviour: Behaviour) -> WebhookServer {
        Self::serve(secret, behaviour, None).await
    }

    /// Serves `POST /hook` over HTTPS at `https://localhost:<port>/hook`, with a certificate of
    /// `ca`.
    pub async fn start_https(secret: &str, behaviour: Behaviour, ca: &TestCa) -> WebhookServer {
        Self::serve(secret, behaviour, Some(ca.server.clone())).await
    }

    async fn serve(
        secret: &str,
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> WebhookServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook server");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Received::default()));
        let counter = Arc::new(AtomicU64::new(0));
        let state = ServerState {
            secret: secret.to_owned(),
            behaviour,
            received: received.clone(),
            counter: counter.clone(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let (url, task) = match tls {
            None => (
                format!("http://{addr}/hook"),
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }),
            ),
            Some(acceptor) => (
                format!("https://localhost:{}/hook", addr.port()),
                tokio::spawn(serve_tls(listener, acceptor, app)),
            ),
        };
        WebhookServer {
            url,
            received,
            counter,
            _task: Arc::new(task),
        }
    }

    pub fn state(&self) -> SinkState {
        self.received.lock().expect("received").entities.clone()
    }

    /// `(requests, answered 503, hung, refused with 400, bad signatures)`.
    pub fn counts(&self) -> (u64, u64, u64, u64, u64) {
        let r = self.received.lock().expect("received");
        (r.requests, r.failed, r.hung, r.refused, r.bad_signatures)
    }

    pub fn requests(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }
}

/// Accepts TLS connections and serves `app` on each (HTTP/1.1 or HTTP/2).
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that does not trust the certificate ends the handshake: nothing to serve.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(
                    TokioIo::new(tls),
                    hyper_util::service::TowerToHyperService::new(app),
                )
                .await;
        });
    }
}

async fn receive(
    axum::extract::State(s): axum::extract::State<ServerState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let n = s.counter.fetch_add(1, Ordering::SeqCst) + 1;
    s.received.lock().expect("received").requests += 1;
    // Verify the signature first: a request that fails it is an error of the sink under test.
    let signature = headers
        .get("orghub-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let parsed: Option<(i64, String)> = signature.split_once(',').and_then(|(t, v1)| {
        Some((
            t.strip_prefix("t=")?.parse().ok()?,
            v1.strip_prefix("v1=")?.to_owned(),
        ))
    });
    let content_type_ok = headers.get("content-type").and_then(|v| v.to_str().ok())
        == Some("application/cloudevents+json");
    let valid = parsed.is_some_and(|(t, v1)| {
        (chrono::Utc::now().timestamp() - t).abs() < 300
            && sign(s.secret.as_bytes(), t, &body) == v1
    });
    if !valid || !content_type_ok {
        s.received.lock().expect("received").bad_signatures += 1;
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    if s.behaviour.hang_every.is_some_and(|every| n % every == 0) {
        s.received.lock().expect("received").hung += 1;
        tokio::time::sleep(s.behaviour.hang_for).await;
        return (StatusCode::SERVICE_UNAVAILABLE, "too late".into());
    }
    if mix(n) % 100 < s.behaviour.fail_percent {
        s.received.lock().expect("received").failed += 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "try later".into());
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON".into());
    };
    let subject = event["subject"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok());
    let version = event["entityversion"].as_u64();
    let (Some(subject), Some(version)) = (subject, version) else {
        return (StatusCode::BAD_REQUEST, "not an orghub event".into());
    };
    if s.behaviour.refuse == Some(subject) {
        s.received.lock().expect("received").refused += 1;
        return (
            StatusCode::BAD_REQUEST,
            format!("entity {subject} violates a rule of this fagsystem"),
        );
    }
    let mut r = s.received.lock().expect("received");
    let deleted = event["data"]["deleted"] == Value::Bool(true);
    let held = r
        .entities
        .get(&subject)
        .map(|(v, _)| *v)
        .max(r.tombstones.get(&subject).copied());
    if held.is_none_or(|held| version > held) {
        if deleted {
            r.entities.remove(&subject);
            r.tombstones.insert(subject, version);
        } else {
            r.tombstones.remove(&subject);
            r.entities.insert(subject, (version, event["data"].clone()));
        }
    }
    (StatusCode::NO_CONTENT, String::new())
}
