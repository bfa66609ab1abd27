//! The hub with persistence (`HubBuilder::persist`): state and sessions survive a clean
//! restart, the audit log is complete, `Sync` durability makes each emit's audit row
//! durable before the call returns, and a bad database file is a typed build error.

use crate::support;

use std::time::Duration;

use microcoaster_realtime::hooks::{AuditKind, AuditOutcome};
use microcoaster_realtime::persist::{AuditFilter, Durability, PersistError, Persistence};
use microcoaster_realtime::{BuildError, EmitOutcome, Hub};
use serde_json::json;

use crate::support::TempDir;

fn all() -> AuditFilter {
    AuditFilter {
        limit: 10_000,
        ..AuditFilter::default()
    }
}

#[test]
fn restart_keeps_state_sessions_and_a_complete_audit_log() {
    let dir = TempDir::new("restart");
    let hub = Hub::builder()
        .persist(dir.db(), Durability::Batched)
        .build()
        .unwrap();
    let info = json!({"userId": 1, "name": "Station", "type": "Station"});
    assert!(matches!(
        hub.emit_module_online("MC-1", &info).unwrap(),
        EmitOutcome::Delivered { .. }
    ));
    assert_eq!(
        hub.emit_module_online("MC-1", &info).unwrap(),
        EmitOutcome::Unchanged
    );
    hub.emit_telemetry_update("MC-1", &json!({"speed": 3}))
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": 1, "name": "Ada"}), "sess-1")
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": 2}), "sess-2")
        .unwrap();
    hub.emit_user_logged_out(&json!({"id": 2}), "sess-2")
        .unwrap();
    hub.emit_stats_update_with(&json!({"users": 2})).unwrap();
    hub.emit_maintenance_mode(true, "upgrade", 100).unwrap();
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"sessionId": "sess-1"})).unwrap();
    assert!(tab.authenticate(json!({"sessionId": "nope"})).is_err());
    let _ = tab.drain_now();
    let metrics = hub.metrics().persistence.expect("persistence metrics");
    assert_eq!(metrics.durability, Durability::Batched);
    assert!(!metrics.degraded);
    hub.shutdown(Duration::from_secs(1));
    drop(tab);
    drop(hub);

    let hub = Hub::builder()
        .persist(dir.db(), Durability::Batched)
        .build()
        .unwrap();
    let rows = hub.audit().unwrap().query(&all()).unwrap();
    let emits: Vec<(&str, &AuditOutcome)> = rows
        .iter()
        .filter(|row| row.record.kind == AuditKind::Emit)
        .map(|row| (row.record.action.as_str(), &row.record.outcome))
        .collect();
    let actions: Vec<&str> = emits.iter().map(|(action, _)| *action).collect();
    assert_eq!(
        actions,
        [
            "module_online",
            "module_online",
            "telemetry_update",
            "user_logged_in",
            "user_logged_in",
            "user_logged_out",
            "stats_update",
            "maintenance_mode"
        ]
    );
    assert_eq!(*emits[1].1, AuditOutcome::Unchanged);
    let auth: Vec<&AuditOutcome> = rows
        .iter()
        .filter(|row| row.record.kind == AuditKind::Auth)
        .map(|row| &row.record.outcome)
        .collect();
    assert_eq!(auth.len(), 2, "{auth:?}");
    assert_eq!(*auth[0], AuditOutcome::Accepted);
    assert!(matches!(auth[1], AuditOutcome::Refused { .. }));

    // Change detection continues where it stopped.
    assert_eq!(
        hub.emit_module_online("MC-1", &info).unwrap(),
        EmitOutcome::Unchanged
    );
    assert_eq!(
        hub.emit_telemetry_update("MC-1", &json!({"speed": 3}))
            .unwrap(),
        EmitOutcome::Unchanged
    );
    assert_eq!(
        hub.emit_stats_update_with(&json!({"users": 2})).unwrap(),
        EmitOutcome::Unchanged
    );
    assert_eq!(
        hub.emit_maintenance_mode(true, "upgrade", 100).unwrap(),
        EmitOutcome::Unchanged
    );
    assert_eq!(
        hub.emit_user_logged_in(&json!({"id": 1, "name": "Ada"}), "sess-1")
            .unwrap(),
        EmitOutcome::Unchanged
    );
    // The unchanged emits after the restart are audited too.
    let after = hub.audit_query(&all()).unwrap();
    assert_eq!(
        after
            .iter()
            .filter(|row| row.record.outcome == AuditOutcome::Unchanged)
            .count(),
        6
    );

    // The live session authenticates again; the logged-out one does not.
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"sessionId": "sess-1"})).unwrap();
    let mut other = hub.connect_in_process();
    assert!(other.authenticate(json!({"sessionId": "sess-2"})).is_err());
    // No duplicate events: the new tab gets auth:ok, the snapshot (and maintenance,
    // which is on), nothing replayed.
    let names: Vec<String> = tab
        .drain_now()
        .iter()
        .filter_map(|r| r.frame().map(|f| f.name().to_owned()))
        .collect();
    assert_eq!(names, ["auth:ok", "page:snapshot", "system:maintenance"]);
    let _ = other.drain_now();
    hub.shutdown(Duration::from_secs(1));
}

