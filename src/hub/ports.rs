//! The ports the hub offers its transports, owned by the core so that every adapter in
//! `transport/` depends on the hub and never the other way: [`Transport`] (a transport
//! the hub starts and stops), [`Connection`] (one attached connection, as its transport
//! holds it) and [`HostSink`] (where the frames of host-owned sockets go; defined with
//! its delivery contract in `outbound/host.rs`, re-exported here).
//!
//! The contract: [`Hub::attach`] gives a [`Connection`] whose
//! [`OutboundQueue`] the transport drains whenever its [`Wake`](crate::Wake) fires;
//! inbound messages go through [`Connection::receive`] (raw native frames) or
//! [`Connection::on_message`] (decoded events); dropping the `Connection` detaches it.
//! A host that owns its sockets gets their frames through its [`HostSink`], once per
//! event with every recipient. This module must not hold a library lock while a
//! transport writes: [`OutboundQueue::drain`] hands the frames over and releases its
//! lock first. Guarded by `tests/hub/queue_policy.rs` and `tests/hub/host_transport.rs`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Hub, InboundError, Reply};
use crate::auth::Identity;
use crate::ids::ConnectionId;
pub use crate::outbound::HostSink;
use crate::outbound::OutboundQueue;

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

    /// Handles one decoded client event with binary values (a Socket.IO binary event:
    /// `data` keeps its placeholders, `attachments` are the values, in order). They
    /// reach the client-event hook as [`ClientEvent::attachments`](crate::hooks::ClientEvent).
    pub fn on_message_with(
        &self,
        event: &str,
        data: &Value,
        attachments: Vec<bytes::Bytes>,
    ) -> Result<Reply, InboundError> {
        self.hub
            .on_client_message_with(self.id(), event, data, attachments)
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
    pub(crate) fn identity(&self) -> Option<Identity> {
        self.hub.identity_of(self.id())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.hub.detach(self.id());
    }
}
