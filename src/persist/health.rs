//! The health of persistence as the host and `/metrics` see it ([`PersistMetrics`]).
//!
//! Owns reading the writer's shared counters into one consistent-enough value. It must
//! not change them: only the writer and the enqueueing callers count.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{Durability, Persistence};

/// The health of persistence at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PersistMetrics {
    /// The durability mode.
    pub durability: Durability,
    /// The last commit failed; rows are being retried (live events are unaffected).
    pub degraded: bool,
    /// Rows committed since open.
    pub rows_written: u64,
    /// Rows that will never be written: full queue, retry buffer full while the disk
    /// failed, a commit that cannot heal, or shutdown while the disk failed.
    pub rows_dropped: u64,
    /// Failed commits (and failed retention passes).
    pub write_errors: u64,
    /// Rows accepted but not yet committed (queued plus pending in the writer).
    pub lag: u64,
    /// The highest event offset dropped, if any: a client that acknowledged an offset
    /// below it cannot be replayed exactly and needs a fresh snapshot.
    pub last_dropped_event: Option<u64>,
    /// The last write failure's text.
    pub last_error: Option<String>,
}

impl Persistence {
    /// Counters and health.
    pub fn metrics(&self) -> PersistMetrics {
        let shared = &self.inner.shared;
        let dropped_event = shared.last_dropped_event.load(Ordering::Relaxed);
        PersistMetrics {
            durability: self.durability(),
            degraded: shared.degraded.load(Ordering::Relaxed),
            rows_written: shared.rows_written.load(Ordering::Relaxed),
            rows_dropped: shared.rows_dropped.load(Ordering::Relaxed),
            write_errors: shared.write_errors.load(Ordering::Relaxed),
            lag: self.inner.queue.len() as u64 + shared.pending.load(Ordering::Relaxed),
            last_dropped_event: (dropped_event > 0).then_some(dropped_event),
            last_error: shared.last_error.lock().clone(),
        }
    }
}
