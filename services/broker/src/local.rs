//! First-run set-up of a RabbitMQ on this machine: a freshly installed broker has its management
//! plugin off, and the demo and the tests need the management API. [`ensure_management_api`]
//! does what `deploy/dev/ensure-services` does for it, so the README's two commands work on a
//! fresh machine without a preparation step. Only for a broker on this machine (`127.0.0.1`,
//! `localhost`, `::1`): a remote broker's plugins are its operator's business.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::mgmt::Management;

/// How long the plugin may take to answer once enabled (it starts its HTTP listener and its
/// statistics database; seconds on an idle machine, longer on a loaded one).
const ANSWER_DEADLINE: Duration = Duration::from_secs(90);
/// How long `rabbitmq-plugins` itself may run.
const COMMAND_DEADLINE: Duration = Duration::from_secs(90);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Why the management API could not be made to answer.
#[derive(Debug, thiserror::Error)]
pub enum LocalSetupError {
    /// The API is not on this machine, so enabling a plugin here cannot help.
    #[error(
        "RabbitMQ's management API at {url} does not answer; it is not on this machine, so \
         enable the plugin there (rabbitmq-plugins enable rabbitmq_management)"
    )]
    NotLocal { url: String },
    /// `rabbitmq-plugins` could not be run or failed (not installed, or not allowed: it needs
    /// the broker's Erlang cookie, which usually means root or the rabbitmq user).
    #[error(
        "RabbitMQ's management API at {url} does not answer and `rabbitmq-plugins enable \
         rabbitmq_management` failed: {detail}\n  run it as root (sudo rabbitmq-plugins enable \
         rabbitmq_management), or run deploy/dev/ensure-services"
    )]
    Enable { url: String, detail: String },
    /// The plugin is on but the API still does not answer.
    #[error(
        "RabbitMQ's management plugin is enabled but the API at {url} did not answer within \
         {deadline:?}; is RabbitMQ running (rabbitmq-diagnostics status)?"
    )]
    NoAnswer { url: String, deadline: Duration },
}

/// Makes the management API at `mgmt` answer: returns at once if it answers at all; otherwise, for a
/// broker on this machine, enables the plugin with `rabbitmq-plugins` and waits (polling, with a
/// deadline) until the API answers. `progress` gets one line when it starts doing so and one
/// when it is done. Processes doing this at the same time (nextest runs each test in its own)
/// take turns on a lock file, so the plugin is enabled once and the others find it answering.
pub async fn ensure_management_api(
    mgmt: &Management,
    progress: impl Fn(&str),
) -> Result<(), LocalSetupError> {
    if !unreachable(mgmt).await {
        // It answers (or refuses us, which the caller's next request reports better).
        return Ok(());
    }
    let url = mgmt.base_url().to_owned();
    if !is_local(mgmt) {
        return Err(LocalSetupError::NotLocal { url });
    }
    let _turn = take_turn(&url).await?;
    // Another process may have enabled it while this one waited for its turn.
    if !unreachable(mgmt).await {
        return Ok(());
    }
    progress(
        "RabbitMQ's management API does not answer: enabling the plugin (rabbitmq-plugins \
         enable rabbitmq_management)",
    );
    let started = Instant::now();
    let output = tokio::time::timeout(
        COMMAND_DEADLINE,
        tokio::process::Command::new("rabbitmq-plugins")
            .args(["-q", "enable", "rabbitmq_management"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| LocalSetupError::Enable {
        url: url.clone(),
        detail: format!("it did not finish within {COMMAND_DEADLINE:?}"),
    })?
    .map_err(|e| LocalSetupError::Enable {
        url: url.clone(),
        detail: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(LocalSetupError::Enable {
            url,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    let until = started + ANSWER_DEADLINE;
    while !mgmt.overview_ok().await {
        if Instant::now() >= until {
            return Err(LocalSetupError::NoAnswer {
                url,
                deadline: ANSWER_DEADLINE,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    progress(&format!(
        "RabbitMQ's management API answers after {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Nothing listens (or answers in time): the plugin is off or the broker is down. Any answer,
/// even a refusal, means the plugin is on.
async fn unreachable(mgmt: &Management) -> bool {
    matches!(mgmt.get_json(&["overview"]).await, Err(e) if e.is_unreachable())
}

fn is_local(mgmt: &Management) -> bool {
    reqwest::Url::parse(mgmt.base_url())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|host| matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]"))
}

/// An exclusive lock on a file in the temporary directory, held until dropped (the OS releases
/// it when the process ends, so a crashed holder cannot block anyone).
async fn take_turn(url: &str) -> Result<std::fs::File, LocalSetupError> {
    let path: PathBuf = std::env::temp_dir().join("orghub-rabbitmq-plugins.lock");
    let failed = |e: std::io::Error| LocalSetupError::Enable {
        url: url.to_owned(),
        detail: format!("cannot lock {}: {e}", path.display()),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?
        .map_err(failed)
}
