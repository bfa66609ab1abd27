//! The host-callback transport: sockets the host owns, frames handed to its sink once
//! per event with every recipient, on the emitting host thread (or the delivery thread
//! for frames caused on library threads), with the registry's isolation.

use crate::support;

use std::sync::{Arc, OnceLock};
use std::thread::{self, ThreadId};

use microcoaster_realtime::transport::host::HostSink;
use microcoaster_realtime::{
    CloseReason, ConnectionId, EmitOutcome, HandshakeContext, Hub, HubError, OutboundEvent,
    WireFormat,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::support::{JWT_SECRET, token};

/// One `HostSink::frame` call as the host saw it.
#[derive(Debug, Clone)]
struct FrameCall {
    recipients: Vec<ConnectionId>,
    name: String,
    payload: Value,
    packet: String,
    /// The address of the shared event, to check every recipient got the same one.
    event: usize,
    thread: ThreadId,
}

/// A host that records what the hub hands it; `reenter` makes it try an emit from inside
/// the callback.
#[derive(Default)]
struct Recorder {
    frames: Mutex<Vec<FrameCall>>,
    closes: Mutex<Vec<(ConnectionId, CloseReason)>>,
    reenter: OnceLock<Hub>,
    reentry: Mutex<Vec<Result<EmitOutcome, HubError>>>,
}

/// The sink the hub owns; the test keeps the other handle on the recorder.
struct Host(Arc<Recorder>);

impl HostSink for Host {
    fn frame(&self, recipients: &[ConnectionId], event: &Arc<OutboundEvent>) {
        if let Some(hub) = self.0.reenter.get() {
            let result = hub.emit_maintenance_mode(true, "from inside the sink", "root");
            self.0.reentry.lock().push(result);
        }
        self.0.frames.lock().push(FrameCall {
            recipients: recipients.to_vec(),
            name: event.name().to_owned(),
            payload: event.payload().clone(),
            packet: event.socketio_packet().to_owned(),
            event: Arc::as_ptr(event) as usize,
            thread: thread::current().id(),
        });
    }

    fn close(&self, connection: ConnectionId, reason: &CloseReason) {
        self.0.closes.lock().push((connection, reason.clone()));
    }
}

impl Recorder {
    fn take(&self) -> Vec<FrameCall> {
        std::mem::take(&mut *self.frames.lock())
    }

    /// The next recorded call, which must be `name`.
    fn expect_only(&self, name: &str) -> FrameCall {
        let calls = self.take();
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [name], "expected exactly one {name} frame call");
        calls.into_iter().next().expect("one call")
    }
}

fn host_hub() -> (Hub, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let hub = Hub::builder()
        .jwt_secret(JWT_SECRET)
        .host_sink(Host(Arc::clone(&recorder)))
        .build()
        .expect("a hub with a host sink builds");
    (hub, recorder)
}

/// Attaches a host connection and authenticates it with a JWT on `page`, consuming the
/// `auth:ok` / `page:snapshot` replies.
fn tab(
    hub: &Hub,
    recorder: &Recorder,
    user: &str,
    role: &str,
    page: &str,
) -> microcoaster_realtime::Connection {
    let conn = hub
        .attach_host(HandshakeContext::default())
        .expect("the hub has a host sink");
    conn.on_message(
        "client:authenticate",
        &json!({"token": token(user, role, Some(&format!("sid-{user}-{}", conn.id()))), "page": page}),
    )
    .expect("authentication succeeds");
    let replies = recorder.take();
    let names: Vec<&str> = replies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["auth:ok", "page:snapshot"]);
    assert!(replies.iter().all(|c| c.recipients == [conn.id()]));
    conn
}

#[test]
fn one_frame_call_per_event_with_every_recipient() {
    let (hub, recorder) = host_hub();
    let tabs: Vec<_> = (0..3)
        .map(|_| tab(&hub, &recorder, "alice", "user", "modules"))
        .collect();
    hub.emit_module_added(&json!({"id": "MC-1", "userId": "alice", "name": "Loop"}))
        .expect("module added");
    let added = recorder.expect_only("user:module:added");
    let mut ids: Vec<_> = tabs.iter().map(|t| t.id()).collect();
    ids.sort();
    let mut got = added.recipients.clone();
    got.sort();
    assert_eq!(got, ids, "one call carries every tab of the user");

    let outcome = hub
        .emit_module_online("MC-1", &json!({"userId": "alice"}))
        .expect("module online");
    assert_eq!(outcome, EmitOutcome::Delivered { connections: 3 });
    let online = recorder.expect_only("module:status:changed");
    assert_eq!(online.recipients.len(), 3);
    assert_eq!(
        online.thread,
        thread::current().id(),
        "runs on the emitting thread"
    );
    assert!(
        online.packet.starts_with("2[\"module:status:changed\",{"),
        "a Socket.IO EVENT packet without the Engine.IO prefix: {}",
        online.packet
    );
    let decoded: Value = serde_json::from_str(&online.packet[1..]).expect("packet is JSON");
    assert_eq!(decoded[1], online.payload);
    assert_eq!(decoded[1]["moduleId"], json!("MC-1"));
}

