//! The host executor: where the emits the library originates itself run. Those are the
//! device grace timer taking a module offline, the "offline after restart" check, the
//! monitor's ticks, emits caused by inbound traffic on server threads (a device
//! connecting or sending telemetry, the HTTP API), and another node's emits arriving
//! from a shared broker (`cluster.rs`).
//!
//! Without an executor ([`HubBuilder::executor`] not called) every such emit runs in
//! place, on the library thread that caused it, as it always did: the check is one
//! `Option` test and nothing else changes. With one, each becomes a [`Job`] handed to
//! [`Executor::execute`], and the host runs it on its own thread. This is what lets a
//! single-threaded host (Node) run its before-emit filter synchronously: a before-emit
//! filter runs under the emit lock, on the emitting thread, so if a library thread could
//! emit, it would call into the host's loop while holding the lock, and the host's loop,
//! inside a synchronous emit waiting for that lock, would never answer. With every emit
//! on the host's thread, no thread ever holds the emit lock while waiting for another.
//!
//! Invariants: jobs are handed over in the order the library originated them (one
//! producer at a time per source, and the executor keeps FIFO order); a job holds the
//! hub weakly, so a queued job never keeps a dropped hub alive and does nothing once it
//! is gone; no job is handed over while this thread holds the emit lock. Guarded by
//! `tests/hub/executor.rs` (`device_grace_emit_lands_in_the_executor_not_in_place`, …).
//! This module must not decide what an emit does, only where it runs.

use std::sync::Arc;
use std::time::Duration;

use super::Hub;

/// One emit the library originated, to run on the host's thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs the emits the library originates itself on a thread of the host's choosing
/// ([`HubBuilder::executor`](super::HubBuilder::executor)). Implementations queue the job and wake the host thread,
/// which runs it; they must not run it in place unless [`Executor::runs_here`] says
/// this thread is the host's.
pub trait Executor: Send + Sync + 'static {
    /// Whether the calling thread is the host's own, so an originated emit may run in
    /// place (and a device's telemetry gets its real outcome as its ack). The default,
    /// `false`, hands every originated emit to [`Executor::execute`].
    fn runs_here(&self) -> bool {
        false
    }

    /// Takes one job; called on any library thread with no hub lock held. Must not
    /// block for long (the caller may be a server thread) and must run jobs in the
    /// order they were given.
    fn execute(&self, job: Job);
}

/// How long an HTTP API call waits for the host thread to run its emit before
/// answering `503 host_busy` (the emit still runs when the host gets to it).
pub(crate) const API_PATIENCE: Duration = Duration::from_secs(10);

impl Hub {
    /// Whether an emit the library originates on this thread runs in place: no
    /// executor, or the executor says this is the host's thread.
    pub(crate) fn emits_here(&self) -> bool {
        self.inner
            .executor
            .as_ref()
            .is_none_or(|executor| executor.runs_here())
    }

    /// Runs `emit` where originated emits run (see the module docs).
    pub(super) fn originate(&self, emit: impl FnOnce(&Hub) + Send + 'static) {
        match &self.inner.executor {
            Some(executor) if !executor.runs_here() => {
                let hub = Arc::downgrade(&self.inner);
                executor.execute(Box::new(move || {
                    if let Some(inner) = hub.upgrade() {
                        emit(&Hub { inner });
                    }
                }));
            }
            _ => emit(self),
        }
    }

    /// Runs `emit` where originated emits run and waits up to `patience` for its
    /// result (the HTTP API answers with the outcome). `None` when the host did not run
    /// it in time, or dropped it (its hub was freed).
    pub(crate) fn originate_and_wait<R: Send + 'static>(
        &self,
        emit: impl FnOnce(&Hub) -> R + Send + 'static,
        patience: Duration,
    ) -> Option<R> {
        if self.emits_here() {
            return Some(emit(self));
        }
        let (answer, answered) = crossbeam_channel::bounded(1);
        self.originate(move |hub| {
            let _ = answer.send(emit(hub));
        });
        answered.recv_timeout(patience).ok()
    }
}
