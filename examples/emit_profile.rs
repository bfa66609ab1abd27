//! The per-user emit path from a host thread, end to end in one process, for profilers
//! (`scripts/bench profile` runs it under callgrind): a hub served on 127.0.0.1 with one
//! worker, `--users` users with two Socket.IO websocket tabs each (raw Engine.IO v4 /
//! Socket.IO v5 clients on their own thread), then `--emits` `Hub::emit_to_user` calls
//! from the main thread, round-robin over the users, paced `--gap-us` apart (0: a
//! burst). It waits until every tab has every event, checks that each got exactly its
//! user's events in order, and prints the counts.
//!
//! The clients run in the same process, on a thread named `clients`, so a profile
//! separates them by thread (callgrind `--separate-threads=yes`) or by function.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// Users (two tabs each).
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Per-user emits in all.
    #[arg(long, default_value_t = 20_000)]
    emits: u64,
    /// Microseconds slept between two emits (0: as fast as possible).
    #[arg(long, default_value_t = 100)]
    gap_us: u64,
    /// Server worker threads (0: one per CPU).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

const SECRET: &[u8] = b"emit-profile-secret";

fn token(user: &str) -> String {
    let claims = json!({"sub": user, "role": "user", "exp": 4_102_444_800u64});
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
}

/// One tab: logs in, then reads events, checking that they are its user's, in order.
async fn tab(addr: std::net::SocketAddr, user: usize, users: usize, received: Arc<AtomicU64>) {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let _open = ws.next().await;
    let auth = json!({"token": token(&format!("u{user}")), "page": "modules"});
    ws.send(Message::Text(format!("40{auth}").into()))
        .await
        .expect("CONNECT");
    let mut next = user as u64;
    let mut ready = 0;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        match text.as_str() {
            "2" => ws.send(Message::Text("3".into())).await.expect("pong"),
            packet if packet.starts_with("40") => {}
            packet => {
                let args: Value = serde_json::from_str(&packet[2..]).expect("event");
                match args[0].as_str() {
                    Some("auth:ok" | "page:snapshot") => {
                        ready += 1;
                        if ready == 2 {
                            READY.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Some("profile:event") => {
                        assert_eq!(args[1]["n"], json!(next), "tab of u{user}: out of order");
                        next += users as u64;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
    }
}

static READY: AtomicU64 = AtomicU64::new(0);

/// Two tabs per user, on a thread of their own with a single-threaded runtime, each
/// counting what it receives into `received`.
fn start_clients(
    addr: std::net::SocketAddr,
    users: usize,
    received: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("clients".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("client runtime");
            runtime.block_on(async move {
                let mut tasks = Vec::new();
                for user in 0..users {
                    for _ in 0..2 {
                        tasks.push(tokio::spawn(tab(addr, user, users, Arc::clone(&received))));
                    }
                }
                for task in tasks {
                    let _ = task.await;
                }
            });
        })
        .expect("clients thread")
}

fn main() {
    let args = Args::parse();
    let hub = Hub::builder().jwt_secret(SECRET).build().expect("hub");
    let config = ServerConfig {
        worker_threads: args.workers,
        ..ServerConfig::default()
    };
    let server = hub.serve("127.0.0.1:0", config).expect("serve");
    let addr = server.local_addr();
    let received = Arc::new(AtomicU64::new(0));
    let tabs = 2 * args.users as u64;
    let clients = start_clients(addr, args.users, Arc::clone(&received));
    while READY.load(Ordering::SeqCst) < tabs {
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    let gap = Duration::from_micros(args.gap_us);
    for n in 0..args.emits {
        let user = format!("u{}", n % args.users as u64);
        hub.emit_to_user(user.as_str(), "profile:event", &json!({"n": n, "v": 42}))
            .expect("emit");
        if !gap.is_zero() {
            // Slept, not spun: a profile of the emitting thread shows the emit alone,
            // and the writer handles each event on its own wake-up.
            std::thread::sleep(gap);
        }
    }
    let expected = 2 * args.emits;
    while received.load(Ordering::Relaxed) < expected {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "deliveries missing"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    println!(
        "{} emits to {} users (2 tabs each), {} deliveries, exact, in {:.3} s",
        args.emits,
        args.users,
        expected,
        elapsed.as_secs_f64()
    );
    drop(server);
    let _ = clients.join();
}
