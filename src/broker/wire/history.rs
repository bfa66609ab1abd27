//! The stored form of the cluster's event history (`broker/redis/history.rs`): which
//! stream a recorded step belongs to and the JSON of one entry. Must not decide who
//! may replay an entry (the registry of the node that replays does).
//!
//! Guarded by `broker::wire::tests::recorded_steps_survive_the_history_form`.

use serde_json::{Value, json};

use super::{WireError, step_from, step_json};
use crate::broker::Recorded;
use crate::call::Step;
use crate::event::Audience;

/// One entry of the event history, as a node that replays it reads it.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The message's position in the history (every entry of one message shares it).
    pub position: u64,
    /// Its place among the message's entries.
    pub index: u64,
    /// The node that emitted it.
    pub origin: String,
    /// Its offset on that node (`None` for an effect).
    pub offset: Option<u64>,
    /// The state key and sequence number its change was claimed with.
    pub claim: Option<(String, u64)>,
    /// The event (after the emitting node's before-emit hooks) or effect.
    pub step: Step,
}

/// The stream (key suffix) a recorded step is kept in: its user's stream for a user's
/// or a session's event and for a session ended, else the admins' or everyone's.
pub(crate) fn stream_of(step: &Step) -> String {
    match step {
        Step::Event(event) => match &event.audience {
            Audience::User { user, .. } | Audience::Session { user, .. } => format!("user:{user}"),
            Audience::Admins => "admins".to_owned(),
            Audience::Everyone => "everyone".to_owned(),
        },
        Step::EndSession { user, .. } => format!("user:{user}"),
    }
}

/// The JSON of one entry (its position is the stream entry's `seq` field).
pub(crate) fn entry_json(
    origin: &str,
    claim: Option<&(String, u64)>,
    index: usize,
    recorded: &Recorded,
) -> String {
    let claim = claim.map(|(key, seq)| json!({"key": key, "seq": seq}));
    json!({
        "origin": origin,
        "index": index,
        "offset": recorded.offset,
        "claim": claim,
        "step": step_json(&recorded.step),
    })
    .to_string()
}

/// Parses one stored entry at `position`.
pub(crate) fn entry_from(position: u64, text: &str) -> Result<HistoryEntry, WireError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| WireError(format!("a history entry: {e}")))?;
    let origin = value["origin"]
        .as_str()
        .ok_or_else(|| WireError("a history entry's `origin` must be a string".into()))?;
    let claim = match &value["claim"] {
        Value::Object(claim) => Some((
            claim
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| WireError("a claim's `key` must be a string".into()))?
                .to_owned(),
            claim
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or_else(|| WireError("a claim's `seq` must be a number".into()))?,
        )),
        _ => None,
    };
    Ok(HistoryEntry {
        position,
        index: value["index"].as_u64().unwrap_or(0),
        origin: origin.to_owned(),
        offset: value["offset"].as_u64(),
        claim,
        step: step_from(&value["step"])?,
    })
}
