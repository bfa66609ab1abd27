//! Admin live monitoring: the `admin:activity` feed, `admin:alert` /
//! `admin:alert:cleared`, `admin:server:stats`, the opt-in `module:status:batch` for
//! users, and the Prometheus exposition of the hub's counters.
//!
//! Data flows one way (DESIGN §2). The hub *feeds* the monitor: `deliver.rs` hands it
//! each published event (after the before-emit hooks, under the emit lock), `inbound.rs`
//! each refused authentication, `deliver.rs` each slow-consumer close. The monitor only
//! records what it is told, in its own short lock, and never calls back into the hub.
//! A ticker thread (`hub/monitoring.rs`) wakes every activity window, takes what was
//! recorded, decides the events (batches, alert transitions, changed stats) here, and
//! publishes them through the hub like a host call would, so routing and isolation stay
//! the registry's: every `admin:*` event is routed to admins on the `admin` page only
//! (`tests/server/monitor.rs::non_admins_never_receive_monitoring_events`).
//!
//! | event | payload (example) | audience |
//! |---|---|---|
//! | [`ADMIN_ACTIVITY`] | `{"entries":[{"kind":"module_online","at":1764000000000,"moduleId":"MC-1","userId":"123","name":"Station"}],"counts":{"module_online":1},"dropped":0,"from":…,"to":…,"timestamp":…}`; kinds: `module_online`, `module_offline`, `module_added`, `module_removed`, `user_logged_in`, `user_logged_out`, `user_registered`, `admin_action` (`userId` is the admin, `action`), `maintenance` (`enabled`) | admins on `admin` |
//! | [`ADMIN_ALERT`] | `{"id":"module_flapping:MC-1","level":"warning","kind":"module_flapping","message":"…","data":{"moduleId":"MC-1","changes":7,…},"raisedAt":…,"timestamp":…}` | admins on `admin` |
//! | [`ADMIN_ALERT_CLEARED`] | `{"id":"module_flapping:MC-1","level":"warning","kind":"module_flapping","data":{…},"raisedAt":…,"clearedAt":…,"timestamp":…}` | admins on `admin` |
//! | [`ADMIN_SERVER_STATS`] | `{"connections":{"total":3,"unauthenticated":0,"devices":0,"users":2,"admins":1,"byPage":{"modules":{"users":2,"admins":0},"admin":{"users":0,"admins":1},…}},"eventsPerSecond":{"in":12.5,"out":40.0},"unchangedRatio":0.8,"queues":{"depthMax":0,"depthTotal":0,"overflows":0,"conflated":0},"deliveryLatencyMs":{"p50":0.25,"p99":1.0},"process":{"rssMiB":14,"cpuPercent":0.5},"persistence":{"degraded":false,"lag":0,"rowsDropped":0,"writeErrors":0},"timestamp":…}` (`unchangedRatio`, latencies and CPU are `null` when there is nothing to measure; `persistence` is `null` without it) | admins on `admin` |
//! | [`MODULE_STATUS_BATCH`] | `{"userId":"123","modules":[<module:status:changed payloads>],"timestamp":…}` | the owner on `modules`/`dashboard` (only with [`MonitorConfig::user_status_batch`]) |
//!
//! With a shared broker (several nodes), activity entries and alerts also carry `node`
//! (the node that decided the emit, or raised the alert) and alerts a `scope`
//! (`node` or `cluster`); node-scoped alert ids end with `@<node>`; alerts of a node
//! that left are cleared with `reason: "node_left"`; `admin:server:stats` adds `node` and
//! `cluster` (per-node figures under `byNode`, and totals). Without one, none of these
//! fields appear. How it travels: `monitor/cluster.rs`.
//!
//! Built-in alert kinds: `module_flapping`, `modules_offline_together`,
//! `auth_failures`, `slow_consumers`, `persistence_degraded`, `connections_near_limit`
//! (thresholds in [`AlertRules`]).
//!
//! Costs, by design:
//! - a hub built without [`HubBuilder::monitor`](crate::HubBuilder::monitor) has no
//!   monitor and no ticker thread; the emit path tests one `Option`;
//! - with one, telemetry (the high-rate event) is skipped with a single check, and an
//!   unchanged emit never reaches the monitor at all (it publishes nothing);
//! - activity entries are built only while some admin is on the `admin` page.
//!
//! This module must not resolve audiences, encode frames nor touch sockets.

