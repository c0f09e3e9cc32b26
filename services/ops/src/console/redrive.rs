//! Bulk replay and purge by the current filter, in two steps.
//!
//! 1. `POST /dead-letters/dry-run`: scans the DLQs in scope without changing anything and says
//!    how many dead letters match and which (replays: which would be parked instead). The dry
//!    run is kept, owned by the session, for [`DRY_RUN_LIFETIME`].
//! 2. `POST /dead-letters/redrive` with the dry run's id: starts a job on exactly the dry run's
//!    subscribers and filter (not on whatever a form sends again), and the browser goes to
//!    `GET /jobs/{id}`, which reloads itself while the job runs and then shows the result.
//!
//! The job uses [`DeadLetterQueues::replay`] and [`DeadLetterQueues::purge`] as `orghubctl dlq`
//! does: a replayed copy gets `orghub-replay-count`, one replayed `--max-replays` times already
//! is parked, and a dead letter is acked only after its copy is confirmed. Dead letters that
//! arrive between the dry run and the job and match the filter are acted on too; the result
//! says how many were.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::ConsoleState;
use super::auth::{CSRF_FIELD, SignedIn, random_id};
use super::dead_letters::{
    View, detail_href, dlq_error, failed_at, reason_badge, scope, short_type,
};
use super::layout::{self, Fields, Level, Nav, PageError, Shell, badge, html_response};
use crate::dead_letters::{DeadLetter, DeadLetterQueues};
use crate::names::SubscriberName;

/// How long a dry run can be confirmed.
pub const DRY_RUN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Dry runs kept at most (the oldest go first).
const MAX_DRY_RUNS: usize = 1000;
/// Finished jobs kept for their result pages.
const MAX_JOBS: usize = 100;
/// Dead letters a dry run or result lists by name; the counts cover all.
const LISTED: usize = 200;
/// How often a running job's page reloads.
const JOB_REFRESH_SECONDS: u32 = 1;

/// What a redrive does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replay,
    Purge,
}

impl Action {
    fn parse(text: Option<&str>) -> Result<Action, PageError> {
        match text {
            Some("replay") => Ok(Action::Replay),
            Some("purge") => Ok(Action::Purge),
            _ => Err(PageError::BadRequest(
                "the action must be replay or purge".into(),
            )),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::Purge => "purge",
        }
    }
}

#[derive(Debug, Clone)]
struct DryRun {
    owner: String,
    action: Action,
    view: View,
    scope: Vec<SubscriberName>,
    matched: usize,
    created: Instant,
}

/// One subscriber's part of a job's result.
#[derive(Debug, Clone, Default)]
struct Outcome {
    subscriber: String,
    replayed: Vec<DeadLetter>,
    parked: Vec<DeadLetter>,
    purged: Vec<DeadLetter>,
    left: usize,
}

#[derive(Debug)]
struct Job {
    action: Action,
    view: View,
    expected: usize,
    started: DateTime<Utc>,
    started_at: Instant,
    scope: Vec<SubscriberName>,
    current: Option<SubscriberName>,
    outcomes: Vec<Outcome>,
    finished: Option<Instant>,
    /// Why the job stopped early.
    failure: Option<String>,
}

/// The dry runs and jobs of this console.
#[derive(Debug, Default)]
pub struct Store {
    dry_runs: Mutex<HashMap<String, DryRun>>,
    jobs: Mutex<Jobs>,
}

