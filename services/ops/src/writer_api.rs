//! A client of the writer's HTTP API for what operators do: the admin token API, the NDJSON
//! import, and an entity's current document (the console shows it beside a dead letter). Errors
//! say whether the writer was unreachable, refused the token, found nothing, or refused the
//! input, so the command can pick the right exit code.

use std::time::Duration;

use orghub_broker::redact_url;
use orghub_contracts::{EntityKind, Kommune};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::CliError;

/// How long a small API call may take; an import has no overall limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to the writer.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("ORGHUB_WRITER_URL {url:?} is not an http(s) URL: {detail}")]
    InvalidUrl { url: String, detail: String },
    #[error("no token for the writer: set {0}")]
    NoToken(&'static str),
    /// No answer: down, wrong address, or a timeout. Worth retrying.
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
    /// Another 4xx: the request is invalid.
    #[error("the writer refused the request ({status}): {detail}")]
    Invalid { status: StatusCode, detail: String },
    /// 5xx or an answer that is not the JSON expected.
    #[error("the writer at {url} failed ({status}): {detail}")]
    Failed {
        url: String,
        status: String,
        detail: String,
    },
}

impl From<WriterError> for CliError {
    fn from(e: WriterError) -> Self {
        match e {
            WriterError::InvalidUrl { .. }
            | WriterError::NoToken(_)
            | WriterError::Refused { .. }
            | WriterError::Invalid { .. } => CliError::Usage(e.to_string()),
            WriterError::NotFound { .. } => CliError::NotFound(e.to_string()),
            WriterError::Unreachable { .. } | WriterError::Failed { .. } => {
                CliError::Dependency(e.into())
            }
        }
    }
}

/// A token as the admin API lists it (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
}

/// A freshly created token; `token` is the secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub token: String,
}

/// One problem with an input, as problem+json `errors[]` carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldProblem {
    #[serde(default)]
    pub pointer: String,
    #[serde(default)]
    pub detail: String,
}

/// A line the import refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedLine {
    /// 1-based; 0 for an entity a full import could not end.
    pub line: u64,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
}

/// The import's answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportSummary {
    pub lines: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub terminated: u64,
    pub deleted: u64,
    pub rejected_count: u64,
    /// The first rejected lines in detail (the writer caps the list; `rejected_count` counts
    /// all).
    pub rejected: Vec<RejectedLine>,
}

impl ImportSummary {
    /// Lines that changed an entity, each of which emitted one event.
    pub fn changed(&self) -> u64 {
        self.created + self.updated + self.terminated + self.deleted
    }
}

/// A writer API client with one bearer token.
#[derive(Debug, Clone)]
pub struct WriterClient {
    client: reqwest::Client,
    base: Url,
    /// The base URL as messages show it (password redacted).
    shown: String,
    token: String,
}

impl WriterClient {
    /// `token_var` names the setting the token came from, for the message when it is missing.
    pub fn new(
        base: &str,
        token: Option<&str>,
        token_var: &'static str,
    ) -> Result<Self, WriterError> {
        let shown = redact_url(base);
        let invalid = |detail: String| WriterError::InvalidUrl {
            url: shown.clone(),
            detail,
        };
        let base = Url::parse(base).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(invalid("expected http://host:port".into()));
        }
        let token = token
            .filter(|t| !t.trim().is_empty())
            .ok_or(WriterError::NoToken(token_var))?
            .trim()
            .to_owned();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            client,
            base,
            shown,
            token,
        })
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
        let body = json!({"name": name, "scopes": scopes});
        let value = self
            .call(Method::POST, &["api", "v1", "admin", "tokens"], Some(body))
            .await?;
        self.parse(value)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, WriterError> {
        let value = self
            .call(Method::GET, &["api", "v1", "admin", "tokens"], None)
            .await?;
        self.parse(value.get("tokens").cloned().unwrap_or(Value::Null))
    }

    /// Revokes a live token; [`WriterError::NotFound`] if there is none with that id.
    pub async fn revoke_token(&self, id: &str) -> Result<(), WriterError> {
        self.call(Method::DELETE, &["api", "v1", "admin", "tokens", id], None)
            .await
            .map(drop)
    }

    /// An entity's current document (`GET /api/v1/{kommune}/{kind-path}/{uuid}`); `None` when
    /// the hub has no such entity.
    pub async fn entity(
        &self,
        kommune: Kommune,
        kind: EntityKind,
        uuid: Uuid,
    ) -> Result<Option<Value>, WriterError> {
        let segments = [
            "api",
            "v1",
            &kommune.to_string(),
            kind.path(),
            &uuid.to_string(),
        ];
        match self.call(Method::GET, &segments, None).await {
            Ok(document) => Ok(Some(document)),
            Err(WriterError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams `body` (NDJSON) to the municipality's import.
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
            .client
            .post(url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        let value = self.finish(request).await?;
        self.parse(value)
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Value, WriterError> {
        let mut request = self
            .client
            .request(method, self.url(segments))
            .bearer_auth(&self.token)
            .timeout(CALL_TIMEOUT);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(request).await
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Result<Value, WriterError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let detail = problem_detail(&value, &text);
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => WriterError::Refused {
                url: self.shown.clone(),
                status,
                detail,
            },
            StatusCode::NOT_FOUND => WriterError::NotFound { detail },
            s if s.is_client_error() => WriterError::Invalid { status, detail },
            _ => WriterError::Failed {
                url: self.shown.clone(),
                status: status.to_string(),
                detail,
            },
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, value: Value) -> Result<T, WriterError> {
        serde_json::from_value(value).map_err(|e| WriterError::Failed {
            url: self.shown.clone(),
            status: "200".into(),
            detail: format!("unexpected answer: {e}"),
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> WriterError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        WriterError::Unreachable {
            url: self.shown.clone(),
            detail,
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// A problem+json document as one line: its detail and each field error.
fn problem_detail(value: &Value, text: &str) -> String {
    let mut out = value
        .get("detail")
        .and_then(Value::as_str)
        .map_or_else(|| text.trim().chars().take(300).collect(), str::to_owned);
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        for e in errors {
            let pointer = e.get("pointer").and_then(Value::as_str).unwrap_or("");
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!("; {pointer}: {detail}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_one_line_with_their_field_errors() {
        let v = json!({"detail": "the request is invalid", "errors": [{"pointer": "/scopes/0", "detail": "bad"}]});
        assert_eq!(
            problem_detail(&v, ""),
            "the request is invalid; /scopes/0: bad"
        );
        assert_eq!(problem_detail(&Value::Null, " plain "), "plain");
    }

    #[test]
    fn a_missing_token_or_a_bad_url_is_a_usage_error() {
        let e = WriterClient::new("http://127.0.0.1:8080", None, "ORGHUB_ADMIN_TOKEN")
            .expect_err("no token");
        assert!(e.to_string().contains("ORGHUB_ADMIN_TOKEN"));
        assert_eq!(CliError::from(e).exit_code(), crate::error::EXIT_USAGE);
        let e = WriterClient::new("ftp://x:secret@h", Some("t"), "ORGHUB_TOKEN")
            .expect_err("bad scheme");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
