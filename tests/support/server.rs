//! Helpers for the server-transport tests (`tests/server`): a hub served on
//! `127.0.0.1:0` and the waits every client uses. The clients are beside it:
//! `websocket.rs`, `native.rs` (`/ws`), `socketio.rs` (Socket.IO over websocket) and
//! `polling.rs` (HTTP/1.1 and Socket.IO over long-polling).
//!
//! Nothing here sleeps to synchronise: every read awaits a frame with a generous
//! timeout ([`WAIT`]) and panics with a label when it does not come; conditions that
//! have no frame to await (a counter, the server's connection count) are polled with
//! [`eventually`], which also fails after [`WAIT`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::server::{ServerConfig, ServerHandle};
use serde_json::json;

use super::SENTINEL;

/// How long any awaited frame or condition may take (generous: CI machines are noisy).
pub const WAIT: Duration = Duration::from_secs(5);

/// A hub served on an ephemeral port.
pub struct Server {
    /// The hub (clone of the served one).
    pub hub: Hub,
    /// The running server; dropping it shuts the server down.
    pub handle: ServerHandle,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Serves `hub` on `127.0.0.1:0` with `config`.
pub fn serve(hub: Hub, config: ServerConfig) -> Server {
    let handle = hub.serve("127.0.0.1:0", config).expect("server starts");
    let addr = handle.local_addr();
    Server { hub, handle, addr }
}

/// The test config: defaults, except that dropping the server at the end of a test
/// waits at most 1 s for polling sessions whose client stopped polling.
pub fn config() -> ServerConfig {
    ServerConfig {
        shutdown_deadline: Duration::from_secs(1),
        ..ServerConfig::default()
    }
}

/// Runs the client side of a test on its own runtime (the server has its own).
pub fn run<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
        .block_on(future)
}

/// Awaits `future` for at most [`WAIT`], panicking with `what` otherwise.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Polls `condition` until it holds, for at most [`WAIT`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends the sentinel to `user` through the normal routing path.
pub fn send_sentinel(hub: &Hub, user: &str, n: u64) {
    hub.emit_to_user(user, SENTINEL, &json!({"n": n}))
        .expect("sentinel emit");
}

/// Emits 32 KiB `bulk:data` events `{n}` to `user` one at a time, each once the
/// server's writer took the previous one (a drain records one delivery latency), until
/// the writer stalls for 1 s because the client does not read; returns how many were
/// emitted (`n` = 0, 1, …). Call it while nothing else is being delivered (it watches
/// the delivery-latency count).
pub async fn emit_until_writer_stalls(hub: &Hub, user: &str) -> u64 {
    let chunk = "x".repeat(32 * 1024);
    let mut sent = 0u64;
    loop {
        assert!(
            sent < 10_000,
            "the writer never stalled after {sent} frames"
        );
        let before = hub.metrics().delivery_latency.count;
        hub.emit_to_user(user, "bulk:data", &json!({"n": sent, "chunk": chunk}))
            .expect("bulk emit");
        sent += 1;
        let taken = tokio::time::timeout(Duration::from_secs(1), async {
            while hub.metrics().delivery_latency.count == before {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        if taken.is_err() {
            return sent;
        }
    }
}
