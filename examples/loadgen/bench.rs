//! The scenarios against one connected population: set-up, measured windows, checks.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::args::{Args, Scenario};
use crate::clients::{Recorder, Shared, module_id, now_us};
use crate::drive::Measured;
use crate::emitter::{Emitter, Pace};
use crate::model::{Check, KINDS, Kind, Population};
use crate::process::ServerProcess;

/// State of one server's run shared by the scenarios.
pub struct Bench<'a> {
    pub args: &'a Args,
    pub population: Population,
    pub recorder: Shared,
    pub emitter: Emitter,
    pub server: &'a ServerProcess,
    /// Events emitted so far per kind (the next sequence number).
    pub emitted: [u32; KINDS],
}

impl Bench<'_> {
    /// Waits until `target` deliveries of `kind` arrived, or none arrived for 10 s.
    async fn settle(&self, kind: Kind, target: u64) {
        let mut last = 0;
        let mut last_change = Instant::now();
        loop {
            let delivered = self.recorder.borrow().delivered[kind.index()];
            if delivered >= target {
                return;
            }
            if delivered != last {
                last = delivered;
                last_change = Instant::now();
            } else if last_change.elapsed() > Duration::from_secs(10) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// `module_added`, then `module_online`, for each user's module; checked, not
    /// measured. Paced at `--rate` deliveries/s so admin queues are not flooded.
    pub async fn set_up_modules(&mut self, label: &str) -> Result<(), String> {
        let users = self.population.users;
        if self.emitted[Kind::StatusChanged.index()] == users {
            return Ok(());
        }
        let started = Instant::now();
        let per_event = f64::from(2 + self.population.admins);
        let pace = Pace {
            rate: self.args.rate / per_event,
            duration: None,
            count: Some(u64::from(users)),
            max_in_flight: self.args.max_in_flight,
            ordered: false,
        };
        self.emitter
            .run(&pace, |n| {
                let user = n as u32;
                let body = json!({"id": module_id(user), "userId": format!("u{user}"),
                    "type": "Station", "name": format!("Station {user}")});
                ("module_added", body.to_string())
            })
            .await
            .map_err(|e| format!("emit API: {e}"))?;
        self.settle(Kind::UserModuleAdded, u64::from(users) * 2)
            .await;
        self.settle(
            Kind::AdminModuleAdded,
            u64::from(users) * u64::from(self.population.admins),
        )
        .await;
        self.emitter
            .run(&pace, |n| {
                let user = n as u32;
                let body = json!({"moduleId": module_id(user), "userId": format!("u{user}")});
                ("module_online", body.to_string())
            })
            .await
            .map_err(|e| format!("emit API: {e}"))?;
        self.settle(
            Kind::StatusChanged,
            u64::from(users) * u64::from(2 + self.population.admins),
        )
        .await;
        for kind in [
            Kind::UserModuleAdded,
            Kind::AdminModuleAdded,
            Kind::StatusChanged,
        ] {
            self.emitted[kind.index()] = users;
        }
        let delivered: u64 = [
            Kind::UserModuleAdded,
            Kind::AdminModuleAdded,
            Kind::StatusChanged,
        ]
        .iter()
        .map(|kind| self.recorder.borrow().delivered[kind.index()])
        .sum();
        println!(
            "{label}: set-up: {users} modules added and online, {delivered} deliveries in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    pub async fn measure(&mut self, scenario: Scenario) -> Result<Measured, String> {
        let kind = scenario.kind();
        let recipients = u64::from(self.population.recipients(kind));
        let pace = Pace {
            rate: self.args.rate / recipients as f64,
            duration: Some(Duration::from_secs_f64(self.args.duration)),
            count: None,
            max_in_flight: self.args.max_in_flight,
            // Toggles must arrive in order: turning maintenance off twice changes nothing.
            ordered: scenario == Scenario::All,
        };
        let base = self.emitted[kind.index()];
        let users = self.population.users;
        let delivered_before = {
            let mut recorder = self.recorder.borrow_mut();
            recorder.latencies_us.clear();
            recorder.measuring = true;
            recorder.delivered[kind.index()]
        };
        let failures_before = self.emitter.answers.borrow().failures;
        let before = Usage::now(self.server);
        let started = Instant::now();
        let events = self
            .emitter
            .run(&pace, |n| payload(scenario, base + n as u32, users))
            .await
            .map_err(|e| format!("emit API: {e}"))?;
        let emitting = started.elapsed().as_secs_f64();
        self.settle(kind, delivered_before + events * recipients)
            .await;
        let window = started.elapsed().as_secs_f64();
        let after = Usage::now(self.server);
        self.emitted[kind.index()] = base + events as u32;
        let mut recorder = self.recorder.borrow_mut();
        recorder.measuring = false;
        let delivered = recorder.delivered[kind.index()] - delivered_before;
        let (p50_ms, p99_ms) = percentiles(&mut recorder.latencies_us);
        let check = self.check(&recorder, kind);
        Ok(Measured {
            scenario,
            events,
            event_rate: events as f64 / emitting,
            delivered,
            delivery_rate: delivered as f64 / window,
            p50_ms,
            p99_ms,
            cpu_us_per_delivery: before
                .server_cpu
                .zip(after.server_cpu)
                .filter(|_| delivered > 0)
                .map(|(before, after)| (after - before) * 1e6 / delivered as f64),
            server_run_wait_percent: before.server_sched.zip(after.server_sched).map(
                |(before, after)| {
                    (
                        (after.0 - before.0) * 100.0 / window,
                        (after.1 - before.1) * 100.0 / window,
                    )
                },
            ),
            loadgen_cpu_percent: before
                .own_cpu
                .zip(after.own_cpu)
                .map(|(before, after)| (after - before) * 100.0 / window),
            http_failures: self.emitter.answers.borrow().failures - failures_before,
            violations: check.violations(),
        })
    }

    /// Every connection's deliveries of `kind` so far against what it should have.
    fn check(&self, recorder: &Recorder, kind: Kind) -> Check {
        let mut check = Check::default();
        let emitted = self.emitted[kind.index()];
        for connection in 0..self.population.connections() {
            let expected = self.population.expected(connection, kind, emitted);
            check.add(
                expected,
                &recorder.inboxes[connection as usize].seqs[kind.index()],
            );
        }
        check
    }

    /// Checks every kind over the whole run; prints the counts; returns the violations.
    pub fn final_check(&self, label: &str) -> u64 {
        let recorder = self.recorder.borrow();
        let answers = self.emitter.answers.borrow();
        println!("{label}: verification (each expected delivery exactly once, none misdirected):");
        println!(
            "  {:<28} {:>8} {:>11} {:>11} {:>8} {:>10} {:>11} {:>9}",
            "event",
            "emitted",
            "expected",
            "received",
            "missing",
            "duplicate",
            "misdirected",
            "bad conns"
        );
        let mut violations = 0;
        for kind in Kind::ALL {
            let emitted = self.emitted[kind.index()];
            let check = self.check(&recorder, kind);
            violations += check.violations();
            println!(
                "  {:<28} {:>8} {:>11} {:>11} {:>8} {:>10} {:>11} {:>9}",
                kind.label(),
                emitted,
                check.expected,
                check.received,
                check.missing,
                check.duplicates,
                check.misdirected,
                check.bad_connections
            );
        }
        println!(
            "  emit API: {} answered 200 ({} unchanged), {} failed{}; server-reported recipients {}",
            answers.ok,
            answers.unchanged,
            answers.failures,
            answers
                .first_failure
                .as_ref()
                .map_or(String::new(), |f| format!(" (first: {f})")),
            answers.reported_connections
        );
        println!(
            "  unexpected events {}, connections lost {}",
            recorder.unexpected, recorder.closed_early
        );
        for problem in &recorder.problems {
            println!("  problem: {problem}");
        }
        violations
            + answers.failures
            + answers.unchanged
            + recorder.unexpected
            + u64::from(recorder.closed_early)
    }
}

/// CPU and scheduling figures read at both ends of a measured window.
struct Usage {
    server_cpu: Option<f64>,
    server_sched: Option<(f64, f64)>,
    own_cpu: Option<f64>,
}

impl Usage {
    fn now(server: &ServerProcess) -> Self {
        Self {
            server_cpu: server.cpu_seconds(),
            server_sched: server.run_and_wait_seconds(),
            own_cpu: ServerProcess::external(vec![std::process::id()]).cpu_seconds(),
        }
    }
}

/// p50 and p99 of the latencies in µs, as ms (NaN when there are none).
fn percentiles(latencies: &mut [u32]) -> (f64, f64) {
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
    };
    (percentile(50), percentile(99))
}

/// The emit API call and body of event `seq` of a scenario; every body carries `seq`
/// and `sentAt` so the clients can check and time each delivery.
fn payload(scenario: Scenario, seq: u32, users: u32) -> (&'static str, String) {
    let sent_at = now_us();
    match scenario {
        Scenario::AdminBroadcast if seq.is_multiple_of(2) => (
            "to_admins",
            format!(r#"{{"event":"bench:admin","data":{{"seq":{seq},"sentAt":{sent_at}}}}}"#),
        ),
        Scenario::AdminBroadcast => (
            "admin_action",
            format!(
                r#"{{"adminId":"admin-0","action":"bench","details":{{"seq":{seq},"sentAt":{sent_at}}}}}"#
            ),
        ),
        Scenario::All => (
            "maintenance_mode",
            format!(
                r#"{{"enabled":{},"message":"bench {seq} {sent_at}","adminId":"admin-0"}}"#,
                seq.is_multiple_of(2)
            ),
        ),
        Scenario::UserTelemetry => (
            "telemetry_update",
            format!(
                r#"{{"moduleId":"{}","telemetry":{{"seq":{seq},"sentAt":{sent_at},"speed":{}}}}}"#,
                module_id(seq % users),
                seq % 40
            ),
        ),
    }
}
