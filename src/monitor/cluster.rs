//! Monitoring across the nodes of a cluster sharing a broker: the alerts other nodes
//! raised (kept per node, so `Hub::alerts` lists them and a node that leaves has them
//! cleared), and the per-node stats figures with their cluster totals in
//! `admin:server:stats`.
//!
//! What travels, and why it is cheap:
//! - activity needs nothing: every node already delivers every other node's changed
//!   calls (the broker replicates them), so each node's feed sees the cluster's
//!   activity; an entry names the node that decided it (`node`);
//! - alerts whose inputs are node-local (authentication failures, slow consumers,
//!   persistence, the connection limit, host rules) are published once per tick in
//!   which some changed, as one broker message (`Message::Alerts`); those computed from
//!   replicated events (`module_flapping`, `modules_offline_together`) are raised by
//!   every node for its own admins and never forwarded, so nobody gets them twice;
//! - each node's stats figures ride on its heartbeat report (one `SET` a second that
//!   exists anyway), so a node that dies drops out of the totals when its heartbeat
//!   expires (3 s), and its alerts are then cleared on every other node;
//! - so do its raised node-scoped alerts: a node that joins later (or did not hear a
//!   node before) takes them from that node's report the first time it sees the node
//!   live, and from then on follows the node's messages. A clear heard before that
//!   first read wins over the report, which may be a second older.
//!
//! This module must not talk to the broker nor decide who receives the events it
//! builds. Guarded by `tests/cluster/monitor_redis.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::{ADMIN_ALERT, ADMIN_ALERT_CLEARED};
use crate::event::{Audience, Event, now_ms};

/// The alerts other nodes raised and have not cleared, by node then id.
#[derive(Default)]
pub(crate) struct RemoteAlerts {
    by_node: HashMap<String, IndexMap<String, Value>>,
    /// The nodes whose raised alerts were taken from their report ([`Self::seed`]).
    known: BTreeSet<String>,
    /// Alerts cleared by nodes not known yet: their report may still list them.
    cleared_early: HashMap<String, HashSet<String>>,
}

impl RemoteAlerts {
    /// Notes the alerts `node` raised or cleared (events as it published them).
    pub(crate) fn apply(&mut self, node: &str, events: &[Event]) {
        for event in events {
            let Some(id) = event.payload.get("id").and_then(Value::as_str) else {
                continue;
            };
            let early = (!self.known.contains(node))
                .then(|| self.cleared_early.entry(node.to_owned()).or_default());
            if &*event.name == ADMIN_ALERT {
                self.by_node
                    .entry(node.to_owned())
                    .or_default()
                    .insert(id.to_owned(), event.payload.clone());
                if let Some(early) = early {
                    early.remove(id);
                }
            } else {
                if let Some(alerts) = self.by_node.get_mut(node) {
                    alerts.shift_remove(id);
                }
                if let Some(early) = early {
                    early.insert(id.to_owned());
                }
            }
        }
        self.by_node.retain(|_, alerts| !alerts.is_empty());
        self.cleared_early.retain(|_, ids| !ids.is_empty());
    }

    /// Whether a node of `live` other than `me` has not had its alerts taken from its
    /// report yet.
    pub(crate) fn has_unknown(&self, live: &BTreeSet<String>, me: &str) -> bool {
        live.iter()
            .any(|node| node != me && !self.known.contains(node))
    }

    /// Takes the raised alerts each not yet known node listed in its report (`reports`:
    /// node and its alerts' payloads) and returns, per node, an `admin:alert` for each
    /// one this node did not have, for its own admins. Alerts such a node was heard
    /// clearing since are left out.
    pub(crate) fn seed(&mut self, reports: Vec<(String, Vec<Value>)>) -> Vec<(String, Vec<Event>)> {
        let mut seeded = Vec::new();
        for (node, alerts) in reports {
            if !self.known.insert(node.clone()) {
                continue;
            }
            let cleared = self.cleared_early.remove(&node).unwrap_or_default();
            let held = self.by_node.entry(node.clone()).or_default();
            let mut events = Vec::new();
            for payload in alerts {
                let Some(id) = payload.get("id").and_then(Value::as_str) else {
                    continue;
                };
                if cleared.contains(id) || held.contains_key(id) {
                    continue;
                }
                held.insert(id.to_owned(), payload.clone());
                events.push(Event::new(ADMIN_ALERT, payload, Audience::Admins));
            }
            if !events.is_empty() {
                seeded.push((node, events));
            }
        }
        self.by_node.retain(|_, alerts| !alerts.is_empty());
        seeded
    }

