//! The figures of a run, rendered once as Markdown: printed at the end of the run and, unless
//! `--no-write`, spliced into `BENCHMARKS.md` between the results markers (everything outside
//! them — method, analysis — is left as written).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use orghub_contracts::Kommune;

use crate::hub::{ImportSummary, Span};
use crate::procfs::Machine;
use crate::run::Backlog;
use crate::yardstick::{self, Yardstick};

/// The marker lines around the generated section of `BENCHMARKS.md`.
pub const BEGIN: &str = "<!-- orghub-bench results: begin (rewritten by orghub-bench) -->";
pub const END: &str = "<!-- orghub-bench results: end -->";

/// How many things in how long.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    pub count: u64,
    pub seconds: f64,
}

impl Rate {
    pub fn new(count: u64, elapsed: Duration) -> Rate {
        Rate {
            count,
            seconds: elapsed.as_secs_f64(),
        }
    }

    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.count as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// CPU time and peak RSS of one process in one phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub cpu: Duration,
    pub peak_kb: u64,
}

/// What one phase cost.
#[derive(Debug, Clone, Default)]
pub struct PhaseCost {
    pub wall: Duration,
    pub events: u64,
    pub writer: Option<Cost>,
    pub subscriber: Option<Cost>,
    /// The bench process itself (HTTP client, polling).
    pub client: Duration,
    /// Backends (and autovacuum workers) of the bench's databases.
    pub postgres: Duration,
    /// The server's shared background processes (checkpointer, WAL writer, …).
    pub postgres_background: Duration,
    /// `postgres` split by client, largest first.
    pub postgres_by_client: Vec<(String, Duration)>,
    pub rabbitmq: Duration,
    pub machine_busy: Duration,
    pub machine_total: Duration,
    /// Whether the peaks are the phase's own (the reset worked) or since the process started.
    pub peak_since_phase_start: bool,
}

impl PhaseCost {
    fn per_100k(&self, cpu: Duration) -> f64 {
        if self.events == 0 {
            0.0
        } else {
            cpu.as_secs_f64() * 100_000.0 / self.events as f64
        }
    }

    /// Busy CPU time of the machine not accounted to the processes above (other work on the
    /// machine, the kernel's own threads).
    fn others(&self) -> Duration {
        let ours = self.writer.map_or(Duration::ZERO, |c| c.cpu)
            + self.subscriber.map_or(Duration::ZERO, |c| c.cpu)
            + self.client
            + self.postgres
            + self.postgres_background
            + self.rabbitmq;
        self.machine_busy.saturating_sub(ours)
    }

    fn machine_busy_percent(&self) -> f64 {
        if self.machine_total.is_zero() {
            0.0
        } else {
            100.0 * self.machine_busy.as_secs_f64() / self.machine_total.as_secs_f64()
        }
    }
}

/// Phase 2.
#[derive(Debug, Clone)]
pub struct Bulk {
    pub kommune: Kommune,
    pub entities: u64,
    pub events: u64,
    pub summary: ImportSummary,
    pub import: Rate,
    pub relay: Span,
    pub apply: Span,
    /// From the start of the import until the cache held the writer's state.
    pub converged: Duration,
    /// `Ok(n)`: the cache equals `GET /snapshot` (n entities); `Err`: how it differs.
    pub verified: Result<usize, String>,
    pub backlog: Backlog,
    pub cost: PhaseCost,
    pub average_event_bytes: f64,
}

/// Phase 3.
#[derive(Debug, Clone)]
pub struct Noop {
    pub entities: u64,
    pub rate: Rate,
    pub unchanged: u64,
    pub events: u64,
    pub cost: PhaseCost,
}

/// Phase 4.
#[derive(Debug, Clone)]
pub struct Staged {
    pub kommune: Kommune,
    pub entities: u64,
    pub events: u64,
    pub ingest: Rate,
    pub ingest_cost: PhaseCost,
    pub relay: Span,
    pub relay_cost: PhaseCost,
    pub apply: Span,
    pub apply_cost: PhaseCost,
}

/// Latencies of one live run.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// PUTs per second asked for.
    pub target_rate: u32,
    pub puts: u64,
    /// From the first PUT sent to the last.
    pub window: Duration,
    /// HTTP answer → visible in the cache, sorted.
    pub visible: Vec<Duration>,
    /// PUT sent → answered, sorted.
    pub put_response: Vec<Duration>,
    /// PUTs that failed.
    pub failed: u64,
    /// Answered PUTs whose change never showed up before the deadline.
    pub not_seen: u64,
    /// Warnings the writer logged meanwhile that a pool connection took over 2 s to get.
    pub slow_pool_acquires: usize,
}

