//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test
//! (`tests/hub/fuzz_corpora.rs`), so CI replays every checked-in input without cargo-fuzz.
//!
//! Each function feeds arbitrary bytes to one parser and checks properties that must
//! hold for any input and that a wrong parser would break: no panic; what decodes
//! re-encodes and decodes to an equal value; what is decoded stays within bounds set by
//! the input. This
//! module must not be used by the library itself.

use serde_json::Value;

use crate::auth::AuthRequest;
use crate::ids::{MAX_ID_LEN, ModuleId, UserId};
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

/// The `client:authenticate` payload parser: never panics on any JSON value, and what it
/// accepts it accepts again and means the same:
///
/// - round trip: the payload serialized and parsed again gives the same request, raw
///   payload included (decode → encode → decode);
/// - canonical form: the request rebuilt from its typed fields alone (ids as strings,
///   absent fields left out) parses to the same fields, so neither unknown fields nor
///   the form of `userId` (number or string) change what a payload means;
/// - bounds: every id it accepted passes the id rules (non-empty, at most
///   [`MAX_ID_LEN`] bytes, no control character), and the text it keeps in typed
///   fields adds up to no more than the input's length.
pub fn auth_payload(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(request) = AuthRequest::parse(&value) else {
        return;
    };

    let bytes = serde_json::to_vec(&value).expect("a parsed JSON value serializes");
    let again: Value = serde_json::from_slice(&bytes).expect("serialized JSON parses");
    assert_eq!(again, value, "the payload survives a JSON round trip");
    let reparsed = AuthRequest::parse(&again).expect("an accepted payload is accepted again");
    assert_eq!(auth_fields(&reparsed), auth_fields(&request));
    assert_eq!(reparsed.raw, request.raw);

    let canonical = serde_json::json!({
        "token": request.token,
        "userId": request.user_id,
        "userType": request.user_type,
        "page": request.page,
        "sessionId": request.session_id,
        "moduleId": request.module_id,
        "deviceKey": request.device_key,
    });
    let from_fields = AuthRequest::parse(&canonical).expect("a request's own fields parse");
    assert_eq!(auth_fields(&from_fields), auth_fields(&request));

    if let Some(user_id) = &request.user_id {
        UserId::validate(user_id.as_str()).expect("an accepted userId is a valid id");
        assert!(user_id.as_str().len() <= MAX_ID_LEN);
    }
    if let Some(module_id) = &request.module_id {
        ModuleId::validate(module_id.as_str()).expect("an accepted moduleId is a valid id");
        assert!(module_id.as_str().len() <= MAX_ID_LEN);
    }
    let (token, user_id, user_type, page, session_id, module_id, device_key) =
        auth_fields(&request);
    let kept: usize = [
        token, user_id, user_type, page, session_id, module_id, device_key,
    ]
    .into_iter()
    .flatten()
    .map(str::len)
    .sum();
    assert!(
        kept <= data.len(),
        "{kept} bytes kept from a {} byte payload",
        data.len()
    );
}

/// The typed fields of a request, for comparing two parses.
type AuthFields<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn auth_fields(request: &AuthRequest) -> AuthFields<'_> {
    (
        request.token.as_deref(),
        request.user_id.as_ref().map(UserId::as_str),
        request.user_type.as_deref(),
        request.page.as_deref(),
        request.session_id.as_deref(),
        request.module_id.as_ref().map(ModuleId::as_str),
        request.device_key.as_deref(),
    )
}

