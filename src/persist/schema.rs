//! Opening the database file: refusing what is not ours, WAL mode, and the versioned
//! schema with its migrations.
//!
//! Owns the table definitions and `PRAGMA user_version`. Invariants, in the order
//! [`open_writer`] keeps them:
//! 1. an existing file whose first 16 bytes are not `SQLite format 3\0` is refused as
//!    [`PersistError::NotADatabase`] before SQLite sees it;
//! 2. a schema newer than [`SCHEMA_VERSION`] is refused as
//!    [`PersistError::SchemaTooNew`] before anything is written (not even the switch
//!    to WAL, which rewrites the header);
//! 3. migrations run in one `BEGIN IMMEDIATE` transaction each, re-reading the version
//!    inside it, so two processes opening the same file never migrate twice.
//!
//! Guarded by `tests/persistence/persist.rs`: `schema_too_new_is_refused_and_the_file_untouched`,
//! `a_file_that_is_not_sqlite_is_refused_untouched`, `a_corrupt_header_is_refused`,
//! `a_parent_that_is_a_file_is_refused`. This module must not read or write rows.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::config::{Durability, PersistConfig};
use super::error::PersistError;

/// The newest schema version this library knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `MIGRATIONS[n]` takes a database from version `n` to `n + 1`. Append only.
const MIGRATIONS: &[&str] = &[V1, V2];

pub(super) const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    timestamp   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    action      TEXT NOT NULL,
    user_id     TEXT,
    module_id   TEXT,
    connection  INTEGER,
    outcome     TEXT NOT NULL,
    connections INTEGER,
    code        TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (timestamp);
CREATE INDEX audit_by_user ON audit (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_by_module ON audit (module_id, id) WHERE module_id IS NOT NULL;
CREATE TABLE events (
    event_offset INTEGER PRIMARY KEY,
    timestamp    INTEGER NOT NULL,
    name         TEXT NOT NULL,
    audience     TEXT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE TABLE modules (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    name        TEXT,
    type        TEXT,
    online      INTEGER NOT NULL,
    telemetry   TEXT,
    last_change INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    extra       TEXT NOT NULL
);
CREATE TABLE stats (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    value   TEXT NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE maintenance (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    registered INTEGER NOT NULL,
    profile    TEXT NOT NULL
);
CREATE TABLE sessions (
    id      TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    role    TEXT NOT NULL
);
";

/// Version 2: logged-out session ids, so a token naming one stays refused after a
/// restart (at most [`crate::persist::REVOKED_SESSIONS_KEPT`] newest are kept).
pub(super) const V2: &str = "
CREATE TABLE revoked_sessions (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
";

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Opens (creating if needed) the writer's connection: file checks, version check,
/// WAL, synchronous level, migrations.
pub(super) fn open_writer(path: &Path, config: &PersistConfig) -> Result<Connection, PersistError> {
    check_or_create_file(path)?;
    let mut conn = connect(path, config)?;
    let found = user_version(&conn, path)?;
    if found > SCHEMA_VERSION {
        return Err(PersistError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Reads the schema page: a damaged one is refused here, before any write.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })
    .map_err(|e| PersistError::at_open(path, "reading the schema", &e))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| PersistError::at_open(path, "switching to WAL", &e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(PersistError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // `Batched` fsyncs the WAL itself, at most every batch interval (writer.rs).
    let synchronous = match config.durability {
        Durability::Off => "OFF",
        Durability::Batched => "NORMAL",
        Durability::Sync => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(|e| PersistError::at_open(path, "setting synchronous", &e))?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens another connection to an already prepared database (for queries).
pub(super) fn open_reader(path: &Path, config: &PersistConfig) -> Result<Connection, PersistError> {
    connect(path, config)
}

fn connect(path: &Path, config: &PersistConfig) -> Result<Connection, PersistError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| PersistError::at_open(path, "opening", &e))?;
    conn.busy_timeout(config.busy_timeout)
        .map_err(|e| PersistError::at_open(path, "setting the busy timeout", &e))?;
    Ok(conn)
}

/// `PRAGMA user_version`, the schema version.
fn user_version(conn: &Connection, path: &Path) -> Result<i64, PersistError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| PersistError::at_open(path, "reading the schema version", &e))
}

/// Refuses an existing file that is not SQLite; creates a missing one with mode 0600
/// (it holds session ids and the audit log; SQLite gives its `-wal`/`-shm` files the
/// same mode).
fn check_or_create_file(path: &Path) -> Result<(), PersistError> {
    match std::fs::File::open(path) {
        Ok(mut file) => {
            if file
                .metadata()
                .map_err(|e| PersistError::io(path, &e))?
                .is_dir()
            {
                return Err(PersistError::Unwritable {
                    path: path.to_path_buf(),
                    kind: Some(ErrorKind::IsADirectory),
                    detail: "the path is a directory".to_owned(),
                });
            }
            let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
            file.by_ref()
                .take(SQLITE_MAGIC.len() as u64)
                .read_to_end(&mut header)
                .map_err(|e| PersistError::io(path, &e))?;
            if header.is_empty() || header == SQLITE_MAGIC {
                Ok(())
            } else {
                Err(PersistError::NotADatabase {
                    path: path.to_path_buf(),
                })
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(PersistError::io(path, &e)),
            }
        }
        Err(e) => Err(PersistError::io(path, &e)),
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), PersistError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| PersistError::at_open(path, "starting a migration", &e))?;
        let version = user_version(&tx, path)?;
        if version > SCHEMA_VERSION {
            return Err(PersistError::SchemaTooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
        else {
            return Ok(());
        };
        tx.execute_batch(step)
            .map_err(|e| PersistError::at_open(path, "migrating the schema", &e))?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(|e| PersistError::at_open(path, "migrating the schema", &e))?;
        tx.commit()
            .map_err(|e| PersistError::at_open(path, "committing a migration", &e))?;
        tracing::info!(path = %path.display(), version = version + 1, "persistence schema migrated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_bring_a_new_file_to_the_current_version_once() {
        let conn_path = std::env::temp_dir().join(format!(
            "mcrt-schema-{}-{:?}.db",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&conn_path);
        let config = PersistConfig::default();
        let conn = open_writer(&conn_path, &config).unwrap();
        assert_eq!(user_version(&conn, &conn_path).unwrap(), SCHEMA_VERSION);
        drop(conn);
        // Opening again runs no migration (it would fail on CREATE TABLE).
        let conn = open_writer(&conn_path, &config).unwrap();
        assert_eq!(user_version(&conn, &conn_path).unwrap(), SCHEMA_VERSION);
        drop(conn);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", conn_path.display()));
        }
    }
}
