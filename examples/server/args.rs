//! The server example's command line: every flag with its environment variable and
//! default (`Args`, read by clap), and the log format it selects. Owns parsing only:
//! what the flags start is `server.rs`'s. Guarded by the client suites
//! (`tests/clients/node/helpers.js`, `tests/clients/python/conftest.py`), which start
//! the example with these flags.

use std::path::PathBuf;

use clap::Parser;

/// Standalone MicroCoaster real-time server.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "MCRT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: String,
    #[command(flatten)]
    pub storage: crate::storage_args::StorageArgs,
    /// JWT HS256 secret (default: generated once and stored beside the database).
    #[arg(long, env = "MCRT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    #[command(flatten)]
    pub jwt: crate::jwt_args::JwtArgs,
    /// API key for `POST /api/v1/emit/<call>` (default: generated and stored); several
    /// keys separated by commas are each valid, for rotation.
    #[arg(long, env = "MCRT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Simulate a few users' modules and print demo tokens.
    #[arg(long)]
    pub demo: bool,
    /// Server runtime threads (0: one per CPU the process may run on, as its CPU
    /// affinity allows).
    #[arg(long, env = "MCRT_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Maximum simultaneous connections (more are refused with HTTP 503).
    #[arg(long, env = "MCRT_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,
    /// Open connections from one remote IP before handshakes get HTTP 429 (0: no
    /// limit; one address may be a NAT or a load generator).
    #[arg(long, env = "MCRT_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: usize,
    /// Authenticated connections one user may have; past it `auth:error`
    /// `too_many_connections` and a close (0: no limit).
    #[arg(long, env = "MCRT_MAX_CONNECTIONS_PER_USER", default_value_t = 100)]
    pub max_connections_per_user: usize,
    /// Largest inbound message in bytes.
    #[arg(long, env = "MCRT_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Seconds a connection has to authenticate.
    #[arg(long, env = "MCRT_AUTH_DEADLINE_SECS", default_value_t = 10)]
    pub auth_deadline_secs: u64,
    /// Milliseconds a module stays online after its device's last connection closed (a
    /// reconnect within it emits nothing).
    #[arg(long, env = "MCRT_DEVICE_GRACE_MS", default_value_t = 5_000)]
    pub device_grace_ms: u64,
    /// Milliseconds after a start during which modules saved as online wait for their
    /// device (or an `module_online` call) before going offline; 0 keeps them online.
    #[arg(long, env = "MCRT_RESTART_GRACE_MS", default_value_t = 30_000)]
    pub restart_grace_ms: u64,
    /// Write coalescing in milliseconds: a websocket with a sustained backlog flushes
    /// at most once per interval (many frames per write); an idle one writes at once;
    /// 0 never holds a write.
    #[arg(long, env = "MCRT_WRITE_COALESCE_MS", default_value_t = 2)]
    pub write_coalesce_ms: u64,
    /// Bytes of encoded frames a connection may have waiting before it is closed as a
    /// slow consumer (`mcrt_slow_consumer_closes_total{reason="bytes"}`).
    #[arg(long, env = "MCRT_QUEUE_MAX_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub queue_max_bytes: usize,
    /// Milliseconds a socket write may go without progress before its connection is
    /// closed as a slow consumer (`mcrt_slow_consumer_closes_total{reason="stalled"}`).
    #[arg(long, env = "MCRT_SLOW_CONSUMER_TIMEOUT_MS", default_value_t = 10_000)]
    pub slow_consumer_timeout_ms: u64,
    /// Engine.IO ping interval in milliseconds.
    #[arg(long, env = "MCRT_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,
    /// Engine.IO ping timeout in milliseconds.
    #[arg(long, env = "MCRT_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,
    /// Connection-state recovery window in milliseconds (0, the default, turns it off):
    /// a client whose transport drops reconnects within it to the same session and is
    /// replayed every event it missed (`socket.recovered` in the official client). With
    /// it on every event carries its offset as an extra argument, which python-socketio
    /// hands to handlers.
    #[arg(long, env = "MCRT_RECOVERY_WINDOW_MS", default_value_t = 0)]
    pub recovery_window_ms: u64,
    /// With recovery and `--redis`: keep every event in Redis for the window, so a
    /// client whose node died is recovered on another node (`false` keeps recovery to
    /// a live holder and saves one Lua script per changed emit).
    #[arg(long, env = "MCRT_RECOVERY_HISTORY", default_value_t = true, action = clap::ArgAction::Set)]
    pub recovery_history: bool,
    /// URL that receives client events the library does not handle (`POST`, JSON with
    /// the sender's verified identity); without it they are dropped and counted.
    #[arg(long, env = "MCRT_WEBHOOK")]
    pub webhook: Option<String>,
    /// Browser origin allowed to connect besides the server's own pages, e.g.
    /// `https://app.example` (repeatable or comma-separated; `*` for any page). Any
    /// other page's handshake is refused with 403; clients that send no `Origin`
    /// (devices, servers) are unaffected.
    #[arg(
        long = "allowed-origin",
        alias = "cors-origin",
        env = "MCRT_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Handshakes per second from one remote IP before HTTP 429 (0: no limit).
    #[arg(long, env = "MCRT_HANDSHAKES_PER_SECOND", default_value_t = 0.0)]
    pub handshakes_per_second: f64,
    /// Largest HTTP request header block in bytes (at least 8192); past it the
    /// connection is closed.
    #[arg(long, env = "MCRT_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// Milliseconds a client has to send a request's headers (slow-loris guard).
    #[arg(long, env = "MCRT_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Proxy range (CIDR, e.g. `10.0.0.0/8`; repeatable or comma-separated) whose
    /// `X-Forwarded-For` names the client for the per-address limits; from other peers
    /// the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "MCRT_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PEM certificate chain (server certificate first): serve `https://` and `wss://`
    /// on `--addr` instead of plain text. Needs `--tls-key`.
    #[arg(long, env = "MCRT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or EC) of `--tls-cert`.
    #[arg(long, env = "MCRT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on `GET /metrics` (default: open).
    #[arg(long, env = "MCRT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Log output: `human` (default) or `json` (one JSON object per line).
    #[arg(long, env = "MCRT_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,
    /// Redis URL (e.g. `redis://127.0.0.1:6379`, a Cluster's
    /// `redis+cluster://host:port,host:port` or a Sentinel group's
    /// `redis+sentinel://host:port,host:port/<master name>`): join the cluster of servers
    /// sharing this Redis, so change detection, events, sessions and the admin connection totals
    /// are cluster-wide (README "Running several nodes").
    #[arg(long, env = "MCRT_REDIS")]
    pub redis: Option<String>,
    /// Turn admin monitoring off (no `admin:activity`, `admin:alert`,
    /// `admin:server:stats`, and no monitor thread).
    #[arg(long, env = "MCRT_NO_MONITOR")]
    pub no_monitor: bool,
    /// How often admin server stats are computed, in milliseconds (sent only when a
    /// value changed).
    #[arg(long, env = "MCRT_STATS_INTERVAL_MS", default_value_t = 2_000)]
    pub stats_interval_ms: u64,
    /// Activity of this many milliseconds is batched into one `admin:activity` event.
    #[arg(long, env = "MCRT_ACTIVITY_WINDOW_MS", default_value_t = 250)]
    pub activity_window_ms: u64,
    /// Send users `module:status:batch` (one event per activity window) instead of
    /// one `module:status:changed` per module.
    #[arg(long, env = "MCRT_STATUS_BATCH")]
    pub status_batch: bool,
    /// Folder holding the dashboard's `node_modules` (the Socket.IO browser client).
    #[arg(long, env = "MCRT_WEB_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/web"))]
    pub web_dir: PathBuf,
}

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logs to stderr in `format`, at the level `RUST_LOG` names (default `info`).
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}
