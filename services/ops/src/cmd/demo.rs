//! `orghubctl demo`: the hub's main job in one command. On the local PostgreSQL and RabbitMQ it
//! starts a writer (API and relay) and a subscriber with a PostgreSQL cache, imports a generated
//! municipality, plays live changes, waits until the cache equals the writer's snapshot, and
//! prints a summary with where to look next.
//!
//! It works in its own databases (`orghub_demo`, `orghub_demo_cache`) and vhost (`orghub-demo`),
//! re-created at every run and left in place afterwards so the cache can be inspected.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orghub_broker::mgmt::{Management, percent_encode};
use orghub_contracts::Kommune;
use orghub_generator::{Options, Size};
use orghub_runtime::Shutdown;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool, Row as _};
use uuid::Uuid;

use super::demo_midnight;
use crate::error::CliError;
use crate::settings::Settings;
use orghub_client::WriterClient;
use orghub_contracts::api::ImportSummary;

const DATABASE: &str = "orghub_demo";
const CACHE_DATABASE: &str = "orghub_demo_cache";
const VHOST: &str = "orghub-demo";
const SUBSCRIBER: &str = "demo";

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The demo municipality (kommunekode).
    #[arg(long, default_value = "751", value_parser = parse_kommune)]
    pub kommune: Kommune,
    /// Size of the generated organisation: small, medium or large.
    #[arg(long, default_value = "medium")]
    pub size: Size,
    /// Seed of the generated organisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Live changes played after the import.
    #[arg(long, default_value_t = 300)]
    pub changes: usize,
    /// Address of the demo writer's API (a free port is taken if this one is busy).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Keep the writer and the subscriber running after the summary, until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Seconds to wait for the subscriber's cache to converge.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Start the writer's clock (ORGHUB_CLOCK_START) at this time: `HH:MM:SS` today in
    /// Copenhagen or an RFC 3339 instant, at most 15 minutes before a midnight. The demo then
    /// also shows that midnight's transition: a person starting tomorrow becomes `effective`, one
    /// ending today `expired`, and the cache follows (e.g. `--size small --clock 23:59:30`).
    #[arg(long, value_name = "TIME", value_parser = demo_midnight::parse_clock)]
    pub clock: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse_kommune(s: &str) -> Result<Kommune, String> {
    Kommune::parse(s).map_err(|e| e.to_string())
}

fn step(message: &str) {
    eprintln!("==> {message}");
}

/// Progress on stderr: a bar on a terminal, otherwise a line every 10%.
fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("    {msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_message(what.to_owned());
    bar
}

/// Reports plain progress lines when the bar is hidden.
struct Milestones {
    total: u64,
    next: u64,
    what: &'static str,
}

impl Milestones {
    fn new(total: u64, what: &'static str) -> Self {
        Milestones {
            total,
            next: total / 10,
            what,
        }
    }

    fn reached(&mut self, done: u64) {
        if std::io::stderr().is_terminal() || self.total == 0 {
            return;
        }
        while done >= self.next && self.next > 0 && self.next <= self.total {
            eprintln!("    {} {}/{}", self.what, self.next, self.total);
            self.next += (self.total / 10).max(1);
        }
    }
}

