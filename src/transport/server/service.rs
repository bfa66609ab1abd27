//! The public API for serving plain Socket.IO namespaces and raw Engine.IO sessions
//! beside the hub, on the server's one Engine.IO implementation: [`Namespace`]
//! handlers in a [`Namespaces`] registry, the [`NamespaceSocket`] a handler talks to
//! (per-connection emit, acks, binary [`Payload`]s), and [`EngineService`] for an
//! Engine.IO endpoint without Socket.IO on top.
//!
//! The hub's own protocol (the seed's events, authentication, rooms by user and role)
//! is the namespace `/` unless a [`Namespace`] is registered for `/`; every other
//! namespace is refused with `Invalid namespace` unless registered. This module owns
//! the handles and traits; it must not parse packets (`namespace.rs`, `custom.rs`) nor
//! touch a socket (the engine writes what a handle queues). Guarded by
//! `tests/server/namespaces.rs` and the official suites (`scripts/conformance`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde_json::Value;

use crate::protocol::binary;
use crate::protocol::socketio;

use super::session::{Ending, Session};

/// Arguments of a Socket.IO event or ack, with their binary attachments.
///
/// A binary value travels as a placeholder `{"_placeholder":true,"num":N}` in `args`
/// standing for `attachments[N]` (the Socket.IO encoding); [`Payload::binary`] resolves
/// one. Received payloads were checked: every placeholder points at an attachment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The JSON arguments, binary values as placeholders.
    pub args: Vec<Value>,
    /// The binary values, in placeholder order.
    pub attachments: Vec<Bytes>,
}

impl Payload {
    /// JSON arguments without binary values.
    pub fn new(args: Vec<Value>) -> Self {
        Self {
            args,
            attachments: Vec::new(),
        }
    }

    /// The attachment a placeholder stands for (`None` for any other value).
    pub fn binary(&self, value: &Value) -> Option<&Bytes> {
        self.attachments.get(binary::placeholder_index(value)?)
    }

    /// Adds a binary value and returns the placeholder to put where it belongs in
    /// `args`.
    pub fn push_binary(&mut self, data: impl Into<Bytes>) -> Value {
        self.attachments.push(data.into());
        binary::placeholder(self.attachments.len() - 1)
    }
}

/// Why a namespace refused a client: sent as CONNECT_ERROR `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRefusal(pub String);

/// The handler of one Socket.IO namespace.
///
/// Calls come from the server's runtime threads, one at a time per client connection
/// and in the order its packets arrived; a handler that blocks holds that connection's
/// reads (and those of the runtime thread), so hand long work to another thread.
pub trait Namespace: Send + Sync + 'static {
    /// Decides whether a client may join, from its CONNECT `auth` object (`{}` when it
    /// sent none); a refusal is sent as CONNECT_ERROR. Runs before the client joined,
    /// like a Socket.IO middleware. The default accepts.
    fn accept(&self, auth: &Value) -> Result<(), ConnectRefusal> {
        let _ = auth;
        Ok(())
    }

    /// The client joined: its CONNECT reply is queued, so what this emits follows it.
    /// The default does nothing.
    fn on_connect(&self, socket: &NamespaceSocket, auth: &Value) {
        let _ = (socket, auth);
    }

    /// An event, with the ack to answer when the client asked for one.
    fn on_event(&self, socket: &NamespaceSocket, event: &str, payload: Payload, ack: Option<Ack>);

    /// The client left the namespace or its session ended. The default does nothing.
    fn on_disconnect(&self, socket: &NamespaceSocket) {
        let _ = socket;
    }
}

/// The namespaces a server serves with its own handlers (see the module docs).
#[derive(Clone, Default)]
pub struct Namespaces {
    handlers: HashMap<String, Arc<dyn Namespace>>,
}

impl Namespaces {
    /// No namespace but the hub's `/`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `name` (e.g. `/chat`; `/` replaces the hub's protocol) with `handler`.
    pub fn with(mut self, name: &str, handler: impl Namespace) -> Self {
        self.handlers.insert(name.to_owned(), Arc::new(handler));
        self
    }

    /// The handler of `name`, if registered.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn Namespace>> {
        self.handlers.get(name)
    }

    /// Whether the hub serves `/` (no handler replaces it).
    pub(crate) fn hub_serves_root(&self) -> bool {
        !self.handlers.contains_key("/")
    }
}

impl fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.handlers.keys()).finish()
    }
}

/// Why a message could not be queued for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client is gone")]
pub struct Gone;

/// One client's membership of one namespace: emit to it, or disconnect it.
#[derive(Clone)]
pub struct NamespaceSocket {
    inner: Arc<SocketInner>,
}

struct SocketInner {
    id: String,
    namespace: String,
    session: Weak<Session>,
    handler: Arc<dyn Namespace>,
}