/// The Engine.IO packet decoder and the polling payload splitter: never panic, and:
///
/// - round trip: the packets of a payload, encoded again (type character and data;
///   binary as `b` + base64 by the library's own polling encoder) and joined by the
///   separator, decode to the same packets (decode → encode → decode);
/// - one bad packet refuses the whole payload, wherever it stands: a refused payload
///   stays refused with a good packet before or after it, and an accepted one doubled
///   (`p ␞ p`) decodes to its packets twice, so nothing carries over from one packet
///   to the next;
/// - bounds: no packet is empty, so `n` packets take at least `2n − 1` bytes; a binary
///   packet holds at most 3 bytes per 4 characters of base64; and everything decoded
///   (packet data and binary bytes) adds up to less than the input's length.
pub fn engineio_payload(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(packet) = engineio::decode_packet(text) {
        let encoded = encode_engineio(&packet);
        assert_eq!(engineio::decode_packet(&encoded), Ok(packet));
    }
    let sep = engineio::SEPARATOR;
    let packets = match engineio::decode_payload(text) {
        Ok(packets) => packets,
        Err(_) => {
            assert!(engineio::decode_payload(&format!("6{sep}{text}")).is_err());
            assert!(engineio::decode_payload(&format!("{text}{sep}6")).is_err());
            return;
        }
    };

    let encoded: Vec<String> = packets.iter().map(encode_engineio).collect();
    let body = encoded.join(&sep.to_string());
    assert_eq!(
        engineio::decode_payload(&body).as_ref(),
        Ok(&packets),
        "re-encoded payload {body:?}"
    );

    let doubled = format!("{text}{sep}{text}");
    let twice = engineio::decode_payload(&doubled).expect("an accepted payload doubled");
    assert_eq!(twice.len(), 2 * packets.len());
    assert_eq!(twice[..packets.len()], packets[..]);
    assert_eq!(twice[packets.len()..], packets[..]);
    assert_engineio_bounds(text, &packets);
}

