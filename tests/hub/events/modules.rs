//! DESIGN §4's module rows: `emit_module_online` / `emit_module_offline`,
//! `emit_module_added`, `emit_module_removed` and `emit_telemetry_update`.

use std::sync::Arc;

use microcoaster_realtime::EmitOutcome;
use serde_json::json;

use super::{ADMIN, ALICE, BOB, Cast, assert_status_payload, delivered, station_info};
use crate::support;
use crate::support::{assert_nothing_then_sentinel, assert_timestamp, connect};

// ----- emit_module_online / emit_module_offline ------------------------------------

#[test]
fn module_status_reaches_owner_on_modules_and_dashboard_and_admins_on_admin() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);

    let outcome = hub.emit_module_online("MC-1", &station_info()).unwrap();
    assert_eq!(outcome, delivered(3));
    let first = cast.alice_modules.next();
    assert_eq!(first.name(), "module:status:changed");
    assert_status_payload(first.payload(), true);
    let dashboard = cast.alice_dashboard.next();
    let admin = cast.admin_admin_page.next();
    assert!(
        Arc::ptr_eq(&first, &dashboard) && Arc::ptr_eq(&first, &admin),
        "every recipient shares the one frame"
    );
    assert_nothing_then_sentinel(
        &hub,
        &mut [
            &mut cast.alice_modules,
            &mut cast.alice_dashboard,
            &mut cast.alice_admin_page,
            &mut cast.admin_admin_page,
            &mut cast.admin_modules,
            &mut cast.bob,
            &mut cast.stranger,
        ],
    );

    let outcome = hub.emit_module_offline("MC-1", &json!({})).unwrap();
    assert_eq!(outcome, delivered(3));
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.admin_admin_page,
    ] {
        assert_status_payload(&tab.expect("module:status:changed"), false);
    }
    cast.assert_all_quiet(&hub);
}

#[test]
fn module_already_online_going_online_is_unchanged() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_module_online("MC-1", &station_info()).unwrap(),
        delivered(3)
    );
    cast.alice_modules.expect("module:status:changed");
    cast.alice_dashboard.expect("module:status:changed");
    cast.admin_admin_page.expect("module:status:changed");

    assert_eq!(
        hub.emit_module_online("MC-1", &station_info()).unwrap(),
        EmitOutcome::Unchanged
    );
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({})).unwrap(),
        EmitOutcome::Unchanged,
        "the owner may be omitted once known"
    );
    cast.assert_all_quiet(&hub);
}

#[test]
fn offline_module_going_offline_emits_nothing() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_module_offline("MC-1", &station_info()).unwrap(),
        EmitOutcome::Unchanged,
        "a module never seen is offline already"
    );
    cast.assert_all_quiet(&hub);

    hub.emit_module_online("MC-1", &station_info()).unwrap();
    hub.emit_module_offline("MC-1", &json!({})).unwrap();
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.admin_admin_page,
    ] {
        assert_eq!(
            tab.drain_names(),
            ["module:status:changed", "module:status:changed"]
        );
    }
    assert_eq!(
        hub.emit_module_offline("MC-1", &json!({})).unwrap(),
        EmitOutcome::Unchanged
    );
    cast.assert_all_quiet(&hub);
}

#[test]
fn admin_owning_a_module_receives_its_status_once_per_tab() {
    let hub = support::hub();
    let mut on_admin = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let mut on_modules = connect(&hub, ADMIN, "admin", "s-admin", "modules");
    let info = json!({"userId": ADMIN, "name": "Lift", "type": "Lift"});

    assert_eq!(hub.emit_module_online("MC-9", &info).unwrap(), delivered(2));
    for tab in [&mut on_admin, &mut on_modules] {
        let payload = tab.expect("module:status:changed");
        assert_eq!(payload["userId"], json!(ADMIN));
    }
    assert_nothing_then_sentinel(&hub, &mut [&mut on_admin, &mut on_modules]);
}

#[test]
fn admin_qualifying_both_as_owner_and_as_admin_receives_the_event_once() {
    // A route that shows module status to owners on `admin` too: the admin who owns the
    // module and sits on `admin` is reached by both parts of the audience.
    let hub = support::builder()
        .route(
            "module:status:changed",
            &["modules", "dashboard", "admin"],
            &["admin"],
        )
        .build()
        .unwrap();
    let mut owner_admin = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let info = json!({"userId": ADMIN, "name": "Lift", "type": "Lift"});

    assert_eq!(hub.emit_module_online("MC-9", &info).unwrap(), delivered(1));
    owner_admin.expect("module:status:changed");
    assert_nothing_then_sentinel(&hub, &mut [&mut owner_admin]);
}

// ----- emit_module_added -------------------------------------------------------------

#[test]
fn module_added_reaches_owner_on_every_page_and_admins_on_admin() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let module = json!({"id": "MC-1", "userId": 2, "name": "Station principale",
                        "type": "Station", "track": "A"});

    assert_eq!(hub.emit_module_added(&module).unwrap(), delivered(4));
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
    ] {
        let payload = tab.expect("user:module:added");
        assert_timestamp(&payload);
        let module = &payload["module"];
        assert_eq!(module["moduleId"], json!("MC-1"));
        assert_eq!(module["userId"], json!(ALICE));
        assert_eq!(module["name"], json!("Station principale"));
        assert_eq!(module["type"], json!("Station"));
        assert_eq!(module["track"], json!("A"), "other fields pass through");
        assert_eq!(module["online"], json!(false));
    }
    let payload = cast.admin_admin_page.expect("admin:module:added");
    assert_timestamp(&payload);
    assert_eq!(payload["module"]["moduleId"], json!("MC-1"));
    assert_eq!(payload["module"]["userId"], json!(ALICE));
    cast.assert_all_quiet(&hub);
}

