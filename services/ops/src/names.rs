//! Subscriber names and every RabbitMQ and writer name derived from one, spelled once: the
//! conventions agreed with the subscriber runtime (queues, exchange, policy, user, token,
//! permission regexes).

use std::fmt;
use std::str::FromStr;

use orghub_contracts::Kommune;
use serde_json::{Value, json};

/// The delivery limit of the subscriber policy: failed attempts (`basic.reject`) before the
/// broker dead-letters a message on its own.
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

    /// The policy's definition.
    pub fn policy_definition(&self) -> Value {
        json!({
            "delivery-limit": DELIVERY_LIMIT,
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

    /// Configure permission: its own queues and exchange, `^sub\.<name>(\..*)?$`.
    pub fn configure_permission(&self) -> String {
        format!("^sub\\.{}(\\..*)?$", self.0)
    }

    /// Write permission (publishing to exchanges, binding queues): the same as configure.
    pub fn write_permission(&self) -> String {
        self.configure_permission()
    }

    /// Read permission (consuming, binding from exchanges): its own resources and `org.events`.
    pub fn read_permission(&self) -> String {
        format!(
            "^(sub\\.{}(\\..*)?|{})$",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SubscriberName {
        SubscriberName::parse(s).expect("valid name")
    }

    #[test]
    fn names_follow_the_agreed_pattern() {
        for ok in ["x", "fagsystem-x", "0a", &"a".repeat(63)] {
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
        assert_eq!(n.user(), "sub-fagsystem-x");
        assert_eq!(n.policy(), "orghub-sub-fagsystem-x");
        assert_eq!(n.policy_pattern(), "^sub\\.fagsystem-x$");
        assert_eq!(n.token_name(), "subscriber-fagsystem-x");
        assert_eq!(n.sink_database(), "fagsystem_x");
        assert_eq!(n.configure_permission(), "^sub\\.fagsystem-x(\\..*)?$");
        assert_eq!(
            n.read_permission(),
            "^(sub\\.fagsystem-x(\\..*)?|org\\.events)$"
        );
        let def = n.policy_definition();
        assert_eq!(def["delivery-limit"], 10);
        assert_eq!(def["dead-letter-exchange"], "sub.fagsystem-x.x");
        assert_eq!(def["dead-letter-routing-key"], "sub.fagsystem-x.dlq");
        assert_eq!(def["dead-letter-strategy"], "at-least-once");
        assert_eq!(def["overflow"], "reject-publish");
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
}
