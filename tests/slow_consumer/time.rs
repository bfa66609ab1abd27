//! The time bound: a socket write that makes no progress for `slow_consumer_timeout`
//! closes its connection; one that progresses, however slowly, does not.

use std::time::Duration;

use microcoaster_realtime::transport::server::ServerConfig;
use microcoaster_realtime::{SlowConsumerCloses, SlowConsumerReason};
use serde_json::json;

use crate::support::{
    SioWs, builder, config, emit_until_writer_stalls, eventually, run, send_sentinel, serve, token,
};
use crate::{after_the_close, alone, slow_and_fast};

/// A client that stops reading while little reaches it never fills its queue: the
/// time bound closes it (counted as `stalled`, not as an overflow), drops it without a
/// close handshake, and another client keeps being served.
#[test]
fn a_client_that_stops_reading_is_closed_by_the_time_bound() {
    let _alone = alone();
    let server = serve(
        builder().build().unwrap(),
        ServerConfig {
            slow_consumer_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    run(async {
        let (mut slow, mut fast) = slow_and_fast(&server).await;
        // Paced 32 KiB frames until the writer stops taking them: the socket buffers
        // are full, the queue holds one frame, far below its byte bound.
        let sent = emit_until_writer_stalls(&server.hub, "slow").await;
        assert!(sent >= 4, "the socket buffers took {sent} frames");
        eventually("the stalled writer to be closed", || {
            server.hub.metrics().slow_consumer_closes.total() == 1
        })
        .await;
        // The slow client reads again: frames in order, fewer than were sent, then the
        // end of the connection (no close frame: it was dropped).
        let end = after_the_close(
            &server,
            SlowConsumerReason::Stalled,
            (&mut slow, &mut fast),
            sent,
        )
        .await;
        assert_eq!(end, None, "dropped, not closed with a handshake");
    });
}

/// A client that reads 32 KiB every 5 ms (about 6 MB/s) while 20 MB wait for it: the
/// server's write of that backlog lasts seconds, several times the 1 s time bound, but
/// the socket takes bytes all along, so the client is kept and gets every frame in
/// order.
#[test]
fn a_client_that_reads_slowly_but_steadily_is_kept() {
    const FRAMES: u64 = 640;
    let _alone = alone();
    let hub = builder().queue_max_bytes(64 << 20).build().unwrap();
    let server = serve(
        hub,
        ServerConfig {
            slow_consumer_timeout: Duration::from_secs(1),
            ..config()
        },
    );
    run(async {
        let mut slow =
            SioWs::login(server.addr, "slow", &token("slow", "user", None), "modules").await;
        let chunk = "x".repeat(32 * 1024);
        for n in 0..FRAMES {
            let payload = json!({"n": n, "chunk": chunk});
            server
                .hub
                .emit_to_user("slow", "bulk:data", &payload)
                .unwrap();
        }
        send_sentinel(&server.hub, "slow", FRAMES);
        let started = std::time::Instant::now();
        let mut next = 0u64;
        loop {
            let (name, data) = slow.event().await;
            if next == FRAMES {
                assert_eq!(
                    (name.as_str(), &data["n"]),
                    (crate::support::SENTINEL, &json!(FRAMES))
                );
                break;
            }
            assert_eq!((name.as_str(), &data["n"]), ("bulk:data", &json!(next)));
            next += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = started.elapsed();
        eprintln!("read {FRAMES} frames of 32 KiB in {took:?}");
        assert!(
            took > Duration::from_secs(2),
            "the write did not outlast the bound: {took:?}"
        );
        assert_eq!(
            server.hub.metrics().slow_consumer_closes,
            SlowConsumerCloses::default()
        );
    });
}
