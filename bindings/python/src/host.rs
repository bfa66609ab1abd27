//! Attach mode: the host-callback transport for a Python backend that keeps its own
//! sockets (a python-socketio server). `Hub.attach(send, close)` attaches one socket and
//! returns a `HostConnection` to pass that socket's events to; the hub calls `send(packet)`
//! with the Socket.IO packet (`2["event",data]`, for `sio.eio.send(eio_sid, packet)`)
//! and `close(reason)` when it ends the connection (logout, auth failures, shutdown).
//! `microcoaster_realtime.socketio_bridge` wires a whole `socketio.Server` this way.
//!
//! Invariants: each event becomes one Python str shared by every recipient (encode
//! once); `send` runs on the Python thread that made the emit call, under the emit lock
//! (it must not emit; `close` likewise, so the bridge disconnects from a background
//! task), or, for frames caused on library threads (device grace timer, served devices,
//! another node's events), on the hub's delivery thread with no library lock held: the
//! one host-sink contract of the core (`outbound/host.rs`), the same as C and Node. An
//! exception in `send`/`close` is logged and counted in `metrics()["host_send_failures"]`
//! and never reaches the core. Locks: the endpoint map is never held while Python runs
//! (a Python call may hand the GIL to a thread that waits for the map) and is written
//! with the GIL released; a connection is locked only with the GIL released
//! (`tests/test_attach.py::test_detach_while_a_hook_runs_under_message_does_not_deadlock`;
//! the rest of `tests/test_attach.py` guards the others). This module must
//! not route or encode.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use microcoaster_realtime::transport::host::HostSink;
use microcoaster_realtime::{CloseReason, Connection, ConnectionId, Hub, OutboundEvent};
use parking_lot::RwLock;
use pyo3::PyTraverseError;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::connection::{handshake_context, reply_ack};
use crate::errors::{error, hub_error, inbound_error};
use crate::hooks::log_hook_error;
use crate::json::to_json;

struct Endpoint {
    send: Py<PyAny>,
    close: Option<Py<PyAny>>,
}

#[derive(Default)]
struct Shared {
    endpoints: RwLock<HashMap<ConnectionId, Endpoint>>,
    failures: AtomicU64,
}

/// The host-owned connections of one hub and their callables.
#[derive(Default, Clone)]
pub struct HostRegistry {
    shared: Arc<Shared>,
}

impl HostRegistry {
    /// The sink to install on the builder.
    pub fn sink(&self) -> Sink {
        Sink {
            shared: Arc::clone(&self.shared),
        }
    }

    /// `send`/`close` calls that raised.
    pub fn failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// Registers the callables of a freshly attached connection (waiting for the map
    /// with the GIL released).
    pub fn insert(
        &self,
        py: Python<'_>,
        id: ConnectionId,
        send: Py<PyAny>,
        close: Option<Py<PyAny>>,
    ) {
        py.detach(|| {
            self.shared
                .endpoints
                .write()
                .insert(id, Endpoint { send, close })
        });
    }

    /// Reports every `send`/`close` callable to the garbage collector (for the hub that
    /// owns this registry only). Skips the map if a writer holds it: `traverse` must not
    /// block.
    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(endpoints) = self.shared.endpoints.try_read() {
            for endpoint in endpoints.values() {
                visit.call(&endpoint.send)?;
                visit.call(endpoint.close.as_ref())?;
            }
        }
        Ok(())
    }

    /// Drops every connection's callables (the hub is being let go); later frames for
    /// them are dropped as for a detached socket.
    pub fn clear(&self, py: Python<'_>) {
        let endpoints = py.detach(|| std::mem::take(&mut *self.shared.endpoints.write()));
        drop(endpoints);
    }

    /// Forgets a connection's callables; call with the GIL released.
    fn remove(&self, id: ConnectionId) -> Option<Endpoint> {
        self.shared.endpoints.write().remove(&id)
    }
}

/// `Hub.attach`: attaches a host-owned socket to `hub` and keeps its callables.
pub fn attach(
    py: Python<'_>,
    hub: &Hub,
    registry: &HostRegistry,
    send: &Bound<'_, PyAny>,
    close: Option<&Bound<'_, PyAny>>,
    context: Option<&Bound<'_, PyDict>>,
) -> PyResult<HostConnection> {
    if !send.is_callable() || close.is_some_and(|c| !c.is_callable() && !c.is_none()) {
        return Err(PyTypeError::new_err("send and close must be callables"));
    }
    let context = handshake_context(context)?;
    let connection = py
        .detach(|| hub.attach_host(context))
        .map_err(|e| hub_error(py, &e))?;
    let close = close.filter(|c| !c.is_none()).map(|c| c.clone().unbind());
    registry.insert(py, connection.id(), send.clone().unbind(), close);
    Ok(HostConnection::new(connection, registry.clone()))
}

/// The core's `HostSink`, calling the Python callables.
pub struct Sink {
    shared: Arc<Shared>,
}

