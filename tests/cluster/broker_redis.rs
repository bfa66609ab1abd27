//! The Redis broker against a real `redis-server` (started here on a free port in a temp
//! folder, killed at the end): two hubs in one process stand for two nodes. Fails, never
//! skips, when `redis-server` (or `MCRT_REDIS_SERVER`) is missing.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use microcoaster_realtime::broker::RedisBroker;
use microcoaster_realtime::transport::in_process::Received;
use microcoaster_realtime::{EmitOutcome, Hub};
use serde_json::json;

use crate::nodes::node;
use crate::redis_server::{Redis, start_redis};
use crate::support::{JWT_SECRET, SENTINEL, Tab, connect};

/// Waits (bounded) for the next frame named `name` on `tab`, skipping nothing else.
fn expect_soon(tab: &mut Tab, name: &str) -> serde_json::Value {
    match tab.conn.recv_timeout(Duration::from_secs(5)) {
        Some(Received::Frame(frame)) => {
            assert_eq!(frame.name(), name, "payload {}", frame.payload());
            frame.payload().clone()
        }
        other => panic!("expected {name}, got {other:?}"),
    }
}

/// The sentinel through `via`, awaited on `tab`: anything `via` published before it has
/// arrived; returns the names that came first.
pub(crate) fn names_before_sentinel(via: &Hub, tab: &mut Tab, user: &str) -> Vec<String> {
    via.emit_to_user(user, SENTINEL, &json!({}))
        .expect("sentinel");
    let mut names = Vec::new();
    loop {
        match tab.conn.recv_timeout(Duration::from_secs(5)) {
            Some(Received::Frame(frame)) if frame.name() == SENTINEL => return names,
            Some(Received::Frame(frame)) => names.push(frame.name().to_owned()),
            other => panic!("expected the sentinel, got {other:?}"),
        }
    }
}

