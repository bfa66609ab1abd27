//! Persistence benchmarks (issue 6), into a real SQLite file in the temp dir.
//!
//! - `persist/audit_batched`: audit rows per second through the batched writer (WAL, a
//!   commit every 1,000 rows, the WAL fsynced at most every 50 ms). The timed body
//!   enqueues rows with `Persistence::audit` and ends with `flush()`, so every row
//!   counted is committed. Records are built once, outside the timed body (building one
//!   is the hub's cost); `audit` serializes each record's detail on the calling thread,
//!   as in the hub. The queue is sized so that nothing is dropped; the run fails if
//!   anything was. Target ≥ 200,000 rows/s.
//! - `persist/audit_enqueue`: the emitting thread's cost of one `audit` call in
//!   `Batched` mode (serialize the detail, `try_send`); the flushes are not timed.
//!
//! Run with `cargo bench --bench persist` (`scripts/bench` runs the `fanout` bench only).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use microcoaster_realtime::hooks::{AuditKind, AuditOutcome, AuditRecord};
use microcoaster_realtime::persist::{Durability, PersistConfig, Persistence};
use microcoaster_realtime::{ModuleId, UserId};
use serde_json::json;

/// Rows enqueued between two flushes: more than the queue could hold would drop.
const CHUNK: u64 = 20_000;

fn record(i: u64, user: &UserId, module: &ModuleId) -> AuditRecord {
    AuditRecord {
        timestamp: microcoaster_realtime::event::now_ms(),
        kind: AuditKind::Emit,
        action: "module_online".to_owned(),
        user_id: Some(user.clone()),
        module_id: Some(module.clone()),
        connection: None,
        outcome: AuditOutcome::Delivered {
            connections: (i % 3) as usize,
        },
        detail: json!({"moduleId": module, "info": {"type": "Station", "userId": user}}),
    }
}

fn audit_batched(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mcrt-bench-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = PersistConfig {
        queue_capacity: 2 * CHUNK as usize,
        ..PersistConfig::new(Durability::Batched)
    };
    let db = Persistence::open_with(dir.join("bench.db"), config).expect("open");
    let user = UserId::new("123").expect("id");
    let module = ModuleId::new("MC-1234-STN").expect("id");
    // Built once: the caller's cost of making a record is the hub's, not persistence's.
    let records: Vec<AuditRecord> = (0..16).map(|i| record(i, &user, &module)).collect();

    let mut group = c.benchmark_group("persist");
    group.throughput(Throughput::Elements(1));
    group.bench_function("audit_batched", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut done = 0;
            while done < iters {
                let chunk = CHUNK.min(iters - done);
                for i in 0..chunk {
                    let _ = db.audit(&records[((done + i) % 16) as usize]);
                }
                db.flush().expect("flush");
                done += chunk;
            }
            start.elapsed()
        });
    });
    // The hot-path cost alone: the time `audit` takes on the emitting thread; the
    // writer's flushes between chunks are not timed.
    group.bench_function("audit_enqueue", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let chunk = CHUNK.min(iters - done);
                let start = Instant::now();
                for i in 0..chunk {
                    let _ = db.audit(&records[((done + i) % 16) as usize]);
                }
                timed += start.elapsed();
                db.flush().expect("flush");
                done += chunk;
            }
            timed
        });
    });
    group.finish();

    let metrics = db.metrics();
    assert_eq!(
        metrics.rows_dropped, 0,
        "rows dropped: the figure is invalid"
    );
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = audit_batched
}
criterion_main!(benches);
