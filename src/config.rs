//! The one configuration schema every binding reads: [`HubConfig`] (C `mcrt_builder_new`,
//! Node `new RealTimeAPI(io, db, options)`, Python `Hub(config)`) and [`ServeConfig`]
//! (C `mcrt_serve`, Node `options.server`, Python `Hub.serve(...)` keywords), with their
//! one set of defaults ([`Default`]) and their one validation ([`HubConfig::from_json`]).
//!
//! The canonical form is camelCase JSON with durations in milliseconds (`…Ms`, a number,
//! fractions allowed); [`Serialize`] writes it, every default filled in. The forms the
//! bindings accepted before are documented aliases of the same fields, so no binding
//! keeps a schema of its own: snake_case for every key; Python's seconds
//! (`device_grace`, `ping_interval`, `ping_timeout`, `auth_deadline`); Python's nested
//! `limits` section; `routes` as a map `event → {users, admins}` besides the list of
//! `{event, userPages, adminPages}`; `jwtSecret` as an array of bytes (Python `bytes`).
//! A setting given twice (`limits.queue_capacity` and `queueCapacity`) is refused.
//!
//! Unknown keys are refused so that a typo never silently falls back to a default, and
//! every error is a [`ConfigError`] naming the key (`persist.path`, `routes[0].event`),
//! what was expected and what arrived.
//!
//! This module must not build or start anything (it returns a [`HubBuilder`] or a
//! [`ServerConfig`](crate::ServerConfig)) and holds no host hooks: callables stay in
//! each binding, which takes them out of its options before handing the rest here. Guarded by the unit tests below
//! (`defaults_are_the_documented_ones`, `every_alias_reaches_its_field`,
//! `unknown_keys_are_refused_naming_the_key`, …), `tests/c/test_ffi.c`
//! (`test_config_schema`), `bindings/node/test/config.test.js` and
//! `bindings/python/tests/test_config.py`, which check that each binding accepts the same
//! keys with the same defaults.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use self::accept::RawHub;
use self::check::{check, serde_error};
use crate::hub::{Hub, HubBuilder};
use crate::persist::{Durability, PersistConfig};

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

    fn bad(key: &str, expected: &str, found: impl Into<String>) -> Self {
        Self::BadValue {
            key: key.to_owned(),
            expected: expected.to_owned(),
            found: found.into(),
        }
    }
}

/// The hub settings. [`Default`] is the one set of defaults; deserializing goes through
/// [`HubConfig::from_json`]'s validation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", rename_all = "camelCase")]
pub struct HubConfig {
    /// Verifies `token`s as JWT HS256 (none: the JWT authenticator is off). Not empty.
    pub jwt_secret: Option<Secret>,
    /// The pages a connection may be on (default `modules`, `admin`, `dashboard`).
    pub pages: Vec<String>,
    /// Extra routing: which pages an event reaches (default none).
    pub routes: Vec<Route>,
    /// Frames queued per connection before it counts as slow (default 1,024; ≥ 1).
    pub queue_capacity: usize,
    /// Refused authentications before a connection is closed (default 5; ≥ 1).
    pub max_auth_failures: u32,
    /// Largest inbound message of an attached connection (default 64 KiB).
    pub max_message_bytes: usize,
    /// How long a module stays online after its device left (default 5 s).
    #[serde(rename = "deviceOfflineGraceMs", serialize_with = "millis")]
    pub device_offline_grace: Duration,
    /// SQLite persistence (default none: memory only).
    pub persist: Option<Persist>,
}

/// A JWT secret: text, or bytes (an array of numbers 0–255 in JSON). Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Through the canonical JSON, with the secret's Debug, so logs never show it.
        let mut shown = serde_json::to_value(self).unwrap_or_default();
        if let (Some(secret), Some(map)) = (&self.jwt_secret, shown.as_object_mut()) {
            map.insert("jwtSecret".into(), format!("{secret:?}").into());
        }
        write!(f, "HubConfig({shown})")
    }
}

