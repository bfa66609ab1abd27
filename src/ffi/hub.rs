//! Hub lifecycle over the C ABI: a builder configured from JSON plus C callbacks, the
//! hub handle, the server transport (serve/stop), metrics, the audit log and device keys.
//! This module must not emit (that is `emit.rs`) nor move frames (that is `host.rs`).

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::hooks::{
    self, McrtAuditCallback, McrtAuthenticateCallback, McrtBeforeEmitCallback,
    McrtClientEventCallback, McrtStatsCallback, UserData,
};
use super::host::{self, HostState, McrtCloseCallback, McrtFrameCallback, McrtWireFormat};
use super::{FfiError, McrtStatus, args, entry, ffi_metrics, hub_entry};
use crate::hooks::AuditKind;
use crate::hub::{Hub, HubBuilder};
use crate::ids::{ModuleId, UserId};
use crate::persist::{AuditFilter, Durability, PersistConfig};
use crate::transport::server::{ServerConfig, ServerHandle};

/// A hub being configured. Opaque: create with `mcrt_builder_new`, add callbacks, then
/// either `mcrt_builder_build` (which consumes it) or `mcrt_builder_free`.
pub struct McrtBuilder {
    builder: HubBuilder,
    host: Option<Arc<HostState>>,
}

/// A running hub. Opaque: from `mcrt_builder_build` or `mcrt_hub_new`, freed with
/// `mcrt_hub_free`. Every `mcrt_` function taking it may be called from any thread.
pub struct McrtHub {
    pub(crate) hub: Hub,
    pub(crate) host: Option<Arc<HostState>>,
}

/// A running server transport. Opaque: from `mcrt_serve`, freed with `mcrt_server_free`.
pub struct McrtServer {
    handle: ServerHandle,
}

/// The hub configuration JSON: every key is optional; unknown keys are refused so that
/// a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct HubConfig {
    jwt_secret: Option<String>,
    pages: Option<Vec<String>>,
    routes: Vec<RouteConfig>,
    queue_capacity: Option<usize>,
    max_auth_failures: Option<u32>,
    max_message_bytes: Option<usize>,
    device_offline_grace_ms: Option<u64>,
    persist: Option<PersistSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RouteConfig {
    event: String,
    #[serde(default)]
    user_pages: Vec<String>,
    #[serde(default)]
    admin_pages: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PersistSection {
    path: String,
    #[serde(default)]
    durability: Option<String>,
}

impl HubConfig {
    fn into_builder(self) -> Result<HubBuilder, FfiError> {
        let mut builder = Hub::builder();
        if let Some(secret) = self.jwt_secret {
            builder = builder.jwt_secret(secret);
        }
        if let Some(pages) = self.pages {
            builder = builder.pages(&pages);
        }
        for route in &self.routes {
            let user: Vec<&str> = route.user_pages.iter().map(String::as_str).collect();
            let admin: Vec<&str> = route.admin_pages.iter().map(String::as_str).collect();
            builder = builder.route(&route.event, &user, &admin);
        }
        if let Some(frames) = self.queue_capacity {
            builder = builder.queue_capacity(frames);
        }
        if let Some(attempts) = self.max_auth_failures {
            builder = builder.max_auth_failures(attempts);
        }
        if let Some(bytes) = self.max_message_bytes {
            builder = builder.max_message_bytes(bytes);
        }
        if let Some(ms) = self.device_offline_grace_ms {
            builder = builder.device_offline_grace(Duration::from_millis(ms));
        }
        if let Some(persist) = self.persist {
            let durability: Durability = match persist.durability {
                Some(text) => text.parse().map_err(FfiError::invalid)?,
                None => Durability::default(),
            };
            builder = builder.persist_with(persist.path, PersistConfig::new(durability));
        }
        Ok(builder)
    }
}

/// The server configuration JSON of `mcrt_serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct ServeConfig {
    worker_threads: Option<usize>,
    ping_interval_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    max_payload: Option<usize>,
    max_message_bytes: Option<usize>,
    auth_deadline_ms: Option<u64>,
    max_connections: Option<usize>,
    socketio_path: Option<String>,
    native_path: Option<String>,
    shutdown_deadline_ms: Option<u64>,
    write_coalesce_ms: Option<u64>,
    api_key: Option<String>,
}

