//! `microcoaster_realtime.Hub`: the core `Hub` for Python: building it, metrics, the
//! audit log, device keys, connections (in-process, attached, served) and shutdown; the
//! emits are in `emit.rs`.
//!
//! Invariant: the GIL is released (`py.detach`) around every call into the core, after
//! the arguments were converted, so other Python threads run while the hub works and a
//! hook that needs the GIL under the emit lock never waits on a thread that waits for
//! that lock. Guarded by `tests/test_threads.py`. This module must not route, encode or
//! decide change: it converts arguments and results only.

use std::time::Duration;

use microcoaster_realtime::{EmitOutcome, HostCall, Hub, HubError};
use pyo3::PyTraverseError;
use pyo3::exceptions::PyValueError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::connection::{InProcessConnection, handshake_context};
use crate::errors::{build_error, hub_error, persist_error};
use crate::json::{text, to_py};
use crate::outcome::{Outcome, id_arg, outcome};

/// The real-time hub. Build it once per process, configured with keyword arguments
/// (`Hub(jwt_secret=..., stats_provider=..., persist={"path": ...})`, every key of
/// `Config` in the stubs) or the same keys as one dict (`Hub({...})`). Every method may
/// be called from any thread and releases the GIL while the hub works; `with Hub(...) as
/// hub:` shuts it down when the block ends.
#[pyclass(frozen, weakref, module = "microcoaster_realtime", name = "Hub")]
pub struct PyHub {
    /// `None` only while being dropped (see `Drop` in `gc.rs`).
    pub(crate) hub: Option<Hub>,
    pub(crate) host: crate::host::HostRegistry,
    /// Hook callables and started servers, for the garbage collector and release.
    pub(crate) owned: crate::gc::Owned,
}

impl PyHub {
    /// Runs a host call with the GIL released (a hook or a host sink may need it on
    /// another thread meanwhile) and turns its result into an [`Outcome`].
    fn run(&self, py: Python<'_>, call: HostCall<'_>) -> PyResult<Outcome> {
        self.call(py, |hub| hub.run(call))
    }

    /// Runs `emit` on the hub with the GIL released, as [`PyHub::run`] does.
    fn call(
        &self,
        py: Python<'_>,
        emit: impl FnOnce(&Hub) -> Result<EmitOutcome, HubError> + Send,
    ) -> PyResult<Outcome> {
        let hub = self.hub();
        outcome(py, py.detach(|| emit(hub)))
    }

    pub(crate) fn hub(&self) -> &Hub {
        self.hub
            .as_ref()
            .unwrap_or_else(|| unreachable!("the hub is only taken when dropped"))
    }
}

