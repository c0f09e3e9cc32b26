//! The stop signal of a process: one [`Shutdown`] token, cloned into every task that must stop,
//! instead of a channel rebuilt by each service.
//!
//! A task checks [`CancellationToken::is_cancelled`] between units of work and `select!`s on
//! [`CancellationToken::cancelled`] wherever it waits; whoever owns the process (its `main`, a test,
//! the demo) calls [`CancellationToken::cancel`].

pub use tokio_util::sync::CancellationToken as Shutdown;

/// A token that is cancelled on SIGINT or SIGTERM (the signal handler lives as long as the
/// runtime).
pub fn on_signal() -> Shutdown {
    let token = Shutdown::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        signal().await;
        cancel.cancel();
    });
    token
}

/// Completes on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
