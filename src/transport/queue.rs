//! One connection's bounded outbound queue: the only place where the emit path and a
//! transport meet.
//!
//! Invariants, each guarded by the named tests:
//! - **No lock is held while writing to a socket**: a transport takes the whole queue
//!   with [`OutboundQueue::drain`] (one short lock) and writes after releasing it.
//!   (`tests/queue_policy.rs::slow_connection_never_delays_the_others`)
//! - **Conflation**: a telemetry frame for a module whose previous telemetry frame is
//!   still queued replaces it in place (latest wins, position kept), so a slow reader
//!   never sees stale telemetry and never overflows on telemetry alone.
//!   (`transport::queue::tests::telemetry_for_same_module_is_conflated`)
//! - **Bound**: past `capacity` non-conflatable frames the queue is dropped and the
//!   connection closed with [`CloseReason::SlowConsumer`]; the emitter never blocks.
//!   (`tests/queue_policy.rs::overflow_closes_only_the_slow_connection`)
//! - A close requested by the hub (logout) keeps the frames already queued, so
//!   `user:session:ended` is delivered before the close.
//!
//! This module must not resolve audiences or encode frames.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ids::ModuleId;
use crate::protocol::{OutboundEvent, WireFormat};

/// Identifies one attached connection within a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

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
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    Conflated,
    Overflowed,
    Closed,
}

/// Frames a queue has room for without allocating: its first buffer and the one each
/// drain puts in place.
const INITIAL_FRAMES: usize = 8;

#[derive(Default)]
struct State {
    frames: VecDeque<Arc<OutboundEvent>>,
    /// Sequence number of `frames[0]`; a frame's sequence never changes while queued.
    head_seq: u64,
    /// Module → sequence of its queued telemetry frame.
    telemetry_slots: HashMap<ModuleId, u64>,
    closed: Option<CloseReason>,
}

/// What [`OutboundQueue::drain`] found.
#[derive(Debug, Default)]
pub struct Drained {
    /// Frames in order.
    pub frames: Vec<Arc<OutboundEvent>>,
    /// Set once the connection is closed; no frame will follow.
    pub closed: Option<CloseReason>,
}

/// A connection's outbound side, shared by the registry (which pushes) and the transport
/// (which drains).
pub struct OutboundQueue {
    id: ConnectionId,
    format: WireFormat,
    capacity: usize,
    state: Mutex<State>,
    waker: Box<dyn Wake>,
}

impl OutboundQueue {
    pub(crate) fn new(
        id: ConnectionId,
        format: WireFormat,
        capacity: usize,
        waker: Box<dyn Wake>,
    ) -> Self {
        Self {
            id,
            format,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                frames: VecDeque::with_capacity(INITIAL_FRAMES),
                ..State::default()
            }),
            waker,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The framing the connection speaks.
    pub fn format(&self) -> WireFormat {
        self.format
    }

    pub(crate) fn push(&self, frame: &Arc<OutboundEvent>) -> Pushed {
        let mut state = self.state.lock();
        if state.closed.is_some() {
            return Pushed::Closed;
        }
        let was_empty = state.frames.is_empty();
        if let Some(key) = frame.conflation_key() {
            if let Some(&seq) = state.telemetry_slots.get(key) {
                let index = (seq - state.head_seq) as usize;
                state.frames[index] = Arc::clone(frame);
                return Pushed::Conflated;
            }
            if state.frames.len() >= self.capacity {
                return self.overflow(state);
            }
            let seq = state.head_seq + state.frames.len() as u64;
            state.telemetry_slots.insert(key.clone(), seq);
        } else if state.frames.len() >= self.capacity {
            return self.overflow(state);
        }
        state.frames.push_back(Arc::clone(frame));
        drop(state);
        if was_empty {
            self.waker.wake();
        }
        Pushed::Queued
    }

    fn overflow(&self, mut state: parking_lot::MutexGuard<'_, State>) -> Pushed {
        state.frames.clear();
        state.telemetry_slots.clear();
        state.closed = Some(CloseReason::SlowConsumer);
        drop(state);
        self.waker.wake();
        Pushed::Overflowed
    }

