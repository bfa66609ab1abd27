//! Engine.IO over a websocket: a websocket-only session, the polling→websocket upgrade
//! (`2probe`/`3probe`, a `6` noop to the pending poll, then `5`), and the one task that
//! serves a session's websocket until either side closes it.
//!
//! Owns the websocket close codes and the rule that a session is released (and parked,
//! for a lost transport) before the close handshake ends. It must not hold a lock
//! across a socket write: frames are taken from the session, then written.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::metrics::BadInputKind;
use crate::outbound::CloseReason;
use crate::protocol::engineio;

use super::super::Shared;
use super::super::coalesce::{self, Coalescer};
use super::super::http::{self, Body};
use super::super::readiness::ReadReadiness;
use super::super::session::{Carrier, Ending, Frame, Pending, Service, Session};
use super::super::stall;
use super::polling::closing_packets;
use super::{find, on_binary, on_packet, open_packet, open_session, release};

/// A served websocket.
type Socket = http::ServerSocket;

/// A websocket request: a new websocket-only session (no `sid`) or the upgrade of the
/// polling session `sid`. Answers the HTTP upgrade and serves the socket on a task.
pub(super) fn accept(
    shared: &Arc<Shared>,
    mut request: Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
    sid: Option<String>,
    service: Service,
) -> Response<Body> {
    if !http::is_websocket_upgrade(&request) {
        return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
    }
    let existing = match &sid {
        Some(sid) => match find(shared, sid, &service) {
            Some(session) if session.state.lock().carrier == Carrier::Polling => Some(session),
            // Already upgraded (or upgrading): as the reference server, the second
            // websocket is accepted and closed at once; the session is untouched.
            Some(_) => return refuse_second_websocket(shared, request),
            None => return http::json_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown"),
        },
        None => None,
    };
    let new_session = match existing {
        Some(_) => None,
        None => match open_session(shared, &request, remote, query, Carrier::WebSocket, service) {
            Ok(session) => Some(session),
            Err(refused) => return *refused,
        },
    };
    let Some((response, socket)) =
        http::accept_websocket(&mut request, shared.config.max_message_bytes)
    else {
        if let Some(session) = &new_session {
            release(shared, session);
        }
        return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad websocket handshake");
    };
    let shared = Arc::clone(shared);
    // The task lives as long as the connection, and its size is paid per connection:
    // the upgrade's future (hyper's, consumed at the first await) and a polling
    // session's upgrade (rare) are boxed, so the task holds only the websocket loop's
    // state (1,944 bytes against 3,112 with both inline).
    let socket = Box::pin(socket);
    tokio::spawn(async move {
        let Some(ws) = socket.await else {
            if let Some(session) = &new_session {
                release(&shared, session);
            }
            return;
        };
        match (existing, new_session) {
            (Some(session), _) => Box::pin(upgrade(shared, session, ws)).await,
            (None, Some(session)) => {
                let open = open_packet(&shared, &session);
                run_websocket(shared, session, ws, Some(open)).await;
            }
            (None, None) => {}
        }
    });
    response
}

/// Accepts a websocket for a session that already has one, and closes it.
fn refuse_second_websocket(shared: &Shared, mut request: Request<Incoming>) -> Response<Body> {
    let Some((response, socket)) =
        http::accept_websocket(&mut request, shared.config.max_message_bytes)
    else {
        return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad websocket handshake");
    };
    tokio::spawn(async move {
        if let Some(mut ws) = socket.await {
            let frame = CloseFrame {
                code: CloseCode::Policy,
                reason: "session already upgraded".into(),
            };
            let _ = ws.close(Some(frame)).await;
        }
    });
    response
}

/// Completes a polling→websocket upgrade, then serves the session over the websocket.
async fn upgrade(shared: Arc<Shared>, session: Arc<Session>, mut ws: Socket) {
    session.state.lock().carrier = Carrier::Upgrading;
    let probe = tokio::time::timeout(shared.config.upgrade_timeout, async {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "2probe" => {}
            _ => return false,
        }
        if ws
            .send(Message::Text(Utf8Bytes::from_static("3probe")))
            .await
            .is_err()
        {
            return false;
        }
        // Releases a pending poll (with a noop) so the client can finish the switch.
        session.notify.notify_one();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "5" => return true,
                Some(Ok(Message::Text(text))) => {
                    if let Ok(packet) = engineio::decode_packet(text.as_str())
                        && !on_packet(&shared, &session, packet)
                    {
                        return false;
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    if !on_binary(&shared, &session, data) {
                        return false;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return false,
            }
        }
    })
    .await;
    if probe != Ok(true) {
        session.state.lock().carrier = Carrier::Polling;
        let _ = ws.close(None).await;
        return;
    }
    session.state.lock().carrier = Carrier::WebSocket;
    // Wake a poll that may still be waiting so it returns and the session moves over.
    session.notify.notify_one();
    run_websocket(shared, session, ws, None).await;
}