/// The bounds of [`engineio_payload`]: packets are never empty, base64 shrinks, and
/// nothing decodes to more than its text.
fn assert_engineio_bounds(text: &str, packets: &[engineio::Packet<'_>]) {
    let sep = engineio::SEPARATOR;
    assert!(
        2 * packets.len() - 1 <= text.len(),
        "{} packets from {} bytes",
        packets.len(),
        text.len()
    );
    let mut decoded = 0;
    for (packet, source) in packets.iter().zip(text.split(sep)) {
        let size = match packet {
            engineio::Packet::Binary(bytes) => {
                let base64 = source.len() - 1;
                assert!(
                    4 * bytes.len() <= 3 * base64,
                    "{} bytes from {base64} base64 characters",
                    bytes.len()
                );
                bytes.len()
            }
            engineio::Packet::Ping(data)
            | engineio::Packet::Pong(data)
            | engineio::Packet::Message(data) => data.len(),
            engineio::Packet::Close | engineio::Packet::Upgrade | engineio::Packet::Noop => 0,
        };
        assert!(
            size < source.len(),
            "a packet decodes to less than its text"
        );
        decoded += size;
    }
    assert!(decoded < text.len());
}

/// A client packet as a client would send it over polling: the inverse of
/// `engineio::decode_packet`, up to the data `1`, `5` and `6` ignore.
fn encode_engineio(packet: &engineio::Packet<'_>) -> String {
    match packet {
        engineio::Packet::Close => "1".to_owned(),
        engineio::Packet::Ping(data) => format!("2{data}"),
        engineio::Packet::Pong(data) => format!("3{data}"),
        engineio::Packet::Message(data) => format!("4{data}"),
        engineio::Packet::Upgrade => "5".to_owned(),
        engineio::Packet::Noop => "6".to_owned(),
        engineio::Packet::Binary(bytes) => engineio::encode_binary_for_polling(bytes),
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

/// Socket.IO binary reassembly: the input is a packet (up to the first `\n`) followed by
/// attachments (each a length byte and that many bytes). Never panics, and:
///
/// - bounds: a packet announcing more than 4 attachments is refused; attachments adding
///   up to more than 64 bytes are refused at the one that crosses the bound, and never
///   after it;
/// - sequencing: an accepted packet completes after exactly its announced attachments,
///   and one more is refused as out of sequence;
/// - placeholders: an accepted packet's every placeholder resolves to an attachment
///   that arrived;
/// - round trip: the completed packet re-encoded (server form, same namespace, id and
///   attachment count) decodes to the same packet.
pub fn socketio_binary(data: &[u8]) {
    use crate::protocol::binary::{BinaryError, BinaryLimits, Reassembly};
    const LIMITS: BinaryLimits = BinaryLimits {
        max_attachments: 4,
        max_bytes: 64,
    };
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(packet) = socketio::decode(text) else {
        return;
    };
    let announced = packet.attachments;
    let mut partial = match Reassembly::start(packet.clone(), LIMITS) {
        Ok(partial) => partial,
        Err(BinaryError::TooManyAttachments { .. }) => {
            assert!(announced > LIMITS.max_attachments);
            return;
        }
        Err(_) => return,
    };
    assert!(
        announced <= LIMITS.max_attachments,
        "the attachment bound holds"
    );
    if !collect_attachments(
        &mut partial,
        data.get(split + 1..).unwrap_or(&[]),
        announced,
        LIMITS,
    ) {
        return;
    }
    if !partial.is_complete() {
        return;
    }
    let (packet, attachments) = partial.finish();
    assert_complete_packet(&packet, &attachments, announced);
}

/// Feeds the length-prefixed attachments of `rest` to `partial`, checking the bounds and
/// the sequencing; `false` once the packet was refused (nothing more to check).
fn collect_attachments(
    partial: &mut crate::protocol::binary::Reassembly,
    mut rest: &[u8],
    announced: usize,
    limits: crate::protocol::binary::BinaryLimits,
) -> bool {
    use crate::protocol::binary::BinaryError;
    let mut total = 0usize;
    let mut pushed = 0usize;
    while let Some((&len, tail)) = rest.split_first() {
        let chunk = &tail[..usize::from(len).min(tail.len())];
        rest = &tail[chunk.len()..];
        let complete_before = partial.is_complete();
        match partial.push(bytes::Bytes::copy_from_slice(chunk)) {
            Ok(done) => {
                total += chunk.len();
                pushed += 1;
                assert!(total <= limits.max_bytes, "the byte bound holds");
                assert_eq!(done, pushed == announced);
            }
            Err(BinaryError::OutOfSequence) => {
                assert!(complete_before, "only a complete packet refuses more");
                break;
            }
            Err(BinaryError::TooLarge { .. }) => {
                assert!(total + chunk.len() > limits.max_bytes);
                return false;
            }
            Err(other) => panic!("unexpected refusal while collecting: {other}"),
        }
    }
    true
}

/// A completed binary packet: its attachments as announced, every placeholder
/// resolving, and its re-encoding decoding to the same packet.
fn assert_complete_packet(
    packet: &socketio::Packet,
    attachments: &[bytes::Bytes],
    announced: usize,
) {
    use crate::protocol::binary::placeholder_index;
    assert_eq!(attachments.len(), announced);
    fn each_placeholder(value: &Value, count: usize) {
        match value {
            Value::Object(o) if o.get("_placeholder") == Some(&Value::Bool(true)) => {
                let index = placeholder_index(value).expect("an accepted placeholder");
                assert!(index < count, "placeholder {index} of {count}");
            }
            Value::Object(o) => o.values().for_each(|v| each_placeholder(v, count)),
            Value::Array(a) => a.iter().for_each(|v| each_placeholder(v, count)),
            _ => {}
        }
    }
    if let Some(data) = &packet.data {
        each_placeholder(data, attachments.len());
    }
    let encoded = match (packet.kind, packet.event(), packet.ack_id) {
        (socketio::Kind::BinaryEvent | socketio::Kind::Event, Some((name, _)), id) => {
            socketio::encode_event_args(&packet.namespace, id, name, packet.args(), announced)
        }
        (socketio::Kind::BinaryAck | socketio::Kind::Ack, _, Some(id)) => {
            socketio::encode_ack_args(&packet.namespace, id, packet.args(), announced)
        }
        _ => return,
    };
    let again = socketio::decode(&encoded[1..]).expect("our encoding decodes");
    assert_eq!(again.namespace, packet.namespace);
    assert_eq!(again.ack_id, packet.ack_id);
    assert_eq!(again.attachments, packet.attachments);
    assert_eq!(again.args(), packet.args());
}
