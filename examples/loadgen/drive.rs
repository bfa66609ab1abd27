//! One server's run: connect every client, run each scenario, check every delivery.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;

use crate::args::{Args, EmitMode, Scenario};
use crate::bench::{Bench, Driver};
use crate::clients::{self, Endpoint, Recorder, Shared, now_us};
use crate::control::Control;
use crate::emitter::Emitter;
use crate::limits;
use crate::model::{Check, KINDS, Kind, Population, Role};
use crate::process::ServerProcess;
use crate::report::percent;

pub struct Measured {
    pub scenario: Scenario,
    pub events: u64,
    pub event_rate: f64,
    pub delivered: u64,
    pub delivery_rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The slowest delivery: for `broadcast`, until the last client had it.
    pub max_ms: f64,
    pub cpu_us_per_delivery: Option<f64>,
    /// The load generator's own CPU use over the window (100% = one core).
    pub loadgen_cpu_percent: Option<f64>,
    /// The server's threads: running, and runnable but waiting for a CPU, over the
    /// window (100% = one core).
    pub server_run_wait_percent: Option<(f64, f64)>,
    /// Emits the server refused or failed to queue (HTTP errors, or the in-process
    /// emitter's errors).
    pub emit_errors: u64,
    /// The exactly-once check of this scenario's kind, right after it.
    pub check: Check,
    /// Clients whose connection ended so far in the run (e.g. closed as slow).
    pub connections_lost: u32,
}

impl Measured {
    /// Missing, duplicated or misdirected deliveries, and refused emits.
    pub fn violations(&self) -> u64 {
        self.check.violations() + self.emit_errors
    }
}

pub struct Run {
    pub label: String,
    pub rss_kib_per_connection: Option<f64>,
    /// Connected and idle: the server's whole RSS.
    pub rss_kib: Option<u64>,
    /// From the first connect until every client was authenticated.
    pub connect_seconds: Option<f64>,
    /// The server's soft and hard open-file limits (`/proc/<pid>/limits`).
    pub server_open_files: Option<(u64, u64)>,
    pub measured: Vec<Measured>,
    pub violations: u64,
    pub error: Option<String>,
}

impl Run {
    pub fn failed(label: &str, error: String) -> Self {
        eprintln!("{label}: {error}");
        Self {
            label: label.to_owned(),
            rss_kib_per_connection: None,
            rss_kib: None,
            connect_seconds: None,
            server_open_files: None,
            measured: Vec::new(),
            violations: 0,
            error: Some(error),
        }
    }
}

