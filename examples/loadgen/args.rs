//! Command-line arguments and the scenarios they select.

use std::path::PathBuf;

use clap::Parser;

use crate::model::Kind;

/// Load generator for the Socket.IO server (see the example's docs).
#[derive(Parser, Debug)]
#[command(about)]
pub struct Args {
    /// Socket.IO clients to open (at most about the open-file limit minus a few).
    #[arg(long, default_value_t = 500)]
    pub connections: u32,
    /// Seconds of each measured scenario.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Scenario::AdminBroadcast, Scenario::All, Scenario::UserTelemetry]
    )]
    pub scenario: Vec<Scenario>,
    /// Target deliveries per second (events/s = rate / recipients of one event).
    #[arg(long, default_value_t = 100_000.0)]
    pub rate: f64,
    /// Share of the connections that are admins, in percent (at least one admin).
    #[arg(long, default_value_t = 1.0)]
    pub admin_percent: f64,
    /// Our server binary [default: ${CARGO_TARGET_DIR:-target}/release/examples/server].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Runtime threads of our server (`--threads`).
    #[arg(long, default_value_t = 1)]
    pub server_threads: usize,
    /// Run our server with its SQLite database (batched durability, every emit audited)
    /// instead of `--memory`; the reference servers keep nothing, so the default
    /// compares like with like (for the same reason ours runs `--no-monitor`).
    #[arg(long)]
    pub server_persist: bool,
    /// A reference server command, run after ours with the same flags (`--addr`,
    /// `--jwt-secret`, `--api-key`), e.g. `node benches/peers/node/server.js`.
    #[arg(long)]
    pub server_cmd: Option<String>,
    /// Label of `--server-cmd` in the report.
    #[arg(long, default_value = "node")]
    pub server_cmd_label: String,
    /// Do not run our server (only `--server-cmd` or `--target`).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    AdminBroadcast,
    All,
    UserTelemetry,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::AdminBroadcast => "admin-broadcast",
            Scenario::All => "all",
            Scenario::UserTelemetry => "user-telemetry",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Scenario::AdminBroadcast => Kind::AdminBroadcast,
            Scenario::All => Kind::All,
            Scenario::UserTelemetry => Kind::Telemetry,
        }
    }
}
