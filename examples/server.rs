//! The main job: a standalone MicroCoaster real-time server.
//!
//! `cargo run --release --example server` listens on 127.0.0.1:3000 with nothing to
//! configure: Socket.IO at `/socket.io/` (the seed's browser pages connect unchanged),
//! the native JSON protocol at `/ws`, and the HTTP API `POST /api/v1/emit/<call>` for
//! backends in any language. State and the audit log persist in the SQLite file `--db`
//! (default `./microcoaster-realtime.db`, `--durability batched`), so a restart keeps
//! change detection and logged-in sessions. On first start it generates an API key and a JWT secret,
//! stores them (mode 0600, refused if others may read it) next to the database path and prints them. `-- --demo`
//! simulates users' modules and prints tokens to log in with. `-- --help` lists every
//! flag; each also reads an environment variable.
//!
//! It also serves the dashboard at `/` (see `server/web.rs`; the Socket.IO browser
//! client comes from `npm ci --prefix web`), Prometheus metrics at `/metrics`
//! (`--metrics-token` to require a bearer token), and turns on the hub's admin
//! monitoring (`admin:activity`, `admin:alert`, `admin:server:stats`). Logs go to
//! stderr, `--log-format human` (default) or `json` (one object per line); at `info`
//! they name users only by id. `--tls-cert cert.pem --tls-key key.pem` serves `https://`
//! and `wss://` on the same address instead of plain text (`server/tls.rs`).

#[path = "server/jwt_args.rs"]
mod jwt_args;
#[path = "server/secrets.rs"]
mod secrets;
#[path = "server/tls.rs"]
mod tls;
#[path = "server/web.rs"]
mod web;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use microcoaster_realtime::transport::server::{Cors, RecoveryConfig, ServerConfig};
use microcoaster_realtime::{ClientEvent, Durability, Hub, MonitorConfig};
use serde_json::{Value, json};

