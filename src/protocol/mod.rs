//! Wire codecs: pure functions from bytes to typed packets and back, with no I/O, so
//! unit tests, criterion and cargo-fuzz can drive them directly (every decoder here is a
//! fuzz target).
//!
//! Owns the framings ([`WireFormat`]) and their encoders and decoders. This module must
//! not hold state, count, or know who receives an event: the shared, encode-once form of
//! an event is [`crate::outbound::OutboundEvent`], which calls the encoders here.
//! Guarded by the unit tests of each codec and the fuzz targets in `fuzz/`.

pub mod binary;
pub mod engineio;
pub mod native;
pub mod socketio;

/// The framing a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// The native JSON protocol: `{"event":"…","data":…}` text frames.
    Native,
    /// A Socket.IO v5 `EVENT` packet inside an Engine.IO v4 `message`: `42["…",…]`.
    SocketIo,
}
