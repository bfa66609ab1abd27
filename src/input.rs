//! Host input: the JSON objects hosts pass to `emit_*`, read with DESIGN §4's rules.
//!
//! A module names its id `id` or `moduleId`; user ids may be numbers or strings and are
//! stored and sent as strings; `name`/`type` are strings when present; every other field
//! is kept and passed through in events. A user names its id `id` or `userId` and its
//! role `role` or (the seed's) `userType`. Anything else (a non-object, a wrong type, an
//! invalid id) is an [`InputError`], never a panic. This module must not touch state.

use serde_json::{Map, Value};

use crate::auth::Role;
use crate::ids::{IdError, ModuleId, UserId, field_id, json_type};

/// Why a host argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// An id field is missing or invalid.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The argument is not a JSON object.
    #[error("{argument} must be a JSON object, got {found}")]
    NotAnObject {
        /// Which argument.
        argument: &'static str,
        /// The JSON type that arrived.
        found: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}, got {found}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What arrived.
        found: &'static str,
    },
    /// A role other than `user` or `admin`.
    #[error("unknown role {0:?}: expected \"user\" or \"admin\"")]
    UnknownRole(String),
    /// Binary data whose placeholders do not match its attachments.
    #[error("binary data: {0}")]
    Binary(#[from] crate::protocol::binary::BinaryError),
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// The object inside `value`, treating `null` as an empty object.
pub(crate) fn object<'a>(
    argument: &'static str,
    value: &'a Value,
) -> Result<&'a Map<String, Value>, InputError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(&EMPTY),
        other => Err(InputError::NotAnObject {
            argument,
            found: json_type(other),
        }),
    }
}

fn optional_string(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, InputError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(InputError::WrongType {
            field,
            expected: "a string",
            found: json_type(other),
        }),
    }
}

/// The owner, when `userId` is present.
pub(crate) fn optional_user(map: &Map<String, Value>) -> Result<Option<UserId>, InputError> {
    match map.get("userId") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Ok(Some(UserId::from_json(value)?)),
    }
}

/// Module fields given by the host (`emit_module_online` info, or a module object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleFields {
    /// The owner, if given.
    pub owner: Option<UserId>,
    /// Display name.
    pub name: Option<String>,
    /// Module type (`Station`, `Lift`, …); `type` on the wire.
    pub kind: Option<String>,
    /// Every other field, passed through.
    pub extra: Map<String, Value>,
}

const MODULE_KEYS: [&str; 6] = ["id", "moduleId", "userId", "name", "type", "online"];

impl ModuleFields {
    /// Reads `info` (an object or null).
    pub fn parse(argument: &'static str, info: &Value) -> Result<Self, InputError> {
        let map = object(argument, info)?;
        Ok(Self {
            owner: optional_user(map)?,
            name: optional_string(map, "name")?,
            kind: optional_string(map, "type")?,
            extra: map
                .iter()
                .filter(|(key, _)| !MODULE_KEYS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        })
    }
}

/// A module object (`emit_module_added` / `emit_module_removed`): its id plus fields.
pub fn module_object(module: &Value) -> Result<(ModuleId, ModuleFields), InputError> {
    let map = object("module", module)?;
    let id = field_id(map, &["moduleId", "id"], ModuleId::from_json_field)?;
    Ok((id, ModuleFields::parse("module", module)?))
}

/// A user object: its id, the role the host gives it (default `user`) and its profile
/// fields (everything but the id and role).
pub fn user_object(user: &Value) -> Result<(UserId, Role, Map<String, Value>), InputError> {
    let map = object("user", user)?;
    let id = user_id(map)?;
    let role = match optional_string(map, "role")?.or(optional_string(map, "userType")?) {
        None => Role::User,
        Some(text) => match Role::parse(&text) {
            Some(role @ (Role::User | Role::Admin)) => role,
            _ => return Err(InputError::UnknownRole(text)),
        },
    };
    Ok((id, role, profile_fields(map)))
}

/// A user object's id (`userId` or `id`).
pub(crate) fn user_id(map: &Map<String, Value>) -> Result<UserId, InputError> {
    Ok(field_id(map, &["userId", "id"], UserId::from_json_field)?)
}

/// A user object's profile: every field but the id and the role.
pub(crate) fn profile_fields(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(key, _)| !["id", "userId", "role", "userType"].contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn module_id_may_be_id_or_module_id() {
        assert_eq!(module_object(&json!({"id": "A"})).unwrap().0.as_str(), "A");
        assert_eq!(
            module_object(&json!({"moduleId": "B"})).unwrap().0.as_str(),
            "B"
        );
        assert!(matches!(
            module_object(&json!({"name": "x"})),
            Err(InputError::Id(IdError::Missing { .. }))
        ));
    }

    #[test]
    fn module_fields_keep_extras_and_read_numeric_owner() {
        let fields = ModuleFields::parse(
            "info",
            &json!({"userId": 123, "type": "Station", "fw": "1.2"}),
        )
        .unwrap();
        assert_eq!(fields.owner.unwrap().as_str(), "123");
        assert_eq!(fields.kind.as_deref(), Some("Station"));
        assert_eq!(
            fields.extra,
            json!({"fw": "1.2"}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn wrong_types_are_typed_errors() {
        assert!(matches!(
            ModuleFields::parse("info", &json!([1])),
            Err(InputError::NotAnObject { .. })
        ));
        assert!(matches!(
            ModuleFields::parse("info", &json!({"name": 5})),
            Err(InputError::WrongType { field: "name", .. })
        ));
        assert!(matches!(
            user_object(&json!({"id": 1, "userType": "root"})),
            Err(InputError::UnknownRole(_))
        ));
    }

    #[test]
    fn user_role_comes_from_role_or_user_type() {
        let (id, role, profile) =
            user_object(&json!({"id": 1, "userType": "admin", "name": "Ada"})).unwrap();
        assert_eq!(id.as_str(), "1");
        assert_eq!(role, Role::Admin);
        assert_eq!(Value::Object(profile), json!({"name": "Ada"}));
    }
}
