//! Midnight (DESIGN §4): just after each midnight Europe/Copenhagen by the writer's clock, and at
//! start-up for the midnights no writer ran, every entity whose current segment changed without
//! a write gets exactly one `effective` or `expired` event ([`crate::store::midnight`] writes
//! them).
//!
//! **What a consumer can rely on.** Missed midnights are caught up *each in order*, not as one
//! net change: after a downtime across several midnights the writer runs every missed day, oldest
//! first, and an entity gets one event per day on which its `current` changed (e.g. an engagement
//! that started and ended while no writer ran gives `effective` and then `expired`). Each such
//! event's document has `current` as of the day it is for, its `time` is when it was written
//! (the catch-up); the last event of an entity always has today's `current`. Never two
//! transitions for one entity and date (a database constraint), whatever the number of writers
//! and restarts. A write on the day itself (after midnight) already carries the new `current`,
//! so it gets no transition. A downtime longer than [`MAX_CATCH_UP_DAYS`] folds the oldest days
//! into the first day it runs (one net event per entity for them). The first writer of a
//! database starts counting at its own day.
//!
//! Exactly one writer runs the midnights: it takes a PostgreSQL session advisory lock on a
//! dedicated connection (as the relay does) for the run; the others find the day complete or
//! the lock held and look again [`RECHECK`] later, so a writer that dies mid-run is taken over.

use std::time::Duration;

use chrono::NaiveDate;
use orghub_runtime::Shutdown;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::store::{Store, StoreError};

/// The advisory lock key of the midnight run ("orghub-m" in ASCII).
pub const MIDNIGHT_LOCK_KEY: i64 = 0x6f72_6768_7562_2d6d;
/// The `application_name` prefix of the session that holds the lock.
pub const MIDNIGHT_APPLICATION_NAME: &str = "orghub-midnight";
/// The most missed midnights run one by one at start-up; older ones fold into the first.
pub const MAX_CATCH_UP_DAYS: u64 = 62;
/// How often a writer looks whether today's midnight is still to run (another writer holding
/// the lock may have died), besides just after each midnight.
pub const RECHECK: Duration = Duration::from_secs(30);
/// How long after midnight the run starts: the clock's midnight, not a moment before it.
const AFTER_MIDNIGHT: Duration = Duration::from_millis(50);

/// Runs until shutdown: the missed midnights now, then each midnight as it comes.
pub async fn run(store: Store, database_url: String, shutdown: Shutdown) {
    let clock = store.clock();
    loop {
        match catch_up(&store, &database_url, &shutdown).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "midnight transition interrupted; retrying"),
        }
        let until = (clock.next_midnight() - clock.now())
            .to_std()
            .unwrap_or_default()
            + AFTER_MIDNIGHT;
        tokio::select! {
            () = tokio::time::sleep(until.min(RECHECK)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Runs every midnight from the last complete one to today, unless another writer holds the
/// lock. Cheap when there is nothing to do: one query.
pub async fn catch_up(
    store: &Store,
    database_url: &str,
    shutdown: &Shutdown,
) -> Result<(), StoreError> {
    let today = store.today();
    if store.midnight_last_day().await?.is_some_and(|d| d >= today) {
        return Ok(());
    }
    let name = format!("{MIDNIGHT_APPLICATION_NAME}:{}", std::process::id());
    let options: PgConnectOptions = database_url
        .parse::<PgConnectOptions>()?
        .application_name(&name);
    let mut lock: PgConnection = options.connect().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(MIDNIGHT_LOCK_KEY)
        .fetch_one(&mut lock)
        .await?;
    if !got {
        let _ = lock.close().await;
        return Ok(());
    }
    let result = run_days(store, today, shutdown).await;
    // Closing the session releases the lock whatever happened.
    let _ = lock.close().await;
    result
}

/// Under the lock: the days after the last complete one up to `today`, oldest first.
async fn run_days(store: &Store, today: NaiveDate, shutdown: &Shutdown) -> Result<(), StoreError> {
    let Some(last) = store.midnight_last_day().await? else {
        tracing::info!(%today, "first midnight record of this database: counting from today");
        return store.midnight_baseline(today).await;
    };
    for (day, boundaries) in plan(last, today) {
        let started = std::time::Instant::now();
        let done = store.midnight_day(day, &boundaries, shutdown).await?;
        if !done.complete {
            return Ok(());
        }
        tracing::info!(
            %day,
            effective = done.effective,
            expired = done.expired,
            took = ?started.elapsed(),
            "midnight transition written"
        );
    }
    Ok(())
}

/// The days to run after `last` up to `today`, each with the boundary dates whose entities it
/// looks at: the day itself, and for the first of a downtime longer than
/// [`MAX_CATCH_UP_DAYS`] every day folded into it.
fn plan(last: NaiveDate, today: NaiveDate) -> Vec<(NaiveDate, Vec<NaiveDate>)> {
    let missed: Vec<NaiveDate> = last
        .iter_days()
        .skip(1)
        .take_while(|d| *d <= today)
        .collect();
    let fold = missed
        .len()
        .saturating_sub(usize::try_from(MAX_CATCH_UP_DAYS).unwrap_or(usize::MAX));
    let mut out = Vec::new();
    for (i, day) in missed.iter().enumerate().skip(fold) {
        let boundaries = if i == fold {
            missed[..=i].to_vec()
        } else {
            vec![*day]
        };
        out.push((*day, boundaries));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn each_missed_midnight_runs_in_order() {
        let p = plan(d("2026-12-29"), d("2027-01-01"));
        let days: Vec<_> = p.iter().map(|x| x.0).collect();
        assert_eq!(days, [d("2026-12-30"), d("2026-12-31"), d("2027-01-01")]);
        assert!(p.iter().all(|(day, b)| b == &vec![*day]));
        assert!(plan(d("2027-01-01"), d("2027-01-01")).is_empty());
        assert!(plan(d("2027-01-02"), d("2027-01-01")).is_empty());
    }

    #[test]
    fn a_long_downtime_folds_its_oldest_days_into_the_first_run() {
        let p = plan(d("2026-01-01"), d("2026-12-31"));
        assert_eq!(p.len(), 62);
        let (first, boundaries) = &p[0];
        assert_eq!(boundaries.first(), Some(&d("2026-01-02")));
        assert_eq!(boundaries.last(), Some(first));
        assert_eq!(p.last().map(|x| x.0), Some(d("2026-12-31")));
    }
}
