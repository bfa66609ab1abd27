//! Brokers: how the hubs of several processes behave as one logical hub. Owns the
//! shared "changed?" decision ([`Broker::claim`]), the publication of decided events to
//! the other nodes, and the cluster-wide view of connections. Must not resolve
//! audiences, touch connection queues or encode frames: every node delivers what it
//! receives through its own registry (`hub/cluster.rs`).
//!
//! Two implementations:
//! - [`InMemory`] (the default): one process, exactly the behaviour and cost of a hub
//!   without a broker; [`Broker::claim`] answers [`Claim::Local`] and the hub never builds
//!   a key.
//! - `RedisBroker` (cargo feature `redis`, on by default): one Redis 7 shared by every node.
//!
//! # Consistency model (Redis)
//!
//! - **One decision per change.** Every change-detecting emit names its state as a Redis
//!   hash key and fields (`module:<id>:status {online, owner}`, `module:<id>:telemetry`,
//!   `module:<id>:exists`, `user:<id>:profile`, `user:<id>:registered`, `stats`,
//!   `maintenance`, `session:<sid>:<user>`) and runs one Lua compare-and-set
//!   (`EVALSHA`): the fields that differ are written and reported, together with a
//!   cluster-wide sequence number. Redis runs scripts one at a time, so identical emits racing on several nodes
//!   produce exactly one `Changed`; the others are `Unchanged`.
//! - **Claims in batches.** The hub claims before taking its emit lock, so the claims of
//!   concurrent emitters on one node go to Redis together (`redis/batch.rs`): one call
//!   of the script decides them one after the other, in the order they were made, with
//!   exactly the outcome each would have had alone; under the emit lock a claim older than one of the same
//!   key already applied on this node is dropped (`Hub::superseded`: its emit answers
//!   `Unchanged`, its clients get the newer value).
//! - **Redis decides, the node-local store mirrors.** With a shared broker the local store
//!   never short-circuits to `Unchanged` on its own (it may be a few hundred microseconds
//!   behind another node); when Redis says changed and the local mirror already had the
//!   value, the event is built from the mirror. The mirror is updated by the node that
//!   decided and by every node that receives the event.
//! - **Publication.** A changed emit is delivered locally first, then queued (under the
//!   emit lock, so in this node's order) and published once by the publisher thread
//!   (`PUBLISH` on one channel, several per pipeline) as its typed call and its steps (`broker/wire/`,
//!   versioned); every other node applies the call to its mirror with the same code as
//!   the deciding node and runs the steps on its own registry (before-emit hooks run on
//!   each node; a logout closes the session's sockets everywhere). A node skips its own
//!   messages, and refuses (counts and drops) messages of another format version.
//! - **Order.** Two changes of the same state key decided on two nodes may reach a third
//!   node in either order; the sequence number makes a node drop a change older than one
//!   it already applied for that key, so every node ends on Redis's value and its clients
//!   see the last value (possibly without an intermediate one, like conflation).
//! - **Sessions.** `emit_user_logged_in` claims `session:<sid>:<user>` and every node
//!   registers the session when it receives the event, so a tab authenticating with the
//!   session payload on another node is accepted; `emit_user_logged_out` is published as
//!   well and every node closes that session's sockets.
//! - **Admin monitoring, cluster-wide.** Every node delivers every changed call, so each
//!   node's `admin:activity` feed already holds the cluster's activity (entries name
//!   the deciding node, `node`). Alerts whose inputs are local to a node travel as one
//!   [`Message::Alerts`] per monitor tick that raised or cleared some, and are cleared on
//!   the others when that node's heartbeat ends; per-node stats figures ride on the
//!   heartbeat. `admin:server:stats` names its node (`node`) and adds a `cluster`
//!   object with the live nodes' totals and each node's own figures under `byNode`
//!   (heartbeats: 1 s period, 3 s expiry). See `monitor/cluster.rs`.
//!
//! # While Redis is unreachable
//!
//! Local delivery continues. The first command that finds Redis silent waits up to
//! 300 ms (the command timeout) and marks it down; later emits do not touch Redis until
//! the heartbeat thread (every second) reaches it again. Change detection falls back to
//! the node's own store ([`BrokerStats::fallbacks`], `mcrt_broker_fallback_total`, one
//! warning per outage) and publications are dropped (`publish_failures`): clients on
//! other nodes miss those events, and events other nodes publish while this node is
//! resubscribing are missed here. Each state key decided locally during the outage is
//! remembered (last value wins); when Redis answers again the node first writes those
//! values back (so Redis holds what this node's clients were told), then resubscribes
//! and claims through Redis again. Nodes' mirrors may differ for a key changed during
//! the outage until its next change; a client that reconnects receives a fresh
//! `page:snapshot` from its node's mirror.
//!
//! A Redis that restarts empty (no persistence configured) forgets the shared state:
//! the first emit of each state afterwards counts as a change, so clients may get one
//! redundant event per state (never a missed one). Give Redis persistence (RDB or AOF)
//! where that matters.
//!
//! # Recovery across nodes
//!
//! A client whose connection is parked on node A (recovery on, `--recovery-window-ms`)
//! may reconnect to node B: B publishes a `recovery_request` (pid, client offset) on the
//! same channel, and the node that parked that pid answers with a `recovery_answer`
//! (identity, page, missed frames) and drops its parked connection; nodes that do not
//! hold it stay silent. B waits 500 ms at most. The channel's single order is what makes
//! the handover exact (`hub/handoff.rs`): every event the connection is entitled to and
//! that some node published through the broker reaches the client once, in each
//! emitting node's order (as between any two nodes, events of different emitting nodes
//! may interleave differently than they would have on A). Admin monitoring events
//! (activity batches, stats, alerts) are built by the node the client is on. A holder that is down (its
//! heartbeat expired) is replaced by the event history when it is kept (see above);
//! otherwise, while Redis is unreachable, or when no node answers in time (unknown or
//! expired pid, holder down), the client gets a fresh session. Pids travel through
//! Redis in clear: Redis must be as private as the nodes themselves.
//!
//! # Event history (recovery after the holder's death)
//!
//! With [`Hub::keep_event_history`](crate::Hub::keep_event_history) on (a server with
//! recovery and Redis turns it on, `RecoveryConfig::redis_history`), the node that
//! decides a changed call records the events it delivered (after its hooks, with its
//! offsets) and the sessions it ended, and its publication becomes one Lua script that
//! takes the next history position, appends each of them to a Redis Stream (one per
//! user, one for admins, one for everyone; trimmed to the window by time and to about
//! one queue capacity of entries, each expiring a window after its last append; every
//! key hash-tagged `{history}`) and publishes the message with the position first
//! (`hseq`, [`Envelope::history`]). One script, so the channel's order and the
//! positions agree. Each node also records the identity and page of its recoverable
//! connections under their pids ([`Broker::record_identity`]). A node recovers a
//! client whose holder is dead from these (`hub/handoff/revive.rs`).
//!
//! Guarded by `tests/cluster/broker_redis.rs` (`racing_identical_emits_on_two_nodes_give_one_event`,
//! `a_real_change_on_another_node_is_never_unchanged`,
//! `malformed_broker_messages_are_counted_and_the_node_keeps_serving`) and
//! `tests/clients/node/cluster.test.js` (three server processes on one Redis: exactly
//! once per tab, racing emits, sessions, SIGKILL, Redis outage) and
//! `tests/clients/node/cross_node_recovery.test.js` (recovery across nodes) and
//! `tests/cluster/monitor_redis.rs` (admin monitoring across nodes).

