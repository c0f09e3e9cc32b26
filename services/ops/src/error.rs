//! `CliError`: how a command failed, and so the exit code scripts see.

use std::process::ExitCode;

/// Everything worked.
pub const EXIT_OK: u8 = 0;
/// A dependency (PostgreSQL, RabbitMQ, its management API, the writer) failed or could not be
/// reached, or refused an operation it should have allowed.
pub const EXIT_DEPENDENCY: u8 = 1;
/// Bad usage or input: an invalid argument, a missing setting, a refused token, a confirmation
/// (`--yes`) missing, import lines rejected.
pub const EXIT_USAGE: u8 = 2;
/// `status --check`: a threshold was exceeded.
pub const EXIT_THRESHOLD: u8 = 3;
/// What was named does not exist: a subscriber, a dead letter id, a token.
pub const EXIT_NOT_FOUND: u8 = 4;

/// The exit codes as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  failure talking to a dependency (PostgreSQL, RabbitMQ, management API, writer)
  2  bad usage or input (invalid arguments or settings, refused token, missing --yes,
     import lines rejected)
  3  status --check: a threshold was exceeded
  4  not found (unknown subscriber, dead letter id or token)";

/// How a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A dependency failed; the error carries its context chain.
    #[error("{0:#}")]
    Dependency(anyhow::Error),
    /// The invocation or its input is wrong; retrying the same command cannot help.
    #[error("{0}")]
    Usage(String),
    /// `status --check` thresholds exceeded, one line each.
    #[error("thresholds exceeded:\n  {}", .0.join("\n  "))]
    Thresholds(Vec<String>),
    /// What the command names does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Dependency(_) => EXIT_DEPENDENCY,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Thresholds(_) => EXIT_THRESHOLD,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
        }
    }

    pub fn usage(detail: impl Into<String>) -> Self {
        CliError::Usage(detail.into())
    }

    /// Prints the error on stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("orghubctl: {self}");
        ExitCode::from(self.exit_code())
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Dependency(e)
    }
}

impl From<orghub_broker::mgmt::MgmtError> for CliError {
    fn from(e: orghub_broker::mgmt::MgmtError) -> Self {
        CliError::Dependency(e.into())
    }
}

impl From<orghub_client::WriterError> for CliError {
    fn from(e: orghub_client::WriterError) -> Self {
        use orghub_client::WriterError as W;
        match e {
            W::InvalidUrl { .. } | W::Refused { .. } | W::Invalid { .. } => {
                CliError::Usage(e.to_string())
            }
            W::NotFound { .. } => CliError::NotFound(e.to_string()),
            W::Unreachable { .. } | W::Failed { .. } | W::Broken { .. } | W::LineTooLong { .. } => {
                CliError::Dependency(e.into())
            }
        }
    }
}

impl From<orghub_broker::BrokerError> for CliError {
    fn from(e: orghub_broker::BrokerError) -> Self {
        CliError::Dependency(e.into())
    }
}
