//! Black-box scenarios of the write side's limits and isolation (DESIGN §2 *Limits*): bodies,
//! timelines and requests over their size get a 413/422 problem, input the database would refuse
//! is refused before it fails anyone else's request, a full queue of waiting writes answers 503
//! with `Retry-After`, idempotency keys belong to their token and expire, history is paged, and
//! an import stream of any length runs in bounded memory.

use std::time::Duration;

use futures_util::future::join_all;
use orghub_tests::writer::{ADMIN_TOKEN, Reply, TestWriter};
use orghub_tests::{TestDatabase, TestVhost, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

struct Env {
    db: TestDatabase,
    vhost: TestVhost,
    writer: TestWriter,
}

impl Env {
    async fn start() -> Env {
        Self::start_queue(orghub_writer::store::DEFAULT_WRITE_QUEUE).await
    }

    /// A writer (without its relay: these scenarios are about writes) whose municipalities let
    /// `waiting` writes wait.
    async fn start_queue(waiting: usize) -> Env {
        let db = TestDatabase::create().await;
        let vhost = TestVhost::create().await;
        let mut config = TestWriter::config(&db.url, &vhost.amqp_url, false);
        config.write_queue = std::num::NonZeroUsize::new(waiting).expect("at least one");
        let writer = TestWriter::start_config(config).await;
        Env { db, vhost, writer }
    }

    async fn finish(self) {
        self.writer.stop().await;
        self.db.drop_now().await;
        self.vhost.delete_now().await;
    }

    /// Writing requests waiting for their municipality's turn, from the writer's metrics.
    async fn waiting(&self) -> Option<u64> {
        let r = self
            .writer
            .client
            .get(format!("{}/metrics", self.writer.base))
            .send()
            .await
            .ok()?;
        let text = r.text().await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("orghub_write_queue_waiting "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Holds municipality `code`'s row lock in a transaction of the test's own, so that writes to
    /// it wait for their turn until the returned transaction ends.
    async fn hold(&self, code: i32) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut tx = self.db.pool.begin().await.expect("begin");
        sqlx::query("SELECT 1 FROM municipality WHERE code = $1 FOR UPDATE")
            .bind(code)
            .execute(&mut *tx)
            .await
            .expect("lock the municipality");
        tx
    }

    /// Waits until a writer's transaction waits for a row lock.
    async fn until_a_write_waits_for_the_lock(&self) {
        self.until_writes_wait_for_locks(1).await;
    }

    /// Waits until `n` writers' transactions wait for a lock.
    async fn until_writes_wait_for_locks(&self, n: i64) {
        eventually(
            Duration::from_secs(10),
            "writes waiting for a lock",
            || async {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&self.db.pool)
                .await
                .ok()?;
                (waiting >= n).then_some(())
            },
        )
        .await;
    }
}

fn id(n: u32) -> Uuid {
    Uuid::from_u128(0x5a5a_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn person(name: &str) -> Value {
    json!({"validity": {"from": "2020-01-01"}, "given_name": name, "surname": "Hansen"})
}

fn root_unit() -> Value {
    json!({"validity": {"from": "2020-01-01"}, "name": "Aarhus Kommune", "parent": null})
}

/// The date `n` days after 2000-01-01.
fn day(n: usize) -> String {
    let d = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("date")
        + chrono::Duration::days(i64::try_from(n).expect("small"));
    d.to_string()
}

async fn post_changes(w: &TestWriter, kommune: &str, ops: &Value) -> Reply {
    w.admin(
        Method::POST,
        &format!("/api/v1/{kommune}/changes"),
        Some(ops),
    )
    .await
}

fn problem_type(r: &Reply) -> &str {
    r.body["type"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_put_body_over_one_mebibyte_is_refused_with_413() {
    let env = Env::start().await;
    let mut state = person("Anna");
    state["note"] = json!("x".repeat(1_500_000));
    let r = env.writer.put("751", "persons", id(1), state).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(
        problem_type(&r),
        "urn:orghub:problem:too-large",
        "{}",
        r.text
    );
    let small = env
        .writer
        .put("751", "persons", id(1), person("Anna"))
        .await;
    assert_eq!(small.status, 201, "{}", small.text);
    env.finish().await;
}

/// `count` puts on one person, each writing day `i % slots` with its own name: a timeline of
/// `min(count, slots)` segments.
fn puts_on_one_person(uuid: Uuid, count: usize, slots: usize) -> Value {
    let ops: Vec<Value> = (0..count)
        .map(|i| {
            let slot = i % slots;
            json!({"op": "put", "kind": "person", "uuid": uuid, "state": {
                "validity": {"from": day(slot), "to": day(slot + 1)},
                "given_name": format!("N{i}"), "surname": "Hansen"}})
        })
        .collect();
    Value::Array(ops)
}

#[tokio::test]
async fn a_timeline_of_1001_segments_is_refused_with_422() {
    let env = Env::start().await;
    let r = post_changes(&env.writer, "751", &puts_on_one_person(id(1), 1000, 1000)).await;
    assert_eq!(r.status, 200, "1,000 segments are allowed: {}", r.text);
    let over = json!({"validity": {"from": day(1000), "to": day(1001)},
                      "given_name": "Over", "surname": "Hansen"});
    let r = env.writer.put("751", "persons", id(1), over).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(problem_type(&r), "urn:orghub:problem:limit", "{}", r.text);
    let doc = env
        .writer
        .get(&format!("/api/v1/751/persons/{}", id(1)))
        .await;
    assert_eq!(doc.body["timeline"].as_array().map(Vec::len), Some(1000));
    env.finish().await;
}

#[tokio::test]
async fn ten_thousand_operations_on_one_entity_make_one_registration() {
    let env = Env::start().await;
    let r = post_changes(&env.writer, "751", &puts_on_one_person(id(1), 10_000, 900)).await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(2000)]);
    let results = r.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 10_000);
    assert!(
        results.iter().all(|x| x["version"] == 1),
        "one request, one registration: every operation reports version 1"
    );
    let doc = env
        .writer
        .get(&format!("/api/v1/751/persons/{}", id(1)))
        .await;
    let timeline = doc.body["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), 900);
    // Slot 0 was last written by operation 9900, slot 899 by operation 9899.
    assert_eq!(timeline[0]["given_name"], "N9900");
    assert_eq!(timeline[899]["given_name"], "N9899");
    let history = env
        .writer
        .get(&format!("/api/v1/751/persons/{}/history", id(1)))
        .await;
    assert_eq!(
        history.body["registrations"].as_array().map(Vec::len),
        Some(1)
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM event")
        .fetch_one(&env.db.pool)
        .await
        .expect("count");
    assert_eq!(events, 1);
    env.finish().await;
}

#[tokio::test]
async fn nul_in_a_note_or_an_address_is_refused_while_the_writes_beside_it_succeed() {
    let env = Env::start().await;
    let r = env.writer.put("751", "units", id(1), root_unit()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Every write below waits behind the test's lock, so that they are applied together.
    let lock = env.hold(751).await;
    let w = &env.writer;
    let blocker = tokio::spawn({
        let (client, base) = (w.client.clone(), w.base.clone());
        async move {
            client
                .put(format!("{base}/api/v1/751/persons/{}", id(2)))
                .bearer_auth(ADMIN_TOKEN)
                .json(&person("Blocker"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    env.until_a_write_waits_for_the_lock().await;
    let mut with_note = person("Note");
    with_note["note"] = json!("a note with a \u{0} in it");
    let address = json!({"validity": {"from": "2020-01-01"}, "owner": {"kind": "unit", "uuid": id(1)},
                         "address_type": "postal", "value": "Rådhuspladsen 2\u{0}"});
    let www = json!({"validity": {"from": "2020-01-01"}, "owner": {"kind": "unit", "uuid": id(1)},
                     "address_type": "www", "value": "https://aarhus.dk/\u{0}"});
    let bad = [
        ("persons", id(3), with_note),
        ("addresses", id(4), address),
        ("addresses", id(5), www),
    ];
    let good: Vec<(&str, Uuid, Value)> = (10..20)
        .map(|n| ("persons", id(n), person(&format!("P{n}"))))
        .collect();
    let all: Vec<_> = bad.iter().cloned().chain(good.iter().cloned()).collect();
    let requests = all.into_iter().map(|(collection, uuid, state)| {
        let (client, base) = (w.client.clone(), w.base.clone());
        tokio::spawn(async move {
            let r = client
                .put(format!("{base}/api/v1/751/{collection}/{uuid}"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&state)
                .send()
                .await
                .expect("reaches the writer");
            (
                uuid,
                r.status().as_u16(),
                r.text().await.unwrap_or_default(),
            )
        })
    });
    let requests: Vec<_> = requests.collect();
    // The refusals of validation come back at once; the valid writes queue behind the lock.
    eventually(
        Duration::from_secs(10),
        "the valid writes waiting for the municipality's turn",
        || async { env.waiting().await.filter(|n| *n >= 10).map(|_| ()) },
    )
    .await;
    lock.rollback().await.expect("release the lock");
    let answers = join_all(requests).await;
    assert_eq!(
        blocker.await.expect("blocker").expect("blocker answered"),
        201
    );
    for answer in answers {
        let (uuid, status, text) = answer.expect("request task");
        let expected = if bad.iter().any(|b| b.1 == uuid) {
            422
        } else {
            201
        };
        assert_eq!(status, expected, "{uuid}: {text}");
    }
    env.finish().await;
}

#[tokio::test]
async fn two_municipalities_creating_the_same_uuid_at_once_get_201_and_409_never_500() {
    let env = Env::start().await;
    // The test holds the event table, so that 751's write stops before its commit with its
    // entity row inserted; 101's write of the same UUID then waits for that row, and fails on
    // its unique key once 751 commits.
    let mut hold = env.db.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE event IN SHARE MODE")
        .execute(&mut *hold)
        .await
        .expect("lock the event table");
    let w = &env.writer;
    let put = |kommune: &'static str| {
        let (client, base) = (w.client.clone(), w.base.clone());
        tokio::spawn(async move {
            let r = client
                .put(format!("{base}/api/v1/{kommune}/units/{}", id(1)))
                .bearer_auth(ADMIN_TOKEN)
                .json(&root_unit())
                .send()
                .await
                .expect("reaches the writer");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    };
    let first = put("751");
    env.until_writes_wait_for_locks(1).await;
    let second = put("101");
    env.until_writes_wait_for_locks(2).await;
    hold.rollback().await.expect("release the event table");
    let (status, text) = first.await.expect("task");
    assert_eq!(status, 201, "{text}");
    let (status, text) = second.await.expect("task");
    assert_eq!(status, 409, "the UUID is 751's: {text}");
    env.finish().await;
}

#[tokio::test]
async fn a_date_outside_what_the_hub_stores_is_refused_with_422() {
    let env = Env::start().await;
    let ancient =
        json!({"validity": {"from": "-5000-01-01"}, "given_name": "Old", "surname": "Hansen"});
    let r = env.writer.put("751", "persons", id(1), ancient).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        problem_type(&r),
        "urn:orghub:problem:validation",
        "{}",
        r.text
    );
    let r = env
        .writer
        .put("751", "persons", id(1), person("Anna"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = env
        .writer
        .admin(
            Method::POST,
            &format!("/api/v1/751/persons/{}/terminate", id(1)),
            Some(&json!({"to": "+20000-01-01"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    env.finish().await;
}

#[tokio::test]
async fn an_import_line_over_one_mebibyte_is_rejected_and_the_rest_applied() {
    let env = Env::start().await;
    let line = |uuid: Uuid, state: Value| json!({"kind": "person", "uuid": uuid, "state": state});
    let mut huge = person("Huge");
    huge["given_name"] = json!("x".repeat(1_100_000));
    let body = [
        line(id(1), person("Anna")).to_string(),
        line(id(2), huge).to_string(),
        line(id(3), person("Bo")).to_string(),
    ]
    .join("\n");
    let r = env.writer.post_text("/api/v1/751/import", body).await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(2000)]);
    assert_eq!(r.body["created"], 2, "{}", r.text);
    assert_eq!(r.body["rejected_count"], 1, "{}", r.text);
    assert_eq!(r.body["rejected"][0]["line"], 2, "{}", r.text);
    env.finish().await;
}

#[tokio::test]
async fn a_full_queue_of_waiting_writes_answers_503_with_retry_after() {
    let env = Env::start_queue(2).await;
    let lock = env.hold(751).await;
    let w = &env.writer;
    let put = |n: u32| {
        let (client, base) = (w.client.clone(), w.base.clone());
        tokio::spawn(async move {
            client
                .put(format!("{base}/api/v1/751/persons/{}", id(n)))
                .bearer_auth(ADMIN_TOKEN)
                .json(&person("Waiting"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let blocker = put(1);
    env.until_a_write_waits_for_the_lock().await;
    let queued = [put(2), put(3)];
    eventually(
        Duration::from_secs(10),
        "two writes waiting for the municipality's turn",
        || async { env.waiting().await.filter(|n| *n == 2).map(|_| ()) },
    )
    .await;
    let resp = w
        .client
        .put(format!("{}/api/v1/751/persons/{}", w.base, id(4)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&person("Refused"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered at once");
    assert_eq!(resp.status().as_u16(), 503);
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After: {retry:?}");
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["type"], "urn:orghub:problem:overloaded");
    // Another municipality is not affected.
    let other = env
        .writer
        .put("101", "persons", id(5), person("Elsewhere"))
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    lock.rollback().await.expect("release the lock");
    assert_eq!(blocker.await.expect("task").expect("answered"), 201);
    for q in queued {
        assert_eq!(q.await.expect("task").expect("answered"), 201);
    }
    env.finish().await;
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_token_and_expires() {
    let env = Env::start().await;
    let w = &env.writer;
    let token = w
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(&json!({"name": "hr", "scopes": ["write:751", "read:751"]})),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text);
    let other = token.body["token"].as_str().expect("token").to_owned();
    let changes =
        |n: u32| json!([{"op": "put", "kind": "person", "uuid": id(n), "state": person("Anna")}]);
    let post = |token: String, body: Value| {
        let (client, base) = (w.client.clone(), w.base.clone());
        async move {
            let r = client
                .post(format!("{base}/api/v1/751/changes"))
                .bearer_auth(token)
                .header("idempotency-key", "nightly-2026-12-01")
                .json(&body)
                .send()
                .await
                .expect("reaches the writer");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (status, text) = post(ADMIN_TOKEN.to_owned(), changes(1)).await;
    assert_eq!(status, 200, "{text}");
    // The same key from another token is that token's own key.
    let (status, text) = post(other.clone(), changes(2)).await;
    assert_eq!(status, 200, "another token's key: {text}");
    // Within its token the key still guards its body.
    let (status, text) = post(other.clone(), changes(3)).await;
    assert_eq!(status, 422, "{text}");
    sqlx::query("UPDATE idempotency_key SET created_at = now() - interval '25 hours'")
        .execute(&env.db.pool)
        .await
        .expect("age the keys");
    let (status, text) = post(other, changes(3)).await;
    assert_eq!(status, 200, "an expired key is a new key: {text}");
    env.finish().await;
}

#[tokio::test]
async fn history_comes_in_pages() {
    let env = Env::start().await;
    for n in 0..60 {
        let r = env
            .writer
            .put("751", "persons", id(1), person(&format!("Anna {n}")))
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
    }
    let path = format!("/api/v1/751/persons/{}/history", id(1));
    let first = env.writer.get(&path).await;
    let page = first.body["registrations"].as_array().expect("page");
    assert_eq!(page.len(), 50, "a default page");
    assert_eq!(page[0]["version"], 60);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let rest = env.writer.get(&format!("{path}?cursor={cursor}")).await;
    let page = rest.body["registrations"].as_array().expect("page");
    assert_eq!(page.len(), 10);
    assert_eq!(page[9]["version"], 1);
    assert!(rest.body["next_cursor"].is_null());
    let r = env.writer.get(&format!("{path}?limit=1000")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    env.finish().await;
}

/// Streams about 1 GB of NDJSON (partial mode: a few hundred persons written again and again)
/// into a writer process and prints its peak resident memory. Takes minutes: run it by hand with
/// `cargo nextest run -p orghub-tests --run-ignored only -E 'test(bounded_memory)'` (the writer
/// binary must be built).
#[tokio::test]
#[ignore = "streams 1 GB; run by hand to measure the writer's peak memory"]
async fn a_one_gigabyte_import_stream_runs_in_bounded_memory() {
    use std::process::Stdio;

    const TOTAL: usize = 1 << 30;
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = tokio::process::Command::new(orghub_tests::cargo_bin("orghub-writer"))
        .env("DATABASE_URL", &db.url)
        .env("AMQP_URL", &vhost.amqp_url)
        .env("ORGHUB_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORGHUB_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ORGHUB_RELAY", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn orghub-writer");
    let pid = child.id().expect("pid");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(30), "the writer answers", || {
        let (client, url) = (client.clone(), format!("{base}/healthz"));
        async move { client.get(url).send().await.ok().map(|_| ()) }
    })
    .await;
    let peak_kb = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = peak_kb();
    // Lines of about 650 bytes (long names), 1,000 lines per chunk.
    let padding = "s".repeat(180);
    let chunk = move |c: usize| -> String {
        let mut out = String::with_capacity(1_100_000);
        for i in 0..1000 {
            let n = (c * 1000 + i) % 500;
            let state = json!({"validity": {"from": "2020-01-01"},
                               "given_name": format!("Person {n} {}", "æ".repeat(150)),
                               "surname": padding, "user_key": format!("p{n}")});
            out.push_str(&json!({"kind": "person", "uuid": id(u32::try_from(n).expect("small")), "state": state}).to_string());
            out.push('\n');
        }
        out
    };
    let chunk_len = chunk(0).len();
    let chunks = TOTAL / chunk_len + 1;
    let stream =
        futures_util::stream::iter((0..chunks).map(move |c| Ok::<_, std::io::Error>(chunk(c))));
    let started = std::time::Instant::now();
    let r = client
        .post(format!("{base}/api/v1/751/import?mode=partial"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("import answered");
    let status = r.status().as_u16();
    let summary: Value = r.json().await.expect("summary");
    let peak = peak_kb();
    println!(
        "streamed {} MiB ({} lines) in {:?}: writer peak RSS {} MiB (before the import {} MiB); {summary}",
        (chunks * chunk_len) >> 20,
        chunks * 1000,
        started.elapsed(),
        peak / 1024,
        before / 1024
    );
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary["lines"],
        u64::try_from(chunks * 1000).expect("count")
    );
    assert!(peak < 512 * 1024, "peak RSS {peak} kB");
    child.kill().await.ok();
    db.drop_now().await;
    vhost.delete_now().await;
}
