//! Each binary's command line: `--help` documents every setting, bad configuration exits before
//! anything connects.

mod ops;
mod subscriber;
mod writer;
