//! The host-callback transport over the C ABI: the host owns the sockets (its own
//! Socket.IO server), attaches each with [`mcrt_host_attach`], passes its inbound
//! messages with [`mcrt_host_message`] / [`mcrt_host_authenticate`] /
//! [`mcrt_host_receive`], and gets every outbound event once through the frame
//! callback: the recipients' connection ids and the frame encoded once for all of them.
//!
//! **Which thread runs the callbacks.** A frame (or close) produced inside a `mcrt_`
//! call — an emit, or a reply to an inbound message — is handed to the callback on that
//! calling thread before the call returns. A frame produced by a library thread (the
//! device grace-period timer taking a module offline, or a connection of `mcrt_serve`
//! that authenticated as a device) is queued to this hub's delivery thread, which calls
//! the callback with no library lock held. Once anything is queued, later frames queue
//! behind it until the queue is empty, so every recipient sees events in emit order.
//! This is what lets a single-threaded host whose callbacks always run on its event loop
//! (Node through koffi) use it: the emit lock is never held while a callback waits for
//! that loop, so a synchronous emit on the loop can never wait on itself.
//!
//! This module must not decide who receives an event (the registry did) nor re-encode
//! it: the bytes handed over are the event's one shared encoding.

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use serde_json::Value;
use smallvec::SmallVec;

use super::hooks::UserData;
use super::{FfiError, McrtHub, McrtStatus, args, hub_entry, in_host_call};
use crate::auth::HandshakeContext;
use crate::hub::{InboundError, Reply};
use crate::protocol::{OutboundEvent, WireFormat};
use crate::transport::Connection;
use crate::transport::host::HostSink;
use crate::transport::queue::{CloseReason, ConnectionId};

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
/// chosen at `mcrt_builder_set_host_transport`; write it to each of those sockets.
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

enum Delivery {
    Frame(SmallVec<[u64; 8]>, Arc<OutboundEvent>),
    Close(u64, &'static str),
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<Delivery>,
    /// The delivery thread is inside a callback.
    in_flight: bool,
    stopped: bool,
}

/// The host transport of one hub: callbacks, the attached connections and the delivery
/// thread for frames produced off the host's threads.
pub struct HostState {
    format: McrtWireFormat,
    frame: FrameFn,
    close: Option<CloseFn>,
    user_data: UserData,
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    pending: Mutex<Pending>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

thread_local! {
    /// Set while this thread runs a frame or close callback.
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        })
    }

    /// Starts the delivery thread.
    pub(crate) fn start(self: &Arc<Self>) {
        let state = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("mcrt-host-delivery".to_owned())
            .spawn(move || state.run());
        match spawned {
            Ok(handle) => *self.thread.lock() = Some(handle),
            Err(error) => tracing::error!(%error, "the host delivery thread did not start"),
        }
    }

    /// Stops delivering (frames still queued are dropped: their sockets are going
    /// away with the hub), detaches every connection and joins the delivery thread.
    pub(crate) fn stop(&self) {
        {
            let mut pending = self.pending.lock();
            pending.stopped = true;
            pending.queue.clear();
        }
        self.wake.notify_all();
        let connections: Vec<_> = self.connections.lock().drain().collect();
        drop(connections);
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }

    fn run(&self) {
        loop {
            let delivery = {
                let mut pending = self.pending.lock();
                pending.in_flight = false;
                loop {
                    if pending.stopped {
                        return;
                    }
                    if let Some(delivery) = pending.queue.pop_front() {
                        pending.in_flight = true;
                        break delivery;
                    }
                    self.wake.wait(&mut pending);
                }
            };
            self.deliver(&delivery);
        }
    }

    /// Hands one delivery to the host on this thread now, or queues it behind earlier
    /// ones (see the module docs for the rule).
    fn dispatch(&self, delivery: Delivery) {
        {
            let mut pending = self.pending.lock();
            if pending.stopped {
                return;
            }
            if !in_host_call() || pending.in_flight || !pending.queue.is_empty() {
                pending.queue.push_back(delivery);
                drop(pending);
                self.wake.notify_one();
                return;
            }
        }
        self.deliver(&delivery);
    }

    fn deliver(&self, delivery: &Delivery) {
        IN_CALLBACK.with(|flag| flag.set(true));
        match delivery {
            Delivery::Frame(ids, event) => {
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
            }
            Delivery::Close(id, reason) => {
                if let Some(close) = self.close {
                    let text = std::ffi::CString::new(*reason).unwrap_or_default();
                    // SAFETY: the host registered `close`; the string outlives the call.
                    unsafe { close(self.user_data.ptr(), *id, text.as_ptr(), reason.len()) };
                }
            }
        }
        IN_CALLBACK.with(|flag| flag.set(false));
    }

    fn connection(&self, id: u64) -> Result<Arc<Connection>, FfiError> {
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
            let ids = recipients.iter().map(|id| id.0).collect();
            state.dispatch(Delivery::Frame(ids, Arc::clone(event)));
        }
    }

    fn close(&self, connection: ConnectionId, reason: &CloseReason) {
        if let Some(state) = self.0.upgrade() {
            state.dispatch(Delivery::Close(connection.0, reason.as_str()));
        }
    }
}

