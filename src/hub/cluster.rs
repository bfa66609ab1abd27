//! The hub's side of a shared broker (`broker/`): the shared "changed?" claim each
//! change-detecting emit makes under the emit lock, the publication of a changed emit to
//! the other nodes, and the receiving side: another node's emit applied to this node's
//! store mirror and delivered through this node's registry, exactly as a local emit
//! (same audiences, same before-emit hooks, same queues). Without a shared broker none of
//! this runs: `HubInner::shared` is read once per emit and nothing else is built.
//!
//! This module must not decide isolation (the registry does, on each node) nor talk to
//! Redis (the broker does). Guarded by `tests/clients/node/cluster.test.js` (three server
//! processes on one Redis) and `tests/broker_redis.rs`.

#[allow(clippy::wildcard_imports)]
use super::*;

use std::sync::Weak;

use crate::broker::{Claim, ClaimField, Envelope, Node};

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
    /// Claims `fields` of state `key` with the shared broker (under the emit lock);
    /// [`Shared::Local`] at once without a shared broker, so the in-memory hub never
    /// builds a key.
    pub(super) fn claim(
        &self,
        guard: &mut EmitGuard<'_>,
        key: impl FnOnce() -> String,
        fields: &[ClaimField<'_>],
    ) -> Shared {
        self.claim_clearing(guard, key, fields, Vec::new)
    }

    /// [`Hub::claim`] that also deletes the `clear` state keys when it changes.
    pub(super) fn claim_clearing(
        &self,
        guard: &mut EmitGuard<'_>,
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
                guard.claimed = Some((key, seq));
                Shared::Changed
            }
        }
    }

    /// The shared profile claim: each field of `new` compared with the shared profile
    /// (or with `old` where the shared profile has none, as the local store does).
    /// Returns the names of the fields that changed; `None` when the local store decides.
    pub(super) fn claim_profile(
        &self,
        guard: &mut EmitGuard<'_>,
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
                guard.claimed = Some((key, seq));
                Some(fields)
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

    /// Publishes a changed emit to the other nodes (under the emit lock, so this node's
    /// publications keep its delivery order).
    pub(super) fn publish_to_cluster(
        &self,
        call: &str,
        args: Value,
        events: Vec<Event>,
        claim: Option<(String, u64)>,
    ) {
        let envelope = Envelope {
            origin: self.inner.broker.origin().to_owned(),
            call: call.to_owned(),
            args,
            events,
            claim,
        };
        self.inner.broker.publish(&envelope);
    }

    /// Another node's changed emit: mirror its state change, then deliver its events to
    /// this node's connections.
    fn receive_remote(&self, envelope: Envelope) {
        if self.receive_handoff(&envelope) {
            return;
        }
        let Ok(mut guard) = self.lock() else { return };
        self.set_remote_origin(Some(&envelope.origin));
        if let Err(error) = self.mirror(&mut guard.store, &envelope.call, &envelope.args) {
            tracing::warn!(call = %envelope.call, %error, "a broker message did not apply to the local store");
        }
        for event in envelope.events {
            let ended = match (&*event.name, &event.audience) {
                (event::USER_SESSION_ENDED, Audience::Session { user, session }) => {
                    Some((user.clone(), session.clone()))
                }
                _ => None,
            };
            self.publish(event);
            if let Some((user, session)) = ended {
                for queue in self.inner.registry.end_session(&user, &session) {
                    if queue.close(CloseReason::LoggedOut) {
                        self.audit_close(queue.id(), CloseReason::LoggedOut, Some(user.clone()));
                    }
                }
            }
        }
        self.set_remote_origin(None);
        drop(guard);
    }

    /// Applies another node's emit arguments to the local store and sessions (the same
    /// calls the emit made there; their "changed?" answers are not used).
    fn mirror(&self, store: &mut Store, call: &str, args: &Value) -> Result<(), HubError> {
        let now = now_ms();
        let field = |name: &str| args.get(name).unwrap_or(&Value::Null);
        match call {
            "module_online" | "module_offline" => {
                let id = ModuleId::from_json(field("moduleId"))?;
                let fields = ModuleFields::parse("info", field("info"))?;
                store.set_online(&id, &fields, call == "module_online", now)?;
                self.save_module(store, id.as_str());
            }
            "module_added" => {
                let (id, fields) = input::module_object(args)?;
                let online = args.get("online").and_then(Value::as_bool);
                store.add_module(&id, &fields, online, now)?;
                self.save_module(store, id.as_str());
            }
            "module_removed" => {
                let (id, fields) = input::module_object(args)?;
                if store.remove_module(&id, fields.owner.as_ref())?.is_some() {
                    self.save(|db| db.remove_module(&id));
                }
            }
            "telemetry_update" => {
                let id = ModuleId::from_json(field("moduleId"))?;
                store.set_telemetry(id.as_str(), field("telemetry"), now)?;
                self.save_module(store, id.as_str());
            }
            "user_logged_in" | "user_logged_out" => {
                let (id, role, profile) = input::user_object(field("user"))?;
                let session = SessionId::from_json(field("sessionId"))?;
                if call == "user_logged_in" {
                    store.remember_profile(&id, &profile);
                    self.inner
                        .auth
                        .sessions
                        .log_in(session.clone(), id.clone(), role);
                    self.save(|db| db.save_session(&session, &id, role));
                } else {
                    let _ = self.inner.auth.sessions.log_out(&session, &id);
                    self.save(|db| db.remove_session(&session));
                }
            }
            "user_profile_updated" => {
                let new_map = input::object("new", field("new"))?;
                let old_map = input::object("old", field("old"))?;
                let id = input::user_id(new_map).or_else(|_| input::user_id(old_map))?;
                store.update_profile(
                    &id,
                    &input::profile_fields(old_map),
                    &input::profile_fields(new_map),
                );
                self.save_user(store, &id);
            }
            "user_registered" => {
                let (id, _, profile) = input::user_object(args)?;
                store.register_user(&id, &profile);
                self.save_user(store, &id);
            }
            "stats_update" if store.set_stats(field("stats")) => {
                self.save(|db| db.save_stats(field("stats")));
            }
            "maintenance_mode" => {
                let enabled = field("enabled").as_bool().unwrap_or(false);
                let message = field("message").as_str().unwrap_or_default();
                if store.set_maintenance(enabled, message) {
                    self.save(|db| db.save_maintenance(store.maintenance()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn save_module(&self, store: &Store, id: &str) {
        if let Some(record) = store.module(id) {
            self.save(|db| db.save_module(record));
        }
    }

    /// This node's report for the cluster view: connections by role and page, and the
    /// users with at least one authenticated connection here.
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
        json!({
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

/// Sums node reports (numbers add up field by field; online users are a sorted union).
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
    for report in reports {
        add(&mut connections, &report["connections"]);
        if let Some(online) = report["onlineUsers"].as_array() {
            users.extend(online.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    json!({
        "nodes": reports.len(),
        "connections": connections,
        "onlineUsers": users,
    })
}
