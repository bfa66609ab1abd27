//! Emit-path benchmarks (DESIGN §3 performance targets; in memory, persistence off).
//!
//! Every timed body does the real work: the store decides the change, the registry
//! resolves the audience, and the frame is pushed into the real bounded queues of real
//! in-process connections. Queues are drained (and their wake consumed, as a transport
//! would) outside the timed region.
//!
//! - `fanout/admin_broadcast/{N}`: one `emit_admin_action` reaching N admin connections
//!   on the `admin` page; throughput is per recipient.
//! - `fanout/one_user/{N}`: one `emit_to_user` for a user with 2 tabs while N connections
//!   of other users are attached; must not depend on N.
//! - `store/unchanged`: `emit_module_online` for a module already online.
//! - `store/changed_no_subscribers`: telemetry alternating between two values for a
//!   module whose owner has no connection.
//! - `registry/auth_churn`: connect + session-authenticate + drop with 10,000 other
//!   connections attached.
//!
//! - `persistence/{off,batched}/unchanged` and `persistence/{off,batched}/admin_broadcast_10000`:
//!   the same emits on a hub without and with SQLite persistence (batched), in one run,
//!   to read the cost persistence adds to the emit path. The writer is flushed outside
//!   the timing every few thousand emits, so what is timed is the hot path (change
//!   decision, audit row enqueued), not a queue that overflows and drops.
//!
//! Each benchmark sets up its hub and connections when it first runs, so a filtered run
//! (`scripts/bench fanout/admin_broadcast/1000`) pays only for what it measures.
//!
//! Run with `scripts/bench` (e.g. `scripts/bench --warm-up-time 1 --measurement-time 3`);
//! `FANOUT_DRAIN_EVERY=64 scripts/bench fanout/` models readers that lag behind.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use microcoaster_realtime::persist::Durability;
use microcoaster_realtime::{EmitOutcome, Hub, InProcessConnection};
use serde_json::{Value, json};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// Emits between two (untimed) drains of every queue (`FANOUT_DRAIN_EVERY`, default 1).
/// 1 is the steady state of a transport that keeps up: every push finds an empty queue
/// and wakes its reader; a larger value models readers that lag behind.
fn drain_every() -> u64 {
    std::env::var("FANOUT_DRAIN_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&k| k >= 1 && k < QUEUE_CAPACITY as u64 / 2)
        .unwrap_or(1)
}

/// Comfortably above `FANOUT_DRAIN_EVERY` frames plus the `auth:ok` / `page:snapshot`
/// replies.
const QUEUE_CAPACITY: usize = 1_024;

fn new_hub() -> Hub {
    Hub::builder()
        .queue_capacity(QUEUE_CAPACITY)
        .build()
        .expect("default hub builds")
}

/// Takes everything queued and consumes the pending wake, like a transport that was
/// woken and wrote its frames.
fn drain(connection: &mut InProcessConnection) -> usize {
    let frames = connection.drain_now().len();
    let _ = connection.recv_timeout(Duration::ZERO);
    frames
}

/// Registers `count` sessions (`{prefix}{i}`, one user each, with `role`), then opens
/// one connection per session and authenticates each on `page`. Sessions are all logged
/// in before anyone connects, so setup is linear in `count`. Connections are all opened
/// before any authenticates, so their queues sit together in the heap whatever the
/// authentication allocates (audit records with persistence): otherwise the persisted
/// hub's queues are scattered and its broadcasts measure heap layout, not persistence.
fn connect_many(
    hub: &Hub,
    prefix: &str,
    role: &str,
    page: &str,
    count: usize,
) -> Vec<InProcessConnection> {
    for i in 0..count {
        hub.emit_user_logged_in(
            &json!({"userId": format!("{prefix}{i}"), "role": role}),
            &format!("{prefix}-s{i}"),
        )
        .expect("login");
    }
    let mut connections: Vec<InProcessConnection> =
        (0..count).map(|_| hub.connect_in_process()).collect();
    for (i, connection) in connections.iter_mut().enumerate() {
        connection
            .authenticate(json!({"sessionId": format!("{prefix}-s{i}"), "page": page}))
            .expect("session authentication");
        drain(connection);
    }
    connections
}

/// Times `iters` calls of `emit`, draining every connection every `drain_every()` emits
/// outside the timing; checks each emit reached `expected` connections.
fn time_emits(
    iters: u64,
    connections: &mut [InProcessConnection],
    expected: usize,
    mut emit: impl FnMut(u64) -> EmitOutcome,
) -> Duration {
    let drain_every = drain_every();
    let mut elapsed = Duration::ZERO;
    for i in 0..iters {
        let start = Instant::now();
        let outcome = black_box(emit(i));
        elapsed += start.elapsed();
        assert_eq!(
            outcome,
            EmitOutcome::Delivered {
                connections: expected
            }
        );
        if (i + 1) % drain_every == 0 || i + 1 == iters {
            for connection in connections.iter_mut() {
                drain(connection);
            }
        }
    }
    elapsed
}

fn admin_broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout/admin_broadcast");
    let details = json!({"target": "42", "reason": "bench"});
    for n in SIZES {
        let mut setup = None;
        if n >= 10_000 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let (hub, admins) = setup.get_or_insert_with(|| {
                let hub = new_hub();
                let admins = connect_many(&hub, "admin", "admin", "admin", n);
                (hub, admins)
            });
            b.iter_custom(|iters| {
                time_emits(iters, admins, n, |_| {
                    hub.emit_admin_action("1", "user_promoted", &details)
                        .expect("admin action")
                })
            });
        });
    }
    group.finish();
}

