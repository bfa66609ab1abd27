//! Configuring a hub over the C ABI: the builder handle made from the one JSON schema
//! (`mcrt_builder_new`), the C callbacks installed on it (authenticator, client events,
//! stats, before-emit filters, audit sinks, the host transport) and `mcrt_builder_free`.
//! Building it is `hub.rs`'s (`mcrt_builder_build`). This module must not build, emit
//! nor serve. Guarded by `tests/c/test_ffi.c` (`test_config_schema` and the callback
//! tests) and `tests/c/test_host.c`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use serde_json::Value;

use super::config::hub_builder;
use super::emit_hooks::{self, McrtAuditCallback, McrtBeforeEmitCallback};
use super::executor::ExecutorState;
use super::hooks::{
    self, McrtAuthenticateCallback, McrtBinaryClientEventCallback, McrtClientEventCallback,
    McrtStatsCallback, UserData,
};
use super::host::{self, HostState, McrtCloseCallback, McrtFrameCallback, McrtWireFormat};
use super::{FfiError, McrtStatus, args, entry};
use crate::hub::{Hub, HubBuilder};

/// A hub being configured. Opaque: create with `mcrt_builder_new`, add callbacks, then
/// either `mcrt_builder_build` (which consumes it) or `mcrt_builder_free`.
pub struct McrtBuilder {
    pub(super) builder: HubBuilder,
    pub(super) host: Option<Arc<HostState>>,
    pub(super) executor: Option<Arc<ExecutorState>>,
}

/// The builder behind a handle.
///
/// # Safety
/// A non-null `builder` must come from `mcrt_builder_new` and not be built or freed.
pub(super) unsafe fn builder_mut<'a>(
    builder: *mut McrtBuilder,
) -> Result<&'a mut McrtBuilder, FfiError> {
    // SAFETY: the caller's contract; `as_mut` handles NULL.
    unsafe { builder.as_mut() }
        .ok_or_else(|| FfiError::new(McrtStatus::NullPointer, "null_pointer", "builder is NULL"))
}

/// Applies `change` to the builder's `HubBuilder` (which is consumed and rebuilt).
pub(super) fn update(builder: &mut McrtBuilder, change: impl FnOnce(HubBuilder) -> HubBuilder) {
    let taken = std::mem::replace(&mut builder.builder, Hub::builder());
    builder.builder = change(taken);
}

/// Installs one host callback: refuses a NULL handle or callback, then hands the
/// callback to `install` (the one place the hook setters below differ).
///
/// # Safety
/// As [`builder_mut`].
unsafe fn set_hook<C>(
    builder: *mut McrtBuilder,
    callback: Option<C>,
    install: impl FnOnce(HubBuilder, C) -> HubBuilder,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller's contract.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| args::null("callback"))?;
        update(builder, |b| install(b, callback));
        Ok(())
    })
}

/// Starts configuring a hub from `config_json` (`len` bytes; NULL means `{}`):
/// `{"jwtSecret": "…", "pages": ["modules", "admin", "dashboard"], "routes": [{"event",
/// "userPages", "adminPages"}], "queueCapacity": 65536, "queueMaxBytes": 2097152,
/// "maxAuthFailures": 5, "maxConnectionsPerUser": 100, "maxMessageBytes": 65536, "snapshotPageSize": 500,
/// "deviceOfflineGraceMs": 5000, "persist": {"path": "…", "durability":
/// "off"|"batched"|"sync"}, "redis": null, "nodeId": null}`; every key is optional and
/// unknown keys are refused. This is the library's one configuration schema, which
/// Node and Python read
/// too: every key also has a snake_case alias, and Python's forms are accepted
/// (`device_grace` in seconds, `limits: {queue_capacity, …}`, `routes` as a map
/// `event → {users, admins}`); `mcrt_hub_config_normalize` shows the result with every
/// default. An error names the key, what was expected and what arrived.
/// On success `*out` owns a builder (build it or free it). Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_new(
    config_json: *const c_char,
    len: usize,
    out: *mut *mut McrtBuilder,
) -> McrtStatus {
    entry(|| {
        args::require(out, "out")?;
        // SAFETY: `config_json` is readable for `len` bytes per the caller's contract.
        let value = unsafe {
            args::json_or(
                config_json,
                len,
                "config_json",
                Value::Object(Default::default()),
            )?
        };
        let builder = Box::new(McrtBuilder {
            builder: hub_builder(&value)?,
            host: None,
            executor: None,
        });
        // SAFETY: `out` is non-null (checked) and writable per the caller's contract.
        unsafe { args::write_required(out, Box::into_raw(builder), "out") }
    })
}

