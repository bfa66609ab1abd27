//! The message one node publishes to the others, versioned ([`WIRE_VERSION`]): a
//! changed host call as its typed [`HostCall`] (so every node applies it to its own store
//! mirror with the same code as the deciding node) with the decided [`Step`]s (events
//! with their audiences, and effects such as a session ended), a cross-node recovery
//! message (`hub/handoff.rs`), or the admin alerts a node raised or cleared
//! (`monitor/cluster.rs`). JSON, encoded once per changed call. A message of another
//! version is refused with a [`WireError`] naming both versions, counted and dropped:
//! every node of a cluster runs the same version. Must not decide anything.
//!
//! Guarded by the unit tests in `wire/tests.rs`
//! (`broker::wire::tests::every_step_survives_encoding`,
//! `another_version_is_refused_by_name`, `malformed_messages_are_typed_errors`).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

mod history;
pub use history::HistoryEntry;
pub(crate) use history::{entry_from, entry_json, stream_of};

use crate::call::{HostCall, Step};
use crate::event::{Audience, Event};
use crate::ids::{ModuleId, SessionId, UserId};

/// The version of the broker message format this build speaks. Version 1 (releases up
/// to 0.1) carried the call's name and its audit detail; version 2 the typed call;
/// version 3 adds the `alerts` message.
pub const WIRE_VERSION: u64 = 3;

/// A malformed message from the broker (counted and dropped by the receiving node).
#[derive(Debug, thiserror::Error)]
#[error("malformed broker message: {0}")]
pub struct WireError(pub String);

/// One message between nodes.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The publishing node's id (a node skips its own messages).
    pub origin: String,
    /// What the message says.
    pub message: Message,
    /// The state key the change was claimed on, with its sequence number.
    pub claim: Option<(String, u64)>,
    /// The message's position in the cluster's event history (set by Redis when the
    /// message's events were appended to it, `None` otherwise; never encoded by a node).
    pub history: Option<u64>,
}

/// What a message between nodes says.
#[derive(Debug, Clone)]
pub enum Message {
    /// A changed host call and what it did.
    Emit {
        /// The call, applied to every node's store mirror.
        call: HostCall<'static>,
        /// Its events and effects, run by every node on its own connections.
        steps: Vec<Step>,
    },
    /// A node asks for a parked connection (`{request, pid, offset}`).
    RecoveryRequest(Value),
    /// The holder's answer (`{request, to, identity, page, frames}` or `{request, to,
    /// refused}`).
    RecoveryAnswer(Value),
    /// The node-scoped `admin:alert` / `admin:alert:cleared` events a node's monitor
    /// produced in one tick, in order (each payload has its `id` and `node`); every
    /// other node delivers them to its own admins.
    Alerts(Vec<Event>),
}

const EMIT: &str = "emit";
/// The field Redis puts first in a message whose events it appended to the history
/// (`broker/redis/history.rs`).
pub(crate) const HISTORY_FIELD: &str = "hseq";
const RECOVERY_REQUEST: &str = "recovery_request";
const RECOVERY_ANSWER: &str = "recovery_answer";
const ALERTS: &str = "alerts";

/// An audience as the wire carries it: `{"kind": …}` and the kind's fields.
struct AudienceOut<'a>(&'a Audience);

impl Serialize for AudienceOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self.0 {
            Audience::User {
                user,
                except_session,
            } => {
                map.serialize_entry("kind", "user")?;
                map.serialize_entry("user", user)?;
                map.serialize_entry("exceptSession", except_session)?;
            }
            Audience::Session { user, session } => {
                map.serialize_entry("kind", "session")?;
                map.serialize_entry("user", user)?;
                map.serialize_entry("session", session)?;
            }
            Audience::Admins => map.serialize_entry("kind", "admins")?,
            Audience::Everyone => map.serialize_entry("kind", "everyone")?,
        }
        map.end()
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

