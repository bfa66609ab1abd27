//! Across the calls: a user with several tabs gets each event once per tab that shows
//! it, and `page:snapshot` (after authenticate and on `client:page`) lists only what the
//! connection may see.

use serde_json::{Value, json};

use super::{ADMIN, ALICE, BOB, delivered, station_info};
use crate::support;
use crate::support::{anonymous, assert_nothing_then_sentinel, assert_timestamp, connect};

// ----- several tabs -------------------------------------------------------------------

#[test]
fn user_with_three_tabs_gets_each_event_once_per_tab_that_shows_it() {
    let hub = support::hub();
    let mut modules_a = connect(&hub, ALICE, "user", "s-alice-laptop", "modules");
    let mut modules_b = connect(&hub, ALICE, "user", "s-alice-phone", "modules");
    let mut admin_page = connect(&hub, ALICE, "user", "s-alice-laptop", "admin");

    hub.emit_module_added(&json!({"id": "MC-1", "userId": ALICE}))
        .unwrap();
    hub.emit_module_online("MC-1", &json!({})).unwrap();
    hub.emit_telemetry_update("MC-1", &json!({"speed": 2}))
        .unwrap();
    hub.emit_user_profile_updated(
        &json!({"id": ALICE, "name": "Ada"}),
        &json!({"id": ALICE, "name": "Ada L."}),
    )
    .unwrap();
    hub.emit_stats_update_with(&json!({"users": 1})).unwrap();
    hub.emit_admin_action(ADMIN, "noop", &json!({})).unwrap();
    hub.emit_to_user(ALICE, "coaster:lap", &json!({})).unwrap();

    let all_pages = [
        "user:module:added",
        "module:status:changed",
        "module:telemetry:updated",
        "user:profile:updated",
        "coaster:lap",
    ];
    assert_eq!(modules_a.drain_names(), all_pages);
    assert_eq!(modules_b.drain_names(), all_pages);
    assert_eq!(
        admin_page.drain_names(),
        ["user:module:added", "user:profile:updated", "coaster:lap"],
        "a plain user on the admin page sees no status, telemetry or admin events"
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut modules_a, &mut modules_b, &mut admin_page]);
}

// ----- page:snapshot ------------------------------------------------------------------

