//! One user's recorded profile, for change detection of profile updates.
//!
//! This module must not know about sessions or connections.

use serde_json::{Map, Value};

#[derive(Debug, Default)]
pub(super) struct UserRecord {
    pub(super) registered: bool,
    profile: Map<String, Value>,
    /// Whether `profile` holds anything known; before that, updates diff against `old`.
    known: bool,
}

impl UserRecord {
    /// A record as persisted.
    pub(super) fn restored(registered: bool, profile: Map<String, Value>) -> Self {
        Self {
            registered,
            known: !profile.is_empty(),
            profile,
        }
    }

    /// The recorded profile fields.
    pub(super) fn profile(&self) -> &Map<String, Value> {
        &self.profile
    }

    pub(super) fn absorb(&mut self, fields: &Map<String, Value>) {
        for (key, value) in fields {
            self.profile.insert(key.clone(), value.clone());
        }
        self.known |= !fields.is_empty();
    }

    /// Fields of `new` that differ from the stored profile (or from `old` when nothing
    /// is stored yet); fields absent from `new` are not updates.
    pub(super) fn update(
        &mut self,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Map<String, Value> {
        if !self.known {
            self.absorb(old);
        }
        let changes: Map<String, Value> = new
            .iter()
            .filter(|(key, value)| self.profile.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        self.absorb(&changes);
        self.known = true;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn update_reports_only_changed_fields_and_then_nothing() {
        let mut user = UserRecord::default();
        let old = map(json!({"name": "Ada", "email": "a@x"}));
        let new = map(json!({"name": "Ada L.", "email": "a@x"}));
        assert_eq!(user.update(&old, &new), map(json!({"name": "Ada L."})));
        assert!(
            user.update(&old, &new).is_empty(),
            "the same update twice changes nothing"
        );
    }
}