#[test]
fn module_added_twice_is_unchanged() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let module = json!({"moduleId": "MC-1", "userId": ALICE});
    assert_eq!(hub.emit_module_added(&module).unwrap(), delivered(4));
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
        &mut cast.admin_admin_page,
    ] {
        tab.drain_names();
    }
    assert_eq!(
        hub.emit_module_added(&module).unwrap(),
        EmitOutcome::Unchanged
    );
    cast.assert_all_quiet(&hub);
}

#[test]
fn module_first_seen_online_is_still_announced_when_added() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    hub.emit_module_online("MC-1", &station_info()).unwrap();
    alice.expect("module:status:changed");

    assert_eq!(
        hub.emit_module_added(&json!({"id": "MC-1", "userId": ALICE}))
            .unwrap(),
        delivered(1)
    );
    let payload = alice.expect("user:module:added");
    assert_eq!(payload["module"]["online"], json!(true));
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
}

// ----- emit_module_removed -----------------------------------------------------------

#[test]
fn module_removed_reaches_owner_on_every_page_and_admins_on_admin() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    hub.emit_module_online("MC-1", &station_info()).unwrap();
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.admin_admin_page,
    ] {
        tab.expect("module:status:changed");
    }

    assert_eq!(
        hub.emit_module_removed(&json!({"id": "MC-1"})).unwrap(),
        delivered(4)
    );
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
    ] {
        let payload = tab.expect("user:module:removed");
        assert_timestamp(&payload);
        assert_eq!(payload["module"]["moduleId"], json!("MC-1"));
        assert_eq!(payload["module"]["userId"], json!(ALICE));
        assert_eq!(payload["module"]["online"], json!(false));
    }
    let payload = cast.admin_admin_page.expect("admin:module:removed");
    assert_timestamp(&payload);
    assert_eq!(payload["module"]["moduleId"], json!("MC-1"));
    cast.assert_all_quiet(&hub);
}

#[test]
fn removing_an_unknown_module_is_unchanged() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    assert_eq!(
        hub.emit_module_removed(&json!({"id": "MC-404", "userId": ALICE}))
            .unwrap(),
        EmitOutcome::Unchanged
    );
    cast.assert_all_quiet(&hub);

    hub.emit_module_added(&json!({"id": "MC-1", "userId": ALICE}))
        .unwrap();
    hub.emit_module_removed(&json!({"id": "MC-1"})).unwrap();
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
    ] {
        assert_eq!(
            tab.drain_names(),
            ["user:module:added", "user:module:removed"]
        );
    }
    assert_eq!(
        cast.admin_admin_page.drain_names(),
        ["admin:module:added", "admin:module:removed"]
    );
    assert_eq!(
        hub.emit_module_removed(&json!({"id": "MC-1"})).unwrap(),
        EmitOutcome::Unchanged,
        "a module removed already is unknown"
    );
    cast.assert_all_quiet(&hub);
}

// ----- emit_telemetry_update ---------------------------------------------------------

#[test]
fn telemetry_reaches_owner_on_modules_and_dashboard_only() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    hub.emit_module_added(&json!({"id": "MC-1", "userId": ALICE}))
        .unwrap();
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
        &mut cast.admin_admin_page,
    ] {
        tab.drain_names();
    }

    let telemetry = json!({"speed": 3.5, "lap": 12});
    assert_eq!(
        hub.emit_telemetry_update("MC-1", &telemetry).unwrap(),
        delivered(2)
    );
    for tab in [&mut cast.alice_modules, &mut cast.alice_dashboard] {
        let payload = tab.expect("module:telemetry:updated");
        assert_eq!(payload["moduleId"], json!("MC-1"));
        assert_eq!(payload["telemetry"], telemetry);
        assert_timestamp(&payload);
    }
    // Alice's admin-page tab, the admins (even on `admin`), Bob, the stranger: nothing.
    cast.assert_all_quiet(&hub);
}

#[test]
fn user_never_receives_other_users_telemetry() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    let mut bob = connect(&hub, BOB, "user", "s-bob", "modules");
    hub.emit_module_online("MC-B", &json!({"userId": BOB}))
        .unwrap();
    bob.expect("module:status:changed");

    assert_eq!(
        hub.emit_telemetry_update("MC-B", &json!({"speed": 1}))
            .unwrap(),
        delivered(1)
    );
    assert_eq!(
        bob.expect("module:telemetry:updated")["moduleId"],
        json!("MC-B")
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice, &mut bob]);
}

#[test]
fn equal_telemetry_is_unchanged() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    hub.emit_module_online("MC-1", &station_info()).unwrap();
    hub.emit_telemetry_update("MC-1", &json!({"speed": 3, "lap": 1}))
        .unwrap();
    assert_eq!(
        alice.drain_names(),
        ["module:status:changed", "module:telemetry:updated"]
    );

    assert_eq!(
        hub.emit_telemetry_update("MC-1", &json!({"lap": 1, "speed": 3}))
            .unwrap(),
        EmitOutcome::Unchanged,
        "equal as JSON, whatever the key order"
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
    assert_eq!(
        hub.emit_telemetry_update("MC-1", &json!({"speed": 4, "lap": 1}))
            .unwrap(),
        delivered(1)
    );
    assert_eq!(
        alice.expect("module:telemetry:updated")["telemetry"]["speed"],
        json!(4)
    );
}

#[test]
fn telemetry_for_an_unknown_module_is_refused() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let error = hub
        .emit_telemetry_update("MC-404", &json!({"speed": 1}))
        .unwrap_err();
    assert_eq!(error.code(), "unknown_module");
    cast.assert_all_quiet(&hub);
}
