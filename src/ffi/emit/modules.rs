//! The module calls over the C ABI: `module_online`, `module_offline`,
//! `module_added`, `module_removed` and `telemetry_update` (each doc from
//! `docs/calls/<call>.md`, written by `scripts/call-docs`). This module must not decide
//! anything: it converts arguments and calls the hub. Guarded by `tests/c/test_ffi.c`.

use std::ffi::c_char;

use serde_json::Value;

use super::emit;
use crate::ffi::{McrtHub, McrtOutcome, McrtStatus, args};

/// A module came online (seed: `emitModuleOnline(id, info)`). `info` is
/// `{userId, name?, type?, …}`; `userId` is required the first time a module is seen, and
/// `info` may be omitted afterwards.
///
/// Sends `module:status:changed {moduleId, online: true, …}` to the owner's connections on
/// `modules` and `dashboard` and to admins on `admin`, unless the module was already
/// online: then the outcome is `unchanged` and nothing is sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_module_online(
    hub: *const McrtHub,
    module_id: *const c_char,
    module_id_len: usize,
    info_json: *const c_char,
    info_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (module_id, info) = unsafe {
            (
                args::text(module_id, module_id_len, "module_id")?,
                args::json_or(info_json, info_len, "info_json", Value::Null)?,
            )
        };
        Ok(hub.emit_module_online(module_id, &info)?)
    })
}

/// A module went offline (seed: `emitModuleOffline(id, info)`); `info` is optional, as for
/// `module_online`.
///
/// Sends `module:status:changed {moduleId, online: false, …}` to the owner's connections
/// and to admins on `admin`, unless the module was already offline. A module never seen
/// before is recorded as offline and nothing is sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_module_offline(
    hub: *const McrtHub,
    module_id: *const c_char,
    module_id_len: usize,
    info_json: *const c_char,
    info_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (module_id, info) = unsafe {
            (
                args::text(module_id, module_id_len, "module_id")?,
                args::json_or(info_json, info_len, "info_json", Value::Null)?,
            )
        };
        Ok(hub.emit_module_offline(module_id, &info)?)
    })
}

/// A module was added (seed: `emitModuleAdded(module)`). `module` has `id` or `moduleId`,
/// `userId` (its owner) and any other fields.
///
/// Sends `user:module:added {module}` to the owner and `admin:module:added {module}` to
/// admins on `admin`, unless the module was already added (`unchanged`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_module_added(
    hub: *const McrtHub,
    module_json: *const c_char,
    len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: readable for `len` bytes per the caller's contract.
        let module = unsafe { args::json(module_json, len, "module_json")? };
        Ok(hub.emit_module_added(&module)?)
    })
}

/// A module was removed (seed: `emitModuleRemoved(module)`). `module` has `id` or
/// `moduleId`.
///
/// Sends `user:module:removed` to the owner and `admin:module:removed` to admins on
/// `admin`; an unknown module is `unchanged`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_module_removed(
    hub: *const McrtHub,
    module_json: *const c_char,
    len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: readable for `len` bytes per the caller's contract.
        let module = unsafe { args::json(module_json, len, "module_json")? };
        Ok(hub.emit_module_removed(&module)?)
    })
}

/// New telemetry for a known module (seed: `emitTelemetryUpdate(id, telemetry)`).
///
/// Sends `module:telemetry:updated {moduleId, telemetry}` to the owner's connections on
/// `modules` and `dashboard`, unless it equals the last value (`unchanged`). A slow
/// connection keeps only the latest telemetry per module. An unknown module is refused
/// (`unknown_module`): its owner, hence its audience, is unknown.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_telemetry_update(
    hub: *const McrtHub,
    module_id: *const c_char,
    module_id_len: usize,
    telemetry_json: *const c_char,
    telemetry_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (module_id, telemetry) = unsafe {
            (
                args::text(module_id, module_id_len, "module_id")?,
                args::json(telemetry_json, telemetry_len, "telemetry_json")?,
            )
        };
        Ok(hub.emit_telemetry_update(module_id, &telemetry)?)
    })
}