impl ServeConfig {
    fn into_config(self) -> ServerConfig {
        let mut config = ServerConfig::default();
        let ms = Duration::from_millis;
        if let Some(n) = self.worker_threads {
            config.worker_threads = n.max(1);
        }
        if let Some(n) = self.ping_interval_ms {
            config.ping_interval = ms(n);
        }
        if let Some(n) = self.ping_timeout_ms {
            config.ping_timeout = ms(n);
        }
        if let Some(n) = self.max_payload {
            config.max_payload = n;
        }
        if let Some(n) = self.max_message_bytes {
            config.max_message_bytes = n;
        }
        if let Some(n) = self.auth_deadline_ms {
            config.auth_deadline = ms(n);
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
        if let Some(path) = self.socketio_path {
            config.socketio_path = path;
        }
        if let Some(path) = self.native_path {
            config.native_path = path;
        }
        if let Some(n) = self.shutdown_deadline_ms {
            config.shutdown_deadline = ms(n);
        }
        if let Some(n) = self.write_coalesce_ms {
            config.write_coalesce = ms(n);
        }
        config.api_key = self.api_key;
        config
    }
}

fn config_error(what: &str, error: &serde_json::Error) -> FfiError {
    FfiError::invalid(format!("{what}: {error}"))
}

/// The builder behind a handle.
///
/// # Safety
/// A non-null `builder` must come from `mcrt_builder_new` and not be built or freed.
unsafe fn builder_mut<'a>(builder: *mut McrtBuilder) -> Result<&'a mut McrtBuilder, FfiError> {
    // SAFETY: the caller's contract; `as_mut` handles NULL.
    unsafe { builder.as_mut() }
        .ok_or_else(|| FfiError::new(McrtStatus::NullPointer, "null_pointer", "builder is NULL"))
}

/// Applies `change` to the builder's `HubBuilder` (which is consumed and rebuilt).
fn update(builder: &mut McrtBuilder, change: impl FnOnce(HubBuilder) -> HubBuilder) {
    let taken = std::mem::replace(&mut builder.builder, Hub::builder());
    builder.builder = change(taken);
}

fn null_callback(what: &str) -> FfiError {
    FfiError::new(
        McrtStatus::NullPointer,
        "null_pointer",
        format!("{what} is NULL"),
    )
}

/// Starts configuring a hub from `config_json` (`len` bytes; NULL means `{}`):
/// `{"jwtSecret": "…", "pages": ["modules", "admin", "dashboard"], "routes": [{"event",
/// "userPages", "adminPages"}], "queueCapacity": 1024, "maxAuthFailures": 5,
/// "maxMessageBytes": 65536, "deviceOfflineGraceMs": 5000, "persist": {"path": "…",
/// "durability": "off"|"batched"|"sync"}}`; every key is optional and unknown keys are
/// refused. On success `*out` owns a builder (build it or free it). Thread: any.
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
        let config: HubConfig =
            serde_json::from_value(value).map_err(|error| config_error("config_json", &error))?;
        let builder = Box::new(McrtBuilder {
            builder: config.into_builder()?,
            host: None,
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
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| null_callback("callback"))?;
        update(builder, |b| {
            b.authenticator(hooks::authenticator(callback, UserData(user_data)))
        });
        Ok(())
    })
}

/// Sets the handler of client events the library does not handle. `user_data` as for
/// `mcrt_builder_set_authenticator` (threads: `McrtClientEventCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_client_event_handler(
    builder: *mut McrtBuilder,
    callback: McrtClientEventCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| null_callback("callback"))?;
        update(builder, |b| {
            b.on_client_event(hooks::client_events(callback, UserData(user_data)))
        });
        Ok(())
    })
}

/// Sets the stats provider `mcrt_emit_stats_update` asks. `user_data` as for
/// `mcrt_builder_set_authenticator` (thread: `McrtStatsCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_stats_provider(
    builder: *mut McrtBuilder,
    callback: McrtStatsCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| null_callback("callback"))?;
        update(builder, |b| {
            b.stats_provider(hooks::stats(callback, UserData(user_data)))
        });
        Ok(())
    })
}

