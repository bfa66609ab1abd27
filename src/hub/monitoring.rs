//! The monitor's ticker: a thread that wakes every activity window, takes what the
//! monitor recorded, and publishes the resulting `admin:*` events (and user
//! `module:status:batch`) through [`Hub::publish`] under the emit lock, like a host
//! call. The thread holds only a weak reference, so it never keeps a dropped hub alive,
//! and it ends when the hub's monitor (its stop channel) is dropped.
//!
//! In a cluster sharing a broker (`monitor/cluster.rs`), the ticker also publishes its
//! node-scoped alert transitions to the other nodes, delivers theirs to this node's
//! admins, clears the alerts of nodes whose heartbeat expired, computes this node's
//! stats every interval whether or not an admin watches here (its heartbeat report
//! carries them), and adds the cluster's per-node figures and totals to
//! `admin:server:stats`.
//!
//! This module must not decide what the events say (that is `monitor/`) nor who
//! receives them (that is the registry, through the routing table). Guarded by
//! `tests/server/monitor.rs` and `tests/cluster/monitor_redis.rs`.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Hub, HubInner};
use crate::broker::{Envelope, Message};
use crate::event::{self, Audience, Event, now_ms};
use crate::hooks::guarded;
use crate::monitor::{
    ADMIN_SERVER_STATS, Alert, AlertBook, Monitor, StatsTracker, activity_events, process,
    status_batch_events,
};
use crate::registry::routing::PageIndex;

/// What the ticker keeps between two ticks.
struct Ticker {
    stats: StatsTracker,
    next_stats: Instant,
    /// Conditions reported by host rules at the last stats tick.
    custom: Vec<Alert>,
    /// The live nodes of the cluster at the last stats tick (`None` when not read).
    live: Option<std::collections::BTreeSet<String>>,
    /// The raised alerts of live nodes this node did not know yet, from their reports.
    seed: Option<Vec<(String, Vec<Value>)>>,
}

