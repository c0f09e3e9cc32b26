//! Measures what one phase costs: CPU time and peak RSS of the writer and subscriber children,
//! CPU time of the PostgreSQL and RabbitMQ server processes, and how busy the machine was.

use std::time::{Duration, Instant};

use crate::child::ChildProcess;
use crate::procfs::{self, Usage};
use crate::report::{Cost, PhaseCost};

/// Command names of the server processes whose CPU time is counted.
const POSTGRES: &[&str] = &["postgres"];
const RABBITMQ: &[&str] = &["beam.smp", "erl_child_setup", "inet_gethost"];

/// A phase's starting point.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    writer: Option<(u32, Usage)>,
    subscriber: Option<(u32, Usage)>,
    client: Duration,
    postgres: Duration,
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
            postgres: procfs::cpu_of_commands(POSTGRES),
            rabbitmq: procfs::cpu_of_commands(RABBITMQ),
            machine: procfs::machine_cpu(),
            peak_reset,
        }
    }

    /// Ends the phase; `events` is what the per-100,000 figures divide by.
    pub fn finish(&self, events: u64) -> PhaseCost {
        let end = |start: &Option<(u32, Usage)>| {
            start.map(|(pid, before)| {
                let now = procfs::usage(pid).unwrap_or_default();
                Cost {
                    cpu: now.cpu.saturating_sub(before.cpu),
                    peak_kb: now.peak_kb,
                }
            })
        };
        let machine = procfs::machine_cpu();
        PhaseCost {
            wall: self.started.elapsed(),
            events,
            writer: end(&self.writer),
            subscriber: end(&self.subscriber),
            client: own_cpu().saturating_sub(self.client),
            postgres: procfs::cpu_of_commands(POSTGRES).saturating_sub(self.postgres),
            rabbitmq: procfs::cpu_of_commands(RABBITMQ).saturating_sub(self.rabbitmq),
            machine_busy: machine.0.saturating_sub(self.machine.0),
            machine_total: machine.1.saturating_sub(self.machine.1),
            peak_since_phase_start: self.peak_reset,
        }
    }
}

/// The bench's own CPU time (the HTTP client, generating, polling).
fn own_cpu() -> Duration {
    procfs::usage(std::process::id()).map_or(Duration::ZERO, |u| u.cpu)
}
