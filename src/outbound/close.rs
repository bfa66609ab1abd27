//! Why a connection was closed by the hub ([`CloseReason`]) and how a transport hears
//! that its queue has something new ([`Wake`]): the words the emit path and every
//! transport share. This module must not hold state.

/// Why the hub closed a connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Its queue overflowed: it did not read fast enough.
    SlowConsumer,
    /// Its session was logged out (`emit_user_logged_out`).
    LoggedOut,
    /// Too many failed authentication attempts.
    TooManyAuthFailures,
    /// Its user already had `max_connections_per_user` connections.
    TooManyConnections,
    /// The hub is shutting down.
    Shutdown,
    /// The transport or the host detached it.
    Detached,
}

impl CloseReason {
    /// A stable name, used as the close reason on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SlowConsumer => "slow_consumer",
            Self::LoggedOut => "logged_out",
            Self::TooManyAuthFailures => "too_many_auth_failures",
            Self::TooManyConnections => "too_many_connections",
            Self::Shutdown => "shutdown",
            Self::Detached => "detached",
        }
    }
}

/// Tells a transport that a queue has something new (frames or a close). Called with no
/// lock held, on the emitting thread; it must be quick and must not call into the hub.
pub trait Wake: Send + Sync + 'static {
    /// The queue went from empty to non-empty, or was closed.
    fn wake(&self);

    /// The queue was closed for `reason` (after [`Wake::wake`] would have been called
    /// for it). The default wakes the reader, which finds the close when it drains; a
    /// transport with no reader (the host-callback transport) is told here instead.
    fn closed(&self, reason: &CloseReason) {
        let _ = reason;
        self.wake();
    }
}
