//! [`ServeConfig`]: the server settings of the one schema (C `mcrt_serve`, Node
//! `options.server`, Python `Hub.serve(...)` keywords), whose defaults are
//! [`ServerConfig::default`]'s, and the forms it accepts (camelCase in milliseconds,
//! snake_case, Python's `ping_interval` / `ping_timeout` / `auth_deadline` /
//! `connect_timeout` in seconds, read in `serve/accept.rs`). This module must not start
//! a server. Guarded by the unit tests in `config/tests.rs` and
//! the ones below (`trustedProxies`, `connectTimeoutMs` / `maxAttachments`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check::{check, serde_error};
use super::{ConfigError, millis};
use crate::transport::server::{Cors, ServerConfig};

mod accept;

use accept::RawServe;

/// The server settings the bindings expose: the serializable part of [`ServerConfig`],
/// whose [`Default`] is this one's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", rename_all = "camelCase")]
pub struct ServeConfig {
    /// Tokio worker threads (default 0: one per CPU the process may run on).
    pub worker_threads: usize,
    /// Engine.IO ping interval (default 25 s; > 0).
    #[serde(rename = "pingIntervalMs", serialize_with = "millis")]
    pub ping_interval: Duration,
    /// Engine.IO ping timeout (default 20 s; > 0).
    #[serde(rename = "pingTimeoutMs", serialize_with = "millis")]
    pub ping_timeout: Duration,
    /// Largest Engine.IO HTTP body (default 1,000,000 bytes).
    pub max_payload: usize,
    /// Largest inbound message (default 64 KiB).
    pub max_message_bytes: usize,
    /// Most binary attachments one Socket.IO packet may announce (default 10; their
    /// bytes together are bounded by `maxPayload`); more closes that connection.
    pub max_attachments: usize,
    /// Time a connection has to authenticate (default 10 s; > 0).
    #[serde(rename = "authDeadlineMs", serialize_with = "millis")]
    pub auth_deadline: Duration,
    /// Time a Socket.IO session has to join a namespace, Socket.IO's `connectTimeout`
    /// (default 45 s; > 0).
    #[serde(rename = "connectTimeoutMs", serialize_with = "millis")]
    pub connect_timeout: Duration,
    /// Open connections beyond which handshakes get 503 (default 100,000).
    pub max_connections: usize,
    /// Open connections from one remote IP beyond which handshakes get 429 (default 0:
    /// no limit).
    pub max_connections_per_ip: usize,
    /// Socket.IO path (default `/socket.io/`).
    pub socketio_path: String,
    /// Native protocol path (default `/ws`).
    pub native_path: String,
    /// How long shutdown waits for queues to drain (default 5 s).
    #[serde(rename = "shutdownDeadlineMs", serialize_with = "millis")]
    pub shutdown_deadline: Duration,
    /// How long a socket gathers frames into one write (default 2 ms; 0: none).
    #[serde(rename = "writeCoalesceMs", serialize_with = "millis")]
    pub write_coalesce: Duration,
    /// A socket write that makes no progress (the socket takes no byte) for this long
    /// closes the connection as a slow consumer, counted as
    /// `slow_consumer_closes{reason="stalled"}` (default 10 s; > 0).
    #[serde(rename = "slowConsumerTimeoutMs", serialize_with = "millis")]
    pub slow_consumer_timeout: Duration,
    /// Turns on the HTTP emit API with this bearer key (default none).
    pub api_key: Option<String>,
    /// Browser origins allowed besides the server's own (`https://app.example`; `*`
    /// allows any page). Default none: same-origin pages only. See [`Cors`].
    pub allowed_origins: Vec<String>,
    /// Handshakes per second from one remote IP before 429 (default 0: no limit).
    #[serde(serialize_with = "whole")]
    pub handshakes_per_second: f64,
    /// Largest HTTP request header block in bytes (default 32 KiB; at least 8192).
    pub max_header_bytes: usize,
    /// Time a client has to send a request's headers (default 10 s; > 0).
    #[serde(rename = "headerTimeoutMs", serialize_with = "millis")]
    pub header_timeout: Duration,
    /// Proxy ranges (CIDR, `10.0.0.0/8`, or one address) whose `X-Forwarded-For`
    /// names the client (default none).
    pub trusted_proxies: Vec<String>,
    /// Raise the process's soft open-file limit to its hard limit at start, on unix
    /// (default true): one descriptor per connection. The limit is process-wide; turn
    /// it off when the embedding application must keep its own.
    pub raise_fd_limit: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let d = ServerConfig::default();
        Self {
            worker_threads: d.worker_threads,
            ping_interval: d.ping_interval,
            ping_timeout: d.ping_timeout,
            max_payload: d.max_payload,
            max_message_bytes: d.max_message_bytes,
            max_attachments: d.max_attachments,
            auth_deadline: d.auth_deadline,
            connect_timeout: d.connect_timeout,
            max_connections: d.max_connections,
            max_connections_per_ip: d.max_connections_per_ip,
            socketio_path: d.socketio_path,
            native_path: d.native_path,
            shutdown_deadline: d.shutdown_deadline,
            write_coalesce: d.write_coalesce,
            slow_consumer_timeout: d.slow_consumer_timeout,
            api_key: d.api_key,
            allowed_origins: d.cors.allowed_origins(),
            handshakes_per_second: d.handshakes_per_second,
            max_header_bytes: d.max_header_bytes,
            header_timeout: d.header_timeout,
            trusted_proxies: d.trusted_proxies.iter().map(ToString::to_string).collect(),
            raise_fd_limit: d.raise_fd_limit,
        }
    }
}

