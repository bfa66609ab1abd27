//! The native JSON protocol for devices and languages without a Socket.IO client.
//!
//! Every frame is one UTF-8 JSON object `{"event": "<name>", "data": <any JSON>}`;
//! `data` may be omitted (it is then `null`). Frames larger than the hub's
//! `max_message_bytes` (64 KiB by default), invalid UTF-8, invalid JSON, a non-object
//! frame, a missing or non-string `event`, or an empty `event` are refused with a typed
//! [`FrameError`]. This module must not interpret event names.

use serde::Deserialize;
use serde_json::Value;

/// Why an inbound frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame is larger than allowed.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame is not valid UTF-8.
    #[error("frame is not valid UTF-8 (first bad byte at {0})")]
    InvalidUtf8(usize),
    /// The frame is not valid JSON.
    #[error("frame is not valid JSON: {0}")]
    InvalidJson(String),
    /// The frame is JSON but not of the expected shape.
    #[error("frame has the wrong shape: {0}")]
    WrongShape(String),
}

impl FrameError {
    /// A stable name for metrics and error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::InvalidUtf8(_) => "invalid_utf8",
            Self::InvalidJson(_) => "invalid_json",
            Self::WrongShape(_) => "wrong_shape",
        }
    }
}

/// A decoded inbound frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// The event name.
    pub event: String,
    /// Its data (`null` when absent).
    pub data: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    event: Value,
    #[serde(default)]
    data: Value,
}

/// Decodes one inbound frame, refusing anything over `max_len` bytes.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<ClientFrame, FrameError> {
    if bytes.len() > max_len {
        return Err(FrameError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let text =
        std::str::from_utf8(bytes).map_err(|error| FrameError::InvalidUtf8(error.valid_up_to()))?;
    let value: Value =
        serde_json::from_str(text).map_err(|error| FrameError::InvalidJson(error.to_string()))?;
    if !value.is_object() {
        return Err(FrameError::WrongShape(format!(
            "expected an object, got {}",
            crate::ids::json_type(&value)
        )));
    }
    let wire: Wire =
        serde_json::from_value(value).map_err(|error| FrameError::WrongShape(error.to_string()))?;
    match wire.event {
        Value::String(event) if !event.is_empty() => Ok(ClientFrame {
            event,
            data: wire.data,
        }),
        Value::String(_) => Err(FrameError::WrongShape("event is empty".into())),
        other => Err(FrameError::WrongShape(format!(
            "event must be a string, got {}",
            crate::ids::json_type(&other)
        ))),
    }
}

/// Encodes a server → client frame.
pub fn encode_event(name: &str, payload: &Value) -> String {
    encode_event_at(name, payload, None)
}

/// Encodes a server → client frame carrying the event's offset when connection-state
/// recovery is on: `{"event":"…","data":…,"offset":17}` (a client resumes from the
/// last offset it saw).
pub fn encode_event_at(name: &str, payload: &Value, offset: Option<u64>) -> String {
    encode_event_with_attachments(name, payload, offset, &[])
}

/// The native protocol is text only: an event with binary values keeps Socket.IO's
/// placeholders in `data` and carries the values, base64 (standard alphabet, padded),
/// in `attachments`: `{"event","data":{"img":{"_placeholder":true,"num":0}},
/// "attachments":["AQID"]}`.
pub fn encode_event_with_attachments(
    name: &str,
    payload: &Value,
    offset: Option<u64>,
    attachments: &[bytes::Bytes],
) -> String {
    use base64::Engine as _;
    #[derive(serde::Serialize)]
    struct Out<'a> {
        event: &'a str,
        data: &'a Value,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    }
    let attachments = attachments
        .iter()
        .map(|a| base64::engine::general_purpose::STANDARD.encode(a))
        .collect();
    // Serializing strings, a Value and a number cannot fail.
    serde_json::to_string(&Out {
        event: name,
        data: payload,
        attachments,
        offset,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let bytes = encode_event("a:b", &json!({"x": 1}));
        let frame = decode(bytes.as_bytes(), 1024).unwrap();
        assert_eq!(frame.event, "a:b");
        assert_eq!(frame.data, json!({"x": 1}));
    }

    #[test]
    fn bad_frames_get_typed_errors() {
        assert_eq!(decode(b"{}", 1).unwrap_err().kind(), "too_large");
        assert_eq!(decode(b"\xff\xfe", 10).unwrap_err().kind(), "invalid_utf8");
        assert_eq!(decode(b"{", 10).unwrap_err().kind(), "invalid_json");
        assert_eq!(decode(b"[1]", 10).unwrap_err().kind(), "wrong_shape");
        assert_eq!(
            decode(br#"{"event":1}"#, 100).unwrap_err().kind(),
            "wrong_shape"
        );
        assert_eq!(
            decode(br#"{"event":""}"#, 100).unwrap_err().kind(),
            "wrong_shape"
        );
        assert_eq!(
            decode(br#"{"data":1}"#, 100).unwrap_err().kind(),
            "wrong_shape"
        );
        assert_eq!(
            decode(br#"{"event":"a","extra":1}"#, 100)
                .unwrap_err()
                .kind(),
            "wrong_shape"
        );
    }

    #[test]
    fn offset_is_a_trailing_field_only_when_given() {
        assert_eq!(
            encode_event_at("a", &json!(1), Some(17)),
            r#"{"event":"a","data":1,"offset":17}"#
        );
        assert_eq!(
            encode_event_at("a", &json!(1), None),
            r#"{"event":"a","data":1}"#
        );
    }

    #[test]
    fn data_defaults_to_null() {
        assert_eq!(decode(br#"{"event":"a"}"#, 100).unwrap().data, Value::Null);
    }
}
