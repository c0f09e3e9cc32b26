//! The headers a dead letter carries (DESIGN §5), written by the subscriber runtime and read by
//! `orghubctl`. All are AMQP long strings.

/// A stable reason code: `not-json`, `not-cloudevent`, `unknown-type`, `bad-attribute`,
/// `bad-data` (see [`crate::DecodeError::reason`]), `sink-permanent`, `retries-exhausted`.
pub const ERROR_KIND: &str = "orghub-error-kind";
/// The human message, at most [`MAX_ERROR_CHARS`] characters.
pub const ERROR: &str = "orghub-error";
/// Total attempts so far, decimal.
pub const ATTEMPTS: &str = "orghub-attempts";
/// When it was dead-lettered, RFC 3339 UTC.
pub const FAILED_AT: &str = "orghub-failed-at";
/// The subscriber's name.
pub const SUBSCRIBER: &str = "orghub-subscriber";
/// Delayed retries so far, decimal (absent = 0); on copies in the retry tiers.
pub const RETRIES: &str = "orghub-retries";
/// How often `orghubctl dlq replay` sent it back, decimal.
pub const REPLAY_COUNT: &str = "orghub-replay-count";
/// The longest `orghub-error`.
pub const MAX_ERROR_CHARS: usize = 1000;
