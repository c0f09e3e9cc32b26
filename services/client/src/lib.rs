//! The one HTTP client of the writer's API (DESIGN §3), used by `orghubctl` and the subscriber:
//! admin tokens, NDJSON import, the snapshot stream, the event log and readiness. Requests and
//! answers are the types of `orghub_contracts::api`; every failure is a [`WriterError`] that says
//! what went wrong and whether trying again can help ([`WriterError::is_transient`]).
//!
//! Layout:
//! - [`WriterClient`] (this file): the calls and the mapping of statuses to errors.
//! - [`snapshot`]: [`Snapshot`], the `GET /snapshot` stream read line by line with a bounded
//!   line length.

pub mod snapshot;

use std::time::Duration;

use orghub_contracts::api::{
    ImportSummary, NewToken, NewTokenRequest, Problem, Readiness, TokenList, TokenRecord,
};
use orghub_contracts::{EntityKind, Kommune};
use orghub_runtime::{Secret, redact_url};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

pub use snapshot::{MAX_SNAPSHOT_LINE, Snapshot};

/// How long a small API call may take; an import and a snapshot have no overall limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to the writer.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("the writer URL {url:?} is not an http(s) URL: {detail}")]
    InvalidUrl { url: String, detail: String },
    /// No answer: down, wrong address, a timeout, a stream cut short. Worth retrying.
    #[error("cannot reach the writer at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// 401 or 403: the token is wrong or lacks a scope. Retrying cannot help.
    #[error("the writer at {url} refused the token ({status}): {detail}")]
    Refused {
        url: String,
        status: StatusCode,
        detail: String,
    },
    /// 404.
    #[error("{detail}")]
    NotFound { detail: String },
    /// Another 4xx: the request is invalid. Retrying the same request cannot help.
    #[error("the writer refused the request ({status}): {detail}")]
    Invalid {
        status: StatusCode,
        detail: String,
        /// The problem document, when the answer carried one.
        problem: Option<Box<Problem>>,
    },
    /// 5xx, 408 or 429: the writer could not serve the request now. Worth retrying.
    #[error("the writer at {url} failed ({status}): {detail}")]
    Failed {
        url: String,
        status: StatusCode,
        detail: String,
    },
    /// The answer does not follow the contract (not the JSON expected, a snapshot without its
    /// head line). Retrying cannot help: the writer and this client disagree.
    #[error("the writer at {url} answered what the contract does not allow: {detail}")]
    Broken { url: String, detail: String },
    /// A snapshot line longer than [`MAX_SNAPSHOT_LINE`]: no document of the contract is that
    /// long, so reading it again would fail again.
    #[error(
        "a snapshot line from {url} is longer than {limit} bytes, more than any document may be; \
         the writer and this client disagree on the document size limit"
    )]
    LineTooLong { url: String, limit: usize },
}

impl WriterError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WriterError::Unreachable { .. } | WriterError::Failed { .. }
        )
    }
}

/// A writer API client with one bearer token.
#[derive(Debug, Clone)]
pub struct WriterClient {
    http: reqwest::Client,
    base: Url,
    /// The base URL as messages show it (password redacted).
    shown: String,
    token: Secret,
}

