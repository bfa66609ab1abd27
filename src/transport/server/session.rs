//! One Engine.IO session (one Socket.IO client), whichever transport carries it, and
//! the table of live sessions.
//!
//! A session's outbound frames come from two places: the hub queue (events, encoded
//! once and shared) and a small control queue for packets only this session gets
//! (`40` connect replies, `43` acks, pings, the upgrade's noop). Both wake the same
//! `Notify`; the writer takes both (control first) under short locks and writes after
//! releasing them.
//!
//! A session serves one [`Service`]: Socket.IO (the hub's namespace `/` unless a handler
//! replaces it, and the registered [`Namespace`](super::Namespace)s, whose memberships
//! and a binary packet awaiting its attachments live in [`SessionState`]) or a raw
//! Engine.IO endpoint. Frames are text or binary ([`Frame`]); a packet and its binary
//! attachments are queued under one lock so nothing comes between them.
//!
//! The hub connection is held through an [`Attachment`] that a lost transport may park
//! and a reconnecting client's session may take over (connection-state recovery, see
//! `recovery.rs`): once a session gave its attachment away it never drains it again.
//! This module must not parse packets.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::outbound::CloseReason;
use crate::protocol::WireFormat;
use crate::protocol::binary::Reassembly;

use super::Shared;
use super::recovery::Attachment;
use super::service::{EngineService, NamespaceSocket};

pub(crate) use super::sessions::{Sessions, random_id};

/// One outbound Engine.IO frame: a text packet, or a binary message.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    Text(Utf8Bytes),
    Binary(Bytes),
}

/// What a session serves.
#[derive(Clone)]
pub(crate) enum Service {
    /// Socket.IO: the hub's namespace and the registered ones.
    SocketIo,
    /// A raw Engine.IO endpoint.
    Engine(Arc<dyn EngineService>),
}

impl Service {
    /// Whether both are the same endpoint.
    pub(crate) fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::SocketIo, Self::SocketIo) => true,
            (Self::Engine(a), Self::Engine(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Which transport currently carries the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    Polling,
    Upgrading,
    WebSocket,
}

/// Why the transport closed a session itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The client went away (or a newer transport of it took over).
    ClientGone,
    /// The client sent an Engine.IO close (`1`): a pending poll is answered with a
    /// noop, as the reference server does.
    ClientClosed,
    /// No pong within the ping timeout.
    PingTimeout,
    /// Not authenticated within the deadline.
    AuthTimeout,
    /// A malformed packet.
    ProtocolError,
    /// A message over the size limit.
    TooLarge,
    /// Kept sending past the rate limit.
    RateLimited,
    /// Joined no namespace within the connect timeout.
    ConnectTimeout,
    /// The server's code closed it on purpose.
    Closed,
}

pub(crate) struct SessionState {
    pub(crate) carrier: Carrier,
    pub(crate) polling_get: bool,
    pub(crate) namespace_connected: bool,
    pub(crate) ending: Option<Ending>,
    /// When the pong to the last ping is due (`None` once it came): past it the session
    /// is dead even if its timer has not run yet.
    pub(crate) pong_due: Option<Instant>,
    /// The registered namespaces this client joined, by name.
    pub(crate) joined: HashMap<String, NamespaceSocket>,
    /// A binary packet waiting for its attachments.
    pub(crate) partial: Option<Reassembly>,
    tokens: f64,
    refilled: Instant,
    dropped_in_a_row: u32,
}

pub(crate) struct Session {
    /// This session, for the handles given to namespace and engine handlers.
    pub(crate) weak: std::sync::Weak<Session>,
    pub(crate) sid: String,
    pub(crate) socket_sid: String,
    /// This session's transport serial: which attachment it may still drain.
    pub(crate) serial: u64,
    /// What this session serves.
    pub(crate) service: Service,
    /// Whether it carries a hub connection (Socket.IO with the hub's `/`).
    pub(crate) carries_hub: bool,
    /// The hub connection; `None` once parked or ended, or when it carries none.
    attachment: Mutex<Option<Arc<Attachment>>>,
    pub(crate) notify: Arc<Notify>,
    control: Mutex<VecDeque<Frame>>,
    pub(crate) state: Mutex<SessionState>,
    pub(crate) pong: AtomicBool,
    /// Woken when a pong arrives, so the next ping is scheduled one interval after it.
    pub(crate) pong_notify: Arc<Notify>,
    /// The address whose `max_connections_per_ip` slot this session holds.
    pub(crate) remote_ip: std::net::IpAddr,
}

