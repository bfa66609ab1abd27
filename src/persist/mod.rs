//! SQLite persistence (DESIGN §2, §3; issue 6): the audit log, the state snapshot that
//! survives restarts, and the event history for connection-state recovery.
//!
//! ```
//! use microcoaster_realtime::persist::{AuditFilter, Durability, Persistence};
//! use microcoaster_realtime::hooks::{AuditKind, AuditOutcome, AuditRecord};
//! # let dir = std::env::temp_dir().join(format!("mcrt-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let db = Persistence::open(dir.join("realtime.db"), Durability::Batched).unwrap();
//! db.audit(&AuditRecord {
//!     timestamp: 1,
//!     kind: AuditKind::Emit,
//!     action: "module_online".into(),
//!     user_id: None,
//!     module_id: None,
//!     connection: None,
//!     outcome: AuditOutcome::Delivered { connections: 2 },
//!     detail: serde_json::json!({"moduleId": "MC-1"}),
//! })
//! .unwrap();
//! db.flush().unwrap(); // queries see committed rows
//! assert_eq!(db.audit_query(&AuditFilter::default()).unwrap().len(), 1);
//! db.close().unwrap();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! Owns [`Persistence`], the only entry point; the parts are one concept per file:
//! `schema.rs` (opening, refusing foreign or newer files, migrations), `writer.rs` (the
//! one writer thread, batching, retries), `commands.rs` (what its queue carries),
//! `wal_sync.rs` (the WAL fsync of `Batched` mode), `retention.rs` (the pruning
//! queries), `audit.rs` (audit table, queries, the
//! [`AuditSink`](crate::hooks::AuditSink) adapter), `snapshot/` (state tables),
//! `state.rs` (saving them through [`Persistence`]), `history.rs` (event history),
//! `health.rs` ([`PersistMetrics`]), `config.rs`, `error.rs`.
//!
//! Invariants:
//! - **The hot path never waits for disk** in `Batched`/`Off` mode: every write is a
//!   `try_send` on a bounded queue ([`PersistConfig::queue_capacity`], 65,536 rows by
//!   default); a full queue drops the row, counts it in `rows_dropped` and logs a
//!   warning (first drop, then every power of two). Only `Sync` mode waits: there
//!   [`audit`](Persistence::audit) returns after its row, and every write enqueued before
//!   it, is committed and fsynced.
//! - **Disk failures never panic and are never silent**: see `writer.rs`; they show in
//!   [`Persistence::metrics`] (`degraded`, `write_errors`, `rows_dropped`, `lag`).
//! - **Clean shutdown loses nothing**: [`Persistence::close`] (and dropping the last
//!   clone) commits everything received before returning.
//! - What a crash can lose per mode is documented on [`Durability`].
//!
//! The hub wires it in with `HubBuilder::persist` (restore at build, saves on changed
//! emits, the audit sink, the final `save_store` at shutdown).
//!
//! Guarded by `tests/persistence/persist.rs` and `tests/persistence/persist_hub.rs`. This module must not decide what changed (the store
//! does) nor who may receive a replayed event (the registry does).

mod audit;
mod commands;
mod config;
mod error;
mod health;
mod history;
mod retention;
mod schema;
mod snapshot;
mod state;
mod wal_sync;
mod writer;

pub use audit::{AuditFilter, AuditLog, AuditRow, MAX_AUDIT_PAGE, PersistenceAudit};
pub use config::{Durability, PersistConfig, Retention};
pub use error::PersistError;
pub use health::PersistMetrics;

/// Logged-out session ids kept (in memory and in the database), newest first.
pub use crate::auth::REVOKED_SESSIONS_KEPT;
pub use history::{HistoryEvent, audience_from_json, audience_to_json};
pub use schema::SCHEMA_VERSION;
pub use snapshot::{LiveSession, StateSnapshot, UserProfile};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use rusqlite::Connection;
use serde_json::Value;

use crate::event::Audience;
use crate::hooks::AuditRecord;
use commands::{Ack, Command, Shared, Write};
use writer::Writer;

