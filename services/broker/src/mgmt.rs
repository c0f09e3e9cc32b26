//! A small client of RabbitMQ's management HTTP API: what orghub's ops tool, subscriber
//! provisioning and tests need (vhosts, users, permissions, policies, queue figures, closing
//! connections), plus raw JSON access for the rest.
//!
//! Credentials come from the URL's userinfo (`http://guest:guest@127.0.0.1:15672`, the
//! `RABBITMQ_MGMT_URL` of DESIGN.md) and are never printed: `Debug` and errors show the URL
//! without them. Every name in a path is percent-encoded, so the default vhost `/` is `%2F`.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

/// Per-request timeout: the API answers in milliseconds when healthy.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong talking to the management API.
#[derive(Debug, thiserror::Error)]
pub enum MgmtError {
    /// The URL could not be used; a configuration error, retrying cannot help.
    #[error("invalid RabbitMQ management URL {url:?}: {detail}")]
    InvalidUrl { url: String, detail: String },
    /// The request did not get an answer (connection refused, timeout) or the answer was not the
    /// JSON expected. Worth retrying when [`MgmtError::is_unreachable`].
    #[error("RabbitMQ management API request {method} {url} failed: {source}")]
    Http {
        method: Method,
        url: String,
        source: reqwest::Error,
    },
    /// The API answered with a non-success status.
    #[error("RabbitMQ management API {method} {url} answered {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
}

impl MgmtError {
    /// The API did not answer at all: it is down, or the management plugin is not enabled.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, MgmtError::Http { source, .. } if source.is_connect() || source.is_timeout())
    }

    /// The status the API answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            MgmtError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A queue's figures as the management API reports them. They come from the statistics database
/// and lag the broker by up to the stats interval (5 s by default); for exact counts in tests use
/// a passive `queue.declare` over AMQP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct QueueInfo {
    pub name: String,
    pub messages: u64,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    pub consumers: u64,
}

/// A management API client. Cheap to clone.
#[derive(Clone)]
pub struct Management {
    client: reqwest::Client,
    /// Without userinfo.
    base: Url,
    user: String,
    password: String,
}