/// What a writer found besides the frames [`Session::take_pending`] appended.
pub(crate) struct Pending {
    /// The hub closed the connection (after the frames).
    pub(crate) hub_closed: Option<CloseReason>,
    /// The transport is closing the session.
    pub(crate) ending: Option<Ending>,
    /// Hub events taken (control packets and binary attachments not counted): what the
    /// writer's coalescing judges its backlog by.
    pub(crate) events: usize,
}

impl Session {
    pub(crate) fn new(
        shared: &Shared,
        context: crate::auth::HandshakeContext,
        carrier: Carrier,
        service: Service,
        remote_ip: std::net::IpAddr,
    ) -> Arc<Self> {
        let notify = Arc::new(Notify::new());
        let serial = super::recovery::next_carrier();
        let carries_hub =
            matches!(service, Service::SocketIo) && shared.config.namespaces.hub_serves_root();
        let attachment = carries_hub
            .then(|| Attachment::new(shared, context, WireFormat::SocketIo, serial, &notify));
        let burst = f64::from(shared.config.rate_limit.burst);
        Arc::new_cyclic(|weak| Self {
            weak: weak.clone(),
            sid: random_id(),
            socket_sid: random_id(),
            serial,
            service,
            carries_hub,
            attachment: Mutex::new(attachment),
            notify,
            control: Mutex::new(VecDeque::new()),
            state: Mutex::new(SessionState {
                carrier,
                polling_get: false,
                namespace_connected: false,
                ending: None,
                pong_due: None,
                joined: HashMap::new(),
                partial: None,
                tokens: burst,
                refilled: Instant::now(),
                dropped_in_a_row: 0,
            }),
            pong: AtomicBool::new(true),
            pong_notify: Arc::new(Notify::new()),
            remote_ip,
        })
    }

    /// The hub connection this session carries, unless it was given away.
    pub(crate) fn attachment(&self) -> Option<Arc<Attachment>> {
        self.attachment.lock().clone()
    }

    /// Whether the hub connection is authenticated (false once given away).
    pub(crate) fn is_authenticated(&self) -> bool {
        self.attachment()
            .is_some_and(|a| a.connection.is_authenticated())
    }

    /// Gives the hub connection away (to park it); the session drains nothing after.
    pub(crate) fn take_attachment(&self) -> Option<Arc<Attachment>> {
        self.attachment.lock().take()
    }

    /// Carries `attachment` from now on (a resumed connection); returns the one it
    /// replaces, to drop outside any lock.
    pub(crate) fn replace_attachment(
        &self,
        attachment: Arc<Attachment>,
    ) -> Option<Arc<Attachment>> {
        self.attachment.lock().replace(attachment)
    }

    /// Queues a packet for this session only.
    pub(crate) fn send_control(&self, packet: impl Into<Utf8Bytes>) {
        self.control.lock().push_back(Frame::Text(packet.into()));
        self.notify.notify_one();
    }

    /// Queues a binary message for this session only.
    pub(crate) fn send_binary(&self, data: Bytes) {
        self.control.lock().push_back(Frame::Binary(data));
        self.notify.notify_one();
    }

    /// Queues a Socket.IO packet (its Engine.IO text) and its binary attachments, with
    /// nothing between them.
    pub(crate) fn send_packet(&self, text: impl Into<Utf8Bytes>, attachments: &[Bytes]) {
        let mut control = self.control.lock();
        control.push_back(Frame::Text(text.into()));
        control.extend(attachments.iter().cloned().map(Frame::Binary));
        drop(control);
        self.notify.notify_one();
    }

    /// Queues a hub event for this session only (a recovery replay), with its binary
    /// attachments right after it.
    pub(crate) fn send_event(&self, frame: &crate::outbound::OutboundEvent) {
        self.send_packet(
            frame.encoded_text(WireFormat::SocketIo).clone(),
            frame.attachments(),
        );
    }

