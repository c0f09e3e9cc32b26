//! `orghubctl import FILE --kommune K [--mode full]`: streams an NDJSON file to the writer's
//! import API with a progress bar, and reports what the writer did, rejected lines by number.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use futures_util::TryStreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orghub_contracts::Kommune;
use tokio_util::io::ReaderStream;

use crate::error::CliError;
use crate::settings::Settings;
use crate::table::print_json;
use orghub_contracts::api::ImportSummary;

/// Bytes read from the file per chunk sent; memory stays bounded whatever the file's size.
const CHUNK: usize = 64 * 1024;

/// Import mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Create or update the file's entities; others are left alone.
    Partial,
    /// Also end the municipality's entities that the file does not contain.
    Full,
}

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON file, one {"kind", "uuid", "state"} object per line.
    pub file: PathBuf,
    /// The municipality (kommunekode) the file belongs to.
    #[arg(long, value_parser = parse_kommune)]
    pub kommune: Kommune,
    /// partial or full.
    #[arg(long, value_enum, default_value_t = Mode::Partial)]
    pub mode: Mode,
}

fn parse_kommune(s: &str) -> Result<Kommune, String> {
    Kommune::parse(s).map_err(|e| e.to_string())
}

pub async fn run(args: Args, settings: &Settings) -> Result<(), CliError> {
    let writer = settings.writer_data()?;
    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", args.file.display())))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(size);
    let counter = bar.clone();
    let stream = ReaderStream::with_capacity(file, CHUNK)
        .inspect_ok(move |chunk| counter.inc(chunk.len() as u64));
    let summary = writer
        .import(
            args.kommune,
            args.mode == Mode::Full,
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    bar.finish_and_clear();
    let summary = summary?;
    if settings.json {
        print_json(&summary);
    } else {
        print_human(&args, &summary);
    }
    if summary.rejected_count > 0 {
        return Err(CliError::usage(format!(
            "{} of {} lines rejected (the others were imported)",
            summary.rejected_count, summary.lines
        )));
    }
    Ok(())
}

/// A bar by bytes sent, on stderr, hidden when stderr is not a terminal.
fn progress_bar(size: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn print_human(args: &Args, s: &ImportSummary) {
    println!(
        "imported {} into {} ({})",
        args.file.display(),
        args.kommune,
        if args.mode == Mode::Full {
            "full"
        } else {
            "partial"
        }
    );
    println!(
        "lines {}  created {}  updated {}  unchanged {}  terminated {}  deleted {}  rejected {}",
        s.lines, s.created, s.updated, s.unchanged, s.terminated, s.deleted, s.rejected_count
    );
    if let Some(why) = &s.not_ended_because {
        println!("nothing ended: {why}");
    }
    if s.rejected.is_empty() {
        return;
    }
    println!("rejected:");
    for r in &s.rejected {
        let place = match (r.line, &r.uuid) {
            (0, Some(uuid)) => format!("entity {uuid}"),
            (line, Some(uuid)) => format!("line {line} ({uuid})"),
            (line, None) => format!("line {line}"),
        };
        let errors: Vec<String> = r
            .errors
            .iter()
            .map(|e| {
                if e.pointer.is_empty() {
                    e.detail.clone()
                } else {
                    format!("{}: {}", e.pointer, e.detail)
                }
            })
            .collect();
        println!("  {place}: {}", errors.join("; "));
    }
    let unlisted = s.rejected_count.saturating_sub(s.rejected.len() as u64);
    if unlisted > 0 {
        println!("  ... and {unlisted} more");
    }
}
