//! An in-process writer (API and relay) on port 0, and a small HTTP client for it; a real
//! `orghub-writer` process for tests that signal or kill it.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use orghub_runtime::Shutdown;
use reqwest::Method;
use serde_json::Value;
use tokio::task::JoinHandle;

/// The admin token every test writer accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running writer. Stop it with [`TestWriter::stop`] (dropping it aborts it).
#[derive(Debug)]
pub struct TestWriter {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<Shutdown>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl TestWriter {
    /// Starts a writer with its relay against the given database and vhost.
    pub async fn start(database_url: &str, amqp_url: &str) -> TestWriter {
        Self::start_with(database_url, amqp_url, true).await
    }

    pub async fn start_with(database_url: &str, amqp_url: &str, relay: bool) -> TestWriter {
        Self::start_config(Self::config(database_url, amqp_url, relay)).await
    }

    /// Starts a writer with the tests' configuration as changed by `tune`.
    pub async fn start_tuned(
        database_url: &str,
        amqp_url: &str,
        tune: impl FnOnce(&mut orghub_writer::Config),
    ) -> TestWriter {
        let mut config = Self::config(database_url, amqp_url, true);
        tune(&mut config);
        Self::start_config(config).await
    }

    /// The configuration [`TestWriter::start_with`] uses, to change before
    /// [`TestWriter::start_config`].
    pub fn config(database_url: &str, amqp_url: &str, relay: bool) -> orghub_writer::Config {
        orghub_writer::Config {
            database_url: database_url.parse().expect("a database URL"),
            amqp_url: amqp_url.parse().expect("an AMQP URL"),
            listen: "127.0.0.1:0".parse().expect("address"),
            admin_token: Some(ADMIN_TOKEN.into()),
            relay,
            midnight: true,
            relay_batch: NonZeroU32::new(200).expect("non-zero"),
            relay_poll: Duration::from_millis(100),
            relay_max_message_bytes: NonZeroUsize::new(16 * 1024 * 1024).expect("non-zero"),
            relay_confirm_timeout: Duration::from_secs(30),
            db_pool: NonZeroU32::new(8).expect("non-zero"),
            write_queue: orghub_writer::store::DEFAULT_WRITE_QUEUE_SIZE,
            snapshot_pool: NonZeroU32::new(4).expect("non-zero"),
            snapshot_per_token: NonZeroU32::new(2).expect("non-zero"),
            snapshot_timeout: Duration::from_secs(600),
            clock_start: None,
        }
    }

    /// Starts a writer with the given configuration (its `listen` should have port 0).
    pub async fn start_config(config: orghub_writer::Config) -> TestWriter {
        let app = orghub_writer::Application::build(config)
            .await
            .expect("writer builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let stop = Shutdown::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        TestWriter {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Graceful stop: the server and relay finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request reaches the writer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    /// As admin.
    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.call(method, path, Some(ADMIN_TOKEN), body).await
    }

    pub async fn put(
        &self,
        kommune: &str,
        collection: &str,
        uuid: uuid::Uuid,
        state: Value,
    ) -> Reply {
        self.admin(
            Method::PUT,
            &format!("/api/v1/{kommune}/{collection}/{uuid}"),
            Some(&state),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.admin(Method::GET, path, None).await
    }

    /// Posts raw text (e.g. NDJSON) as admin.
    pub async fn post_text(&self, path: &str, text: String) -> Reply {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(text)
            .send()
            .await
            .expect("request reaches the writer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("response body");
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// The municipality's whole event log, parsed.
    pub async fn events(&self, kommune: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let r = self
                .get(&format!(
                    "/api/v1/{kommune}/events?after={}&limit=10000",
                    out.len()
                ))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let batch = r.body.as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                return out;
            }
            out.extend(batch);
        }
    }
}

impl Drop for TestWriter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Events the relay has not published yet, over every municipality of the hub's database.
pub async fn unpublished(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(orghub_writer::store::RELAY_LAG_SQL)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// A real `orghub-writer` process on a free port, killed when dropped.
#[derive(Debug)]
pub struct WriterProcess {
    pub child: tokio::process::Child,
    pub base: String,
}

impl WriterProcess {
    /// Starts `orghub-writer` (built by `cargo build --bin orghub-writer`, see
    /// [`crate::cargo_bin`]) on the given database and vhost, and waits until it answers.
    pub async fn spawn(db_url: &str, amqp_url: &str) -> WriterProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = tokio::process::Command::new(crate::cargo_bin("orghub-writer"))
            .env("DATABASE_URL", db_url)
            .env("AMQP_URL", amqp_url)
            .env("ORGHUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("ORGHUB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ORGHUB_RELAY_POLL_MS", "100")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn orghub-writer");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        crate::eventually(
            std::time::Duration::from_secs(30),
            "the writer answers /healthz",
            || {
                let (client, url) = (client.clone(), format!("{base}/healthz"));
                async move {
                    client
                        .get(url)
                        .send()
                        .await
                        .ok()
                        .filter(|r| r.status().is_success())
                        .map(|_| ())
                }
            },
        )
        .await;
        WriterProcess { child, base }
    }
}
