//! The subscriber conventions, owned here and nowhere else: a subscriber's name, every RabbitMQ
//! and writer name derived from it, its topology, its policy and its broker permissions. The
//! subscriber runtime and `orghubctl` both call this module.
//!
//! Per subscriber `<name>`:
//!
//! | object | type | how it is reached |
//! |---|---|---|
//! | `sub.<name>.x` | direct exchange, durable | all internal routing; never the default exchange |
//! | `sub.<name>` | quorum queue, single active consumer | `org.events` with `org.<k>.<kind>.*`; `sub.<name>.x` with key `sub.<name>` |
//! | `sub.<name>.retry.<delay>` | classic queue, TTL = delay, dead-lettered to `sub.<name>.x` / `sub.<name>` | `sub.<name>.x` with its own name |
//! | `sub.<name>.dlq` | quorum queue | `sub.<name>.x` with key `sub.<name>.dlq` |
//! | `sub.<name>.parked` | quorum queue (ops parks over-replayed dead letters) | `sub.<name>.x` with key `sub.<name>.parked` |
//!
//! Policy `orghub-sub-<name>` on `^sub\.<name>$`: `delivery-limit`, `dead-letter-exchange`
//! `sub.<name>.x`, `dead-letter-routing-key` `sub.<name>.dlq`, `dead-letter-strategy`
//! `at-least-once` (which requires `overflow: reject-publish`; without a length limit that
//! overflow never refuses anything).
//!
//! **Who declares.** The operator (`orghubctl subscriber create|repair`, with administrator
//! credentials) declares the whole topology with the fixed arguments above. A subscriber's own
//! RabbitMQ user has no configure permission at all: it cannot declare a queue, so it cannot
//! bind one with arguments (`x-max-length=0, x-overflow=reject-publish`) that would make the
//! broker refuse the relay's publishes (DESIGN §5, isolation). At its start the subscriber only
//! checks its topology ([`Topology::ensure`] declares what is missing when the credentials
//! allow it, as with the administrator credentials of a development set-up) and binds its keys
//! on `org.events`, which its topic permissions limit to its municipalities.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};
use orghub_contracts::Kommune;
use orghub_contracts::amqp::EXCHANGE;
use serde_json::{Value, json};

use crate::mgmt::{Management, MgmtError};

/// The default delivery limit of the subscriber policy: failed attempts (`basic.reject`) before
/// the broker dead-letters a message on its own.
pub const DELIVERY_LIMIT: u32 = 10;

/// A subscriber's name: `^[a-z0-9][a-z0-9-]{0,62}$`. Never contains a dot, so queue names split
/// unambiguously and the name needs no escaping inside a regex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberName(String);

/// Why a string is not a subscriber name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "subscriber name {0:?} is not valid: 1 to 63 characters, lower-case letters, digits and \
     '-', starting with a letter or digit"
)]
pub struct NameError(pub String);

