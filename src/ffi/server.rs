//! The server transport over the C ABI: serve a hub on an address, read its port, stop
//! it. This module must not configure the hub (that is `hub.rs`).

use std::ffi::c_char;

use serde_json::Value;

use super::config::{ServeConfig, parse};
use super::{FfiError, McrtHub, McrtStatus, args, entry, hub_entry};
use crate::transport::server::ServerHandle;

/// A running server transport. Opaque: from `mcrt_serve`, freed with `mcrt_server_free`.
pub struct McrtServer {
    handle: ServerHandle,
}

/// Serves the hub on `addr` (e.g. "127.0.0.1:0"; `addr_len` bytes): Socket.IO at
/// `/socket.io/`, the native protocol at `/ws`. `config_json` (NULL means `{}`):
/// `{"workerThreads", "pingIntervalMs", "pingTimeoutMs", "maxPayload",
/// "maxMessageBytes", "authDeadlineMs", "maxConnections", "maxConnectionsPerIp",
/// "socketioPath", "nativePath",
/// "shutdownDeadlineMs", "writeCoalesceMs", "slowConsumerTimeoutMs", "apiKey",
/// "allowedOrigins", "handshakesPerSecond", "maxHeaderBytes", "headerTimeoutMs",
/// "trustedProxies", "raiseFdLimit"}`
/// (`workerThreads` 0, the default: one per CPU the process may run on). On success `*out` owns the server
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
        let config: ServeConfig = parse(value, "config_json")?;
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
        let server = unsafe { server.as_ref() }.ok_or_else(|| args::null("server"))?;
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