impl fmt::Debug for Management {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Management")
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Management {
    /// Parses `http://user:password@host:port[/prefix]`. Userinfo is percent-decoded; without
    /// it the user is `guest` with password `guest`, as RabbitMQ's defaults.
    pub fn parse(url: &str) -> Result<Self, MgmtError> {
        let invalid = |detail: &str| MgmtError::InvalidUrl {
            url: orghub_runtime::redact_url(url),
            detail: detail.to_owned(),
        };
        let mut base = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() || base.host_str().is_none() {
            return Err(invalid("the URL has no host"));
        }
        let (user, password) = if base.username().is_empty() {
            ("guest".to_owned(), "guest".to_owned())
        } else {
            (
                percent_decode(base.username()),
                percent_decode(base.password().unwrap_or_default()),
            )
        };
        base.set_username("")
            .and_then(|()| base.set_password(None))
            .map_err(|()| invalid("the credentials cannot be removed from the URL"))?;
        base.set_query(None);
        base.set_fragment(None);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            client,
            base,
            user,
            password,
        })
    }

    /// The user the client authenticates as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The API's base URL, without credentials.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Whether `GET /api/overview` answers with success.
    pub async fn overview_ok(&self) -> bool {
        self.get_json(&["overview"])
            .await
            .is_ok_and(|v| v.is_some())
    }

    /// Creates a vhost (idempotent).
    pub async fn create_vhost(&self, name: &str) -> Result<(), MgmtError> {
        self.put_json(&["vhosts", name], &json!({})).await
    }

    /// Deletes a vhost with everything in it, closing its connections. A missing vhost is not an
    /// error.
    pub async fn delete_vhost(&self, name: &str) -> Result<(), MgmtError> {
        self.delete(&["vhosts", name]).await.map(drop)
    }

    /// Sets `user`'s configure, write and read permission regexes on `vhost`.
    pub async fn grant_permissions(
        &self,
        vhost: &str,
        user: &str,
        configure: &str,
        write: &str,
        read: &str,
    ) -> Result<(), MgmtError> {
        self.put_json(
            &["permissions", vhost, user],
            &json!({ "configure": configure, "write": write, "read": read }),
        )
        .await
    }

    /// Sets `user`'s topic permissions on `exchange` in `vhost`: regexes over the routing keys
    /// it may publish (`write`) and bind or consume with (`read`).
    pub async fn grant_topic_permissions(
        &self,
        vhost: &str,
        user: &str,
        exchange: &str,
        write: &str,
        read: &str,
    ) -> Result<(), MgmtError> {
        self.put_json(
            &["topic-permissions", vhost, user],
            &json!({ "exchange": exchange, "write": write, "read": read }),
        )
        .await
    }

    /// Creates or updates a user with a password and comma-separated tags (`""` for none).
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        tags: &str,
    ) -> Result<(), MgmtError> {
        self.put_json(
            &["users", name],
            &json!({ "password": password, "tags": tags }),
        )
        .await
    }

    /// Sets a user's tags, keeping its password (the API replaces a user as a whole, so its
    /// password hash is read and written back). `Ok(false)` if the user does not exist.
    pub async fn set_user_tags(&self, name: &str, tags: &str) -> Result<bool, MgmtError> {
        let Some(user) = self.get_json(&["users", name]).await? else {
            return Ok(false);
        };
        let mut body = json!({ "tags": tags });
        for key in ["password_hash", "hashing_algorithm"] {
            if let Some(value) = user.get(key) {
                body[key] = value.clone();
            }
        }
        self.put_json(&["users", name], &body).await?;
        Ok(true)
    }

    /// Deletes a user. A missing user is not an error.
    pub async fn delete_user(&self, name: &str) -> Result<(), MgmtError> {
        self.delete(&["users", name]).await.map(drop)
    }

    /// Closes every client connection to `vhost` and returns how many were closed. The API lists
    /// a connection only after its next statistics collection (up to 5 s after it opened by
    /// default), so poll when the count matters.
    pub async fn close_connections(&self, vhost: &str) -> Result<usize, MgmtError> {
        #[derive(Deserialize)]
        struct Conn {
            name: String,
        }
        let Some(list) = self.get_json(&["vhosts", vhost, "connections"]).await? else {
            return Ok(0);
        };
        let conns: Vec<Conn> = serde_json::from_value(list).unwrap_or_default();
        let mut closed = 0;
        for conn in conns {
            if self.delete(&["connections", &conn.name]).await? {
                closed += 1;
            }
        }
        Ok(closed)
    }

    /// The figures of one queue, `None` if it does not exist.
    pub async fn queue(&self, vhost: &str, name: &str) -> Result<Option<QueueInfo>, MgmtError> {
        self.get_typed(&["queues", vhost, name]).await
    }

    /// Every queue of `vhost` with its figures.
    pub async fn queues(&self, vhost: &str) -> Result<Vec<QueueInfo>, MgmtError> {
        Ok(self
            .get_typed(&["queues", vhost])
            .await?
            .unwrap_or_default())
    }

    /// Creates or replaces a policy. `apply_to` is `queues`, `exchanges` or `all`.
    pub async fn put_policy(
        &self,
        vhost: &str,
        name: &str,
        pattern: &str,
        apply_to: &str,
        definition: Value,
        priority: i32,
    ) -> Result<(), MgmtError> {
        self.put_json(
            &["policies", vhost, name],
            &json!({
                "pattern": pattern,
                "apply-to": apply_to,
                "definition": definition,
                "priority": priority,
            }),
        )
        .await
    }

    /// `GET /api/<segments...>` as JSON; `None` on 404. Each segment is percent-encoded.
    pub async fn get_json(&self, segments: &[&str]) -> Result<Option<Value>, MgmtError> {
        self.get_typed(segments).await
    }

    /// `PUT /api/<segments...>` with a JSON body.
    pub async fn put_json(&self, segments: &[&str], body: &Value) -> Result<(), MgmtError> {
        self.send(Method::PUT, segments, Some(body)).await.map(drop)
    }

    /// `POST /api/<segments...>` with a JSON body, the answer as JSON; `None` on 404. For the
    /// few API calls that are POSTs, such as reading messages (`queues/<vhost>/<queue>/get`).
    pub async fn post_json(
        &self,
        segments: &[&str],
        body: &Value,
    ) -> Result<Option<Value>, MgmtError> {
        let url = self.url(segments);
        let Some(response) = self.send(Method::POST, segments, Some(body)).await? else {
            return Ok(None);
        };
        response
            .json()
            .await
            .map(Some)
            .map_err(|source| MgmtError::Http {
                method: Method::POST,
                url: url.to_string(),
                source,
            })
    }

    /// `DELETE /api/<segments...>`; `Ok(false)` if there was nothing to delete (404).
    pub async fn delete(&self, segments: &[&str]) -> Result<bool, MgmtError> {
        Ok(self.send(Method::DELETE, segments, None).await?.is_some())
    }

    async fn get_typed<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<Option<T>, MgmtError> {
        let url = self.url(segments);
        let Some(response) = self.send(Method::GET, segments, None).await? else {
            return Ok(None);
        };
        response
            .json()
            .await
            .map(Some)
            .map_err(|source| MgmtError::Http {
                method: Method::GET,
                url: url.to_string(),
                source,
            })
    }

    /// Sends a request; `None` for a 404, the response for any success, an error otherwise.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Option<reqwest::Response>, MgmtError> {
        let url = self.url(segments);
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .basic_auth(&self.user, Some(&self.password));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| MgmtError::Http {
            method: method.clone(),
            url: url.to_string(),
            source: source.without_url(),
        })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_success() {
            return Ok(Some(response));
        }
        let body = response.text().await.unwrap_or_default();
        Err(MgmtError::Status {
            method,
            url: url.to_string(),
            status,
            body,
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("api").extend(segments);
        }
        url
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, e.g. a vhost name for an
/// AMQP URL's path (`/` becomes `%2F`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (other, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_userinfo_and_leave_the_base_url() {
        let m = Management::parse("http://ops:p%40ss%3Aword@127.0.0.1:15672").unwrap();
        assert_eq!(m.user, "ops");
        assert_eq!(m.password, "p@ss:word");
        assert_eq!(m.base_url(), "http://127.0.0.1:15672/");
        assert!(!format!("{m:?}").contains("p@ss"));
    }

    #[test]
    fn without_userinfo_the_defaults_are_guest() {
        let m = Management::parse("http://localhost:15672").unwrap();
        assert_eq!((m.user.as_str(), m.password.as_str()), ("guest", "guest"));
    }

    #[test]
    fn names_in_paths_are_percent_encoded_and_a_prefix_is_kept() {
        let m = Management::parse("http://h:15672/rabbit/").unwrap();
        assert_eq!(
            m.url(&["queues", "/", "sub.a b"]).as_str(),
            "http://h:15672/rabbit/api/queues/%2F/sub.a%20b"
        );
        let m = Management::parse("http://h:15672").unwrap();
        assert_eq!(m.url(&["overview"]).as_str(), "http://h:15672/api/overview");
    }

    #[test]
    fn urls_that_are_not_http_are_refused() {
        for url in ["amqp://guest:guest@h/%2f", "nonsense", "http://"] {
            assert!(
                matches!(Management::parse(url), Err(MgmtError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn percent_encoding_round_trips() {
        assert_eq!(percent_encode("/"), "%2F");
        assert_eq!(percent_encode("orghub-test-1a.b_c~"), "orghub-test-1a.b_c~");
        assert_eq!(percent_decode(&percent_encode("æ/ø å%")), "æ/ø å%");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
