//! The hub's side of a shared broker (`broker/`): the shared "changed?" claim each
//! change-detecting emit makes under the emit lock, the publication of a changed emit to
//! the other nodes, and the receiving side: another node's emit applied to this node's
//! store mirror and delivered through this node's registry, exactly as a local emit
//! (same audiences, same before-emit hooks, same queues), with the monitor told which
//! node decided it (its activity entries name that node); another node's alerts go to
//! `hub/monitoring.rs`. The report each heartbeat carries (connections, online users,
//! the monitor's latest stats figures) and the cluster view summed from those reports
//! live here too. Without a shared broker none of this runs: `HubInner::shared` is read
//! once per emit and nothing else is built.
//!
//! This module must not decide isolation (the registry does, on each node) nor talk to
//! Redis (the broker does). Guarded by `tests/clients/node/cluster.test.js` (three server
//! processes on one Redis), `tests/cluster/broker_redis.rs` and
//! `tests/cluster/monitor_redis.rs`.

use serde_json::{Map, Value, json};

use super::{Claimed, Hub, HubInner};
use crate::ids::UserId;
use crate::registry::routing::PageIndex;

use std::sync::Weak;

use super::run::{Mirror, dispatch};
use crate::broker::{Claim, ClaimField, Envelope, Message, Node};

/// The link a broker holds to its hub: weak, so the broker never keeps a dropped hub
/// alive.
pub(super) struct NodeLink(pub(super) Weak<HubInner>);

impl Node for NodeLink {
    fn receive(&self, envelope: Envelope) {
        // Another node's emit is one the library originates here: with a host executor
        // it runs on the host's thread like the grace timer's (see `executor.rs`).
        if let Some(inner) = self.0.upgrade() {
            Hub { inner }.originate(move |hub| hub.receive_remote(envelope));
        }
    }

    fn report(&self) -> Value {
        self.0
            .upgrade()
            .map_or(Value::Null, |inner| Hub { inner }.node_report())
    }
}

/// A claim field compared with nothing when absent.
pub(super) fn field<'a>(name: &'a str, value: &'a str) -> ClaimField<'a> {
    ClaimField {
        name,
        value,
        baseline: None,
    }
}

/// What the shared broker said about one emit, as the emit code uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shared {
    /// No shared decision: the local store decides.
    Local,
    /// Unchanged cluster-wide: the emit sends nothing (the local mirror is not touched).
    Unchanged,
    /// Changed cluster-wide: the emit sends its events even if the local mirror already
    /// had the value (it was behind another node).
    Changed,
}