/// Adds a host authenticator, tried (in the order added) before the built-in JWT and
/// session authenticators. `user_data` is passed back untouched and must stay valid, and
/// usable from the threads `McrtAuthenticateCallback` names, until the hub is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_authenticator(
    builder: *mut McrtBuilder,
    callback: McrtAuthenticateCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    // SAFETY: the caller passes a live builder handle (or NULL, refused).
    unsafe {
        set_hook(builder, callback, |b, callback| {
            b.authenticator(hooks::authenticator(callback, UserData(user_data)))
        })
    }
}

/// Sets the handler of client events the library does not handle. `user_data` as for
/// `mcrt_builder_set_authenticator` (threads: `McrtClientEventCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_client_event_handler(
    builder: *mut McrtBuilder,
    callback: McrtClientEventCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    // SAFETY: the caller passes a live builder handle (or NULL, refused).
    unsafe {
        set_hook(builder, callback, |b, callback| {
            b.on_client_event(hooks::client_events(callback, UserData(user_data)))
        })
    }
}

/// Sets the handler of client events the library does not handle, receiving a binary
/// event's values as bytes (`McrtBinaryClientEventCallback`) instead of base64 text.
/// It replaces a handler set by `mcrt_builder_set_client_event_handler`, and the other
/// way round. `user_data` as for `mcrt_builder_set_authenticator`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_binary_client_event_handler(
    builder: *mut McrtBuilder,
    callback: McrtBinaryClientEventCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    // SAFETY: the caller passes a live builder handle (or NULL, refused).
    unsafe {
        set_hook(builder, callback, |b, callback| {
            b.on_client_event(hooks::binary_client_events(callback, UserData(user_data)))
        })
    }
}

/// Sets the stats provider `mcrt_emit_stats_update` asks when given NULL stats. `user_data` as for
/// `mcrt_builder_set_authenticator` (thread: `McrtStatsCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_stats_provider(
    builder: *mut McrtBuilder,
    callback: McrtStatsCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    // SAFETY: the caller passes a live builder handle (or NULL, refused).
    unsafe {
        set_hook(builder, callback, |b, callback| {
            b.stats_provider(hooks::stats(callback, UserData(user_data)))
        })
    }
}

/// Adds a before-emit filter (run in the order added). `user_data` as for
/// `mcrt_builder_set_authenticator` (threads: `McrtBeforeEmitCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_add_before_emit(
    builder: *mut McrtBuilder,
    callback: McrtBeforeEmitCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    // SAFETY: the caller passes a live builder handle (or NULL, refused).
    unsafe {
        set_hook(builder, callback, |b, callback| {
            b.before_emit(emit_hooks::before_emit(callback, UserData(user_data)))
        })
    }
}

/// Adds an audit sink. `user_data` as for `mcrt_builder_set_authenticator` (threads:
/// `McrtAuditCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_add_audit_sink(
    builder: *mut McrtBuilder,
    callback: McrtAuditCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    // SAFETY: the caller passes a live builder handle (or NULL, refused).
    unsafe {
        set_hook(builder, callback, |b, callback| {
            b.audit_sink(emit_hooks::CAuditSink::new(callback, UserData(user_data)))
        })
    }
}

/// Installs the host-callback transport: the host owns the sockets (its own Socket.IO
/// server), attaches them with `mcrt_host_attach`, passes their messages with
/// `mcrt_host_message`, and receives every outbound event once through `frame` with the
/// recipients' connection ids and the event already encoded in `format` (a
/// `McrtWireFormat` value); `close` (may be
/// NULL) asks it to disconnect a socket. See `McrtFrameCallback` for the threads.
/// `user_data` must stay valid until `mcrt_hub_free` returns. At most once per builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_host_transport(
    builder: *mut McrtBuilder,
    format: i32,
    frame: McrtFrameCallback,
    close: McrtCloseCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let frame = frame.ok_or_else(|| args::null("frame"))?;
        let format = match format {
            f if f == McrtWireFormat::SocketIo as i32 => McrtWireFormat::SocketIo,
            f if f == McrtWireFormat::Native as i32 => McrtWireFormat::Native,
            other => {
                return Err(FfiError::invalid(format!(
                    "format must be MCRT_WIRE_FORMAT_SOCKET_IO (0) or MCRT_WIRE_FORMAT_NATIVE (1), not {other}"
                )));
            }
        };
        if builder.host.is_some() {
            return Err(FfiError::invalid("the host transport is already set"));
        }
        let state = HostState::new(format, frame, close, UserData(user_data));
        let sink = host::sink(&state);
        update(builder, |b| b.host_sink(sink));
        builder.host = Some(state);
        Ok(())
    })
}

/// Frees a builder that will not be built. NULL is a no-op. Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_free(builder: *mut McrtBuilder) {
    entry(|| {
        if !builder.is_null() {
            // SAFETY: a live builder handle from `mcrt_builder_new`, given back once.
            drop(unsafe { Box::from_raw(builder) });
        }
        Ok(())
    });
}
