//! Where the server keeps its state: `--db`, `--memory`, `--durability`, and the hub
//! builder step they select. Flattened into the server example's flags and into
//! `examples/bench_server.rs`'s (which includes this file with `#[path]`), so both
//! persist alike, from the same flags and environment variables. Owns these flags
//! only: what else is stored beside the database (the secrets) is `server.rs`'s.

use std::path::PathBuf;

use microcoaster_realtime::{Durability, HubBuilder};

/// The storage flags (flattened into a server's arguments).
#[derive(clap::Args, Debug)]
pub struct StorageArgs {
    /// Database path; secrets the server generates are stored beside it as
    /// `<db>.secrets.json`.
    #[arg(long, env = "MCRT_DB", default_value = "./microcoaster-realtime.db")]
    pub db: PathBuf,
    /// Keep everything in memory: no database, so state, sessions and the audit log end
    /// with the process; secrets not given are generated for this run only.
    #[arg(long, env = "MCRT_MEMORY", conflicts_with = "durability")]
    pub memory: bool,
    /// What a crash can lose: `off` (no fsync), `batched` (fsync at most every 50 ms),
    /// `sync` (every emit returns after its audit row is on disk).
    #[arg(long, env = "MCRT_DURABILITY", default_value = "batched")]
    pub durability: Durability,
}

impl StorageArgs {
    /// `builder` persisting state and the audit log in `--db` with `--durability`, or
    /// as it is with `--memory`.
    pub fn apply(&self, builder: HubBuilder) -> HubBuilder {
        if self.memory {
            builder
        } else {
            builder.persist(&self.db, self.durability)
        }
    }
}
