//! `InProcessConnection`: a connection to the hub with no socket, for tests and
//! in-process consumers; it receives exactly what a socket would (the same shared
//! frames). Waiting in `recv` releases the GIL. This module must not route anything.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use microcoaster_realtime::auth::HandshakeContext;
use microcoaster_realtime::{InProcessConnection as Core, Received, Reply};
use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use crate::errors::{error, inbound_error};
use crate::json::{to_json, to_py};

/// Reads `{"remote_addr": "ip:port", "headers": {..}, "query": {..}}`.
pub fn handshake_context(context: Option<&Bound<'_, PyDict>>) -> PyResult<HandshakeContext> {
    let mut handshake = HandshakeContext::default();
    let Some(context) = context else {
        return Ok(handshake);
    };
    for (key, value) in context.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "remote_addr" if value.is_none() => {}
            "remote_addr" => {
                let text: String = value
                    .extract()
                    .map_err(|_| PyTypeError::new_err("context[\"remote_addr\"]: expected str"))?;
                handshake.remote_addr = Some(text.parse::<SocketAddr>().map_err(|_| {
                    PyValueError::new_err(format!(
                        "context[\"remote_addr\"]: {text:?} is not an ip:port address"
                    ))
                })?);
            }
            "headers" | "query" => {
                let pairs: Vec<(String, String)> = match value.cast::<PyDict>() {
                    Ok(dict) => dict
                        .extract::<std::collections::BTreeMap<String, String>>()?
                        .into_iter()
                        .collect(),
                    Err(_) => value.extract().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "context[{key:?}]: expected a dict of str or a list of (str, str)"
                        ))
                    })?,
                };
                if key == "headers" {
                    handshake.headers = pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v))
                        .collect();
                } else {
                    handshake.query = pairs;
                }
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "context: unknown key {other:?}; expected remote_addr, headers or query"
                )));
            }
        }
    }
    Ok(handshake)
}

/// The ack of a reply, as Python.
pub fn reply_ack(py: Python<'_>, reply: &Reply) -> PyResult<Py<PyAny>> {
    match &reply.ack {
        Some(ack) => Ok(crate::json::to_py_binary(py, ack, &reply.attachments)?.unbind()),
        None => Ok(py.None()),
    }
}

/// A connection to the hub from this process. `send` client events as a browser would
/// (`client:authenticate`, `client:page`, your own events) and `recv` what the hub sends
/// (`(event, data)` tuples). Thread-safe: one thread may `recv` while others `send`;
/// `close()` (or leaving a `with` block) detaches it.
///
/// Locks are only ever taken with the GIL released, and `recv` waits in short slices so
/// a `send` from another thread never waits for a whole `recv` timeout.
#[pyclass(frozen, module = "microcoaster_realtime")]
pub struct InProcessConnection {
    id: u64,
    connection: Mutex<Option<Core>>,
    closed: Mutex<Option<String>>,
}

/// Longest a `recv` holds the connection in one wait.
const RECV_SLICE: Duration = Duration::from_millis(20);

impl InProcessConnection {
    pub fn new(connection: Core) -> Self {
        Self {
            id: connection.id().0,
            connection: Mutex::new(Some(connection)),
            closed: Mutex::new(None),
        }
    }

    fn closed_error(py: Python<'_>, reason: &str) -> PyErr {
        error(
            py,
            "ConnectionClosedError",
            &format!("the hub closed this connection: {reason}"),
            reason,
        )
    }

    /// A frame as `(event, data)`, or `None` for the close (then remembered).
    fn frame(&self, py: Python<'_>, received: Received) -> PyResult<Option<Py<PyAny>>> {
        match received {
            Received::Frame(frame) => {
                let data = to_py(py, frame.payload())?;
                let name = PyString::new(py, frame.name()).into_any();
                Ok(Some(PyTuple::new(py, [name, data])?.into_any().unbind()))
            }
            Received::Closed(reason) => {
                *self.closed.lock() = Some(reason.as_str().to_owned());
                Ok(None)
            }
        }
    }

