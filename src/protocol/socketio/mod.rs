//! Socket.IO v5 packets carried in Engine.IO v4 `message` packets: pure decoding and
//! encoding.
//!
//! Text form: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]` with types `0`
//! CONNECT, `1` DISCONNECT, `2` EVENT, `3` ACK, `4` CONNECT_ERROR, `5` BINARY_EVENT,
//! `6` BINARY_ACK. The server's frames here include the Engine.IO `4` prefix, so the
//! same bytes are a websocket text frame or one packet of a polling payload (encode
//! once). This module must not know about connections.

use serde_json::Value;

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`: join a namespace (with an optional `auth` object).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event `[name, ...args]`.
    Event,
    /// `3`: an acknowledgement `[...args]`.
    Ack,
    /// `4`: the server refused a CONNECT (never sent by clients).
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

/// A decoded client packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Its type.
    pub kind: Kind,
    /// Its namespace (`/` when absent).
    pub namespace: String,
    /// The ack id the client asked for, if any.
    pub ack_id: Option<u64>,
    /// Number of binary attachments that follow (binary types only).
    pub attachments: usize,
    /// The JSON payload, if any.
    pub data: Option<Value>,
}

impl Packet {
    /// For an EVENT: its name and first argument (`null` when absent).
    pub fn event(&self) -> Option<(&str, &Value)> {
        static NULL: Value = Value::Null;
        let args = self.data.as_ref()?.as_array()?;
        let name = args.first()?.as_str()?;
        Some((name, args.get(1).unwrap_or(&NULL)))
    }

    /// The arguments: after the event name for an EVENT, all of them for an ACK.
    pub fn args(&self) -> &[Value] {
        let args = self
            .data
            .as_ref()
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        match self.kind {
            Kind::Event | Kind::BinaryEvent => args.get(1..).unwrap_or(&[]),
            _ => args,
        }
    }
}

/// Why a Socket.IO packet was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketIoError {
    /// Empty packet.
    #[error("empty Socket.IO packet")]
    Empty,
    /// Unknown packet type.
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownType(char),
    /// CONNECT_ERROR sent by a client.
    #[error("CONNECT_ERROR is not allowed from a client")]
    NotFromClient,
    /// Bad attachment count, namespace or ack id.
    #[error("malformed Socket.IO header: {0}")]
    Header(&'static str),
    /// The payload is not JSON.
    #[error("Socket.IO payload is not valid JSON")]
    InvalidJson,
    /// The payload has the wrong shape for the packet type.
    #[error("Socket.IO payload has the wrong shape: {0}")]
    WrongShape(&'static str),
}

/// Decodes one client packet (the Engine.IO message data, without its `4`).
pub fn decode(text: &str) -> Result<Packet, SocketIoError> {
    let kind = packet_kind(text)?;
    let mut rest = &text[1..];
    let mut attachments = 0;
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let dash = rest.find('-').ok_or(SocketIoError::Header(
            "binary packet without attachment count",
        ))?;
        attachments = rest[..dash]
            .parse()
            .map_err(|_| SocketIoError::Header("invalid attachment count"))?;
        rest = &rest[dash + 1..];
    }
    let mut namespace = String::from("/");
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        namespace = rest[..end].to_owned();
        rest = rest.get(end + 1..).unwrap_or("");
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack_id = if digits > 0 {
        Some(
            rest[..digits]
                .parse()
                .map_err(|_| SocketIoError::Header("ack id out of range"))?,
        )
    } else {
        None
    };
    rest = &rest[digits..];
    let data = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(rest).map_err(|_| SocketIoError::InvalidJson)?)
    };
    check_shape(kind, data.as_ref(), ack_id)?;
    Ok(Packet {
        kind,
        namespace,
        ack_id,
        attachments,
        data,
    })
}

/// The packet type from its first character; `4` (ERROR) is the server's only.
fn packet_kind(text: &str) -> Result<Kind, SocketIoError> {
    let bytes = text.as_bytes();
    let first = *bytes.first().ok_or(SocketIoError::Empty)?;
    let kind = match first {
        b'0' => Kind::Connect,
        b'1' => Kind::Disconnect,
        b'2' => Kind::Event,
        b'3' => Kind::Ack,
        b'4' => return Err(SocketIoError::NotFromClient),
        b'5' => Kind::BinaryEvent,
        b'6' => Kind::BinaryAck,
        _ => {
            return Err(SocketIoError::UnknownType(
                text.chars().next().unwrap_or('\0'),
            ));
        }
    };
    Ok(kind)
}

/// Refuses a payload of the wrong shape for its packet type.
fn check_shape(kind: Kind, data: Option<&Value>, ack_id: Option<u64>) -> Result<(), SocketIoError> {
    match (kind, data) {
        (Kind::Connect, Some(value)) if !value.is_object() => {
            return Err(SocketIoError::WrongShape(
                "CONNECT payload must be an object",
            ));
        }
        (Kind::Event | Kind::BinaryEvent, data) => {
            let valid = data
                .and_then(Value::as_array)
                .and_then(|args| args.first())
                .is_some_and(Value::is_string);
            if !valid {
                return Err(SocketIoError::WrongShape(
                    "EVENT payload must be an array starting with the event name",
                ));
            }
        }
        (Kind::Ack | Kind::BinaryAck, data)
            if !data.is_some_and(Value::is_array) || ack_id.is_none() =>
        {
            return Err(SocketIoError::WrongShape("ACK needs an id and an array"));
        }
        (Kind::Disconnect, Some(_)) => {
            return Err(SocketIoError::WrongShape("DISCONNECT carries no payload"));
        }
        _ => {}
    }
    Ok(())
}

fn with_namespace(out: &mut String, namespace: &str) {
    if namespace != "/" {
        out.push_str(namespace);
        out.push(',');
    }
}

/// Encodes an `EVENT` packet for the default namespace, with the Engine.IO `4`
/// prefix: `42["name",data]`.
pub fn encode_event(name: &str, payload: &Value) -> String {
    encode_event_at(name, payload, None)
}

/// Encodes an `EVENT` packet, with the event's offset as a last string argument when
/// connection-state recovery is on: `42["name",data,"17"]`. The official client keeps
/// the last such string and sends it back in its CONNECT `auth` as `offset`.
pub fn encode_event_at(name: &str, payload: &Value, offset: Option<u64>) -> String {
    encode_event_with_offset(name, payload, offset.map(|o| o.to_string()).as_deref())
}

/// [`encode_event_at`] with the offset already as the text the client hands back.
pub fn encode_event_with_offset(name: &str, payload: &Value, offset: Option<&str>) -> String {
    // Serialized straight after the prefix, in one buffer: a second `String` for the
    // arguments cost an allocation and a copy per event (`scripts/bench profile`).
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"42");
    // Serializing a str, a Value and a string into a `Vec` cannot fail.
    let written = match offset {
        Some(offset) => serde_json::to_writer(&mut out, &(name, payload, offset)),
        None => serde_json::to_writer(&mut out, &(name, payload)),
    };
    debug_assert!(written.is_ok(), "{written:?}");
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// Encodes an event with binary attachments for the default namespace, as
/// [`encode_event_at`] does for JSON: `45<n>-["name",data]` (with the offset as last
/// argument when given); the `n` attachments follow as binary messages.
pub fn encode_binary_event_at(
    name: &str,
    payload: &Value,
    offset: Option<u64>,
    attachments: usize,
) -> String {
    let offset = offset.map(|o| o.to_string());
    encode_binary_event_with_offset(name, payload, offset.as_deref(), attachments)
}

/// [`encode_binary_event_at`] with the offset already as text.
pub fn encode_binary_event_with_offset(
    name: &str,
    payload: &Value,
    offset: Option<&str>,
    attachments: usize,
) -> String {
    let offset = offset.map(|offset| Value::String(offset.to_owned()));
    let args: Vec<Value> = std::iter::once(payload.clone()).chain(offset).collect();
    encode_event_args("/", None, name, &args, attachments)
}

/// `40{"sid":"…"}` (or `40/ns,{…}`): the namespace was joined.
pub fn encode_connect(namespace: &str, sid: &str) -> String {
    encode_connect_with_pid(namespace, sid, None)
}

/// `40{"sid":"…","pid":"…"}`: the namespace was joined, with the private session id a
/// client presents to recover this session after a transport loss. Answering with the
/// `pid` the client sent means the session was recovered.
pub fn encode_connect_with_pid(namespace: &str, sid: &str, pid: Option<&str>) -> String {
    let mut out = String::from("40");
    with_namespace(&mut out, namespace);
    let body = match pid {
        Some(pid) => serde_json::json!({ "sid": sid, "pid": pid }),
        None => serde_json::json!({ "sid": sid }),
    };
    out.push_str(&body.to_string());
    out
}

/// `44{"message":"…","data":…}`: the CONNECT was refused.
pub fn encode_connect_error(namespace: &str, message: &str, data: Option<&Value>) -> String {
    let mut out = String::from("44");
    with_namespace(&mut out, namespace);
    let body = match data {
        Some(data) => serde_json::json!({ "message": message, "data": data }),
        None => serde_json::json!({ "message": message }),
    };
    out.push_str(&body.to_string());
    out
}

/// `43<id>[body]`: the answer to an event that asked for an ack.
pub fn encode_ack(namespace: &str, id: u64, body: &Value) -> String {
    let mut out = String::from("43");
    with_namespace(&mut out, namespace);
    out.push_str(&id.to_string());
    out.push_str(&serde_json::to_string(&[body]).unwrap_or_default());
    out
}

/// Encodes an EVENT with any number of arguments, asking for ack `ack_id` if given.
/// With `attachments > 0` it is a BINARY_EVENT (`45<n>-…`) whose arguments hold that
/// many placeholders; the attachments follow as binary messages.
pub fn encode_event_args(
    namespace: &str,
    ack_id: Option<u64>,
    name: &str,
    args: &[Value],
    attachments: usize,
) -> String {
    let mut out = header(
        if attachments > 0 { '5' } else { '2' },
        attachments,
        namespace,
    );
    if let Some(id) = ack_id {
        out.push_str(&id.to_string());
    }
    out.push_str(&serde_json::to_string(&NamedArgs(name, args)).unwrap_or_default());
    out
}

/// Encodes an ACK with any number of arguments; with `attachments > 0` a BINARY_ACK
/// (`46<n>-…`).
pub fn encode_ack_args(namespace: &str, id: u64, args: &[Value], attachments: usize) -> String {
    let mut out = header(
        if attachments > 0 { '6' } else { '3' },
        attachments,
        namespace,
    );
    out.push_str(&id.to_string());
    out.push_str(&serde_json::to_string(args).unwrap_or_default());
    out
}

/// `4<type>[<n>-][<namespace>,]`: the start of every server packet.
fn header(kind: char, attachments: usize, namespace: &str) -> String {
    let mut out = String::with_capacity(64);
    out.push('4');
    out.push(kind);
    if attachments > 0 {
        out.push_str(&attachments.to_string());
        out.push('-');
    }
    with_namespace(&mut out, namespace);
    out
}

/// `["name", ...args]` serialized without building a new array.
struct NamedArgs<'a>(&'a str, &'a [Value]);

impl serde::Serialize for NamedArgs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.1.len() + 1))?;
        seq.serialize_element(self.0)?;
        for arg in self.1 {
            seq.serialize_element(arg)?;
        }
        seq.end()
    }
}

/// `41`: the server disconnects the client from the namespace.
pub fn encode_disconnect(namespace: &str) -> String {
    let mut out = String::from("41");
    with_namespace(&mut out, namespace);
    out
}

#[cfg(test)]
mod tests;
