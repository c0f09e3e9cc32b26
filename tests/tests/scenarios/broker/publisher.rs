//! The publisher against a real RabbitMQ, one fresh vhost per test.

use std::time::Duration;

use orghub_broker::lapin::options::{QueueBindOptions, QueueDeclareOptions};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::{Delivered, PublishError, Publisher, connect, decode_delivery};
use orghub_contracts::amqp::EXCHANGE;
use orghub_contracts::{Action, AmqpMessage, EntityKind, EventType, OrgEvent, examples};
use orghub_tests::ops::queue_depth;
use orghub_tests::{TestVhost, bind_probe_queue, eventually};

const DEADLINE: Duration = Duration::from_secs(10);

fn example(kind: EntityKind, action: Action) -> OrgEvent {
    examples::event(EventType { kind, action })
}

/// Sends every message, then awaits the confirms in order: the relay's window in small.
async fn publish_all(
    publisher: &Publisher,
    messages: &[AmqpMessage],
) -> Vec<Result<Delivered, PublishError>> {
    let mut sent = Vec::with_capacity(messages.len());
    for message in messages {
        sent.push(publisher.send_one(message).await);
    }
    let mut results = Vec::with_capacity(sent.len());
    for in_flight in sent {
        results.push(match in_flight {
            Ok(in_flight) => in_flight.confirmed().await,
            Err(e) => Err(e),
        });
    }
    results
}

#[tokio::test]
async fn publishing_with_no_queue_bound_is_unroutable_not_an_error() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "broker-test").await.unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();

    let message = example(EntityKind::Unit, Action::Created).to_amqp();
    assert_eq!(publisher.publish(&message).await, Ok(Delivered::Unroutable));
    assert!(publisher.is_connected());

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_publisher_outlives_the_connection_handle_it_was_made_from() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "broker-test").await.unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    // The channel keeps the connection open; callers may keep only the publisher.
    drop(conn);

    let message = example(EntityKind::Person, Action::Created).to_amqp();
    assert_eq!(publisher.publish(&message).await, Ok(Delivered::Unroutable));
    assert!(publisher.is_connected());

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_routed_event_arrives_with_every_header_and_property_and_decodes_back_equal() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "broker-test").await.unwrap();
    let probe = bind_probe_queue(&conn, "org.751.#").await;
    let publisher = Publisher::new(&conn).await.unwrap();

    let event = example(EntityKind::Engagement, Action::Updated);
    let message = event.to_amqp();
    assert_eq!(publisher.publish(&message).await, Ok(Delivered::Routed));

    let delivery = probe.next_deliveries(1, DEADLINE).await.remove(0);
    assert_eq!(delivery.routing_key.as_str(), "org.751.engagement.updated");
    let props = &delivery.properties;
    let text = |v: &Option<orghub_broker::lapin::types::ShortString>| {
        v.as_ref().map(|s| s.as_str().to_owned())
    };
    assert_eq!(
        text(props.content_type()).as_deref(),
        Some("application/cloudevents+json")
    );
    assert_eq!(*props.delivery_mode(), Some(2));
    assert_eq!(text(props.message_id()), Some(event.id.to_string()));
    assert_eq!(
        text(props.kind()).as_deref(),
        Some("dk.orghub.org.engagement.updated.v1")
    );
    assert_eq!(text(props.app_id()).as_deref(), Some("orghub-writer"));
    assert_eq!(
        *props.timestamp(),
        Some(u64::try_from(event.time.timestamp()).unwrap())
    );

    let headers = props.headers().as_ref().unwrap().inner();
    for name in [
        "ce-id",
        "ce-type",
        "ce-source",
        "ce-subject",
        "ce-specversion",
        "ce-kommune",
        "ce-entityversion",
        "ce-sequence",
    ] {
        let sent = &message.headers[name];
        match headers.get(name) {
            Some(AMQPValue::LongString(got)) => assert_eq!(&got.to_string(), sent, "{name}"),
            other => panic!("header {name}: expected long string {sent:?}, got {other:?}"),
        }
    }
    assert!(
        headers.keys().all(|k| !k.as_str().starts_with("x-")),
        "no x- headers: {headers:?}"
    );
    assert_eq!(decode_delivery(&delivery), Ok(event));

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_batch_of_500_is_confirmed_in_order_and_queued_in_order() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "broker-test").await.unwrap();
    let probe = bind_probe_queue(&conn, "org.751.#").await;
    let publisher = Publisher::new(&conn).await.unwrap();

    let template = example(EntityKind::Person, Action::Updated);
    let messages: Vec<AmqpMessage> = (1..=500u64)
        .map(|sequence| {
            let mut event = template.clone();
            event.id = uuid::Uuid::now_v7();
            event.sequence = sequence;
            event.to_amqp()
        })
        .collect();

    let results = publish_all(&publisher, &messages).await;
    assert_eq!(results.len(), 500);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result, &Ok(Delivered::Routed), "message {i}");
    }
    // A confirm means the queue has it, so the count is exact at once.
    assert_eq!(queue_depth(&conn, &probe.name).await, 500);

    let sequences: Vec<u64> = probe
        .next_events(500, DEADLINE)
        .await
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(sequences, (1..=500).collect::<Vec<_>>());

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_message_a_full_queue_refuses_is_nacked() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "broker-test").await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    orghub_broker::declare_events_exchange(&channel)
        .await
        .unwrap();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(0));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    channel
        .queue_declare("full".into(), QueueDeclareOptions::default(), args)
        .await
        .unwrap();
    channel
        .queue_bind(
            "full".into(),
            EXCHANGE.into(),
            "org.751.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();

    let refused = example(EntityKind::Unit, Action::Created).to_amqp();
    let mut elsewhere = example(EntityKind::Unit, Action::Created);
    elsewhere.kommune = orghub_contracts::Kommune::from_code(101).unwrap();
    let results = publish_all(&publisher, &[refused.clone(), elsewhere.to_amqp(), refused]).await;
    assert_eq!(
        results,
        vec![
            Err(PublishError::Nacked),
            Ok(Delivered::Unroutable),
            Err(PublishError::Nacked)
        ]
    );
    assert!(publisher.is_connected());

    vhost.delete_now().await;
}

