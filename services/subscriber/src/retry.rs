//! Retry as its own concern: the policy (in-process retries, delayed tiers, the broker's delivery
//! limit) and the decision of what happens to a failed
//! delivery next.
//!
//! Classification itself happens where the failure is understood: a [`DecodeError`] is always
//! permanent (the same bytes never decode), a sink says [`SinkError::Transient`] or
//! [`SinkError::Permanent`](crate::sink::SinkError::Permanent). This module turns "transient,
//! attempt n" into "try again here / wait in tier t / give up".
//!
//! [`DecodeError`]: orghub_contracts::DecodeError
//! [`SinkError::Transient`]: crate::sink::SinkError::Transient

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

pub use orghub_broker::Delay;

/// How often and how patiently a transiently failing delivery is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries inside the process after the first attempt, with jittered exponential backoff
    /// between `backoff_min` and `backoff_max`.
    pub in_process: u32,
    /// Delayed retries: the delivery waits in `sub.<name>.retry.<tier>` and comes back.
    pub tiers: Vec<Delay>,
    /// Broker-side redeliveries (requeues) before RabbitMQ dead-letters on its own; set by policy.
    pub delivery_limit: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            in_process: 3,
            tiers: orghub_broker::subscriber::default_tiers(),
            delivery_limit: 10,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// What happens to a delivery whose in-process attempts all failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Wait in this tier (index into [`RetryPolicy::tiers`]).
    Delay(usize),
    /// Every tier was used: dead-letter it as `retries-exhausted`.
    GiveUp,
}

impl RetryPolicy {
    /// The in-process backoff delays, jittered: at most `in_process` of them.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.backoff_min)
            .with_max_delay(self.backoff_max)
            .with_factor(2.0)
            .with_max_times(self.in_process as usize)
            .with_jitter()
            .build()
    }

    /// After `delayed_so_far` delayed retries (the `orghub-retries` header; absent = 0), where
    /// does the next one go?
    pub fn after_in_process(&self, delayed_so_far: u32) -> NextStep {
        let next = delayed_so_far as usize;
        if next < self.tiers.len() {
            NextStep::Delay(next)
        } else {
            NextStep::GiveUp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_the_last_tier_the_delivery_is_given_up() {
        let p = RetryPolicy::default();
        assert_eq!(p.after_in_process(0), NextStep::Delay(0));
        assert_eq!(p.after_in_process(2), NextStep::Delay(2));
        assert_eq!(p.after_in_process(3), NextStep::GiveUp);
        let none = RetryPolicy {
            tiers: Vec::new(),
            ..RetryPolicy::default()
        };
        assert_eq!(none.after_in_process(0), NextStep::GiveUp);
    }

    #[test]
    fn in_process_backoff_yields_as_many_bounded_delays_as_configured() {
        let p = RetryPolicy {
            in_process: 4,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            ..RetryPolicy::default()
        };
        let delays: Vec<Duration> = p.backoff().collect();
        assert_eq!(delays.len(), 4);
        // Jitter adds up to one more delay's worth on top of the exponential value.
        assert!(
            delays.iter().all(|d| *d <= Duration::from_millis(80)),
            "{delays:?}"
        );
    }
}
