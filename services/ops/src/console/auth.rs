//! Who may use the console: a login with the admin token, server-side sessions behind an
//! `HttpOnly`, `SameSite=Strict` cookie, a CSRF token per session checked on every POST, and a
//! limit on failed logins per client address.
//!
//! - A session id is 32 random bytes; the cookie carries only it, and the map of sessions lives
//!   in this process (a restart signs everyone out). A session ends after [`Policy::idle`]
//!   without a request, and [`Policy::max_age`] after its login at the latest.
//! - The login form itself runs in a short signed-out session, so its POST carries a CSRF token
//!   too (no login CSRF); a successful login replaces that session by a new one, so an id seen
//!   before the login is worth nothing after it.
//! - Tokens are compared as SHA-256 digests, bit by bit without an early exit, and never
//!   logged; the CSRF token likewise.
//! - Each login attempt from an address counts before the token is compared (so a burst of
//!   parallel guesses counts in full); after [`Policy::attempts`] attempts without a success the
//!   address gets 429 with `Retry-After` for [`Policy::lockout`], even with the right token.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use sha2::{Digest, Sha256};

use super::ConsoleState;
use super::layout::{self, Fields, PageError, Shell, html_response};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "orghub_console";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// How long a signed-out session (the login form) lives.
const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The most sessions held; past it the oldest signed-out one makes room.
const MAX_SESSIONS: usize = 10_000;
/// The most addresses with failed logins remembered.
const MAX_ADDRESSES: usize = 100_000;

/// How long sessions live and how failed logins are limited.
#[derive(Debug, Clone)]
pub struct Policy {
    pub idle: Duration,
    pub max_age: Duration,
    /// Login attempts an address may make without a success before it is locked out.
    pub attempts: u32,
    pub lockout: Duration,
    /// Add `Secure` to the cookie (when the console is reached through HTTPS).
    pub secure_cookie: bool,
}

/// Sessions, the admin token's digest and the failed-login counts.
#[derive(Debug)]
pub struct Auth {
    token_digest: [u8; 32],
    policy: Policy,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug)]
