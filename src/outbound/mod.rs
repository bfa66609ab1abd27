//! The outbound side of every connection, shared by the emit path and every transport:
//! the encode-once [`OutboundEvent`], the bounded per-connection [`OutboundQueue`]
//! (conflation, the slow-consumer bound, parking), the [`Wake`] a transport is told
//! through, and the [`CloseReason`] it is told of.
//!
//! This is core vocabulary: it depends on ids, metrics and the pure codecs only, never
//! on the hub, the registry or a transport. Its invariants are written, with the tests
//! that guard them, in `queue.rs` and `event.rs`.

mod close;
mod event;
mod queue;

pub use close::{CloseReason, Wake};
pub use event::OutboundEvent;
pub(crate) use queue::Pushed;
pub use queue::{Drained, OutboundQueue};