pub async fn run(args: Args, settings: &Settings) -> Result<(), CliError> {
    let started = Instant::now();
    let kommune = args.kommune;
    let opts = Options {
        kommune,
        size: args.size,
        seed: args.seed,
    };
    println!(
        "orghub demo: {} ({kommune}), {} organisation, seed {}",
        kommune.name(),
        args.size,
        args.seed
    );

    step("checking PostgreSQL and RabbitMQ");
    let admin_db_url = orghub_broker::with_path(&settings.database_url, "postgres");
    let mut admin = PgConnection::connect(&admin_db_url).await.map_err(|e| {
        CliError::Dependency(anyhow!(
            "PostgreSQL is not reachable at {}: {e}\n  start it (deploy/dev/ensure-services, or \
             pg_ctlcluster --skip-systemctl-redirect 15 main start) or point DATABASE_URL at it",
            orghub_runtime::redact_url(&admin_db_url)
        ))
    })?;
    let mgmt = Management::parse(&settings.mgmt_url)?;
    // A fresh local broker has the management plugin off: switch it on rather than stop here.
    orghub_broker::local::ensure_management_api(&mgmt, |line| eprintln!("    {line}"))
        .await
        .map_err(|e| {
            CliError::Dependency(anyhow!(
                "{e}\n  is RabbitMQ running (rabbitmq-server -detached)? Or point RABBITMQ_MGMT_URL \
                 at its management API"
            ))
        })?;
    let amqp_url = orghub_broker::with_path(&settings.amqp_url, &percent_encode(VHOST));
    let db_url = orghub_broker::with_path(&settings.database_url, DATABASE);
    let cache_url = orghub_broker::with_path(&settings.database_url, CACHE_DATABASE);

    step(&format!(
        "fresh databases {DATABASE}, {CACHE_DATABASE} and vhost {VHOST}"
    ));
    for db in [DATABASE, CACHE_DATABASE] {
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{db}\""),
        ] {
            // The names are our constants.
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot re-create database {db}"))?;
        }
    }
    let _ = admin.close().await;
    mgmt.delete_vhost(VHOST).await?;
    mgmt.create_vhost(VHOST).await?;
    mgmt.grant_permissions(VHOST, mgmt.user(), ".*", ".*", ".*")
        .await?;
    orghub_broker::connect(&amqp_url, "orghubctl demo check")
        .await
        .map_err(|e| {
            CliError::Dependency(anyhow!(
                "RabbitMQ is not reachable over AMQP: {e}\n  start it (rabbitmq-server -detached) \
                 or point AMQP_URL at it"
            ))
        })?;

    let clock = args.clock.map(orghub_writer::clock::Clock::starting_at);
    step("starting the writer (API and relay)");
    let admin_token = format!("demo-{}", Uuid::new_v4().simple());
    let mut writer_config = orghub_writer::Config {
        database_url: db_url
            .parse()
            .map_err(|e| CliError::usage(format!("DATABASE_URL: {e}")))?,
        amqp_url: amqp_url
            .parse()
            .map_err(|e| CliError::usage(format!("AMQP_URL: {e}")))?,
        listen: args.listen,
        admin_token: Some(admin_token.clone().into()),
        relay: true,
        midnight: true,
        relay_batch: const { NonZeroU32::new(500).expect("not zero") },
        relay_poll: Duration::from_millis(200),
        db_pool: const { NonZeroU32::new(16).expect("not zero") },
        relay_max_message_bytes: const { NonZeroUsize::new(16 * 1024 * 1024).expect("not zero") },
        relay_confirm_timeout: Duration::from_secs(30),
        write_queue: orghub_writer::store::DEFAULT_WRITE_QUEUE_SIZE,
        snapshot_pool: const { NonZeroU32::new(4).expect("not zero") },
        snapshot_per_token: const { NonZeroU32::new(2).expect("not zero") },
        snapshot_timeout: Duration::from_secs(600),
        clock_start: clock,
    };
    let writer_app = match orghub_writer::Application::build(writer_config.clone()).await {
        Ok(app) => app,
        Err(e) if format!("{e:#}").contains("cannot listen") => {
            eprintln!("    {} is busy; taking a free port", args.listen);
            writer_config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            orghub_writer::Application::build(writer_config)
                .await
                .context("cannot start the writer")?
        }
        Err(e) => return Err(CliError::Dependency(e.context("cannot start the writer"))),
    };
    let api = format!("http://127.0.0.1:{}", writer_app.port());
    // One token stops the writer and the subscriber at the end (or on Ctrl-C).
    let stop = Shutdown::new();
    // An early return (`?`) stops them too.
    let _stop_on_return = stop.clone().drop_guard();
    let writer_task = tokio::spawn(writer_app.run_until_stopped(stop.clone()));
    let admin_client = WriterClient::parse(&api, admin_token.clone().into())
        .map_err(|e| CliError::Dependency(e.into()))?;
    let read_token = admin_client
        .create_token("demo-subscriber", &[format!("read:{kommune}")])
        .await
        .map_err(|e| CliError::Dependency(e.into()))?
        .token;
    println!("  writer API        {api}   (admin token {admin_token})");
    let midnight = match clock {
        Some(clock) => {
            step(&format!(
                "the writer's clock reads {}: a person starting tomorrow, one ending today",
                clock
                    .now()
                    .with_timezone(&chrono_tz::Europe::Copenhagen)
                    .to_rfc3339()
            ));
            Some(demo_midnight::plan(&api, &admin_token, kommune, clock).await?)
        }
        None => None,
    };

    step(&format!(
        "starting subscriber {SUBSCRIBER:?} with a PostgreSQL cache in {CACHE_DATABASE}"
    ));
    let toml = format!(
        "name = \"{SUBSCRIBER}\"\namqp_url = \"{amqp_url}\"\nmanagement_url = \"{}\"\n\
         writer_url = \"{api}\"\nwriter_token = \"{read_token}\"\nmetrics_listen = \"127.0.0.1:0\"\n\
         batch_size = 500\nprefetch = 1000\n\n[[bindings]]\nkommune = \"{kommune}\"\n\n\
         [sink]\ntype = \"postgres\"\nurl = \"{cache_url}\"\n",
        settings.mgmt_url
    );
    let sub_config = orghub_subscriber::Config::from_toml(&toml).map_err(|e| anyhow!("{e}"))?;
    let subscriber = orghub_subscriber::Subscriber::build(sub_config)
        .await
        .context("cannot start the subscriber")?;
    let metrics_url = format!("http://{}/metrics", subscriber.metrics_addr());
    let sub_task =
        tokio::spawn(subscriber.run_until_stopped(orghub_subscriber::Command::Run, stop.clone()));
    let cache = PgPool::connect(&cache_url)
        .await
        .context("cannot open the cache database")?;
    let hub = PgPool::connect(&db_url)
        .await
        .context("cannot open the demo database")?;
    // The subscriber declares its queue before consuming; events published before that would
    // not reach it (they would stay in the log, reachable by resync).
    wait_for_queue(&amqp_url).await?;

    let total = orghub_generator::stats(&opts).total();
    step(&format!(
        "importing the generated organisation: {total} entities"
    ));
    let import_started = Instant::now();
    let summary = import(&admin_client, &opts, total).await?;
    let import_took = import_started.elapsed();
    println!(
        "  imported          {} lines: {} created, {} unchanged, {} rejected   in {:.1} s ({:.0} entities/s)",
        summary.lines,
        summary.created,
        summary.unchanged,
        summary.rejected_count,
        import_took.as_secs_f64(),
        summary.lines as f64 / import_took.as_secs_f64().max(0.001)
    );

    step(&format!("playing {} live changes", args.changes));
    let today = clock.unwrap_or_default().today();
    let changes = orghub_generator::changes(&opts, args.changes, today);
    let changes_started = Instant::now();
    let (applied, changed) = play_changes(&api, &admin_token, kommune, &changes).await?;
    println!(
        "  live changes      {applied} operations, {changed} changed   in {:.1} s",
        changes_started.elapsed().as_secs_f64()
    );

    step("waiting until the subscriber's cache equals the writer's snapshot");
    let converge_started = Instant::now();
    let reader = WriterClient::parse(&api, read_token.clone().into())?;
    let outcome = converge(
        &hub,
        &cache,
        &reader,
        kommune,
        Duration::from_secs(args.timeout),
    )
    .await?;
    let converge_took = converge_started.elapsed();
    let midnight_followed = match (clock, midnight) {
        (Some(clock), Some(planned)) => {
            step("waiting for midnight by the writer's clock");
            demo_midnight::show(&hub, &cache, clock, planned, Duration::from_secs(60)).await?
        }
        _ => true,
    };
    let (events, unpublished) = event_counts(&hub).await?;
    let dlq = dlq_depth(&amqp_url).await.unwrap_or(u32::MAX);
    let converged = outcome.is_ok() && midnight_followed;
    println!("  events written    {events}");
    println!(
        "  events published  {} (unpublished: {unpublished})",
        events - unpublished
    );
    match &outcome {
        Ok(n) => println!(
            "  subscriber cache  converged: {n} live entities, versions and documents equal to the snapshot, {:.1} s after the last change",
            converge_took.as_secs_f64()
        ),
        Err(why) => println!("  subscriber cache  NOT converged: {why}"),
    }
    println!(
        "  dead letters      {}",
        if dlq == u32::MAX {
            "unknown".to_owned()
        } else {
            dlq.to_string()
        }
    );
    if converged {
        super::demo_structure::print(&cache, kommune).await;
    }
    println!(
        "  time taken        {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("Where to look next:");
    println!(
        "  API           curl -H 'Authorization: Bearer {admin_token}' '{api}/api/v1/{kommune}/units?limit=3'"
    );
    println!(
        "  OpenAPI       {api}/openapi.json     metrics: {api}/metrics, subscriber {metrics_url}"
    );
    println!(
        "  cache         psql {cache_url} -c 'SELECT name, parent FROM orghub_cache.units LIMIT 10'"
    );
    println!(
        "  structure     the queries behind the summary: services/ops/src/cmd/demo_structure.rs"
    );
    println!("  status        DATABASE_URL={db_url} ORGHUB_VHOST={VHOST} orghubctl status");
    if !args.keep_running {
        println!("  (the hub stops now; run with --keep-running to keep it up)");
    }

    if args.keep_running {
        println!("\nThe writer and the subscriber keep running; Ctrl-C stops them.");
        orghub_runtime::shutdown::signal().await;
    }
    stop.cancel();
    if let Ok(Err(e)) = sub_task.await {
        eprintln!("orghubctl: the subscriber stopped with an error: {e:#}");
    }
    if let Ok(Err(e)) = writer_task.await {
        eprintln!("orghubctl: the writer stopped with an error: {e:#}");
    }
    if summary.rejected_count > 0 {
        return Err(CliError::Dependency(anyhow!(
            "{} generated lines were rejected",
            summary.rejected_count
        )));
    }
    if !converged || dlq != 0 {
        return Err(CliError::Dependency(anyhow!(
            "the demo did not converge cleanly"
        )));
    }
    Ok(())
}