#[test]
fn snapshot_after_authenticate_lists_only_the_users_own_modules() {
    let hub = support::hub();
    hub.emit_module_online("MC-1", &station_info()).unwrap();
    hub.emit_telemetry_update("MC-1", &json!({"speed": 3}))
        .unwrap();
    hub.emit_module_added(&json!({"id": "MC-B", "userId": BOB, "name": "Lift"}))
        .unwrap();
    hub.emit_stats_update_with(&json!({"users": 2})).unwrap();

    let mut alice = anonymous(&hub);
    let token = support::token(ALICE, "user", Some("s-alice"));
    let ack = alice
        .conn
        .authenticate(json!({"token": token, "page": "dashboard"}))
        .unwrap()
        .ack
        .unwrap();
    alice.user = Some(ALICE.to_owned());
    let ok = alice.expect("auth:ok");
    assert_eq!(ok["userId"], json!(ALICE));
    assert_eq!(ok["role"], json!("user"));
    assert_eq!(ok["sessionId"], json!("s-alice"));
    assert_eq!(ok["page"], json!("dashboard"));
    assert_timestamp(&ok);
    assert_eq!(ack["userId"], json!(ALICE), "the ack is the auth:ok body");

    let snapshot = alice.expect("page:snapshot");
    assert_eq!(snapshot["page"], json!("dashboard"));
    assert_timestamp(&snapshot);
    assert!(
        snapshot.get("stats").is_none(),
        "stats are for admins on admin"
    );
    assert!(snapshot.get("maintenance").is_none());
    let modules = snapshot["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 1, "only Alice's module: {snapshot}");
    let module = &modules[0];
    assert_eq!(module["moduleId"], json!("MC-1"));
    assert_eq!(module["userId"], json!(ALICE));
    assert_eq!(module["name"], json!("Station principale"));
    assert_eq!(module["type"], json!("Station"));
    assert_eq!(module["online"], json!(true));
    assert_eq!(module["telemetry"], json!({"speed": 3}));
    assert!(module["lastChange"].is_u64());
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
}

#[test]
fn admin_snapshot_on_admin_page_carries_last_stats_and_the_fleet() {
    let hub = support::hub();
    hub.emit_module_added(&json!({"id": "MC-1", "userId": ALICE}))
        .unwrap();
    hub.emit_module_added(&json!({"id": "MC-A", "userId": ADMIN}))
        .unwrap();
    hub.emit_stats_update_with(&json!({"users": 2, "modules": 2}))
        .unwrap();

    let mut admin = anonymous(&hub);
    let token = support::token(ADMIN, "admin", Some("s-admin"));
    admin
        .conn
        .authenticate(json!({"token": token, "page": "admin"}))
        .unwrap();
    admin.user = Some(ADMIN.to_owned());
    assert_eq!(admin.expect("auth:ok")["role"], json!("admin"));
    let snapshot = admin.expect("page:snapshot");
    assert_eq!(snapshot["stats"], json!({"users": 2, "modules": 2}));
    let ids: Vec<&Value> = snapshot["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["moduleId"])
        .collect();
    assert_eq!(
        ids,
        [&json!("MC-1"), &json!("MC-A")],
        "an admin's snapshot on `admin` lists every module, in id order"
    );

    admin
        .conn
        .send("client:page", json!({"page": "modules"}))
        .unwrap();
    let snapshot = admin.expect("page:snapshot");
    assert_eq!(snapshot["page"], json!("modules"));
    assert!(snapshot.get("stats").is_none());
    assert_eq!(
        snapshot["modules"].as_array().unwrap().len(),
        1,
        "on another page an admin lists its own modules: {snapshot}"
    );
    assert_eq!(snapshot["modules"][0]["moduleId"], json!("MC-A"));
    assert_nothing_then_sentinel(&hub, &mut [&mut admin]);
}

#[test]
fn client_page_sends_a_snapshot_and_moves_the_tab_to_that_pages_events() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    let mut admin = connect(&hub, ADMIN, "admin", "s-admin", "modules");
    hub.emit_module_online("MC-1", &station_info()).unwrap();
    alice.expect("module:status:changed");
    hub.emit_stats_update_with(&json!({"users": 2})).unwrap();

    // Alice's tab moves to the admin page: she is not an admin, so no status there.
    alice
        .conn
        .send("client:page", json!({"page": "admin"}))
        .unwrap();
    let snapshot = alice.expect("page:snapshot");
    assert_eq!(snapshot["page"], json!("admin"));
    assert_eq!(snapshot["modules"][0]["moduleId"], json!("MC-1"));
    assert!(snapshot.get("stats").is_none(), "not an admin");
    assert_timestamp(&snapshot);

    // The admin's tab moves to the admin page: now it gets stats and module status.
    admin
        .conn
        .send("client:page", json!({"page": "admin"}))
        .unwrap();
    let snapshot = admin.expect("page:snapshot");
    assert_eq!(snapshot["page"], json!("admin"));
    assert_eq!(snapshot["stats"], json!({"users": 2}));

    assert_eq!(
        hub.emit_module_offline("MC-1", &json!({})).unwrap(),
        delivered(1)
    );
    admin.expect("module:status:changed");
    assert_nothing_then_sentinel(&hub, &mut [&mut alice, &mut admin]);

    // And back: Alice's tab shows module status again.
    alice
        .conn
        .send("client:page", json!({"page": "modules"}))
        .unwrap();
    assert_eq!(alice.expect("page:snapshot")["page"], json!("modules"));
    hub.emit_module_online("MC-1", &json!({})).unwrap();
    alice.expect("module:status:changed");
    admin.expect("module:status:changed");
    assert_nothing_then_sentinel(&hub, &mut [&mut alice, &mut admin]);
}

#[test]
fn unauthenticated_connection_cannot_change_page() {
    let hub = support::hub();
    let mut stranger = anonymous(&hub);
    assert!(
        stranger
            .conn
            .send("client:page", json!({"page": "admin"}))
            .is_err()
    );
    assert_eq!(
        stranger.expect("auth:error")["code"],
        json!("not_authenticated")
    );
    hub.emit_maintenance_mode(true, "x", ADMIN).unwrap();
    assert_nothing_then_sentinel(&hub, &mut [&mut stranger]);
}
