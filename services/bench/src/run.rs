//! The phases of one run, in order, against the prepared environment:
//!
//! 1. yardsticks (raw AMQP publish/consume, raw PostgreSQL insert);
//! 2. bulk: import municipality 751 with the writer (API + relay) and the subscriber (postgres
//!    sink) running, as in production;
//! 3. no-op: import the same file again;
//! 4. staged: municipality 851 with one stage at a time, so each meets a full backlog: import
//!    with the relay off and the subscriber stopped, then a relay-only writer drains the event
//!    log, then the subscriber drains its queue;
//! 5. live latency: PUT renames of 751's units at a steady rate, on the idle hub and during a
//!    bulk import of municipality 101.
//!
//! Phase 5 measures what the relay's fair share is for: each batch is split equally between the
//! municipalities with a backlog, so the bulk import of 101 shares every batch with 751's live
//! changes instead of going first (and municipality codes do not decide who waits).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use orghub_broker::lapin::Connection;
use orghub_contracts::Kommune;
use sqlx::postgres::PgListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::child::{ChildProcess, Role, WriterFile};
use crate::env::{ADMIN_TOKEN, Env, with_application};
use crate::hub::{CACHE_SCHEMA, Hub, ImportSummary, SUBSCRIBER, SubscriberCounts, queue_depth};
use crate::meter::Meter;
use crate::report::{Bulk, Figures, Latency, LiveBulk, Noop, Rate, Staged};
use crate::workload::{Municipality, Shape, sample_events};
use crate::yardstick;

mod midnight;

/// The municipality of the bulk, no-op and live phases.
pub const MAIN: u16 = 751;
/// The municipality of the staged phase.
pub const STAGED: u16 = 851;
/// The municipality imported during the live phase.
pub const LIVE_BULK: u16 = 101;
/// The municipality of the midnight phase (Odense).
pub const MIDNIGHT: u16 = 461;
/// Distinct sample events the yardsticks cycle through.
const SAMPLE_EVENTS: usize = 4096;
/// How long a child may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// What sqlx logs (at WARN) when a pool connection took over 2 s to get: in the writer, a sign
/// that waiting requests hold the pool.
const SLOW_ACQUIRE: &str = "time to acquire exceeded slow threshold";
/// The notification channel of the live-latency trigger.
const CHANNEL: &str = "orghub_bench_live";

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub shape: Shape,
    /// The yardstick publishes, consumes and inserts max(entities, this).
    pub yardstick_floor: u64,
    pub live_seconds: Duration,
    pub live_rate: u32,
}

fn kommune(code: u16) -> anyhow::Result<Kommune> {
    Kommune::from_code(code).with_context(|| format!("{code} is not a kommunekode"))
}

/// Runs every phase and returns the figures.
pub async fn run(env: &Env, plan: &Plan) -> anyhow::Result<Figures> {
    let shape = plan.shape;
    println!("\n==> generating the organisations");
    let main = Municipality::generate(kommune(MAIN)?, shape);
    println!(
        "    {} ({}): {} entities, {:.1} MB NDJSON, {} units",
        main.kommune,
        main.kommune.name(),
        main.entities,
        main.ndjson.len() as f64 / 1e6,
        main.units.len()
    );

    println!("\n==> 1. yardsticks (raw broker and database, same run)");
    let n = main.entities.max(plan.yardstick_floor);
    let events = sample_events(main.kommune, shape, main.entities, SAMPLE_EVENTS);
    let yardstick = yardstick::measure(
        &env.amqp_url,
        &with_application(&env.cache_db_url, "orghub-bench-yardstick"),
        &events,
        n,
    )
    .await?;
    drop(events);

    println!("\n==> starting the writer and the subscriber (child processes)");
    let mut hubs = Hubs::start(env).await?;

    println!(
        "\n==> 2. bulk: import {} ({} entities) with everything running",
        main.kommune, main.entities
    );
    let bulk = bulk(&mut hubs, &main).await?;

    println!("\n==> 3. no-op: import the same file again");
    let noop = noop(&mut hubs, &main).await?;

    let staged_muni = Municipality::generate(kommune(STAGED)?, shape);
    println!(
        "\n==> 4. staged: {} ({} entities), one stage at a time",
        staged_muni.kommune, staged_muni.entities
    );
    let staged = staged(&mut hubs, &staged_muni).await?;
    drop(staged_muni);

    let second = Municipality::generate(kommune(LIVE_BULK)?, shape);
    println!(
        "\n==> 5. live latency: renames of {}'s units at {}/s",
        main.kommune, plan.live_rate
    );
    let (live_idle, live_bulk) = live(&mut hubs, &main, &second, plan).await?;

    println!(
        "\n==> 6. midnight: {} persons of {}, 5 % of them changing at one midnight",
        main.entities,
        kommune(MIDNIGHT)?
    );
    let midnight = midnight::run(&mut hubs, &main, plan).await?;

    println!("\n==> stopping the writer and the subscriber");
    hubs.stop().await?;
    Ok(Figures {
        entities: main.entities,
        yardstick,
        bulk,
        noop,
        staged,
        live_idle,
        live_bulk,
        midnight,
    })
}

