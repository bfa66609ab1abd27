//! Engine.IO v4 over HTTP long-polling and websocket, with the polling→websocket
//! upgrade, heartbeats and the Socket.IO v5 default namespace on top.
//!
//! Requests to the Socket.IO path:
//! - `GET ?EIO=4&transport=polling` (no sid): handshake, answers the `0` open packet.
//! - `GET ?EIO=4&transport=polling&sid=…`: a long poll; answers queued packets joined by
//!   `\x1e` as soon as there are any (at the latest the next ping).
//! - `POST ?EIO=4&transport=polling&sid=…`: a payload of client packets; answers `ok`.
//! - `GET ?EIO=4&transport=websocket` (no sid): a websocket-only session.
//! - `GET ?EIO=4&transport=websocket&sid=…`: upgrade of a polling session
//!   (`2probe`/`3probe`, a `6` noop to the pending poll, then `5`).
//!
//! Errors follow the protocol: HTTP 400 with `{"code","message"}` (0 unknown transport,
//! 1 unknown session id, 2 bad handshake method, 3 bad request, 5 unsupported protocol
//! version), 503 when `max_connections` is reached, 413 for a body over `maxPayload`.
//! The Socket.IO layer on top is `namespace.rs`. This module must not decide who
//! receives what: the hub does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::metrics::BadInputKind;
use crate::outbound::CloseReason;
use crate::protocol::engineio::{self, Handshake, Packet};

use super::Shared;
use super::http::{self, Body};
use super::namespace;
use super::session::{Carrier, Ending, Session};

/// Transports offered for upgrade in the handshake.
const UPGRADES: &[&str] = &["websocket"];

pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if request.method() == Method::OPTIONS {
        let mut response = http::respond(StatusCode::NO_CONTENT, "text/plain", "");
        shared.config.cors.apply(origin.as_ref(), &mut response);
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        return response;
    }
    let query = http::query_pairs(&request);
    let mut response = route(&shared, request, remote, query).await;
    shared.config.cors.apply(origin.as_ref(), &mut response);
    response
}

async fn route(
    shared: &Arc<Shared>,
    mut request: Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
) -> Response<Body> {
    if http::query_param(&query, "EIO") != Some("4") {
        return http::json_error(StatusCode::BAD_REQUEST, 5, "Unsupported protocol version");
    }
    let transport = http::query_param(&query, "transport")
        .unwrap_or_default()
        .to_owned();
    let sid = http::query_param(&query, "sid").map(str::to_owned);
    // While the server drains for a shutdown, only polling requests of live sessions
    // are served (so they collect their last frames); no session opens or upgrades.
    if *shared.shutdown.borrow() && !(transport == "polling" && sid.is_some()) {
        return http::json_error(StatusCode::SERVICE_UNAVAILABLE, 3, "Server shutting down");
    }
    match (transport.as_str(), sid) {
        ("polling", None) => {
            if request.method() != Method::GET {
                return http::json_error(StatusCode::BAD_REQUEST, 2, "Bad handshake method");
            }
            let Some(session) = open_session(shared, &request, remote, query, Carrier::Polling)
            else {
                return http::json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    3,
                    "Too many connections",
                );
            };
            http::respond(
                StatusCode::OK,
                "text/plain; charset=UTF-8",
                open_packet(shared, &session),
            )
        }
        ("polling", Some(sid)) => {
            let Some(session) = shared.sessions.get(&sid) else {
                return http::json_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
            };
            match *request.method() {
                Method::GET => poll(shared, &session).await,
                Method::POST => post(shared, &session, request).await,
                _ => http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request"),
            }
        }
        ("websocket", sid) => {
            if !http::is_websocket_upgrade(&request) {
                return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
            }
            let existing = match &sid {
                Some(sid) => match shared.sessions.get(sid) {
                    Some(session) if session.state.lock().carrier == Carrier::Polling => {
                        Some(session)
                    }
                    _ => return http::json_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown"),
                },
                None => None,
            };
            let new_session = match existing {
                Some(_) => None,
                None => match open_session(shared, &request, remote, query, Carrier::WebSocket) {
                    Some(session) => Some(session),
                    None => {
                        return http::json_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            3,
                            "Too many connections",
                        );
                    }
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
            tokio::spawn(async move {
                let Some(ws) = socket.await else {
                    if let Some(session) = &new_session {
                        release(&shared, session);
                    }
                    return;
                };
                match (existing, new_session) {
                    (Some(session), _) => upgrade(shared, session, ws).await,
                    (None, Some(session)) => {
                        let open = open_packet(&shared, &session);
                        run_websocket(shared, session, ws, Some(open)).await;
                    }
                    (None, None) => {}
                }
            });
            response
        }
        _ => http::json_error(StatusCode::BAD_REQUEST, 0, "Transport unknown"),
    }
}

