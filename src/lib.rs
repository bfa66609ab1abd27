//! # microcoaster-realtime
//!
//! The real-time core of MicroCoaster.
//!
//! ```
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
//! ```
//!
//! ## Tour
//!
//! - [`Hub`] (`hub/`: builder, emit, deliver, inbound, connections) is the facade: the seed's twelve `emit_*` calls plus
//!   [`Hub::emit_to_user`] / [`Hub::emit_to_admins`] / [`Hub::emit_to_everyone`], each
//!   returning an
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
//! - [`auth`] verifies credentials: JWT (HS256 secrets, RS256 / ES256 / EdDSA keys, JWKS from a file or an
//!   `https://` URL refreshed on rotation), the session table fed by
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
//!   The server also serves plain Socket.IO namespaces and a raw Engine.IO endpoint
//!   with the host's own handlers ([`transport::server::Namespace`],
//!   [`transport::server::EngineService`]), binary included, on the same sessions code
//!   (`examples/conformance.rs` passes the official protocol suites with it).
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
//! runtime and returns a [`ServerHandle`] (bound address, `shutdown()`). It serves, on
//! one port, Socket.IO v5 at `/socket.io/` for the official clients, the native JSON
//! protocol at `/ws` for devices, and the HTTP API `POST /api/v1/emit/<call>` for
//! backends in any language. What goes over each wire, connection-state recovery and
//! the limits are in [`docs::wire`]; what the library does where the design is silent,
//! in [`docs::decisions`].

#![deny(unsafe_code)]

pub mod auth;
pub mod broker;
pub mod call;
pub mod config;
mod devices;
pub mod docs;
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
pub use config::{ConfigError, HubConfig, ServeConfig};
pub use event::{Audience, Event};
pub use hooks::{
    AckAnswer, Answering, AuditRecord, AuditSink, BeforeEmit, ClientEvent, ClientEventHandler,
    StatsProvider, Verdict,
};
pub use hub::{
    BuildError, EmitOutcome, Executor, Hub, HubBuilder, HubError, IdArg, InboundError, Job, Reply,
};
pub use hub::{Connection, HostSink, Transport};
pub use ids::ConnectionId;
pub use ids::{IdError, ModuleId, SessionId, UserId};
pub use metrics::{BadInputKind, SlowConsumerCloses, SlowConsumerReason};
pub use monitor::{Alert, AlertLevel, AlertRule, AlertRules, MonitorConfig};
pub use outbound::{CloseReason, OutboundEvent, OutboundQueue, Wake};
pub use persist::{Durability, PersistConfig, PersistError, PersistMetrics};
pub use protocol::WireFormat;
pub use snapshot::MetricsSnapshot;
pub use transport::in_process::{InProcessConnection, Received};
pub use transport::server::{RecoveryConfig, ServeError, ServerConfig, ServerHandle};