// ---------------------------------------------------------------------------------------------
// The running hub.

/// The child processes and the bench's handles on them.
struct Hubs<'a> {
    env: &'a Env,
    /// The API port every API-serving writer child listens on, so the subscriber's
    /// `writer_url` stays valid across restarts.
    port: u16,
    writer: Option<ChildProcess>,
    subscriber: Option<ChildProcess>,
    hub: Hub,
    amqp: Connection,
}

impl<'a> Hubs<'a> {
    async fn start(env: &'a Env) -> anyhow::Result<Hubs<'a>> {
        let port = free_port()?;
        let writer = start_writer(env, "writer", &format!("127.0.0.1:{port}"), true).await?;
        let (subscriber, metrics) = start_subscriber(env, port).await?;
        let hub = Hub::connect(
            format!("http://127.0.0.1:{port}"),
            &with_application(&env.writer_db_url, "orghub-bench"),
            &with_application(&env.cache_db_url, "orghub-bench"),
            &metrics,
        )
        .await?;
        let amqp = orghub_broker::connect(&env.amqp_url, "orghub-bench monitor").await?;
        Ok(Hubs {
            env,
            port,
            writer: Some(writer),
            subscriber: Some(subscriber),
            hub,
            amqp,
        })
    }

    fn check(&mut self) -> anyhow::Result<()> {
        for child in [&mut self.writer, &mut self.subscriber]
            .into_iter()
            .flatten()
        {
            child.check_alive()?;
        }
        Ok(())
    }

    /// How many slow pool acquisitions the writer has logged so far.
    fn slow_acquires(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, |w| w.log_count(SLOW_ACQUIRE))
    }

    async fn subscriber_counts(&self) -> SubscriberCounts {
        self.hub.subscriber_counts().await.unwrap_or_default()
    }

    async fn queue(&self) -> u32 {
        queue_depth(&self.amqp, &format!("sub.{SUBSCRIBER}"))
            .await
            .unwrap_or(0)
    }

