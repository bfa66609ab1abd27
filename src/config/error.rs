//! [`ConfigError`]: what the schema says when it refuses a configuration, the key's
//! dotted path, what was expected and what arrived. Shared by both schemas (`hub.rs`,
//! `serve.rs`) and the readers (`accept.rs`, `check.rs`). This module must not read or
//! validate anything itself. Guarded by the unit tests of `config.rs`
//! (`unknown_keys_are_refused_naming_the_key`,
//! `bad_values_name_the_key_what_was_expected_and_what_arrived`).

/// A configuration the schema refuses. `key` is the dotted path of the offending key
/// (`persist.durability`, `routes[1].event`; empty for the whole document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key the schema does not have.
    #[error("unknown key {key:?}; expected one of {}", .expected.join(", "))]
    UnknownKey {
        /// The key as given, with its path.
        key: String,
        /// Every key accepted at that place (canonical names and aliases).
        expected: Vec<&'static str>,
    },
    /// A value of the wrong JSON type.
    #[error("{}: expected {expected}, got {found}", at(.key))]
    WrongType {
        /// Where.
        key: String,
        /// What the schema wants there.
        expected: String,
        /// What arrived.
        found: String,
    },
    /// A value of the right type but out of range, or a required key missing.
    #[error("{}: expected {expected}, got {found}", at(.key))]
    BadValue {
        /// Where.
        key: String,
        /// What the schema wants there.
        expected: String,
        /// What arrived.
        found: String,
    },
    /// One setting given under two names (a key and its alias).
    #[error("{key} and {other} set the same thing: give one")]
    Conflict {
        /// The first name.
        key: String,
        /// The other.
        other: String,
    },
}

fn at(key: &str) -> &str {
    if key.is_empty() {
        "the configuration"
    } else {
        key
    }
}

impl ConfigError {
    /// The dotted path of the key the error is about.
    pub fn key(&self) -> &str {
        match self {
            Self::UnknownKey { key, .. }
            | Self::WrongType { key, .. }
            | Self::BadValue { key, .. }
            | Self::Conflict { key, .. } => key,
        }
    }

    pub(super) fn bad(key: &str, expected: &str, found: impl Into<String>) -> Self {
        Self::BadValue {
            key: key.to_owned(),
            expected: expected.to_owned(),
            found: found.into(),
        }
    }
}
