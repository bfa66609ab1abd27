//! Engine.IO over HTTP long-polling: the handshake, the long poll (`GET`) and the
//! client's payloads (`POST`).
//!
//! Owns how queued frames and a session's end are packed into one poll's payload (see
//! [`polling_packets`] for why a `41` ends a payload and a bare `1` goes alone). It must
//! not wait on anything but the session's wake-up and the shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::metrics::BadInputKind;
use crate::outbound::CloseReason;
use crate::protocol::engineio;

use super::super::Shared;
use super::super::http::{self, Body};
use super::super::session::{Carrier, Ending, Frame, Pending, Service, Session};
use super::{on_packet, open_packet, open_session, release, release_if_polling};

/// A polling handshake: opens a session and answers its `0` open packet.
pub(super) fn handshake(
    shared: &Arc<Shared>,
    request: &Request<Incoming>,
    remote: SocketAddr,
    query: Vec<(String, String)>,
    service: Service,
) -> Response<Body> {
    if request.method() != Method::GET {
        return http::json_error(StatusCode::BAD_REQUEST, 2, "Bad handshake method");
    }
    let session = match open_session(shared, request, remote, query, Carrier::Polling, service) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    http::respond(
        StatusCode::OK,
        "text/plain; charset=UTF-8",
        open_packet(shared, &session),
    )
}

/// A long poll: answers as soon as anything is queued.
pub(super) async fn poll(shared: &Arc<Shared>, session: &Arc<Session>) -> Response<Body> {
    {
        let mut state = session.state.lock();
        if state.carrier == Carrier::WebSocket {
            return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
        if state.polling_get {
            drop(state);
            // The protocol allows one long poll in flight per session.
            shared.hub.count_bad_input(BadInputKind::Protocol);
            session.end(Ending::ProtocolError);
            release(shared, session);
            return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
        state.polling_get = true;
    }
    let mut shutdown = shared.shutdown.clone();
    let mut frames = Vec::new();
    let body = loop {
        if session.state.lock().carrier != Carrier::Polling {
            // An upgrade is under way (or done): the poll ends with a noop and leaves
            // every queued frame to the websocket.
            break String::from("6");
        }
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
    frames: &[Frame],
    pending: Pending,
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
        match frame {
            Frame::Text(text) => body.push_str(text.as_str()),
            Frame::Binary(data) => body.push_str(&engineio::encode_binary_for_polling(data)),
        }
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
        } else if tail == ["6"] {
            // The client closed: the poll it left pending ends with a noop.
            if body.is_empty() {
                body.push('6');
            }
            release(shared, session);
        } else if body.is_empty() {
            body.push('1');
            release(shared, session);
        }
    }
    Some(body)
}

/// The answer to a poll that arrives just after its client closed the session (see
/// `Tombstones`): the noop a pending poll gets.
pub(super) fn closed_poll() -> Response<Body> {
    http::respond(StatusCode::OK, "text/plain; charset=UTF-8", "6")
}

/// Packets that end a session: `41` (Socket.IO disconnect, so the client does not
/// reconnect) for a logout or repeated auth failures, then `1` (Engine.IO close).
pub(super) fn closing_packets(session: &Session, pending: &Pending) -> Option<Vec<&'static str>> {
    if let Some(reason) = &pending.hub_closed {
        let namespace = session.state.lock().namespace_connected;
        return Some(match reason {
            CloseReason::LoggedOut
            | CloseReason::TooManyAuthFailures
            | CloseReason::TooManyConnections
                if namespace =>
            {
                vec!["41", "1"]
            }
            _ => vec!["1"],
        });
    }
    pending.ending.map(|ending| match ending {
        Ending::ClientClosed => vec!["6"],
        _ => vec!["1"],
    })
}

/// A client's payload of packets: handles each until the session ends.
pub(super) async fn post(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    request: Request<Incoming>,
) -> Response<Body> {
    let bytes = match super::super::read_body(request, shared.config.max_payload).await {
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
        release_if_polling(shared, session);
        return http::json_error(StatusCode::BAD_REQUEST, 3, "Bad request");
    };
    let packets = match engineio::decode_payload(text) {
        Ok(packets) => packets,
        Err(error) => {
            tracing::debug!(sid = %session.sid, %error, "bad polling payload");
            shared.hub.count_bad_input(BadInputKind::Protocol);
            session.end(Ending::ProtocolError);
            // Closed at once (as the protocol says): a later request finds it unknown.
            release_if_polling(shared, session);
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
        let poll_pending = session.state.lock().polling_get;
        if session.ending() == Some(Ending::ClientClosed) && !poll_pending {
            shared.client_closed.insert(&session.sid);
        }
        release_if_polling(shared, session);
    }
    http::respond(StatusCode::OK, "text/html", "ok")
}
