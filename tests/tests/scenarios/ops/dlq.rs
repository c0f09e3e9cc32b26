//! `orghubctl dlq ...` against real RabbitMQ: fabricated dead letters (real events with the
//! runtime's dead-letter headers, a broker-made one, a garbage body) in a subscriber topology
//! declared as the conventions say, a fresh vhost per test.

use std::collections::BTreeMap;
use std::time::Duration;

use orghub_broker::lapin::message::Delivery;
use orghub_broker::lapin::types::ShortString;
use orghub_broker::lapin::{BasicProperties, Connection};
use orghub_broker::{connect, headers_to_map};
use orghub_contracts::{Action, EntityKind, EventType, OrgEvent, examples};
use orghub_tests::ops::{
    Ctl, broker_dead_letter, dead_letter, declare_subscriber_topology, publish_confirmed,
    queue_depth, take_all, unique_name,
};
use orghub_tests::{TestVhost, eventually};
use serde_json::Value;

struct Env {
    vhost: TestVhost,
    conn: Connection,
    ctl: Ctl,
    name: String,
}

fn event(kind: EntityKind, action: Action) -> OrgEvent {
    examples::event(EventType { kind, action })
}

impl Env {
    /// A vhost with one subscriber's topology. The dlq commands need neither the database nor
    /// the writer: their settings point nowhere.
    async fn start() -> Env {
        let vhost = TestVhost::create().await;
        let conn = connect(&vhost.amqp_url, "ops-dlq-test")
            .await
            .expect("amqp");
        let name = unique_name("dlq");
        declare_subscriber_topology(&conn, &name).await;
        let ctl = Ctl::new(
            "postgres://nobody@127.0.0.1:1/none",
            &vhost,
            "http://127.0.0.1:1",
        );
        Env {
            vhost,
            conn,
            ctl,
            name,
        }
    }

    async fn finish(self) {
        let _ = self.conn.close(200, "done".into()).await;
        self.vhost.delete_now().await;
    }

    fn queue(&self, suffix: &str) -> String {
        if suffix.is_empty() {
            format!("sub.{}", self.name)
        } else {
            format!("sub.{}.{suffix}", self.name)
        }
    }

    /// Publishes a dead letter into the DLQ and returns its body.
    async fn to_dlq(&self, (body, props): (Vec<u8>, BasicProperties)) -> Vec<u8> {
        publish_confirmed(
            &self.conn,
            &self.queue("x"),
            &self.queue("dlq"),
            &body,
            props,
        )
        .await;
        body
    }

    /// Four dead letters: a unit event the sink refused, an engagement event with bad data, a
    /// person event the broker dead-lettered (delivery limit), and a body that is not JSON.
    /// Returns the three events with the bodies as published.
    async fn fill_dlq(&self) -> [(OrgEvent, Vec<u8>); 3] {
        let unit = event(EntityKind::Unit, Action::Created);
        let engagement = event(EntityKind::Engagement, Action::Updated);
        let person = event(EntityKind::Person, Action::Created);
        let unit_body = self
            .to_dlq(dead_letter(
                &unit,
                &self.name,
                "sink-permanent",
                1,
                "HTTP 400 from the fagsystem",
            ))
            .await;
        let engagement_body = self
            .to_dlq(dead_letter(
                &engagement,
                &self.name,
                "bad-data",
                1,
                "data.person is not a UUID",
            ))
            .await;
        let person_body = self.to_dlq(broker_dead_letter(&person, &self.name)).await;
        let mut headers = orghub_broker::lapin::types::FieldTable::default();
        headers.insert(
            "orghub-error-kind".into(),
            orghub_broker::lapin::types::AMQPValue::LongString("not-json".into()),
        );
        let garbage = BasicProperties::default().with_headers(headers);
        self.to_dlq((b"\x00 this is not json".to_vec(), garbage))
            .await;
        [
            (unit, unit_body),
            (engagement, engagement_body),
            (person, person_body),
        ]
    }

    /// Waits for `n` messages in `sub.<name>[.suffix]` and takes them.
    async fn take(&self, suffix: &str, n: u32) -> Vec<Delivery> {
        self.depth_becomes(suffix, n).await;
        take_all(&self.conn, &self.queue(suffix)).await
    }

