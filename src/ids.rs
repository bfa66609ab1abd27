//! Identifiers: module ids, user ids, session ids (validated host input), and the
//! [`ConnectionId`] a hub gives each attached connection.
//!
//! Owns the host-input rules for identifiers (DESIGN §4): user ids may arrive as JSON
//! numbers or strings and are always stored and sent as strings; every id is non-empty,
//! at most [`MAX_ID_LEN`] bytes and free of control characters. Invalid input is an
//! [`IdError`], never a panic. This module must not know about events or what a
//! connection carries.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// Longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The field was absent or null.
    #[error("{field} is missing")]
    Missing {
        /// Name of the field, e.g. `moduleId`.
        field: &'static str,
    },
    /// The field was an empty string.
    #[error("{field} is empty")]
    Empty {
        /// Name of the field.
        field: &'static str,
    },
    /// The field was longer than [`MAX_ID_LEN`] bytes.
    #[error("{field} is {len} bytes long, at most {MAX_ID_LEN} allowed")]
    TooLong {
        /// Name of the field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The field contained a control character.
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// Name of the field.
        field: &'static str,
    },
    /// The field had a JSON type an id cannot have.
    #[error("{field} must be a string or an integer, got {found}")]
    WrongType {
        /// Name of the field.
        field: &'static str,
        /// The JSON type that arrived.
        found: &'static str,
    },
}

/// Name of a JSON value's type, for error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(field: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { field });
    }
    if text.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            field,
            len: text.len(),
        });
    }
    if text.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter { field });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks `text` without allocating.
            pub fn validate(text: &str) -> Result<(), IdError> {
                check($field, text)
            }

            /// Validates `text` as this kind of id.
            pub fn new(text: &str) -> Result<Self, IdError> {
                check($field, text)?;
                Ok(Self(Arc::from(text)))
            }

            /// Reads the id from a JSON value: a string, or an integer turned into its
            /// decimal string (the seed sends `userId: 123`).
            pub fn from_json(value: &Value) -> Result<Self, IdError> {
                Self::from_json_field($field, value)
            }

            pub(crate) fn from_json_field(field: &'static str, value: &Value) -> Result<Self, IdError> {
                match value {
                    Value::String(text) => {
                        check(field, text)?;
                        Ok(Self(Arc::from(text.as_str())))
                    }
                    Value::Number(n) if n.is_i64() || n.is_u64() => {
                        let text = n.to_string();
                        Ok(Self(Arc::from(text)))
                    }
                    Value::Null => Err(IdError::Missing { field }),
                    other => Err(IdError::WrongType { field, found: json_type(other) }),
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                Self::new(&text)
            }
        }

        impl TryFrom<u64> for $name {
            type Error = IdError;
            fn try_from(number: u64) -> Result<Self, IdError> {
                Ok(Self(Arc::from(number.to_string())))
            }
        }
    };
}

id_type!(
    /// A module's id, such as `MC-1234-STN`.
    ModuleId,
    "moduleId"
);
id_type!(
    /// A user's id. Numbers from the host become their decimal string.
    UserId,
    "userId"
);
id_type!(
    /// A login session's id. For the session authenticator it is the secret that proves
    /// the browser's identity, so it is never sent to anyone but that session's own
    /// connections.
    SessionId,
    "sessionId"
);

/// Reads the first present field of `names` from `object` as an id.
pub(crate) fn field_id<T>(
    object: &serde_json::Map<String, Value>,
    names: &[&'static str],
    parse: fn(&'static str, &Value) -> Result<T, IdError>,
) -> Result<T, IdError> {
    for name in names {
        if let Some(value) = object.get(*name).filter(|v| !v.is_null()) {
            return parse(name, value);
        }
    }
    Err(IdError::Missing { field: names[0] })
}

/// Identifies one attached connection within a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_user_id_becomes_its_decimal_string() {
        assert_eq!(UserId::from_json(&json!(123)).unwrap().as_str(), "123");
    }

    #[test]
    fn empty_long_and_control_ids_are_refused() {
        assert_eq!(ModuleId::new(""), Err(IdError::Empty { field: "moduleId" }));
        assert!(matches!(
            ModuleId::new(&"x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            ModuleId::new("a\nb"),
            Err(IdError::ControlCharacter { .. })
        ));
        assert!(ModuleId::new(&"x".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn floats_booleans_and_objects_are_not_ids() {
        for bad in [json!(1.5), json!(true), json!({}), json!([])] {
            assert!(matches!(
                UserId::from_json(&bad),
                Err(IdError::WrongType { .. })
            ));
        }
        assert_eq!(
            UserId::from_json(&Value::Null),
            Err(IdError::Missing { field: "userId" })
        );
    }
}