/// An event as the wire carries it (its binary attachments stay on the deciding node).
struct EventOut<'a>(&'a Event);

impl Serialize for EventOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("name", &*event.name)?;
        map.serialize_entry("payload", &event.payload)?;
        map.serialize_entry("audience", &AudienceOut(&event.audience))?;
        map.serialize_entry("conflation", &event.conflation_key)?;
        map.end()
    }
}

/// A step as the wire carries it: `{"event": …}` or `{"endSession": {user, session}}`.
struct StepOut<'a>(&'a Step);

impl Serialize for StepOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Ended<'a> {
            user: &'a UserId,
            session: &'a SessionId,
        }
        let mut map = serializer.serialize_map(Some(1))?;
        match self.0 {
            Step::Event(event) => map.serialize_entry("event", &EventOut(event))?,
            Step::EndSession { user, session } => {
                map.serialize_entry("endSession", &Ended { user, session })?;
            }
        }
        map.end()
    }
}

/// Steps, or events, serialized one by one without an intermediate collection.
struct Steps<'a>(&'a [Step]);
struct Events<'a>(&'a [Event]);

impl Serialize for Steps<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(StepOut))
    }
}

impl Serialize for Events<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(EventOut))
    }
}

/// The JSON value of a step, as stored in the event history (`history.rs`).
pub(crate) fn step_json(step: &Step) -> Value {
    serde_json::to_value(StepOut(step)).unwrap_or(Value::Null)
}

fn event_from(value: &Value) -> Result<Event, WireError> {
    let event = value
        .as_object()
        .ok_or_else(|| WireError("an event must be an object".into()))?;
    let mut decoded = Event::new(
        text(event, "name")?,
        event.get("payload").cloned().unwrap_or(Value::Null),
        audience_from(event.get("audience").unwrap_or(&Value::Null))?,
    );
    if let Some(key) = event.get("conflation").and_then(Value::as_str) {
        decoded.conflation_key = Some(ModuleId::new(key).map_err(|e| WireError(e.to_string()))?);
    }
    Ok(decoded)
}

pub(crate) fn step_from(value: &Value) -> Result<Step, WireError> {
    let map = value
        .as_object()
        .ok_or_else(|| WireError("a step must be an object".into()))?;
    if let Some(event) = map.get("event") {
        return event_from(event).map(Step::Event);
    }
    let ended = map
        .get("endSession")
        .and_then(Value::as_object)
        .ok_or_else(|| WireError("a step is `event` or `endSession`".into()))?;
    Ok(Step::EndSession {
        user: user(ended)?,
        session: session(ended.get("session"))?
            .ok_or_else(|| WireError("`session` is required".into()))?,
    })
}

impl Envelope {
    /// The JSON bytes published.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether `bytes` is a message node `origin` published and does not read back
    /// (every kind but a recovery request), found by reading only its `origin` and
    /// `kind`: a node skips its own messages without building them (decoding them was
    /// the subscriber's largest cost on a busy node). Anything that does not read as
    /// such is left to [`Envelope::decode`], which counts the malformed.
    pub(crate) fn is_own(bytes: &[u8], origin: &str) -> bool {
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            origin: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        serde_json::from_slice::<Head<'_>>(bytes)
            .is_ok_and(|head| head.origin == origin && head.kind != RECOVERY_REQUEST)
    }

