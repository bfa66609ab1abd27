//! The single writer thread: drains the bounded queue, batches rows into transactions,
//! retries while the disk fails, prunes by retention, and flushes on shutdown. What the
//! queue carries is `commands.rs`; the WAL fsync of `Batched` mode is `wal_sync.rs`;
//! the retention queries are `retention.rs`.
//!
//! Owns the write connection and the commit policy. Invariants:
//! - one thread writes, in queue order, so the last save of a row wins and event
//!   offsets are committed in the order they were enqueued;
//! - a commit happens when `batch_rows` rows are pending, when the oldest pending row is
//!   `batch_interval` old, or at once when a caller waits (a `Sync` write, `flush`,
//!   `prune_now`, shutdown); the rows of callers waiting together share one commit;
//! - a failed commit never panics and never loses silently: the transaction is rolled
//!   back, `write_errors` is counted, `degraded` is set and the failure logged; rows
//!   of a transient failure (disk full, I/O, locks) stay pending and are retried with
//!   backoff (250 ms doubling to 5 s), up to `max_retry_rows`, past which new rows are
//!   dropped and counted; rows of a failure that cannot heal are dropped and counted.
//!   The first successful commit clears `degraded`;
//! - `Batched` mode commits without fsync and fsyncs the WAL at most every
//!   `batch_interval` (see [`WalSync`]); `Sync` mode fsyncs every commit
//!   (`synchronous=FULL`); `Off` never fsyncs;
//! - at shutdown everything received is committed once more; what still cannot be is
//!   counted in `rows_dropped` and logged.
//!
//! Guarded by `tests/persistence/persist.rs`: `batched_rows_are_visible_after_flush`,
//! `sync_rows_are_visible_from_another_connection_when_the_call_returns`, and
//! `persist/sigkill.rs`: `sync_writes_that_returned_survive_sigkill`,
//! `a_full_disk_degrades_without_panic`.
//! This module must not be called from the hot path except through the queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::Connection;

use super::commands::{Ack, Command, Shared, Write};
use super::config::{Durability, PersistConfig};
use super::error::{PersistError, is_transient};
use super::retention;
use super::snapshot;
use super::wal_sync::WalSync;
use super::{audit, history};

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(super) struct Writer {
    conn: Connection,
    rx: Receiver<Command>,
    shared: Arc<Shared>,
    config: PersistConfig,
    pending: Vec<Write>,
    waiting: Vec<Ack>,
    oldest_pending: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    next_prune: Instant,
    /// Highest event offset pending (0: none).
    event_high: u64,
    /// `Batched` mode: the WAL file, fsynced at most every `batch_interval`.
    wal: Option<WalSync>,
}

impl Writer {
    pub(super) fn new(
        db_path: &std::path::Path,
        conn: Connection,
        rx: Receiver<Command>,
        shared: Arc<Shared>,
        config: PersistConfig,
    ) -> Self {
        let next_prune = Instant::now() + config.retention.interval;
        let wal = (config.durability == Durability::Batched)
            .then(|| WalSync::new(db_path, config.batch_interval));
        Self {
            conn,
            rx,
            shared,
            config,
            pending: Vec::new(),
            waiting: Vec::new(),
            oldest_pending: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            next_prune,
            event_high: 0,
            wal,
        }
    }

