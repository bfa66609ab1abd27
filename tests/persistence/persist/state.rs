//! The saved state and the event history: a store snapshot across a restart (change
//! detection kept), the event history replayed in order, offsets growing across reopen
//! and pruning, audit retention, a full queue, and a database locked at run time.

use std::time::Duration;

use microcoaster_realtime::persist::{
    Durability, PersistConfig, PersistError, Persistence, Retention,
};
use microcoaster_realtime::store::{Maintenance, ModuleRecord};
use microcoaster_realtime::{Audience, ModuleId, Role, SessionId, UserId};
use serde_json::{Map, Value, json};

use super::{all_rows, record, second_connection_count};
use crate::support::TempDir;

fn module(id: &str, owner: &str, online: bool) -> ModuleRecord {
    ModuleRecord {
        id: ModuleId::new(id).unwrap(),
        owner: UserId::new(owner).unwrap(),
        name: Some(format!("{id} name")),
        kind: Some("Station".into()),
        online,
        telemetry: Some(json!({"speed": 3.5, "lap": 7})),
        last_change: 42,
        added: true,
        extra: json!({"zone": "north"}).as_object().unwrap().clone(),
    }
}

fn profile(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn state_snapshot_survives_a_restart_and_keeps_change_detection() {
    let dir = TempDir::new("state");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    db.save_module(&module("MC-1", "123", true)).unwrap();
    db.save_module(&module("MC-2", "123", false)).unwrap();
    db.save_module(&module("MC-3", "456", true)).unwrap();
    db.remove_module(&ModuleId::new("MC-3").unwrap()).unwrap();
    db.save_stats(&json!({"users": 10})).unwrap();
    db.save_stats(&json!({"users": 11})).unwrap();
    db.save_maintenance(&Maintenance {
        enabled: true,
        message: "back soon".into(),
    })
    .unwrap();
    let ada = UserId::new("123").unwrap();
    db.save_user(&ada, true, &profile(json!({"name": "Ada"})))
        .unwrap();
    let s1 = SessionId::new("sess-1").unwrap();
    let s2 = SessionId::new("sess-2").unwrap();
    db.save_session(&s1, &ada, Role::Admin).unwrap();
    db.save_session(&s2, &ada, Role::User).unwrap();
    db.remove_session(&s2).unwrap();
    db.close().unwrap();

    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    let state = db.load_state().unwrap();
    assert_eq!(
        state.modules,
        vec![module("MC-1", "123", true), module("MC-2", "123", false)]
    );
    assert_eq!(state.last_stats, Some(json!({"users": 11})));
    assert!(state.maintenance.enabled);
    assert_eq!(state.maintenance.message, "back soon");
    assert_eq!(state.users.len(), 1);
    assert_eq!(state.users[0].profile, profile(json!({"name": "Ada"})));
    assert_eq!(state.sessions.len(), 1);
    assert_eq!(state.sessions[0].session_id, s1);
    assert_eq!(state.sessions[0].role, Role::Admin);

    // Change detection continues: MC-1 was online, going online again is no change.
    let mut store = state.to_store();
    assert!(store.is_unchanged_online("MC-1", Some(&ada), true));
    assert!(!store.is_unchanged_online("MC-2", Some(&ada), true));
    assert!(!store.set_stats(&json!({"users": 11})));
    assert!(!store.set_maintenance(true, "back soon"));
    let changes = store.update_profile(
        &ada,
        &profile(json!({"name": "Ada"})),
        &profile(json!({"name": "Ada"})),
    );
    assert!(changes.is_empty());

    // save_store replaces the saved state with the store's.
    store
        .remove_module(&ModuleId::new("MC-2").unwrap(), None)
        .unwrap();
    db.save_store(&store).unwrap();
    let state = db.load_state().unwrap();
    assert_eq!(state.modules, vec![module("MC-1", "123", true)]);
    assert_eq!(
        state.sessions.len(),
        1,
        "sessions are not part of the store"
    );
}

#[test]
fn event_history_replays_in_order_with_audiences() {
    let dir = TempDir::new("history");
    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    let ada = UserId::new("123").unwrap();
    let first = db.next_event_offset();
    let mut offsets = Vec::new();
    for i in 0..10u64 {
        let audience = if i.is_multiple_of(2) {
            Audience::User {
                user: ada.clone(),
                except_session: None,
            }
        } else {
            Audience::Admins
        };
        offsets.push(db.append_event(
            5_000 + i,
            "module:status:changed",
            &audience,
            &json!({"i": i}),
        ));
    }
    assert_eq!(offsets, (first..first + 10).collect::<Vec<_>>());
    db.flush().unwrap();
    let replay = db.events_after(offsets[2], 100).unwrap();
    assert_eq!(
        replay.iter().map(|e| e.offset).collect::<Vec<_>>(),
        offsets[3..].to_vec()
    );
    assert_eq!(replay[0].payload, json!({"i": 3}));
    assert_eq!(replay[0].audience, Audience::Admins);
    assert_eq!(
        replay[1].audience,
        Audience::User {
            user: ada.clone(),
            except_session: None
        }
    );
    assert_eq!(db.events_after(offsets[2], 2).unwrap().len(), 2);
    assert_eq!(db.history_bounds().unwrap(), Some((offsets[0], offsets[9])));
    db.close().unwrap();

    let db = Persistence::open(dir.db(), Durability::Batched).unwrap();
    assert_eq!(db.next_event_offset(), offsets[9] + 1);
}

#[test]
fn event_offsets_keep_growing_after_reopen_and_pruning() {
    let dir = TempDir::new("offsets");
    let config = PersistConfig {
        retention: Retention {
            history_max_age: Some(Duration::from_secs(60)),
            history_max_rows: Some(3),
            ..Retention::default()
        },
        ..PersistConfig::default()
    };
    let db = Persistence::open_with(dir.db(), config.clone()).unwrap();
    let now = microcoaster_realtime::event::now_ms();
    let mut last = 0;
    for i in 0..10 {
        last = db.append_event(now, "x", &Audience::Everyone, &json!(i));
    }
    // Two very old events: the age window removes them whatever the count.
    db.prune_now().unwrap();
    let kept: Vec<u64> = db
        .events_after(0, 100)
        .unwrap()
        .iter()
        .map(|e| e.offset)
        .collect();
    assert_eq!(kept, vec![last - 2, last - 1, last]);
    db.append_event(1, "old", &Audience::Everyone, &json!(null));
    db.prune_now().unwrap();
    assert!(
        db.events_after(last, 10).unwrap().is_empty(),
        "old event pruned"
    );
    db.close().unwrap();

    // Every row pruned: the offset still never goes back.
    let config = PersistConfig {
        retention: Retention {
            history_max_rows: Some(0),
            ..config.retention
        },
        ..config
    };
    let db = Persistence::open_with(dir.db(), config.clone()).unwrap();
    db.prune_now().unwrap();
    assert_eq!(db.history_bounds().unwrap(), None);
    db.close().unwrap();
    let db = Persistence::open_with(dir.db(), config).unwrap();
    assert_eq!(db.next_event_offset(), last + 2);
}

#[test]
fn audit_retention_keeps_the_newest_rows_and_drops_old_ones() {
    let dir = TempDir::new("retention");
    let config = PersistConfig {
        retention: Retention {
            audit_max_rows: Some(50),
            audit_max_age: Some(Duration::from_secs(3600)),
            ..Retention::default()
        },
        ..PersistConfig::default()
    };
    let db = Persistence::open_with(dir.db(), config).unwrap();
    let now = microcoaster_realtime::event::now_ms();
    for i in 0..100 {
        let mut row = record(i);
        // The first ten are two hours old.
        row.timestamp = if i < 10 { now - 7_200_000 } else { now };
        db.audit(&row).unwrap();
    }
    db.prune_now().unwrap();
    let rows = all_rows(&db);
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[0].record.detail["i"], json!(50));
}

