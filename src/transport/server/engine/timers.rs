//! A session's two timers: the Engine.IO heartbeat (ping, then wait for the pong) and
//! the deadline by which a connection must have authenticated.
//!
//! Owns ending a session that stopped answering or never authenticated. It must not
//! write to the client itself: the ping goes through the session's control queue, and
//! the carrier (a poll or the websocket task) sends it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::super::Shared;
use super::super::session::{Ending, Session};
use super::release_if_polling;

/// Pings every `ping_interval` and ends the session when no pong comes within
/// `ping_timeout`.
pub(super) async fn heartbeat(shared: Arc<Shared>, session: Weak<Session>) {
    let interval = shared.config.ping_interval;
    let timeout = shared.config.ping_timeout;
    loop {
        tokio::time::sleep(interval).await;
        let Some(live) = session.upgrade() else {
            return;
        };
        if live.ending().is_some() {
            release_if_polling(&shared, &live);
            return;
        }
        live.pong.store(false, Ordering::SeqCst);
        live.send_control("2");
        // As Engine.IO's reference server: the next ping goes one interval after the
        // pong, not after the whole timeout (the official client closes the session
        // when no ping comes within pingInterval + pingTimeout of the previous one).
        let pong_notify = Arc::clone(&live.pong_notify);
        drop(live);
        let _ = tokio::time::timeout(timeout, async {
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
            shared.hub.count_ping_timeout();
            live.end(Ending::PingTimeout);
            // A polling session with no pending GET has no writer to notice.
            release_if_polling(&shared, &live);
            return;
        }
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
