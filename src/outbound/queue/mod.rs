//! One connection's bounded outbound queue: the only place where the emit path and a
//! transport meet.
//!
//! Invariants, each guarded by the named tests:
//! - **No lock is held while writing to a socket**: a transport takes the whole queue
//!   with [`OutboundQueue::drain`] (one short lock) and writes after releasing it.
//!   (`tests/hub/queue_policy.rs::slow_connection_never_delays_the_others`)
//! - **Conflation**: a telemetry frame for a module whose previous telemetry frame is
//!   still queued replaces it in place (latest wins, position kept), so a slow reader
//!   never sees stale telemetry and never overflows on telemetry alone.
//!   (`outbound::queue::tests::telemetry_for_same_module_is_conflated`)
//! - **Bound, in bytes**: a queue read by a transport (one with a [`Wake`]) holds at
//!   most `max_bytes` of encoded frames (each frame's bytes, its attachments and one
//!   pointer); past it, or past `capacity` frames for any queue (the bound of an
//!   in-process queue, a secondary safety for a transport's), the queue is dropped and
//!   the connection closed with [`CloseReason::SlowConsumer`], the push saying which
//!   bound it crossed ([`SlowConsumerReason`], the metric's label); the emitter never
//!   blocks. A burst that a healthy reader drains as it comes is judged by what is
//!   waiting, not by how many frames went by.
//!   (`tests/hub/queue_policy.rs::overflow_closes_only_the_slow_connection`,
//!   `outbound::queue::tests::the_byte_bound_counts_what_waits`,
//!   `tests/slow_consumer`)
//! - A close requested by the hub (logout) keeps the frames already queued, so
//!   `user:session:ended` is delivered before the close.
//!   (`outbound::queue::tests::logout_close_keeps_queued_frames`)
//! - **Wake-ups**: the reader is woken when the queue goes from empty to non-empty and
//!   when it is closed, never lost. An external transport (the server) is woken through
//!   its [`Wake`]; an in-process reader waits in `OutboundQueue::wait_until` on a
//!   condition variable tied to the queue's own lock, so a push between its check and
//!   its wait cannot be missed, and waking it when nobody waits is one load in the cache
//!   line the push already holds.
//!   (`outbound::queue::tests::wakes_only_on_empty_to_non_empty`,
//!   `outbound::queue::tests::local_reader_is_woken_by_a_push_and_by_a_close`)
//!
//! - **Parked** (connection-state recovery: the transport is gone, the connection is
//!   kept for a window so a reconnecting client can take it over): no conflation, so a
//!   resumed client gets every event it missed; the bound still applies, and past it
//!   the parked connection is closed like any slow consumer (it is then not
//!   recoverable). (`outbound::queue::tests::a_parked_queue_keeps_every_telemetry_frame`)
//!
//! This module must not resolve audiences or encode frames.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};
use smallvec::SmallVec;

use super::{CloseReason, OutboundEvent, Wake};
use crate::ids::{ConnectionId, ModuleId};
use crate::metrics::SlowConsumerReason;
use crate::protocol::WireFormat;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    Conflated,
    /// Past a bound (which one: the metric's reason); the queue is now closed.
    Overflowed(SlowConsumerReason),
    Closed,
}

/// Frames a queue holds inline, in the cache line of its lock, before it needs a heap
/// buffer: a reader that keeps up (at most this many frames between two drains) never
/// makes a push allocate or touch memory outside that line.
const INLINE_FRAMES: usize = 3;

type Frames = SmallVec<[Arc<OutboundEvent>; INLINE_FRAMES]>;

/// Everything a push reads and writes, behind the queue's lock. Kept small (48 bytes)
/// so that the lock, this state and the in-process condition variable share one cache
/// line: a broadcast to a connection that is not in cache costs one miss.
struct State {
    frames: Frames,
    /// Module → position in `frames` of its queued telemetry frame. Boxed on the first
    /// telemetry frame, so it costs a queue that never gets any one pointer. Positions
    /// are stable: frames are only appended, and a drain takes them all (clearing this).
    /// Boxed on purpose: an unboxed `HashMap` would take 48 bytes of the hot line.
    #[allow(clippy::box_collection)]
    telemetry_slots: Option<Box<HashMap<ModuleId, usize>>>,
    /// What this queue may still take before its reader counts as slow: bytes (see
    /// [`frame_cost`]) for a transport's queue, frames for an in-process one. A budget
    /// counted down by pushes and reset by drains, so a push reads and writes one word
    /// of the hot line, never the bound itself (in the second line).
    room: u32,
    /// The framing, here so that costing a frame stays in the hot line.
    format: WireFormat,
    closed: Option<CloseReason>,
    /// Whether the reader is woken through `OutboundQueue::waker` rather than
    /// `OutboundQueue::readable`: copied here, in the hot cache line, so that waking an
    /// in-process reader never reads the second line of the queue.
    external_waker: bool,
    /// Parked for connection-state recovery: telemetry is not conflated.
    parked: bool,
}

