//! The form in which a node hands a parked connection's missed frames to the node its
//! client came back to: name, payload, and binary attachments as base64. This module
//! must not decide what is replayed (`handoff/mod.rs` does). Guarded by
//! `tests/cluster/` and `tests/clients/node/cross_node_recovery.test.js`.

use serde::Deserialize;
use serde_json::Value;

use crate::outbound::OutboundEvent;

/// A missed frame as the holder hands it over: name, payload and (base64) binary
/// attachments; a node that predates binary events sends none.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct WireFrame {
    pub(super) name: String,
    pub(super) payload: Value,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::call::attachments"
    )]
    pub(super) attachments: Vec<bytes::Bytes>,
}

impl WireFrame {
    pub(super) fn of(frame: &OutboundEvent) -> Self {
        Self {
            name: frame.name().to_owned(),
            payload: frame.payload().clone(),
            attachments: frame.attachments().to_vec(),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub(super) fn from_json(value: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(value)
    }
}