    /// Whether the client joined any namespace (the hub's or a registered one).
    pub(crate) fn joined_any(&self) -> bool {
        let state = self.state.lock();
        state.namespace_connected || !state.joined.is_empty()
    }

    /// The server shuts down: the hub connection closes after its queue, a session
    /// without one ends now.
    pub(crate) fn shut_down(&self) {
        match self.attachment() {
            Some(attachment) => {
                attachment.connection.queue().close(CloseReason::Shutdown);
            }
            None => self.end(Ending::Closed),
        }
    }

    /// Asks the transport to close the session.
    pub(crate) fn end(&self, ending: Ending) {
        let mut state = self.state.lock();
        if state.ending.is_none() {
            state.ending = Some(ending);
        }
        drop(state);
        self.notify.notify_one();
    }

    pub(crate) fn ending(&self) -> Option<Ending> {
        self.state.lock().ending
    }

    /// Whether the pong to the last ping is overdue at `now`.
    pub(crate) fn pong_overdue(&self, now: Instant) -> bool {
        self.state.lock().pong_due.is_some_and(|due| now >= due)
    }

    /// Takes everything to send, appending it to `frames`: control packets first, then
    /// hub frames. The writer keeps `frames` across wake-ups, so once it has grown to
    /// the largest batch a drain allocates nothing.
    pub(crate) fn take_pending(&self, frames: &mut Vec<Frame>) -> Pending {
        frames.extend(self.control.lock().drain(..));
        if !self.carries_hub {
            return Pending {
                hub_closed: None,
                ending: self.ending(),
                events: 0,
            };
        }
        let Some(attachment) = self.attachment() else {
            // Parked or ended: the frames belong to whoever takes the connection over.
            return Pending {
                hub_closed: None,
                ending: Some(self.ending().unwrap_or(Ending::ClientGone)),
                events: 0,
            };
        };
        let queue = attachment.connection.queue();
        // One lock for both: an ending set after it is seen on the next wake-up, which
        // `end` sends after setting it.
        let (namespace_connected, ending) = {
            let state = self.state.lock();
            (state.namespace_connected, state.ending)
        };
        if !namespace_connected {
            // Hub frames (`auth:ok`, `page:snapshot` when credentials came with CONNECT)
            // wait until the CONNECT reply has gone: a client must never see an event of
            // a namespace before it joined it. `connect` wakes the writer once joined.
            return Pending {
                hub_closed: queue.closed(),
                ending,
                events: 0,
            };
        }
        let mut events = 0;
        let drained = attachment.drain_each(self.serial, |frame| {
            if events == 0 {
                frame.record_delivery();
            }
            events += 1;
            frames.push(Frame::Text(
                frame.encoded_text(WireFormat::SocketIo).clone(),
            ));
            frames.extend(frame.attachments().iter().cloned().map(Frame::Binary));
        });
        let Some(hub_closed) = drained else {
            // Taken over by the client's newer transport.
            return Pending {
                hub_closed: None,
                ending: Some(self.ending().unwrap_or(Ending::ClientGone)),
                events: 0,
            };
        };
        Pending {
            hub_closed,
            ending,
            events,
        }
    }

    /// Spends one inbound token; `false` when the message must be dropped. Closes the
    /// session when it keeps sending with an empty bucket.
    pub(crate) fn admit(&self, shared: &Shared) -> bool {
        let limit = shared.config.rate_limit;
        let mut state = self.state.lock();
        let now = Instant::now();
        let refill = now.duration_since(state.refilled).as_secs_f64() * limit.per_second;
        state.tokens = (state.tokens + refill).min(f64::from(limit.burst));
        state.refilled = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            state.dropped_in_a_row = 0;
            return true;
        }
        state.dropped_in_a_row += 1;
        let close = state.dropped_in_a_row > limit.burst;
        drop(state);
        shared
            .hub
            .count_bad_input(crate::metrics::BadInputKind::RateLimited);
        if close {
            self.end(Ending::RateLimited);
        }
        false
    }
}