    /// Waits until the cache holds the writer's live entities of `kommune` (same count and sum
    /// of versions; the writer's state does not change meanwhile), and returns the time since
    /// `started`. The subscriber's counters gate the database probe, so the bench does not load
    /// the database while the subscriber works; a probe runs every 5 s regardless.
    async fn wait_converged(
        &mut self,
        kommune: Kommune,
        events: u64,
        counts_before: SubscriberCounts,
        started: Instant,
        deadline: Duration,
    ) -> anyhow::Result<Duration> {
        let target = self.hub.writer_totals(kommune).await?;
        let until = Instant::now() + deadline;
        let mut last_probe = Instant::now();
        let mut last_print = Instant::now();
        loop {
            self.check()?;
            let counts = self.subscriber_counts().await;
            let seen = (counts.applied + counts.stale)
                .saturating_sub(counts_before.applied + counts_before.stale);
            if seen >= events || last_probe.elapsed() >= Duration::from_secs(5) {
                last_probe = Instant::now();
                let at = started.elapsed();
                if self.hub.cache_totals(kommune).await? == target {
                    return Ok(at);
                }
            }
            if Instant::now() > until {
                bail!(
                    "the cache of {kommune} did not converge within {deadline:?} ({seen} of {events} \
                     events applied)"
                );
            }
            if last_print.elapsed() >= Duration::from_secs(3) {
                last_print = Instant::now();
                println!(
                    "    [{:6.1} s] applied {seen} of {events} events · queue {} · dead-lettered {}",
                    started.elapsed().as_secs_f64(),
                    self.queue().await,
                    counts.dead_lettered
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Imports while printing progress; returns the summary and the maximum backlogs seen.
    async fn import_with_progress(
        &mut self,
        m: &Municipality,
        ndjson: Vec<u8>,
        started: Instant,
    ) -> anyhow::Result<(ImportSummary, Backlog)> {
        let seq0 = self.hub.last_sequence(m.kommune).await?;
        let hub = self.hub.clone();
        let kommune = m.kommune;
        let mut task: JoinHandle<anyhow::Result<ImportSummary>> =
            tokio::spawn(async move { hub.import(kommune, ndjson).await });
        let mut backlog = Backlog::default();
        let mut tick = 0u32;
        let summary = loop {
            tokio::select! {
                done = &mut task => break done.context("the import task")??,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    self.check()?;
                    tick += 1;
                    // Counting the unpublished events reads an index that grows with the
                    // backlog: sampled every second, it cost PostgreSQL 12 % of what the staged
                    // import did. Every 3 s is enough for the progress line.
                    let sample = self.sample(kommune, seq0, tick.is_multiple_of(3)).await;
                    backlog.observe(&sample);
                    if tick.is_multiple_of(3) {
                        println!(
                            "    [{:6.1} s] written {} events · unpublished {} · queue {} · applied {}",
                            started.elapsed().as_secs_f64(),
                            sample.written, sample.unpublished, sample.queue, sample.applied
                        );
                    }
                }
            }
        };
        let at_end = self.sample(kommune, seq0, true).await;
        backlog.observe(&at_end);
        backlog.at_import_end = at_end;
        if summary.rejected_count > 0 {
            println!(
                "    WARNING: the writer rejected {} lines, e.g. {}",
                summary.rejected_count,
                summary
                    .rejected
                    .first()
                    .map(|r| format!("line {}: {:?}", r.line, r.errors))
                    .unwrap_or_default()
            );
        }
        Ok((summary, backlog))
    }

    /// A progress sample; the unpublished count only `with_unpublished` (else 0).
    async fn sample(&self, kommune: Kommune, seq0: i64, with_unpublished: bool) -> Sample {
        let unpublished = if with_unpublished {
            self.hub.unpublished().await.unwrap_or(0)
        } else {
            0
        };
        Sample {
            written: self
                .hub
                .last_sequence(kommune)
                .await
                .map_or(0, |s| s - seq0),
            unpublished,
            queue: self.queue().await,
            applied: self.subscriber_counts().await.applied,
        }
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.subscriber.take() {
            s.stop().await?;
        }
        if let Some(w) = self.writer.take() {
            w.stop().await?;
        }
        orghub_broker::close_connection(&self.amqp, "bench done").await;
        Ok(())
    }
}

/// One progress sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub written: i64,
    pub unpublished: i64,
    pub queue: u32,
    pub applied: u64,
}

/// Backlogs seen during an import (the queue sampled every second, the unpublished events every
/// 3 s) and at its end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    pub max_unpublished: i64,
    pub max_queue: u32,
    pub at_import_end: Sample,
}

impl Backlog {
    fn observe(&mut self, s: &Sample) {
        self.max_unpublished = self.max_unpublished.max(s.unpublished);
        self.max_queue = self.max_queue.max(s.queue);
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn start_writer(
    env: &Env,
    name: &str,
    listen: &str,
    relay: bool,
) -> anyhow::Result<ChildProcess> {
    start_writer_at(env, name, listen, relay, None).await
}

/// [`start_writer`] with the writer's clock started at `clock` (RFC 3339).
async fn start_writer_at(
    env: &Env,
    name: &str,
    listen: &str,
    relay: bool,
    clock: Option<String>,
) -> anyhow::Result<ChildProcess> {
    let file = WriterFile {
        clock_start: clock,
        database_url: with_application(&env.writer_db_url, name),
        amqp_url: env.amqp_url.clone(),
        listen: listen.to_owned(),
        admin_token: ADMIN_TOKEN.to_owned(),
        relay,
    };
    let config = toml::to_string(&file).context("writer config")?;
    let mut child = ChildProcess::spawn(Role::Writer, name, &config, &env.dir).await?;
    let port = child.expect("ready port=", START_TIMEOUT).await?;
    println!(
        "    {name}: pid {}, port {port}, relay {relay}",
        child.pid()
    );
    Ok(child)
}

async fn start_subscriber(env: &Env, writer_port: u16) -> anyhow::Result<(ChildProcess, String)> {
    let bindings: String = [MAIN, STAGED, LIVE_BULK]
        .iter()
        .map(|k| format!("\n[[bindings]]\nkommune = \"{k}\"\n"))
        .collect();
    let config = format!(
        "name = \"{SUBSCRIBER}\"\namqp_url = \"{amqp}\"\nmanagement_url = \"{mgmt}\"\n\
         writer_url = \"http://127.0.0.1:{writer_port}\"\nwriter_token = \"{ADMIN_TOKEN}\"\n\
         metrics_listen = \"127.0.0.1:0\"\n{bindings}\n[sink]\ntype = \"postgres\"\n\
         url = \"{cache}\"\nschema = \"{CACHE_SCHEMA}\"\n",
        amqp = env.amqp_url,
        mgmt = env.services.mgmt_url,
        cache = with_application(&env.cache_db_url, "subscriber"),
    );
    let mut child = ChildProcess::spawn(Role::Subscriber, "subscriber", &config, &env.dir).await?;
    let metrics = child.expect("ready metrics=", START_TIMEOUT).await?;
    child.expect("consuming", START_TIMEOUT).await?;
    println!(
        "    subscriber: pid {}, metrics {metrics}, queue sub.{SUBSCRIBER}",
        child.pid()
    );
    Ok((child, metrics))
}

fn convergence_deadline(entities: u64) -> Duration {
    Duration::from_secs(120 + entities / 200)
}

// ---------------------------------------------------------------------------------------------
// 2. Bulk.

async fn bulk(h: &mut Hubs<'_>, m: &Municipality) -> anyhow::Result<Bulk> {
    let k = m.kommune;
    let seq0 = h.hub.last_sequence(k).await?;
    let counts0 = h.subscriber_counts().await;
    let (target, through) = tokio::sync::watch::channel(seq0);
    let relay = h.hub.track_relay(k, seq0, through);
    let meter = Meter::start(h.writer.as_ref(), h.subscriber.as_ref());
    let started = Instant::now();
    let (summary, backlog) = h.import_with_progress(m, m.ndjson.clone(), started).await?;
    let import = Rate::new(m.entities, started.elapsed());
    println!(
        "    import answered after {:.1} s: {} created, {} rejected; unpublished {}, queue {}",
        import.seconds,
        summary.created,
        summary.rejected_count,
        backlog.at_import_end.unpublished,
        backlog.at_import_end.queue
    );
    let events = summary.changed();
    target.send_replace(seq0 + i64::try_from(events).unwrap_or(0));
    let converged = h
        .wait_converged(
            k,
            events,
            counts0,
            started,
            convergence_deadline(m.entities),
        )
        .await?;
    let cost = meter.finish(events, Some(&h.hub.writer_db)).await;
    drop(target);
    let relay = relay.await?;
    println!(
        "    cache equals the writer after {:.1} s; comparing with GET /snapshot …",
        converged.as_secs_f64()
    );
    let verified = h.hub.verify_against_snapshot(k).await?;
    match &verified {
        Ok(n) => println!("    the cache equals the snapshot ({n} entities, uuid → version)"),
        Err(d) => println!("    WARNING: the cache differs from the snapshot: {d}"),
    }
    Ok(Bulk {
        kommune: k,
        entities: m.entities,
        events,
        summary,
        import,
        relay,
        apply: h.hub.applied_span(k, None).await?,
        converged,
        verified,
        backlog,
        cost,
        average_event_bytes: h.hub.average_event_bytes(k).await?,
    })
}

// ---------------------------------------------------------------------------------------------
// 3. No-op.

async fn noop(h: &mut Hubs<'_>, m: &Municipality) -> anyhow::Result<Noop> {
    let seq0 = h.hub.last_sequence(m.kommune).await?;
    let meter = Meter::start(h.writer.as_ref(), h.subscriber.as_ref());
    let started = Instant::now();
    let (summary, _) = h.import_with_progress(m, m.ndjson.clone(), started).await?;
    let seconds = started.elapsed();
    let events = u64::try_from(h.hub.last_sequence(m.kommune).await? - seq0).unwrap_or(0);
    let cost = meter.finish(m.entities, Some(&h.hub.writer_db)).await;
    println!(
        "    {:.1} s, {} unchanged, {} events emitted",
        seconds.as_secs_f64(),
        summary.unchanged,
        events
    );
    Ok(Noop {
        entities: m.entities,
        rate: Rate::new(m.entities, seconds),
        unchanged: summary.unchanged,
        events,
        cost,
    })
}

// ---------------------------------------------------------------------------------------------
// 4. Staged.

async fn staged(h: &mut Hubs<'_>, m: &Municipality) -> anyhow::Result<Staged> {
    let k = m.kommune;
    // Seed the municipality into the cache, so the restarted subscriber consumes its queue
    // instead of bootstrapping the municipality from the snapshot.
    let counts0 = h.subscriber_counts().await;
    h.hub.import(k, m.first_line.clone()).await?;
    h.wait_converged(k, 1, counts0, Instant::now(), Duration::from_secs(60))
        .await?;
    if let Some(s) = h.subscriber.take() {
        s.stop().await?;
    }
    if let Some(w) = h.writer.take() {
        w.stop().await?;
    }
    let listen = format!("127.0.0.1:{}", h.port);
    h.writer = Some(start_writer(h.env, "writer-api", &listen, false).await?);

    println!("    ingest alone (relay off, subscriber stopped)");
    let seq0 = h.hub.last_sequence(k).await?;
    let meter = Meter::start(h.writer.as_ref(), None);
    let started = Instant::now();
    let (summary, _) = h.import_with_progress(m, m.ndjson.clone(), started).await?;
    let ingest = Rate::new(m.entities, started.elapsed());
    let events = summary.changed();
    let ingest_cost = meter.finish(events, Some(&h.hub.writer_db)).await;
    println!(
        "    {:.1} s, {:.0} entities/s",
        ingest.seconds,
        ingest.per_second()
    );

    println!("    relay alone (a relay-only writer drains {events} events)");
    let last = h.hub.last_sequence(k).await?;
    let relay_child = start_writer(h.env, "writer-relay", "127.0.0.1:0", true).await?;
    let (target, through) = tokio::sync::watch::channel(last);
    let tracker = h.hub.track_relay(k, seq0, through);
    let meter = Meter::start(Some(&relay_child), None);
    let started = Instant::now();
    let deadline = convergence_deadline(m.entities);
    while !tracker.is_finished() {
        if started.elapsed() > deadline {
            bail!("the relay did not publish {events} events within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let relay_cost = meter.finish(events, Some(&h.hub.writer_db)).await;
    drop(target);
    let relay = tracker.await?;
    println!("    {:.0} events/s", relay.rate().unwrap_or(0.0));

    println!(
        "    subscriber alone (drains its queue of {} messages)",
        h.queue().await
    );
    let since = h.hub.db_now().await?;
    let (subscriber, metrics) = start_subscriber(h.env, h.port).await?;
    h.hub.set_metrics_addr(&metrics);
    let meter = Meter::start(None, Some(&subscriber));
    h.subscriber = Some(subscriber);
    let started = Instant::now();
    h.wait_converged(k, events, SubscriberCounts::default(), started, deadline)
        .await?;
    let apply_cost = meter.finish(events, Some(&h.hub.writer_db)).await;
    let apply = h.hub.applied_span(k, Some(since)).await?;
    println!("    {:.0} events/s", apply.rate().unwrap_or(0.0));

    relay_child.stop().await?;
    if let Some(w) = h.writer.take() {
        w.stop().await?;
    }
    h.writer = Some(start_writer(h.env, "writer", &listen, true).await?);
    Ok(Staged {
        kommune: k,
        entities: m.entities,
        events,
        ingest,
        ingest_cost,
        relay,
        relay_cost,
        apply,
        apply_cost,
    })
}

// ---------------------------------------------------------------------------------------------
// 5. Live latency.

/// One PUT: which entity, the version it answered with, and when.
#[derive(Debug, Clone, Copy)]
struct Put {
    uuid: Uuid,
    version: Option<u64>,
    sent: Instant,
    answered: Instant,
}

/// Every cache change of a live unit, as the trigger reported it: `uuid → [(version, when)]`.
type Seen = Arc<Mutex<HashMap<Uuid, Vec<(u64, Instant)>>>>;

/// Why LISTEN/NOTIFY rather than polling: a trigger on the cache table notifies at the sink's
/// commit, so the time a change became visible is known to the listener's wake-up (well under a
/// millisecond here) without a polling interval's quantisation, and without hundreds of
/// queries per second loading the database the sink writes to. The trigger fires only for the
/// live municipality's units, so the bulk rows of phase 5 do not pay for it.
async fn install_trigger(h: &Hub, kommune: Kommune) -> anyhow::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE OR REPLACE FUNCTION public.orghub_bench_notify() RETURNS trigger
         LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM pg_notify('{CHANNEL}', NEW.uuid::text || ' ' || NEW.version::text);
             RETURN NULL;
         END $$;
         DROP TRIGGER IF EXISTS orghub_bench_notify ON {CACHE_SCHEMA}.entity;
         CREATE TRIGGER orghub_bench_notify AFTER INSERT OR UPDATE ON {CACHE_SCHEMA}.entity
             FOR EACH ROW WHEN (NEW.kommune = '{kommune}' AND NEW.kind = 'unit')
             EXECUTE FUNCTION public.orghub_bench_notify();"
    )))
    .execute(&h.cache_db)
    .await
    .context("installing the live-latency trigger")?;
    Ok(())
}

async fn listen(url: &str) -> anyhow::Result<(Seen, JoinHandle<()>)> {
    let mut listener = PgListener::connect(url)
        .await
        .context("LISTEN connection")?;
    listener.listen(CHANNEL).await?;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok(n) = listener.recv().await {
            let at = Instant::now();
            let mut parts = n.payload().split(' ');
            let (Some(uuid), Some(version)) = (
                parts.next().and_then(|u| Uuid::parse_str(u).ok()),
                parts.next().and_then(|v| v.parse::<u64>().ok()),
            ) else {
                continue;
            };
            if let Ok(mut seen) = record.lock() {
                seen.entry(uuid).or_default().push((version, at));
            }
        }
    });
    Ok((seen, task))
}

