//! The dead-letter pages: the list filtered by subscriber, reason, municipality, kind, type, id
//! and time ([`View`], whose criteria are the `dlq --filter` ones: one [`Selector`]), and one
//! dead letter with its headers and attempts beside the entity's current document in the hub.
//!
//! Reading a DLQ scans it without consuming (see [`crate::dead_letters::queue`]): the list shows
//! the first matches, a dry run ([`super::redrive`]) counts them all.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use orghub_contracts::{DecodeError, EntityKind, Kommune};
use reqwest::Url;
use serde_json::Value;
use uuid::Uuid;

use super::ConsoleState;
use super::auth::{CSRF_FIELD, SignedIn};
use super::diff::{self, Change};
use super::layout::{
    self, Fields, Level, Nav, PageError, QueryFields, Shell, badge, html_response,
};
use crate::cmd::status::{SubscriberQueues, subscriber_queues};
use crate::dead_letters::{
    DeadLetter, DeadLetterMessage, DlqError, REASON_DELIVERY_LIMIT, Selector, filter,
};
use crate::names::SubscriberName;
use crate::table::cut;

/// Dead letters a list shows unless the filter says otherwise, and the most it may ask for.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// What the operator is looking at: a subscriber (or all), the filter, how many to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub subscriber: Option<SubscriberName>,
    pub selector: Selector,
    pub limit: usize,
}

impl Default for View {
    fn default() -> Self {
        View {
            subscriber: None,
            selector: Selector::default(),
            limit: DEFAULT_LIMIT,
        }
    }
}

impl View {
    /// Reads the fields of the filter form (or the same pairs of a dry run's form). Fields of
    /// the forms around it (`csrf`, `action`) are not part of the filter.
    pub fn parse(fields: &Fields) -> Result<View, String> {
        let mut view = View::default();
        for (key, value) in &fields.0 {
            let value = value.trim();
            match key.as_str() {
                CSRF_FIELD | "action" | "refresh" => {}
                "subscriber" if value.is_empty() => {}
                "subscriber" => {
                    view.subscriber =
                        Some(SubscriberName::parse(value).map_err(|e| e.to_string())?);
                }
                "limit" if value.is_empty() => {}
                "limit" => {
                    view.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("limit must be a number from 1 to {MAX_LIMIT}"))?;
                }
                key => view.selector.add(key, value).map_err(|e| e.to_string())?,
            }
        }
        Ok(view)
    }

    /// The view as pairs, for links and hidden fields.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(s) = &self.subscriber {
            out.push(("subscriber", s.to_string()));
        }
        out.extend(filter::pairs(&self.selector));
        if self.limit != DEFAULT_LIMIT {
            out.push(("limit", self.limit.to_string()));
        }
        out
    }

    /// `/dead-letters?...` for this view.
    pub fn href(&self) -> String {
        let pairs = self.pairs();
        if pairs.is_empty() {
            return "/dead-letters".to_owned();
        }
        let mut url = Url::parse("http://console/dead-letters")
            .unwrap_or_else(|_| unreachable!("a constant URL parses"));
        url.query_pairs_mut().extend_pairs(pairs);
        format!("/dead-letters?{}", url.query().unwrap_or(""))
    }

    /// What a redrive acts on: the filter's dead letters, or every one when it has no criterion.
    pub fn redrive_selector(&self) -> Selector {
        let mut s = self.selector.clone();
        s.all = s.is_empty();
        s
    }

    /// The filter in words, for headings and results.
    pub fn describe(&self) -> String {
        let subscriber = self.subscriber.as_ref().map_or_else(
            || "every subscriber".to_owned(),
            |s| format!("subscriber {s}"),
        );
        let criteria: Vec<String> = filter::pairs(&self.selector)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if criteria.is_empty() {
            format!("{subscriber}, all dead letters")
        } else {
            format!("{subscriber}, {}", criteria.join(", "))
        }
    }
}

