//! The message one node publishes to the others: the emit call and its arguments (so
//! every node updates its own store mirror the same way) and the decided events with
//! their audiences. JSON, encoded once per changed emit. Must not decide anything.

use serde_json::{Map, Value, json};

use crate::event::{Audience, Event};
use crate::ids::{ModuleId, SessionId, UserId};

/// A malformed message from the broker (counted and dropped by the receiving node).
#[derive(Debug, thiserror::Error)]
#[error("malformed broker message: {0}")]
pub struct WireError(pub String);

/// One changed emit, as published to the other nodes.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The publishing node's id (a node skips its own messages).
    pub origin: String,
    /// The emit call (`module_online`, `user_logged_out`, …).
    pub call: String,
    /// The call's arguments, as the audit detail names them.
    pub args: Value,
    /// The events to deliver.
    pub events: Vec<Event>,
    /// The state key the change was claimed on, with its sequence number.
    pub claim: Option<(String, u64)>,
}

fn audience_json(audience: &Audience) -> Value {
    match audience {
        Audience::User {
            user,
            except_session,
        } => json!({"kind": "user", "user": user, "exceptSession": except_session}),
        Audience::Session { user, session } => {
            json!({"kind": "session", "user": user, "session": session})
        }
        Audience::Admins => json!({"kind": "admins"}),
        Audience::Everyone => json!({"kind": "everyone"}),
    }
}

fn text<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, WireError> {
    map.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| WireError(format!("`{field}` must be a string")))
}

fn user(map: &Map<String, Value>) -> Result<UserId, WireError> {
    UserId::new(text(map, "user")?).map_err(|e| WireError(e.to_string()))
}

fn session(value: Option<&Value>) -> Result<Option<SessionId>, WireError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => SessionId::new(s)
            .map(Some)
            .map_err(|e| WireError(e.to_string())),
        Some(_) => Err(WireError("a session must be a string".into())),
    }
}

fn audience_from(value: &Value) -> Result<Audience, WireError> {
    let map = value
        .as_object()
        .ok_or_else(|| WireError("an audience must be an object".into()))?;
    Ok(match text(map, "kind")? {
        "user" => Audience::User {
            user: user(map)?,
            except_session: session(map.get("exceptSession"))?,
        },
        "session" => Audience::Session {
            user: user(map)?,
            session: session(map.get("session"))?
                .ok_or_else(|| WireError("`session` is required".into()))?,
        },
        "admins" => Audience::Admins,
        "everyone" => Audience::Everyone,
        other => return Err(WireError(format!("unknown audience `{other}`"))),
    })
}

impl Envelope {
    /// The JSON bytes published.
    pub fn encode(&self) -> Vec<u8> {
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                json!({
                    "name": &*e.name,
                    "payload": e.payload,
                    "audience": audience_json(&e.audience),
                    "conflation": e.conflation_key,
                })
            })
            .collect();
        let claim = self
            .claim
            .as_ref()
            .map(|(key, seq)| json!({"key": key, "seq": seq}));
        serde_json::to_vec(&json!({
            "origin": self.origin,
            "call": self.call,
            "args": self.args,
            "events": events,
            "claim": claim,
        }))
        .unwrap_or_default()
    }

    /// Parses published bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| WireError(format!("not JSON: {e}")))?;
        let map = value
            .as_object()
            .ok_or_else(|| WireError("not an object".into()))?;
        let mut events = Vec::new();
        for item in map
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| WireError("`events` must be an array".into()))?
        {
            let event = item
                .as_object()
                .ok_or_else(|| WireError("an event must be an object".into()))?;
            let mut decoded = Event::new(
                text(event, "name")?,
                event.get("payload").cloned().unwrap_or(Value::Null),
                audience_from(event.get("audience").unwrap_or(&Value::Null))?,
            );
            if let Some(key) = event.get("conflation").and_then(Value::as_str) {
                decoded.conflation_key =
                    Some(ModuleId::new(key).map_err(|e| WireError(e.to_string()))?);
            }
            events.push(decoded);
        }
        let claim = match map.get("claim") {
            Some(Value::Object(claim)) => Some((
                text(claim, "key")?.to_owned(),
                claim
                    .get("seq")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| WireError("`seq` must be a number".into()))?,
            )),
            _ => None,
        };
        let call = text(map, "call")?.to_owned();
        let args = map.get("args").cloned().unwrap_or(Value::Null);
        check_handoff(&call, &args)?;
        Ok(Self {
            origin: text(map, "origin")?.to_owned(),
            call,
            args,
            events,
            claim,
        })
    }
}

/// The shape of a cross-node recovery message (`hub/handoff.rs`), checked here so a
/// malformed one is counted and dropped like any other malformed message.
fn check_handoff(call: &str, args: &Value) -> Result<(), WireError> {
    let shape = |what: &str| WireError(format!("`{call}`: {what}"));
    if call != "recovery_request" && call != "recovery_answer" {
        return Ok(());
    }
    let map = args
        .as_object()
        .ok_or_else(|| shape("`args` must be an object"))?;
    text(map, "request")?;
    if call == "recovery_request" {
        text(map, "pid")?;
        return map
            .get("offset")
            .and_then(Value::as_u64)
            .map(drop)
            .ok_or_else(|| shape("`offset` must be a number"));
    }
    text(map, "to")?;
    if map.contains_key("refused") {
        return text(map, "refused").map(drop);
    }
    let identity = map
        .get("identity")
        .and_then(Value::as_object)
        .ok_or_else(|| shape("`identity` must be an object"))?;
    text(identity, "user")?;
    text(identity, "role")?;
    text(map, "page")?;
    let frames = map
        .get("frames")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("`frames` must be an array"))?;
    for frame in frames {
        let frame = frame
            .as_object()
            .ok_or_else(|| shape("a frame must be an object"))?;
        text(frame, "name")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_survives_encoding() {
        let mut telemetry = Event::new(
            "module:telemetry:updated",
            json!({"moduleId": "m1", "telemetry": {"speed": 3}}),
            Audience::User {
                user: UserId::new("u1").unwrap(),
                except_session: None,
            },
        );
        telemetry.conflation_key = Some(ModuleId::new("m1").unwrap());
        let ended = Event::new(
            "user:session:ended",
            json!({}),
            Audience::Session {
                user: UserId::new("u1").unwrap(),
                session: SessionId::new("s1").unwrap(),
            },
        );
        let envelope = Envelope {
            origin: "n1".into(),
            call: "telemetry_update".into(),
            args: json!({"moduleId": "m1"}),
            events: vec![
                telemetry,
                ended,
                Event::new("x", json!(1), Audience::Admins),
            ],
            claim: Some(("module:m1:telemetry".into(), 7)),
        };
        let back = Envelope::decode(&envelope.encode()).unwrap();
        assert_eq!(back.origin, "n1");
        assert_eq!(back.claim, Some(("module:m1:telemetry".into(), 7)));
        assert_eq!(back.events.len(), 3);
        assert_eq!(back.events[0].audience, envelope.events[0].audience);
        assert_eq!(back.events[1].audience, envelope.events[1].audience);
        assert_eq!(
            back.events[0].conflation_key,
            envelope.events[0].conflation_key
        );
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        for bad in [
            &b"\xff"[..],
            b"[]",
            b"{}",
            br#"{"origin":"n","call":"c","events":[1]}"#,
        ] {
            assert!(Envelope::decode(bad).is_err());
        }
    }
}
