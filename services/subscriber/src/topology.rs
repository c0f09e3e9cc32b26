//! The subscriber's side of its topology. The conventions (names, queues, arguments, policy,
//! permissions) are `orghub_broker::subscriber`'s; the operator declares them with
//! `orghubctl subscriber create|repair`.
//!
//! At every (re)connect the runtime checks the topology and binds the config's keys on
//! `org.events` ([`prepare`]); [`Topology::ensure`] declares what is missing only when the
//! credentials allow it (administrator credentials in development), and otherwise names the
//! `orghubctl` command the operator must run. The first time, with a `management_url` whose user
//! may (development again), it also sets the policy and removes bindings the config no longer
//! has; a provisioned subscriber has no management access, so its stale bindings stay, with a
//! warning, until the operator removes them.

use std::collections::BTreeSet;

use orghub_broker::mgmt::{Management, MgmtError};
use orghub_broker::{Topology, TopologyError};

/// Checks (or, where allowed, declares) the topology and binds `routing_keys`.
pub async fn prepare(
    conn: &orghub_broker::Connection,
    topology: &Topology,
    routing_keys: &[String],
) -> Result<(), TopologyError> {
    topology.ensure(conn).await?;
    topology.bind_events(conn, routing_keys).await
}

/// Removes bindings of `sub.<name>` on `org.events` that are not in `routing_keys`. Needs the
/// management API to list them; without it, logs a warning and leaves them.
pub async fn unbind_stale(
    conn: &orghub_broker::Connection,
    mgmt: &Management,
    vhost: &str,
    topology: &Topology,
    routing_keys: &[String],
) -> Result<Vec<String>, TopologyError> {
    let bound = match topology.event_bindings(mgmt, vhost).await {
        Ok(bound) => bound,
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
    let stale: Vec<String> = bound
        .into_iter()
        .filter(|key| !wanted.contains(key.as_str()))
        .collect();
    if !stale.is_empty() {
        topology.unbind_events(conn, &stale).await?;
        tracing::info!(queue = %topology.name.queue(), routing_keys = ?stale, "removed bindings no longer in the config");
    }
    Ok(stale)
}

/// How applying the policy went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// Created or updated by this process.
    Applied,
    /// These credentials may not set policies: the operator's `orghubctl subscriber create`
    /// did.
    Operators,
    /// The management API failed otherwise.
    Failed(String),
}

/// Sets the policy. Never fails: the runtime's own retries work without it, so problems are
/// logged, not fatal.
pub async fn apply_policy(
    mgmt: &Management,
    vhost: &str,
    topology: &Topology,
    delivery_limit: u32,
) -> PolicyOutcome {
    let policy = topology.name.policy();
    let outcome = match topology.put_policy(mgmt, vhost, delivery_limit).await {
        Ok(()) => PolicyOutcome::Applied,
        Err(e) if is_unauthorised(&e) => PolicyOutcome::Operators,
        Err(e) => PolicyOutcome::Failed(e.to_string()),
    };
    match &outcome {
        PolicyOutcome::Applied => tracing::info!(%policy, delivery_limit, "policy applied"),
        PolicyOutcome::Operators => {
            tracing::info!(%policy, "the policy is the operator's (orghubctl subscriber create)")
        }
        PolicyOutcome::Failed(why) => tracing::warn!(%policy, "cannot set the policy: {why}"),
    }
    outcome
}

fn is_unauthorised(e: &MgmtError) -> bool {
    e.status()
        .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403)
}
