//! Adaptive write coalescing: a socket writes at once while it keeps up, and gathers
//! frames into fewer writes only once they arrive faster than it writes them.
//!
//! A writer that found one frame per wake-up is keeping up: its next frame goes at
//! once, so a socket that gets an event now and then (an admin broadcast at 1,000/s, a
//! user's status) never waits. A writer that found a backlog (more than one frame in
//! its last batch: frames came while it was writing, or it was not scheduled in time)
//! is under load: its next write waits until `window` after the previous flush, so
//! that under sustained traffic one system call and one TCP segment carry many frames.
//! Frames are never reordered, dropped or held past `window`.
//!
//! This module must not write to sockets. Guarded by
//! `transport::server::coalesce::tests` and, end to end, by the latency of
//! `tests/server/server_socketio.rs` and `tests/slow_consumer`.

use std::time::{Duration, Instant};

/// One writer's coalescing state.
pub(crate) struct Coalescer {
    window: Duration,
    last_flush: Instant,
    backlog: bool,
}

impl Coalescer {
    /// A writer that coalesces for at most `window` (zero: never).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            last_flush: Instant::now(),
            backlog: false,
        }
    }

    /// Called before a write: returns at once unless the writer is under load, in
    /// which case it waits until `window` after the previous flush.
    pub(crate) async fn before_write(&self) {
        if let Some(next) = self.hold_until() {
            tokio::time::sleep_until(next.into()).await;
        }
    }

    /// When the next write should wait until, if at all.
    fn hold_until(&self) -> Option<Instant> {
        if !self.backlog || self.window.is_zero() {
            return None;
        }
        let next = self.last_flush + self.window;
        (Instant::now() < next).then_some(next)
    }

    /// Called after a write of `frames` frames.
    pub(crate) fn wrote(&mut self, frames: usize) {
        self.backlog = frames > 1;
        if self.backlog {
            // The clock is read only under load: a writer that keeps up never reads it.
            self.last_flush = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_that_keeps_up_never_waits() {
        let mut writer = Coalescer::new(Duration::from_millis(50));
        assert_eq!(
            writer.hold_until(),
            None,
            "idle: the first frame goes at once"
        );
        for _ in 0..10 {
            writer.wrote(1);
            assert_eq!(writer.hold_until(), None);
        }
    }

    #[test]
    fn a_backlog_holds_the_next_write_for_the_window_only() {
        let mut writer = Coalescer::new(Duration::from_millis(50));
        writer.wrote(7);
        let held = writer
            .hold_until()
            .expect("under load the next write waits");
        assert!(held <= Instant::now() + Duration::from_millis(50));
        // Once it keeps up again it writes at once.
        writer.wrote(1);
        assert_eq!(writer.hold_until(), None);
        // A zero window never waits.
        let mut eager = Coalescer::new(Duration::ZERO);
        eager.wrote(100);
        assert_eq!(eager.hold_until(), None);
    }
}
