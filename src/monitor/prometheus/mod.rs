//! The Prometheus text exposition of the hub's counters ([`Hub::prometheus_text`](crate::Hub::prometheus_text)), as
//! `GET /metrics` serves it.
//!
//! Formatting is `prometheus-client`'s: this module only maps a [`MetricsSnapshot`]
//! (read once per scrape) onto metric families named by the Prometheus conventions
//! (`mcrt_` prefix, `_total` for counters, `_seconds` / `_bytes` units, labels for
//! kinds). Scrapes never touch the emit path: they read the same relaxed atomics as
//! [`Hub::metrics`](crate::Hub::metrics).
//!
//! | family | type | labels |
//! |---|---|---|
//! | `mcrt_connections` | gauge | `state`: `unauthenticated`, `user`, `admin`, `device` |
//! | `mcrt_emits_total` | counter | `outcome`: `changed`, `unchanged`, `failed` |
//! | `mcrt_events_dropped_by_hook_total` | counter | |
//! | `mcrt_frames_delivered_total`, `mcrt_frames_conflated_total`, `mcrt_frames_encoded_total`, `mcrt_socket_writes_total` | counter | |
//! | `mcrt_slow_consumer_closes_total` | counter | `reason`: `bytes`, `frames`, `stalled` (see [`SlowConsumerReason`]) |
//! | `mcrt_auth_attempts_total` | counter | `result`: `success`, `failure` |
//! | `mcrt_auth_timeouts_total`, `mcrt_ping_timeouts_total`, `mcrt_connections_refused_total` | counter | |
//! | `mcrt_client_events_total` | counter | `outcome`: `forwarded`, `dropped` |
//! | `mcrt_hook_panics_total` | counter | |
//! | `mcrt_bad_inputs_total` | counter | `kind`: every [`BadInputKind`](crate::BadInputKind) |
//! | `mcrt_token_refusals_total` | counter | `code`: every `auth:error` code of a refused token |
//! | `mcrt_delivery_latency_seconds` | histogram | |
//! | `mcrt_persistence_degraded`, `mcrt_persistence_lag_rows` | gauge | (with persistence) |
//! | `mcrt_broker_reachable` | gauge | (with a shared broker) |
//! | `mcrt_broker_fallback_total`, `mcrt_broker_publish_failures_total`, `mcrt_broker_received_total`, `mcrt_broker_malformed_total` | counter | (with a shared broker) |
//! | `mcrt_persistence_rows_written_total`, `…_rows_dropped_total`, `…_write_errors_total` | counter | (with persistence) |
//! | `mcrt_jwks_fetches_total` | counter | `outcome`: `ok`, `failed` (with a JWKS URL) |
//! | `mcrt_jwks_keys` | gauge | (with a JWKS URL) |
//! | `process_resident_memory_bytes` | gauge | (Linux) |
//! | `process_cpu_seconds_total` | counter | (Linux) |
//!
//! Files: this one holds the scrape, the helpers and the hub's own families (emits,
//! frames, connections, bad inputs, latency); `layers.rs` the families of the layers a
//! hub may not have (persistence, the shared broker, the process).
//!
//! This module must not keep state between scrapes. Guarded by the unit tests below
//! (`counters_get_total_and_units_and_labels`, …) and `tests/server/metrics_endpoint.rs` (`GET /metrics`).

use std::fmt::Error;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::SlowConsumerReason;
use crate::snapshot::MetricsSnapshot;

use super::process::{self, ProcessSample};

mod layers;

use layers::{encode_broker, encode_jwks, encode_persistence, encode_process};

/// The content type of what [`encode`] writes: `prometheus-client` writes the
/// OpenMetrics text format (the Prometheus text format plus `# EOF`), which Prometheus
/// scrapes natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug)]
struct Scrape {
    metrics: MetricsSnapshot,
    process: ProcessSample,
}

pub(super) fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), Error> {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

fn labelled<const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    label: &str,
    values: [(&str, u64); N],
) -> Result<(), Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, n) in values {
        let labels = [(label, value)];
        let metric = family.encode_family(&labels)?;
        if matches!(kind, MetricType::Counter) {
            ConstCounter::new(n).encode(metric)?;
        } else {
            ConstGauge::new(n).encode(metric)?;
        }
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let e = &mut encoder;
        encode_emits(e, &self.metrics)?;
        encode_frames(e, &self.metrics)?;
        encode_connection_health(e, &self.metrics)?;
        encode_bad_inputs_and_latency(e, &self.metrics)?;
        encode_persistence(e, &self.metrics)?;
        encode_broker(e, &self.metrics)?;
        encode_jwks(e, &self.metrics)?;
        encode_process(e, &self.process)?;
        Ok(())
    }
}

/// Connections by state, emits by outcome, and events a hook dropped.
fn encode_emits(e: &mut DescriptorEncoder, m: &MetricsSnapshot) -> Result<(), Error> {
    let c = &m.connections;
    labelled(
        e,
        "mcrt_connections",
        "Open connections by state.",
        MetricType::Gauge,
        "state",
        [
            ("unauthenticated", c.unauthenticated as u64),
            ("user", c.users as u64),
            ("admin", c.admins as u64),
            ("device", c.devices as u64),
        ],
    )?;
    labelled(
        e,
        "mcrt_emits",
        "Host emit calls by outcome.",
        MetricType::Counter,
        "outcome",
        [
            ("changed", m.emits_changed),
            ("unchanged", m.emits_unchanged),
            ("failed", m.emits_failed),
        ],
    )?;
    counter(
        e,
        "mcrt_events_dropped_by_hook",
        "Events dropped by a before-emit hook.",
        m.events_dropped_by_hook,
    )?;
    Ok(())
}

