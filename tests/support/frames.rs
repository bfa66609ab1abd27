//! Helpers shared by `tests/hub/auth.rs`, `bad_input.rs`, `hooks.rs`, `encode_once.rs` and
//! `queue_policy.rs`: connections authenticated by JWT, frame readers that fail loudly,
//! and the positive sentinels that every "receives nothing" check is paired with.

use std::sync::Arc;

use microcoaster_realtime::{Hub, HubBuilder, InProcessConnection, OutboundEvent, Received};
use serde_json::{Value, json};

use super::{SENTINEL, token};

/// Opens a connection authenticated as `user` with `role` on `page` (by JWT), and checks
/// that it received `auth:ok` then `page:snapshot` and nothing else yet.
pub fn connect_as(hub: &Hub, user: &str, role: &str, page: &str) -> InProcessConnection {
    let mut connection = hub.connect_in_process();
    connection
        .authenticate(json!({"token": token(user, role, None), "page": page}))
        .expect("valid token is accepted");
    let ok = next_frame(&mut connection);
    assert_eq!(ok.name(), "auth:ok");
    assert_eq!(ok.payload()["userId"], json!(user));
    assert_eq!(ok.payload()["role"], json!(role));
    assert_eq!(next_frame(&mut connection).name(), "page:snapshot");
    assert_no_frame_queued(&mut connection);
    connection
}

/// Fails unless nothing is queued right now. Only for setup: tests prove "nothing"
/// with a sentinel.
pub fn assert_no_frame_queued(connection: &mut InProcessConnection) {
    let queued = connection.drain_now();
    assert!(queued.is_empty(), "unexpected frames: {queued:?}");
}

/// The next queued frame; fails if nothing is queued or the connection closed.
pub fn next_frame(connection: &mut InProcessConnection) -> Arc<OutboundEvent> {
    match connection.try_recv() {
        Some(Received::Frame(frame)) => frame,
        Some(Received::Closed(reason)) => {
            panic!("connection closed ({reason:?}), expected a frame")
        }
        None => panic!("no frame queued"),
    }
}

/// The names of every frame queued right now; a close shows as `closed:<reason>`.
pub fn names(connection: &mut InProcessConnection) -> Vec<String> {
    connection
        .drain_now()
        .into_iter()
        .map(|received| match received {
            Received::Frame(frame) => frame.name().to_owned(),
            Received::Closed(reason) => format!("closed:{}", reason.as_str()),
        })
        .collect()
}

/// Sends [`SENTINEL`] to `user` and checks that it is the very next thing `connection`
/// receives: whatever was checked as "not received" before really was not.
pub fn expect_sentinel(hub: &Hub, connection: &mut InProcessConnection, user: &str) {
    hub.emit_to_user(user, SENTINEL, &json!({}))
        .expect("sentinel emit");
    let frame = next_frame(connection);
    assert_eq!(
        frame.name(),
        SENTINEL,
        "expected the sentinel, got {frame:?}"
    );
}

/// For an unauthenticated connection: sends an event and checks that the very next frame
/// is `auth:error {code: "not_authenticated"}`. (This counts as one auth failure.)
pub fn expect_not_authenticated_sentinel(connection: &mut InProcessConnection) {
    let error = connection
        .send("test:ping", json!({}))
        .expect_err("an unauthenticated event is refused");
    assert_eq!(error.ack_body()["code"], "not_authenticated");
    expect_auth_error(connection, "not_authenticated");
}

/// Checks that the next frame is `auth:error` with `code`; returns its payload.
pub fn expect_auth_error(connection: &mut InProcessConnection, code: &str) -> Value {
    let frame = next_frame(connection);
    assert_eq!(frame.name(), "auth:error", "got {frame:?}");
    assert_eq!(frame.payload()["code"], json!(code), "got {frame:?}");
    assert!(frame.payload()["message"].is_string());
    frame.payload().clone()
}
