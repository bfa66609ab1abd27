//! One test (or a few) per row of DESIGN §4's host-call table, over the in-process
//! transport: who receives each event, with which payload, who does not, and when
//! nothing is sent at all (`EmitOutcome::Unchanged`).
//!
//! Every "receives nothing" is proved with a sentinel the same connection must receive
//! next (`support::assert_nothing_then_sentinel`). Cast: user 1 is an admin, users 2
//! (Alice) and 3 (Bob) are plain users.

use crate::support;

use std::sync::Arc;

use crate::support::{
    Tab, anonymous, assert_nothing_then_sentinel, assert_timestamp, connect, login,
};
use microcoaster_realtime::{
    CloseReason, EmitOutcome, Hub, HubError, InProcessConnection, OutboundEvent,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

const ADMIN: &str = "1";
const ALICE: &str = "2";
const BOB: &str = "3";

fn delivered(connections: usize) -> EmitOutcome {
    EmitOutcome::Delivered { connections }
}

/// Alice's station, with her id given as a number as the seed does.
fn station_info() -> Value {
    json!({"userId": 2, "name": "Station principale", "type": "Station"})
}

fn assert_status_payload(payload: &Value, online: bool) {
    assert_eq!(payload["moduleId"], json!("MC-1"));
    assert_eq!(payload["online"], json!(online));
    assert_eq!(
        payload["userId"],
        json!(ALICE),
        "user ids are sent as strings"
    );
    assert_eq!(payload["name"], json!("Station principale"));
    assert_eq!(payload["type"], json!("Station"));
    assert_timestamp(payload);
}

/// The tabs most routing tests need: Alice on each page, an admin on `admin` and on
/// `modules`, Bob, and a stranger who never authenticates.
struct Cast {
    alice_modules: Tab,
    alice_dashboard: Tab,
    alice_admin_page: Tab,
    admin_admin_page: Tab,
    admin_modules: Tab,
    bob: Tab,
    stranger: Tab,
}

impl Cast {
    fn new(hub: &Hub) -> Self {
        Self {
            alice_modules: connect(hub, ALICE, "user", "s-alice", "modules"),
            alice_dashboard: connect(hub, ALICE, "user", "s-alice", "dashboard"),
            alice_admin_page: connect(hub, ALICE, "user", "s-alice", "admin"),
            admin_admin_page: connect(hub, ADMIN, "admin", "s-admin", "admin"),
            admin_modules: connect(hub, ADMIN, "admin", "s-admin", "modules"),
            bob: connect(hub, BOB, "user", "s-bob", "modules"),
            stranger: anonymous(hub),
        }
    }

    /// Every tab has nothing queued (checked with sentinels).
    fn assert_all_quiet(&mut self, hub: &Hub) {
        assert_nothing_then_sentinel(
            hub,
            &mut [
                &mut self.alice_modules,
                &mut self.alice_dashboard,
                &mut self.alice_admin_page,
                &mut self.admin_admin_page,
                &mut self.admin_modules,
                &mut self.bob,
                &mut self.stranger,
            ],
        );
    }
}

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

// ----- emit_user_logged_in ------------------------------------------------------------

#[test]
fn login_notifies_the_users_other_sessions_and_admins_on_admin() {
    let hub = support::hub();
    let mut old_session = connect(&hub, ALICE, "user", "s-alice-laptop", "modules");
    let mut old_session_admin_page = connect(&hub, ALICE, "user", "s-alice-laptop", "admin");
    let mut new_session = connect(&hub, ALICE, "user", "s-alice-phone", "dashboard");
    let mut admin_admin_page = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let mut admin_modules = connect(&hub, ADMIN, "admin", "s-admin", "modules");
    let mut bob = connect(&hub, BOB, "user", "s-bob", "modules");
    let mut stranger = anonymous(&hub);

    let user = json!({"id": 2, "role": "user", "name": "Alice"});
    assert_eq!(
        hub.emit_user_logged_in(&user, "s-alice-phone").unwrap(),
        delivered(3)
    );
    for tab in [&mut old_session, &mut old_session_admin_page] {
        let frame = tab.next();
        assert_eq!(frame.name(), "user:session:started");
        assert_eq!(frame.payload()["userId"], json!(ALICE));
        assert_timestamp(frame.payload());
        assert_no_session_id(&frame, "s-alice-phone");
    }
    let frame = admin_admin_page.next();
    assert_eq!(frame.name(), "admin:user:logged_in");
    assert_eq!(frame.payload()["user"]["userId"], json!(ALICE));
    assert_eq!(frame.payload()["user"]["role"], json!("user"));
    assert_eq!(frame.payload()["user"]["name"], json!("Alice"));
    assert_timestamp(frame.payload());
    assert_no_session_id(&frame, "s-alice-phone");

    assert_nothing_then_sentinel(
        &hub,
        &mut [
            &mut old_session,
            &mut old_session_admin_page,
            &mut new_session,
            &mut admin_admin_page,
            &mut admin_modules,
            &mut bob,
            &mut stranger,
        ],
    );
}

fn assert_no_session_id(frame: &OutboundEvent, session: &str) {
    let bytes = InProcessConnection::encoded(frame);
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(
        !text.contains(session),
        "{} leaks the session id: {text}",
        frame.name()
    );
}

#[test]
fn same_session_logging_in_twice_is_unchanged() {
    let hub = support::hub();
    let mut old_session = connect(&hub, ALICE, "user", "s-alice-laptop", "modules");
    let mut admin = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let user = json!({"id": ALICE, "name": "Alice"});
    hub.emit_user_logged_in(&user, "s-alice-phone").unwrap();
    old_session.expect("user:session:started");
    admin.expect("admin:user:logged_in");

    assert_eq!(
        hub.emit_user_logged_in(&user, "s-alice-phone").unwrap(),
        EmitOutcome::Unchanged
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut old_session, &mut admin]);
}

