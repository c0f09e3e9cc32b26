//! The operator's console in the console scenarios: [`TestConsole`] runs `orghubctl console`'s
//! server in-process on port 0 against a test's database, vhost and writer; [`ConsoleClient`]
//! is a browser without a browser (keeps the session cookie, reads the CSRF token from the forms,
//! follows no redirect by itself); [`PoisonedHub`] is a hub whose subscriber's cache refuses one
//! unit, so there is a real dead letter to look at, and a way to repair the cache.

use std::net::SocketAddr;
use std::time::Duration;

use orghub_ops::Settings;
use orghub_ops::console::{Config, Console, auth};
use orghub_subscriber::Command;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::ops::{queue_depth, unique_name};
use crate::subscriber::{Probe, Spec, TestSubscriber, snapshot};
use crate::writer::{ADMIN_TOKEN, TestWriter};
use crate::{TestDatabase, TestVhost, eventually};

/// A console serving in this process. Dropping it aborts it.
#[derive(Debug)]
pub struct TestConsole {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Option<orghub_runtime::Shutdown>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestConsole {
    /// A console with the admin token [`ADMIN_TOKEN`], `login_attempts` failed logins allowed
    /// per address, a 60 s lockout and 2 replays before parking.
    pub async fn start(
        database_url: &str,
        vhost: &TestVhost,
        writer_url: &str,
        login_attempts: u32,
    ) -> TestConsole {
        let settings = Settings {
            database_url: database_url.to_owned(),
            amqp_url: vhost.amqp_url.clone(),
            mgmt_url: crate::env_or("ORGHUB_TEST_MGMT_URL", crate::DEFAULT_MGMT_URL),
            vhost: Some(vhost.name.clone()),
            writer_url: writer_url.to_owned(),
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            token: None,
            json: false,
        };
        let config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            refresh: 5,
            max_replays: 2,
            auth: auth::Policy {
                idle: Duration::from_secs(600),
                max_age: Duration::from_secs(3600),
                attempts: login_attempts,
                lockout: Duration::from_secs(60),
                secure_cookie: false,
            },
        };
        let console = Console::build(settings, config)
            .await
            .unwrap_or_else(|e| panic!("the console builds: {e}"));
        let base = format!("http://{}", console.local_addr());
        let stop = orghub_runtime::Shutdown::new();
        let task = tokio::spawn(console.run_until_stopped(stop.clone()));
        TestConsole {
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Graceful stop.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestConsole {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One answer of the console.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    /// Where a redirect points.
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// Panics with the body unless the status is `status`.
    pub fn expect(&self, status: u16) -> &Page {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}:\n{}",
            self.status, self.body
        );
        self
    }

    /// The value of the first `<input ... name="{name}" value="...">` of the page.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }
}

/// A cookie-keeping client of one console.
#[derive(Debug)]
pub struct ConsoleClient {
    base: String,
    http: reqwest::Client,
    /// The session cookie (`orghub_console=...`), once the console set one.
    pub cookie: Option<String>,
}

impl ConsoleClient {
    pub fn new(base: &str) -> ConsoleClient {
        ConsoleClient {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            cookie: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(c) => request.header(COOKIE, c),
            None => request,
        };
        let response = request.send().await.expect("the console answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap_or("");
            let pair = text.split(';').next().unwrap_or("").trim();
            if text.contains("Max-Age=0") {
                self.cookie = None;
            } else if !pair.is_empty() {
                self.cookie = Some(pair.to_owned());
            }
        }
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Posts a form as it is (no CSRF token added).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut encoder = reqwest::Url::parse("http://form/").expect("a constant URL");
        encoder.query_pairs_mut().extend_pairs(fields);
        let body = encoder.query().unwrap_or("").to_owned();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.send(request).await
    }

    /// GETs where `page` redirects to.
    pub async fn follow(&mut self, page: &Page) -> Page {
        let to = page
            .location
            .clone()
            .unwrap_or_else(|| panic!("not a redirect ({}):\n{}", page.status, page.body));
        self.get(&to).await
    }

