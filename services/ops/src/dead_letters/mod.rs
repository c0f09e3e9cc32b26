//! Dead letters: what one says ([`DeadLetter`], read from its properties, headers and body;
//! [`DeadLetterMessage`] with everything the message carries), which ones an operator means
//! ([`Selector`], written as `--filter` expressions or the console's query by [`filter`]), and the
//! properties a replayed or parked copy carries ([`republish_properties`]). [`queue`] does the
//! AMQP work on `sub.<name>.dlq`.
//!
//! Header conventions (agreed with the subscriber runtime): a dead letter the runtime made
//! carries `orghub-error-kind`, `orghub-error`, `orghub-attempts`, `orghub-failed-at` (RFC 3339)
//! and `orghub-subscriber`; one the broker made (delivery limit) carries only `x-death`.
//! `orghub-replay-count` counts replays.

pub mod filter;
pub mod queue;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use orghub_broker::headers_to_map;
use orghub_broker::lapin::BasicProperties;
use orghub_broker::lapin::types::{AMQPValue, ShortString};
use orghub_contracts::{EntityKind, EventType, Kommune};
use serde::Serialize;
use serde_json::Value;

pub use filter::FilterError;
pub use queue::{DeadLetterQueues, DlqError, PurgeReport, ReplayReport, Unconfirmed};

pub use orghub_contracts::dead_letter::{
    ATTEMPTS, ERROR, ERROR_KIND, FAILED_AT, REPLAY_COUNT, RETRIES, SUBSCRIBER,
};

/// Headers a replayed copy must not carry: the failure it is replayed after is over, and the
/// runtime counts attempts afresh.
pub const STRIPPED_ON_REPLAY: [&str; 5] = [RETRIES, ATTEMPTS, ERROR, ERROR_KIND, FAILED_AT];

/// The reason shown for a message the broker dead-lettered after too many failed attempts.
pub const REASON_DELIVERY_LIMIT: &str = "delivery-limit";

/// One dead letter as an operator reads it. Fields the message does not tell are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The event id (`message_id`, `ce-id` or the body's `id`).
    pub id: Option<String>,
    /// The event type (AMQP `type`, `ce-type` or the body's `type`).
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// The entity UUID (`ce-subject` or the body's `subject`).
    pub subject: Option<String>,
    /// `ce-entityversion` or the body's `entityversion`.
    pub entity_version: Option<String>,
    /// The municipality (`ce-kommune` or the body's `kommune`).
    pub kommune: Option<String>,
    /// `orghub-error-kind`, `delivery-limit` for the broker's own dead letters, or `unknown`.
    pub reason: String,
    pub attempts: Option<String>,
    pub error: Option<String>,
    /// When it was dead-lettered, RFC 3339.
    pub failed_at: Option<String>,
    /// Times it was replayed before.
    pub replay_count: u32,
    pub subscriber: Option<String>,
}

