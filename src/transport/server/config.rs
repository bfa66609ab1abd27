//! The server's settings: [`ServerConfig`] and its [`RateLimit`], with their defaults.
//!
//! Owns every tunable of the server transport and its default value. It must not read
//! them anywhere else than where they take effect (the engine, the native websocket,
//! the HTTP routes).

use std::time::Duration;

use super::HttpHandler;
use super::http::Cors;
use super::recovery::RecoveryConfig;
use super::service::{EngineEndpoint, Namespaces};
use crate::protocol::binary::BinaryLimits;

/// Server settings. `ServerConfig::default()` suits a local server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Runtime worker threads; 0 (the default) starts one per CPU the process may run
    /// on (its CPU affinity, as `std::thread::available_parallelism` reads it on Linux),
    /// so a server pinned to one core does not oversubscribe it.
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
    /// A connection not authenticated within this time is closed (default 10 s). It
    /// applies to sessions that carry the hub's namespace `/`.
    pub auth_deadline: Duration,
    /// A Socket.IO session that joined no namespace within this time is closed
    /// (Socket.IO's `connectTimeout`; default 45 s).
    pub connect_timeout: Duration,
    /// Most binary attachments one Socket.IO packet may announce (default 10); their
    /// bytes together are bounded by `max_payload`. More closes that connection.
    pub max_attachments: usize,
    /// Connections beyond this are refused: new handshakes get HTTP 503 (default 100,000).
    /// Each connection holds a file descriptor, so the process's open-file limit caps
    /// it too: see `raise_fd_limit`.
    pub max_connections: usize,
    /// At start, raise the process's soft open-file limit (`RLIMIT_NOFILE`) to its hard
    /// limit, on unix (default `true`). Each connection is a file descriptor and the
    /// usual soft limit of 1,024 would refuse connections long before
    /// `max_connections`; raising the soft limit up to the hard one needs no privilege.
    /// The limit is process-wide: turn this off when the embedding application must
    /// keep its own. The hard limit is the ceiling either way (`ulimit -Hn`,
    /// systemd's `LimitNOFILE=`); [`ServerHandle::open_file_limit`](super::ServerHandle::open_file_limit)
    /// reports the limit the server runs with, and a warning is logged when it is below
    /// `max_connections`.
    pub raise_fd_limit: bool,
    /// Open connections (Engine.IO sessions and `/ws` sockets) from one remote IP;
    /// past it new handshakes get HTTP 429 (default 0: no limit, since one address may
    /// be a NAT or a load generator). Checked before `max_connections_per_user`, which
    /// applies later, when a connection authenticates.
    pub max_connections_per_ip: usize,
    /// Inbound messages per connection: a token bucket of `burst` tokens refilled at
    /// `per_second` (default 100 and 50/s). A message with no token is dropped and
    /// counted; a connection that keeps sending past `burst` drops in a row is closed.
    pub rate_limit: RateLimit,
    /// Handshakes (requests that would open a connection) per second from one remote
    /// IP, a token bucket of as many; past it HTTP 429 (default 0: no limit).
    pub handshakes_per_second: f64,
    /// Largest HTTP request header block, in bytes (at least 8192; default 32 KiB);
    /// past it the connection is closed without an answer.
    pub max_header_bytes: usize,
    /// Time a client has to send a request's headers (default 10 s); a slower one
    /// (slow-loris) is disconnected.
    pub header_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (default none): when the peer
    /// is in one of these ranges, the last address of that header not itself in them is
    /// the connection's remote address (for the per-address limits and the
    /// authenticator's context); from any other peer the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The origin policy of every handshake and the CORS headers of polling answers
    /// (default same-origin pages only). See [`Cors`].
    pub cors: Cors,
    /// Path of the Engine.IO endpoint (default `/socket.io/`).
    pub socketio_path: String,
    /// Socket.IO namespaces served by their own handlers beside (or, for `/`, instead
    /// of) the hub's protocol (default none). See [`Namespaces`].
    pub namespaces: Namespaces,
    /// A raw Engine.IO endpoint at its own path (default none). See [`EngineEndpoint`].
    pub engine_io: Option<EngineEndpoint>,
    /// Path of the native JSON protocol (default `/ws`).
    pub native_path: String,
    /// How long `shutdown()` waits for queues to flush (default 5 s).
    pub shutdown_deadline: Duration,
    /// Adaptive write coalescing. A websocket always writes everything queued when it
    /// wakes (what arrived while its previous write was in flight shares one write);
    /// one that finds a single event (it is idle) writes it at once. Only a websocket
    /// that found more than one event waiting twice in a row (a sustained backlog:
    /// events arrive faster than it writes) holds its next batch until this interval
    /// after the previous one, so under sustained traffic many events share one write
    /// (one system call and one TCP segment). Zero never holds (default 2 ms).
    /// `socket_writes` in the metrics counts the writes.
    pub write_coalesce: Duration,
    /// A connection whose socket write (one batch of frames) makes no progress (the
    /// socket takes no byte) for this long is closed as a slow consumer, its queued
    /// frames dropped, and counted as `slow_consumer_closes{reason="stalled"}` (default
    /// 10 s): the time side of the slow-consumer rule, whose byte side is
    /// [`HubBuilder::queue_max_bytes`](crate::HubBuilder::queue_max_bytes). It catches a
    /// client that stopped reading while few events reach it; one that reads slowly but
    /// steadily through a long write is kept. Progress is checked once per period, so
    /// the close comes between one and two periods after the last byte.
    pub slow_consumer_timeout: Duration,
    /// Enables the HTTP API (`POST /api/v1/emit/<call>`, see [`api`](super::api)) with this
    /// bearer key; several keys separated by commas are each valid (rotation). `None`
    /// (the default) serves no API.
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
    /// Serve `https://` and `wss://` on the port instead of plain text (feature `tls`;
    /// default `None`). Every connection must then complete a TLS handshake within
    /// `header_timeout`; one that does not is closed and counted
    /// (`bad_input{kind="tls_handshake"}`). See [`TlsConfig`](super::TlsConfig).
    #[cfg(feature = "tls")]
    pub tls: Option<super::TlsConfig>,
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
            worker_threads: 0,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1_000_000,
            max_message_bytes: 64 * 1024,
            auth_deadline: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(45),
            max_attachments: 10,
            max_connections: 100_000,
            raise_fd_limit: true,
            max_connections_per_ip: 0,
            rate_limit: RateLimit {
                burst: 100,
                per_second: 50.0,
            },
            handshakes_per_second: 0.0,
            max_header_bytes: 32 * 1024,
            header_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            cors: Cors::SameOrigin,
            socketio_path: "/socket.io/".into(),
            namespaces: Namespaces::new(),
            engine_io: None,
            native_path: "/ws".into(),
            shutdown_deadline: Duration::from_secs(5),
            write_coalesce: Duration::from_millis(2),
            slow_consumer_timeout: Duration::from_secs(10),
            api_key: None,
            metrics_path: Some("/metrics".into()),
            metrics_token: None,
            http_handler: None,
            recovery: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The worker threads to start: `worker_threads`, or one per CPU the process may
    /// run on when it is 0.
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }

    /// The bounds of one binary packet: `max_attachments`, and `max_payload` bytes.
    pub(crate) fn binary_limits(&self) -> BinaryLimits {
        BinaryLimits {
            max_attachments: self.max_attachments,
            max_bytes: self.max_payload,
        }
    }
}