mod activity;
mod alerts;
mod cluster;
pub(crate) mod process;
pub mod prometheus;
mod stats;

pub use alerts::{Alert, AlertLevel, AlertRule, AlertRules};
pub(crate) use alerts::{
    AlertBook, server_conditions as alerts_of_server, window_conditions as alerts_in_windows,
};
pub(crate) use cluster::{RemoteAlerts, figure_totals, node_figures};
pub(crate) use stats::{PageCensus, StatsInput, StatsTracker};

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::event::{self, Event};
use crate::registry::routing::PageIndex;
use activity::ActivityEntry;

pub use crate::event::{
    ADMIN_ACTIVITY, ADMIN_ALERT, ADMIN_ALERT_CLEARED, ADMIN_SERVER_STATS, MODULE_STATUS_BATCH,
};

/// Settings of the admin monitoring ([`HubBuilder::monitor`](crate::HubBuilder::monitor)).
#[derive(Clone)]
pub struct MonitorConfig {
    /// How often `admin:server:stats` is computed; it is sent only when a value
    /// changed (default 2 s).
    pub stats_interval: Duration,
    /// Activity of this long is grouped into one `admin:activity` event (default
    /// 250 ms); also the ticker's period, so alerts are raised within it.
    pub activity_window: Duration,
    /// Most entries in one `admin:activity` event; a larger burst is split into several
    /// events (the `counts` of each are complete for its own entries) (default 1,000).
    pub max_entries_per_event: usize,
    /// Entries kept per window; beyond, entries are only counted (`dropped`), so a
    /// flood cannot grow memory (default 10,000).
    pub max_entries_per_window: usize,
    /// Users receive `module:status:batch` (one event per user per window) instead of
    /// one `module:status:changed` per module. Off by default: the seed's clients listen
    /// for `module:status:changed`. Admins on `admin` keep receiving
    /// `module:status:changed` either way.
    pub user_status_batch: bool,
    /// Alert thresholds and host rules.
    pub alerts: AlertRules,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            stats_interval: Duration::from_secs(2),
            activity_window: Duration::from_millis(250),
            max_entries_per_event: 1_000,
            max_entries_per_window: 10_000,
            user_status_batch: false,
            alerts: AlertRules::default(),
        }
    }
}

impl std::fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("stats_interval", &self.stats_interval)
            .field("activity_window", &self.activity_window)
            .field("user_status_batch", &self.user_status_batch)
            .finish_non_exhaustive()
    }
}

/// What the hub should do with an event the monitor observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    /// Deliver it as usual.
    Deliver,
    /// The owner's part is batched into `module:status:batch`: deliver it to admins only.
    AdminsOnly,
}

/// Inputs of the windowed alert rules, timestamps per subject.
#[derive(Default)]
pub(crate) struct Windows {
    pub(crate) module_changes: HashMap<String, (String, VecDeque<Instant>)>,
    pub(crate) user_offline: HashMap<String, VecDeque<Instant>>,
    pub(crate) auth_failures: HashMap<IpAddr, VecDeque<Instant>>,
    pub(crate) slow_closes: VecDeque<Instant>,
}

/// Bound on the subjects tracked per rule, so hostile input cannot grow memory.
const MAX_SUBJECTS: usize = 10_000;

#[derive(Default)]
struct Recorded {
    entries: Vec<ActivityEntry>,
    dropped: u64,
    /// Per user, status changes waiting for `module:status:batch`.
    status_batches: HashMap<String, Vec<Value>>,
    windows: Windows,
    /// The node that decided the emit being delivered, while another node's is.
    source: Option<String>,
}

