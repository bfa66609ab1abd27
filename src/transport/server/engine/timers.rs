//! A session's timers: the Engine.IO heartbeat (ping, then wait for the pong), the
//! deadline by which a Socket.IO client must have joined a namespace, and the one by
//! which a hub connection must have authenticated.
//!
//! Owns ending a session that stopped answering or never authenticated. It must not
//! write to the client itself: the ping goes through the session's control queue, and
//! the carrier (a poll or the websocket task) sends it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::super::Shared;
use super::super::session::{Ending, Session};
use super::release_if_polling;

/// Pings every `ping_interval` and ends the session when no pong comes within
/// `ping_timeout`. The times are kept from when each ping was due, not from when this
/// task woke, so timer latency never stretches the protocol's deadlines; the pong's
/// due time is also on the session, where a request checks it ([`super::find`]).
pub(super) async fn heartbeat(shared: Arc<Shared>, session: Weak<Session>) {
    let interval = shared.config.ping_interval;
    let timeout = shared.config.ping_timeout;
    let mut due = Instant::now() + interval;
    loop {
        tokio::time::sleep_until(due.into()).await;
        let Some(live) = session.upgrade() else {
            return;
        };
        if live.ending().is_some() {
            release_if_polling(&shared, &live);
            return;
        }
        let pong_due = due + timeout;
        live.pong.store(false, Ordering::SeqCst);
        live.state.lock().pong_due = Some(pong_due);
        live.send_control("2");
        // As Engine.IO's reference server: the next ping goes one interval after the
        // pong, not after the whole timeout (the official client closes the session
        // when no ping comes within pingInterval + pingTimeout of the previous one).
        let pong_notify = Arc::clone(&live.pong_notify);
        drop(live);
        let _ = tokio::time::timeout_at(pong_due.into(), async {
            loop {
                pong_notify.notified().await;
                match session.upgrade() {
                    Some(live) if !live.pong.load(Ordering::SeqCst) => {}
                    _ => return,
                }
            }
        })
        .await;
        let Some(live) = session.upgrade() else {
            return;
        };
        if !live.pong.load(Ordering::SeqCst) {
            if live.ending().is_none() {
                shared.hub.count_ping_timeout();
                live.end(Ending::PingTimeout);
            }
            // A polling session with no pending GET has no writer to notice.
            release_if_polling(&shared, &live);
            return;
        }
        due = Instant::now() + interval;
    }
}

/// Ends the session if it has not authenticated `auth_deadline` after it opened.
pub(super) async fn auth_deadline(shared: Arc<Shared>, session: Weak<Session>) {
    tokio::time::sleep(shared.config.auth_deadline).await;
    let Some(live) = session.upgrade() else {
        return;
    };
    if !live.is_authenticated() && live.ending().is_none() {
        shared.hub.count_auth_timeout();
        live.end(Ending::AuthTimeout);
        release_if_polling(&shared, &live);
    }
}

/// Ends a Socket.IO session that joined no namespace `connect_timeout` after it opened.
pub(super) async fn connect_deadline(shared: Arc<Shared>, session: Weak<Session>) {
    tokio::time::sleep(shared.config.connect_timeout).await;
    let Some(live) = session.upgrade() else {
        return;
    };
    if !live.joined_any() && live.ending().is_none() {
        live.end(Ending::ConnectTimeout);
        release_if_polling(&shared, &live);
    }
}
