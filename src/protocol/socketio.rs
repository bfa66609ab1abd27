//! Socket.IO v5 packets inside Engine.IO v4 messages (the encoder side used by the core;
//! the transport issue adds the decoder and the Engine.IO framing).
//!
//! An event to the default namespace is the Engine.IO `message` type `4` followed by the
//! Socket.IO `EVENT` type `2` and the JSON array `[name, data]`: `42["name",{…}]`. This
//! module must not know about connections.

use bytes::Bytes;
use serde_json::Value;

/// Encodes an `EVENT` packet for the default namespace, ready to be a websocket text
/// frame or a polling payload element.
pub fn encode_event(name: &str, payload: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"42");
    // Serializing a tuple of a str and a Value cannot fail; an empty frame would be
    // refused by every client, which a test would show.
    serde_json::to_writer(&mut out, &(name, payload)).unwrap_or_default();
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_packet_is_engine_message_then_socket_event() {
        let bytes = encode_event("module:status:changed", &json!({"online": true}));
        assert_eq!(
            &bytes[..],
            br#"42["module:status:changed",{"online":true}]"#
        );
    }
}
