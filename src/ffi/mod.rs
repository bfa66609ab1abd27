//! The C ABI (DESIGN §7): every `extern "C"` function of the library, prefixed `mcrt_`,
//! on the opaque handles [`McrtBuilder`], [`McrtHub`] and [`McrtServer`]. cbindgen turns
//! this module's items and doc comments into `include/microcoaster_realtime.h`.
//!
//! Conventions, kept by every entry point:
//! - Each function returns an [`McrtStatus`]; on failure [`mcrt_last_error_message`] and
//!   [`mcrt_last_error_code`] explain it, per thread, until that thread's next failure.
//! - Strings going in are UTF-8 with an explicit length and need no terminating NUL;
//!   JSON payloads are parsed with the same rules as the Rust API. A null pointer,
//!   invalid UTF-8 or invalid JSON returns an error code (counted per hub in the
//!   `bad_inputs` metrics and process-wide in the `ffi` metrics), never undefined
//!   behaviour.
//! - Strings the library returns through `char **` out-parameters are owned by the
//!   caller and freed with [`mcrt_string_free`]; `const char *` results are borrowed.
//! - Every entry point runs inside `catch_unwind`: a panic becomes
//!   [`McrtStatus::Panic`], never an unwind across the C boundary.
//! - Each callback's doc says which thread runs it. The host-callback transport's frame
//!   callback runs on the thread that made the call that produced the frame, so a
//!   single-threaded host (Node's event loop) never waits on itself; frames caused by
//!   library threads go through one delivery thread, in order (see [`host`]). A host
//!   that wants every emit, and so every before-emit filter call, on its own thread
//!   installs the host executor (see [`executor`]): emits the library originates then
//!   run inside `mcrt_run_pending`.
//!
//! # Safety (every `unsafe extern "C"` function here)
//!
//! Each pointer argument is NULL (checked: an error status) or valid for what its doc
//! says: a `(pointer, length)` pair readable for `length` bytes, an out-parameter
//! writable, a handle not yet freed. That contract is the same for every function, so it
//! is stated once here rather than in ninety doc sections (`missing_safety_doc` is
//! allowed for this module), and C callers read it in the header's introduction.
//!
//! This is the only module where `unsafe` is allowed; each block says why it is sound.
//! It must not hold state the hub does not already own beyond the host connection table,
//! and must not change what an emit does: it only converts arguments and results.
//!
//! Guarded by the C suite in `tests/c/` (gcc `-Wall -Wextra -Werror`, valgrind
//! `--leak-check=full`) and the Node suite in `bindings/node/test/`.

// The contract above covers every function; C signatures take (pointer, length) pairs,
// so several have more than seven parameters.
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]

pub mod aliases;
pub mod answer;
mod args;
pub mod binary;
pub mod builder;
mod config;
pub mod connections;
pub mod emit;
pub mod emit_hooks;
pub mod executor;
pub mod hooks;
pub mod host;
pub mod hub;
pub mod inspect;
pub mod server;

pub use builder::McrtBuilder;
pub use hooks::McrtReply;
pub use hub::McrtHub;
pub use server::McrtServer;

use std::cell::{Cell, RefCell};
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::hub::{EmitOutcome, HubError, InboundError};
use crate::metrics::BadInputKind;

/// What a `mcrt_` call did. Anything but `MCRT_STATUS_OK` leaves the reason in
/// `mcrt_last_error_message()` / `mcrt_last_error_code()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McrtStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// A string argument was not UTF-8.
    InvalidUtf8 = 2,
    /// A JSON argument did not parse.
    InvalidJson = 3,
    /// An argument had the wrong shape or type (a bad id, a missing field, an unknown
    /// configuration key).
    InvalidArgument = 4,
    /// The hub refused the call (unknown module, owner mismatch, reserved event name,
    /// authentication refused, …); the error code names the reason.
    Refused = 5,
    /// Called from inside a callback that runs under the emit lock (a before-emit
    /// filter, the frame or close callback): emit from elsewhere.
    Reentrant = 6,
    /// The call needs something the hub was not built with (a stats provider,
    /// persistence, the host-callback transport).
    NotConfigured = 7,
    /// No attached host connection has this id (it was detached or closed).
    NotFound = 8,
    /// The operating system refused (an address already in use, a database that cannot
    /// be opened).
    Io = 9,
    /// A host callback failed (the stats provider returned an error).
    CallbackFailed = 10,
    /// The library panicked; the hub is still usable. Please report it.
    Panic = 11,
}

