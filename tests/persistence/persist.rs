//! SQLite persistence against real files: round trips across close/reopen, refusals at
//! open, durability modes, retention, a SIGKILLed writer and a full disk.
//!
//! The crash and full-disk cases re-run this test binary as a child process
//! (`child_process_entry`, driven by `MCRT_PERSIST_CHILD`); run alone it does nothing.
//!
//! Files: this one (audit round trips, refusals at open, durability modes),
//! `persist/state.rs` (the state snapshot, history, retention, run-time locks) and
//! `persist/sigkill.rs` (the child processes).

use std::path::Path;
use std::time::Duration;

use microcoaster_realtime::ConnectionId;
use microcoaster_realtime::hooks::{AuditKind, AuditOutcome, AuditRecord};
use microcoaster_realtime::persist::{
    AuditFilter, Durability, PersistConfig, PersistError, Persistence, SCHEMA_VERSION,
};
use microcoaster_realtime::{ModuleId, UserId};
use serde_json::json;

use crate::support::TempDir;

mod sigkill;
mod state;

/// A recent base time, so the default retention (90 days) keeps the test rows.
pub(super) fn base() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| microcoaster_realtime::event::now_ms() - 3_600_000)
}

pub(super) fn record(i: u64) -> AuditRecord {
    let kinds = [
        AuditKind::Emit,
        AuditKind::Auth,
        AuditKind::Close,
        AuditKind::BadInput,
    ];
    let outcome = match i % 4 {
        0 => AuditOutcome::Unchanged,
        1 => AuditOutcome::Delivered {
            connections: i as usize,
        },
        2 => AuditOutcome::Accepted,
        _ => AuditOutcome::Refused {
            code: "owner_mismatch".into(),
        },
    };
    AuditRecord {
        timestamp: base() + i,
        kind: kinds[(i % 4) as usize],
        action: format!("action_{}", i % 3),
        user_id: Some(UserId::new(&format!("user-{}", i % 5)).unwrap()),
        module_id: i
            .is_multiple_of(2)
            .then(|| ModuleId::new(&format!("MC-{}", i % 7)).unwrap()),
        connection: Some(ConnectionId(i)),
        outcome,
        detail: json!({"i": i, "nested": {"ok": true}}),
    }
}

pub(super) fn all_rows(db: &Persistence) -> Vec<microcoaster_realtime::persist::AuditRow> {
    let mut out = Vec::new();
    let mut filter = AuditFilter {
        limit: 333,
        ..AuditFilter::default()
    };
    loop {
        let page = db.audit_query(&filter).unwrap();
        let Some(last) = page.last() else { break };
        filter.after_id = Some(last.id);
        out.extend(page);
    }
    out
}

