//! After a restart with persistence: modules restored as online wait for a sign of life
//! (their device reconnecting, or any `emit_module_online` / `emit_module_offline` for
//! them) for a grace period; those that get none are taken offline with
//! `emit_module_offline`, so owners and admins see `module:status:changed {online:
//! false}` and the audit log records it. Off unless
//! [`HubBuilder::offline_after_restart`] is set: a host that drives presence itself
//! (the seed's own ESP sockets) may re-announce modules after a restart instead.
//!
//! Owns the set of modules awaiting confirmation and its one timer thread, which holds
//! only a weak reference to the hub and ends when the hub is dropped. Guarded by
//! `tests/persistence/persist_hub.rs::modules_whose_device_did_not_return_go_offline_after_a_restart`.
//! This module must not decide change (the store does through the emit it calls).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

use super::Hub;
use crate::ids::UserId;

use std::collections::HashMap;

use crossbeam_channel::{RecvTimeoutError, Sender};

/// Modules restored online and not confirmed yet.
#[derive(Default)]
pub(super) struct RestoredOnline {
    /// Module id → owner.
    pending: Mutex<HashMap<String, UserId>>,
    /// Whether `pending` may be non-empty: the emit path checks this one load.
    any: AtomicBool,
    /// Dropped with the hub, which wakes and ends the timer thread.
    stop: Mutex<Option<Sender<()>>>,
}

impl Hub {
    /// Starts waiting for the modules the store restored as online (build, after
    /// restoring); `grace` later the unconfirmed ones go offline.
    pub(super) fn start_restart_check(&self, grace: Duration) {
        let pending: HashMap<String, UserId> = self
            .inner
            .store
            .lock()
            .modules()
            .filter(|module| module.online)
            .map(|module| (module.id.as_str().to_owned(), module.owner.clone()))
            .collect();
        if pending.is_empty() {
            return;
        }
        tracing::info!(
            modules = pending.len(),
            grace_ms = grace.as_millis() as u64,
            "modules restored online wait for their devices"
        );
        let restored = &self.inner.restored;
        *restored.pending.lock() = pending;
        restored.any.store(true, Ordering::SeqCst);
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        *restored.stop.lock() = Some(stop);
        let hub = Arc::downgrade(&self.inner);
        let spawned = crate::outbound::spawn_library_thread("mcrt-restart-grace", move || {
            if stopped.recv_timeout(grace) == Err(RecvTimeoutError::Timeout)
                && let Some(inner) = hub.upgrade()
            {
                Hub { inner }.restart_grace_over();
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the restart grace timer");
        }
    }

    /// A sign of life for `module_id` (any online/offline emit): it no longer waits.
    pub(super) fn confirm_restored(&self, module_id: &str) {
        let restored = &self.inner.restored;
        if restored.any.load(Ordering::Relaxed) {
            let mut pending = restored.pending.lock();
            pending.remove(module_id);
            if pending.is_empty() {
                restored.any.store(false, Ordering::Relaxed);
            }
        }
    }

    /// The grace period ended: every module still waiting goes offline.
    fn restart_grace_over(&self) {
        let restored = &self.inner.restored;
        let pending = std::mem::take(&mut *restored.pending.lock());
        restored.any.store(false, Ordering::Relaxed);
        for (module, owner) in pending {
            self.originate(move |hub| {
                if let Err(error) = hub.emit_module_offline(&module, &json!({"userId": owner})) {
                    tracing::warn!(%module, %error, "a module restored online could not go offline");
                }
            });
        }
    }
}