/// A failure of one entry point: its status, a stable machine-readable code and a
/// message for people.
#[derive(Debug, Clone)]
pub(crate) struct FfiError {
    pub(crate) status: McrtStatus,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn new(
        status: McrtStatus,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(McrtStatus::InvalidArgument, "invalid_argument", message)
    }

    /// The bad-input metric this failure counts under, if it is bad input.
    fn bad_input(&self) -> Option<BadInputKind> {
        match self.status {
            McrtStatus::NullPointer | McrtStatus::InvalidArgument => {
                Some(BadInputKind::HostArgument)
            }
            McrtStatus::InvalidUtf8 => Some(BadInputKind::InvalidUtf8),
            McrtStatus::InvalidJson => Some(BadInputKind::InvalidJson),
            _ => None,
        }
    }
}

impl From<HubError> for FfiError {
    fn from(error: HubError) -> Self {
        let status = match &error {
            HubError::Input(_) | HubError::InvalidEventName(_) => McrtStatus::InvalidArgument,
            HubError::Reentrant => McrtStatus::Reentrant,
            HubError::NoStatsProvider | HubError::NoHostSink => McrtStatus::NotConfigured,
            HubError::StatsProvider(_) => McrtStatus::CallbackFailed,
            _ => McrtStatus::Refused,
        };
        Self::new(status, error.code(), error.to_string())
    }
}

impl From<InboundError> for FfiError {
    fn from(error: InboundError) -> Self {
        let status = match &error {
            InboundError::Frame(_) => McrtStatus::InvalidArgument,
            InboundError::Closed(_) => McrtStatus::NotFound,
            InboundError::Reentrant => McrtStatus::Reentrant,
            _ => McrtStatus::Refused,
        };
        let code = match error.ack_body().get("code").and_then(Value::as_str) {
            Some(code) => code.to_owned(),
            None => "refused".to_owned(),
        };
        Self::new(status, code, error.to_string())
    }
}

/// Process-wide counts of failed calls by status, for the `ffi` section of
/// `mcrt_hub_metrics` (a null hub pointer has no hub to count in).
static FAILURES: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];

pub(crate) fn ffi_metrics() -> Value {
    let count = |status: McrtStatus| FAILURES[status as usize].load(Ordering::Relaxed);
    json!({
        "null_pointer": count(McrtStatus::NullPointer),
        "invalid_utf8": count(McrtStatus::InvalidUtf8),
        "invalid_json": count(McrtStatus::InvalidJson),
        "invalid_argument": count(McrtStatus::InvalidArgument),
        "refused": count(McrtStatus::Refused),
        "reentrant": count(McrtStatus::Reentrant),
        "not_configured": count(McrtStatus::NotConfigured),
        "not_found": count(McrtStatus::NotFound),
        "io": count(McrtStatus::Io),
        "callback_failed": count(McrtStatus::CallbackFailed),
        "panic": count(McrtStatus::Panic),
    })
}

struct LastError {
    code: CString,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        code: CString::default(),
        message: CString::default(),
    });
    /// Depth of `mcrt_` calls on this thread: frames produced while it is non-zero are
    /// handed to the frame callback on this thread (see `host`).
    static HOST_CALL: Cell<u32> = const { Cell::new(0) };
}

/// Whether this thread is inside a `mcrt_` call made by the host.
pub(crate) fn in_host_call() -> bool {
    HOST_CALL.with(Cell::get) > 0
}

fn c_string_lossy(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

fn record_failure(error: &FfiError) {
    FAILURES[error.status as usize].fetch_add(1, Ordering::Relaxed);
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        last.code = c_string_lossy(&error.code);
        last.message = c_string_lossy(&error.message);
    });
}

