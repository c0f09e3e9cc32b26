//! What every page shares: the shell (head, skip link, navigation, sign-out), the style sheet,
//! the security headers, form fields as pairs ([`Fields`]), and [`PageError`], which turns every
//! failure into a page with the right status (never a bare 500 for bad input).
//!
//! Accessibility rules kept by every page: one `h1`, labels on every field, tables with a
//! caption and column headers, a visible focus ring, and a word beside every colour (a badge
//! says "OK", "Attention" or "Problem"; colour only repeats it).

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::auth::CSRF_FIELD;

/// Where a page sits in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    DeadLetters,
}

/// The frame of a page.
#[derive(Debug)]
pub struct Shell<'a> {
    pub title: &'a str,
    /// `None` on the login page: no navigation before signing in.
    pub nav: Option<Nav>,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: Option<&'a str>,
    /// Reload the page after this many seconds.
    pub refresh: Option<u32>,
}

/// A whole page.
pub fn page(shell: &Shell<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = shell.refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (shell.title) " · orghub console" }
                link rel="stylesheet" href="/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "orghub console" }
                    @if let Some(active) = shell.nav {
                        nav aria-label="Main" {
                            ul {
                                li { a href="/overview" aria-current=[(active == Nav::Overview).then_some("page")] { "Overview" } }
                                li { a href="/dead-letters" aria-current=[(active == Nav::DeadLetters).then_some("page")] { "Dead letters" } }
                            }
                        }
                    }
                    @if let Some(csrf) = shell.csrf {
                        form.signout method="post" action="/logout" {
                            input type="hidden" name=(CSRF_FIELD) value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// A status word with its colour: the word carries the meaning, the colour repeats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Attention,
    Problem,
}

pub fn badge(level: Level, word: &str) -> Markup {
    let class = match level {
        Level::Ok => "badge ok",
        Level::Attention => "badge warn",
        Level::Problem => "badge bad",
    };
    html! { span class=(class) { (word) } }
}

/// A number or a dash for what is not known.
pub fn count(value: Option<u64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// The form fields of a POST (or the query of a GET) as name/value pairs, in order. A body
/// that is not a form reads as no fields, so it fails the CSRF check (403) like a missing token.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(
            match axum::Form::<Vec<(String, String)>>::from_request(req, state).await {
                Ok(axum::Form(pairs)) => Fields(pairs),
                Err(_) => Fields::default(),
            },
        )
    }
}

/// The query string's pairs; a query that does not parse is a 400 page.
#[derive(Debug, Clone, Default)]
pub struct QueryFields(pub Fields);

impl<S: Send + Sync> FromRequestParts<S> for QueryFields {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|q| QueryFields(Fields(q.0)))
            .map_err(|e| PageError::BadRequest(e.body_text()))
    }
}

/// How a request failed, as a page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in first")]
    NotSignedIn,
    #[error(
        "the form's CSRF token is missing or not this session's; reload the page and try again"
    )]
    Csrf,
    #[error("too many sign-in attempts from this address; try again in {} s", .0.as_secs().max(1))]
    TooManyAttempts(Duration),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// PostgreSQL, RabbitMQ or the writer failed.
    #[error("{0}")]
    Dependency(String),
    #[error("the console holds too many sessions; try again later")]
    Busy,
    #[error("internal error")]
    Internal,
}

impl PageError {
    /// Logs the cause once; the page says only "internal error".
    pub fn internal(e: impl std::fmt::Display) -> PageError {
        tracing::error!(error = %e, "console internal error");
        PageError::Internal
    }