async fn wait_for_queue(amqp_url: &str) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let conn = orghub_broker::connect(amqp_url, "orghubctl demo").await?;
    loop {
        let queue = format!("sub.{SUBSCRIBER}");
        if orghub_broker::queue_depth(&conn, &queue).await.is_ok() {
            orghub_broker::close_connection(&conn, "ok").await;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::Dependency(anyhow!(
                "the subscriber did not declare {queue} within 30 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Streams the generated organisation to the writer's import, with progress.
async fn import(
    client: &WriterClient,
    opts: &Options,
    total: u64,
) -> Result<ImportSummary, CliError> {
    let bar = progress(total, "importing");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let opts = *opts;
    let counter = bar.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut milestones = Milestones::new(total, "lines sent");
        let mut chunk = Vec::with_capacity(1 << 16);
        let mut sent = 0u64;
        for line in orghub_generator::organisation(&opts) {
            chunk.extend_from_slice(line.to_json().as_bytes());
            chunk.push(b'\n');
            sent += 1;
            if chunk.len() >= 1 << 16 {
                counter.set_position(sent);
                milestones.reached(sent);
                if tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                    return;
                }
            }
        }
        counter.set_position(sent);
        milestones.reached(sent);
        let _ = tx.blocking_send(Ok(chunk));
    });
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let summary = client.import(opts.kommune, false, body).await;
    bar.finish_and_clear();
    let _ = producer.await;
    summary.map_err(|e| CliError::Dependency(e.into()))
}

/// Applies the changes in order through `POST /changes`, 50 per request.
async fn play_changes(
    api: &str,
    token: &str,
    kommune: Kommune,
    changes: &[orghub_generator::Change],
) -> Result<(usize, usize), CliError> {
    let client = reqwest::Client::new();
    let url = format!("{api}/api/v1/{kommune}/changes");
    let (mut applied, mut changed) = (0, 0);
    for chunk in changes.chunks(50) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(orghub_generator::Change::operation)
            .collect();
        let response = client
            .post(&url)
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&ops)
            .send()
            .await
            .context("the writer did not answer POST /changes")?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(CliError::Dependency(anyhow!(
                "POST /changes answered {status}: {body}"
            )));
        }
        let results = body["results"].as_array().cloned().unwrap_or_default();
        applied += results.len();
        changed += results.iter().filter(|r| r["changed"] == true).count();
    }
    Ok((applied, changed))
}

