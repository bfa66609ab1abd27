//! The Python binding of microcoaster-realtime (pyo3, abi3 for CPython >= 3.9), built by
//! maturin into the wheel `microcoaster-realtime` whose package `microcoaster_realtime`
//! re-exports this native module (`microcoaster_realtime._native`).
//!
//! One concept per file: `hub.rs` (the `Hub` class and its emits), `config.rs` (the
//! config dict), `hooks.rs` (Python callables as hooks), `server.rs` (`Hub.serve`),
//! `connection.rs` (in-process connections), `host.rs` (attach mode: sockets owned by a
//! python-socketio server), `json.rs` (payload conversion), `errors.rs` (exceptions).
//!
//! Invariants: the GIL is released around every call into the core and every wait
//! (see `hub.rs`); an exception in a hook is logged, counted and never stops the hub
//! (see `hooks.rs`). Tested by the pytest suite in `bindings/python/tests`
//! (`scripts/python-test`). This crate must not implement hub behaviour: it converts.

mod config;
mod connection;
mod errors;
mod hooks;
mod host;
mod hub;
mod json;
mod server;

use pyo3::prelude::*;

/// The native module; `microcoaster_realtime/__init__.py` re-exports it.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<hub::PyHub>()?;
    module.add_class::<hub::Outcome>()?;
    module.add_class::<server::Server>()?;
    module.add_class::<connection::InProcessConnection>()?;
    module.add_class::<host::HostConnection>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
