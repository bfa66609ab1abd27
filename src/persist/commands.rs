//! What callers send the writer thread ([`Command`], [`Write`]), how a waiting caller
//! hears back ([`Ack`]), and the counters both sides share ([`Shared`]).
//!
//! Owns the queue's vocabulary and the counting of dropped rows (logged first, then at
//! every power of two). It must not write to the database: only the writer does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::audit;
use super::error::PersistError;
use super::history::EventRow;
use super::snapshot::StateWrite;

/// Where a waiting caller learns the fate of its commit.
pub(super) type Ack = Sender<Result<(), PersistError>>;

/// One row for the writer.
#[derive(Debug)]
pub(super) enum Write {
    Audit(audit::AuditEntry),
    Event(EventRow),
    State(StateWrite),
}

/// What the queue carries.
#[derive(Debug)]
pub(super) enum Command {
    /// A row; the caller does not wait.
    Write(Write),
    /// A row; the caller waits for its commit.
    WriteAcked(Write, Ack),
    /// Commit everything received, then answer.
    Flush(Ack),
    /// Commit, apply retention now, then answer.
    Prune(Ack),
    /// Commit, checkpoint, answer and stop.
    Shutdown(Ack),
}

/// Counters shared between the writer and [`Persistence::metrics`](super::Persistence::metrics).
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) degraded: AtomicBool,
    pub(super) rows_written: AtomicU64,
    pub(super) rows_dropped: AtomicU64,
    pub(super) write_errors: AtomicU64,
    pub(super) pending: AtomicU64,
    /// Highest event offset dropped (0: none).
    pub(super) last_dropped_event: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Counts a row that will never be written; logs the first, then every power of two.
    pub(super) fn dropped(&self, write: &Write, why: &str) {
        let count = self.rows_dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if let Write::Event(row) = write {
            self.last_dropped_event
                .fetch_max(row.offset, Ordering::Relaxed);
        }
        if count.is_power_of_two() {
            tracing::warn!(rows_dropped = count, why, "persistence dropped a row");
        }
    }
}
