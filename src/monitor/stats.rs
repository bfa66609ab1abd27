//! `admin:server:stats`: server performance computed every stats interval from the
//! hub's counters, the registry's census and `/proc/self`, and sent only when a value
//! differs from the last one sent.
//!
//! Rates and ratios are over the last interval and rounded (events/s to 0.1, CPU to
//! 0.1 %, memory to the MiB), so a quiet server's stats stop changing and stop being
//! sent. This module must not read the registry or the hub itself: it is handed a
//! [`StatsInput`].

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::metrics::LatencySnapshot;
use crate::snapshot::MetricsSnapshot;

use super::process::ProcessSample;

/// Connections on one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageCensus {
    pub(crate) page: String,
    pub(crate) users: usize,
    pub(crate) admins: usize,
}

/// What one stats computation reads.
pub(crate) struct StatsInput {
    pub(crate) metrics: MetricsSnapshot,
    pub(crate) pages: Vec<PageCensus>,
    pub(crate) queue_depth_max: usize,
    pub(crate) queue_depth_total: usize,
    pub(crate) process: ProcessSample,
}

/// The previous reading (for rates) and the last stats sent (for change detection).
#[derive(Default)]
pub(crate) struct StatsTracker {
    previous: Option<(Instant, MetricsSnapshot, ProcessSample)>,
    last_sent: Option<Value>,
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn inbound(m: &MetricsSnapshot) -> u64 {
    m.emits_changed
        + m.emits_unchanged
        + m.emits_failed
        + m.client_events_forwarded
        + m.client_events_dropped
        + m.auth_successes
        + m.auth_failures
}

impl StatsTracker {
    /// Computes the stats payload (without `timestamp`) and makes `input` the baseline
    /// of the next rates.
    pub(crate) fn compute(&mut self, now: Instant, input: StatsInput) -> Value {
        let m = &input.metrics;
        let Rates {
            rate_in,
            rate_out,
            unchanged_ratio,
            cpu,
            latency,
        } = self.rates(now, &input);
        let (by_page, users, admins) = page_census(&input.pages);
        let c = &m.connections;
        let ms = |micros: Option<u64>| micros.map(|micros| micros as f64 / 1000.0);
        let stats = json!({
            "connections": {
                "total": c.unauthenticated + c.users + c.admins + c.devices,
                "unauthenticated": c.unauthenticated,
                "devices": c.devices,
                "users": users,
                "admins": admins,
                "byPage": by_page,
            },
            "eventsPerSecond": {"in": rate_in, "out": rate_out},
            "unchangedRatio": unchanged_ratio,
            "queues": {
                "depthMax": input.queue_depth_max,
                "depthTotal": input.queue_depth_total,
                "overflows": m.slow_consumer_closes.bytes + m.slow_consumer_closes.frames,
                "writeStalls": m.slow_consumer_closes.stalled,
                "conflated": m.frames_conflated,
            },
            "deliveryLatencyMs": {"p50": ms(latency.quantile_micros(0.5)), "p99": ms(latency.quantile_micros(0.99))},
            "process": {
                "rssMiB": input.process.rss_bytes.map(|bytes| bytes / (1024 * 1024)),
                "cpuPercent": cpu,
            },
            "persistence": m.persistence.as_ref().map(|p| json!({
                "degraded": p.degraded,
                "lag": p.lag,
                "rowsDropped": p.rows_dropped,
                "writeErrors": p.write_errors,
            })),
        });
        self.previous = Some((now, input.metrics, input.process));
        stats
    }

    /// Rates and deltas since the previous computation (zero and none for the first).
    fn rates(&self, now: Instant, input: &StatsInput) -> Rates {
        let m = &input.metrics;
        match &self.previous {
            Some((at, before, process_before)) => {
                let seconds = now.duration_since(*at).as_secs_f64().max(1e-3);
                let rate = |now: u64, then: u64| round1(now.saturating_sub(then) as f64 / seconds);
                let changed = m.emits_changed.saturating_sub(before.emits_changed);
                let unchanged = m.emits_unchanged.saturating_sub(before.emits_unchanged);
                let ratio = (changed + unchanged > 0).then(|| {
                    (unchanged as f64 / (changed + unchanged) as f64 * 1000.0).round() / 1000.0
                });
                let cpu = match (input.process.cpu_time, process_before.cpu_time) {
                    (Some(now_cpu), Some(then_cpu)) => Some(round1(
                        now_cpu.saturating_sub(then_cpu).as_secs_f64() / seconds * 100.0,
                    )),
                    _ => None,
                };
                Rates {
                    rate_in: rate(inbound(m), inbound(before)),
                    rate_out: rate(m.frames_delivered, before.frames_delivered),
                    unchanged_ratio: ratio,
                    cpu,
                    latency: m.delivery_latency.since(&before.delivery_latency),
                }
            }
            None => Rates {
                rate_in: 0.0,
                rate_out: 0.0,
                unchanged_ratio: None,
                cpu: None,
                latency: m.delivery_latency.clone(),
            },
        }
    }

    /// Moves the rate baseline to `now` without computing stats (nobody is watching).
    pub(crate) fn rebase(
        &mut self,
        now: Instant,
        metrics: MetricsSnapshot,
        process: ProcessSample,
    ) {
        self.previous = Some((now, metrics, process));
    }

    /// Whether `stats` differs from the last stats sent; if so it becomes the last sent.
    pub(crate) fn changed(&mut self, stats: &Value) -> bool {
        if self.last_sent.as_ref() == Some(stats) {
            return false;
        }
        self.last_sent = Some(stats.clone());
        true
    }
}

/// What changed since the previous stats computation.
struct Rates {
    rate_in: f64,
    rate_out: f64,
    unchanged_ratio: Option<f64>,
    cpu: Option<f64>,
    latency: LatencySnapshot,
}

/// The connections of each page, and the user and admin totals.
fn page_census(pages: &[PageCensus]) -> (Map<String, Value>, usize, usize) {
    let mut by_page = Map::new();
    let (mut users, mut admins) = (0, 0);
    for census in pages {
        users += census.users;
        admins += census.admins;
        by_page.insert(
            census.page.clone(),
            json!({"users": census.users, "admins": census.admins}),
        );
    }
    (by_page, users, admins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn input(delivered: u64) -> StatsInput {
        StatsInput {
            metrics: MetricsSnapshot {
                frames_delivered: delivered,
                emits_changed: delivered,
                ..MetricsSnapshot::default()
            },
            pages: vec![PageCensus {
                page: "admin".into(),
                users: 0,
                admins: 1,
            }],
            queue_depth_max: 0,
            queue_depth_total: 0,
            process: ProcessSample::default(),
        }
    }

    #[test]
    fn rates_are_per_second_over_the_interval_and_quiet_stats_do_not_change() {
        let mut tracker = StatsTracker::default();
        let start = Instant::now();
        let first = tracker.compute(start, input(0));
        assert!(tracker.changed(&first));
        let busy = tracker.compute(start + Duration::from_secs(2), input(100));
        assert_eq!(busy["eventsPerSecond"]["out"], 50.0);
        assert_eq!(busy["unchangedRatio"], 0.0);
        assert_eq!(busy["connections"]["byPage"]["admin"]["admins"], 1);
        assert!(tracker.changed(&busy));
        let quiet = tracker.compute(start + Duration::from_secs(4), input(100));
        assert!(tracker.changed(&quiet), "rates fell to zero");
        let still = tracker.compute(start + Duration::from_secs(6), input(100));
        assert!(!tracker.changed(&still), "nothing moved: not sent again");
    }
}