/// Nearest-rank percentile of sorted values, in milliseconds.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

impl Latency {
    pub fn visible_ms(&self, q: f64) -> f64 {
        percentile_ms(&self.visible, q)
    }

    pub fn response_ms(&self, q: f64) -> f64 {
        percentile_ms(&self.put_response, q)
    }

    pub fn print(&self) {
        println!(
            "    visible p50 {} · p99 {} · max {} over {} PUTs ({:.0}/s); PUT answer p50 {} · p99 {}; \
             not seen {}, failed {}; writer pool waits > 2 s: {}",
            ms(self.visible_ms(0.50)),
            ms(self.visible_ms(0.99)),
            ms(self.visible_ms(1.0)),
            self.puts,
            self.rate(),
            ms(self.response_ms(0.50)),
            ms(self.response_ms(0.99)),
            self.not_seen,
            self.failed,
            self.slow_pool_acquires
        );
    }

    fn rate(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            (self.puts.saturating_sub(1)) as f64 / secs
        } else {
            0.0
        }
    }
}

/// Phase 5's bulk side.
#[derive(Debug, Clone)]
pub struct LiveBulk {
    pub latency: Latency,
    pub kommune: Kommune,
    pub entities: u64,
    pub import: Rate,
    pub converged: Option<Duration>,
}

/// Phase 6: one midnight's transitions while live changes go on.
#[derive(Debug, Clone)]
pub struct Midnight {
    pub kommune: Kommune,
    pub entities: u64,
    /// Written for the day (the writer's record), and how many changed.
    pub transitions: u64,
    pub expected: u64,
    /// The day's own run.
    pub day: Rate,
    /// From the writer's restart to the day complete, and to everything published.
    pub complete: Duration,
    pub published: Duration,
    /// The main municipality's renames meanwhile.
    pub latency: Latency,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub entities: u64,
    pub yardstick: Yardstick,
    pub bulk: Bulk,
    pub noop: Noop,
    pub staged: Staged,
    /// On the idle hub: at the configured rate, then at a quarter of it.
    pub live_idle: Vec<Latency>,
    pub live_bulk: LiveBulk,
    pub midnight: Midnight,
}

/// Where and how the run happened.
#[derive(Debug, Clone)]
pub struct Context {
    pub machine: Machine,
    pub date: String,
    pub command: String,
    pub size: String,
    pub commit: Option<String>,
}

fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rate(r: f64) -> String {
    int(r.round().max(0.0) as u64)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.0} %", 100.0 * a / b)
    } else {
        "–".into()
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn mb(kb: u64) -> String {
    format!("{:.0} MB", kb as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The results section in Markdown.
pub fn markdown(ctx: &Context, f: &Figures) -> String {
    let mut out = String::new();
    let y = &f.yardstick;
    let b = &f.bulk;
    let s = &f.staged;
    let nb = &f.noop;
    let _ = writeln!(
        out,
        "Measured {} on {}; load average at start {}{}.\n",
        ctx.date,
        ctx.machine.describe(),
        ctx.machine.load_average,
        ctx.commit
            .as_ref()
            .map(|c| format!("; commit {c}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "Command: `{}`\n", ctx.command);
    let _ = writeln!(
        out,
        "Size `{}`: {} {} with {} entities in the bulk phase; the staged phase imports {} {} and \
         the live phase {} {} alongside ({} and {} entities). Writer and subscriber run with their \
         default settings, each in its own process.\n",
        ctx.size,
        b.kommune,
        b.kommune.name(),
        int(b.entities),
        s.kommune,
        s.kommune.name(),
        f.live_bulk.kommune,
        f.live_bulk.kommune.name(),
        int(s.entities),
        int(f.live_bulk.entities),
    );

    // Targets.
    let relay_ratio = b
        .relay
        .rate()
        .map_or(f64::NAN, |r| r / y.publish.per_second());
    let staged_relay_ratio = s
        .relay
        .rate()
        .map_or(f64::NAN, |r| r / y.publish.per_second());
    let e2e = b.entities as f64 / b.converged.as_secs_f64().max(1e-9);
    let idle = f.live_idle.first().cloned().unwrap_or_default();
    let idle_p99 = idle.visible_ms(0.99);
    let idle_low = f.live_idle.get(1).cloned().unwrap_or_default();
    let writer_peak = b.cost.writer.map_or(0, |c| c.peak_kb);
    let subscriber_peak = b.cost.subscriber.map_or(0, |c| c.peak_kb);
    let _ = writeln!(out, "#### Targets\n");
    let _ = writeln!(out, "| target | reached | |\n|---|---|---|");
    // With everything running the relay can publish no faster than the writer writes: there it
    // counts as meeting the target when it keeps pace with the import (its capacity is the
    // staged figure).
    let pace = b
        .relay
        .rate()
        .map_or(f64::NAN, |r| r / b.import.per_second().max(1e-9));
    let _ = writeln!(
        out,
        "| relay publish ≥ 80 % of the raw confirm yardstick | {} alone; with everything running \
         {}, which is {} of the pace the writer wrote at | {} |",
        ratio(staged_relay_ratio, 1.0),
        ratio(relay_ratio, 1.0),
        ratio(pace, 1.0),
        verdict(staged_relay_ratio >= 0.8 && (relay_ratio >= 0.8 || pace >= 0.95))
    );
    let _ = writeln!(
        out,
        "| end-to-end bulk ≥ 5,000 entities/s | {} entities/s ({} entities converged in {}) | {} |",
        rate(e2e),
        int(b.entities),
        secs(b.converged),
        verdict(e2e >= 5000.0)
    );
    let _ = writeln!(
        out,
        "| no-op re-import of 200,000 entities < 15 s, 0 events | {} entities in {:.1} s ({} entities/s), {} events | {} |",
        int(nb.entities),
        nb.rate.seconds,
        rate(nb.rate.per_second()),
        nb.events,
        verdict(nb.events == 0 && nb.rate.per_second() * 15.0 >= 200_000.0)
    );
    let _ = writeln!(
        out,
        "| live latency p99 < 50 ms on an idle hub | p99 {} at {}/s (at {}/s: p99 {}) | {} |",
        ms(idle_p99),
        idle.target_rate,
        idle_low.target_rate,
        ms(idle_low.visible_ms(0.99)),
        verdict(idle_p99 < 50.0 && idle.not_seen == 0)
    );
    let _ = writeln!(
        out,
        "| peak RSS during the bulk < 150 MB writer, < 100 MB subscriber | writer {}, subscriber {} | {} |\n",
        mb(writer_peak),
        mb(subscriber_peak),
        verdict(writer_peak < 150 * 1024 && subscriber_peak < 100 * 1024)
    );

    // Yardsticks.
    let _ = writeln!(
        out,
        "#### Yardsticks (raw, same run, same services)\n\n\
         Messages are real encoded events of the same organisation (average body {:.0} bytes; \
         the writer's events of the bulk phase averaged {:.0} bytes), published with the relay's \
         properties to a topic exchange bound to one quorum queue.\n",
        y.average_body_bytes, b.average_event_bytes
    );
    let _ = writeln!(
        out,
        "| raw operation | count | time | rate |\n|---|---:|---:|---:|"
    );
    for (what, r, unit) in [
        (
            format!(
                "AMQP publish, confirms pipelined over a window of {}",
                int(yardstick::WINDOW as u64)
            ),
            &y.publish,
            "msg/s",
        ),
        (
            format!(
                "AMQP publish, batches of {} whose confirms are awaited before the next (the relay's pattern, no database)",
                yardstick::RELAY_BATCH
            ),
            &y.publish_batches,
            "msg/s",
        ),
        (
            format!(
                "AMQP consume back (prefetch {}, one multiple ack per {})",
                yardstick::PREFETCH,
                yardstick::ACK_EVERY
            ),
            &y.consume,
            "msg/s",
        ),
        (
            format!(
                "PostgreSQL `INSERT … SELECT FROM UNNEST`, {} `(uuid, kommune, kind, version, jsonb)` rows per statement and transaction",
                int(yardstick::PG_BATCH as u64)
            ),
            &y.pg_insert,
            "rows/s",
        ),
    ] {
        let _ = writeln!(
            out,
            "| {what} | {} | {:.1} s | {} {unit} |",
            int(r.count),
            r.seconds,
            rate(r.per_second())
        );
    }
    let per_100k = |d: Duration| d.as_secs_f64() * 100_000.0 / (y.messages.max(1) as f64);
    let _ = writeln!(
        out,
        "\nServer CPU of the raw legs, per 100,000: RabbitMQ {:.1} s to publish and consume \
         (windowed publish + consume), PostgreSQL {:.1} s to insert.\n",
        per_100k(y.broker_cpu),
        per_100k(y.database_cpu)
    );

    // Bulk.
    let _ = writeln!(
        out,
        "#### Bulk import\n\n\
         *Everything running* is production: one `POST /import` while the relay and the \
         subscriber work concurrently, so a stage can go no faster than the one feeding it. \
         *Alone* is the staged phase: each stage meets the whole backlog with the others stopped, \
         which measures its capacity.\n"
    );
    let _ = writeln!(
        out,
        "| stage | everything running | vs yardstick | alone | vs yardstick |\n|---|---:|---:|---:|---:|"
    );
    let span = |sp: &Span| match sp.rate() {
        Some(r) => format!(
            "{} events/s ({} in {:.1} s)",
            rate(r),
            int(sp.count),
            sp.seconds().unwrap_or(0.0)
        ),
        None => format!("– ({} in one batch)", int(sp.count)),
    };
    let _ = writeln!(
        out,
        "| writer ingest (`POST /import`) | {} entities/s ({:.1} s) | {} of PG insert | {} entities/s ({:.1} s) | {} of PG insert |",
        rate(b.import.per_second()),
        b.import.seconds,
        ratio(b.import.per_second(), y.pg_insert.per_second()),
        rate(s.ingest.per_second()),
        s.ingest.seconds,
        ratio(s.ingest.per_second(), y.pg_insert.per_second()),
    );
    let _ = writeln!(
        out,
        "| relay publish (first → last move of its stored position) | {} | {} of AMQP publish | {} | {} of AMQP publish |",
        span(&b.relay),
        ratio(b.relay.rate().unwrap_or(f64::NAN), y.publish.per_second()),
        span(&s.relay),
        ratio(s.relay.rate().unwrap_or(f64::NAN), y.publish.per_second()),
    );
    let _ = writeln!(
        out,
        "| subscriber apply (first → last cache `updated_at`) | {} | {} of min(consume, PG insert) | {} | {} of min(consume, PG insert) |",
        span(&b.apply),
        ratio(b.apply.rate().unwrap_or(f64::NAN), y.subscriber_leg()),
        span(&s.apply),
        ratio(s.apply.rate().unwrap_or(f64::NAN), y.subscriber_leg()),
    );
    let _ = writeln!(
        out,
        "| **end to end** (import start → cache equals snapshot) | **{} entities/s** ({} in {}) | {} of the slowest raw leg | – | – |\n",
        rate(e2e),
        int(b.entities),
        secs(b.converged),
        ratio(e2e, y.slowest_leg()),
    );
    let _ = writeln!(
        out,
        "When the import answered: {} events unpublished, {} messages in the subscriber's queue \
         (maxima sampled every 3 s and every second: {} and {}). {} Rejected lines: {}.\n",
        int(u64::try_from(b.backlog.at_import_end.unpublished).unwrap_or(0)),
        int(u64::from(b.backlog.at_import_end.queue)),
        int(u64::try_from(b.backlog.max_unpublished).unwrap_or(0)),
        int(u64::from(b.backlog.max_queue)),
        match &b.verified {
            Ok(n) => format!(
                "The cache then equalled `GET /snapshot` (uuid → version of {} entities).",
                int(*n as u64)
            ),
            Err(d) => format!("**The cache differed from `GET /snapshot`: {d}.**"),
        },
        b.summary.rejected_count,
    );

    // No-op.
    let _ = writeln!(out, "#### No-op re-import (the same file again)\n");
    let _ = writeln!(
        out,
        "| entities | time | rate | unchanged | events emitted | writer CPU |\n|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} | {:.1} s | {} entities/s | {} | {} | {} |\n",
        int(nb.entities),
        nb.rate.seconds,
        rate(nb.rate.per_second()),
        int(nb.unchanged),
        nb.events,
        nb.cost.writer.map_or_else(|| "–".into(), |c| secs(c.cpu)),
    );

    // Live.
    let _ = writeln!(
        out,
        "#### Live latency (PUT renaming a unit → the new version visible in the subscriber's cache)\n\n\
         Measured from the PUT's HTTP answer to a `NOTIFY` from a trigger on the cache table \
         (fires at the sink's commit). PUTs are sent open loop (each on its own task, at most \
         512 waiting for an answer); *achieved rate* is what was sent. The quarter rate shows the \
         pipeline's latency when the writer is not saturated. *Writer pool waits* counts the \
         writer's warnings that a request waited over 2 s for a database connection.\n"
    );
    let _ = writeln!(
        out,
        "| hub | PUTs | achieved rate | p50 | p95 | p99 | max | PUT answer p50 / p99 | not seen / failed | writer pool waits > 2 s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut runs: Vec<(String, &Latency)> = f
        .live_idle
        .iter()
        .map(|l| (format!("idle, {}/s", l.target_rate), l))
        .collect();
    runs.push((
        format!(
            "{}/s during the bulk import of {} ({} entities in {:.1} s)",
            f.live_bulk.latency.target_rate,
            f.live_bulk.kommune,
            int(f.live_bulk.entities),
            f.live_bulk.import.seconds
        ),
        &f.live_bulk.latency,
    ));
    for (label, l) in runs {
        let _ = writeln!(
            out,
            "| {label} | {} | {:.0}/s | {} | {} | {} | {} | {} / {} | {} / {} | {} |",
            int(l.puts),
            l.rate(),
            ms(l.visible_ms(0.50)),
            ms(l.visible_ms(0.95)),
            ms(l.visible_ms(0.99)),
            ms(l.visible_ms(1.0)),
            ms(l.response_ms(0.50)),
            ms(l.response_ms(0.99)),
            l.not_seen,
            l.failed,
            int(l.slow_pool_acquires as u64)
        );
    }
    if let Some(c) = f.live_bulk.converged {
        let _ = writeln!(
            out,
            "\nThe bulk import under live load converged after {} ({} entities/s end to end).",
            secs(c),
            rate(f.live_bulk.entities as f64 / c.as_secs_f64().max(1e-9))
        );
    }
    out.push('\n');
    midnight_section(&mut out, f);

    // Cost.
    let _ = writeln!(
        out,
        "#### Cost\n\nCPU seconds (per 100,000 events) and peak RSS (VmHWM, reset at the start of \
         each phase) of each process. *PostgreSQL* is the backends of the bench's two databases, \
         plus the seconds of the server's shared background processes (checkpointer, WAL and \
         background writer); other databases' backends are left out. *RabbitMQ* is the whole \
         node (`beam.smp`), which other users of the broker share. *Other processes* is the \
         machine's remaining busy CPU time (other work on the machine, kernel threads); \
         *machine busy* is the share of all cores busy during the phase.\n"
    );
    let _ = writeln!(
        out,
        "| phase | events | wall | writer CPU | writer peak RSS | subscriber CPU | subscriber peak RSS | PostgreSQL CPU | RabbitMQ CPU | bench CPU | other processes CPU | machine busy |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let cpu =
        |c: &PhaseCost, d: Duration| format!("{:.1} s ({:.1})", d.as_secs_f64(), c.per_100k(d));
    for (label, c) in [
        ("bulk, everything running", &b.cost),
        ("no-op re-import", &nb.cost),
        ("alone: ingest (writer, relay off)", &s.ingest_cost),
        ("alone: relay (relay-only writer)", &s.relay_cost),
        ("alone: apply (subscriber)", &s.apply_cost),
    ] {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} + {:.1} s | {} | {} | {} | {:.0} % |",
            int(c.events),
            secs(c.wall),
            c.writer.map_or_else(|| "–".into(), |w| cpu(c, w.cpu)),
            c.writer.map_or_else(|| "–".into(), |w| mb(w.peak_kb)),
            c.subscriber.map_or_else(|| "–".into(), |w| cpu(c, w.cpu)),
            c.subscriber.map_or_else(|| "–".into(), |w| mb(w.peak_kb)),
            cpu(c, c.postgres),
            c.postgres_background.as_secs_f64(),
            cpu(c, c.rabbitmq),
            cpu(c, c.client),
            cpu(c, c.others()),
            c.machine_busy_percent()
        );
    }
    let _ = writeln!(
        out,
        "\nPostgreSQL CPU by client (the `application_name` of each backend: the writer and \
         subscriber children, the bench's own monitoring, autovacuum), seconds per 100,000 \
         events:\n\n| phase | by client |\n|---|---|"
    );
    for (label, c) in [
        ("bulk, everything running", &b.cost),
        ("no-op re-import", &nb.cost),
        ("alone: ingest", &s.ingest_cost),
        ("alone: relay", &s.relay_cost),
        ("alone: apply", &s.apply_cost),
    ] {
        let clients: Vec<String> = c
            .postgres_by_client
            .iter()
            .map(|(name, cpu)| format!("{name} {:.1}", c.per_100k(*cpu)))
            .collect();
        let _ = writeln!(out, "| {label} | {} |", clients.join(" · "));
    }
    if !b.cost.peak_since_phase_start {
        let _ = writeln!(
            out,
            "\n(Peak RSS could not be reset per phase here; the figures are peaks since each process started.)"
        );
    }
    out
}

/// Replaces the text between [`BEGIN`] and [`END`] in `old` with `results`; appends a Results
/// section with the markers when they are missing.
pub fn splice(old: &str, results: &str) -> String {
    let body = format!("{BEGIN}\n\n{}\n\n{END}", results.trim_end());
    match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{body}{}", &old[..b], &old[e + END.len()..])
        }
        _ if old.trim().is_empty() => format!("# Benchmarks\n\n## Results\n\n{body}\n"),
        _ => format!("{}\n\n## Results\n\n{body}\n", old.trim_end()),
    }
}

/// Rewrites the results section of the file at `path`.
pub fn write(path: &Path, results: &str) -> anyhow::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    std::fs::write(path, splice(&old, results))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Phase 6 in Markdown: transitions per second against the PostgreSQL insert yardstick, live
/// latency during the transition against the idle hub's.
fn midnight_section(out: &mut String, f: &Figures) {
    let m = &f.midnight;
    let idle = f.live_idle.first();
    let _ = writeln!(
        out,
        "#### Midnight (DESIGN §4)\n\n\
         {} ({}) with {} persons, {} of them changing at one midnight (half start, half end); the \
         writer restarted with `ORGHUB_CLOCK_START` 1 s after it, so it ran the missed midnights \
         at start-up (a week of them, the last one with the transitions) while the main \
         municipality's units were renamed at {}/s.\n",
        m.kommune,
        m.kommune.name(),
        int(m.entities),
        int(m.expected),
        m.latency.target_rate,
    );
    let _ = writeln!(
        out,
        "| transitions | the day's run | transitions/s | vs PostgreSQL insert yardstick | complete / published after restart | live p99 during | vs idle p99 |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    let idle_p99 = idle.map_or(f64::NAN, |l| l.visible_ms(0.99));
    let _ = writeln!(
        out,
        "| {} of {} | {:.2} s | {} | {} | {} / {} | {} | {} |\n",
        int(m.transitions),
        int(m.expected),
        m.day.seconds,
        rate(m.day.per_second()),
        fine_ratio(m.day.per_second(), f.yardstick.pg_insert.per_second()),
        secs(m.complete),
        secs(m.published),
        ms(m.latency.visible_ms(0.99)),
        ratio(m.latency.visible_ms(0.99), idle_p99),
    );
}

/// A ratio that may be well under 1 %.
fn fine_ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2} %", 100.0 * a / b)
    } else {
        "–".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_results_section_is_replaced_and_the_rest_kept() {
        let old = format!("# B\n\nintro\n\n{BEGIN}\nold figures\n{END}\n\n## Analysis\n\nkept\n");
        let new = splice(&old, "new figures\n");
        assert_eq!(
            new,
            format!("# B\n\nintro\n\n{BEGIN}\n\nnew figures\n\n{END}\n\n## Analysis\n\nkept\n")
        );
        assert_eq!(splice(&new, "new figures"), new, "idempotent");
    }

    #[test]
    fn a_file_without_markers_gets_a_results_section() {
        assert!(splice("", "x").starts_with("# Benchmarks\n\n## Results\n\n"));
        let appended = splice("# Mine\n\ntext\n", "x");
        assert!(appended.starts_with("# Mine\n\ntext\n\n## Results\n\n"));
        assert!(appended.contains(&format!("{BEGIN}\n\nx\n\n{END}")));
    }

    #[test]
    fn numbers_are_grouped_and_percentiles_use_nearest_rank() {
        assert_eq!(int(0), "0");
        assert_eq!(int(1234), "1,234");
        assert_eq!(int(203_092), "203,092");
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&v, 0.5), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&v, 1.0), 100.0);
        assert!(percentile_ms(&[], 0.5).is_nan());
    }
}
