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
//! - A socket writes every frame it has queued with one flush when it is behind, and a
//!   busy socket flushes at most once per `write_coalesce` (2 ms by default), so under
//!   sustained traffic several frames share one system call; an idle socket's first frame
//!   goes at once.
//! - The transport owns its tokio runtime; the hub stays synchronous.
//!
//! This module must not decide routing or state: it only moves frames.

pub mod api;
mod engine;
mod http;
mod metrics_endpoint;
mod namespace;
mod native_ws;
mod readiness;
mod recovery;
mod session;

pub use http::Cors;
pub use recovery::RecoveryConfig;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::hub::Hub;
use http::Body;

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

/// Server settings. `ServerConfig::default()` suits a local server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Runtime worker threads (default 2).
    pub worker_threads: usize,
    /// Engine.IO ping interval (default 25 s).
    pub ping_interval: Duration,
    /// Engine.IO ping timeout (default 20 s).
    pub ping_timeout: Duration,
    /// How long a polling→websocket upgrade may take (default 10 s).
    pub upgrade_timeout: Duration,
    /// Largest HTTP body (polling POST) accepted, in bytes; Engine.IO `maxPayload`
    /// (default 1,000,000).
    pub max_payload: usize,
    /// Largest single message (websocket frame or polling packet), in bytes (default
    /// 64 KiB); larger closes that connection.
    pub max_message_bytes: usize,
    /// A connection not authenticated within this time is closed (default 10 s).
    pub auth_deadline: Duration,
    /// Connections beyond this are refused: new handshakes get HTTP 503 (default 100,000).
    pub max_connections: usize,
    /// Inbound messages per connection: a token bucket of `burst` tokens refilled at
    /// `per_second` (default 100 and 50/s). A message with no token is dropped and
    /// counted; a connection that keeps sending past `burst` drops in a row is closed.
    pub rate_limit: RateLimit,
    /// CORS policy for polling requests (default same-origin only).
    pub cors: Cors,
    /// Path of the Engine.IO endpoint (default `/socket.io/`).
    pub socketio_path: String,
    /// Path of the native JSON protocol (default `/ws`).
    pub native_path: String,
    /// How long `shutdown()` waits for queues to flush (default 5 s).
    pub shutdown_deadline: Duration,
    /// Write coalescing: a websocket flushes at most once per this interval, so under
    /// sustained traffic several frames share one write (one system call and one TCP
    /// segment) instead of one write per frame. A frame for an idle socket still goes at
    /// once; a busy one waits at most this long. Zero writes every wake-up immediately
    /// (default 2 ms).
    pub write_coalesce: Duration,
    /// Enables the HTTP API (`POST /api/v1/emit/<call>`, see [`api`]) with this
    /// bearer key. `None` (the default) serves no API.
    pub api_key: Option<String>,
    /// Path of the Prometheus endpoint, `GET` only (default `/metrics`; `None` serves
    /// none). See [`crate::monitor::prometheus`] for the families.
    pub metrics_path: Option<String>,
    /// When set, `GET /metrics` requires `Authorization: Bearer <this>` (401
    /// otherwise). `None` (the default) serves the counters to anyone who can reach the
    /// address: they hold no ids or payloads.
    pub metrics_token: Option<String>,
    /// Handler for every other path.
    pub http_handler: Option<HttpHandler>,
    /// Connection-state recovery for both protocols (see [`RecoveryConfig`]); `None`
    /// (the default) turns it off: events carry no offset and a lost transport ends
    /// its connection.
    pub recovery: Option<RecoveryConfig>,
}