/// Adds a before-emit filter (run in the order added). `user_data` as for
/// `mcrt_builder_set_authenticator` (threads: `McrtBeforeEmitCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_add_before_emit(
    builder: *mut McrtBuilder,
    callback: McrtBeforeEmitCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| null_callback("callback"))?;
        update(builder, |b| {
            b.before_emit(hooks::before_emit(callback, UserData(user_data)))
        });
        Ok(())
    })
}

/// Adds an audit sink. `user_data` as for `mcrt_builder_set_authenticator` (threads:
/// `McrtAuditCallback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_add_audit_sink(
    builder: *mut McrtBuilder,
    callback: McrtAuditCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| null_callback("callback"))?;
        update(builder, |b| {
            b.audit_sink(hooks::CAuditSink::new(callback, UserData(user_data)))
        });
        Ok(())
    })
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
        let frame = frame.ok_or_else(|| null_callback("frame"))?;
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
        let McrtBuilder { builder, host } = *unsafe { Box::from_raw(builder) };
        args::require(out, "out")?;
        let hub = builder.build().map_err(|error| {
            let status = match error {
                crate::hub::BuildError::Persist(_) | crate::hub::BuildError::Transport { .. } => {
                    McrtStatus::Io
                }
                crate::hub::BuildError::Routing(_) => McrtStatus::InvalidArgument,
            };
            FfiError::new(status, "build_failed", error.to_string())
        })?;
        if let Some(host) = &host {
            host.start();
        }
        let handle = Box::into_raw(Box::new(McrtHub { hub, host }));
        // SAFETY: `out` is non-null (checked) and writable per the caller's contract.
        unsafe { args::write_required(out, handle, "out") }
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

/// Stops the host transport's delivery thread, detaches every host connection and frees
/// the hub handle. With persistence, the state is saved once the last reference (a
/// running server holds one) is gone. NULL is a no-op. Thread: any, but not from inside
/// a callback of this hub; in a single-threaded host whose callbacks run on its event
/// loop (Node), call it off that loop (it waits for a frame being delivered).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_free(hub: *mut McrtHub) {
    entry(|| {
        if !hub.is_null() {
            // SAFETY: a live hub handle, given back once.
            let hub = unsafe { Box::from_raw(hub) };
            if let Some(host) = &hub.host {
                host.stop();
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

/// Serves the hub on `addr` (e.g. "127.0.0.1:0"; `addr_len` bytes): Socket.IO at
/// `/socket.io/`, the native protocol at `/ws`. `config_json` (NULL means `{}`):
/// `{"workerThreads", "pingIntervalMs", "pingTimeoutMs", "maxPayload",
/// "maxMessageBytes", "authDeadlineMs", "maxConnections", "socketioPath", "nativePath",
/// "shutdownDeadlineMs", "writeCoalesceMs", "apiKey"}`. On success `*out` owns the server
/// (its own threads; stop and free it with `mcrt_server_free`). Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_serve(
    hub: *const McrtHub,
    addr: *const c_char,
    addr_len: usize,
    config_json: *const c_char,
    config_len: usize,
    out: *mut *mut McrtServer,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        args::require(out, "out")?;
        // SAFETY: readable for the given lengths per the caller's contract.
        let addr = unsafe { args::text(addr, addr_len, "addr")? };
        // SAFETY: as above.
        let value = unsafe {
            args::json_or(
                config_json,
                config_len,
                "config_json",
                Value::Object(Default::default()),
            )?
        };
        let config: ServeConfig =
            serde_json::from_value(value).map_err(|error| config_error("config_json", &error))?;
        let handle = hub
            .hub
            .serve(addr, config.into_config())
            .map_err(|error| FfiError::new(McrtStatus::Io, "serve_failed", error.to_string()))?;
        let server = Box::into_raw(Box::new(McrtServer { handle }));
        // SAFETY: `out` is non-null (checked) and writable.
        unsafe { args::write_required(out, server, "out") }
    })
}

/// The port the server listens on (useful after binding port 0). Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_server_port(server: *const McrtServer, port: *mut u16) -> McrtStatus {
    entry(|| {
        // SAFETY: a live server handle per the caller's contract; NULL is checked.
        let server = unsafe { server.as_ref() }.ok_or_else(|| null_callback("server"))?;
        // SAFETY: `port` is checked for NULL and writable per the caller's contract.
        unsafe { args::write_required(port, server.handle.local_addr().port(), "port") }
    })
}

