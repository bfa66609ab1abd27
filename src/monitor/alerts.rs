//! Alerts: conditions an operator should look at, raised once as `admin:alert {level,
//! kind, message, data}` when they begin and answered by one `admin:alert:cleared` when
//! they end (one alert per condition, however long it lasts).
//!
//! Each tick the rules say which conditions hold *now*; [`AlertBook`] compares that
//! with what is raised and emits only the transitions. Built-in rules (thresholds in
//! [`AlertRules`]): a module flapping, many modules of one user offline together,
//! authentication-failure bursts per address, slow-consumer closes, persistence
//! degraded, connections near the limit; a host adds its own with [`AlertRule`].
//! This module must not decide who receives the events it builds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};

use crate::event::{Audience, Event, now_ms};

use super::{ADMIN_ALERT, ADMIN_ALERT_CLEARED, Windows};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Worth knowing.
    Info,
    /// Something is wrong with part of the system.
    Warning,
    /// The service itself is at risk.
    Critical,
}

/// One condition that holds. Two alerts with the same `kind` and `subject` are the same
/// condition: it is raised once and cleared once.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Urgency.
    pub level: AlertLevel,
    /// Stable name of the rule, e.g. `module_flapping`.
    pub kind: String,
    /// What it is about (a module id, a user id, an address; empty for the server).
    pub subject: String,
    /// One human sentence.
    pub message: String,
    /// Figures behind it (ids, counts, thresholds).
    pub data: Value,
}

impl Alert {
    fn id(&self) -> String {
        if self.subject.is_empty() {
            self.kind.clone()
        } else {
            format!("{}:{}", self.kind, self.subject)
        }
    }
}

/// A host rule, evaluated each time server stats are computed.
pub trait AlertRule: Send + Sync + 'static {
    /// The conditions that hold now, given the latest `admin:server:stats` payload
    /// (fields in the [`monitor`](super) docs). A condition absent from the answer is
    /// cleared.
    fn check(&self, stats: &Value) -> Vec<Alert>;
}

impl<F: Fn(&Value) -> Vec<Alert> + Send + Sync + 'static> AlertRule for F {
    fn check(&self, stats: &Value) -> Vec<Alert> {
        self(stats)
    }
}

/// Thresholds of the built-in rules, and host rules.
#[derive(Clone)]
pub struct AlertRules {
    /// A module changing status more than this many times within `flapping_window` is
    /// flapping (default 6 in 60 s).
    pub flapping_changes: usize,
    /// See `flapping_changes`.
    pub flapping_window: Duration,
    /// At least this many modules of one user going offline within
    /// `offline_together_window` raise `modules_offline_together` (default 5 in 10 s).
    pub offline_together: usize,
    /// See `offline_together`.
    pub offline_together_window: Duration,
    /// At least this many refused authentications from one address within
    /// `auth_failures_window` raise `auth_failures` (default 20 in 60 s).
    pub auth_failures: usize,
    /// See `auth_failures`.
    pub auth_failures_window: Duration,
    /// At least this many slow-consumer closes within `slow_consumer_window` raise
    /// `slow_consumers` (default 1 in 60 s).
    pub slow_consumer_closes: usize,
    /// See `slow_consumer_closes`.
    pub slow_consumer_window: Duration,
    /// Open connections at or above this fraction of the server's `max_connections`
    /// raise `connections_near_limit` (default 0.9).
    pub connections_near_limit: f64,
    /// Host rules.
    pub custom: Vec<Arc<dyn AlertRule>>,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            flapping_changes: 6,
            flapping_window: Duration::from_secs(60),
            offline_together: 5,
            offline_together_window: Duration::from_secs(10),
            auth_failures: 20,
            auth_failures_window: Duration::from_secs(60),
            slow_consumer_closes: 1,
            slow_consumer_window: Duration::from_secs(60),
            connections_near_limit: 0.9,
            custom: Vec::new(),
        }
    }
}

fn prune(times: &mut std::collections::VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) > window)
    {
        times.pop_front();
    }
}

/// Prunes the windows to their rules' spans and returns the conditions they show.
pub(crate) fn window_conditions(
    rules: &AlertRules,
    windows: &mut Windows,
    now: Instant,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    flapping(rules, windows, now, &mut alerts);
    offline_together(rules, windows, now, &mut alerts);
    auth_failures(rules, windows, now, &mut alerts);
    slow_consumers(rules, windows, now, &mut alerts);
    alerts
}

