//! [`MetricsSnapshot`]: a copy of every counter at one moment, with the persistence and
//! broker health, for hosts and exporters (`hub.metrics()`, `GET /metrics`, the admin
//! server stats).
//!
//! It is assembled where the layers meet: the counters come from [`crate::metrics`],
//! the figures of persistence and of the broker from their own layers, so that the
//! counters never import the layers they count for. This module must not count or
//! decide anything. Guarded by `tests/server/monitor.rs` and `tests/server/metrics_endpoint.rs`.

use serde::Serialize;

use crate::auth::JwksStats;
use crate::broker::BrokerStats;
use crate::metrics::{
    BadInputKind, ConnectionCounts, LatencySnapshot, Metrics, SlowConsumerCloses,
    TOKEN_REFUSAL_CODES,
};
use crate::persist::PersistMetrics;

/// A copy of every counter at one moment, for hosts and exporters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Connections by state.
    pub connections: ConnectionCounts,
    /// See [`Metrics::emits_changed`].
    pub emits_changed: u64,
    /// See [`Metrics::emits_unchanged`].
    pub emits_unchanged: u64,
    /// See [`Metrics::emits_failed`].
    pub emits_failed: u64,
    /// See [`Metrics::events_dropped_by_hook`].
    pub events_dropped_by_hook: u64,
    /// See [`Metrics::frames_delivered`].
    pub frames_delivered: u64,
    /// See [`Metrics::frames_conflated`].
    pub frames_conflated: u64,
    /// See [`Metrics::frames_encoded`].
    pub frames_encoded: u64,
    /// Connections closed as slow consumers, by reason (see
    /// [`SlowConsumerReason`](crate::SlowConsumerReason)).
    pub slow_consumer_closes: SlowConsumerCloses,
    /// See [`Metrics::socket_writes`].
    pub socket_writes: u64,
    /// See [`Metrics::auth_successes`].
    pub auth_successes: u64,
    /// See [`Metrics::auth_failures`].
    pub auth_failures: u64,
    /// See [`Metrics::hook_panics`].
    pub hook_panics: u64,
    /// See [`Metrics::client_events_forwarded`].
    pub client_events_forwarded: u64,
    /// See [`Metrics::client_events_dropped`].
    pub client_events_dropped: u64,
    /// See [`Metrics::connections_refused`].
    pub connections_refused: u64,
    /// See [`Metrics::auth_timeouts`].
    pub auth_timeouts: u64,
    /// See [`Metrics::ping_timeouts`].
    pub ping_timeouts: u64,
    /// Bad inputs by kind.
    pub bad_inputs: Vec<(BadInputKind, u64)>,
    /// Refused tokens by `auth:error` code (every [`TOKEN_REFUSAL_CODES`] entry).
    pub token_refusals: Vec<(&'static str, u64)>,
    /// See [`Metrics::delivery_latency`].
    pub delivery_latency: LatencySnapshot,
    /// Persistence health (`degraded`, `rows_written`, `rows_dropped`, `write_errors`,
    /// `lag`), when the hub was built with persistence; live events keep flowing while
    /// the disk fails.
    pub persistence: Option<PersistMetrics>,
    /// Shared-broker health (`reachable`, `fallbacks`, `publish_failures`, …), when the
    /// hub was built with a shared broker such as Redis.
    pub broker: Option<BrokerStats>,
    /// JWKS URL health (`fetches`, `fetch_failures`, `keys`), when the hub's JWT
    /// settings fetch one.
    pub jwks: Option<JwksStats>,
}

impl MetricsSnapshot {
    /// The count of bad inputs of `kind`.
    pub fn bad_inputs(&self, kind: BadInputKind) -> u64 {
        self.bad_inputs
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Reads every counter of `m` with the connection counts and the layers' health.
    pub(crate) fn assemble(
        m: &Metrics,
        connections: ConnectionCounts,
        persistence: Option<PersistMetrics>,
        broker: Option<BrokerStats>,
        jwks: Option<JwksStats>,
    ) -> Self {
        Self {
            connections,
            emits_changed: m.emits_changed.get(),
            emits_unchanged: m.emits_unchanged.get(),
            emits_failed: m.emits_failed.get(),
            events_dropped_by_hook: m.events_dropped_by_hook.get(),
            frames_delivered: m.frames_delivered.get(),
            frames_conflated: m.frames_conflated.get(),
            frames_encoded: m.frames_encoded.get(),
            slow_consumer_closes: m.slow_consumer_closes(),
            socket_writes: m.socket_writes.get(),
            auth_successes: m.auth_successes.get(),
            auth_failures: m.auth_failures.get(),
            hook_panics: m.hook_panics.get(),
            client_events_forwarded: m.client_events_forwarded.get(),
            client_events_dropped: m.client_events_dropped.get(),
            connections_refused: m.connections_refused.get(),
            auth_timeouts: m.auth_timeouts.get(),
            ping_timeouts: m.ping_timeouts.get(),
            bad_inputs: BadInputKind::ALL
                .iter()
                .map(|kind| (*kind, m.bad_inputs(*kind)))
                .collect(),
            token_refusals: TOKEN_REFUSAL_CODES
                .iter()
                .map(|code| (*code, m.token_refusals(code)))
                .collect(),
            delivery_latency: m.delivery_latency.snapshot(),
            persistence,
            broker,
            jwks,
        }
    }
}
