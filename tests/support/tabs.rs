//! Authenticated in-process connections ("tabs"), frame expectations, and the
//! *nothing-then-sentinel* check.
//!
//! Why a sentinel: "connection X received nothing" is only meaningful if X would have
//! received something had it been sent. Every delivery happens under the hub's one emit
//! lock and frames are queued before `emit_*` returns, so after asserting that nothing
//! arrived we send X a sentinel through the normal routing path and require that the
//! *very next* frame X holds is that sentinel. If an unwanted event had been queued it
//! would come first; if X had silently dropped out of the registry the sentinel would
//! never come. No sleeps are needed anywhere.
use super::{JWT_SECRET, SENTINEL, builder, hub, jwt, token};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use microcoaster_realtime::{
    CloseReason, Hub, HubBuilder, InProcessConnection, OutboundEvent, Received,
};
use serde_json::{Value, json};

/// One client connection (a browser tab) and the user it authenticated as.
pub struct Tab {
    /// The connection.
    pub conn: InProcessConnection,
    /// The verified user id, or `None` while unauthenticated.
    pub user: Option<String>,
}

impl Tab {
    /// The next thing queued for this connection, which must be a frame.
    pub fn next(&mut self) -> Arc<OutboundEvent> {
        match self.conn.try_recv() {
            Some(Received::Frame(frame)) => frame,
            Some(Received::Closed(reason)) => {
                panic!(
                    "{}: expected a frame, the connection was closed ({reason:?})",
                    self.label()
                )
            }
            None => panic!("{}: expected a frame, nothing was queued", self.label()),
        }
    }

    /// The next frame, which must be named `name`; returns its payload.
    pub fn expect(&mut self, name: &str) -> Value {
        let frame = self.next();
        assert_eq!(
            frame.name(),
            name,
            "{}: unexpected frame, payload {}",
            self.label(),
            frame.payload()
        );
        frame.payload().clone()
    }

    /// The next thing queued must be the close, for `reason`, and nothing after it.
    pub fn expect_closed(&mut self, reason: CloseReason) {
        match self.conn.try_recv() {
            Some(Received::Closed(got)) => assert_eq!(got, reason, "{}", self.label()),
            Some(Received::Frame(frame)) => panic!(
                "{}: expected close {reason:?}, got {} {}",
                self.label(),
                frame.name(),
                frame.payload()
            ),
            None => panic!(
                "{}: expected close {reason:?}, nothing queued",
                self.label()
            ),
        }
        assert!(
            self.conn.try_recv().is_none(),
            "{}: something after the close",
            self.label()
        );
    }

    /// Names of every frame queued right now (a close shows as `closed:<reason>`).
    pub fn drain_names(&mut self) -> Vec<String> {
        self.conn
            .drain_now()
            .into_iter()
            .map(|received| match received {
                Received::Frame(frame) => frame.name().to_owned(),
                Received::Closed(reason) => format!("closed:{}", reason.as_str()),
            })
            .collect()
    }

    fn label(&self) -> String {
        match &self.user {
            Some(user) => format!("connection {} (user {user})", self.conn.id()),
            None => format!("connection {} (unauthenticated)", self.conn.id()),
        }
    }
}

/// A connection that authenticated with a JWT (`sub` = `user`, `role`, `sid` = `session`)
/// on `page`. The `auth:ok` and `page:snapshot` frames are checked and consumed. Has no
/// side effect on other connections.
pub fn connect(hub: &Hub, user: &str, role: &str, session: &str, page: &str) -> Tab {
    let conn = hub.connect_in_process();
    let reply = conn
        .authenticate(json!({"token": token(user, role, Some(session)), "page": page}))
        .unwrap_or_else(|error| panic!("user {user} could not authenticate: {error}"));
    assert_eq!(
        reply.ack.as_ref().map(|ack| &ack["userId"]),
        Some(&json!(user))
    );
    finish_auth(conn, user, page)
}

/// The seed's flow: the host logs `user` in with session `session`
/// (`emit_user_logged_in`), then the browser authenticates with `{userId, userType, page,
/// sessionId}`. Note the login itself notifies the user's other sessions and the admins.
pub fn login(hub: &Hub, user: &str, role: &str, session: &str, page: &str) -> Tab {
    hub.emit_user_logged_in(&json!({"id": user, "role": role}), session)
        .unwrap_or_else(|error| panic!("login of user {user} refused: {error}"));
    let conn = hub.connect_in_process();
    conn.authenticate(
        json!({"userId": user, "userType": role, "page": page, "sessionId": session}),
    )
    .unwrap_or_else(|error| panic!("user {user} could not authenticate: {error}"));
    finish_auth(conn, user, page)
}

fn finish_auth(conn: InProcessConnection, user: &str, page: &str) -> Tab {
    let mut tab = Tab {
        conn,
        user: Some(user.to_owned()),
    };
    assert_eq!(tab.expect("auth:ok")["page"], json!(page));
    assert_eq!(tab.expect("page:snapshot")["page"], json!(page));
    tab
}

/// A connection that never authenticates.
pub fn anonymous(hub: &Hub) -> Tab {
    Tab {
        conn: hub.connect_in_process(),
        user: None,
    }
}

static SENTINELS: AtomicU64 = AtomicU64::new(1);

/// Asserts that each tab has nothing queued but the sentinel sent to it now, and nothing
/// after it.
///
/// Authenticated tabs get `test:sentinel {n}` through `emit_to_user` to their user (one
/// per distinct user, so every tab of that user receives it: pass them all, or drain the
/// others afterwards). Unauthenticated tabs send an event and must get `auth:error
/// {code: "not_authenticated"}` next.
pub fn assert_nothing_then_sentinel(hub: &Hub, tabs: &mut [&mut Tab]) {
    let mut sent: Vec<(String, u64)> = Vec::new();
    for tab in tabs.iter() {
        if let Some(user) = &tab.user
            && !sent.iter().any(|(u, _)| u == user)
        {
            let n = SENTINELS.fetch_add(1, Ordering::Relaxed);
            hub.emit_to_user(user.as_str(), SENTINEL, &json!({"n": n}))
                .expect("sentinel emit succeeds");
            sent.push((user.clone(), n));
        }
    }
    for tab in tabs.iter_mut() {
        let label = tab.label();
        match tab.user.clone() {
            Some(user) => {
                let n = sent.iter().find(|(u, _)| *u == user).map(|(_, n)| *n);
                let frame = tab.next();
                assert_eq!(
                    (
                        frame.name(),
                        frame.payload().get("n").and_then(Value::as_u64)
                    ),
                    (SENTINEL, n),
                    "{label}: expected nothing before the sentinel, got {} {}",
                    frame.name(),
                    frame.payload()
                );
            }
            None => {
                let _ = tab.conn.send("some:event", json!({}));
                let frame = tab.next();
                assert_eq!(
                    (frame.name(), &frame.payload()["code"]),
                    ("auth:error", &json!("not_authenticated")),
                    "{label}: expected nothing before the auth:error sentinel, got {}",
                    frame.payload()
                );
            }
        }
        let rest = tab.drain_names();
        assert!(
            rest.is_empty(),
            "{label}: frames after the sentinel: {rest:?}"
        );
    }
}

/// Asserts `payload.timestamp` is a plausible "now" in milliseconds since the epoch.
pub fn assert_timestamp(payload: &Value) {
    let timestamp = payload["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no numeric timestamp in {payload}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let timestamp = u128::from(timestamp);
    assert!(
        timestamp + 60_000 >= now && timestamp <= now + 60_000,
        "timestamp {timestamp} is not close to now ({now}) in {payload}"
    );
}