/// A connection's outbound side, shared by the registry (which pushes) and the transport
/// (which drains).
///
/// Laid out for the broadcast path: the lock, the `State` it guards and the
/// in-process condition variable fill the first 64-byte cache line (the struct is
/// 64-byte aligned), so a push to a queue that is not in cache costs one miss. Nothing
/// else is read on the push path of an in-process connection.
#[repr(C, align(64))]
pub struct OutboundQueue {
    state: Mutex<State>,
    /// The in-process reader waits here, with the queue's own lock (no lost wake-up);
    /// notifying it when nobody waits is a single load of this field.
    readable: Condvar,
    id: ConnectionId,
    /// The frame bound (an in-process queue's room when empty).
    capacity: u32,
    /// The byte bound of an external reader: what `State::room` is reset to.
    max_bytes: u32,
    /// An external transport's waker (the server's tokio `Notify`); `None` for an
    /// in-process connection, which waits on `readable`.
    waker: Option<Box<dyn Wake>>,
    /// A host-owned socket (`transport::host`): nothing is ever queued here; the hub
    /// hands its frames to the host sink instead. Outside the push path's cache line:
    /// it is read only by hubs that have a host sink.
    host: bool,
}

impl OutboundQueue {
    /// A queue whose reader waits in [`OutboundQueue::wait_until`].
    pub(crate) fn new_local(id: ConnectionId, format: WireFormat, bounds: QueueBounds) -> Self {
        Self::with_waker(id, format, bounds, None)
    }

    /// A queue whose transport is told of new frames through `waker`.
    pub(crate) fn new(
        id: ConnectionId,
        format: WireFormat,
        bounds: QueueBounds,
        waker: Box<dyn Wake>,
    ) -> Self {
        Self::with_waker(id, format, bounds, Some(waker))
    }

    /// A queue standing for a host-owned socket: never pushed to (the hub passes its
    /// frames to the host sink); `waker` is told when the hub closes it.
    pub(crate) fn new_host(id: ConnectionId, format: WireFormat, waker: Box<dyn Wake>) -> Self {
        let bounds = QueueBounds {
            frames: 1,
            bytes: 1,
        };
        let mut queue = Self::with_waker(id, format, bounds, Some(waker));
        queue.host = true;
        queue
    }

