//! Counters every layer bumps and `hub.metrics()` reads.
//!
//! Owns the atomic counters and the delivery-latency histogram (`latency.rs`). Counting
//! is a relaxed atomic add, cheap enough for the emit hot path. This module must not
//! decide anything, and must not know the layers it counts for: the copy handed to hosts,
//! [`crate::MetricsSnapshot`], is assembled from these counters and the layers' own
//! health figures in `snapshot.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

mod latency;

pub use latency::{BUCKET_BOUNDS_MICROS, LatencyHistogram, LatencySnapshot};

/// One monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Kinds of bad input, each counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadInputKind {
    /// A frame over the size limit.
    TooLarge,
    /// A frame that is not UTF-8.
    InvalidUtf8,
    /// A frame that is not JSON.
    InvalidJson,
    /// JSON of the wrong shape (not an object, missing fields, wrong types).
    WrongShape,
    /// An event other than `client:authenticate` before authentication.
    NotAuthenticated,
    /// An invalid argument to a host call (bad id, wrong JSON type, reserved name).
    HostArgument,
    /// A malformed Engine.IO or Socket.IO packet, or an unsupported binary message.
    Protocol,
    /// An inbound message dropped by the per-connection rate limit.
    RateLimited,
    /// A Socket.IO binary packet refused: more attachments than allowed, attachments
    /// over the size bound, a bad placeholder, or a binary message out of sequence.
    Binary,
    /// A browser request whose `Origin` the server's origin policy does not allow.
    Origin,
    /// A handshake past its remote address's rate
    /// (`ServerConfig::handshakes_per_second`).
    HandshakeRate,
    /// An HTTP request whose header block was over `ServerConfig::max_header_bytes`.
    HeaderTooLarge,
    /// An HTTP connection that did not send its headers within
    /// `ServerConfig::header_timeout` (slow-loris).
    HeaderTimeout,
    /// A connection to a TLS server that failed its TLS handshake (plain text on the
    /// TLS port, a bad `ClientHello`, a certificate the client refused) or did not
    /// finish it within `ServerConfig::header_timeout`.
    TlsHandshake,
    /// A handshake refused because its remote address had
    /// `ServerConfig::max_connections_per_ip` connections open.
    ConnectionsPerIp,
    /// An authentication refused because its user had `max_connections_per_user`
    /// authenticated connections open.
    ConnectionsPerUser,
}

impl BadInputKind {
    pub(crate) const ALL: [Self; 16] = [
        Self::TooLarge,
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::WrongShape,
        Self::NotAuthenticated,
        Self::HostArgument,
        Self::Protocol,
        Self::RateLimited,
        Self::Binary,
        Self::Origin,
        Self::HandshakeRate,
        Self::HeaderTooLarge,
        Self::HeaderTimeout,
        Self::TlsHandshake,
        Self::ConnectionsPerIp,
        Self::ConnectionsPerUser,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a connection was closed as a slow consumer, each counted separately
/// (`mcrt_slow_consumer_closes_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlowConsumerReason {
    /// Its queue held more than the byte bound (`HubBuilder::queue_max_bytes`): the
    /// rule that usually applies to a transport's connection.
    Bytes,
    /// Its queue held more than the frame bound (`HubBuilder::queue_capacity`): the
    /// rule of in-process connections, and a secondary safety for a transport's.
    Frames,
    /// A write to its socket made no progress for the server's
    /// `slow_consumer_timeout`: a reader that stopped reading while little reached it.
    Stalled,
}

impl SlowConsumerReason {
    /// Every reason, in the order of their counters.
    pub const ALL: [Self; 3] = [Self::Bytes, Self::Frames, Self::Stalled];

    /// The reason's label value: `bytes`, `frames`, `stalled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Frames => "frames",
            Self::Stalled => "stalled",
        }
    }
}

/// Slow-consumer closes by [`SlowConsumerReason`], as [`Metrics::slow_consumer_closes`]
/// reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SlowConsumerCloses {
    /// Closed by the byte bound.
    pub bytes: u64,
    /// Closed by the frame bound.
    pub frames: u64,
    /// Closed by the time bound (a socket write without progress).
    pub stalled: u64,
}

