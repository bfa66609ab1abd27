//! Connection-state recovery for both wire protocols: what a connection keeps when its
//! transport goes away, and how a reconnecting client takes it over.
//!
//! Owns [`RecoveryConfig`], the [`Attachment`] (a hub connection, the waker that points
//! at whichever transport currently carries it, its private id `pid`, and the tail of
//! frames already handed to a socket) and the table of parked attachments.
//!
//! How it works. Every published event carries a global offset (the hub assigns it
//! under the emit lock; it is part of the event, so encode-once holds). When a transport
//! is lost (websocket closed or broken, Engine.IO close, ping timeout) the connection is
//! **parked**: it stays in the registry with its identity and page, so its queue keeps
//! receiving exactly what the registry routes to it (isolation needs no second
//! implementation), without telemetry conflation, up to the queue's bound. A client that
//! comes back within [`RecoveryConfig::window`] with its `pid` and the last offset it
//! saw takes the attachment over: it is first replayed the frames of the tail with a
//! larger offset (frames a dying socket may not have delivered), then the queue. So a
//! resumed client gets every event it missed, in order, exactly once, and nothing it was
//! not entitled to.
//!
//! A Socket.IO client often notices a dead network before the server does (a half-open
//! TCP connection looks alive until the ping timeout): when its `pid` still belongs to
//! a live session, that session is ended as a lost transport (which parks it) and the
//! new one takes it over. Which transport may drain an attachment is a serial kept
//! with the tail, under one lock with each drain, so the old transport drains nothing
//! after the takeover and every frame it drained before is in the tail.
//!
//! Not recoverable (the client gets a fresh session, `recovered` false): an unknown or
//! expired `pid`, a parked connection the hub closed meanwhile (its session logged out,
//! or its queue overflowed), a client offset older than the tail kept, another wire
//! protocol, devices (their module's offline grace period covers quick reconnects), and
//! sessions the client or the server ended on purpose (Socket.IO DISCONNECT, logout,
//! auth failures, protocol errors, shutdown).
//!
//! Across nodes (shared broker, see `broker/` and `hub/handoff.rs`): a pid this node
//! does not hold is asked for through the broker; the node that parked it
//! [surrenders](Parked::surrender) it (tail after the client's offset, then the queue,
//! drained under the tail's lock with the carrier cleared, so its old transport cannot
//! deliver anything afterwards) and drops it. This node then carries the connection
//! under the same pid (the client only counts itself recovered when its pid comes
//! back), authenticated with the surrendered identity and page — never with what the
//! client sends. Offsets are per node: the replayed frames all carry this node's last
//! offset from before the request, and later frames this node's own offsets, so after
//! a cross-node takeover the client's offset is this node's. One limit follows: a
//! transport lost again while the replay is being written loses the part of the replay
//! not yet written (the client's offset already covers it). A session the holder still
//! believes live (a half-open TCP connection) is ended as a lost transport and
//! surrendered, as for a client that comes back to the same node. An unknown pid costs
//! the client the 500 ms the node waits for an answer. Only Socket.IO clients are
//! recovered across nodes; native clients recover on their own node.
//!
//! When the holder died (event history on, [`RecoveryConfig::redis_history`]): pids are
//! `<node>~<random>`, each node records its connections' identities in Redis, and the
//! Socket.IO offset reads `"<offset>.<mark>"` (the mark: the last history position of
//! another node's message the holder had applied). A node whose client names a dead
//! holder's pid recovers it from the history instead of asking (`hub/handoff/revive.rs`),
//! within the window counted from the holder's last heartbeat.
//!
//! Guarded by `tests/server/recovery.rs`, `tests/clients/node/recovery.test.js` and
//! `tests/clients/node/cross_node_recovery.test.js`. This
//! module must not decide who receives an event (the registry does) nor parse packets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::auth::{HandshakeContext, Role};
use crate::outbound::OutboundEvent;
use crate::outbound::{CloseReason, Drained, Wake};
use crate::protocol::WireFormat;
use crate::transport::Connection;

use super::Shared;

mod parked;
pub(crate) use parked::{Parked, surrender_to_cluster};

