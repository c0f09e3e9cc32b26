//! `orghubctl dlq list|show|replay|purge`: the dead letters of every subscriber.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::cmd::status::subscriber_queues;
use crate::dead_letters::{DeadLetter, DeadLetterQueues, DlqError, Selector};
use crate::error::{CliError, EXIT_CODES_HELP};
use crate::names::SubscriberName;
use crate::settings::Settings;
use crate::table::{Table, cut, or_dash, print_json};

/// `dlq` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Every subscriber with its DLQ and parked depth (management API figures, up to a stats
    /// interval old).
    #[command(after_help = EXIT_CODES_HELP)]
    List,
    /// A subscriber's dead letters, read without consuming them: event id, type, subject,
    /// entity version, reason, attempts, replays, when it failed, error.
    #[command(after_help = EXIT_CODES_HELP)]
    Show {
        /// The subscriber's name.
        subscriber: String,
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        filter: Filter,
    },
    /// Move selected dead letters back to sub.<name> with an orghub-replay-count header, or to
    /// sub.<name>.parked once they were replayed --max-replays times. Each is acked in the DLQ
    /// only after its copy is confirmed.
    #[command(after_help = EXIT_CODES_HELP)]
    Replay {
        /// The subscriber's name.
        subscriber: String,
        #[command(flatten)]
        select: Select,
        /// Replays after which a dead letter is parked instead.
        #[arg(long, default_value_t = 3)]
        max_replays: u32,
    },
    /// Remove selected dead letters for good. Without --yes, only says what would be removed
    /// (and exits with code 2).
    #[command(after_help = EXIT_CODES_HELP)]
    Purge {
        /// The subscriber's name.
        subscriber: String,
        #[command(flatten)]
        select: Select,
        /// Really remove them.
        #[arg(long)]
        yes: bool,
    },
}

/// Which dead letters to act on (one criterion required).
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = true)]
pub struct Select {
    /// The dead letter of this event id (repeatable).
    #[arg(long = "id", value_name = "EVENT_ID")]
    ids: Vec<String>,
    /// Dead letters with this reason: not-json, not-cloudevent, unknown-type, bad-attribute,
    /// bad-data, sink-permanent, retries-exhausted, delivery-limit.
    #[arg(long)]
    reason: Option<String>,
    /// Dead letters of this event type (`unit.created` or `dk.orghub.org.unit.created.v1`).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Dead letters matching every `key=value` of a filter (comma-separated, repeatable; the
    /// console's filter): reason, kommune (751), kind (unit, person, ...), type, id, since and
    /// until (when it was dead-lettered: RFC 3339, YYYY-MM-DDTHH:MM in UTC, or YYYY-MM-DD;
    /// since inclusive, until exclusive). E.g. `--filter kommune=751,kind=unit,since=2026-12-01`.
    #[arg(long = "filter", value_name = "KEY=VALUE,...")]
    filters: Vec<String>,
    /// Every dead letter.
    #[arg(long, conflicts_with_all = ["ids", "reason", "event_type", "filters"])]
    all: bool,
}

/// Optional narrowing of `show`.
#[derive(Debug, Clone, clap::Args)]
pub struct Filter {
    /// Only the dead letter of this event id (repeatable).
    #[arg(long = "id", value_name = "EVENT_ID")]
    ids: Vec<String>,
    /// Only dead letters with this reason.
    #[arg(long)]
    reason: Option<String>,
    /// Only dead letters of this event type.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Only dead letters matching a filter (as for `replay --filter`).
    #[arg(long = "filter", value_name = "KEY=VALUE,...")]
    filters: Vec<String>,
}

/// The selector that flags and `--filter` expressions say together.
fn selector(
    all: bool,
    ids: Vec<String>,
    reason: Option<String>,
    event_type: Option<String>,
    filters: &[String],
) -> Result<Selector, CliError> {
    let mut selector = Selector::from_expressions(filters)
        .map_err(|e| CliError::usage(format!("--filter: {e}")))?;
    selector.all = all;
    for id in ids {
        selector
            .add("id", &id)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    for (key, value) in [("reason", reason), ("type", event_type)] {
        if let Some(value) = value {
            selector
                .add(key, &value)
                .map_err(|e| CliError::usage(format!("--{key} with --filter {key}=...: {e}")))?;
        }
    }
    Ok(selector)
}

impl TryFrom<Select> for Selector {
    type Error = CliError;
    fn try_from(s: Select) -> Result<Self, CliError> {
        let selector = selector(s.all, s.ids, s.reason, s.event_type, &s.filters)?;
        if selector.is_empty() {
            return Err(CliError::usage(
                "select dead letters with --id, --reason, --type, --filter or --all",
            ));
        }
        Ok(selector)
    }
}

impl TryFrom<Filter> for Selector {
    type Error = CliError;
    fn try_from(f: Filter) -> Result<Self, CliError> {
        selector(false, f.ids, f.reason, f.event_type, &f.filters)
    }
}

impl From<DlqError> for CliError {
    fn from(e: DlqError) -> Self {
        match e {
            DlqError::NoSuchSubscriber { .. } => CliError::NotFound(e.to_string()),
            other => CliError::Dependency(other.into()),
        }
    }
}

pub async fn run(command: DlqCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        DlqCommand::List => list(settings).await,
        DlqCommand::Show {
            subscriber,
            limit,
            filter,
        } => show(settings, &subscriber, limit, filter.try_into()?).await,
        DlqCommand::Replay {
            subscriber,
            select,
            max_replays,
        } => replay(settings, &subscriber, select.try_into()?, max_replays).await,
        DlqCommand::Purge {
            subscriber,
            select,
            yes,
        } => purge(settings, &subscriber, select.try_into()?, yes).await,
    }
}

