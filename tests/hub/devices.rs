//! Devices (DESIGN §1): a module's own connection makes it online for its owner, its
//! telemetry frames become `module:telemetry:updated`, its disconnection takes it offline
//! after the grace period (a quick reconnect emits nothing), and a device never receives
//! user or admin events.

use crate::support;

use std::time::Duration;

use crate::support::{Tab, assert_nothing_then_sentinel, connect};
use microcoaster_realtime::{EmitOutcome, Hub, InProcessConnection, Received};
use serde_json::{Value, json};

const OWNER: &str = "7";
const MODULE: &str = "MC-7001-STN";

fn device_token(module: &str, owner: &str) -> String {
    support::jwt::device_token(support::JWT_SECRET, module, owner)
}

fn hub_with_grace(grace: Duration) -> Hub {
    support::builder()
        .device_offline_grace(grace)
        .build()
        .unwrap()
}

/// The next frame's name and payload, waiting up to `timeout` (an awaited event, not a
/// sleep: the grace timer fires on its own thread).
fn next_within(tab: &mut Tab, timeout: Duration) -> (String, Value) {
    match tab.conn.recv_timeout(timeout) {
        Some(Received::Frame(frame)) => (frame.name().to_owned(), frame.payload().clone()),
        other => panic!("expected a frame within {timeout:?}, got {other:?}"),
    }
}

fn device(hub: &Hub, module: &str, owner: &str) -> InProcessConnection {
    let mut conn = hub.connect_in_process();
    let reply = conn
        .authenticate(json!({"token": device_token(module, owner)}))
        .expect("device authenticates");
    let ok = reply.ack.expect("auth:ok body");
    assert_eq!(ok["role"], json!("device"));
    assert_eq!(ok["moduleId"], json!(module));
    assert_eq!(ok["userId"], json!(owner));
    let first = conn
        .try_recv()
        .and_then(|r| r.frame().map(|f| f.name().to_owned()));
    assert_eq!(first.as_deref(), Some("auth:ok"));
    assert!(conn.try_recv().is_none(), "a device gets no page:snapshot");
    conn
}

#[test]
fn device_connection_makes_its_module_online_for_its_owner() {
    let hub = hub_with_grace(Duration::from_secs(5));
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let _device = device(&hub, MODULE, OWNER);
    let status = owner.expect("module:status:changed");
    assert_eq!(status["moduleId"], json!(MODULE));
    assert_eq!(status["online"], json!(true));
    assert_eq!(status["userId"], json!(OWNER));
    assert_nothing_then_sentinel(&hub, &mut [&mut owner]);
}