/// Standalone MicroCoaster real-time server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "MCRT_ADDR", default_value = "127.0.0.1:3000")]
    addr: String,
    /// Database path; the generated secrets are stored beside it as `<db>.secrets.json`.
    #[arg(long, env = "MCRT_DB", default_value = "./microcoaster-realtime.db")]
    db: PathBuf,
    /// Keep everything in memory: no database, so state, sessions and the audit log end
    /// with the process; secrets not given are generated for this run only.
    #[arg(long, env = "MCRT_MEMORY", conflicts_with = "durability")]
    memory: bool,
    /// What a crash can lose: `off` (no fsync), `batched` (fsync at most every 50 ms),
    /// `sync` (every emit returns after its audit row is on disk).
    #[arg(long, env = "MCRT_DURABILITY", default_value = "batched")]
    durability: Durability,
    /// JWT HS256 secret (default: generated once and stored beside the database).
    #[arg(long, env = "MCRT_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    #[command(flatten)]
    jwt: jwt_args::JwtArgs,
    /// API key for `POST /api/v1/emit/<call>` (default: generated and stored); several
    /// keys separated by commas are each valid, for rotation.
    #[arg(long, env = "MCRT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Simulate a few users' modules and print demo tokens.
    #[arg(long)]
    demo: bool,
    /// Server runtime threads (0: one per CPU the process may run on).
    #[arg(long, env = "MCRT_THREADS", default_value_t = 0)]
    threads: usize,
    /// Maximum simultaneous connections (more are refused with HTTP 503).
    #[arg(long, env = "MCRT_MAX_CONNECTIONS", default_value_t = 100_000)]
    max_connections: usize,
    /// Open connections from one remote IP before handshakes get HTTP 429 (0: no
    /// limit; one address may be a NAT or a load generator).
    #[arg(long, env = "MCRT_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    max_connections_per_ip: usize,
    /// Authenticated connections one user may have; past it `auth:error`
    /// `too_many_connections` and a close (0: no limit).
    #[arg(long, env = "MCRT_MAX_CONNECTIONS_PER_USER", default_value_t = 100)]
    max_connections_per_user: usize,
    /// Largest inbound message in bytes.
    #[arg(long, env = "MCRT_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    max_message_bytes: usize,
    /// Seconds a connection has to authenticate.
    #[arg(long, env = "MCRT_AUTH_DEADLINE_SECS", default_value_t = 10)]
    auth_deadline_secs: u64,
    /// Milliseconds a module stays online after its device's last connection closed (a
    /// reconnect within it emits nothing).
    #[arg(long, env = "MCRT_DEVICE_GRACE_MS", default_value_t = 5_000)]
    device_grace_ms: u64,
    /// Milliseconds after a start during which modules saved as online wait for their
    /// device (or an `module_online` call) before going offline; 0 keeps them online.
    #[arg(long, env = "MCRT_RESTART_GRACE_MS", default_value_t = 30_000)]
    restart_grace_ms: u64,
    /// Write coalescing in milliseconds: a busy websocket flushes at most once per
    /// interval (several frames per write); 0 writes every frame at once.
    #[arg(long, env = "MCRT_WRITE_COALESCE_MS", default_value_t = 2)]
    write_coalesce_ms: u64,
    /// Engine.IO ping interval in milliseconds.
    #[arg(long, env = "MCRT_PING_INTERVAL_MS", default_value_t = 25_000)]
    ping_interval_ms: u64,
    /// Engine.IO ping timeout in milliseconds.
    #[arg(long, env = "MCRT_PING_TIMEOUT_MS", default_value_t = 20_000)]
    ping_timeout_ms: u64,
    /// Connection-state recovery window in milliseconds (0, the default, turns it off):
    /// a client whose transport drops reconnects within it to the same session and is
    /// replayed every event it missed (`socket.recovered` in the official client). With
    /// it on every event carries its offset as an extra argument, which python-socketio
    /// hands to handlers.
    #[arg(long, env = "MCRT_RECOVERY_WINDOW_MS", default_value_t = 0)]
    recovery_window_ms: u64,
    /// With recovery and `--redis`: keep every event in Redis for the window, so a
    /// client whose node died is recovered on another node (`false` keeps recovery to
    /// a live holder and saves one Lua script per changed emit).
    #[arg(long, env = "MCRT_RECOVERY_HISTORY", default_value_t = true, action = clap::ArgAction::Set)]
    recovery_history: bool,
    /// URL that receives client events the library does not handle (`POST`, JSON with
    /// the sender's verified identity); without it they are dropped and counted.
    #[arg(long, env = "MCRT_WEBHOOK")]
    webhook: Option<String>,
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
    allowed_origins: Vec<String>,
    /// Handshakes per second from one remote IP before HTTP 429 (0: no limit).
    #[arg(long, env = "MCRT_HANDSHAKES_PER_SECOND", default_value_t = 0.0)]
    handshakes_per_second: f64,
    /// Largest HTTP request header block in bytes (at least 8192); past it the
    /// connection is closed.
    #[arg(long, env = "MCRT_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    max_header_bytes: usize,
    /// Milliseconds a client has to send a request's headers (slow-loris guard).
    #[arg(long, env = "MCRT_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Proxy range (CIDR, e.g. `10.0.0.0/8`; repeatable or comma-separated) whose
    /// `X-Forwarded-For` names the client for the per-address limits; from other peers
    /// the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "MCRT_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// PEM certificate chain (server certificate first): serve `https://` and `wss://`
    /// on `--addr` instead of plain text. Needs `--tls-key`.
    #[arg(long, env = "MCRT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or EC) of `--tls-cert`.
    #[arg(long, env = "MCRT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on `GET /metrics` (default: open).
    #[arg(long, env = "MCRT_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Log output: `human` (default) or `json` (one JSON object per line).
    #[arg(long, env = "MCRT_LOG_FORMAT", default_value = "human")]
    log_format: LogFormat,
    /// Redis URL (e.g. `redis://127.0.0.1:6379`): join the cluster of servers sharing
    /// this Redis, so change detection, events, sessions and the admin connection totals
    /// are cluster-wide (README "Running several nodes").
    #[arg(long, env = "MCRT_REDIS")]
    redis: Option<String>,
    /// Turn admin monitoring off (no `admin:activity`, `admin:alert`,
    /// `admin:server:stats`, and no monitor thread).
    #[arg(long, env = "MCRT_NO_MONITOR")]
    no_monitor: bool,
    /// How often admin server stats are computed, in milliseconds (sent only when a
    /// value changed).
    #[arg(long, env = "MCRT_STATS_INTERVAL_MS", default_value_t = 2_000)]
    stats_interval_ms: u64,
    /// Activity of this many milliseconds is batched into one `admin:activity` event.
    #[arg(long, env = "MCRT_ACTIVITY_WINDOW_MS", default_value_t = 250)]
    activity_window_ms: u64,
    /// Send users `module:status:batch` (one event per activity window) instead of
    /// one `module:status:changed` per module.
    #[arg(long, env = "MCRT_STATUS_BATCH")]
    status_batch: bool,
    /// Folder holding the dashboard's `node_modules` (the Socket.IO browser client).
    #[arg(long, env = "MCRT_WEB_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/web"))]
    web_dir: PathBuf,
}

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