async fn live(
    h: &mut Hubs<'_>,
    main: &Municipality,
    second: &Municipality,
    plan: &Plan,
) -> anyhow::Result<(Vec<Latency>, LiveBulk)> {
    if main.units.is_empty() {
        bail!("the organisation has no units to rename");
    }
    install_trigger(&h.hub, main.kommune).await?;
    let (seen, listener) = listen(&with_application(&h.env.cache_db_url, "orghub-bench")).await?;
    let mut renames = Renames::new(main);

    // The configured rate, then a quarter of it: when the first saturates the writer, the
    // second shows the pipeline's own latency.
    let mut idle = Vec::new();
    for rate in [plan.live_rate, (plan.live_rate / 4).max(1)] {
        println!(
            "    idle hub, {rate}/s for {:.0} s",
            plan.live_seconds.as_secs_f64()
        );
        let slow_before = h.slow_acquires();
        let until = Instant::now() + plan.live_seconds;
        let puts = run_puts(h, &mut renames, rate, || Instant::now() >= until).await;
        let mut latency = collect(&seen, &puts, Duration::from_secs(300), rate).await;
        latency.slow_pool_acquires = h.slow_acquires().saturating_sub(slow_before);
        latency.print();
        idle.push(latency);
    }

    let window = plan.live_seconds * 2;
    println!(
        "    {}/s during a bulk import of {} ({} entities), for at most {:.0} s of it",
        plan.live_rate,
        second.kommune,
        second.entities,
        window.as_secs_f64()
    );
    let counts0 = h.subscriber_counts().await;
    let slow_before = h.slow_acquires();
    let started = Instant::now();
    let hub = h.hub.clone();
    let (k2, body) = (second.kommune, second.ndjson.clone());
    let import: JoinHandle<anyhow::Result<ImportSummary>> =
        tokio::spawn(async move { hub.import(k2, body).await });
    let until = started + window;
    let puts = run_puts(h, &mut renames, plan.live_rate, || {
        import.is_finished() || Instant::now() >= until
    })
    .await;
    println!(
        "    PUTs done after {:.1} s; waiting for the import …",
        started.elapsed().as_secs_f64()
    );
    let summary = import.await.context("the import task")??;
    let import_rate = Rate::new(second.entities, started.elapsed());
    println!(
        "    import answered after {:.1} s; waiting for the live changes and the bulk …",
        import_rate.seconds
    );
    let mut latency = collect(
        &seen,
        &puts,
        convergence_deadline(second.entities),
        plan.live_rate,
    )
    .await;
    latency.slow_pool_acquires = h.slow_acquires().saturating_sub(slow_before);
    latency.print();
    let converged = h
        .wait_converged(
            k2,
            summary.changed(),
            counts0,
            started,
            convergence_deadline(second.entities),
        )
        .await
        .ok();
    listener.abort();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TRIGGER IF EXISTS orghub_bench_notify ON {CACHE_SCHEMA}.entity"
    )))
    .execute(&h.hub.cache_db)
    .await?;
    Ok((
        idle,
        LiveBulk {
            latency,
            kommune: k2,
            entities: second.entities,
            import: import_rate,
            converged,
        },
    ))
}

