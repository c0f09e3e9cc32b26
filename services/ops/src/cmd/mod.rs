//! The commands, one file each, all of the same shape: clap arguments and
//! `run(args, &Settings) -> Result<(), CliError>`, printing a table or (`--json`) JSON on
//! stdout.

pub mod classes;
pub mod console;
pub mod demo;
mod demo_midnight;
pub mod demo_structure;
pub mod dlq;
pub mod generate;
pub mod import;
pub mod sources;
pub mod status;
pub mod subscriber;
pub mod token;