impl DeadLetter {
    /// Reads a dead letter. Never fails: a garbage body just leaves the event fields empty.
    pub fn read(props: &BasicProperties, body: &[u8]) -> DeadLetter {
        let headers = headers_to_map(props);
        let header = |name: &str| headers.get(name).filter(|v| !v.is_empty()).cloned();
        let short = |s: &Option<ShortString>| s.as_ref().map(|s| s.to_string());
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let from_body = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        };
        let death = first_death(props);
        let reason = header(ERROR_KIND).unwrap_or_else(|| match &death {
            Some(d) => d
                .reason
                .as_deref()
                .filter(|r| *r != "delivery_limit")
                .map_or_else(|| REASON_DELIVERY_LIMIT.to_owned(), |r| r.replace('_', "-")),
            None => "unknown".to_owned(),
        });
        let error = header(ERROR).or_else(|| {
            death.as_ref().map(|d| {
                format!(
                    "dead-lettered by the broker from {} ({})",
                    d.queue.as_deref().unwrap_or("?"),
                    d.reason.as_deref().unwrap_or("delivery_limit")
                )
            })
        });
        let failed_at = header(FAILED_AT).or_else(|| {
            death
                .as_ref()
                .and_then(|d| d.time)
                .and_then(|t| DateTime::<Utc>::from_timestamp(i64::try_from(t).ok()?, 0))
                .map(|t| t.to_rfc3339())
        });
        DeadLetter {
            id: short(props.message_id())
                .or_else(|| header("ce-id"))
                .or_else(|| from_body("id")),
            event_type: short(props.kind())
                .or_else(|| header("ce-type"))
                .or_else(|| from_body("type")),
            subject: header("ce-subject").or_else(|| from_body("subject")),
            entity_version: header("ce-entityversion").or_else(|| from_body("entityversion")),
            kommune: header("ce-kommune").or_else(|| from_body("kommune")),
            reason,
            attempts: header(ATTEMPTS).or_else(|| header("x-delivery-count")),
            error,
            failed_at,
            replay_count: replay_count(&headers),
            subscriber: header(SUBSCRIBER),
        }
    }

    /// When it was dead-lettered, if that is known and well-formed.
    pub fn failed_at_time(&self) -> Option<DateTime<Utc>> {
        self.failed_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// The entity kind its event type names.
    pub fn kind(&self) -> Option<EntityKind> {
        self.event_type
            .as_deref()
            .and_then(|t| EventType::parse(t).ok())
            .map(|t| t.kind)
    }

    /// The municipality it is about, if it names a real one.
    pub fn kommune(&self) -> Option<Kommune> {
        self.kommune.as_deref().and_then(|k| Kommune::parse(k).ok())
    }
}

/// A dead letter with everything its message carries, for reading one closely: every header
/// (the broker's `x-death` rendered as JSON), the AMQP properties and the body.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterMessage {
    pub letter: DeadLetter,
    pub headers: BTreeMap<String, String>,
    /// The AMQP properties that are set, by name (`message_id`, `type`, `timestamp`, ...).
    pub properties: BTreeMap<&'static str, String>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl DeadLetterMessage {
    pub fn read(props: &BasicProperties, body: &[u8]) -> DeadLetterMessage {
        let headers = props
            .headers()
            .iter()
            .flat_map(|table| table.inner())
            .map(|(name, value)| (name.to_string(), amqp_text(value)))
            .collect();
        let mut properties = BTreeMap::new();
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(v) = value {
                properties.insert(name, v);
            }
        };
        let short = |s: &Option<ShortString>| s.as_ref().map(ToString::to_string);
        put("content_type", short(props.content_type()));
        put("content_encoding", short(props.content_encoding()));
        put(
            "delivery_mode",
            props.delivery_mode().map(|m| m.to_string()),
        );
        put("priority", props.priority().map(|p| p.to_string()));
        put("correlation_id", short(props.correlation_id()));
        put("message_id", short(props.message_id()));
        put(
            "timestamp",
            props.timestamp().map(|t| {
                i64::try_from(t)
                    .ok()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
                    .map_or_else(|| t.to_string(), |t| t.to_rfc3339())
            }),
        );
        put("type", short(props.kind()));
        put("app_id", short(props.app_id()));
        DeadLetterMessage {
            letter: DeadLetter::read(props, body),
            headers,
            properties,
            body: body.to_vec(),
        }
    }

    /// The body as JSON, if it is.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// An AMQP value as text: strings as they are, tables and arrays (`x-death`) as JSON.
fn amqp_text(value: &AMQPValue) -> String {
    match amqp_json(value) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn amqp_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => (*n).into(),
        AMQPValue::Timestamp(t) => i64::try_from(*t)
            .ok()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .map_or_else(|| (*t).into(), |t| t.to_rfc3339().into()),
        AMQPValue::Float(n) => Value::from(f64::from(*n)),
        AMQPValue::Double(n) => Value::from(*n),
        AMQPValue::ShortString(s) => s.to_string().into(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned().into(),
        AMQPValue::ByteArray(b) => hex::encode(b.as_slice()).into(),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_json).collect()),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), amqp_json(v)))
                .collect(),
        ),
        AMQPValue::DecimalValue(d) => format!("{d:?}").into(),
        AMQPValue::Void => Value::Null,
    }
}

