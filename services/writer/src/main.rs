use clap::Parser;
use orghub_writer::{Application, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A bad setting ends here: clap prints which one and exits with 2, before anything binds.
    let config = Config::parse();
    orghub_runtime::init("orghub-writer");
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("orghub-writer: {e:#}");
            return std::process::ExitCode::from(1);
        }
    };
    match app
        .run_until_stopped(orghub_runtime::shutdown::on_signal())
        .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "orghub-writer stopped");
            std::process::ExitCode::from(1)
        }
    }
}
