//! This process's resident memory and CPU time, read from `/proc/self` (Linux). On
//! other systems, or when `/proc` is unreadable, the values are `None` and the stats say
//! so instead of guessing. This module must not keep state beyond what it reads.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, which Linux fixes at
/// 100 on every architecture for this interface.
const USER_HZ: f64 = 100.0;

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessSample {
    /// Resident set size in bytes (`VmRSS`).
    pub rss_bytes: Option<u64>,
    /// User plus system CPU time since the process started.
    pub cpu_time: Option<Duration>,
}

/// Reads the current sample.
pub fn sample() -> ProcessSample {
    ProcessSample {
        rss_bytes: rss_bytes(),
        cpu_time: cpu_time(),
    }
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: fields are
    // counted from the last `)`. utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) as f64 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process_memory_and_cpu() {
        let mut spin = 0u64;
        for i in 0..5_000_000u64 {
            spin = spin.wrapping_add(i * i);
        }
        std::hint::black_box(spin);
        let sample = sample();
        assert!(sample.rss_bytes.is_some_and(|rss| rss > 1024 * 1024));
        assert!(sample.cpu_time.is_some());
    }
}
