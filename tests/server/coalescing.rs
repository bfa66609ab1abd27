//! Adaptive write coalescing over real sockets (`transport/server/coalesce.rs`): an
//! idle socket's event is written at once, never held for the window, even right after
//! a batch of several events; a burst is still gathered into few writes
//! (`socket_writes`), every event delivered once and in order.
//!
//! The window is set far above what a write takes (400 ms), so a latency under a
//! quarter of it can only come from a write that did not wait for it.

use std::time::{Duration, Instant};

use crate::support::*;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::json;

/// The coalescing window of these tests.
const WINDOW: Duration = Duration::from_millis(400);

/// The most an idle socket's event may take to arrive.
const IDLE_LATENCY: Duration = Duration::from_millis(100);

fn coalescing_config() -> ServerConfig {
    ServerConfig {
        write_coalesce: WINDOW,
        ..config()
    }
}

/// Serves a hub with the coalescing window, logs `label` in as user `u1` (the login's
/// last batch held two events, `auth:ok` and `page:snapshot`), runs `test` with the
/// server and the client, then checks that a sentinel arrives next: nothing `test` did
/// not read was left behind.
fn with_client(label: &str, test: impl AsyncFnOnce(&Server, &mut SioWs)) {
    let server = serve(hub(), coalescing_config());
    run(async {
        let mut client =
            SioWs::login(server.addr, label, &token("u1", "user", None), "modules").await;
        test(&server, &mut client).await;
        send_sentinel(&server.hub, "u1", 1);
        within("the sentinel", client.sentinel(1)).await;
    });
}

/// Emits `idle:event {n}` to user `u1` and checks that `client` receives it within
/// `IDLE_LATENCY`, far under the window: its write did not wait. `when` names the
/// event in the failure.
async fn expect_at_once(server: &Server, client: &mut SioWs, n: u64, when: &str) {
    let start = Instant::now();
    server
        .hub
        .emit_to_user("u1", "idle:event", &json!({"n": n}))
        .expect("emit");
    let (name, data) = within("the idle event", client.event()).await;
    let latency = start.elapsed();
    assert_eq!((name.as_str(), &data["n"]), ("idle:event", &json!(n)));
    assert!(
        latency < IDLE_LATENCY,
        "{when} took {latency:?} (window {WINDOW:?})"
    );
}

/// Emits `burst:event {n}` for `n` in `range` as fast as the host thread can.
fn burst(server: &Server, user: &str, range: std::ops::Range<u64>) {
    for n in range {
        server
            .hub
            .emit_to_user(user, "burst:event", &json!({"n": n}))
            .expect("burst emit");
    }
}

/// Reads `burst:event`s `range` in order, nothing else between them.
async fn expect_burst(client: &mut SioWs, range: std::ops::Range<u64>) {
    for n in range {
        let (name, data) = within("a burst event", client.event()).await;
        assert_eq!((name.as_str(), &data["n"]), ("burst:event", &json!(n)));
    }
}

#[test]
fn an_idle_socket_writes_its_event_without_waiting_for_the_window() {
    with_client("idle", async |server, client| {
        for n in 0..5 {
            expect_at_once(server, client, n, &format!("event {n} on an idle socket")).await;
        }
    });
}

#[test]
fn a_socket_idle_again_after_a_burst_writes_at_once() {
    with_client("after-burst", async |server, client| {
        for round in 0..3u64 {
            let first = round * 200;
            burst(server, "u1", first..first + 200);
            expect_burst(client, first..first + 200).await;
            // Everything was read: the socket is idle, whatever its last batches held.
            let when = format!("round {round}: the event after a burst");
            expect_at_once(server, client, round, &when).await;
        }
    });
}

#[test]
fn a_burst_is_written_in_few_writes_exactly_and_in_order() {
    const EVENTS: u64 = 2_000;
    with_client("burst", async |server, client| {
        let before = server.hub.metrics();
        burst(server, "u1", 0..EVENTS);
        expect_burst(client, 0..EVENTS).await;
        let after = server.hub.metrics();
        let frames = after.frames_delivered - before.frames_delivered;
        let writes = after.socket_writes - before.socket_writes;
        assert_eq!(frames, EVENTS, "one frame per event, none lost");
        // What queues up while the writer works already shares a write (100-170 writes
        // here without the window); held for the window while the backlog lasts, the
        // burst takes one or two.
        assert!(
            writes * 100 <= EVENTS,
            "{EVENTS} events took {writes} writes: the burst was not coalesced"
        );
    });
}