/// Runs every scenario against one server, then stops it.
pub fn run(args: &Args, label: &str, mut server: ServerProcess, addr: &str) -> Run {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return Run::failed(label, error.to_string()),
    };
    let local = tokio::task::LocalSet::new();
    let control = server.control.take();
    let outcome = local.block_on(&runtime, drive(args, label, &server, control, addr));
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
    control: Option<Control>,
    addr: &str,
) -> Result<Run, String> {
    let population = Population::new(args.connections, args.admin_percent);
    let control = match (args.emit, control) {
        (EmitMode::Api, _) => None,
        (EmitMode::InProcess, None) => {
            return Err("--emit in-process needs a server this load generator starts".into());
        }
        (EmitMode::InProcess, Some(mut control)) => {
            // Every session logged in before its clients connect, as the seed does.
            let login = json!({"kind": "login", "users": population.users,
                "admins": population.admins});
            control.command(&login, Duration::from_secs(300)).await?;
            Some(control)
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kib();
    let (recorder, connect_seconds) = connect_all(args, label, &population, addr).await?;
    // Idle for a moment so the RSS reflects settled connections.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_kib = server.rss_kib();
    let rss_kib_per_connection = rss_before.zip(rss_kib).map(|(before, after)| {
        after.saturating_sub(before) as f64 / f64::from(population.connections())
    });
    let driver = match control {
        Some(control) => Driver::InProcess(control),
        None => {
            let first = addr.split(',').next().unwrap_or(addr);
            let emitter = Emitter::connect(first, args.http_connections, &args.api_key)
                .await
                .map_err(|e| format!("cannot connect to the emit API: {e}"))?;
            Driver::Api(emitter)
        }
    };
    let mut bench = Bench {
        args,
        population,
        recorder,
        driver,
        server,
        emitted: [0; KINDS],
        emit_errors: 0,
    };
    let mut measured = Vec::new();
    for &scenario in &args.scenario {
        if scenario.kind() == Kind::Telemetry {
            bench.set_up_modules(label).await?;
        }
        let result = bench.measure(scenario).await?;
        print_measured(label, &result);
        measured.push(result);
    }
    // Late or stray deliveries show up here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let violations = bench.final_check(label);
    bench.recorder.borrow_mut().stopping = true;
    Ok(Run {
        label: label.to_owned(),
        rss_kib_per_connection,
        rss_kib,
        connect_seconds: Some(connect_seconds),
        server_open_files: server.open_file_limits(),
        measured,
        violations,
        error: None,
    })
}

/// The server of each comma-separated node of `addr`, resolved.
fn servers(addr: &str) -> Result<Vec<(String, SocketAddr)>, String> {
    addr.split(',')
        .map(|node| {
            let resolved = node.to_socket_addrs().ok().and_then(|mut all| all.next());
            resolved
                .map(|server| (node.to_owned(), server))
                .ok_or_else(|| format!("cannot resolve {node}"))
        })
        .collect()
}

/// Opens every client (round robin over the comma-separated nodes of `addr`, and over
/// the source addresses) and waits until each is authenticated; any failure fails the
/// run. Returns the clients' recorder and the seconds they took.
async fn connect_all(
    args: &Args,
    label: &str,
    population: &Population,
    addr: &str,
) -> Result<(Shared, f64), String> {
    let connections = population.connections();
    let recorder = Recorder::new(connections);
    let slots = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let servers = servers(addr)?;
    let addresses: Vec<SocketAddr> = servers.iter().map(|(_, server)| *server).collect();
    let sources = limits::source_addresses(args, &addresses);
    if !sources.is_empty() {
        println!(
            "{label}: clients connect from {} source address(es), {} to {}",
            sources.len(),
            sources[0],
            sources[sources.len() - 1]
        );
    }
    let endpoints: Vec<Endpoint> = servers
        .iter()
        .map(|(node, server)| Endpoint {
            url: format!("ws://{node}/socket.io/?EIO=4&transport=websocket"),
            server: *server,
            source: None,
        })
        .collect();
    // Generous for 100,000 clients: they authenticate at a few thousand per second.
    let limit = Duration::from_secs(180.max(u64::from(connections) / 500));
    let started = Instant::now();
    for connection in 0..connections {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let mut endpoint = endpoints[connection as usize % endpoints.len()].clone();
        endpoint.source = sources
            .get(connection as usize % sources.len().max(1))
            .copied();
        tokio::task::spawn_local(clients::run(
            connection,
            endpoint,
            auth(population, connection, &args.jwt_secret),
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
        if started.elapsed() > limit {
            return Err(format!(
                "only {ready} of {connections} clients ready after {limit:?}: {:?}",
                recorder.borrow().problems
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{label}: {connections} clients connected and authenticated in {seconds:.1} s");
    Ok((recorder, seconds))
}

/// One scenario's line, printed as soon as it is measured.
fn print_measured(label: &str, result: &Measured) {
    println!(
        "{label}: {:<16} {} events ({:.0}/s), {} deliveries ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, CPU {} µs/delivery, {} violations, {} lost connections (server ran {}, waited for a CPU {}; loadgen CPU {})",
        result.scenario.name(),
        result.events,
        result.event_rate,
        result.delivered,
        result.delivery_rate,
        result.p50_ms,
        result.p99_ms,
        result
            .cpu_us_per_delivery
            .map_or("?".into(), |cpu| format!("{cpu:.3}")),
        result.violations(),
        result.connections_lost,
        percent(result.server_run_wait_percent.map(|(run, _)| run)),
        percent(result.server_run_wait_percent.map(|(_, wait)| wait)),
        percent(result.loadgen_cpu_percent),
    );
}