struct Session {
    csrf: String,
    signed_in: bool,
    created: Instant,
    last_seen: Instant,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// A signed-in request's session: its id (for what the session owns) and CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: String,
    pub csrf: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind, still consistent enough to use.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equal without telling how much of it was equal: digests of both, compared without an early
/// exit.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (digest(a), digest(b));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// 32 random bytes as hex.
pub fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

impl Auth {
    pub fn new(admin_token: &str, policy: Policy) -> Auth {
        Auth {
            token_digest: digest(admin_token.trim()),
            policy,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn token_matches(&self, candidate: &str) -> bool {
        let candidate = digest(candidate.trim());
        let diff = candidate
            .iter()
            .zip(self.token_digest.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(diff) == 0
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        if s.signed_in {
            now.duration_since(s.last_seen) < self.policy.idle
                && now.duration_since(s.created) < self.policy.max_age
        } else {
            now.duration_since(s.created) < LOGIN_FORM_LIFETIME
        }
    }

    /// The live session of this cookie, touched.
    fn session(&self, id: &str, signed_in: bool) -> Option<SignedIn> {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let alive = sessions
            .get(id)
            .is_some_and(|s| s.signed_in == signed_in && self.alive(s, now));
        if !alive {
            if sessions.get(id).is_some_and(|s| !self.alive(s, now)) {
                sessions.remove(id);
            }
            return None;
        }
        let s = sessions.get_mut(id)?;
        s.last_seen = now;
        Some(SignedIn {
            id: id.to_owned(),
            csrf: s.csrf.clone(),
        })
    }

    fn create(&self, signed_in: bool) -> Result<SignedIn, PageError> {
        let id = random_id().map_err(PageError::internal)?;
        let csrf = random_id().map_err(PageError::internal)?;
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| self.alive(s, now));
        }
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .filter(|(_, s)| !s.signed_in)
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    sessions.remove(&k);
                }
                None => return Err(PageError::Busy),
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                signed_in,
                created: now,
                last_seen: now,
            },
        );
        Ok(SignedIn { id, csrf })
    }

    fn end(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Counts an attempt from `ip`; `Err(retry_after)` when the address is locked out.
    fn begin_attempt(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_ADDRESSES {
            let window = self.policy.lockout;
            failures.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now) || now.duration_since(f.first) < window
            });
        }
        let f = failures.entry(ip).or_insert(Failures {
            count: 0,
            first: now,
            locked_until: None,
        });
        if let Some(until) = f.locked_until {
            if now < until {
                return Err(until - now);
            }
            *f = Failures {
                count: 0,
                first: now,
                locked_until: None,
            };
        }
        // Failures older than a lockout are forgiven.
        if now.duration_since(f.first) >= self.policy.lockout {
            f.count = 0;
            f.first = now;
        }
        f.count += 1;
        if f.count > self.policy.attempts {
            f.locked_until = Some(now + self.policy.lockout);
            return Err(self.policy.lockout);
        }
        Ok(())
    }

    fn succeeded(&self, ip: IpAddr) {
        lock(&self.failures).remove(&ip);
    }

    fn cookie(&self, value: &str, clear: bool) -> HeaderValue {
        let mut cookie = format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict");
        if clear {
            cookie.push_str("; Max-Age=0");
        }
        if self.policy.secure_cookie {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The session id the request's cookie names.
fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl SignedIn {
    /// Refuses (403) a form whose CSRF token is missing or not this session's.
    pub fn verify(&self, fields: &Fields) -> Result<(), PageError> {
        match fields.get(CSRF_FIELD) {
            Some(token) if constant_time_eq(token, &self.csrf) => Ok(()),
            _ => Err(PageError::Csrf),
        }
    }
}

/// Why a request has no session: pages send the browser to the login, actions get 401.
#[derive(Debug)]
pub struct NotSignedIn {
    page: bool,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        if self.page {
            Redirect::to("/login").into_response()
        } else {
            PageError::NotSignedIn.into_response()
        }
    }
}

impl FromRequestParts<Arc<ConsoleState>> for SignedIn {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        let page = parts.method == Method::GET || parts.method == Method::HEAD;
        cookie_id(&parts.headers)
            .and_then(|id| state.auth.session(&id, true))
            .ok_or(NotSignedIn { page })
    }
}

/// `GET /login`: the form, in a signed-out session of its own.
pub async fn login_form(State(state): State<Arc<ConsoleState>>, headers: HeaderMap) -> Response {
    let auth = &state.auth;
    if cookie_id(&headers).is_some_and(|id| auth.session(&id, true).is_some()) {
        return Redirect::to("/").into_response();
    }
    let session = match cookie_id(&headers).and_then(|id| auth.session(&id, false)) {
        Some(s) => s,
        None => match auth.create(false) {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        },
    };
    let mut response = html_response(login_page(&session.csrf, None));
    response
        .headers_mut()
        .insert(SET_COOKIE, auth.cookie(&session.id, false));
    response
}