impl Hub {
    /// Starts the ticker thread when the hub was built with a monitor.
    pub(super) fn start_monitor(&self) {
        let Some(monitor) = &self.inner.monitor else {
            return;
        };
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        *monitor.stop.lock() = Some(stop);
        let window = monitor.config.activity_window.max(Duration::from_millis(1));
        let weak: Weak<HubInner> = Arc::downgrade(&self.inner);
        let spawned = crate::outbound::spawn_library_thread("mcrt-monitor", move || {
            let mut ticker = Ticker {
                stats: StatsTracker::default(),
                next_stats: Instant::now(),
                custom: Vec::new(),
                live: None,
                seed: None,
            };
            loop {
                match stopped.recv_timeout(window) {
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                Hub { inner }.monitor_tick(&mut ticker);
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "the monitor thread could not start: no admin monitoring");
        }
    }

    /// The alerts raised and not yet cleared, as `admin:alert` payloads (empty without
    /// a monitor). An admin page opened after an alert was raised can ask for these.
    /// In a cluster this includes the alerts other live nodes raised.
    pub fn alerts(&self) -> Vec<Value> {
        let Some(monitor) = &self.inner.monitor else {
            return Vec::new();
        };
        let mut alerts = monitor.book.lock().active();
        alerts.extend(monitor.remote.lock().active().cloned());
        alerts
    }

    /// Another node's alert transitions: noted (for [`Hub::alerts`] and its departure)
    /// and delivered to this node's admins, under the emit lock like its emits.
    pub(super) fn on_remote_alerts(&self, node: &str, events: Vec<Event>) {
        let Some(monitor) = &self.inner.monitor else {
            return;
        };
        let Ok(guard) = self.lock() else { return };
        monitor.remote.lock().apply(node, &events);
        self.deliver_remote_alerts(node, events);
        drop(guard);
    }

    /// Delivers alerts `node` raised or cleared to this node's admins, the monitor told
    /// they are that node's (under the emit lock).
    fn deliver_remote_alerts(&self, node: &str, events: Vec<Event>) {
        self.set_remote_origin(Some(node));
        for event in events {
            self.publish(event);
        }
        self.set_remote_origin(None);
    }

    /// Tells the monitor the serving transport's connection limit (for the
    /// `connections_near_limit` alert).
    pub(crate) fn set_connection_limit(&self, limit: usize) {
        if let Some(monitor) = &self.inner.monitor {
            monitor.set_connection_limit(limit);
        }
    }

    fn monitor_tick(&self, ticker: &mut Ticker) {
        let Some(monitor) = &self.inner.monitor else {
            return;
        };
        let now = Instant::now();
        let rules = &monitor.config.alerts;
        let mut holding = Vec::new();
        let taken = monitor.take(|windows| {
            holding = crate::monitor::alerts_in_windows(rules, windows, now);
        });
        let watching = self.inner.registry.admins_on(monitor.admin_page) > 0;
        let node = self.inner.shared.then(|| self.inner.broker.origin());
        let mut events = status_batch_events(taken.status_batches);
        if watching {
            events.extend(activity_events(
                taken.entries,
                taken.dropped,
                monitor.config.max_entries_per_event,
                node,
            ));
        }
        self.stats_tick(monitor, ticker, now, watching, &mut events);
        let counts = self.inner.registry.counts();
        let connections = counts.unauthenticated + counts.users + counts.admins + counts.devices;
        let persistence = self.inner.persist.as_ref().map(|persist| {
            let health = persist.metrics();
            (health.degraded, health.last_error)
        });
        holding.extend(crate::monitor::alerts_of_server(
            rules,
            persistence,
            connections,
            monitor.connection_limit(),
        ));
        holding.extend(ticker.custom.iter().cloned());
        let alerts = AlertBook::update(&mut monitor.book.lock(), holding, node);
        // Node-scoped transitions go to the other nodes; cluster-scoped ones each
        // node raises for itself (`monitor/cluster.rs`).
        let forward: Vec<Event> = alerts
            .iter()
            .filter(|event| node.is_some() && event.payload["scope"] == "node")
            .cloned()
            .collect();
        events.extend(alerts);
        let live = ticker.live.take();
        let seed = ticker.seed.take();
        if events.is_empty() && forward.is_empty() && live.is_none() {
            return;
        }
        // Like a host call: under the emit lock, so these events take their place in
        // the one order every connection sees; on the host's thread when it gave an
        // executor.
        self.originate(move |hub| {
            let Ok(guard) = hub.lock() else { return };
            if let (Some(seed), Some(monitor)) = (seed, &hub.inner.monitor) {
                let seeded = monitor.remote.lock().seed(seed);
                for (node, alerts) in seeded {
                    hub.deliver_remote_alerts(&node, alerts);
                }
            }
            if let (Some(live), Some(monitor)) = (live, &hub.inner.monitor) {
                let departed = monitor.remote.lock().departed(&live);
                events.extend(departed);
            }
            for event in events {
                hub.publish(event);
            }
            if !forward.is_empty() {
                hub.inner.broker.publish(Envelope {
                    origin: hub.inner.broker.origin().to_owned(),
                    message: Message::Alerts(forward),
                    claim: None,
                    history: None,
                });
            }
            drop(guard);
        });
    }

    /// Every `stats_interval`: computes the server stats when admins watch or custom
    /// rules need them (queuing `admin:server:stats` when they changed and are watched),
    /// else only moves the rate baseline.
    fn stats_tick(
        &self,
        monitor: &Monitor,
        ticker: &mut Ticker,
        now: Instant,
        watching: bool,
        events: &mut Vec<Event>,
    ) {
        if now < ticker.next_stats {
            return;
        }
        ticker.next_stats = now + monitor.config.stats_interval;
        let shared = self.inner.shared;
        if watching || shared || !monitor.config.alerts.custom.is_empty() {
            // The cluster view is a Redis read: only when someone may look at it.
            let with_cluster = shared
                && (watching
                    || !monitor.config.alerts.custom.is_empty()
                    || !monitor.remote.lock().is_empty());
            let stats = self.server_stats(monitor, &mut ticker.stats, now, with_cluster);
            ticker.live = stats.get("cluster").map(|cluster| {
                cluster["byNode"]
                    .as_object()
                    .map(|nodes| nodes.keys().cloned().collect())
                    .unwrap_or_default()
            });
            // A node seen live for the first time: its raised alerts from its report
            // (one more read of the reports, only then).
            let me = self.inner.broker.origin();
            if let Some(live) = &ticker.live
                && monitor.remote.lock().has_unknown(live, me)
            {
                ticker.seed = self.inner.broker.cluster().map(|reports| {
                    reports
                        .into_iter()
                        .filter_map(|mut report| {
                            let node = report["node"].as_str()?.to_owned();
                            let alerts = match report["alerts"].take() {
                                Value::Array(alerts) => alerts,
                                _ => Vec::new(),
                            };
                            (node != me && live.contains(&node)).then_some((node, alerts))
                        })
                        .collect()
                });
            }
            ticker.custom = monitor
                .config
                .alerts
                .custom
                .iter()
                .filter_map(|rule| {
                    guarded(&self.inner.metrics, "alert_rule", || rule.check(&stats))
                })
                .flatten()
                .collect();
            if watching && ticker.stats.changed(&stats) {
                events.push(Event::new(
                    ADMIN_SERVER_STATS,
                    event::with_timestamp(stats, now_ms()),
                    Audience::Admins,
                ));
            }
        } else {
            ticker.stats.rebase(now, self.metrics(), process::sample());
        }
    }

    /// This node's stats; in a cluster its figures are kept for its heartbeat report,
    /// and `with_cluster` adds the cluster view.
    fn server_stats(
        &self,
        monitor: &Monitor,
        tracker: &mut StatsTracker,
        now: Instant,
        with_cluster: bool,
    ) -> Value {
        let census = self.inner.registry.census();
        let pages = census
            .pages
            .iter()
            .enumerate()
            .map(|(index, count)| crate::monitor::PageCensus {
                page: self
                    .inner
                    .routing
                    .page_name(PageIndex(index as u8))
                    .to_owned(),
                users: count.users,
                admins: count.admins,
            })
            .collect();
        let mut stats = tracker.compute(
            now,
            crate::monitor::StatsInput {
                metrics: self.metrics(),
                pages,
                queue_depth_max: census.queue_depth_max,
                queue_depth_total: census.queue_depth_total,
                process: process::sample(),
            },
        );
        if self.inner.shared {
            *monitor.figures.lock() = Some(crate::monitor::node_figures(&stats));
        }
        // With a shared broker, the cluster-wide totals and each live node's figures
        // (`cluster.byNode`) beside this node's own, which `node` names.
        if with_cluster
            && let (Value::Object(map), Some(cluster)) = (&mut stats, self.cluster_view())
        {
            map.insert("node".into(), self.inner.broker.origin().into());
            map.insert("cluster".into(), cluster);
        }
        stats
    }
}
