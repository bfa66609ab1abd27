//! What the hub answers: emit outcomes and the typed errors of emits, inbound
//! messages and building. This module must not decide anything.

use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::ids::{ConnectionId, IdError, UserId};
use crate::input::InputError;
use crate::persist::PersistError;
use crate::protocol::native::FrameError;
use crate::registry::routing::RoutingError;
use crate::store::StoreError;

/// What an emit did. Serialized as `{"outcome": "unchanged" | "delivered",
/// "connections": n}` (0 when unchanged): the one shape every binding and the HTTP API
/// answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitOutcome {
    /// Nothing changed; nothing was sent.
    Unchanged,
    /// The change was sent; `connections` frames were queued (summed over the events of
    /// the call, e.g. `user:module:added` plus `admin:module:added`). Zero is possible:
    /// nobody concerned is connected, or a before-emit hook dropped the event.
    Delivered {
        /// Frames queued.
        connections: usize,
    },
}

impl Serialize for EmitOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (outcome, connections) = match self {
            Self::Unchanged => ("unchanged", 0),
            Self::Delivered { connections } => ("delivered", *connections),
        };
        let mut body = serializer.serialize_struct("EmitOutcome", 2)?;
        body.serialize_field("outcome", outcome)?;
        body.serialize_field("connections", &connections)?;
        body.end()
    }
}

/// Why an emit was refused. Nothing was changed or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// An argument is malformed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The state refused the change.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `emit_to_user` / `emit_to_admins` with a name in a reserved prefix.
    #[error(
        "event name {0:?} uses a reserved prefix (auth:, page:, system:, admin:, user:, module:)"
    )]
    ReservedEvent(String),
    /// An event name that is empty, too long or has control characters.
    #[error("invalid event name: {0}")]
    InvalidEventName(String),
    /// `emit_stats_update` without a stats provider.
    #[error("no stats provider is configured; pass the stats to the call")]
    NoStatsProvider,
    /// The stats provider failed (or panicked).
    #[error("stats provider failed: {0}")]
    StatsProvider(String),
    /// `emit_user_logged_out` named a session that is logged in as another user.
    #[error("session belongs to user {owner}, not to the user logged out")]
    SessionMismatch {
        /// The session's user.
        owner: UserId,
    },
    /// `emit_*` called from inside a before-emit hook or a host sink.
    #[error("emit called from inside a before-emit hook or a host frame callback")]
    Reentrant,
    /// [`Hub::attach_host`](super::Hub::attach_host) on a hub built without
    /// [`HubBuilder::host_sink`](super::HubBuilder::host_sink).
    #[error(
        "no host sink is configured; build the hub with host_sink(...) to attach host connections"
    )]
    NoHostSink,
}

impl From<IdError> for HubError {
    fn from(error: IdError) -> Self {
        Self::Input(InputError::Id(error))
    }
}

impl HubError {
    /// A stable machine-readable code (used by the HTTP API and bindings).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Input(_) => "invalid_argument",
            Self::Store(StoreError::UnknownModule(_)) => "unknown_module",
            Self::Store(StoreError::MissingOwner(_)) => "missing_owner",
            Self::Store(StoreError::OwnerMismatch { .. }) => "owner_mismatch",
            Self::ReservedEvent(_) => "reserved_event",
            Self::InvalidEventName(_) => "invalid_event_name",
            Self::NoStatsProvider => "no_stats_provider",
            Self::StatsProvider(_) => "stats_provider_failed",
            Self::SessionMismatch { .. } => "session_mismatch",
            Self::Reentrant => "reentrant_emit",
            Self::NoHostSink => "no_host_sink",
        }
    }
}

/// Why an inbound client message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The raw frame was malformed (size, UTF-8, JSON, shape).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Authentication failed; the connection was sent `auth:error`.
    #[error(transparent)]
    Auth(AuthError),
    /// `client:page` with a bad payload or an unknown page.
    #[error("invalid client:page: {0}")]
    InvalidPage(String),
    /// `client:snapshot` without a text `cursor`.
    #[error("invalid client:snapshot: {0}")]
    InvalidSnapshot(String),
    /// `client:audit` refused: `forbidden` (not an admin), `invalid_audit` (a bad
    /// filter) or `audit_unavailable` (no persistence, or the database failed).
    #[error("client:audit refused ({code}): {message}")]
    AuditRefused {
        /// The ack's code.
        code: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The connection is closed or detached.
    #[error("connection {0} is closed")]
    Closed(ConnectionId),
    /// The hub was called re-entrantly from a hook.
    #[error("hub called re-entrantly from a hook")]
    Reentrant,
    /// A device's telemetry was refused (e.g. not a valid value).
    #[error("device message refused: {0}")]
    Device(String),
}

impl InboundError {
    /// The ack body a client that asked for one gets: `{code, message}` for refusals.
    pub fn ack_body(&self) -> Value {
        let code = match self {
            Self::Frame(error) => error.kind(),
            Self::Auth(error) => error.code(),
            Self::InvalidPage(_) => "invalid_page",
            Self::InvalidSnapshot(_) => "invalid_snapshot",
            Self::AuditRefused { code, .. } => code,
            Self::Closed(_) => "closed",
            Self::Reentrant => "reentrant",
            Self::Device(_) => "device_refused",
        };
        json!({"code": code, "message": self.to_string()})
    }
}

/// What the hub answers to an inbound message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// The ack body for a client that asked for one (`auth:ok`'s body after
    /// `client:authenticate`, a client-event handler's [`AckAnswer`]); `None` when the
    /// message has no answer.
    ///
    /// [`AckAnswer`]: crate::hooks::AckAnswer
    pub ack: Option<Value>,
    /// The binary values the ack body's placeholders stand for (an answer with binary
    /// values; empty otherwise).
    pub attachments: Vec<bytes::Bytes>,
}

/// Why a hub could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The page list or a route is invalid.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// A transport failed to start.
    #[error("transport {name} failed to start: {message}")]
    Transport {
        /// The transport.
        name: String,
        /// Its error.
        message: String,
    },
    /// The database could not be opened or its saved state could not be read
    /// ([`HubBuilder::persist`](super::HubBuilder::persist)).
    #[error("persistence: {0}")]
    Persist(#[from] PersistError),
    /// The shared broker could not be joined ([`HubBuilder::redis`](super::HubBuilder::redis)):
    /// a bad URL, Redis unreachable, or a build without the `redis` feature.
    #[error("broker: {0}")]
    Broker(String),
}
