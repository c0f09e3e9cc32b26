//! Tenant isolation on the broker (issue 20, item 1; DESIGN §5, last bullet): nothing a
//! subscriber's own credentials allow can make the broker refuse the relay's publishes. A vendor
//! who tries to bind a trap queue (`x-max-length=0, x-overflow=reject-publish`) to its
//! municipalities is refused, and another subscriber of the same municipalities, running with
//! its own least-privilege credentials, gets every event exactly once.

use std::time::Duration;

use orghub_broker::lapin::options::{QueueBindOptions, QueueDeclareOptions};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::mgmt::Management;
use orghub_broker::{Connection, connect};
use orghub_ops::cmd::subscriber::SubscriberConfig;
use orghub_subscriber::config::Overrides;
use orghub_subscriber::{Command, Config, Subscriber};
use orghub_tests::ops::{Ctl, unique_name};
use orghub_tests::subscriber::{Probe, snapshots};
use orghub_tests::writer::{ADMIN_TOKEN, TestWriter, unpublished};
use orghub_tests::{TestDatabase, TestVhost, eventually};
use serde_json::json;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);
const UNITS: u32 = 40;

fn id(kommune: u32, n: u32) -> Uuid {
    Uuid::from_u128(
        0x00ee_0000_0000_4000_8000_0000_0000_0000 | (u128::from(kommune) << 32) | u128::from(n),
    )
}

/// `UNITS` new units of one municipality: one event each, every entity once.
fn units(kommune: u32) -> String {
    (1..=UNITS)
        .map(|n| {
            let state = json!({
                "validity": {"from": "2020-01-01"},
                "name": format!("Enhed {kommune}-{n}"),
                "parent": (n > 1).then(|| id(kommune, 1)),
            });
            json!({"kind": "unit", "uuid": id(kommune, n), "state": state}).to_string() + "\n"
        })
        .collect()
}

/// The AMQP error code of a refused operation, `None` if it succeeded.
fn refusal<T>(result: Result<T, orghub_broker::lapin::Error>) -> Option<u16> {
    match result {
        Ok(_) => None,
        Err(e) => match e.kind() {
            orghub_broker::lapin::ErrorKind::ProtocolError(err) => Some(err.get_id()),
            _ => Some(0),
        },
    }
}

/// Declares `queue` with the arguments that make the broker nack every publish routed to it.
async fn declare_trap(conn: &Connection, queue: &str) -> Option<u16> {
    let ch = conn.create_channel().await.expect("channel");
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(0));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    refusal(
        ch.queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await,
    )
}

async fn bind_trap(conn: &Connection, queue: &str, key: &str) -> Option<u16> {
    let ch = conn.create_channel().await.expect("channel");
    refusal(
        ch.queue_bind(
            queue.into(),
            orghub_contracts::amqp::EXCHANGE.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await,
    )
}

#[tokio::test]
async fn a_subscribers_own_credentials_cannot_bind_a_queue_that_refuses_the_relays_publishes() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let ctl = Ctl::new(&db.url, &vhost, &writer.base);
    let vendor = unique_name("trap");
    let victim = unique_name("victim");
    let create = |name: String| {
        let ctl = ctl.clone();
        async move {
            let out = ctl
                .run(&[
                    "subscriber",
                    "create",
                    &name,
                    "--kommune",
                    "751",
                    "--kommune",
                    "101",
                ])
                .await;
            out.expect_code(0);
            toml::from_str::<SubscriberConfig>(&out.stdout)
                .unwrap_or_else(|e| panic!("the printed config is not TOML ({e}):\n{}", out.stdout))
        }
    };
    let vendor_config = create(vendor.clone()).await;
    let mut victim_config = create(victim.clone()).await;

    // The victim runs with its own credentials, as a vendor would.
    victim_config.sink.url = cache.url.clone();
    let text = toml::to_string(&victim_config).expect("config as TOML");
    let overrides = Overrides {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..Overrides::default()
    };
    let config = Config::parse(&text, "victim", &overrides).expect("the printed config is valid");
    let subscriber = Subscriber::build(config)
        .await
        .expect("the subscriber builds");
    let metrics = subscriber.metrics();
    let stop = orghub_runtime::Shutdown::new();
    let task = tokio::spawn(subscriber.run_until_stopped(Command::Run, stop.clone()));
    eventually(
        Duration::from_secs(30),
        "the victim to consume with its own credentials",
        || async { (metrics.connected.get() == 1).then_some(()) },
    )
    .await;

    // The vendor's own credentials: no trap queue under its prefix, declared or bound.
    let own = connect(&vendor_config.amqp_url, "isolation-test-vendor")
        .await
        .expect("the vendor connects with its own credentials");
    let trap = format!("sub.{vendor}.trap");
    let declared = declare_trap(&own, &trap).await;
    let bound = bind_trap(&own, &trap, "org.751.#").await;
    // Nor its own main queue redeclared with those arguments.
    let redeclared = declare_trap(&own, &format!("sub.{vendor}")).await;
    let _ = own.close(200, "done".into()).await;

    // Nor the management API, where it could list every vendor's queues.
    let mut own_mgmt = vhost.mgmt.base_url().to_owned();
    own_mgmt.insert_str(
        own_mgmt.find("://").expect("scheme") + 3,
        &format!(
            "sub-{vendor}:{}@",
            vendor_config
                .amqp_url
                .split_once(&format!("sub-{vendor}:"))
                .and_then(|(_, rest)| rest.split_once('@'))
                .map(|(password, _)| password)
                .expect("the password in the AMQP URL")
        ),
    );
    let listed = Management::parse(&own_mgmt)
        .expect("URL")
        .queues(&vhost.name)
        .await;

    // Writes to two municipalities reach the victim, each event once.
    for kommune in [751, 101] {
        let reply = writer
            .client
            .post(format!("{}/api/v1/{kommune}/import", writer.base))
            .bearer_auth(ADMIN_TOKEN)
            .body(units(kommune))
            .send()
            .await
            .expect("import");
        assert!(reply.status().is_success(), "import {kommune}: {reply:?}");
    }
    let expected = snapshots(&writer, &["751", "101"]).await;
    assert_eq!(expected.len(), 2 * UNITS as usize);
    eventually(DEADLINE, "the relay to publish every event", || async {
        (unpublished(&db.pool).await == 0).then_some(())
    })
    .await;
    Probe::Postgres {
        pool: cache.pool.clone(),
        schema: "orghub_cache".into(),
    }
    .converges_to(&expected, DEADLINE)
    .await;

    assert_eq!(declared, Some(403), "the vendor declared a trap queue");
    assert_eq!(bound, Some(403), "the vendor bound a trap queue");
    assert_eq!(redeclared, Some(403), "the vendor redeclared its own queue");
    assert!(
        listed
            .as_ref()
            .is_err_and(|e| e.status().is_some_and(|s| s.as_u16() == 401)),
        "the vendor's user can use the management API: {listed:?}"
    );
    assert_eq!(
        metrics.applied.get(),
        2 * u64::from(UNITS),
        "every event applied once"
    );
    assert_eq!(metrics.stale.get(), 0, "duplicates reached the victim");

    stop.cancel();
    task.await
        .expect("the subscriber task does not panic")
        .expect("the subscriber stops cleanly");
    for name in [&vendor, &victim] {
        let _ = vhost.mgmt.delete_user(&format!("sub-{name}")).await;
    }
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
