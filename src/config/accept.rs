//! The forms a hub configuration may take: every field optional (so a key is known
//! exactly when `{key: null}` deserializes, and an alias can be told from its canonical
//! key), resolved into [`HubConfig`] with the defaults and the range checks. This module
//! must not build anything. Guarded by the unit tests of `config.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use super::check::{Section, check, describe};
use super::jwt::RawJwt;
use super::{ConfigError, HubConfig, Persist, Route, Secret};
use crate::persist::Durability;

/// A number ≥ 0 (a duration in the unit its key names), checked by its visitor so the
/// error says what was expected.
pub(super) struct Number(pub(super) f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number >= 0")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Number, E> {
                Ok(Number(n as f64))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Number, E> {
                if n < 0 {
                    return Err(E::invalid_value(de::Unexpected::Signed(n), &self));
                }
                Ok(Number(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Number, E> {
                if !(n >= 0.0 && n.is_finite()) {
                    return Err(E::invalid_value(de::Unexpected::Float(n), &self));
                }
                Ok(Number(n))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty string (or an array of bytes)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Secret, E> {
                Ok(Secret(text.as_bytes().to_vec()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Secret, A::Error> {
                let mut bytes = Vec::new();
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(Secret(bytes))
            }
        }
        deserializer.deserialize_any(V)
    }
}

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

/// One setting that may come under two names; both given is a conflict.
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

pub(super) fn one_of<T>(
    a: Option<T>,
    a_key: &str,
    b: Option<T>,
    b_key: &str,
) -> Result<Option<T>, ConfigError> {
    match (a, b) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict {
            key: a_key.to_owned(),
            other: b_key.to_owned(),
        }),
        (a, b) => Ok(a.or(b)),
    }
}

/// A duration from milliseconds (`…Ms`) or seconds (Python's names); `positive` refuses 0.
pub(super) fn duration(
    ms: Option<Number>,
    ms_key: &str,
    s: Option<Number>,
    s_key: &str,
    positive: bool,
) -> Result<Option<Duration>, ConfigError> {
    let from_seconds = s.is_some();
    let Some(n) = one_of(ms.map(|n| n.0), ms_key, s.map(|n| n.0), s_key)? else {
        return Ok(None);
    };
    let (secs, key, given) = if from_seconds {
        (n, s_key, format!("{n} seconds"))
    } else {
        (n / 1000.0, ms_key, format!("{n} milliseconds"))
    };
    let expected = if positive {
        "a duration > 0"
    } else {
        "a duration >= 0"
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !(positive && d.is_zero()) => Ok(Some(d)),
        _ => Err(ConfigError::bad(key, expected, given)),
    }
}

fn at_least_one<T: PartialEq + From<u8> + fmt::Display>(
    value: Option<T>,
    key: &str,
) -> Result<Option<T>, ConfigError> {
    match value {
        Some(n) if n == T::from(0) => Err(ConfigError::bad(key, "an integer >= 1", "0")),
        other => Ok(other),
    }
}

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
        if self.jwt_secret.as_ref().is_some_and(|s| s.0.is_empty()) {
            return Err(ConfigError::bad(
                "jwtSecret",
                "a non-empty secret",
                "an empty one",
            ));
        }
        let pages = self.pages.unwrap_or(defaults.pages);
        if let Some(i) = pages.iter().position(String::is_empty) {
            return Err(ConfigError::bad(
                &format!("pages[{i}]"),
                "a page name",
                "\"\"",
            ));
        }
        let persist = self.persist.map(RawPersist::resolve).transpose()?;
        let (redis, node_id) = cluster(self.redis, self.node_id)?;
        Ok(HubConfig {
            jwt_secret: self.jwt_secret,
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

/// The Redis URL (a `redis://`, `rediss://` or `redis+unix://` / `unix://` one) and the
/// node id (1–64 characters, none of them whitespace).
fn cluster(
    redis: Option<String>,
    node_id: Option<String>,
) -> Result<(Option<String>, Option<String>), ConfigError> {
    const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if let Some(url) = &redis
        && !SCHEMES.iter().any(|scheme| url.starts_with(scheme))
    {
        let shown = url.split("://").next().unwrap_or_default();
        return Err(ConfigError::bad(
            "redis",
            "a redis://, rediss:// or unix:// URL",
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
