//! Admin monitoring over real sockets: the batched `admin:activity` feed, `admin:alert` /
//! `admin:alert:cleared`, `admin:server:stats`, the opt-in `module:status:batch`, and
//! isolation: a non-admin connection never receives a monitoring event (each "nothing"
//! is checked up to a sentinel the same connection receives afterwards).

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use microcoaster_realtime::{Alert, AlertLevel, AlertRules, Hub, MonitorConfig};
use serde_json::{Value, json};

fn monitored(config: MonitorConfig) -> Hub {
    builder().monitor(config).build().unwrap()
}

fn fast() -> MonitorConfig {
    MonitorConfig {
        stats_interval: Duration::from_millis(50),
        activity_window: Duration::from_millis(20),
        ..MonitorConfig::default()
    }
}

/// Reads events until one named `name` arrives (others are returned alongside).
async fn until(client: &mut SioWs, name: &str) -> (Value, Vec<String>) {
    let mut seen = Vec::new();
    within(name, async {
        loop {
            let (event, data) = client.event().await;
            if event == name {
                return (data, seen);
            }
            seen.push(event);
        }
    })
    .await
}

/// Reads events up to the sentinel `n`; returns the names seen before it.
async fn names_until_sentinel(client: &mut SioWs, n: u64) -> Vec<String> {
    let (data, seen) = until(client, SENTINEL).await;
    assert_eq!(data["n"], json!(n));
    seen
}

