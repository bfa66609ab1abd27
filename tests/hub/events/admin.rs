//! DESIGN §4's rows for admins and everyone: `emit_stats_update`, `emit_admin_action`,
//! `emit_maintenance_mode`, and the host's own events (`emit_to_user`,
//! `emit_to_admins`, `emit_to_everyone`).

use std::sync::Arc;

use microcoaster_realtime::{EmitOutcome, HubError};
use parking_lot::Mutex;
use serde_json::json;

use super::{ADMIN, ALICE, BOB, Cast, delivered};
use crate::support;
use crate::support::{anonymous, assert_nothing_then_sentinel, assert_timestamp, connect};

// ----- emit_stats_update --------------------------------------------------------------

#[test]
fn stats_reach_admins_on_admin_page_only_and_only_when_changed() {
    let stats = Arc::new(Mutex::new(json!({"users": 2, "modules": 5})));
    let source = Arc::clone(&stats);
    let hub = support::builder()
        .stats_provider(move || Ok(source.lock().clone()))
        .build()
        .unwrap();
    let mut cast = Cast::new(&hub);

    assert_eq!(hub.emit_stats_update(None).unwrap(), delivered(1));
    let payload = cast.admin_admin_page.expect("admin:stats:updated");
    assert_eq!(payload["stats"], json!({"users": 2, "modules": 5}));
    assert_timestamp(&payload);
    cast.assert_all_quiet(&hub);

    assert_eq!(hub.emit_stats_update(None).unwrap(), EmitOutcome::Unchanged);
    cast.assert_all_quiet(&hub);

    *stats.lock() = json!({"users": 3, "modules": 5});
    assert_eq!(hub.emit_stats_update(None).unwrap(), delivered(1));
    assert_eq!(
        cast.admin_admin_page.expect("admin:stats:updated")["stats"]["users"],
        json!(3)
    );
    cast.assert_all_quiet(&hub);
}

// ----- emit_admin_action --------------------------------------------------------------

#[test]
fn admin_action_reaches_admins_on_admin_page_every_time() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let details = json!({"userId": BOB, "to": "admin"});
    for _ in 0..2 {
        assert_eq!(
            hub.emit_admin_action(1, "user_promoted", &details).unwrap(),
            delivered(1)
        );
        let payload = cast.admin_admin_page.expect("admin:action");
        assert_eq!(payload["adminId"], json!(ADMIN));
        assert_eq!(payload["action"], json!("user_promoted"));
        assert_eq!(payload["details"], details);
        assert_timestamp(&payload);
        cast.assert_all_quiet(&hub);
    }
}

// ----- emit_maintenance_mode ----------------------------------------------------------

#[test]
fn maintenance_reaches_every_authenticated_connection() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_maintenance_mode(true, "Mise à jour", 1).unwrap(),
        delivered(6)
    );
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
        &mut cast.admin_admin_page,
        &mut cast.admin_modules,
        &mut cast.bob,
    ] {
        let payload = tab.expect("system:maintenance");
        assert_eq!(payload["enabled"], json!(true));
        assert_eq!(payload["message"], json!("Mise à jour"));
        assert_eq!(payload["adminId"], json!(ADMIN));
        assert_timestamp(&payload);
    }
    // The stranger got nothing.
    cast.assert_all_quiet(&hub);
}

#[test]
fn maintenance_in_the_same_state_with_the_same_message_is_unchanged() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    hub.emit_maintenance_mode(true, "Mise à jour", ADMIN)
        .unwrap();
    alice.expect("system:maintenance");

    assert_eq!(
        hub.emit_maintenance_mode(true, "Mise à jour", ADMIN)
            .unwrap(),
        EmitOutcome::Unchanged
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);

    assert_eq!(
        hub.emit_maintenance_mode(true, "Encore 5 minutes", ADMIN)
            .unwrap(),
        delivered(1)
    );
    assert_eq!(
        alice.expect("system:maintenance")["message"],
        json!("Encore 5 minutes")
    );
    assert_eq!(
        hub.emit_maintenance_mode(false, "", ADMIN).unwrap(),
        delivered(1)
    );
    assert_eq!(alice.expect("system:maintenance")["enabled"], json!(false));
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
}

#[test]
fn connection_authenticating_during_maintenance_is_told_in_snapshot_and_event() {
    let hub = support::hub();
    hub.emit_maintenance_mode(true, "Mise à jour", ADMIN)
        .unwrap();

    let mut late = anonymous(&hub);
    let token = support::token(BOB, "user", Some("s-bob"));
    late.conn
        .authenticate(json!({"token": token, "page": "modules"}))
        .unwrap();
    late.user = Some(BOB.to_owned());
    late.expect("auth:ok");
    let snapshot = late.expect("page:snapshot");
    assert_eq!(
        snapshot["maintenance"],
        json!({"enabled": true, "message": "Mise à jour"})
    );
    let event = late.expect("system:maintenance");
    assert_eq!(event["enabled"], json!(true));
    assert_eq!(event["message"], json!("Mise à jour"));
    assert_timestamp(&event);
    assert_nothing_then_sentinel(&hub, &mut [&mut late]);

    hub.emit_maintenance_mode(false, "", ADMIN).unwrap();
    late.expect("system:maintenance");
    let mut after = anonymous(&hub);
    after
        .conn
        .authenticate(json!({"token": support::token(ALICE, "user", None), "page": "modules"}))
        .unwrap();
    after.user = Some(ALICE.to_owned());
    after.expect("auth:ok");
    assert!(after.expect("page:snapshot").get("maintenance").is_none());
    assert_nothing_then_sentinel(&hub, &mut [&mut after]);
}

