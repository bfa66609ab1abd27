//! The server of `scripts/bench load --emit in-process`: the library served as
//! `examples/server.rs --no-monitor` serves it (JWT HS256 auth, no monitoring events,
//! state and audit log in the SQLite file `--db` or, with `--memory`, nowhere: the
//! storage flags are the server's own, `server/storage_args.rs`), with the emits made inside the process from a host
//! thread, as an application embedding the library makes them — `Hub::emit_to_user`,
//! `Hub::emit_to_admins` and `Hub::emit_maintenance_mode` — paced by the load generator's
//! commands on stdin (`bench_server/command.rs`, shared with the socketioxide reference;
//! the Node reference follows the same rules), so the three servers of the benchmark
//! compare like with like. Before the clients connect, every session of the population
//! is logged in with `Hub::emit_user_logged_in`, as the seed does at login.
//!
//! ```sh
//! target/release/examples/bench_server --addr 127.0.0.1:3000 --jwt-secret s --api-key k \
//!     --threads 1 --memory
//! ```

#[path = "bench_server/command.rs"]
mod command;
#[path = "server/storage_args.rs"]
mod storage_args;

use std::time::Duration;

use clap::Parser;
use command::{Command, Kind, now_us, pace, serve_commands};
use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::json;

/// The flags the load generator passes (see `examples/loadgen`).
#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    #[arg(long)]
    jwt_secret: String,
    /// The HTTP API stays on (as in `examples/server.rs`), though this mode does not use it.
    #[arg(long)]
    api_key: String,
    /// `ServerConfig::worker_threads` (0: the library's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, default_value_t = 100_000)]
    max_connections: usize,
    /// `--db`, `--memory`, `--durability`, as the server example takes them
    /// (`scripts/bench load --server-persist` passes `--db`, else `--memory`).
    #[command(flatten)]
    storage: storage_args::StorageArgs,
    /// Accepted for the load generator's common flags; monitoring is off here.
    #[arg(long)]
    no_monitor: bool,
}

fn main() {
    let args = Args::parse();
    let builder = Hub::builder().jwt_secret(args.jwt_secret.as_bytes());
    let hub = args
        .storage
        .apply(builder)
        .build()
        .unwrap_or_else(|error| fail(&error.to_string()));
    let config = ServerConfig {
        worker_threads: args.threads,
        max_connections: args.max_connections,
        api_key: Some(args.api_key.clone()),
        ..ServerConfig::default()
    };
    let server = hub
        .serve(&args.addr, config)
        .unwrap_or_else(|error| fail(&error.to_string()));
    // The server raised its soft open-file limit to the hard one (the ceiling of its
    // connections): the load generator's log shows which it ran with.
    let open_files = server
        .open_file_limit()
        .map_or("unknown".to_owned(), |limit| limit.to_string());
    println!(
        "microcoaster-realtime bench server listening on http://{} (open-file limit {open_files})",
        server.local_addr()
    );
    let emitter = hub.clone();
    std::thread::Builder::new()
        .name("host".into())
        .spawn(move || serve_commands(|command| run(&emitter, command)))
        .expect("the host thread starts");
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers can be installed");
    signals.forever().next();
    server.shutdown();
    hub.shutdown(Duration::from_secs(5));
}

fn fail(message: &str) -> ! {
    eprintln!("bench_server: {message}");
    std::process::exit(2)
}

/// One command, from the host thread.
fn run(hub: &Hub, command: &Command) {
    if command.kind == Kind::Login {
        return log_in(hub, command);
    }
    pace(command, |seq| {
        let sent_at = now_us();
        let data = json!({"seq": seq, "sentAt": sent_at, "timestamp": sent_at / 1000});
        let sent = match command.kind {
            Kind::User => {
                let user = format!("u{}", seq % command.users.max(1));
                hub.emit_to_user(user.as_str(), "bench:user", &data)
            }
            Kind::Admin => hub.emit_to_admins("bench:admin", &data),
            Kind::All => hub.emit_maintenance_mode(
                seq.is_multiple_of(2),
                &format!("bench {seq} {sent_at}"),
                "admin-0",
            ),
            Kind::Login => unreachable!("handled above"),
        };
        sent.is_ok()
    });
}

/// Logs in the session of every user and admin the load generator will connect (its
/// tokens carry `sid: bench-<sub>`).
fn log_in(hub: &Hub, command: &Command) {
    let started = std::time::Instant::now();
    let users = (0..command.users).map(|user| (format!("u{user}"), "user"));
    let admins = (0..command.admins).map(|admin| (format!("admin-{admin}"), "admin"));
    let (mut done, mut errors) = (0, 0);
    for (id, role) in users.chain(admins) {
        let user = json!({"id": id, "role": role});
        match hub.emit_user_logged_in(&user, &format!("bench-{id}")) {
            Ok(_) => done += 1,
            Err(error) => {
                errors += 1;
                eprintln!("log in {id}: {error}");
            }
        }
    }
    command::done(done, errors, started.elapsed());
}
