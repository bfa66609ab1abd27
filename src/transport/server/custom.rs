//! Socket.IO packets for the namespaces served by registered
//! [`Namespace`](super::Namespace) handlers: joining (CONNECT, refused or answered with
//! the socket id), events (with their acks and attachments), leaving (DISCONNECT from
//! either side, or the session's end).
//!
//! Packets reach here complete (binary attachments already reassembled by
//! `namespace.rs`). This module must not touch the hub nor a socket: replies go through
//! the session's control queue. Guarded by `tests/server/namespaces.rs` and the official
//! Socket.IO suite (`scripts/conformance`).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::protocol::socketio::{self, Kind, Packet};

use super::Shared;
use super::service::{Ack, ConnectRefusal, Namespace, NamespaceSocket, Payload};
use super::session::Session;

/// One complete packet for the registered namespace `handler` serves.
pub(super) fn on_packet(
    shared: &Shared,
    session: &Session,
    handler: &Arc<dyn Namespace>,
    packet: Packet,
    attachments: Vec<Bytes>,
) {
    let joined = session.state.lock().joined.get(&packet.namespace).cloned();
    let Some(socket) = joined else {
        if packet.kind == Kind::Connect {
            connect(session, handler, &packet);
        }
        // Anything else for a namespace the client has not joined is ignored, as the
        // reference server does.
        return;
    };
    match packet.kind {
        Kind::Event | Kind::BinaryEvent => {
            if !session.admit(shared) {
                return;
            }
            let Some((name, _)) = packet.event() else {
                return;
            };
            let payload = Payload {
                args: packet.args().to_vec(),
                attachments,
            };
            let ack = packet.ack_id.map(|id| Ack::new(socket.clone(), id));
            socket.handler().on_event(&socket, name, payload, ack);
        }
        Kind::Disconnect => leave(session, &packet.namespace, false),
        // The server never asks for acks; a second CONNECT changes nothing.
        Kind::Ack | Kind::BinaryAck | Kind::Connect | Kind::ConnectError => {}
    }
}

/// CONNECT to a registered namespace: the handler accepts or refuses, then the reply
/// is queued before `on_connect` runs, so what it emits follows the reply.
fn connect(session: &Session, handler: &Arc<dyn Namespace>, packet: &Packet) {
    let empty = Value::Object(serde_json::Map::new());
    let auth = packet.data.as_ref().unwrap_or(&empty);
    if let Err(ConnectRefusal(message)) = handler.accept(auth) {
        session.send_control(socketio::encode_connect_error(
            &packet.namespace,
            &message,
            None,
        ));
        return;
    }
    let socket = NamespaceSocket::new(&packet.namespace, session, handler);
    session
        .state
        .lock()
        .joined
        .insert(packet.namespace.clone(), socket.clone());
    session.send_control(socketio::encode_connect(&packet.namespace, socket.id()));
    handler.on_connect(&socket, auth);
}

/// The client leaves `namespace` (`from_server`: the server disconnects it, so it is
/// told with `41`); its handler's `on_disconnect` runs once.
pub(super) fn leave(session: &Session, namespace: &str, from_server: bool) {
    let Some(socket) = session.state.lock().joined.remove(namespace) else {
        return;
    };
    if from_server {
        session.send_control(socketio::encode_disconnect(namespace));
    }
    socket.handler().on_disconnect(&socket);
}

/// The session ended: every namespace it joined sees the client leave.
pub(super) fn leave_all(session: &Session) {
    let joined: Vec<_> = session.state.lock().joined.drain().collect();
    for (_, socket) in joined {
        socket.handler().on_disconnect(&socket);
    }
}
