//! The in-process emit mode's control channel and pacer, shared by the servers of
//! `scripts/bench load` written in Rust (`examples/bench_server.rs` and
//! `benches/peers/socketioxide`, which includes this file by path) so both pace and
//! mark their emits identically; `benches/peers/node/server.js` follows the same rules.
//!
//! The load generator writes one JSON command per line on the server's stdin:
//! `{"kind":"user"|"admin"|"all","base":B,"users":U,"rate":R,"duration":D,"count":C}`.
//! Event `n` (0, 1, …) carries sequence number `B + n`; `user` events go to user
//! `u<(B + n) % U>`. With `rate` > 0 events are due at `rate` per second, and every
//! millisecond the emitter makes those due, for `duration` seconds or `count` events,
//! whichever ends first; with `rate` 0 it makes `count` events as fast as it can (a
//! burst). `{"kind":"login","users":U,"admins":A}` is sent once before any client
//! connects (servers that keep no sessions ignore it). The emitter answers each
//! command with one line: `bench-done {"emitted":N,"errors":E,"seconds":S}`.

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// One command of the load generator.
#[derive(Debug, Deserialize)]
pub struct Command {
    pub kind: Kind,
    #[serde(default)]
    pub base: u64,
    #[serde(default)]
    pub users: u64,
    /// Only `login` reads it, and only servers that log sessions in.
    #[serde(default)]
    #[allow(dead_code)]
    pub admins: u64,
    /// Events per second; 0 for a burst.
    #[serde(default)]
    pub rate: f64,
    /// Seconds.
    pub duration: Option<f64>,
    pub count: Option<u64>,
}

/// What a command emits.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `bench:user {seq, sentAt, timestamp}` to the two tabs of one user.
    User,
    /// `bench:admin {seq, sentAt, timestamp}` to every admin on the admin page.
    Admin,
    /// `system:maintenance {enabled, message: "bench <seq> <sentAt>", adminId}` to all.
    All,
    /// Log every session of the population in (before the clients connect).
    Login,
}

/// Microseconds since the Unix epoch (the clock of every `sentAt`).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as u64)
}

/// Runs `emit(seq)` for the events of `command` at its pace; `emit` says whether the
/// server accepted the event. Answers on stdout when done.
pub fn pace(command: &Command, mut emit: impl FnMut(u64) -> bool) {
    let started = Instant::now();
    let limit = command.duration.map(Duration::from_secs_f64);
    let count = command.count.unwrap_or(u64::MAX);
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut one = |n: u64| {
        if !emit(command.base + n) {
            errors += 1;
        }
    };
    if command.rate <= 0.0 {
        for n in 0..command.count.unwrap_or(0) {
            one(n);
        }
        sent = command.count.unwrap_or(0);
    } else {
        loop {
            let elapsed = started.elapsed();
            if limit.is_some_and(|limit| elapsed >= limit) || sent >= count {
                break;
            }
            let due = ((elapsed.as_secs_f64() * command.rate).ceil() as u64).min(count);
            while sent < due {
                one(sent);
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    done(sent, errors, started.elapsed());
}

/// The answer to a command.
pub fn done(emitted: u64, errors: u64, took: Duration) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        r#"bench-done {{"emitted":{emitted},"errors":{errors},"seconds":{}}}"#,
        took.as_secs_f64()
    );
    let _ = out.flush();
}

/// Reads commands from stdin until it closes, running each with `run`; a line that is
/// not a command is answered with an error so the load generator does not wait.
pub fn serve_commands(mut run: impl FnMut(&Command)) {
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { return };
        match serde_json::from_str::<Command>(&line) {
            Ok(command) => run(&command),
            Err(error) => {
                eprintln!("bad bench command {line:?}: {error}");
                done(0, 1, Duration::ZERO);
            }
        }
    }
}
