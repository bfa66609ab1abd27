//! The persistence layer's one error enum, and the mapping from SQLite result codes.
//!
//! Owns [`PersistError`]: every failure at open, at query time and of a write the
//! caller waited for. Errors carry text, not `rusqlite` types, so they are `Clone` (one
//! failed commit answers every caller waiting on it) and the public API does not pin a
//! `rusqlite` version. This module must not decide what to retry: the writer does.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Why persistence failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The database file cannot be created or opened for writing (missing parent, a
    /// parent that is a regular file, no permission, read-only file system).
    #[error("cannot create or open the database at {path}: {detail}")]
    Unwritable {
        /// The database path.
        path: PathBuf,
        /// The I/O error kind, when the failure came from the file system.
        kind: Option<std::io::ErrorKind>,
        /// What failed.
        detail: String,
    },
    /// The file exists but is not an SQLite database (its first 16 bytes are not
    /// `SQLite format 3\0`). It was not modified.
    #[error("{path} is not an SQLite database (no `SQLite format 3` header); it was not modified")]
    NotADatabase {
        /// The database path.
        path: PathBuf,
    },
    /// The file has an SQLite header but SQLite cannot read it.
    #[error("{path} is a corrupt SQLite database: {detail}")]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// SQLite's explanation.
        detail: String,
    },
    /// The file was written by a newer version of this library. It was not modified.
    #[error(
        "{path} has schema version {found}, newer than version {supported} this library knows: \
         upgrade the library (the file was not modified)"
    )]
    SchemaTooNew {
        /// The database path.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest schema version this library knows.
        supported: i64,
    },
    /// Another connection holds a lock longer than the configured busy timeout.
    #[error("{path} is locked by another connection: {detail}")]
    Locked {
        /// The database path.
        path: PathBuf,
        /// SQLite's explanation.
        detail: String,
    },
    /// The file system does not support the write-ahead log.
    #[error("{path} cannot use WAL mode (SQLite answered journal_mode={mode})")]
    NoWal {
        /// The database path.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// Any other SQLite failure.
    #[error("database error during {operation}: {detail}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// SQLite's explanation.
        detail: String,
    },
    /// A write the caller waited for was not committed (disk full, I/O error). The
    /// writer keeps it and retries unless the failure cannot heal; see
    /// [`PersistMetrics`](super::PersistMetrics).
    #[error("write not committed: {detail}")]
    WriteFailed {
        /// Why the commit failed.
        detail: String,
    },
    /// The writer's queue was full; the row was dropped and counted in
    /// `rows_dropped` (only in `Batched`/`Off` modes, which never block).
    #[error("persistence queue full ({capacity} entries): the row was dropped and counted")]
    QueueFull {
        /// The queue bound.
        capacity: usize,
    },
    /// The hub was built without persistence (`HubBuilder::persist`), so there is no
    /// audit log to query.
    #[error("persistence is not configured: build the hub with persist(path, durability)")]
    NotConfigured,
    /// The writer has stopped (after [`close`](super::Persistence::close)).
    #[error("the persistence writer has stopped")]
    Closed,
    /// A stored row could not be read back into its type.
    #[error("stored {table} row {key} is invalid: {detail}")]
    InvalidRow {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What was wrong.
        detail: String,
    },
}

impl PersistError {
    /// A run-time SQLite failure outside of open.
    pub(crate) fn database(operation: &'static str, error: &rusqlite::Error) -> Self {
        Self::Database {
            operation,
            detail: error.to_string(),
        }
    }

    /// Classifies an SQLite failure met while opening `path`.
    pub(crate) fn at_open(path: &Path, operation: &'static str, error: &rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        let detail = error.to_string();
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                Self::Corrupt { path, detail }
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                Self::Locked { path, detail }
            }
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::DiskFull,
            ) => Self::Unwritable {
                path,
                kind: None,
                detail,
            },
            _ => Self::Database { operation, detail },
        }
    }

    /// A file-system failure while preparing `path`.
    pub(crate) fn io(path: &Path, error: &std::io::Error) -> Self {
        Self::Unwritable {
            path: path.to_path_buf(),
            kind: Some(error.kind()),
            detail: error.to_string(),
        }
    }
}

/// Whether a failed write may succeed later (disk full, I/O, locks), so the writer keeps
/// the rows and retries; other failures (a constraint, a bad value) never heal.
pub(crate) fn is_transient(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::PermissionDenied
                | ErrorCode::OperationInterrupted
        )
    )
}
