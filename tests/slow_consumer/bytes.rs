//! The byte bound: a client that stops reading while much reaches it is closed once
//! its queue holds more than `queue_max_bytes`, with the default bounds.

use microcoaster_realtime::SlowConsumerReason;
use serde_json::json;

use crate::support::{builder, config, run, send_sentinel, serve};
use crate::{after_the_close, alone, slow_and_fast};

/// 32 KiB frames to a client that does not read, with a sentinel to a reading client
/// after every 16: the stalled one is closed by the byte bound (2 MiB by default, long
/// before the 10 s time bound), counted as `bytes`, and the reading one got every
/// sentinel meanwhile and still gets one after. The stalled client, reading again,
/// finds frames in order, fewer than were sent, then the close frame the server could
/// write once the client read again.
#[test]
fn a_client_that_stops_reading_is_closed_by_the_byte_bound() {
    let _alone = alone();
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let (mut slow, mut fast) = slow_and_fast(&server).await;
        let chunk = "x".repeat(32 * 1024);
        let mut sent = 0u64;
        while server.hub.metrics().slow_consumer_closes.bytes == 0 {
            assert!(
                sent < 20_000,
                "no byte-bound close after {sent} frames (640 MB)"
            );
            server
                .hub
                .emit_to_user("slow", "bulk:data", &json!({"n": sent, "chunk": chunk}))
                .unwrap();
            sent += 1;
            if sent.is_multiple_of(16) {
                send_sentinel(&server.hub, "fast", sent);
                fast.sentinel(sent).await;
            }
        }
        // At least the bound itself (64 frames of 32 KiB) was queued before the close.
        assert!(sent > 64, "closed after {sent} frames");
        let end = after_the_close(
            &server,
            SlowConsumerReason::Bytes,
            (&mut slow, &mut fast),
            sent,
        )
        .await;
        assert_eq!(end, Some((1000, String::new())));
    });
}