    fn with_connection<R: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut Core) -> R + Send,
    ) -> PyResult<R> {
        py.detach(|| self.connection.lock().as_mut().map(work))
            .ok_or_else(|| Self::closed_error(py, "detached"))
    }
}

#[pymethods]
impl InProcessConnection {
    /// The hub's id for this connection.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// Why the hub closed the connection (`logged_out`, `shutdown`, …), once `recv`
    /// or `drain` has seen the close; `None` while open.
    #[getter]
    fn closed(&self) -> Option<String> {
        self.closed.lock().clone()
    }

    /// Sends a client event; returns its ack body (`auth:ok`'s body for
    /// `client:authenticate`) or `None`. A refusal raises `MessageRefusedError`.
    #[pyo3(signature = (event, data = None))]
    fn send(
        &self,
        py: Python<'_>,
        event: &str,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let data = data.map_or(Ok(serde_json::Value::Null), |d| to_json(d, "data"))?;
        match self.with_connection(py, |c| c.send(event, data))? {
            Ok(reply) => reply_ack(py, &reply),
            Err(refused) => Err(inbound_error(py, &refused)),
        }
    }

    /// `send("client:authenticate", payload)`.
    fn authenticate(&self, py: Python<'_>, payload: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.send(py, "client:authenticate", Some(payload))
    }

    /// Sends a raw native-protocol frame (`{"event","data"}` as bytes or str), as a
    /// device would; malformed frames raise `MessageRefusedError` and are counted.
    fn send_raw(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let bytes: Vec<u8> = if let Ok(bytes) = frame.cast::<PyBytes>() {
            bytes.as_bytes().to_vec()
        } else if let Ok(text) = frame.cast::<PyString>() {
            text.to_cow()?.as_bytes().to_vec()
        } else {
            return Err(PyTypeError::new_err("frame: expected bytes or str"));
        };
        match self.with_connection(py, |c| c.send_raw(&bytes))? {
            Ok(reply) => reply_ack(py, &reply),
            Err(refused) => Err(inbound_error(py, &refused)),
        }
    }

    /// Waits up to `timeout` seconds for the next `(event, data)`; `None` on timeout.
    /// Raises `ConnectionClosedError` (with the reason as `code`) once the hub closed
    /// the connection and every frame sent before the close was read.
    #[pyo3(signature = (timeout = 1.0))]
    fn recv(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<Py<PyAny>>> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| PyValueError::new_err("timeout: expected seconds >= 0"))?;
        if let Some(reason) = self.closed.lock().clone() {
            return Err(Self::closed_error(py, &reason));
        }
        let deadline = Instant::now() + timeout;
        let received = py.detach(|| {
            loop {
                let slice = deadline
                    .saturating_duration_since(Instant::now())
                    .min(RECV_SLICE);
                let mut connection = self.connection.lock();
                let connection = connection.as_mut()?;
                let received = connection.recv_timeout(slice);
                if received.is_some() || Instant::now() >= deadline {
                    return Some(received);
                }
            }
        });
        match received {
            None => Err(Self::closed_error(py, "detached")),
            Some(None) => Ok(None),
            Some(Some(received)) => match self.frame(py, received)? {
                Some(frame) => Ok(Some(frame)),
                None => {
                    let reason = self.closed.lock().clone().unwrap_or_default();
                    Err(Self::closed_error(py, &reason))
                }
            },
        }
    }

    /// Every `(event, data)` queued now, without waiting (a close sets `closed`).
    fn drain(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let received = self.with_connection(py, Core::drain_now)?;
        let mut frames = Vec::with_capacity(received.len());
        for item in received {
            if let Some(frame) = self.frame(py, item)? {
                frames.push(frame);
            }
        }
        Ok(frames)
    }

    /// Detaches the connection from the hub (idempotent).
    fn close(&self, py: Python<'_>) {
        py.detach(|| drop(self.connection.lock().take()));
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
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "InProcessConnection(id={}, closed={:?})",
            self.id,
            self.closed.lock()
        )
    }
}
