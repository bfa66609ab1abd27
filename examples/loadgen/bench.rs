//! The scenarios against one connected population: set-up, measured windows, checks.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::args::{Args, Scenario};
use crate::clients::{Recorder, Shared, module_id, now_us};
use crate::control::Control;
use crate::drive::Measured;
use crate::emitter::{Emitter, Pace};
use crate::model::{Check, KINDS, Kind, Population};
use crate::process::ServerProcess;

/// How the events are made (`--emit`).
pub enum Driver {
    /// Posted to the server's HTTP emit API.
    Api(Emitter),
    /// Made inside the server process by its emitter, on command.
    InProcess(Control),
}

/// State of one server's run shared by the scenarios.
pub struct Bench<'a> {
    pub args: &'a Args,
    pub population: Population,
    pub recorder: Shared,
    pub driver: Driver,
    pub server: &'a ServerProcess,
    /// Events emitted so far per kind (the next sequence number).
    pub emitted: [u32; KINDS],
    /// Events the server refused or failed to queue, over the whole run.
    pub emit_errors: u64,
}

/// Waits until `target` deliveries of `kind` arrived, or none arrived for 10 s.
async fn settle(recorder: &Shared, kind: Kind, target: u64) {
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let delivered = recorder.borrow().delivered[kind.index()];
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

impl Bench<'_> {
    /// `module_added`, then `module_online`, for each user's module; checked, not
    /// measured. Paced at `--rate` deliveries/s so admin queues are not flooded. Only
    /// the emit API needs them (`telemetry_update` names a module); in-process per-user
    /// events go to a user directly.
    pub async fn set_up_modules(&mut self, label: &str) -> Result<(), String> {
        let users = self.population.users;
        let Driver::Api(emitter) = &mut self.driver else {
            return Ok(());
        };
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
        emitter
            .run(&pace, |n| {
                let user = n as u32;
                let body = json!({"id": module_id(user), "userId": format!("u{user}"),
                    "type": "Station", "name": format!("Station {user}")});
                ("module_added", body.to_string())
            })
            .await
            .map_err(|e| format!("emit API: {e}"))?;
        settle(&self.recorder, Kind::UserModuleAdded, u64::from(users) * 2).await;
        let admins = u64::from(self.population.admins);
        settle(
            &self.recorder,
            Kind::AdminModuleAdded,
            u64::from(users) * admins,
        )
        .await;
        emitter
            .run(&pace, |n| {
                let user = n as u32;
                let body = json!({"moduleId": module_id(user), "userId": format!("u{user}")});
                ("module_online", body.to_string())
            })
            .await
            .map_err(|e| format!("emit API: {e}"))?;
        let status = u64::from(users) * (2 + admins);
        settle(&self.recorder, Kind::StatusChanged, status).await;
        let set_up = [
            Kind::UserModuleAdded,
            Kind::AdminModuleAdded,
            Kind::StatusChanged,
        ];
        for kind in set_up {
            self.emitted[kind.index()] = users;
        }
        let recorder = self.recorder.borrow();
        let delivered: u64 = set_up.iter().map(|k| recorder.delivered[k.index()]).sum();
        println!(
            "{label}: set-up: {users} modules added and online, {delivered} deliveries in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Events per second of a paced scenario.
    fn event_rate(&self, scenario: Scenario) -> f64 {
        match scenario {
            Scenario::UserTelemetry => self.args.user_rate.unwrap_or(self.args.rate / 2.0),
            _ => self.args.rate / f64::from(self.population.recipients(scenario.kind())),
        }
    }

    /// Makes the events of `scenario` (numbered from `base`); returns (events, errors).
    async fn emit(&mut self, scenario: Scenario, base: u32) -> Result<(u64, u64), String> {
        let burst = scenario.burst(self.args);
        let rate = self.event_rate(scenario);
        let duration = self.args.duration;
        let users = self.population.users;
        match &mut self.driver {
            Driver::Api(emitter) => {
                let pace = Pace {
                    rate: if burst.is_some() { f64::INFINITY } else { rate },
                    duration: burst.is_none().then(|| Duration::from_secs_f64(duration)),
                    count: burst,
                    max_in_flight: self.args.max_in_flight,
                    // Toggles must arrive in order: turning maintenance off twice
                    // changes nothing.
                    ordered: scenario.kind() == Kind::All,
                };
                let failures = emitter.answers.borrow().failures;
                let events = emitter
                    .run(&pace, |n| payload(scenario, base + n as u32, users))
                    .await
                    .map_err(|e| format!("emit API: {e}"))?;
                Ok((events, emitter.answers.borrow().failures - failures))
            }
            Driver::InProcess(control) => {
                let kind = match scenario.kind() {
                    Kind::Telemetry => "user",
                    Kind::AdminBroadcast => "admin",
                    _ => "all",
                };
                let command = json!({"kind": kind, "base": base, "users": users,
                    "rate": if burst.is_some() { 0.0 } else { rate },
                    "duration": burst.is_none().then_some(duration), "count": burst});
                let done = control.command(&command, Duration::from_secs(900)).await?;
                Ok((done.emitted, done.errors))
            }
        }
    }

    pub async fn measure(&mut self, scenario: Scenario) -> Result<Measured, String> {
        let kind = scenario.kind();
        let recipients = u64::from(self.population.recipients(kind));
        let base = self.emitted[kind.index()];
        let earlier = self.check(&self.recorder.borrow(), kind);
        let delivered_before = {
            let mut recorder = self.recorder.borrow_mut();
            recorder.latencies_us.clear();
            recorder.measuring = true;
            recorder.last_delivery = None;
            recorder.delivered[kind.index()]
        };
        let before = Usage::now(self.server);
        let started = Instant::now();
        let (events, emit_errors) = if scenario == Scenario::Broadcast {
            self.broadcast(base, delivered_before, recipients).await?
        } else {
            self.emit(scenario, base).await?
        };
        self.emit_errors += emit_errors;
        let emitting = started.elapsed().as_secs_f64();
        settle(&self.recorder, kind, delivered_before + events * recipients).await;
        let window = started.elapsed().as_secs_f64();
        let after = Usage::now(self.server);
        self.emitted[kind.index()] = base + events as u32;
        let mut recorder = self.recorder.borrow_mut();
        recorder.measuring = false;
        let delivered = recorder.delivered[kind.index()] - delivered_before;
        // Deliveries per second until the last one arrived (not until `settle` gave up
        // waiting for missing ones).
        let delivering = recorder
            .last_delivery
            .map_or(window, |last| last.duration_since(started).as_secs_f64());
        let (p50_ms, p99_ms, max_ms) = percentiles(&mut recorder.latencies_us);
        let check = self.check(&recorder, kind).since(earlier);
        Ok(Measured {
            scenario,
            events,
            event_rate: events as f64 / emitting,
            delivered,
            delivery_rate: delivered as f64 / delivering.max(1e-9),
            p50_ms,
            p99_ms,
            max_ms,
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
            emit_errors,
            check,
            connections_lost: recorder.closed_early,
        })
    }

    /// `--broadcasts` events to everyone, one at a time: each is made once the previous
    /// one reached every client (or none arrived for 10 s), so each is measured alone
    /// until its last client. Returns (events, errors).
    async fn broadcast(
        &mut self,
        base: u32,
        delivered_before: u64,
        recipients: u64,
    ) -> Result<(u64, u64), String> {
        let (mut events, mut errors) = (0, 0);
        for n in 0..self.args.broadcasts {
            let (made, refused) = self.emit(Scenario::Broadcast, base + n as u32).await?;
            events += made;
            errors += refused;
            let target = delivered_before + events * recipients;
            settle(&self.recorder, Kind::All, target).await;
        }
        Ok((events, errors))
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
        let failed = match &self.driver {
            Driver::Api(emitter) => {
                let answers = emitter.answers.borrow();
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
                answers.failures + answers.unchanged
            }
            Driver::InProcess(_) => {
                println!(
                    "  in-process emits refused or not queued by the server: {}",
                    self.emit_errors
                );
                self.emit_errors
            }
        };
        println!(
            "  unexpected events {}, connections lost {}",
            recorder.unexpected, recorder.closed_early
        );
        for problem in &recorder.problems {
            println!("  problem: {problem}");
        }
        violations + failed + recorder.unexpected + u64::from(recorder.closed_early)
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

/// p50, p99 and the largest of the latencies in µs, as ms (NaN when there are none).
fn percentiles(latencies: &mut [u32]) -> (f64, f64, f64) {
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
    };
    let max = latencies
        .last()
        .map_or(f64::NAN, |&us| f64::from(us) / 1000.0);
    (percentile(50), percentile(99), max)
}

/// The emit API call and body of event `seq` of a scenario; every body carries `seq`
/// and `sentAt` so the clients can check and time each delivery.
fn payload(scenario: Scenario, seq: u32, users: u32) -> (&'static str, String) {
    let sent_at = now_us();
    match scenario.kind() {
        Kind::AdminBroadcast if seq.is_multiple_of(2) => (
            "to_admins",
            format!(r#"{{"event":"bench:admin","data":{{"seq":{seq},"sentAt":{sent_at}}}}}"#),
        ),
        Kind::AdminBroadcast => (
            "admin_action",
            format!(
                r#"{{"adminId":"admin-0","action":"bench","details":{{"seq":{seq},"sentAt":{sent_at}}}}}"#
            ),
        ),
        Kind::All => (
            "maintenance_mode",
            format!(
                r#"{{"enabled":{},"message":"bench {seq} {sent_at}","adminId":"admin-0"}}"#,
                seq.is_multiple_of(2)
            ),
        ),
        _ => (
            "telemetry_update",
            format!(
                r#"{{"moduleId":"{}","telemetry":{{"seq":{seq},"sentAt":{sent_at},"speed":{}}}}}"#,
                module_id(seq % users),
                seq % 40
            ),
        ),
    }
}