    fn with_waker(
        id: ConnectionId,
        format: WireFormat,
        bounds: QueueBounds,
        waker: Option<Box<dyn Wake>>,
    ) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).max(1);
        let max_bytes = clamp(bounds.bytes);
        Self {
            state: Mutex::new(State {
                frames: Frames::new(),
                telemetry_slots: None,
                room: if waker.is_some() {
                    max_bytes
                } else {
                    clamp(bounds.frames)
                },
                format,
                closed: None,
                external_waker: waker.is_some(),
                parked: false,
            }),
            readable: Condvar::new(),
            id,
            capacity: clamp(bounds.frames),
            max_bytes,
            waker,
            host: false,
        }
    }

    /// Whether this queue stands for a host-owned socket (`transport::host`).
    pub(crate) fn is_host(&self) -> bool {
        self.host
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The framing the connection speaks.
    pub fn format(&self) -> WireFormat {
        self.state.lock().format
    }

    /// Wakes the reader: called with no lock held; `external` is the queue's
    /// `State::external_waker`.
    #[inline]
    fn wake(&self, external: bool) {
        if !external {
            self.readable.notify_one();
        } else if let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    /// Wakes the reader of a queue that was just closed for `reason`.
    fn wake_closed(&self, external: bool, reason: &CloseReason) {
        if !external {
            self.readable.notify_one();
        } else if let Some(waker) = &self.waker {
            waker.closed(reason);
        }
    }

    /// Queues `frame`, or says why not. Inlined into the broadcast loop: a frame
    /// without a conflation key (every event but telemetry) takes the short path here,
    /// with no call of its own per recipient; telemetry goes through
    /// [`Self::push_keyed`].
    #[inline(always)]
    pub(crate) fn push(&self, frame: &Arc<OutboundEvent>) -> Pushed {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if state.closed.is_some() {
            return Pushed::Closed;
        }
        if let Some(key) = frame.conflation_key()
            && !state.parked
        {
            return self.push_keyed(guard, frame, key);
        }
        let len = state.frames.len();
        let external = state.external_waker;
        let cost = Self::cost(state, frame);
        if self.past_bound(external, len, state.room, cost) {
            return self.overflow_at(guard, len);
        }
        self.append(guard, frame, cost)
    }

    /// The push of a frame with a conflation key to a queue that conflates: it
    /// replaces the queued frame of the same module in place, or is appended and
    /// remembered.
    #[inline(never)]
    fn push_keyed(
        &self,
        mut guard: MutexGuard<'_, State>,
        frame: &Arc<OutboundEvent>,
        key: &ModuleId,
    ) -> Pushed {
        let state = &mut *guard;
        let len = state.frames.len();
        let external = state.external_waker;
        let cost = Self::cost(state, frame);
        let slots = state.telemetry_slots.get_or_insert_with(Box::default);
        if let Some(&index) = slots.get(key) {
            let refund = Self::cost(state, &state.frames[index]);
            let Some(room) = (state.room + refund).checked_sub(cost) else {
                return self.overflow(guard, room_reason(external));
            };
            state.room = room;
            state.frames[index] = Arc::clone(frame);
            return Pushed::Conflated;
        }
        if self.past_bound(external, len, state.room, cost) {
            return self.overflow_at(guard, len);
        }
        slots.insert(key.clone(), len);
        self.append(guard, frame, cost)
    }

    /// Appends `frame`, which the caller checked fits, and wakes the reader if the
    /// queue was empty.
    #[inline(always)]
    fn append(
        &self,
        mut guard: MutexGuard<'_, State>,
        frame: &Arc<OutboundEvent>,
        cost: u32,
    ) -> Pushed {
        let state = &mut *guard;
        let len = state.frames.len();
        let external = state.external_waker;
        state.room -= cost;
        state.frames.push(Arc::clone(frame));
        drop(guard);
        if len == 0 {
            self.wake(external);
        }
        Pushed::Queued
    }

    /// Whether a frame of `cost` crosses a bound of a queue holding `len` frames and
    /// `room` to spare: the room (bytes for a transport's queue, frames for an
    /// in-process one, whose bound thus never leaves the hot line), or the frame bound
    /// of a transport's queue (a secondary safety, read beside the waker its push reads
    /// anyway). The reason is worked out only once a bound is crossed
    /// ([`Self::overflow_at`]), off the path of every other push.
    #[inline]
    fn past_bound(&self, external: bool, len: usize, room: u32, cost: u32) -> bool {
        cost > room || (external && len >= self.capacity as usize)
    }

    /// Closes the queue as a slow consumer for the bound a push crossed with `len`
    /// frames queued (see [`Self::past_bound`]).
    #[cold]
    fn overflow_at(&self, state: MutexGuard<'_, State>, len: usize) -> Pushed {
        let external = state.external_waker;
        let reason = if external && len >= self.capacity as usize {
            SlowConsumerReason::Frames
        } else {
            room_reason(external)
        };
        self.overflow(state, reason)
    }

    /// What `frame` takes of `state.room`: one frame in an in-process queue, its bytes
    /// in a transport's.
    #[inline]
    fn cost(state: &State, frame: &OutboundEvent) -> u32 {
        if state.external_waker {
            frame_cost(frame, state.format)
        } else {
            1
        }
    }

    /// What `State::room` is when nothing is queued.
    fn full_room(&self, external: bool) -> u32 {
        if external {
            self.max_bytes
        } else {
            self.capacity
        }
    }

    fn overflow(&self, mut state: MutexGuard<'_, State>, reason: SlowConsumerReason) -> Pushed {
        let dropped = std::mem::take(&mut state.frames);
        state.telemetry_slots = None;
        state.room = self.full_room(state.external_waker);
        state.closed = Some(CloseReason::SlowConsumer);
        let external = state.external_waker;
        drop(state);
        drop(dropped);
        self.wake_closed(external, &CloseReason::SlowConsumer);
        Pushed::Overflowed(reason)
    }

    /// Closes the connection after the frames already queued (or at once, dropping
    /// them, for a slow consumer). Returns false if it was already closed.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        let mut state = self.state.lock();
        if state.closed.is_some() {
            return false;
        }
        let dropped = if reason == CloseReason::SlowConsumer {
            state.telemetry_slots = None;
            std::mem::take(&mut state.frames)
        } else {
            Frames::new()
        };
        state.closed = Some(reason.clone());
        let external = state.external_waker;
        drop(state);
        drop(dropped);
        self.wake_closed(external, &reason);
        true
    }

    /// Parks or un-parks the queue (connection-state recovery): while parked nobody
    /// drains it and telemetry is kept frame by frame instead of conflated.
    pub(crate) fn set_parked(&self, parked: bool) {
        let mut state = self.state.lock();
        state.parked = parked;
        // Forget where queued telemetry sits: a frame conflated into a position before
        // the frames kept while parked would put the latest value before older ones.
        if let Some(slots) = &mut state.telemetry_slots {
            slots.clear();
        }
    }
}

/// What running out of `State::room` means: bytes for a transport's queue
/// (`external`), frames for an in-process one.
fn room_reason(external: bool) -> SlowConsumerReason {
    if external {
        SlowConsumerReason::Bytes
    } else {
        SlowConsumerReason::Frames
    }
}

mod bounds;
mod read;

pub(crate) use bounds::QueueBounds;
use bounds::frame_cost;
pub use read::Drained;

#[cfg(test)]
mod tests;
