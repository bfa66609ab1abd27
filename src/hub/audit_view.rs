//! The audit viewer's request over an admin's own socket: `client:audit {userId?,
//! moduleId?, action?, since?, until?, cursor?, limit?}` answers in its ack with
//! `{records, nextCursor}`, newest first, at most 200 rows a page (default 50).
//!
//! Invariants: only a connection authenticated as an admin gets rows; anyone else is
//! refused (`forbidden`) and counted. No row shows a session id or a secret: every
//! detail key naming a session, token, secret, password or key is removed before the
//! reply. Reads the SQLite reader on the caller's thread (never under the emit lock).
//! Guarded by `tests/persistence/audit_view.rs`.

use serde_json::{Map, Value, json};

use super::{Hub, InboundError, Reply};
use crate::auth::{Identity, Role};
use crate::ids::{ConnectionId, ModuleId, UserId};
use crate::metrics::BadInputKind;
use crate::persist::AuditFilter;

/// Rows per page when the request names no limit, and the most it may ask for.
const DEFAULT_ROWS: usize = 50;
const MAX_ROWS: usize = 200;

impl Hub {
    /// `client:audit`: a page of the audit log for an admin.
    pub(super) fn audit_view(
        &self,
        id: ConnectionId,
        identity: &Identity,
        data: &Value,
    ) -> Result<Reply, InboundError> {
        if identity.role != Role::Admin {
            self.bad_input(
                id,
                BadInputKind::WrongShape,
                "client:audit from a non-admin",
            );
            return Err(refused("forbidden", "the audit log is for admins only"));
        }
        let filter = audit_filter(data).map_err(|message| {
            self.bad_input(id, BadInputKind::WrongShape, &message);
            refused("invalid_audit", &message)
        })?;
        let rows = self
            .audit_query(&filter)
            .map_err(|error| refused("audit_unavailable", &error.to_string()))?;
        let full = rows.len() == filter.limit;
        let next = rows.last().filter(|_| full).map(|row| row.id);
        let records: Vec<Value> = rows
            .iter()
            .map(|row| redact(serde_json::to_value(row).unwrap_or(Value::Null)))
            .collect();
        Ok(Reply {
            ack: Some(json!({"records": records, "nextCursor": next})),
            ..Reply::default()
        })
    }
}

fn refused(code: &'static str, message: &str) -> InboundError {
    InboundError::AuditRefused {
        code,
        message: message.to_owned(),
    }
}

/// The request's filter, newest first; a field of the wrong type is named.
fn audit_filter(data: &Value) -> Result<AuditFilter, String> {
    let empty = Map::new();
    let request = match data {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err("client:audit needs an object".into()),
    };
    let number = |key: &str| match request.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be a whole number")),
    };
    let given = |key: &str| match request.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(value) => Some(value.clone()),
    };
    let user_id = given("userId")
        .map(|v| UserId::from_json(&v).map_err(|e| e.to_string()))
        .transpose()?;
    let module_id = given("moduleId")
        .map(|v| ModuleId::from_json(&v).map_err(|e| e.to_string()))
        .transpose()?;
    let action = match given("action") {
        None => None,
        Some(Value::String(action)) => Some(action),
        Some(_) => return Err("action must be text".into()),
    };
    let limit = number("limit")?.map_or(DEFAULT_ROWS, |n| (n as usize).clamp(1, MAX_ROWS));
    Ok(AuditFilter {
        since: number("since")?,
        until: number("until")?,
        user_id,
        module_id,
        action,
        after_id: number("cursor")?,
        newest_first: true,
        limit,
        ..AuditFilter::default()
    })
}

/// Removes every key that names a session, a token, a secret, a password or a key,
/// at any depth.
fn redact(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|key, _| !is_secret(key));
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["session", "sid", "token", "secret", "password", "key"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_at_any_depth() {
        let row = json!({"id": 3, "detail": {"user": {"id": 7}, "sessionId": "s-1",
            "args": [{"token": "t", "deviceKey": "k", "keep": 1}]}});
        assert_eq!(
            redact(row),
            json!({"id": 3, "detail": {"user": {"id": 7}, "args": [{"keep": 1}]}})
        );
    }

    #[test]
    fn filters_are_read_and_bad_fields_named() {
        let filter = audit_filter(&json!({"userId": 7, "action": "module_online",
            "cursor": 40, "limit": 1000}))
        .unwrap();
        assert_eq!(filter.user_id, Some(UserId::new("7").unwrap()));
        assert_eq!(
            (filter.after_id, filter.limit, filter.newest_first),
            (Some(40), 200, true)
        );
        assert!(
            audit_filter(&json!({"since": "yesterday"}))
                .unwrap_err()
                .contains("since")
        );
        assert!(audit_filter(&json!([1])).is_err());
    }
}