#[test]
fn device_telemetry_frames_become_telemetry_updates_and_equal_ones_send_nothing() {
    let hub = hub_with_grace(Duration::from_secs(5));
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let device = device(&hub, MODULE, OWNER);
    owner.expect("module:status:changed");

    let reply = device
        .send_raw(br#"{"event":"telemetry","data":{"speed":3.5}}"#)
        .unwrap();
    assert_eq!(
        reply.ack,
        Some(json!({"outcome": "delivered", "connections": 1}))
    );
    let telemetry = owner.expect("module:telemetry:updated");
    assert_eq!(telemetry["moduleId"], json!(MODULE));
    assert_eq!(telemetry["telemetry"], json!({"speed": 3.5}));

    let reply = device.send("telemetry", json!({"speed": 3.5})).unwrap();
    assert_eq!(
        reply.ack,
        Some(json!({"outcome": "unchanged", "connections": 0}))
    );
    assert_nothing_then_sentinel(&hub, &mut [&mut owner]);
}

#[test]
fn device_disconnect_takes_the_module_offline_after_the_grace_period() {
    let hub = hub_with_grace(Duration::from_millis(100));
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let device = device(&hub, MODULE, OWNER);
    owner.expect("module:status:changed");
    drop(device);
    let (name, payload) = next_within(&mut owner, Duration::from_secs(5));
    assert_eq!(name, "module:status:changed");
    assert_eq!(payload["online"], json!(false));
    assert_eq!(payload["moduleId"], json!(MODULE));
}

#[test]
fn quick_reconnect_within_the_grace_period_emits_nothing() {
    const CLOCK: &str = "MC-7002-LFT";
    let hub = hub_with_grace(Duration::from_millis(300));
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let first = device(&hub, MODULE, OWNER);
    let clock = device(&hub, CLOCK, OWNER);
    owner.expect("module:status:changed");
    owner.expect("module:status:changed");
    // MODULE's device drops and comes back at once; CLOCK's drops for good just after,
    // so its offline timer comes due after MODULE's stale one.
    drop(first);
    drop(clock);
    let _second = device(&hub, MODULE, OWNER);
    // Awaiting CLOCK's offline means MODULE's stale timer has already been checked.
    let (name, payload) = next_within(&mut owner, Duration::from_secs(5));
    assert_eq!(name, "module:status:changed");
    assert_eq!(payload["moduleId"], json!(CLOCK));
    assert_eq!(payload["online"], json!(false));
    // Nothing about MODULE: neither the reconnect nor the stale timer emitted anything.
    assert_nothing_then_sentinel(&hub, &mut [&mut owner]);
    assert_eq!(
        hub.emit_module_online(MODULE, &json!({})).unwrap(),
        EmitOutcome::Unchanged,
        "the module is still online"
    );
}

#[test]
fn a_device_never_receives_user_or_admin_events() {
    let hub = hub_with_grace(Duration::from_secs(5));
    let mut admin = connect(&hub, "1", "admin", "s-admin", "admin");
    let mut device = device(&hub, MODULE, OWNER);
    admin.expect("module:status:changed");
    hub.emit_telemetry_update(MODULE, &json!({"v": 1})).unwrap();
    hub.emit_to_user(OWNER, "host:note", &json!({})).unwrap();
    hub.emit_to_admins("host:alert", &json!({})).unwrap();
    hub.emit_admin_action("1", "user_promoted", &json!({}))
        .unwrap();
    hub.emit_maintenance_mode(true, "Mise à jour", "1").unwrap();
    hub.emit_module_added(&json!({"id": MODULE, "userId": OWNER}))
        .unwrap();
    assert!(
        device.try_recv().is_none(),
        "a device got a user or admin event"
    );
    // Positive sentinel: the device's delivery path works (a direct reply arrives).
    device
        .authenticate(json!({"token": device_token(MODULE, OWNER)}))
        .unwrap();
    let frame = device.try_recv().and_then(|r| r.frame().cloned()).unwrap();
    assert_eq!(frame.name(), "auth:ok");
}

#[test]
fn device_key_authenticates_and_a_wrong_key_is_refused() {
    let hub = hub_with_grace(Duration::from_secs(5));
    hub.register_device_key(MODULE, OWNER, "0123456789abcdef-key")
        .unwrap();
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");

    let intruder = hub.connect_in_process();
    let error = intruder
        .authenticate(json!({"moduleId": MODULE, "deviceKey": "0123456789abcdef-bad"}))
        .unwrap_err();
    assert_eq!(error.ack_body()["code"], json!("unknown_device"));

    let board = hub.connect_in_process();
    board
        .authenticate(json!({"moduleId": MODULE, "deviceKey": "0123456789abcdef-key"}))
        .unwrap();
    assert_eq!(owner.expect("module:status:changed")["online"], json!(true));
    assert!(hub.revoke_device_key(MODULE));
    let late = hub.connect_in_process();
    assert!(
        late.authenticate(json!({"moduleId": MODULE, "deviceKey": "0123456789abcdef-key"}))
            .is_err()
    );
}

#[test]
fn device_claiming_a_module_of_another_user_is_refused() {
    let hub = hub_with_grace(Duration::from_secs(5));
    hub.emit_module_added(&json!({"id": MODULE, "userId": "8"}))
        .unwrap();
    let conn = hub.connect_in_process();
    let error = conn
        .authenticate(json!({"token": device_token(MODULE, OWNER)}))
        .unwrap_err();
    assert_eq!(error.ack_body()["code"], json!("owner_mismatch"));
    assert_eq!(
        hub.emit_module_online(MODULE, &json!({})).unwrap(),
        EmitOutcome::Delivered { connections: 0 },
        "the refused device did not make the module online"
    );
}