impl SubscriberName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let bytes = input.as_bytes();
        let ok = (1..=63).contains(&bytes.len())
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(NameError(input.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subscriber's quorum queue, `sub.<name>`.
    pub fn queue(&self) -> String {
        format!("sub.{}", self.0)
    }

    /// The direct exchange all internal routing goes through, `sub.<name>.x`.
    pub fn exchange(&self) -> String {
        format!("sub.{}.x", self.0)
    }

    /// The dead-letter queue, `sub.<name>.dlq` (also its routing key on the exchange).
    pub fn dlq(&self) -> String {
        format!("sub.{}.dlq", self.0)
    }

    /// Where messages go after too many replays, `sub.<name>.parked` (also its routing key).
    pub fn parked(&self) -> String {
        format!("sub.{}.parked", self.0)
    }

    /// The prefix of the retry wait queues, `sub.<name>.retry.` (`sub.<name>.retry.5s`, ...).
    pub fn retry_prefix(&self) -> String {
        format!("sub.{}.retry.", self.0)
    }

    /// A retry wait queue, `sub.<name>.retry.<delay>` (also its routing key).
    pub fn retry(&self, delay: Delay) -> String {
        format!("{}{delay}", self.retry_prefix())
    }

    /// The subscriber's RabbitMQ user, `sub-<name>`.
    pub fn user(&self) -> String {
        format!("sub-{}", self.0)
    }

    /// The policy that sets delivery limit and dead-lettering on the queue,
    /// `orghub-sub-<name>`.
    pub fn policy(&self) -> String {
        format!("orghub-sub-{}", self.0)
    }

    /// The policy's pattern: the main queue only, `^sub\.<name>$`.
    pub fn policy_pattern(&self) -> String {
        format!("^sub\\.{}$", self.0)
    }

    /// The policy's definition. No `max-length` or `max-length-bytes`: with those, the
    /// `reject-publish` overflow would let a queue nobody reads make the broker nack the relay.
    pub fn policy_definition(&self, delivery_limit: u32) -> Value {
        json!({
            "delivery-limit": delivery_limit,
            "dead-letter-exchange": self.exchange(),
            "dead-letter-routing-key": self.dlq(),
            // At-least-once dead-lettering needs reject-publish overflow; together they mean a
            // dead letter is never dropped between the queue and the DLQ.
            "dead-letter-strategy": "at-least-once",
            "overflow": "reject-publish",
        })
    }

    /// The writer token's name, `subscriber-<name>`.
    pub fn token_name(&self) -> String {
        format!("subscriber-{}", self.0)
    }

    /// The default database of a PostgreSQL sink: the name with `-` as `_`.
    pub fn sink_database(&self) -> String {
        self.0.replace('-', "_")
    }

    /// Configure permission: none. Only the operator declares (see the module docs).
    pub fn configure_permission(&self) -> String {
        "^$".to_owned()
    }

    /// Write permission: binding its main queue (`queue.bind` needs write on the queue) and
    /// publishing retry and dead-letter copies to its own exchange, `^sub\.<name>(\.x)?$`.
    pub fn write_permission(&self) -> String {
        format!("^sub\\.{}(\\.x)?$", self.0)
    }

    /// Read permission: consuming its main queue and binding from `org.events` (`queue.bind`
    /// needs read on the exchange), `^(sub\.<name>|org\.events)$`.
    pub fn read_permission(&self) -> String {
        format!(
            "^(sub\\.{}|{})$",
            self.0,
            regex_escape(orghub_contracts::amqp::EXCHANGE)
        )
    }

    /// The subscriber a queue belongs to: `sub.<name>` and `sub.<name>.<anything>` both give
    /// `<name>`.
    pub fn of_queue(queue: &str) -> Option<SubscriberName> {
        let rest = queue.strip_prefix("sub.")?;
        let name = rest.split('.').next()?;
        Self::parse(name).ok()
    }

    /// The subscriber a RabbitMQ user belongs to (`sub-<name>`).
    pub fn of_user(user: &str) -> Option<SubscriberName> {
        Self::parse(user.strip_prefix("sub-")?).ok()
    }
}

impl fmt::Display for SubscriberName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SubscriberName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Topic permission read regex on `org.events`: the routing keys (so binding keys) of these
/// municipalities only, `^org\.(751|101)\.`.
pub fn topic_read_permission(kommuner: &[Kommune]) -> String {
    let codes: Vec<String> = kommuner.iter().map(ToString::to_string).collect();
    format!("^org\\.({})\\.", codes.join("|"))
}

/// The municipalities a topic read permission made by [`topic_read_permission`] allows.
pub fn kommuner_of_topic_permission(regex: &str) -> Vec<Kommune> {
    regex
        .strip_prefix("^org\\.(")
        .and_then(|r| r.strip_suffix(")\\."))
        .map(|codes| {
            codes
                .split('|')
                .filter_map(|c| Kommune::parse(c).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A retry delay, written `200ms`, `5s`, `1m` or `2h`. Its text is part of the wait queue's name
/// (`sub.<name>.retry.<delay>`), so it is printed in the largest unit that divides it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delay(u64);

impl Delay {
    /// The longest delay: one day (RabbitMQ's TTL could go further; a retry should not).
    pub const MAX: Duration = Duration::from_secs(24 * 3600);

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a delay like 200ms, 5s, 1m or 2h");
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let factor = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(factor).ok_or_else(bad)?;
        if ms == 0 {
            return Err(format!("{text:?} must be longer than zero"));
        }
        if u128::from(ms) > Self::MAX.as_millis() {
            return Err(format!("{text:?} is longer than a day"));
        }
        Ok(Self(ms))
    }

    pub fn from_millis(ms: u64) -> Self {
        Self(ms.max(1))
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl FromStr for Delay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The retry tiers a subscriber gets unless its config (and the operator) say otherwise.
pub fn default_tiers() -> Vec<Delay> {
    vec![
        Delay::from_millis(5_000),
        Delay::from_millis(60_000),
        Delay::from_millis(600_000),
    ]
}

/// The broker answered 404 NOT_FOUND (e.g. a passive declare of a queue that does not exist).
pub fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), ErrorKind::ProtocolError(amqp)
        if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
}

/// The broker answered 403 ACCESS_REFUSED: the credentials do not allow the operation.
pub fn is_access_refused(e: &lapin::Error) -> bool {
    matches!(e.kind(), ErrorKind::ProtocolError(amqp)
        if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)))
}

/// What went wrong with a subscriber's topology.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// Something of the topology is missing and these credentials may not declare it. Retrying
    /// helps once the operator ran what the message says.
    #[error(
        "{missing} does not exist and the subscriber's credentials may not declare it: the \
         operator must run `orghubctl subscriber repair {repair}`"
    )]
    NotProvisioned { missing: String, repair: String },
    /// The broker refused or failed an operation.
    #[error("{what}: {source}")]
    Amqp { what: String, source: lapin::Error },
}