fn replay_count(headers: &BTreeMap<String, String>) -> u32 {
    headers
        .get(REPLAY_COUNT)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The most recent `x-death` entry.
#[derive(Debug, Default)]
struct Death {
    reason: Option<String>,
    queue: Option<String>,
    time: Option<u64>,
}

fn first_death(props: &BasicProperties) -> Option<Death> {
    let headers = props.headers().as_ref()?;
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let mut death = Death::default();
    if let Some(AMQPValue::FieldTable(table)) = deaths.as_slice().first() {
        for (key, value) in table.inner() {
            let text = match value {
                AMQPValue::LongString(s) => Some(s.to_string()),
                AMQPValue::ShortString(s) => Some(s.to_string()),
                _ => None,
            };
            match (key.as_str(), value) {
                ("reason", _) => death.reason = text,
                ("queue", _) => death.queue = text,
                ("time", AMQPValue::Timestamp(t)) => death.time = Some(*t),
                _ => {}
            }
        }
    }
    Some(death)
}

/// Which dead letters a command acts on. Criteria combine with "and"; several ids with "or".
/// The CLI (`--id`, `--reason`, `--type`, `--filter`) and the console's filter fill the same
/// one ([`filter`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub all: bool,
    pub ids: Vec<String>,
    pub reason: Option<String>,
    /// A full type (`dk.orghub.org.unit.created.v1`) or its short form (`unit.created`).
    pub event_type: Option<String>,
    /// The municipality the event is about.
    pub kommune: Option<Kommune>,
    /// The entity kind the event is about.
    pub kind: Option<EntityKind>,
    /// Dead-lettered at or after this instant (`orghub-failed-at`, else the `x-death` time).
    pub since: Option<DateTime<Utc>>,
    /// Dead-lettered before this instant.
    pub until: Option<DateTime<Utc>>,
}

impl Selector {
    /// Every dead letter.
    pub fn all() -> Self {
        Selector {
            all: true,
            ..Selector::default()
        }
    }

    /// Whether no criterion at all was given (a command must refuse that).
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.ids.is_empty()
            && self.reason.is_none()
            && self.event_type.is_none()
            && self.kommune.is_none()
            && self.kind.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    pub fn matches(&self, letter: &DeadLetter) -> bool {
        if self.all {
            return true;
        }
        if self.is_empty() {
            return false;
        }
        let id_ok = self.ids.is_empty()
            || letter
                .id
                .as_ref()
                .is_some_and(|id| self.ids.iter().any(|want| want == id));
        let reason_ok = self.reason.as_ref().is_none_or(|r| *r == letter.reason);
        let type_ok = self.event_type.as_ref().is_none_or(|want| {
            letter
                .event_type
                .as_ref()
                .is_some_and(|ty| ty == want || short_type(want).is_some_and(|full| *ty == full))
        });
        let kommune_ok = self.kommune.is_none_or(|k| letter.kommune() == Some(k));
        let kind_ok = self.kind.is_none_or(|k| letter.kind() == Some(k));
        let time_ok = match (self.since, self.until) {
            (None, None) => true,
            (since, until) => letter
                .failed_at_time()
                .is_some_and(|at| since.is_none_or(|s| at >= s) && until.is_none_or(|u| at < u)),
        };
        id_ok && reason_ok && type_ok && kommune_ok && kind_ok && time_ok
    }