/// One route: `event` reaches users on `user_pages` and admins on `admin_pages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The event name.
    pub event: String,
    /// Pages whose users receive it.
    pub user_pages: Vec<String>,
    /// Pages whose admins receive it.
    pub admin_pages: Vec<String>,
}

/// Where and how durably the hub persists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Persist {
    /// The SQLite file (created if needed).
    pub path: String,
    /// `off`, `batched` (default) or `sync`.
    pub durability: Durability,
}

impl Default for HubConfig {
    /// `Hub::builder()`'s settings: the defaults are written once, in `HubBuilder::new()`
    /// (the hub sits below this schema, so the values live on its side).
    fn default() -> Self {
        let builder = Hub::builder();
        Self {
            jwt_secret: builder.jwt_secret.map(Secret),
            pages: builder.pages,
            routes: builder
                .routes
                .into_iter()
                .map(|(event, user_pages, admin_pages)| Route {
                    event,
                    user_pages,
                    admin_pages,
                })
                .collect(),
            queue_capacity: builder.limits.queue_capacity,
            max_auth_failures: builder.limits.max_auth_failures,
            max_message_bytes: builder.limits.max_message_bytes,
            device_offline_grace: builder.device_grace,
            persist: builder.persist.map(|(path, config)| Persist {
                path: path.to_string_lossy().into_owned(),
                durability: config.durability,
            }),
        }
    }
}

impl HubConfig {
    /// Reads and validates a configuration document (a JSON object; every key optional).
    pub fn from_json(value: &Value) -> Result<Self, ConfigError> {
        check::<RawHub>(value, "")?;
        let raw: RawHub =
            serde_json::from_value(value.clone()).map_err(|e| serde_error("", &e, value))?;
        raw.resolve()
    }

    /// A builder with these settings; hooks and transports are added by the caller.
    pub fn into_builder(self) -> HubBuilder {
        let mut builder = Hub::builder()
            .pages(&self.pages)
            .queue_capacity(self.queue_capacity)
            .max_auth_failures(self.max_auth_failures)
            .max_message_bytes(self.max_message_bytes)
            .device_offline_grace(self.device_offline_grace);
        if let Some(secret) = self.jwt_secret {
            builder = builder.jwt_secret(secret.0);
        }
        for route in &self.routes {
            let user: Vec<&str> = route.user_pages.iter().map(String::as_str).collect();
            let admin: Vec<&str> = route.admin_pages.iter().map(String::as_str).collect();
            builder = builder.route(&route.event, &user, &admin);
        }
        if let Some(persist) = self.persist {
            builder = builder.persist_with(persist.path, PersistConfig::new(persist.durability));
        }
        builder
    }
}

impl TryFrom<Value> for HubConfig {
    type Error = ConfigError;
    fn try_from(value: Value) -> Result<Self, ConfigError> {
        Self::from_json(&value)
    }
}
/// Durations are written as whole milliseconds when they are, else fractional ones.
pub(crate) fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    if duration.subsec_nanos().is_multiple_of(1_000_000) {
        serializer.serialize_u128(duration.as_millis())
    } else {
        serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => self.0.serialize(serializer),
        }
    }
}
mod accept;
mod check;
mod serve;

