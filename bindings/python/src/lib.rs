//! The Python binding of microcoaster-realtime (pyo3, abi3 for CPython >= 3.9), built by
//! maturin into the wheel `microcoaster-realtime` whose package `microcoaster_realtime`
//! re-exports this native module (`microcoaster_realtime._native`).
//!
//! One concept per file: `hub.rs` (the `Hub` class and its emits), `config.rs` (the
//! config dict and serve options over the core's one schema), `hooks.rs` (Python callables as hooks), `server.rs` (`Hub.serve`),
//! `connection.rs` (in-process connections), `host.rs` (attach mode: sockets owned by a
//! python-socketio server), `gc.rs` (what the garbage collector sees; letting a hub go), `outcome.rs` (`EmitOutcome`, shared argument helpers), `observe.rs` (metrics and
//! audit as dicts), `json.rs` (payload conversion), `errors.rs` (exceptions).
//!
//! Decisions where the design is silent:
//! - An exception in a hook counts in the core's `hook_panics` (the hook is re-raised
//!   into the core as a silent unwind, so the core's fallback applies: a refused
//!   authentication, a dropped event, a skipped record); the traceback goes to the
//!   `microcoaster_realtime` logger. An exception in attach mode's `send`/`close` counts
//!   in `metrics()["host_send_failures"]` instead (it runs under the emit lock and must
//!   not unwind through it).
//! - Arguments the binding refuses before the core sees them (a set in a payload, an int
//!   module id, `1` for a bool) count in `metrics()["bad_inputs"]["python_argument"]`,
//!   process-wide (one interpreter usually has one hub).
//! - `info`, `details` and `data` may be omitted (or `None`), as in every binding: the
//!   core reads them as JSON `null` (the seed passes `info`; the core only needs it for a
//!   module it has never seen). `emit_stats_update(stats=None)` is the core's one
//!   stats call: without stats (or `None`) it asks the `stats_provider`.
//! - A before-emit filter returns `None`/`True` (keep), `False` (drop) or a new payload.
//! - A hub that is garbage-collected (hooks may refer back to it, see `gc.rs`) or whose
//!   last reference is dropped stops the servers `serve` started and shuts down, with
//!   1 s to flush; `Hub.shutdown()` stops those servers too. A hook called after that
//!   fails silently (counted in `hook_panics`).
//! - With a `socketio.AsyncServer`, `attach_socketio` hands frames to the server's loop
//!   (`call_soon_threadsafe`, one writer task per socket, in emit order) and passes
//!   inbound events to the hub synchronously on the loop, keeping their order (see
//!   `socketio_async.py`).
//! - Attach mode writes the frames of an authentication made in the CONNECT before
//!   python-socketio's CONNECT reply; the official clients accept that (see
//!   `socketio_bridge.py`).
//!
//! Invariants: the GIL is released around every call into the core and every wait
//! (see `hub.rs`); an exception in a hook is logged, counted and never stops the hub
//! (see `hooks.rs`). Tested by the pytest suite in `bindings/python/tests`
//! (`scripts/python-test`). This crate must not implement hub behaviour: it converts.

mod config;
mod connection;
mod errors;
mod gc;
mod hooks;
mod host;
mod hub;
mod json;
mod observe;
mod outcome;
mod server;

use pyo3::prelude::*;

/// The native module; `microcoaster_realtime/__init__.py` re-exports it.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<hub::PyHub>()?;
    module.add_class::<outcome::Outcome>()?;
    module.add_class::<server::Server>()?;
    module.add_class::<connection::InProcessConnection>()?;
    module.add_class::<host::HostConnection>()?;
    module.add_function(wrap_pyfunction!(config::normalize_config, module)?)?;
    module.add_function(wrap_pyfunction!(config::normalize_serve_config, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
