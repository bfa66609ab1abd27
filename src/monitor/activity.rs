//! The activity feed: one [`ActivityEntry`] per thing that happened (a module online,
//! offline, added or removed, a login, a logout, a registration, an admin action, a
//! maintenance switch), grouped per window into `admin:activity` events, and the
//! opt-in `module:status:batch` for users.
//!
//! Entries carry ids only (user ids, module ids and names, the admin action's name):
//! profiles, session ids and action details are never copied into the feed. This
//! module must not decide who receives the events it builds.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Value, json};

use crate::call::CallName;
use crate::event::{self, Audience, Event, now_ms};
use crate::ids::UserId;

use super::{ADMIN_ACTIVITY, MODULE_STATUS_BATCH};

/// One thing that happened.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivityEntry {
    kind: &'static str,
    at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    module_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    /// The node that decided it (cluster only; `None` until the window's events are
    /// built means this node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
}

/// Whether an event of this name makes an activity entry.
pub(crate) fn is_activity(name: &str) -> bool {
    matches!(
        name,
        event::MODULE_STATUS_CHANGED
            | event::ADMIN_MODULE_ADDED
            | event::ADMIN_MODULE_REMOVED
            | event::ADMIN_USER_LOGGED_IN
            | event::ADMIN_USER_LOGGED_OUT
            | event::ADMIN_USER_REGISTERED
            | event::ADMIN_ACTION
            | event::SYSTEM_MAINTENANCE
    )
}

fn text(value: &Value, name: &str) -> Option<String> {
    match value.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl ActivityEntry {
    fn new(kind: &'static str, at: u64) -> Self {
        Self {
            kind,
            at,
            user_id: None,
            module_id: None,
            name: None,
            action: None,
            enabled: None,
            node: None,
        }
    }

    /// An entry about a module, its id, owner and name read from `module`.
    fn of_module(kind: &'static str, at: u64, module: &Value) -> Self {
        let mut entry = Self::new(kind, at);
        entry.module_id = text(module, "moduleId");
        entry.user_id = text(module, "userId");
        entry.name = text(module, "name");
        entry
    }

    /// The entry an event makes, if it makes one.
    pub(crate) fn from_event(name: &str, payload: &Value) -> Option<Self> {
        let at = payload
            .get("timestamp")
            .and_then(Value::as_u64)
            .unwrap_or_else(now_ms);
        let entry = match name {
            event::MODULE_STATUS_CHANGED => {
                let online = payload.get("online").and_then(Value::as_bool) == Some(true);
                let kind = if online {
                    CallName::ModuleOnline
                } else {
                    CallName::ModuleOffline
                };
                Self::of_module(kind.as_str(), at, payload)
            }
            event::ADMIN_MODULE_ADDED | event::ADMIN_MODULE_REMOVED => {
                let kind = if name == event::ADMIN_MODULE_ADDED {
                    CallName::ModuleAdded
                } else {
                    CallName::ModuleRemoved
                };
                let module = payload.get("module").unwrap_or(&Value::Null);
                Self::of_module(kind.as_str(), at, module)
            }
            event::ADMIN_USER_LOGGED_IN
            | event::ADMIN_USER_LOGGED_OUT
            | event::ADMIN_USER_REGISTERED => {
                let kind = match name {
                    event::ADMIN_USER_LOGGED_IN => CallName::UserLoggedIn.as_str(),
                    event::ADMIN_USER_LOGGED_OUT => CallName::UserLoggedOut.as_str(),
                    _ => CallName::UserRegistered.as_str(),
                };
                let mut entry = Self::new(kind, at);
                entry.user_id = text(payload.get("user").unwrap_or(&Value::Null), "userId");
                entry
            }
            event::ADMIN_ACTION => {
                let mut entry = Self::new(CallName::AdminAction.as_str(), at);
                entry.user_id = text(payload, "adminId");
                entry.action = text(payload, "action");
                entry
            }
            event::SYSTEM_MAINTENANCE => {
                let mut entry = Self::new(CallName::MaintenanceMode.as_str(), at);
                entry.user_id = text(payload, "adminId");
                entry.enabled = payload.get("enabled").and_then(Value::as_bool);
                entry
            }
            _ => return None,
        };
        Some(entry)
    }
}

/// The `admin:activity` events for one window: `{entries, counts, dropped, from, to,
/// timestamp}`, at most `max_entries` entries each. `node`: this node's id in a cluster,
/// given to the entries of this node's own emits (`None` alone: no `node` field).
pub(crate) fn activity_events(
    mut entries: Vec<ActivityEntry>,
    dropped: u64,
    max_entries: usize,
    node: Option<&str>,
) -> Vec<Event> {
    if entries.is_empty() && dropped == 0 {
        return Vec::new();
    }
    if let Some(node) = node {
        for entry in entries.iter_mut().filter(|entry| entry.node.is_none()) {
            entry.node = Some(node.to_owned());
        }
    }
    let now = now_ms();
    let mut events = Vec::new();
    let mut chunks: Vec<&[ActivityEntry]> = entries.chunks(max_entries.max(1)).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    for (index, chunk) in chunks.into_iter().enumerate() {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for entry in chunk {
            *counts.entry(entry.kind).or_default() += 1;
        }
        let payload = json!({
            "entries": chunk,
            "counts": counts,
            "dropped": if index == last { dropped } else { 0 },
            "from": chunk.first().map_or(now, |entry| entry.at),
            "to": chunk.last().map_or(now, |entry| entry.at),
            "timestamp": now,
        });
        events.push(Event::new(ADMIN_ACTIVITY, payload, Audience::Admins));
    }
    events
}

/// One `module:status:batch {userId, modules: [module:status:changed payloads],
/// timestamp}` per user with changes in the window.
pub(crate) fn status_batch_events(batches: HashMap<String, Vec<Value>>) -> Vec<Event> {
    let now = now_ms();
    batches
        .into_iter()
        .filter_map(|(user, modules)| {
            let user_id = UserId::new(&user).ok()?;
            Some(Event::new(
                MODULE_STATUS_BATCH,
                json!({"userId": user, "modules": modules, "timestamp": now}),
                Audience::User {
                    user: user_id,
                    except_session: None,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_event_per_max_entries_with_complete_counts() {
        let entries: Vec<_> = (0..2_500)
            .map(|i| {
                ActivityEntry::from_event(
                    event::MODULE_STATUS_CHANGED,
                    &json!({"moduleId": format!("MC-{i}"), "userId": "1", "online": true, "timestamp": 5}),
                )
                .unwrap()
            })
            .collect();
        let events = activity_events(entries, 3, 1_000, None);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].payload["counts"]["module_online"], 1_000);
        assert_eq!(events[2].payload["counts"]["module_online"], 500);
        assert_eq!(events[2].payload["dropped"], 3);
        assert!(events.iter().all(|e| e.audience == Audience::Admins));
    }

    #[test]
    fn entries_carry_ids_not_profiles() {
        let entry = ActivityEntry::from_event(
            event::ADMIN_USER_LOGGED_IN,
            &json!({"user": {"userId": "7", "name": "Ada", "email": "ada@example.org"}, "timestamp": 1}),
        )
        .unwrap();
        let json = serde_json::to_value(entry).unwrap();
        assert_eq!(
            json,
            json!({"kind": "user_logged_in", "at": 1, "userId": "7"})
        );
        assert!(ActivityEntry::from_event(event::MODULE_TELEMETRY_UPDATED, &json!({})).is_none());
    }
}
