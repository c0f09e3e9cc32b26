use std::process::ExitCode;

use clap::Parser;
use orghub_subscriber::{Cli, Command, Config, Subscriber};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("orghub-subscriber: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    orghub_runtime::init("orghub-subscriber");
    let subscriber = match Subscriber::build(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orghub-subscriber: {e:#}");
            return ExitCode::from(1);
        }
    };
    let command = cli.command.unwrap_or(Command::Run);
    match subscriber
        .run_until_stopped(command, orghub_runtime::shutdown::on_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "orghub-subscriber stopped");
            ExitCode::from(1)
        }
    }
}
