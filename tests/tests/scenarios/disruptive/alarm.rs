//! SIGTERM while RabbitMQ withholds publisher confirms (a memory alarm blocks every publishing
//! connection without closing it): the writer still stops within 30 s, and nothing is lost, the
//! restarted writer publishes every event. Also: an event over RabbitMQ's own `max_message_size`
//! halts only its municipality. Both change the whole node (an alarm, the size limit), so they are
//! `disruptive` and run alone; each restores the node in a guard, also when it fails.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use orghub_broker::lapin::options::{BasicAckOptions, BasicGetOptions};
use orghub_tests::writer::{ADMIN_TOKEN, WriterProcess};
use orghub_tests::{TestDatabase, TestVhost, declare_durable_probe, eventually};
use serde_json::json;
use uuid::Uuid;

const QUEUE: &str = "probe.alarm";

fn id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .map_err(|e| format!("run rabbitmqctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A memory alarm on the node while it lives: the high watermark is 0 until it is dropped, which
/// restores RabbitMQ's default (0.4), also when the test panics.
struct MemoryAlarm;

impl MemoryAlarm {
    fn raise() -> MemoryAlarm {
        let alarm = MemoryAlarm;
        rabbitmqctl(&["set_vm_memory_high_watermark", "0"]).expect("raise the memory alarm");
        alarm
    }
}

impl Drop for MemoryAlarm {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["set_vm_memory_high_watermark", "0.4"]) {
            eprintln!(
                "cannot restore RabbitMQ's memory watermark (run `rabbitmqctl set_vm_memory_high_watermark 0.4`): {e}"
            );
        }
    }
}

/// Writes unit `n` of 751 (the first is the root) through the writer at `base`.
async fn put_unit(base: &str, n: u32) {
    let parent = (n > 1).then(|| id(1));
    let r = reqwest::Client::new()
        .put(format!("{base}/api/v1/751/units/{}", id(n)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"validity": {"from": "2020-01-01"}, "name": format!("Enhed {n}"), "parent": parent}))
        .send()
        .await
        .expect("the writer answers");
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
}

