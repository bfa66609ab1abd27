//! Transports: how connections reach the hub.
//!
//! A transport owns sockets (or channels); the hub owns identities, routing and queues.
//! The contract between them is three calls and one queue:
//! [`Hub::attach`](crate::Hub::attach) gives a [`Connection`] whose
//! `OutboundQueue` the transport drains whenever its
//! `Wake` fires (or, for a socket the host owns, gets its frames through the host's
//! [`host::HostSink`], once per event with every recipient: the host-callback transport
//! used by the Node and Python bindings); inbound messages go through
//! [`Connection::receive`] (raw native frames) or [`Connection::on_message`] (already
//! decoded events); dropping the `Connection` detaches it. A custom transport implements
//! [`Transport`] so the hub can start and stop it.
//!
//! This module and its children must never hold a library lock while writing to a
//! socket: `OutboundQueue::drain` hands the frames over and releases its lock first.

pub mod host;
pub mod in_process;
pub mod queue;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::hub::{Hub, InboundError, Reply};
use queue::{ConnectionId, OutboundQueue};

/// A pluggable transport the hub starts and stops.
pub trait Transport: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// Begins accepting connections; the transport keeps `hub` to attach them.
    fn start(&self, hub: Hub) -> Result<(), String>;
    /// Stops accepting, flushes queues within `deadline`, closes connections.
    fn shutdown(&self, deadline: Duration);
}

/// One attached connection, as its transport holds it. Dropping it detaches the
/// connection from the hub.
pub struct Connection {
    hub: Hub,
    queue: Arc<OutboundQueue>,
}

impl Connection {
    pub(crate) fn new(hub: Hub, queue: Arc<OutboundQueue>) -> Self {
        Self { hub, queue }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.queue.id()
    }

    /// Its outbound queue, to drain when woken.
    pub fn queue(&self) -> &Arc<OutboundQueue> {
        &self.queue
    }

    /// Handles one raw native-protocol frame (`{"event","data"}`): size, UTF-8 and
    /// shape are checked first; bad frames are counted and refused with a typed error.
    pub fn receive(&self, bytes: &[u8]) -> Result<Reply, InboundError> {
        self.hub.receive_frame(self.id(), bytes)
    }

    /// Handles one decoded client event.
    pub fn on_message(&self, event: &str, data: &Value) -> Result<Reply, InboundError> {
        self.hub.on_client_message(self.id(), event, data)
    }

    /// Authenticates with credentials given at connect time (the Socket.IO `auth`
    /// object). A refusal is returned (the transport answers it in its own handshake,
    /// e.g. a Socket.IO CONNECT_ERROR) instead of being sent as `auth:error`.
    pub fn authenticate_at_connect(&self, auth: &Value) -> Result<Reply, InboundError> {
        self.hub.authenticate_connection(self.id(), auth, false)
    }

    /// Whether the connection is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.hub.is_authenticated(self.id())
    }

    /// The verified identity, once authenticated.
    pub(crate) fn identity(&self) -> Option<crate::auth::Identity> {
        self.hub.identity_of(self.id())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.hub.detach(self.id());
    }
}
