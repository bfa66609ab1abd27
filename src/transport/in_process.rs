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
use crossbeam_channel::{Receiver, Sender, bounded};
use serde_json::Value;

use crate::hub::{InboundError, Reply};
use crate::protocol::{OutboundEvent, WireFormat};
use crate::transport::Connection;
use crate::transport::queue::{CloseReason, ConnectionId, Wake};

/// Wakes the reader through a one-slot channel: a full slot already means "look again".
pub(crate) struct ChannelWake(pub(crate) Sender<()>);

impl Wake for ChannelWake {
    fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

pub(crate) fn wake_pair() -> (ChannelWake, Receiver<()>) {
    let (sender, receiver) = bounded(1);
    (ChannelWake(sender), receiver)
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
    wake: Receiver<()>,
    buffer: VecDeque<Received>,
    closed: bool,
}

impl InProcessConnection {
    pub(crate) fn new(connection: Connection, wake: Receiver<()>) -> Self {
        Self {
            connection,
            wake,
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
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(received) = self.try_recv() {
                return Some(received);
            }
            if self.closed {
                return None;
            }
            if self.wake.recv_deadline(deadline).is_err() {
                return self.try_recv();
            }
        }
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
