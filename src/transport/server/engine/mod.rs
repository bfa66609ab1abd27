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
//! The same code serves the Socket.IO path (the Socket.IO layer on top is
//! `namespace.rs`) and a raw Engine.IO endpoint ([`super::EngineEndpoint`], whose text
//! and binary messages go to its handler); a session is only found at the endpoint
//! that opened it. This module must not decide who receives what: the hub does.
//!
//! This file routes a request and owns a session's slot (open, release, park);
//! `polling.rs` serves long polls and posts, `websocket.rs` the websocket carrier and
//! the upgrade, `timers.rs` the heartbeat and the authentication deadline.

mod polling;
mod timers;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::metrics::BadInputKind;
use crate::protocol::engineio::{self, Handshake, Packet};

use super::Shared;
use super::custom;
use super::http::{self, Body};
use super::limits;
use super::namespace;
use super::service::{EngineMessage, EngineSocket};
use super::session::{Carrier, Ending, Service, Session};

/// Transports offered for upgrade in the handshake.
const UPGRADES: &[&str] = &["websocket"];

pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    remote: SocketAddr,
    service: Service,
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
    let mut response = route(&shared, request, remote, query, service).await;
    shared.config.cors.apply(origin.as_ref(), &mut response);
    response
}

async fn route(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
    service: Service,
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
        ("polling", None) => polling::handshake(shared, &request, remote, query, service),
        ("polling", Some(sid)) => {
            let Some(session) = find(shared, &sid, &service) else {
                if request.method() == Method::GET && shared.client_closed.take(&sid) {
                    return polling::closed_poll();
                }
                return http::json_error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
            };
            match *request.method() {
                Method::GET => polling::poll(shared, &session).await,
                Method::POST => polling::post(shared, &session, request).await,
                _ => http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request"),
            }
        }
        ("websocket", sid) => websocket::accept(shared, request, remote, query, sid, service),
        _ => http::json_error(StatusCode::BAD_REQUEST, 0, "Transport unknown"),
    }
}

/// The live session `sid`, if it was opened at this endpoint. A session whose pong is
/// overdue is ended here (its timer may not have run yet): it is as dead as the
/// protocol says, whatever the timer's scheduling.
fn find(shared: &Shared, sid: &str, service: &Service) -> Option<Arc<Session>> {
    let session = shared
        .sessions
        .get(sid)
        .filter(|session| session.service.same(service))?;
    if session.pong_overdue(Instant::now()) {
        shared.hub.count_ping_timeout();
        session.end(Ending::PingTimeout);
        release_if_polling(shared, &session);
        return None;
    }
    Some(session)
}

/// The answer when `max_connections` is reached.
fn too_many_connections() -> Response<Body> {
    http::json_error(StatusCode::SERVICE_UNAVAILABLE, 3, "Too many connections")
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

/// Creates a session and starts its timers, or refuses it (503 past `max_connections`,
/// 429 past `max_connections_per_ip`, both counted).
fn open_session(
    shared: &Arc<Shared>,
    request: &Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
    carrier: Carrier,
    service: Service,
) -> Result<Arc<Session>, Box<Response<Body>>> {
    let previous = shared.active.fetch_add(1, Ordering::SeqCst);
    if previous >= shared.config.max_connections {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        shared.hub.count_refused_connection();
        return Err(Box::new(too_many_connections()));
    }
    if let Some(refused) = limits::open_refusal(shared, remote.ip()) {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        return Err(Box::new(refused));
    }
    let context = http::handshake_context(request, remote, query);
    let session = Session::new(shared, context, carrier, service, remote.ip());
    shared.sessions.insert(&session);
    let opened = Instant::now();
    let socket_io = matches!(session.service, Service::SocketIo);
    let deadlines = timers::Deadlines {
        connect: socket_io.then(|| opened + shared.config.connect_timeout),
        auth: (socket_io && session.carries_hub).then(|| opened + shared.config.auth_deadline),
    };
    tokio::spawn(timers::run(
        Arc::clone(shared),
        Arc::downgrade(&session),
        deadlines,
    ));
    if let Service::Engine(handler) = &session.service {
        handler.on_open(&EngineSocket::new(&session));
    }
    Ok(session)
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
                    None | Some(Ending::ClientGone | Ending::ClientClosed | Ending::PingTimeout)
                )
        };
        if lost && let Some(attachment) = session.take_attachment() {
            shared.parked.park(shared, attachment);
        }
        session.state.lock().partial = None;
        match &session.service {
            Service::SocketIo => custom::leave_all(session),
            Service::Engine(handler) => handler.on_close(&EngineSocket::new(session)),
        }
        shared.open_per_ip.release(session.remote_ip);
        // Last, so a connection count of zero means every decision to park was made.
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Handles one client packet; `false` once the session is ending.
fn on_packet(shared: &Shared, session: &Session, packet: Packet<'_>) -> bool {
    match packet {
        Packet::Pong(_) => {
            session.state.lock().pong_due = None;
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
            match &session.service {
                Service::SocketIo => namespace::on_socketio(shared, session, text),
                Service::Engine(handler) => {
                    if session.admit(shared) {
                        let message = EngineMessage::Text(text.to_owned());
                        handler.on_message(&EngineSocket::new(session), message);
                    }
                }
            }
        }
        Packet::Close => session.end(Ending::ClientClosed),
        Packet::Upgrade | Packet::Noop => {}
        Packet::Binary(data) => return on_binary(shared, session, Bytes::from(data)),
    }
    session.ending().is_none()
}

/// Handles one binary message (a websocket binary frame or a polling `b` packet);
/// `false` once the session is ending.
fn on_binary(shared: &Shared, session: &Session, data: Bytes) -> bool {
    if data.len() > shared.config.max_message_bytes {
        shared.hub.count_bad_input(BadInputKind::TooLarge);
        session.end(Ending::TooLarge);
        return false;
    }
    match &session.service {
        // Attachments are not rate-limited on their own: their packet was.
        Service::SocketIo => namespace::on_binary(shared, session, data),
        Service::Engine(handler) => {
            if session.admit(shared) {
                handler.on_message(&EngineSocket::new(session), EngineMessage::Binary(data));
            }
        }
    }
    session.ending().is_none()
}
