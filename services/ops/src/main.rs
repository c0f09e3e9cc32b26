use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = orghub_ops::Cli::parse();
    orghub_runtime::init_quiet("orghubctl");
    orghub_ops::run(cli).await
}