    /// Parses published bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| WireError(format!("not JSON: {e}")))?;
        let map = value
            .as_object()
            .ok_or_else(|| WireError("not an object".into()))?;
        match map.get("v").and_then(Value::as_u64) {
            Some(WIRE_VERSION) => {}
            version => {
                return Err(WireError(format!(
                    "format version {} from another release; this node speaks version \
                     {WIRE_VERSION} (run one release on every node)",
                    version.unwrap_or(1)
                )));
            }
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
        let body = map.get("body").cloned().unwrap_or(Value::Null);
        let message = match text(map, "kind")? {
            EMIT => {
                let call = serde_json::from_value(body)
                    .map_err(|e| WireError(format!("the call: {e}")))?;
                let steps = map
                    .get("steps")
                    .and_then(Value::as_array)
                    .ok_or_else(|| WireError("`steps` must be an array".into()))?
                    .iter()
                    .map(step_from)
                    .collect::<Result<_, _>>()?;
                Message::Emit { call, steps }
            }
            kind @ (RECOVERY_REQUEST | RECOVERY_ANSWER) => {
                check_handoff(kind, &body)?;
                if kind == RECOVERY_REQUEST {
                    Message::RecoveryRequest(body)
                } else {
                    Message::RecoveryAnswer(body)
                }
            }
            ALERTS => Message::Alerts(alerts_from(&body)?),
            other => return Err(WireError(format!("unknown message kind `{other}`"))),
        };
        Ok(Self {
            origin: text(map, "origin")?.to_owned(),
            message,
            claim,
            history: map.get(HISTORY_FIELD).and_then(Value::as_u64),
        })
    }
}

/// The message as published: `v`, `origin`, `claim` (`{key, seq}` or null), `kind`,
/// `body` and, for an emit, `steps`; written straight from the envelope (no JSON value
/// built first: the publisher encodes every changed emit).
impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct ClaimOut<'a> {
            key: &'a str,
            seq: u64,
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("v", &WIRE_VERSION)?;
        map.serialize_entry("origin", &self.origin)?;
        map.serialize_entry(
            "claim",
            &self
                .claim
                .as_ref()
                .map(|(key, seq)| ClaimOut { key, seq: *seq }),
        )?;
        match &self.message {
            Message::Emit { call, steps } => {
                map.serialize_entry("steps", &Steps(steps))?;
                map.serialize_entry("kind", EMIT)?;
                map.serialize_entry("body", call)?;
            }
            Message::RecoveryRequest(args) => {
                map.serialize_entry("kind", RECOVERY_REQUEST)?;
                map.serialize_entry("body", args)?;
            }
            Message::RecoveryAnswer(args) => {
                map.serialize_entry("kind", RECOVERY_ANSWER)?;
                map.serialize_entry("body", args)?;
            }
            Message::Alerts(events) => {
                map.serialize_entry("kind", ALERTS)?;
                map.serialize_entry("body", &Events(events))?;
            }
        }
        map.end()
    }
}

/// The events of an `alerts` message: only alert events for admins, each with an `id`,
/// so a peer cannot make a node send anything else through this message.
fn alerts_from(body: &Value) -> Result<Vec<Event>, WireError> {
    let events = body
        .as_array()
        .ok_or_else(|| WireError("`alerts`: the body must be an array".into()))?;
    events
        .iter()
        .map(|value| {
            let event = event_from(value)?;
            let alert = matches!(
                &*event.name,
                crate::event::ADMIN_ALERT | crate::event::ADMIN_ALERT_CLEARED
            );
            if !alert || event.audience != Audience::Admins || event.conflation_key.is_some() {
                return Err(WireError(format!(
                    "`alerts`: `{}` is not an alert for admins",
                    event.name
                )));
            }
            if event.payload.get("id").and_then(Value::as_str).is_none() {
                return Err(WireError("`alerts`: an alert needs a string `id`".into()));
            }
            Ok(event)
        })
        .collect()
}

/// The shape of a cross-node recovery message (`hub/handoff.rs`), checked here so a
/// malformed one is counted and dropped like any other malformed message.
fn check_handoff(call: &str, args: &Value) -> Result<(), WireError> {
    let shape = |what: &str| WireError(format!("`{call}`: {what}"));
    let map = args
        .as_object()
        .ok_or_else(|| shape("`args` must be an object"))?;
    text(map, "request")?;
    if call == RECOVERY_REQUEST {
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
mod tests;
