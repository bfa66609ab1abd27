//! The Prometheus families of the layers a hub may run without: persistence
//! (`mcrt_persistence_*`), the shared broker (`mcrt_broker_*`), a JWKS URL
//! (`mcrt_jwks_*`) and the process
//! (`process_resident_memory_bytes`, `process_cpu_seconds_total`). Each family is
//! written only when its layer is there, so a hub without persistence or a broker shows
//! none of their names. This module must not keep state between scrapes nor read
//! anything but the snapshot it is given. Guarded by the unit tests of `mod.rs`.

use std::fmt::Error;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::counter;
use crate::monitor::process::ProcessSample;
use crate::snapshot::MetricsSnapshot;

/// The database's health, when the hub persists.
pub(super) fn encode_persistence(
    e: &mut DescriptorEncoder,
    m: &MetricsSnapshot,
) -> Result<(), Error> {
    if let Some(p) = &m.persistence {
        ConstGauge::new(u64::from(p.degraded)).encode(e.encode_descriptor(
            "mcrt_persistence_degraded",
            "1 while the database is failing and writes are retried.",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(p.lag).encode(e.encode_descriptor(
            "mcrt_persistence_lag_rows",
            "Rows accepted but not yet committed.",
            None,
            MetricType::Gauge,
        )?)?;
        counter(
            e,
            "mcrt_persistence_rows_written",
            "Rows committed.",
            p.rows_written,
        )?;
        counter(
            e,
            "mcrt_persistence_rows_dropped",
            "Rows that will never be written.",
            p.rows_dropped,
        )?;
        counter(
            e,
            "mcrt_persistence_write_errors",
            "Failed commits.",
            p.write_errors,
        )?;
    }
    Ok(())
}

/// The shared broker's health, when the hub has one.
pub(super) fn encode_broker(e: &mut DescriptorEncoder, m: &MetricsSnapshot) -> Result<(), Error> {
    if let Some(b) = &m.broker {
        ConstGauge::new(u64::from(b.reachable)).encode(e.encode_descriptor(
            "mcrt_broker_reachable",
            "1 while the shared broker (Redis) answers.",
            None,
            MetricType::Gauge,
        )?)?;
        counter(
            e,
            "mcrt_broker_fallback",
            "Change decisions taken locally because the broker was unreachable.",
            b.fallbacks,
        )?;
        counter(
            e,
            "mcrt_broker_publish_failures",
            "Changed emits not published to the other nodes.",
            b.publish_failures,
        )?;
        counter(
            e,
            "mcrt_broker_received",
            "Messages from other nodes delivered here.",
            b.received,
        )?;
        counter(
            e,
            "mcrt_broker_malformed",
            "Broker messages that could not be parsed (dropped).",
            b.malformed,
        )?;
    }
    Ok(())
}

/// The JWKS URL's fetches and key count, when the hub's JWT settings fetch one.
pub(super) fn encode_jwks(e: &mut DescriptorEncoder, m: &MetricsSnapshot) -> Result<(), Error> {
    if let Some(j) = &m.jwks {
        {
            let mut fetches = e.encode_descriptor(
                "mcrt_jwks_fetches",
                "JWKS URL fetches by outcome (a failed one keeps the last good keys).",
                None,
                MetricType::Counter,
            )?;
            for (outcome, n) in [("ok", j.fetches), ("failed", j.fetch_failures)] {
                ConstCounter::new(n).encode(fetches.encode_family(&[("outcome", outcome)])?)?;
            }
        }
        ConstGauge::new(j.keys).encode(e.encode_descriptor(
            "mcrt_jwks_keys",
            "Keys in the JWKS URL's current set.",
            None,
            MetricType::Gauge,
        )?)?;
    }
    Ok(())
}

/// This process's memory and CPU time (Linux).
pub(super) fn encode_process(
    e: &mut DescriptorEncoder,
    process: &ProcessSample,
) -> Result<(), Error> {
    if let Some(rss) = process.rss_bytes {
        ConstGauge::new(rss).encode(e.encode_descriptor(
            "process_resident_memory",
            "Resident memory size.",
            Some(&Unit::Bytes),
            MetricType::Gauge,
        )?)?;
    }
    if let Some(cpu) = process.cpu_time {
        ConstCounter::new(cpu.as_secs_f64()).encode(e.encode_descriptor(
            "process_cpu",
            "User and system CPU time spent.",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?)?;
    }
    Ok(())
}
