//! The `webhook` sink: POSTs each event to the fagsystem's URL in the CloudEvents HTTP binding,
//! structured mode: the body is the CloudEvent JSON, `content-type: application/cloudevents+json`.
//!
//! # Signature
//!
//! Every request carries
//!
//! ```text
//! orghub-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>
//! ```
//!
//! The receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in
//! constant time, and refuses timestamps more than a few minutes off its clock (a replayed request
//! keeps its old `t`, and `t` cannot be changed without the secret). Also sent:
//! `orghub-subscriber: <name>`.
//!
//! # Answers
//!
//! 2xx: delivered. 408, 429, 5xx, connection errors and timeouts: transient (retried). Every other
//! status, redirects included (they are not followed): permanent, to the DLQ with the status and
//! the start of the response body.
//!
//! # Order and state
//!
//! Events of one entity are sent one after another in delivery order; different entities go out
//! concurrently (`max_in_flight`). The versions sent are kept in a small journal file
//! (`state_path`, one JSON line per delivered event, compacted at start by writing a new file and
//! renaming it over the old one), so stale events are not sent again after a restart. Resync sends
//! re-statements of snapshot documents (marked `"orghubresync": true`) and `deleted`
//! re-statements for entities the snapshot no longer has.
//!
//! Every kind and action is posted the same way, the midnight ones included: an `effective` event
//! (a future-dated segment became current) or an `expired` one (`current` is now null) is the
//! entity's next version, so a fagsystem that keeps `current` from the webhook learns of it on the
//! day, and one arriving after a newer version is not sent.

mod config;
mod sink;
mod state;

pub use config::WebhookConfig;
pub use sink::{SIGNATURE_HEADER, WebhookSink, sign};
