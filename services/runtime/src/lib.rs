//! What every orghub process shares, below every other crate (it knows nothing of orghub's
//! domain): how a binary logs, how it is told to stop, how it keeps secrets out of output, and
//! how it serves its metrics.
//!
//! Layout:
//! - [`logging`]: [`init`] for services, [`init_quiet`] for command-line tools.
//! - [`shutdown`]: [`Shutdown`], the one stop signal a process passes to its tasks
//!   ([`Shutdown::on_signal`] for SIGINT/SIGTERM).
//! - [`secret`]: [`Secret`], a string that never prints its value.
//! - [`url`]: [`redact_url`], a URL fit for logs and messages.
//! - [`metrics`]: [`metrics::render`] a Prometheus registry, [`metrics::serve`] a `/metrics`
//!   endpoint, and bounded HTTP label values ([`metrics::method_label`]).

pub mod logging;
pub mod metrics;
pub mod secret;
pub mod shutdown;
pub mod url;

pub use logging::{init, init_quiet};
pub use secret::Secret;
pub use shutdown::Shutdown;
pub use url::redact_url;
