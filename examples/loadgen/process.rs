//! The server under test as a process: starting it (optionally pinned with `taskset`),
//! waiting for its port, stopping it, and reading its CPU time, RSS and open-file limits
//! from `/proc`.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::control::Control;

/// A server the load generator drives: one it started, or processes given by pid (the
/// nodes of a cluster and their Redis count as one server: their CPU and RSS add up).
pub struct ServerProcess {
    pub pids: Vec<u32>,
    child: Option<Child>,
    pub log: Option<PathBuf>,
    /// The emitter's control channel, for a server started with `Launch::control`.
    pub control: Option<Control>,
}

/// How to start a server: the program and its own arguments (before the common flags).
pub struct Launch {
    pub program: Vec<String>,
    pub extra_args: Vec<String>,
    pub cpus: Option<String>,
    /// Pipe its stdin and stdout for the in-process emit mode's commands.
    pub control: bool,
}

impl ServerProcess {
    pub fn external(pids: Vec<u32>) -> Self {
        Self {
            pids,
            child: None,
            log: None,
            control: None,
        }
    }

    /// Starts `launch` with `--addr`, `--jwt-secret`, `--api-key` and its extra args,
    /// output to `log`, and waits until `addr` accepts connections.
    pub fn start(
        launch: &Launch,
        addr: &str,
        jwt_secret: &str,
        api_key: &str,
        log: &Path,
    ) -> Result<Self, String> {
        let mut words: Vec<String> = Vec::new();
        if let Some(cpus) = &launch.cpus {
            words.extend(["taskset".into(), "-c".into(), cpus.clone()]);
        }
        words.extend(launch.program.iter().cloned());
        let (program, args) = words.split_first().ok_or("empty server command")?;
        let output = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let errors = output.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(program);
        command
            .args(args)
            .args([
                "--addr",
                addr,
                "--jwt-secret",
                jwt_secret,
                "--api-key",
                api_key,
            ])
            .args(&launch.extra_args)
            .stderr(errors);
        if launch.control {
            command.stdin(Stdio::piped()).stdout(Stdio::piped());
        } else {
            command
                .stdin(Stdio::null())
                .stdout(output.try_clone().map_err(|e| e.to_string())?);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let control = child
            .stdin
            .take()
            .zip(child.stdout.take())
            .map(|(stdin, stdout)| Control::new(stdin, stdout, output));
        let mut server = Self {
            pids: vec![child.id()],
            child: Some(child),
            log: Some(log.to_owned()),
            control,
        };
        server.wait_listening(addr)?;
        Ok(server)
    }

    /// Waits until `addr` accepts connections; fails if the server exits first or
    /// does not listen within 30 s.
    fn wait_listening(&mut self, addr: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(addr).is_ok() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "the server exited ({status}) before listening; log:\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server did not listen on {addr} within 30 s; log:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_tail(&self) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Whether a server we started has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// CPU time (user + system) the processes used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.sum(Self::cpu_seconds_of)
    }

    /// `None` when no pid is known or one process is gone, so a total never silently
    /// leaves a node out.
    fn sum<T: std::iter::Sum<T>>(&self, each: impl Fn(u32) -> Option<T>) -> Option<T> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&pid| each(pid)).sum()
    }

    fn cpu_seconds_of(pid: u32) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) as f64 / clock_ticks())
    }

    /// Time its threads spent running and waiting for a CPU (runnable but not running),
    /// in seconds, summed over its live threads (`/proc/<pid>/task/*/schedstat`). Waiting
    /// time shows how much other processes on the same core delayed the server.
    pub fn run_and_wait_seconds(&self) -> Option<(f64, f64)> {
        let run = self.sum(|pid| Self::run_and_wait_of(pid).map(|(run, _)| run))?;
        let wait = self.sum(|pid| Self::run_and_wait_of(pid).map(|(_, wait)| wait))?;
        Some((run, wait))
    }

    fn run_and_wait_of(pid: u32) -> Option<(f64, f64)> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        let (mut run, mut wait) = (0u64, 0u64);
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            let mut fields = text
                .split_whitespace()
                .map(|f| f.parse::<u64>().unwrap_or(0));
            run += fields.next().unwrap_or(0);
            wait += fields.next().unwrap_or(0);
        }
        Some((run as f64 / 1e9, wait as f64 / 1e9))
    }

    /// Resident set size in KiB (`VmRSS`), summed over the processes.
    pub fn rss_kib(&self) -> Option<u64> {
        self.sum(Self::rss_kib_of)
    }

    fn rss_kib_of(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
    }

    /// The soft and hard open-file limits of the (first) process, as the kernel applies
    /// them (`Max open files` in `/proc/<pid>/limits`): what the server raised its soft
    /// limit to, and the ceiling of its connections.
    pub fn open_file_limits(&self) -> Option<(u64, u64)> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pids.first()?));
        let line = limits
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("Max open files").map(str::to_owned))?;
        let mut values = line.split_whitespace().map(|v| v.parse::<u64>().ok());
        Some((values.next()??, values.next()??))
    }

    /// SIGTERM, then SIGKILL if it is still running after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, usually 100).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A free local port (bound and released; a small race is acceptable for a bench).
pub fn free_addr() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}
