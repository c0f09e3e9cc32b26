//! Timing of event encoding and decoding over the 28 example events, old path against new. Not a
//! test: it prints figures and never fails. Run it in release:
//!
//! ```sh
//! cargo test --release -p orghub-contracts --test codec_timing -- --ignored --nocapture
//! ```

use std::hint::black_box;
use std::time::Instant;

use orghub_contracts::{AmqpMessage, EventType, IncomingMessage, OrgEvent, decode, examples};

/// Rounds over all 28 events per measurement; the best of `TRIES` measurements is reported.
const ROUNDS: usize = 2_000;
const TRIES: usize = 5;

/// Nanoseconds per event of `f` applied to every event, best of `TRIES`.
fn ns_per_event<T>(items: &[T], mut f: impl FnMut(&T)) -> f64 {
    for item in items {
        f(item);
    }
    (0..TRIES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                for item in items {
                    f(black_box(item));
                }
            }
            start.elapsed().as_nanos() as f64 / (ROUNDS * items.len()) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "prints timings; run in release with --ignored --nocapture"]
fn encoding_and_decoding_time_per_event() {
    let events: Vec<OrgEvent> = EventType::all().map(examples::event).collect();
    let messages: Vec<AmqpMessage> = events.iter().map(OrgEvent::to_amqp).collect();

    let encode_old = ns_per_event(&events, |e| {
        black_box(serde_json::to_string(&e.to_cloudevent()).expect("serialises"));
    });
    let encode_new = ns_per_event(&events, |e| {
        black_box(e.to_structured_json());
    });
    let decode_old = ns_per_event(&messages, |m| {
        let value: serde_json::Value = serde_json::from_slice(&m.body).expect("JSON");
        black_box(OrgEvent::from_json_value(value).expect("decodes"));
    });
    let decode_new = ns_per_event(&messages, |m| {
        black_box(OrgEvent::from_json_bytes(&m.body).expect("decodes"));
    });
    let decode_delivery = ns_per_event(&messages, |m| {
        black_box(
            decode(IncomingMessage {
                body: &m.body,
                content_type: Some(m.content_type),
                headers: &m.headers,
            })
            .expect("decodes"),
        );
    });
    println!("ns per event over {} events:", events.len());
    println!("  encode  to_string(&to_cloudevent())       {encode_old:>8.0}");
    println!("  encode  to_structured_json()              {encode_new:>8.0}");
    println!("  decode  from_json_value(from_slice(body)) {decode_old:>8.0}");
    println!("  decode  from_json_bytes(body)             {decode_new:>8.0}");
    println!("  decode  decode(IncomingMessage)           {decode_delivery:>8.0}");
}