impl NamespaceSocket {
    pub(crate) fn new(namespace: &str, session: &Session, handler: &Arc<dyn Namespace>) -> Self {
        Self {
            inner: Arc::new(SocketInner {
                id: super::session::random_id(),
                namespace: namespace.to_owned(),
                session: session.weak.clone(),
                handler: Arc::clone(handler),
            }),
        }
    }

    pub(crate) fn handler(&self) -> &Arc<dyn Namespace> {
        &self.inner.handler
    }

    /// The socket id the client was given in its CONNECT reply.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The namespace it joined.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Sends `event` to this client only; binary attachments follow the packet.
    pub fn emit(&self, event: &str, payload: &Payload) -> Result<(), Gone> {
        let session = self.live()?;
        let text = socketio::encode_event_args(
            self.namespace(),
            None,
            event,
            &payload.args,
            payload.attachments.len(),
        );
        session.send_packet(text, &payload.attachments);
        Ok(())
    }

    /// Leaves the namespace from the server side (`41`); the Engine.IO session and its
    /// other namespaces stay. The handler's `on_disconnect` runs.
    pub fn disconnect(&self) {
        if let Some(session) = self.inner.session.upgrade() {
            super::custom::leave(&session, self.namespace(), true);
        }
    }

    fn live(&self) -> Result<Arc<Session>, Gone> {
        let session = self.inner.session.upgrade().ok_or(Gone)?;
        if session.ending().is_some() {
            return Err(Gone);
        }
        Ok(session)
    }
}

impl fmt::Debug for NamespaceSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceSocket")
            .field("id", &self.inner.id)
            .field("namespace", &self.inner.namespace)
            .finish()
    }
}

/// The answer a client asked for with its event; send it once.
#[derive(Debug)]
pub struct Ack {
    socket: NamespaceSocket,
    id: u64,
}

impl Ack {
    pub(crate) fn new(socket: NamespaceSocket, id: u64) -> Self {
        Self { socket, id }
    }

    /// Answers with `payload` (a BINARY_ACK when it has attachments).
    pub fn send(self, payload: &Payload) -> Result<(), Gone> {
        let session = self.socket.live()?;
        let text = socketio::encode_ack_args(
            self.socket.namespace(),
            self.id,
            &payload.args,
            payload.attachments.len(),
        );
        session.send_packet(text, &payload.attachments);
        Ok(())
    }
}

/// A message of a raw Engine.IO session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineMessage {
    /// A text message (Engine.IO `4…`).
    Text(String),
    /// A binary message (a websocket binary frame, or `b<base64>` over polling).
    Binary(Bytes),
}

/// The handler of a raw Engine.IO endpoint ([`EngineEndpoint`]).
///
/// Calls come from the server's runtime threads, in order per session; see
/// [`Namespace`] about blocking.
pub trait EngineService: Send + Sync + 'static {
    /// A session opened. The default does nothing.
    fn on_open(&self, socket: &EngineSocket) {
        let _ = socket;
    }

    /// A message arrived.
    fn on_message(&self, socket: &EngineSocket, message: EngineMessage);

    /// The session ended (closed by either side, or timed out). The default does
    /// nothing.
    fn on_close(&self, socket: &EngineSocket) {
        let _ = socket;
    }
}

/// An Engine.IO endpoint served beside Socket.IO ([`ServerConfig::engine_io`](super::ServerConfig)).
#[derive(Clone)]
pub struct EngineEndpoint {
    /// Its path, e.g. `/engine.io/`.
    pub path: String,
    /// Its handler.
    pub service: Arc<dyn EngineService>,
}

impl EngineEndpoint {
    /// Serves `service` at `path`.
    pub fn new(path: &str, service: impl EngineService) -> Self {
        Self {
            path: path.to_owned(),
            service: Arc::new(service),
        }
    }
}

impl fmt::Debug for EngineEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineEndpoint")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One raw Engine.IO session: send to it, or close it.
#[derive(Clone)]
pub struct EngineSocket {
    id: Arc<str>,
    session: Weak<Session>,
}

impl EngineSocket {
    pub(crate) fn new(session: &Session) -> Self {
        Self {
            id: session.sid.as_str().into(),
            session: session.weak.clone(),
        }
    }

    /// The Engine.IO session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Queues a message for this session.
    pub fn send(&self, message: EngineMessage) -> Result<(), Gone> {
        let session = self.session.upgrade().ok_or(Gone)?;
        if session.ending().is_some() {
            return Err(Gone);
        }
        match message {
            EngineMessage::Text(text) => session.send_control(format!("4{text}")),
            EngineMessage::Binary(data) => session.send_binary(data),
        }
        Ok(())
    }

    /// Closes the session (an Engine.IO `1`, then the transport closes).
    pub fn close(&self) {
        if let Some(session) = self.session.upgrade() {
            session.end(Ending::Closed);
        }
    }
}

impl fmt::Debug for EngineSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineSocket")
            .field("id", &self.id)
            .finish()
    }
}
