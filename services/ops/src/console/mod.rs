//! `orghubctl console`: the operator's web console (DESIGN §6), server-rendered HTML with no
//! script, behind the admin token. It reads what `orghubctl status` and `orghubctl dlq` read,
//! through the same functions ([`crate::cmd::status`], [`crate::dead_letters`]), and replays
//! and purges with the same scan that acks a dead letter only after its copy is confirmed.
//!
//! Layout, one file per concern:
//! - [`Console`]: built from [`Config`] and the global settings, bound before it serves
//!   (`build` then `run_until_stopped`, as the writer's `Application`); the router.
//! - [`auth`]: login with the admin token, sessions, CSRF tokens, the failed-login limit.
//! - [`layout`]: the page shell, style sheet, security headers, form fields, error pages.
//! - [`overview`]: event-log lag, the relay holder, every subscriber's queues; reloads itself.
//! - [`dead_letters`]: the filtered list of dead letters, and one dead letter with its headers
//!   beside the entity's current document in the hub ([`diff`]).
//! - [`redrive`]: bulk replay and purge by the current filter: a dry run first, then a job whose
//!   page shows its progress and result.

pub mod auth;
pub mod dead_letters;
pub mod diff;
pub mod layout;
pub mod overview;
pub mod redrive;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use orghub_broker::mgmt::Management;
use orghub_runtime::Shutdown;
use tokio::net::TcpListener;

use crate::dead_letters::DeadLetterQueues;
use crate::error::CliError;
use crate::settings::Settings;
use layout::PageError;
use orghub_client::WriterClient;

/// How the console runs (the flags of `orghubctl console`).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Seconds between the overview's reloads; 0 = never.
    pub refresh: u32,
    /// Replays after which a dead letter is parked instead.
    pub max_replays: u32,
    pub auth: auth::Policy,
}

/// What the handlers share.
#[derive(Debug)]
pub struct ConsoleState {
    pub(crate) settings: Settings,
    pub(crate) vhost: String,
    pub(crate) amqp_url: String,
    pub(crate) mgmt: Management,
    pub(crate) writer: WriterClient,
    pub(crate) auth: auth::Auth,
    pub(crate) redrive: redrive::Store,
    pub(crate) config: Config,
}

impl ConsoleState {
    /// A connection for one request's work on dead-letter queues.
    pub(crate) async fn dead_letter_queues(&self) -> Result<DeadLetterQueues, PageError> {
        DeadLetterQueues::connect(&self.amqp_url)
            .await
            .map_err(|e| PageError::Dependency(format!("cannot reach RabbitMQ: {e}")))
    }
}

/// A console bound to its address, not serving yet.
#[derive(Debug)]
pub struct Console {
    listener: TcpListener,
    state: Arc<ConsoleState>,
}

impl Console {
    /// Checks the settings (the admin token is required: it is the login and reads the hub's
    /// documents) and binds the address. Nothing is served yet.
    pub async fn build(settings: Settings, config: Config) -> Result<Console, CliError> {
        let token = settings
            .admin_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                CliError::usage("the console needs ORGHUB_ADMIN_TOKEN: it is the login")
            })?
            .to_owned();
        let vhost = settings.vhost()?;
        let amqp_url = settings.amqp_url_for_vhost()?;
        let mgmt = settings.management()?;
        let writer = settings.writer_admin()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = ConsoleState {
            auth: auth::Auth::new(&token, config.auth.clone()),
            redrive: redrive::Store::default(),
            settings,
            vhost,
            amqp_url,
            mgmt,
            writer,
            config,
        };
        Ok(Console {
            listener,
            state: Arc::new(state),
        })
    }

    /// The address it listens on (the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.listen)
    }

    /// Serves until `shutdown` completes. A replay still running then stops where it is: what
    /// it had not settled, the broker requeues into the DLQ.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let router = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("the console's HTTP server failed")
    }
}

/// Every route. Pages are GETs; every POST checks the session's CSRF token.
pub fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/overview") }))
        .route("/console.css", get(layout::style_sheet))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/overview", get(overview::page))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/{subscriber}/{id}", get(dead_letters::detail))
        .route("/dead-letters/dry-run", post(redrive::dry_run))
        .route("/dead-letters/redrive", post(redrive::start))
        .route("/jobs/{id}", get(redrive::job))
        .fallback(|| async { PageError::NotFound("no such page".into()) })
        .layer(axum::middleware::map_response(layout::security_headers))
        .with_state(state)
}

/// How long a signed-in session lives at most, whatever its activity.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(12 * 3600);