    /// How the selection reads in messages: `--all`, `--id a --reason b`, ...
    pub fn describe(&self) -> String {
        if self.all {
            return "--all".into();
        }
        let mut parts: Vec<String> = self.ids.iter().map(|id| format!("--id {id}")).collect();
        if let Some(r) = &self.reason {
            parts.push(format!("--reason {r}"));
        }
        if let Some(t) = &self.event_type {
            parts.push(format!("--type {t}"));
        }
        let rest: Vec<String> = filter::pairs(self)
            .into_iter()
            .filter(|(key, _)| matches!(*key, "kommune" | "kind" | "since" | "until"))
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        if !rest.is_empty() {
            parts.push(format!("--filter {}", rest.join(",")));
        }
        parts.join(" ")
    }
}

/// `unit.created` → `dk.orghub.org.unit.created.v1`.
fn short_type(short: &str) -> Option<String> {
    let (kind, action) = short.split_once('.')?;
    Some(
        orghub_contracts::EventType {
            kind: orghub_contracts::EntityKind::from_word(kind)?,
            action: orghub_contracts::Action::from_word(action)?,
        }
        .to_string(),
    )
}

/// Where a dead letter is sent back to, and so how its headers change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Republish {
    /// Back to `sub.<name>`: failure headers stripped, `orghub-replay-count` set to this.
    Replay { replay_count: u32 },
    /// To `sub.<name>.parked`: kept as it failed, so the operator can still read why.
    Park,
}

/// The properties of the copy that is republished: what the broker's one copy rule
/// ([`orghub_broker::copy_properties`]) keeps, and on a replay without the failure headers
/// ([`STRIPPED_ON_REPLAY`]) and with `orghub-replay-count` counted up.
pub fn republish_properties(props: &BasicProperties, how: Republish) -> BasicProperties {
    match how {
        Republish::Replay { replay_count } => orghub_broker::copy_properties(
            props,
            &STRIPPED_ON_REPLAY,
            &[(REPLAY_COUNT, replay_count.to_string())],
        ),
        Republish::Park => orghub_broker::copy_properties(props, &[], &[]),
    }
}

#[cfg(test)]
mod tests {
    use orghub_broker::lapin::types::FieldTable;
    use orghub_contracts::{Action, EntityKind, EventType, examples};

    use super::*;

    fn event_props() -> (orghub_contracts::AmqpMessage, BasicProperties) {
        let msg = examples::event(EventType {
            kind: EntityKind::Unit,
            action: Action::Updated,
        })
        .to_amqp();
        let props = orghub_broker::properties_for(&msg);
        (msg, props)
    }

    fn with_headers(props: BasicProperties, extra: &[(&str, AMQPValue)]) -> BasicProperties {
        let mut table = props.headers().clone().unwrap_or_default();
        for (k, v) in extra {
            table.insert((*k).into(), v.clone());
        }
        props.with_headers(table)
    }

    fn long(s: &str) -> AMQPValue {
        AMQPValue::LongString(s.into())
    }

    fn x_death(reason: &str) -> AMQPValue {
        let mut entry = FieldTable::default();
        entry.insert("reason".into(), long(reason));
        entry.insert("queue".into(), long("sub.x"));
        entry.insert("time".into(), AMQPValue::Timestamp(1_770_000_000));
        entry.insert("count".into(), AMQPValue::LongLongInt(1));
        AMQPValue::FieldArray(vec![AMQPValue::FieldTable(entry)].into())
    }

    #[test]
    fn a_runtime_dead_letter_shows_its_event_and_failure() {
        let (msg, props) = event_props();
        let props = with_headers(
            props,
            &[
                (ERROR_KIND, long("sink-permanent")),
                (ERROR, long("HTTP 400 from the fagsystem")),
                (ATTEMPTS, long("1")),
                (FAILED_AT, long("2026-03-02T10:00:00+00:00")),
                (SUBSCRIBER, long("x")),
                (REPLAY_COUNT, long("2")),
            ],
        );
        let letter = DeadLetter::read(&props, &msg.body);
        assert_eq!(letter.id.as_deref(), Some(msg.message_id.as_str()));
        assert_eq!(
            letter.event_type.as_deref(),
            Some("dk.orghub.org.unit.updated.v1")
        );
        assert_eq!(
            letter.subject.as_deref(),
            Some(examples::entity_uuid(EntityKind::Unit).to_string().as_str())
        );
        assert_eq!(letter.entity_version.as_deref(), Some("2"));
        assert_eq!(letter.reason, "sink-permanent");
        assert_eq!(letter.attempts.as_deref(), Some("1"));
        assert_eq!(letter.error.as_deref(), Some("HTTP 400 from the fagsystem"));
        assert_eq!(letter.replay_count, 2);
        assert!(letter.failed_at_time().is_some());
    }

