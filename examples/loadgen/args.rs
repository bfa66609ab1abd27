//! Command-line arguments and the scenarios they select.

use std::path::PathBuf;

use clap::Parser;

use crate::model::Kind;

/// Load generator for the Socket.IO server (see the example's docs).
#[derive(Parser, Debug)]
#[command(about)]
pub struct Args {
    /// Socket.IO clients to open: at most the hard open-file limit (`ulimit -Hn`) minus
    /// a margin (`limits::FD_MARGIN`), refused up front beyond it.
    #[arg(long, default_value_t = 500)]
    pub connections: u32,
    /// Loopback source addresses the clients connect from, round robin: 127.0.0.1,
    /// 127.0.0.2, … Each address has its own range of ephemeral ports (about 28,000),
    /// so more clients than that need several [default: one per 25,000 clients when
    /// every server is on loopback and there are more than 25,000, else 0]; 0 lets the
    /// system choose (quicker: a bound socket's port is searched for at `bind`).
    #[arg(long)]
    pub source_addresses: Option<u32>,
    /// Events of `broadcast`: each to every connection, the next made only once the
    /// last client has the previous one.
    #[arg(long, default_value_t = 5)]
    pub broadcasts: u64,
    /// Seconds of each measured scenario.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// How the events are made: `api` posts each to the server's HTTP emit API;
    /// `in-process` has an emitter inside each server process make them (for ours, from
    /// a host thread through the library's API), commanded over the server's stdin.
    #[arg(long, value_enum, default_value_t = EmitMode::Api)]
    pub emit: EmitMode,
    /// Scenarios to run, in order: paced at `--rate` for `--duration`, or bursts.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Scenario::AdminBroadcast, Scenario::All, Scenario::UserTelemetry,
            Scenario::UserBurst, Scenario::AllBurst, Scenario::AdminBurst]
    )]
    pub scenario: Vec<Scenario>,
    /// Target deliveries per second (events/s = rate / recipients of one event).
    #[arg(long, default_value_t = 100_000.0)]
    pub rate: f64,
    /// Per-user events per second in `user-telemetry` [default: --rate / 2].
    #[arg(long)]
    pub user_rate: Option<f64>,
    /// Events of `user-burst`, made as fast as possible, round robin over the users.
    #[arg(long, default_value_t = 200_000)]
    pub user_burst: u64,
    /// Events of `admin-burst`, each to every admin.
    #[arg(long, default_value_t = 20_000)]
    pub admin_burst: u64,
    /// Events of `all-burst`, each to every connection.
    #[arg(long, default_value_t = 100)]
    pub all_burst: u64,
    /// Share of the connections that are admins, in percent (at least one admin).
    #[arg(long, default_value_t = 1.0)]
    pub admin_percent: f64,
    /// Our server binary [default: ${CARGO_TARGET_DIR:-target}/release/examples/server].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Our server for `--emit in-process`
    /// [default: ${CARGO_TARGET_DIR:-target}/release/examples/bench_server].
    #[arg(long)]
    pub bench_server_bin: Option<PathBuf>,
    /// Runtime threads of our server (`--threads`).
    #[arg(long, default_value_t = 1)]
    pub server_threads: usize,
    /// Run our server with its SQLite database (batched durability, every emit audited)
    /// instead of `--memory`; the reference servers keep nothing, so the default
    /// compares like with like (for the same reason ours runs `--no-monitor`).
    #[arg(long)]
    pub server_persist: bool,
    /// A reference server, `LABEL=COMMAND`, run after ours with the same flags (`--addr`,
    /// `--jwt-secret`, `--api-key`), e.g. `node=node benches/peers/node/server.js`;
    /// repeat for several, which run in the order given.
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<(String, String)>,
    /// Do not run our server (only `--peer` or `--target`).
    #[arg(long)]
    pub skip_ours: bool,
    /// Drive an already-running server at this address instead of starting any; several
    /// comma-separated addresses (nodes of one cluster on Redis) get the clients round
    /// robin, and the emits go to the first.
    #[arg(long)]
    pub target: Option<String>,
    /// Process id of the `--target` server, for its CPU time and RSS; several
    /// comma-separated ids (the nodes of a cluster, and its Redis) are added up.
    #[arg(long, value_delimiter = ',')]
    pub target_pid: Vec<u32>,
    /// Pin the servers this starts to these CPUs (`taskset -c`), e.g. `0`.
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// JWT HS256 secret given to the server and used to sign the clients' tokens.
    #[arg(long, default_value = "loadgen-jwt-secret")]
    pub jwt_secret: String,
    /// API key given to the server and used for the emit calls.
    #[arg(long, default_value = "loadgen-api-key")]
    pub api_key: String,
    /// Keep-alive HTTP/1.1 connections to the emit API (requests are pipelined).
    #[arg(long, default_value_t = 4)]
    pub http_connections: usize,
    /// Most emit requests in flight at once.
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// Clients connecting at the same time.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
}

fn parse_peer(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((label, command)) if !label.is_empty() && !command.trim().is_empty() => {
            Ok((label.to_owned(), command.to_owned()))
        }
        _ => Err(format!("expected LABEL=COMMAND, got {value:?}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmitMode {
    Api,
    InProcess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    AdminBroadcast,
    All,
    UserTelemetry,
    /// `--user-burst` per-user events as fast as possible.
    UserBurst,
    /// `--admin-burst` admin broadcasts as fast as possible.
    AdminBurst,
    /// `--all-burst` broadcasts to everyone as fast as possible.
    AllBurst,
    /// `--broadcasts` broadcasts to everyone, one at a time: each measured until the
    /// last client has it.
    Broadcast,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::AdminBroadcast => "admin-broadcast",
            Scenario::All => "all",
            Scenario::UserTelemetry => "user-telemetry",
            Scenario::UserBurst => "user-burst",
            Scenario::AdminBurst => "admin-burst",
            Scenario::AllBurst => "all-burst",
            Scenario::Broadcast => "broadcast",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Scenario::AdminBroadcast | Scenario::AdminBurst => Kind::AdminBroadcast,
            Scenario::All | Scenario::AllBurst | Scenario::Broadcast => Kind::All,
            Scenario::UserTelemetry | Scenario::UserBurst => Kind::Telemetry,
        }
    }

    pub fn is_burst(self) -> bool {
        matches!(
            self,
            Scenario::UserBurst | Scenario::AdminBurst | Scenario::AllBurst | Scenario::Broadcast
        )
    }

    /// The events of a burst scenario; `None` for a paced one.
    pub fn burst(self, args: &Args) -> Option<u64> {
        match self {
            Scenario::UserBurst => Some(args.user_burst),
            Scenario::AdminBurst => Some(args.admin_burst),
            Scenario::AllBurst => Some(args.all_burst),
            // One at a time: each broadcast is a burst of one (`Bench::broadcast`).
            Scenario::Broadcast => Some(1),
            _ => None,
        }
    }
}