/// Stops the server (flushing queued frames within its shutdown deadline) and frees it.
/// NULL is a no-op. Thread: any; in Node call it off the event loop (it waits for the
/// server's threads, which may be waiting on a JS callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_server_free(server: *mut McrtServer) {
    entry(|| {
        if !server.is_null() {
            // SAFETY: a live server handle, given back once.
            let server = unsafe { Box::from_raw(server) };
            server.handle.shutdown();
        }
        Ok(())
    });
}

/// Every counter as JSON (`connections`, `emits_changed`, `emits_unchanged`,
/// `bad_inputs`, …, and `ffi`: process-wide failed C calls by status). `*out` is owned
/// by the caller (`mcrt_string_free`). Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_metrics(
    hub: *const McrtHub,
    out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        args::require(out, "out")?;
        let mut value = serde_json::to_value(hub.hub.metrics())
            .map_err(|error| FfiError::invalid(error.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.insert("ffi".to_owned(), ffi_metrics());
        }
        // SAFETY: `out` is non-null (checked) and writable.
        unsafe { args::write_required(out, args::string_out(value.to_string()), "out") }
    })
}

/// The audit filter JSON of `mcrt_hub_audit_query`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct AuditQuery {
    since: Option<u64>,
    until: Option<u64>,
    user_id: Option<Value>,
    module_id: Option<Value>,
    kind: Option<String>,
    after_id: Option<u64>,
    newest_first: bool,
    limit: usize,
}

/// Audit rows as a JSON array, filtered by `filter_json` (NULL means `{}`: the oldest 100
/// rows): `{"since", "until" (ms since the epoch), "userId", "moduleId", "kind":
/// "emit"|"auth"|"close"|"bad_input", "afterId", "newestFirst", "limit"}`. Needs a hub
/// built with `persist` (else `MCRT_STATUS_NOT_CONFIGURED`). `*out` is owned by the
/// caller. Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_audit_query(
    hub: *const McrtHub,
    filter_json: *const c_char,
    len: usize,
    out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        args::require(out, "out")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let value = unsafe {
            args::json_or(
                filter_json,
                len,
                "filter_json",
                Value::Object(Default::default()),
            )?
        };
        let query: AuditQuery =
            serde_json::from_value(value).map_err(|error| config_error("filter_json", &error))?;
        let kind = match query.kind.as_deref() {
            None => None,
            Some("emit") => Some(AuditKind::Emit),
            Some("auth") => Some(AuditKind::Auth),
            Some("close") => Some(AuditKind::Close),
            Some("bad_input") => Some(AuditKind::BadInput),
            Some(other) => {
                return Err(FfiError::invalid(format!(
                    "kind must be emit, auth, close or bad_input, not {other:?}"
                )));
            }
        };
        let filter = AuditFilter {
            since: query.since,
            until: query.until,
            user_id: query
                .user_id
                .map(|id| UserId::from_json(&id))
                .transpose()
                .map_err(|error| FfiError::invalid(format!("userId: {error}")))?,
            module_id: query
                .module_id
                .map(|id| ModuleId::from_json(&id))
                .transpose()
                .map_err(|error| FfiError::invalid(format!("moduleId: {error}")))?,
            kind,
            after_id: query.after_id,
            newest_first: query.newest_first,
            limit: query.limit,
        };
        let rows = hub.hub.audit_query(&filter).map_err(|error| match error {
            crate::persist::PersistError::NotConfigured => FfiError::new(
                McrtStatus::NotConfigured,
                "not_configured",
                error.to_string(),
            ),
            other => FfiError::new(McrtStatus::Io, "persistence", other.to_string()),
        })?;
        let text =
            serde_json::to_string(&rows).map_err(|error| FfiError::invalid(error.to_string()))?;
        // SAFETY: `out` is non-null (checked) and writable.
        unsafe { args::write_required(out, args::string_out(text), "out") }
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
