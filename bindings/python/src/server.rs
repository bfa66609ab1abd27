//! `Hub.serve`: the core's server transport on its own runtime, behind a `Server`
//! handle that is a context manager. Binding, serving and shutting down all run with the
//! GIL released, so hooks called from the server's threads can take it. This module
//! must not handle connections itself. Guarded by `tests/test_idiom.py` (port, url, close)
//! and the suites that serve.

use microcoaster_realtime::{Hub, ServeConfig, ServerHandle};
use parking_lot::Mutex;
use pyo3::prelude::*;
use serde_json::Value;
use std::sync::Arc;

use crate::errors::serve_error;
use crate::gc::ServerSlot;

/// Starts the server with `config` (read by `config::serve_config` from the keywords).
pub fn serve(
    py: Python<'_>,
    hub: &Hub,
    host: &str,
    port: u16,
    config: ServeConfig,
    owner: &crate::gc::Owned,
) -> PyResult<Server> {
    let shown = serde_json::to_value(&config).unwrap_or(Value::Null);
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let handle = py
        .detach(|| hub.serve(&addr, config.into_config()))
        .map_err(|e| serve_error(py, &e))?;
    let bound = handle.local_addr();
    let handle = Arc::new(Mutex::new(Some(handle)));
    owner.track(&handle);
    Ok(Server {
        host: bound.ip().to_string(),
        port: bound.port(),
        config: shown,
        handle,
    })
}

/// A running server. `port`, `url` and `address` (`(host, port)`) say where it listens;
/// `close()` or `shutdown()` (or leaving the `with` block, or garbage collection of this object or of its hub, or
/// `Hub.shutdown`) stops it after flushing what each connection was sent.
#[pyclass(frozen, module = "microcoaster_realtime")]
pub struct Server {
    host: String,
    port: u16,
    /// The server configuration it was started with, in the schema's canonical form.
    config: Value,
    /// Shared with the hub, which stops the server when it is let go.
    handle: Arc<ServerSlot>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.lock().take() {
            // The runtime's threads may be waiting for the GIL inside a hook.
            Python::attach(|py| py.detach(move || drop(handle)));
        }
    }
}

#[pymethods]
impl Server {
    /// The bound `(host, port)` (the real port when 0 was asked for).
    #[getter]
    fn address(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }

    /// The bound port (the real one when 0 was asked for).
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// The bound host address.
    #[getter]
    fn host(&self) -> String {
        self.host.clone()
    }

    /// `http://host:port`, what a Socket.IO client connects to.
    #[getter]
    fn url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    /// The server configuration it was started with, as the core read it (camelCase
    /// keys, milliseconds, every default filled in; as `normalize_serve_config`).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::json::to_py(py, &self.config)
    }

    /// Open connections (Engine.IO sessions and native websockets); 0 once shut down.
    #[getter]
    fn connections(&self) -> usize {
        self.handle
            .lock()
            .as_ref()
            .map_or(0, ServerHandle::connections)
    }

    /// Stops accepting, flushes every connection, closes them and stops the runtime
    /// (idempotent). Waits with the GIL released.
    fn shutdown(&self, py: Python<'_>) {
        let handle = self.handle.lock().take();
        py.detach(move || drop(handle));
    }

    /// The same as `shutdown()`, under the name Python's closeable objects use.
    fn close(&self, py: Python<'_>) {
        self.shutdown(py);
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
        self.shutdown(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("Server(url={:?})", self.url())
    }
}
