//! The forms a hub configuration may take: every field optional (so a key is known
//! exactly when `{key: null}` deserializes, and an alias can be told from its canonical
//! key), resolved into [`HubConfig`] with the defaults and the range checks (the scalar forms
//! are `values.rs`'s). This module must not build anything. Guarded by the unit tests
//! in `config/tests.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::check::{Section, check, describe};
use super::jwt::RawJwt;
use super::values::{Number, at_least_one, duration, one_of};
use super::{ConfigError, HubConfig, Persist, Route, Secret};
use crate::persist::Durability;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawHub {
    #[serde(alias = "jwt_secret")]
    jwt_secret: Option<Secret>,
    pages: Option<Vec<String>>,
    routes: Option<RawRoutes>,
    #[serde(alias = "queue_capacity")]
    queue_capacity: Option<usize>,
    #[serde(alias = "queue_max_bytes")]
    queue_max_bytes: Option<usize>,
    #[serde(alias = "max_auth_failures")]
    max_auth_failures: Option<u32>,
    #[serde(alias = "max_connections_per_user")]
    max_connections_per_user: Option<usize>,
    #[serde(alias = "max_message_bytes")]
    max_message_bytes: Option<usize>,
    #[serde(alias = "snapshot_page_size")]
    snapshot_page_size: Option<usize>,
    #[serde(rename = "deviceOfflineGraceMs", alias = "device_offline_grace_ms")]
    grace_ms: Option<Number>,
    /// Python's name, in seconds.
    #[serde(rename = "device_grace")]
    grace_s: Option<Number>,
    persist: Option<RawPersist>,
    /// Python's nested form of the three limits.
    limits: Option<RawLimits>,
    redis: Option<String>,
    #[serde(alias = "node_id")]
    node_id: Option<String>,
    jwt: Option<RawJwt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLimits {
    #[serde(alias = "queue_capacity")]
    queue_capacity: Option<usize>,
    #[serde(alias = "queue_max_bytes")]
    queue_max_bytes: Option<usize>,
    #[serde(alias = "max_auth_failures")]
    max_auth_failures: Option<u32>,
    #[serde(alias = "max_message_bytes")]
    max_message_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoutes {
    List(Vec<RawRoute>),
    Map(BTreeMap<String, RawRoute>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRoute {
    event: Option<String>,
    #[serde(alias = "user_pages", alias = "users")]
    user_pages: Option<Vec<String>>,
    #[serde(alias = "admin_pages", alias = "admins")]
    admin_pages: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersist {
    path: Option<String>,
    durability: Option<String>,
}

impl Section for RawHub {
    fn nested(key: &str, value: &Value, path: &str) -> Result<(), ConfigError> {
        match (key, value) {
            ("persist", Value::Object(_)) => check::<RawPersist>(value, path),
            ("limits", Value::Object(_)) => check::<RawLimits>(value, path),
            ("jwt", Value::Object(_)) => check::<RawJwt>(value, path),
            ("routes", Value::Array(list)) => (list.iter().enumerate())
                .try_for_each(|(i, r)| check::<RawRoute>(r, &format!("{path}[{i}]"))),
            ("routes", Value::Object(map)) => (map.iter())
                .try_for_each(|(event, r)| check::<RawRoute>(r, &format!("{path}.{event}"))),
            ("routes", Value::Null) => Ok(()),
            ("routes", other) => Err(ConfigError::WrongType {
                key: path.to_owned(),
                expected:
                    "a list of {event, userPages, adminPages} or a map event → {users, admins}"
                        .into(),
                found: describe(other),
            }),
            _ => Ok(()),
        }
    }
}
impl Section for RawLimits {}
impl Section for RawRoute {}
impl Section for RawPersist {}

impl RawLimits {
    /// The top-level limits (`self`) and Python's nested `limits` section as one; a
    /// limit given in both is a conflict.
    fn merge(self, nested: Option<RawLimits>) -> Result<RawLimits, ConfigError> {
        let Some(nested) = nested else {
            return Ok(self);
        };
        Ok(RawLimits {
            queue_capacity: one_of(
                self.queue_capacity,
                "queueCapacity",
                nested.queue_capacity,
                "limits.queue_capacity",
            )?,
            queue_max_bytes: one_of(
                self.queue_max_bytes,
                "queueMaxBytes",
                nested.queue_max_bytes,
                "limits.queue_max_bytes",
            )?,
            max_auth_failures: one_of(
                self.max_auth_failures,
                "maxAuthFailures",
                nested.max_auth_failures,
                "limits.max_auth_failures",
            )?,
            max_message_bytes: one_of(
                self.max_message_bytes,
                "maxMessageBytes",
                nested.max_message_bytes,
                "limits.max_message_bytes",
            )?,
        })
    }
}

impl RawHub {
    pub(super) fn resolve(self) -> Result<HubConfig, ConfigError> {
        let defaults = HubConfig::default();
        let RawLimits {
            queue_capacity,
            queue_max_bytes,
            max_auth_failures,
            max_message_bytes,
        } = RawLimits {
            queue_capacity: self.queue_capacity,
            queue_max_bytes: self.queue_max_bytes,
            max_auth_failures: self.max_auth_failures,
            max_message_bytes: self.max_message_bytes,
        }
        .merge(self.limits)?;
        let jwt_secret = secret(self.jwt_secret)?;
        let pages = pages(self.pages, defaults.pages)?;
        let persist = self.persist.map(RawPersist::resolve).transpose()?;
        let (redis, node_id) = cluster(self.redis, self.node_id)?;
        Ok(HubConfig {
            jwt_secret,
            jwt: self.jwt.map(RawJwt::resolve).transpose()?,
            pages,
            routes: self.routes.map_or(Ok(Vec::new()), RawRoutes::resolve)?,
            queue_capacity: at_least_one(queue_capacity, "queueCapacity")?
                .unwrap_or(defaults.queue_capacity),
            queue_max_bytes: at_least_one(queue_max_bytes, "queueMaxBytes")?
                .unwrap_or(defaults.queue_max_bytes),
            max_auth_failures: at_least_one(max_auth_failures, "maxAuthFailures")?
                .unwrap_or(defaults.max_auth_failures),
            max_connections_per_user: self
                .max_connections_per_user
                .unwrap_or(defaults.max_connections_per_user),
            max_message_bytes: max_message_bytes.unwrap_or(defaults.max_message_bytes),
            snapshot_page_size: at_least_one(self.snapshot_page_size, "snapshotPageSize")?
                .unwrap_or(defaults.snapshot_page_size),
            device_offline_grace: duration(
                self.grace_ms,
                "deviceOfflineGraceMs",
                self.grace_s,
                "device_grace",
                false,
            )?
            .unwrap_or(defaults.device_offline_grace),
            persist,
            redis,
            node_id,
        })
    }
}

/// The page names, none of them empty.
fn pages(pages: Option<Vec<String>>, default: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let pages = pages.unwrap_or(default);
    match pages.iter().position(String::is_empty) {
        Some(i) => Err(ConfigError::bad(
            &format!("pages[{i}]"),
            "a page name",
            "\"\"",
        )),
        None => Ok(pages),
    }
}

/// The JWT secret, refused when given empty.
fn secret(secret: Option<Secret>) -> Result<Option<Secret>, ConfigError> {
    match secret {
        Some(s) if s.0.is_empty() => Err(ConfigError::bad(
            "jwtSecret",
            "a non-empty secret",
            "an empty one",
        )),
        other => Ok(other),
    }
}

/// The Redis URL (a `redis://`, `rediss://` or `redis+unix://` / `unix://` one, or a
/// Cluster's `redis+cluster://` / `rediss+cluster://` or a Sentinel group's
/// `redis+sentinel://`; `broker::RedisBroker::connect` reads the rest) and the node id (1–64 characters, none of them whitespace).
fn cluster(
    redis: Option<String>,
    node_id: Option<String>,
) -> Result<(Option<String>, Option<String>), ConfigError> {
    const SCHEMES: [&str; 7] = [
        "redis://",
        "rediss://",
        "redis+unix://",
        "unix://",
        "redis+cluster://",
        "rediss+cluster://",
        "redis+sentinel://",
    ];
    if let Some(url) = &redis
        && !SCHEMES.iter().any(|scheme| url.starts_with(scheme))
    {
        let shown = url.split("://").next().unwrap_or_default();
        return Err(ConfigError::bad(
            "redis",
            "a redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// URL",
            format!("{shown:?}"),
        ));
    }
    if let Some(id) = &node_id
        && (id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_whitespace))
    {
        return Err(ConfigError::bad(
            "nodeId",
            "1 to 64 characters without whitespace",
            format!("{id:?}"),
        ));
    }
    Ok((redis, node_id))
}

impl RawRoutes {
    fn resolve(self) -> Result<Vec<Route>, ConfigError> {
        let route = |event: String, raw: RawRoute| Route {
            event,
            user_pages: raw.user_pages.unwrap_or_default(),
            admin_pages: raw.admin_pages.unwrap_or_default(),
        };
        match self {
            Self::List(list) => (list.into_iter().enumerate())
                .map(|(i, mut raw)| match raw.event.take() {
                    Some(event) if !event.is_empty() => Ok(route(event, raw)),
                    _ => Err(ConfigError::bad(
                        &format!("routes[{i}].event"),
                        "an event name",
                        "none",
                    )),
                })
                .collect(),
            Self::Map(map) => (map.into_iter())
                .map(|(event, raw)| match raw.event {
                    Some(_) => Err(ConfigError::bad(
                        &format!("routes.{event}.event"),
                        "no event key (the map's key names the event)",
                        "one",
                    )),
                    None => Ok(route(event, raw)),
                })
                .collect(),
        }
    }
}

impl RawPersist {
    fn resolve(self) -> Result<Persist, ConfigError> {
        let path = match self.path {
            Some(path) if !path.is_empty() => path,
            Some(_) => return Err(ConfigError::bad("persist.path", "a file path", "\"\"")),
            None => return Err(ConfigError::bad("persist.path", "a file path", "nothing")),
        };
        let durability = match self.durability {
            None => Durability::default(),
            Some(text) => text.parse().map_err(|_| {
                ConfigError::bad(
                    "persist.durability",
                    "off, batched or sync",
                    format!("{text:?}"),
                )
            })?,
        };
        Ok(Persist { path, durability })
    }
}