pub use serve::ServeConfig;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The canonical form of the defaults; the C, Node and Python suites check the same.
    fn documented_defaults() -> Value {
        json!({
            "jwtSecret": null,
            "pages": ["modules", "admin", "dashboard"],
            "routes": [],
            "queueCapacity": 1024,
            "maxAuthFailures": 5,
            "maxMessageBytes": 65536,
            "deviceOfflineGraceMs": 5000,
            "persist": null,
        })
    }

    fn hub(value: Value) -> Result<HubConfig, ConfigError> {
        HubConfig::from_json(&value)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let empty = hub(json!({})).unwrap();
        assert_eq!(empty, HubConfig::default());
        assert_eq!(serde_json::to_value(&empty).unwrap(), documented_defaults());
        let serve = ServeConfig::from_json(&json!({})).unwrap();
        assert_eq!(serve, ServeConfig::default());
        assert_eq!(
            serde_json::to_value(&serve).unwrap(),
            json!({
                "workerThreads": 2, "pingIntervalMs": 25000, "pingTimeoutMs": 20000,
                "maxPayload": 1_000_000, "maxMessageBytes": 65536, "authDeadlineMs": 10000,
                "maxConnections": 100_000, "socketioPath": "/socket.io/", "nativePath": "/ws",
                "shutdownDeadlineMs": 5000, "writeCoalesceMs": 2, "apiKey": null,
            })
        );
    }

    /// The builder a configuration makes and `Hub::builder()` agree, and on the
    /// documented values: neither side keeps defaults of its own.
    #[test]
    fn hub_builder_defaults_are_the_schema_defaults() {
        let schema = HubConfig::default().into_builder();
        let builder = Hub::builder();
        assert_eq!(schema.limits, builder.limits);
        assert_eq!(schema.pages, builder.pages);
        assert_eq!(schema.device_grace, builder.device_grace);
        assert_eq!(schema.jwt_secret, builder.jwt_secret);
        assert_eq!(schema.routes, builder.routes);
        assert_eq!(schema.persist, builder.persist);
        let config = HubConfig::default();
        assert_eq!(
            (
                config.queue_capacity,
                config.max_auth_failures,
                config.max_message_bytes
            ),
            (1024, 5, 64 * 1024)
        );
        assert_eq!(config.device_offline_grace, Duration::from_secs(5));
        assert_eq!(config.pages, ["modules", "admin", "dashboard"]);
        assert!(config.jwt_secret.is_none() && config.routes.is_empty());
        assert!(config.persist.is_none());
    }

    #[test]
    fn every_alias_reaches_its_field() {
        let canonical = hub(json!({
            "jwtSecret": "s3cret", "pages": ["modules", "admin", "stats"],
            "routes": [{"event": "cart:moved", "userPages": ["stats"], "adminPages": []}],
            "queueCapacity": 16, "maxAuthFailures": 2, "maxMessageBytes": 1024,
            "deviceOfflineGraceMs": 50, "persist": {"path": "/tmp/x.db", "durability": "sync"},
        }))
        .unwrap();
        // Python's dict: snake_case, nested limits, routes as a map, the grace in seconds.
        let python = hub(json!({
            "jwt_secret": "s3cret", "pages": ["modules", "admin", "stats"],
            "routes": {"cart:moved": {"users": ["stats"]}},
            "limits": {"queue_capacity": 16, "max_auth_failures": 2, "max_message_bytes": 1024},
            "device_grace": 0.05, "persist": {"path": "/tmp/x.db", "durability": "sync"},
        }))
        .unwrap();
        assert_eq!(python, canonical);
        let snake = hub(json!({
            "jwt_secret": [115, 51, 99, 114, 101, 116], "pages": ["modules", "admin", "stats"],
            "routes": [{"event": "cart:moved", "user_pages": ["stats"]}],
            "queue_capacity": 16, "max_auth_failures": 2, "max_message_bytes": 1024,
            "device_offline_grace_ms": 50.0, "persist": {"path": "/tmp/x.db", "durability": "sync"},
        }))
        .unwrap();
        assert_eq!(snake, canonical);
        // The canonical form reads back as itself.
        let written = serde_json::to_value(&canonical).unwrap();
        assert_eq!(hub(written).unwrap(), canonical);

        let seconds = ServeConfig::from_json(&json!({
            "ping_interval": 0.5, "ping_timeout": 2, "auth_deadline": 1.25, "api_key": "k",
            "max_connections": 3, "worker_threads": 1,
        }))
        .unwrap();
        let millis = ServeConfig::from_json(&json!({
            "pingIntervalMs": 500, "pingTimeoutMs": 2000, "authDeadlineMs": 1250,
            "apiKey": "k", "maxConnections": 3, "workerThreads": 1,
        }))
        .unwrap();
        assert_eq!(seconds, millis);
        assert_eq!(
            millis.clone().into_config().ping_interval,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn unknown_keys_are_refused_naming_the_key() {
        for (config, key) in [
            (json!({"jwtSecert": "x"}), "jwtSecert"),
            (
                json!({"persist": {"path": "a", "durabilty": "sync"}}),
                "persist.durabilty",
            ),
            (json!({"limits": {"queue_size": 1}}), "limits.queue_size"),
            (
                json!({"routes": [{"event": "e", "users_pages": []}]}),
                "routes[0].users_pages",
            ),
            (json!({"routes": {"e": {"user": []}}}), "routes.e.user"),
        ] {
            let error = hub(config).unwrap_err();
            assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error}");
            assert_eq!(error.key(), key);
            assert!(error.to_string().contains(key), "{error}");
        }
        let error = ServeConfig::from_json(&json!({"pingIntervalSecs": 1})).unwrap_err();
        assert_eq!(error.key(), "pingIntervalSecs");
        assert!(
            error.to_string().contains("pingIntervalMs"),
            "lists what is accepted: {error}"
        );
    }

    #[test]
    fn bad_values_name_the_key_what_was_expected_and_what_arrived() {
        let cases = [
            (json!([]), "", "an object", "an array"),
            (
                json!({"queueCapacity": "many"}),
                "queueCapacity",
                "usize",
                "string \"many\"",
            ),
            (json!({"queueCapacity": 0}), "queueCapacity", ">= 1", "0"),
            (
                json!({"device_grace": "soon"}),
                "device_grace",
                "a number >= 0",
                "string",
            ),
            (
                json!({"deviceOfflineGraceMs": -1}),
                "deviceOfflineGraceMs",
                "a number >= 0",
                "-1",
            ),
            (
                json!({"pages": "modules"}),
                "pages",
                "a sequence",
                "string \"modules\"",
            ),
            (
                json!({"jwtSecret": 42}),
                "jwtSecret",
                "a non-empty string",
                "number 42",
            ),
            (
                json!({"jwtSecret": ""}),
                "jwtSecret",
                "a non-empty secret",
                "an empty one",
            ),
            (
                json!({"persist": {"durability": "sync"}}),
                "persist.path",
                "a file path",
                "nothing",
            ),
            (
                json!({"persist": {"path": "a", "durability": "sometimes"}}),
                "persist.durability",
                "off, batched or sync",
                "sometimes",
            ),
            (
                json!({"routes": "everywhere"}),
                "routes",
                "a list",
                "string",
            ),
            (
                json!({"routes": [{"userPages": []}]}),
                "routes[0].event",
                "an event name",
                "none",
            ),
        ];
        for (config, key, expected, found) in cases {
            let error = hub(config.clone()).unwrap_err();
            let text = error.to_string();
            assert_eq!(error.key(), key, "{config}: {text}");
            assert!(
                text.contains(expected) && text.contains(found),
                "{config}: {text}"
            );
        }
        let zero = ServeConfig::from_json(&json!({"ping_interval": 0})).unwrap_err();
        assert_eq!(zero.key(), "ping_interval");
        assert!(zero.to_string().contains("> 0"), "{zero}");
    }

    #[test]
    fn a_setting_given_under_two_names_is_refused() {
        let error = hub(json!({"queueCapacity": 8, "limits": {"queue_capacity": 16}})).unwrap_err();
        assert!(matches!(error, ConfigError::Conflict { .. }), "{error}");
        let error = hub(json!({"deviceOfflineGraceMs": 8, "device_grace": 1})).unwrap_err();
        assert!(matches!(error, ConfigError::Conflict { .. }), "{error}");
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let config = hub(json!({"jwtSecret": "hunter2"})).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_hub_builds_from_the_defaults_and_from_python_forms() {
        let config = hub(json!({"pages": ["modules", "admin"], "device_grace": 0})).unwrap();
        let built = config.into_builder().build().unwrap();
        built.shutdown(Duration::from_millis(100));
    }
}