/// Serves a session over a websocket until either side closes it.
///
/// One task per session, with the websocket whole (not split): reading and writing
/// never contend for a lock, and the frames buffer is kept across wake-ups. The reader
/// is polled only when its socket woke it ([`super::super::readiness`]), and the
/// shutdown signal is one future armed once, so a wake-up to write a frame polls
/// nothing else. (A separate reader task would also spare the reader's poll, but put a
/// lock between the two halves on every write.)
async fn run_websocket(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mut ws: Socket,
    open: Option<String>,
) {
    if let Some(open) = open
        && ws.send(Message::Text(open.into())).await.is_err()
    {
        release(&shared, &session);
        return;
    }
    let mut shutdown = shared.shutdown.clone();
    let shutdown_changed = shutdown.changed();
    tokio::pin!(shutdown_changed);
    let mut shut_down = false;
    let (readiness, read_waker) = ReadReadiness::new();
    let mut coalescer = Coalescer::new(shared.config.write_coalesce);
    let mut frames: Vec<Frame> = Vec::new();
    let mut stalled = false;
    let progress = ws.get_ref().progress();
    let close: Option<CloseFrame> = loop {
        tokio::select! {
            () = session.notify.notified() => {
                let pending = gather(&session, &mut frames, &mut coalescer).await;
                let queue = || session.attachment().map(|a| Arc::clone(a.connection.queue()));
                let write = write_pending(&shared, &session, &mut ws, &mut frames, &pending);
                match stall::bounded(&shared, &progress, queue, write).await {
                    Some(ControlFlow::Continue(())) => {}
                    Some(ControlFlow::Break(close)) => break close,
                    None => {
                        stalled = true;
                        session.end(Ending::Closed);
                        break None;
                    }
                }
            }
            message = std::future::poll_fn(|cx| readiness.poll_next(&mut ws, &read_waker, cx)) => {
                if let ControlFlow::Break(close) = on_message(&shared, &session, message) {
                    break close;
                }
            }
            _ = &mut shutdown_changed, if !shut_down => {
                shut_down = true;
                session.shut_down();
            }
        }
    };
    // Released (and parked, for a lost transport) before the close handshake ends, so a
    // client that saw its websocket close reconnects to a server that knows.
    release(&shared, &session);
    if stalled {
        // Its send buffer is full: a close handshake would wait on the stalled client.
        return;
    }
    if let Some(frame) = close {
        let _ = ws.send(Message::Close(Some(frame))).await;
    }
    let _ = SinkExt::close(&mut ws).await;
}

/// Takes what is queued for the session into `frames`; under a sustained backlog
/// ([`Coalescer`]) waits for the window and takes what came meanwhile too. A session
/// that is closing is not held.
async fn gather(session: &Session, frames: &mut Vec<Frame>, coalescer: &mut Coalescer) -> Pending {
    let pending = session.take_pending(frames);
    let hold = coalescer.hold(pending.events);
    if hold.is_none() || pending.hub_closed.is_some() || pending.ending.is_some() {
        return pending;
    }
    coalesce::wait(hold).await;
    session.take_pending(frames)
}

/// Writes `frames` (taken with `pending`), then the closing packets if the session is
/// ending. Breaks with the close frame to send (`None`: the socket failed) once the
/// loop ends.
async fn write_pending(
    shared: &Shared,
    session: &Session,
    ws: &mut Socket,
    frames: &mut Vec<Frame>,
    // By reference: the write future is moved into `stall::bounded`, and a smaller one
    // costs less to move on every wake-up.
    pending: &Pending,
) -> ControlFlow<Option<CloseFrame>> {
    let closing = closing_packets(session, pending);
    let wrote = !frames.is_empty() || closing.is_some();
    let mut failed = false;
    for frame in frames.drain(..) {
        let message = match frame {
            Frame::Text(text) => Message::Text(text),
            Frame::Binary(data) => Message::Binary(data),
        };
        if ws.feed(message).await.is_err() {
            failed = true;
            break;
        }
    }
    if let Some(tail) = &closing {
        for packet in tail.iter().filter(|p| !matches!(**p, "1" | "6")) {
            if ws
                .feed(Message::Text(Utf8Bytes::from_static(packet)))
                .await
                .is_err()
            {
                failed = true;
            }
        }
    }
    if failed || ws.flush().await.is_err() {
        return ControlFlow::Break(None);
    }
    if wrote {
        shared.hub.count_socket_write();
    }
    if closing.is_some() {
        return ControlFlow::Break(Some(CloseFrame {
            code: close_code(pending),
            reason: "".into(),
        }));
    }
    ControlFlow::Continue(())
}

/// The websocket close code for why the session ends.
fn close_code(pending: &Pending) -> CloseCode {
    match (&pending.hub_closed, pending.ending) {
        (Some(CloseReason::Shutdown), _) => CloseCode::Away,
        (_, Some(Ending::TooLarge)) => CloseCode::Size,
        (_, Some(Ending::ProtocolError)) => CloseCode::Protocol,
        (_, Some(Ending::AuthTimeout | Ending::RateLimited | Ending::ConnectTimeout)) => {
            CloseCode::Policy
        }
        _ => CloseCode::Normal,
    }
}

/// Handles one websocket message from the client. Breaks with the close frame to send
/// when the socket closed or failed.
fn on_message(
    shared: &Shared,
    session: &Session,
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> ControlFlow<Option<CloseFrame>> {
    match message {
        Some(Ok(Message::Text(text))) => match engineio::decode_packet(text.as_str()) {
            Ok(packet) => {
                on_packet(shared, session, packet);
            }
            Err(error) => {
                tracing::debug!(sid = %session.sid, %error, "bad Engine.IO packet");
                shared.hub.count_bad_input(BadInputKind::Protocol);
                session.end(Ending::ProtocolError);
            }
        },
        Some(Ok(Message::Binary(data))) => {
            on_binary(shared, session, data);
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        Some(Ok(Message::Close(_))) | None => return ControlFlow::Break(None),
        Some(Err(error)) => {
            if matches!(error, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                shared.hub.count_bad_input(BadInputKind::TooLarge);
                return ControlFlow::Break(Some(CloseFrame {
                    code: CloseCode::Size,
                    reason: "message too big".into(),
                }));
            }
            return ControlFlow::Break(None);
        }
    }
    ControlFlow::Continue(())
}
