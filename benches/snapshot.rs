//! The cost of a fleet snapshot page (`client:snapshot {cursor}` → `page:snapshot:more`)
//! for an admin on `admin`, at 100,000 modules, against references measured in the same
//! run: the same page at 1,000 modules (a page costs O(log n + page size), so the two
//! should be close) and a user's own 100 modules among the 100,000.
//!
//! - `snapshot/fleet_page_500/{1k,100k}_modules`: one page of 500 modules from the
//!   middle of the fleet, built under the emit lock, encoded once and queued, then
//!   taken off the connection's queue.
//! - `snapshot/own_page/100k_modules`: a user's page (its 100 modules).
//!
//! Run with `scripts/bench snapshot --warm-up-time 1 --measurement-time 3`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::in_process::{InProcessConnection, Received};
use serde_json::json;

const SECRET: &[u8] = b"bench-secret";

/// A hub with `modules` modules with telemetry, spread over 1,000 owners.
fn fleet(modules: usize) -> Hub {
    let hub = Hub::builder()
        .jwt_secret(SECRET)
        .build()
        .expect("hub builds");
    for n in 0..modules {
        let module = json!({
            "id": format!("MC-{n:06}"), "userId": n % 1000, "name": format!("Station {n}"),
            "type": "Station",
        });
        hub.emit_module_added(&module).expect("module added");
        hub.emit_telemetry_update(&format!("MC-{n:06}"), &json!({"speed": n % 7, "laps": n}))
            .expect("telemetry");
    }
    hub
}

fn open(hub: &Hub, user: &str, role: &str, page: &str) -> InProcessConnection {
    let mut conn = hub.connect_in_process();
    let token = token(user, role);
    conn.authenticate(json!({"token": token, "page": page}))
        .expect("authenticates");
    conn.drain_now();
    conn
}

fn token(user: &str, role: &str) -> String {
    let claims = json!({"sub": user, "role": role, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("token")
}

/// One `client:snapshot` round: the request, then the page taken off the queue.
fn page(conn: &mut InProcessConnection, cursor: &str) -> usize {
    conn.send("client:snapshot", json!({"cursor": cursor}))
        .expect("page");
    match conn.try_recv() {
        Some(Received::Frame(frame)) => frame.payload()["modules"].as_array().map_or(0, Vec::len),
        other => panic!("expected page:snapshot:more, got {other:?}"),
    }
}

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    for (label, modules) in [("1k_modules", 1_000usize), ("100k_modules", 100_000)] {
        let hub = fleet(modules);
        let mut admin = open(&hub, "admin-1", "admin", "admin");
        let cursor = format!("MC-{:06}", modules / 2 - 250);
        assert_eq!(page(&mut admin, &cursor), 500);
        group.bench_function(BenchmarkId::new("fleet_page_500", label), |b| {
            b.iter(|| page(&mut admin, &cursor));
        });
        if modules == 100_000 {
            let mut user = open(&hub, "0", "user", "admin");
            assert_eq!(page(&mut user, ""), 100);
            group.bench_function(BenchmarkId::new("own_page", label), |b| {
                b.iter(|| page(&mut user, ""));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
