//! Measures what one phase costs: CPU time and peak RSS of the writer and subscriber children,
//! CPU time of the PostgreSQL and RabbitMQ server processes, and how busy the machine was.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::child::ChildProcess;
use crate::procfs::{self, PostgresCpu, Usage};
use crate::report::{Cost, PhaseCost};

/// The bench's databases, whose backends count as its PostgreSQL CPU.
const DATABASES: &[&str] = &[crate::env::WRITER_DB, crate::env::CACHE_DB];
/// Command names of the RabbitMQ node's processes.
const RABBITMQ: &[&str] = &["beam.smp", "erl_child_setup", "inet_gethost"];

/// A phase's starting point.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    writer: Option<(u32, Usage)>,
    subscriber: Option<(u32, Usage)>,
    client: Duration,
    postgres: PostgresCpu,
    rabbitmq: Duration,
    machine: (Duration, Duration),
    peak_reset: bool,
}

impl Meter {
    /// Starts a phase: resets the children's peak RSS and reads every CPU counter.
    pub fn start(writer: Option<&ChildProcess>, subscriber: Option<&ChildProcess>) -> Meter {
        let mut peak_reset = true;
        let mut begin = |c: Option<&ChildProcess>| {
            c.map(|c| {
                peak_reset &= c.reset_peak();
                (c.pid(), c.usage())
            })
        };
        let writer = begin(writer);
        let subscriber = begin(subscriber);
        Meter {
            started: Instant::now(),
            writer,
            subscriber,
            client: own_cpu(),
            postgres: procfs::postgres_cpu(DATABASES),
            rabbitmq: procfs::cpu_of_commands(RABBITMQ),
            machine: procfs::machine_cpu(),
            peak_reset,
        }
    }

    /// Ends the phase; `events` is what the per-100,000 figures divide by. With `db`, the
    /// PostgreSQL CPU time is also split by client (`application_name` in `pg_stat_activity`).
    pub async fn finish(&self, events: u64, db: Option<&PgPool>) -> PhaseCost {
        let end = |start: &Option<(u32, Usage)>| {
            start.map(|(pid, before)| {
                let now = procfs::usage(pid).unwrap_or_default();
                Cost {
                    cpu: now.cpu.saturating_sub(before.cpu),
                    peak_kb: now.peak_kb,
                }
            })
        };
        // Every counter is read first; only then is the database asked who is who.
        let machine = procfs::machine_cpu();
        let now = procfs::postgres_cpu(DATABASES);
        let backends = now.per_backend_since(&self.postgres);
        let mut cost = PhaseCost {
            wall: self.started.elapsed(),
            events,
            writer: end(&self.writer),
            subscriber: end(&self.subscriber),
            client: own_cpu().saturating_sub(self.client),
            postgres: backends.values().sum(),
            postgres_background: now.background.saturating_sub(self.postgres.background),
            postgres_by_client: Vec::new(),
            rabbitmq: procfs::cpu_of_commands(RABBITMQ).saturating_sub(self.rabbitmq),
            machine_busy: machine.0.saturating_sub(self.machine.0),
            machine_total: machine.1.saturating_sub(self.machine.1),
            peak_since_phase_start: self.peak_reset,
        };
        if let Some(db) = db {
            cost.postgres_by_client = by_client(&backends, db).await;
        }
        cost
    }
}

/// The bench's own CPU time (the HTTP client, generating, polling).
fn own_cpu() -> Duration {
    procfs::usage(std::process::id()).map_or(Duration::ZERO, |u| u.cpu)
}

/// Sums the backends' CPU time by client: the `application_name` the bench gave each process's
/// connections (`writer`, `writer-api`, `writer-relay`, `subscriber`, `orghub-bench` …), or the
/// backend type (`autovacuum worker`). Backends gone by now are summed as `exited`.
async fn by_client(backends: &HashMap<u32, Duration>, db: &PgPool) -> Vec<(String, Duration)> {
    let names: Vec<(i32, String)> = sqlx::query_as(
        "SELECT pid, coalesce(nullif(application_name, ''), backend_type, '?')
         FROM pg_stat_activity WHERE datname = ANY($1)",
    )
    .bind(DATABASES)
    .fetch_all(db)
    .await
    .unwrap_or_default();
    let names: HashMap<u32, String> = names
        .into_iter()
        .filter_map(|(pid, name)| Some((u32::try_from(pid).ok()?, name)))
        .collect();
    let mut sums: BTreeMap<String, Duration> = BTreeMap::new();
    for (pid, cpu) in backends {
        let name = match names.get(pid) {
            // The relay's sessions (lock and reads, positions) are `orghub-relay@<host>:<pid>…`.
            Some(n) if n.starts_with("orghub-relay@") => "writer relay".to_owned(),
            Some(n) => n.clone(),
            None => "exited".to_owned(),
        };
        *sums.entry(name).or_default() += *cpu;
    }
    let mut out: Vec<(String, Duration)> = sums
        .into_iter()
        .filter(|(_, cpu)| *cpu >= Duration::from_millis(50))
        .collect();
    out.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    out
}
