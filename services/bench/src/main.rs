//! `orghub-bench`: see the library's documentation (`orghub_bench`) and BENCHMARKS.md.

fn main() -> std::process::ExitCode {
    orghub_bench::main()
}
