//! The hub's side of the cluster's event history (`broker/redis/history.rs`): while a
//! changed call runs on the node that decided it, the events it delivered (after the
//! before-emit hooks, with their offsets) and the sessions it ended are recorded and
//! handed to the broker with the call's publication, which appends them to the history
//! in the same step as it publishes. Other nodes' calls are never recorded (their
//! emitting node did). Off unless turned on ([`Hub::keep_event_history`]). Must not
//! decide who may replay an entry (`revive.rs` asks the registry).
//!
//! Guarded by `tests/cluster/history_redis.rs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::super::Hub;
use crate::broker::Recorded;
use crate::call::Step;
use crate::event::Event;
use crate::ids::{SessionId, UserId};

impl Hub {
    /// Keeps every event this node decides in the shared broker's event history for
    /// `window` (and at most about one queue capacity of entries per stream), so a client whose
    /// node died can be recovered on another node. Returns whether the broker keeps one
    /// (a shared Redis broker does; the in-memory one does not); when it does, events
    /// carry offsets from now on (as with recovery on), frames carry their history mark
    /// and recoverable connections' identities are recorded (`revive.rs`). A server
    /// with recovery and a shared broker turns it on when it starts
    /// ([`RecoveryConfig::redis_history`](crate::transport::server::RecoveryConfig)).
    pub fn keep_event_history(&self, window: Duration) -> bool {
        let max_len = self.inner.limits.queue_capacity;
        let kept = self.inner.shared && self.inner.broker.keep_history(window, max_len);
        if kept {
            self.enable_event_offsets();
        }
        self.inner.handoffs.history.store(kept, Ordering::SeqCst);
        kept
    }

    /// The history mark of an event queued now (history on): the highest position of
    /// another node's message applied here. Under the emit lock.
    pub(in crate::hub) fn history_mark(&self) -> Option<u64> {
        let handoffs = &self.inner.handoffs;
        handoffs
            .history
            .load(Ordering::Relaxed)
            .then(|| handoffs.watermark.load(Ordering::SeqCst))
    }

    /// Another node's message at history `position` is being applied. Under the emit
    /// lock, before its events are queued (they carry it in their mark).
    pub(in crate::hub) fn advance_watermark(&self, position: u64) {
        self.inner
            .handoffs
            .watermark
            .fetch_max(position, Ordering::SeqCst);
    }

    /// Starts recording the steps of the changed call about to run (under the emit lock).
    pub(in crate::hub) fn start_recording(&self) {
        if self.inner.handoffs.history.load(Ordering::Relaxed) {
            *self.inner.handoffs.recording.lock() = Some(Vec::new());
        }
    }

    /// What was recorded for the running call, if recording (under the emit lock).
    pub(in crate::hub) fn take_recorded(&self) -> Option<Vec<Recorded>> {
        if !self.inner.handoffs.history.load(Ordering::Relaxed) {
            return None;
        }
        self.inner.handoffs.recording.lock().take()
    }

    /// Records an event as delivered here with `offset`, if recording.
    pub(in crate::hub) fn record_event(&self, event: &Event, offset: Option<u64>) {
        if !self.inner.handoffs.history.load(Ordering::Relaxed) {
            return;
        }
        if let Some(recording) = &mut *self.inner.handoffs.recording.lock() {
            recording.push(Recorded {
                step: Step::Event(event.clone()),
                offset,
            });
        }
    }

    /// Records a session ended, if recording.
    pub(in crate::hub) fn record_session_end(&self, user: &UserId, session: &SessionId) {
        if !self.inner.handoffs.history.load(Ordering::Relaxed) {
            return;
        }
        if let Some(recording) = &mut *self.inner.handoffs.recording.lock() {
            recording.push(Recorded {
                step: Step::EndSession {
                    user: user.clone(),
                    session: session.clone(),
                },
                offset: None,
            });
        }
    }
}