#[pymethods]
impl PyHub {
    /// Keywords and the dict may be combined when no key is given twice.
    #[new]
    #[pyo3(signature = (config = None, **options))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let host = crate::host::HostRegistry::default();
        let mut hooks = Vec::new();
        let config = crate::config::with_keywords(config, options)?;
        let builder = crate::config::builder(config.as_ref(), &mut hooks)?.host_sink(host.sink());
        let hub = py
            .detach(move || builder.build())
            .map_err(|e| build_error(py, &e))?;
        Ok(Self {
            hub: Some(hub),
            host,
            owned: crate::gc::Owned::new(hooks),
        })
    }

    /// Lets the garbage collector see the hook and attach-mode callables, which may
    /// refer back to this hub.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.owned.traverse(&self.host, &visit)
    }

    /// Breaks a cycle through a hook: stops this hub's servers, shuts it down and drops
    /// its callables.
    fn __clear__(&self) {
        if let Some(hub) = &self.hub {
            Python::attach(|py| self.owned.release(py, hub, &self.host));
        }
    }

    /// Lets a device authenticate with `{"moduleId": module_id, "deviceKey": key}` (a
    /// key of at least 16 characters) as a module owned by `owner`.
    fn register_device_key(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        owner: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] key: String,
    ) -> PyResult<()> {
        let owner = id_arg(owner, "owner")?;
        let hub = self.hub();
        py.detach(|| hub.register_device_key(&module_id, owner, &key))
            .map_err(|e| hub_error(py, &e))
    }

    /// Forgets a device key; returns whether there was one.
    fn revoke_device_key(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
    ) -> bool {
        let hub = self.hub();
        py.detach(|| hub.revoke_device_key(&module_id))
    }

    /// Every counter as a dict (emits, frames, authentications, hook failures in
    /// `hook_panics`, bad input by kind, connections, and persistence health).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let hub = self.hub();
        let snapshot = py.detach(|| hub.metrics());
        let value = crate::observe::metrics_value(&snapshot, self.host.failures());
        to_py(py, &value)
    }

    /// Audit rows (dicts), oldest first unless `newest_first`; needs `persist` in the
    /// config (else `PersistenceError`). `kind` is `emit`, `auth`, `close` or
    /// `bad_input`; `after_id` pages on from a previous page's last `id`.
    #[pyo3(signature = (*, since = None, until = None, user_id = None, module_id = None, kind = None, after_id = None, newest_first = false, limit = 100))]
    #[allow(clippy::too_many_arguments)]
    fn audit<'py>(
        &self,
        py: Python<'py>,
        since: Option<u64>,
        until: Option<u64>,
        user_id: Option<&Bound<'py, PyAny>>,
        module_id: Option<&str>,
        kind: Option<&str>,
        after_id: Option<u64>,
        newest_first: bool,
        limit: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = crate::observe::audit_filter(
            since,
            until,
            user_id,
            module_id,
            kind,
            after_id,
            newest_first,
            limit,
        )?;
        let hub = self.hub();
        let rows = py
            .detach(|| hub.audit_query(&filter))
            .map_err(|e| persist_error(py, &e))?;
        to_py(py, &serde_json::to_value(rows).unwrap_or(Value::Null))
    }

    /// Opens a connection with no socket (for tests and in-process consumers); `context`
    /// is the handshake an authenticator sees: `{"remote_addr", "headers", "query"}`.
    #[pyo3(signature = (context = None))]
    fn connect_in_process(
        &self,
        py: Python<'_>,
        context: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<InProcessConnection> {
        let context = handshake_context(context)?;
        let hub = self.hub();
        let connection = py.detach(|| hub.connect_in_process_with(context));
        Ok(InProcessConnection::new(connection))
    }

    /// Attach mode: attaches a socket your own server owns. The hub calls
    /// `send(packet: str)` with each Socket.IO packet for it (write it with
    /// `sio.eio.send(eio_sid, packet)`) on the emitting thread, and `close(reason: str)`
    /// when it ends the connection; both must not call an emit. `context` is the
    /// handshake (`remote_addr`, `headers`, `query`) authenticators see.
    #[pyo3(signature = (send, close = None, context = None))]
    fn attach(
        &self,
        py: Python<'_>,
        send: &Bound<'_, PyAny>,
        close: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<crate::host::HostConnection> {
        crate::host::attach(py, self.hub(), &self.host, send, close, context)
    }

    /// Serves Socket.IO (`/socket.io/`), the native protocol (`/ws`) and, with
    /// `api_key`, the HTTP emit API on `host:port` (port 0 picks a free one). Returns a
    /// `Server`; use it as a context manager or call `shutdown()`.
    ///
    /// `options` are the keys of the core's one server schema (`ServeConfig`), passed
    /// to it as they are: every key in snake_case or camelCase, durations as `…_ms` or,
    /// for `ping_interval`, `ping_timeout`, `auth_deadline` and `connect_timeout`, in
    /// seconds; `None` is not given. The schema holds the defaults and refuses unknown
    /// keys naming them.
    #[pyo3(signature = (host = "127.0.0.1", port = 0, **options))]
    fn serve(
        &self,
        py: Python<'_>,
        host: &str,
        port: u16,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<crate::server::Server> {
        let config = match options {
            Some(options) => crate::config::serve_config(options)?,
            None => crate::config::serve_config(&PyDict::new(py))?,
        };
        crate::server::serve(py, self.hub(), host, port, config, &self.owned)
    }

    /// Stops every server `serve` started, closes every connection (after what was queued for it, within
    /// `timeout` seconds) and, with persistence, saves the state and closes the database.
    #[pyo3(signature = (timeout = 5.0))]
    fn shutdown(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let deadline = Duration::try_from_secs_f64(timeout)
            .map_err(|_| PyValueError::new_err("timeout: expected seconds >= 0"))?;
        self.owned.stop_servers(py);
        let hub = self.hub();
        py.detach(|| hub.shutdown(deadline));
        Ok(())
    }

    /// `with Hub(...) as hub:` shuts the hub down (as `shutdown()`) when the block ends.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.shutdown(py, 5.0)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.hub())
    }
}

mod emit;
