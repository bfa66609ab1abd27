//! The host-callback transport over the C ABI: the host owns the sockets (its own
//! Socket.IO server), attaches each and passes its inbound messages
//! ([`connections`](super::connections): `mcrt_host_attach`, `mcrt_host_message`,
//! `mcrt_host_authenticate`, `mcrt_host_receive`, `mcrt_host_detach`), and gets every
//! outbound event once through the frame callback: the recipients' connection ids and
//! the frame encoded once for all of them.
//!
//! **Which thread runs the callbacks**: the hub's one contract for host sinks
//! ([`crate::outbound::HostSink`]): a frame (or close) produced inside a `mcrt_` call —
//! an emit, a reply to an inbound message, a job run by `mcrt_run_pending` — is handed
//! to the callback on that calling thread before the call returns; a frame produced by
//! a library thread (the device grace-period timer, a device connection of
//! `mcrt_serve`, another node's event) comes from the hub's delivery thread, with no
//! library lock held, and later frames queue behind it, so every recipient sees events
//! in emit order. This is what lets a single-threaded host whose callbacks always run
//! on its event loop (Node through koffi) use it: the emit lock is never held while a
//! callback waits for that loop, so a synchronous emit on the loop can never wait on
//! itself.
//!
//! This module must not decide who receives an event (the registry did) nor re-encode
//! it: the bytes handed over are the event's one shared encoding.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::hooks::UserData;
use super::{FfiError, McrtStatus};
use crate::ids::ConnectionId;
use crate::outbound::CloseReason;
use crate::outbound::OutboundEvent;
use crate::protocol::WireFormat;
use crate::transport::Connection;
use crate::transport::host::HostSink;

/// The encoding the frame callback receives.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McrtWireFormat {
    /// The Socket.IO packet `2["event",data]`, as a Node host writes it with
    /// `socket.conn.write(frame)` (Engine.IO adds its `4`).
    SocketIo = 0,
    /// The native JSON frame `{"event":"…","data":…}`.
    Native = 1,
}

/// One outbound event for `n` host connections `ids`: `frame` (`len` bytes, not
/// NUL-terminated, valid only during the call) is the event encoded once in the format
/// chosen at `mcrt_builder_set_host_transport`; write it to each of those sockets. With
/// `MCRT_WIRE_FORMAT_SOCKET_IO`, a binary event is its packet `5<n>-[…]` (text), then
/// `n` more calls, one per attachment, whose bytes are to be written as binary messages
/// (Node: `socket.conn.write(buffer)`), in order, before anything else.
///
/// Thread: the thread whose `mcrt_` call produced it (an emit, or a reply such as
/// `auth:ok` / `page:snapshot` to `mcrt_host_message`), before that call returns; or the
/// hub's delivery thread for frames produced by library threads (see the transport's
/// docs), never two at once. It runs while the emit lock may be held: it must not call
/// `mcrt_emit_*` (`MCRT_STATUS_REENTRANT`) nor `mcrt_host_detach`.
pub type McrtFrameCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        ids: *const u64,
        n: usize,
        frame: *const c_char,
        len: usize,
    ),
>;

/// The hub closed host connection `id` (reason `logged_out`, `too_many_auth_failures`,
/// `slow_consumer` or `shutdown`, `reason_len` bytes, NUL-terminated): disconnect that
/// socket once the frames already passed to the frame callback are written, and detach
/// it afterwards (not from inside this callback). Thread: as `McrtFrameCallback`.
pub type McrtCloseCallback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, id: u64, reason: *const c_char, reason_len: usize),
>;

type FrameFn = unsafe extern "C" fn(*mut c_void, *const u64, usize, *const c_char, usize);
type CloseFn = unsafe extern "C" fn(*mut c_void, u64, *const c_char, usize);

