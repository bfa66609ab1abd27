//! The reader's side of an [`OutboundQueue`]: a transport or an in-process connection
//! takes every queued frame in one short lock and works after releasing it. It must not
//! push or judge bounds (that is the parent module's push path); the invariants it keeps
//! (no lock held while writing, no lost wake-up) are listed and tested in the parent.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::MutexGuard;

use super::{CloseReason, Frames, OutboundEvent, OutboundQueue, State};

/// What [`OutboundQueue::drain`] found.
#[derive(Debug, Default)]
pub struct Drained {
    /// Frames in order.
    pub frames: Vec<Arc<OutboundEvent>>,
    /// Set once the connection is closed; no frame will follow.
    pub closed: Option<CloseReason>,
}

impl OutboundQueue {
    /// Takes every queued frame, in order, and the close reason if the connection is
    /// closed. The lock is held only for the swap: frames are moved out of the queue's
    /// inline buffer (or its heap buffer is taken whole) and turned into the returned
    /// `Vec` after the lock is released, so a push (the emit path) never waits for an
    /// allocation, and never allocates for a reader that keeps up.
    pub fn drain(&self) -> Drained {
        self.take(self.state.lock())
    }

    /// Like [`OutboundQueue::drain`], but hands each frame to `each` (in order, after the
    /// lock is released) instead of building a `Vec`: a transport that keeps its own
    /// buffer across drains allocates nothing per drain. Returns the close reason.
    pub(crate) fn drain_each(&self, each: impl FnMut(Arc<OutboundEvent>)) -> Option<CloseReason> {
        let (frames, closed) = self.take_frames(self.state.lock());
        frames.into_iter().for_each(each);
        closed
    }

    /// Waits until a frame is queued or the connection is closed, or until `deadline`
    /// (`None`: no deadline), then drains like [`OutboundQueue::drain`]. For a queue made
    /// with [`OutboundQueue::new_local`]: the wait is on the queue's own lock, so a push
    /// between the check and the wait cannot be missed.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Drained {
        debug_assert!(self.waker.is_none(), "only a local queue is waited on");
        let mut state = self.state.lock();
        while state.frames.is_empty() && state.closed.is_none() {
            match deadline {
                Some(deadline) => {
                    if self.readable.wait_until(&mut state, deadline).timed_out() {
                        break;
                    }
                }
                None => self.readable.wait(&mut state),
            }
        }
        self.take(state)
    }

    /// Moves the frames out of `state` and releases the lock before building the `Vec`.
    fn take(&self, state: MutexGuard<'_, State>) -> Drained {
        let (frames, closed) = self.take_frames(state);
        Drained {
            frames: frames.into_vec(),
            closed,
        }
    }

    /// Empties the queue (its room reset, its telemetry positions forgotten) and
    /// releases the lock; returns the frames and the close reason.
    fn take_frames(&self, mut state: MutexGuard<'_, State>) -> (Frames, Option<CloseReason>) {
        let frames = std::mem::take(&mut state.frames);
        if let Some(slots) = &mut state.telemetry_slots {
            slots.clear();
        }
        state.room = self.full_room(state.external_waker);
        let closed = state.closed.clone();
        drop(state);
        (frames, closed)
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
