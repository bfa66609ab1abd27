//! What a queue may hold before its reader counts as slow ([`QueueBounds`]) and what a
//! frame costs against the byte bound ([`frame_cost`]). The rule itself (a budget in
//! the queue's hot line, reset by drains) lives in `queue/mod.rs`; this module must not
//! touch a queue. Guarded by `outbound::queue::tests::the_byte_bound_counts_what_waits`.

use bytes::Bytes;

use super::super::OutboundEvent;
use crate::protocol::WireFormat;

/// How much a queue may hold before its reader counts as slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueBounds {
    /// Frames (any queue).
    pub(crate) frames: usize,
    /// Bytes of encoded frames (queues read by a transport).
    pub(crate) bytes: usize,
}

/// What a queued frame costs against the byte bound: its encoded bytes in `format`, its
/// binary attachments, and the queue slot that points to it. Encoding here (once per
/// event and format, shared by every recipient) only moves the encode the transport's
/// drain would do to the emitting thread.
pub(super) fn frame_cost(frame: &OutboundEvent, format: WireFormat) -> u32 {
    let attachments: usize = frame.attachments().iter().map(Bytes::len).sum();
    let bytes = frame.encoded(format).len() + attachments + std::mem::size_of::<usize>();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}