/// Modules whose status changed more than `flapping_changes` times in the window.
fn flapping(rules: &AlertRules, windows: &mut Windows, now: Instant, alerts: &mut Vec<Alert>) {
    windows.module_changes.retain(|module, (user, times)| {
        prune(times, now, rules.flapping_window);
        if times.len() > rules.flapping_changes {
            alerts.push(Alert {
                level: AlertLevel::Warning,
                kind: "module_flapping".into(),
                subject: module.clone(),
                message: format!(
                    "module {module} changed status {} times in {} s",
                    times.len(),
                    rules.flapping_window.as_secs()
                ),
                data: json!({"moduleId": module, "userId": user, "changes": times.len(),
                    "threshold": rules.flapping_changes, "windowSeconds": rules.flapping_window.as_secs()}),
            });
        }
        !times.is_empty()
    });
}

/// Users with at least `offline_together` modules gone offline in the window.
fn offline_together(
    rules: &AlertRules,
    windows: &mut Windows,
    now: Instant,
    alerts: &mut Vec<Alert>,
) {
    windows.user_offline.retain(|user, times| {
        prune(times, now, rules.offline_together_window);
        if times.len() >= rules.offline_together {
            alerts.push(Alert {
                level: AlertLevel::Warning,
                kind: "modules_offline_together".into(),
                subject: user.clone(),
                message: format!(
                    "{} modules of user {user} went offline together",
                    times.len()
                ),
                data: json!({"userId": user, "modules": times.len(),
                    "threshold": rules.offline_together,
                    "windowSeconds": rules.offline_together_window.as_secs()}),
            });
        }
        !times.is_empty()
    });
}

/// Addresses with at least `auth_failures` refused authentications in the window.
fn auth_failures(rules: &AlertRules, windows: &mut Windows, now: Instant, alerts: &mut Vec<Alert>) {
    windows.auth_failures.retain(|address, times| {
        prune(times, now, rules.auth_failures_window);
        if times.len() >= rules.auth_failures {
            alerts.push(Alert {
                level: AlertLevel::Warning,
                kind: "auth_failures".into(),
                subject: address.to_string(),
                message: format!("{} refused authentications from {address}", times.len()),
                data: json!({"address": address.to_string(), "failures": times.len(),
                    "threshold": rules.auth_failures,
                    "windowSeconds": rules.auth_failures_window.as_secs()}),
            });
        }
        !times.is_empty()
    });
}

/// Connections closed as slow consumers in the window, past the threshold.
fn slow_consumers(
    rules: &AlertRules,
    windows: &mut Windows,
    now: Instant,
    alerts: &mut Vec<Alert>,
) {
    prune(&mut windows.slow_closes, now, rules.slow_consumer_window);
    let closes = windows.slow_closes.len();
    if closes >= rules.slow_consumer_closes.max(1) {
        alerts.push(Alert {
            level: AlertLevel::Warning,
            kind: "slow_consumers".into(),
            subject: String::new(),
            message: format!("{closes} connections closed for reading too slowly"),
            data: json!({"closes": closes, "windowSeconds": rules.slow_consumer_window.as_secs()}),
        });
    }
}

/// Conditions of the whole server: persistence health and the connection count.
pub(crate) fn server_conditions(
    rules: &AlertRules,
    persistence: Option<(bool, Option<String>)>,
    connections: usize,
    limit: usize,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    if let Some((true, last_error)) = persistence {
        alerts.push(Alert {
            level: AlertLevel::Critical,
            kind: "persistence_degraded".into(),
            subject: String::new(),
            message: "the database is failing: writes are being retried".into(),
            data: json!({"lastError": last_error}),
        });
    }
    if limit > 0 && connections as f64 >= limit as f64 * rules.connections_near_limit {
        alerts.push(Alert {
            level: AlertLevel::Critical,
            kind: "connections_near_limit".into(),
            subject: String::new(),
            message: format!("{connections} connections open, the limit is {limit}"),
            data: json!({"connections": connections, "limit": limit}),
        });
    }
    alerts
}

/// The raised alerts, and the transitions since the last tick.
#[derive(Default)]
pub(crate) struct AlertBook {
    active: IndexMap<String, (Alert, u64)>,
    /// This node's id in a cluster (as last given to [`AlertBook::update`]).
    node: Option<String>,
}