#[test]
fn dropping_the_last_hub_saves_the_state() {
    let dir = TempDir::new("drop");
    let hub = Hub::builder()
        .persist(dir.db(), Durability::Off)
        .build()
        .unwrap();
    hub.emit_module_added(&json!({"id": "MC-7", "userId": 3, "online": true}))
        .unwrap();
    drop(hub);
    let hub = Hub::builder()
        .persist(dir.db(), Durability::Off)
        .build()
        .unwrap();
    assert_eq!(
        hub.emit_module_added(&json!({"id": "MC-7", "userId": 3}))
            .unwrap(),
        EmitOutcome::Unchanged
    );
    assert_eq!(
        hub.emit_module_online("MC-7", &json!({"userId": 3}))
            .unwrap(),
        EmitOutcome::Unchanged
    );
}

#[test]
fn sync_mode_makes_each_audit_row_durable_before_the_emit_returns() {
    let dir = TempDir::new("sync");
    let hub = Hub::builder()
        .persist(dir.db(), Durability::Sync)
        .build()
        .unwrap();
    let reader = Persistence::open(dir.db(), Durability::Off).unwrap();
    for i in 0..10 {
        let id = format!("MC-{i}");
        hub.emit_module_online(&id, &json!({"userId": 1})).unwrap();
        // No flush: the row must already be committed.
        let filter = AuditFilter {
            module_id: Some(microcoaster_realtime::ModuleId::new(&id).unwrap()),
            ..all()
        };
        let rows = reader.audit_query(&filter).unwrap();
        assert_eq!(rows.len(), 1, "emit {i}");
        assert_eq!(rows[0].record.action, "module_online");
    }
    let unchanged = hub
        .emit_module_online("MC-0", &json!({"userId": 1}))
        .unwrap();
    assert_eq!(unchanged, EmitOutcome::Unchanged);
    assert_eq!(reader.audit_query(&all()).unwrap().len(), 11);
    reader.close().unwrap();
    hub.shutdown(Duration::from_secs(1));
}

#[test]
fn a_corrupt_or_foreign_database_is_a_typed_build_error() {
    let dir = TempDir::new("corrupt");
    // An SQLite header followed by garbage.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    std::fs::write(dir.db(), &bytes).unwrap();
    let error = Hub::builder()
        .persist(dir.db(), Durability::Batched)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::Persist(PersistError::Corrupt { .. } | PersistError::NotADatabase { .. })
        ),
        "{error:?}"
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all").unwrap();
    let error = Hub::builder()
        .persist(&text, Durability::Batched)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::Persist(PersistError::NotADatabase { .. })
        ),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "not a database at all"
    );
}

#[test]
fn without_persistence_the_hub_is_memory_only() {
    let hub = Hub::builder().build().unwrap();
    assert!(hub.persistence().is_none());
    assert!(hub.metrics().persistence.is_none());
    assert!(matches!(hub.audit(), Err(PersistError::NotConfigured)));
    assert!(matches!(
        hub.audit_query(&AuditFilter::default()),
        Err(PersistError::NotConfigured)
    ));
}