    #[test]
    fn a_broker_dead_letter_reads_as_delivery_limit() {
        let (msg, props) = event_props();
        let props = with_headers(props, &[("x-death", x_death("delivery_limit"))]);
        let letter = DeadLetter::read(&props, &msg.body);
        assert_eq!(letter.reason, "delivery-limit");
        assert!(
            letter.error.as_deref().is_some_and(|e| e.contains("sub.x")),
            "{letter:?}"
        );
        assert_eq!(
            letter.failed_at.as_deref(),
            Some("2026-02-02T02:40:00+00:00")
        );
    }

    #[test]
    fn event_fields_come_from_the_body_when_properties_lack_them() {
        let (msg, _) = event_props();
        let letter = DeadLetter::read(&BasicProperties::default(), &msg.body);
        assert_eq!(letter.id.as_deref(), Some(msg.message_id.as_str()));
        assert_eq!(letter.entity_version.as_deref(), Some("2"));
        assert_eq!(letter.reason, "unknown");
        let garbage = DeadLetter::read(&BasicProperties::default(), b"\x00{nope");
        assert_eq!(garbage.id, None);
        assert_eq!(garbage.event_type, None);
    }

    #[test]
    fn selectors_match_by_id_reason_and_type_together() {
        let (msg, props) = event_props();
        let props = with_headers(props, &[(ERROR_KIND, long("bad-data"))]);
        let letter = DeadLetter::read(&props, &msg.body);
        let sel = |ids: &[&str], reason: Option<&str>, ty: Option<&str>| Selector {
            all: false,
            ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            reason: reason.map(str::to_owned),
            event_type: ty.map(str::to_owned),
            ..Selector::default()
        };
        assert!(Selector::all().matches(&letter));
        assert!(!Selector::default().matches(&letter));
        assert!(sel(&[&msg.message_id], None, None).matches(&letter));
        assert!(sel(&["other", &msg.message_id], None, None).matches(&letter));
        assert!(!sel(&["other"], None, None).matches(&letter));
        assert!(sel(&[], Some("bad-data"), None).matches(&letter));
        assert!(!sel(&[], Some("not-json"), None).matches(&letter));
        assert!(sel(&[], None, Some("unit.updated")).matches(&letter));
        assert!(sel(&[], None, Some("dk.orghub.org.unit.updated.v1")).matches(&letter));
        assert!(!sel(&[], Some("bad-data"), Some("unit.created")).matches(&letter));
    }

    #[test]
    fn selectors_match_by_municipality_kind_and_time_of_failure() {
        let (msg, props) = event_props();
        let props = with_headers(props, &[(FAILED_AT, long("2026-03-02T10:00:00+00:00"))]);
        let letter = DeadLetter::read(&props, &msg.body);
        assert_eq!(letter.kommune(), Some(examples::kommune()));
        assert_eq!(letter.kind(), Some(EntityKind::Unit));
        let sel = |expr: &str| Selector::from_expressions(&[expr]).expect(expr);
        let own = examples::kommune().to_string();
        let other = if own == "101" { "751" } else { "101" };
        assert!(sel(&format!("kommune={own}")).matches(&letter));
        assert!(!sel(&format!("kommune={other}")).matches(&letter));
        assert!(sel("kind=unit").matches(&letter));
        assert!(!sel("kind=person").matches(&letter));
        assert!(
            sel("since=2026-03-02T10:00:00Z").matches(&letter),
            "since is inclusive"
        );
        assert!(
            !sel("until=2026-03-02T10:00:00Z").matches(&letter),
            "until is exclusive"
        );
        assert!(sel("since=2026-03-01,until=2026-03-03").matches(&letter));
        assert!(!sel("since=2026-03-03").matches(&letter));
        let undated = DeadLetter::read(&BasicProperties::default(), &msg.body);
        assert!(
            !sel("since=2000-01-01").matches(&undated),
            "a time filter never matches a dead letter without a time"
        );
    }