#[test]
fn racing_identical_emits_on_two_nodes_give_one_event() {
    let redis = start_redis();
    let (a, b) = (node(&redis.url), node(&redis.url));
    let mut on_a = connect(&a, "u1", "user", "s1", "modules");
    let mut on_b = connect(&b, "u1", "user", "s2", "modules");
    for round in 0..20 {
        let module = format!("m{round}");
        let barrier = Arc::new(Barrier::new(2));
        let outcomes: Vec<EmitOutcome> = [a.clone(), b.clone()]
            .into_iter()
            .map(|hub| {
                let barrier = Arc::clone(&barrier);
                let module = module.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    hub.emit_module_online(&module, &json!({"userId": "u1"}))
                        .expect("online")
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().expect("emit thread"))
            .collect();
        let delivered = outcomes
            .iter()
            .filter(|o| matches!(o, EmitOutcome::Delivered { .. }))
            .count();
        assert_eq!(delivered, 1, "round {round}: {outcomes:?}");
    }
    for (tab, name) in [(&mut on_a, "a"), (&mut on_b, "b")] {
        let mut names = names_before_sentinel(&a, tab, "u1");
        names.extend(names_before_sentinel(&b, tab, "u1"));
        let statuses = names
            .iter()
            .filter(|n| *n == "module:status:changed")
            .count();
        assert_eq!(statuses, 20, "node {name}: {names:?}");
    }
}

#[test]
fn a_real_change_on_another_node_is_never_unchanged() {
    let redis = start_redis();
    let (a, b) = (node(&redis.url), node(&redis.url));
    for round in 0..50 {
        let module = format!("flip{round}");
        let info = json!({"userId": "u2"});
        // B may or may not have mirrored A's change yet: Redis decides either way.
        assert!(matches!(
            a.emit_module_online(&module, &info).expect("online"),
            EmitOutcome::Delivered { .. }
        ));
        assert!(
            matches!(
                b.emit_module_offline(&module, &info).expect("offline"),
                EmitOutcome::Delivered { .. }
            ),
            "round {round}: a real change was reported unchanged"
        );
        assert_eq!(
            a.emit_module_offline(&module, &info)
                .expect("offline again"),
            EmitOutcome::Unchanged
        );
    }
}

#[test]
fn events_cross_nodes_and_the_other_user_gets_nothing() {
    let redis = start_redis();
    let (a, b) = (node(&redis.url), node(&redis.url));
    let mut owner = connect(&b, "u3", "user", "s3", "modules");
    let mut other = connect(&b, "u4", "user", "s4", "modules");
    let mut admin = connect(&b, "root", "admin", "s5", "admin");
    a.emit_module_added(&json!({"id": "m3", "userId": "u3"}))
        .expect("added");
    a.emit_telemetry_update("m3", &json!({"speed": 1}))
        .expect("telemetry");
    assert_eq!(
        expect_soon(&mut owner, "user:module:added")["module"]["moduleId"],
        "m3"
    );
    assert_eq!(
        expect_soon(&mut owner, "module:telemetry:updated")["telemetry"]["speed"],
        1
    );
    assert_eq!(
        expect_soon(&mut admin, "admin:module:added")["module"]["moduleId"],
        "m3"
    );
    assert!(names_before_sentinel(&a, &mut other, "u4").is_empty());
    // B's mirror knows the telemetry: the same value through B is unchanged.
    assert_eq!(
        b.emit_telemetry_update("m3", &json!({"speed": 1}))
            .expect("same telemetry"),
        EmitOutcome::Unchanged
    );
    let view = a.cluster_view();
    assert!(
        view.is_some(),
        "the cluster view is available while Redis answers"
    );
}

/// Publishes raw bytes on the broker's channel through a plain RESP connection, as a
/// misbehaving peer would.
fn publish_raw(redis: &Redis, payload: &[u8]) {
    use std::io::{Read, Write};
    let address = redis.url.trim_start_matches("redis://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect to Redis");
    let channel = b"mcrt:events";
    let mut command = format!("*3\r\n$7\r\nPUBLISH\r\n${}\r\n", channel.len()).into_bytes();
    command.extend_from_slice(channel);
    command.extend_from_slice(format!("\r\n${}\r\n", payload.len()).as_bytes());
    command.extend_from_slice(payload);
    command.extend_from_slice(b"\r\n");
    stream.write_all(&command).expect("send PUBLISH");
    let mut reply = [0u8; 16];
    let read = stream.read(&mut reply).expect("PUBLISH reply");
    assert_eq!(
        reply[0],
        b':',
        "{:?}",
        String::from_utf8_lossy(&reply[..read])
    );
}

#[test]
fn malformed_broker_messages_are_counted_and_the_node_keeps_serving() {
    let redis = start_redis();
    let (a, b) = (node(&redis.url), node(&redis.url));
    let mut tab = connect(&b, "u5", "user", "s6", "modules");
    for garbage in [
        &b"\xff\xfe not utf-8"[..],
        b"{\"origin\":\"x\"}",
        b"[1,2,3]",
        br#"{"origin":"x","call":"module_online","events":[{"name":"e","audience":{"kind":"nobody"}}]}"#,
        br#"{"origin":"x","call":"recovery_request","events":[],"args":{"request":"r","pid":7}}"#,
        br#"{"origin":"x","call":"recovery_answer","events":[],"args":{"request":"r","to":"y","identity":{"user":"u5"},"page":"modules","frames":[]}}"#,
        br#"{"origin":"x","call":"recovery_answer","events":[],"args":{"request":"r","to":"y","refused":false}}"#,
    ] {
        publish_raw(&redis, garbage);
    }
    // The sentinel travels the same channel after the garbage: once it is in, every
    // malformed message was handled.
    assert!(names_before_sentinel(&a, &mut tab, "u5").is_empty());
    let stats = b.metrics().broker.expect("a shared broker reports");
    assert_eq!(stats.malformed, 7);
    assert!(stats.reachable);
}

/// Queues jobs for the test thread, as a single-threaded host (Node) would.
struct HostQueue(crossbeam_channel::Sender<microcoaster_realtime::Job>);

impl microcoaster_realtime::Executor for HostQueue {
    fn execute(&self, job: microcoaster_realtime::Job) {
        self.0.send(job).expect("the test keeps the receiver");
    }
}

#[test]
fn another_nodes_emit_runs_on_the_host_executor() {
    let redis = start_redis();
    let a = node(&redis.url);
    let (jobs, queued) = crossbeam_channel::unbounded();
    let broker = RedisBroker::connect(&redis.url).expect("Redis answers");
    let b = Hub::builder()
        .jwt_secret(JWT_SECRET)
        .broker(broker)
        .executor(HostQueue(jobs))
        .build()
        .expect("a hub on Redis with an executor builds");
    let mut owner = connect(&b, "u9", "user", "s9", "modules");
    a.emit_module_online("m9", &json!({"userId": "u9"}))
        .expect("online");
    let job = queued
        .recv_timeout(Duration::from_secs(5))
        .expect("A's emit reaches B's executor");
    // Until the host runs that job, B's tab has nothing of it: a sentinel emitted on B
    // in place now arrives first.
    assert!(names_before_sentinel(&b, &mut owner, "u9").is_empty());
    job();
    assert_eq!(
        expect_soon(&mut owner, "module:status:changed")["moduleId"],
        "m9"
    );
}