impl HostSink for Sink {
    fn frame(&self, recipients: &[ConnectionId], event: &Arc<OutboundEvent>) {
        Python::attach(|py| {
            let packet = PyString::new(py, event.socketio_packet());
            // The map is read without calling Python (which may let another thread take
            // the GIL and wait for the map), then released before any `send` runs.
            let sends: Vec<Py<PyAny>> = {
                let endpoints = self.shared.endpoints.read();
                recipients
                    .iter()
                    .filter_map(|id| endpoints.get(id).map(|e| e.send.clone_ref(py)))
                    .collect()
            };
            // A binary event's attachments follow its packet, each one `send(bytes)`
            // (python-socketio's `eio.send` writes bytes as a binary message).
            let attachments: Vec<_> = event
                .attachments()
                .iter()
                .map(|data| PyBytes::new(py, data))
                .collect();
            for send in sends {
                let mut result = send.call1(py, (&packet,));
                for data in &attachments {
                    if result.is_err() {
                        break;
                    }
                    result = send.call1(py, (data,));
                }
                if let Err(failure) = result {
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    log_hook_error(py, "host send", &failure);
                }
            }
        });
    }

    fn close(&self, connection: ConnectionId, reason: &CloseReason) {
        // Hub code runs without the GIL, so the map is taken before attaching.
        let endpoint = self.shared.endpoints.write().remove(&connection);
        Python::attach(|py| {
            if let Some(close) = endpoint.and_then(|e| e.close)
                && let Err(failure) = close.call1(py, (reason.as_str(),))
            {
                self.shared.failures.fetch_add(1, Ordering::Relaxed);
                log_hook_error(py, "host close", &failure);
            }
        });
    }
}

/// One socket owned by the host, attached to the hub. Pass it what the socket receives
/// (`message`, or `authenticate_at_connect` with the Socket.IO `auth` object); the hub
/// writes to the socket through the `send` given to `Hub.attach`. `detach()` when the
/// socket closes.
#[pyclass(frozen, module = "microcoaster_realtime")]
pub struct HostConnection {
    id: ConnectionId,
    registry: HostRegistry,
    /// Read-locked by calls into the hub, write-locked by `detach`; both only with the
    /// GIL released (a hook under a call may need the GIL).
    connection: RwLock<Option<Connection>>,
}

impl HostConnection {
    pub fn new(connection: Connection, registry: HostRegistry) -> Self {
        Self {
            id: connection.id(),
            registry,
            connection: RwLock::new(Some(connection)),
        }
    }

    fn call<R: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&Connection) -> R + Send,
    ) -> PyResult<R> {
        py.detach(|| self.connection.read().as_ref().map(work))
            .ok_or_else(|| {
                error(
                    py,
                    "ConnectionClosedError",
                    "this connection is detached",
                    "detached",
                )
            })
    }
}

#[pymethods]
impl HostConnection {
    /// The hub's id for this connection.
    #[getter]
    fn id(&self) -> u64 {
        self.id.0
    }

    /// Whether the connection is authenticated.
    #[getter]
    fn authenticated(&self, py: Python<'_>) -> PyResult<bool> {
        self.call(py, Connection::is_authenticated)
    }

    /// Passes one client event (`client:authenticate`, `client:page`, or any other,
    /// forwarded to `on_client_event`); returns the ack body or `None`. A refusal raises
    /// `MessageRefusedError` whose `ack` is the body to answer an ack with.
    #[pyo3(signature = (event, data = None))]
    fn message(
        &self,
        py: Python<'_>,
        event: &str,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let (data, attachments) = match data {
            Some(data) => crate::json::to_json_binary(data, "data")?,
            None => (serde_json::Value::Null, Vec::new()),
        };
        match self.call(py, |c| c.on_message_with(event, &data, attachments))? {
            Ok(reply) => reply_ack(py, &reply),
            Err(refused) => Err(inbound_error(py, &refused)),
        }
    }

    /// Authenticates with the Socket.IO `auth` object given at connect; a refusal raises
    /// `MessageRefusedError` (answer it with the CONNECT error, e.g. python-socketio's
    /// `ConnectionRefusedError(message, {"code": code})`) and sends nothing.
    fn authenticate_at_connect(
        &self,
        py: Python<'_>,
        auth: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let auth = to_json(auth, "auth")?;
        match self.call(py, |c| c.authenticate_at_connect(&auth))? {
            Ok(reply) => reply_ack(py, &reply),
            Err(refused) => Err(inbound_error(py, &refused)),
        }
    }

    /// Passes a raw native-protocol frame (`{"event","data"}` as bytes or str).
    fn receive(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let bytes: Vec<u8> = if let Ok(bytes) = frame.cast::<PyBytes>() {
            bytes.as_bytes().to_vec()
        } else if let Ok(text) = frame.cast::<PyString>() {
            text.to_cow()?.as_bytes().to_vec()
        } else {
            return Err(PyTypeError::new_err("frame: expected bytes or str"));
        };
        match self.call(py, |c| c.receive(&bytes))? {
            Ok(reply) => reply_ack(py, &reply),
            Err(refused) => Err(inbound_error(py, &refused)),
        }
    }

    /// Detaches the connection from the hub (idempotent); `close` is not called.
    fn detach(&self, py: Python<'_>) {
        py.detach(|| {
            drop(self.registry.remove(self.id));
            drop(self.connection.write().take());
        });
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.detach(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("HostConnection(id={})", self.id.0)
    }
}