    #[test]
    fn a_message_read_closely_shows_every_header_and_property() {
        let (msg, props) = event_props();
        let props = with_headers(
            props,
            &[
                (ERROR_KIND, long("bad-data")),
                ("x-death", x_death("rejected")),
            ],
        );
        let m = DeadLetterMessage::read(&props, &msg.body);
        assert_eq!(m.letter.reason, "bad-data");
        assert_eq!(
            m.headers.get(ERROR_KIND).map(String::as_str),
            Some("bad-data")
        );
        let death = m.headers.get("x-death").expect("x-death rendered");
        assert!(
            death.contains("\"queue\":\"sub.x\"") && death.contains("2026-02-02T02:40:00"),
            "{death}"
        );
        assert_eq!(
            m.properties.get("message_id").map(String::as_str),
            Some(msg.message_id.as_str())
        );
        assert!(m.body_json().is_some_and(|b| b.get("data").is_some()));
    }

    #[test]
    fn a_replayed_copy_keeps_the_event_and_drops_failure_and_broker_headers() {
        let (msg, props) = event_props();
        let props = with_headers(
            props,
            &[
                (ERROR_KIND, long("sink-permanent")),
                (ERROR, long("boom")),
                (ATTEMPTS, long("3")),
                (RETRIES, long("2")),
                (FAILED_AT, long("2026-03-02T10:00:00+00:00")),
                (SUBSCRIBER, long("x")),
                (REPLAY_COUNT, long("1")),
                ("x-death", x_death("rejected")),
                ("x-delivery-count", AMQPValue::LongLongInt(4)),
            ],
        )
        .with_expiration("5000".into())
        .with_user_id("sub-x".into());
        let copy = republish_properties(&props, Republish::Replay { replay_count: 2 });
        let headers = headers_to_map(&copy);
        for (name, value) in &msg.headers {
            assert_eq!(headers.get(name), Some(value), "{name}");
        }
        assert_eq!(headers.get(REPLAY_COUNT).map(String::as_str), Some("2"));
        assert_eq!(headers.get(SUBSCRIBER).map(String::as_str), Some("x"));
        for gone in STRIPPED_ON_REPLAY {
            assert!(!headers.contains_key(gone), "{gone}");
        }
        let raw = copy.headers().clone().unwrap_or_default();
        assert!(raw.inner().keys().all(|k| !k.as_str().starts_with("x-")));
        assert_eq!(copy.message_id(), props.message_id());
        assert_eq!(copy.kind(), props.kind());
        assert_eq!(copy.content_type(), props.content_type());
        assert_eq!(copy.timestamp(), props.timestamp());
        assert_eq!(copy.app_id(), props.app_id());
        assert_eq!(copy.delivery_mode(), props.delivery_mode());
        assert_eq!(*copy.expiration(), None);
        assert_eq!(*copy.user_id(), None);
    }

    #[test]
    fn a_parked_copy_keeps_why_it_failed() {
        let (_, props) = event_props();
        let props = with_headers(
            props,
            &[
                (ERROR_KIND, long("sink-permanent")),
                (REPLAY_COUNT, long("3")),
                ("x-death", x_death("rejected")),
            ],
        );
        let headers = headers_to_map(&republish_properties(&props, Republish::Park));
        assert_eq!(
            headers.get(ERROR_KIND).map(String::as_str),
            Some("sink-permanent")
        );
        assert_eq!(headers.get(REPLAY_COUNT).map(String::as_str), Some("3"));
        assert!(!headers.keys().any(|k| k.starts_with("x-")));
    }
}
