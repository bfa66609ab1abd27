//! The host executor over the C ABI ([`crate::Executor`]): with
//! `mcrt_builder_set_executor`, every emit the library originates itself (the device
//! grace timer, a device connecting or sending telemetry to the served `/ws` or
//! Socket.IO endpoints, the HTTP API) is queued here and the host is woken through its
//! wake callback; the host then calls `mcrt_run_pending` on its own thread, which runs
//! the queued emits there. Every before-emit filter, frame and audit callback those
//! emits cause then runs on that thread, inside `mcrt_run_pending`.
//!
//! **Threads.** The wake callback runs on whichever library thread queued the first job
//! of a batch (or on the host's thread, inside `mcrt_run_pending`, when jobs remain
//! after a batch), with no library lock held. `mcrt_run_pending` runs jobs on the
//! thread that calls it. An emit originated on the thread that called
//! `mcrt_builder_set_executor` while it is inside a `mcrt_` call (a device's message
//! passed with `mcrt_host_message`) runs in place when nothing is queued: it is already
//! on the host's thread.
//!
//! Deadlock freedom: the wake callback is called with no lock held (neither the emit
//! lock nor this queue's), and jobs run with none held either, so a host whose wake
//! callback waits for its own event loop (koffi) never waits on a thread that waits on
//! it. Guarded by `tests/c/test_executor.c` and `bindings/node/test/before-emit.test.js`.
//! This module must not change what an emit does, only where it runs.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::{Mutex, RwLock};

use super::builder::{builder_mut, update};
use super::hooks::UserData;
use super::{FfiError, McrtBuilder, McrtHub, McrtStatus, args, entry, hub_entry, in_host_call};
use crate::hub::{Executor, Job};

/// Tells the host that emits wait for `mcrt_run_pending`. Called once per batch (again
/// only after `mcrt_run_pending` found the queue empty, or left jobs for a next call),
/// on a library thread or inside `mcrt_run_pending`, with no library lock held. It must
/// return quickly and must not call `mcrt_run_pending` itself: schedule that call on
/// the host's thread (Node: `setImmediate`).
pub type McrtWakeCallback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

type WakeFn = unsafe extern "C" fn(*mut c_void);

#[derive(Default)]
struct Pending {
    jobs: VecDeque<Job>,
    /// A wake was sent and `mcrt_run_pending` has not found the queue empty since.
    woken: bool,
    stopped: bool,
}

/// The queue shared by the hub's executor and the `McrtHub` handle.
pub(crate) struct ExecutorState {
    wake: WakeFn,
    user_data: UserData,
    host_thread: ThreadId,
    pending: Mutex<Pending>,
    /// Held (shared) around each wake call, so `stop` returns only once no wake call is
    /// running: the host may release its callback afterwards.
    waking: RwLock<bool>,
}

impl ExecutorState {
    pub(crate) fn new(wake: WakeFn, user_data: UserData) -> Arc<Self> {
        Arc::new(Self {
            wake,
            user_data,
            host_thread: std::thread::current().id(),
            pending: Mutex::new(Pending::default()),
            waking: RwLock::new(false),
        })
    }

    fn call_wake(&self) {
        let stopped = self.waking.read();
        if !*stopped {
            // SAFETY: the host registered `wake` with this `user_data`, valid until the
            // hub is freed; `stop` (called by `mcrt_hub_free`) waits for this call.
            unsafe { (self.wake)(self.user_data.ptr()) };
        }
    }

    /// Runs the jobs queued when called (later ones wait for the next call, so a
    /// flood of device traffic cannot hold the host's thread); returns how many ran.
    pub(crate) fn run_pending(&self) -> usize {
        let batch = self.pending.lock().jobs.len();
        let mut ran = 0;
        while ran < batch {
            let Some(job) = self.pending.lock().jobs.pop_front() else {
                break;
            };
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                tracing::error!("an originated emit panicked; the next ones still run");
            }
            ran += 1;
        }
        let rewake = {
            let mut pending = self.pending.lock();
            pending.woken = !pending.jobs.is_empty() && !pending.stopped;
            pending.woken
        };
        if rewake {
            self.call_wake();
        }
        ran
    }

    /// No more wakes (waits for one in progress) and drops the queued jobs: their hub
    /// is being freed.
    pub(crate) fn stop(&self) {
        *self.waking.write() = true;
        let jobs = {
            let mut pending = self.pending.lock();
            pending.stopped = true;
            std::mem::take(&mut pending.jobs)
        };
        drop(jobs);
    }
}

/// The [`Executor`] installed in the hub.
pub(crate) struct QueueExecutor(pub(crate) Arc<ExecutorState>);

impl Executor for QueueExecutor {
    fn runs_here(&self) -> bool {
        let state = &self.0;
        std::thread::current().id() == state.host_thread
            && in_host_call()
            && state.pending.lock().jobs.is_empty()
    }

    fn execute(&self, job: Job) {
        let wake = {
            let mut pending = self.0.pending.lock();
            if pending.stopped {
                return;
            }
            pending.jobs.push_back(job);
            !std::mem::replace(&mut pending.woken, true)
        };
        if wake {
            self.0.call_wake();
        }
    }
}

/// Installs the host executor: every emit the library originates itself is queued
/// instead of running on the library thread, `wake` (not NULL) tells the host, and the
/// host runs them with `mcrt_run_pending` on its own thread (see `McrtWakeCallback`).
/// Use it when a before-emit filter (or any callback) must run on one host thread, as
/// in Node. The thread calling this function is taken as the host's thread: an emit
/// originated on it inside a `mcrt_` call runs in place. `user_data` must stay valid
/// until `mcrt_hub_free` returns. At most once per builder. Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_executor(
    builder: *mut McrtBuilder,
    wake: McrtWakeCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let wake = wake.ok_or_else(|| args::null("wake"))?;
        if builder.executor.is_some() {
            return Err(FfiError::invalid("the executor is already set"));
        }
        let state = ExecutorState::new(wake, UserData(user_data));
        let executor = QueueExecutor(Arc::clone(&state));
        update(builder, |b| b.executor(executor));
        builder.executor = Some(state);
        Ok(())
    })
}

/// Runs, on the calling thread, the originated emits queued when it is called (their
/// before-emit filters, frame and audit callbacks run here too); `*ran_out` (may be
/// NULL) gets how many ran. If more were queued meanwhile, the wake callback is called
/// again before it returns. `MCRT_STATUS_NOT_CONFIGURED` without an executor. Thread:
/// the host's (any thread may call it, and the jobs run there), never from inside a
/// callback of this hub.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_run_pending(hub: *const McrtHub, ran_out: *mut usize) -> McrtStatus {
    hub_entry(hub, |hub| {
        let state = hub.executor.as_ref().ok_or_else(|| {
            FfiError::new(
                McrtStatus::NotConfigured,
                "no_executor",
                "the hub was built without mcrt_builder_set_executor",
            )
        })?;
        let ran = state.run_pending();
        // SAFETY: a non-null `ran_out` is writable per the caller's contract.
        unsafe { args::write_optional(ran_out, ran) };
        Ok(())
    })
}
