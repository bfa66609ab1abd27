//! The Socket.IO v5 layer of an Engine.IO session: binary packets reassembled with
//! their attachments (bounded, see [`crate::protocol::binary`]), each complete packet
//! dispatched to its namespace, and the hub's namespace `/` (CONNECT with its `auth`,
//! connection-state recovery's `{pid, offset}`, events and acks). Registered
//! namespaces are `custom.rs`'s; others are refused with CONNECT_ERROR. This module
//! must not touch the Engine.IO transport (`engine/`) nor decide who receives what
//! (the hub does).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::hub::Reply;
use crate::ids::ConnectionId;
use crate::metrics::BadInputKind;
use crate::outbound::OutboundEvent;
use crate::protocol::WireFormat;
use crate::protocol::binary::{BinaryError, Reassembly};
use crate::protocol::socketio::{self, Kind, Packet};

use super::Shared;
use super::custom;
use super::engine;
use super::recovery::{Attachment, Refusal};
use super::session::{Ending, Session};

/// The Socket.IO layer: decodes a packet; a binary one waits for its attachments
/// (see [`on_binary`]), any other is dispatched now.
pub(crate) fn on_socketio(shared: &Shared, session: &Session, text: &str) {
    if session.state.lock().partial.is_some() {
        refuse_binary(shared, session, &BinaryError::OutOfSequence);
        return;
    }
    let packet = match socketio::decode(text) {
        Ok(packet) => packet,
        Err(error) => {
            tracing::debug!(sid = %session.sid, %error, "bad Socket.IO packet");
            shared.hub.count_bad_input(BadInputKind::Protocol);
            session.end(Ending::ProtocolError);
            return;
        }
    };
    if packet.attachments > 0 {
        match Reassembly::start(packet, shared.config.binary_limits()) {
            Ok(partial) => session.state.lock().partial = Some(partial),
            Err(error) => refuse_binary(shared, session, &error),
        }
        return;
    }
    dispatch(shared, session, packet, Vec::new());
}

/// A binary message: the next attachment of the packet waiting for it, which is
/// dispatched once complete. One that nothing waits for closes the session.
pub(crate) fn on_binary(shared: &Shared, session: &Session, data: Bytes) {
    let mut state = session.state.lock();
    let Some(partial) = state.partial.as_mut() else {
        drop(state);
        refuse_binary(shared, session, &BinaryError::OutOfSequence);
        return;
    };
    match partial.push(data) {
        Ok(false) => {}
        Ok(true) => {
            let complete = state.partial.take();
            drop(state);
            if let Some(complete) = complete {
                let (packet, attachments) = complete.finish();
                dispatch(shared, session, packet, attachments);
            }
        }
        Err(error) => {
            state.partial = None;
            drop(state);
            refuse_binary(shared, session, &error);
        }
    }
}

/// Counts a refused binary packet and closes the session.
fn refuse_binary(shared: &Shared, session: &Session, error: &BinaryError) {
    tracing::debug!(sid = %session.sid, %error, "bad Socket.IO binary packet");
    shared.hub.count_bad_input(BadInputKind::Binary);
    session.end(match error {
        BinaryError::TooLarge { .. } | BinaryError::TooManyAttachments { .. } => Ending::TooLarge,
        _ => Ending::ProtocolError,
    });
}

/// A complete packet to its namespace: a registered handler's, the hub's `/`, or a
/// CONNECT_ERROR for an unknown one.
fn dispatch(shared: &Shared, session: &Session, packet: Packet, attachments: Vec<Bytes>) {
    if let Some(handler) = shared.config.namespaces.get(&packet.namespace) {
        custom::on_packet(shared, session, handler, packet, attachments);
        return;
    }
    if packet.namespace != "/" || !session.carries_hub {
        if packet.kind == Kind::Connect {
            session.send_control(socketio::encode_connect_error(
                &packet.namespace,
                "Invalid namespace",
                None,
            ));
        }
        return;
    }
    on_hub_packet(shared, session, &packet, attachments);
}

