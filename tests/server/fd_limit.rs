//! The server raises the process's soft open-file limit to the hard one at start
//! (`ServerConfig::raise_fd_limit`, `src/transport/server/fd_limit.rs`), and leaves it
//! alone when told to. The limit is process-wide, so each case runs in a child process
//! (this test binary re-run as `child_process_entry`, driven by `MCRT_FD_LIMIT_CHILD`)
//! that first lowers its soft limit: the other tests of this binary never see a change,
//! and a server that did not raise the limit fails the check. Run alone the entry does
//! nothing.
#![cfg(unix)]

use std::process::Command;

use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::server::ServerConfig;

const CHILD_ENV: &str = "MCRT_FD_LIMIT_CHILD";
/// The soft limit a child lowers itself to before it starts a server.
const LOWERED: u64 = 128;
/// Printed by a child whose checks passed (libtest exits 0 for an unknown test name too).
const PASSED: &str = "fd-limit child passed";

/// Runs `mode` in a child process and asserts it passed its checks.
fn run_child(mode: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fd_limit::child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(PASSED),
        "child `{mode}` failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn starting_a_server_raises_the_soft_limit_to_the_hard_one() {
    run_child("raise");
}

#[test]
fn with_raise_fd_limit_off_the_soft_limit_stays() {
    run_child("keep");
}

/// Entry point of the child processes; does nothing in a normal run.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    if hard <= LOWERED {
        // Nothing to raise: the check could not fail here.
        println!("{PASSED} (hard limit {hard}: nothing to check)");
        return;
    }
    rlimit::Resource::NOFILE.set(LOWERED, hard).unwrap();
    let raise = mode == "raise";
    let hub = Hub::builder()
        .jwt_secret("s3cret".as_bytes())
        .build()
        .unwrap();
    let config = ServerConfig {
        raise_fd_limit: raise,
        ..ServerConfig::default()
    };
    let server = hub.serve("127.0.0.1:0", config).expect("server starts");
    let (soft, after_hard) = rlimit::Resource::NOFILE.get().unwrap();
    let expected = if raise { hard } else { LOWERED };
    assert_eq!(soft, expected, "soft limit after start ({mode})");
    assert_eq!(after_hard, hard, "the hard limit is never changed");
    assert_eq!(server.open_file_limit(), Some(expected));
    drop(server);
    println!("{PASSED}");
}
