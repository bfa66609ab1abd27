//! Load generator: up to 10,000 Socket.IO websocket clients from one process against the
//! server example (and, in the same run, a reference server such as the Node one in
//! `benches/peers/node/`), with every delivery checked.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/loadgen --connections 500 --duration 5 \
//!     --server-cmd "node benches/peers/node/server.js"
//! ```
//!
//! `scripts/bench load` runs it the way the numbers in the README were measured: the
//! server pinned to core 0, the load generator to core 1.
//!
//! Population: 1% admins (page `admin`), the rest users with two tabs each (page
//! `modules`), each authenticated at connect with a JWT signed with `--jwt-secret`.
//! Scenarios, each driven through `POST /api/v1/emit/<call>` at `--rate` deliveries/s
//! for `--duration` seconds:
//! - `admin-broadcast`: `to_admins` and `admin_action` alternately, reaching every admin;
//! - `all`: `maintenance_mode` toggles, reaching every connection;
//! - `user-telemetry`: `module_added` then `module_online` for each user's module
//!   (checked, not measured), then `telemetry_update` round-robin over the users.
//!
//! Every payload carries its sequence number and `sentAt` (µs since the epoch; inside
//! `telemetry`, `details`, `data`, or the maintenance message), so the generator reports
//! delivery latency (send of the HTTP request → receipt by the client), and checks that
//! each expected delivery arrived exactly once and nothing reached a connection it must
//! not (telemetry of user U only on U's two tabs, admin events only on admin sockets).
//! Server CPU per delivery is the server process's utime+stime (`/proc/<pid>/stat`)
//! over the measured window divided by the deliveries in it; RSS per connection is the
//! `VmRSS` growth from before the first connection to all connected and idle, divided by
//! the connections. `srv run/wait` is the share of the window the server's threads ran
//! and spent runnable but waiting for a CPU (`/proc/<pid>/task/*/schedstat`): a high wait
//! means other processes on its core delayed it, which inflates latency but not CPU per
//! delivery. The exit status is non-zero on any violation (a missing, duplicated or
//! misdirected delivery, a failed emit call, an unexpected event or a lost connection);
//! missed performance targets are reported, not failed.

mod clients;
mod emitter;
mod model;
mod process;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tokio::sync::Semaphore;

use clients::{Recorder, Shared, module_id, now_us};
use emitter::{Emitter, Pace};
use model::{Check, KINDS, Kind, Population, Role};
use process::{Launch, ServerProcess};

/// Load generator for the Socket.IO server (see the example's docs).
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Socket.IO clients to open (at most about the open-file limit minus a few).
    #[arg(long, default_value_t = 500)]
    connections: u32,
    /// Seconds of each measured scenario.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Scenario::AdminBroadcast, Scenario::All, Scenario::UserTelemetry]
    )]
    scenario: Vec<Scenario>,
    /// Target deliveries per second (events/s = rate / recipients of one event).
    #[arg(long, default_value_t = 100_000.0)]
    rate: f64,
    /// Share of the connections that are admins, in percent (at least one admin).
    #[arg(long, default_value_t = 1.0)]
    admin_percent: f64,
    /// Our server binary [default: ${CARGO_TARGET_DIR:-target}/release/examples/server].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Runtime threads of our server (`--threads`).
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Run our server with its SQLite database (batched durability, every emit audited)
    /// instead of `--memory`; the reference servers keep nothing, so the default
    /// compares like with like (for the same reason ours runs `--no-monitor`).
    #[arg(long)]
    server_persist: bool,
    /// A reference server command, run after ours with the same flags (`--addr`,
    /// `--jwt-secret`, `--api-key`), e.g. `node benches/peers/node/server.js`.
    #[arg(long)]
    server_cmd: Option<String>,
    /// Label of `--server-cmd` in the report.
    #[arg(long, default_value = "node")]
    server_cmd_label: String,
    /// Do not run our server (only `--server-cmd` or `--target`).
    #[arg(long)]
    skip_ours: bool,
    /// Drive an already-running server at this address instead of starting any; several
    /// comma-separated addresses (nodes of one cluster on Redis) get the clients round
    /// robin, and the emits go to the first.
    #[arg(long)]
    target: Option<String>,
    /// Process id of the `--target` server, for its CPU time and RSS; several
    /// comma-separated ids (the nodes of a cluster, and its Redis) are added up.
    #[arg(long, value_delimiter = ',')]
    target_pid: Vec<u32>,
    /// Pin the servers this starts to these CPUs (`taskset -c`), e.g. `0`.
    #[arg(long)]
    server_cpus: Option<String>,
    /// JWT HS256 secret given to the server and used to sign the clients' tokens.
    #[arg(long, default_value = "loadgen-jwt-secret")]
    jwt_secret: String,
    /// API key given to the server and used for the emit calls.
    #[arg(long, default_value = "loadgen-api-key")]
    api_key: String,
    /// Keep-alive HTTP/1.1 connections to the emit API (requests are pipelined).
    #[arg(long, default_value_t = 4)]
    http_connections: usize,
    /// Most emit requests in flight at once.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Clients connecting at the same time.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    AdminBroadcast,
    All,
    UserTelemetry,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::AdminBroadcast => "admin-broadcast",
            Scenario::All => "all",
            Scenario::UserTelemetry => "user-telemetry",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Scenario::AdminBroadcast => Kind::AdminBroadcast,
            Scenario::All => Kind::All,
            Scenario::UserTelemetry => Kind::Telemetry,
        }
    }
}

