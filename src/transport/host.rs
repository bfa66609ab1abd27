//! The host-callback transport: the host owns the sockets (its own Socket.IO server, in
//! Node or Python), the hub owns identities, routing and encoding.
//!
//! The host attaches each of its sockets with [`Hub::attach_host`](crate::Hub::attach_host)
//! and passes what the socket receives to the returned [`Connection`]; the hub hands every
//! event to the host's [`HostSink`] **once**, with the list of recipient connections and
//! the already-encoded frame, so the host never re-serializes per recipient.
//!
//! Invariants:
//! - **One call per event**: a broadcast to many host connections is one
//!   [`HostSink::frame`] call with every recipient id, sharing one encoded frame
//!   (`tests/host_transport.rs::one_frame_call_per_event_with_every_recipient`).
//! - **On the emitting thread**: `frame` runs on the thread that made the emit call (or
//!   passed the inbound message a reply answers), under the emit lock, so a
//!   single-threaded host (Node's event loop) never waits on itself and frames reach it
//!   in the hub's one order. The one exception is the device grace timer, which emits
//!   `module_offline` from its own thread.
//! - **Isolation is the registry's**: a host connection is resolved exactly like a socket
//!   of the built-in server (`tests/host_transport.rs::host_connections_keep_isolation`).
//!
//! This module must not route, decide change, or hold a socket.

use std::sync::Arc;

use crate::protocol::OutboundEvent;
use crate::transport::queue::{CloseReason, ConnectionId, Wake};

#[allow(unused_imports)] // doc links
use crate::transport::Connection;

/// Where the hub delivers the frames of host-owned connections. Installed with
/// [`HubBuilder::host_sink`](crate::HubBuilder::host_sink).
pub trait HostSink: Send + Sync + 'static {
    /// One event for `recipients` (host connections only; never empty). Runs on the
    /// thread that made the emit call, or, for replies (`auth:success`,
    /// `page:snapshot`…), on the thread that passed the inbound message; the emit lock is
    /// held, so an `emit_*` from here returns [`HubError::Reentrant`](crate::HubError).
    /// [`OutboundEvent::socketio_packet`] is the Socket.IO packet to write to each
    /// recipient's socket.
    fn frame(&self, recipients: &[ConnectionId], event: &Arc<OutboundEvent>);

    /// The hub closed a host connection (its session logged out, too many failed
    /// authentications, shutdown): the host should disconnect that socket. Every frame
    /// meant for it before the close was already passed to [`HostSink::frame`]. Runs on
    /// the thread that caused the close. Not called when the host detached the
    /// connection itself (dropped its [`Connection`]).
    fn close(&self, connection: ConnectionId, reason: &CloseReason);
}

/// Tells the host sink when the hub closes one of its connections; a host queue holds
/// no frames, so there is nothing else to wake.
pub(crate) struct HostWaker {
    pub(crate) id: ConnectionId,
    pub(crate) sink: Arc<dyn HostSink>,
}

impl Wake for HostWaker {
    fn wake(&self) {}

    fn closed(&self, reason: &CloseReason) {
        if *reason != CloseReason::Detached {
            self.sink.close(self.id, reason);
        }
    }
}
