//! Cluster-wide admin monitoring against a real `redis-server`: two monitored hubs in one
//! process stand for two nodes. An admin on one node sees the other node's activity and
//! alerts once each, named with their node; `admin:server:stats` shows every node's
//! figures and their totals; a node that leaves has its alerts cleared; non-admins get
//! none of it (each "nothing" checked up to a sentinel).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use microcoaster_realtime::broker::RedisBroker;
use microcoaster_realtime::transport::in_process::Received;
use microcoaster_realtime::{AlertRules, HandshakeContext, Hub, MonitorConfig};
use serde_json::{Value, json};

use crate::broker_redis::names_before_sentinel;
use crate::redis_server::{Redis, start_redis};
use crate::support::{JWT_SECRET, Tab, connect};

fn monitored(redis: &Redis, node_id: &str) -> Hub {
    let broker = RedisBroker::with_options(&redis.url, "mcrt:", Some(node_id)).expect("joins");
    Hub::builder()
        .jwt_secret(JWT_SECRET)
        .broker(broker)
        .monitor(MonitorConfig {
            stats_interval: Duration::from_millis(100),
            activity_window: Duration::from_millis(20),
            alerts: AlertRules {
                auth_failures: 3,
                offline_together: 3,
                ..AlertRules::default()
            },
            ..MonitorConfig::default()
        })
        .build()
        .expect("a monitored hub on Redis builds")
}

/// Every frame `tab` receives until one satisfies `done` (included), bounded.
fn frames_until(tab: &mut Tab, mut done: impl FnMut(&str, &Value) -> bool) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tab.conn.recv_timeout(left) {
            Some(Received::Frame(frame)) => {
                let (name, payload) = (frame.name().to_owned(), frame.payload().clone());
                let finished = done(&name, &payload);
                frames.push((name, payload));
                if finished {
                    return frames;
                }
            }
            other => panic!("still waiting after {frames:?}; then {other:?}"),
        }
    }
}

/// The activity entries about `module` in `frames`.
fn entries_about<'a>(frames: &'a [(String, Value)], module: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|(name, _)| name == "admin:activity")
        .flat_map(|(_, payload)| payload["entries"].as_array().into_iter().flatten())
        .filter(|entry| entry["moduleId"] == module)
        .collect()
}

fn alerts_of<'a>(frames: &'a [(String, Value)], name: &str, kind: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|(event, payload)| event == name && payload["kind"] == kind)
        .map(|(_, payload)| payload)
        .collect()
}

/// Three refused authentications from one address on `hub`: its `auth_failures`.
fn fail_auth(hub: &Hub) {
    let address: SocketAddr = "10.9.8.7:4000".parse().expect("an address");
    for _ in 0..3 {
        let conn = hub.connect_in_process_with(HandshakeContext {
            remote_addr: Some(address),
            ..HandshakeContext::default()
        });
        assert!(
            conn.authenticate(json!({"token": "not-a-token", "page": "modules"}))
                .is_err()
        );
    }
}

/// Reads `admin`'s frames until the feed shows `marker` (emitted on `via` after
/// everything under test), so anything sent twice would have arrived.
fn through_marker(admin: &mut Tab, via: &Hub, marker: &str) -> Vec<(String, Value)> {
    via.emit_module_online(marker, &json!({"userId": "u9"}))
        .expect("marker");
    let mut seen = false;
    frames_until(admin, |name, payload| {
        seen |= name == "admin:activity"
            && payload["entries"]
                .as_array()
                .is_some_and(|entries| entries.iter().any(|e| e["moduleId"] == marker));
        seen
    })
}

