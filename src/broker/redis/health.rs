//! Redis's health as one node sees it: marking it down on a failed command (one warning
//! per outage), remembering what was decided locally meanwhile, the heartbeat that
//! reports this node with an expiry and doubles as the health probe, and the recovery
//! that writes the remembered state back before shared decisions resume (reconnecting
//! through `target.rs`, so after a Sentinel or Cluster failover it reaches the new
//! master). Must not deliver anything. Guarded by `tests/cluster/seq_floor_redis.rs`
//! (the sequence counter raised back after Redis restarts empty) and the failover
//! suites (`tests/cluster/sentinel_redis.rs`, `tests/cluster/cluster_mode_redis.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis::Commands;
use serde_json::Value;

use super::{HEARTBEAT_PERIOD, HEARTBEAT_TTL, Shared, open};
use crate::broker::{BrokerStats, ClaimField};

/// Sets `KEYS[1]` to `ARGV[1]` if it holds less.
const SEQ_FLOOR: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
";

impl Shared {
    pub(super) fn mark_down(&self, what: &str, error: &redis::RedisError) {
        *self.command.lock() = None;
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(%error, "Redis unreachable ({what}): local change detection and delivery only until it returns");
        }
    }

    pub(super) fn remember_pending(&self, key: &str, fields: &[ClaimField<'_>]) {
        let mut pending = self.pending.lock();
        let entry = pending.entry(key.to_owned()).or_default();
        for field in fields {
            match entry.iter_mut().find(|(name, _)| name == field.name) {
                Some(slot) => field.value.clone_into(&mut slot.1),
                None => entry.push((field.name.to_owned(), field.value.to_owned())),
            }
        }
    }

    /// Reconnects, writes back what was decided locally meanwhile, then resumes.
    fn try_recover(&self) {
        let Ok(mut connection) = open(&self.client) else {
            return;
        };
        // A Redis that restarted has forgotten the script.
        if self.script.load(&mut connection).is_err() {
            return;
        }
        if self.raise_seq_floor(&mut connection).is_err() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending.lock());
        for (key, fields) in &pending {
            let written: redis::RedisResult<()> = connection.hset_multiple(self.key(key), fields);
            if written.is_err() {
                self.pending.lock().extend(pending);
                return;
            }
        }
        *self.command.lock() = Some(connection);
        self.down.store(false, Ordering::SeqCst);
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            reasserted = pending.len(),
            "Redis reachable again: shared change detection resumed"
        );
    }

    /// A failover may lose the last writes the old master had not replicated, the
    /// sequence counter's among them: raised back to the newest number this node
    /// applied, so other nodes do not drop the next changes as stale.
    fn raise_seq_floor(&self, connection: &mut redis::Connection) -> redis::RedisResult<()> {
        let floor = self.applied.lock().values().copied().max().unwrap_or(0);
        redis::Script::new(SEQ_FLOOR)
            .key(self.key("seq"))
            .arg(floor)
            .invoke(connection)
    }

    fn heartbeat(&self) {
        let report = self.node.lock().as_ref().map(|node| node.report());
        let Some(mut report) = report else {
            return;
        };
        if let Value::Object(map) = &mut report {
            map.insert("node".into(), Value::String(self.node_id.clone()));
        }
        let key = self.key(&format!("node:{}", self.node_id));
        let ttl = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(3000);
        self.with_command("heartbeat", |c| {
            self.beat_pids(c);
            redis::cmd("SET")
                .arg(&key)
                .arg(report.to_string())
                .arg("PX")
                .arg(ttl)
                .query::<()>(c)
        });
    }

    pub(super) fn heartbeat_loop(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            if self.down.load(Ordering::SeqCst) {
                self.try_recover();
            }
            self.heartbeat();
            std::thread::park_timeout(HEARTBEAT_PERIOD);
        }
        let key = self.key(&format!("node:{}", self.node_id));
        self.with_command("leave", |c| {
            self.forget_pids(c);
            c.del::<_, ()>(&key)
        });
    }

    /// Every live node's report (the heartbeats' keys), this node's included.
    pub(super) fn cluster_reports(&self) -> Option<Vec<Value>> {
        let shared = self;
        let pattern = shared.key("node:*");
        let reports = shared.with_command("cluster view", |c| {
            let keys = c
                .scan_match::<_, String>(&pattern)?
                .collect::<redis::RedisResult<Vec<String>>>()?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            c.mget::<_, Vec<Option<String>>>(&keys)
        })?;
        Some(
            reports
                .into_iter()
                .flatten()
                .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
                // A node that has taken its id but not reported yet holds `{}`.
                .filter(|report| report.get("node").is_some())
                .collect(),
        )
    }

    /// The broker's counters.
    pub(super) fn stats(&self) -> BrokerStats {
        let s = self;
        BrokerStats {
            reachable: !s.down.load(Ordering::SeqCst),
            fallbacks: s.fallbacks.load(Ordering::Relaxed),
            publish_failures: s.publish_failures.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            stale: s.stale.load(Ordering::Relaxed),
            malformed: s.malformed.load(Ordering::Relaxed),
            reconnects: s.reconnects.load(Ordering::Relaxed),
            claims: s.claims_sent.load(Ordering::Relaxed),
            claim_round_trips: s.claim_round_trips.load(Ordering::Relaxed),
        }
    }
}
