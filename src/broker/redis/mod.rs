//! The Redis broker: one Lua compare-and-set per change-detecting emit (the claims of
//! concurrent emits decided by one script call, on one of four claim connections), one
//! `PUBLISH` per changed emit, a subscriber thread that hands other nodes' messages to
//! the hub,
//! and a heartbeat thread that publishes this node's report with an expiry and watches
//! Redis's health. Must not block an emit longer than its command timeout, and must not
//! touch connections or the store (the hub does that, `hub/cluster.rs`).
//!
//! `claim.rs` owns the compare-and-set script and the reading of its answer; `batch.rs`
//! the pipelines; `history.rs` the event history; `health.rs` outages, heartbeats and
//! recovery; `subscriber.rs` the receiving thread; `target.rs` where Redis is (one
//! server, a Cluster's slot owner or Sentinel's master). Every key carries the hash tag
//! `{<prefix>}`, so each script touches one slot of a Cluster. Guarded by
//! `tests/cluster/broker_redis.rs`, `tests/cluster/cluster_mode_redis.rs`,
//! `tests/cluster/sentinel_redis.rs` and `tests/clients/node/cluster.test.js`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use redis::{Connection, Script};
use serde_json::Value;

mod batch;
mod claim;
mod health;
mod history;
mod subscriber;
mod target;

use super::{Broker, BrokerStats, Claim, ClaimField, Envelope, HistoryEntry, Node, Recorded};
use history::{HistorySettings, Publication};

/// How long one Redis command may block an emit before the node falls back to local.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// Heartbeat period; a node's report expires after [`HEARTBEAT_TTL`].
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);
/// A node missing for this long has left the cluster views.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(3);

/// A Redis broker could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RedisBrokerError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// Another live node already uses the configured node id (its heartbeat expires
    /// 3 s after it stopped).
    #[error("node id {0:?} is in use by a live node of this cluster")]
    NodeIdInUse(String),
    /// Redis did not answer at start.
    #[error("Redis at {url} is unreachable: {message}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The client's error.
        message: String,
    },
}

struct Shared {
    /// Where Redis is; each new connection asks it for the current master.
    client: target::Target,
    node_id: String,
    prefix: String,
    channel: String,
    script: Script,
    /// Appends a message's events to the history and publishes it (`history.rs`).
    history_script: Script,
    /// The event history's settings, `None` while it is off.
    history: Mutex<Option<HistorySettings>>,
    /// The command connection (heartbeats, recovery, history reads, the cluster view);
    /// `None` while down.
    command: Mutex<Option<Connection>>,
    /// Claims waiting to be sent in one batch (`batch.rs`).
    claims: Mutex<batch::Claims>,
    /// The connections claims are sent on (`batch.rs`), opened on first use.
    lanes: [Mutex<batch::Lane>; batch::LANES],
    /// Publications in this node's order, for the publisher thread.
    publications: (
        crossbeam_channel::Sender<Publication>,
        crossbeam_channel::Receiver<Publication>,
    ),
    down: AtomicBool,
    /// State written locally while Redis was unreachable: re-asserted on its return.
    pending: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// The newest sequence number applied per state key (stale changes are dropped).
    applied: Mutex<HashMap<String, u64>>,
    node: Mutex<Option<Arc<dyn Node>>>,
    stop: AtomicBool,
    fallbacks: AtomicU64,
    publish_failures: AtomicU64,
    received: AtomicU64,
    stale: AtomicU64,
    malformed: AtomicU64,
    reconnects: AtomicU64,
    claims_sent: AtomicU64,
    claim_round_trips: AtomicU64,
}

/// Shares change detection, events, sessions and the connection view of several hubs
/// through one Redis 7 (see the [module docs](crate::broker) for the consistency model).
///
/// ```no_run
/// use microcoaster_realtime::{Hub, broker::RedisBroker};
/// let broker = RedisBroker::connect("redis://127.0.0.1:6379")?;
/// let hub = Hub::builder().broker(broker).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisBroker {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("node", &self.shared.node_id)
            .finish_non_exhaustive()
    }
}

