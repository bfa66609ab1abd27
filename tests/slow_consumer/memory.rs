//! The server's memory with 100 clients that stopped reading and a burst to them, with
//! the default bounds.

use microcoaster_realtime::SlowConsumerCloses;
use serde_json::{Value, json};

use crate::support::{SioWs, builder, config, eventually, run, send_sentinel, serve, token};
use crate::{alone, log_in_many};

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

/// 100 clients stop reading while each is sent 1,000 frames of 8 KiB (8 MB each,
/// 800 MB in all) as fast as a host thread can emit them: each is closed once 2 MiB of
/// encoded frames (the default byte bound) wait in its queue. A queued event also keeps
/// its payload beside its encoding (8 KiB more here), so the process may grow by about
/// 100 × 2 × 2 MiB, not by what the clients did not read (twice 800 MB). The bound
/// asserted (600 MiB) leaves room for the allocator and fails if the queues keep what
/// was sent.
#[test]
fn stalled_clients_keep_the_server_memory_bounded() {
    const CLIENTS: usize = 100;
    const FRAMES: usize = 1_000;
    let _alone = alone();
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let clients = log_in_many(&server, ("stalled", CLIENTS), "user", "modules").await;
        let before = rss_bytes();
        let hub = server.hub.clone();
        let peak = tokio::task::spawn_blocking(move || {
            let chunk = "y".repeat(8 * 1024);
            let mut peak = 0;
            for n in 0..FRAMES {
                for i in 0..CLIENTS {
                    let payload: Value = json!({"n": n, "chunk": chunk});
                    let user = format!("stalled{i}");
                    let _ = hub.emit_to_user(user.as_str(), "bulk:data", &payload);
                }
                peak = peak.max(rss_bytes());
            }
            peak
        })
        .await
        .unwrap();
        let growth = peak.saturating_sub(before);
        eprintln!(
            "RSS before {} MiB, peak {} MiB, growth {} MiB (800 MB were sent)",
            before >> 20,
            peak >> 20,
            growth >> 20
        );
        assert!(growth < 600 << 20, "grew by {} MiB", growth >> 20);
        eventually(
            "every stalled client to be closed by the byte bound",
            || server.hub.metrics().slow_consumer_closes.bytes == CLIENTS as u64,
        )
        .await;
        assert_eq!(
            server.hub.metrics().slow_consumer_closes,
            SlowConsumerCloses {
                bytes: CLIENTS as u64,
                ..SlowConsumerCloses::default()
            }
        );
        // The server still serves a new client.
        let mut fresh = SioWs::login(
            server.addr,
            "fresh",
            &token("fresh", "user", None),
            "modules",
        )
        .await;
        send_sentinel(&server.hub, "fresh", 1);
        fresh.sentinel(1).await;
        drop(clients);
    });
}