    /// The login as a browser does it: the form (and its session), then the POST.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/login").await;
        form.expect(200);
        let csrf = form.field("csrf").expect("the login form has a CSRF token");
        self.post("/login", &[("csrf", &csrf), ("token", token)])
            .await
    }

    /// Signs in with the right token and checks the session works.
    pub async fn sign_in_ok(&mut self) {
        let page = self.sign_in(ADMIN_TOKEN).await;
        assert_eq!(page.status, 303, "login: {}", page.body);
        assert_eq!(page.location.as_deref(), Some("/"));
    }
}

fn unit_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// A hub whose subscriber's cache refuses units named "Forbudt": after [`PoisonedHub::start`]
/// unit 3 of kommune 751 sits in the subscriber's DLQ as a `sink-permanent` dead letter.
#[derive(Debug)]
pub struct PoisonedHub {
    pub db: TestDatabase,
    pub cache: TestDatabase,
    pub vhost: TestVhost,
    pub writer: TestWriter,
    pub subscriber: TestSubscriber,
    /// The subscriber's name.
    pub name: String,
    /// The refused unit.
    pub poisoned: Uuid,
    amqp: orghub_broker::lapin::Connection,
}

const DEADLINE: Duration = Duration::from_secs(30);

impl PoisonedHub {
    pub async fn start() -> PoisonedHub {
        let db = TestDatabase::create().await;
        let cache = TestDatabase::create().await;
        let vhost = TestVhost::create().await;
        let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
        let name = unique_name("console");
        let spec = Spec::new(
            &name,
            &vhost.amqp_url,
            &writer,
            format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
        );
        let subscriber = TestSubscriber::start(&spec, Command::Run).await;
        crate::subscriber::refuse_units_named_forbudt(&cache.pool).await;
        let amqp = orghub_broker::connect(&vhost.amqp_url, "console probe")
            .await
            .expect("amqp");
        let lines: String = (1..=5)
            .map(|n| {
                let state = json!({"validity": {"from": "2020-01-01"},
                                   "name": if n == 3 { "Forbudt".to_owned() } else { format!("Enhed {n}") },
                                   "parent": (n > 1).then(|| unit_id(1))});
                json!({"kind": "unit", "uuid": unit_id(n), "state": state}).to_string() + "\n"
            })
            .collect();
        let reply = writer.post_text("/api/v1/751/import", lines).await;
        assert_eq!(reply.body["created"], 5, "{}", reply.text);
        let hub = PoisonedHub {
            db,
            cache,
            vhost,
            writer,
            subscriber,
            name,
            poisoned: unit_id(3),
            amqp,
        };
        hub.dlq_depth_becomes(1).await;
        hub
    }

    /// Waits until the subscriber's DLQ holds exactly `n` dead letters.
    pub async fn dlq_depth_becomes(&self, n: u32) {
        let dlq = format!("sub.{}.dlq", self.name);
        eventually(DEADLINE, &format!("{dlq} to hold {n}"), || async {
            (queue_depth(&self.amqp, &dlq).await == n).then_some(())
        })
        .await;
    }

    /// Drops the trigger: the cache takes every unit again.
    pub async fn repair(&self) {
        sqlx::raw_sql("DROP TRIGGER no_forbidden ON orghub_cache.entity")
            .execute(&self.cache.pool)
            .await
            .expect("repair the cache");
    }

    /// Waits until the cache equals the writer's snapshot.
    pub async fn converges(&self) {
        let expected = snapshot(&self.writer, "751").await;
        Probe::Postgres {
            pool: self.cache.pool.clone(),
            schema: "orghub_cache".into(),
        }
        .converges_to(&expected, DEADLINE)
        .await;
    }

    pub async fn finish(self) {
        self.subscriber.stop().await;
        let _ = self.amqp.close(200, "done".into()).await;
        self.writer.stop().await;
        self.cache.drop_now().await;
        self.db.drop_now().await;
        self.vhost.delete_now().await;
    }
}
