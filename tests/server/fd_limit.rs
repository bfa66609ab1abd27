//! The server raises the process's soft open-file limit to the hard one at start
//! (`ServerConfig::raise_fd_limit`, `src/transport/server/fd_limit.rs`), and leaves it
//! alone when told to. The limit is process-wide, so each case runs in a child process
//! (this test binary re-run as `child_process_entry`, driven by `MCRT_FD_LIMIT_CHILD`)
//! that first lowers its soft limit: the other tests of this binary never see a change,
//! and a server that did not raise the limit fails the check. Run alone the entry does
//! nothing.
//!
//! Out of descriptors, the accept loop waits instead of spinning: a child fills its
//! descriptor table, this process connects (the connection waits in the backlog, each
//! accept fails with `EMFILE`), the child's CPU time over one second must stay small,
//! and once the child frees descriptors the waiting connection is served.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::server::ServerConfig;

const CHILD_ENV: &str = "MCRT_FD_LIMIT_CHILD";
/// The soft limit a child lowers itself to before it starts a server.
const LOWERED: u64 = 128;
/// Printed by a child whose checks passed (libtest exits 0 for an unknown test name too).
const PASSED: &str = "fd-limit child passed";

/// This test binary, to run only `child_process_entry` in `mode`.
fn child(mode: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "fd_limit::child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode);
    command
}

/// Runs `mode` in a child process and asserts it passed its checks.
fn run_child(mode: &str) {
    let output = child(mode).output().unwrap();
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

/// The child (`emfile` mode) starts a server and fills its descriptor table; this
/// process connects and sends an Engine.IO handshake, which waits in the backlog while
/// every accept fails. The child measures its own CPU time meanwhile (a spinning accept
/// loop burns a core), then frees its descriptors: the handshake must then be answered.
#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_the_accept_loop_waits_and_then_serves_again() {
    let mut process = child("emfile")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = process.stdin.take().unwrap();
    let mut from_child = BufReader::new(process.stdout.take().unwrap());
    let port = read_until(&mut from_child, "port ");
    let mut client = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    client
        .write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The child measures its CPU time from now on, then frees its descriptors.
    writeln!(to_child, "connected").unwrap();
    let cpu = read_until(&mut from_child, "accept loop cpu ms ");
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let read = client.read_to_string(&mut answer);
    writeln!(to_child, "answered").unwrap();
    let mut rest = String::new();
    from_child.read_to_string(&mut rest).unwrap();
    let status = process.wait().unwrap();
    assert!(
        status.success() && rest.contains(PASSED),
        "child failed ({status}):\n{rest}"
    );
    read.expect("the handshake waiting in the backlog is answered");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"sid\""),
        "answer: {answer}"
    );
    // A loop that retried at once used about a whole core's second here.
    let cpu: u64 = cpu.parse().unwrap();
    assert!(
        cpu < 250,
        "the server used {cpu} ms of CPU in 1 s while out of descriptors"
    );
}

/// Reads the child's lines until one holds `prefix` (libtest may have printed the test's
/// name before it on the same line); returns what follows it.
fn read_until(from_child: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            from_child.read_line(&mut line).unwrap() > 0,
            "the child ended before printing {prefix:?}"
        );
        if let Some((_, rest)) = line.trim_end().split_once(prefix) {
            return rest.to_owned();
        }
    }
}

/// Entry point of the child processes; does nothing in a normal run.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    #[cfg(target_os = "linux")]
    if mode == "emfile" {
        return out_of_descriptors_child();
    }
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

/// The `emfile` child: see `out_of_descriptors_the_accept_loop_waits_and_then_serves_again`.
#[cfg(target_os = "linux")]
fn out_of_descriptors_child() {
    let hub = Hub::builder()
        .jwt_secret("s3cret".as_bytes())
        .build()
        .unwrap();
    let config = ServerConfig {
        raise_fd_limit: false,
        worker_threads: 1,
        ..ServerConfig::default()
    };
    let server = hub.serve("127.0.0.1:0", config).expect("server starts");
    // Opened before the table is full: reading it again needs no descriptor.
    let mut clock = CpuClock(std::fs::File::open("/proc/self/stat").unwrap());
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    rlimit::Resource::NOFILE
        .set(LOWERED.min(hard), hard)
        .unwrap();
    // Every descriptor left taken: the next accept fails with EMFILE.
    let mut filler = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        filler.push(file);
    }
    println!("port {}", server.local_addr().port());
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).unwrap();
    let before = clock.now();
    std::thread::sleep(Duration::from_secs(1));
    let used = clock.now() - before;
    drop(filler);
    println!("accept loop cpu ms {}", used.as_millis());
    line.clear();
    stdin.read_line(&mut line).unwrap();
    drop(server);
    println!("{PASSED}");
}

/// This process's CPU time (user and system), read from its `/proc/self/stat`.
#[cfg(target_os = "linux")]
struct CpuClock(std::fs::File);

#[cfg(target_os = "linux")]
impl CpuClock {
    fn now(&mut self) -> Duration {
        use std::io::Seek;
        let mut stat = String::new();
        self.0.rewind().unwrap();
        self.0.read_to_string(&mut stat).unwrap();
        // Fields after the command name (which may hold spaces): field 3 on.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // utime and stime are in USER_HZ ticks, 100 per second on Linux.
        Duration::from_millis(ticks * 10)
    }
}
