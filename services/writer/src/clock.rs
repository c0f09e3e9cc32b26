//! The writer's one clock (DESIGN §3 *Clock*): everything the writer dates — today in
//! Europe/Copenhagen, `registered_at`, an event's `time`, the midnight transitions — reads it.
//!
//! By default it is the system clock. `ORGHUB_CLOCK_START=<RFC 3339>` starts it at that instant
//! when the writer starts and lets it run at real speed from there, so tests and demos can
//! cross a midnight in seconds. It is a fixed offset from the system clock: cheap to copy into
//! every task that dates something.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Europe::Copenhagen;

/// The writer's clock: the system clock moved by a fixed offset (zero unless
/// `ORGHUB_CLOCK_START` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    offset: TimeDelta,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that reads `start` now and runs at real speed from here.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Clock {
            offset: start - Utc::now(),
        }
    }

    /// Whether this clock differs from the system clock.
    pub fn is_set(&self) -> bool {
        self.offset != TimeDelta::zero()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// The Europe/Copenhagen date now: what "today" means for `current`.
    pub fn today(&self) -> NaiveDate {
        copenhagen_date(self.now())
    }

    /// The first Europe/Copenhagen midnight after now.
    pub fn next_midnight(&self) -> DateTime<Utc> {
        let tomorrow = self
            .today()
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX);
        midnight(tomorrow)
    }
}

/// The Europe/Copenhagen date at `t`.
pub fn copenhagen_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Copenhagen).date_naive()
}

/// The instant `day` begins in Europe/Copenhagen. (Danish clocks change at 02:00 and 03:00, so
/// midnight always exists exactly once; the fallback only keeps the function total.)
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_time(chrono::NaiveTime::MIN);
    Copenhagen
        .from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// `ORGHUB_CLOCK_START`: an RFC 3339 instant (any offset), kept in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStart(pub DateTime<Utc>);

impl FromStr for ClockStart {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(s.trim())
            .map(|t| ClockStart(t.with_timezone(&Utc)))
            .map_err(|e| {
                format!("{s:?} is not an RFC 3339 instant (e.g. 2026-12-31T23:59:40+01:00): {e}")
            })
    }
}

impl fmt::Display for ClockStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_clock_runs_from_its_start_at_real_speed() {
        let start: ClockStart = "2026-12-31T23:59:40+01:00".parse().expect("RFC 3339");
        let clock = Clock::starting_at(start.0);
        assert!(clock.is_set());
        let drift = (clock.now() - start.0).num_milliseconds();
        assert!((0..1000).contains(&drift), "{drift} ms");
        assert_eq!(
            clock.today(),
            NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")
        );
        assert_eq!(
            clock.next_midnight(),
            "2026-12-31T23:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("instant")
        );
    }

    #[test]
    fn midnight_is_copenhagen_midnight_in_summer_and_winter() {
        let summer = NaiveDate::from_ymd_opt(2026, 7, 1).expect("date");
        let winter = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        assert_eq!(midnight(summer).to_rfc3339(), "2026-06-30T22:00:00+00:00");
        assert_eq!(midnight(winter).to_rfc3339(), "2025-12-31T23:00:00+00:00");
        assert_eq!(copenhagen_date(midnight(summer)), summer);
    }

    #[test]
    fn a_clock_start_must_be_rfc_3339() {
        assert!("23:59:30".parse::<ClockStart>().is_err());
        assert!("2026-12-31 23:59".parse::<ClockStart>().is_err());
    }
}
