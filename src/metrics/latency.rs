//! The delivery-latency histogram: how long a frame waited between the emit that made it
//! and the transport taking it from a connection's queue to write it.
//!
//! Owns fixed buckets of relaxed atomic counters, so observing is a few atomic adds with
//! no lock and no allocation. A transport observes once per drained batch (the batch's
//! oldest frame, an upper bound for the rest), not once per frame, so a broadcast to
//! 100,000 connections costs one observation per socket wake-up. This module must not
//! know about sockets or events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds of the buckets, in microseconds (the last bucket, +Inf, is implicit).
pub const BUCKET_BOUNDS_MICROS: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

const BUCKETS: usize = BUCKET_BOUNDS_MICROS.len() + 1;

/// A lock-free latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Non-cumulative counts; index `BUCKETS - 1` is the +Inf bucket.
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn observe(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let index = BUCKET_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|bucket| bucket.load(Ordering::Relaxed))
                .collect(),
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// The histogram's counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LatencySnapshot {
    /// Non-cumulative count per bucket, bounds in [`BUCKET_BOUNDS_MICROS`], then +Inf.
    pub buckets: Vec<u64>,
    /// Sum of every observation, in nanoseconds.
    pub sum_nanos: u64,
    /// Number of observations.
    pub count: u64,
}

impl LatencySnapshot {
    /// Observations made since `earlier` (both from the same histogram).
    pub fn since(&self, earlier: &LatencySnapshot) -> LatencySnapshot {
        LatencySnapshot {
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(earlier.buckets.get(i).copied().unwrap_or(0)))
                .collect(),
            sum_nanos: self.sum_nanos.saturating_sub(earlier.sum_nanos),
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The upper bound of the bucket holding the `quantile` (0..=1) observation, in
    /// microseconds; `None` without observations or when it is in the +Inf bucket.
    pub fn quantile_micros(&self, quantile: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * quantile.clamp(0.0, 1.0))
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0u64;
        for (index, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return BUCKET_BOUNDS_MICROS.get(index).copied();
            }
        }
        None
    }

    /// `(upper bound in seconds, count)` per bucket, not cumulative, +Inf last as
    /// `f64::MAX`: the shape `prometheus-client`'s histogram encoder takes (it sums the
    /// counts into the cumulative `_bucket` series itself).
    pub fn buckets_seconds(&self) -> Vec<(f64, u64)> {
        (0..BUCKETS)
            .map(|index| {
                let bound = BUCKET_BOUNDS_MICROS
                    .get(index)
                    .map_or(f64::MAX, |micros| *micros as f64 / 1e6);
                (bound, self.buckets.get(index).copied().unwrap_or(0))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_bucket_of_their_upper_bound() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_micros(101));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets[0], 1);
        assert_eq!(snapshot.buckets[1], 1);
        assert_eq!(snapshot.buckets[BUCKETS - 1], 1);
        assert_eq!(snapshot.count, 3);
        let buckets = snapshot.buckets_seconds();
        assert_eq!(buckets.len(), BUCKETS);
        assert_eq!(buckets[0], (0.0001, 1));
        assert_eq!(buckets.last(), Some(&(f64::MAX, 1)));
    }

    #[test]
    fn p99_is_the_bound_of_the_bucket_holding_the_99th_percentile() {
        let histogram = LatencyHistogram::default();
        for _ in 0..99 {
            histogram.observe(Duration::from_micros(80));
        }
        let before = histogram.snapshot();
        assert_eq!(before.quantile_micros(0.99), Some(100));
        histogram.observe(Duration::from_millis(20));
        histogram.observe(Duration::from_millis(20));
        let after = histogram.snapshot();
        assert_eq!(after.quantile_micros(0.99), Some(25_000));
        assert_eq!(after.since(&before).count, 2);
        assert_eq!(LatencySnapshot::default().quantile_micros(0.99), None);
    }
}
