//! [`HubConfig`]: the hub settings of the one schema (C `mcrt_builder_new`, Node
//! `new RealTimeAPI(io, db, options)`, Python `Hub(config)`), with [`Secret`], [`Route`]
//! and [`Persist`], its defaults (read from `Hub::builder()`, where they are written
//! once) and its way into a [`HubBuilder`]. This module must not build or start a hub
//! itself, nor hold a default of its own. Guarded by the unit tests of `config.rs`
//! (`defaults_are_the_documented_ones`, `hub_builder_defaults_are_the_schema_defaults`,
//! `a_hub_builds_from_the_defaults_and_from_python_forms`, …).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::accept::RawHub;
use super::check::{check, serde_error};
use super::jwt::JwtConfig;
use super::{ConfigError, millis};
use crate::hub::{Hub, HubBuilder};
use crate::persist::{Durability, PersistConfig};

/// The hub settings. [`Default`] is the one set of defaults; deserializing goes through
/// [`HubConfig::from_json`]'s validation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", rename_all = "camelCase")]
pub struct HubConfig {
    /// Verifies `token`s as JWT HS256 (none: the JWT authenticator is off). Not empty.
    pub jwt_secret: Option<Secret>,
    /// More JWT keys, issuer, audience, leeway (default none); see [`JwtConfig`].
    pub jwt: Option<JwtConfig>,
    /// The pages a connection may be on (default `modules`, `admin`, `dashboard`).
    pub pages: Vec<String>,
    /// Extra routing: which pages an event reaches (default none).
    pub routes: Vec<Route>,
    /// Frames queued per connection before it counts as slow (default 65,536; ≥ 1):
    /// the bound of in-process connections, and only a secondary safety for a socket's,
    /// which `queue_max_bytes` bounds first.
    pub queue_capacity: usize,
    /// Bytes of encoded frames a socket's connection may have waiting before it is
    /// closed as slow (default 2 MiB; ≥ 1), counted as
    /// `slow_consumer_closes{reason="bytes"}`.
    pub queue_max_bytes: usize,
    /// Refused authentications before a connection is closed (default 5; ≥ 1).
    pub max_auth_failures: u32,
    /// Authenticated connections one user may have (default 100; 0: no limit); past it
    /// `auth:error` `too_many_connections` and a close. Devices are not counted.
    pub max_connections_per_user: usize,
    /// Largest inbound message of an attached connection (default 64 KiB).
    pub max_message_bytes: usize,
    /// Modules per `page:snapshot` / `page:snapshot:more` page (default 500; ≥ 1).
    pub snapshot_page_size: usize,
    /// How long a module stays online after its device left (default 5 s).
    #[serde(rename = "deviceOfflineGraceMs", serialize_with = "millis")]
    pub device_offline_grace: Duration,
    /// SQLite persistence (default none: memory only).
    pub persist: Option<Persist>,
    /// The Redis this hub shares state, events and sessions through with the hubs of
    /// other processes (`redis://host:port`, `rediss://…`, a Cluster's
    /// `redis+cluster://host:port,host:port`, a Sentinel group's
    /// `redis+sentinel://host:port,host:port/<master name>`; default none: one process).
    /// Its password, if any, never shows in `Debug`.
    pub redis: Option<String>,
    /// This node's id in the cluster (default none: random per process); two live
    /// nodes may not share one.
    pub node_id: Option<String>,
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
        if let (Some(jwt), Some(map)) = (&self.jwt, shown.as_object_mut()) {
            let hidden = format!("{} secrets", jwt.secrets.len());
            if let Some(section) = map.get_mut("jwt").and_then(Value::as_object_mut) {
                section.insert("secrets".into(), hidden.into());
                if let Some(jwks) = &jwt.jwks {
                    section.insert("jwks".into(), without_password(jwks).into());
                }
            }
        }
        if let (Some(url), Some(map)) = (&self.redis, shown.as_object_mut()) {
            map.insert("redis".into(), without_password(url).into());
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
            jwt: None,
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
            queue_max_bytes: builder.limits.queue_max_bytes,
            max_auth_failures: builder.limits.max_auth_failures,
            max_connections_per_user: builder.limits.max_connections_per_user,
            max_message_bytes: builder.limits.max_message_bytes,
            snapshot_page_size: builder.limits.snapshot_page_size,
            device_offline_grace: builder.device_grace,
            persist: builder.persist.map(|(path, config)| Persist {
                path: path.to_string_lossy().into_owned(),
                durability: config.durability,
            }),
            redis: builder.redis,
            node_id: builder.node_id,
        }
    }
}

/// `url` with the userinfo (`user:password@`) masked.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
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
            .queue_max_bytes(self.queue_max_bytes)
            .max_auth_failures(self.max_auth_failures)
            .max_connections_per_user(self.max_connections_per_user)
            .max_message_bytes(self.max_message_bytes)
            .snapshot_page_size(self.snapshot_page_size)
            .device_offline_grace(self.device_offline_grace);
        if let Some(secret) = self.jwt_secret {
            builder = builder.jwt_secret(secret.0);
        }
        if let Some(jwt) = &self.jwt {
            // Checked when the configuration was read; a file changed since is logged and
            // its keys left out (tokens they signed are then refused, never accepted).
            match jwt.settings() {
                Ok(settings) => builder = builder.jwt(settings),
                Err(error) => tracing::error!(%error, "jwt keys not loaded"),
            }
        }
        for route in &self.routes {
            let user: Vec<&str> = route.user_pages.iter().map(String::as_str).collect();
            let admin: Vec<&str> = route.admin_pages.iter().map(String::as_str).collect();
            builder = builder.route(&route.event, &user, &admin);
        }
        if let Some(persist) = self.persist {
            builder = builder.persist_with(persist.path, PersistConfig::new(persist.durability));
        }
        if let Some(url) = self.redis {
            builder = builder.redis(url);
        }
        if let Some(id) = self.node_id {
            builder = builder.node_id(id);
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

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => self.0.serialize(serializer),
        }
    }
}