#[test]
fn a_logged_out_session_stays_refused_after_a_restart_even_as_a_jwt_sid() {
    let dir = TempDir::new("revoked");
    let secret = b"persist-hub-revoked-secret";
    let token = support::jwt::user_token(secret, "7", "user", Some("sess-jwt"));
    let build = || {
        Hub::builder()
            .jwt_secret(secret)
            .persist(dir.db(), Durability::Batched)
            .build()
            .unwrap()
    };
    let hub = build();
    // The session was never logged in through the host, only carried by the token.
    hub.emit_user_logged_out(&json!({"id": 7}), "sess-jwt")
        .unwrap();
    let refused = hub.connect_in_process();
    assert!(refused.authenticate(json!({"token": token})).is_err());
    hub.shutdown(Duration::from_secs(1));
    drop(hub);

    let hub = build();
    let after = hub.connect_in_process();
    let error = after.authenticate(json!({"token": token})).unwrap_err();
    assert_eq!(error.ack_body()["code"], json!("unknown_session"));
    // Logging the session in again lifts the revocation, also across a restart.
    hub.emit_user_logged_in(&json!({"id": 7}), "sess-jwt")
        .unwrap();
    hub.shutdown(Duration::from_secs(1));
    drop(hub);
    let hub = build();
    let again = hub.connect_in_process();
    again.authenticate(json!({"token": token})).unwrap();
}

#[test]
fn modules_whose_device_did_not_return_go_offline_after_a_restart() {
    let dir = TempDir::new("restart-grace");
    {
        let hub = Hub::builder()
            .persist(dir.db(), Durability::Batched)
            .build()
            .unwrap();
        hub.emit_user_logged_in(&json!({"id": 1, "name": "Ada"}), "sess-ada")
            .unwrap();
        for module in ["MC-BACK", "MC-GONE", "MC-WAS-OFF"] {
            hub.emit_module_online(module, &json!({"userId": 1}))
                .unwrap();
        }
        hub.emit_module_offline("MC-WAS-OFF", &json!({})).unwrap();
        hub.shutdown(Duration::from_secs(1));
    }
    let hub = Hub::builder()
        .persist(dir.db(), Durability::Batched)
        .offline_after_restart(Duration::from_millis(300))
        .build()
        .unwrap();
    hub.register_device_key("MC-BACK", 1, "0123456789abcdef-key")
        .unwrap();
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"userId": 1, "page": "modules", "sessionId": "sess-ada"}))
        .unwrap();
    // MC-BACK's device comes back within the grace period: still online, nothing sent.
    let device = hub.connect_in_process();
    device
        .authenticate(json!({"moduleId": "MC-BACK", "deviceKey": "0123456789abcdef-key"}))
        .unwrap();

    let mut seen = Vec::new();
    let gone = loop {
        let received = tab
            .recv_timeout(Duration::from_secs(5))
            .expect("MC-GONE must go offline after the grace period");
        let frame = received.frame().expect("a frame").clone();
        seen.push(frame.name().to_owned());
        if frame.name() == "module:status:changed" {
            break frame;
        }
    };
    assert_eq!(seen, ["auth:ok", "page:snapshot", "module:status:changed"]);
    assert_eq!(gone.payload()["moduleId"], json!("MC-GONE"));
    assert_eq!(gone.payload()["online"], json!(false));
    // Nothing else follows (MC-BACK stays online, MC-WAS-OFF was offline already).
    hub.emit_to_user(1, "test:sentinel", &json!({})).unwrap();
    let next = tab.recv_timeout(Duration::from_secs(5)).expect("sentinel");
    assert_eq!(
        next.frame().map(|f| f.name().to_owned()).as_deref(),
        Some("test:sentinel")
    );
    assert_eq!(
        hub.emit_module_online("MC-BACK", &json!({})).unwrap(),
        EmitOutcome::Unchanged
    );

    let audit = hub.audit_query(&all()).unwrap();
    let offline: Vec<_> = audit
        .iter()
        .filter(|row| row.record.action == "module_offline")
        .filter_map(|row| row.record.module_id.as_ref().map(ToString::to_string))
        .collect();
    assert!(offline.contains(&"MC-GONE".to_owned()), "{offline:?}");
    hub.shutdown(Duration::from_secs(1));
}
