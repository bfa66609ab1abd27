//! Plain HTTP requests the transport answers for others: the emit API ([`super::api`])
//! and the host's own [`HttpHandler`].
//!
//! Owns buffering such a request (its body bounded by `max_payload`) and choosing who
//! answers it. It must not run an emit on a runtime worker when the host has its own
//! executor: the API call then waits on a blocking thread.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::http::{self, Body};
use super::{Shared, api, read_body};

/// A host-supplied HTTP handler for paths the transport does not own (the server
/// example's `/api/v1/...`). Runs on a runtime thread; it may call `emit_*`.
pub type HttpHandler = Arc<dyn Fn(HttpRequest) -> Option<HttpResponse> + Send + Sync>;

/// A buffered HTTP request handed to an [`HttpHandler`].
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (at most `max_payload` bytes).
    pub body: Bytes,
}

impl HttpRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What an [`HttpHandler`] answers.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Bytes,
}

/// Answers a request for the API or the host's handler; 404 when neither takes it.
pub(super) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path();
    let is_api = shared.config.api_key.is_some()
        && (path.starts_with(api::EMIT_PREFIX) || path == api::CLUSTER_PATH);
    if !is_api && shared.config.http_handler.is_none() {
        return not_found();
    }
    let request = match buffer(request, shared.config.max_payload).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    match answer(&shared, is_api, request).await {
        Some(answer) => {
            let status =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            http::respond(status, answer.content_type, answer.body)
        }
        None => not_found(),
    }
}

fn not_found() -> Response<Body> {
    http::respond(StatusCode::NOT_FOUND, "text/plain", "not found")
}

/// The request as the API and the host's handler see it: method, path, headers and
/// the whole body (413 past `max` bytes).
async fn buffer(request: Request<Incoming>, max: usize) -> Result<HttpRequest, Response<Body>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let body = read_body(request, max).await?;
    Ok(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

/// Runs the API call or the host's handler.
async fn answer(shared: &Shared, is_api: bool, request: HttpRequest) -> Option<HttpResponse> {
    match (&shared.config.api_key, is_api) {
        // With a host executor the call waits for the host's thread to run the emit:
        // off the runtime's workers, so other connections keep being served.
        (Some(key), true) if !shared.hub.emits_here() => {
            let (hub, key) = (shared.hub.clone(), key.clone());
            tokio::task::spawn_blocking(move || api::handle(&hub, &key, &request))
                .await
                .ok()
                .flatten()
        }
        (Some(key), true) => api::handle(&shared.hub, key, &request),
        _ => shared
            .config
            .http_handler
            .as_ref()
            .and_then(|handler| handler(request)),
    }
}
