//! `GET /overview`: what `orghubctl status` reports, as a page that reloads itself — the event
//! log's lag per municipality, the relay's holder, and every subscriber's queue depth,
//! consumers, retry tiers, DLQ and parked depth and oldest dead letter. The figures come from
//! the same functions as the command's ([`crate::cmd::status`]); a dependency that fails is
//! shown as a problem on the page, and the rest still renders.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use super::ConsoleState;
use super::auth::SignedIn;
use super::dead_letters::View;
use super::layout::{self, Level, Nav, QueryFields, Shell, badge, count, html_response};
use crate::cmd::status::{EventLog, SubscriberQueues, event_log, subscriber_queues};
use crate::names::SubscriberName;
use crate::table::age;

/// `GET /overview[?refresh=off]`.
pub async fn page(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    QueryFields(fields): QueryFields,
) -> Response {
    let paused = fields.get("refresh") == Some("off");
    let (log, subscribers) = tokio::join!(
        event_log(&state.settings.database_url),
        subscriber_queues(&state.mgmt, &state.vhost, true),
    );
    let refresh = (!paused && state.config.refresh > 0).then_some(state.config.refresh);
    let body = html! {
        h1 { "Overview" }
        p.hint {
            "Hub vhost " code { (state.vhost) } ". "
            @match refresh {
                Some(s) => { "This page reloads every " (s) " s. " a href="/overview?refresh=off" { "Stop reloading" } }
                None => { "Reloading is off. " a href="/overview" { "Reload every " (state.config.refresh) " s" } }
            }
        }
        h2 { "Event log" }
        @match &log {
            Ok(log) => (event_log_section(log)),
            Err(e) => div.notice.bad role="alert" { (badge(Level::Problem, "Problem")) " Cannot read the event log: " (e.to_string()) },
        }
        h2 { "Subscribers" }
        @match &subscribers {
            Ok(s) => (subscribers_section(s)),
            Err(e) => div.notice.bad role="alert" { (badge(Level::Problem, "Problem")) " Cannot read the subscribers' queues: " (e.to_string()) },
        }
    };
    html_response(layout::page(
        &Shell {
            title: "Overview",
            nav: Some(Nav::Overview),
            csrf: Some(&session.csrf),
            refresh,
        },
        body,
    ))
}

fn event_log_section(log: &EventLog) -> Markup {
    html! {
        div.panel {
            dl.facts {
                dt { "Publishing" }
                dd {
                    @match log.oldest_unpublished_seconds {
                        Some(s) if log.unpublished > 0 => {
                            (badge(Level::Attention, "Behind")) " " (log.unpublished) " unpublished events, the oldest " (age(s)) " old"
                        }
                        _ => { (badge(Level::Ok, "OK")) " every event is published" }
                    }
                }
                dt { "Relay" }
                dd {
                    @match &log.relay {
                        Some(r) => {
                            (badge(Level::Ok, "Running")) " " code { (r.application_name) }
                            " (backend pid " (r.backend_pid)
                            @if let Some(since) = r.since { ", since " (since.format("%Y-%m-%d %H:%M:%S UTC")) }
                            ")"
                        }
                        None => { (badge(Level::Problem, "None")) " no writer holds the relay lock: nothing is published" }
                    }
                }
            }
        }
        // Halted municipalities (the isolation work) go here, beside the lag: a municipality's
        // halt and its reason belong to the event log's section.
        @if log.behind.is_empty() {
            p { "No municipality has unpublished events." }
        } @else {
            div.scroll {
                table {
                    caption { "Municipalities with unpublished events, most behind first" }
                    thead { tr {
                        th scope="col" { "Municipality" }
                        th scope="col" .num { "Unpublished" }
                        th scope="col" .num { "Published through sequence" }
                        th scope="col" { "Oldest unpublished" }
                    } }
                    tbody {
                        @for b in &log.behind {
                            tr {
                                td { (b.kommune) " " (b.name) }
                                td.num { (b.unpublished) }
                                td.num { (b.published_through) }
                                td { (b.oldest_unpublished_seconds.map_or_else(|| "–".to_owned(), age)) " old" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn subscribers_section(subscribers: &[SubscriberQueues]) -> Markup {
    if subscribers.is_empty() {
        return html! { p { "No subscribers: this vhost has no " code { "sub.<name>" } " queues." } };
    }
    html! {
        p.hint { "Queue figures come from RabbitMQ's management statistics, a few seconds behind." }
        div.scroll {
            table {
                caption { "Subscribers and their queues" }
                thead { tr {
                    th scope="col" { "Subscriber" }
                    th scope="col" { "State" }
                    th scope="col" .num { "Ready" }
                    th scope="col" .num { "Unacked" }
                    th scope="col" .num { "Consumers" }
                    th scope="col" { "Retry tiers" }
                    th scope="col" .num { "DLQ" }
                    th scope="col" .num { "Parked" }
                    th scope="col" { "Oldest dead letter" }
                } }
                tbody {
                    @for s in subscribers {
                        tr {
                            th scope="row" { (s.name) }
                            td { (state_badge(s)) }
                            td.num { (count(s.ready)) }
                            td.num { (count(s.unacked)) }
                            td.num { (count(s.consumers)) }
                            td {
                                @if s.retry.is_empty() { "–" }
                                @for (delay, n) in &s.retry { span { (delay) ": " (n) } " " }
                            }
                            td.num {
                                @match (s.dlq, SubscriberName::parse(&s.name)) {
                                    (Some(n), Ok(name)) if n > 0 => a href=(dlq_href(name)) aria-label=(format!("{n} dead letters of {}", s.name)) { (n) },
                                    (dlq, _) => (count(dlq)),
                                }
                            }
                            td.num { (count(s.parked)) }
                            td { (s.oldest_dead_letter_seconds.map_or_else(|| "–".to_owned(), |a| format!("{} ago", age(a)))) }
                        }
                    }
                }
            }
        }
    }
}

fn dlq_href(name: SubscriberName) -> String {
    View {
        subscriber: Some(name),
        ..View::default()
    }
    .href()
}

/// One word for a subscriber's state; the colour repeats it.
fn state_badge(s: &SubscriberQueues) -> Markup {
    if s.consumers == Some(0) {
        badge(Level::Problem, "No consumer")
    } else if s.dlq.unwrap_or(0) > 0 {
        badge(Level::Attention, "Dead letters")
    } else if s.ready.is_none() {
        badge(Level::Attention, "No queue")
    } else {
        badge(Level::Ok, "OK")
    }
}