/// SQLite persistence: open once, clone freely (clones share one writer), close at
/// shutdown. All methods take `&self` and may be called from any thread.
#[derive(Debug, Clone)]
pub struct Persistence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    config: PersistConfig,
    queue: Sender<Command>,
    shared: Arc<Shared>,
    reader: Mutex<Connection>,
    next_offset: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// Stops the writer after it committed everything received; idempotent.
    fn shutdown(&self) -> Result<(), PersistError> {
        let Some(handle) = self.writer.lock().take() else {
            return Ok(());
        };
        let (ack, answer) = crossbeam_channel::bounded(1);
        let result = match self.queue.send(Command::Shutdown(ack)) {
            Ok(()) => answer.recv().unwrap_or(Err(PersistError::Closed)),
            Err(_) => Err(PersistError::Closed),
        };
        if handle.join().is_err() {
            tracing::error!("the persistence writer thread panicked");
            return Err(PersistError::Closed);
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(error = %error, "persistence shutdown on drop failed");
        }
    }
}

impl Persistence {
    /// Opens (creating if needed) the database at `path` with the default configuration
    /// and this durability, and starts the writer thread.
    ///
    /// Refused with a typed error, touching nothing: a file that is not SQLite
    /// ([`PersistError::NotADatabase`]), a corrupt one ([`PersistError::Corrupt`]), a
    /// schema newer than this library's ([`PersistError::SchemaTooNew`]), a location that
    /// cannot be written ([`PersistError::Unwritable`]), a database another connection
    /// keeps locked ([`PersistError::Locked`]).
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, PersistError> {
        Self::open_with(path, PersistConfig::new(durability))
    }

    /// [`open`](Self::open) with every setting.
    pub fn open_with(path: impl AsRef<Path>, config: PersistConfig) -> Result<Self, PersistError> {
        let path = path.as_ref().to_path_buf();
        let config = config.sanitized();
        let conn = schema::open_writer(&path, &config)?;
        let reader = schema::open_reader(&path, &config)?;
        let next_offset = history::restore_next_offset(&reader)
            .map_err(|e| PersistError::at_open(&path, "reading the event offset", &e))?;
        let (queue, rx) = crossbeam_channel::bounded(config.queue_capacity);
        let shared = Arc::new(Shared::default());
        let writer = Writer::new(&path, conn, rx, Arc::clone(&shared), config.clone());
        let handle = crate::outbound::spawn_library_thread("mcrt-persist", move || writer.run())
            .map_err(|e| PersistError::Database {
                operation: "starting the writer thread",
                detail: e.to_string(),
            })?;
        tracing::info!(path = %path.display(), durability = config.durability.as_str(), "persistence open");
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                config,
                queue,
                shared,
                reader: Mutex::new(reader),
                next_offset: AtomicU64::new(next_offset),
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.inner.config.durability
    }

    /// The configuration in use.
    pub fn config(&self) -> &PersistConfig {
        &self.inner.config
    }