/// A packet for the hub's namespace `/`: CONNECT, the seed's events with their acks
/// (a binary event's attachments go with it to the client-event hook), DISCONNECT.
fn on_hub_packet(shared: &Shared, session: &Session, packet: &Packet, attachments: Vec<Bytes>) {
    let connected = session.state.lock().namespace_connected;
    match packet.kind {
        Kind::Connect if !connected => connect(shared, session, packet.data.as_ref()),
        Kind::Connect => {}
        Kind::Event | Kind::BinaryEvent if connected => {
            if !session.admit(shared) {
                return;
            }
            let (Some((name, data)), Some(attachment)) = (packet.event(), session.attachment())
            else {
                return;
            };
            let reply = match attachment
                .connection
                .on_message_with(name, data, attachments)
            {
                Ok(reply) => reply,
                Err(error) => Reply {
                    ack: Some(error.ack_body()),
                    ..Reply::default()
                },
            };
            if let Some(id) = packet.ack_id {
                let answer = [reply.ack.unwrap_or(Value::Null)];
                let count = reply.attachments.len();
                let text = socketio::encode_ack_args("/", id, &answer, count);
                session.send_packet(text, &reply.attachments);
            }
        }
        Kind::Disconnect if connected => {
            session.state.lock().namespace_connected = false;
            session.end(Ending::ClientGone);
        }
        Kind::Ack | Kind::Disconnect => {}
        Kind::Event | Kind::BinaryEvent | Kind::BinaryAck | Kind::ConnectError => {
            shared.hub.count_bad_input(BadInputKind::Protocol);
            session.end(Ending::ProtocolError);
        }
    }
}

/// CONNECT to `/`: with a `pid` (and `offset`) in `auth` and recovery on, the client
/// takes its parked connection over (see [`resume`]); else, with credentials in `auth`
/// (a token, or the seed's session payload) the connection authenticates now and a
/// refusal is a CONNECT_ERROR; without, it joins unauthenticated and must send
/// `client:authenticate` before the deadline.
fn connect(shared: &Shared, session: &Session, auth: Option<&Value>) {
    if let Some(pid) = auth
        .and_then(|auth| auth.get("pid"))
        .and_then(Value::as_str)
        && shared.config.recovery.is_some()
        && resume(
            shared,
            session,
            pid,
            auth.and_then(|auth| auth.get("offset")),
        )
    {
        return;
    }
    let Some(attachment) = session.attachment() else {
        return;
    };
    let has_credentials = auth
        .and_then(Value::as_object)
        .is_some_and(|auth| auth.contains_key("token") || auth.contains_key("sessionId"));
    if has_credentials
        && let Err(error) = attachment
            .connection
            .authenticate_at_connect(auth.unwrap_or(&Value::Null))
    {
        let body = error.ack_body();
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("refused")
            .to_owned();
        session.send_control(socketio::encode_connect_error("/", &message, Some(&body)));
        return;
    }
    // The reply is queued before the namespace counts as joined, so no writer can send a
    // hub frame ahead of it (see `Session::take_pending`); then wake the writer for them.
    let pid = shared.config.recovery.map(|_| attachment.pid.as_str());
    if let Some(pid) = pid {
        shared
            .live_pids
            .lock()
            .insert(pid.to_owned(), session.sid.clone());
    }
    session.send_control(socketio::encode_connect_with_pid(
        "/",
        &session.socket_sid,
        pid,
    ));
    session.state.lock().namespace_connected = true;
    session.notify.notify_one();
}

/// Connection-state recovery: takes the parked connection `pid` over, answers CONNECT
/// with the same `pid` (the client sets `socket.recovered`), then replays what the
/// client missed after `offset` before the parked queue. Returns false (the caller
/// opens a fresh session) when it cannot be recovered.
fn resume(shared: &Shared, session: &Session, pid: &str, offset: Option<&Value>) -> bool {
    let offset = match offset {
        None | Some(Value::Null) => Some((0, None)),
        Some(Value::String(text)) => crate::hub::parse_marked_offset(text),
        Some(_) => None,
    };
    let Some((offset, mark)) = offset else {
        shared.hub.count_bad_input(BadInputKind::Protocol);
        return false;
    };
    let resume = || {
        shared.parked.resume(
            shared,
            pid,
            offset,
            WireFormat::SocketIo,
            session.serial,
            &session.notify,
        )
    };
    let mut resumed = resume();
    if resumed.as_ref().err() == Some(&Refusal::UnknownPid) && take_over(shared, session, pid) {
        resumed = resume();
    }
    if resumed.as_ref().err() == Some(&Refusal::UnknownPid)
        && let Some(answer) = resume_elsewhere(shared, session, pid, (offset, mark))
    {
        return answer;
    }
    let resumed = match resumed {
        Ok(resumed) => resumed,
        Err(refusal) => {
            tracing::debug!(sid = %session.sid, code = refusal.code(), "not recovered");
            return false;
        }
    };
    session.send_control(socketio::encode_connect_with_pid(
        "/",
        &session.socket_sid,
        Some(&resumed.attachment.pid),
    ));
    for frame in &resumed.replay {
        session.send_event(frame);
    }
    shared
        .live_pids
        .lock()
        .insert(resumed.attachment.pid.clone(), session.sid.clone());
    let fresh = session.replace_attachment(resumed.attachment);
    session.state.lock().namespace_connected = true;
    session.notify.notify_one();
    // The fresh connection was never authenticated: detaching it changes nothing.
    drop(fresh);
    true
}