    /// Waits until `sub.<name>[.suffix]` holds exactly `n` ready messages. Messages a command
    /// requeued come back through the quorum queue's log, a moment after the command ended.
    async fn depth_becomes(&self, suffix: &str, n: u32) {
        let queue = self.queue(suffix);
        let what = format!("{queue} to hold {n} messages");
        eventually(Duration::from_secs(10), &what, || {
            let queue = queue.clone();
            async move { (queue_depth(&self.conn, &queue).await == n).then_some(()) }
        })
        .await;
    }
}

fn by_id(letters: &Value) -> BTreeMap<String, Value> {
    letters
        .as_array()
        .expect("an array of dead letters")
        .iter()
        .map(|l| (l["id"].as_str().unwrap_or("-").to_owned(), l.clone()))
        .collect()
}

fn prop(p: &Option<ShortString>) -> Option<String> {
    p.as_ref().map(ToString::to_string)
}

/// The replayed copy carries the event unchanged: body, AMQP properties, `ce-` headers.
fn assert_same_event(copy: &Delivery, (original, body): &(OrgEvent, Vec<u8>)) {
    let message = original.to_amqp();
    assert_eq!(copy.data, *body, "body changed");
    let p = &copy.properties;
    assert_eq!(
        prop(p.message_id()).as_deref(),
        Some(message.message_id.as_str())
    );
    assert_eq!(
        prop(p.kind()).as_deref(),
        Some(message.message_type.as_str())
    );
    assert_eq!(
        prop(p.content_type()).as_deref(),
        Some(message.content_type)
    );
    assert_eq!(prop(p.app_id()).as_deref(), Some(message.app_id));
    assert_eq!(*p.timestamp(), Some(message.timestamp));
    assert_eq!(*p.delivery_mode(), Some(message.delivery_mode));
    let headers = headers_to_map(p);
    for (name, value) in &message.headers {
        assert_eq!(headers.get(name), Some(value), "header {name}");
    }
    let raw = p.headers().clone().unwrap_or_default();
    let x: Vec<&str> = raw
        .inner()
        .keys()
        .map(ShortString::as_str)
        .filter(|k| k.starts_with("x-"))
        .collect();
    assert!(x.is_empty(), "x- headers were copied: {x:?}");
    for gone in [
        "orghub-retries",
        "orghub-attempts",
        "orghub-error",
        "orghub-error-kind",
        "orghub-failed-at",
    ] {
        assert!(!headers.contains_key(gone), "{gone} was not stripped");
    }
}

#[tokio::test]
async fn dlq_show_lists_dead_letters_with_reason_attempts_and_error_without_consuming_them() {
    let env = Env::start().await;
    let [(unit, _), (engagement, _), (person, _)] = env.fill_dlq().await;

    let out = env.ctl.run(&["dlq", "show", &env.name, "--json"]).await;
    out.expect_code(0);
    let letters = by_id(&out.json());
    assert_eq!(letters.len(), 4, "{}", out.stdout);
    let u = &letters[&unit.id.to_string()];
    assert_eq!(u["type"], "dk.orghub.org.unit.created.v1");
    assert_eq!(u["subject"], unit.subject().to_string());
    assert_eq!(u["entity_version"], "1");
    assert_eq!(u["reason"], "sink-permanent");
    assert_eq!(u["attempts"], "1");
    assert_eq!(u["error"], "HTTP 400 from the fagsystem");
    assert!(u["failed_at"].is_string(), "{u}");
    let e = &letters[&engagement.id.to_string()];
    assert_eq!(
        (e["reason"].as_str(), e["entity_version"].as_str()),
        (Some("bad-data"), Some("2"))
    );
    let p = &letters[&person.id.to_string()];
    assert_eq!(p["reason"], "delivery-limit", "{p}");
    let g = &letters["-"];
    assert_eq!(g["reason"], "not-json");
    assert!(g["type"].is_null(), "{g}");
    // Reading consumed nothing.
    env.depth_becomes("dlq", 4).await;

    let out = env.ctl.run(&["dlq", "show", &env.name]).await;
    out.expect_code(0);
    for text in [
        "sink-permanent",
        "bad-data",
        "delivery-limit",
        "not-json",
        "HTTP 400 from the fagsystem",
        &unit.id.to_string(),
    ] {
        assert!(out.stdout.contains(text), "{text} missing:\n{}", out.stdout);
    }
    let out = env
        .ctl
        .run(&["dlq", "show", &env.name, "--reason", "bad-data", "--json"])
        .await;
    assert_eq!(out.expect_code(0).json().as_array().map(Vec::len), Some(1));
    let out = env
        .ctl
        .run(&["dlq", "show", &env.name, "--limit", "2", "--json"])
        .await;
    assert_eq!(out.expect_code(0).json().as_array().map(Vec::len), Some(2));
    env.depth_becomes("dlq", 4).await;

    // The list's figures come from the management API's statistics, a few seconds behind.
    let name = env.name.clone();
    let ctl = env.ctl.clone();
    eventually(
        Duration::from_secs(30),
        "dlq list to show 4 dead letters",
        || {
            let (ctl, name) = (ctl.clone(), name.clone());
            async move {
                let out = ctl.run(&["dlq", "list", "--json"]).await;
                out.expect_code(0);
                let rows = out.json();
                rows.as_array()?
                    .iter()
                    .any(|r| r["subscriber"] == name.as_str() && r["dlq"] == 4 && r["parked"] == 0)
                    .then_some(())
            }
        },
    )
    .await;
    env.finish().await;
}