/// Round-robin renames of the municipality's units.
struct Renames {
    kommune: Kommune,
    units: Vec<(Uuid, serde_json::Value)>,
    next: usize,
}

impl Renames {
    fn new(m: &Municipality) -> Self {
        Renames {
            kommune: m.kommune,
            units: m.units.clone(),
            next: 0,
        }
    }

    /// The next unit and a state that renames it (a name it never had).
    fn next(&mut self) -> (Uuid, serde_json::Value) {
        let n = self.next;
        self.next += 1;
        let (uuid, state) = &self.units[n % self.units.len()];
        let mut state = state.clone();
        let name = state["name"].as_str().unwrap_or("Enhed").to_owned();
        state["name"] = serde_json::Value::String(format!("{name} (omdøbt {n})"));
        (*uuid, state)
    }
}

/// PUTs at `rate` per second (open loop: each on its own task, at most 512 in flight) until
/// `stop` says so, printing progress every 3 s.
async fn run_puts(
    h: &Hubs<'_>,
    renames: &mut Renames,
    rate: u32,
    stop: impl Fn() -> bool,
) -> Vec<Put> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let in_flight = Arc::new(Semaphore::new(512));
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut last_print = Instant::now();
    let mut tasks = Vec::new();
    loop {
        ticker.tick().await;
        if stop() {
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(3) {
            last_print = Instant::now();
            let done = answered.load(Ordering::Relaxed);
            println!(
                "    [{:6.1} s] PUTs sent {} · answered {done} · waiting for an answer {}",
                started.elapsed().as_secs_f64(),
                tasks.len(),
                tasks.len() as u64 - done
            );
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (uuid, state) = renames.next();
        let hub = h.hub.clone();
        let kommune = renames.kommune;
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let version = hub.put(kommune, "units", uuid, &state).await.ok();
            let at = Instant::now();
            answered.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            Put {
                uuid,
                version,
                sent,
                answered: at,
            }
        }));
    }
    let mut puts = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(put) = task.await {
            puts.push(put);
        }
    }
    puts
}