/// How long a node waits for another node to surrender a parked connection.
const TAKEOVER_PATIENCE: Duration = Duration::from_millis(500);

/// Connection-state recovery across nodes: the cluster is asked for parked connection
/// `pid` (see `hub/handoff.rs`) on behalf of a new connection carrying the same pid (the
/// client counts itself recovered only when its pid comes back). On success that
/// connection carries the parked identity and page: answer CONNECT, replay the frames
/// the other node kept, then let its queue flow. `None` without a cluster, else whether
/// it was recovered.
fn resume_elsewhere(
    shared: &Shared,
    session: &Session,
    pid: &str,
    (offset, mark): (u64, Option<u64>),
) -> Option<bool> {
    if !shared.hub.has_cluster() {
        return None;
    }
    let context = session
        .attachment()
        .and_then(|fresh| shared.hub.context_of(fresh.connection.id()))
        .unwrap_or_default();
    let attachment = Attachment::with_pid(
        shared,
        context,
        WireFormat::SocketIo,
        session.serial,
        &session.notify,
        pid.to_owned(),
    );
    let answer = ask_cluster(shared, pid, (offset, mark), attachment.connection.id());
    let replay = match answer {
        Ok(replay) => replay,
        Err(code) => {
            tracing::debug!(sid = %session.sid, %code, "not recovered from another node");
            return Some(false);
        }
    };
    session.send_control(socketio::encode_connect_with_pid(
        "/",
        &session.socket_sid,
        Some(&attachment.pid),
    ));
    for frame in &replay {
        session.send_event(frame);
    }
    shared
        .live_pids
        .lock()
        .insert(attachment.pid.clone(), session.sid.clone());
    let fresh = session.replace_attachment(attachment);
    session.state.lock().namespace_connected = true;
    session.notify.notify_one();
    // The fresh connection was never authenticated: detaching it changes nothing.
    drop(fresh);
    Some(true)
}

/// Asks the cluster for parked connection `pid` on behalf of connection `id`: a holder
/// that died is replaced by the event history, a live one is asked to surrender it.
/// The frames to replay, or why not.
fn ask_cluster(
    shared: &Shared,
    pid: &str,
    (offset, mark): (u64, Option<u64>),
    id: ConnectionId,
) -> Result<Vec<Arc<OutboundEvent>>, String> {
    let window = shared.config.recovery.map(|r| r.window).unwrap_or_default();
    let ask = || {
        if let Some(mark) = mark.filter(|_| shared.hub.keeps_history()) {
            match shared
                .hub
                .recover_from_history(pid, (offset, mark), id, window)
            {
                Err(code) if code == "holder_alive" || code == "unknown_pid" => {}
                answer => return answer,
            }
        }
        shared
            .hub
            .request_takeover(pid, offset, id, TAKEOVER_PATIENCE)
    };
    // The wait is short and rare; keep the runtime's other tasks running meanwhile.
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(ask),
        _ => ask(),
    }
}

/// The client came back before its old transport was found dead (its old session is
/// still live, e.g. a half-open TCP connection until the ping timeout): the old session
/// ends as a lost transport, which parks its connection for the resume that follows.
/// Returns whether there was such a session.
fn take_over(shared: &Shared, session: &Session, pid: &str) -> bool {
    end_live(shared, pid, Some(&session.sid))
}

/// Ends the live session carrying `pid` (other than `except`) as a lost transport,
/// which parks its connection; whether there was one. Also used when another node
/// asks for `pid` (`recovery::surrender_to_cluster`).
pub(super) fn end_live(shared: &Shared, pid: &str, except: Option<&str>) -> bool {
    let sid = shared.live_pids.lock().get(pid).cloned();
    let Some(old) = sid
        .and_then(|sid| shared.sessions.get(&sid))
        .filter(|old| Some(old.sid.as_str()) != except)
    else {
        return false;
    };
    old.end(Ending::ClientGone);
    engine::release(shared, &old);
    true
}
