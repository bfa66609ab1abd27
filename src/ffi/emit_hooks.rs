//! The hooks that see emits, as C callbacks: the before-emit filter (on the emitting
//! thread, under the emit lock) and the audit sink (with its own thread for records
//! caused on library threads). This module must not change an event's audience.

use std::ffi::{CString, c_char, c_void};

use serde_json::{Value, json};

use super::hooks::{McrtReply, UserData, c_json, reply_json};
use crate::event::Audience;
use crate::hooks::{AuditRecord, Verdict};

/// Sees every event before it is routed: `name`, `audience_json` (`{"kind": "user"|
/// "session"|"admins"|"everyone", "userId"?: "…"}`) and `payload_json`, all
/// NUL-terminated and valid during the call. Return `MCRT_FILTER_VERDICT_KEEP`
/// (after an optional `mcrt_reply_set(reply, <new payload JSON>)` to rewrite it),
/// `MCRT_FILTER_VERDICT_DROP`, or `MCRT_FILTER_VERDICT_FAILED` (dropped and counted). Thread: the emitting thread — the host's, or a library
/// thread for the emits the library originates (the device grace-period timer, a served
/// device's connection or telemetry, the HTTP API) — **under the emit lock**: keep it
/// quick, do not emit from it (that returns `MCRT_STATUS_REENTRANT`) and never wait on a
/// thread that emits. With `mcrt_builder_set_executor` it runs only on the host's
/// threads: those originated emits run inside `mcrt_run_pending`.
pub type McrtBeforeEmitCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        name: *const c_char,
        name_len: usize,
        audience_json: *const c_char,
        audience_len: usize,
        payload_json: *const c_char,
        payload_len: usize,
        reply: *mut McrtReply,
    ) -> i32,
>;

/// What a before-emit filter decided.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McrtFilterVerdict {
    /// Send the event (rewritten if the reply holds a payload).
    Keep = 0,
    /// Send nothing; the state change still stands.
    Drop = 1,
    /// The filter failed (Node: the JS function threw or returned a value of the wrong
    /// type): counted in the `hook_panics` metric and logged, and the event is dropped,
    /// as when a Rust filter panics or a Python filter raises.
    Failed = 2,
}

/// Receives every audit record as JSON (`{"timestamp", "kind", "action", "user_id",
/// "module_id", "connection", "outcome", "detail"}`, NUL-terminated, valid during the
/// call). Thread: the host's own thread for records its `mcrt_` calls cause (emits,
/// authentications through `mcrt_host_message`); records caused on library threads
/// (server connections, the device grace timer) are delivered in order by the hub's
/// audit thread, with no library lock held. It must not call `mcrt_emit_*`.
pub type McrtAuditCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, record_json: *const c_char, len: usize)>;

fn audience_json(audience: &Audience) -> Value {
    match audience {
        Audience::User { user, .. } => json!({"kind": "user", "userId": user.as_str()}),
        Audience::Session { user, .. } => json!({"kind": "session", "userId": user.as_str()}),
        Audience::Admins => json!({"kind": "admins"}),
        Audience::Everyone => json!({"kind": "everyone"}),
    }
}

/// A C before-emit filter.
#[allow(clippy::type_complexity)]
pub(crate) fn before_emit(
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *mut McrtReply,
    ) -> i32,
    user_data: UserData,
) -> impl Fn(&str, &Audience, &mut Value) -> Verdict + Send + Sync + 'static {
    move |name, audience, payload| {
        let name_c = CString::new(name).unwrap_or_default();
        let audience_c = c_json(&audience_json(audience));
        let payload_c = c_json(payload);
        let mut reply = McrtReply::default();
        // SAFETY: the host registered `callback`; the strings and the reply live until it
        // returns.
        let verdict = unsafe {
            callback(
                user_data.ptr(),
                name_c.as_ptr(),
                name_c.as_bytes().len(),
                audience_c.as_ptr(),
                audience_c.as_bytes().len(),
                payload_c.as_ptr(),
                payload_c.as_bytes().len(),
                &raw mut reply,
            )
        };
        if verdict == McrtFilterVerdict::Drop as i32 {
            return Verdict::Drop;
        }
        if verdict == McrtFilterVerdict::Failed as i32 {
            // Unwinds into the core's `guarded` (which counts and logs it) without the
            // panic hook's message, as the Python binding does for a raising filter.
            std::panic::resume_unwind(Box::new(format!(
                "the before-emit filter failed on {name:?}"
            )));
        }
        match reply_json(&reply) {
            Some(Ok(value)) => *payload = value,
            Some(Err(message)) => {
                tracing::warn!(event = name, %message, "before-emit reply ignored");
            }
            None => {}
        }
        Verdict::Keep
    }
}

type AuditFn = unsafe extern "C" fn(*mut c_void, *const c_char, usize);

/// Records waiting for the audit thread, at most; past it a record is dropped (logged).
const AUDIT_QUEUE: usize = 65_536;

/// A C audit sink. A record caused inside the host's own `mcrt_` call is passed on that
/// thread; one caused on a library thread (a server runtime thread, the device grace
/// timer — possibly under the emit lock, when an emit closes a slow consumer) goes to
/// this sink's own thread, so the callback never runs on a library thread that may hold
/// the emit lock while it waits for a host's event loop. Dropping it (with the hub)
/// delivers what is queued and joins that thread.
pub(crate) struct CAuditSink {
    callback: AuditFn,
    user_data: UserData,
    queue: Option<crossbeam_channel::Sender<CString>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CAuditSink {
    pub(crate) fn new(callback: AuditFn, user_data: UserData) -> Self {
        let (queue, records) = crossbeam_channel::bounded::<CString>(AUDIT_QUEUE);
        let thread = crate::outbound::spawn_library_thread("mcrt-audit", move || {
            for text in records {
                // SAFETY: the host registered `callback`; the string lives until it
                // returns.
                unsafe { callback(user_data.ptr(), text.as_ptr(), text.as_bytes().len()) };
            }
        });
        let (queue, thread) = match thread {
            Ok(handle) => (Some(queue), Some(handle)),
            Err(error) => {
                tracing::error!(%error, "the audit thread did not start; records from library threads are dropped");
                (None, None)
            }
        };
        Self {
            callback,
            user_data,
            queue,
            thread,
        }
    }
}

impl crate::hooks::AuditSink for CAuditSink {
    fn record(&self, record: &AuditRecord) {
        let text = c_json(&serde_json::to_value(record).unwrap_or(Value::Null));
        if super::in_host_call() {
            // SAFETY: the host registered `callback`; the string lives until it returns.
            unsafe { (self.callback)(self.user_data.ptr(), text.as_ptr(), text.as_bytes().len()) };
        } else if let Some(queue) = &self.queue
            && queue.try_send(text).is_err()
        {
            tracing::warn!("audit callback queue full: a record was dropped");
        }
    }
}

impl Drop for CAuditSink {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