    /// Forgets the nodes not in `live` and returns an `admin:alert:cleared` (with
    /// `reason: "node_left"`) for each alert they still had raised.
    pub(crate) fn departed(&mut self, live: &BTreeSet<String>) -> Vec<Event> {
        let now = now_ms();
        let mut events = Vec::new();
        self.known.retain(|node| live.contains(node));
        self.cleared_early.retain(|node, _| live.contains(node));
        self.by_node.retain(|node, alerts| {
            if live.contains(node) {
                return true;
            }
            for (_, raised) in alerts.drain(..) {
                let mut cleared = raised;
                if let Value::Object(map) = &mut cleared {
                    map.remove("message");
                    map.insert("clearedAt".into(), json!(now));
                    map.insert("timestamp".into(), json!(now));
                    map.insert("reason".into(), json!("node_left"));
                }
                events.push(Event::new(ADMIN_ALERT_CLEARED, cleared, Audience::Admins));
            }
            false
        });
        events
    }

    /// Whether nothing is held about other nodes' alerts: none raised, and no clear
    /// waiting for its node's report (so the cluster view is read until there is none,
    /// and those are dropped with the node or once it is known).
    pub(crate) fn is_empty(&self) -> bool {
        self.by_node.is_empty() && self.cleared_early.is_empty()
    }

    /// The raised alerts of other nodes, as `admin:alert` payloads.
    pub(crate) fn active(&self) -> impl Iterator<Item = &Value> {
        self.by_node.values().flat_map(IndexMap::values)
    }
}

/// The figures of a node's `admin:server:stats` that its heartbeat report carries and
/// `cluster.byNode` shows (connections are reported apart, with online users).
pub(crate) const NODE_FIGURES: [&str; 6] = [
    "eventsPerSecond",
    "unchangedRatio",
    "queues",
    "deliveryLatencyMs",
    "process",
    "persistence",
];

/// A node's own stats reduced to [`NODE_FIGURES`], for its heartbeat report.
pub(crate) fn node_figures(stats: &Value) -> Value {
    let mut figures = Map::new();
    for name in NODE_FIGURES {
        if let Some(value) = stats.get(name) {
            figures.insert(name.to_owned(), value.clone());
        }
    }
    Value::Object(figures)
}