#[tokio::test]
async fn a_connection_closed_by_the_broker_makes_the_publisher_report_connection_lost() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "broker-test").await.unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    let message = example(EntityKind::Kle, Action::Created).to_amqp();
    assert_eq!(publisher.publish(&message).await, Ok(Delivered::Unroutable));

    // The management API lists a connection only after its next stats collection (up to 5 s).
    eventually(
        Duration::from_secs(20),
        "the management API to close the connection",
        || async {
            let closed = vhost.mgmt.close_connections(&vhost.name).await.unwrap();
            (closed > 0).then_some(())
        },
    )
    .await;

    // The close reaches the client asynchronously; a publish racing it may still be confirmed,
    // but one soon fails, and none may hang.
    let error = eventually(DEADLINE, "a publish to fail", || async {
        let outcome = tokio::time::timeout(DEADLINE, publisher.publish(&message))
            .await
            .expect("a publish on a closed connection returns instead of hanging");
        outcome.err()
    })
    .await;
    assert!(
        matches!(error, PublishError::ConnectionLost(_)),
        "{error:?}"
    );
    assert!(!publisher.is_connected());

    let batch = tokio::time::timeout(
        DEADLINE,
        publish_all(&publisher, &[message.clone(), message]),
    )
    .await
    .expect("a batch on a closed connection returns instead of hanging");
    assert!(
        batch
            .iter()
            .all(|r| matches!(r, Err(PublishError::ConnectionLost(_)))),
        "{batch:?}"
    );

    vhost.delete_now().await;
}