#[test]
fn a_full_queue_drops_counts_and_never_blocks() {
    let dir = TempDir::new("full-queue");
    let config = PersistConfig {
        queue_capacity: 16,
        ..PersistConfig::default()
    };
    let db = Persistence::open_with(dir.db(), config).unwrap();
    let total = 50_000u64;
    let mut refused = 0;
    for i in 0..total {
        match db.audit(&record(i)) {
            Ok(()) => {}
            Err(PersistError::QueueFull { capacity: 16 }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    db.flush().unwrap();
    let metrics = db.metrics();
    assert_eq!(metrics.rows_dropped, refused);
    assert_eq!(metrics.rows_written + metrics.rows_dropped, total);
    assert_eq!(
        second_connection_count(&dir.db(), "audit") as u64,
        metrics.rows_written
    );
}

#[test]
fn a_database_locked_at_run_time_degrades_then_recovers_without_loss() {
    let dir = TempDir::new("locked-run");
    let config = PersistConfig {
        busy_timeout: Duration::from_millis(20),
        ..PersistConfig::default()
    };
    let db = Persistence::open_with(dir.db(), config).unwrap();
    let holder = rusqlite::Connection::open(dir.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..100 {
        db.audit(&record(i)).unwrap();
    }
    let error = db.flush().unwrap_err();
    assert!(
        matches!(error, PersistError::WriteFailed { .. }),
        "{error:?}"
    );
    let metrics = db.metrics();
    assert!(metrics.degraded);
    assert!(metrics.write_errors >= 1);
    assert_eq!(metrics.rows_dropped, 0, "rows are kept for retry");
    assert_eq!(metrics.lag, 100);
    assert!(metrics.last_error.is_some());

    holder.execute_batch("ROLLBACK").unwrap();
    db.flush().unwrap();
    let metrics = db.metrics();
    assert!(!metrics.degraded, "the first good commit clears degraded");
    assert_eq!(metrics.rows_written, 100);
    assert_eq!(metrics.lag, 0);
    assert_eq!(all_rows(&db).len(), 100);
}
