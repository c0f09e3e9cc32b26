//! `orghubctl sources list|set`: a municipality's source systems and what each owns (DESIGN §2
//! *Source systems*), through the writer's `sources` admin API.

use orghub_contracts::Kommune;
use serde_json::Value;

use crate::error::{CliError, EXIT_CODES_HELP};
use crate::settings::Settings;
use crate::table::{Table, or_dash, print_json};

/// `sources` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SourcesCommand {
    /// Every declared source of a municipality with what it owns.
    #[command(after_help = EXIT_CODES_HELP)]
    List {
        /// The municipality (kommunekode).
        #[arg(long, value_parser = parse_kommune)]
        kommune: Kommune,
    },
    /// Declare what a source owns in a municipality, replacing its earlier declaration; an item
    /// another source owns is refused (exit 2).
    #[command(after_help = EXIT_CODES_HELP)]
    Set {
        /// The source label (`[a-z][a-z0-9-]{0,31}`, e.g. `sd`).
        source: String,
        /// The municipality (kommunekode).
        #[arg(long, value_parser = parse_kommune)]
        kommune: Kommune,
        /// What it owns, as JSON: `{"<kind>": "*" or ["field", …]}`, e.g.
        /// `{"person": ["given_name", "surname", "cpr"], "engagement": "*"}`.
        #[arg(long)]
        owns: String,
    },
}

fn parse_kommune(s: &str) -> Result<Kommune, String> {
    Kommune::parse(s).map_err(|e| e.to_string())
}

/// What a source owns, as one line: `engagement person(given_name,surname)`.
fn owned(owns: &Value) -> String {
    let Some(object) = owns.as_object() else {
        return owns.to_string();
    };
    object
        .iter()
        .map(|(kind, fields)| match fields.as_array() {
            Some(fs) => format!(
                "{kind}({})",
                fs.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => kind.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A source's last full import: when, and its counts.
fn full_import(source: &Value) -> String {
    let Some(at) = source["last_full_import_at"].as_str() else {
        return "-".into();
    };
    let s = &source["last_full_import"];
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    let mut out = format!(
        "{at}: {} lines, {} created, {} updated, {} ended, {} rejected",
        n("lines"),
        n("created"),
        n("updated"),
        n("terminated") + n("deleted"),
        n("rejected_count")
    );
    if s["not_ended_because"].is_string() {
        out.push_str(" (nothing ended)");
    }
    out
}

pub async fn run(command: SourcesCommand, settings: &Settings) -> Result<(), CliError> {
    let writer = settings.writer_admin()?;
    match command {
        SourcesCommand::List { kommune } => {
            let listed = writer.sources(kommune).await?;
            if settings.json {
                print_json(&listed);
                return Ok(());
            }
            let sources = listed["sources"].as_array().cloned().unwrap_or_default();
            if sources.is_empty() {
                println!("no sources declared in {kommune}");
                return Ok(());
            }
            let mut table = Table::new(&["SOURCE", "OWNS", "LAST WRITE", "LAST FULL IMPORT"]);
            for s in sources {
                table.row(vec![
                    s["source"].as_str().unwrap_or("").to_owned(),
                    owned(&s["owns"]),
                    or_dash(s["last_write_at"].as_str().map(str::to_owned)),
                    full_import(&s),
                ]);
            }
            table.print();
        }
        SourcesCommand::Set {
            source,
            kommune,
            owns,
        } => {
            let owns: Value = serde_json::from_str(&owns)
                .map_err(|e| CliError::usage(format!("--owns is not JSON: {e}")))?;
            let declared = writer.declare_source(kommune, &source, &owns).await?;
            tracing::info!(%kommune, %source, owns = %declared["owns"], "source declared");
            if settings.json {
                print_json(&declared);
            } else {
                println!("{source} owns in {kommune}: {}", owned(&declared["owns"]));
            }
        }
    }
    Ok(())
}