fn login_page(csrf: &str, problem: Option<&str>) -> maud::Markup {
    let shell = Shell {
        title: "Sign in",
        nav: None,
        csrf: None,
        refresh: None,
    };
    layout::page(
        &shell,
        html! {
            h1 { "Sign in to the orghub console" }
            @if let Some(problem) = problem {
                div.notice.bad role="alert" {
                    span.badge.bad { "Refused" } " " (problem)
                }
            }
            form.login method="post" action="/login" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                label for="token" { "Admin token" }
                p.hint #token-hint {
                    "The hub's ORGHUB_ADMIN_TOKEN. It is sent only in this form, never in a URL."
                }
                input #token type="password" name="token" autocomplete="current-password"
                    required autofocus aria-describedby="token-hint";
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `POST /login`: the limit, then the form's CSRF token, then the admin token.
pub async fn login(
    State(state): State<Arc<ConsoleState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    let auth = &state.auth;
    let ip = peer.ip();
    if let Err(retry_after) = auth.begin_attempt(ip) {
        tracing::warn!(client = %ip, "console login refused: too many attempts");
        let mut response = PageError::TooManyAttempts(retry_after).into_response();
        let seconds = retry_after.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(RETRY_AFTER, v);
        }
        return response;
    }
    let Some(form_session) = cookie_id(&headers).and_then(|id| auth.session(&id, false)) else {
        return PageError::Csrf.into_response();
    };
    if let Err(e) = form_session.verify(&fields) {
        return e.into_response();
    }
    let token = fields.get("token").unwrap_or_default();
    if !auth.token_matches(token) {
        tracing::warn!(client = %ip, "console login refused: wrong token");
        let mut response = html_response(login_page(
            &form_session.csrf,
            Some("That is not the admin token."),
        ));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    auth.succeeded(ip);
    auth.end(&form_session.id);
    let session = match auth.create(true) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    tracing::info!(client = %ip, "console login");
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, auth.cookie(&session.id, false));
    response
}

/// `POST /logout`: ends the session.
pub async fn logout(
    State(state): State<Arc<ConsoleState>>,
    session: SignedIn,
    fields: Fields,
) -> Response {
    if let Err(e) = session.verify(&fields) {
        return e.into_response();
    }
    state.auth.end(&session.id);
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, state.auth.cookie("", true));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(attempts: u32, lockout: Duration) -> Auth {
        Auth::new(
            "the-token",
            Policy {
                idle: Duration::from_secs(60),
                max_age: Duration::from_secs(3600),
                attempts,
                lockout,
                secure_cookie: false,
            },
        )
    }

    #[test]
    fn the_token_matches_only_itself() {
        let a = auth(5, Duration::from_secs(60));
        assert!(a.token_matches("the-token"));
        assert!(a.token_matches(" the-token\n"));
        assert!(!a.token_matches("the-token2"));
        assert!(!a.token_matches(""));
        assert!(constant_time_eq("x", "x"));
        assert!(!constant_time_eq("x", "y"));
    }

    #[test]
    fn an_address_is_locked_out_after_its_attempts_and_a_success_resets_it() {
        let a = auth(3, Duration::from_secs(60));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(a.begin_attempt(ip).is_ok());
        }
        let retry = a.begin_attempt(ip).expect_err("locked out");
        assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(50));
        assert!(a.begin_attempt(ip).is_err(), "still locked out");
        assert!(a.begin_attempt(other).is_ok(), "others are not");
        a.succeeded(other);
        for _ in 0..3 {
            assert!(a.begin_attempt(other).is_ok(), "a success resets the count");
        }
    }

    #[test]
    fn a_lockout_ends() {
        let a = auth(1, Duration::from_millis(20));
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(a.begin_attempt(ip).is_ok());
        assert!(a.begin_attempt(ip).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(a.begin_attempt(ip).is_ok());
    }

    #[test]
    fn sessions_are_found_only_in_their_state_and_end() {
        let a = auth(5, Duration::from_secs(60));
        let form = a.create(false).expect("session");
        assert!(a.session(&form.id, false).is_some());
        assert!(a.session(&form.id, true).is_none(), "not signed in");
        let s = a.create(true).expect("session");
        assert_ne!(s.id, form.id);
        assert_eq!(a.session(&s.id, true).map(|x| x.csrf), Some(s.csrf.clone()));
        a.end(&s.id);
        assert!(a.session(&s.id, true).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let a = auth(5, Duration::from_secs(60));
        let c = a.cookie("abc", false);
        let c = c.to_str().expect("ascii");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        let mut headers = HeaderMap::new();
        let id = "a".repeat(64);
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE_NAME}={id}")).expect("header"),
        );
        assert_eq!(cookie_id(&headers), Some(id));
        headers.insert(COOKIE, HeaderValue::from_static("orghub_console=short"));
        assert_eq!(cookie_id(&headers), None);
    }
}