impl ServeConfig {
    /// Reads and validates a server configuration document (every key optional).
    pub fn from_json(value: &Value) -> Result<Self, ConfigError> {
        check::<RawServe>(value, "")?;
        let raw: RawServe =
            serde_json::from_value(value.clone()).map_err(|e| serde_error("", &e, value))?;
        raw.resolve()
    }

    /// The [`ServerConfig`] with these settings (the others at their defaults).
    pub fn into_config(self) -> ServerConfig {
        // Checked when read (`from_json`); a hand-built value with a bad range drops it.
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .filter_map(|range| proxy_range(range).ok())
            .collect();
        ServerConfig {
            worker_threads: self.worker_threads,
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            max_payload: self.max_payload,
            max_message_bytes: self.max_message_bytes,
            max_attachments: self.max_attachments,
            auth_deadline: self.auth_deadline,
            connect_timeout: self.connect_timeout,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            trusted_proxies,
            socketio_path: self.socketio_path,
            native_path: self.native_path,
            shutdown_deadline: self.shutdown_deadline,
            write_coalesce: self.write_coalesce,
            slow_consumer_timeout: self.slow_consumer_timeout,
            api_key: self.api_key,
            cors: Cors::allowing(self.allowed_origins),
            handshakes_per_second: self.handshakes_per_second,
            max_header_bytes: self.max_header_bytes,
            header_timeout: self.header_timeout,
            raise_fd_limit: self.raise_fd_limit,
            ..ServerConfig::default()
        }
    }
}

impl TryFrom<Value> for ServeConfig {
    type Error = ConfigError;
    fn try_from(value: Value) -> Result<Self, ConfigError> {
        Self::from_json(&value)
    }
}

/// `10.0.0.0/8`, or one address as its own range.
fn proxy_range(text: &str) -> Result<ipnet::IpNet, ipnet::AddrParseError> {
    text.parse::<ipnet::IpNet>().or_else(|error| {
        text.parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| error)
    })
}

/// A whole rate is written as an integer (`20`, not `20.0`), as the bindings print it.
fn whole<S: serde::Serializer>(rate: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if rate.fract() == 0.0 && *rate >= 0.0 && *rate < u64::MAX as f64 {
        serializer.serialize_u64(*rate as u64)
    } else {
        serializer.serialize_f64(*rate)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn trusted_proxies_are_ranges_or_addresses_and_reach_the_server() {
        let value =
            json!({"trustedProxies": ["10.0.0.0/8", "192.0.2.7"], "maxConnectionsPerIp": 4});
        let config = ServeConfig::from_json(&value).unwrap().into_config();
        let expected: Vec<ipnet::IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.7/32".parse().unwrap(),
        ];
        assert_eq!(config.trusted_proxies, expected);
        assert_eq!(config.max_connections_per_ip, 4);
        let error = ServeConfig::from_json(&json!({"trusted_proxies": ["10.0.0.0/8", "x"]}));
        let message = error.unwrap_err().to_string();
        assert!(message.contains("trustedProxies[1]"), "{message}");
    }

    #[test]
    fn connect_timeout_and_max_attachments_reach_the_server_with_its_defaults() {
        let defaults = ServeConfig::from_json(&json!({})).unwrap().into_config();
        let server = ServerConfig::default();
        assert_eq!(defaults.connect_timeout, server.connect_timeout);
        assert_eq!(defaults.max_attachments, server.max_attachments);

        let set = json!({"connectTimeoutMs": 1000, "maxAttachments": 3});
        let config = ServeConfig::from_json(&set).unwrap().into_config();
        assert_eq!(config.connect_timeout, Duration::from_millis(1000));
        assert_eq!(config.max_attachments, 3);
        assert_eq!(config.binary_limits().max_attachments, 3);
        let snake = json!({"connect_timeout": 1, "max_attachments": 3});
        assert_eq!(
            ServeConfig::from_json(&snake)
                .unwrap()
                .into_config()
                .connect_timeout,
            Duration::from_secs(1)
        );
        let snake_ms = json!({"connect_timeout_ms": 1000, "max_attachments": 3});
        assert_eq!(
            ServeConfig::from_json(&snake_ms).unwrap(),
            ServeConfig::from_json(&set).unwrap()
        );

        for (bad, key) in [
            (json!({"connectTimeoutMs": 0}), "connectTimeoutMs"),
            (json!({"connectTimeoutMs": "x"}), "connectTimeoutMs"),
            (json!({"maxAttachments": -1}), "maxAttachments"),
        ] {
            let message = ServeConfig::from_json(&bad).unwrap_err().to_string();
            assert!(message.contains(key), "{bad}: {message}");
        }
    }
}