async fn event_counts(hub: &PgPool) -> Result<(i64, i64), CliError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM event")
        .fetch_one(hub)
        .await
        .context("cannot count events")?;
    let unpublished: i64 = sqlx::query_scalar(orghub_writer::store::RELAY_LAG_SQL)
        .fetch_one(hub)
        .await
        .context("cannot read the relay's position")?;
    Ok((n, unpublished))
}

fn versions_of(rows: &[sqlx::postgres::PgRow]) -> anyhow::Result<HashMap<Uuid, i64>> {
    rows.iter()
        .map(|r| Ok((r.try_get("uuid")?, r.try_get("version")?)))
        .collect()
}

/// Live entities of the municipality in the writer: uuid → version.
async fn writer_versions(hub: &PgPool, kommune: Kommune) -> anyhow::Result<HashMap<Uuid, i64>> {
    let rows = sqlx::query("SELECT uuid, version FROM entity WHERE NOT deleted AND kommune = $1")
        .bind(i32::from(kommune.code()))
        .fetch_all(hub)
        .await?;
    versions_of(&rows)
}

/// Live entities of the municipality in the subscriber's cache: uuid → version.
async fn cache_versions(cache: &PgPool, kommune: Kommune) -> anyhow::Result<HashMap<Uuid, i64>> {
    let rows = sqlx::query(
        "SELECT uuid, version FROM orghub_cache.entity WHERE NOT deleted AND kommune = $1",
    )
    .bind(kommune.to_string())
    .fetch_all(cache)
    .await?;
    versions_of(&rows)
}

