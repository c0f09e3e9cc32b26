//! `orghubctl console`: serves the operator's web console (see [`crate::console`]) until SIGINT
//! or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use crate::console::{Config, Console, SESSION_MAX_AGE, auth};
use crate::error::CliError;
use crate::settings::Settings;

/// Arguments of `console`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to serve the console on. It is plain HTTP: keep it on loopback, or put a TLS
    /// proxy in front (and pass --secure-cookie).
    #[arg(
        long,
        env = "ORGHUB_CONSOLE_LISTEN",
        hide_env_values = true,
        value_name = "ADDR",
        default_value = "127.0.0.1:8090"
    )]
    pub listen: SocketAddr,
    /// Seconds between the overview page's reloads; 0 turns reloading off.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub refresh: u32,
    /// Replays after which a dead letter is parked in sub.<name>.parked instead (as for
    /// `dlq replay --max-replays`).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_replays: u32,
    /// Minutes without a request after which a session ends (sessions end 12 hours after the
    /// login at the latest).
    #[arg(long, value_name = "MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_idle_minutes: u64,
    /// Login attempts one client address may make without a success; after that it gets 429
    /// (Too Many Requests) for --lockout-seconds, even with the right token.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_attempts: u32,
    /// How long an address that used up its login attempts is locked out, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub lockout_seconds: u64,
    /// Mark the session cookie `Secure`, for a console reached through HTTPS (a TLS proxy).
    #[arg(long)]
    pub secure_cookie: bool,
}

impl Args {
    pub fn config(&self) -> Config {
        Config {
            listen: self.listen,
            refresh: self.refresh,
            max_replays: self.max_replays,
            auth: auth::Policy {
                idle: Duration::from_secs(self.session_idle_minutes * 60),
                max_age: SESSION_MAX_AGE,
                attempts: self.login_attempts,
                lockout: Duration::from_secs(self.lockout_seconds),
                secure_cookie: self.secure_cookie,
            },
        }
    }
}

pub async fn run(args: Args, settings: &Settings) -> Result<(), CliError> {
    let console = Console::build(settings.clone(), args.config()).await?;
    let addr = console.local_addr();
    println!("orghub console on http://{addr}/ (sign in with ORGHUB_ADMIN_TOKEN; Ctrl-C stops)");
    tracing::info!(%addr, "console listening");
    console
        .run_until_stopped(orghub_runtime::shutdown::on_signal())
        .await
        .map_err(CliError::Dependency)
}