#[tokio::test]
async fn replay_by_id_moves_exactly_that_dead_letter_back_with_a_replay_count_and_clean_headers() {
    let env = Env::start().await;
    let [unit, _, _] = env.fill_dlq().await;

    let id = unit.0.id.to_string();
    let out = env
        .ctl
        .run(&["dlq", "replay", &env.name, "--id", &id])
        .await;
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("replayed {id}")),
        "{}",
        out.stdout
    );
    env.depth_becomes("dlq", 3).await;
    let replayed = env.take("", 1).await;
    assert_eq!(replayed.len(), 1);
    let copy = &replayed[0];
    assert_same_event(copy, &unit);
    let headers = headers_to_map(&copy.properties);
    assert_eq!(
        headers.get("orghub-replay-count").map(String::as_str),
        Some("1")
    );

    // An id that is not there: nothing moves, exit code 4.
    let out = env
        .ctl
        .run(&[
            "dlq",
            "replay",
            &env.name,
            "--id",
            "0190a000-0000-7000-8000-000000000000",
        ])
        .await;
    out.expect_code(4);
    assert!(
        out.stderr.contains("no dead letter with id"),
        "{}",
        out.stderr
    );
    env.depth_becomes("dlq", 3).await;
    env.depth_becomes("", 0).await;
    env.finish().await;
}

#[tokio::test]
async fn replay_by_reason_by_type_and_all_move_the_selected_dead_letters() {
    let env = Env::start().await;
    let [unit, engagement, person] = env.fill_dlq().await;

    let out = env
        .ctl
        .run(&["dlq", "replay", &env.name, "--reason", "not-json", "--json"])
        .await;
    let report = out.expect_code(0).json();
    assert_eq!(
        report["replayed"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["left"], 3);
    env.depth_becomes("dlq", 3).await;

    let out = env
        .ctl
        .run(&["dlq", "replay", &env.name, "--type", "engagement.updated"])
        .await;
    out.expect_code(0);
    assert!(
        out.stdout.contains(&engagement.0.id.to_string()),
        "{}",
        out.stdout
    );
    env.depth_becomes("dlq", 2).await;

    let out = env.ctl.run(&["dlq", "replay", &env.name, "--all"]).await;
    out.expect_code(0);
    env.depth_becomes("dlq", 0).await;
    let back = env.take("", 4).await;
    assert_eq!(back.len(), 4);
    let ids: Vec<Option<String>> = back
        .iter()
        .map(|d| prop(d.properties.message_id()))
        .collect();
    for (e, _) in [&unit, &engagement, &person] {
        assert!(
            ids.contains(&Some(e.id.to_string())),
            "{} not replayed",
            e.id
        );
    }
    let broker_made = back
        .iter()
        .find(|d| prop(d.properties.message_id()) == Some(person.0.id.to_string()))
        .expect("the broker-made dead letter");
    assert_same_event(broker_made, &person);
    env.finish().await;
}

#[tokio::test]
async fn a_dead_letter_replayed_more_than_max_replays_times_is_parked() {
    let env = Env::start().await;
    let unit = event(EntityKind::Unit, Action::Updated);
    let body = env
        .to_dlq(dead_letter(&unit, &env.name, "sink-permanent", 1, "boom"))
        .await;
    let id = unit.id.to_string();

    // First replay: back to the queue, replay count 1.
    env.ctl
        .run(&[
            "dlq",
            "replay",
            &env.name,
            "--id",
            &id,
            "--max-replays",
            "1",
        ])
        .await
        .expect_code(0);
    let copy = env.take("", 1).await.remove(0);
    assert_eq!(
        headers_to_map(&copy.properties)
            .get("orghub-replay-count")
            .map(String::as_str),
        Some("1")
    );
    // The subscriber fails on it again: it dead-letters the copy with fresh failure headers.
    let mut headers = copy.properties.headers().clone().unwrap_or_default();
    headers.insert(
        "orghub-error-kind".into(),
        orghub_broker::lapin::types::AMQPValue::LongString("sink-permanent".into()),
    );
    env.to_dlq((
        copy.data.clone(),
        copy.properties.clone().with_headers(headers),
    ))
    .await;

    // Replayed once already, max 1: parked, not replayed.
    let out = env
        .ctl
        .run(&["dlq", "replay", &env.name, "--all", "--max-replays", "1"])
        .await;
    out.expect_code(0);
    assert!(out.stdout.contains("parked"), "{}", out.stdout);
    env.depth_becomes("dlq", 0).await;
    env.depth_becomes("", 0).await;
    let parked = env.take("parked", 1).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].data, body);
    let headers = headers_to_map(&parked[0].properties);
    assert_eq!(
        headers.get("orghub-error-kind").map(String::as_str),
        Some("sink-permanent")
    );
    assert_eq!(
        headers.get("orghub-replay-count").map(String::as_str),
        Some("1")
    );
    env.finish().await;
}