/// What the ticker takes from the monitor each window.
pub(crate) struct Taken {
    pub(crate) entries: Vec<ActivityEntry>,
    pub(crate) dropped: u64,
    pub(crate) status_batches: HashMap<String, Vec<Value>>,
}

/// The hub's monitor: records what the hub tells it, between two ticks.
pub(crate) struct Monitor {
    pub(crate) config: MonitorConfig,
    recorded: Mutex<Recorded>,
    /// The server's `max_connections`, 0 while no server runs.
    connection_limit: AtomicUsize,
    /// Dropping it (with the hub) ends the ticker thread.
    pub(crate) stop: Mutex<Option<crossbeam_channel::Sender<()>>>,
    /// The raised alerts (written by the ticker, read by `Hub::alerts`).
    pub(crate) book: Mutex<AlertBook>,
    /// The `admin` page, where every monitoring event goes.
    pub(crate) admin_page: PageIndex,
    /// Alerts other nodes of the cluster raised (`monitor/cluster.rs`).
    pub(crate) remote: Mutex<RemoteAlerts>,
    /// This node's latest stats figures, for its heartbeat report (cluster only).
    pub(crate) figures: Mutex<Option<Value>>,
}

impl Monitor {
    pub(crate) fn new(config: MonitorConfig, admin_page: PageIndex) -> Self {
        Self {
            config,
            recorded: Mutex::new(Recorded::default()),
            connection_limit: AtomicUsize::new(0),
            stop: Mutex::new(None),
            book: Mutex::new(AlertBook::default()),
            admin_page,
            remote: Mutex::new(RemoteAlerts::default()),
            figures: Mutex::new(None),
        }
    }

    /// Observes one event about to be delivered. `admins_watching`: some admin is on
    /// the `admin` page (asked lazily, only for events that make activity).
    pub(crate) fn observe(
        &self,
        event: &Event,
        admins_watching: impl FnOnce() -> bool,
    ) -> Observed {
        if event.conflation_key.is_some() {
            return Observed::Deliver;
        }
        let now = Instant::now();
        let mut observed = Observed::Deliver;
        let name = &*event.name;
        let mut recorded = self.recorded.lock();
        if name == event::MODULE_STATUS_CHANGED {
            let payload = &event.payload;
            let module = str_field(payload, "moduleId");
            let user = str_field(payload, "userId");
            let online = payload.get("online").and_then(Value::as_bool) == Some(true);
            let windows = &mut recorded.windows;
            // Keys are copied only for a subject not yet in its window: a module that
            // keeps changing costs no allocation beyond its timestamps.
            if let Some((_, times)) = windows.module_changes.get_mut(module) {
                times.push_back(now);
            } else if windows.module_changes.len() < MAX_SUBJECTS {
                windows
                    .module_changes
                    .insert(module.to_owned(), (user.to_owned(), VecDeque::from([now])));
            }
            if !online {
                if let Some(times) = windows.user_offline.get_mut(user) {
                    times.push_back(now);
                } else if windows.user_offline.len() < MAX_SUBJECTS {
                    windows
                        .user_offline
                        .insert(user.to_owned(), VecDeque::from([now]));
                }
            }
            if self.config.user_status_batch && !user.is_empty() {
                recorded
                    .status_batches
                    .entry(user.to_owned())
                    .or_default()
                    .push(payload.clone());
                observed = Observed::AdminsOnly;
            }
        }
        drop(recorded);
        if !activity::is_activity(name) || !admins_watching() {
            return observed;
        }
        if let Some(mut entry) = ActivityEntry::from_event(name, &event.payload) {
            let mut recorded = self.recorded.lock();
            entry.node.clone_from(&recorded.source);
            if recorded.entries.len() < self.config.max_entries_per_window {
                recorded.entries.push(entry);
            } else {
                recorded.dropped += 1;
            }
        }
        observed
    }

