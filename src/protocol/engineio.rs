//! Engine.IO v4 packets and HTTP long-polling payloads: pure decoding and encoding.
//!
//! A packet is one type character followed by its data: `0` open (server → client, a
//! JSON handshake), `1` close, `2` ping, `3` pong (`2probe`/`3probe` during an upgrade),
//! `4` message, `5` upgrade, `6` noop. Binary messages travel as websocket binary
//! frames, or over polling as `b` followed by base64. A polling payload is packets
//! joined by the record separator `\x1e`. This module must not know about sessions.

use base64::Engine as _;
use serde::Serialize;

/// The record separator between packets of a polling payload.
pub const SEPARATOR: char = '\x1e';

/// A packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `1`: the client closes the session.
    Close,
    /// `2` with optional data (`probe` during an upgrade).
    Ping(&'a str),
    /// `3` with optional data (`probe` during an upgrade).
    Pong(&'a str),
    /// `4`: a text message (a Socket.IO packet for Socket.IO clients).
    Message(&'a str),
    /// `5`: the client completes a transport upgrade.
    Upgrade,
    /// `6`: nothing.
    Noop,
    /// `b…` over polling: a base64-encoded binary message, decoded.
    Binary(Vec<u8>),
}

/// Why a packet or payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// An empty packet.
    #[error("empty Engine.IO packet")]
    Empty,
    /// A type character that is not a packet type.
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownType(char),
    /// A packet a client may not send (`0` open).
    #[error("Engine.IO packet type {0:?} is not allowed from a client")]
    NotFromClient(char),
    /// A `b` packet with invalid base64.
    #[error("invalid base64 in a binary packet")]
    InvalidBase64,
}

/// Decodes one text packet.
pub fn decode_packet(text: &str) -> Result<Packet<'_>, PacketError> {
    let mut chars = text.chars();
    let kind = chars.next().ok_or(PacketError::Empty)?;
    let data = &text[kind.len_utf8()..];
    match kind {
        '1' => Ok(Packet::Close),
        '2' => Ok(Packet::Ping(data)),
        '3' => Ok(Packet::Pong(data)),
        '4' => Ok(Packet::Message(data)),
        '5' => Ok(Packet::Upgrade),
        '6' => Ok(Packet::Noop),
        'b' => base64::engine::general_purpose::STANDARD
            .decode(data)
            .map(Packet::Binary)
            .map_err(|_| PacketError::InvalidBase64),
        '0' => Err(PacketError::NotFromClient(kind)),
        other => Err(PacketError::UnknownType(other)),
    }
}

/// Decodes a polling payload into its packets, refusing the whole payload on the first
/// bad packet (the session is then closed, as the protocol requires).
pub fn decode_payload(body: &str) -> Result<Vec<Packet<'_>>, PacketError> {
    body.split(SEPARATOR).map(decode_packet).collect()
}

/// The handshake sent in the `0` open packet.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake<'a> {
    /// The session id.
    pub sid: &'a str,
    /// Transports the session may upgrade to.
    pub upgrades: &'a [&'a str],
    /// Milliseconds between server pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    pub ping_timeout: u64,
    /// Largest payload the server accepts, in bytes.
    pub max_payload: u64,
}

/// Encodes the `0` open packet.
pub fn encode_open(handshake: &Handshake<'_>) -> String {
    let mut out = String::from("0");
    out.push_str(&serde_json::to_string(handshake).unwrap_or_default());
    out
}

/// Encodes binary data for a polling payload (`b` + base64).
pub fn encode_binary_for_polling(data: &[u8]) -> String {
    let mut out = String::from("b");
    base64::engine::general_purpose::STANDARD.encode_string(data, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_decode_by_type() {
        assert_eq!(decode_packet("2probe"), Ok(Packet::Ping("probe")));
        assert_eq!(decode_packet("3"), Ok(Packet::Pong("")));
        assert_eq!(decode_packet("42[\"a\"]"), Ok(Packet::Message("2[\"a\"]")));
        assert_eq!(decode_packet("5"), Ok(Packet::Upgrade));
        assert_eq!(decode_packet("6"), Ok(Packet::Noop));
        assert_eq!(decode_packet("1"), Ok(Packet::Close));
        assert_eq!(decode_packet("bAQID"), Ok(Packet::Binary(vec![1, 2, 3])));
    }

    #[test]
    fn bad_packets_are_refused() {
        assert_eq!(decode_packet(""), Err(PacketError::Empty));
        assert_eq!(decode_packet("7"), Err(PacketError::UnknownType('7')));
        assert_eq!(decode_packet("é"), Err(PacketError::UnknownType('é')));
        assert_eq!(decode_packet("0{}"), Err(PacketError::NotFromClient('0')));
        assert_eq!(decode_packet("b!!"), Err(PacketError::InvalidBase64));
    }

    #[test]
    fn payload_splits_on_record_separator() {
        let packets = decode_payload("4hello\x1e2\x1e4€").unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message("hello"),
                Packet::Ping(""),
                Packet::Message("€")
            ]
        );
        assert!(decode_payload("4a\x1e\x1e4b").is_err());
    }

    #[test]
    fn open_packet_carries_the_handshake() {
        let open = encode_open(&Handshake {
            sid: "abc",
            upgrades: &["websocket"],
            ping_interval: 25_000,
            ping_timeout: 20_000,
            max_payload: 1_000_000,
        });
        assert_eq!(
            open,
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
    }
}