fn amqp(what: impl Into<String>) -> impl FnOnce(lapin::Error) -> TopologyError {
    let what = what.into();
    move |source| TopologyError::Amqp { what, source }
}

/// One subscriber's topology: its name and retry tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub name: SubscriberName,
    pub tiers: Vec<Delay>,
}

/// One queue of the topology with its fixed arguments.
struct QueueSpec {
    name: String,
    arguments: FieldTable,
}

impl Topology {
    pub fn new(name: SubscriberName, tiers: Vec<Delay>) -> Self {
        Self { name, tiers }
    }

    /// The arguments `orghubctl subscriber repair` needs to redeclare this topology.
    pub fn repair_arguments(&self) -> String {
        let mut out = self.name.to_string();
        if self.tiers != default_tiers() {
            for tier in &self.tiers {
                out.push_str(&format!(" --retry-tier {tier}"));
            }
        }
        out
    }

    fn queues(&self) -> Vec<QueueSpec> {
        let name = &self.name;
        let quorum = || AMQPValue::LongString("quorum".into());
        let mut out = vec![QueueSpec {
            name: name.queue(),
            arguments: table(&[
                ("x-queue-type", quorum()),
                ("x-single-active-consumer", AMQPValue::Boolean(true)),
            ]),
        }];
        for delay in &self.tiers {
            out.push(QueueSpec {
                name: name.retry(*delay),
                arguments: table(&[
                    (
                        "x-message-ttl",
                        AMQPValue::LongLongInt(i64::try_from(delay.millis()).unwrap_or(i64::MAX)),
                    ),
                    (
                        "x-dead-letter-exchange",
                        AMQPValue::LongString(name.exchange().as_str().into()),
                    ),
                    (
                        "x-dead-letter-routing-key",
                        AMQPValue::LongString(name.queue().as_str().into()),
                    ),
                ]),
            });
        }
        for queue in [name.dlq(), name.parked()] {
            out.push(QueueSpec {
                name: queue,
                arguments: table(&[("x-queue-type", quorum())]),
            });
        }
        out
    }

    /// Declares `org.events`, `sub.<name>.x` and every queue with its fixed arguments, each bound
    /// to `sub.<name>.x` with its own name. Idempotent; a queue that exists with other arguments
    /// is an error that says so. Needs configure permission: the operator's.
    pub async fn declare(&self, conn: &Connection) -> Result<(), TopologyError> {
        let ch = channel(conn).await?;
        crate::declare_events_exchange(&ch)
            .await
            .map_err(|e| match e {
                crate::BrokerError::Amqp(source) | crate::BrokerError::Connect { source, .. } => {
                    TopologyError::Amqp {
                        what: format!("declaring exchange {EXCHANGE}"),
                        source,
                    }
                }
            })?;
        let exchange = self.name.exchange();
        ch.exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(amqp(format!("declaring exchange {exchange}")))?;
        for queue in self.queues() {
            ch.queue_declare(
                queue.name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                queue.arguments,
            )
            .await
            .map_err(amqp(format!(
                "declaring queue {} (if it exists with other arguments, delete it or fix the \
                 retry tiers)",
                queue.name
            )))?;
            bind(&ch, &queue.name, &exchange, &queue.name).await?;
        }
        crate::close_channel(&ch, "topology declared").await;
        Ok(())
    }

