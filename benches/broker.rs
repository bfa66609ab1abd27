//! What the Redis broker adds to the emit path, against the in-memory broker, in one run.
//! Starts its own `redis-server` on a free port (`tests/cluster/redis_server.rs`, shared
//! with the cluster tests; fails if there is none; set `MCRT_REDIS_SERVER` to name the
//! binary). Persistence off, no subscriber on the emitting hub, so the difference is the
//! broker's own work.
//!
//! - `broker/{in_memory,redis}/changed`: telemetry alternating between two values (one
//!   Lua compare-and-set and one `PUBLISH` with Redis).
//! - `broker/{in_memory,redis}/unchanged`: the same telemetry again (one compare-and-set).
//! - `broker/{in_memory,redis}/changed_{8,32}_threads`: 8 or 32 threads each changing
//!   its own module's telemetry (per element: one changed emit; the Redis claims of
//!   concurrent emits go to Redis as one call of the claim script per batch, the
//!   publications in pipelines; prints the claims and round trips). Each emitter waits
//!   for its claim's answer, so the rate grows with the emitters in flight: 32 stands
//!   for a node serving many modules' requests at once.
//! - `broker/redis/cross_node_delivery`: an emit on one hub until a connection of another
//!   hub on the same Redis has its frame (claim, publish, subscriber, mirror, fan-out).
//! - `broker/redis_history/*`: the same three Redis cases with the event history on
//!   (`Hub::keep_event_history`: each changed emit's publication is one Lua script that
//!   also appends its event to a Redis Stream). The publication is asynchronous, so
//!   the emit-path cases show the recording cost, `changed_8_threads` the sustained
//!   rate, and `cross_node_delivery` the script's latency; each variant prints its
//!   publish failures (a publisher that fell behind drops and counts).
//!
//! Each case runs with only the hubs it needs alive. Run with `scripts/bench broker
//! --warm-up-time 1 --measurement-time 3`.

#[path = "../tests/cluster/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use microcoaster_realtime::broker::RedisBroker;
use microcoaster_realtime::transport::in_process::Received;
use microcoaster_realtime::{EmitOutcome, Hub};
use redis_server::{Redis, start_redis};
use serde_json::json;

const SECRET: &[u8] = b"bench-secret";

/// A hub without a broker, or on `redis` under key prefix `prefix` (each case has its
/// own, so no case starts from another's state).
fn hub(redis: Option<(&Redis, &str)>) -> Hub {
    let builder = Hub::builder().jwt_secret(SECRET);
    match redis {
        Some((redis, prefix)) => {
            builder.broker(RedisBroker::with_prefix(&redis.url, prefix).expect("Redis answers"))
        }
        None => builder,
    }
    .build()
    .expect("hub builds")
}

static CASES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh key prefix.
fn prefix() -> String {
    let case = CASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("bench{case}:")
}

/// A hub on `redis` under `prefix` keeping the event history (a two-minute window).
fn history_hub(redis: &Redis, prefix: &str) -> Hub {
    let hub = hub(Some((redis, prefix)));
    assert!(hub.keep_event_history(Duration::from_secs(120)));
    hub
}

/// A hub of variant `name` (no broker, Redis, or Redis with the history) under
/// `prefix`.
fn variant(name: &str, redis: &Redis, prefix: &str) -> Hub {
    match name {
        "in_memory" => hub(None),
        "redis" => hub(Some((redis, prefix))),
        _ => history_hub(redis, prefix),
    }
}

const VARIANTS: [&str; 3] = ["in_memory", "redis", "redis_history"];

/// Prints the broker's publish failures (a publisher that fell behind drops and counts)
/// and its batches (claims per round trip).
fn report(name: &str, hub: &Hub) {
    if let Some(stats) = hub.metrics().broker {
        eprintln!(
            "{name}: publish failures {}, claims {} in {} round trips",
            stats.publish_failures, stats.claims, stats.claim_round_trips
        );
    }
}