fn open_packet(shared: &Shared, session: &Session) -> String {
    engineio::encode_open(&Handshake {
        sid: &session.sid,
        upgrades: if session.state.lock().carrier == Carrier::Polling {
            UPGRADES
        } else {
            &[]
        },
        ping_interval: shared.config.ping_interval.as_millis() as u64,
        ping_timeout: shared.config.ping_timeout.as_millis() as u64,
        max_payload: shared.config.max_payload as u64,
    })
}

/// Creates a session (or refuses past `max_connections`) and starts its timers.
fn open_session(
    shared: &Arc<Shared>,
    request: &Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
    carrier: Carrier,
) -> Option<Arc<Session>> {
    let previous = shared.active.fetch_add(1, Ordering::SeqCst);
    if previous >= shared.config.max_connections {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        shared.hub.count_refused_connection();
        return None;
    }
    let context = http::handshake_context(request, remote, query);
    let session = Session::new(shared, context, carrier);
    shared.sessions.insert(&session);
    tokio::spawn(heartbeat(Arc::clone(shared), Arc::downgrade(&session)));
    tokio::spawn(auth_deadline(Arc::clone(shared), Arc::downgrade(&session)));
    Some(session)
}

/// Frees a closing session now unless a websocket task owns its end.
fn release_if_polling(shared: &Shared, session: &Session) {
    if session.state.lock().carrier != Carrier::WebSocket {
        release(shared, session);
    }
}