impl SlowConsumerCloses {
    /// Every slow-consumer close, whatever its reason.
    pub fn total(&self) -> u64 {
        self.bytes + self.frames + self.stalled
    }
}

/// The hub's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Emits that changed state (or were not change-detected) and produced events.
    pub emits_changed: Counter,
    /// Emits that changed nothing and sent nothing.
    pub emits_unchanged: Counter,
    /// Emits refused with an error.
    pub emits_failed: Counter,
    /// Events dropped by a before-emit hook.
    pub events_dropped_by_hook: Counter,
    /// Frames placed in connection queues.
    pub frames_delivered: Counter,
    /// Queued telemetry frames replaced by a newer one for the same module.
    pub frames_conflated: Counter,
    /// Serializations of an event into a wire format (encode once: one per format).
    pub frames_encoded: Counter,
    /// Batches of frames written to server websockets (one flush each):
    /// `frames_delivered / socket_writes` is how many frames a write carries.
    pub socket_writes: Counter,
    /// Successful authentications.
    pub auth_successes: Counter,
    /// Refused authentications.
    pub auth_failures: Counter,
    /// Panics caught inside host hooks.
    pub hook_panics: Counter,
    /// Client events handed to the client-event hook.
    pub client_events_forwarded: Counter,
    /// Client events dropped because no client-event hook is set.
    pub client_events_dropped: Counter,
    /// Handshakes refused because `max_connections` was reached.
    pub connections_refused: Counter,
    /// Connections closed for not authenticating within the deadline.
    pub auth_timeouts: Counter,
    /// Connections closed for not answering a ping in time.
    pub ping_timeouts: Counter,
    /// Time from an emit to a transport taking its frame (oldest of each drained batch).
    pub delivery_latency: LatencyHistogram,
    bad_inputs: [Counter; BadInputKind::ALL.len()],
    slow_consumer_closes: [Counter; SlowConsumerReason::ALL.len()],
    token_refusals: [Counter; TOKEN_REFUSAL_CODES.len()],
}

/// The `auth:error` codes of a refused token, each counted separately
/// (`mcrt_token_refusals_total{code}`).
pub const TOKEN_REFUSAL_CODES: [&str; 8] = [
    "invalid_token",
    "expired_token",
    "token_not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "bad_signature",
    "unknown_kid",
    "algorithm_not_allowed",
];

impl Metrics {
    /// Counts one bad input of `kind`.
    pub fn bad_input(&self, kind: BadInputKind) {
        self.bad_inputs[kind.index()].increment();
    }

    /// Counts one refused token if `code` is one of [`TOKEN_REFUSAL_CODES`].
    pub fn token_refused(&self, code: &str) {
        if let Some(index) = TOKEN_REFUSAL_CODES.iter().position(|known| *known == code) {
            self.token_refusals[index].increment();
        }
    }

    /// How many tokens were refused with `code`.
    pub fn token_refusals(&self, code: &str) -> u64 {
        TOKEN_REFUSAL_CODES
            .iter()
            .position(|known| *known == code)
            .map_or(0, |index| self.token_refusals[index].get())
    }

    /// Counts one connection closed as a slow consumer for `reason`.
    pub fn slow_consumer_closed(&self, reason: SlowConsumerReason) {
        self.slow_consumer_closes[reason as usize].increment();
    }

    /// Slow-consumer closes so far, by reason.
    pub fn slow_consumer_closes(&self) -> SlowConsumerCloses {
        let count = |reason: SlowConsumerReason| self.slow_consumer_closes[reason as usize].get();
        SlowConsumerCloses {
            bytes: count(SlowConsumerReason::Bytes),
            frames: count(SlowConsumerReason::Frames),
            stalled: count(SlowConsumerReason::Stalled),
        }
    }

    /// How many bad inputs of `kind` were seen.
    pub fn bad_inputs(&self, kind: BadInputKind) -> u64 {
        self.bad_inputs[kind.index()].get()
    }
}

/// Connection counts by state, read from the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionCounts {
    /// Attached, not yet authenticated.
    pub unauthenticated: usize,
    /// Authenticated as users.
    pub users: usize,
    /// Authenticated as admins.
    pub admins: usize,
    /// Authenticated as devices.
    pub devices: usize,
}
