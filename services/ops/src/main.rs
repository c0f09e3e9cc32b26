use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = orghub_ops::Cli::parse();
    // The console is a server: it logs logins and redrives at INFO. Commands print their output.
    if matches!(cli.command, orghub_ops::Command::Console(_)) {
        orghub_runtime::init("orghubctl");
    } else {
        orghub_runtime::init_quiet("orghubctl");
    }
    orghub_ops::run(cli).await
}
