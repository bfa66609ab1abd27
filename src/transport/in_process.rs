//! The in-process transport: a connection with no socket, for Rust embedders and tests.
//!
//! `hub.connect_in_process()` returns an [`InProcessConnection`]: send client messages
//! with [`InProcessConnection::send`] (or raw native frames with `send_raw`) and read
//! what the hub sends with [`InProcessConnection::recv_timeout`]. Frames are the shared
//! [`OutboundEvent`]s themselves, so a test can check that two recipients got the very
//! same bytes. This module must not route or decide anything.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use crate::auth::HandshakeContext;
use crate::hub::{Hub, InboundError, Reply};
use crate::ids::ConnectionId;
use crate::outbound::OutboundEvent;
use crate::outbound::{CloseReason, Drained};
use crate::protocol::WireFormat;
use crate::transport::Connection;

impl Hub {
    /// Opens an in-process connection (no socket), for Rust embedders and tests.
    pub fn connect_in_process(&self) -> InProcessConnection {
        self.connect_in_process_with(HandshakeContext::default())
    }

    /// Opens an in-process connection with a given handshake context (headers,
    /// cookies, address) for authenticators that read it.
    pub fn connect_in_process_with(&self, context: HandshakeContext) -> InProcessConnection {
        InProcessConnection::new(self.attach_local(context))
    }
}

/// Something the hub sent to an in-process connection.
#[derive(Debug, Clone)]
pub enum Received {
    /// An event frame.
    Frame(Arc<OutboundEvent>),
    /// The hub closed the connection; nothing follows.
    Closed(CloseReason),
}

impl Received {
    /// The frame, if this is one.
    pub fn frame(&self) -> Option<&Arc<OutboundEvent>> {
        match self {
            Self::Frame(frame) => Some(frame),
            Self::Closed(_) => None,
        }
    }
}

/// A connection to the hub from the same process.
pub struct InProcessConnection {
    connection: Connection,
    buffer: VecDeque<Received>,
    closed: bool,
}

impl InProcessConnection {
    /// `connection`'s queue must be a local one (`OutboundQueue::new_local`): this
    /// reader waits on the queue's own condition variable.
    pub(crate) fn new(connection: Connection) -> Self {
        Self {
            connection,
            buffer: VecDeque::new(),
            closed: false,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.connection.id()
    }

    /// Sends a client event (`client:authenticate`, `client:page`, or any host event).
    pub fn send(&self, event: &str, data: Value) -> Result<Reply, InboundError> {
        self.connection.on_message(event, &data)
    }

    /// Sends a raw native-protocol frame, as a device or a test of bad input would.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<Reply, InboundError> {
        self.connection.receive(bytes)
    }

    /// Sends `client:authenticate` with `payload`.
    pub fn authenticate(&self, payload: Value) -> Result<Reply, InboundError> {
        self.send(crate::event::CLIENT_AUTHENTICATE, payload)
    }

    fn fill(&mut self) {
        if self.closed {
            return;
        }
        let drained = self.connection.queue().drain();
        self.take(drained);
    }

    fn take(&mut self, drained: Drained) {
        self.buffer
            .extend(drained.frames.into_iter().map(Received::Frame));
        if let Some(reason) = drained.closed {
            self.closed = true;
            self.buffer.push_back(Received::Closed(reason));
        }
    }

    /// The next frame if one is already queued.
    pub fn try_recv(&mut self) -> Option<Received> {
        if self.buffer.is_empty() {
            self.fill();
        }
        self.buffer.pop_front()
    }

    /// Waits up to `timeout` for the next frame or close.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Received> {
        if let Some(received) = self.try_recv() {
            return Some(received);
        }
        if self.closed || timeout.is_zero() {
            return None;
        }
        let deadline = Instant::now().checked_add(timeout);
        let drained = self.connection.queue().wait_until(deadline);
        self.take(drained);
        self.buffer.pop_front()
    }

    /// Everything queued right now (frames and a close), without waiting.
    pub fn drain_now(&mut self) -> Vec<Received> {
        self.fill();
        self.buffer.drain(..).collect()
    }

    /// The native-protocol bytes of a frame, as a socket would carry them.
    pub fn encoded(frame: &OutboundEvent) -> &Bytes {
        frame.encoded(WireFormat::Native)
    }
}
