//! Hub lifecycle over the C ABI: building the configured builder (`builder.rs`) into
//! the hub handle, `mcrt_hub_new`, shutdown, free, and the device keys registered on a
//! running hub. This module must not emit (that is `emit.rs`), serve (`server.rs`) nor
//! move frames (`host.rs`). Guarded by `tests/c/test_ffi.c` (run under valgrind
//! `--leak-check=full`) and the Node suite's hub lifecycle tests.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

// The builder's items were defined here before `builder.rs`; their paths stay.
pub use super::builder::{
    McrtBuilder, mcrt_builder_add_audit_sink, mcrt_builder_add_before_emit, mcrt_builder_free,
    mcrt_builder_new, mcrt_builder_set_authenticator, mcrt_builder_set_binary_client_event_handler,
    mcrt_builder_set_client_event_handler, mcrt_builder_set_host_transport,
    mcrt_builder_set_stats_provider,
};
use super::executor::ExecutorState;
use super::host::HostState;
use super::{FfiError, McrtStatus, args, entry, hub_entry};
use crate::hub::Hub;

/// A running hub. Opaque: from `mcrt_builder_build` or `mcrt_hub_new`, freed with
/// `mcrt_hub_free`. Every `mcrt_` function taking it may be called from any thread.
pub struct McrtHub {
    pub(crate) hub: Hub,
    pub(crate) host: Option<Arc<HostState>>,
    pub(crate) executor: Option<Arc<ExecutorState>>,
}

/// Builds the hub and frees the builder, whatever the outcome (do not use `builder`
/// afterwards). On success `*out` owns the hub (free it with `mcrt_hub_free`).
/// Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_build(
    builder: *mut McrtBuilder,
    out: *mut *mut McrtHub,
) -> McrtStatus {
    entry(|| {
        if builder.is_null() {
            return Err(FfiError::new(
                McrtStatus::NullPointer,
                "null_pointer",
                "builder is NULL",
            ));
        }
        // SAFETY: a live builder handle from `mcrt_builder_new`, given back once.
        let McrtBuilder {
            builder,
            host,
            executor,
        } = *unsafe { Box::from_raw(builder) };
        args::require(out, "out")?;
        let hub = builder.build().map_err(|error| {
            let status = match error {
                crate::hub::BuildError::Persist(_)
                | crate::hub::BuildError::Transport { .. }
                | crate::hub::BuildError::Broker(_) => McrtStatus::Io,
                crate::hub::BuildError::Routing(_) => McrtStatus::InvalidArgument,
            };
            FfiError::new(status, "build_failed", error.to_string())
        })?;
        let handle = Box::into_raw(Box::new(McrtHub {
            hub,
            host,
            executor,
        }));
        // SAFETY: `out` is non-null (checked) and writable per the caller's contract.
        unsafe { args::write_required(out, handle, "out") }
    })
}

/// Builds a hub without callbacks from `config_json` (as `mcrt_builder_new`). On success
/// `*out` owns the hub. Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_new(
    config_json: *const c_char,
    len: usize,
    out: *mut *mut McrtHub,
) -> McrtStatus {
    let mut builder = std::ptr::null_mut();
    // SAFETY: the caller's contract covers `config_json`; `builder` is a local.
    let status = unsafe { mcrt_builder_new(config_json, len, &raw mut builder) };
    if status != McrtStatus::Ok {
        return status;
    }
    // SAFETY: `builder` was just created; `out` per the caller's contract.
    unsafe { mcrt_builder_build(builder, out) }
}

/// Stops the host transport's delivery thread, detaches every host connection, drops
/// the originated emits still queued for `mcrt_run_pending` (no wake callback runs
/// after it returns) and frees the hub handle. With persistence, the state is saved
/// once the last reference (a running server holds one) is gone. NULL is a no-op.
/// Thread: any, but not from inside a callback of this hub; in a single-threaded host
/// whose callbacks run on its event loop (Node), call it off that loop (it waits for a
/// frame being delivered, or a wake callback running).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_free(hub: *mut McrtHub) {
    entry(|| {
        if !hub.is_null() {
            // SAFETY: a live hub handle, given back once.
            let hub = unsafe { Box::from_raw(hub) };
            if let Some(host) = &hub.host {
                hub.hub.stop_host_delivery();
                host.stop();
            }
            if let Some(executor) = &hub.executor {
                executor.stop();
            }
            drop(hub);
        }
        Ok(())
    });
}

/// Stops every transport, closes every connection with reason `shutdown` (after the
/// frames already queued; host connections get the close callback) and, with
/// persistence, saves the state and closes the database. The handle stays valid (free
/// it with `mcrt_hub_free`). Thread: any, as for `mcrt_hub_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_shutdown(hub: *const McrtHub, deadline_ms: u64) -> McrtStatus {
    hub_entry(hub, |hub| {
        hub.hub.shutdown(Duration::from_millis(deadline_ms));
        Ok(())
    })
}

/// Registers a device key (at least 16 characters) for module `module_id`, owned by
/// `owner_json` (a JSON number or string): a board then authenticates with
/// `{"moduleId", "deviceKey"}`. Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_register_device_key(
    hub: *const McrtHub,
    module_id: *const c_char,
    module_id_len: usize,
    owner_json: *const c_char,
    owner_len: usize,
    key: *const c_char,
    key_len: usize,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (module_id, owner, key) = unsafe {
            (
                args::text(module_id, module_id_len, "module_id")?,
                args::json(owner_json, owner_len, "owner_json")?,
                args::text(key, key_len, "key")?,
            )
        };
        hub.hub
            .register_device_key(module_id, crate::hub::IdArg::Json(owner), key)?;
        Ok(())
    })
}

/// Forgets the device key of module `module_id`; `*revoked_out` (may be NULL) says
/// whether there was one. Connections already authenticated with it stay open.
/// Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_revoke_device_key(
    hub: *const McrtHub,
    module_id: *const c_char,
    module_id_len: usize,
    revoked_out: *mut bool,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: readable for `module_id_len` bytes per the caller's contract.
        let module_id = unsafe { args::text(module_id, module_id_len, "module_id")? };
        let revoked = hub.hub.revoke_device_key(module_id);
        // SAFETY: a non-null `revoked_out` is writable per the caller's contract.
        unsafe { args::write_optional(revoked_out, revoked) };
        Ok(())
    })
}
