//! The outbound side of every connection, shared by the emit path and every transport:
//! the encode-once [`OutboundEvent`], the bounded per-connection [`OutboundQueue`]
//! (conflation, the slow-consumer bound, parking), the [`Wake`] a transport is told
//! through, the [`CloseReason`] it is told of, and the [`HostSink`] port with the one
//! delivery contract for sockets a host owns (`host.rs`).
//!
//! This is core vocabulary: it depends on ids, metrics and the pure codecs only, never
//! on the hub, the registry or a transport. Its invariants are written, with the tests
//! that guard them, in `queue.rs` and `event.rs`.

mod close;
mod event;
mod host;
mod queue;

pub use close::{CloseReason, Wake};
pub use event::OutboundEvent;
pub(crate) use host::{HostDelivery, spawn_library_thread};
pub use host::{HostSink, mark_library_thread, on_library_thread};
pub use queue::{Drained, OutboundQueue};
pub(crate) use queue::{Pushed, QueueBounds};