/// What happened to frames: delivered, conflated, encoded, and queues that overflowed.
fn encode_frames(e: &mut DescriptorEncoder, m: &MetricsSnapshot) -> Result<(), Error> {
    counter(
        e,
        "mcrt_frames_delivered",
        "Frames placed in connection queues.",
        m.frames_delivered,
    )?;
    counter(
        e,
        "mcrt_frames_conflated",
        "Queued telemetry frames replaced by a newer one.",
        m.frames_conflated,
    )?;
    counter(
        e,
        "mcrt_frames_encoded",
        "Serializations of an event into a wire format.",
        m.frames_encoded,
    )?;
    counter(
        e,
        "mcrt_socket_writes",
        "Batches of frames written to server websockets (one flush each).",
        m.socket_writes,
    )?;
    let slow = &m.slow_consumer_closes;
    labelled(
        e,
        "mcrt_slow_consumer_closes",
        "Connections closed as slow consumers, by the bound they crossed.",
        MetricType::Counter,
        "reason",
        [
            (SlowConsumerReason::Bytes.as_str(), slow.bytes),
            (SlowConsumerReason::Frames.as_str(), slow.frames),
            (SlowConsumerReason::Stalled.as_str(), slow.stalled),
        ],
    )?;
    Ok(())
}

/// Authentications, timeouts, refused handshakes, client events and hook panics.
fn encode_connection_health(e: &mut DescriptorEncoder, m: &MetricsSnapshot) -> Result<(), Error> {
    labelled(
        e,
        "mcrt_auth_attempts",
        "Authentications by result.",
        MetricType::Counter,
        "result",
        [("success", m.auth_successes), ("failure", m.auth_failures)],
    )?;
    counter(
        e,
        "mcrt_auth_timeouts",
        "Connections closed for not authenticating in time.",
        m.auth_timeouts,
    )?;
    counter(
        e,
        "mcrt_ping_timeouts",
        "Connections closed for not answering a ping.",
        m.ping_timeouts,
    )?;
    counter(
        e,
        "mcrt_connections_refused",
        "Handshakes refused at the connection limit.",
        m.connections_refused,
    )?;
    labelled(
        e,
        "mcrt_client_events",
        "Client events by outcome.",
        MetricType::Counter,
        "outcome",
        [
            ("forwarded", m.client_events_forwarded),
            ("dropped", m.client_events_dropped),
        ],
    )?;
    counter(
        e,
        "mcrt_hook_panics",
        "Panics caught inside host hooks.",
        m.hook_panics,
    )?;
    Ok(())
}

/// Bad inputs by kind, and the delivery latency histogram.
fn encode_bad_inputs_and_latency(
    e: &mut DescriptorEncoder,
    m: &MetricsSnapshot,
) -> Result<(), Error> {
    let mut bad = e.encode_descriptor(
        "mcrt_bad_inputs",
        "Bad inputs by kind.",
        None,
        MetricType::Counter,
    )?;
    for (kind, n) in &m.bad_inputs {
        let name = serde_json::to_value(kind).ok();
        let label = name.as_ref().and_then(|v| v.as_str()).unwrap_or("unknown");
        ConstCounter::new(*n).encode(bad.encode_family(&[("kind", label)])?)?;
    }
    let mut tokens = e.encode_descriptor(
        "mcrt_token_refusals",
        "Refused JWTs by auth:error code.",
        None,
        MetricType::Counter,
    )?;
    for (code, n) in &m.token_refusals {
        ConstCounter::new(*n).encode(tokens.encode_family(&[("code", *code)])?)?;
    }
    let latency = &m.delivery_latency;
    e.encode_descriptor(
        "mcrt_delivery_latency",
        "Time from an emit to the transport taking its frame for writing (oldest frame of each batch a socket drains).",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?
    .encode_histogram::<NoLabelSet>(
        latency.sum_nanos as f64 / 1e9,
        latency.count,
        &latency.buckets_seconds(),
        None,
    )?;
    Ok(())
}

/// Encodes `metrics` (and this process's memory and CPU) in the text exposition format.
pub fn encode(metrics: MetricsSnapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        metrics,
        process: process::sample(),
    }));
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        // Writing into a String cannot fail; a malformed family would be a bug here.
        tracing::error!(%error, "the Prometheus exposition could not be encoded");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::BadInputKind;

    #[test]
    fn counters_get_total_and_units_and_labels() {
        let latency = crate::metrics::LatencyHistogram::default();
        for micros in [50, 90, 400] {
            latency.observe(std::time::Duration::from_micros(micros));
        }
        let text = encode(MetricsSnapshot {
            emits_unchanged: 7,
            delivery_latency: latency.snapshot(),
            bad_inputs: vec![(BadInputKind::InvalidJson, 2)],
            token_refusals: vec![("unknown_kid", 3)],
            slow_consumer_closes: crate::metrics::SlowConsumerCloses {
                bytes: 4,
                frames: 0,
                stalled: 1,
            },
            ..MetricsSnapshot::default()
        });
        assert!(text.contains("# TYPE mcrt_emits counter"), "{text}");
        assert!(
            text.contains("mcrt_emits_total{outcome=\"unchanged\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("mcrt_token_refusals_total{code=\"unknown_kid\"} 3")
                && text.contains("mcrt_bad_inputs_total{kind=\"invalid_json\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mcrt_slow_consumer_closes_total{reason=\"bytes\"} 4")
                && text.contains("mcrt_slow_consumer_closes_total{reason=\"frames\"} 0")
                && text.contains("mcrt_slow_consumer_closes_total{reason=\"stalled\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("mcrt_delivery_latency_seconds_bucket{le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("mcrt_delivery_latency_seconds_bucket{le=\"0.0001\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mcrt_delivery_latency_seconds_bucket{le=\"0.0005\"} 3"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