fn init_logs(format: LogFormat) {
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

fn token(secret: &str, user: &str, role: &str, sid: &str) -> String {
    let exp = microcoaster_realtime::event::now_ms() / 1000 + 24 * 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user, "role": role, "sid": sid, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// The demo logins the dashboard offers at `/demo/tokens` (demo mode only: anyone who
/// can reach the server may use them).
fn demo_logins(secret: &str) -> Value {
    json!([
        {"key": "ada", "label": "Ada (user 1)", "page": "modules", "token": token(secret, "1", "user", "demo-ada")},
        {"key": "bob", "label": "Bob (user 2)", "page": "modules", "token": token(secret, "2", "user", "demo-bob")},
        {"key": "admin", "label": "Admin (user 100)", "page": "admin", "token": token(secret, "100", "admin", "demo-admin")},
    ])
}

/// The demo: two users with a few modules each, going online and offline and streaming
/// telemetry, plus stats for admins.
fn run_demo(hub: Hub, running: Arc<AtomicBool>) {
    let modules: [(&str, &str, &str, &str); 4] = [
        ("MC-0001-STN", "1", "Station", "Station principale"),
        ("MC-0002-LFT", "1", "Lift", "Lift hill"),
        ("MC-0003-SWT", "1", "Switch", "Aiguillage"),
        ("MC-0101-STN", "2", "Station", "Gare de Bob"),
    ];
    let _ = hub.emit_user_registered(&json!({"id": 1, "name": "Ada"}));
    let _ = hub.emit_user_registered(&json!({"id": 2, "name": "Bob"}));
    for (id, owner, kind, name) in modules {
        let _ =
            hub.emit_module_added(&json!({"id": id, "userId": owner, "type": kind, "name": name}));
    }
    let mut tick: u64 = 0;
    while running.load(Ordering::SeqCst) {
        for (index, (id, owner, kind, name)) in modules.iter().enumerate() {
            // Each module cycles: online for a while, offline for a moment.
            let online = (tick + index as u64 * 3) % 12 < 9;
            let info = json!({"userId": owner, "type": kind, "name": name});
            let _ = if online {
                hub.emit_module_online(id, &info)
            } else {
                hub.emit_module_offline(id, &info)
            };
            if online {
                let telemetry = json!({
                    "speed": ((tick * 7 + index as u64 * 13) % 40) as f64 / 4.0,
                    "temperature": 20 + (tick + index as u64) % 5,
                    "laps": tick,
                });
                let _ = hub.emit_telemetry_update(id, &telemetry);
            }
        }
        let online = modules
            .iter()
            .enumerate()
            .filter(|(index, _)| (tick + *index as u64 * 3) % 12 < 9)
            .count();
        let _ = hub.emit_stats_update(Some(&json!({
            "users": 2, "modules": modules.len(), "online": online
        })));
        tick += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Forwards client events to the webhook from one worker thread, so a slow webhook never
/// holds a socket's thread; past 10,000 waiting events new ones are dropped and logged.
fn webhook_forwarder(url: String) -> impl Fn(&ClientEvent) + Send + Sync + 'static {
    let (sender, receiver) = crossbeam_channel::bounded::<Value>(10_000);
    std::thread::Builder::new()
        .name("mcrt-webhook".into())
        .spawn(move || {
            let agent = ureq::Agent::new_with_defaults();
            for body in receiver {
                let sent = agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(body.to_string());
                if let Err(error) = sent {
                    tracing::warn!(%error, "webhook delivery failed");
                }
            }
        })
        .expect("the webhook thread starts");
    move |event: &ClientEvent| {
        let body = json!({
            "event": event.event,
            "data": event.data,
            "userId": event.identity.user_id,
            "role": event.identity.role.as_str(),
            "sessionId": event.identity.session_id,
            "moduleId": event.identity.module_id,
            "page": event.page,
            "connection": event.connection,
            "timestamp": microcoaster_realtime::event::now_ms(),
        });
        if sender.try_send(body).is_err() {
            tracing::warn!(event = %event.event, "webhook queue full: client event dropped");
        }
    }
}

#[cfg(feature = "redis")]
fn with_redis(
    builder: microcoaster_realtime::HubBuilder,
    url: &str,
) -> microcoaster_realtime::HubBuilder {
    match microcoaster_realtime::broker::RedisBroker::connect(url) {
        Ok(broker) => {
            tracing::info!(url, node = broker.node_id(), "joined the cluster on Redis");
            builder.broker(broker)
        }
        Err(error) => {
            eprintln!("cannot start: {error}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "redis"))]
fn with_redis(_: microcoaster_realtime::HubBuilder, _: &str) -> microcoaster_realtime::HubBuilder {
    eprintln!("cannot start: this build has no Redis support (cargo feature `redis`)");
    std::process::exit(1);
}

fn main() {
    let args = Args::parse();
    init_logs(args.log_format);
    let (secrets, secrets_path) = if args.memory {
        let secrets = secrets::Secrets {
            api_key: secrets::random_secret(),
            jwt_secret: secrets::random_secret(),
        };
        (secrets, None)
    } else {
        match secrets::load_or_create(&args.db) {
            Ok((secrets, path, created)) => (secrets, Some((path, created))),
            Err(error) => {
                eprintln!(
                    "cannot read or create the secrets file beside {}: {error}",
                    args.db.display()
                );
                std::process::exit(1);
            }
        }
    };
    let jwt_secret = args.jwt_secret.clone().unwrap_or(secrets.jwt_secret);
    let api_key = args.api_key.clone().unwrap_or(secrets.api_key);
    let mut builder = Hub::builder()
        .jwt_secret(jwt_secret.as_bytes())
        .jwt(args.jwt.settings())
        .device_offline_grace(Duration::from_millis(args.device_grace_ms))
        .max_connections_per_user(args.max_connections_per_user);
    if !args.no_monitor {
        builder = builder.monitor(MonitorConfig {
            stats_interval: Duration::from_millis(args.stats_interval_ms.max(100)),
            activity_window: Duration::from_millis(args.activity_window_ms.max(10)),
            user_status_batch: args.status_batch,
            ..MonitorConfig::default()
        });
    }
    if args.restart_grace_ms > 0 {
        builder = builder.offline_after_restart(Duration::from_millis(args.restart_grace_ms));
    }
    if let Some(url) = args.webhook.clone() {
        builder = builder.on_client_event(webhook_forwarder(url));
    }
    if !args.memory {
        builder = builder.persist(&args.db, args.durability);
    }
    if let Some(url) = &args.redis {
        builder = with_redis(builder, url);
    }
    let hub = match builder.build() {
        Ok(hub) => hub,
        Err(error) => {
            eprintln!("cannot start: {error}");
            std::process::exit(1);
        }
    };
    let cors = Cors::allowing(args.allowed_origins.clone());
    let config = ServerConfig {
        worker_threads: args.threads,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_message_bytes: args.max_message_bytes,
        auth_deadline: Duration::from_secs(args.auth_deadline_secs),
        write_coalesce: Duration::from_millis(args.write_coalesce_ms),
        ping_interval: Duration::from_millis(args.ping_interval_ms),
        ping_timeout: Duration::from_millis(args.ping_timeout_ms),
        cors,
        handshakes_per_second: args.handshakes_per_second,
        trusted_proxies: args.trusted_proxies.clone(),
        max_header_bytes: args.max_header_bytes,
        header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        api_key: Some(api_key.clone()),
        recovery: (args.recovery_window_ms > 0).then(|| RecoveryConfig {
            window: Duration::from_millis(args.recovery_window_ms),
            redis_history: args.recovery_history,
            ..RecoveryConfig::default()
        }),
        metrics_token: args.metrics_token.clone(),
        http_handler: Some(web::handler(
            &args.web_dir,
            args.demo.then(|| demo_logins(&jwt_secret)),
        )),
        ..ServerConfig::default()
    };
    let config = tls::apply(config, args.tls_cert.as_deref(), args.tls_key.as_deref());
    let (http, ws) = match args.tls_cert {
        Some(_) => ("https", "wss"),
        None => ("http", "ws"),
    };
    let server = match hub.serve(&args.addr, config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let addr = server.local_addr();
    println!(
        "microcoaster-realtime {} listening on {http}://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  Socket.IO : {http}://{addr}/socket.io/   native JSON: {ws}://{addr}/ws");
    println!(
        "  HTTP API  : POST {http}://{addr}/api/v1/emit/<call>  (Authorization: Bearer <api key>)"
    );
    match &secrets_path {
        Some((path, created)) => {
            println!(
                "  database  : {} (durability {})",
                args.db.display(),
                args.durability.as_str()
            );
            println!(
                "  secrets   : {} ({})",
                path.display(),
                if *created { "created now" } else { "existing" }
            );
        }
        None => println!("  database  : none (--memory: nothing survives a restart)"),
    }
    println!("  api key   : {api_key}");
    println!("  dashboard : {http}://{addr}/   metrics: {http}://{addr}/metrics");
    let running = Arc::new(AtomicBool::new(true));
    let demo = args.demo.then(|| {
        println!(
            "  demo user token  (user 1, Ada) : {}",
            token(&jwt_secret, "1", "user", "demo-ada")
        );
        println!(
            "  demo user token  (user 2, Bob) : {}",
            token(&jwt_secret, "2", "user", "demo-bob")
        );
        println!(
            "  demo admin token (user 100)    : {}",
            token(&jwt_secret, "100", "admin", "demo-admin")
        );
        let hub = hub.clone();
        let running = Arc::clone(&running);
        std::thread::spawn(move || run_demo(hub, running))
    });
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers can be installed");
    if let Some(signal) = signals.forever().next() {
        println!("signal {signal}: shutting down");
    }
    running.store(false, Ordering::SeqCst);
    if let Some(demo) = demo {
        let _ = demo.join();
    }
    server.shutdown();
    hub.shutdown(Duration::from_secs(5));
    let metrics: Value = serde_json::to_value(hub.metrics()).unwrap_or(Value::Null);
    println!("final metrics: {metrics}");
}