    /// The first object of the topology that does not exist, checked with passive declares
    /// (which need no permission), or `None` when everything is there.
    pub async fn missing(&self, conn: &Connection) -> Result<Option<String>, TopologyError> {
        let mut objects = vec![(EXCHANGE.to_owned(), true), (self.name.exchange(), true)];
        objects.extend(self.queues().into_iter().map(|q| (q.name, false)));
        let mut ch = channel(conn).await?;
        for (object, is_exchange) in objects {
            let checked = if is_exchange {
                ch.exchange_declare(
                    object.as_str().into(),
                    ExchangeKind::Direct,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
            } else {
                ch.queue_declare(
                    object.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map(drop)
            };
            match checked {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {
                    // The failed passive declare closed the channel.
                    let what = if is_exchange { "exchange" } else { "queue" };
                    return Ok(Some(format!("{what} {object}")));
                }
                Err(e) => return Err(amqp(format!("checking {object}"))(e)),
            }
            if !ch.status().connected() {
                ch = channel(conn).await?;
            }
        }
        crate::close_channel(&ch, "topology checked").await;
        Ok(None)
    }

    /// Checks the topology and declares it when something is missing and the credentials allow
    /// it (administrator credentials, as in development). A least-privilege subscriber user
    /// gets [`TopologyError::NotProvisioned`], naming what the operator must run.
    pub async fn ensure(&self, conn: &Connection) -> Result<(), TopologyError> {
        let Some(missing) = self.missing(conn).await? else {
            return Ok(());
        };
        match self.declare(conn).await {
            Ok(()) => {
                tracing::info!(subscriber = %self.name, %missing, "declared the subscriber's topology");
                Ok(())
            }
            Err(TopologyError::Amqp { source, .. }) if is_access_refused(&source) => {
                Err(TopologyError::NotProvisioned {
                    missing,
                    repair: self.repair_arguments(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Binds `sub.<name>` on `org.events` with each key. The subscriber's topic permissions
    /// refuse keys outside its municipalities.
    pub async fn bind_events(
        &self,
        conn: &Connection,
        keys: &[String],
    ) -> Result<(), TopologyError> {
        let ch = channel(conn).await?;
        let queue = self.name.queue();
        for key in keys {
            bind(&ch, &queue, EXCHANGE, key).await?;
        }
        crate::close_channel(&ch, "bound").await;
        Ok(())
    }

    /// Removes bindings of `sub.<name>` on `org.events`.
    pub async fn unbind_events(
        &self,
        conn: &Connection,
        keys: &[String],
    ) -> Result<(), TopologyError> {
        let ch = channel(conn).await?;
        let queue = self.name.queue();
        for key in keys {
            ch.queue_unbind(
                queue.as_str().into(),
                EXCHANGE.into(),
                key.as_str().into(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp(format!(
                "unbinding {queue} from {EXCHANGE} with {key}"
            )))?;
        }
        crate::close_channel(&ch, "unbound").await;
        Ok(())
    }

    /// The binding keys of `sub.<name>` on `org.events`, from the management API (AMQP cannot
    /// list bindings).
    pub async fn event_bindings(
        &self,
        mgmt: &Management,
        vhost: &str,
    ) -> Result<Vec<String>, MgmtError> {
        let listed = mgmt
            .get_json(&["queues", vhost, &self.name.queue(), "bindings"])
            .await?;
        Ok(listed
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| b.get("source").and_then(Value::as_str) == Some(EXCHANGE))
            .filter_map(|b| b.get("routing_key").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }

    /// Creates or updates the policy `orghub-sub-<name>`.
    pub async fn put_policy(
        &self,
        mgmt: &Management,
        vhost: &str,
        delivery_limit: u32,
    ) -> Result<(), MgmtError> {
        mgmt.put_policy(
            vhost,
            &self.name.policy(),
            &self.name.policy_pattern(),
            "queues",
            self.name.policy_definition(delivery_limit),
            0,
        )
        .await
    }
}

fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in pairs {
        table.insert((*k).into(), v.clone());
    }
    table
}

async fn channel(conn: &Connection) -> Result<Channel, TopologyError> {
    conn.create_channel()
        .await
        .map_err(amqp("opening a channel"))
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), TopologyError> {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(amqp(format!("binding {queue} to {exchange} with {key}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SubscriberName {
        SubscriberName::parse(s).expect("valid name")
    }

    #[test]
    fn names_follow_the_agreed_pattern() {
        for ok in ["x", "fagsystem-x", "0a", "0-9", &"a".repeat(63)] {
            assert!(SubscriberName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "X", "a.b", "a_b", "æ", &"a".repeat(64)] {
            assert!(SubscriberName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_derived_name_follows_the_conventions() {
        let n = name("fagsystem-x");
        assert_eq!(n.queue(), "sub.fagsystem-x");
        assert_eq!(n.exchange(), "sub.fagsystem-x.x");
        assert_eq!(n.dlq(), "sub.fagsystem-x.dlq");
        assert_eq!(n.parked(), "sub.fagsystem-x.parked");
        assert_eq!(n.retry_prefix(), "sub.fagsystem-x.retry.");
        assert_eq!(
            n.retry(Delay::parse("1m").expect("delay")),
            "sub.fagsystem-x.retry.1m"
        );
        assert_eq!(n.user(), "sub-fagsystem-x");
        assert_eq!(n.policy(), "orghub-sub-fagsystem-x");
        assert_eq!(n.policy_pattern(), "^sub\\.fagsystem-x$");
        assert_eq!(n.token_name(), "subscriber-fagsystem-x");
        assert_eq!(n.sink_database(), "fagsystem_x");
        assert_eq!(n.configure_permission(), "^$");
        assert_eq!(n.write_permission(), "^sub\\.fagsystem-x(\\.x)?$");
        assert_eq!(n.read_permission(), "^(sub\\.fagsystem-x|org\\.events)$");
        assert_eq!(
            n.policy_definition(10),
            json!({
                "delivery-limit": 10,
                "dead-letter-exchange": "sub.fagsystem-x.x",
                "dead-letter-routing-key": "sub.fagsystem-x.dlq",
                "dead-letter-strategy": "at-least-once",
                "overflow": "reject-publish"
            })
        );
    }

    #[test]
    fn the_policy_sets_no_length_limit_that_could_refuse_publishes() {
        let def = name("x").policy_definition(DELIVERY_LIMIT);
        for key in ["max-length", "max-length-bytes", "max-age", "expires"] {
            assert!(def.get(key).is_none(), "{key} in {def}");
        }
    }

    #[test]
    fn queues_and_users_map_back_to_their_subscriber() {
        for q in [
            "sub.x",
            "sub.x.dlq",
            "sub.x.retry.5s",
            "sub.x.parked",
            "sub.x.x",
        ] {
            assert_eq!(SubscriberName::of_queue(q), Some(name("x")), "{q}");
        }
        for q in ["x", "sub.", "subx.dlq", "amq.gen-1", "sub.X"] {
            assert_eq!(SubscriberName::of_queue(q), None, "{q}");
        }
        assert_eq!(SubscriberName::of_user("sub-a-b"), Some(name("a-b")));
        assert_eq!(SubscriberName::of_user("guest"), None);
    }

    #[test]
    fn topic_permissions_round_trip_their_municipalities() {
        let ks: Vec<Kommune> = ["751", "101"]
            .iter()
            .map(|k| Kommune::parse(k).expect("k"))
            .collect();
        let regex = topic_read_permission(&ks);
        assert_eq!(regex, "^org\\.(751|101)\\.");
        assert_eq!(kommuner_of_topic_permission(&regex), ks);
        assert!(kommuner_of_topic_permission(".*").is_empty());
    }

    #[test]
    fn delays_parse_ms_s_m_and_h_and_print_in_the_largest_exact_unit() {
        for (text, ms, shown) in [
            ("200ms", 200, "200ms"),
            ("5s", 5000, "5s"),
            ("1m", 60_000, "1m"),
            ("10m", 600_000, "10m"),
            ("60s", 60_000, "1m"),
            ("1500ms", 1500, "1500ms"),
            ("2h", 7_200_000, "2h"),
        ] {
            let d = Delay::parse(text).expect(text);
            assert_eq!(d.millis(), ms, "{text}");
            assert_eq!(d.to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "5",
            "s",
            "5 s",
            "-5s",
            "5d",
            "0s",
            "25h",
            "99999999999999999999ms",
        ] {
            assert!(Delay::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_repair_command_names_tiers_only_when_they_differ_from_the_default() {
        let t = Topology::new(name("x"), default_tiers());
        assert_eq!(t.repair_arguments(), "x");
        let t = Topology::new(name("x"), vec![Delay::from_millis(100)]);
        assert_eq!(t.repair_arguments(), "x --retry-tier 100ms");
    }
}
