//! Slow consumers judged by bytes and time, over real Socket.IO websockets on
//! 127.0.0.1: a burst that healthy clients read as it comes is delivered completely with
//! the default bounds; a client that stops reading is closed by the time bound when
//! little reaches it and by the byte bound when much does, and the server's memory
//! stays bounded meanwhile.
//!
//! Its own test binary (its own process), and its tests run one at a time, so that the
//! resident-memory figures are this test's alone.

#[path = "../support/mod.rs"]
mod support;

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::join_all;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::{Value, json};
use support::{
    SENTINEL, SioWs, builder, config, emit_until_writer_stalls, eventually, run, serve, token,
    within,
};

/// One test at a time: the memory test measures the whole process.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The process's resident memory, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// Reads events until the sentinel: each must be `burst` with `n` = 0, 1, … in order
/// (an allow-list: anything else fails), and there must be `expected` of them.
async fn read_burst(mut admin: SioWs, expected: u64) {
    let mut next = 0u64;
    loop {
        let (name, data) = admin.event().await;
        if name == SENTINEL {
            assert_eq!(data["n"], json!(expected), "{}", admin.ws.label());
            break;
        }
        assert_eq!(
            name,
            "burst",
            "{}: unexpected {name} {data}",
            admin.ws.label()
        );
        assert_eq!(data["n"], json!(next), "{}: out of order", admin.ws.label());
        next += 1;
    }
    assert_eq!(next, expected, "{}", admin.ws.label());
}

/// The burst: 20,000 events as fast as a host thread can emit them, to 50
/// admins who read as they come. With the default bounds (2 MiB, 10 s) every admin
/// gets every event, in order, and nobody is closed.
#[test]
fn a_burst_to_fifty_admins_is_delivered_completely_with_defaults() {
    const ADMINS: usize = 50;
    const EVENTS: u64 = 20_000;
    let _alone = alone();
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut admins = Vec::new();
        for i in 0..ADMINS {
            let label = format!("admin{i}");
            let token = token(&label, "admin", None);
            admins.push(SioWs::login(server.addr, &label, &token, "admin").await);
        }
        let hub = server.hub.clone();
        let emitter = std::thread::spawn(move || {
            for n in 0..EVENTS {
                hub.emit_to_admins("burst", &json!({"n": n})).unwrap();
            }
            hub.emit_to_admins(SENTINEL, &json!({"n": EVENTS})).unwrap();
        });
        let readers = admins
            .into_iter()
            .map(|admin| tokio::spawn(read_burst(admin, EVENTS)));
        let read = tokio::time::timeout(Duration::from_secs(120), join_all(readers));
        for reader in read.await.expect("the burst was read within 120 s") {
            reader.expect("reader");
        }
        emitter.join().unwrap();
        let metrics = server.hub.metrics();
        assert_eq!(metrics.queue_overflows, 0);
        assert_eq!(metrics.write_stalls, 0);
    });
}

/// A client that stops reading while little reaches it never fills its queue: the
/// time bound closes it (counted in `write_stalls`, not as an overflow), drops it
/// without a close handshake, and another client keeps being served.
#[test]
fn a_client_that_stops_reading_is_closed_and_counted() {
    let _alone = alone();
    let server = serve(
        builder().build().unwrap(),
        ServerConfig {
            slow_consumer_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    run(async {
        let mut slow =
            SioWs::login(server.addr, "slow", &token("slow", "user", None), "modules").await;
        let mut fast =
            SioWs::login(server.addr, "fast", &token("fast", "user", None), "modules").await;
        // Paced 32 KiB frames until the writer stops taking them: the socket buffers
        // are full, the queue holds one frame, far below its byte bound.
        let sent = emit_until_writer_stalls(&server.hub, "slow").await;
        assert!(sent >= 4, "the socket buffers took {sent} frames");
        eventually("the stalled writer to be closed", || {
            server.hub.metrics().write_stalls == 1
        })
        .await;
        assert_eq!(server.hub.metrics().queue_overflows, 0);
        support::send_sentinel(&server.hub, "fast", 7);
        fast.sentinel(7).await;
        // The slow client reads again: frames in order, never more than were sent,
        // then the end of the connection (no close frame: it was dropped).
        let mut next = 0u64;
        let end = within("the slow client's frames and end", async {
            loop {
                match slow.packet_or_close().await {
                    Ok(packet) => {
                        let (name, data) = support::parse_event(&packet);
                        assert_eq!((name.as_str(), &data["n"]), ("bulk:data", &json!(next)));
                        next += 1;
                    }
                    Err(close) => return close,
                }
            }
        })
        .await;
        assert!(
            next < sent,
            "it got {next} of {sent}: the queued ones were dropped"
        );
        assert_eq!(end, None, "dropped, not closed with a handshake");
    });
}

/// 100 clients stop reading while each is sent 600 frames of 8 KiB (4.8 MB each,
/// 480 MB in all): each is closed once 256 KiB wait in its queue, and the process
/// grows by a bounded amount instead of keeping what they did not read.
#[test]
fn stalled_clients_keep_the_server_memory_bounded() {
    const CLIENTS: usize = 100;
    const FRAMES: usize = 600;
    let _alone = alone();
    let hub = builder().queue_max_bytes(256 * 1024).build().unwrap();
    let server = serve(
        hub,
        ServerConfig {
            slow_consumer_timeout: Duration::from_secs(60),
            ..config()
        },
    );
    run(async {
        let mut clients = Vec::new();
        for i in 0..CLIENTS {
            let label = format!("stalled{i}");
            let token = token(&label, "user", None);
            clients.push(SioWs::login(server.addr, &label, &token, "modules").await);
        }
        let before = rss_bytes();
        let hub = server.hub.clone();
        let peak = tokio::task::spawn_blocking(move || {
            let chunk = "y".repeat(8 * 1024);
            let mut peak = 0;
            for n in 0..FRAMES {
                for i in 0..CLIENTS {
                    let payload: Value = json!({"n": n, "chunk": chunk});
                    hub.emit_to_user(format!("stalled{i}").as_str(), "bulk:data", &payload)
                        .unwrap();
                }
                peak = peak.max(rss_bytes());
            }
            peak
        })
        .await
        .unwrap();
        eventually(
            "every stalled client to be closed by the byte bound",
            || server.hub.metrics().queue_overflows == CLIENTS as u64,
        )
        .await;
        let growth = peak.saturating_sub(before);
        eprintln!(
            "RSS before {} MiB, peak {} MiB, growth {} MiB (480 MB were sent)",
            before >> 20,
            peak >> 20,
            growth >> 20
        );
        assert!(growth < 150 << 20, "grew by {} MiB", growth >> 20);
        // The server still serves a new client.
        let mut fresh = SioWs::login(
            server.addr,
            "fresh",
            &token("fresh", "user", None),
            "modules",
        )
        .await;
        support::send_sentinel(&server.hub, "fresh", 1);
        fresh.sentinel(1).await;
        drop(clients);
    });
}