fn parse_name(name: &str) -> Result<SubscriberName, CliError> {
    SubscriberName::parse(name).map_err(|e| CliError::usage(e.to_string()))
}

async fn connect(settings: &Settings) -> Result<DeadLetterQueues, CliError> {
    Ok(DeadLetterQueues::connect(&settings.amqp_url_for_vhost()?).await?)
}

#[derive(Debug, Serialize)]
struct ListRow {
    subscriber: String,
    dlq: Option<u64>,
    parked: Option<u64>,
}

async fn list(settings: &Settings) -> Result<(), CliError> {
    let vhost = settings.vhost()?;
    let subscribers = subscriber_queues(&settings.management()?, &vhost, false).await?;
    let rows: Vec<ListRow> = subscribers
        .into_iter()
        .map(|s| ListRow {
            subscriber: s.name,
            dlq: s.dlq,
            parked: s.parked,
        })
        .collect();
    if settings.json {
        print_json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no subscribers (no sub.<name> queues in vhost {vhost})");
        return Ok(());
    }
    let mut table = Table::new(&["SUBSCRIBER", "DLQ", "PARKED"]);
    for r in rows {
        table.row(vec![r.subscriber, or_dash(r.dlq), or_dash(r.parked)]);
    }
    table.print();
    Ok(())
}

fn letters_table(letters: &[DeadLetter]) -> Table {
    let mut table = Table::new(&[
        "ID",
        "TYPE",
        "SUBJECT",
        "VERSION",
        "REASON",
        "ATTEMPTS",
        "REPLAYS",
        "FAILED AT",
        "ERROR",
    ]);
    for l in letters {
        table.row(vec![
            or_dash(l.id.as_deref()),
            or_dash(l.event_type.as_deref()),
            or_dash(l.subject.as_deref()),
            or_dash(l.entity_version.as_deref()),
            l.reason.clone(),
            or_dash(l.attempts.as_deref()),
            l.replay_count.to_string(),
            or_dash(l.failed_at.as_deref()),
            or_dash(l.error.as_deref().map(|e| cut(e, 80))),
        ]);
    }
    table
}

async fn show(
    settings: &Settings,
    subscriber: &str,
    limit: usize,
    filter: Selector,
) -> Result<(), CliError> {
    let name = parse_name(subscriber)?;
    let dlq = connect(settings).await?;
    let letters = dlq.show(&name, &filter, limit).await;
    dlq.close().await;
    let letters = letters?;
    if settings.json {
        print_json(&letters);
    } else if letters.is_empty() {
        println!("no dead letters in {}", name.dlq());
    } else {
        letters_table(&letters).print();
    }
    Ok(())
}

/// Ids the selector named that matched nothing: exit 4 after doing the rest.
fn missing_ids(selector: &Selector, done: &[&DeadLetter]) -> Option<CliError> {
    let seen: BTreeSet<&str> = done.iter().filter_map(|l| l.id.as_deref()).collect();
    let missing: Vec<&str> = selector
        .ids
        .iter()
        .map(String::as_str)
        .filter(|id| !seen.contains(id))
        .collect();
    (!missing.is_empty()).then(|| {
        CliError::NotFound(format!(
            "no dead letter with id {} (matching {})",
            missing.join(", "),
            selector.describe()
        ))
    })
}

async fn replay(
    settings: &Settings,
    subscriber: &str,
    selector: Selector,
    max_replays: u32,
) -> Result<(), CliError> {
    let name = parse_name(subscriber)?;
    let dlq = connect(settings).await?;
    let report = dlq.replay(&name, &selector, max_replays).await;
    dlq.close().await;
    let report = report?;
    if settings.json {
        print_json(&report);
    } else {
        for l in &report.replayed {
            println!("replayed {} -> {}", or_dash(l.id.as_deref()), name.queue());
        }
        for l in &report.parked {
            println!(
                "parked   {} -> {} (replayed {} times before)",
                or_dash(l.id.as_deref()),
                name.parked(),
                l.replay_count
            );
        }
        println!(
            "{} replayed, {} parked, {} left in {}",
            report.replayed.len(),
            report.parked.len(),
            report.left,
            name.dlq()
        );
    }
    if let Some(failure) = report.unconfirmed {
        return Err(CliError::Dependency(failure.into()));
    }
    let done: Vec<&DeadLetter> = report.replayed.iter().chain(&report.parked).collect();
    match missing_ids(&selector, &done) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn purge(
    settings: &Settings,
    subscriber: &str,
    selector: Selector,
    yes: bool,
) -> Result<(), CliError> {
    let name = parse_name(subscriber)?;
    let dlq = connect(settings).await?;
    let report = dlq.purge(&name, &selector, yes).await;
    dlq.close().await;
    let report = report?;
    if settings.json {
        print_json(&report);
    } else if yes {
        for l in &report.matched {
            println!("removed {} ({})", or_dash(l.id.as_deref()), l.reason);
        }
        println!(
            "{} removed, {} left in {}",
            report.matched.len(),
            report.left,
            name.dlq()
        );
    } else if !report.matched.is_empty() {
        println!("would remove:");
        letters_table(&report.matched).print();
    }
    if !yes {
        return Err(CliError::usage(format!(
            "refusing to purge without --yes: {} dead letter(s) of {} match {} and would be \
             removed{}",
            report.matched.len(),
            name.dlq(),
            selector.describe(),
            if report.matched.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    report
                        .matched
                        .iter()
                        .map(|l| or_dash(l.id.as_deref()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )));
    }
    let done: Vec<&DeadLetter> = report.matched.iter().collect();
    match missing_ids(&selector, &done) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