#[tokio::test]
async fn purge_without_yes_removes_nothing_and_exits_2_and_with_yes_prints_the_ids_removed() {
    let env = Env::start().await;
    let [(unit, _), (engagement, _), _] = env.fill_dlq().await;

    let out = env
        .ctl
        .run(&["dlq", "purge", &env.name, "--reason", "sink-permanent"])
        .await;
    out.expect_code(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(out.stderr.contains(&unit.id.to_string()), "{}", out.stderr);
    env.depth_becomes("dlq", 4).await;

    let out = env
        .ctl
        .run(&[
            "dlq",
            "purge",
            &env.name,
            "--id",
            &engagement.id.to_string(),
            "--reason",
            "bad-data",
            "--yes",
        ])
        .await;
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("removed {}", engagement.id)),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("dead letter purged"),
        "the removal is logged: {}",
        out.stderr
    );
    env.depth_becomes("dlq", 3).await;

    let out = env
        .ctl
        .run(&["dlq", "purge", &env.name, "--all", "--yes"])
        .await;
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!("removed {}", unit.id)),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("3 removed"), "{}", out.stdout);
    env.depth_becomes("dlq", 0).await;
    env.depth_becomes("", 0).await;

    // A selector is required.
    env.ctl
        .run(&["dlq", "purge", &env.name, "--yes"])
        .await
        .expect_code(2);
    env.finish().await;
}

#[tokio::test]
async fn a_replay_that_is_not_routed_leaves_the_dead_letter_in_place_and_exits_1() {
    let env = Env::start().await;
    env.fill_dlq().await;
    // Nothing takes the copies: the main queue's binding is gone.
    let ch = env.conn.create_channel().await.expect("channel");
    ch.queue_unbind(
        env.queue("").as_str().into(),
        env.queue("x").as_str().into(),
        env.queue("").as_str().into(),
        orghub_broker::lapin::types::FieldTable::default(),
    )
    .await
    .expect("unbind");

    let out = env.ctl.run(&["dlq", "replay", &env.name, "--all"]).await;
    out.expect_code(1);
    assert!(out.stderr.contains("not confirmed"), "{}", out.stderr);
    assert!(out.stderr.contains("unroutable"), "{}", out.stderr);
    env.depth_becomes("dlq", 4).await;
    env.finish().await;
}

#[tokio::test]
async fn dlq_commands_on_an_unknown_subscriber_exit_4_with_a_clear_message() {
    let env = Env::start().await;
    for args in [
        vec!["dlq", "show", "nobody-here"],
        vec!["dlq", "replay", "nobody-here", "--all"],
        vec!["dlq", "purge", "nobody-here", "--all", "--yes"],
    ] {
        let out = env.ctl.run(&args).await;
        out.expect_code(4);
        assert!(
            out.stderr.contains("no subscriber \"nobody-here\"")
                && out.stderr.contains("sub.nobody-here.dlq"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = env.ctl.run(&["dlq", "show", "Not.A.Name"]).await;
    out.expect_code(2);
    assert!(out.stderr.contains("not valid"), "{}", out.stderr);
    env.finish().await;
}
