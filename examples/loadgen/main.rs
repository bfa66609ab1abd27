//! Load generator: up to 100,000 Socket.IO websocket clients from one process (as many
//! as the hard open-file limit allows: a larger run is refused up front, naming it; past
//! 25,000 the clients connect from several loopback source addresses, `limits.rs`)
//! against the server example (and, in the same run, reference servers such as the Node one in
//! `benches/peers/node/` and the socketioxide one in `benches/peers/socketioxide/`), with
//! every delivery checked.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/loadgen --connections 500 --duration 5 \
//!     --peer "node=node benches/peers/node/server.js"
//! ```
//!
//! `scripts/bench load` runs it the way the numbers in the README were measured: each
//! server pinned to core 0, the load generator to core 1. `scripts/bench scale` runs
//! ours alone with the `broadcast` and `user-telemetry` scenarios and prints the scale
//! summary (`scale.rs`): connect time, RSS per connection, broadcast p50/p99.
//!
//! Two ways to make the events (`--emit`): `api` posts each to the server's HTTP emit
//! API (below); `in-process` has an emitter inside each server process make them —
//! ours is `examples/bench_server.rs`, calling `Hub::emit_to_user` / `emit_to_admins` /
//! `emit_maintenance_mode` from a host thread — paced alike in every server and
//! commanded over its stdin (`control.rs`), so the servers compare like with like.
//!
//! Population: 1% admins (page `admin`), the rest users with two tabs each (page
//! `modules`), each authenticated at connect with a JWT signed with `--jwt-secret`.
//! Scenarios, each paced at `--rate` deliveries/s for `--duration` seconds (with
//! `--emit api` through `POST /api/v1/emit/<call>`):
//! - `admin-broadcast`: `to_admins` and `admin_action` alternately, reaching every admin;
//! - `all`: `maintenance_mode` toggles, reaching every connection;
//! - `user-telemetry`: `module_added` then `module_online` for each user's module
//!   (checked, not measured), then `telemetry_update` round-robin over the users
//!   (`--user-rate` events/s); in-process, `bench:user` to each user in turn;
//! - `user-burst`, `admin-burst`, `all-burst`: `--user-burst`, `--admin-burst`,
//!   `--all-burst` events of those kinds made as fast as the emitter can;
//! - `broadcast` (not in the default list): `--broadcasts` `maintenance_mode` toggles,
//!   one at a time, each made once the last client has the previous one.
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
//! delivery. The exit status is non-zero on any violation of ours (a missing,
//! duplicated or misdirected delivery, a failed emit call, an unexpected event or a lost
//! connection) or when a server could not be run; a `--peer`'s violations and missed
//! performance targets are reported, not failed.

mod args;
mod bench;
mod clients;
mod control;
mod drive;
mod emitter;
mod limits;
mod model;
mod process;
mod report;
mod scale;

use std::path::{Path, PathBuf};

use clap::Parser;

use args::{Args, EmitMode};
use drive::{Run, run};
use model::Population;
use process::{Launch, ServerProcess};
use report::report;

fn main() {
    let args = Args::parse();
    let open_files = match limits::open_files_for(args.connections) {
        Ok(limit) => limit,
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::exit(2);
        }
    };
    let population = Population::new(args.connections, args.admin_percent);
    println!(
        "loadgen: {} connections ({} admins on `admin`, {} users × 2 tabs on `modules`), \
         {} s per scenario, target {} deliveries/s; open-file limit {open_files}",
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
    let runs = match &args.target {
        Some(target) => {
            let server = ServerProcess::external(args.target_pid.clone());
            vec![run(&args, "target", server, target)]
        }
        None => launches(&args, &work)
            .into_iter()
            .map(|(label, launch)| start_and_run(&args, &work, &label, &launch))
            .collect(),
    };
    let _ = std::fs::remove_dir_all(&work);
    report(&args, &population, &runs);
    if args.scenario.contains(&args::Scenario::Broadcast) {
        scale::report(&args, &population, &runs);
    }
    // A reference server's losses are a finding about it (the table shows them); the
    // exit status judges ours, and any server that could not be run at all.
    let is_peer = |run: &Run| args.peers.iter().any(|(label, _)| *label == run.label);
    for peer in runs.iter().filter(|r| r.violations > 0 && is_peer(r)) {
        println!(
            "{}: {} violations (a reference server's, reported, not failed)",
            peer.label, peer.violations
        );
    }
    let failed = runs
        .iter()
        .any(|r| r.error.is_some() || (r.violations > 0 && !is_peer(r)));
    std::process::exit(i32::from(failed));
}

/// The servers this run starts, labelled: ours unless `--skip-ours`, then each `--peer`.
fn launches(args: &Args, work: &Path) -> Vec<(String, Launch)> {
    let mut launches = Vec::new();
    let control = args.emit == EmitMode::InProcess;
    if !args.skip_ours {
        let (given, name) = match args.emit {
            EmitMode::Api => (&args.server_bin, "server"),
            EmitMode::InProcess => (&args.bench_server_bin, "bench_server"),
        };
        let bin = given.clone().unwrap_or_else(|| {
            let dir = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
            PathBuf::from(dir).join("release/examples").join(name)
        });
        let storage = if args.server_persist {
            vec!["--db".into(), work.join("bench.db").display().to_string()]
        } else {
            vec!["--memory".into()]
        };
        launches.push((
            "ours".to_owned(),
            Launch {
                program: vec![bin.display().to_string()],
                extra_args: [
                    storage,
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
                control,
            },
        ));
    }
    for (label, command) in &args.peers {
        launches.push((
            label.clone(),
            Launch {
                program: command.split_whitespace().map(str::to_owned).collect(),
                extra_args: Vec::new(),
                cpus: args.server_cpus.clone(),
                control,
            },
        ));
    }
    launches
}

/// Starts one server on a free port and runs every scenario against it.
fn start_and_run(args: &Args, work: &Path, label: &str, launch: &Launch) -> Run {
    let addr = match process::free_addr() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("no free port: {error}");
            std::process::exit(2);
        }
    };
    let log = work.join(format!("{label}.log"));
    let server = match ServerProcess::start(launch, &addr, &args.jwt_secret, &args.api_key, &log) {
        Ok(server) => server,
        Err(error) => return Run::failed(label, error),
    };
    let pids: Vec<String> = server.pids.iter().map(u32::to_string).collect();
    let pid = if pids.is_empty() {
        "?".to_owned()
    } else {
        pids.join(",")
    };
    println!("{label}: server pid {pid} on {addr}");
    run(args, label, server, &addr)
}
