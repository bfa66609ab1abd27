//! One throwaway `redis-server` (`Redis`): on a free port of 127.0.0.1, its files in a
//! folder of its own under the system temp dir, SIGKILLed and its folder removed when
//! dropped; and the arguments every `redis-server` of the tests and benchmarks starts
//! with (`server_args`: loopback only, nothing saved), spelled once here.
//!
//! Shared by `tests/cluster` and `benches/broker.rs` (which includes this file with
//! `#[path]`), so it uses `std` alone and holds no test logic. Fails, never skips, when
//! `redis-server` (or the binary `MCRT_REDIS_SERVER` names) is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A TCP port of 127.0.0.1 that was free when probed.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .port()
}

/// The arguments of a `redis-server` on `port` keeping its files in `dir`: bound to
/// 127.0.0.1 only, with neither RDB snapshots nor an append-only file (a throwaway
/// server, and no disk write to slow it down).
pub fn server_args(port: u16, dir: &Path) -> Vec<String> {
    let port = port.to_string();
    let dir = dir.to_string_lossy();
    let args = ["--port", &port, "--bind", "127.0.0.1", "--save", ""];
    let files = ["--appendonly", "no", "--dir", &dir];
    args.iter()
        .chain(&files)
        .map(|arg| arg.to_string())
        .collect()
}

/// A running `redis-server`, SIGKILLed and its folder removed when dropped.
pub struct Redis {
    child: Child,
    dir: PathBuf,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
}

/// Starts a `redis-server` (`MCRT_REDIS_SERVER` or the PATH) and waits until it says it
/// accepts connections; panics when it cannot start or exits first.
pub fn start_redis() -> Redis {
    let bin = std::env::var("MCRT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("mcrt-redis-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for redis-server");
    let mut child = Command::new(&bin)
        .args(server_args(port, &dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("redis-server is required ({bin}: {error}); scripts/ensure-redis installs it")
        });
    let stdout = child.stdout.take().expect("piped stdout");
    let url = format!("redis://127.0.0.1:{port}");
    let redis = Redis { child, dir, url };
    for line in BufReader::new(stdout).lines() {
        if line
            .expect("redis-server output")
            .contains("Ready to accept connections")
        {
            return redis;
        }
    }
    panic!("redis-server exited before accepting connections");
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