impl Hub {
    /// Claims `fields` of state `key` with the shared broker (before the emit lock, so
    /// concurrent emitters' claims share a round trip; see [`Hub::superseded`]);
    /// [`Shared::Local`] at once without a shared broker, so the in-memory hub never
    /// builds a key.
    pub(super) fn claim(
        &self,
        claimed: &mut Claimed,
        key: impl FnOnce() -> String,
        fields: &[ClaimField<'_>],
    ) -> Shared {
        self.claim_clearing(claimed, key, fields, Vec::new)
    }

    /// [`Hub::claim`] that also deletes the `clear` state keys when it changes.
    pub(super) fn claim_clearing(
        &self,
        claimed: &mut Claimed,
        key: impl FnOnce() -> String,
        fields: &[ClaimField<'_>],
        clear: impl FnOnce() -> Vec<String>,
    ) -> Shared {
        if !self.inner.shared {
            return Shared::Local;
        }
        let key = key();
        match self.inner.broker.claim(&key, fields, &clear()) {
            Claim::Local => Shared::Local,
            Claim::Unchanged => Shared::Unchanged,
            Claim::Changed { seq, .. } => {
                *claimed = Some((key, seq));
                Shared::Changed
            }
        }
    }

    /// The shared profile claim: each field of `new` compared with the shared profile
    /// (or with `old` where the shared profile has none, as the local store does).
    /// Returns the names of the fields that changed; `None` when the local store decides.
    pub(super) fn claim_profile(
        &self,
        claimed: &mut Claimed,
        user: &UserId,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Option<Vec<String>> {
        if !self.inner.shared {
            return None;
        }
        let values: Vec<(String, Option<String>)> = new
            .iter()
            .map(|(name, value)| (value.to_string(), old.get(name).map(Value::to_string)))
            .collect();
        let fields: Vec<ClaimField<'_>> = new
            .keys()
            .zip(&values)
            .map(|(name, (value, baseline))| ClaimField {
                name,
                value,
                baseline: baseline.as_deref(),
            })
            .collect();
        let key = format!("user:{user}:profile");
        match self.inner.broker.claim(&key, &fields, &[]) {
            Claim::Local => None,
            Claim::Unchanged => Some(Vec::new()),
            Claim::Changed { fields, seq } => {
                *claimed = Some((key, seq));
                Some(fields)
            }
        }
    }

    /// Under the emit lock: whether a change of state `key` decided with sequence `seq`
    /// comes after one already applied here (claims are made before the emit lock, so
    /// two emits of one state may reach it in another order than Redis decided them; the
    /// older is then dropped, like a stale message from another node, and its emitter
    /// told `Unchanged`: the clients see the last value). Records `seq` otherwise.
    pub(super) fn superseded(&self, key: &str, seq: u64) -> bool {
        let mut applied = self.inner.applied_seqs.lock();
        match applied.get_mut(key) {
            Some(last) if *last >= seq => true,
            Some(last) => {
                *last = seq;
                false
            }
            None => {
                applied.insert(key.to_owned(), seq);
                false
            }
        }
    }

    /// The canonical text of a JSON value for a shared claim (object keys sorted, so
    /// equal values compare equal); empty without a shared broker, which never reads it.
    pub(super) fn canonical(&self, value: &Value) -> String {
        if self.inner.shared {
            value.to_string()
        } else {
            String::new()
        }
    }

    /// Publishes a message to the other nodes (under the emit lock, so this node's
    /// publications keep its delivery order).
    pub(super) fn publish_to_cluster(&self, message: Message, claim: Option<(String, u64)>) {
        let envelope = Envelope {
            origin: self.inner.broker.origin().to_owned(),
            message,
            claim,
            history: None,
        };
        match self.take_recorded() {
            Some(recorded) => self.inner.broker.publish_recorded(envelope, recorded),
            None => self.inner.broker.publish(envelope),
        }
    }

    /// Another node's changed call: apply it to this node's store mirror (the same code
    /// as the deciding node, without building events), then run its steps on this node's
    /// connections.
    fn receive_remote(&self, envelope: Envelope) {
        let (call, steps) = match envelope.message {
            Message::Emit { call, steps } => (call, steps),
            Message::RecoveryRequest(args) => return self.on_request(&envelope.origin, &args),
            Message::RecoveryAnswer(args) => return self.on_answer(&envelope.origin, &args),
            Message::Alerts(events) => return self.on_remote_alerts(&envelope.origin, events),
        };
        let Ok(mut guard) = self.lock() else { return };
        if let Some(position) = envelope.history {
            self.advance_watermark(position);
        }
        if let Some((key, seq)) = &envelope.claim
            && self.superseded(key, *seq)
        {
            return;
        }
        self.set_remote_origin(Some(&envelope.origin));
        let monitor = self.inner.monitor.as_ref();
        // Its activity entries name the node that decided it.
        if let Some(monitor) = monitor {
            monitor.set_source(Some(&envelope.origin));
        }
        let mirror = Mirror {
            hub: self,
            store: &mut guard.store,
        };
        if let Err(error) = dispatch(&call, mirror) {
            tracing::warn!(call = %call.name(), %error, "a broker message did not apply to the local store");
        }
        self.run_steps(steps);
        if let Some(monitor) = monitor {
            monitor.set_source(None);
        }
        self.set_remote_origin(None);
        drop(guard);
    }

    /// This node's report for the cluster view: connections by role and page, the
    /// users with at least one authenticated connection here, and (with a monitor) its
    /// latest stats figures.
    fn node_report(&self) -> Value {
        let counts = self.inner.registry.counts();
        let census = self.inner.registry.census();
        let by_page: Map<String, Value> = census
            .pages
            .iter()
            .enumerate()
            .map(|(index, count)| {
                (
                    self.inner
                        .routing
                        .page_name(PageIndex(index as u8))
                        .to_owned(),
                    json!({"users": count.users, "admins": count.admins}),
                )
            })
            .collect();
        let figures = self
            .inner
            .monitor
            .as_ref()
            .and_then(|monitor| monitor.figures.lock().clone());
        // The node-scoped alerts it has raised, for a node that joins later.
        let alerts: Vec<Value> = self
            .inner
            .monitor
            .as_ref()
            .map_or_else(Vec::new, |monitor| {
                let mut alerts = monitor.book.lock().active();
                alerts.retain(|alert| alert["scope"] == "node");
                alerts
            });
        json!({
            "stats": figures,
            "alerts": alerts,
            "connections": {
                "total": counts.unauthenticated + counts.users + counts.admins + counts.devices,
                "unauthenticated": counts.unauthenticated,
                "users": counts.users,
                "admins": counts.admins,
                "devices": counts.devices,
                "byPage": by_page,
            },
            "onlineUsers": self.inner.registry.online_users(),
        })
    }

    /// The cluster-wide connection view: every live node's report summed (a node whose
    /// heartbeat expired is not in it), with `nodes` and the union of online users.
    /// `None` without a shared broker or while it is unreachable.
    pub fn cluster_view(&self) -> Option<Value> {
        let reports = self.inner.broker.cluster()?;
        Some(aggregate(&reports))
    }
}

/// Sums node reports (numbers add up field by field; online users are a sorted union)
/// and keeps each node's own figures under `byNode`, by node id; the stats figures of
/// monitored nodes are shown per node and totalled (`monitor::figure_totals`).
pub(crate) fn aggregate(reports: &[Value]) -> Value {
    fn add(into: &mut Value, from: &Value) {
        match (into, from) {
            (Value::Object(into), Value::Object(from)) => {
                for (key, value) in from {
                    add(into.entry(key.clone()).or_insert(json!(0)), value);
                }
            }
            (into @ Value::Number(_), Value::Number(from)) => {
                let sum = into.as_u64().unwrap_or(0) + from.as_u64().unwrap_or(0);
                *into = json!(sum);
            }
            _ => {}
        }
    }
    let mut connections = json!({});
    let mut users = std::collections::BTreeSet::new();
    let mut by_node = Map::new();
    for report in reports {
        add(&mut connections, &report["connections"]);
        if let Some(node) = report["node"].as_str() {
            let online = report["onlineUsers"].as_array().map_or(0, Vec::len);
            let mut figures = json!({"connections": report["connections"], "onlineUsers": online});
            if let (Value::Object(figures), Value::Object(stats)) = (&mut figures, &report["stats"])
            {
                figures.extend(stats.clone());
            }
            by_node.insert(node.to_owned(), figures);
        }
        if let Some(online) = report["onlineUsers"].as_array() {
            users.extend(online.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    let mut view = json!({
        "nodes": reports.len(),
        "connections": connections,
        "onlineUsers": users,
    });
    let monitored: Vec<&Value> = reports
        .iter()
        .map(|report| &report["stats"])
        .filter(|stats| stats.is_object())
        .collect();
    if let (false, Value::Object(view), Value::Object(totals)) = (
        monitored.is_empty(),
        &mut view,
        crate::monitor::figure_totals(monitored.into_iter()),
    ) {
        view.extend(totals);
    }
    view["byNode"] = Value::Object(by_node);
    view
}
