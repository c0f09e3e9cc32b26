//! `orghubctl subscriber create|list|delete` against real RabbitMQ, PostgreSQL and an
//! in-process writer: the credentials it prints are isolated by the broker itself.

use orghub_broker::lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::lapin::{BasicProperties, Confirmation, Connection, ErrorKind};
use orghub_broker::{connect, declare_events_exchange};
use orghub_ops::cmd::subscriber::SubscriberConfig;
use orghub_tests::ops::unique_name;
use orghub_tests::{HubOptions, TestHub};
use reqwest::Method;
use serde_json::Value;

/// Removes the subscribers' broker users (global to the broker, so also when a test failed
/// before removing them), then stops the hub.
async fn stop(hub: TestHub, names: &[&str]) {
    for name in names {
        let _ = hub.vhost.mgmt.delete_user(&format!("sub-{name}")).await;
    }
    hub.stop().await;
}

/// `orghubctl subscriber create <name> <extra...>`, and the config it printed.
async fn create(hub: &TestHub, name: &str, extra: &[&str]) -> SubscriberConfig {
    let mut args = vec!["subscriber", "create", name];
    args.extend_from_slice(extra);
    let out = hub.ctl().run(&args).await;
    out.expect_code(0);
    toml::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("the printed config is not TOML ({e}):\n{}", out.stdout))
}

/// Whether an AMQP operation was refused with 403 ACCESS_REFUSED.
fn refused<T: std::fmt::Debug>(result: Result<T, orghub_broker::lapin::Error>) -> bool {
    match result {
        Err(e) => matches!(e.kind(), ErrorKind::ProtocolError(err) if err.get_id() == 403),
        Ok(v) => panic!("expected ACCESS_REFUSED, got {v:?}"),
    }
}

fn quorum_sac() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    args
}

async fn declare(conn: &Connection, queue: &str) -> Result<(), orghub_broker::lapin::Error> {
    let ch = conn.create_channel().await?;
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        quorum_sac(),
    )
    .await
    .map(drop)
}