fn one_user(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout/one_user");
    let data = json!({"lap": 1, "seconds": 42.5});
    for n in SIZES {
        let mut setup = None;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let (hub, _others, target) = setup.get_or_insert_with(|| {
                let hub = new_hub();
                let others = connect_many(&hub, "user", "user", "modules", n);
                let mut target = connect_many(&hub, "target", "user", "modules", 1);
                // A second tab of the target user, in the same session.
                let mut tab = hub.connect_in_process();
                tab.authenticate(json!({"sessionId": "target-s0", "page": "dashboard"}))
                    .expect("second tab");
                drain(&mut tab);
                target.push(tab);
                (hub, others, target)
            });
            b.iter_custom(|iters| {
                time_emits(iters, target, 2, |_| {
                    hub.emit_to_user("target0", "coaster:lap", &data)
                        .expect("emit to user")
                })
            });
        });
    }
    group.finish();
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");

    let unchanged_info = json!({"userId": "owner"});
    let mut setup = None;
    group.bench_function("unchanged", |b| {
        let (hub, _owner) = setup.get_or_insert_with(|| {
            let hub = new_hub();
            let info = json!({"userId": "owner", "name": "Station", "type": "Station"});
            hub.emit_module_online("MC-1", &info).expect("first online");
            // The owner is connected: an unchanged emit must still send nothing.
            let owner = connect_many(&hub, "owner", "user", "modules", 1);
            (hub, owner)
        });
        b.iter(|| {
            let outcome = hub
                .emit_module_online(black_box("MC-1"), black_box(&unchanged_info))
                .expect("online");
            debug_assert_eq!(outcome, EmitOutcome::Unchanged);
            outcome
        });
    });

    let values: [Value; 2] = [json!({"speed": 3}), json!({"speed": 4})];
    let mut next = 0usize;
    let mut setup = None;
    group.bench_function("changed_no_subscribers", |b| {
        let hub = setup.get_or_insert_with(|| {
            let hub = new_hub();
            hub.emit_module_online("MC-2", &json!({"userId": "nobody"}))
                .expect("module");
            hub
        });
        b.iter(|| {
            next ^= 1;
            let outcome = hub
                .emit_telemetry_update(black_box("MC-2"), black_box(&values[next]))
                .expect("telemetry");
            debug_assert_eq!(outcome, EmitOutcome::Delivered { connections: 0 });
            outcome
        });
    });
    group.finish();
}

