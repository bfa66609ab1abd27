//! [`OutboundEvent`]: an event as it sits in connection queues, shared by every
//! recipient and encoded lazily. **Encode once**: an event is serialized at most once
//! per [`WireFormat`], on first demand, and every recipient gets the same [`Bytes`]; the
//! per-hub counter `Metrics::frames_encoded` counts each real serialization. Guarded by
//! `tests/hub/encode_once.rs`. This module must not know who receives an event.
//!
//! The encoded text is a tungstenite `Utf8Bytes` on purpose: the websocket transport
//! hands it to its socket without copying or re-checking UTF-8.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::ids::ModuleId;
use crate::metrics::Metrics;
use crate::protocol::{WireFormat, native, socketio};

/// Encodes an event (name, payload, offset, history mark, attachments) in one wire
/// format.
type Encoder = fn(&str, &Value, Option<u64>, Option<u64>, &[Bytes]) -> String;

/// The Socket.IO frame: `42[…]`, or `45<n>-[…]` when the event has attachments. With a
/// history mark the offset reads `"<offset>.<mark>"` (the client hands it back as is).
fn encode_socketio(
    name: &str,
    payload: &Value,
    offset: Option<u64>,
    mark: Option<u64>,
    attachments: &[Bytes],
) -> String {
    let offset = offset.map(|offset| match mark {
        Some(mark) => format!("{offset}.{mark}"),
        None => offset.to_string(),
    });
    if attachments.is_empty() {
        socketio::encode_event_with_offset(name, payload, offset.as_deref())
    } else {
        socketio::encode_binary_event_with_offset(
            name,
            payload,
            offset.as_deref(),
            attachments.len(),
        )
    }
}

/// The native frame (native clients recover on their own node: no history mark).
fn encode_native(
    name: &str,
    payload: &Value,
    offset: Option<u64>,
    _mark: Option<u64>,
    attachments: &[Bytes],
) -> String {
    native::encode_event_with_attachments(name, payload, offset, attachments)
}

/// An event as it sits in connection queues: shared by every recipient through an
/// `Arc`, encoded at most once per wire format.
pub struct OutboundEvent {
    name: Arc<str>,
    payload: Value,
    conflation_key: Option<ModuleId>,
    /// The event's place in the hub's one global order, when connection-state recovery
    /// is on: part of the event, so every recipient still shares the same bytes.
    offset: Option<u64>,
    /// The last history position the emitting node had applied when it queued this
    /// event (event history on): with the offset, what a client saw, for a node that
    /// recovers it from the history after its holder died (`hub/handoff/history.rs`).
    mark: Option<u64>,
    /// Binary values the payload's placeholders stand for (shared, never copied per
    /// recipient).
    attachments: Vec<Bytes>,
    native: OnceLock<Utf8Bytes>,
    socketio: OnceLock<Utf8Bytes>,
    metrics: Arc<Metrics>,
    /// When the emit made it: the start of its delivery latency.
    created: Instant,
}

impl std::fmt::Debug for OutboundEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundEvent")
            .field("name", &self.name)
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

impl OutboundEvent {
    pub(crate) fn new(
        name: Arc<str>,
        payload: Value,
        conflation_key: Option<ModuleId>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Self::with_offset(
            name,
            payload,
            conflation_key,
            (None, None),
            Vec::new(),
            metrics,
        )
    }

    pub(crate) fn with_offset(
        name: Arc<str>,
        payload: Value,
        conflation_key: Option<ModuleId>,
        (offset, mark): (Option<u64>, Option<u64>),
        attachments: Vec<Bytes>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            payload,
            conflation_key,
            offset,
            mark,
            attachments,
            native: OnceLock::new(),
            socketio: OnceLock::new(),
            metrics,
            created: Instant::now(),
        })
    }

    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload every recipient receives.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The binary values the payload's placeholders stand for (empty for JSON events).
    /// A Socket.IO transport writes them, in order, as binary messages after the
    /// [`WireFormat::SocketIo`] frame (a `45<n>-…` packet); the native frame carries them
    /// as base64.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The event's offset (connection-state recovery on), `None` for replies that only
    /// one connection gets (`auth:*`, `page:snapshot`) or when recovery is off.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The module whose older queued telemetry this frame replaces, if any.
    pub fn conflation_key(&self) -> Option<&ModuleId> {
        self.conflation_key.as_ref()
    }

    /// Records, in the hub's delivery-latency histogram, how long this frame waited
    /// since its emit. A transport calls it for the oldest frame of each batch it
    /// drains (one observation per wake-up, not per frame).
    pub fn record_delivery(&self) {
        self.metrics
            .delivery_latency
            .observe(self.created.elapsed());
    }

    /// The encoded frame for `format`; the first call per format serializes, later calls
    /// (from any recipient, any thread) return the same bytes.
    pub fn encoded(&self, format: WireFormat) -> &Bytes {
        self.encoded_text(format).as_ref()
    }

    /// The Socket.IO packet alone, `2["name",data]`: the Engine.IO frame of
    /// [`WireFormat::SocketIo`] without its leading message type `4`, for a host whose own
    /// Engine.IO layer adds it (`socket.conn.write` in Node, `eio.send` in Python). The
    /// same encode-once bytes, not a copy.
    pub fn socketio_packet(&self) -> &str {
        let frame: &str = self.encoded_text(WireFormat::SocketIo).as_str();
        // The frame always starts with the ASCII Engine.IO message type.
        frame.get(1..).unwrap_or_default()
    }

    /// The encoded frame as websocket text: the same shared bytes as [`Self::encoded`],
    /// already known to be UTF-8, so handing it to a socket copies and checks nothing.
    pub fn encoded_text(&self, format: WireFormat) -> &Utf8Bytes {
        let (cell, encode): (_, Encoder) = match format {
            WireFormat::Native => (&self.native, encode_native),
            WireFormat::SocketIo => (&self.socketio, encode_socketio),
        };
        cell.get_or_init(|| {
            self.metrics.frames_encoded.increment();
            Utf8Bytes::from(encode(
                &self.name,
                &self.payload,
                self.offset,
                self.mark,
                &self.attachments,
            ))
        })
    }
}