pub(crate) fn sink(state: &Arc<HostState>) -> impl HostSink {
    Sink(Arc::downgrade(state))
}

fn host_state(hub: &McrtHub) -> Result<&Arc<HostState>, FfiError> {
    hub.host.as_ref().ok_or_else(|| {
        FfiError::new(
            McrtStatus::NotConfigured,
            "not_configured",
            "this hub has no host transport (mcrt_builder_set_host_transport)",
        )
    })
}

fn not_in_callback(what: &str) -> Result<(), FfiError> {
    if IN_CALLBACK.with(std::cell::Cell::get) {
        return Err(FfiError::new(
            McrtStatus::Reentrant,
            "reentrant",
            format!("{what} cannot be called from inside the frame or close callback"),
        ));
    }
    Ok(())
}

/// The handshake context from the host's JSON: `{"remoteAddr": "ip:port", "headers":
/// {name: value | [values]}, "query": {name: value}}`, every key optional.
fn context_from(value: &Value) -> Result<HandshakeContext, FfiError> {
    let object = value
        .as_object()
        .ok_or_else(|| FfiError::invalid("context_json must be a JSON object"))?;
    let pairs = |field: &str, lower: bool| -> Result<Vec<(String, String)>, FfiError> {
        let mut out = Vec::new();
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let key = if lower {
                        key.to_ascii_lowercase()
                    } else {
                        key.clone()
                    };
                    match value {
                        Value::String(text) => out.push((key, text.clone())),
                        Value::Array(items) => {
                            for item in items {
                                if let Some(text) = item.as_str() {
                                    out.push((key.clone(), text.to_owned()));
                                }
                            }
                        }
                        Value::Number(n) => out.push((key, n.to_string())),
                        Value::Bool(b) => out.push((key, b.to_string())),
                        _ => {}
                    }
                }
            }
            Some(_) => {
                return Err(FfiError::invalid(format!(
                    "context_json.{field} must be an object"
                )));
            }
        }
        Ok(out)
    };
    let remote_addr = match object.get("remoteAddr") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => text.parse().ok(),
        Some(_) => {
            return Err(FfiError::invalid(
                "context_json.remoteAddr must be a string",
            ));
        }
    };
    Ok(HandshakeContext {
        remote_addr,
        headers: pairs("headers", true)?,
        query: pairs("query", false)?,
    })
}

