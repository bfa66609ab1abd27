//! Slow consumers judged by bytes and time, over real Socket.IO websockets on
//! 127.0.0.1: a burst that healthy clients read as it comes is delivered completely with
//! the default bounds (`burst.rs`); a client that stops reading is closed by the byte
//! bound when much reaches it (`bytes.rs`) and by the time bound when little does
//! (`time.rs`), while another client keeps receiving, and a client that reads slowly
//! but steadily is kept; the server's memory stays bounded with 100 stalled clients
//! and a burst (`memory.rs`). Each close is counted under its reason
//! (`slow_consumer_closes`).
//!
//! Its own test binary (its own process), and its tests run one at a time, so that the
//! resident-memory figures are this test's alone.

#[path = "../support/mod.rs"]
mod support;

mod burst;
mod bytes;
mod memory;
mod time;

use std::sync::Mutex;

use microcoaster_realtime::{SlowConsumerCloses, SlowConsumerReason};
use serde_json::json;
use support::{SENTINEL, Server, SioWs, send_sentinel, within};

/// One test at a time: the memory test measures the whole process.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Logs in `count` Socket.IO websocket clients of `server`, one after the other: users
/// `{prefix}0`, `{prefix}1`, … (each client labelled with its user), with `role`, on
/// `page`.
async fn log_in_many(
    server: &Server,
    (prefix, count): (&str, usize),
    role: &str,
    page: &str,
) -> Vec<SioWs> {
    let mut clients = Vec::with_capacity(count);
    for i in 0..count {
        let user = format!("{prefix}{i}");
        let token = support::token(&user, role, None);
        clients.push(SioWs::login(server.addr, &user, &token, page).await);
    }
    clients
}

/// The two clients of a slow-consumer close test, both users on `modules`: `slow`,
/// which stops reading, and `fast`, which keeps reading and must keep being served.
async fn slow_and_fast(server: &Server) -> (SioWs, SioWs) {
    let slow = support::token("slow", "user", None);
    let fast = support::token("fast", "user", None);
    (
        SioWs::login(server.addr, "slow", &slow, "modules").await,
        SioWs::login(server.addr, "fast", &fast, "modules").await,
    )
}

/// Reads `bulk:data` events until the connection ends: each must carry `n` = 0, 1, …
/// in order (an allow-list: anything else fails). Returns how many arrived and how the
/// connection ended (`None`: dropped without a close frame).
async fn read_until_end(client: &mut SioWs) -> (u64, Option<(u16, String)>) {
    let mut next = 0u64;
    loop {
        match client.packet_or_close().await {
            Ok(packet) => {
                let (name, data) = support::parse_event(&packet);
                assert_eq!(
                    (name.as_str(), &data["n"]),
                    ("bulk:data", &json!(next)),
                    "{}",
                    client.ws.label()
                );
                next += 1;
            }
            Err(close) => return (next, close),
        }
    }
}

/// Reads events until the sentinel: each must be `name` with `n` = 0, 1, … in order
/// (an allow-list: anything else fails), and there must be `expected` of them.
async fn read_in_order(client: &mut SioWs, name: &str, expected: u64) {
    let mut next = 0u64;
    loop {
        let (got, data) = client.event().await;
        if got == SENTINEL {
            assert_eq!(data["n"], json!(expected), "{}", client.ws.label());
            break;
        }
        assert_eq!(got, name, "{}: unexpected {got} {data}", client.ws.label());
        assert_eq!(
            data["n"],
            json!(next),
            "{}: out of order",
            client.ws.label()
        );
        next += 1;
    }
    assert_eq!(next, expected, "{}", client.ws.label());
}

/// The checks after the server closed `slow` as a slow consumer for `reason`, once
/// `sent` events were emitted to it: that close is the only one counted, under
/// `reason`; `fast` (user `fast`) still receives a sentinel; `slow`, reading again, finds
/// events in order and fewer than were sent (the queued ones were dropped). Returns how
/// `slow`'s connection ended, which differs by reason.
async fn after_the_close(
    server: &Server,
    reason: SlowConsumerReason,
    (slow, fast): (&mut SioWs, &mut SioWs),
    sent: u64,
) -> Option<(u16, String)> {
    let once_for = |counted: SlowConsumerReason| u64::from(counted == reason);
    let expected = SlowConsumerCloses {
        bytes: once_for(SlowConsumerReason::Bytes),
        frames: once_for(SlowConsumerReason::Frames),
        stalled: once_for(SlowConsumerReason::Stalled),
    };
    assert_eq!(server.hub.metrics().slow_consumer_closes, expected);
    send_sentinel(&server.hub, "fast", 1_000_000);
    fast.sentinel(1_000_000).await;
    let (got, end) = within("the slow client's frames and end", read_until_end(slow)).await;
    assert!(
        got < sent,
        "it got {got} of {sent}: the queued ones were dropped"
    );
    end
}