/// Forgets a session and frees its connection slot (once). A session whose transport
/// was lost (not ended on purpose) parks its connection for recovery, when it is on.
pub(super) fn release(shared: &Shared, session: &Session) {
    if shared.sessions.remove(&session.sid) {
        if let Some(attachment) = session.attachment() {
            let mut live = shared.live_pids.lock();
            if live.get(&attachment.pid) == Some(&session.sid) {
                live.remove(&attachment.pid);
            }
        }
        let lost = shared.config.recovery.is_some() && {
            let state = session.state.lock();
            state.namespace_connected
                && matches!(
                    state.ending,
                    None | Some(Ending::ClientGone | Ending::PingTimeout)
                )
        };
        if lost && let Some(attachment) = session.take_attachment() {
            shared.parked.park(shared, attachment);
        }
        // Last, so a connection count of zero means every decision to park was made.
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn heartbeat(shared: Arc<Shared>, session: std::sync::Weak<Session>) {
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

async fn auth_deadline(shared: Arc<Shared>, session: std::sync::Weak<Session>) {
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

/// A long poll: answers as soon as anything is queued.
async fn poll(shared: &Arc<Shared>, session: &Arc<Session>) -> Response<Body> {
    {
        let mut state = session.state.lock();
        if state.carrier == Carrier::WebSocket {
            return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
        if state.polling_get {
            drop(state);
            session.end(Ending::ProtocolError);
            release(shared, session);
            return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
        state.polling_get = true;
    }
    let mut shutdown = shared.shutdown.clone();
    let mut frames = Vec::new();
    let body = loop {
        let pending = session.take_pending(&mut frames);
        if let Some(packets) = polling_packets(shared, session, &frames, pending) {
            break packets;
        }
        tokio::select! {
            () = session.notify.notified() => {}
            _ = shutdown.changed() => {}
        }
    };
    session.state.lock().polling_get = false;
    http::respond(StatusCode::OK, "text/plain; charset=UTF-8", body)
}

/// The payload for a poll, or `None` when there is nothing to send yet.
fn polling_packets(
    shared: &Shared,
    session: &Session,
    frames: &[Utf8Bytes],
    pending: super::session::Pending,
) -> Option<String> {
    let closing = closing_packets(session, &pending);
    if frames.is_empty() && closing.is_none() {
        return None;
    }
    let mut body = String::new();
    for frame in frames {
        if !body.is_empty() {
            body.push(engineio::SEPARATOR);
        }
        body.push_str(frame.as_str());
    }
    if let Some(tail) = closing {
        // The official client hands a payload's packets to its Socket.IO layer a tick
        // later but closes at once on an Engine.IO `1`: whatever shares a payload with
        // a `1` is lost (the last events, or the `41` that tells it not to reconnect).
        // So a `41` ends the payload and the session (the client closes by itself on
        // it; a later request finds the session unknown), and a bare `1` goes alone,
        // in the poll after the last frames.
        if tail.contains(&"41") {
            for packet in tail.iter().filter(|packet| **packet != "1") {
                if !body.is_empty() {
                    body.push(engineio::SEPARATOR);
                }
                body.push_str(packet);
            }
            release(shared, session);
        } else if body.is_empty() {
            body.push('1');
            release(shared, session);
        }
    }
    Some(body)
}

/// Packets that end a session: `41` (Socket.IO disconnect, so the client does not
/// reconnect) for a logout or repeated auth failures, then `1` (Engine.IO close).
fn closing_packets(
    session: &Session,
    pending: &super::session::Pending,
) -> Option<Vec<&'static str>> {
    if let Some(reason) = &pending.hub_closed {
        let namespace = session.state.lock().namespace_connected;
        return Some(match reason {
            CloseReason::LoggedOut | CloseReason::TooManyAuthFailures if namespace => {
                vec!["41", "1"]
            }
            _ => vec!["1"],
        });
    }
    pending.ending.map(|_| vec!["1"])
}

async fn post(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    request: Request<Incoming>,
) -> Response<Body> {
    let bytes = match super::read_body(request, shared.config.max_payload).await {
        Ok(bytes) => bytes,
        Err(response) => {
            shared.hub.count_bad_input(BadInputKind::TooLarge);
            session.end(Ending::TooLarge);
            return response;
        }
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        shared.hub.count_bad_input(BadInputKind::InvalidUtf8);
        session.end(Ending::ProtocolError);
        return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
    };
    let packets = match engineio::decode_payload(text) {
        Ok(packets) => packets,
        Err(error) => {
            tracing::debug!(sid = %session.sid, %error, "bad polling payload");
            shared.hub.count_bad_input(BadInputKind::Protocol);
            session.end(Ending::ProtocolError);
            return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
    };
    for packet in packets {
        if !on_packet(shared, session, packet) {
            break;
        }
    }
    if session.ending().is_some() {
        // A pending poll answers the close; without one nobody else would free the slot.
        release_if_polling(shared, session);
    }
    http::respond(StatusCode::OK, "text/html", "ok")
}

/// Handles one client packet; `false` once the session is ending.
fn on_packet(shared: &Shared, session: &Session, packet: Packet<'_>) -> bool {
    match packet {
        Packet::Pong(_) => {
            session.pong.store(true, Ordering::SeqCst);
            session.pong_notify.notify_one();
        }
        Packet::Ping(data) => session.send_control(format!("3{data}")),
        Packet::Message(text) => {
            if text.len() > shared.config.max_message_bytes {
                shared.hub.count_bad_input(BadInputKind::TooLarge);
                session.end(Ending::TooLarge);
                return false;
            }
            namespace::on_socketio(shared, session, text);
        }
        Packet::Close => session.end(Ending::ClientGone),
        Packet::Upgrade | Packet::Noop => {}
        Packet::Binary(_) => {
            shared.hub.count_bad_input(BadInputKind::Protocol);
            session.end(Ending::ProtocolError);
        }
    }
    session.ending().is_none()
}

/// Completes a polling→websocket upgrade, then serves the session over the websocket.
async fn upgrade(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mut ws: WebSocketStream<TokioIo<Upgraded>>,
) {
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
        // Releases the pending poll so the client can finish the switch.
        session.send_control("6");
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
/// is polled only when its socket woke it ([`super::readiness`]), and the shutdown
/// signal is one future armed once, so a wake-up to write a frame polls nothing else.
/// (A separate reader task would also spare the reader's poll, but put a lock between
/// the two halves on every write.)
async fn run_websocket(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mut ws: WebSocketStream<TokioIo<Upgraded>>,
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
    let (readiness, read_waker) = super::readiness::ReadReadiness::new();
    let window = shared.config.write_coalesce;
    let mut last_flush = std::time::Instant::now() - window;
    let mut frames: Vec<Utf8Bytes> = Vec::new();
    let close: Option<CloseFrame> = loop {
        tokio::select! {
            () = session.notify.notified() => {
                last_flush = super::coalesce(last_flush, window).await;
                let pending = session.take_pending(&mut frames);
                let closing = closing_packets(&session, &pending);
                let mut failed = false;
                for frame in frames.drain(..) {
                    if ws.feed(Message::Text(frame)).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if let Some(tail) = &closing {
                    for packet in tail.iter().filter(|p| **p != "1") {
                        if ws.feed(Message::Text(Utf8Bytes::from_static(packet))).await.is_err() {
                            failed = true;
                        }
                    }
                }
                if failed || ws.flush().await.is_err() {
                    break None;
                }
                if closing.is_some() {
                    let code = match (&pending.hub_closed, pending.ending) {
                        (Some(CloseReason::Shutdown), _) => CloseCode::Away,
                        (_, Some(Ending::TooLarge)) => CloseCode::Size,
                        (_, Some(Ending::ProtocolError)) => CloseCode::Protocol,
                        (_, Some(Ending::AuthTimeout | Ending::RateLimited)) => CloseCode::Policy,
                        _ => CloseCode::Normal,
                    };
                    break Some(CloseFrame { code, reason: "".into() });
                }
            }
            message = std::future::poll_fn(|cx| readiness.poll_next(&mut ws, &read_waker, cx)) => match message {
                Some(Ok(Message::Text(text))) => match engineio::decode_packet(text.as_str()) {
                    Ok(packet) => {
                        on_packet(&shared, &session, packet);
                    }
                    Err(error) => {
                        tracing::debug!(sid = %session.sid, %error, "bad Engine.IO packet");
                        shared.hub.count_bad_input(BadInputKind::Protocol);
                        session.end(Ending::ProtocolError);
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    shared.hub.count_bad_input(BadInputKind::Protocol);
                    session.end(Ending::ProtocolError);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(error)) => {
                    if matches!(error, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                        shared.hub.count_bad_input(BadInputKind::TooLarge);
                        break Some(CloseFrame { code: CloseCode::Size, reason: "message too big".into() });
                    }
                    break None;
                }
            },
            _ = &mut shutdown_changed, if !shut_down => {
                shut_down = true;
                if let Some(attachment) = session.attachment() {
                    attachment.connection.queue().close(CloseReason::Shutdown);
                }
            }
        }
    };
    // Released (and parked, for a lost transport) before the close handshake ends, so a
    // client that saw its websocket close reconnects to a server that knows.
    release(&shared, &session);
    if let Some(frame) = close {
        let _ = ws.send(Message::Close(Some(frame))).await;
    }
    let _ = SinkExt::close(&mut ws).await;
}
