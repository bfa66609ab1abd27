//! What an emit costs Redis, counted by Redis itself (`INFO commandstats`) against a
//! real `redis-server`: two hubs in one process stand for two nodes. Guards
//! `broker/redis/batch.rs` (one script call per batch of claims) and the rule that an
//! unchanged emit never reaches another node.

use std::collections::HashMap;

use microcoaster_realtime::EmitOutcome;
use serde_json::json;

use crate::broker_redis::names_before_sentinel;
use crate::nodes::node;
use crate::redis_server::{Redis, start_redis};
use crate::support::connect;

/// Calls per command so far (`publish`, `evalsha`, …), as Redis counts them.
fn calls(redis: &Redis) -> HashMap<String, u64> {
    let mut c = redis::Client::open(redis.url.as_str())
        .and_then(|client| client.get_connection())
        .expect("a test connection to Redis");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let count = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), count))
        })
        .collect()
}

fn count(calls: &HashMap<String, u64>, command: &str) -> u64 {
    calls.get(command).copied().unwrap_or(0)
}

#[test]
fn an_unchanged_emit_is_one_claim_in_redis_and_reaches_no_other_node() {
    let redis = start_redis();
    let (a, b) = (node(&redis.url), node(&redis.url));
    let mut on_b = connect(&b, "u3", "user", "s3", "modules");
    let info = json!({"userId": "u3"});
    let telemetry = json!({"speed": 4});
    a.emit_module_added(&json!({"id": "m3", "userId": "u3"}))
        .expect("added");
    a.emit_module_online("m3", &info).expect("online");
    a.emit_telemetry_update("m3", &telemetry)
        .expect("telemetry");
    // The changes reached B (positive check), and everything A published is in.
    let names = names_before_sentinel(&a, &mut on_b, "u3");
    assert_eq!(
        names,
        [
            "user:module:added",
            "module:status:changed",
            "module:telemetry:updated"
        ]
    );
    let before = calls(&redis);
    for _ in 0..25 {
        assert_eq!(
            a.emit_module_online("m3", &info).expect("online"),
            EmitOutcome::Unchanged
        );
        assert_eq!(
            a.emit_telemetry_update("m3", &telemetry)
                .expect("telemetry"),
            EmitOutcome::Unchanged
        );
    }
    let after = calls(&redis);
    // Redis decides (the local mirror may be behind another node): one script call
    // per claim made alone, and nothing published.
    assert_eq!(count(&after, "evalsha") - count(&before, "evalsha"), 50);
    assert_eq!(count(&after, "publish"), count(&before, "publish"));
    // And B's tab got nothing before the sentinel sent after them.
    assert_eq!(
        names_before_sentinel(&a, &mut on_b, "u3"),
        Vec::<String>::new()
    );
}

#[test]
fn concurrent_claims_go_to_redis_as_one_script_call_per_batch() {
    let redis = start_redis();
    let (a, b) = (node(&redis.url), node(&redis.url));
    let mut on_b = connect(&b, "u4", "user", "s4", "modules");
    for t in 0..8 {
        a.emit_module_added(&json!({"id": format!("b{t}"), "userId": "u4"}))
            .expect("added");
    }
    // Their publications are sent: the counts below start after them.
    names_before_sentinel(&a, &mut on_b, "u4");
    let before = calls(&redis);
    let stats_before = a.metrics().broker.expect("a shared broker reports");
    std::thread::scope(|scope| {
        for t in 0..8 {
            let a = a.clone();
            scope.spawn(move || {
                for i in 0..100 {
                    let outcome = a
                        .emit_telemetry_update(&format!("b{t}"), &json!({ "i": i }))
                        .expect("telemetry");
                    assert!(matches!(outcome, EmitOutcome::Delivered { .. }));
                }
            });
        }
    });
    let stats = a.metrics().broker.expect("a shared broker reports");
    let claims = stats.claims - stats_before.claims;
    let round_trips = stats.claim_round_trips - stats_before.claim_round_trips;
    assert_eq!(claims, 800);
    let after = calls(&redis);
    assert_eq!(
        count(&after, "evalsha") - count(&before, "evalsha"),
        round_trips,
        "one script call per round trip"
    );
    assert!(
        round_trips < claims,
        "concurrent claims shared calls: {stats:?}"
    );
    // Every changed emit is published once, and only those: B has A's sentinel, so
    // everything A queued before it was sent.
    names_before_sentinel(&a, &mut on_b, "u4");
    let after = calls(&redis);
    assert_eq!(
        count(&after, "publish") - count(&before, "publish"),
        801,
        "800 changed emits and the sentinel"
    );
}
