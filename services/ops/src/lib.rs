//! `orghubctl`, the operator's tool for orghub (DESIGN §6): event-log lag and the relay holder,
//! every subscriber's queues, dead letters (list, show, replay, purge), subscriber and token
//! provisioning, and NDJSON imports with a progress bar. It talks to PostgreSQL (the writer's
//! database, read only), RabbitMQ (AMQP and the management API) and the writer's HTTP API
//! (through `orghub-client`).
//!
//! Layout:
//! - [`Cli`] and [`run`]: the command line and its dispatch; `main.rs` only parses and exits.
//! - [`settings`]: connection settings from flags and environment (`DATABASE_URL`, `AMQP_URL`,
//!   `RABBITMQ_MGMT_URL`, `ORGHUB_VHOST`, `ORGHUB_WRITER_URL`, `ORGHUB_ADMIN_TOKEN`,
//!   `ORGHUB_TOKEN`).
//! - [`cmd`]: one file per command (`status`, `dlq`, `console`, `subscriber`, `token`, `sources`,
//!   `classes`, `import`, `generate`, `demo`).
//! - [`console`]: the operator's web console (`orghubctl console`): overview, dead letters beside
//!   the hub's documents, filter-driven replay and purge, behind the admin token.
//! - [`dead_letters`]: reading a dead letter, selecting, and the AMQP scan that replays or
//!   purges without ever losing a message ([`dead_letters::DeadLetterQueues`], usable from
//!   tests and other tools).
//! - [`names`]: the broker's subscriber conventions (`orghub_broker::subscriber`) as the commands
//!   use them.
//! - [`error`]: [`CliError`] and the exit codes.
//!
//! Exit codes: 0 ok; 1 failure talking to a dependency; 2 bad usage or input (including a
//! refused token, a missing `--yes`, rejected import lines); 3 `status --check` thresholds
//! exceeded; 4 not found (unknown subscriber, dead letter id, token).

pub mod cmd;
pub mod console;
pub mod dead_letters;
pub mod error;
pub mod names;
pub mod settings;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;
pub use settings::Settings;

/// orghubctl: operate an orghub — lag and relay status, dead letters, subscriber and token
/// provisioning, imports.
#[derive(Debug, Parser)]
#[command(name = "orghubctl", version, about, long_about = None, after_help = error::EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Event-log lag, which writer holds the relay, and every subscriber's queues (ready,
    /// unacked, consumers, retry tiers, DLQ, parked, oldest dead letter). --check exits with
    /// code 3 when a threshold is exceeded.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Status(cmd::status::Args),
    /// Dead letters: list, show, replay, purge.
    #[command(subcommand, after_help = error::EXIT_CODES_HELP)]
    Dlq(cmd::dlq::DlqCommand),
    /// The operator's web console on 127.0.0.1:8090: lag and queues (reloading itself), dead
    /// letters beside the entity's current document, and replay or purge by a filter with a
    /// dry run first. Sign in with ORGHUB_ADMIN_TOKEN.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Console(cmd::console::Args),
    /// Subscribers: create (topology, policy, RabbitMQ user and permissions, writer token,
    /// config), repair, list, delete.
    #[command(subcommand, after_help = error::EXIT_CODES_HELP)]
    Subscriber(cmd::subscriber::SubscriberCommand),
    /// Writer API tokens: create, list, revoke.
    #[command(subcommand, after_help = error::EXIT_CODES_HELP)]
    Token(cmd::token::TokenCommand),
    /// Source systems of a municipality and what each owns: list, set.
    #[command(subcommand, after_help = error::EXIT_CODES_HELP)]
    Sources(cmd::sources::SourcesCommand),
    /// The standard catalogue of classes (job titles, engagement types, IT systems, hierarchies,
    /// …): `seed` loads it into a municipality; seeding twice changes nothing.
    #[command(subcommand, after_help = error::EXIT_CODES_HELP)]
    Classes(cmd::classes::ClassesCommand),
    /// Stream an NDJSON file to the writer's import, with a progress bar; exit code 2 if any line
    /// was rejected.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Import(cmd::import::Args),
    /// Write a realistic, deterministic municipal organisation as import NDJSON on stdout (or,
    /// with --changes N, a day-to-day stream of change operations).
    Generate(cmd::generate::Args),
    /// The hub's main job in one command: start a writer and a subscriber with a PostgreSQL
    /// cache on the local PostgreSQL and RabbitMQ, import a generated municipality, play live
    /// changes, wait until the cache equals the writer's snapshot, and print a summary.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Demo(cmd::demo::Args),
}

/// Runs a parsed command line; errors are printed on stderr and become the exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = &cli.settings;
    let result = match cli.command {
        Command::Status(args) => cmd::status::run(args, settings).await,
        Command::Dlq(command) => cmd::dlq::run(command, settings).await,
        Command::Console(args) => cmd::console::run(args, settings).await,
        Command::Subscriber(command) => cmd::subscriber::run(command, settings).await,
        Command::Token(command) => cmd::token::run(command, settings).await,
        Command::Sources(command) => cmd::sources::run(command, settings).await,
        Command::Classes(command) => cmd::classes::run(command, settings).await,
        Command::Import(args) => cmd::import::run(args, settings).await,
        Command::Generate(args) => cmd::generate::run(args),
        Command::Demo(args) => cmd::demo::run(args, settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}
