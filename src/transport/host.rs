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
//!   (`tests/hub/host_transport.rs::one_frame_call_per_event_with_every_recipient`).
//! - **On the host's thread, or the delivery thread**: `frame` runs on the host thread
//!   that made the emit call (or passed the inbound message a reply answers), under the
//!   emit lock, so a single-threaded host (Node's event loop) never waits on itself;
//!   frames caused on library threads (device grace timer, served devices, the broker)
//!   come from the hub's one delivery thread with no lock held, in the hub's one order
//!   (`crate::outbound::HostSink`;
//!   `tests/hub/host_transport.rs::frames_from_a_library_thread_come_from_the_delivery_thread_without_the_emit_lock`).
//! - **Isolation is the registry's**: a host connection is resolved exactly like a socket
//!   of the built-in server (`tests/hub/host_transport.rs::host_connections_keep_isolation`).
//!
//! This module must not route, decide change, or hold a socket.

use std::sync::Arc;

use crate::auth::HandshakeContext;
pub use crate::hub::ports::{Connection, HostSink};
use crate::hub::{Hub, HubError};
use crate::ids::ConnectionId;
use crate::outbound::{CloseReason, Wake};

impl Hub {
    /// Attaches a socket the host owns (this host-callback transport): the host passes
    /// what it receives to the returned [`Connection`] and gets its frames through the
    /// sink installed with [`HubBuilder::host_sink`](crate::HubBuilder::host_sink);
    /// dropping the `Connection` detaches it. [`HubError::NoHostSink`] without a sink.
    pub fn attach_host(&self, context: HandshakeContext) -> Result<Connection, HubError> {
        self.attach_host_queue(context, |id, sink| Box::new(HostWaker { id, sink }))
    }
}

/// Tells the host sink when the hub closes one of its connections; a host queue holds
/// no frames, so there is nothing else to wake.
struct HostWaker {
    id: ConnectionId,
    sink: Arc<dyn HostSink>,
}

impl Wake for HostWaker {
    fn wake(&self) {}

    fn closed(&self, reason: &CloseReason) {
        if *reason != CloseReason::Detached {
            self.sink.close(self.id, reason);
        }
    }
}
