//! # microcoaster-realtime
//!
//! The real-time core of MicroCoaster.
//!
//! ```
//! use std::time::Duration;
//! use microcoaster_realtime::{EmitOutcome, Hub};
//! use serde_json::json;
//!
//! let hub = Hub::builder().build().unwrap();
//! // The host logged two users in (its login route calls this, as the seed's does).
//! hub.emit_user_logged_in(&json!({"id": 123, "name": "Ada"}), "sess-ada").unwrap();
//! hub.emit_user_logged_in(&json!({"id": 456, "name": "Bob"}), "sess-bob").unwrap();
//!
//! // Ada has two tabs on the modules page; Bob one; a stranger never authenticates.
//! let mut tabs: Vec<_> = (0..2).map(|_| hub.connect_in_process()).collect();
//! for tab in &tabs {
//!     tab.authenticate(json!({"userId": 123, "userType": "user", "page": "modules", "sessionId": "sess-ada"})).unwrap();
//! }
//! let mut bob = hub.connect_in_process();
//! bob.authenticate(json!({"userId": 456, "page": "modules", "sessionId": "sess-bob"})).unwrap();
//! let mut stranger = hub.connect_in_process();
//!
//! // The seed's scenario: a module comes online.
//! let info = json!({"type": "Station", "name": "Station principale", "userId": 123});
//! assert_eq!(hub.emit_module_online("MC-1234-STN", &info).unwrap(), EmitOutcome::Delivered { connections: 2 });
//! assert_eq!(hub.emit_module_online("MC-1234-STN", &info).unwrap(), EmitOutcome::Unchanged);
//!
//! let names = |c: &mut microcoaster_realtime::InProcessConnection| -> Vec<String> {
//!     c.drain_now().iter().filter_map(|r| r.frame().map(|f| f.name().to_owned())).collect()
//! };
//! for tab in &mut tabs {
//!     assert_eq!(names(tab), ["auth:ok", "page:snapshot", "module:status:changed"]);
//! }
//! assert_eq!(names(&mut bob), ["auth:ok", "page:snapshot"]); // nothing of Ada's
//! assert!(names(&mut stranger).is_empty());                  // nothing before authenticate
//! # let _ = Duration::ZERO;
//! ```
//!
//! ## Tour
//!
//! - [`Hub`] (`hub/`: builder, emit, deliver, inbound, connections) is the facade: the seed's twelve `emit_*` calls plus
//!   [`Hub::emit_to_user`] / [`Hub::emit_to_admins`], each returning an
//!   [`EmitOutcome`]. It is synchronous and thread-safe: call it from any thread.
//! - [`call`] is the typed model of those calls: a [`HostCall`] per call (DESIGN §9
//!   bodies as fields), run by [`Hub::run`]; the HTTP API, the broker and the audit log
//!   carry it, so a new call is one variant and the compiler lists what must handle it.
//! - [`event`] names every event and its payload shape (DESIGN §4), with an example
//!   payload for each.
//! - [`input`] reads host arguments (`id` or `moduleId`, numeric or string user ids).
//! - [`store`] decides whether anything changed; nothing is sent otherwise.
//! - [`registry`] knows every connection's verified identity and page, and resolves
//!   audiences with the isolation rules in one place.
//! - [`auth`] verifies credentials: JWT HS256, the session table fed by
//!   `emit_user_logged_in`, and host [`Authenticator`]s.
//! - [`hooks`] are the plugin points: client events, stats, before-emit, audit.
//! - [`outbound`] is what every connection is sent: the encode-once [`OutboundEvent`]
//!   and the bounded per-connection [`OutboundQueue`] with telemetry conflation; with
//!   the ports in [`hub::ports`] ([`Transport`], [`Connection`], [`HostSink`]) it is
//!   the contract every transport adapter uses.
//! - [`transport`] holds the adapters, which depend on the hub and never the other way:
//!   the server ([`Hub::serve`]), the in-process transport ([`Hub::connect_in_process`])
//!   and the host-callback transport ([`transport::host`]) for hosts that keep their own
//!   sockets: [`HubBuilder::host_sink`] + [`Hub::attach_host`], one [`HostSink::frame`]
//!   call per event with every recipient and the already-encoded Socket.IO packet.
//! - [`protocol`] holds the wire codecs, pure functions with no I/O.
//! - [`metrics`] counts everything; [`snapshot`] assembles the copy `hub.metrics()`
//!   returns with the persistence and broker health; [`Hub::prometheus_text`] and the
//!   server's `GET /metrics` expose it to Prometheus ([`monitor::prometheus`]).
//! - [`monitor`] (opt-in, [`HubBuilder::monitor`]) feeds admins on the `admin` page:
//!   `admin:activity` (batched per window), `admin:alert` / `admin:alert:cleared`,
//!   `admin:server:stats` (sent only when a value changed), and optionally users'
//!   `module:status:batch`.
//! - [`broker`] makes several processes one logical hub: [`broker::InMemory`] (the
//!   default, one process) or `broker::RedisBroker` (cargo feature `redis`, on by
//!   default so the server example's `--redis` works out of the box; build with
//!   `default-features = false` to leave the Redis client out). With Redis every
//!   change-detecting emit is decided by one Lua compare-and-set, published once, and
//!   delivered by every node through its own registry; see the module docs for the
//!   consistency model and the behaviour while Redis is unreachable.
//! - [`ffi`] is the C ABI (`include/microcoaster_realtime.h`, generated by cbindgen), on
//!   which the Node package `bindings/node/` is built.
//!
//! ## Serving
//!
//! [`Hub::serve`] starts the server transport ([`transport::server`]) on its own tokio
//! runtime and returns a [`ServerHandle`] (bound
//! address, `shutdown()`). It serves three protocols on one port:
//!
//! **Socket.IO v5 over Engine.IO v4** at `/socket.io/`, for the official clients
//! (browser, Node, python-socketio), over websocket, long-polling, or polling upgraded
//! to websocket. Frames the server sends: `0{sid,upgrades,pingInterval,pingTimeout,
//! maxPayload}` (open), `2` (ping, every `ping_interval`; no `3` within `ping_timeout`
//! closes the session), `40{"sid"}` (namespace joined), `44{"message","data":{"code"}}`
//! (CONNECT refused: unknown namespace, or credentials in `auth` refused), `42["event",
//! data]` (every event), `43<id>[body]` (ack of an event that asked for one:
//! `client:authenticate` gets the `auth:ok` or `{code,message}` body), `41` (the server
//! disconnects the client: after a logout or too many failed authentications; the
//! official client then does not reconnect), `6` (noop during an upgrade), `1` (close,
//! over polling). Credentials may come in the CONNECT `auth` object (`io(url, {auth:
//! {token}})` or the seed's `{userId, userType, page, sessionId}`) or in a
//! `client:authenticate` event. HTTP errors: 400 `{"code","message"}` (0 unknown
//! transport, 1 unknown session id, 2 bad handshake method, 3 bad request, 5 unsupported
//! protocol version), 413 for a body over `max_payload`, 503 past `max_connections`.
//!
//! **The native JSON protocol** at `/ws`, for devices and languages without a Socket.IO
//! client: every text frame both ways is `{"event": "<name>", "data": <JSON>}`. Send
//! `client:authenticate` (same payload; devices use a device JWT or `{moduleId,
//! deviceKey}`), then `client:page` or any event; a device sends `telemetry`. Close
//! codes: 1000 normal, 1001 shutdown, 1003 binary frame, 1007 invalid UTF-8/JSON or a
//! frame of the wrong shape, 1008 `auth_timeout` or `rate_limited`, 1009 over
//! `max_message_bytes`, 4001 `slow_consumer`, 4002 `logged_out`, 4003
//! `too_many_auth_failures`.
//!
//! **Connection-state recovery** (both protocols; off unless
//! [`ServerConfig::recovery`](transport::server::ServerConfig) is set, `--recovery-window-ms`
//! in the server example). Every event then carries its offset, a number that only
//! grows across the whole hub (the same bytes for every recipient):
//! `42["name",data,"<offset>"]` on Socket.IO, `{"event","data","offset":<n>}` natively;
//! replies to one connection (`auth:*`, `page:snapshot`, acks) carry none.
//! - Socket.IO: the CONNECT reply is `40{"sid","pid"}`, `pid` being a private, random
//!   session id. The official client (4.8) keeps it and the last offset and reconnects
//!   with `40{"pid","offset",…auth}`. Within the window the reply carries the same `pid`
//!   (`socket.recovered === true`) and is followed by every event the client missed, in
//!   order, exactly once, with its identity and page restored (no `auth:ok` again);
//!   otherwise a new `pid` and a fresh session, authenticated from the same `auth`
//!   object, which gets `auth:ok` and `page:snapshot` as on a first connect. A client
//!   back before the server noticed its old transport died (half-open TCP) takes the
//!   connection over: the old session is closed and the new one recovers.
//! - Native: after `auth:ok` and `page:snapshot` a user or admin connection gets
//!   `auth:resumable {pid}`. A new connection may send `client:resume {pid, offset}`
//!   (offset: the last one seen; omitted or `null` for none) instead of authenticating:
//!   `auth:resumed {pid}` then the missed frames in order, or `auth:resume_failed
//!   {code, message}` (`unknown_pid`, `session_closed`, `offset_too_old`,
//!   `wrong_protocol`, `already_authenticated`, `bad_resume`) and the connection stays
//!   open for `client:authenticate`.
//!
//! A connection is kept ("parked") for recovery when its transport is lost (websocket
//! closed or broken, Engine.IO close, ping timeout), not when the client disconnects on
//! purpose (Socket.IO `41`), nor after a close decided by the server (logout, auth
//! failures, protocol errors, rate limit, shutdown). While parked it stays in the
//! registry, so it receives exactly what it is entitled to (isolation holds on replay),
//! without telemetry conflation, up to the queue bound (1,024 frames by default; past
//! it the connection is dropped). A `pid` is a bearer secret for the window (2 minutes
//! by default): treat it like a session id. A session logged out while parked, a
//! device connection (its module's offline grace period covers quick reconnects), and
//! anything past the window or the `max_parked` bound are not recoverable; after a
//! server restart every `pid` is unknown. With persistence on, published events are
//! also appended to the event history table with the same offsets (a durable record
//! of what was sent; recovery itself replays from memory).
//!
//! **The HTTP API** `POST /api/v1/emit/<call>` ([`transport::server::api`]) when
//! `ServerConfig::api_key` is set.
//!
//! Limits (all in [`ServerConfig`], each counted in
//! [`Hub::metrics`]): messages over `max_message_bytes` (64 KiB) close that connection;
//! not authenticated within `auth_deadline` (10 s) closes it; past `max_connections`
//! (100,000) new handshakes get HTTP 503; malformed Engine.IO / Socket.IO / JSON frames
//! close that connection only; inbound messages pass a token bucket (`burst` 100,
//! refilled 50/s): a message without a token is dropped and counted, and a connection
//! that keeps sending with an empty bucket (more than `burst` drops in a row) is closed.
//!
//! ## Decisions where the design is silent
//!
//! - Re-authenticating a connection as the *same* user (new token, other session, new
//!   role) is allowed; as another user it is refused with `auth:error
//!   {code: "identity_change"}`: open a new connection instead.
//! - After `max_auth_failures` refusals (default 5) a connection is closed with reason
//!   `too_many_auth_failures`. An event other than `client:authenticate` before
//!   authentication counts as a failure and gets `auth:error {code: "not_authenticated"}`.
//! - A module first seen through `emit_module_online`/`offline` needs `userId` in `info`
//!   (its owner); later calls may omit it, and naming another owner is refused
//!   (`owner_mismatch`): transfer a module with `emit_module_removed` then
//!   `emit_module_added`. Modules seen only through online/offline are known but not
//!   "added", so a later `emit_module_added` still announces them.
//! - `emit_telemetry_update` for an unknown module is refused (`unknown_module`): its
//!   owner, hence its audience, is unknown.
//! - Events may arrive in this order on a fresh connection: `auth:ok`, `page:snapshot`,
//!   then events; the snapshot is built under the emit lock, so no event is lost or
//!   interleaved.
//! - `page:snapshot` lists the connection's own modules (for admins too); admins on
//!   `admin` also get the last stats sent.
//! - `emit_to_admins` reaches admin connections on every page unless a route limits it.
//! - A logged-out session id is refused afterwards by both built-in authenticators (also
//!   as a JWT `sid`) until it logs in again.
//! - A before-emit filter may rewrite an event's payload or drop it, never its audience.
//! - After a restart with persistence, modules saved as online stay online (a device
//!   that comes back emits nothing) unless [`HubBuilder::offline_after_restart`] is set:
//!   then those without a sign of life within the grace period go offline. The server
//!   example sets it to 30 s.
//! - Connection-state recovery is off unless configured (see "Serving"); with
//!   persistence on, published events are then also appended to the event history with
//!   their offsets. Replay itself comes from connections kept in memory, so it does not
//!   survive a restart: after one, a client's `pid` is unknown and it gets a fresh
//!   session.
//! - Admin monitoring is off in the library unless [`HubBuilder::monitor`] is called (a
//!   hub sends nothing its host did not ask for, and has no extra thread); the server
//!   example turns it on. Monitoring events reach admins on the `admin` page only, and
//!   an admin who opens the page later gets alerts raised from then on
//!   ([`Hub::alerts`] lists those already raised). Activity entries carry ids (user,
//!   module, admin action name), never profiles, session ids or action details.
//! - `admin:server:stats` rates are over the last interval and rounded (0.1 event/s,
//!   0.1 % CPU, whole MiB), so a quiet server stops sending them. Delivery latency is
//!   measured from the emit to the server transport taking the frame (the oldest frame
//!   of each batch a socket drains), in buckets from 100 µs to 5 s; p50/p99 are bucket
//!   upper bounds.
//! - `GET /metrics` is open by default (counters hold no ids or payloads); set
//!   `ServerConfig::metrics_token` to require a bearer token.
//! - Emits the library originates itself (the device grace timer, the restart check,
//!   monitor ticks, device connections and telemetry and the HTTP API on server
//!   threads) run in place on that library thread unless the host gives a
//!   [`HubBuilder::executor`]: then each is a [`Job`] the host runs on its own thread,
//!   in order. That is how a single-threaded host (Node) runs a before-emit filter
//!   synchronously without deadlocking: no emit, hence no filter call under the emit
//!   lock, happens off its thread. With an executor, a device's telemetry received off
//!   the host's thread is acknowledged `{"outcome": "queued"}`, and an HTTP API call
//!   waits up to 10 s for its emit (else `503 host_busy`). A C or JS filter that fails
//!   drops its event and counts in `hook_panics`, like a panicking Rust filter and a
//!   raising Python one.
//! - C ABI, host-callback transport: frames produced on library threads (the device
//!   grace timer, a served device connection) are handed to the host by one delivery
//!   thread per hub, and later frames queue behind them until it is drained, so a
//!   callback never waits for a host's event loop while the emit lock is held, and every
//!   socket still gets events in emit order ([`ffi::host`]). Likewise a C audit sink
//!   gets records caused on library threads from its own thread ([`ffi::emit_hooks`]).
//! - Node attach mode: an event the host's own handlers listen to on a socket (the seed's
//!   `esp:register`) is the host's and is not forwarded to the library. The Node package
//!   has no before-emit hook (it would run under the emit lock on the grace timer thread
//!   and wait for the event loop); C hosts have it.