/// Waits (up to `deadline`) until every answered PUT's version is visible in the cache, then
/// computes the latencies.
async fn collect(seen: &Seen, puts: &[Put], deadline: Duration, rate: u32) -> Latency {
    let until = Instant::now() + deadline;
    let visible_at = |seen: &HashMap<Uuid, Vec<(u64, Instant)>>, put: &Put| {
        let version = put.version?;
        seen.get(&put.uuid)?
            .iter()
            .filter(|(v, _)| *v >= version)
            .map(|(_, at)| *at)
            .min()
    };
    loop {
        let missing = match seen.lock() {
            Ok(seen) => puts
                .iter()
                .filter(|p| p.version.is_some() && visible_at(&seen, p).is_none())
                .count(),
            Err(_) => 0,
        };
        if missing == 0 || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latency = Latency {
        target_rate: rate,
        puts: puts.len() as u64,
        ..Latency::default()
    };
    if let (Some(first), Some(last)) = (puts.first(), puts.last()) {
        latency.window = last.sent.saturating_duration_since(first.sent);
    }
    if let Ok(seen) = seen.lock() {
        for put in puts {
            latency
                .put_response
                .push(put.answered.saturating_duration_since(put.sent));
            match (put.version, visible_at(&seen, put)) {
                (None, _) => latency.failed += 1,
                (Some(_), None) => latency.not_seen += 1,
                (Some(_), Some(at)) => latency
                    .visible
                    .push(at.saturating_duration_since(put.answered)),
            }
        }
    }
    latency.visible.sort();
    latency.put_response.sort();
    latency
}
