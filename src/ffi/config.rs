//! The JSON the C ABI reads: the hub configuration of `mcrt_builder_new`, the server
//! configuration of `mcrt_serve` and the audit filter of `mcrt_hub_audit_query`, each
//! turned into the Rust type it configures. Unknown keys are refused so that a typo never
//! silently falls back to a default. This module must not call the hub.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::FfiError;
use crate::hooks::AuditKind;
use crate::hub::{Hub, HubBuilder};
use crate::ids::{ModuleId, UserId};
use crate::persist::{AuditFilter, Durability, PersistConfig};
use crate::transport::server::ServerConfig;

/// The hub configuration JSON: every key is optional; unknown keys are refused so that
/// a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct HubConfig {
    jwt_secret: Option<String>,
    pages: Option<Vec<String>>,
    routes: Vec<RouteConfig>,
    queue_capacity: Option<usize>,
    max_auth_failures: Option<u32>,
    max_message_bytes: Option<usize>,
    device_offline_grace_ms: Option<u64>,
    persist: Option<PersistSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RouteConfig {
    event: String,
    #[serde(default)]
    user_pages: Vec<String>,
    #[serde(default)]
    admin_pages: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PersistSection {
    path: String,
    #[serde(default)]
    durability: Option<String>,
}

impl HubConfig {
    pub(super) fn into_builder(self) -> Result<HubBuilder, FfiError> {
        let mut builder = Hub::builder();
        if let Some(secret) = self.jwt_secret {
            builder = builder.jwt_secret(secret);
        }
        if let Some(pages) = self.pages {
            builder = builder.pages(&pages);
        }
        for route in &self.routes {
            let user: Vec<&str> = route.user_pages.iter().map(String::as_str).collect();
            let admin: Vec<&str> = route.admin_pages.iter().map(String::as_str).collect();
            builder = builder.route(&route.event, &user, &admin);
        }
        if let Some(frames) = self.queue_capacity {
            builder = builder.queue_capacity(frames);
        }
        if let Some(attempts) = self.max_auth_failures {
            builder = builder.max_auth_failures(attempts);
        }
        if let Some(bytes) = self.max_message_bytes {
            builder = builder.max_message_bytes(bytes);
        }
        if let Some(ms) = self.device_offline_grace_ms {
            builder = builder.device_offline_grace(Duration::from_millis(ms));
        }
        if let Some(persist) = self.persist {
            let durability: Durability = match persist.durability {
                Some(text) => text.parse().map_err(FfiError::invalid)?,
                None => Durability::default(),
            };
            builder = builder.persist_with(persist.path, PersistConfig::new(durability));
        }
        Ok(builder)
    }
}

/// The server configuration JSON of `mcrt_serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ServeConfig {
    worker_threads: Option<usize>,
    ping_interval_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    max_payload: Option<usize>,
    max_message_bytes: Option<usize>,
    auth_deadline_ms: Option<u64>,
    max_connections: Option<usize>,
    socketio_path: Option<String>,
    native_path: Option<String>,
    shutdown_deadline_ms: Option<u64>,
    write_coalesce_ms: Option<u64>,
    api_key: Option<String>,
}

impl ServeConfig {
    pub(super) fn into_config(self) -> ServerConfig {
        let mut config = ServerConfig::default();
        let ms = Duration::from_millis;
        if let Some(n) = self.worker_threads {
            config.worker_threads = n.max(1);
        }
        if let Some(n) = self.ping_interval_ms {
            config.ping_interval = ms(n);
        }
        if let Some(n) = self.ping_timeout_ms {
            config.ping_timeout = ms(n);
        }
        if let Some(n) = self.max_payload {
            config.max_payload = n;
        }
        if let Some(n) = self.max_message_bytes {
            config.max_message_bytes = n;
        }
        if let Some(n) = self.auth_deadline_ms {
            config.auth_deadline = ms(n);
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
        if let Some(path) = self.socketio_path {
            config.socketio_path = path;
        }
        if let Some(path) = self.native_path {
            config.native_path = path;
        }
        if let Some(n) = self.shutdown_deadline_ms {
            config.shutdown_deadline = ms(n);
        }
        if let Some(n) = self.write_coalesce_ms {
            config.write_coalesce = ms(n);
        }
        config.api_key = self.api_key;
        config
    }
}

/// The audit filter JSON of `mcrt_hub_audit_query`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct AuditQuery {
    since: Option<u64>,
    until: Option<u64>,
    user_id: Option<Value>,
    module_id: Option<Value>,
    kind: Option<String>,
    after_id: Option<u64>,
    newest_first: bool,
    limit: usize,
}

impl AuditQuery {
    pub(super) fn into_filter(self) -> Result<AuditFilter, FfiError> {
        let kind = match self.kind.as_deref() {
            None => None,
            Some("emit") => Some(AuditKind::Emit),
            Some("auth") => Some(AuditKind::Auth),
            Some("close") => Some(AuditKind::Close),
            Some("bad_input") => Some(AuditKind::BadInput),
            Some(other) => {
                return Err(FfiError::invalid(format!(
                    "kind must be emit, auth, close or bad_input, not {other:?}"
                )));
            }
        };
        Ok(AuditFilter {
            since: self.since,
            until: self.until,
            user_id: self
                .user_id
                .map(|id| UserId::from_json(&id))
                .transpose()
                .map_err(|error| FfiError::invalid(format!("userId: {error}")))?,
            module_id: self
                .module_id
                .map(|id| ModuleId::from_json(&id))
                .transpose()
                .map_err(|error| FfiError::invalid(format!("moduleId: {error}")))?,
            kind,
            after_id: self.after_id,
            newest_first: self.newest_first,
            limit: self.limit,
        })
    }
}

/// Parses `value` as the configuration type `T`, naming the argument in the error.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &str,
) -> Result<T, FfiError> {
    serde_json::from_value(value).map_err(|error| FfiError::invalid(format!("{what}: {error}")))
}
