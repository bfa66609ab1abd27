//! `microcoaster_realtime.Hub`: the core `Hub` for Python, with the twelve snake_case
//! emits of DESIGN §5 plus `emit_to_user` / `emit_to_admins` / `emit_to_everyone`,
//! metrics, the audit log, device keys, shutdown and in-process connections.
//!
//! Invariant: the GIL is released (`py.detach`) around every call into the core, after
//! the arguments were converted, so other Python threads run while the hub works and a
//! hook that needs the GIL under the emit lock never waits on a thread that waits for
//! that lock. Guarded by `tests/test_threads.py`. This module must not route, encode or
//! decide change: it converts arguments and results only.

use std::time::Duration;

use microcoaster_realtime::Hub;
use pyo3::PyTraverseError;
use pyo3::exceptions::PyValueError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::connection::{InProcessConnection, handshake_context};
use crate::errors::{build_error, hub_error, persist_error};
use crate::json::{flag, text, to_json, to_json_object, to_py};
use crate::outcome::{Outcome, id_arg, optional_json, optional_object, outcome};

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

    /// `module:status:changed` to the owner (and admins on `admin`) unless the module
    /// was already online. `info` is optional (`None`: none), as in C, Rust and Node.
    #[pyo3(signature = (module_id, info = None))]
    fn emit_module_online(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let info = optional_object(info, "info")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_module_online(&module_id, info.as_ref())),
        )
    }

    /// `module:status:changed` unless the module was already offline.
    #[pyo3(signature = (module_id, info = None))]
    fn emit_module_offline(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let info = optional_object(info, "info")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_module_offline(&module_id, info.as_ref())),
        )
    }

    /// `user:module:added` to the owner and `admin:module:added` to admins, unless
    /// already added with the same fields.
    fn emit_module_added(&self, py: Python<'_>, module: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let module = to_json_object(module, "module")?;
        let hub = self.hub();
        outcome(py, py.detach(|| hub.emit_module_added(&module)))
    }

    /// `user:module:removed` and `admin:module:removed`, unless not known.
    fn emit_module_removed(&self, py: Python<'_>, module: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let module = to_json_object(module, "module")?;
        let hub = self.hub();
        outcome(py, py.detach(|| hub.emit_module_removed(&module)))
    }

    /// `module:telemetry:updated` to the owner unless equal to the last value.
    fn emit_telemetry_update(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        telemetry: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let telemetry = to_json(telemetry, "telemetry")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_telemetry_update(&module_id, &telemetry)),
        )
    }

    /// Registers `session_id` for `user` (`role` or `userType` gives its role) and
    /// sends `user:session:started` / `admin:user:logged_in`.
    fn emit_user_logged_in(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] session_id: String,
    ) -> PyResult<Outcome> {
        let user = to_json_object(user, "user")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_user_logged_in(&user, &session_id)),
        )
    }

    /// Ends `session_id`: `user:session:ended` to its connections (then closed) and
    /// `admin:user:logged_out`.
    fn emit_user_logged_out(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] session_id: String,
    ) -> PyResult<Outcome> {
        let user = to_json_object(user, "user")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_user_logged_out(&user, &session_id)),
        )
    }

    /// `user:profile:updated {changes}` with only the fields that changed.
    fn emit_user_profile_updated(
        &self,
        py: Python<'_>,
        old: &Bound<'_, PyAny>,
        new: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let old = to_json_object(old, "old")?;
        let new = to_json_object(new, "new")?;
        let hub = self.hub();
        outcome(py, py.detach(|| hub.emit_user_profile_updated(&old, &new)))
    }

    /// `admin:user:registered {user}` unless already registered.
    fn emit_user_registered(&self, py: Python<'_>, user: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let user = to_json_object(user, "user")?;
        let hub = self.hub();
        outcome(py, py.detach(|| hub.emit_user_registered(&user)))
    }

    /// `admin:stats:updated {stats}` if the stats differ from the last sent; without
    /// `stats`, asks the configured `stats_provider`.
    #[pyo3(signature = (stats = None))]
    fn emit_stats_update(
        &self,
        py: Python<'_>,
        stats: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let stats = match stats.filter(|s| !s.is_none()) {
            Some(stats) => Some(to_json_object(stats, "stats")?),
            None => None,
        };
        let hub = self.hub();
        outcome(py, py.detach(|| hub.emit_stats_update(stats.as_ref())))
    }

    /// `admin:action {adminId, action, details}` to admins (always sent).
    #[pyo3(signature = (admin_id, action, details = None))]
    fn emit_admin_action(
        &self,
        py: Python<'_>,
        admin_id: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] action: String,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let admin = id_arg(admin_id, "admin_id")?;
        let details = optional_json(details, "details")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_admin_action(admin, &action, details.as_ref())),
        )
    }

    /// `system:maintenance {enabled, message}` to every authenticated connection,
    /// unless already in that state with that message.
    fn emit_maintenance_mode(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = flag)] enabled: bool,
        #[pyo3(from_py_with = text)] message: String,
        admin_id: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let admin = id_arg(admin_id, "admin_id")?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| hub.emit_maintenance_mode(enabled, &message, admin)),
        )
    }

    /// A host event (name outside the reserved prefixes) to all of a user's connections.
    #[pyo3(signature = (user_id, event, data = None))]
    fn emit_to_user(
        &self,
        py: Python<'_>,
        user_id: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let user = id_arg(user_id, "user_id")?;
        let (data, attachments) = optional_binary(data)?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| match &data {
                Some(data) if !attachments.is_empty() => {
                    hub.emit_binary_to_user(user, &event, data, attachments)
                }
                _ => hub.emit_to_user(user, &event, data.as_ref()),
            }),
        )
    }

    /// A host event (name outside the reserved prefixes) to admin connections.
    #[pyo3(signature = (event, data = None))]
    fn emit_to_admins(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let (data, attachments) = optional_binary(data)?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| match &data {
                Some(data) if !attachments.is_empty() => {
                    hub.emit_binary_to_admins(&event, data, attachments)
                }
                _ => hub.emit_to_admins(&event, data.as_ref()),
            }),
        )
    }

    /// A host event (name outside the reserved prefixes) to every authenticated user and
    /// admin connection.
    #[pyo3(signature = (event, data = None))]
    fn emit_to_everyone(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let (data, attachments) = optional_binary(data)?;
        let hub = self.hub();
        outcome(
            py,
            py.detach(|| match &data {
                Some(data) if !attachments.is_empty() => {
                    hub.emit_binary_to_everyone(&event, data, attachments)
                }
                _ => hub.emit_to_everyone(&event, data.as_ref()),
            }),
        )
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

/// An optional host-event payload that may hold `bytes` values: JSON with placeholders
/// and the attachments (`None` passes no data).
fn optional_binary(
    data: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Option<serde_json::Value>, Vec<bytes::Bytes>)> {
    match data {
        None => Ok((None, Vec::new())),
        Some(data) if data.is_none() => Ok((None, Vec::new())),
        Some(data) => {
            let (json, attachments) = crate::json::to_json_binary(data, "data")?;
            Ok((Some(json), attachments))
        }
    }
}
