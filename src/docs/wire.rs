//! The wire protocol, for client authors and operators: what the server sends and
//! accepts on each of its protocols, connection-state recovery, the HTTP API and the
//! limits. A doc-only module (nothing to import): the crate root links here.
//!
//!
//! [`Hub::serve`](crate::Hub::serve) starts the server transport ([`transport::server`](crate::transport::server)) on its own tokio
//! runtime and returns a [`ServerHandle`](crate::ServerHandle) (bound
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
//! protocol version), 413 for a body over `max_payload`, 503 past `max_connections`,
//! 429 `{"code":3}` past `handshakes_per_second` or `max_connections_per_ip` (the
//! per-IP cap wins over the per-user one: it refuses before authentication).
//!
//! **Namespaces, binary, and plain Socket.IO services.** The hub's protocol is the
//! namespace `/`; [`ServerConfig::namespaces`](crate::transport::server::ServerConfig)
//! registers [`Namespace`](crate::transport::server::Namespace) handlers for others (or
//! for `/`, which then replaces the hub's protocol), each with per-connection emit and
//! acks of any number of arguments; unregistered namespaces get `44/<ns>,{"message":
//! "Invalid namespace"}`. Binary events and acks (`45<n>-…`, `46<n>-…`, each binary
//! value a `{"_placeholder":true,"num":N}` followed by its attachment as a websocket
//! binary frame, or a `b<base64>` packet over polling) are reassembled per session: at
//! most `max_attachments` (10) per packet and `max_payload` bytes in all; a placeholder
//! past the attachments, an attachment nothing announced, or a text packet while
//! attachments are due close that session (counted as `bad_inputs{kind="binary"}`); a
//! packet still incomplete when its session ends is dropped. On the hub's `/`, a
//! client's binary event reaches the client-event hook with its values as bytes
//! ([`ClientEvent::attachments`](crate::ClientEvent)), and a host's binary emit
//! ([`Hub::emit_binary_to_user`](crate::Hub::emit_binary_to_user),
//! [`Hub::emit_binary_to_admins`](crate::Hub::emit_binary_to_admins), or `attachments`:
//! base64 strings in the HTTP API's `to_user` / `to_admins` / `to_everyone` body) is sent as one
//! `45<n>-…` packet and its attachments, built once and shared by every recipient.
//! A Socket.IO session that joins no namespace within `connect_timeout` (45 s) is
//! closed.
//! [`ServerConfig::engine_io`](crate::transport::server::ServerConfig) adds a raw
//! Engine.IO endpoint ([`EngineService`](crate::transport::server::EngineService)) at
//! its own path, on the same sessions code; a session id is valid only at the endpoint
//! that opened it. `examples/conformance.rs` is such a server; the official Socket.IO v5
//! and Engine.IO v4 suites pass against it (`scripts/conformance`, run by CI).
//!
//! As the reference server: a client's Engine.IO close (`1`) answers its pending poll
//! with a noop (`6`); a request after the pong deadline finds the session gone; a poll
//! during an upgrade ends with a noop; a second websocket for an upgraded session is
//! accepted and closed with 1008.
//!
//! **The native JSON protocol** at `/ws`, for devices and languages without a Socket.IO
//! client: every text frame both ways is `{"event": "<name>", "data": <JSON>}`. Send
//! `client:authenticate` (same payload; devices use a device JWT or `{moduleId,
//! deviceKey}`), then `client:page`, `client:snapshot {cursor}` (the next page of the
//! snapshot, answered with `page:snapshot:more`), `client:audit {…}` (admins: a page of
//! the audit log in the ack) or any event; a device sends `telemetry`. Close
//! codes: 1000 normal, 1001 shutdown, 1003 binary frame (the native protocol is text
//! only: a client sends binary as base64 in a JSON string; a host's binary event
//! arrives with Socket.IO's placeholders in `data` and the values as base64 strings in
//! the frame's `"attachments"` list), 1007 invalid UTF-8/JSON or a
//! frame of the wrong shape, 1008 `auth_timeout` or `rate_limited`, 1009 over
//! `max_message_bytes`, 4001 `slow_consumer`, 4002 `logged_out`, 4003
//! `too_many_auth_failures`, 4004 `too_many_connections` (the user's
//! `max_connections_per_user` was reached; `auth:error` with that code comes first).
//!
//! **Connection-state recovery** (both protocols; off unless
//! [`ServerConfig::recovery`](crate::transport::server::ServerConfig) is set, `--recovery-window-ms`
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
//! **The HTTP API** `POST /api/v1/emit/<call>` ([`transport::server::api`](crate::transport::server::api)) when
//! `ServerConfig::api_key` is set.
//!
//! Limits (all in [`ServerConfig`](crate::ServerConfig), each counted in
//! [`Hub::metrics`](crate::Hub::metrics)): messages over `max_message_bytes` (64 KiB) close that connection;
//! not authenticated within `auth_deadline` (10 s) closes it; past `max_connections`
//! (100,000) new handshakes get HTTP 503; past `max_connections_per_ip` (off) from one
//! address, 429; past the hub's `max_connections_per_user` (100) authenticated
//! connections of one user, `auth:error` `too_many_connections` and a close; malformed Engine.IO / Socket.IO / JSON frames
//! close that connection only; inbound messages pass a token bucket (`burst` 100,
//! refilled 50/s): a message without a token is dropped and counted, and a connection
//! that keeps sending with an empty bucket (more than `burst` drops in a row) is closed.
//!
