//! Polls a websocket's reader only when its socket woke it: a session task woken to
//! write (a hub frame was queued) must not pay a full read attempt for nothing.
//!
//! A `select!` loop re-arms every branch on each pass, so without this the reader of
//! every recipient of a broadcast would be polled once per delivery, which went through
//! tungstenite's read path each time (about a fifth of the session task's instructions
//! per delivery under callgrind). [`ReadReadiness`] is the waker handed to the reader:
//! tokio-tungstenite wakes it for any readiness change of the socket (its waker proxies
//! wake the reader's waker on write readiness too), so a reader is polled again
//! exactly when it was woken or when it last returned a message (more may be buffered).
//! This module must not read or write frames itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use futures_util::{Stream, StreamExt};

/// Whether a reader may have something, and the task to wake when it may.
pub(crate) struct ReadReadiness {
    ready: AtomicBool,
    task: AtomicWaker,
}

impl ReadReadiness {
    /// A readiness that polls the reader on its first pass.
    pub(crate) fn new() -> (Arc<Self>, Waker) {
        let readiness = Arc::new(Self {
            ready: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&readiness));
        (readiness, waker)
    }

    /// Polls `stream` with `waker` (this readiness's own) if it was woken since it last
    /// returned `Pending`; `Pending` without touching it otherwise.
    pub(crate) fn poll_next<S: Stream + Unpin>(
        &self,
        stream: &mut S,
        waker: &Waker,
        cx: &mut Context<'_>,
    ) -> Poll<Option<S::Item>> {
        // Registered before the flag is read, so a wake between the two is not lost.
        self.task.register(cx.waker());
        if !self.ready.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let poll = stream.poll_next_unpin(&mut Context::from_waker(waker));
        if poll.is_ready() {
            // More frames may already be buffered: poll again on the next pass.
            self.ready.store(true, Ordering::Release);
        }
        poll
    }
}

impl Wake for ReadReadiness {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.task.wake();
    }
}
