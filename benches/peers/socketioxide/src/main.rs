//! Reference server for `scripts/bench load`: MicroCoaster's real-time delivery written
//! idiomatically on socketioxide 0.18 (Socket.IO v5 over websocket, axum, tokio), for the
//! in-process emit mode of the load generator (`--emit in-process`).
//!
//! - Auth at connection, in a connect middleware: `auth.token`, a JWT HS256 (claims
//!   `sub`, `role`, `sid`, `exp`) checked with `--jwt-secret`; `auth.page` picks the page
//!   (default `modules`). A refused token gets `44{"message":…}`.
//! - Rooms: `user:<sub>` (every connection of that user) and `admin` (admins on the
//!   `admin` page); "everyone" is the namespace. The client gets `auth:ok`, then
//!   `page:snapshot` (empty: this server keeps no modules).
//! - TCP_NODELAY on every accepted socket, as the other servers of the benchmark
//!   (without it Nagle's algorithm adds milliseconds to every small frame).
//! - The emitter: a host thread reads one JSON command per line on stdin (see
//!   [`emitter`]) and emits from outside the runtime, paced like the other servers.
//!
//! Usage: `socketioxide-peer --addr 127.0.0.1:3000 --jwt-secret S [--threads 1]
//! [--max-buffer-size 1024]`; `--api-key` is accepted and ignored (no HTTP API here).

mod emitter;

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{Data, Extension, SocketRef};
use socketioxide::handler::ConnectHandler;

/// The flags the load generator passes (`--addr`, `--jwt-secret`, `--api-key`) and ours.
struct Options {
    addr: SocketAddr,
    jwt_secret: String,
    threads: usize,
    /// Packets socketioxide buffers per socket before `emit` fails; the default is our
    /// library's per-connection queue bound (1,024 frames), so bursts compare alike.
    max_buffer_size: usize,
}

fn options() -> Options {
    let mut options = Options {
        addr: "127.0.0.1:3000".parse().expect("a literal address"),
        jwt_secret: String::new(),
        threads: 1,
        max_buffer_size: 1024,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => {
                options.addr = value
                    .parse()
                    .unwrap_or_else(|e| fail(&format!("--addr: {e}")))
            }
            "--jwt-secret" => options.jwt_secret = value,
            "--threads" => {
                options.threads = value
                    .parse()
                    .unwrap_or_else(|e| fail(&format!("--threads: {e}")))
            }
            "--max-buffer-size" => {
                options.max_buffer_size = value
                    .parse()
                    .unwrap_or_else(|e| fail(&format!("--max-buffer-size: {e}")))
            }
            "--api-key" | "--db" | "--max-connections" => {}
            _ => fail(&format!("unknown flag {flag}")),
        }
    }
    if options.jwt_secret.is_empty() {
        fail("--jwt-secret is required");
    }
    options
}

fn fail(message: &str) -> ! {
    eprintln!("socketioxide-peer: {message}");
    std::process::exit(2)
}

#[derive(Deserialize, Clone)]
struct Claims {
    sub: String,
    role: String,
    sid: Option<String>,
}

/// Who a connection is, found by the middleware and read by the connect handler.
#[derive(Clone)]
struct Identity {
    claims: Claims,
    page: String,
}

#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn authenticate(
    key: &jsonwebtoken::DecodingKey,
    socket: &SocketRef,
    auth: &Value,
) -> Result<(), Refused> {
    let token = auth["token"].as_str().ok_or(Refused("missing_token"))?;
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|_| Refused("invalid_token"))?
        .claims;
    if claims.role != "user" && claims.role != "admin" {
        return Err(Refused("invalid_token"));
    }
    let page = auth["page"].as_str().unwrap_or("modules").to_owned();
    socket.extensions.insert(Identity { claims, page });
    Ok(())
}

async fn on_connect(socket: SocketRef, Extension(identity): Extension<Identity>) {
    let Identity { claims, page } = identity;
    socket.join(format!("user:{}", claims.sub));
    if claims.role == "admin" && page == "admin" {
        socket.join("admin");
    }
    let now = emitter::now_us() / 1000;
    let ok = json!({"userId": claims.sub, "role": claims.role, "sessionId": claims.sid,
        "page": page, "timestamp": now});
    let snapshot = json!({"page": page, "modules": [], "timestamp": now});
    if socket.emit("auth:ok", &ok).is_err() || socket.emit("page:snapshot", &snapshot).is_err() {
        let _ = socket.disconnect();
    }
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(options.max_buffer_size)
        .build_layer();
    let key = jsonwebtoken::DecodingKey::from_secret(options.jwt_secret.as_bytes());
    io.ns(
        "/",
        on_connect.with(move |socket: SocketRef, Data(auth): Data<Value>| {
            let verdict = authenticate(&key, &socket, &auth);
            async move { verdict }
        }),
    );
    emitter::start(io.clone(), runtime.handle().clone());
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .unwrap_or_else(|e| fail(&format!("{}: {e}", options.addr)))
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        println!(
            "socketioxide 0.18 reference listening on http://{}",
            options.addr
        );
        let app = axum::Router::new().layer(layer);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .unwrap_or_else(|e| fail(&format!("signal: {e}")));
        // Stopped by a signal without draining: the load generator has closed its
        // clients by then, and the others servers of the benchmark stop the same way.
        tokio::select! {
            served = axum::serve(listener, app) => {
                if let Err(error) = served {
                    fail(&format!("serve: {error}"));
                }
            }
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}
