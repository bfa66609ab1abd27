//! One module's recorded state and its JSON view.
//!
//! This module must not decide changes: `Store` does, using these records.

use serde_json::{Map, Value, json};

use crate::ids::{ModuleId, UserId};
use crate::input::ModuleFields;

/// What the store knows about a module.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRecord {
    /// Its id.
    pub id: ModuleId,
    /// The user who owns it; its events reach only them (and admins where routed).
    pub owner: UserId,
    /// Display name.
    pub name: Option<String>,
    /// Module type (`type` on the wire).
    pub kind: Option<String>,
    /// Whether it is online.
    pub online: bool,
    /// Last telemetry received.
    pub telemetry: Option<Value>,
    /// When its state last changed (ms since the epoch).
    pub last_change: u64,
    /// Whether `emit_module_added` was called for it (modules first seen through
    /// online/offline are known but not yet added).
    pub added: bool,
    /// Other fields the host gave, passed through in events.
    pub extra: Map<String, Value>,
}

impl ModuleRecord {
    pub(crate) fn new(id: ModuleId, owner: UserId, now: u64) -> Self {
        Self {
            id,
            owner,
            name: None,
            kind: None,
            online: false,
            telemetry: None,
            last_change: now,
            added: false,
            extra: Map::new(),
        }
    }

    pub(crate) fn merge(&mut self, fields: &ModuleFields) {
        if fields.name.is_some() {
            self.name.clone_from(&fields.name);
        }
        if fields.kind.is_some() {
            self.kind.clone_from(&fields.kind);
        }
        for (key, value) in &fields.extra {
            self.extra.insert(key.clone(), value.clone());
        }
    }

    /// The module as sent in `page:snapshot`, `user:module:*` and `admin:module:*`:
    /// `{moduleId, userId, name, type, online, telemetry, lastChange, …extra}`.
    pub fn to_json(&self) -> Value {
        let mut map = self.extra.clone();
        map.insert("moduleId".into(), json!(self.id));
        map.insert("userId".into(), json!(self.owner));
        map.insert("name".into(), json!(self.name));
        map.insert("type".into(), json!(self.kind));
        map.insert("online".into(), json!(self.online));
        map.insert(
            "telemetry".into(),
            self.telemetry.clone().unwrap_or(Value::Null),
        );
        map.insert("lastChange".into(), json!(self.last_change));
        Value::Object(map)
    }
}