#[cfg(feature = "redis")]
mod redis;
mod wire;

#[cfg(feature = "redis")]
pub use self::redis::{RedisBroker, RedisBrokerError};
pub use wire::{Envelope, HistoryEntry, Message, WIRE_VERSION, WireError};

use serde_json::Value;

/// The broker a hub configured with a Redis `url` joins (`HubBuilder::redis`, the
/// schema's `redis` key), named `node_id` (random when `None`). The error says why
/// (bad URL, Redis unreachable, or a build without the `redis` feature).
pub(crate) fn join(url: &str, node_id: Option<&str>) -> Result<std::sync::Arc<dyn Broker>, String> {
    #[cfg(feature = "redis")]
    {
        let broker = RedisBroker::with_options(url, "mcrt:", node_id).map_err(|e| e.to_string())?;
        tracing::info!(url, node = broker.node_id(), "joined the cluster on Redis");
        Ok(std::sync::Arc::new(broker))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, node_id);
        Err("this build has no Redis support (cargo feature `redis`)".to_owned())
    }
}

/// The shared change decision for one emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No shared decision (in-memory broker, or the shared one is unreachable): the local
    /// store decides.
    Local,
    /// The shared state already held these values.
    Unchanged,
    /// These fields changed; `seq` orders the change among every node's changes.
    Changed {
        /// The fields whose values differed.
        fields: Vec<String>,
        /// Cluster-wide sequence number of this change.
        seq: u64,
    },
}

/// One field of a claim: its name, the new value, and the value to compare with when
/// the shared state has none yet (`None`: absent counts as different).
#[derive(Debug, Clone, Copy)]
pub struct ClaimField<'a> {
    /// Hash field name.
    pub name: &'a str,
    /// The value the emit asserts.
    pub value: &'a str,
    /// The baseline when the field was never written (profile updates compare with `old`).
    pub baseline: Option<&'a str>,
}

/// What a broker needs from the node it serves: deliver a message from another node, and
/// report this node's connections for the cluster view.
pub trait Node: Send + Sync {
    /// Applies and delivers a message published by another node.
    fn receive(&self, envelope: Envelope);
    /// This node's connection counts and online users (a JSON object).
    fn report(&self) -> Value;
}

