//! The forms a server configuration may take ([`RawServe`]: every key optional, with
//! its snake_case alias and Python's names in seconds) and their resolution into a
//! [`ServeConfig`] with the defaults and the range checks. This module must not start a
//! server nor know the [`ServerConfig`](crate::ServerConfig) it becomes. Guarded by
//! `config::tests::a_bad_server_value_names_its_key`,
//! `config::tests::every_alias_reaches_its_field` and the tests in `serve.rs`.

use std::time::Duration;

use serde::Deserialize;

use super::ServeConfig;
use crate::config::ConfigError;
use crate::config::check::Section;
use crate::config::values::{Number, duration};
use crate::transport::server::Cors;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawServe {
    #[serde(alias = "worker_threads")]
    worker_threads: Option<usize>,
    #[serde(alias = "ping_interval_ms")]
    ping_interval_ms: Option<Number>,
    #[serde(rename = "ping_interval")]
    ping_interval_s: Option<Number>,
    #[serde(alias = "ping_timeout_ms")]
    ping_timeout_ms: Option<Number>,
    #[serde(rename = "ping_timeout")]
    ping_timeout_s: Option<Number>,
    #[serde(alias = "max_payload")]
    max_payload: Option<usize>,
    #[serde(alias = "max_message_bytes")]
    max_message_bytes: Option<usize>,
    #[serde(alias = "max_attachments")]
    max_attachments: Option<usize>,
    #[serde(alias = "auth_deadline_ms")]
    auth_deadline_ms: Option<Number>,
    #[serde(rename = "auth_deadline")]
    auth_deadline_s: Option<Number>,
    #[serde(alias = "connect_timeout_ms")]
    connect_timeout_ms: Option<Number>,
    #[serde(rename = "connect_timeout")]
    connect_timeout_s: Option<Number>,
    #[serde(alias = "max_connections")]
    max_connections: Option<usize>,
    #[serde(alias = "max_connections_per_ip")]
    max_connections_per_ip: Option<usize>,
    #[serde(alias = "trusted_proxies")]
    trusted_proxies: Option<Vec<String>>,
    #[serde(alias = "socketio_path")]
    socketio_path: Option<String>,
    #[serde(alias = "native_path")]
    native_path: Option<String>,
    #[serde(alias = "shutdown_deadline_ms")]
    shutdown_deadline_ms: Option<Number>,
    #[serde(alias = "write_coalesce_ms")]
    write_coalesce_ms: Option<Number>,
    #[serde(alias = "slow_consumer_timeout_ms")]
    slow_consumer_timeout_ms: Option<Number>,
    #[serde(alias = "api_key")]
    api_key: Option<String>,
    #[serde(alias = "allowed_origins")]
    allowed_origins: Option<Vec<String>>,
    #[serde(alias = "handshakes_per_second")]
    handshakes_per_second: Option<Number>,
    #[serde(alias = "max_header_bytes")]
    max_header_bytes: Option<usize>,
    #[serde(alias = "header_timeout_ms")]
    header_timeout_ms: Option<Number>,
    #[serde(alias = "raise_fd_limit")]
    raise_fd_limit: Option<bool>,
}

impl Section for RawServe {}

impl RawServe {
    /// The settings given, the others at [`ServeConfig::default`]'s.
    pub(super) fn resolve(self) -> Result<ServeConfig, ConfigError> {
        let d = self.timing(ServeConfig::default())?;
        Ok(ServeConfig {
            worker_threads: self.worker_threads.unwrap_or(d.worker_threads),
            max_payload: self.max_payload.unwrap_or(d.max_payload),
            max_message_bytes: self.max_message_bytes.unwrap_or(d.max_message_bytes),
            max_attachments: self.max_attachments.unwrap_or(d.max_attachments),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or(d.max_connections_per_ip),
            trusted_proxies: proxies(self.trusted_proxies)?.unwrap_or(d.trusted_proxies),
            socketio_path: self.socketio_path.unwrap_or(d.socketio_path),
            native_path: self.native_path.unwrap_or(d.native_path),
            api_key: self.api_key.or(d.api_key),
            raise_fd_limit: self.raise_fd_limit.unwrap_or(d.raise_fd_limit),
            allowed_origins: origins(self.allowed_origins)?.unwrap_or(d.allowed_origins),
            handshakes_per_second: self
                .handshakes_per_second
                .map_or(d.handshakes_per_second, |n| n.0),
            max_header_bytes: match self.max_header_bytes {
                Some(n) if n < 8192 => {
                    return Err(ConfigError::bad("maxHeaderBytes", ">= 8192", n.to_string()));
                }
                n => n.unwrap_or(d.max_header_bytes),
            },
            ..d
        })
    }

    /// `d` with the durations given (each in milliseconds, or in seconds under
    /// Python's name where it has one).
    fn timing(&self, d: ServeConfig) -> Result<ServeConfig, ConfigError> {
        let ms = |ms, key, default| -> Result<Duration, ConfigError> {
            Ok(duration(ms, key, None, "", false)?.unwrap_or(default))
        };
        let (interval, timeout) = (self.ping_interval_ms, self.ping_timeout_ms);
        let (deadline, connect) = (self.auth_deadline_ms, self.connect_timeout_ms);
        Ok(ServeConfig {
            ping_interval: duration(
                interval,
                "pingIntervalMs",
                self.ping_interval_s,
                "ping_interval",
                true,
            )?
            .unwrap_or(d.ping_interval),
            ping_timeout: duration(
                timeout,
                "pingTimeoutMs",
                self.ping_timeout_s,
                "ping_timeout",
                true,
            )?
            .unwrap_or(d.ping_timeout),
            auth_deadline: duration(
                deadline,
                "authDeadlineMs",
                self.auth_deadline_s,
                "auth_deadline",
                true,
            )?
            .unwrap_or(d.auth_deadline),
            connect_timeout: duration(
                connect,
                "connectTimeoutMs",
                self.connect_timeout_s,
                "connect_timeout",
                true,
            )?
            .unwrap_or(d.connect_timeout),
            shutdown_deadline: ms(
                self.shutdown_deadline_ms,
                "shutdownDeadlineMs",
                d.shutdown_deadline,
            )?,
            write_coalesce: ms(self.write_coalesce_ms, "writeCoalesceMs", d.write_coalesce)?,
            slow_consumer_timeout: duration(
                self.slow_consumer_timeout_ms,
                "slowConsumerTimeoutMs",
                None,
                "",
                true,
            )?
            .unwrap_or(d.slow_consumer_timeout),
            header_timeout: duration(self.header_timeout_ms, "headerTimeoutMs", None, "", true)?
                .unwrap_or(d.header_timeout),
            ..d
        })
    }
}

/// Each allowed origin is `*` or `scheme://host[:port]`, without a path.
fn origins(list: Option<Vec<String>>) -> Result<Option<Vec<String>>, ConfigError> {
    for (i, origin) in list.iter().flatten().enumerate() {
        if let Err(found) = Cors::check_origin(origin) {
            let key = format!("allowedOrigins[{i}]");
            return Err(ConfigError::bad(&key, "`*` or scheme://host[:port]", found));
        }
    }
    Ok(list)
}

/// Each trusted proxy is a CIDR range or a single address.
fn proxies(list: Option<Vec<String>>) -> Result<Option<Vec<String>>, ConfigError> {
    for (i, range) in list.iter().flatten().enumerate() {
        if super::proxy_range(range).is_err() {
            let key = format!("trustedProxies[{i}]");
            return Err(ConfigError::bad(
                &key,
                "a CIDR range or an IP address",
                range,
            ));
        }
    }
    Ok(list)
}
