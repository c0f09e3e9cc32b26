//! The `/metrics` endpoint every orghub process serves, written once: rendering a
//! prometheus-client registry in the OpenMetrics text format, serving it, and label values that
//! stay bounded whatever a client sends.
//!
//! Label values taken from requests must come from a closed set: a label per distinct value is a
//! time series, so a raw method or path from an unauthenticated client could grow the registry
//! without bound. [`method_label`] keeps the known methods and folds the rest into `other`;
//! [`route_label`] is the matched route template, never the raw path.

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::Shutdown;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The registry in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        // Encoding into a String only fails on a broken metric; an empty page is the honest
        // answer, and the scrape shows up as empty instead of half-written.
        out.clear();
    }
    out
}

/// A `/metrics` answer carrying `text` (from [`render`]).
pub fn response(text: String) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Serves `/metrics` (whatever `render` returns at each scrape) and `/healthz` on `listener`
/// until `shutdown` is cancelled.
pub async fn serve<F>(listener: TcpListener, render: F, shutdown: Shutdown) -> std::io::Result<()>
where
    F: Fn() -> String + Clone + Send + Sync + 'static,
{
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let render = render.clone();
                async move { response(render()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// The method as a label value: one of the standard methods, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route template the router matched (`/api/v1/{kommune}/{kind}/{uuid}`), or
/// [`UNMATCHED`]: never the raw path.
pub fn route_label(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::PUT), "PUT");
        for raw in [
            "BREW",
            "PROPFIND",
            "X-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let m = Method::from_bytes(raw.as_bytes()).expect("a method");
            assert_eq!(method_label(&m), "other", "{raw}");
        }
    }

    #[tokio::test]
    async fn the_endpoint_serves_what_render_returns_until_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(listener, || "# EOF\n".to_owned(), shutdown.clone()));
        let response = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("scrape");
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            CONTENT_TYPE
        );
        assert_eq!(response.text().await.expect("body"), "# EOF\n");
        shutdown.cancel();
        server.await.expect("joined").expect("served");
    }
}