// Each case's hubs are built for it and dropped after it: a hub left alive would mirror
// every publication of the measured one on the same two cores (another node of a
// deployment runs on its own machine).
fn emit_path(c: &mut Criterion) {
    let redis = start_redis();
    let mut group = c.benchmark_group("broker");
    for name in VARIANTS {
        let hub = variant(name, &redis, &prefix());
        hub.emit_module_added(&json!({"id": "m1", "userId": "u1"}))
            .expect("added");
        let values = [json!({"speed": 1}), json!({"speed": 2})];
        let mut flip = 0usize;
        group.bench_function(format!("{name}/changed"), |b| {
            b.iter(|| {
                flip ^= 1;
                hub.emit_telemetry_update("m1", &values[flip])
                    .expect("telemetry")
            });
        });
        // The value the unchanged case repeats is set here, not left to the changed case:
        // a filter can run this case alone (`broker/redis/unchanged`), and its first emit
        // would then be a change and fail the case's assertion.
        hub.emit_telemetry_update("m1", &values[flip])
            .expect("telemetry");
        group.bench_function(format!("{name}/unchanged"), |b| {
            b.iter(|| {
                let outcome = hub
                    .emit_telemetry_update("m1", &values[flip])
                    .expect("telemetry");
                assert_eq!(outcome, EmitOutcome::Unchanged);
            });
        });
    }
    for threads in THREADS {
        for name in VARIANTS {
            let hub = variant(name, &redis, &prefix());
            concurrent_changed(&mut group, name, &hub, threads);
            report(name, &hub);
        }
    }
    for name in ["redis", "redis_history"] {
        let prefix = prefix();
        let a = variant(name, &redis, &prefix);
        cross_node_delivery(&mut group, name, &a, &hub(Some((&redis, &prefix))));
    }
    group.finish();
}

/// An emit on `a` until a connection of `b` has its frame.
fn cross_node_delivery(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    a: &Hub,
    b: &Hub,
) {
    let mut tab = b.connect_in_process();
    let claims = json!({"sub": "u9", "role": "user", "exp": 4_000_000_000u64});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("HS256 encoding");
    tab.authenticate(json!({"token": token, "page": "modules"}))
        .expect("JWT authentication");
    let _ = tab.drain_now();
    a.emit_module_added(&json!({"id": "m9", "userId": "u9"}))
        .expect("added");
    let _ = tab.recv_timeout(Duration::from_secs(5));
    let mut n = 0u64;
    group.bench_function(format!("{name}/cross_node_delivery"), |bench| {
        bench.iter(|| {
            n += 1;
            a.emit_telemetry_update("m9", &json!({ "n": n }))
                .expect("telemetry");
            match tab.recv_timeout(Duration::from_secs(5)) {
                Some(Received::Frame(_)) => {}
                other => panic!("no cross-node frame: {other:?}"),
            }
        });
    });
    report(name, a);
}

/// The emitter counts of `changed_<n>_threads`.
const THREADS: [u64; 2] = [8, 32];
static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `threads` emitters, each flipping its own module's telemetry; one element is one
/// changed emit, so criterion's time per element is the node's changed-emit rate.
fn concurrent_changed(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    hub: &Hub,
    threads: u64,
) {
    for t in 0..threads {
        hub.emit_module_added(&json!({"id": format!("c{t}"), "userId": "u1"}))
            .expect("added");
    }
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function(format!("{name}/changed_{threads}_threads"), |b| {
        b.iter_custom(|iters| {
            // A fresh value per call, so no emit repeats the previous call's last one.
            let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let per_thread = iters.div_ceil(threads);
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let hub = hub.clone();
                    scope.spawn(move || {
                        let module = format!("c{t}");
                        for i in 0..per_thread {
                            let outcome = hub
                                .emit_telemetry_update(&module, &json!({"i": i, "run": run}))
                                .expect("telemetry");
                            assert_ne!(outcome, EmitOutcome::Unchanged);
                        }
                    });
                }
            });
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_thread * threads) as f64)
        });
    });
}

criterion_group!(benches, emit_path);
criterion_main!(benches);