#[test]
fn frames_reach_the_host_from_any_emitting_thread() {
    let (hub, recorder) = host_hub();
    let _alice = tab(&hub, &recorder, "alice", "user", "modules");
    hub.emit_module_added(&json!({"id": "MC-1", "userId": "alice"}))
        .expect("module added");
    recorder.take();
    let emitter = {
        let hub = hub.clone();
        thread::spawn(move || {
            hub.emit_module_online("MC-1", &json!({"userId": "alice"}))
                .expect("module online");
            thread::current().id()
        })
    };
    let emitter_id = emitter.join().expect("emitter thread");
    assert_eq!(
        recorder.expect_only("module:status:changed").thread,
        emitter_id
    );
}

#[test]
fn host_connections_keep_isolation() {
    let (hub, recorder) = host_hub();
    let alice = tab(&hub, &recorder, "alice", "user", "modules");
    let bob = tab(&hub, &recorder, "bob", "user", "modules");
    let admin = tab(&hub, &recorder, "root", "admin", "admin");
    let anonymous = hub
        .attach_host(HandshakeContext::default())
        .expect("attach");

    hub.emit_module_added(&json!({"id": "MC-1", "userId": "alice"}))
        .expect("module added");
    let calls = recorder.take();
    let to_alice: Vec<_> = calls
        .iter()
        .filter(|c| c.recipients.contains(&alice.id()))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(to_alice, ["user:module:added"]);
    let to_admin: Vec<_> = calls
        .iter()
        .filter(|c| c.recipients.contains(&admin.id()))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(to_admin, ["admin:module:added"]);
    for call in &calls {
        assert!(
            !call.recipients.contains(&bob.id()),
            "bob got {}",
            call.name
        );
        assert!(
            !call.recipients.contains(&anonymous.id()),
            "anonymous got {}",
            call.name
        );
    }

    // Sentinel: bob and the anonymous socket are still reachable.
    hub.emit_to_user("bob", "test:sentinel", &json!({"n": 1}))
        .expect("sentinel");
    assert_eq!(recorder.expect_only("test:sentinel").recipients, [bob.id()]);
    let refused = anonymous.on_message("some:event", &json!({}));
    assert!(refused.is_err(), "an unauthenticated socket is refused");
    let reply = recorder.expect_only("auth:error");
    assert_eq!(reply.recipients, [anonymous.id()]);
    assert_eq!(reply.payload["code"], json!("not_authenticated"));
}

#[test]
fn unchanged_emits_call_nothing_then_the_sentinel_arrives() {
    let (hub, recorder) = host_hub();
    let alice = tab(&hub, &recorder, "alice", "user", "modules");
    hub.emit_module_added(&json!({"id": "MC-1", "userId": "alice"}))
        .expect("module added");
    hub.emit_module_online("MC-1", &json!({"userId": "alice"}))
        .expect("module online");
    recorder.take();
    let outcome = hub
        .emit_module_online("MC-1", &json!({"userId": "alice"}))
        .expect("module online again");
    assert_eq!(outcome, EmitOutcome::Unchanged);
    hub.emit_to_user("alice", "test:sentinel", &json!({"n": 2}))
        .expect("sentinel");
    assert_eq!(
        recorder.expect_only("test:sentinel").recipients,
        [alice.id()]
    );
}

#[test]
fn host_and_server_style_connections_share_one_encoded_event() {
    let (hub, recorder) = host_hub();
    let host_tab = tab(&hub, &recorder, "alice", "user", "modules");
    let mut local = support::connect(&hub, "alice", "user", "sid-local", "modules");
    hub.emit_module_added(&json!({"id": "MC-1", "userId": "alice"}))
        .expect("module added");
    let call = recorder.expect_only("user:module:added");
    assert_eq!(call.recipients, [host_tab.id()]);
    let frame = local.next();
    assert_eq!(
        Arc::as_ptr(&frame) as usize,
        call.event,
        "the host and the in-process tab hold the same shared event"
    );
    assert_eq!(
        frame.encoded(WireFormat::SocketIo).as_ref(),
        format!("4{}", call.packet).as_bytes()
    );
}

#[test]
fn logout_closes_the_host_socket_after_its_last_frame() {
    let (hub, recorder) = host_hub();
    hub.emit_user_logged_in(&json!({"id": "alice", "role": "user"}), "sess-1")
        .expect("login");
    let conn = hub
        .attach_host(HandshakeContext::default())
        .expect("attach");
    conn.on_message(
        "client:authenticate",
        &json!({"userId": "alice", "userType": "user", "page": "modules", "sessionId": "sess-1"}),
    )
    .expect("session authentication");
    recorder.take();
    hub.emit_user_logged_out(&json!({"id": "alice"}), "sess-1")
        .expect("logout");
    let ended = recorder
        .take()
        .into_iter()
        .find(|c| c.recipients.contains(&conn.id()))
        .expect("the session got a frame");
    assert_eq!(ended.name, "user:session:ended");
    assert_eq!(
        *recorder.closes.lock(),
        [(conn.id(), CloseReason::LoggedOut)]
    );

    // The host detaching a socket itself is not echoed back as a close.
    let other = hub
        .attach_host(HandshakeContext::default())
        .expect("attach");
    let other_id = other.id();
    drop(other);
    assert!(
        !recorder.closes.lock().iter().any(|(id, _)| *id == other_id),
        "a detach by the host is not reported back to it"
    );
}

