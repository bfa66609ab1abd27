//! Adaptive write coalescing: a socket writes what it finds at once while it keeps up,
//! and gathers events into fewer writes only under a sustained backlog.
//!
//! A writer takes everything queued when it wakes, so the events that arrived while its
//! previous write was in flight, or while its worker ran other tasks, always share one
//! write: that batching costs no latency. On top of it, a writer that finds more than
//! one event waiting twice in a row (events arrive faster than it writes them: a burst,
//! or a worker that falls behind) waits until `window` after its previous batch before
//! writing, so that under sustained load one system call and one TCP segment carry
//! many events. The window is decided after the drain, from what the writer found:
//! a socket that finds a single event (it is idle, whatever its previous batches held)
//! writes it at once, without reading the clock, and a single backlog (two events
//! emitted together, a login's `auth:ok` and snapshot) holds nothing. Events are never
//! reordered, dropped or held past `window`.
//!
//! This module must not write to sockets. Guarded by
//! `transport::server::coalesce::tests` and, over real sockets, by
//! `tests/server/coalescing.rs` (`an_idle_socket_writes_its_event_without_waiting_for_the_window`,
//! `a_socket_idle_again_after_a_burst_writes_at_once`,
//! `a_burst_is_written_in_few_writes_exactly_and_in_order`).

use std::time::{Duration, Instant};

/// One writer's coalescing state.
pub(crate) struct Coalescer {
    window: Duration,
    /// When the writer last wrote a batch that held a backlog; read only while the
    /// backlog lasts.
    last_batch: Instant,
    /// Whether the previous batch held more than one event.
    backlog: bool,
}

impl Coalescer {
    /// A writer that coalesces for at most `window` (zero: only what queued up).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            last_batch: Instant::now(),
            backlog: false,
        }
    }

    /// Called once the writer drained `events` events (control packets and binary
    /// attachments not counted): when it should drain again and write, if it should
    /// wait at all. `None` writes at once.
    pub(crate) fn hold(&mut self, events: usize) -> Option<Instant> {
        if events <= 1 {
            // It keeps up: no clock read, no timer.
            self.backlog = false;
            return None;
        }
        let now = Instant::now();
        let sustained = self.backlog && !self.window.is_zero();
        self.backlog = true;
        let until = sustained
            .then(|| self.last_batch + self.window)
            .filter(|until| *until > now);
        self.last_batch = until.unwrap_or(now);
        until
    }
}

/// Waits until `until`, if the writer must hold its batch.
pub(crate) async fn wait(until: Option<Instant>) {
    if let Some(until) = until {
        tokio::time::sleep_until(until.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(50);

    #[test]
    fn a_writer_that_keeps_up_never_waits() {
        let mut writer = Coalescer::new(WINDOW);
        for _ in 0..10 {
            assert_eq!(writer.hold(1), None, "one event: written at once");
        }
        assert_eq!(writer.hold(0), None, "a wake-up with nothing to write");
    }

    #[test]
    fn a_single_backlog_holds_nothing() {
        let mut writer = Coalescer::new(WINDOW);
        assert_eq!(writer.hold(2), None, "two events emitted together");
        assert_eq!(writer.hold(1), None);
        assert_eq!(writer.hold(5), None, "a backlog after one that kept up");
    }

    #[test]
    fn a_sustained_backlog_holds_for_the_window_only() {
        let mut writer = Coalescer::new(WINDOW);
        let start = Instant::now();
        assert_eq!(writer.hold(7), None);
        let held = writer.hold(7).expect("a second backlog in a row waits");
        assert!(held > Instant::now(), "in the future");
        assert!(
            held <= start + WINDOW + Duration::from_millis(5),
            "{held:?}"
        );
        // The next window starts where the held batch was written.
        let next = writer.hold(7).expect("still behind");
        assert_eq!(next, held + WINDOW);
    }

    #[test]
    fn a_socket_idle_after_a_burst_writes_at_once() {
        let mut writer = Coalescer::new(WINDOW);
        writer.hold(50);
        assert!(writer.hold(50).is_some());
        assert_eq!(writer.hold(1), None, "a lone event after the burst");
        assert_eq!(writer.hold(3), None, "and the backlog counts anew");
    }

    #[test]
    fn a_zero_window_never_waits() {
        let mut eager = Coalescer::new(Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(eager.hold(100), None);
        }
    }
}