/// Writes the reply's ack (or the refusal's `{code, message}` body) to `ack_out`.
///
/// # Safety
/// A non-null `ack_out` must be writable.
unsafe fn answer(
    result: Result<Reply, InboundError>,
    ack_out: *mut *mut c_char,
) -> Result<(), FfiError> {
    let (ack, error) = match result {
        Ok(reply) => (reply.ack, None),
        Err(error) => (Some(error.ack_body()), Some(error)),
    };
    let ack = ack.map_or(std::ptr::null_mut(), |value| {
        args::string_out(value.to_string())
    });
    if ack_out.is_null() {
        // SAFETY: `ack` came from `string_out` and nobody else has it.
        unsafe { super::mcrt_string_free(ack) };
    } else {
        // SAFETY: non-null and writable per the caller's contract.
        unsafe { ack_out.write(ack) };
    }
    match error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Attaches one host-owned socket; `context_json` (NULL means `{}`) is its handshake:
/// `{"remoteAddr": "ip:port", "headers": {name: value}, "query": {name: value}}`, read by
/// authenticators. On success `*id_out` is the connection's id, the one the frame and
/// close callbacks name. Thread: any (not from inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_attach(
    hub: *const McrtHub,
    context_json: *const c_char,
    len: usize,
    id_out: *mut u64,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_attach")?;
        args::require(id_out, "id_out")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let value = unsafe {
            args::json_or(
                context_json,
                len,
                "context_json",
                Value::Object(Default::default()),
            )?
        };
        let connection = hub.hub.attach_host(context_from(&value)?)?;
        let id = connection.id().0;
        state.connections.lock().insert(id, Arc::new(connection));
        // SAFETY: non-null (checked) and writable.
        unsafe { args::write_required(id_out, id, "id_out") }
    })
}

/// Passes one decoded client event of connection `id`: `event` (`client:authenticate`,
/// `client:page`, or any other name, forwarded to the client-event handler) and its data
/// (`data_json`; NULL means `null`). Replies (`auth:ok`, `page:snapshot`, `auth:error`)
/// reach the frame callback before this returns. If `ack_out` is non-NULL, `*ack_out` is
/// the acknowledgement body for a client that asked for one (`auth:ok`'s body, or
/// `{code, message}` on a refusal) or NULL; the caller frees it. A refusal also returns
/// an error status (`MCRT_STATUS_REFUSED` for authentication). Thread: any (not from
/// inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_message(
    hub: *const McrtHub,
    id: u64,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_message")?;
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (event, data) = unsafe {
            (
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
            )
        };
        let connection = state.connection(id)?;
        // SAFETY: `ack_out` as above.
        unsafe { answer(connection.on_message(event, &data), ack_out) }
    })
}

/// Authenticates connection `id` with the credentials its client gave when connecting
/// (the Socket.IO `auth` object, `auth_json`). On success `auth:ok` and `page:snapshot`
/// reach the frame callback; on refusal nothing is sent (the host answers in its own
/// handshake) and `*ack_out` holds `{code, message}`. Thread: any (not from inside the
/// frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_authenticate(
    hub: *const McrtHub,
    id: u64,
    auth_json: *const c_char,
    len: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_authenticate")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let auth = unsafe { args::json(auth_json, len, "auth_json")? };
        let connection = state.connection(id)?;
        // SAFETY: `ack_out` as above.
        unsafe { answer(connection.authenticate_at_connect(&auth), ack_out) }
    })
}

/// Passes one raw native-protocol frame (`{"event": "…", "data": …}`, `len` bytes) of
/// connection `id`: size, UTF-8 and shape are checked by the library. `ack_out` as for
/// `mcrt_host_message`. Thread: any (not from inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_receive(
    hub: *const McrtHub,
    id: u64,
    frame: *const c_char,
    len: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_receive")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let bytes = unsafe { args::bytes(frame, len, "frame")? };
        let connection = state.connection(id)?;
        // SAFETY: `ack_out` as above.
        unsafe { answer(connection.receive(bytes), ack_out) }
    })
}

/// Detaches connection `id` (its socket closed): it leaves every audience at once.
/// `MCRT_STATUS_NOT_FOUND` if it is not attached. Thread: any, but not from inside the
/// frame or close callback (`MCRT_STATUS_REENTRANT`): defer it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_detach(hub: *const McrtHub, id: u64) -> McrtStatus {
    hub_entry(hub, |hub| {
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_detach")?;
        let connection = state.connections.lock().remove(&id);
        match connection {
            Some(connection) => {
                drop(connection);
                Ok(())
            }
            None => Err(FfiError::new(
                McrtStatus::NotFound,
                "unknown_connection",
                format!("no attached host connection has id {id}"),
            )),
        }
    })
}