/// Waits until the cache holds every live entity of the writer at its version, then compares the
/// documents with the snapshot. `Ok(n)`: converged with `n` entities.
async fn converge(
    hub: &PgPool,
    cache: &PgPool,
    reader: &WriterClient,
    kommune: Kommune,
    timeout: Duration,
) -> Result<Result<usize, String>, CliError> {
    let deadline = Instant::now() + timeout;
    let mut last_report = Instant::now();
    loop {
        let want = writer_versions(hub, kommune)
            .await
            .context("cannot read the writer's entities")?;
        // The cache schema appears once the subscriber has started; until then it is empty.
        let have = cache_versions(cache, kommune).await.unwrap_or_default();
        let matching = want
            .iter()
            .filter(|(u, v)| have.get(*u) == Some(*v))
            .count();
        if matching == want.len() && have.len() == want.len() {
            break;
        }
        if Instant::now() > deadline {
            return Ok(Err(format!(
                "{matching} of {} entities at the writer's version after {timeout:?}",
                want.len()
            )));
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            eprintln!(
                "    cache: {matching}/{} entities at the latest version",
                want.len()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Versions agree: now the documents, against the snapshot.
    let mut stream = reader.snapshot(kommune).await?;
    let mut snapshot: HashMap<Uuid, Value> = HashMap::new();
    while let Some(doc) = stream.next_document().await? {
        if let Some(uuid) = doc["uuid"].as_str().and_then(|u| Uuid::parse_str(u).ok()) {
            snapshot.insert(uuid, doc);
        }
    }
    let rows = sqlx::query(
        "SELECT uuid, document FROM orghub_cache.entity WHERE NOT deleted AND kommune = $1",
    )
    .bind(kommune.to_string())
    .fetch_all(cache)
    .await
    .context("cannot read the cache")?;
    let mut differing = 0;
    for row in &rows {
        let uuid: Uuid = row.try_get("uuid").context("cache row")?;
        let doc: Value = row.try_get("document").context("cache row")?;
        if snapshot.get(&uuid) != Some(&doc) {
            differing += 1;
        }
    }
    if differing > 0 || rows.len() != snapshot.len() {
        return Ok(Err(format!(
            "{differing} documents differ; cache has {}, snapshot {}",
            rows.len(),
            snapshot.len()
        )));
    }
    Ok(Ok(rows.len()))
}

async fn dlq_depth(amqp_url: &str) -> anyhow::Result<u32> {
    let conn = orghub_broker::connect(amqp_url, "orghubctl demo").await?;
    let depth = orghub_broker::queue_depth(&conn, &format!("sub.{SUBSCRIBER}.dlq")).await;
    orghub_broker::close_connection(&conn, "ok").await;
    Ok(depth?)
}