/// Connection-state recovery settings ([`ServerConfig::recovery`](super::ServerConfig)).
///
/// Off by default: with it on, every event carries its offset as an extra argument
/// (`42["name",data,"17"]`), which the official JavaScript client strips but which
/// python-socketio (no recovery support) passes to handlers as a second argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a connection whose transport was lost waits for its client (default 2
    /// minutes, Socket.IO's `maxDisconnectionDuration`). The count bound is the hub's
    /// queue capacity ([`HubBuilder::queue_capacity`](crate::HubBuilder::queue_capacity),
    /// 1,024 frames by default): a parked connection that misses more is closed as a
    /// slow consumer and is not recoverable.
    pub window: Duration,
    /// At most this many parked connections; parking one more drops the oldest
    /// (default 10,000).
    pub max_parked: usize,
    /// Frames already handed to a socket that each connection remembers (default 64),
    /// so the ones a dying socket did not deliver are replayed. A client whose offset is
    /// older than this tail cannot be replayed exactly and gets a fresh session.
    pub written_tail: usize,
    /// With a shared Redis broker, keep every event this node decides in Redis for the
    /// window ([`Hub::keep_event_history`](crate::Hub::keep_event_history)), so a
    /// Socket.IO client whose node died is recovered on another node (default on; no
    /// effect without a shared broker). Costs one Lua script per changed call instead
    /// of a `PUBLISH`, and one hash write per authentication and page change.
    pub redis_history: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(120),
            max_parked: 10_000,
            written_tail: 64,
            redis_history: true,
        }
    }
}

/// Points a queue's wake-ups at the transport that currently carries its connection.
struct WakeSlot(Mutex<Arc<Notify>>);

struct SlotWake(Arc<WakeSlot>);

impl Wake for SlotWake {
    fn wake(&self) {
        self.0.0.lock().notify_one();
    }
}

/// Frames already handed to a socket, newest last, with their offsets, and which
/// transport may drain the queue (both change together, under the tail's lock).
struct Tail {
    /// The serial of the transport that carries the attachment: a transport that was
    /// taken over may still hold the attachment but drains nothing more.
    carrier: u64,
    frames: VecDeque<Arc<OutboundEvent>>,
    capacity: usize,
    /// The largest offset pushed out of the tail: a client behind it cannot resume.
    evicted: Option<u64>,
}

impl Tail {
    fn record(&mut self, frame: &Arc<OutboundEvent>) {
        if self.capacity == 0 || frame.offset().is_none() {
            return;
        }
        if self.frames.len() == self.capacity
            && let Some(old) = self.frames.pop_front()
        {
            self.evicted = old.offset();
        }
        self.frames.push_back(Arc::clone(frame));
    }

    /// Frames after `offset`, or `None` when some of them were already evicted.
    fn after(&self, offset: u64) -> Option<Vec<Arc<OutboundEvent>>> {
        if self.evicted.is_some_and(|evicted| evicted > offset) {
            return None;
        }
        Some(
            self.frames
                .iter()
                .filter(|frame| frame.offset().is_some_and(|o| o > offset))
                .cloned()
                .collect(),
        )
    }
}

/// A hub connection as a transport carries it, and what survives a lost transport.
pub(crate) struct Attachment {
    /// The private session id a client presents to take this attachment over.
    pub(crate) pid: String,
    pub(crate) connection: Connection,
    wake: Arc<WakeSlot>,
    /// Recovery is on: the tail is kept (read without its lock on every write).
    recoverable: bool,
    tail: Mutex<Tail>,
}

impl Attachment {
    /// Attaches a new connection carried by transport `carrier` (a [`next_carrier`]
    /// serial), whose wake-ups go to `notify`.
    pub(crate) fn new(
        shared: &Shared,
        context: HandshakeContext,
        format: WireFormat,
        carrier: u64,
        notify: &Arc<Notify>,
    ) -> Arc<Self> {
        let pid = shared.hub.recoverable_pid(super::session::random_id());
        Self::with_pid(shared, context, format, carrier, notify, pid)
    }

