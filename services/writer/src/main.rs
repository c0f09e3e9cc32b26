use clap::Parser;
use orghub_writer::{Application, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    orghub_telemetry::init("orghub-writer");
    let config = Config::parse();
    if let Err(e) = config.validate() {
        eprintln!("orghub-writer: {e}");
        return std::process::ExitCode::from(2);
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("orghub-writer: {e:#}");
            return std::process::ExitCode::from(1);
        }
    };
    match app
        .run_until_stopped(orghub_telemetry::shutdown_signal())
        .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "orghub-writer stopped");
            std::process::ExitCode::from(1)
        }
    }
}
