//! `orghubctl token create|list|revoke`: the writer's API tokens, through its admin API.

use crate::error::{CliError, EXIT_CODES_HELP};
use crate::settings::Settings;
use crate::table::{Table, or_dash, print_json};

/// `token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed this once.
    #[command(after_help = EXIT_CODES_HELP)]
    Create {
        /// A name saying who uses it (e.g. the source system).
        #[arg(long)]
        name: String,
        /// A scope: read:<kommune>, write:<kommune>, cpr:<kommune> or admin (repeatable).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// The source system the token writes for (`[a-z][a-z0-9-]{0,31}`, e.g. `sd`): its
        /// writes change only what the source owns (`sources` admin API).
        #[arg(long)]
        source: Option<String>,
    },
    /// Every token with its scopes (never the secret), revoked ones too.
    #[command(after_help = EXIT_CODES_HELP)]
    List,
    /// Revoke a token by its id; it stops working at once.
    #[command(after_help = EXIT_CODES_HELP)]
    Revoke {
        /// The token's id (from `token list`).
        id: String,
    },
}

pub async fn run(command: TokenCommand, settings: &Settings) -> Result<(), CliError> {
    let writer = settings.writer_admin()?;
    match command {
        TokenCommand::Create {
            name,
            scopes,
            source,
        } => {
            let token = writer
                .create_sourced_token(&name, &scopes, source.as_deref())
                .await?;
            tracing::info!(token_id = %token.id, name = %token.name, scopes = ?token.scopes, "token created");
            if settings.json {
                print_json(&token);
            } else {
                println!("id      {}", token.id);
                println!("name    {}", token.name);
                println!("scopes  {}", token.scopes.join(" "));
                if let Some(source) = &token.source {
                    println!("source  {source}");
                }
                println!("token   {}", token.token);
                eprintln!("orghubctl: the token is shown only this once; store it safely");
            }
        }
        TokenCommand::List => {
            let tokens = writer.list_tokens().await?;
            if settings.json {
                print_json(&tokens);
            } else if tokens.is_empty() {
                println!("no tokens (the bootstrap ORGHUB_ADMIN_TOKEN is not listed)");
            } else {
                let mut table =
                    Table::new(&["ID", "NAME", "SCOPES", "SOURCE", "CREATED", "REVOKED"]);
                for t in tokens {
                    table.row(vec![
                        t.id.to_string(),
                        t.name,
                        t.scopes.join(" "),
                        or_dash(t.source),
                        time(t.created_at),
                        or_dash(t.revoked_at.map(time)),
                    ]);
                }
                table.print();
            }
        }
        TokenCommand::Revoke { id } => {
            writer.revoke_token(&id).await?;
            tracing::info!(token_id = %id, "token revoked");
            if settings.json {
                print_json(&serde_json::json!({"id": id, "revoked": true}));
            } else {
                println!("revoked {id}");
            }
        }
    }
    Ok(())
}

/// A token's time as the table shows it, to the second.
fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
