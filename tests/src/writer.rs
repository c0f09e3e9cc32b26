//! An in-process writer (API and relay) on port 0, and a small HTTP client for it.

use std::num::NonZeroU32;
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
        let config = orghub_writer::Config {
            database_url: database_url.parse().expect("a database URL"),
            amqp_url: amqp_url.parse().expect("an AMQP URL"),
            listen: "127.0.0.1:0".parse().expect("address"),
            admin_token: Some(ADMIN_TOKEN.into()),
            relay,
            relay_batch: NonZeroU32::new(200).expect("non-zero"),
            relay_poll: Duration::from_millis(100),
            db_pool: NonZeroU32::new(8).expect("non-zero"),
        };
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
