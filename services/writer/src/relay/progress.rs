//! Stores what the relay achieved, in the background: the confirmed position of each
//! municipality (`relay_position`) and its halts (`relay_halt`). The publishing loop hands over
//! the latest [`Progress`] and goes on; this task writes it (coalescing whatever arrived
//! meanwhile) on a connection of its own. Positions only move forward, so a late write of an
//! older position can do no harm.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio::sync::watch;

use super::backoff;
use super::halts::{self, HaltRow};

/// The relay's confirmed positions and halts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub positions: HashMap<i32, i64>,
    pub halts: BTreeMap<i32, HaltRow>,
}

/// Spawns the writer of `progress`, starting from what is `stored`. It ends once the sender is
/// gone and the last value was stored (or could not be, and said so).
pub fn spawn_writer(
    options: PgConnectOptions,
    mut stored: Progress,
    mut progress: watch::Receiver<Progress>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conn: Option<PgConnection> = None;
        let mut delays = backoff();
        loop {
            let latest = progress.borrow_and_update().clone();
            let positions: Vec<(i32, i64)> = latest
                .positions
                .iter()
                .filter(|(k, p)| stored.positions.get(*k) != Some(*p))
                .map(|(k, p)| (*k, *p))
                .collect();
            let halts = (latest.halts != stored.halts).then_some(&latest.halts);
            if !positions.is_empty() || halts.is_some() {
                match store(&mut conn, &options, &positions, halts).await {
                    Ok(()) => {
                        stored = latest;
                        delays = backoff();
                    }
                    Err(e) => {
                        conn = None;
                        if progress.has_changed().is_err() {
                            // The relay stopped: the next one publishes these events again.
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "cannot store the relay's last position"
                            );
                            return;
                        }
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "cannot store the relay's position; retrying"
                        );
                        tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))).await;
                        continue;
                    }
                }
            }
            // `changed` reports a value sent before the sender went away first, so this ends
            // only once the last progress was stored above (or could not be, and said so).
            if progress.changed().await.is_err() {
                return;
            }
        }
    })
}

async fn store(
    conn: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    positions: &[(i32, i64)],
    halts: Option<&BTreeMap<i32, HaltRow>>,
) -> Result<(), sqlx::Error> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(options.connect().await?),
    };
    if !positions.is_empty() {
        let kommuner: Vec<i32> = positions.iter().map(|p| p.0).collect();
        let through: Vec<i64> = positions.iter().map(|p| p.1).collect();
        sqlx::query(
            "INSERT INTO relay_position (kommune, published_through)
             SELECT * FROM UNNEST($1::int[], $2::bigint[])
             ON CONFLICT (kommune) DO UPDATE
             SET published_through = GREATEST(relay_position.published_through,
                                              EXCLUDED.published_through),
                 updated_at = now()",
        )
        .bind(&kommuner)
        .bind(&through)
        .execute(&mut *c)
        .await?;
    }
    if let Some(halts) = halts {
        halts::store(c, halts).await?;
    }
    Ok(())
}
