//! HTTP plumbing shared by the server's endpoints: responses, CORS, query strings,
//! handshake contexts and the websocket upgrade handshake.
//!
//! This module must not know about Engine.IO sessions or the hub's events.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::stall::Counted;
use crate::auth::HandshakeContext;

/// The body type of every response.
pub type Body = Full<Bytes>;

/// The origin policy: which browser pages may connect. It governs every handshake
/// (Socket.IO over polling and websocket, the upgrade of a polling session, a raw
/// Engine.IO endpoint, the native `/ws`): a request whose `Origin` is not allowed is
/// refused with 403 before any session exists (see `origin.rs`); requests without
/// `Origin` (devices, servers) are not a browser's and always pass. It also decides the
/// CORS headers of polling answers. A page of the server's own host (its `Host`
/// header) is always allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cors {
    /// Same-origin pages only (and non-browser clients); no CORS headers.
    #[default]
    SameOrigin,
    /// Any page (the request's `Origin` is echoed, with credentials allowed).
    Any,
    /// Same-origin pages and these origins (exact scheme, host and port, e.g.
    /// `http://127.0.0.1:8080`).
    Origins(Vec<String>),
}

impl Cors {
    /// Adds the CORS headers this policy allows for `origin` to `response`.
    pub(crate) fn apply(&self, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
        let Some(origin) = origin else { return };
        let allowed = match self {
            Self::SameOrigin => false,
            Self::Any => true,
            Self::Origins(list) => origin.to_str().is_ok_and(|origin| {
                list.iter()
                    .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
            }),
        };
        if allowed {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

/// A response with a status, a content type and a body.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON error body `{"code","message"}` with `status`.
pub(crate) fn json_error(status: StatusCode, code: u32, message: &str) -> Response<Body> {
    let body = serde_json::json!({"code": code, "message": message}).to_string();
    respond(status, "application/json", body)
}

/// The query string's parameters, percent-decoded.
pub(crate) fn query_pairs(request: &Request<Incoming>) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The first query parameter named `name`.
pub(crate) fn query_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// What the authenticator may read about the request that opened a connection.
pub(crate) fn handshake_context(
    request: &Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
) -> HandshakeContext {
    HandshakeContext {
        remote_addr: Some(remote),
        headers: request
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|value| (name.as_str().to_owned(), value.to_owned()))
            })
            .collect(),
        query,
    }
}

/// Whether the request asks for a websocket upgrade.
pub(crate) fn is_websocket_upgrade(request: &Request<Incoming>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// Initial read buffer of a server websocket.
const READ_BUFFER_BYTES: usize = 1024;

/// A websocket served over a connection hyper handed over, its writes counted for the
/// slow-consumer time bound ([`Counted`]).
pub(crate) type ServerSocket = WebSocketStream<Counted<TokioIo<Upgraded>>>;

/// Answers a websocket upgrade request with `101` and returns a future that yields the
/// websocket once hyper hands the connection over.
pub(crate) fn accept_websocket(
    request: &mut Request<Incoming>,
    max_message_bytes: usize,
) -> Option<(
    Response<Body>,
    impl Future<Output = Option<ServerSocket>> + Send + 'static,
)> {
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY)?.clone();
    let version_ok = request
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    if !version_ok {
        return None;
    }
    let on_upgrade = hyper::upgrade::on(request);
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).ok()?,
    );
    // tungstenite's default read buffer is 128 KiB, allocated up front and zero-filled
    // before every read attempt, and a session's select loop polls its reader once per
    // delivered frame: that memset was a third of the server's CPU and nearly all of
    // its memory per connection. Client messages are small; a larger frame still
    // arrives whole, the buffer grows for it.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes));
    let socket = async move {
        let upgraded = on_upgrade.await.ok()?;
        Some(
            WebSocketStream::from_raw_socket(
                Counted::new(TokioIo::new(upgraded)),
                Role::Server,
                Some(config),
            )
            .await,
        )
    };
    Some((response, socket))
}
