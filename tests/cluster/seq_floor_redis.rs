//! The sequence counter after Redis comes back without it (a restart without
//! persistence, or a failover that lost the master's last writes): each node raises it
//! back to the newest number it applied before shared decisions resume
//! (`broker/redis/health.rs`), or the next change would carry a number the nodes
//! already applied: the emitting node would report it unchanged (superseded) and the
//! other drop it as stale. Without the raise this test fails on the emitter's outcome.
//! Fails, never skips, when `redis-server` is missing.

use std::time::Duration;

use microcoaster_realtime::EmitOutcome;
use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::in_process::Received;
use serde_json::{Value, json};

use crate::ha_redis::{Process, server_args, tool, wait_until};
use crate::nodes::node;
use crate::redis_server::free_port;
use crate::support::{SENTINEL, Tab, TempDir, connect};

/// A frame a node sends to find out whether the other node hears it again.
const PING: &str = "test:ping";

/// The telemetry values `tab` holds before the sentinel sent through `via` (pings are
/// skipped; any other frame fails the test).
fn telemetry_before_sentinel(via: &Hub, tab: &mut Tab) -> Vec<Value> {
    via.emit_to_user("u1", SENTINEL, &json!({}))
        .expect("sentinel");
    let mut values = Vec::new();
    loop {
        match tab.conn.recv_timeout(Duration::from_secs(5)) {
            Some(Received::Frame(frame)) if frame.name() == SENTINEL => return values,
            Some(Received::Frame(frame)) if frame.name() == PING => {}
            Some(Received::Frame(frame)) if frame.name() == "module:telemetry:updated" => {
                values.push(frame.payload()["telemetry"].clone());
            }
            other => panic!("unexpected before the sentinel: {other:?}"),
        }
    }
}

#[test]
fn a_change_after_redis_restarts_empty_still_reaches_the_other_node() {
    let bin = tool("MCRT_REDIS_SERVER", "redis-server");
    let dir = TempDir::new("seq-floor");
    let port = free_port();
    let mut redis = Process::start(&bin, &server_args(port, &dir), port);
    let url = format!("redis://127.0.0.1:{port}");
    let (a, b) = (node(&url), node(&url));
    let mut on_b = connect(&b, "u1", "user", "s1", "modules");
    a.emit_module_added(&json!({"id": "m1", "userId": "u1"}))
        .expect("added");
    match on_b.conn.recv_timeout(Duration::from_secs(5)) {
        Some(Received::Frame(frame)) if frame.name() == "user:module:added" => {}
        other => panic!("B expected the module: {other:?}"),
    }
    for n in 0..5 {
        a.emit_telemetry_update("m1", &json!({ "n": n }))
            .expect("telemetry");
    }
    let before = telemetry_before_sentinel(&a, &mut on_b);
    assert_eq!(before.last(), Some(&json!({"n": 4})), "{before:?}");

    // The same port, nothing saved: the counter and the states are gone.
    redis.kill();
    let _redis = Process::start(&bin, &server_args(port, &dir), port);
    wait_until("both nodes are back on Redis", || {
        [&a, &b].iter().all(|hub| {
            hub.metrics()
                .broker
                .is_some_and(|stats| stats.reachable && stats.reconnects >= 1)
        })
    });
    // B's subscriber reconnects on its own: A pings until B hears it.
    wait_until("B hears A again", || {
        a.emit_to_user("u1", PING, &json!({})).expect("ping");
        matches!(
            on_b.conn.recv_timeout(Duration::from_millis(100)),
            Some(Received::Frame(frame)) if frame.name() == PING
        )
    });

    let outcome = a
        .emit_telemetry_update("m1", &json!({"n": 99}))
        .expect("telemetry");
    assert!(
        matches!(outcome, EmitOutcome::Delivered { .. }),
        "a change after the restart (with the counter restarted at 1, A itself took it for \
         an older change than the ones it applied): {outcome:?}"
    );
    assert_eq!(
        telemetry_before_sentinel(&a, &mut on_b),
        vec![json!({"n": 99})],
        "the change decided after the restart reached B, not dropped as stale"
    );
}