/// Inbound rate limit (token bucket).
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Bucket size.
    pub burst: u32,
    /// Refill rate, tokens per second.
    pub per_second: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            worker_threads: 2,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1_000_000,
            max_message_bytes: 64 * 1024,
            auth_deadline: Duration::from_secs(10),
            max_connections: 100_000,
            rate_limit: RateLimit {
                burst: 100,
                per_second: 50.0,
            },
            cors: Cors::SameOrigin,
            socketio_path: "/socket.io/".into(),
            native_path: "/ws".into(),
            shutdown_deadline: Duration::from_secs(5),
            write_coalesce: Duration::from_millis(2),
            api_key: None,
            metrics_path: Some("/metrics".into()),
            metrics_token: None,
            http_handler: None,
            recovery: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
}

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
    /// Open connections (Engine.IO sessions and native websockets).
    pub(crate) active: AtomicUsize,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A running server. Dropping it shuts the server down.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Connections whose transport was lost and that wait for their client to resume
    /// (connection-state recovery; always 0 when it is off).
    pub fn parked_connections(&self) -> usize {
        self.shared.parked.len()
    }

    /// Stops accepting, lets every connection flush what the hub had queued for it
    /// (up to `shutdown_deadline`), closes them, and stops the runtime. Events accepted
    /// by `emit_*` before this call reach every connected client addressed.
    pub fn shutdown(&self) {
        let Some(runtime) = self.runtime.lock().take() else {
            return;
        };
        let _ = self.stop.send(true);
        self.shared.parked.clear();
        self.shared.sessions.close_all(&self.shared);
        let deadline = Instant::now() + self.shared.config.shutdown_deadline;
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        runtime.shutdown_timeout(Duration::from_millis(100));
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the server on `addr` (e.g. `127.0.0.1:3000`, or port 0 for any free port).
pub(crate) fn serve(
    hub: Hub,
    addr: &str,
    config: ServerConfig,
) -> Result<ServerHandle, ServeError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads.max(1))
        .thread_name("mcrt-server")
        // Host sinks are called from these threads only through the delivery thread.
        .on_thread_start(crate::outbound::mark_library_thread)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let (stop, shutdown) = watch::channel(false);
    hub.set_connection_limit(config.max_connections);
    let shared = Arc::new(Shared {
        hub,
        config,
        sessions: session::Sessions::default(),
        parked: recovery::Parked::default(),
        live_pids: Mutex::new(std::collections::HashMap::new()),
        active: AtomicUsize::new(0),
        shutdown,
    });
    let accept_shared = Arc::clone(&shared);
    let bound = runtime
        .block_on(async { tokio::net::TcpListener::from_std(listener) })
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    if shared.config.recovery.is_some() {
        shared.hub.enable_event_offsets();
        shared
            .hub
            .set_surrender(recovery::surrender_to_cluster(&shared));
        runtime.spawn(recovery::sweeper(Arc::clone(&shared)));
    }
    runtime.spawn(accept_loop(accept_shared, bound));
    tracing::info!(%local, "server listening");
    Ok(ServerHandle {
        addr: local,
        stop,
        shared,
        runtime: Mutex::new(Some(runtime)),
    })
}

/// Accepts until the runtime stops: while `shutdown()` drains, a polling client still
/// needs a new request to collect its last frames and the close packet (new sessions
/// are refused then, see `route`).
async fn accept_loop(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(route(shared, request, remote).await) }
            });
            // Pipelined requests (a backend driving the emit API) get their answers in
            // one write instead of one syscall each.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn route(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let path = request.uri().path();
    let socketio = shared.config.socketio_path.trim_end_matches('/');
    if path == socketio || path.strip_prefix(socketio) == Some("/") {
        return engine::handle(shared, request, remote).await;
    }
    if path == shared.config.native_path {
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
    let is_api = shared.config.api_key.is_some()
        && (path.starts_with(api::EMIT_PREFIX) || path == api::CLUSTER_PATH);
    if !is_api && shared.config.http_handler.is_none() {
        return http::respond(StatusCode::NOT_FOUND, "text/plain", "not found");
    }
    let method = request.method().as_str().to_owned();
    let path = path.to_owned();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let body = match read_body(request, shared.config.max_payload).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request = HttpRequest {
        method,
        path,
        headers,
        body,
    };
    let answer = match (&shared.config.api_key, is_api) {
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
    };
    if let Some(answer) = answer {
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return http::respond(status, answer.content_type, answer.body);
    }
    http::respond(StatusCode::NOT_FOUND, "text/plain", "not found")
}

/// Waits, if needed, until `window` has passed since `last_flush`: the write coalescing
/// of [`ServerConfig::write_coalesce`]. Returns at once for an idle socket. Returns the
/// time of this flush, so a writer reads the clock once per flush, not twice.
pub(crate) async fn coalesce(last_flush: Instant, window: Duration) -> Instant {
    if window.is_zero() {
        return last_flush;
    }
    let next = last_flush + window;
    let now = Instant::now();
    if now < next {
        tokio::time::sleep_until(next.into()).await;
        return next;
    }
    now
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
        serve(self.clone(), addr, config)
    }
}