/// Cluster totals of the nodes' figures: rates, queue totals, memory and CPU add up;
/// the deepest queue and the delivery latencies are the worst node's.
pub(crate) fn figure_totals<'a>(figures: impl Iterator<Item = &'a Value>) -> Value {
    let (mut rate_in, mut rate_out, mut rss, mut cpu) = (0.0, 0.0, 0u64, 0.0);
    let (mut depth_max, mut depth_total, mut overflows, mut conflated) = (0u64, 0u64, 0u64, 0u64);
    let (mut p50, mut p99): (Option<f64>, Option<f64>) = (None, None);
    let float = |value: &Value, a: &str, b: &str| value[a][b].as_f64();
    let whole = |value: &Value, a: &str, b: &str| value[a][b].as_u64().unwrap_or(0);
    for node in figures {
        rate_in += float(node, "eventsPerSecond", "in").unwrap_or(0.0);
        rate_out += float(node, "eventsPerSecond", "out").unwrap_or(0.0);
        rss += whole(node, "process", "rssMiB");
        cpu += float(node, "process", "cpuPercent").unwrap_or(0.0);
        depth_max = depth_max.max(whole(node, "queues", "depthMax"));
        depth_total += whole(node, "queues", "depthTotal");
        overflows += whole(node, "queues", "overflows");
        conflated += whole(node, "queues", "conflated");
        let worst = |now: Option<f64>, seen: Option<f64>| match (now, seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        p50 = worst(p50, float(node, "deliveryLatencyMs", "p50"));
        p99 = worst(p99, float(node, "deliveryLatencyMs", "p99"));
    }
    let round1 = |value: f64| (value * 10.0).round() / 10.0;
    json!({
        "eventsPerSecond": {"in": round1(rate_in), "out": round1(rate_out)},
        "queues": {"depthMax": depth_max, "depthTotal": depth_total,
            "overflows": overflows, "conflated": conflated},
        "deliveryLatencyMs": {"p50": p50, "p99": p99},
        "process": {"rssMiB": rss, "cpuPercent": round1(cpu)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raised(id: &str) -> Event {
        Event::new(
            ADMIN_ALERT,
            json!({"id": id, "kind": "slow_consumers", "message": "m", "node": "b"}),
            Audience::Admins,
        )
    }

    #[test]
    fn a_departed_nodes_alerts_are_cleared_once() {
        let mut remote = RemoteAlerts::default();
        remote.apply("b", &[raised("slow_consumers@b")]);
        remote.apply("c", &[raised("auth_failures:1.2.3.4@c")]);
        assert_eq!(remote.active().count(), 2);
        let live: BTreeSet<String> = ["a".to_owned(), "c".to_owned()].into();
        let cleared = remote.departed(&live);
        assert_eq!(cleared.len(), 1);
        assert_eq!(&*cleared[0].name, ADMIN_ALERT_CLEARED);
        assert_eq!(cleared[0].payload["id"], "slow_consumers@b");
        assert_eq!(cleared[0].payload["reason"], "node_left");
        assert!(remote.departed(&live).is_empty());
        let clear = Event::new(
            ADMIN_ALERT_CLEARED,
            json!({"id": "auth_failures:1.2.3.4@c"}),
            Audience::Admins,
        );
        remote.apply("c", &[clear]);
        assert_eq!(remote.active().count(), 0);
        // c was never read from its report: the clear waits for it.
        assert!(!remote.is_empty());
        assert!(remote.seed(vec![("c".into(), Vec::new())]).is_empty());
        assert!(remote.is_empty());
    }

    #[test]
    fn a_report_seeds_alerts_once_and_never_those_cleared_since() {
        let mut remote = RemoteAlerts::default();
        let live: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
        assert!(remote.has_unknown(&live, "a"));
        // Heard from b before its report was read: one raise, one clear.
        remote.apply("b", &[raised("x@b")]);
        let clear = Event::new(ADMIN_ALERT_CLEARED, json!({"id": "y@b"}), Audience::Admins);
        remote.apply("b", &[clear]);
        // The report, older than the clear, still lists y; x is held already.
        let report = ["x@b", "y@b", "z@b"].map(|id| raised(id).payload).to_vec();
        let seeded = remote.seed(vec![("b".into(), report.clone())]);
        assert_eq!(seeded.len(), 1);
        let (node, events) = &seeded[0];
        assert_eq!(node, "b");
        let ids: Vec<&Value> = events.iter().map(|e| &e.payload["id"]).collect();
        assert_eq!(ids, [&json!("z@b")], "only what this node did not know");
        assert!(events.iter().all(|e| &*e.name == ADMIN_ALERT));
        let held: Vec<&Value> = remote.active().map(|a| &a["id"]).collect();
        assert_eq!(held, [&json!("x@b"), &json!("z@b")]);
        assert!(!remote.has_unknown(&live, "a"), "b is known now");
        assert!(remote.seed(vec![("b".into(), report)]).is_empty(), "once");
        // A node that leaves and comes back is read again.
        let only_a: BTreeSet<String> = ["a".to_owned()].into();
        assert_eq!(remote.departed(&only_a).len(), 2);
        assert!(remote.has_unknown(&live, "a"));
    }

    #[test]
    fn totals_add_rates_and_take_the_worst_latency() {
        let a = json!({"eventsPerSecond": {"in": 1.5, "out": 2.0}, "process": {"rssMiB": 10, "cpuPercent": 1.0},
            "queues": {"depthMax": 3, "depthTotal": 4, "overflows": 0, "conflated": 1},
            "deliveryLatencyMs": {"p50": 0.2, "p99": 1.0}});
        let b = json!({"eventsPerSecond": {"in": 2.5, "out": 0.0}, "process": {"rssMiB": 20, "cpuPercent": null},
            "queues": {"depthMax": 5, "depthTotal": 1, "overflows": 2, "conflated": 0},
            "deliveryLatencyMs": {"p50": null, "p99": 3.0}});
        let totals = figure_totals([&a, &b].into_iter());
        assert_eq!(totals["eventsPerSecond"], json!({"in": 4.0, "out": 2.0}));
        assert_eq!(totals["process"], json!({"rssMiB": 30, "cpuPercent": 1.0}));
        assert_eq!(totals["queues"]["depthMax"], 5);
        assert_eq!(totals["queues"]["depthTotal"], 5);
        assert_eq!(totals["deliveryLatencyMs"], json!({"p50": 0.2, "p99": 3.0}));
    }
}
