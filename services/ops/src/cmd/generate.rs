//! `orghubctl generate --kommune K --size small|medium|large --seed N [--changes N]`: writes a
//! realistic municipal organisation as import NDJSON on stdout (deterministic for a seed), or,
//! with `--changes`, a day-to-day stream of `POST /changes` operations against it.

use std::io::{BufWriter, Write as _};

use orghub_contracts::Kommune;
use orghub_generator::{Options, Size};

use crate::error::CliError;

/// Arguments of `generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The municipality (kommunekode) the organisation belongs to.
    #[arg(long, value_parser = parse_kommune)]
    pub kommune: Kommune,
    /// small (≈ Læsø, 200 employees), medium (≈ 5,000 employees) or large (≈ København,
    /// 40,000 employees, 200,000 entities).
    #[arg(long, default_value = "small")]
    pub size: Size,
    /// The same seed always gives the same organisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instead of the organisation, write this many changes (hires, transfers, terminations,
    /// renames, future-dated reorganisations, address changes), one `POST /changes` operation
    /// per line, to apply in order after importing the organisation.
    #[arg(long)]
    pub changes: Option<usize>,
}

fn parse_kommune(s: &str) -> Result<Kommune, String> {
    Kommune::parse(s).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> Result<(), CliError> {
    let opts = Options {
        kommune: args.kommune,
        size: args.size,
        seed: args.seed,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = match args.changes {
        None => orghub_generator::write_ndjson(&opts, &mut out).map(|_| ()),
        Some(n) => {
            let today = chrono::Utc::now()
                .with_timezone(&chrono_tz::Europe::Copenhagen)
                .date_naive();
            orghub_generator::changes(&opts, n, today)
                .iter()
                .try_for_each(|c| writeln!(out, "{}", c.operation()))
        }
    }
    .and_then(|()| out.flush());
    match result {
        // `orghubctl generate ... | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Dependency(anyhow::anyhow!(
            "cannot write to stdout: {e}"
        ))),
        Ok(()) => Ok(()),
    }
}
