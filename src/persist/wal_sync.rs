//! `Batched` mode's own fsync of the WAL file ([`WalSync`]), at most once per
//! `batch_interval`.
//!
//! Owns when the WAL is fsynced and what a failed fsync does (counted, logged, retried
//! next turn; the commits stay unsynced). It must not commit: the writer does, then
//! marks the commit unsynced here.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::commands::Shared;

/// `Batched` mode commits with `synchronous=NORMAL` (no fsync per commit) and fsyncs
/// the WAL itself, at most once per `batch_interval`: right after a commit if the last
/// fsync is older than that, else when it is due. An fsync on our own descriptor makes
/// SQLite's frames of the same file durable; SQLite keeps no lock on the `-wal` file
/// (WAL locks live in `-shm`), so this descriptor cannot disturb its locking.
pub(super) struct WalSync {
    path: PathBuf,
    file: Option<File>,
    last_sync: Instant,
    /// The first commit not yet fsynced.
    unsynced_since: Option<Instant>,
}

impl WalSync {
    /// The WAL of the database at `db_path`, its first fsync due at once.
    pub(super) fn new(db_path: &Path, interval: Duration) -> Self {
        let mut path = db_path.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: path.into(),
            file: None,
            last_sync: Instant::now()
                .checked_sub(interval)
                .unwrap_or_else(Instant::now),
            unsynced_since: None,
        }
    }

    /// A commit went through without fsync.
    pub(super) fn committed(&mut self) {
        self.unsynced_since.get_or_insert_with(Instant::now);
    }

    /// When the next fsync is due, if a commit waits for one.
    pub(super) fn due(&self, interval: Duration) -> Option<Instant> {
        self.unsynced_since.map(|_| self.last_sync + interval)
    }

    /// Fsyncs the WAL if commits are waiting for it and the last fsync is at least
    /// `interval` old (or `now`). A failure is counted and logged; the commits stay
    /// unsynced and the next turn tries again.
    pub(super) fn sync_if_due(&mut self, now: bool, interval: Duration, shared: &Shared) {
        if self.unsynced_since.is_none() || (!now && self.last_sync.elapsed() < interval) {
            return;
        }
        if self.file.is_none() {
            self.file = OpenOptions::new().write(true).open(&self.path).ok();
        }
        let result = match &self.file {
            Some(file) => file.sync_data(),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the WAL file cannot be opened",
            )),
        };
        self.last_sync = Instant::now();
        match result {
            Ok(()) => self.unsynced_since = None,
            Err(error) => {
                self.file = None;
                shared.write_errors.fetch_add(1, Ordering::Relaxed);
                *shared.last_error.lock() = Some(format!("fsync of the WAL: {error}"));
                tracing::warn!(error = %error, "persistence could not fsync the WAL; retrying");
            }
        }
    }
}