fn registry(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry");
    let payload = json!({"sessionId": "churn-s", "page": "modules"});
    let mut setup = None;
    group.bench_function("auth_churn", |b| {
        let (hub, _others) = setup.get_or_insert_with(|| {
            let hub = new_hub();
            let others = connect_many(&hub, "user", "user", "modules", 10_000);
            hub.emit_user_logged_in(&json!({"userId": "churn", "role": "user"}), "churn-s")
                .expect("login");
            (hub, others)
        });
        b.iter(|| {
            let connection = hub.connect_in_process();
            let reply = connection
                .authenticate(black_box(payload.clone()))
                .expect("session authentication");
            drop(connection);
            reply
        });
    });
    group.finish();
}

/// A hub persisting to a fresh SQLite file in the temp directory (batched durability).
fn persisted_hub(tag: &str) -> (Hub, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("mcrt-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let hub = Hub::builder()
        .queue_capacity(QUEUE_CAPACITY)
        .persist(dir.join("bench.db"), Durability::Batched)
        .build()
        .expect("persisted hub builds");
    (hub, dir)
}

/// Emits timed in chunks; between chunks (untimed) the persistence writer catches up, so
/// its bounded queue never overflows into drops during the measurement.
fn time_chunked(iters: u64, hub: &Hub, mut emit: impl FnMut() -> EmitOutcome) -> Duration {
    const CHUNK: u64 = 4_096;
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let start = Instant::now();
        for _ in 0..n {
            black_box(emit());
        }
        elapsed += start.elapsed();
        done += n;
        if let Some(db) = hub.persistence() {
            db.flush().expect("flush");
        }
    }
    elapsed
}

/// The hub of one `persistence/{mode}` pair of benchmarks: made by the first of them
/// that runs (a filtered run makes none), shut down and its files removed at the end.
struct ModeHub {
    hub: Hub,
    dir: Option<std::path::PathBuf>,
    admins: Option<Vec<InProcessConnection>>,
}

impl ModeHub {
    fn new(mode: &str) -> Self {
        let (hub, dir) = if mode == "off" {
            (new_hub(), None)
        } else {
            let (hub, dir) = persisted_hub("unchanged");
            (hub, Some(dir))
        };
        let info = json!({"userId": "owner", "name": "Station", "type": "Station"});
        hub.emit_module_online("MC-1", &info).expect("first online");
        Self {
            hub,
            dir,
            admins: None,
        }
    }

    fn close(self) {
        drop(self.admins);
        self.hub.shutdown(Duration::from_secs(5));
        drop(self.hub);
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn persistence(c: &mut Criterion) {
    let mut group = c.benchmark_group("persistence");
    let unchanged_info = json!({"userId": "owner"});
    let details = json!({"target": "42", "reason": "bench"});
    for mode in ["off", "batched"] {
        let mut setup: Option<ModeHub> = None;
        group.bench_function(format!("{mode}/unchanged"), |b| {
            let hub = &setup.get_or_insert_with(|| ModeHub::new(mode)).hub;
            b.iter_custom(|iters| {
                time_chunked(iters, hub, || {
                    hub.emit_module_online(black_box("MC-1"), black_box(&unchanged_info))
                        .expect("online")
                })
            });
        });
        group.sample_size(10);
        group.bench_function(format!("{mode}/admin_broadcast_10000"), |b| {
            let ModeHub { hub, admins, .. } = setup.get_or_insert_with(|| ModeHub::new(mode));
            let admins = admins.get_or_insert_with(|| {
                let admins = connect_many(hub, "admin", "admin", "admin", 10_000);
                // The 10,000 logins' rows are committed before timing starts, so the
                // first samples do not pay for them.
                if let Some(db) = hub.persistence() {
                    db.flush().expect("flush");
                }
                admins
            });
            b.iter_custom(|iters| {
                let elapsed = time_emits(iters, admins, 10_000, |_| {
                    hub.emit_admin_action("1", "user_promoted", &details)
                        .expect("admin action")
                });
                if let Some(db) = hub.persistence() {
                    db.flush().expect("flush");
                }
                elapsed
            });
        });
        group.sample_size(100);
        if let Some(setup) = setup {
            setup.close();
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    admin_broadcast,
    one_user,
    store,
    registry,
    persistence
);
criterion_main!(benches);