async fn bind(
    conn: &Connection,
    queue: &str,
    key: &str,
) -> Result<(), orghub_broker::lapin::Error> {
    let ch = conn.create_channel().await?;
    ch.queue_bind(
        queue.into(),
        "org.events".into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
}

#[tokio::test]
async fn subscriber_credentials_bind_only_their_municipalities_and_touch_only_their_own_queues() {
    let env = TestHub::start(HubOptions::default()).await;
    let name = unique_name("sx");
    let other = format!("{name}-other");
    // org.events exists once the relay ran; declare it to not depend on that.
    let admin = connect(&env.vhost.amqp_url, "ops-test-admin")
        .await
        .expect("amqp");
    declare_events_exchange(&admin.create_channel().await.expect("channel"))
        .await
        .expect("org.events");

    let config = create(
        &env,
        &name,
        &["--kommune", "751", "--kind", "unit,engagement"],
    )
    .await;
    assert_eq!(config.name, name);
    assert_eq!(config.bindings.len(), 1);
    assert_eq!(config.bindings[0].kommune, "751");
    assert_eq!(config.bindings[0].kinds, ["unit", "engagement"]);
    assert!(config.writer_token.starts_with("ohk_"));
    assert_eq!(config.writer_url, env.writer.base);
    assert_eq!(config.sink.kind, "postgres");
    assert!(
        config.amqp_url.starts_with(&format!("amqp://sub-{name}:")),
        "{}",
        config.amqp_url
    );
    assert_eq!(config.retry.tiers, ["5s", "1m", "10m"]);
    assert_eq!(config.retry.delivery_limit, 10);
    let user = env
        .vhost
        .mgmt
        .get_json(&["users", &format!("sub-{name}")])
        .await
        .expect("mgmt")
        .expect("the user exists");
    assert_eq!(
        user["tags"].as_array().map(Vec::len).unwrap_or(0)
            + user["tags"].as_str().map_or(0, str::len),
        0,
        "the subscriber's user has no tags: {user}"
    );
    let other_config = create(&env, &other, &["--kommune", "101"]).await;
    assert_eq!(
        other_config.bindings[0].kinds,
        orghub_contracts::EntityKind::ALL.map(|k| k.word().to_owned()),
        "all kinds by default"
    );

    // The policy the broker applies to its queue.
    let policy = env
        .vhost
        .mgmt
        .get_json(&["policies", &env.vhost.name, &format!("orghub-sub-{name}")])
        .await
        .expect("mgmt")
        .expect("the policy exists");
    assert_eq!(policy["pattern"], format!("^sub\\.{name}$"));
    assert_eq!(policy["apply-to"], "queues");
    assert_eq!(policy["definition"]["delivery-limit"], 10);
    assert_eq!(
        policy["definition"]["dead-letter-exchange"],
        format!("sub.{name}.x")
    );
    assert_eq!(
        policy["definition"]["dead-letter-routing-key"],
        format!("sub.{name}.dlq")
    );
    assert_eq!(
        policy["definition"]["dead-letter-strategy"],
        "at-least-once"
    );
    assert_eq!(policy["definition"]["overflow"], "reject-publish");

    // The writer token reads its municipality only.
    let read = |k: &str| format!("/api/v1/{k}/units");
    let token = Some(config.writer_token.as_str());
    assert_eq!(
        env.writer
            .call(Method::GET, &read("751"), token, None)
            .await
            .status,
        200
    );
    assert_eq!(
        env.writer
            .call(Method::GET, &read("101"), token, None)
            .await
            .status,
        403
    );

    // The operator declared its topology; the subscriber may declare nothing, not even its own
    // queue, and binds its municipalities' keys only.
    let sub = connect(&config.amqp_url, "ops-test-subscriber")
        .await
        .expect("the subscriber connects");
    let own = format!("sub.{name}");
    assert!(
        env.vhost
            .mgmt
            .queue(&env.vhost.name, &own)
            .await
            .expect("mgmt")
            .is_some(),
        "create declared its queue"
    );
    assert!(refused(declare(&sub, &own).await), "declared its own queue");
    bind(&sub, &own, "org.751.#")
        .await
        .expect("bind its own municipality");
    bind(&sub, &own, "org.751.unit.*")
        .await
        .expect("bind one kind of it");
    assert!(
        refused(bind(&sub, &own, "org.101.#").await),
        "bound another municipality"
    );
    assert!(
        refused(bind(&sub, &own, "org.#").await),
        "bound every municipality"
    );
    assert!(refused(bind(&sub, &own, "#").await), "bound everything");

    // ... and touch only its own queues, not another subscriber's (whose name starts like its).
    let theirs = format!("sub.{other}");
    assert!(
        refused(declare(&sub, &theirs).await),
        "declared another's queue"
    );
    let ch = sub.create_channel().await.expect("channel");
    assert!(refused(
        ch.basic_consume(
            theirs.as_str().into(),
            "spy".into(),
            BasicConsumeOptions::default(),
            FieldTable::default()
        )
        .await
    ));
    let ch = sub.create_channel().await.expect("channel");
    assert!(refused(
        ch.queue_delete(theirs.as_str().into(), QueueDeleteOptions::default())
            .await
    ));
    assert!(refused(bind(&sub, &theirs, "org.751.#").await));
    // Publishing events is the writer's alone: the broker closes the channel, so the confirm
    // never comes as an ack.
    let ch = sub.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let published = async {
        ch.basic_publish(
            "org.events".into(),
            "org.751.unit.created".into(),
            BasicPublishOptions::default(),
            b"{}",
            BasicProperties::default(),
        )
        .await?
        .await
    }
    .await;
    assert!(
        !matches!(published, Ok(Confirmation::Ack(_))),
        "publishing to org.events was allowed: {published:?}"
    );
    let _ = sub.close(200, "done".into()).await;

    // The list shows both with their municipalities and bindings.
    let out = env.ctl().run(&["subscriber", "list", "--json"]).await;
    let rows = out.expect_code(0).json();
    let row = |n: &str| -> Value {
        rows.as_array()
            .and_then(|r| r.iter().find(|x| x["name"] == n).cloned())
            .unwrap_or_else(|| panic!("{n} not listed: {rows}"))
    };
    assert_eq!(row(&name)["kommuner"], serde_json::json!(["751"]));
    assert_eq!(row(&name)["policy"], true);
    let bindings = row(&name)["bindings"].clone();
    assert!(
        bindings
            .as_array()
            .is_some_and(|b| b.iter().any(|k| k == "org.751.#")),
        "{bindings}"
    );
    assert_eq!(row(&other)["kommuner"], serde_json::json!(["101"]));
    let out = env.ctl().run(&["subscriber", "list"]).await;
    assert!(out.expect_code(0).stdout.contains(&name));

    // Delete: refused without --yes, then everything is gone and the token revoked.
    let out = env.ctl().run(&["subscriber", "delete", &name]).await;
    out.expect_code(2);
    assert!(
        out.stdout.contains(&format!("RabbitMQ user sub-{name}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("queue sub.{name}")),
        "{}",
        out.stdout
    );
    let out = env
        .ctl()
        .run(&["subscriber", "delete", &name, "--yes"])
        .await;
    out.expect_code(0);
    let mgmt = &env.vhost.mgmt;
    assert!(
        mgmt.get_json(&["users", &format!("sub-{name}")])
            .await
            .expect("mgmt")
            .is_none()
    );
    assert!(
        mgmt.queue(&env.vhost.name, &own)
            .await
            .expect("mgmt")
            .is_none()
    );
    assert!(
        mgmt.get_json(&["policies", &env.vhost.name, &format!("orghub-sub-{name}")])
            .await
            .expect("mgmt")
            .is_none()
    );
    assert_eq!(
        env.writer
            .call(Method::GET, &read("751"), token, None)
            .await
            .status,
        401
    );
    // The other one is untouched.
    assert!(
        mgmt.queue(&env.vhost.name, &theirs)
            .await
            .expect("mgmt")
            .is_some()
    );
    assert!(
        mgmt.get_json(&["users", &format!("sub-{other}")])
            .await
            .expect("mgmt")
            .is_some()
    );

    let out = env
        .ctl()
        .run(&["subscriber", "delete", &name, "--yes"])
        .await;
    out.expect_code(4);
    assert!(
        out.stderr.contains(&format!("no subscriber {name}")),
        "{}",
        out.stderr
    );
    env.ctl()
        .run(&["subscriber", "delete", &other, "--yes"])
        .await
        .expect_code(0);
    let _ = admin.close(200, "done".into()).await;
    stop(env, &[&name, &other]).await;
}

#[tokio::test]
async fn create_refuses_bad_names_and_municipalities_and_an_existing_subscriber() {
    let env = TestHub::start(HubOptions::default()).await;
    let name = unique_name("sy");
    let out = env
        .ctl()
        .run(&["subscriber", "create", "Bad.Name", "--kommune", "751"])
        .await;
    out.expect_code(2);
    assert!(out.stderr.contains("not valid"), "{}", out.stderr);
    env.ctl()
        .run(&["subscriber", "create", &name, "--kommune", "999"])
        .await
        .expect_code(2);
    env.ctl()
        .run(&["subscriber", "create", &name])
        .await
        .expect_code(2);

    create(&env, &name, &["--kommune", "751"]).await;
    let out = env
        .ctl()
        .run(&["subscriber", "create", &name, "--kommune", "751"])
        .await;
    out.expect_code(2);
    assert!(out.stderr.contains("exists already"), "{}", out.stderr);

    // A writer that is down: nothing is created in RabbitMQ.
    let down = unique_name("sz");
    let out = env
        .ctl()
        .with_env("ORGHUB_WRITER_URL", "http://127.0.0.1:1")
        .run(&["subscriber", "create", &down, "--kommune", "751"])
        .await;
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("cannot reach the writer at http://127.0.0.1:1"),
        "{}",
        out.stderr
    );
    let user = env
        .vhost
        .mgmt
        .get_json(&["users", &format!("sub-{down}")])
        .await
        .expect("mgmt");
    assert!(user.is_none());
    env.ctl()
        .run(&["subscriber", "delete", &name, "--yes"])
        .await
        .expect_code(0);
    stop(env, &[&name, &down]).await;
}