/// The reasons a dead letter can give, as the subscriber runtime and the broker write them.
fn known_reasons() -> Vec<&'static str> {
    let decode = [
        DecodeError::NotJson(String::new()),
        DecodeError::NotCloudEvent(String::new()),
        DecodeError::UnknownType(String::new()),
        DecodeError::BadAttribute {
            name: "",
            detail: String::new(),
        },
        DecodeError::BadData {
            kind: EntityKind::Unit,
            detail: String::new(),
        },
    ];
    let mut out: Vec<&'static str> = decode.iter().map(DecodeError::reason).collect();
    out.extend([
        orghub_subscriber::runtime::batch::SINK_PERMANENT,
        orghub_subscriber::runtime::batch::RETRIES_EXHAUSTED,
        REASON_DELIVERY_LIMIT,
    ]);
    out
}

/// The subscribers of the vhost, and the ones a view scans (the one it names, or all).
pub(crate) async fn scope(
    state: &ConsoleState,
    view: &View,
) -> Result<(Vec<SubscriberQueues>, Vec<SubscriberName>), PageError> {
    let all = subscriber_queues(&state.mgmt, &state.vhost, false)
        .await
        .map_err(|e| PageError::Dependency(e.to_string()))?;
    let names = match &view.subscriber {
        Some(name) => vec![name.clone()],
        None => all
            .iter()
            .filter(|s| s.dlq.is_some())
            .filter_map(|s| SubscriberName::parse(&s.name).ok())
            .collect(),
    };
    Ok((all, names))
}

/// A DLQ error as a page: a subscriber that was named and has no DLQ is 404.
pub(crate) fn dlq_error(e: DlqError) -> PageError {
    match e {
        DlqError::NoSuchSubscriber { .. } => PageError::NotFound(e.to_string()),
        other => PageError::Dependency(other.to_string()),
    }
}

