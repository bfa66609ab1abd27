//! Decisions where the design (DESIGN.md) is silent: what the library does in each case
//! a user could wonder about, and why. A doc-only module (nothing to import): the crate
//! root links here.
//!
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
//!   that comes back emits nothing) unless [`HubBuilder::offline_after_restart`](crate::HubBuilder::offline_after_restart) is set:
//!   then those without a sign of life within the grace period go offline. The server
//!   example sets it to 30 s.
//! - Connection-state recovery is off unless configured (see "Serving"); with
//!   persistence on, published events are then also appended to the event history with
//!   their offsets. Replay itself comes from connections kept in memory, so it does not
//!   survive a restart: after one, a client's `pid` is unknown and it gets a fresh
//!   session.
//! - Admin monitoring is off in the library unless [`HubBuilder::monitor`](crate::HubBuilder::monitor) is called (a
//!   hub sends nothing its host did not ask for, and has no extra thread); the server
//!   example turns it on. Monitoring events reach admins on the `admin` page only, and
//!   an admin who opens the page later gets alerts raised from then on
//!   ([`Hub::alerts`](crate::Hub::alerts) lists those already raised). Activity entries carry ids (user,
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
//!   [`HubBuilder::executor`](crate::HubBuilder::executor): then each is a [`Job`](crate::Job) the host runs on its own thread,
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
//!   socket still gets events in emit order ([`ffi::host`](crate::ffi::host)). Likewise a C audit sink
//!   gets records caused on library threads from its own thread ([`ffi::emit_hooks`](crate::ffi::emit_hooks)).
//! - Node attach mode: an event the host's own handlers listen to on a socket (the seed's
//!   `esp:register`) is the host's and is not forwarded to the library. The Node
//!   package's `beforeEmit` filters run on the event loop: the package installs a host
//!   executor, so no emit, hence no filter call, happens off the loop.
