//! What Python's cyclic garbage collector may see of a `Hub`, and how a hub is let go.
//!
//! A hook that refers to its own hub (a closure calling `hub.emit_…`, a bound method of
//! an object holding the hub, attach mode's `send` reaching the python-socketio server
//! whose handlers hold the bridge) forms a cycle that passes through Rust. `Hub` reports
//! the Python callables it owns through `__traverse__` and drops them in `__clear__`, so
//! the collector can find and break such a cycle. Letting a hub go (collected, or its
//! last reference dropped) stops the servers it started, shuts it down and releases its
//! callables, once.
//!
//! Invariants: `traverse` only visits, never blocks and never takes the GIL (it skips a
//! slot another thread holds: an unreported reference only keeps an object alive one
//! more collection); each callable is reported by exactly one owner (the hub, never its
//! `HostConnection`s), or the collector's counts would be wrong. Guarded by
//! `tests/test_gc.py`. This module must not call hooks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use microcoaster_realtime::{Hub, ServerHandle};
use parking_lot::Mutex;
use pyo3::PyTraverseError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;

use crate::host::HostRegistry;

/// One hook's callable, shared by the core's hook object and the hub that reports it;
/// `None` once released (the hook then fails as if it raised, silently).
pub type Slot = Arc<Mutex<Option<Py<PyAny>>>>;

/// A server's handle, shared by its `Server` object and the hub that started it.
pub type ServerSlot = Mutex<Option<ServerHandle>>;

/// How long a hub that is let go waits for its connections to flush.
const RELEASE_DEADLINE: Duration = Duration::from_secs(1);

/// The Python-visible things a `Hub` owns besides its attach-mode callables.
pub struct Owned {
    hooks: Vec<Slot>,
    servers: Mutex<Vec<Weak<ServerSlot>>>,
    released: AtomicBool,
}

impl Owned {
    /// Owns the slots of the hooks given in the config.
    pub fn new(hooks: Vec<Slot>) -> Self {
        Self {
            hooks,
            servers: Mutex::new(Vec::new()),
            released: AtomicBool::new(false),
        }
    }

    /// Remembers a server `Hub.serve` started, to stop it with the hub.
    pub fn track(&self, server: &Arc<ServerSlot>) {
        let mut servers = self.servers.lock();
        servers.retain(|weak| weak.strong_count() > 0);
        servers.push(Arc::downgrade(server));
    }

    /// Reports every callable the hub owns (hooks, then attach-mode endpoints).
    pub fn traverse(
        &self,
        host: &HostRegistry,
        visit: &PyVisit<'_>,
    ) -> Result<(), PyTraverseError> {
        for slot in &self.hooks {
            if let Some(callable) = slot.try_lock() {
                visit.call(callable.as_ref())?;
            }
        }
        host.traverse(visit)
    }

    /// Stops every server this hub started that is still running (waiting for them with
    /// the GIL released, since their threads may be inside a hook).
    pub fn stop_servers(&self, py: Python<'_>) {
        let handles: Vec<ServerHandle> = self
            .servers
            .lock()
            .drain(..)
            .filter_map(|weak| weak.upgrade())
            .filter_map(|slot| slot.lock().take())
            .collect();
        if !handles.is_empty() {
            py.detach(move || drop(handles));
        }
    }

    /// Lets the hub go (once): stops its servers, shuts it down, then drops every
    /// callable it holds, which breaks any cycle through them.
    pub fn release(&self, py: Python<'_>, hub: &Hub, host: &HostRegistry) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stop_servers(py);
        py.detach(|| hub.shutdown(RELEASE_DEADLINE));
        let callables: Vec<Py<PyAny>> = self
            .hooks
            .iter()
            .filter_map(|slot| slot.lock().take())
            .collect();
        drop(callables);
        host.clear(py);
    }
}

impl Drop for crate::hub::PyHub {
    fn drop(&mut self) {
        // Dropping the last handle may join the persistence writer and timer threads,
        // which may be waiting for the GIL to run a hook: drop it with the GIL released.
        // Servers hold the core hub too, so they are stopped first.
        if let Some(hub) = self.hub.take() {
            Python::attach(|py| {
                self.owned.release(py, &hub, &self.host);
                py.detach(move || drop(hub));
            });
        }
    }
}