/// A connection to the current master, with the command timeouts.
fn open(target: &target::Target) -> redis::RedisResult<Connection> {
    let mut connection = target
        .client()?
        .get_connection_with_timeout(COMMAND_TIMEOUT)?;
    connection.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    connection.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    redis::cmd("PING").query::<String>(&mut connection)?;
    Ok(connection)
}

/// `key` under `prefix` with the prefix as hash tag (`{mcrt:}seq`): every key of one
/// prefix lives in one slot of a Redis Cluster, as the scripts need (`target.rs`).
fn tagged_key(prefix: &str, key: &str) -> String {
    format!("{{{prefix}}}{key}")
}

fn random_node_id() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl RedisBroker {
    /// Connects to Redis at `url` under the key prefix `mcrt:`. Fails if Redis does not
    /// answer now; later outages (a Sentinel or Cluster failover among them) are survived.
    ///
    /// `url` is one of:
    /// - `redis://[user:password@]host:port[/db]` (or `rediss://`, `unix://`): one server;
    /// - `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, given
    ///   by one or more seed nodes; the broker talks to the master of its hash slot and
    ///   finds the new one after a failover;
    /// - `redis+sentinel://[user:password@]host:port[,host:port…]/<master name>[/db]`: the
    ///   master a Sentinel group monitors under that name (the hosts are the sentinels,
    ///   the credentials and database the master's), asked again after each failure.
    pub fn connect(url: &str) -> Result<Self, RedisBrokerError> {
        Self::with_prefix(url, "mcrt:")
    }

    /// Like [`RedisBroker::connect`] with another key prefix (several independent
    /// clusters on one Redis).
    pub fn with_prefix(url: &str, prefix: &str) -> Result<Self, RedisBrokerError> {
        Self::with_options(url, prefix, None)
    }

    /// Like [`RedisBroker::with_prefix`], naming this node `node_id` (random when `None`)
    /// in published messages, heartbeats and the cluster view.
    pub fn with_options(
        url: &str,
        prefix: &str,
        node_id: Option<&str>,
    ) -> Result<Self, RedisBrokerError> {
        let client = target::Target::parse(url, tagged_key(prefix, "seq"))?;
        let unreachable = |e: redis::RedisError| RedisBrokerError::Unreachable {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let mut connection = open(&client).map_err(unreachable)?;
        if let Some(id) = node_id {
            // Two nodes under one id would drop each other's messages as their own: the
            // id is taken with the first heartbeat's key, or refused.
            let ttl = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(3000);
            let taken: Option<String> = redis::cmd("SET")
                .arg(tagged_key(prefix, &format!("node:{id}")))
                .arg("{}")
                .arg("NX")
                .arg("PX")
                .arg(ttl)
                .query(&mut connection)
                .map_err(unreachable)?;
            if taken.is_none() {
                return Err(RedisBrokerError::NodeIdInUse(id.to_owned()));
            }
        }
        let script = claim::script();
        script.load(&mut connection).map_err(unreachable)?;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                node_id: node_id.map_or_else(random_node_id, str::to_owned),
                prefix: prefix.to_owned(),
                channel: format!("{prefix}events"),
                script,
                history_script: history::script(),
                history: Mutex::new(None),
                command: Mutex::new(Some(connection)),
                claims: Mutex::default(),
                lanes: Default::default(),
                publications: crossbeam_channel::bounded(batch::PUBLISH_QUEUE),
                down: AtomicBool::new(false),
                pending: Mutex::default(),
                applied: Mutex::default(),
                node: Mutex::new(None),
                stop: AtomicBool::new(false),
                fallbacks: AtomicU64::new(0),
                publish_failures: AtomicU64::new(0),
                received: AtomicU64::new(0),
                stale: AtomicU64::new(0),
                malformed: AtomicU64::new(0),
                reconnects: AtomicU64::new(0),
                claims_sent: AtomicU64::new(0),
                claim_round_trips: AtomicU64::new(0),
            }),
            threads: Mutex::default(),
        })
    }

    /// This node's id in the cluster (random per process).
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }
}