    /// Names the node whose emit is being delivered (`None` once done, or for this
    /// node's own), so its activity entries say where it happened. Under the emit lock.
    pub(crate) fn set_source(&self, node: Option<&str>) {
        self.recorded.lock().source = node.map(str::to_owned);
    }

    /// A refused authentication from `address`.
    pub(crate) fn auth_failed(&self, address: Option<IpAddr>) {
        let Some(address) = address else { return };
        let mut recorded = self.recorded.lock();
        let failures = &mut recorded.windows.auth_failures;
        if failures.len() < MAX_SUBJECTS || failures.contains_key(&address) {
            failures
                .entry(address)
                .or_default()
                .push_back(Instant::now());
        }
    }

    /// A connection closed because its queue overflowed.
    pub(crate) fn slow_consumer_closed(&self) {
        self.recorded
            .lock()
            .windows
            .slow_closes
            .push_back(Instant::now());
    }

    /// Records the serving transport's connection limit (for the near-limit alert).
    pub(crate) fn set_connection_limit(&self, limit: usize) {
        self.connection_limit.store(limit, Ordering::Relaxed);
    }

    pub(crate) fn connection_limit(&self) -> usize {
        self.connection_limit.load(Ordering::Relaxed)
    }

    /// Takes the window's activity and batches; prunes the alert windows and lets
    /// `inspect` read them, all in one short lock.
    pub(crate) fn take(&self, inspect: impl FnOnce(&mut Windows)) -> Taken {
        let mut recorded = self.recorded.lock();
        inspect(&mut recorded.windows);
        Taken {
            entries: std::mem::take(&mut recorded.entries),
            dropped: std::mem::take(&mut recorded.dropped),
            status_batches: std::mem::take(&mut recorded.status_batches),
        }
    }
}

fn str_field<'a>(payload: &'a Value, name: &str) -> &'a str {
    payload
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) use activity::{activity_events, status_batch_events};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Audience;
    use crate::ids::{ModuleId, UserId};
    use serde_json::json;

    fn status(module: &str, online: bool) -> Event {
        Event::new(
            event::MODULE_STATUS_CHANGED,
            json!({"moduleId": module, "userId": "u1", "online": online, "timestamp": 1}),
            Audience::User {
                user: UserId::new("u1").unwrap(),
                except_session: None,
            },
        )
    }

    #[test]
    fn alert_inputs_are_kept_but_no_activity_while_no_admin_watches() {
        let monitor = Monitor::new(MonitorConfig::default(), PageIndex(1));
        assert_eq!(
            monitor.observe(&status("MC-1", true), || false),
            Observed::Deliver
        );
        monitor.observe(&status("MC-1", false), || false);
        let taken = monitor.take(|windows| {
            assert_eq!(windows.module_changes["MC-1"].1.len(), 2);
            assert_eq!(windows.user_offline["u1"].len(), 1);
        });
        assert!(taken.entries.is_empty());
        monitor.observe(&status("MC-1", true), || true);
        assert_eq!(monitor.take(|_| {}).entries.len(), 1);
    }

    #[test]
    fn telemetry_is_not_observed_at_all() {
        let monitor = Monitor::new(MonitorConfig::default(), PageIndex(1));
        let mut telemetry = status("MC-1", true);
        telemetry.conflation_key = Some(ModuleId::new("MC-1").unwrap());
        monitor.observe(&telemetry, || panic!("telemetry must not ask the registry"));
        monitor.take(|windows| assert!(windows.module_changes.is_empty()));
    }

    #[test]
    fn status_batching_keeps_the_owner_part_for_the_window() {
        let monitor = Monitor::new(
            MonitorConfig {
                user_status_batch: true,
                ..MonitorConfig::default()
            },
            PageIndex(1),
        );
        assert_eq!(
            monitor.observe(&status("MC-1", true), || false),
            Observed::AdminsOnly
        );
        let taken = monitor.take(|_| {});
        assert_eq!(taken.status_batches["u1"].len(), 1);
    }
}