#[test]
fn another_nodes_activity_and_alerts_reach_each_admin_once_with_their_node() {
    let redis = start_redis();
    let (a, b) = (monitored(&redis, "node-a"), monitored(&redis, "node-b"));
    let mut admin_a = connect(&a, "root", "admin", "s1", "admin");
    let mut admin_b = connect(&b, "boss", "admin", "s2", "admin");
    let mut user_a = connect(&a, "u1", "user", "s3", "modules");
    let mut user_b = connect(&b, "u2", "user", "s4", "modules");

    for module in ["MB-1", "MB-2", "MB-3"] {
        b.emit_module_online(module, &json!({"userId": "u9"}))
            .expect("online on B");
    }
    a.emit_module_online("MA-1", &json!({"userId": "u9"}))
        .expect("online on A");
    fail_auth(&b);
    // Cluster-scoped: every node sees these changes and raises it for its own admins.
    for module in ["MB-1", "MB-2", "MB-3"] {
        b.emit_module_offline(module, &json!({"userId": "u9"}))
            .expect("offline on B");
    }

    for (admin, own, via) in [(&mut admin_a, "node-a", &a), (&mut admin_b, "node-b", &b)] {
        // Both alerts first (B may publish its alert before its offline emits reach
        // this node), then the marker.
        let mut kinds = std::collections::BTreeSet::new();
        let mut frames = frames_until(admin, |name, payload| {
            if name == "admin:alert" {
                kinds.insert(payload["kind"].as_str().unwrap_or_default().to_owned());
            }
            kinds.contains("auth_failures") && kinds.contains("modules_offline_together")
        });
        frames.extend(through_marker(admin, via, &format!("marker-{own}")));
        let from_b = entries_about(&frames, "MB-1");
        assert_eq!(
            from_b.len(),
            2,
            "{own}: online and offline of MB-1, once each: {from_b:?}"
        );
        assert!(
            from_b.iter().all(|entry| entry["node"] == "node-b"),
            "{from_b:?}"
        );
        let from_a = entries_about(&frames, "MA-1");
        assert_eq!(from_a.len(), 1, "{own}: {from_a:?}");
        assert_eq!(from_a[0]["node"], "node-a");

        let raised = alerts_of(&frames, "admin:alert", "auth_failures");
        assert_eq!(raised.len(), 1, "{own}: raised once: {raised:?}");
        assert_eq!(raised[0]["node"], "node-b");
        assert_eq!(raised[0]["scope"], "node");
        assert_eq!(raised[0]["id"], "auth_failures:10.9.8.7@node-b");
        let together = alerts_of(&frames, "admin:alert", "modules_offline_together");
        assert_eq!(together.len(), 1, "{own}: not doubled: {together:?}");
        assert_eq!(together[0]["scope"], "cluster");
        assert_eq!(together[0]["node"], own, "raised by the admin's own node");
    }
    let listed: Vec<Value> = a
        .alerts()
        .into_iter()
        .map(|alert| alert["id"].clone())
        .collect();
    assert!(
        listed.contains(&json!("auth_failures:10.9.8.7@node-b")),
        "{listed:?}"
    );

    assert!(names_before_sentinel(&a, &mut user_a, "u1").is_empty());
    assert!(names_before_sentinel(&b, &mut user_b, "u2").is_empty());
}

#[test]
fn server_stats_on_one_node_show_every_node_and_their_totals() {
    let redis = start_redis();
    let (a, b) = (monitored(&redis, "node-a"), monitored(&redis, "node-b"));
    let mut admin = connect(&a, "root", "admin", "s1", "admin");
    let _users_b = [
        connect(&b, "u1", "user", "s2", "modules"),
        connect(&b, "u2", "user", "s3", "dashboard"),
    ];
    let mut user_a = connect(&a, "u3", "user", "s4", "modules");
    let frames = frames_until(&mut admin, |name, stats| {
        name == "admin:server:stats"
            && ["node-a", "node-b"].iter().all(|node| {
                let figures = &stats["cluster"]["byNode"][node];
                figures["eventsPerSecond"].is_object() && figures["onlineUsers"].is_u64()
            })
            && stats["cluster"]["byNode"]["node-b"]["connections"]["users"] == 2
    });
    let stats = &frames.last().expect("the stats").1;
    assert_eq!(stats["node"], "node-a");
    let cluster = &stats["cluster"];
    assert_eq!(cluster["nodes"], 2);
    let nodes = [&cluster["byNode"]["node-a"], &cluster["byNode"]["node-b"]];
    let sum_u64 = |path: &[&str]| -> u64 {
        nodes
            .iter()
            .map(|node| {
                path.iter()
                    .fold(*node, |value, key| &value[*key])
                    .as_u64()
                    .expect("a count")
            })
            .sum()
    };
    let sum_f64 = |path: &[&str]| -> f64 {
        nodes
            .iter()
            .map(|node| {
                path.iter()
                    .fold(*node, |value, key| &value[*key])
                    .as_f64()
                    .expect("a rate")
            })
            .sum()
    };
    assert_eq!(
        cluster["connections"]["total"],
        sum_u64(&["connections", "total"])
    );
    assert_eq!(
        cluster["connections"]["users"],
        sum_u64(&["connections", "users"])
    );
    assert_eq!(
        cluster["connections"]["users"], 3,
        "two users on B, one on A"
    );
    assert_eq!(
        cluster["process"]["rssMiB"],
        sum_u64(&["process", "rssMiB"])
    );
    assert_eq!(
        cluster["queues"]["depthTotal"],
        sum_u64(&["queues", "depthTotal"])
    );
    for direction in ["in", "out"] {
        let total = cluster["eventsPerSecond"][direction]
            .as_f64()
            .expect("a rate");
        let sum = sum_f64(&["eventsPerSecond", direction]);
        assert!((total - sum).abs() < 0.11, "{direction}: {total} vs {sum}");
    }
    assert!(
        nodes
            .iter()
            .all(|node| node["process"]["rssMiB"].as_u64() > Some(0))
    );
    assert!(names_before_sentinel(&a, &mut user_a, "u3").is_empty());
}