    /// [`Attachment::new`] with a given pid: the one of a connection another node
    /// surrenders (the client only counts itself recovered when its pid comes back).
    pub(crate) fn with_pid(
        shared: &Shared,
        context: HandshakeContext,
        format: WireFormat,
        carrier: u64,
        notify: &Arc<Notify>,
        pid: String,
    ) -> Arc<Self> {
        let wake = Arc::new(WakeSlot(Mutex::new(Arc::clone(notify))));
        let connection = shared
            .hub
            .attach(context, format, SlotWake(Arc::clone(&wake)));
        let capacity = shared.config.recovery.map_or(0, |r| r.written_tail);
        if capacity > 0 {
            shared.hub.set_pid(connection.id(), &pid);
        }
        Arc::new(Self {
            pid,
            connection,
            wake,
            recoverable: capacity > 0,
            tail: Mutex::new(Tail {
                carrier,
                frames: VecDeque::new(),
                capacity,
                evicted: None,
            }),
        })
    }

    /// Drains the queue for transport `carrier` and remembers the frames as handed to
    /// its socket; `None` when another transport took the attachment over. With
    /// recovery on, draining and remembering happen under the tail's lock, so a
    /// takeover sees every drained frame in the tail and no drain after it.
    pub(crate) fn drain(&self, carrier: u64) -> Option<Drained> {
        if !self.recoverable {
            return Some(self.connection.queue().drain());
        }
        let mut tail = self.tail.lock();
        if tail.carrier != carrier {
            return None;
        }
        let drained = self.connection.queue().drain();
        for frame in &drained.frames {
            tail.record(frame);
        }
        Some(drained)
    }

    /// Like [`Attachment::drain`], handing each frame to `each` instead of building a
    /// `Vec` (see [`crate::outbound::OutboundQueue::drain_each`]). Returns the
    /// close reason, or `None` when another transport took the attachment over.
    pub(crate) fn drain_each(
        &self,
        carrier: u64,
        mut each: impl FnMut(&Arc<OutboundEvent>),
    ) -> Option<Option<CloseReason>> {
        if !self.recoverable {
            return Some(self.connection.queue().drain_each(|frame| each(&frame)));
        }
        let mut tail = self.tail.lock();
        if tail.carrier != carrier {
            return None;
        }
        Some(self.connection.queue().drain_each(|frame| {
            tail.record(&frame);
            each(&frame);
        }))
    }

    /// Sends later wake-ups to `notify` (the transport that took the attachment over).
    fn retarget(&self, notify: &Arc<Notify>) {
        *self.wake.0.lock() = Arc::clone(notify);
    }

    /// Whether a lost transport may park this attachment: an authenticated user or
    /// admin connection the hub has not closed.
    fn parkable(&self) -> bool {
        self.connection.queue().closed().is_none()
            && self
                .connection
                .identity()
                .is_some_and(|identity| identity.role != Role::Device)
    }
}

/// Why a resume was refused (the client then gets a fresh session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Recovery is off on this server.
    Disabled,
    /// No parked connection has this pid (never existed, expired, or taken).
    UnknownPid,
    /// The pid belongs to the other wire protocol.
    WrongProtocol,
    /// The hub closed the parked connection (logged out, or its queue overflowed).
    Closed,
    /// The client's offset is older than what was kept.
    TooOld,
}

impl Refusal {
    /// A stable code for the wire and logs.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Disabled => "recovery_disabled",
            Self::UnknownPid => "unknown_pid",
            Self::WrongProtocol => "wrong_protocol",
            Self::Closed => "session_closed",
            Self::TooOld => "offset_too_old",
        }
    }
}

/// A resumed attachment and the frames to write before its queue.
pub(crate) struct Resumed {
    pub(crate) attachment: Arc<Attachment>,
    pub(crate) replay: Vec<Arc<OutboundEvent>>,
}

/// A serial for a new transport (Engine.IO session or native websocket), naming which
/// one may drain an attachment.
pub(crate) fn next_carrier() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Drops expired parked connections regularly, so their memory and registry entries
/// go even when nobody parks or resumes.
pub(crate) async fn sweeper(shared: Arc<Shared>) {
    let Some(config) = shared.config.recovery else {
        return;
    };
    let period = (config.window / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        tokio::time::sleep(period).await;
        shared.parked.sweep(config.window);
    }
}