impl AlertBook {
    /// Given every condition that holds now, the `admin:alert` events for new ones and
    /// the `admin:alert:cleared` events for those that ended. `node`: this node's id in
    /// a cluster sharing a broker (`None` alone): each payload then names its `node`
    /// and `scope`, and the id of a node-scoped alert ends with `@<node>` so it is
    /// unique cluster-wide.
    pub(crate) fn update(&mut self, holding: Vec<Alert>, node: Option<&str>) -> Vec<Event> {
        let now = now_ms();
        let mut events = Vec::new();
        let mut current: IndexMap<String, Alert> = IndexMap::new();
        for alert in holding {
            let id = match node {
                Some(node) if !is_cluster_scoped(&alert.kind) => format!("{}@{node}", alert.id()),
                _ => alert.id(),
            };
            current.entry(id).or_insert(alert);
        }
        self.active.retain(|id, (alert, raised_at)| {
            if current.contains_key(id) {
                return true;
            }
            let mut payload = json!({"id": id, "level": alert.level, "kind": alert.kind,
                "data": alert.data, "raisedAt": raised_at, "clearedAt": now, "timestamp": now});
            name_node(&mut payload, &alert.kind, node);
            events.push(Event::new(ADMIN_ALERT_CLEARED, payload, Audience::Admins));
            false
        });
        for (id, alert) in current {
            if self.active.contains_key(&id) {
                continue;
            }
            tracing::warn!(kind = %alert.kind, subject = %alert.subject, "alert: {}", alert.message);
            let mut payload = alert_payload(&id, &alert, now);
            name_node(&mut payload, &alert.kind, node);
            events.push(Event::new(ADMIN_ALERT, payload, Audience::Admins));
            self.active.insert(id, (alert, now));
        }
        self.node = node.map(str::to_owned);
        events
    }

    /// The alerts raised and not cleared, as `admin:alert` payloads.
    pub(crate) fn active(&self) -> Vec<Value> {
        self.active
            .iter()
            .map(|(id, (alert, raised_at))| {
                let mut payload = alert_payload(id, alert, *raised_at);
                name_node(&mut payload, &alert.kind, self.node.as_deref());
                payload
            })
            .collect()
    }
}

/// Kinds every node of a cluster computes alike, from the events every node delivers
/// (module status changes reach each node): each node raises them for its own admins
/// and never forwards them, so an admin gets each once. Every other kind (the built-in
/// node-local ones and host rules) concerns the node that raised it and is forwarded.
pub(crate) fn is_cluster_scoped(kind: &str) -> bool {
    matches!(kind, "module_flapping" | "modules_offline_together")
}

/// In a cluster, names the raising node and the alert's scope (`cluster` or `node`).
fn name_node(payload: &mut Value, kind: &str, node: Option<&str>) {
    if let (Some(node), Value::Object(map)) = (node, payload) {
        map.insert("node".into(), json!(node));
        let scope = if is_cluster_scoped(kind) {
            "cluster"
        } else {
            "node"
        };
        map.insert("scope".into(), json!(scope));
    }
}

fn alert_payload(id: &str, alert: &Alert, raised_at: u64) -> Value {
    json!({"id": id, "level": alert.level, "kind": alert.kind, "message": alert.message,
        "data": alert.data, "raisedAt": raised_at, "timestamp": raised_at})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: &str, subject: &str) -> Alert {
        Alert {
            level: AlertLevel::Warning,
            kind: kind.into(),
            subject: subject.into(),
            message: String::new(),
            data: Value::Null,
        }
    }

    #[test]
    fn a_condition_is_raised_once_and_cleared_once() {
        let mut book = AlertBook::default();
        let raised = book.update(vec![alert("module_flapping", "MC-1")], None);
        assert_eq!(raised.len(), 1);
        assert_eq!(&*raised[0].name, ADMIN_ALERT);
        assert!(
            book.update(vec![alert("module_flapping", "MC-1")], None)
                .is_empty()
        );
        let cleared = book.update(vec![], None);
        assert_eq!(cleared.len(), 1);
        assert_eq!(&*cleared[0].name, ADMIN_ALERT_CLEARED);
        assert_eq!(cleared[0].payload["id"], "module_flapping:MC-1");
        assert!(book.update(vec![], None).is_empty());
    }

    #[test]
    fn flapping_needs_more_than_the_threshold_within_the_window() {
        let rules = AlertRules::default();
        let mut windows = Windows::default();
        let start = Instant::now();
        let times: std::collections::VecDeque<_> = (0..6).map(|_| start).collect();
        windows
            .module_changes
            .insert("MC-1".into(), ("1".into(), times));
        assert!(window_conditions(&rules, &mut windows, start).is_empty());
        windows
            .module_changes
            .get_mut("MC-1")
            .unwrap()
            .1
            .push_back(start);
        let alerts = window_conditions(&rules, &mut windows, start);
        assert_eq!(alerts[0].kind, "module_flapping");
        let later = start + rules.flapping_window + Duration::from_secs(1);
        assert!(window_conditions(&rules, &mut windows, later).is_empty());
        assert!(
            windows.module_changes.is_empty(),
            "empty subjects are forgotten"
        );
    }
}