/// `GET /dead-letters`: the filter form, the first matching dead letters, the redrive buttons.
pub async fn list(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    QueryFields(fields): QueryFields,
) -> Response {
    let view = match View::parse(&fields) {
        Ok(v) => v,
        Err(problem) => {
            let subscribers = scope(&state, &View::default())
                .await
                .map(|(all, _)| all)
                .unwrap_or_default();
            let body = html! {
                h1 { "Dead letters" }
                (filter_form(&fields, &subscribers))
                div.notice.bad role="alert" { (badge(Level::Problem, "Problem")) " The filter is not valid: " (problem) }
            };
            let mut response = html_response(shell_page(&session, body));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    match rows(&state, &view).await {
        Ok((subscribers, rows)) => html_response(shell_page(
            &session,
            list_body(&session, &fields, &view, &subscribers, &rows),
        )),
        Err(e) => e.into_response(),
    }
}

fn shell_page(session: &SignedIn, body: Markup) -> Markup {
    layout::page(
        &Shell {
            title: "Dead letters",
            nav: Some(Nav::DeadLetters),
            csrf: Some(&session.csrf),
            refresh: None,
        },
        body,
    )
}

type Rows = Vec<(SubscriberName, DeadLetter)>;

async fn rows(
    state: &ConsoleState,
    view: &View,
) -> Result<(Vec<SubscriberQueues>, Rows), PageError> {
    let (subscribers, names) = scope(state, view).await?;
    let dlq = state.dead_letter_queues().await?;
    let mut out = Vec::new();
    let result = async {
        for name in &names {
            let room = view.limit.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            match dlq.show(name, &view.selector, room).await {
                Ok(letters) => out.extend(letters.into_iter().map(|l| (name.clone(), l))),
                // A subscriber listed a moment ago may be gone; only a named one is an error.
                Err(DlqError::NoSuchSubscriber { .. }) if view.subscriber.is_none() => {}
                Err(e) => return Err(dlq_error(e)),
            }
        }
        Ok(())
    }
    .await;
    dlq.close().await;
    result.map(|()| (subscribers, out))
}

/// The filter form, filled from the fields as given (also when they do not parse).
fn filter_form(fields: &Fields, subscribers: &[SubscriberQueues]) -> Markup {
    let given = |name: &str| fields.get(name).unwrap_or("").to_owned();
    let subscriber = given("subscriber");
    let reason = given("reason");
    let kind = given("kind");
    html! {
        form.filter.panel method="get" action="/dead-letters" aria-label="Filter dead letters" {
            div {
                label for="f-subscriber" { "Subscriber" }
                select #f-subscriber name="subscriber" {
                    option value="" { "All subscribers" }
                    @for s in subscribers {
                        option value=(s.name) selected[s.name == subscriber] {
                            (s.name) " (" (layout::count(s.dlq)) " in DLQ)"
                        }
                    }
                }
            }
            div {
                label for="f-reason" { "Reason" }
                select #f-reason name="reason" {
                    option value="" { "Any reason" }
                    @for r in known_reasons() {
                        option value=(r) selected[r == reason] { (r) }
                    }
                    @if !reason.is_empty() && !known_reasons().contains(&reason.as_str()) {
                        option value=(reason) selected { (reason) }
                    }
                }
            }
            div {
                label for="f-kommune" { "Municipality (kommunekode)" }
                input #f-kommune type="text" name="kommune" value=(given("kommune"))
                    inputmode="numeric" placeholder="e.g. 751" autocomplete="off";
            }
            div {
                label for="f-kind" { "Entity kind" }
                select #f-kind name="kind" {
                    option value="" { "Any kind" }
                    @for k in EntityKind::ALL {
                        option value=(k.word()) selected[k.word() == kind] { (k.word()) }
                    }
                }
            }
            div {
                label for="f-since" { "Dead-lettered from (UTC)" }
                input #f-since type="datetime-local" name="since" step="1" value=(local_value(&given("since")));
            }
            div {
                label for="f-until" { "Dead-lettered before (UTC)" }
                input #f-until type="datetime-local" name="until" step="1" value=(local_value(&given("until")));
            }
            div {
                label for="f-type" { "Event type" }
                input #f-type type="text" name="type" value=(given("type"))
                    placeholder="e.g. unit.updated" autocomplete="off";
            }
            div {
                label for="f-id" { "Event id" }
                input #f-id type="text" name="id" value=(given("id")) autocomplete="off";
            }
            div {
                label for="f-limit" { "Show at most" }
                input #f-limit type="number" name="limit" min="1" max=(MAX_LIMIT)
                    value=(fields.get("limit").filter(|l| !l.is_empty()).map_or_else(|| DEFAULT_LIMIT.to_string(), str::to_owned));
            }
            div.actions {
                button type="submit" { "Filter" }
                a.button.secondary href="/dead-letters" { "Clear filter" }
            }
        }
    }
}

/// A time as a `datetime-local` field shows it (UTC, no zone); what does not parse stays as
/// typed.
fn local_value(given: &str) -> String {
    if given.trim().is_empty() {
        return String::new();
    }
    filter::parse_time(given)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|_| given.to_owned())
}