// ----- emit_to_user / emit_to_admins --------------------------------------------------

#[test]
fn host_events_in_reserved_prefixes_are_refused() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    for name in [
        "auth:ok",
        "page:snapshot",
        "system:maintenance",
        "admin:stats:updated",
        "user:module:added",
        "module:status:changed",
        "client:authenticate",
        "client:page",
    ] {
        assert!(
            matches!(
                hub.emit_to_user(ALICE, name, &json!({})),
                Err(HubError::ReservedEvent(ref refused)) if refused == name
            ),
            "emit_to_user({name})"
        );
        assert!(
            matches!(
                hub.emit_to_admins(name, &json!({})),
                Err(HubError::ReservedEvent(ref refused)) if refused == name
            ),
            "emit_to_admins({name})"
        );
        assert!(
            matches!(
                hub.emit_to_everyone(name, &json!({})),
                Err(HubError::ReservedEvent(ref refused)) if refused == name
            ),
            "emit_to_everyone({name})"
        );
    }
    cast.assert_all_quiet(&hub);
}

#[test]
fn emit_to_user_reaches_every_tab_of_that_user_only() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_to_user(2, "coaster:lap", &json!({"lap": 7}))
            .unwrap(),
        delivered(3)
    );
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
    ] {
        let payload = tab.expect("coaster:lap");
        assert_eq!(payload["lap"], json!(7));
        assert_timestamp(&payload);
    }
    // Admins, on any page, do not receive another user's host events.
    cast.assert_all_quiet(&hub);
}

#[test]
fn emit_to_admins_reaches_admins_on_every_page_only() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_to_admins("coaster:alert", &json!({"level": "high"}))
            .unwrap(),
        delivered(2)
    );
    for tab in [&mut cast.admin_admin_page, &mut cast.admin_modules] {
        let payload = tab.expect("coaster:alert");
        assert_eq!(payload["level"], json!("high"));
        assert_timestamp(&payload);
    }
    cast.assert_all_quiet(&hub);
}

#[test]
fn emit_to_everyone_reaches_every_authenticated_connection_only() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_to_everyone("park:closing", &json!({"in": 15}))
            .unwrap(),
        delivered(6)
    );
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
        &mut cast.admin_admin_page,
        &mut cast.admin_modules,
        &mut cast.bob,
    ] {
        let payload = tab.expect("park:closing");
        assert_eq!(payload["in"], json!(15));
        assert_timestamp(&payload);
    }
    // The connection that never authenticated gets nothing (then its sentinel).
    cast.assert_all_quiet(&hub);
}

#[test]
fn a_timestamp_the_host_put_in_its_data_is_kept() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let stamped = json!({"timestamp": 1_234, "note": "host time"});
    hub.emit_to_everyone("park:note", &stamped).unwrap();
    hub.emit_to_user(BOB, "park:note", &stamped).unwrap();
    hub.emit_to_admins("park:note", &stamped).unwrap();
    assert_eq!(cast.bob.expect("park:note"), stamped);
    assert_eq!(cast.bob.expect("park:note"), stamped);
    for _ in 0..2 {
        assert_eq!(cast.admin_modules.expect("park:note"), stamped);
    }
    // Non-object data is passed as it is, with no timestamp to add.
    hub.emit_to_user(BOB, "park:note", &json!([1, 2])).unwrap();
    assert_eq!(cast.bob.expect("park:note"), json!([1, 2]));
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
        &mut cast.admin_admin_page,
    ] {
        assert_eq!(tab.expect("park:note"), stamped);
    }
    cast.admin_admin_page.expect("park:note");
    cast.assert_all_quiet(&hub);
}

#[test]
fn switching_maintenance_off_while_off_is_unchanged_whatever_the_message() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    assert_eq!(
        hub.emit_maintenance_mode(false, "anything", ADMIN).unwrap(),
        EmitOutcome::Unchanged
    );
    hub.emit_maintenance_mode(true, "Mise à jour", ADMIN)
        .unwrap();
    alice.expect("system:maintenance");
    hub.emit_maintenance_mode(false, "", ADMIN).unwrap();
    assert_eq!(alice.expect("system:maintenance")["enabled"], json!(false));
    assert_eq!(
        hub.emit_maintenance_mode(false, "Terminé", ADMIN).unwrap(),
        EmitOutcome::Unchanged
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
}