#[test]
fn session_login_lets_the_seed_browser_payload_authenticate() {
    let hub = support::hub();
    let mut admin = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let mut alice = login(&hub, ALICE, "user", "s-alice", "dashboard");
    admin.expect("admin:user:logged_in");

    hub.emit_module_online("MC-1", &station_info()).unwrap();
    alice.expect("module:status:changed");
    admin.expect("module:status:changed");

    let impostor = hub.connect_in_process();
    let mut impostor = Tab {
        conn: impostor,
        user: None,
    };
    let claims_admin = json!({"userId": ALICE, "userType": "admin", "page": "admin",
                              "sessionId": "s-alice"});
    assert!(impostor.conn.authenticate(claims_admin).is_err());
    assert_eq!(
        impostor.expect("auth:error")["code"],
        json!("claims_mismatch")
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice, &mut admin, &mut impostor]);
}

// ----- emit_user_logged_out -----------------------------------------------------------

#[test]
fn logout_ends_and_closes_only_that_sessions_connections() {
    let hub = support::hub();
    let mut admin = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let mut laptop_modules = login(&hub, ALICE, "user", "s-alice-laptop", "modules");
    let mut laptop_admin_page = connect(&hub, ALICE, "user", "s-alice-laptop", "admin");
    let mut phone = login(&hub, ALICE, "user", "s-alice-phone", "modules");
    let mut bob = connect(&hub, BOB, "user", "s-bob", "modules");
    laptop_modules.expect("user:session:started");
    laptop_admin_page.expect("user:session:started");
    assert_eq!(
        admin.drain_names(),
        ["admin:user:logged_in", "admin:user:logged_in"]
    );

    let user = json!({"id": 2, "name": "Alice"});
    assert_eq!(
        hub.emit_user_logged_out(&user, "s-alice-laptop").unwrap(),
        delivered(3)
    );
    for tab in [&mut laptop_modules, &mut laptop_admin_page] {
        let frame = tab.next();
        assert_eq!(frame.name(), "user:session:ended");
        assert_eq!(frame.payload()["userId"], json!(ALICE));
        assert_timestamp(frame.payload());
        tab.expect_closed(CloseReason::LoggedOut);
    }
    let payload = admin.expect("admin:user:logged_out");
    assert_eq!(payload["user"]["userId"], json!(ALICE));
    assert_eq!(payload["user"]["name"], json!("Alice"));
    assert_timestamp(&payload);
    assert!(!payload.to_string().contains("s-alice-laptop"));

    // The phone's session stays open and subscribed; Bob saw nothing.
    assert_nothing_then_sentinel(&hub, &mut [&mut phone, &mut admin, &mut bob]);
    hub.emit_module_online("MC-1", &station_info()).unwrap();
    phone.expect("module:status:changed");
}

#[test]
fn logged_out_session_can_no_longer_authenticate() {
    let hub = support::hub();
    let mut tab = login(&hub, ALICE, "user", "s-alice", "modules");
    hub.emit_user_logged_out(&json!({"id": ALICE}), "s-alice")
        .unwrap();
    tab.expect("user:session:ended");
    tab.expect_closed(CloseReason::LoggedOut);

    let mut by_session = anonymous(&hub);
    assert!(
        by_session
            .conn
            .authenticate(json!({"userId": ALICE, "page": "modules", "sessionId": "s-alice"}))
            .is_err()
    );
    assert_eq!(
        by_session.expect("auth:error")["code"],
        json!("unknown_session")
    );

    let mut by_token = anonymous(&hub);
    let token = support::token(ALICE, "user", Some("s-alice"));
    assert!(
        by_token
            .conn
            .authenticate(json!({"token": token, "page": "modules"}))
            .is_err()
    );
    assert_eq!(
        by_token.expect("auth:error")["code"],
        json!("unknown_session")
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut by_session, &mut by_token]);
}