/// Jobs by id, and their ids oldest first.
#[derive(Debug, Default)]
struct Jobs {
    by_id: HashMap<String, Arc<Mutex<Job>>>,
    order: VecDeque<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    fn keep_dry_run(&self, dry: DryRun) -> Result<String, PageError> {
        let id = random_id().map_err(PageError::internal)?;
        let mut runs = lock(&self.dry_runs);
        runs.retain(|_, d| d.created.elapsed() < DRY_RUN_LIFETIME);
        while runs.len() >= MAX_DRY_RUNS {
            let Some(oldest) = runs
                .iter()
                .min_by_key(|(_, d)| d.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            runs.remove(&oldest);
        }
        runs.insert(id.clone(), dry);
        Ok(id)
    }

    /// The session's dry run, once: confirming it uses it up.
    fn take_dry_run(&self, id: &str, owner: &str) -> Option<DryRun> {
        let mut runs = lock(&self.dry_runs);
        let ok = runs
            .get(id)
            .is_some_and(|d| d.owner == owner && d.created.elapsed() < DRY_RUN_LIFETIME);
        if ok { runs.remove(id) } else { None }
    }

    fn add_job(&self, job: Job) -> Result<(String, Arc<Mutex<Job>>), PageError> {
        let id = random_id().map_err(PageError::internal)?;
        let job = Arc::new(Mutex::new(job));
        let mut jobs = lock(&self.jobs);
        let Jobs { by_id: map, order } = &mut *jobs;
        while order.len() >= MAX_JOBS {
            // The oldest finished job goes; running ones stay.
            let finished = order
                .iter()
                .position(|k| map.get(k).is_none_or(|j| lock(j).finished.is_some()));
            match finished.and_then(|i| order.remove(i)) {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
        map.insert(id.clone(), job.clone());
        order.push_back(id.clone());
        Ok((id, job))
    }

    fn job(&self, id: &str) -> Option<Arc<Mutex<Job>>> {
        lock(&self.jobs).by_id.get(id).cloned()
    }
}

fn shell<'a>(session: &'a SignedIn, title: &'a str, refresh: Option<u32>) -> Shell<'a> {
    Shell {
        title,
        nav: Some(Nav::DeadLetters),
        csrf: Some(&session.csrf),
        refresh,
    }
}

/// `POST /dead-letters/dry-run`: what a replay or purge by this filter would do.
pub async fn dry_run(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    fields: Fields,
) -> Response {
    match dry_run_page(&state, &session, &fields).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dry_run_page(
    state: &ConsoleState,
    session: &SignedIn,
    fields: &Fields,
) -> Result<Response, PageError> {
    session.verify(fields)?;
    let action = Action::parse(fields.get("action"))?;
    let view = View::parse(fields).map_err(PageError::BadRequest)?;
    let (_, names) = scope(state, &view).await?;
    let selector = view.redrive_selector();
    let dlq = state.dead_letter_queues().await?;
    let mut matched: Vec<(SubscriberName, DeadLetter)> = Vec::new();
    let mut left = 0;
    let result = async {
        for name in &names {
            // A purge that removes nothing: the dry run of either action.
            let report = dlq.purge(name, &selector, false).await.map_err(dlq_error)?;
            left += report.left;
            matched.extend(report.matched.into_iter().map(|l| (name.clone(), l)));
        }
        Ok::<(), PageError>(())
    }
    .await;
    dlq.close().await;
    result?;
    let max_replays = state.config.max_replays;
    let parked = matched
        .iter()
        .filter(|(_, l)| l.replay_count >= max_replays)
        .count();
    let id = state.redrive.keep_dry_run(DryRun {
        owner: session.id.clone(),
        action,
        view: view.clone(),
        scope: names.clone(),
        matched: matched.len(),
        created: Instant::now(),
    })?;
    let verb = action.verb();
    let title = format!("Dry run: {verb}");
    let body = html! {
        p { a href=(view.href()) { "← Back to the filter" } }
        h1 { (title) }
        div.panel role="status" {
            p {
                @if matched.is_empty() {
                    (badge(Level::Ok, "Nothing")) " No dead letter matches " (view.describe()) ". Nothing to " (verb) "."
                } @else {
                    (badge(Level::Attention, "Dry run")) " "
                    strong { (matched.len()) " dead letters" } " match " (view.describe())
                    " in " (names.len()) " subscriber DLQs (" (left) " others stay). Nothing has changed yet."
                }
            }
            @if action == Action::Replay && !matched.is_empty() {
                p {
                    (matched.len() - parked) " would go back to their subscriber's queue with "
                    code { "orghub-replay-count" } " raised by one"
                    @if parked > 0 {
                        "; " strong { (parked) } " were replayed " (max_replays)
                        " times already and would be parked in " code { "sub.<name>.parked" } " instead"
                    }
                    "."
                }
            }
            @if action == Action::Purge && !matched.is_empty() {
                p { (badge(Level::Problem, "Irreversible")) " A purge removes them for good." }
            }
        }
        @if !matched.is_empty() {
            form.inline method="post" action="/dead-letters/redrive" {
                input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
                input type="hidden" name="dry_run" value=(id);
                @match action {
                    Action::Replay => button type="submit" { "Replay these " (matched.len()) " dead letters" },
                    Action::Purge => button.danger type="submit" { "Purge these " (matched.len()) " dead letters for good" },
                }
                a.button.secondary href=(view.href()) { "Cancel" }
            }
            p.hint { "Dead letters that arrive before you confirm and match the filter are included; the result says how many were acted on." }
            (letters_table("The dead letters matching the filter", "Would be", &matched.iter().map(|(name, l)| {
                let outcome = match action {
                    Action::Purge => "purged",
                    Action::Replay if l.replay_count >= max_replays => "parked",
                    Action::Replay => "replayed",
                };
                (name.clone(), l.clone(), outcome)
            }).collect()))
        }
    };
    Ok(html_response(layout::page(
        &shell(session, &title, None),
        body,
    )))
}

/// Dead letters with what becomes (or became) of each.
type Listed = Vec<(SubscriberName, DeadLetter, &'static str)>;

fn letters_table(caption: &str, outcome_header: &str, letters: &Listed) -> Markup {
    html! {
        div.scroll {
            table {
                caption {
                    (caption)
                    @if letters.len() > LISTED { " (the first " (LISTED) " of " (letters.len()) ")" }
                }
                thead { tr {
                    th scope="col" { "Subscriber" }
                    th scope="col" { "Event id" }
                    th scope="col" { "Reason" }
                    th scope="col" { "Event" }
                    th scope="col" { "Kommune" }
                    th scope="col" { "Failed at (UTC)" }
                    th scope="col" .num { "Replays" }
                    th scope="col" { (outcome_header) }
                } }
                tbody {
                    @for (name, l, outcome) in letters.iter().take(LISTED) {
                        tr {
                            td { (name) }
                            td {
                                @match &l.id {
                                    Some(id) => a href=(detail_href(name, id)) { code { (id) } },
                                    None => span.muted { "no event id" },
                                }
                            }
                            td { (reason_badge(&l.reason)) }
                            td { (short_type(l)) }
                            td { (l.kommune.as_deref().unwrap_or("–")) }
                            td { (failed_at(l)) }
                            td.num { (l.replay_count) }
                            td { (outcome) }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /dead-letters/redrive`: confirms a dry run and starts its job.
pub async fn start(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    fields: Fields,
) -> Response {
    if let Err(e) = session.verify(&fields) {
        return e.into_response();
    }
    let Some(dry) = fields
        .get("dry_run")
        .and_then(|id| state.redrive.take_dry_run(id, &session.id))
    else {
        return PageError::BadRequest(
            "this dry run is unknown, expired or confirmed already; run the dry run again".into(),
        )
        .into_response();
    };
    let job = Job {
        action: dry.action,
        view: dry.view.clone(),
        expected: dry.matched,
        started: Utc::now(),
        started_at: Instant::now(),
        scope: dry.scope.clone(),
        current: None,
        outcomes: Vec::new(),
        finished: None,
        failure: None,
    };
    let (id, job) = match state.redrive.add_job(job) {
        Ok(j) => j,
        Err(e) => return e.into_response(),
    };
    tracing::info!(
        job = %id,
        action = dry.action.verb(),
        filter = %dry.view.describe(),
        expected = dry.matched,
        "console redrive started"
    );
    tokio::spawn(run_job(state.clone(), job, dry));
    Redirect::to(&format!("/jobs/{id}")).into_response()
}

async fn run_job(state: Arc<ConsoleState>, job: Arc<Mutex<Job>>, dry: DryRun) {
    let selector = dry.view.redrive_selector();
    let max_replays = state.config.max_replays;
    let failure = match DeadLetterQueues::connect(&state.amqp_url).await {
        Err(e) => Some(format!("cannot reach RabbitMQ: {e}")),
        Ok(dlq) => {
            let mut failure = None;
            for name in &dry.scope {
                lock(&job).current = Some(name.clone());
                let mut outcome = Outcome {
                    subscriber: name.to_string(),
                    ..Outcome::default()
                };
                match dry.action {
                    Action::Replay => match dlq.replay(name, &selector, max_replays).await {
                        Ok(report) => {
                            outcome.replayed = report.replayed;
                            outcome.parked = report.parked;
                            outcome.left = report.left;
                            failure = report.unconfirmed.map(|u| u.to_string());
                        }
                        Err(e) => failure = Some(e.to_string()),
                    },
                    Action::Purge => match dlq.purge(name, &selector, true).await {
                        Ok(report) => {
                            outcome.purged = report.matched;
                            outcome.left = report.left;
                        }
                        Err(e) => failure = Some(e.to_string()),
                    },
                }
                lock(&job).outcomes.push(outcome);
                if failure.is_some() {
                    break;
                }
            }
            dlq.close().await;
            failure
        }
    };
    let mut job = lock(&job);
    if let Some(f) = &failure {
        tracing::error!(error = %f, "console redrive stopped");
    }
    job.failure = failure;
    job.current = None;
    job.finished = Some(Instant::now());
    tracing::info!(
        action = job.action.verb(),
        done = job.outcomes.iter().map(Outcome::done).sum::<usize>(),
        "console redrive finished"
    );
}

impl Outcome {
    fn done(&self) -> usize {
        self.replayed.len() + self.parked.len() + self.purged.len()
    }
}

/// `GET /jobs/{id}`: a running job's progress (the page reloads itself), then its result.
pub async fn job(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let Some(job) = state.redrive.job(&id) else {
        return PageError::NotFound(format!(
            "no job {id} (this console keeps the last {MAX_JOBS})"
        ))
        .into_response();
    };
    let (body, running) = {
        let job = lock(&job);
        (job_body(&job), job.finished.is_none())
    };
    let title = if running { "Job running" } else { "Job result" };
    html_response(layout::page(
        &shell(&session, title, running.then_some(JOB_REFRESH_SECONDS)),
        body,
    ))
}

fn job_body(job: &Job) -> Markup {
    let verb = job.action.verb();
    let done: usize = job.outcomes.iter().map(Outcome::done).sum();
    let replayed: usize = job.outcomes.iter().map(|o| o.replayed.len()).sum();
    let parked: usize = job.outcomes.iter().map(|o| o.parked.len()).sum();
    let purged: usize = job.outcomes.iter().map(|o| o.purged.len()).sum();
    let left: usize = job.outcomes.iter().map(|o| o.left).sum();
    let elapsed = job
        .finished
        .unwrap_or_else(Instant::now)
        .duration_since(job.started_at);
    let mut listed: Listed = Vec::new();
    for o in &job.outcomes {
        let Ok(name) = SubscriberName::parse(&o.subscriber) else {
            continue;
        };
        for (letters, outcome) in [
            (&o.replayed, "replayed"),
            (&o.parked, "parked"),
            (&o.purged, "purged"),
        ] {
            listed.extend(letters.iter().map(|l| (name.clone(), l.clone(), outcome)));
        }
    }
    html! {
        h1 { (if job.finished.is_some() { "Result: " } else { "Running: " }) (verb) }
        p { "Filter: " (job.view.describe()) ". Started " (job.started.format("%Y-%m-%d %H:%M:%S UTC")) ", " (format!("{:.1}", elapsed.as_secs_f64())) " s " (if job.finished.is_some() { "in all" } else { "ago" }) "." }
        div.panel role="status" aria-live="polite" {
            @if job.finished.is_none() {
                p {
                    (badge(Level::Attention, "Running")) " "
                    (job.outcomes.len()) " of " (job.scope.len()) " subscriber DLQs done"
                    @if let Some(c) = &job.current { ", now " strong { (c) } }
                    ". This page reloads every " (JOB_REFRESH_SECONDS) " s."
                }
            } @else if let Some(f) = &job.failure {
                p { (badge(Level::Problem, "Stopped")) " The job stopped early: " (f) " What was not done stays in the DLQ." }
            } @else {
                p { (badge(Level::Ok, "Done")) " " (done) " dead letters " (if job.action == Action::Replay { "replayed or parked" } else { "purged" })
                    " (the dry run counted " (job.expected) ")." }
            }
            dl.facts {
                @if job.action == Action::Replay {
                    dt { "Replayed" } dd { (replayed) " back to their subscriber's queue" }
                    dt { "Parked" } dd { (parked) " (replayed too often before)" }
                } @else {
                    dt { "Purged" } dd { (purged) }
                }
                dt { "Left in the DLQs" } dd { (left) " not matching the filter" }
            }
        }
        @if !job.outcomes.is_empty() {
            div.scroll {
                table {
                    caption { "Per subscriber" }
                    thead { tr {
                        th scope="col" { "Subscriber" }
                        th scope="col" .num { "Replayed" }
                        th scope="col" .num { "Parked" }
                        th scope="col" .num { "Purged" }
                        th scope="col" .num { "Left" }
                    } }
                    tbody {
                        @for o in &job.outcomes {
                            tr {
                                td { (o.subscriber) }
                                td.num { (o.replayed.len()) }
                                td.num { (o.parked.len()) }
                                td.num { (o.purged.len()) }
                                td.num { (o.left) }
                            }
                        }
                    }
                }
            }
        }
        @if !listed.is_empty() {
            details {
                summary { "The dead letters acted on" }
                (letters_table("Dead letters acted on", "Was", &listed))
            }
        }
        p.inline {
            a.button.secondary href=(job.view.href()) { "Dead letters with this filter" }
            " "
            a.button.secondary href="/overview" { "Overview" }
        }
    }
}
