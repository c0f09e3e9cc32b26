//! `orghubctl classes seed --kommune K`: loads orghub's standard catalogue (DESIGN §2
//! *Classifications*, `orghub_contracts::catalogue`) into a municipality through the writer's
//! import, one class per line. Every class's UUID is derived from kommune, facet and user_key, so
//! seeding again finds every class unchanged and the writer emits nothing.

use std::collections::BTreeMap;

use orghub_contracts::{Facet, Kommune, catalogue};
use serde::Serialize;

use crate::error::{CliError, EXIT_CODES_HELP};
use crate::settings::Settings;
use crate::table::{Table, print_json};
use orghub_contracts::api::ImportSummary;

/// `classes` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClassesCommand {
    /// Load the standard catalogue into a municipality (partial import: classes the catalogue
    /// does not have are left alone); seeding twice changes nothing.
    #[command(after_help = EXIT_CODES_HELP)]
    Seed {
        /// The municipality (kommunekode).
        #[arg(long, value_parser = parse_kommune)]
        kommune: Kommune,
    },
}

fn parse_kommune(s: &str) -> Result<Kommune, String> {
    Kommune::parse(s).map_err(|e| e.to_string())
}

/// The catalogue of `kommune` as import NDJSON: the generator's lines, one class each, parents
/// before children, each valid from [`catalogue::valid_from`] without end.
pub fn catalogue_ndjson(kommune: Kommune) -> String {
    let mut out = String::new();
    for line in orghub_generator::catalogue(kommune) {
        out.push_str(&line.to_json());
        out.push('\n');
    }
    out
}

/// What `seed` did, for `--json`.
#[derive(Debug, Serialize)]
struct Seeded {
    kommune: String,
    classes: u64,
    per_facet: BTreeMap<&'static str, u64>,
    #[serde(flatten)]
    summary: ImportSummary,
}

pub async fn run(command: ClassesCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        ClassesCommand::Seed { kommune } => seed(kommune, settings).await,
    }
}

async fn seed(kommune: Kommune, settings: &Settings) -> Result<(), CliError> {
    let writer = settings.writer_data()?;
    let mut per_facet: BTreeMap<&'static str, u64> = BTreeMap::new();
    for e in catalogue::entries() {
        *per_facet.entry(e.facet.key()).or_default() += 1;
    }
    let body = catalogue_ndjson(kommune);
    let summary = writer.import(kommune, false, body.into()).await?;
    tracing::info!(%kommune, created = summary.created, updated = summary.updated,
        unchanged = summary.unchanged, "catalogue seeded");
    let seeded = Seeded {
        kommune: kommune.to_string(),
        classes: per_facet.values().sum(),
        per_facet,
        summary,
    };
    if settings.json {
        print_json(&seeded);
    } else {
        print_human(&seeded);
    }
    if seeded.summary.rejected_count > 0 {
        let first = seeded
            .summary
            .rejected
            .first()
            .and_then(|r| r.errors.first())
            .map(|e| format!(": {} {}", e.pointer, e.detail))
            .unwrap_or_default();
        return Err(CliError::usage(format!(
            "{} of {} classes rejected{first}",
            seeded.summary.rejected_count, seeded.classes
        )));
    }
    Ok(())
}

fn print_human(s: &Seeded) {
    let t = &s.summary;
    println!(
        "seeded the standard catalogue into {}: {} classes in {} facets",
        s.kommune,
        s.classes,
        s.per_facet.len()
    );
    println!(
        "created {}  updated {}  unchanged {}  rejected {}",
        t.created, t.updated, t.unchanged, t.rejected_count
    );
    if t.created + t.updated == 0 && t.rejected_count == 0 {
        println!("nothing changed: every class was already there (no events)");
    }
    let mut table = Table::new(&["FACET", "CLASSES"]);
    for facet in Facet::ALL {
        let n = s.per_facet.get(facet.key()).copied().unwrap_or(0);
        table.row(vec![facet.key().to_owned(), n.to_string()]);
    }
    print!("{}", table.render());
}