impl WriterClient {
    /// A client of the writer at `base` (`http(s)://host:port`, optionally with a path prefix).
    pub fn parse(base: &str, token: Secret) -> Result<Self, WriterError> {
        let invalid = |detail: String| WriterError::InvalidUrl {
            url: redact_url(base),
            detail,
        };
        let url = Url::parse(base).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("expected http://host:port".into()));
        }
        Ok(Self::new(url, token))
    }

    /// A client of the writer at an already checked http(s) `base`.
    pub fn new(base: Url, token: Secret) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        WriterClient {
            http,
            shown: redact_url(base.as_str()),
            base,
            token,
        }
    }

    /// The base URL, password redacted.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    pub async fn create_token(
        &self,
        name: &str,
        scopes: &[String],
    ) -> Result<NewToken, WriterError> {
        self.create_sourced_token(name, scopes, None).await
    }

    /// Creates a token that writes for the source system `source` (DESIGN §2 *Source systems*).
    pub async fn create_sourced_token(
        &self,
        name: &str,
        scopes: &[String],
        source: Option<&str>,
    ) -> Result<NewToken, WriterError> {
        let body = NewTokenRequest {
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            source: source.map(str::to_owned),
        };
        let request = self
            .request(Method::POST, &["api", "v1", "admin", "tokens"])
            .timeout(CALL_TIMEOUT)
            .json(&body);
        self.json(request).await
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, WriterError> {
        let request = self
            .request(Method::GET, &["api", "v1", "admin", "tokens"])
            .timeout(CALL_TIMEOUT);
        Ok(self.json::<TokenList>(request).await?.tokens)
    }

    /// Revokes a live token; [`WriterError::NotFound`] if there is none with that id.
    pub async fn revoke_token(&self, id: &str) -> Result<(), WriterError> {
        let request = self
            .request(Method::DELETE, &["api", "v1", "admin", "tokens", id])
            .timeout(CALL_TIMEOUT);
        self.send(request).await.map(drop)
    }

    /// The municipality's declared source systems (`GET /api/v1/{kommune}/sources`): `{kommune,
    /// sources: [{source, owns, updated_at}]}`.
    pub async fn sources(&self, kommune: Kommune) -> Result<Value, WriterError> {
        let kommune = kommune.to_string();
        let request = self
            .request(Method::GET, &["api", "v1", &kommune, "sources"])
            .timeout(CALL_TIMEOUT);
        self.json(request).await
    }

    /// Declares what `source` owns in the municipality (`PUT /api/v1/{kommune}/sources/{source}`,
    /// admin): `owns` is `{"<kind>": "*" or ["field", …]}`.
    pub async fn declare_source(
        &self,
        kommune: Kommune,
        source: &str,
        owns: &Value,
    ) -> Result<Value, WriterError> {
        let kommune = kommune.to_string();
        let request = self
            .request(Method::PUT, &["api", "v1", &kommune, "sources", source])
            .timeout(CALL_TIMEOUT)
            .json(&serde_json::json!({ "owns": owns }));
        self.json(request).await
    }

    /// An entity's current document (`GET /api/v1/{kommune}/{kind-path}/{uuid}`); `None` when
    /// the hub has no such entity (the console shows it beside a dead letter).
    pub async fn entity(
        &self,
        kommune: Kommune,
        kind: EntityKind,
        uuid: Uuid,
    ) -> Result<Option<Value>, WriterError> {
        let (kommune, uuid) = (kommune.to_string(), uuid.to_string());
        let request = self
            .request(Method::GET, &["api", "v1", &kommune, kind.path(), &uuid])
            .timeout(CALL_TIMEOUT);
        match self.json(request).await {
            Ok(document) => Ok(Some(document)),
            Err(WriterError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams `body` (NDJSON) to the municipality's import (`full`: also end what the file
    /// does not have).
    pub async fn import(
        &self,
        kommune: Kommune,
        full: bool,
        body: reqwest::Body,
    ) -> Result<ImportSummary, WriterError> {
        let mut url = self.url(&["api", "v1", &kommune.to_string(), "import"]);
        url.query_pairs_mut()
            .append_pair("mode", if full { "full" } else { "partial" });
        let request = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        self.json(request).await
    }

    /// The municipality's event log after `after`, at most `limit` events, as CloudEvents in
    /// structured JSON.
    pub async fn events(
        &self,
        kommune: Kommune,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Value>, WriterError> {
        let mut url = self.url(&["api", "v1", &kommune.to_string(), "events"]);
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &limit.to_string());
        let request = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            .timeout(CALL_TIMEOUT);
        self.json(request).await
    }

    /// `/readyz`: which of the writer's dependencies answer (also when it is not ready).
    pub async fn readiness(&self) -> Result<Readiness, WriterError> {
        let response = self
            .request(Method::GET, &["readyz"])
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        let text = response
            .text()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        self.decode(&text)
    }

    /// Opens the municipality's snapshot: its head line is read, the documents follow through
    /// [`Snapshot::next_document`].
    pub async fn snapshot(&self, kommune: Kommune) -> Result<Snapshot, WriterError> {
        let path = ["api", "v1", &kommune.to_string(), "snapshot"];
        let url = self.url(&path);
        let response = self.send(self.request(Method::GET, &path)).await?;
        Snapshot::from_stream(redact_url(url.as_str()), response.bytes_stream()).await
    }

    /// The URL of `segments` below the base (which may carry a path prefix).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .bearer_auth(self.token.expose())
    }

    /// Sends, and turns an unsuccessful status into its error.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, WriterError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let problem = serde_json::from_str::<Problem>(&text).ok();
        let detail = problem.as_ref().map_or_else(
            || text.trim().chars().take(300).collect(),
            Problem::one_line,
        );
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => WriterError::Refused {
                url: self.shown.clone(),
                status,
                detail,
            },
            StatusCode::NOT_FOUND => WriterError::NotFound { detail },
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => WriterError::Failed {
                url: self.shown.clone(),
                status,
                detail,
            },
            s if s.is_client_error() => WriterError::Invalid {
                status,
                detail,
                problem: problem.map(Box::new),
            },
            _ => WriterError::Failed {
                url: self.shown.clone(),
                status,
                detail,
            },
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WriterError> {
        let response = self.send(request).await?;
        let text = response
            .text()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        self.decode(&text)
    }

    fn decode<T: DeserializeOwned>(&self, text: &str) -> Result<T, WriterError> {
        serde_json::from_str(text).map_err(|e| WriterError::Broken {
            url: self.shown.clone(),
            detail: format!("unexpected answer: {e}"),
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> WriterError {
        WriterError::Unreachable {
            url: self.shown.clone(),
            detail: error_chain(e),
        }
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_base_path() {
        let c = WriterClient::parse("http://h:8080/hub/", Secret::new("t")).expect("url");
        assert_eq!(
            c.url(&["api", "v1", "751", "snapshot"]).as_str(),
            "http://h:8080/hub/api/v1/751/snapshot"
        );
        let c = WriterClient::parse("http://h:8080", Secret::new("t")).expect("url");
        assert_eq!(c.url(&["readyz"]).as_str(), "http://h:8080/readyz");
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let e = WriterClient::parse("ftp://x:secret@h", Secret::new("t")).expect_err("scheme");
        assert!(matches!(e, WriterError::InvalidUrl { .. }));
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn only_unreachable_and_failing_writers_are_worth_a_retry() {
        let failed = WriterError::Failed {
            url: "u".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: String::new(),
        };
        assert!(failed.is_transient());
        let too_long = WriterError::LineTooLong {
            url: "u".into(),
            limit: MAX_SNAPSHOT_LINE,
        };
        assert!(!too_long.is_transient());
        assert!(
            !WriterError::NotFound {
                detail: String::new()
            }
            .is_transient()
        );
    }
}
