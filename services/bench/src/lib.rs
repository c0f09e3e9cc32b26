//! orghub-bench: the benchmark program. One run measures, on this machine's PostgreSQL and
//! RabbitMQ, the raw yardsticks and orghub against them — bulk import, no-op re-import, live
//! latency and the cost of the writer and the subscriber — prints the figures and rewrites the
//! results section of `BENCHMARKS.md`. Benchmarks print figures; they never fail on a time.
//!
//! ```sh
//! cargo run --release -p orghub-bench -- --size large          # the figures in BENCHMARKS.md
//! cargo run --release -p orghub-bench -- --size smoke --no-write  # what CI runs (seconds)
//! ```
//!
//! Layout:
//! - [`env`]: the bench's own databases and vhost, fresh per run, removed at the end.
//! - [`child`]: the writer and the subscriber as child processes (the binary re-executed with
//!   `--role`), so `/proc` gives each one's CPU time and peak memory.
//! - [`workload`]: generated municipalities and real encoded events.
//! - [`yardstick`]: raw AMQP publish/consume and PostgreSQL insert.
//! - [`hub`]: the running hub as the bench sees it (API, databases, metrics, queue depth).
//! - [`run`]: the phases; [`meter`] and [`procfs`]: what a phase costs.
//! - [`report`]: the Markdown figures and the rewrite of `BENCHMARKS.md`.

pub mod child;
pub mod env;
pub mod hub;
pub mod meter;
pub mod procfs;
pub mod report;
pub mod run;
pub mod workload;
pub mod yardstick;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use orghub_generator::Size;

use crate::child::Role;
use crate::env::{BadEnvironment, Env, Services};
use crate::run::Plan;
use crate::workload::Shape;

/// orghub-bench: measures orghub against raw RabbitMQ and PostgreSQL yardsticks on this machine
/// and rewrites the results section of BENCHMARKS.md.
///
/// It creates (and drops at the end) the databases orghub_bench and orghub_bench_cache and the
/// vhost orghub-bench, runs the writer and the subscriber as child processes, and prints progress
/// while it works.
#[derive(Debug, Clone, Parser)]
#[command(name = "orghub-bench", version, about, long_about)]
pub struct Cli {
    /// How much: smoke (400 entities, a few seconds; what CI runs), small (≈ 1,200 entities),
    /// medium (≈ 25,000) or large (≈ 200,000 per municipality).
    #[arg(long, value_enum, default_value_t = BenchSize::Large)]
    pub size: BenchSize,

    /// Seed of the generated organisations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Do not rewrite BENCHMARKS.md; only print the figures.
    #[arg(long)]
    pub no_write: bool,

    /// The file whose results section is rewritten.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../BENCHMARKS.md"))]
    pub benchmarks_file: PathBuf,

    /// Live-latency PUTs per second.
    #[arg(long, default_value_t = 200)]
    pub live_rate: u32,

    /// Seconds of live-latency PUTs on the idle hub (default: 2 for smoke, 5 small, 10 medium,
    /// 15 large).
    #[arg(long)]
    pub live_seconds: Option<u64>,

    /// PostgreSQL URL of a database from which the bench may create and drop databases.
    #[arg(
        long,
        env = "ORGHUB_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    pub pg_url: String,

    /// RabbitMQ AMQP URL without a vhost.
    #[arg(
        long,
        env = "ORGHUB_BENCH_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// RabbitMQ management API URL (a user that may create vhosts).
    #[arg(
        long,
        env = "RABBITMQ_MGMT_URL",
        default_value = "http://guest:guest@127.0.0.1:15672",
        hide_env_values = true
    )]
    pub mgmt_url: String,

    /// Internal: run as the bench's writer or subscriber child process.
    #[arg(long, value_enum, hide = true, requires = "config")]
    pub role: Option<Role>,

    /// Internal: the child's config file.
    #[arg(long, hide = true)]
    pub config: Option<PathBuf>,
}

/// The sizes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchSize {
    Smoke,
    Small,
    Medium,
    Large,
}

impl BenchSize {
    fn word(self) -> &'static str {
        match self {
            BenchSize::Smoke => "smoke",
            BenchSize::Small => "small",
            BenchSize::Medium => "medium",
            BenchSize::Large => "large",
        }
    }

    fn plan(self, cli: &Cli) -> Plan {
        let (size, limit, floor, live) = match self {
            BenchSize::Smoke => (Size::Small, Some(400), 2_000, 2),
            BenchSize::Small => (Size::Small, None, 10_000, 5),
            BenchSize::Medium => (Size::Medium, None, 10_000, 10),
            BenchSize::Large => (Size::Large, None, 10_000, 15),
        };
        Plan {
            shape: Shape {
                size,
                limit,
                seed: cli.seed,
            },
            yardstick_floor: floor,
            live_seconds: Duration::from_secs(cli.live_seconds.unwrap_or(live)),
            live_rate: cli.live_rate,
        }
    }
}

/// The whole program: `main` calls this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(role), Some(config)) = (cli.role, cli.config.as_ref()) {
        return match runtime.block_on(child::run_role(role, config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(bench(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(bad) = e.downcast_ref::<BadEnvironment>() {
                eprintln!("error: {bad}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn bench(cli: &Cli) -> anyhow::Result<()> {
    if !procfs::available() {
        anyhow::bail!("orghub-bench needs Linux's /proc to measure CPU time and memory");
    }
    let machine = procfs::Machine::read();
    let command = command_line();
    println!("orghub-bench: {command}");
    println!(
        "machine: {}; load average {}",
        machine.describe(),
        machine.load_average
    );
    let plan = cli.size.plan(cli);
    let services = Services {
        pg_admin_url: cli.pg_url.clone(),
        amqp_url: cli.amqp_url.clone(),
        mgmt_url: cli.mgmt_url.clone(),
    };
    let env = Env::prepare(&services).await?;
    println!(
        "fresh databases {} and {}, fresh vhost {}",
        env::WRITER_DB,
        env::CACHE_DB,
        env::VHOST
    );
    let outcome = tokio::select! {
        r = run::run(&env, &plan) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    println!("\n==> cleaning up (databases, vhost)");
    env.cleanup(outcome.is_err()).await;
    let figures = outcome?;

    let ctx = report::Context {
        machine,
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command,
        size: cli.size.word().to_owned(),
        commit: git_commit(),
    };
    let text = report::markdown(&ctx, &figures);
    println!("\n{text}");
    if cli.no_write {
        println!(
            "(--no-write: {} left as it is)",
            cli.benchmarks_file.display()
        );
    } else {
        report::write(&cli.benchmarks_file, &text)?;
        println!("results written to {}", cli.benchmarks_file.display());
    }
    Ok(())
}

/// The command as a reader would type it: `cargo run [--release] -p orghub-bench -- <args>`.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    if args.is_empty() {
        format!("cargo run{profile} -p orghub-bench")
    } else {
        format!("cargo run{profile} -p orghub-bench -- {}", args.join(" "))
    }
}

/// The checked-out commit, `+dirty` when the work tree has changes.
fn git_commit() -> Option<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let sha = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{sha}+dirty") } else { sha })
}
