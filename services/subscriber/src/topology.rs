//! The subscriber's RabbitMQ topology, declared idempotently on every (re)connect, and the
//! policy that gives its queue a delivery limit and at-least-once dead-lettering.
//!
//! Per subscriber `<name>` (the names `orghubctl` relies on):
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
//! `at-least-once` (which requires `overflow: reject-publish`).
//!
//! Bindings on `org.events` that the config no longer has are found through the management API
//! (`GET /api/queues/{vhost}/{queue}/bindings`) and removed; without management access they stay,
//! with a warning.

use std::collections::BTreeSet;

use anyhow::Context;
use orghub_broker::lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use orghub_broker::lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use orghub_broker::lapin::types::{AMQPValue, FieldTable};
use orghub_broker::lapin::{Channel, Connection, ErrorKind, ExchangeKind};
use orghub_broker::mgmt::{Management, MgmtError};
use orghub_contracts::amqp::EXCHANGE;
use serde_json::{Value, json};

use crate::config::SubscriberName;
use crate::retry::{Delay, RetryPolicy};

/// The names of one subscriber's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub subscriber: String,
    /// `sub.<name>`: the queue events arrive in.
    pub queue: String,
    /// `sub.<name>.x`: the subscriber's own direct exchange.
    pub exchange: String,
    /// `sub.<name>.dlq`.
    pub dlq: String,
    /// `sub.<name>.parked`.
    pub parked: String,
}

impl Names {
    pub fn new(name: &SubscriberName) -> Self {
        let queue = format!("sub.{name}");
        Names {
            subscriber: name.to_string(),
            exchange: format!("{queue}.x"),
            dlq: format!("{queue}.dlq"),
            parked: format!("{queue}.parked"),
            queue,
        }
    }

    /// `sub.<name>.retry.<delay>`.
    pub fn retry(&self, delay: Delay) -> String {
        format!("{}.retry.{delay}", self.queue)
    }

    /// `orghub-sub-<name>`.
    pub fn policy(&self) -> String {
        format!("orghub-sub-{}", self.subscriber)
    }

    /// `^sub\.<name>$` (the name has no other regex metacharacters).
    pub fn policy_pattern(&self) -> String {
        format!("^{}$", self.queue.replace('.', "\\."))
    }

    /// The policy's definition.
    pub fn policy_definition(&self, delivery_limit: u32) -> Value {
        json!({
            "delivery-limit": delivery_limit,
            "dead-letter-exchange": self.exchange,
            "dead-letter-routing-key": self.dlq,
            "dead-letter-strategy": "at-least-once",
            "overflow": "reject-publish",
        })
    }
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in pairs {
        table.insert((*k).into(), v.clone());
    }
    table
}

fn quorum() -> AMQPValue {
    AMQPValue::LongString("quorum".into())
}

/// Declares everything of the table above and binds `sub.<name>` with `routing_keys` on
/// `org.events`. Idempotent; a queue that exists with other arguments is an error that says so.
pub async fn declare(
    conn: &Connection,
    names: &Names,
    retry: &RetryPolicy,
    routing_keys: &[String],
) -> anyhow::Result<()> {
    ensure_events_exchange(conn).await?;
    let ch = conn.create_channel().await.context("opening a channel")?;
    ch.exchange_declare(
        names.exchange.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .with_context(|| format!("declaring exchange {}", names.exchange))?;

    let main_args = args(&[
        ("x-queue-type", quorum()),
        ("x-single-active-consumer", AMQPValue::Boolean(true)),
    ]);
    declare_queue(&ch, &names.queue, main_args).await?;
    bind(&ch, &names.queue, &names.exchange, &names.queue).await?;

    for delay in &retry.tiers {
        let queue = names.retry(*delay);
        let retry_args = args(&[
            (
                "x-message-ttl",
                AMQPValue::LongLongInt(i64::try_from(delay.millis()).unwrap_or(i64::MAX)),
            ),
            (
                "x-dead-letter-exchange",
                AMQPValue::LongString(names.exchange.as_str().into()),
            ),
            (
                "x-dead-letter-routing-key",
                AMQPValue::LongString(names.queue.as_str().into()),
            ),
        ]);
        declare_queue(&ch, &queue, retry_args).await?;
        bind(&ch, &queue, &names.exchange, &queue).await?;
    }
    for queue in [&names.dlq, &names.parked] {
        declare_queue(&ch, queue, args(&[("x-queue-type", quorum())])).await?;
        bind(&ch, queue, &names.exchange, queue).await?;
    }
    for key in routing_keys {
        bind(&ch, &names.queue, EXCHANGE, key).await?;
    }
    orghub_broker::close_channel(&ch, "topology declared").await;
    Ok(())
}

async fn declare_queue(ch: &Channel, queue: &str, arguments: FieldTable) -> anyhow::Result<()> {
    ch.queue_declare(queue.into(), durable(), arguments)
        .await
        .with_context(|| {
            format!(
                "declaring queue {queue} (if it exists with other arguments, delete it or fix \
                 the config)"
            )
        })?;
    Ok(())
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) -> anyhow::Result<()> {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .with_context(|| format!("binding {queue} to {exchange} with {key}"))?;
    Ok(())
}

/// `org.events` is the writer's; a least-privilege subscriber user may not declare it, so check
/// for it passively first and declare it only if it is missing (a fresh broker).
async fn ensure_events_exchange(conn: &Connection) -> anyhow::Result<()> {
    let ch = conn.create_channel().await.context("opening a channel")?;
    let passive = ch
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match passive {
        Ok(()) => {
            orghub_broker::close_channel(&ch, "checked").await;
            Ok(())
        }
        Err(e) if is_not_found(&e) => {
            // The failed passive declare closed that channel.
            let ch = conn.create_channel().await.context("opening a channel")?;
            orghub_broker::declare_events_exchange(&ch)
                .await
                .context("declaring the org.events exchange")?;
            orghub_broker::close_channel(&ch, "declared").await;
            Ok(())
        }
        Err(e) => Err(e).context("checking for the org.events exchange"),
    }
}

fn is_not_found(e: &orghub_broker::lapin::Error) -> bool {
    matches!(e.kind(), ErrorKind::ProtocolError(amqp)
        if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
}

/// Removes bindings of `sub.<name>` on `org.events` that are not in `routing_keys`. Needs the
/// management API to list them; without it, logs a warning and leaves them.
pub async fn unbind_stale(
    conn: &Connection,
    mgmt: &Management,
    vhost: &str,
    names: &Names,
    routing_keys: &[String],
) -> anyhow::Result<Vec<String>> {
    let listed = mgmt
        .get_json(&["queues", vhost, &names.queue, "bindings"])
        .await;
    let bindings = match listed {
        Ok(Some(Value::Array(list))) => list,
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot list the queue's bindings through the management API; bindings removed \
                 from the config stay until removed by hand"
            );
            return Ok(Vec::new());
        }
    };
    let wanted: BTreeSet<&str> = routing_keys.iter().map(String::as_str).collect();
    let stale: Vec<String> = bindings
        .iter()
        .filter(|b| b.get("source").and_then(Value::as_str) == Some(EXCHANGE))
        .filter_map(|b| b.get("routing_key").and_then(Value::as_str))
        .filter(|key| !wanted.contains(key))
        .map(str::to_owned)
        .collect();
    if stale.is_empty() {
        return Ok(stale);
    }
    let ch = conn.create_channel().await.context("opening a channel")?;
    for key in &stale {
        ch.queue_unbind(
            names.queue.as_str().into(),
            EXCHANGE.into(),
            key.as_str().into(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("unbinding {} from {EXCHANGE} with {key}", names.queue))?;
        tracing::info!(queue = %names.queue, routing_key = %key, "removed a binding no longer in the config");
    }
    orghub_broker::close_channel(&ch, "unbound").await;
    Ok(stale)
}

/// How applying the policy went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// Created or updated by this process.
    Applied,
    /// No permission to set it, but it exists (set by `orghubctl subscriber create`).
    AlreadyThere,
    /// Neither set nor confirmed; the subscriber runs without a broker-side delivery limit.
    Missing(String),
}

