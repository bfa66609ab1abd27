//! The seed's twelve emits (and `emit_to_user` / `emit_to_admins`) over the C ABI.
//! Every payload is UTF-8 JSON with an explicit length; ids that the seed gives as
//! numbers or strings (`userId`, `adminId`) cross as JSON values; module ids, session
//! ids, event names and messages as plain UTF-8. Optional JSON arguments (`info_json`,
//! `details_json`, `data_json`) may be NULL, meaning JSON `null` (no info, no details, no
//! data), as an omitted argument does in Rust, Python and Node. Each writes what happened
//! to an optional `McrtOutcome *out` (NULL: not wanted).
//!
//! Threads: any; frames for host connections are handed to the frame callback on the
//! calling thread before the emit returns. Not from inside a before-emit filter or the
//! frame/close callbacks (`MCRT_STATUS_REENTRANT`).
//!
//! This module must not decide anything: it converts arguments and calls the hub.

use std::ffi::c_char;

use serde_json::Value;

use super::{FfiError, McrtHub, McrtOutcome, McrtStatus, args, hub_entry};
use crate::hub::{EmitOutcome, Hub, IdArg};

fn emit(
    hub: *const McrtHub,
    out: *mut McrtOutcome,
    call: impl FnOnce(&Hub) -> Result<EmitOutcome, FfiError>,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        let outcome = call(&hub.hub)?;
        // SAFETY: a non-null `out` is writable per the caller's contract.
        unsafe { args::write_optional(out, outcome.into()) };
        Ok(())
    })
}

/// A module came online (seed: `emitModuleOnline(id, info)`); `info_json` is
/// `{"userId", "name"?, "type"?, …}` (`userId` required the first time a module is
/// seen), or NULL for none. Sends `module:status:changed` unless it was already online.
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

/// A module went offline (seed: `emitModuleOffline(id, info)`). Sends
/// `module:status:changed` unless it was already offline. `info_json` may be NULL.
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

/// A module was added (seed: `emitModuleAdded(module)`); `module_json` is the module
/// object (`id` or `moduleId`, `userId`, …). Sends `user:module:added` to the owner and
/// `admin:module:added` to admins, unless it was already added with the same fields.
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

/// A module was removed (seed: `emitModuleRemoved(module)`). Sends
/// `user:module:removed` and `admin:module:removed`, unless it was unknown.
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
/// Sends `module:telemetry:updated` to the owner's connections unless it is the same as
/// the last value.
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

/// A user logged in (seed: `emitUserLoggedIn(user, sessionId)`): registers the session
/// (its id is then that user's credential; the role comes from `role` or `userType` in
/// `user_json`) and sends `user:session:started` / `admin:user:logged_in`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_user_logged_in(
    hub: *const McrtHub,
    user_json: *const c_char,
    user_len: usize,
    session_id: *const c_char,
    session_id_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (user, session_id) = unsafe {
            (
                args::json(user_json, user_len, "user_json")?,
                args::text(session_id, session_id_len, "session_id")?,
            )
        };
        Ok(hub.emit_user_logged_in(&user, session_id)?)
    })
}

/// A user logged out (seed: `emitUserLoggedOut(user, sessionId)`): ends the session,
/// sends `user:session:ended` to its connections and then closes them (host connections
/// get the close callback), and `admin:user:logged_out` to admins.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_user_logged_out(
    hub: *const McrtHub,
    user_json: *const c_char,
    user_len: usize,
    session_id: *const c_char,
    session_id_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (user, session_id) = unsafe {
            (
                args::json(user_json, user_len, "user_json")?,
                args::text(session_id, session_id_len, "session_id")?,
            )
        };
        Ok(hub.emit_user_logged_out(&user, session_id)?)
    })
}

/// A profile changed (seed: `emitUserProfileUpdated(old, new)`). Sends
/// `user:profile:updated {changes}` only if a field changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_user_profile_updated(
    hub: *const McrtHub,
    old_json: *const c_char,
    old_len: usize,
    new_json: *const c_char,
    new_len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (old, new) = unsafe {
            (
                args::json(old_json, old_len, "old_json")?,
                args::json(new_json, new_len, "new_json")?,
            )
        };
        Ok(hub.emit_user_profile_updated(&old, &new)?)
    })
}

/// A user registered (seed: `emitUserRegistered(user)`). Sends `admin:user:registered`
/// unless that user was already announced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_user_registered(
    hub: *const McrtHub,
    user_json: *const c_char,
    len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: readable for `len` bytes per the caller's contract.
        let user = unsafe { args::json(user_json, len, "user_json")? };
        Ok(hub.emit_user_registered(&user)?)
    })
}

/// Asks the stats provider (`mcrt_builder_set_stats_provider`) for the stats (seed:
/// `await emitStatsUpdate()`) and sends `admin:stats:updated` if they differ from the
/// last sent. `MCRT_STATUS_NOT_CONFIGURED` without a provider.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_stats_update(
    hub: *const McrtHub,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| Ok(hub.emit_stats_update()?))
}

/// `mcrt_emit_stats_update` with the stats given (`stats_json`, a JSON object) instead
/// of asked from a provider.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_stats_update_with(
    hub: *const McrtHub,
    stats_json: *const c_char,
    len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: readable for `len` bytes per the caller's contract.
        let stats = unsafe { args::json(stats_json, len, "stats_json")? };
        Ok(hub.emit_stats_update_with(&stats)?)
    })
}

/// An administrator acted (seed: `emitAdminAction(adminId, action, details)`);
/// `admin_id_json` is a JSON number or string; `details_json` may be NULL (`null`).
/// Always sends `admin:action`.
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

/// Switches maintenance mode (seed: `emitMaintenanceMode(on, message, adminId)`). Sends
/// `system:maintenance` to every authenticated connection unless already in that state
/// with that message.
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

/// Sends the host's own event `event` (not in a reserved prefix: `auth:`, `page:`,
/// `system:`, `admin:`, `user:`, `module:`) with `data_json` to every connection of one
/// user (`user_id_json`, a JSON number or string); `data_json` may be NULL (`null`).
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

/// Sends the host's own event `event` with `data_json` to admin connections;
/// `data_json` may be NULL (`null`).
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