/// The distinct sequences in the probe queue once `n` of them arrived.
async fn sequences(amqp_url: &str, n: usize) -> BTreeSet<u64> {
    let conn = orghub_broker::connect(amqp_url, "probe")
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    let mut seen = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(60);
    while seen.len() < n && Instant::now() < until {
        match ch
            .basic_get(QUEUE.into(), BasicGetOptions::default())
            .await
            .expect("basic.get")
        {
            Some(m) => {
                let event = orghub_broker::decode_delivery(&m.delivery).expect("an event");
                seen.insert(event.sequence);
                m.delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
            }
            None => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    let _ = conn.close(200, "done".into()).await;
    seen
}

#[tokio::test]
async fn sigterm_ends_the_writer_within_30_s_while_rabbitmq_withholds_confirms_and_nothing_is_lost()
{
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    declare_durable_probe(&vhost.amqp_url, QUEUE, "org.751.#").await;
    let mut writer = WriterProcess::spawn(&db.url, &vhost.amqp_url).await;
    put_unit(&writer.base, 1).await;
    assert_eq!(
        sequences(&vhost.amqp_url, 1).await.len(),
        1,
        "the relay publishes"
    );

    let alarm = MemoryAlarm::raise();
    const N: u32 = 20;
    for n in 2..=N {
        put_unit(&writer.base, n).await;
    }
    // The relay's connection is blocked once it published under the alarm.
    eventually(
        Duration::from_secs(30),
        "the relay's connection to be blocked",
        || async {
            let conns = vhost.mgmt.get_json(&["connections"]).await.ok()??;
            let blocked = conns.as_array()?.iter().any(|c| {
                c["vhost"] == vhost.name.as_str() && c["state"].as_str() == Some("blocked")
            });
            blocked.then_some(())
        },
    )
    .await;
    let pid = writer.child.id().expect("the writer runs");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let start = Instant::now();
    let exited = tokio::time::timeout(Duration::from_secs(30), writer.child.wait()).await;
    let took = start.elapsed();
    drop(alarm);
    let status = exited
        .unwrap_or_else(|_| panic!("the writer did not stop within 30 s of SIGTERM"))
        .expect("wait");
    assert!(
        status.success(),
        "the writer exited with {status} after {took:?}"
    );
    eprintln!("the writer stopped {took:?} after SIGTERM");

    // Nothing lost: the next writer publishes what the broker never confirmed.
    let mut writer = WriterProcess::spawn(&db.url, &vhost.amqp_url).await;
    // (The first was taken from the queue above.)
    let seen = sequences(&vhost.amqp_url, N as usize - 1).await;
    assert_eq!(
        seen,
        (2..=u64::from(N)).collect::<BTreeSet<_>>(),
        "every event arrives after the restart"
    );
    writer.child.start_kill().expect("kill");
    let _ = writer.child.wait().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

/// RabbitMQ's `max_message_size` lowered on the node while it lives; dropping it restores the
/// default (128 MiB), also when the test panics.
struct MaxMessageSize;

impl MaxMessageSize {
    fn lower(bytes: usize) -> MaxMessageSize {
        let guard = MaxMessageSize;
        rabbitmqctl(&[
            "eval",
            &format!("application:set_env(rabbit, max_message_size, {bytes})."),
        ])
        .expect("lower max_message_size");
        guard
    }
}

impl Drop for MaxMessageSize {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&[
            "eval",
            "application:set_env(rabbit, max_message_size, 134217728).",
        ]) {
            eprintln!("cannot restore RabbitMQ's max_message_size: {e}");
        }
    }
}

#[tokio::test]
async fn an_event_over_rabbitmqs_max_message_size_halts_only_its_municipality() {
    use orghub_tests::bind_probe_queue;
    use orghub_tests::writer::TestWriter;

    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let conn = orghub_broker::connect(&vhost.amqp_url, "probe")
        .await
        .expect("amqp");
    let q751 = bind_probe_queue(&conn, "org.751.#").await;
    let q101 = bind_probe_queue(&conn, "org.101.#").await;
    let quiet = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    let unit = |n: u32| json!({"validity": {"from": "2020-01-01"}, "name": format!("Enhed {n}"), "parent": (n > 1).then(|| id(1))});
    assert_eq!(quiet.put("751", "units", id(1), unit(1)).await.status, 201);
    let long = "x".repeat(200);
    let person = json!({"validity": {"from": "2020-01-01"}, "given_name": long, "surname": long});
    assert_eq!(quiet.put("101", "persons", id(9), person).await.status, 201);
    assert_eq!(quiet.put("751", "units", id(2), unit(2)).await.status, 201);
    quiet.stop().await;
    let (small, large): (i32, i32) = sqlx::query_as(
        "SELECT (SELECT max(octet_length(body)) FROM event WHERE kommune = 751),
                (SELECT max(octet_length(body)) FROM event WHERE kommune = 101)",
    )
    .fetch_one(&db.pool)
    .await
    .expect("sizes");
    let limit = usize::try_from((small + large) / 2).expect("size");

    let lowered = MaxMessageSize::lower(limit);
    // The writer's own limit is the default 16 MiB: only the broker refuses the large event.
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    // (The channel the broker closed over the large event may make one of 751's go twice.)
    let seen = std::sync::Mutex::new(BTreeSet::new());
    eventually(Duration::from_secs(60), "751's events", || async {
        let got = q751.drain_now().await;
        let mut seen = seen.lock().expect("lock");
        seen.extend(got.iter().map(|e| e.sequence));
        (*seen == BTreeSet::from([1, 2])).then_some(())
    })
    .await;
    let kind: String = eventually(Duration::from_secs(60), "101 halted", || async {
        sqlx::query_scalar("SELECT kind FROM relay_halt WHERE kommune = 101")
            .fetch_optional(&db.pool)
            .await
            .ok()?
    })
    .await;
    assert_eq!(kind, "too-large");
    writer.stop().await;
    drop(lowered);

    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    assert_eq!(
        q101.next_events(1, Duration::from_secs(60)).await[0].sequence,
        1
    );
    eventually(Duration::from_secs(60), "the halt to clear", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM relay_halt")
            .fetch_one(&db.pool)
            .await
            .ok()?;
        (n == 0).then_some(())
    })
    .await;
    let _ = conn.close(200, "done".into()).await;
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
