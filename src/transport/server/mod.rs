//! The websocket server transport: Engine.IO v4 / Socket.IO v5 at `/socket.io/` (so the
//! official Socket.IO clients connect unchanged, over websocket, long-polling, or
//! polling upgraded to websocket) and the native JSON protocol at `/ws`.
//!
//! **Why our own Engine.IO layer and not `engineioxide`.** It was evaluated first (v0.17):
//! its sockets take messages as its own `Str` type, which can only be built from our
//! shared bytes by copying or through `unsafe`, and its websocket writer re-serializes
//! every message per socket (`String::from(Packet)` prepends the `4`), so the bytes a
//! socket writes are never the bytes encoded once for all recipients. It also keeps its
//! own bounded packet buffer per socket, so frames would leave our queue (where
//! telemetry conflation and the slow-consumer bound apply) for a buffer where neither
//! does. Built on hyper + tokio-tungstenite instead, each event's Socket.IO frame
//! (`42[...]`, including the Engine.IO type) is encoded once and the same
//! `Utf8Bytes` is handed to every websocket, or joined into a polling payload.
//!
//! Invariants (each guarded by the named tests):
//! - No lock is held while writing: a session drains its queues (one short lock each)
//!   and then writes (`tests/server/server_socketio.rs`).
//! - A socket writes every frame it has queued with one flush; a socket that finds a
//!   single event (it is idle) writes it at once, and only one that found a backlog
//!   twice in a row holds its batch until `write_coalesce` (2 ms by default) after the
//!   previous one, so under sustained traffic many frames share one system call
//!   (`coalesce.rs`, `tests/server/coalescing.rs`).
//! - A slow consumer is closed by bytes waiting (the queue's bound) or by a write
//!   without progress (`stall.rs`), never by how many frames went by.
//! - The transport owns its tokio runtime; the hub stays synchronous.
//!
//! This module must not decide routing or state: it only moves frames.

pub mod api;
mod coalesce;
mod custom;
mod engine;
mod fd_limit;
mod http;
mod limits;
mod metrics_endpoint;
mod namespace;
mod native_ws;
mod origin;
mod rate_limit;
mod readiness;
mod recovery;
mod service;
mod session;
mod sessions;
mod stall;
#[cfg(feature = "tls")]
mod tls;

mod config;
mod host_http;
mod listen;

pub use config::{RateLimit, ServerConfig};
pub use host_http::{HttpHandler, HttpRequest, HttpResponse};
pub use http::Cors;
pub use listen::{ServeError, ServerHandle};
pub use recovery::RecoveryConfig;
pub use service::{
    Ack, ConnectRefusal, EngineEndpoint, EngineMessage, EngineService, EngineSocket, Gone,
    Namespace, NamespaceSocket, Namespaces, Payload,
};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsError, rustls};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::hub::Hub;
use http::Body;

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    pub(crate) config: ServerConfig,
    pub(crate) sessions: session::Sessions,
    /// Connections whose transport was lost, waiting for their client to resume.
    pub(crate) parked: recovery::Parked,
    /// Recovery on: the pid of every Socket.IO connection a live session carries → that
    /// session's sid, so a client that reconnects before its old transport was found
    /// dead can take the connection over.
    pub(crate) live_pids: Mutex<std::collections::HashMap<String, String>>,
    /// Polling sessions their client closed (`1`) with no poll pending, freed at once,
    /// whose client may still have a poll on its way: see `engine::polling::closed_poll`.
    pub(crate) client_closed: sessions::Tombstones,
    /// The per-address handshake buckets.
    pub(crate) handshakes: limits::Handshakes,
    /// Open connections per remote IP.
    pub(crate) open_per_ip: limits::OpenPerIp,
    /// Open connections (Engine.IO sessions and native websockets).
    pub(crate) active: AtomicUsize,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Sends a request to the part of the server that owns its path.
async fn route(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let remote = limits::client_addr(&shared.config.trusted_proxies, &request, remote);
    let path = request.uri().path();
    let socketio = shared.config.socketio_path.trim_end_matches('/');
    if path == socketio || path.strip_prefix(socketio) == Some("/") {
        if let Some(refused) = refusal(&shared, &request, remote, false) {
            return refused;
        }
        return engine::handle(shared, request, remote, session::Service::SocketIo).await;
    }
    if let Some(endpoint) = &shared.config.engine_io {
        let engine_path = endpoint.path.trim_end_matches('/');
        if path == engine_path || path.strip_prefix(engine_path) == Some("/") {
            if let Some(refused) = refusal(&shared, &request, remote, false) {
                return refused;
            }
            let service = session::Service::Engine(std::sync::Arc::clone(&endpoint.service));
            return engine::handle(shared, request, remote, service).await;
        }
    }
    if path == shared.config.native_path {
        if let Some(refused) = refusal(&shared, &request, remote, true) {
            return refused;
        }
        if *shared.shutdown.borrow() {
            return http::respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "shutting down",
            );
        }
        return native_ws::handle(shared, request, remote).await;
    }
    if shared.config.metrics_path.as_deref() == Some(path) {
        return metrics_endpoint::handle(
            &shared.hub,
            shared.config.metrics_token.as_deref(),
            &request,
        );
    }
    host_http::handle(shared, request).await
}

/// The acceptance checks of a request to a connection endpoint, before anything else
/// reads it: its origin (`origin.rs`), then, for a handshake (a request without `sid`,
/// or any to `/ws`), its address's handshake rate (`limits.rs`).
fn refusal(
    shared: &Shared,
    request: &Request<Incoming>,
    remote: SocketAddr,
    native: bool,
) -> Option<Response<Body>> {
    if let Some(refused) = origin::refusal(shared, request, remote) {
        return Some(refused);
    }
    let handshake = native
        || !http::query_pairs(request)
            .iter()
            .any(|(name, _)| name == "sid");
    if handshake {
        return limits::handshake_refusal(shared, remote.ip());
    }
    None
}

/// Reads a request body up to `max` bytes (413 beyond).
pub(crate) async fn read_body(
    request: Request<Incoming>,
    max: usize,
) -> Result<Bytes, Response<Body>> {
    use http_body_util::{BodyExt, Limited};
    match Limited::new(request.into_body(), max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(http::respond(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain",
                    "payload too large",
                ))
            } else {
                Err(http::respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "bad body",
                ))
            }
        }
    }
}

impl Hub {
    /// Serves this hub over HTTP on `addr` with `config`: Socket.IO at
    /// `config.socketio_path`, the native protocol at `config.native_path`. The server
    /// owns its tokio runtime; the returned handle stops it.
    pub fn serve(&self, addr: &str, config: ServerConfig) -> Result<ServerHandle, ServeError> {
        listen::serve(self.clone(), addr, config)
    }
}