struct Measured {
    scenario: Scenario,
    events: u64,
    event_rate: f64,
    delivered: u64,
    delivery_rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_delivery: Option<f64>,
    /// The load generator's own CPU use over the window (100% = one core).
    loadgen_cpu_percent: Option<f64>,
    /// The server's threads: running, and runnable but waiting for a CPU, over the
    /// window (100% = one core).
    server_run_wait_percent: Option<(f64, f64)>,
    http_failures: u64,
    violations: u64,
}

struct Run {
    label: String,
    rss_kib_per_connection: Option<f64>,
    measured: Vec<Measured>,
    violations: u64,
    error: Option<String>,
}

/// State of one server's run shared by the scenarios.
struct Bench<'a> {
    args: &'a Args,
    population: Population,
    recorder: Shared,
    emitter: Emitter,
    server: &'a ServerProcess,
    /// Events emitted so far per kind (the next sequence number).
    emitted: [u32; KINDS],
}

fn main() {
    let args = Args::parse();
    let wanted = u64::from(args.connections) + 256;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => {
            eprintln!("warning: the open-file limit is {limit}, below the {wanted} this run needs")
        }
        Ok(_) => {}
        Err(error) => eprintln!("warning: cannot raise the open-file limit: {error}"),
    }
    let population = Population::new(args.connections, args.admin_percent);
    println!(
        "loadgen: {} connections ({} admins on `admin`, {} users × 2 tabs on `modules`), \
         {} s per scenario, target {} deliveries/s",
        population.connections(),
        population.admins,
        population.users,
        args.duration,
        args.rate
    );
    let work = std::env::temp_dir().join(format!("mcrt-loadgen-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&work) {
        eprintln!("{}: {error}", work.display());
        std::process::exit(2);
    }
    let mut runs = Vec::new();
    if let Some(target) = &args.target {
        let server = ServerProcess::external(args.target_pid.clone());
        runs.push(run(&args, "target", server, target));
    } else {
        let mut launches = Vec::new();
        if !args.skip_ours {
            let bin = args.server_bin.clone().unwrap_or_else(|| {
                let dir = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
                PathBuf::from(dir).join("release/examples/server")
            });
            launches.push((
                "rust".to_owned(),
                Launch {
                    program: vec![bin.display().to_string()],
                    extra_args: [
                        if args.server_persist {
                            vec!["--db".into(), work.join("bench.db").display().to_string()]
                        } else {
                            vec!["--memory".into()]
                        },
                        // The reference sends no monitoring events; neither do we here.
                        vec!["--no-monitor".into()],
                        vec![
                            "--threads".into(),
                            args.server_threads.to_string(),
                            "--max-connections".into(),
                            (args.connections + 1000).to_string(),
                        ],
                    ]
                    .concat(),
                    cpus: args.server_cpus.clone(),
                },
            ));
        }
        if let Some(command) = &args.server_cmd {
            launches.push((
                args.server_cmd_label.clone(),
                Launch {
                    program: command.split_whitespace().map(str::to_owned).collect(),
                    extra_args: Vec::new(),
                    cpus: args.server_cpus.clone(),
                },
            ));
        }
        for (label, launch) in launches {
            let addr = match process::free_addr() {
                Ok(addr) => addr,
                Err(error) => {
                    eprintln!("no free port: {error}");
                    std::process::exit(2);
                }
            };
            let log = work.join(format!("{label}.log"));
            let server =
                match ServerProcess::start(&launch, &addr, &args.jwt_secret, &args.api_key, &log) {
                    Ok(server) => server,
                    Err(error) => {
                        runs.push(Run::failed(&label, error));
                        continue;
                    }
                };
            let pid = if server.pids.is_empty() {
                "?".to_owned()
            } else {
                server
                    .pids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            println!("{label}: server pid {pid} on {addr}");
            runs.push(run(&args, &label, server, &addr));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    report(&args, &population, &runs);
    let failed = runs.iter().any(|r| r.error.is_some() || r.violations > 0);
    std::process::exit(i32::from(failed));
}

impl Run {
    fn failed(label: &str, error: String) -> Self {
        eprintln!("{label}: {error}");
        Self {
            label: label.to_owned(),
            rss_kib_per_connection: None,
            measured: Vec::new(),
            violations: 0,
            error: Some(error),
        }
    }
}

/// Runs every scenario against one server, then stops it.
fn run(args: &Args, label: &str, mut server: ServerProcess, addr: &str) -> Run {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return Run::failed(label, error.to_string()),
    };
    let local = tokio::task::LocalSet::new();
    let outcome = local.block_on(&runtime, drive(args, label, &server, addr));
    // Dropping the tasks closes the clients; then the server stops.
    drop(local);
    drop(runtime);
    let exited = server.exited();
    server.stop();
    match outcome {
        Ok(run) if exited => Run {
            error: Some(format!(
                "the server exited during the run:\n{}",
                server.log_tail()
            )),
            ..run
        },
        Ok(run) => run,
        Err(error) => {
            let tail = server.log_tail();
            Run::failed(label, format!("{error}\nserver log tail:\n{tail}"))
        }
    }
}

fn token(secret: &str, sub: &str, role: &str) -> String {
    let exp = now_us() / 1_000_000 + 24 * 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "role": role, "sid": format!("bench-{sub}"), "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// The Socket.IO `auth` object of a connection.
fn auth(population: &Population, connection: u32, secret: &str) -> String {
    let (sub, role, page) = match population.role(connection) {
        Role::Admin(admin) => (format!("admin-{admin}"), "admin", "admin"),
        Role::User(user) => (format!("u{user}"), "user", "modules"),
    };
    json!({"token": token(secret, &sub, role), "page": page}).to_string()
}

async fn drive(
    args: &Args,
    label: &str,
    server: &ServerProcess,
    addr: &str,
) -> Result<Run, String> {
    let population = Population::new(args.connections, args.admin_percent);
    let connections = population.connections();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kib();
    let recorder = Recorder::new(connections);
    let slots = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let urls: Vec<String> = addr
        .split(',')
        .map(|node| format!("ws://{node}/socket.io/?EIO=4&transport=websocket"))
        .collect();
    let started = Instant::now();
    for connection in 0..connections {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        tokio::task::spawn_local(clients::run(
            connection,
            urls[connection as usize % urls.len()].clone(),
            auth(&population, connection, &args.jwt_secret),
            recorder.clone(),
            permit,
        ));
    }
    loop {
        let (ready, failed) = {
            let r = recorder.borrow();
            (r.ready, r.failed)
        };
        if ready + failed >= connections {
            if failed > 0 {
                return Err(format!(
                    "{failed} of {connections} clients failed to connect: {:?}",
                    recorder.borrow().problems
                ));
            }
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            return Err(format!(
                "only {ready} of {connections} clients ready after 180 s: {:?}",
                recorder.borrow().problems
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{label}: {connections} clients connected and authenticated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Idle for a moment so the RSS reflects settled connections.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_kib_per_connection = rss_before
        .zip(server.rss_kib())
        .map(|(before, after)| after.saturating_sub(before) as f64 / f64::from(connections));
    let first = addr.split(',').next().unwrap_or(addr);
    let emitter = Emitter::connect(first, args.http_connections, &args.api_key)
        .await
        .map_err(|e| format!("cannot connect to the emit API: {e}"))?;
    let mut bench = Bench {
        args,
        population,
        recorder,
        emitter,
        server,
        emitted: [0; KINDS],
    };
    let mut measured = Vec::new();
    for &scenario in &args.scenario {
        if scenario == Scenario::UserTelemetry {
            bench.set_up_modules(label).await?;
        }
        let result = bench.measure(scenario).await?;
        println!(
            "{label}: {:<16} {} events ({:.0}/s), {} deliveries ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, CPU {} µs/delivery, {} violations (server ran {}, waited for a CPU {}; loadgen CPU {})",
            scenario.name(),
            result.events,
            result.event_rate,
            result.delivered,
            result.delivery_rate,
            result.p50_ms,
            result.p99_ms,
            result
                .cpu_us_per_delivery
                .map_or("?".into(), |cpu| format!("{cpu:.3}")),
            result.violations,
            percent(result.server_run_wait_percent.map(|(run, _)| run)),
            percent(result.server_run_wait_percent.map(|(_, wait)| wait)),
            percent(result.loadgen_cpu_percent),
        );
        measured.push(result);
    }
    // Late or stray deliveries show up here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let violations = bench.final_check(label);
    bench.recorder.borrow_mut().stopping = true;
    Ok(Run {
        label: label.to_owned(),
        rss_kib_per_connection,
        measured,
        violations,
        error: None,
    })
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
    async fn set_up_modules(&mut self, label: &str) -> Result<(), String> {
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

    async fn measure(&mut self, scenario: Scenario) -> Result<Measured, String> {
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
        let myself = ServerProcess::external(vec![std::process::id()]);
        let cpu_before = self.server.cpu_seconds();
        let own_before = myself.cpu_seconds();
        let sched_before = self.server.run_and_wait_seconds();
        let started = Instant::now();
        let events = self
            .emitter
            .run(&pace, |n| {
                let seq = base + n as u32;
                let sent_at = now_us();
                match scenario {
                    Scenario::AdminBroadcast if seq.is_multiple_of(2) => (
                        "to_admins",
                        format!(r#"{{"event":"bench:admin","data":{{"seq":{seq},"sentAt":{sent_at}}}}}"#),
                    ),
                    Scenario::AdminBroadcast => (
                        "admin_action",
                        format!(r#"{{"adminId":"admin-0","action":"bench","details":{{"seq":{seq},"sentAt":{sent_at}}}}}"#),
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
            })
            .await
            .map_err(|e| format!("emit API: {e}"))?;
        let emitting = started.elapsed().as_secs_f64();
        self.settle(kind, delivered_before + events * recipients)
            .await;
        let window = started.elapsed().as_secs_f64();
        let cpu_after = self.server.cpu_seconds();
        let own_after = myself.cpu_seconds();
        let sched_after = self.server.run_and_wait_seconds();
        self.emitted[kind.index()] = base + events as u32;
        let mut recorder = self.recorder.borrow_mut();
        recorder.measuring = false;
        let delivered = recorder.delivered[kind.index()] - delivered_before;
        let latencies = &mut recorder.latencies_us;
        latencies.sort_unstable();
        let percentile = |p: usize| {
            latencies
                .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
                .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
        };
        let (p50_ms, p99_ms) = (percentile(50), percentile(99));
        let mut check = Check::default();
        for connection in 0..self.population.connections() {
            let expected = self
                .population
                .expected(connection, kind, self.emitted[kind.index()]);
            check.add(
                expected,
                &recorder.inboxes[connection as usize].seqs[kind.index()],
            );
        }
        let cpu_us_per_delivery = cpu_before
            .zip(cpu_after)
            .filter(|_| delivered > 0)
            .map(|(before, after)| (after - before) * 1e6 / delivered as f64);
        Ok(Measured {
            scenario,
            events,
            event_rate: events as f64 / emitting,
            delivered,
            delivery_rate: delivered as f64 / window,
            p50_ms,
            p99_ms,
            cpu_us_per_delivery,
            server_run_wait_percent: sched_before.zip(sched_after).map(|(before, after)| {
                (
                    (after.0 - before.0) * 100.0 / window,
                    (after.1 - before.1) * 100.0 / window,
                )
            }),
            loadgen_cpu_percent: own_before
                .zip(own_after)
                .map(|(before, after)| (after - before) * 100.0 / window),
            http_failures: self.emitter.answers.borrow().failures - failures_before,
            violations: check.violations(),
        })
    }

    /// Checks every kind over the whole run; prints the counts; returns the violations.
    fn final_check(&self, label: &str) -> u64 {
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
            let mut check = Check::default();
            for connection in 0..self.population.connections() {
                let expected = self.population.expected(connection, kind, emitted);
                check.add(
                    expected,
                    &recorder.inboxes[connection as usize].seqs[kind.index()],
                );
            }
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

/// The issue's targets for the first server, each marked met or missed.
fn targets(ours: &Run, reference: Option<&Run>) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let mut lines = Vec::new();
    for m in &ours.measured {
        let limit = if m.scenario == Scenario::UserTelemetry {
            3.0
        } else {
            1.0
        };
        if let Some(cpu) = m.cpu_us_per_delivery {
            lines.push(format!(
                "{} CPU/delivery {cpu:.2} µs ≤ {limit} µs: {}",
                m.scenario.name(),
                verdict(cpu <= limit)
            ));
        }
        lines.push(format!(
            "{} p99 {:.1} ms < 50 ms at {:.0} deliveries/s (target rate 100000): {}",
            m.scenario.name(),
            m.p99_ms,
            m.delivery_rate,
            verdict(m.p99_ms < 50.0 && m.delivery_rate >= 95_000.0)
        ));
        let theirs = reference
            .and_then(|r| r.measured.iter().find(|r| r.scenario == m.scenario))
            .and_then(|r| r.cpu_us_per_delivery);
        if let Some((theirs, ours)) = theirs.zip(m.cpu_us_per_delivery) {
            lines.push(format!(
                "{} CPU/delivery {:.1}× less than the reference ≥ 5×: {}",
                m.scenario.name(),
                theirs / ours,
                verdict(theirs / ours >= 5.0)
            ));
        }
    }
    if let Some(rss) = ours.rss_kib_per_connection {
        lines.push(format!(
            "RSS per idle connection {rss:.1} KiB ≤ 12 KiB: {}",
            verdict(rss <= 12.0)
        ));
    }
    println!("targets ({}):", ours.label);
    for line in lines {
        println!("  {line}");
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or("?".into(), |v| format!("{v:.0}%"))
}

fn report(args: &Args, population: &Population, runs: &[Run]) {
    println!();
    println!(
        "== load: {} connections ({} admins, {} users × 2 tabs), {} s per scenario, target {} deliveries/s ==",
        population.connections(),
        population.admins,
        population.users,
        args.duration,
        args.rate
    );
    println!(
        "{:<8} {:<16} {:>10} {:>13} {:>8} {:>8} {:>16} {:>13} {:>12} {:>14}",
        "server",
        "scenario",
        "events/s",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/delivery",
        "RSS KiB/conn",
        "exactly-once",
        "srv run/wait"
    );
    for run in runs {
        if let Some(error) = &run.error {
            println!(
                "{:<8} failed: {}",
                run.label,
                error.lines().next().unwrap_or("")
            );
        }
        for m in &run.measured {
            println!(
                "{:<8} {:<16} {:>10.0} {:>13.0} {:>8.2} {:>8.2} {:>16} {:>13} {:>12} {:>14}",
                run.label,
                m.scenario.name(),
                m.event_rate,
                m.delivery_rate,
                m.p50_ms,
                m.p99_ms,
                m.cpu_us_per_delivery
                    .map_or("?".into(), |cpu| format!("{cpu:.3}")),
                run.rss_kib_per_connection
                    .map_or("?".into(), |rss| format!("{rss:.1}")),
                if m.violations == 0 && m.http_failures == 0 && run.violations == 0 {
                    "ok".to_owned()
                } else {
                    format!("FAIL ({})", m.violations + m.http_failures)
                },
                m.server_run_wait_percent
                    .map_or("?".into(), |(run, wait)| format!("{run:.0}%/{wait:.0}%"))
            );
        }
    }
    if let Some(ours) = runs.first().filter(|run| run.error.is_none()) {
        targets(ours, runs.get(1));
    }
    let [ours, reference, ..] = runs else {
        return;
    };
    let ratios: Vec<String> = ours
        .measured
        .iter()
        .filter_map(|m| {
            let theirs = reference
                .measured
                .iter()
                .find(|r| r.scenario == m.scenario)?;
            let ratio = theirs.cpu_us_per_delivery? / m.cpu_us_per_delivery?;
            Some(format!("{} {ratio:.1}×", m.scenario.name()))
        })
        .collect();
    println!(
        "ratio ({} CPU per delivery / {}): {}",
        reference.label,
        ours.label,
        ratios.join(", ")
    );
}