    /// Closes the connection after the frames already queued (or at once, dropping
    /// them, for a slow consumer). Returns false if it was already closed.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        let mut state = self.state.lock();
        if state.closed.is_some() {
            return false;
        }
        if reason == CloseReason::SlowConsumer {
            state.frames.clear();
            state.telemetry_slots.clear();
        }
        state.closed = Some(reason);
        drop(state);
        self.waker.wake();
        true
    }

    /// Takes every queued frame, in order, and the close reason if the connection is
    /// closed. The lock is held only for the swap.
    ///
    /// The queue's next buffer is allocated here, on the reader's side and before the
    /// lock is taken, so that a push (the emit path) never allocates for a reader that
    /// keeps up.
    pub fn drain(&self) -> Drained {
        let fresh = VecDeque::with_capacity(INITIAL_FRAMES);
        let mut state = self.state.lock();
        if state.frames.is_empty() {
            return Drained {
                frames: Vec::new(),
                closed: state.closed.clone(),
            };
        }
        let taken = state.frames.len() as u64;
        state.head_seq += taken;
        state.telemetry_slots.clear();
        let frames = std::mem::replace(&mut state.frames, fresh);
        let closed = state.closed.clone();
        drop(state);
        Drained {
            frames: frames.into(),
            closed,
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.state.lock().frames.len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The close reason, once closed.
    pub fn closed(&self) -> Option<CloseReason> {
        self.state.lock().closed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct CountWakes(Arc<AtomicUsize>);
    impl Wake for CountWakes {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn queue(capacity: usize) -> (OutboundQueue, Arc<AtomicUsize>) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let q = OutboundQueue::new(
            ConnectionId(1),
            WireFormat::Native,
            capacity,
            Box::new(CountWakes(wakes.clone())),
        );
        (q, wakes)
    }

    fn telemetry(module: &str, value: i64) -> Arc<OutboundEvent> {
        OutboundEvent::new(
            "module:telemetry:updated".into(),
            json!({"moduleId": module, "telemetry": value}),
            Some(ModuleId::new(module).unwrap()),
            Arc::new(Metrics::default()),
        )
    }

    fn plain(n: i64) -> Arc<OutboundEvent> {
        OutboundEvent::new("x".into(), json!(n), None, Arc::new(Metrics::default()))
    }

    #[test]
    fn telemetry_for_same_module_is_conflated() {
        let (q, _) = queue(8);
        assert_eq!(q.push(&plain(0)), Pushed::Queued);
        assert_eq!(q.push(&telemetry("a", 1)), Pushed::Queued);
        assert_eq!(q.push(&telemetry("b", 1)), Pushed::Queued);
        assert_eq!(q.push(&telemetry("a", 2)), Pushed::Conflated);
        assert_eq!(q.push(&telemetry("a", 3)), Pushed::Conflated);
        let payloads: Vec<_> = q
            .drain()
            .frames
            .iter()
            .map(|f| f.payload().clone())
            .collect();
        assert_eq!(
            payloads,
            vec![
                json!(0),
                json!({"moduleId": "a", "telemetry": 3}),
                json!({"moduleId": "b", "telemetry": 1})
            ]
        );
        // After a drain the slot is gone: the next telemetry is queued anew.
        assert_eq!(q.push(&telemetry("a", 4)), Pushed::Queued);
        assert_eq!(q.push(&plain(1)), Pushed::Queued);
        assert_eq!(q.push(&telemetry("a", 5)), Pushed::Conflated);
        assert_eq!(q.drain().frames[0].payload()["telemetry"], json!(5));
    }

    #[test]
    fn overflow_closes_and_drops_the_queue() {
        let (q, wakes) = queue(2);
        q.push(&plain(1));
        q.push(&plain(2));
        assert_eq!(q.push(&plain(3)), Pushed::Overflowed);
        assert_eq!(q.push(&plain(4)), Pushed::Closed);
        let drained = q.drain();
        assert!(drained.frames.is_empty());
        assert_eq!(drained.closed, Some(CloseReason::SlowConsumer));
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            2,
            "one wake for data, one for the close"
        );
    }

    #[test]
    fn telemetry_at_the_bound_conflates_instead_of_overflowing() {
        let (q, _) = queue(2);
        q.push(&telemetry("a", 1));
        q.push(&plain(1));
        assert_eq!(q.push(&telemetry("a", 2)), Pushed::Conflated);
        assert_eq!(q.push(&telemetry("b", 1)), Pushed::Overflowed);
    }

    #[test]
    fn logout_close_keeps_queued_frames() {
        let (q, _) = queue(4);
        q.push(&plain(1));
        assert!(q.close(CloseReason::LoggedOut));
        assert!(!q.close(CloseReason::Shutdown));
        let drained = q.drain();
        assert_eq!(drained.frames.len(), 1);
        assert_eq!(drained.closed, Some(CloseReason::LoggedOut));
    }

    #[test]
    fn wakes_only_on_empty_to_non_empty() {
        let (q, wakes) = queue(8);
        q.push(&plain(1));
        q.push(&plain(2));
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        q.drain();
        q.push(&plain(3));
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }
}