/// The host transport of one hub: the callbacks and the attached connections.
pub struct HostState {
    format: McrtWireFormat,
    frame: FrameFn,
    close: Option<CloseFn>,
    user_data: UserData,
    pub(super) connections: Mutex<HashMap<u64, Arc<Connection>>>,
}

thread_local! {
    /// Set while this thread runs a frame or close callback.
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside the frame or close callback.
pub(super) fn in_callback() -> bool {
    IN_CALLBACK.with(std::cell::Cell::get)
}

impl HostState {
    pub(crate) fn new(
        format: McrtWireFormat,
        frame: FrameFn,
        close: McrtCloseCallback,
        user_data: UserData,
    ) -> Arc<Self> {
        Arc::new(Self {
            format,
            frame,
            close,
            user_data,
            connections: Mutex::new(HashMap::new()),
        })
    }

    /// Detaches every connection (the hub has stopped its delivery thread first:
    /// `mcrt_hub_free`).
    pub(crate) fn stop(&self) {
        let connections: Vec<_> = self.connections.lock().drain().collect();
        drop(connections);
    }

    fn deliver_frame(&self, ids: &[u64], event: &OutboundEvent) {
        IN_CALLBACK.with(|flag| flag.set(true));
        {
            {
                let bytes: &[u8] = match self.format {
                    McrtWireFormat::SocketIo => event.socketio_packet().as_bytes(),
                    McrtWireFormat::Native => event.encoded(WireFormat::Native),
                };
                // SAFETY: the host registered `frame` for these arguments; `ids` and the
                // frame bytes outlive the call.
                unsafe {
                    (self.frame)(
                        self.user_data.ptr(),
                        ids.as_ptr(),
                        ids.len(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                    );
                }
                if self.format == McrtWireFormat::SocketIo {
                    // A binary event's packet (`5<n>-…`) announces the n attachments
                    // that follow it, each as its own call, to write as binary messages.
                    for data in event.attachments() {
                        // SAFETY: as above; the attachment outlives the call.
                        unsafe {
                            (self.frame)(
                                self.user_data.ptr(),
                                ids.as_ptr(),
                                ids.len(),
                                data.as_ptr().cast(),
                                data.len(),
                            );
                        }
                    }
                }
            }
        }
        IN_CALLBACK.with(|flag| flag.set(false));
    }

    fn deliver_close(&self, id: u64, reason: &str) {
        if let Some(close) = self.close {
            IN_CALLBACK.with(|flag| flag.set(true));
            let text = std::ffi::CString::new(reason).unwrap_or_default();
            // SAFETY: the host registered `close`; the string outlives the call.
            unsafe { close(self.user_data.ptr(), id, text.as_ptr(), reason.len()) };
            IN_CALLBACK.with(|flag| flag.set(false));
        }
    }

    pub(super) fn connection(&self, id: u64) -> Result<Arc<Connection>, FfiError> {
        self.connections.lock().get(&id).cloned().ok_or_else(|| {
            FfiError::new(
                McrtStatus::NotFound,
                "unknown_connection",
                format!("no attached host connection has id {id}"),
            )
        })
    }
}

/// The [`HostSink`] installed in the hub; holds the state weakly so that the hub (which
/// owns the sink) and the state (which owns connections holding the hub) do not keep
/// each other alive.
struct Sink(std::sync::Weak<HostState>);

impl HostSink for Sink {
    fn frame(&self, recipients: &[ConnectionId], event: &Arc<OutboundEvent>) {
        if let Some(state) = self.0.upgrade() {
            let ids: SmallVec<[u64; 8]> = recipients.iter().map(|id| id.0).collect();
            state.deliver_frame(&ids, event);
        }
    }

    fn close(&self, connection: ConnectionId, reason: &CloseReason) {
        if let Some(state) = self.0.upgrade() {
            state.deliver_close(connection.0, reason.as_str());
        }
    }
}

pub(crate) fn sink(state: &Arc<HostState>) -> impl HostSink {
    Sink(Arc::downgrade(state))
}