pub(super) fn second_connection_count(path: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

#[test]
fn audit_is_complete_after_close_and_reopen() {
    let dir = TempDir::new("reopen");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    for i in 0..2_500 {
        db.audit(&record(i)).unwrap();
    }
    db.close().unwrap();

    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    let rows = all_rows(&db);
    assert_eq!(rows.len(), 2_500);
    for (i, row) in rows.iter().enumerate() {
        let expected = record(i as u64);
        assert_eq!(row.record.detail, expected.detail);
        assert_eq!(row.record.kind, expected.kind);
        assert_eq!(row.record.outcome, expected.outcome);
        assert_eq!(row.record.user_id, expected.user_id);
        assert_eq!(row.record.module_id, expected.module_id);
        assert_eq!(row.record.connection, expected.connection);
        assert_eq!(row.record.timestamp, expected.timestamp);
        assert_eq!(row.record.action, expected.action);
    }
    assert_eq!(db.metrics().rows_dropped, 0);
}

#[test]
fn dropping_the_last_clone_flushes_everything() {
    let dir = TempDir::new("drop");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    let clone = db.clone();
    for i in 0..1_500 {
        clone.audit(&record(i)).unwrap();
    }
    drop(clone);
    drop(db);
    assert_eq!(second_connection_count(&dir.db(), "audit"), 1_500);
}

#[test]
fn audit_query_filters_by_time_user_module_kind_and_pages() {
    let dir = TempDir::new("query");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    for i in 0..200 {
        db.audit(&record(i)).unwrap();
    }
    db.flush().unwrap();

    let by_user = db
        .audit_query(&AuditFilter {
            user_id: Some(UserId::new("user-3").unwrap()),
            limit: 1_000,
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(by_user.len(), 40);
    assert!(
        by_user
            .iter()
            .all(|r| r.record.user_id.as_ref().unwrap().as_str() == "user-3")
    );

    let by_module_and_kind = db
        .audit_query(&AuditFilter {
            module_id: Some(ModuleId::new("MC-0").unwrap()),
            kind: Some(AuditKind::Emit),
            limit: 1_000,
            ..AuditFilter::default()
        })
        .unwrap();
    let expected =
        (0..200u64).filter(|i| i.is_multiple_of(2) && i.is_multiple_of(7) && i.is_multiple_of(4));
    assert_eq!(by_module_and_kind.len(), expected.count());

    let window = db
        .audit_query(&AuditFilter {
            since: Some(base() + 50),
            until: Some(base() + 60),
            ..AuditFilter::default()
        })
        .unwrap();
    let stamps: Vec<u64> = window.iter().map(|r| r.record.timestamp).collect();
    assert_eq!(stamps, (base() + 50..base() + 60).collect::<Vec<_>>());

    // Newest first, paged with the cursor, covers everything exactly once.
    let mut seen = Vec::new();
    let mut filter = AuditFilter {
        newest_first: true,
        limit: 64,
        ..AuditFilter::default()
    };
    loop {
        let page = db.audit_query(&filter).unwrap();
        let Some(last) = page.last() else { break };
        filter.after_id = Some(last.id);
        seen.extend(page.iter().map(|r| r.record.timestamp));
    }
    assert_eq!(seen, (base()..base() + 200).rev().collect::<Vec<_>>());
}

#[test]
fn batched_rows_are_visible_after_flush() {
    let dir = TempDir::new("batched");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    for i in 0..10 {
        db.audit(&record(i)).unwrap();
    }
    db.flush().unwrap();
    assert_eq!(second_connection_count(&dir.db(), "audit"), 10);
    assert_eq!(db.metrics().rows_written, 10);
    assert_eq!(db.metrics().lag, 0);
}

#[test]
fn batched_rows_commit_within_the_batch_interval_without_flush() {
    let dir = TempDir::new("interval");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    db.audit(&record(1)).unwrap();
    let start = std::time::Instant::now();
    while second_connection_count(&dir.db(), "audit") == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "never committed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sync_rows_are_visible_from_another_connection_when_the_call_returns() {
    let dir = TempDir::new("sync");
    let db = Persistence::open(dir.db(), Durability::Sync).unwrap();
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    for i in 0..20 {
        db.audit(&record(i)).unwrap();
        let count: i64 = other
            .query_row("SELECT count(*) FROM audit", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, i as i64 + 1);
    }
    // record_sync waits in any mode.
    let dir2 = TempDir::new("record-sync");
    let batched = Persistence::open(dir2.db(), Durability::Batched).unwrap();
    batched.record_sync(&record(0)).unwrap();
    assert_eq!(second_connection_count(&dir2.db(), "audit"), 1);
}

#[test]
fn schema_too_new_is_refused_and_the_file_untouched() {
    let dir = TempDir::new("too-new");
    Persistence::open(dir.db(), Durability::Batched)
        .unwrap()
        .close()
        .unwrap();
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let before = std::fs::read(dir.db()).unwrap();
    let error = Persistence::open(dir.db(), Durability::Batched).unwrap_err();
    assert_eq!(
        error,
        PersistError::SchemaTooNew {
            path: dir.db(),
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION,
        }
    );
    assert_eq!(std::fs::read(dir.db()).unwrap(), before, "file modified");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let dir = TempDir::new("not-sqlite");
    let text = b"{\"this\": \"is a JSON file, not a database\"}\n".repeat(100);
    std::fs::write(dir.db(), &text).unwrap();
    let error = Persistence::open(dir.db(), Durability::Batched).unwrap_err();
    assert!(
        matches!(error, PersistError::NotADatabase { .. }),
        "{error:?}"
    );
    assert_eq!(std::fs::read(dir.db()).unwrap(), text);
    // A short file is not a database either.
    std::fs::write(dir.db(), b"SQLite").unwrap();
    assert!(matches!(
        Persistence::open(dir.db(), Durability::Batched),
        Err(PersistError::NotADatabase { .. })
    ));
}

#[test]
fn a_corrupt_header_is_refused() {
    let dir = TempDir::new("corrupt");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    for i in 0..100 {
        db.audit(&record(i)).unwrap();
    }
    db.close().unwrap();
    let mut bytes = std::fs::read(dir.db()).unwrap();
    // Keep the magic string, garble the rest of the 100-byte header.
    for (n, byte) in bytes[16..100].iter_mut().enumerate() {
        *byte = 0xA5 ^ n as u8;
    }
    std::fs::write(dir.db(), &bytes).unwrap();
    let error = Persistence::open(dir.db(), Durability::Batched).unwrap_err();
    assert!(matches!(error, PersistError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("corrupt"), "{error}");
}

#[test]
fn a_parent_that_is_a_file_is_refused() {
    let dir = TempDir::new("parent-file");
    let parent = dir.path().join("not-a-directory");
    std::fs::write(&parent, b"x").unwrap();
    let error = Persistence::open(parent.join("realtime.db"), Durability::Batched).unwrap_err();
    assert!(
        matches!(error, PersistError::Unwritable { .. }),
        "{error:?}"
    );
    // A directory at the database path is refused too.
    let error = Persistence::open(dir.path(), Durability::Batched).unwrap_err();
    assert!(
        matches!(error, PersistError::Unwritable { .. }),
        "{error:?}"
    );
}

#[test]
fn a_database_locked_by_another_connection_is_refused_as_locked() {
    let dir = TempDir::new("locked");
    let holder = rusqlite::Connection::open(dir.db()).unwrap();
    holder
        .execute_batch("BEGIN EXCLUSIVE; CREATE TABLE t (x);")
        .unwrap();
    let config = PersistConfig {
        busy_timeout: Duration::from_millis(100),
        ..PersistConfig::default()
    };
    let error = Persistence::open_with(dir.db(), config).unwrap_err();
    assert!(matches!(error, PersistError::Locked { .. }), "{error:?}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    Persistence::open(dir.db(), Durability::Batched).unwrap();
}