    /// The thread's body; returns after `Shutdown` or when every sender is gone.
    pub(super) fn run(mut self) {
        // A first prune at start applies retention to what an earlier run left; a
        // failure is counted and logged by `prune`.
        let _ = self.prune();
        loop {
            let first = match self.deadline() {
                Some(deadline) => self.rx.recv_deadline(deadline),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let mut shutdown = None;
            match first {
                Ok(command) => shutdown = self.accept(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(None);
                    return;
                }
            }
            // Drain what is queued, but never past one batch: a commit holds at most
            // `batch_rows` rows (while degraded, pending rows wait and the queue keeps
            // draining one batch per turn).
            let mut taken = 1;
            while shutdown.is_none()
                && taken < self.config.batch_rows
                && (self.pending.len() < self.config.batch_rows || self.retry_at.is_some())
            {
                match self.rx.try_recv() {
                    Ok(command) => shutdown = self.accept(command),
                    Err(_) => break,
                }
                taken += 1;
            }
            if shutdown.is_some() {
                self.finish(shutdown);
                return;
            }
            if self.commit_due() {
                self.commit();
            }
            self.sync_wal_if_due(false);
            if Instant::now() >= self.next_prune {
                let _ = self.prune();
            }
        }
    }

    /// When the loop must wake up without a command.
    fn deadline(&self) -> Option<Instant> {
        let commit = self.oldest_pending.map(|oldest| {
            let batch = oldest + self.config.batch_interval;
            self.retry_at.map_or(batch, |retry| retry.max(batch))
        });
        let sync = self
            .wal
            .as_ref()
            .and_then(|wal| wal.due(self.config.batch_interval));
        let mut at = self.next_prune;
        for candidate in [commit, sync].into_iter().flatten() {
            at = at.min(candidate);
        }
        Some(at)
    }

    /// Takes one command; returns the ack of a shutdown.
    fn accept(&mut self, command: Command) -> Option<Ack> {
        match command {
            Command::Write(write) => self.push(write, None),
            Command::WriteAcked(write, ack) => self.push(write, Some(ack)),
            Command::Flush(ack) => self.waiting.push(ack),
            Command::Prune(ack) => {
                self.commit();
                let result = self.prune();
                let _ = ack.send(result);
            }
            Command::Shutdown(ack) => return Some(ack),
        }
        None
    }

    fn push(&mut self, write: Write, ack: Option<Ack>) {
        if self.pending.len() >= self.config.max_retry_rows {
            self.shared.dropped(
                &write,
                "the disk keeps failing and the retry buffer is full",
            );
            if let Some(ack) = ack {
                let _ = ack.send(Err(PersistError::WriteFailed {
                    detail: "the disk keeps failing and the retry buffer is full".to_owned(),
                }));
            }
            return;
        }
        if let Write::Event(row) = &write {
            self.event_high = self.event_high.max(row.offset);
        }
        self.pending.push(write);
        self.oldest_pending.get_or_insert_with(Instant::now);
        self.shared
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        if let Some(ack) = ack {
            self.waiting.push(ack);
        }
    }

    fn commit_due(&self) -> bool {
        if !self.waiting.is_empty() {
            return true;
        }
        if self.pending.is_empty() {
            return false;
        }
        let now = Instant::now();
        if self.retry_at.is_some_and(|retry| now < retry) {
            return false;
        }
        self.pending.len() >= self.config.batch_rows
            || self
                .oldest_pending
                .is_some_and(|oldest| now >= oldest + self.config.batch_interval)
    }

    /// Commits every pending row in one transaction and answers every waiting caller.
    fn commit(&mut self) {
        if self.pending.is_empty() {
            for ack in self.waiting.drain(..) {
                let _ = ack.send(Ok(()));
            }
            return;
        }
        let result = write_batch(&mut self.conn, &self.pending, self.event_high);
        let rows = self.pending.len() as u64;
        let answer = match result {
            Ok(()) => self.committed(rows),
            Err(error) => self.commit_failed(&error, rows),
        };
        self.shared
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        for ack in self.waiting.drain(..) {
            let _ = ack.send(answer.clone());
        }
    }

    /// A commit of `rows` rows went through: the pending rows are done.
    fn committed(&mut self, rows: u64) -> Result<(), PersistError> {
        self.shared.rows_written.fetch_add(rows, Ordering::Relaxed);
        if let Some(wal) = &mut self.wal {
            wal.committed();
        }
        self.pending.clear();
        self.oldest_pending = None;
        self.event_high = 0;
        self.retry_at = None;
        self.backoff = FIRST_BACKOFF;
        if self.shared.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("persistence recovered: writes commit again");
        }
        Ok(())
    }

    /// A commit of `rows` rows failed: keep them for a retry (transient) or drop them.
    fn commit_failed(&mut self, error: &rusqlite::Error, rows: u64) -> Result<(), PersistError> {
        let detail = error.to_string();
        self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
        self.shared.degraded.store(true, Ordering::Relaxed);
        *self.shared.last_error.lock() = Some(detail.clone());
        if is_transient(error) {
            tracing::warn!(
                error = %detail,
                pending = rows,
                retry_in_ms = self.backoff.as_millis() as u64,
                "persistence commit failed; rows kept for retry, live events unaffected"
            );
            self.retry_at = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        } else {
            tracing::error!(
                error = %detail,
                dropped = rows,
                "persistence commit failed and cannot heal; rows dropped"
            );
            for write in self.pending.drain(..) {
                self.shared.dropped(&write, "commit failed permanently");
            }
            self.oldest_pending = None;
            self.event_high = 0;
        }
        Err(PersistError::WriteFailed { detail })
    }

    /// `Batched` mode: fsyncs the WAL if it is due (or `now`), see [`WalSync`].
    fn sync_wal_if_due(&mut self, now: bool) {
        if let Some(wal) = &mut self.wal {
            wal.sync_if_due(now, self.config.batch_interval, &self.shared);
        }
    }

    /// Deletes what retention no longer keeps.
    fn prune(&mut self) -> Result<(), PersistError> {
        self.next_prune = Instant::now() + self.config.retention.interval;
        let now = crate::event::now_ms();
        retention::prune(&mut self.conn, &self.config.retention, now).map_err(|error| {
            self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
            *self.shared.last_error.lock() = Some(error.to_string());
            tracing::warn!(error = %error, "persistence retention pass failed; retried next interval");
            PersistError::database("applying retention", &error)
        })
    }

    /// Final commit, checkpoint, answer.
    fn finish(mut self, ack: Option<Ack>) {
        self.retry_at = None;
        self.commit();
        self.sync_wal_if_due(true);
        let lost = self.pending.len();
        let result = if lost == 0 {
            Ok(())
        } else {
            for write in self.pending.drain(..) {
                self.shared.dropped(&write, "shutdown while the disk fails");
            }
            tracing::error!(lost, "persistence shut down with rows it could not commit");
            Err(PersistError::WriteFailed {
                detail: format!(
                    "{lost} rows could not be committed before shutdown: {}",
                    self.shared.last_error.lock().clone().unwrap_or_default()
                ),
            })
        };
        if let Err(error) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::debug!(error = %error, "WAL checkpoint at shutdown failed");
        }
        self.shared.pending.store(0, Ordering::Relaxed);
        if let Some(ack) = ack {
            let _ = ack.send(result);
        }
    }
}

fn write_batch(conn: &mut Connection, pending: &[Write], event_high: u64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert_audit = tx.prepare_cached(audit::INSERT_SQL)?;
        for write in pending {
            match write {
                Write::Audit(entry) => audit::insert(&mut insert_audit, entry)?,
                Write::Event(row) => history::insert(&tx, row)?,
                Write::State(state) => snapshot::apply(&tx, state)?,
            }
        }
    }
    if event_high > 0 {
        history::save_high_water(&tx, event_high)?;
    }
    tx.commit()
}
