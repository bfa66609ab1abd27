//! How persistence behaves: durability mode, batching, queue bound, retention.
//!
//! Owns [`Durability`], [`PersistConfig`] and [`Retention`] and their documented
//! defaults. This module must not touch the database.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// What a crash can lose. Every mode writes through the same single writer thread in
/// WAL mode; a commit happens when 1,000 rows ([`PersistConfig::batch_rows`]) are
/// pending or the oldest pending row is 50 ms old ([`PersistConfig::batch_interval`]),
/// and at once when a caller waits (`Sync` writes, `flush`, `close`).
///
/// | mode | the caller waits | fsync | a process crash (SIGKILL) loses | a power loss also loses |
/// |---|---|---|---|---|
/// | `Off` | never | never (`synchronous=OFF`) | rows not committed: the queue and at most one batch | any commit the OS had not written |
/// | `Batched` (default) | never | the WAL, at most every 50 ms (`synchronous=NORMAL` + a timed fsync) | rows not committed: the queue and at most one batch | commits of the last 50 ms |
/// | `Sync` | until its audit row is committed and fsynced | every commit (`synchronous=FULL`) | nothing an `audit` call returned `Ok` for | the same |
///
/// The queue holds at most [`PersistConfig::queue_capacity`] rows (65,536 by default),
/// so what a crash can lose in `Batched` mode is bounded by `queue_capacity +
/// batch_rows` rows, and in time by how far the writer lags (`PersistMetrics::lag`).
/// In `Off` and `Batched` an emit never waits for the writer: while the queue is full
/// (an emitter outrunning the disk) new rows are refused, counted in
/// `PersistMetrics::rows_dropped` and logged, and the emit still delivers; a crash then
/// loses those rows too (`tests/persistence/persist_crash.rs` checks the bound at hub level).
/// A hub that wants "memory only" (DESIGN §3) does not open persistence at all; `Off`
/// still writes the file, only without fsync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Batched writes, never fsynced.
    Off,
    /// Batched writes (a commit every 50 ms or 1,000 rows), the WAL fsynced at most
    /// every 50 ms.
    #[default]
    Batched,
    /// Every audit call returns after its row (and every write enqueued before it) is
    /// committed and fsynced.
    Sync,
}

impl Durability {
    /// The mode's name: `off`, `batched` or `sync`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Batched => "batched",
            Self::Sync => "sync",
        }
    }
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            "batched" => Ok(Self::Batched),
            "sync" => Ok(Self::Sync),
            other => Err(format!(
                "unknown durability {other:?}: expected off, batched or sync"
            )),
        }
    }
}

/// How long rows are kept. `None` keeps without that limit. The writer applies it every
/// [`interval`](Self::interval) (and on [`Persistence::prune_now`](super::Persistence::prune_now)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Audit rows older than this are deleted (default 90 days).
    pub audit_max_age: Option<Duration>,
    /// Only the newest this many audit rows are kept (default: no limit).
    pub audit_max_rows: Option<u64>,
    /// Event-history rows older than this are deleted (default 2 minutes, Socket.IO's
    /// default `maxDisconnectionDuration`).
    pub history_max_age: Option<Duration>,
    /// Only the newest this many event-history rows are kept (default 100,000).
    pub history_max_rows: Option<u64>,
    /// How often the writer prunes (default 10 s).
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            audit_max_age: Some(Duration::from_secs(90 * 24 * 3600)),
            audit_max_rows: None,
            history_max_age: Some(Duration::from_secs(120)),
            history_max_rows: Some(100_000),
            interval: Duration::from_secs(10),
        }
    }
}

/// Everything [`Persistence::open_with`](super::Persistence::open_with) accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistConfig {
    /// The durability mode.
    pub durability: Durability,
    /// Bound of the queue between callers and the writer, in rows (default 65,536). In
    /// `Batched`/`Off` mode a write that finds it full is dropped and counted, never
    /// blocking; in `Sync` mode the caller waits for room.
    pub queue_capacity: usize,
    /// A commit happens once this many rows are pending (default 1,000).
    pub batch_rows: usize,
    /// … or once the oldest pending row is this old (default 50 ms).
    pub batch_interval: Duration,
    /// Rows kept in memory for retry while the disk fails (default 100,000); past it,
    /// new rows are dropped and counted.
    pub max_retry_rows: usize,
    /// How long a statement waits for another connection's lock (default 5 s).
    pub busy_timeout: Duration,
    /// How long rows are kept.
    pub retention: Retention,
}

impl Default for PersistConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Batched,
            queue_capacity: 65_536,
            batch_rows: 1_000,
            batch_interval: Duration::from_millis(50),
            max_retry_rows: 100_000,
            busy_timeout: Duration::from_secs(5),
            retention: Retention::default(),
        }
    }
}

impl PersistConfig {
    /// The default configuration with this durability.
    pub fn new(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }

    /// Zero bounds replaced by one, so the writer always makes progress.
    pub(crate) fn sanitized(mut self) -> Self {
        self.queue_capacity = self.queue_capacity.max(1);
        self.batch_rows = self.batch_rows.max(1);
        self.max_retry_rows = self.max_retry_rows.max(self.batch_rows);
        if self.retention.interval.is_zero() {
            self.retention.interval = Duration::from_millis(1);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_names_round_trip_and_batched_is_default() {
        for mode in [Durability::Off, Durability::Batched, Durability::Sync] {
            assert_eq!(mode.as_str().parse::<Durability>(), Ok(mode));
        }
        assert_eq!(Durability::default(), Durability::Batched);
        assert!("fsync".parse::<Durability>().is_err());
    }

    #[test]
    fn zero_bounds_are_raised_so_the_writer_progresses() {
        let config = PersistConfig {
            queue_capacity: 0,
            batch_rows: 0,
            max_retry_rows: 0,
            ..PersistConfig::default()
        }
        .sanitized();
        assert_eq!(config.queue_capacity, 1);
        assert_eq!(config.batch_rows, 1);
        assert_eq!(config.max_retry_rows, 1);
    }
}
