//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test
//! (`tests/hub/fuzz_corpora.rs`), so CI replays every checked-in input without cargo-fuzz.
//!
//! Each function feeds arbitrary bytes to one parser and checks the properties that
//! must hold for any input (no panic; what decodes re-encodes to an equal value). This
//! module must not be used by the library itself.

use serde_json::Value;

use crate::auth::AuthRequest;
use crate::protocol::{engineio, native, socketio};

/// The native-protocol frame decoder: never panics; a decoded frame re-encodes and
/// decodes to the same frame.
pub fn native_frame(data: &[u8]) {
    if let Ok(frame) = native::decode(data, 64 * 1024) {
        let bytes = native::encode_event(&frame.event, &frame.data);
        let again = native::decode(bytes.as_bytes(), usize::MAX).expect("an encoded frame decodes");
        assert_eq!(again, frame);
    }
}

/// The `client:authenticate` payload parser: never panics on any JSON value.
pub fn auth_payload(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(data)
        && let Ok(request) = AuthRequest::parse(&value)
    {
        assert_eq!(request.raw, value);
    }
}

/// The Engine.IO packet decoder and the polling payload splitter: never panic; a
/// payload decodes to as many packets as it has separators plus one.
pub fn engineio_payload(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = engineio::decode_packet(text);
    if let Ok(packets) = engineio::decode_payload(text) {
        assert_eq!(packets.len(), text.split(engineio::SEPARATOR).count());
    }
}

/// The Socket.IO packet decoder: never panics; a decoded EVENT has a name, and the ack
/// it would answer encodes to a packet that decodes as an ACK with the same id.
pub fn socketio_packet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(packet) = socketio::decode(text) {
        if packet.kind == socketio::Kind::Event {
            assert!(packet.event().is_some(), "a decoded EVENT has a name");
        }
        if let Some(id) = packet.ack_id {
            let ack = socketio::encode_ack("/", id, &Value::Null);
            let decoded = socketio::decode(&ack[1..]).expect("our ACK decodes");
            assert_eq!(decoded.ack_id, Some(id));
        }
    }
}