#[test]
fn a_departed_nodes_alerts_are_cleared_on_the_others() {
    let redis = start_redis();
    let (a, b) = (monitored(&redis, "node-a"), monitored(&redis, "node-b"));
    let mut admin = connect(&a, "root", "admin", "s1", "admin");
    fail_auth(&b);
    let frames = frames_until(&mut admin, |name, _| name == "admin:alert");
    let raised = &frames.last().expect("the alert").1;
    assert_eq!(raised["node"], "node-b");
    drop(b);
    let frames = frames_until(&mut admin, |name, _| name == "admin:alert:cleared");
    let cleared = &frames.last().expect("the clearing").1;
    assert_eq!(cleared["id"], raised["id"]);
    assert_eq!(cleared["reason"], "node_left");
    assert!(a.alerts().is_empty(), "{:?}", a.alerts());
    assert!(alerts_of(&frames, "admin:alert", "auth_failures").is_empty());
}

/// A node that joins after another raised a node-scoped alert takes it from that node's
/// heartbeat report: its admin gets the `admin:alert` once (named with the raising
/// node), `Hub::alerts` lists it, and a user gets none of it.
#[test]
fn a_node_that_joins_later_shows_the_alerts_raised_before_it() {
    const ID: &str = "auth_failures:10.9.8.7@node-b";
    let redis = start_redis();
    let b = monitored(&redis, "node-b");
    fail_auth(&b);
    // Redis offers no event for a report being rewritten: polled, bounded.
    let mut c = redis::Client::open(redis.url.as_str())
        .and_then(|client| client.get_connection())
        .expect("a test connection");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report: Option<String> = redis::cmd("GET")
            .arg("{mcrt:}node:node-b")
            .query(&mut c)
            .expect("GET");
        if report.is_some_and(|report| report.contains(ID)) {
            break;
        }
        assert!(Instant::now() < deadline, "B's report never listed {ID}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let late = monitored(&redis, "node-c");
    let mut admin = connect(&late, "root", "admin", "s1", "admin");
    let mut user = connect(&late, "u1", "user", "s2", "modules");
    let mut frames = frames_until(&mut admin, |name, payload| {
        name == "admin:alert" && payload["id"] == ID
    });
    frames.extend(through_marker(&mut admin, &late, "marker-late"));
    let raised = alerts_of(&frames, "admin:alert", "auth_failures");
    assert_eq!(raised.len(), 1, "raised once: {raised:?}");
    assert_eq!(raised[0]["node"], "node-b");
    let listed: Vec<Value> = late
        .alerts()
        .into_iter()
        .map(|alert| alert["id"].clone())
        .collect();
    assert!(listed.contains(&json!(ID)), "{listed:?}");
    assert!(names_before_sentinel(&late, &mut user, "u1").is_empty());
}