impl Shared {
    fn key(&self, key: &str) -> String {
        tagged_key(&self.prefix, key)
    }

    /// Runs `command` on the command connection; `None` (and the node marked down) if
    /// Redis is unreachable.
    fn with_command<T>(
        &self,
        what: &str,
        command: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        if self.down.load(Ordering::SeqCst) {
            return None;
        }
        let mut guard = self.command.lock();
        let connection = guard.as_mut()?;
        match command(connection) {
            Ok(value) => Some(value),
            Err(error) => {
                drop(guard);
                self.mark_down(what, &error);
                None
            }
        }
    }
}

impl Broker for RedisBroker {
    fn is_shared(&self) -> bool {
        true
    }

    fn claim(&self, key: &str, fields: &[ClaimField<'_>], clear: &[String]) -> Claim {
        self.shared.claim(key, fields, clear)
    }

    fn publish(&self, envelope: Envelope) {
        let shared = &*self.shared;
        shared.queue_publication(Publication::Plain(Box::new(envelope)));
    }

    fn publish_recorded(&self, envelope: Envelope, recorded: Vec<Recorded>) {
        self.shared.queue_recorded(envelope, recorded);
    }

    fn keep_history(&self, window: Duration, max_len: usize) -> bool {
        self.shared.keep_history(window, max_len)
    }

    fn history(&self, streams: &[String]) -> Option<Vec<HistoryEntry>> {
        self.shared.read_history(streams)
    }

    fn record_identity(&self, pid: &str, record: Option<String>) {
        let pid = pid.to_owned();
        self.shared
            .queue_publication(Publication::Identity { pid, record });
    }

    fn recorded_identity(&self, pid: &str) -> Option<super::RecordedIdentity> {
        self.shared.recorded_identity(pid)
    }

    fn take_recorded_identity(&self, pid: &str) -> bool {
        self.shared.take_recorded_identity(pid)
    }

    fn flush(&self, patience: Duration) {
        self.shared.flush(patience);
    }

    fn origin(&self) -> &str {
        &self.shared.node_id
    }

    fn start(&self, node: Arc<dyn Node>) {
        *self.shared.node.lock() = Some(node);
        let mut threads = self.threads.lock();
        if !threads.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let (subscribed, ready) = std::sync::mpsc::channel();
        threads.push(
            crate::outbound::spawn_library_thread("mcrt-redis-sub", move || {
                shared.subscriber_loop(subscribed)
            })
            .expect("spawning the Redis subscriber thread"),
        );
        if ready.recv_timeout(Duration::from_secs(2)).is_err() {
            tracing::warn!(
                "the Redis subscription is not in place yet: other nodes' events may be missed until it is"
            );
        }
        let shared = Arc::clone(&self.shared);
        threads.push(
            crate::outbound::spawn_library_thread("mcrt-redis-pub", move || {
                shared.publisher_loop()
            })
            .expect("spawning the Redis publisher thread"),
        );
        let shared = Arc::clone(&self.shared);
        threads.push(
            crate::outbound::spawn_library_thread("mcrt-redis-beat", move || {
                shared.heartbeat_loop()
            })
            .expect("spawning the Redis heartbeat thread"),
        );
    }

    fn cluster(&self) -> Option<Vec<Value>> {
        self.shared.cluster_reports()
    }

    fn stats(&self) -> Option<BrokerStats> {
        Some(self.shared.stats())
    }

    fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.lock().drain(..) {
            thread.thread().unpark();
            // The last handle to a hub may be dropped on one of these threads (the
            // subscriber delivering while the host lets go): that one ends on its own
            // once it sees `stop`, and joining itself would fail.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