#![deny(unsafe_code)]

pub mod auth;
pub mod broker;
pub mod call;
mod devices;
pub mod event;
#[allow(unsafe_code)]
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod hub;
pub mod ids;
pub mod input;
pub mod metrics;
pub mod monitor;
pub mod outbound;
pub mod persist;
pub mod protocol;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod transport;

/// Compiles every Rust example in README.md as a doctest, so the README cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use auth::{
    AuthDecision, AuthError, AuthRequest, Authenticator, HandshakeContext, Identity, Role,
};
pub use call::{CallName, HostCall};
pub use event::{Audience, Event};
pub use hooks::{
    AuditRecord, AuditSink, BeforeEmit, ClientEvent, ClientEventHandler, StatsProvider, Verdict,
};
pub use hub::{
    BuildError, EmitOutcome, Executor, Hub, HubBuilder, HubError, IdArg, InboundError, Job, Reply,
};
pub use hub::{Connection, HostSink, Transport};
pub use ids::ConnectionId;
pub use ids::{IdError, ModuleId, SessionId, UserId};
pub use metrics::BadInputKind;
pub use monitor::{Alert, AlertLevel, AlertRule, AlertRules, MonitorConfig};
pub use outbound::{CloseReason, OutboundEvent, OutboundQueue, Wake};
pub use persist::{Durability, PersistConfig, PersistError, PersistMetrics};
pub use protocol::WireFormat;
pub use snapshot::MetricsSnapshot;
pub use transport::in_process::{InProcessConnection, Received};
pub use transport::server::{RecoveryConfig, ServeError, ServerConfig, ServerHandle};