#[test]
fn non_admins_never_receive_monitoring_events() {
    let server = serve(monitored(fast()), config());
    run(async {
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        let mut admin_elsewhere = SioWs::login(
            server.addr,
            "admin-modules",
            &token("root2", "admin", None),
            "modules",
        )
        .await;
        let mut owner =
            SioWs::login(server.addr, "owner", &token("u1", "user", None), "modules").await;
        let mut nosy = SioWs::login(server.addr, "nosy", &token("u2", "user", None), "admin").await;
        let hub = &server.hub;
        hub.emit_module_added(&json!({"id": "MC-1", "userId": "u1", "name": "Station"}))
            .unwrap();
        hub.emit_module_online("MC-1", &json!({"userId": "u1"}))
            .unwrap();
        hub.emit_user_registered(&json!({"id": "u3", "name": "Carol", "email": "c@example.org"}))
            .unwrap();
        let mut kinds = Vec::new();
        while kinds.len() < 3 {
            let (activity, _) = until(&mut admin, "admin:activity").await;
            for entry in activity["entries"].as_array().unwrap() {
                assert!(entry.get("email").is_none() && entry.get("name") != Some(&json!("Carol")));
                kinds.push(entry["kind"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(kinds, ["module_added", "module_online", "user_registered"]);
        let (stats, _) = until(&mut admin, "admin:server:stats").await;
        assert_eq!(stats["connections"]["byPage"]["admin"]["admins"], 1);
        assert_eq!(stats["connections"]["byPage"]["admin"]["users"], 1);
        assert_eq!(stats["connections"]["byPage"]["modules"]["users"], 1);
        assert_eq!(stats["connections"]["byPage"]["modules"]["admins"], 1);
        // The monitor published under the emit lock before this point: anything it sent
        // to the others is queued ahead of their sentinels.
        for (client, user) in [
            (&mut owner, "u1"),
            (&mut nosy, "u2"),
            (&mut admin_elsewhere, "root2"),
        ] {
            send_sentinel(hub, user, 1);
            let seen = names_until_sentinel(client, 1).await;
            assert!(
                seen.iter().all(|name| !name.starts_with("admin:")),
                "{user} received {seen:?}"
            );
        }
    });
}

#[test]
fn a_burst_of_500_modules_online_arrives_as_a_few_activity_events() {
    let server = serve(monitored(MonitorConfig::default()), config());
    run(async {
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        let emits = 500;
        for i in 0..emits {
            server
                .hub
                .emit_module_online(
                    &format!("MC-{i:04}"),
                    &json!({"userId": format!("u{}", i % 7)}),
                )
                .unwrap();
        }
        let (mut entries, mut messages, mut status_frames) = (0u64, 0u64, 0u64);
        while entries < emits {
            let (activity, seen) = until(&mut admin, "admin:activity").await;
            status_frames += seen
                .iter()
                .filter(|n| *n == "module:status:changed")
                .count() as u64;
            messages += 1;
            entries += activity["counts"]["module_online"].as_u64().unwrap_or(0);
        }
        println!(
            "burst: {emits} module_online emits -> {messages} admin:activity events \
             ({status_frames} module:status:changed mirrored to the admin page)"
        );
        assert_eq!(entries, emits);
        assert!(messages <= 4, "{messages} activity events for one burst");
    });
}

#[test]
fn alerts_are_raised_once_and_cleared_once() {
    let monitor = MonitorConfig {
        alerts: AlertRules {
            offline_together: 5,
            offline_together_window: Duration::from_millis(300),
            auth_failures: 3,
            ..AlertRules::default()
        },
        ..fast()
    };
    let server = serve(monitored(monitor), config());
    run(async {
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        let hub = &server.hub;
        for i in 0..8 {
            hub.emit_module_online(&format!("MC-{i}"), &json!({"userId": "u1"}))
                .unwrap();
        }
        for i in 0..8 {
            hub.emit_module_offline(&format!("MC-{i}"), &json!({"userId": "u1"}))
                .unwrap();
        }
        let (alert, _) = until(&mut admin, "admin:alert").await;
        assert_eq!(alert["kind"], "modules_offline_together");
        assert_eq!(alert["level"], "warning");
        assert_eq!(alert["data"]["userId"], "u1");
        let (cleared, seen) = until(&mut admin, "admin:alert:cleared").await;
        assert_eq!(cleared["id"], alert["id"]);
        assert!(
            !seen.contains(&"admin:alert".to_owned()),
            "raised twice: {seen:?}"
        );

        for attempt in 0..3 {
            let mut intruder = SioWs::open(server.addr, &format!("intruder-{attempt}")).await;
            let reply = intruder
                .connect_ns(Some(&auth("not-a-token", "modules")))
                .await;
            assert!(reply.starts_with("44"), "refused: {reply}");
        }
        let (alert, _) = until(&mut admin, "admin:alert").await;
        assert_eq!(alert["kind"], "auth_failures");
        assert_eq!(alert["data"]["address"], "127.0.0.1");
        assert_eq!(hub.alerts().len(), 1);
    });
}

#[test]
fn module_status_batch_is_opt_in_and_admins_keep_per_module_events() {
    let monitor = MonitorConfig {
        user_status_batch: true,
        activity_window: Duration::from_millis(100),
        ..fast()
    };
    let server = serve(monitored(monitor), config());
    run(async {
        let mut owner =
            SioWs::login(server.addr, "owner", &token("u1", "user", None), "modules").await;
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        for i in 0..50 {
            server
                .hub
                .emit_module_online(&format!("MC-{i}"), &json!({"userId": "u1"}))
                .unwrap();
        }
        let mut modules = 0;
        let mut batches = 0;
        while modules < 50 {
            let (batch, seen) = until(&mut owner, "module:status:batch").await;
            assert!(seen.is_empty(), "owner got {seen:?} besides the batch");
            assert_eq!(batch["userId"], "u1");
            modules += batch["modules"].as_array().unwrap().len();
            batches += 1;
        }
        assert_eq!(modules, 50);
        assert!(batches <= 3, "{batches} batches");
        let mut changes = 0;
        while changes < 50 {
            let (name, data) = admin.event().await;
            match name.as_str() {
                "module:status:changed" => {
                    assert_eq!(data["moduleId"], format!("MC-{changes}"));
                    changes += 1;
                }
                "admin:activity" | "admin:server:stats" => {}
                other => panic!("admin got {other} before all 50 status changes"),
            }
        }
        send_sentinel(&server.hub, "u1", 1);
        assert!(names_until_sentinel(&mut owner, 1).await.is_empty());
    });
}

#[test]
fn a_host_rule_raises_its_own_alert_from_the_server_stats() {
    let rule = |stats: &Value| -> Vec<Alert> {
        if stats["connections"]["admins"].as_u64() >= Some(1) {
            vec![Alert {
                level: AlertLevel::Info,
                kind: "admin_watching".into(),
                subject: String::new(),
                message: "an admin is watching".into(),
                data: json!({"admins": stats["connections"]["admins"]}),
            }]
        } else {
            Vec::new()
        }
    };
    let monitor = MonitorConfig {
        alerts: AlertRules {
            custom: vec![Arc::new(rule)],
            ..AlertRules::default()
        },
        ..fast()
    };
    let server = serve(monitored(monitor), config());
    run(async {
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        let (alert, _) = until(&mut admin, "admin:alert").await;
        assert_eq!(alert["kind"], "admin_watching");
        assert_eq!(alert["level"], "info");
        assert_eq!(alert["data"]["admins"], 1);
    });
}

#[test]
fn connections_near_the_limit_raise_an_alert_that_clears_when_they_leave() {
    let limited = microcoaster_realtime::ServerConfig {
        max_connections: 2,
        ..config()
    };
    let server = serve(monitored(fast()), limited);
    run(async {
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        let user = SioWs::login(server.addr, "user", &token("u1", "user", None), "modules").await;
        let (alert, _) = until(&mut admin, "admin:alert").await;
        assert_eq!(alert["kind"], "connections_near_limit");
        assert_eq!(alert["level"], "critical");
        assert_eq!(alert["data"], json!({"connections": 2, "limit": 2}));
        drop(user);
        let (cleared, seen) = until(&mut admin, "admin:alert:cleared").await;
        assert_eq!(cleared["id"], "connections_near_limit");
        assert!(!seen.contains(&"admin:alert".to_owned()), "{seen:?}");
    });
}

#[test]
fn a_slow_consumer_close_raises_an_alert() {
    let hub = builder().queue_capacity(8).monitor(fast()).build().unwrap();
    let server = serve(hub, config());
    run(async {
        let mut admin =
            SioWs::login(server.addr, "admin", &token("root", "admin", None), "admin").await;
        let _stalled = SioWs::login(
            server.addr,
            "stalled",
            &token("slow", "user", None),
            "modules",
        )
        .await;
        // The stalled client never reads: once the kernel buffers are full its queue
        // (8 frames) overflows and the hub closes it.
        let chunk = "x".repeat(32 * 1024);
        let mut sent = 0;
        while server.hub.metrics().slow_consumer_closes.total() == 0 {
            assert!(sent < 100_000, "no overflow after {sent} frames");
            let _ = server
                .hub
                .emit_to_user("slow", "bulk:data", &json!({"chunk": chunk}));
            sent += 1;
        }
        let (alert, _) = until(&mut admin, "admin:alert").await;
        assert_eq!(alert["kind"], "slow_consumers");
        assert_eq!(alert["data"]["closes"], 1);
    });
}
