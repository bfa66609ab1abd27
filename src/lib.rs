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
//! - [`event`] names every event and its payload shape (DESIGN §4), with an example
//!   payload for each.
//! - [`input`] reads host arguments (`id` or `moduleId`, numeric or string user ids).
//! - [`store`] decides whether anything changed; nothing is sent otherwise.
//! - [`registry`] knows every connection's verified identity and page, and resolves
//!   audiences with the isolation rules in one place.
//! - [`auth`] verifies credentials: JWT HS256, the session table fed by
//!   `emit_user_logged_in`, and host [`Authenticator`]s.
//! - [`hooks`] are the plugin points: client events, stats, before-emit, audit.
//! - [`transport`] is how connections attach: the [`Transport`] trait, per-connection
//!   bounded queues with telemetry conflation, the in-process transport, and the
//!   host-callback transport ([`transport::host`]) for hosts that keep their own sockets:
//!   [`HubBuilder::host_sink`] + [`Hub::attach_host`], one [`HostSink::frame`] call per
//!   event with every recipient and the already-encoded Socket.IO packet.
//! - [`protocol`] holds the wire codecs; every event is encoded once per wire format.
//! - [`metrics`] counts everything (`hub.metrics()`).
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

#![deny(unsafe_code)]

pub mod auth;
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
pub mod persist;
pub mod protocol;
pub mod registry;
pub mod store;
pub mod transport;

/// Compiles every Rust example in README.md as a doctest, so the README cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use auth::{
    AuthDecision, AuthError, AuthRequest, Authenticator, HandshakeContext, Identity, Role,
};
pub use event::{Audience, Event};
pub use hooks::{
    AuditRecord, AuditSink, BeforeEmit, ClientEvent, ClientEventHandler, StatsProvider, Verdict,
};
pub use hub::{BuildError, EmitOutcome, Hub, HubBuilder, HubError, IdArg, InboundError, Reply};
pub use ids::{IdError, ModuleId, SessionId, UserId};
pub use metrics::{BadInputKind, MetricsSnapshot};
pub use persist::{Durability, PersistConfig, PersistError, PersistMetrics};
pub use protocol::{OutboundEvent, WireFormat};
pub use transport::host::HostSink;
pub use transport::in_process::{InProcessConnection, Received};
pub use transport::queue::{CloseReason, ConnectionId, OutboundQueue, Wake};
pub use transport::server::{ServeError, ServerConfig, ServerHandle};
pub use transport::{Connection, Transport};