/// Sets the policy; on 401/403 (a least-privilege user) checks whether it exists. Never fails:
/// the runtime's own retries work without it, so problems are logged, not fatal.
pub async fn apply_policy(
    mgmt: &Management,
    vhost: &str,
    names: &Names,
    delivery_limit: u32,
) -> PolicyOutcome {
    let put = mgmt
        .put_policy(
            vhost,
            &names.policy(),
            &names.policy_pattern(),
            "queues",
            names.policy_definition(delivery_limit),
            0,
        )
        .await;
    let outcome = match put {
        Ok(()) => PolicyOutcome::Applied,
        Err(e) if is_unauthorised(&e) => {
            match mgmt.get_json(&["policies", vhost, &names.policy()]).await {
                Ok(Some(_)) => PolicyOutcome::AlreadyThere,
                Ok(None) => PolicyOutcome::Missing(format!(
                    "no permission to set policy {} and it does not exist; run `orghubctl subscriber \
                 create` as an administrator",
                    names.policy()
                )),
                Err(check) => PolicyOutcome::Missing(format!(
                    "no permission to set policy {} ({e}) nor to check for it ({check})",
                    names.policy()
                )),
            }
        }
        Err(e) => PolicyOutcome::Missing(format!("cannot set policy {}: {e}", names.policy())),
    };
    match &outcome {
        PolicyOutcome::Applied => {
            tracing::info!(policy = %names.policy(), delivery_limit, "policy applied")
        }
        PolicyOutcome::AlreadyThere => {
            tracing::info!(policy = %names.policy(), "policy present (set by an administrator)")
        }
        PolicyOutcome::Missing(why) => tracing::warn!(
            policy = %names.policy(),
            "{why}; the queue has no broker-side delivery limit or dead-lettering"
        ),
    }
    outcome
}

fn is_unauthorised(e: &MgmtError) -> bool {
    e.status()
        .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions_shared_with_orghubctl() {
        let names = Names::new(&SubscriberName::parse("fagsystem-x").expect("name"));
        assert_eq!(names.queue, "sub.fagsystem-x");
        assert_eq!(names.exchange, "sub.fagsystem-x.x");
        assert_eq!(names.dlq, "sub.fagsystem-x.dlq");
        assert_eq!(names.parked, "sub.fagsystem-x.parked");
        assert_eq!(
            names.retry(Delay::parse("1m").expect("delay")),
            "sub.fagsystem-x.retry.1m"
        );
        assert_eq!(names.policy(), "orghub-sub-fagsystem-x");
        assert_eq!(names.policy_pattern(), "^sub\\.fagsystem-x$");
        assert_eq!(
            names.policy_definition(10),
            json!({
                "delivery-limit": 10,
                "dead-letter-exchange": "sub.fagsystem-x.x",
                "dead-letter-routing-key": "sub.fagsystem-x.dlq",
                "dead-letter-strategy": "at-least-once",
                "overflow": "reject-publish"
            })
        );
    }
}
