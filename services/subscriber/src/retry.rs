//! Retry as its own concern: the policy (in-process retries, delayed tiers, the broker's delivery
//! limit), the delay names that become queue names, and the decision of what happens to a failed
//! delivery next.
//!
//! Classification itself happens where the failure is understood: a [`DecodeError`] is always
//! permanent (the same bytes never decode), a sink says [`SinkError::Transient`] or
//! [`SinkError::Permanent`](crate::sink::SinkError::Permanent). This module turns "transient,
//! attempt n" into "try again here / wait in tier t / give up".
//!
//! [`DecodeError`]: orghub_contracts::DecodeError
//! [`SinkError::Transient`]: crate::sink::SinkError::Transient

use std::fmt;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

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
            tiers: vec![
                Delay::from_millis(5_000),
                Delay::from_millis(60_000),
                Delay::from_millis(600_000),
            ],
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