fn list_body(
    session: &SignedIn,
    fields: &Fields,
    view: &View,
    subscribers: &[SubscriberQueues],
    rows: &Rows,
) -> Markup {
    html! {
        h1 { "Dead letters" }
        (filter_form(fields, subscribers))
        h2 #results { "Matching dead letters" }
        p {
            @if rows.is_empty() {
                (badge(Level::Ok, "None")) " No dead letter matches " (view.describe()) "."
            } @else if rows.len() >= view.limit {
                "The first " (rows.len()) " matching " (view.describe()) ". A dry run counts them all."
            } @else {
                (rows.len()) " matching " (view.describe()) "."
            }
        }
        @if !rows.is_empty() {
            div.scroll {
                table {
                    caption { "Dead letters, oldest first within each subscriber" }
                    thead { tr {
                        th scope="col" { "Subscriber" }
                        th scope="col" { "Failed at (UTC)" }
                        th scope="col" { "Reason" }
                        th scope="col" { "Event" }
                        th scope="col" { "Kommune" }
                        th scope="col" { "Entity" }
                        th scope="col" .num { "Version" }
                        th scope="col" .num { "Attempts" }
                        th scope="col" .num { "Replays" }
                        th scope="col" { "Error" }
                    } }
                    tbody {
                        @for (name, l) in rows {
                            tr {
                                td { (name) }
                                td { (failed_at(l)) }
                                td { (reason_badge(&l.reason)) }
                                td { (short_type(l)) }
                                td { (l.kommune.as_deref().unwrap_or("–")) }
                                td {
                                    @match &l.id {
                                        Some(id) => a href=(detail_href(name, id)) aria-label=(format!("Dead letter {id}")) {
                                            code { (l.subject.as_deref().unwrap_or(id)) }
                                        },
                                        None => span.muted { "no event id" },
                                    }
                                }
                                td.num { (l.entity_version.as_deref().unwrap_or("–")) }
                                td.num { (l.attempts.as_deref().unwrap_or("–")) }
                                td.num { (l.replay_count) }
                                td { (cut(l.error.as_deref().unwrap_or("–"), 120)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Replay or purge by this filter" }
        p.hint {
            "Acts on every dead letter that matches " (view.describe()) ", not only those shown. "
            "A dry run comes first and says how many and which; nothing changes until you confirm."
        }
        form.inline method="post" action="/dead-letters/dry-run" {
            input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
            @for (k, v) in view.pairs() {
                input type="hidden" name=(k) value=(v);
            }
            button type="submit" name="action" value="replay" { "Dry run: replay" }
            button.secondary type="submit" name="action" value="purge" { "Dry run: purge" }
        }
    }
}

pub(crate) fn detail_href(name: &SubscriberName, id: &str) -> String {
    let mut url = Url::parse("http://console/dead-letters/")
        .unwrap_or_else(|_| unreachable!("a constant URL parses"));
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().push(name.as_str()).push(id);
    }
    url.path().to_owned()
}

pub(crate) fn failed_at(l: &DeadLetter) -> String {
    l.failed_at_time().map_or_else(
        || "–".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `unit.updated` for `dk.orghub.org.unit.updated.v1`; other types as they are.
pub(crate) fn short_type(l: &DeadLetter) -> String {
    match l.event_type.as_deref() {
        Some(t) => t
            .strip_prefix("dk.orghub.org.")
            .and_then(|t| t.strip_suffix(".v1"))
            .unwrap_or(t)
            .to_owned(),
        None => "–".to_owned(),
    }
}

/// Every dead letter needs attention; the word says which kind of failure it was.
pub(crate) fn reason_badge(reason: &str) -> Markup {
    badge(Level::Problem, reason)
}

/// `GET /dead-letters/{subscriber}/{id}`: one dead letter, its headers, and the event beside the
/// entity's current document.
pub async fn detail(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    Path((subscriber, id)): Path<(String, String)>,
) -> Response {
    let name = match SubscriberName::parse(&subscriber) {
        Ok(n) => n,
        Err(e) => return PageError::BadRequest(e.to_string()).into_response(),
    };
    let mut selector = Selector::default();
    if let Err(e) = selector.add("id", &id) {
        return PageError::BadRequest(e.to_string()).into_response();
    }
    let dlq = match state.dead_letter_queues().await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let found = dlq.read(&name, &selector, 1).await;
    dlq.close().await;
    let message = match found {
        Ok(mut m) if !m.is_empty() => m.remove(0),
        Ok(_) => {
            return PageError::NotFound(format!(
                "no dead letter with id {id} in {} (replayed or purged meanwhile?)",
                name.dlq()
            ))
            .into_response();
        }
        Err(e) => return dlq_error(e).into_response(),
    };
    let hub = hub_document(&state, &message.letter).await;
    let body = detail_body(&session, &name, &message, &hub, state.config.max_replays);
    html_response(layout::page(
        &Shell {
            title: "Dead letter",
            nav: Some(Nav::DeadLetters),
            csrf: Some(&session.csrf),
            refresh: None,
        },
        body,
    ))
}

/// The entity's current document in the hub, or why there is none to show.
async fn hub_document(state: &ConsoleState, letter: &DeadLetter) -> Result<Value, String> {
    let (Some(kommune), Some(kind), Some(uuid)) = (
        letter.kommune(),
        letter.kind(),
        letter
            .subject
            .as_deref()
            .and_then(|s| Uuid::parse_str(s).ok()),
    ) else {
        return Err("the dead letter does not name a municipality, kind and entity".into());
    };
    match state.writer.entity(kommune, kind, uuid).await {
        Ok(Some(doc)) => Ok(doc),
        Ok(None) => Err(format!(
            "the hub has no {kind} {uuid} in {kommune} {}",
            Kommune::name(kommune)
        )),
        Err(e) => Err(format!("cannot read it from the writer: {e}")),
    }
}

fn detail_body(
    session: &SignedIn,
    name: &SubscriberName,
    message: &DeadLetterMessage,
    hub: &Result<Value, String>,
    max_replays: u32,
) -> Markup {
    let l = &message.letter;
    let body_json = message.body_json();
    let event_data = body_json.as_ref().and_then(|b| b.get("data")).cloned();
    let id = l.id.clone().unwrap_or_default();
    let mut this = View {
        subscriber: Some(name.clone()),
        ..View::default()
    };
    this.selector.ids.push(id.clone());
    html! {
        p { a href="/dead-letters" { "← All dead letters" } }
        h1 { "Dead letter " code { (id) } }
        div.panel {
            dl.facts {
                dt { "Subscriber" } dd { (name) " (" code { (name.dlq()) } ")" }
                dt { "Reason" } dd { (reason_badge(&l.reason)) }
                dt { "Error" } dd { (l.error.as_deref().unwrap_or("–")) }
                dt { "Attempts" } dd { (l.attempts.as_deref().unwrap_or("–")) }
                dt { "Replayed before" } dd {
                    (l.replay_count) " times"
                    @if l.replay_count >= max_replays {
                        " " (badge(Level::Attention, "Will be parked")) " (a replay parks it: replayed " (max_replays) " times already)"
                    }
                }
                dt { "Failed at (UTC)" } dd { (failed_at(l)) }
                dt { "Event" } dd { (short_type(l)) " of entity " code { (l.subject.as_deref().unwrap_or("–")) } ", version " (l.entity_version.as_deref().unwrap_or("–")) }
                dt { "Municipality" } dd { (l.kommune.as_deref().unwrap_or("–"))
                    @if let Some(k) = l.kommune() { " " (k.name()) } }
            }
        }
        form.inline method="post" action="/dead-letters/dry-run" {
            input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
            @for (k, v) in this.pairs() {
                input type="hidden" name=(k) value=(v);
            }
            button type="submit" name="action" value="replay" { "Dry run: replay this one" }
            button.secondary type="submit" name="action" value="purge" { "Dry run: purge this one" }
        }
        h2 { "The event beside the hub's current document" }
        (comparison(event_data.as_ref(), hub))
        h2 { "Headers" }
        (names_and_values("AMQP headers of the dead letter", "Header", message.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        h2 { "Properties" }
        (names_and_values("AMQP properties of the dead letter", "Property", message.properties.iter().map(|(k, v)| (*k, v.as_str()))))
        details {
            summary { "The message body as received" }
            pre { code { (body_text(message, body_json.as_ref())) } }
        }
    }
}

/// A two-column table of names and values (long values cut).
fn names_and_values<'a>(
    caption: &str,
    name: &str,
    rows: impl Iterator<Item = (&'a str, &'a str)>,
) -> Markup {
    html! {
        div.scroll {
            table {
                caption { (caption) }
                thead { tr { th scope="col" { (name) } th scope="col" { "Value" } } }
                tbody {
                    @for (k, v) in rows {
                        tr { td { code { (k) } } td { code { (cut(v, 2000)) } } }
                    }
                }
            }
        }
    }
}

/// The body, pretty-printed when it is JSON, cut at 64 KiB.
fn body_text(message: &DeadLetterMessage, json: Option<&Value>) -> String {
    let text = match json {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        None => String::from_utf8_lossy(&message.body).into_owned(),
    };
    cut(&text, 64 * 1024)
}

fn comparison(event: Option<&Value>, hub: &Result<Value, String>) -> Markup {
    let hub_doc = match hub {
        Ok(doc) => doc,
        Err(why) => {
            return html! {
                div.notice.warn { (badge(Level::Attention, "No comparison")) " " (why) }
                @if let Some(e) = event {
                    details { summary { "The event's data" } pre { code { (serde_json::to_string_pretty(e).unwrap_or_default()) } } }
                }
            };
        }
    };
    let Some(event) = event else {
        return html! {
            div.notice.warn { (badge(Level::Attention, "No comparison")) " The dead letter's body has no event data to compare." }
        };
    };
    let rows = diff::compare(event, hub_doc);
    let (same, differing): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.change == Change::Same);
    html! {
        p.hint {
            "Left: the entity as this event carried it (version "
            (event.get("version").map_or_else(|| "–".to_owned(), Value::to_string))
            "). Right: the entity in the hub now (version "
            (hub_doc.get("version").map_or_else(|| "–".to_owned(), Value::to_string))
            "). " (differing.len()) " fields differ, " (same.len()) " are equal."
        }
        @if !differing.is_empty() {
            div.scroll {
                table.diff {
                    caption { "Fields that differ" }
                    thead { tr {
                        th scope="col" { "Field" }
                        th scope="col" { "In the event" }
                        th scope="col" { "In the hub now" }
                        th scope="col" { "Difference" }
                    } }
                    tbody {
                        @for r in &differing {
                            tr.changed {
                                td { code { (r.pointer) } }
                                td { code { (r.left.as_deref().map_or("–", |v| v)) } }
                                td { code { (r.right.as_deref().map_or("–", |v| v)) } }
                                td { (match r.change {
                                    Change::Changed => "changed",
                                    Change::OnlyLeft => "only in the event",
                                    Change::OnlyRight => "only in the hub",
                                    Change::Same => "same",
                                }) }
                            }
                        }
                    }
                }
            }
        }
        @if !same.is_empty() {
            details {
                summary { "The " (same.len()) " equal fields" }
                div.scroll {
                    table {
                        caption { "Fields equal in the event and the hub" }
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Value" } } }
                        tbody {
                            @for r in &same {
                                tr { td { code { (r.pointer) } } td { code { (r.left.as_deref().unwrap_or("")) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_view_reads_the_form_and_writes_it_back() {
        let view = View::parse(&fields(&[
            ("csrf", "x"),
            ("subscriber", "fag-x"),
            ("reason", "sink-permanent"),
            ("kommune", "751"),
            ("kind", ""),
            ("since", "2026-12-01T10:00"),
            ("limit", "20"),
        ]))
        .expect("valid");
        assert_eq!(
            view.subscriber.as_ref().map(SubscriberName::as_str),
            Some("fag-x")
        );
        assert_eq!(view.limit, 20);
        assert_eq!(
            view.href(),
            "/dead-letters?subscriber=fag-x&reason=sink-permanent&kommune=751&since=2026-12-01T10%3A00%3A00Z&limit=20"
        );
        let pairs: Vec<(String, String)> = view
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(View::parse(&Fields(pairs)).expect("round trip"), view);
        assert!(!view.redrive_selector().all);
        assert!(
            View::default().redrive_selector().all,
            "no criterion: every dead letter"
        );
    }

    #[test]
    fn a_bad_view_says_why() {
        for (pairs, says) in [
            (vec![("kommune", "9999")], "kommune"),
            (vec![("limit", "0")], "limit"),
            (vec![("subscriber", "Not A Name")], "not valid"),
            (vec![("colour", "red")], "unknown filter key"),
        ] {
            let e = View::parse(&fields(&pairs)).expect_err(says);
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn the_known_reasons_include_the_runtimes_and_the_brokers() {
        let reasons = known_reasons();
        for r in [
            "not-json",
            "bad-data",
            "sink-permanent",
            "retries-exhausted",
            "delivery-limit",
        ] {
            assert!(reasons.contains(&r), "{r}");
        }
    }

    #[test]
    fn detail_links_escape_their_segments() {
        let name = SubscriberName::parse("fag-x").expect("name");
        assert_eq!(detail_href(&name, "a b/c"), "/dead-letters/fag-x/a%20b%2Fc");
    }
}