    pub fn status(&self) -> StatusCode {
        match self {
            PageError::NotSignedIn => StatusCode::UNAUTHORIZED,
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Dependency(_) => StatusCode::BAD_GATEWAY,
            PageError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let shell = Shell {
            title,
            nav: None,
            csrf: None,
            refresh: None,
        };
        let body = html! {
            h1 { (status.as_u16()) " " (title) }
            div.notice.bad role="alert" { (badge(Level::Problem, "Problem")) " " (self.to_string()) }
            p {
                @if matches!(self, PageError::NotSignedIn | PageError::Csrf) {
                    a href="/login" { "Sign in" }
                } @else {
                    a href="/overview" { "Back to the overview" }
                }
            }
        };
        (status, Html(page(&shell, body).into_string())).into_response()
    }
}

/// A rendered page as a response.
pub fn html_response(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// `GET /console.css`.
pub async fn style_sheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

/// Headers on every answer: nothing but this origin's style sheet may load, no framing, no
/// referrer (a page's query holds only filters, but still), and no caching of pages.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The whole style sheet: small, readable at 1280 px and on a phone, dark text on light ground
/// with contrast ≥ 4.5:1, and a focus ring that shows where the keyboard is.
const STYLE: &str = r#"
:root { --fg: #1b1f24; --muted: #4a5360; --bg: #ffffff; --panel: #f3f5f7; --line: #c9d0d8;
  --link: #0b57a4; --ok-bg: #dff3e4; --ok-fg: #14532d; --warn-bg: #fff1c2; --warn-fg: #6b4500;
  --bad-bg: #fde2e1; --bad-fg: #8a1c15; --focus: #ffbf47; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 100%;
  color: var(--fg); background: var(--bg); line-height: 1.45; }
body { margin: 0; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible,
summary:focus-visible, main:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px;
  box-shadow: 0 0 0 5px var(--fg); }
.skip { position: absolute; left: -999px; top: 0; background: var(--fg); color: #fff;
  padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: 0; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem;
  padding: .6rem 1.25rem; background: #18324d; color: #fff; }
header.top .brand { font-weight: 700; letter-spacing: .02em; }
header.top nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
header.top nav a { color: #fff; text-decoration: none; padding: .25rem .1rem;
  border-bottom: 3px solid transparent; }
header.top nav a[aria-current="page"] { border-bottom-color: #fff; font-weight: 700; }
header.top .signout { margin-left: auto; }
main { max-width: 80rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 1.75rem 0 .5rem; }
p.hint, .muted { color: var(--muted); font-size: .92rem; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: .75rem 1rem; margin: .75rem 0; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td code, dd code { overflow-wrap: anywhere; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: 4px; font-size: .85rem;
  font-weight: 700; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok-fg); }
.badge.warn { background: var(--warn-bg); color: var(--warn-fg); }
.badge.bad { background: var(--bad-bg); color: var(--bad-fg); }
.notice { border-left: 6px solid var(--line); padding: .6rem .9rem; margin: .75rem 0;
  background: var(--panel); }
.notice.bad { border-left-color: var(--bad-fg); }
.notice.warn { border-left-color: var(--warn-fg); }
.notice.ok { border-left-color: var(--ok-fg); }
form.filter { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr));
  gap: .75rem 1rem; align-items: end; }
form.filter .actions, form.inline { display: flex; flex-wrap: wrap; gap: .5rem; }
label { display: block; font-weight: 600; margin-bottom: .2rem; }
input, select, button { font: inherit; }
input[type=text], input[type=password], input[type=datetime-local], input[type=number], select {
  width: 100%; padding: .4rem .5rem; border: 1px solid #6b7683; border-radius: 4px;
  background: #fff; color: var(--fg); }
button, .button { display: inline-block; padding: .45rem .9rem; border-radius: 4px;
  border: 1px solid #18324d; background: #18324d; color: #fff; cursor: pointer;
  text-decoration: none; font-weight: 600; }
button.secondary, .button.secondary { background: #fff; color: #18324d; }
button.danger { background: var(--bad-fg); border-color: var(--bad-fg); }
header.top button { background: transparent; border-color: #fff; }
form.login { max-width: 26rem; display: grid; gap: .5rem; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .6rem; overflow-x: auto;
  font-size: .85rem; max-height: 28rem; }
tr.changed td { background: var(--warn-bg); }
details summary { cursor: pointer; font-weight: 600; margin: .5rem 0; }
@media (max-width: 40rem) {
  main { padding: .75rem .75rem 2rem; }
  h1 { font-size: 1.35rem; }
  .side { grid-template-columns: 1fr; }
  .facts { grid-template-columns: 1fr; }
  .facts dt { margin-top: .4rem; }
  header.top .signout { margin-left: 0; }
  th, td { padding: .35rem .4rem; }
}
"#;
