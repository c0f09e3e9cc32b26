//! Prints the counts and generation time of each size: `cargo run --release -p orghub-generator
//! --example generate [kommune] [seed]`. With `--ndjson SIZE` writes that size's organisation to
//! stdout instead.

use std::io::Write;
use std::time::Instant;

use orghub_generator::{Options, Size, changes, stats, write_ndjson};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--ndjson") {
        let size: Size = args.get(1).map_or("small", String::as_str).parse()?;
        let kommune = args.get(2).map_or("825", String::as_str).parse()?;
        let seed = args.get(3).map_or(Ok(1), |s| s.parse())?;
        let opts = Options {
            kommune,
            size,
            seed,
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        write_ndjson(&opts, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let seed: u64 = args.get(1).map_or(Ok(1), |s| s.parse())?;
    for (size, code) in [
        (Size::Small, "825"),
        (Size::Medium, "751"),
        (Size::Large, "101"),
    ] {
        let opts = Options {
            kommune: code.parse()?,
            size,
            seed,
        };
        let started = Instant::now();
        let mut sink = std::io::sink();
        let lines = write_ndjson(&opts, &mut sink)?;
        let ndjson = started.elapsed();
        let counted = stats(&opts);
        let started = Instant::now();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).ok_or("date")?;
        let stream = changes(&opts, 10_000, today);
        let changing = started.elapsed();
        println!(
            "{size:6} {code}: {counted}; NDJSON {lines} lines in {:.2} s; 10,000 changes in {:.2} s",
            ndjson.as_secs_f64(),
            changing.as_secs_f64()
        );
        assert_eq!(stream.len(), 10_000);
    }
    Ok(())
}