#[test]
fn logging_out_an_unknown_session_is_unchanged() {
    let hub = support::hub();
    let mut admin = connect(&hub, ADMIN, "admin", "s-admin", "admin");
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    let user = json!({"id": ALICE});
    assert_eq!(
        hub.emit_user_logged_out(&user, "s-never").unwrap(),
        EmitOutcome::Unchanged
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut admin, &mut alice]);

    assert_eq!(
        hub.emit_user_logged_out(&user, "s-alice").unwrap(),
        delivered(2)
    );
    alice.expect("user:session:ended");
    alice.expect_closed(CloseReason::LoggedOut);
    admin.expect("admin:user:logged_out");
    assert_eq!(
        hub.emit_user_logged_out(&user, "s-alice").unwrap(),
        EmitOutcome::Unchanged,
        "the same session logging out twice"
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut admin]);
}

// ----- emit_user_profile_updated ------------------------------------------------------

#[test]
fn profile_update_sends_only_changed_fields_to_every_tab_of_the_user() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let old = json!({"id": 2, "name": "Ada", "email": "ada@example.org"});
    let new = json!({"id": 2, "name": "Ada L.", "email": "ada@example.org"});

    assert_eq!(
        hub.emit_user_profile_updated(&old, &new).unwrap(),
        delivered(3)
    );
    for tab in [
        &mut cast.alice_modules,
        &mut cast.alice_dashboard,
        &mut cast.alice_admin_page,
    ] {
        let payload = tab.expect("user:profile:updated");
        assert_eq!(payload["userId"], json!(ALICE));
        assert_eq!(payload["changes"], json!({"name": "Ada L."}));
        assert_timestamp(&payload);
    }
    cast.assert_all_quiet(&hub);
}

#[test]
fn profile_update_changing_nothing_is_unchanged() {
    let hub = support::hub();
    let mut alice = connect(&hub, ALICE, "user", "s-alice", "modules");
    let same = json!({"id": ALICE, "name": "Ada"});
    assert_eq!(
        hub.emit_user_profile_updated(&same, &same).unwrap(),
        EmitOutcome::Unchanged
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);

    let renamed = json!({"id": ALICE, "name": "Ada L."});
    assert_eq!(
        hub.emit_user_profile_updated(&same, &renamed).unwrap(),
        delivered(1)
    );
    alice.expect("user:profile:updated");
    assert_eq!(
        hub.emit_user_profile_updated(&same, &renamed).unwrap(),
        EmitOutcome::Unchanged,
        "the stored profile already has the new name"
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
}

// ----- emit_user_registered -----------------------------------------------------------

#[test]
fn registration_reaches_admins_on_admin_page_only() {
    let hub = support::hub();
    let mut cast = Cast::new(&hub);
    let mut newcomer = connect(&hub, "5", "user", "s-eve", "admin");
    let user = json!({"id": 5, "name": "Eve"});

    assert_eq!(hub.emit_user_registered(&user).unwrap(), delivered(1));
    let payload = cast.admin_admin_page.expect("admin:user:registered");
    assert_eq!(payload["user"]["userId"], json!("5"));
    assert_eq!(payload["user"]["name"], json!("Eve"));
    assert_eq!(payload["user"]["role"], json!("user"));
    assert_timestamp(&payload);
    cast.assert_all_quiet(&hub);
    assert_nothing_then_sentinel(&hub, &mut [&mut newcomer]);

    assert_eq!(
        hub.emit_user_registered(&user).unwrap(),
        EmitOutcome::Unchanged,
        "registering the same user twice"
    );
    cast.assert_all_quiet(&hub);
}

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

#[test]
fn logout_naming_another_users_session_is_refused_and_closes_nothing() {
    let hub = support::hub();
    let mut alice = login(&hub, ALICE, "user", "s-alice", "modules");
    let error = hub
        .emit_user_logged_out(&json!({"id": BOB}), "s-alice")
        .unwrap_err();
    assert_eq!(error.code(), "session_mismatch");
    // Alice's tab is still open and subscribed, and her session still authenticates.
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
    let again = hub.connect_in_process();
    again
        .authenticate(json!({"userId": ALICE, "page": "modules", "sessionId": "s-alice"}))
        .unwrap();
}

#[test]
fn logout_closes_only_the_named_users_connections_with_that_session_id() {
    let hub = support::hub();
    // Two JWTs carrying the same sid for different users: a host mistake the hub must
    // not turn into closing someone else's tab.
    let mut alice = connect(&hub, ALICE, "user", "shared-sid", "modules");
    let mut bob = connect(&hub, BOB, "user", "shared-sid", "modules");
    hub.emit_user_logged_out(&json!({"id": BOB}), "shared-sid")
        .unwrap();
    bob.expect("user:session:ended");
    bob.expect_closed(CloseReason::LoggedOut);
    assert_nothing_then_sentinel(&hub, &mut [&mut alice]);
}