/// How the hubs of several processes share change detection and delivery. See the
/// module docs for the consistency model.
pub trait Broker: Send + Sync {
    /// Whether decisions and events are shared with other nodes. `false` means the hub
    /// works alone and never calls the other methods on its emit path.
    fn is_shared(&self) -> bool;
    /// Atomically compares `fields` of the state `key` with the shared state and writes
    /// the ones that differ; when any did, the state keys in `clear` are deleted in the
    /// same step (a removed module's status and telemetry).
    fn claim(&self, key: &str, fields: &[ClaimField<'_>], clear: &[String]) -> Claim;
    /// Sends an event decided on this node to every other node. Called under the emit
    /// lock, in the node's order; the envelope is handed over whole so that a broker can
    /// encode it off that lock (the Redis broker encodes on its publisher thread).
    fn publish(&self, envelope: Envelope);
    /// [`Broker::publish`] that also appends `recorded` (the events this node delivered
    /// for the call, with their offsets) to the shared event history, when
    /// [`Broker::keep_history`] turned it on; the default publishes only.
    fn publish_recorded(&self, envelope: Envelope, recorded: Vec<Recorded>) {
        let _ = recorded;
        self.publish(envelope);
    }
    /// Keeps every recorded event for `window` (and at most about `max_len` per
    /// stream) in the shared store, so a client whose node died can be recovered on
    /// another. Returns whether this broker keeps a history (the default does not).
    fn keep_history(&self, window: std::time::Duration, max_len: usize) -> bool {
        let _ = (window, max_len);
        false
    }
    /// Records (`Some`) or forgets (`None`) the identity and page a client presenting
    /// `pid` to another node would be recovered with (event history on), in this
    /// node's publication order.
    fn record_identity(&self, pid: &str, record: Option<String>) {
        let _ = (pid, record);
    }
    /// The identity recorded for `pid` by the node that named it, if that node's
    /// record is still kept; `None` without a history or while unreachable.
    fn recorded_identity(&self, pid: &str) -> Option<RecordedIdentity> {
        let _ = pid;
        None
    }
    /// Takes the record of `pid` away (once: only the first caller gets `true`).
    fn take_recorded_identity(&self, pid: &str) -> bool {
        let _ = pid;
        false
    }
    /// Waits (at most `patience`) until everything this node queued for publication
    /// so far was sent.
    fn flush(&self, patience: std::time::Duration) {
        let _ = patience;
    }
    /// Every kept entry of the history streams `streams` (`user:<id>`, `admins`,
    /// `everyone`), in position order; `None` without a history or while unreachable.
    fn history(&self, streams: &[String]) -> Option<Vec<HistoryEntry>> {
        let _ = streams;
        None
    }
    /// This node's id in published messages.
    fn origin(&self) -> &str {
        ""
    }
    /// Starts receiving other nodes' messages and reporting this node (called once by
    /// `HubBuilder::build`).
    /// The node holds only a weak reference to its hub, so a broker never keeps a dropped
    /// hub alive.
    fn start(&self, node: std::sync::Arc<dyn Node>);
    /// The cluster-wide view: every live node's report, this node's included; `None` for
    /// a broker without one.
    fn cluster(&self) -> Option<Vec<Value>>;
    /// The broker's counters; `None` for a broker without any.
    fn stats(&self) -> Option<BrokerStats> {
        None
    }
    /// Stops the broker's threads.
    fn stop(&self) {}
}

/// One step of a changed call as this node ran it (after its before-emit hooks), for
/// the shared event history ([`Broker::publish_recorded`]).
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The event delivered (or the session ended).
    pub step: crate::call::Step,
    /// The event's offset on this node (`None` for an effect).
    pub offset: Option<u64>,
}

/// What the node that named a pid recorded for it ([`Broker::recorded_identity`]).
#[derive(Debug, Clone)]
pub struct RecordedIdentity {
    /// The node that holds (or held) the connection.
    pub node: String,
    /// The identity and page, as that node recorded them (JSON).
    pub record: String,
    /// When that node last reported itself alive (ms since the epoch).
    pub last_beat_ms: u64,
    /// Whether that node's heartbeat is still live.
    pub holder_alive: bool,
}

/// A shared broker's counters (in [`crate::MetricsSnapshot::broker`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BrokerStats {
    /// Whether the broker reached its server on the last try.
    pub reachable: bool,
    /// Change decisions taken locally because the server was unreachable.
    pub fallbacks: u64,
    /// Changed emits that could not be published to the other nodes.
    pub publish_failures: u64,
    /// Messages from other nodes delivered here.
    pub received: u64,
    /// Messages from other nodes dropped because a newer change of the same state was
    /// already applied.
    pub stale: u64,
    /// Messages that could not be parsed (dropped).
    pub malformed: u64,
    /// Times the server became reachable again after an outage.
    pub reconnects: u64,
    /// Claims sent to the server.
    pub claims: u64,
    /// Round trips those claims took (the claims of concurrent emits share one script call).
    pub claim_round_trips: u64,
}

/// The default broker: one process, no sharing.
#[derive(Debug, Default, Clone, Copy)]
pub struct InMemory;

impl Broker for InMemory {
    fn is_shared(&self) -> bool {
        false
    }
    fn claim(&self, _key: &str, _fields: &[ClaimField<'_>], _clear: &[String]) -> Claim {
        Claim::Local
    }
    fn publish(&self, _envelope: Envelope) {}
    fn start(&self, _node: std::sync::Arc<dyn Node>) {}
    fn cluster(&self) -> Option<Vec<Value>> {
        None
    }
}
