//! DESIGN §4's user and session rows: `emit_user_logged_in`, `emit_user_logged_out`
//! (and the sessions a logout must leave alone), `emit_user_profile_updated` and
//! `emit_user_registered`.

use microcoaster_realtime::{CloseReason, EmitOutcome, InProcessConnection, OutboundEvent};
use serde_json::json;

use super::{ADMIN, ALICE, BOB, Cast, delivered, station_info};
use crate::support;
use crate::support::{
    Tab, anonymous, assert_nothing_then_sentinel, assert_timestamp, connect, login,
};

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