    /// Enqueues a row: never blocks in `Batched`/`Off` (a full queue drops and counts
    /// it); waits for room in `Sync`.
    fn enqueue(&self, write: Write) -> Result<(), PersistError> {
        let shared = &self.inner.shared;
        if self.durability() == Durability::Sync {
            return self.inner.queue.send(Command::Write(write)).map_err(|e| {
                if let Command::Write(write) = e.0 {
                    shared.dropped(&write, "the writer has stopped");
                }
                PersistError::Closed
            });
        }
        match self.inner.queue.try_send(Command::Write(write)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Command::Write(write))) => {
                shared.dropped(&write, "the queue is full");
                Err(PersistError::QueueFull {
                    capacity: self.inner.config.queue_capacity,
                })
            }
            Err(TrySendError::Disconnected(Command::Write(write))) => {
                shared.dropped(&write, "the writer has stopped");
                Err(PersistError::Closed)
            }
            Err(_) => Err(PersistError::Closed),
        }
    }

    /// Enqueues a row and waits for its commit (any mode).
    fn write_acked(&self, write: Write) -> Result<(), PersistError> {
        let (ack, answer) = crossbeam_channel::bounded(1);
        if let Err(e) = self.inner.queue.send(Command::WriteAcked(write, ack)) {
            if let Command::WriteAcked(write, _) = e.0 {
                self.inner.shared.dropped(&write, "the writer has stopped");
            }
            return Err(PersistError::Closed);
        }
        answer.recv().unwrap_or(Err(PersistError::Closed))
    }

    /// Sends a control command and waits for its answer.
    fn control(&self, make: impl FnOnce(Ack) -> Command) -> Result<(), PersistError> {
        let (ack, answer) = crossbeam_channel::bounded(1);
        self.inner
            .queue
            .send(make(ack))
            .map_err(|_| PersistError::Closed)?;
        answer.recv().unwrap_or(Err(PersistError::Closed))
    }

    /// Records an audit entry. `Batched`/`Off`: enqueues and returns at once (a full
    /// queue: `Err(QueueFull)`, counted and logged). `Sync`: returns once the row and
    /// every write enqueued before it are committed and fsynced, or the commit failed.
    pub fn audit(&self, record: &AuditRecord) -> Result<(), PersistError> {
        let write = Write::Audit(audit::AuditEntry::new(record));
        match self.durability() {
            Durability::Sync => self.write_acked(write),
            Durability::Batched | Durability::Off => self.enqueue(write),
        }
    }

    /// Records an audit entry and waits for its commit, whatever the mode.
    pub fn record_sync(&self, record: &AuditRecord) -> Result<(), PersistError> {
        self.write_acked(Write::Audit(audit::AuditEntry::new(record)))
    }

    /// An [`AuditSink`](crate::hooks::AuditSink) for `HubBuilder::audit_sink`.
    pub fn audit_sink(&self) -> PersistenceAudit {
        PersistenceAudit::new(self.clone())
    }

    /// Audit rows matching `filter` (committed rows only: [`flush`](Self::flush) first to
    /// include everything enqueued).
    pub fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, PersistError> {
        audit::query(&self.inner.reader.lock(), filter)
    }

    /// Appends an event to the history and returns its offset, assigned at once from a
    /// counter that only grows (across restarts too); the row itself is batched. Call it
    /// under the emit lock so offsets reach the writer in order. A dropped row is counted
    /// and remembered in [`PersistMetrics::last_dropped_event`].
    pub fn append_event(
        &self,
        timestamp: u64,
        name: &str,
        audience: &Audience,
        payload: &Value,
    ) -> u64 {
        let offset = self.inner.next_offset.fetch_add(1, Ordering::Relaxed);
        let row = history::EventRow::new(offset, timestamp, name, audience, payload);
        // Failures are counted and logged by `enqueue`.
        let _ = self.enqueue(Write::Event(row));
        offset
    }

    /// The offset the next appended event will get.
    pub fn next_event_offset(&self) -> u64 {
        self.inner.next_offset.load(Ordering::Relaxed)
    }

    /// Committed events with an offset strictly greater than `offset`, oldest first, at
    /// most `limit`.
    pub fn events_after(
        &self,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, PersistError> {
        history::after(&self.inner.reader.lock(), offset, limit)
    }

    /// The oldest and newest committed event offsets, if any event is kept.
    pub fn history_bounds(&self) -> Result<Option<(u64, u64)>, PersistError> {
        history::bounds(&self.inner.reader.lock())
    }

    /// Commits everything enqueued so far and waits; the error says why a commit failed.
    pub fn flush(&self) -> Result<(), PersistError> {
        self.control(Command::Flush)
    }

    /// Commits, then applies retention at once (it also runs every
    /// [`Retention::interval`]).
    pub fn prune_now(&self) -> Result<(), PersistError> {
        self.control(Command::Prune)
    }

    /// Commits everything received, checkpoints the WAL and stops the writer. Writes
    /// after it (through other clones) fail with [`PersistError::Closed`] and are
    /// counted. Dropping the last clone does the same.
    pub fn close(self) -> Result<(), PersistError> {
        self.inner.shutdown()
    }
}