#[test]
fn emitting_from_inside_the_sink_is_refused_not_deadlocked() {
    let (hub, recorder) = host_hub();
    let _alice = tab(&hub, &recorder, "alice", "user", "modules");
    recorder
        .reenter
        .set(hub.clone())
        .unwrap_or_else(|_| panic!("set once"));
    hub.emit_to_user("alice", "test:sentinel", &json!({"n": 3}))
        .expect("sentinel");
    assert_eq!(recorder.expect_only("test:sentinel").name, "test:sentinel");
    assert_eq!(*recorder.reentry.lock(), [Err(HubError::Reentrant)]);
}

#[test]
fn attaching_a_host_socket_needs_a_sink() {
    let hub = support::hub();
    let error = hub
        .attach_host(HandshakeContext::default())
        .err()
        .expect("no sink configured");
    assert_eq!(error, HubError::NoHostSink);
    assert_eq!(error.code(), "no_host_sink");
}

/// A sink that reports every frame with the thread it ran on and, for frames of
/// `module:status:changed`, whether an emit from inside the sink was possible (it is
/// refused as re-entrant exactly when the sink runs under the emit lock).
/// What [`Reporting`] saw of one frame call: the event, the thread, the inner emit.
type Reported = (String, String, Option<Result<EmitOutcome, HubError>>);

struct Reporting {
    frames: std::sync::mpsc::Sender<Reported>,
    hub: Arc<OnceLock<Hub>>,
}

impl HostSink for Reporting {
    fn frame(&self, _recipients: &[ConnectionId], event: &Arc<OutboundEvent>) {
        let thread = thread::current().name().unwrap_or("").to_owned();
        let emitted = (event.name() == "module:status:changed")
            .then(|| {
                self.hub
                    .get()
                    .map(|hub| hub.emit_to_user("alice", "from:sink", &json!({})))
            })
            .flatten();
        let _ = self.frames.send((event.name().to_owned(), thread, emitted));
    }

    fn close(&self, _connection: ConnectionId, _reason: &CloseReason) {}
}

#[test]
fn frames_from_a_library_thread_come_from_the_delivery_thread_without_the_emit_lock() {
    let (frames, received) = std::sync::mpsc::channel();
    let cell = Arc::new(OnceLock::new());
    let hub = Hub::builder()
        .jwt_secret(JWT_SECRET)
        .device_offline_grace(std::time::Duration::from_millis(20))
        .host_sink(Reporting {
            frames,
            hub: Arc::clone(&cell),
        })
        .build()
        .expect("a hub with a host sink builds");
    let _ = cell.set(hub.clone());
    let next = || {
        received
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a frame call within 5 s")
    };
    let here = thread::current().name().unwrap_or("").to_owned();

    let tab = hub.attach_host(HandshakeContext::default()).expect("sink");
    tab.on_message(
        "client:authenticate",
        &json!({"token": token("alice", "user", None), "page": "modules"}),
    )
    .expect("authenticates");
    assert_eq!(
        (next().0, next().0),
        ("auth:ok".into(), "page:snapshot".into())
    );

    // A device connecting on this (host) thread: its module's status comes inline,
    // under the emit lock, so the sink's own emit is refused as re-entrant.
    let device = hub.connect_in_process();
    device
        .authenticate(json!({"token": support::jwt::device_token(JWT_SECRET, "MC-9", "alice")}))
        .expect("device authenticates");
    let (name, thread, emitted) = next();
    assert_eq!(
        (name.as_str(), thread.as_str()),
        ("module:status:changed", here.as_str())
    );
    assert!(
        matches!(emitted, Some(Err(HubError::Reentrant))),
        "{emitted:?}"
    );

    // The device goes away: the grace timer (a library thread) takes the module
    // offline, and the frame comes from the delivery thread, with no lock held.
    drop(device);
    let (name, thread, emitted) = next();
    assert_eq!(
        (name.as_str(), thread.as_str()),
        ("module:status:changed", "mcrt-host-delivery")
    );
    assert!(
        matches!(emitted, Some(Ok(EmitOutcome::Delivered { connections: 1 }))),
        "{emitted:?}"
    );
    // The sink's own emit follows, then a sentinel from this thread, in that order.
    assert_eq!(next().0, "from:sink");
    hub.emit_to_user("alice", support::SENTINEL, &json!({}))
        .expect("sentinel");
    assert_eq!(next().0, support::SENTINEL);
    assert!(received.try_recv().is_err(), "nothing else was delivered");
    drop(tab);
}
