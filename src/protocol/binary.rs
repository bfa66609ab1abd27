//! Socket.IO binary attachments: the placeholders of a `5`/`6` packet and the
//! reassembly of the packet with the binary messages that follow it.
//!
//! A sender replaces every binary value of its arguments with
//! `{"_placeholder":true,"num":N}`, announces the attachment count in the header
//! (`451-["name",{"_placeholder":true,"num":0}]`) and sends the attachments as the next
//! binary messages, in order. [`Reassembly`] collects them under two bounds (how many
//! attachments a packet may announce, how many bytes they may add up to) and refuses a
//! placeholder that points past the attachments. This module must not know about
//! sessions: a transport keeps at most one [`Reassembly`] per connection and drops it
//! when the connection closes (a partial packet is abandoned). Guarded by the unit
//! tests below and the `socketio_binary` fuzz target.

use bytes::Bytes;
use serde_json::Value;

use super::socketio::Packet;

/// What one binary packet may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryLimits {
    /// Most attachments one packet may announce.
    pub max_attachments: usize,
    /// Most bytes a packet's attachments may add up to.
    pub max_bytes: usize,
}

/// Why a binary packet was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The header announces more attachments than allowed.
    #[error("binary packet announces {announced} attachments, more than {max}")]
    TooManyAttachments {
        /// The count in the header.
        announced: usize,
        /// The bound.
        max: usize,
    },
    /// The attachments add up to more bytes than allowed.
    #[error("binary attachments exceed {max} bytes")]
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// A placeholder is malformed or points past the announced attachments.
    #[error("invalid binary placeholder: {0}")]
    Placeholder(&'static str),
    /// A binary message arrived with no binary packet waiting for it, or a text packet
    /// arrived while attachments were still expected.
    #[error("binary message out of sequence")]
    OutOfSequence,
}

/// A binary packet waiting for its attachments.
#[derive(Debug)]
pub struct Reassembly {
    packet: Packet,
    attachments: Vec<Bytes>,
    bytes: usize,
    max_bytes: usize,
}

impl Reassembly {
    /// Starts collecting the attachments `packet` announces, after checking its
    /// placeholders against them.
    pub fn start(packet: Packet, limits: BinaryLimits) -> Result<Self, BinaryError> {
        if packet.attachments > limits.max_attachments {
            return Err(BinaryError::TooManyAttachments {
                announced: packet.attachments,
                max: limits.max_attachments,
            });
        }
        if let Some(data) = &packet.data {
            check_placeholders(data, packet.attachments)?;
        }
        Ok(Self {
            attachments: Vec::with_capacity(packet.attachments),
            packet,
            bytes: 0,
            max_bytes: limits.max_bytes,
        })
    }

    /// Whether every announced attachment has arrived.
    pub fn is_complete(&self) -> bool {
        self.attachments.len() == self.packet.attachments
    }

    /// Adds the next attachment; `Ok(true)` once the packet is complete.
    pub fn push(&mut self, data: Bytes) -> Result<bool, BinaryError> {
        if self.is_complete() {
            return Err(BinaryError::OutOfSequence);
        }
        self.bytes = self.bytes.saturating_add(data.len());
        if self.bytes > self.max_bytes {
            return Err(BinaryError::TooLarge {
                max: self.max_bytes,
            });
        }
        self.attachments.push(data);
        Ok(self.is_complete())
    }

    /// The packet and its attachments, in placeholder order.
    pub fn finish(self) -> (Packet, Vec<Bytes>) {
        (self.packet, self.attachments)
    }
}

/// The attachment index a value stands for, if it is a placeholder.
pub fn placeholder_index(value: &Value) -> Option<usize> {
    let object = value.as_object()?;
    if object.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    object
        .get("num")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

/// Refuses placeholders that are malformed or point at or past `count`. JSON nesting is
/// bounded by the parser (128 levels), which bounds this walk's depth too.
pub fn check_placeholders(value: &Value, count: usize) -> Result<(), BinaryError> {
    match value {
        Value::Object(object) if object.get("_placeholder") == Some(&Value::Bool(true)) => {
            match placeholder_index(value) {
                Some(index) if index < count => Ok(()),
                Some(_) => Err(BinaryError::Placeholder("index past the attachments")),
                None => Err(BinaryError::Placeholder("num is not an index")),
            }
        }
        Value::Object(object) => object
            .values()
            .try_for_each(|v| check_placeholders(v, count)),
        Value::Array(items) => items.iter().try_for_each(|v| check_placeholders(v, count)),
        _ => Ok(()),
    }
}

/// Counts the placeholders in `value` (what a sender announces as attachments).
pub fn count_placeholders(value: &Value) -> usize {
    match value {
        Value::Object(_) if placeholder_index(value).is_some() => 1,
        Value::Object(object) => object.values().map(count_placeholders).sum(),
        Value::Array(items) => items.iter().map(count_placeholders).sum(),
        _ => 0,
    }
}

/// The JSON value for attachment `num`: `{"_placeholder":true,"num":num}`.
pub fn placeholder(num: usize) -> Value {
    serde_json::json!({ "_placeholder": true, "num": num })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::socketio::decode;

    const LIMITS: BinaryLimits = BinaryLimits {
        max_attachments: 2,
        max_bytes: 8,
    };

    #[test]
    fn attachments_complete_the_packet_in_order() {
        let packet =
            decode(r#"52-["m",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]"#)
                .unwrap();
        let mut partial = Reassembly::start(packet, LIMITS).unwrap();
        assert!(!partial.is_complete());
        assert_eq!(partial.push(Bytes::from_static(&[1, 2, 3])), Ok(false));
        assert_eq!(partial.push(Bytes::from_static(&[4])), Ok(true));
        let (packet, attachments) = partial.finish();
        assert_eq!(packet.attachments, 2);
        assert_eq!(
            attachments,
            vec![Bytes::from_static(&[1, 2, 3]), Bytes::from_static(&[4])]
        );
    }

    #[test]
    fn bounds_and_placeholders_are_enforced() {
        let many = decode(r#"53-["m"]"#).unwrap();
        assert_eq!(
            Reassembly::start(many, LIMITS).unwrap_err(),
            BinaryError::TooManyAttachments {
                announced: 3,
                max: 2
            }
        );
        let past = decode(r#"51-["m",{"_placeholder":true,"num":1}]"#).unwrap();
        assert!(matches!(
            Reassembly::start(past, LIMITS),
            Err(BinaryError::Placeholder(_))
        ));
        let bad = decode(r#"51-["m",{"_placeholder":true,"num":"0"}]"#).unwrap();
        assert!(matches!(
            Reassembly::start(bad, LIMITS),
            Err(BinaryError::Placeholder(_))
        ));
        let big = decode(r#"52-["m"]"#).unwrap();
        let mut partial = Reassembly::start(big, LIMITS).unwrap();
        assert_eq!(partial.push(Bytes::from_static(&[0; 5])), Ok(false));
        assert_eq!(
            partial.push(Bytes::from_static(&[0; 4])),
            Err(BinaryError::TooLarge { max: 8 })
        );
    }

    #[test]
    fn placeholders_are_found_anywhere() {
        let value = serde_json::json!([1, {"a": [placeholder(0)]}, placeholder(1), {"_placeholder": false}]);
        assert_eq!(count_placeholders(&value), 2);
        assert_eq!(placeholder_index(&placeholder(7)), Some(7));
        assert_eq!(check_placeholders(&value, 2), Ok(()));
        assert!(check_placeholders(&value, 1).is_err());
    }
}
