//! A session's timers, on one task: the Engine.IO heartbeat (ping, then wait for the
//! pong), the deadline by which a Socket.IO client must have joined a namespace, and
//! the one by which a hub connection must have authenticated. One task rather than one
//! per timer: a task costs its header and its future for as long as it lives, per
//! connection (the two deadlines are 10 s and 45 s by default, so an idle server held
//! three tasks per fresh connection).
//!
//! Owns ending a session that stopped answering or never authenticated. It must not
//! write to the client itself: the ping goes through the session's control queue, and
//! the carrier (a poll or the websocket task) sends it. Guarded by
//! `tests/server/socketio_lifecycle.rs` (heartbeats), `tests/server/server_limits.rs`
//! (the connect and auth deadlines) and `tests/clients` (the official clients'
//! heartbeat).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::super::Shared;
use super::super::session::{Ending, Session};
use super::release_if_polling;

/// When a session's deadlines fall (`None`: it has none of that kind).
pub(super) struct Deadlines {
    /// A Socket.IO session must have joined a namespace by then.
    pub(super) connect: Option<Instant>,
    /// A hub connection must have authenticated by then.
    pub(super) auth: Option<Instant>,
}

/// Runs a session's timers until it ends.
///
/// Heartbeat: pings every `ping_interval` and ends the session when no pong comes
/// within `ping_timeout`. The times are kept from when each ping was due, not from when
/// this task woke, so timer latency never stretches the protocol's deadlines; the
/// pong's due time is also on the session, where a request checks it
/// ([`super::find`]). As Engine.IO's reference server, the next ping goes one interval
/// after the pong, not after the whole timeout (the official client closes the session
/// when no ping comes within pingInterval + pingTimeout of the previous one).
///
/// Deadlines: at each, a session that has not joined a namespace (connect) or
/// authenticated (auth) by then, and is not already ending, is ended.
pub(super) async fn run(shared: Arc<Shared>, session: Weak<Session>, mut deadlines: Deadlines) {
    let interval = shared.config.ping_interval;
    let timeout = shared.config.ping_timeout;
    let Some(pong_notify) = session.upgrade().map(|live| Arc::clone(&live.pong_notify)) else {
        return;
    };
    let mut ping_due = Instant::now() + interval;
    let mut pong_due: Option<Instant> = None;
    loop {
        let heartbeat = pong_due.unwrap_or(ping_due);
        let wake = [deadlines.connect, deadlines.auth]
            .into_iter()
            .flatten()
            .fold(heartbeat, Instant::min);
        if pong_due.is_some() {
            // Waiting for a pong: its arrival wakes this task early.
            tokio::select! {
                () = pong_notify.notified() => {}
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        } else {
            tokio::time::sleep_until(wake.into()).await;
        }
        let Some(live) = session.upgrade() else {
            return;
        };
        let now = Instant::now();
        check_deadlines(&shared, &live, &mut deadlines, now);
        match pong_due {
            Some(due) => {
                if live.pong.load(Ordering::SeqCst) {
                    pong_due = None;
                    ping_due = Instant::now() + interval;
                } else if now >= due {
                    if live.ending().is_none() {
                        shared.hub.count_ping_timeout();
                        live.end(Ending::PingTimeout);
                    }
                    // A polling session with no pending GET has no writer to notice.
                    release_if_polling(&shared, &live);
                    return;
                }
            }
            None if now >= ping_due => {
                if live.ending().is_some() {
                    release_if_polling(&shared, &live);
                    return;
                }
                let due = ping_due + timeout;
                live.pong.store(false, Ordering::SeqCst);
                live.state.lock().pong_due = Some(due);
                live.send_control("2");
                pong_due = Some(due);
            }
            None => {}
        }
    }
}

/// Ends the session for each deadline that has passed and was not met.
fn check_deadlines(shared: &Shared, live: &Session, deadlines: &mut Deadlines, now: Instant) {
    if deadlines.connect.is_some_and(|at| now >= at) {
        deadlines.connect = None;
        if !live.joined_any() && live.ending().is_none() {
            live.end(Ending::ConnectTimeout);
            release_if_polling(shared, live);
        }
    }
    if deadlines.auth.is_some_and(|at| now >= at) {
        deadlines.auth = None;
        if !live.is_authenticated() && live.ending().is_none() {
            shared.hub.count_auth_timeout();
            live.end(Ending::AuthTimeout);
            release_if_polling(shared, live);
        }
    }
}