/// Runs one entry point: marks the thread as inside a host call, catches panics and
/// records the failure for `mcrt_last_error_message`.
pub(crate) fn entry(call: impl FnOnce() -> Result<(), FfiError>) -> McrtStatus {
    HOST_CALL.with(|depth| depth.set(depth.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(call));
    HOST_CALL.with(|depth| depth.set(depth.get() - 1));
    let error = match result {
        Ok(Ok(())) => return McrtStatus::Ok,
        Ok(Err(error)) => error,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_owned());
            FfiError::new(
                McrtStatus::Panic,
                "panic",
                format!("the library panicked: {message}"),
            )
        }
    };
    record_failure(&error);
    error.status
}

/// [`entry`] for calls on a hub: bad input is also counted in that hub's metrics.
pub(crate) fn hub_entry(
    hub: *const McrtHub,
    call: impl FnOnce(&McrtHub) -> Result<(), FfiError>,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a pointer from `mcrt_hub_new`/`mcrt_builder_build`
        // that it has not freed (a freed handle is the caller's bug, DESIGN §7); NULL
        // is checked by `args::hub`.
        let hub = unsafe { args::hub(hub)? };
        call(hub).inspect_err(|error| {
            if let Some(kind) = error.bad_input() {
                hub.hub.count_bad_input(kind);
            }
        })
    })
}

/// What an emit did: the `outcome` of every language's `{outcome, connections}`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum McrtOutcomeKind {
    /// Nothing changed; nothing was sent.
    #[default]
    Unchanged = 0,
    /// The change was sent (possibly to 0 connections).
    Delivered = 1,
}

/// The outcome of an emit, written through the `out` parameter of every `mcrt_emit_*`:
/// `outcome` and `connections`, the shape every binding shows (Node `{outcome,
/// connections}`, Python `EmitOutcome.outcome` / `.connections`, the HTTP API's body).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct McrtOutcome {
    /// Alias of `outcome == MCRT_OUTCOME_KIND_DELIVERED`, kept at its original offset for
    /// programs written before `outcome` existed.
    pub delivered: bool,
    /// `MCRT_OUTCOME_KIND_UNCHANGED` (nothing was sent) or `MCRT_OUTCOME_KIND_DELIVERED`.
    pub outcome: McrtOutcomeKind,
    /// Frames queued (summed over the events of the call); 0 when unchanged, or when
    /// nobody concerned is connected.
    pub connections: usize,
}

impl From<EmitOutcome> for McrtOutcome {
    fn from(outcome: EmitOutcome) -> Self {
        match outcome {
            EmitOutcome::Delivered { connections } => Self {
                delivered: true,
                outcome: McrtOutcomeKind::Delivered,
                connections,
            },
            _ => Self::default(),
        }
    }
}

/// The message of the last failed `mcrt_` call on this thread ("" if none failed).
/// Borrowed: valid until the next failing call on this thread; do not free it.
/// Thread: any.
#[unsafe(no_mangle)]
pub extern "C" fn mcrt_last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().message.as_ptr())
}

/// The stable machine-readable code of the last failed `mcrt_` call on this thread, such
/// as `invalid_json`, `null_pointer`, `unknown_module`, `reserved_event` ("" if none
/// failed). Borrowed like `mcrt_last_error_message()`.
#[unsafe(no_mangle)]
pub extern "C" fn mcrt_last_error_code() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().code.as_ptr())
}

/// Frees a string the library returned through a `char **` out-parameter. NULL is a
/// no-op. Thread: any. Freeing any other pointer, or twice, is undefined behaviour.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_string_free(string: *mut c_char) {
    if string.is_null() {
        return;
    }
    // SAFETY: non-null strings handed out by the library are `CString::into_raw`
    // results (see `args::string_out`), and the caller gives each back once.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        drop(unsafe { CString::from_raw(string) })
    }));
}

/// The library version, e.g. "0.1.0". Borrowed, static: do not free. Thread: any.
#[unsafe(no_mangle)]
pub extern "C" fn mcrt_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
