//! The calls for admins and everyone over the C ABI: `stats_update`, `admin_action`,
//! `maintenance_mode`, and the host's own events `to_user`, `to_admins` and
//! `to_everyone` (each doc from `docs/calls/<call>.md`, written by `scripts/call-docs`).
//! This module must not decide anything: it converts arguments and calls the hub.
//! Guarded by `tests/c/test_ffi.c`.

use std::ffi::c_char;

use serde_json::Value;

use super::emit;
use crate::ffi::{McrtHub, McrtOutcome, McrtStatus, args};
use crate::hub::IdArg;

/// New statistics for admins (seed: `emitStatsUpdate()`): the given stats object, or, when
/// none is given, what the hub's stats provider returns.
///
/// Sends `admin:stats:updated {stats}` to admins on `admin`, only if the stats differ from
/// the last sent (`unchanged` otherwise).
///
/// C: `stats_json` NULL asks the stats provider (`mcrt_builder_set_stats_provider`;
/// `MCRT_STATUS_NOT_CONFIGURED` without one).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_stats_update(
    hub: *const McrtHub,
    stats_json: *const c_char,
    len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        let stats = if stats_json.is_null() {
            None
        } else {
            // SAFETY: a non-null `stats_json` is readable for `len` bytes per the caller's
            // contract.
            Some(unsafe { args::json(stats_json, len, "stats_json")? })
        };
        Ok(hub.emit_stats_update(stats.as_ref())?)
    })
}

/// An administrator acted (seed: `emitAdminAction(adminId, action, details)`); `details` is
/// optional (`null` when omitted).
///
/// Always sends `admin:action {adminId, action, details}` to admins on `admin`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_admin_action(
    hub: *const McrtHub,
    admin_id_json: *const c_char,
    admin_id_len: usize,
    action: *const c_char,
    action_len: usize,
    details_json: *const c_char,
    details_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (admin_id, action, details) = unsafe {
            (
                args::json(admin_id_json, admin_id_len, "admin_id_json")?,
                args::text(action, action_len, "action")?,
                args::json_or(details_json, details_len, "details_json", Value::Null)?,
            )
        };
        Ok(hub.emit_admin_action(IdArg::Json(admin_id), action, &details)?)
    })
}

/// Maintenance mode switched (seed: `emitMaintenanceMode(enabled, message, adminId)`).
///
/// Sends `system:maintenance {enabled, message, adminId}` to every authenticated
/// connection, unless already in that state with that message (`unchanged`). While on,
/// newly authenticated connections receive it too.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_maintenance_mode(
    hub: *const McrtHub,
    enabled: bool,
    message: *const c_char,
    message_len: usize,
    admin_id_json: *const c_char,
    admin_id_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (message, admin_id) = unsafe {
            (
                args::text(message, message_len, "message")?,
                args::json(admin_id_json, admin_id_len, "admin_id_json")?,
            )
        };
        Ok(hub.emit_maintenance_mode(enabled, message, IdArg::Json(admin_id))?)
    })
}

/// A host event for every connection of one user (seed: `emitToUser(userId, event, data)`),
/// for anything the twelve calls don't cover: the seed's "an action on one device is
/// visible on all the others".
///
/// Names in a reserved prefix (`auth:`, `page:`, `system:`, `admin:`, `user:`, `module:`)
/// are refused (`reserved_event`); `data` is optional (`null` when omitted); object data
/// gets a `timestamp` unless it carries one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_to_user(
    hub: *const McrtHub,
    user_id_json: *const c_char,
    user_id_len: usize,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (user_id, event, data) = unsafe {
            (
                args::json(user_id_json, user_id_len, "user_id_json")?,
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
            )
        };
        Ok(hub.emit_to_user(IdArg::Json(user_id), event, &data)?)
    })
}

/// A host event for admin connections (seed: `emitToAdmins(event, data)`), on every page
/// unless a route limits it.
///
/// Names in a reserved prefix are refused (`reserved_event`); `data` is optional (`null`
/// when omitted); object data gets a `timestamp` unless it carries one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_to_admins(
    hub: *const McrtHub,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (event, data) = unsafe {
            (
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
            )
        };
        Ok(hub.emit_to_admins(event, &data)?)
    })
}

/// A host event for every authenticated user and admin connection, on every page unless a
/// route limits it (seed: `emitToAll(event, data)`; socket.io's `io.emit`). Connections that
/// have not authenticated and devices never receive it.
///
/// Names in a reserved prefix are refused (`reserved_event`); `data` is optional (`null`
/// when omitted); object data gets a `timestamp` unless it carries one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_to_everyone(
    hub: *const McrtHub,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (event, data) = unsafe {
            (
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
            )
        };
        Ok(hub.emit_to_everyone(event, &data)?)
    })
}
