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
//!
//! Files: `server/args.rs` (the flags), `server/demo.rs` (`--demo`), `server/secrets.rs`,
//! `server/jwt_args.rs`, `server/storage_args.rs`, `server/tls.rs`, `server/web.rs`; this file turns the flags
//! into a hub and a server, starts them and shuts them down on SIGINT / SIGTERM.

#[path = "server/args.rs"]
mod args;
#[path = "server/demo.rs"]
mod demo;
#[path = "server/jwt_args.rs"]
mod jwt_args;
#[path = "server/secrets.rs"]
mod secrets;
#[path = "server/storage_args.rs"]
mod storage_args;
#[path = "server/tls.rs"]
mod tls;
#[path = "server/web.rs"]
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use args::Args;
use clap::Parser;
use microcoaster_realtime::transport::server::{Cors, RecoveryConfig, ServerConfig};
use microcoaster_realtime::{ClientEvent, Hub, MonitorConfig};
use serde_json::{Value, json};

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
    args::init_logs(args.log_format);
    let (secrets, secrets_path) = secrets(&args);
    let jwt_secret = args.jwt_secret.clone().unwrap_or(secrets.jwt_secret);
    let api_key = args.api_key.clone().unwrap_or(secrets.api_key);
    let hub = build_hub(&args, &jwt_secret);
    let config = server_config(&args, &api_key, &jwt_secret);
    let config = tls::apply(config, args.tls_cert.as_deref(), args.tls_key.as_deref());
    let schemes = match args.tls_cert {
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
    print_addresses(&args, server.local_addr(), schemes, secrets_path, &api_key);
    let running = Arc::new(AtomicBool::new(true));
    let demo = args.demo.then(|| {
        demo::print_tokens(&jwt_secret);
        let hub = hub.clone();
        let running = Arc::clone(&running);
        std::thread::spawn(move || demo::run_demo(hub, running))
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

/// The secrets (generated for this run with `--memory`, else read or created beside the
/// database) and, when stored, their file and whether it was created now.
fn secrets(args: &Args) -> (secrets::Secrets, Option<(PathBuf, bool)>) {
    if args.storage.memory {
        let secrets = secrets::Secrets {
            api_key: secrets::random_secret(),
            jwt_secret: secrets::random_secret(),
        };
        return (secrets, None);
    }
    match secrets::load_or_create(&args.storage.db) {
        Ok((secrets, path, created)) => (secrets, Some((path, created))),
        Err(error) => {
            eprintln!(
                "cannot read or create the secrets file beside {}: {error}",
                args.storage.db.display()
            );
            std::process::exit(1);
        }
    }
}

/// The hub the flags describe (exits with the reason if it cannot be built).
fn build_hub(args: &Args, jwt_secret: &str) -> Hub {
    let mut builder = Hub::builder()
        .jwt_secret(jwt_secret.as_bytes())
        .jwt(args.jwt.settings())
        .device_offline_grace(Duration::from_millis(args.device_grace_ms))
        .max_connections_per_user(args.max_connections_per_user)
        .queue_max_bytes(args.queue_max_bytes);
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
    builder = args.storage.apply(builder);
    if let Some(url) = &args.redis {
        builder = with_redis(builder, url);
    }
    match builder.build() {
        Ok(hub) => hub,
        Err(error) => {
            eprintln!("cannot start: {error}");
            std::process::exit(1);
        }
    }
}

/// The server settings the flags describe (TLS is added by `tls::apply`).
fn server_config(args: &Args, api_key: &str, jwt_secret: &str) -> ServerConfig {
    ServerConfig {
        worker_threads: args.threads,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_message_bytes: args.max_message_bytes,
        auth_deadline: Duration::from_secs(args.auth_deadline_secs),
        write_coalesce: Duration::from_millis(args.write_coalesce_ms),
        slow_consumer_timeout: Duration::from_millis(args.slow_consumer_timeout_ms.max(1)),
        ping_interval: Duration::from_millis(args.ping_interval_ms),
        ping_timeout: Duration::from_millis(args.ping_timeout_ms),
        cors: Cors::allowing(args.allowed_origins.clone()),
        handshakes_per_second: args.handshakes_per_second,
        trusted_proxies: args.trusted_proxies.clone(),
        max_header_bytes: args.max_header_bytes,
        header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        api_key: Some(api_key.to_owned()),
        recovery: (args.recovery_window_ms > 0).then(|| RecoveryConfig {
            window: Duration::from_millis(args.recovery_window_ms),
            redis_history: args.recovery_history,
            ..RecoveryConfig::default()
        }),
        metrics_token: args.metrics_token.clone(),
        http_handler: Some(web::handler(
            &args.web_dir,
            args.demo.then(|| demo::demo_logins(jwt_secret)),
        )),
        ..ServerConfig::default()
    }
}

/// Prints where the server listens, where its state is kept and the API key.
fn print_addresses(
    args: &Args,
    addr: SocketAddr,
    (http, ws): (&str, &str),
    secrets_path: Option<(PathBuf, bool)>,
    api_key: &str,
) {
    println!(
        "microcoaster-realtime {} listening on {http}://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  Socket.IO : {http}://{addr}/socket.io/   native JSON: {ws}://{addr}/ws");
    println!(
        "  HTTP API  : POST {http}://{addr}/api/v1/emit/<call>  (Authorization: Bearer <api key>)"
    );
    match secrets_path {
        Some((path, created)) => {
            println!(
                "  database  : {} (durability {})",
                args.storage.db.display(),
                args.storage.durability.as_str()
            );
            println!(
                "  secrets   : {} ({})",
                path.display(),
                if created { "created now" } else { "existing" }
            );
        }
        None => println!("  database  : none (--memory: nothing survives a restart)"),
    }
    println!("  api key   : {api_key}");
    println!("  dashboard : {http}://{addr}/   metrics: {http}://{addr}/metrics");
}
