//! The seed's twelve emits (and `emit_to_user` / `emit_to_admins` / `emit_to_everyone`)
//! over the C ABI.
//! Every payload is UTF-8 JSON with an explicit length; ids that the seed gives as
//! numbers or strings (`userId`, `adminId`) cross as JSON values; module ids, session
//! ids, event names and messages as plain UTF-8. Optional JSON arguments (`info_json`,
//! `details_json`, `data_json`) may be NULL, meaning JSON `null` (no info, no details, no
//! data), as an omitted argument does in Rust, Python and Node. Each writes what happened
//! to an optional `McrtOutcome *out` (NULL: not wanted). Each function's doc is the
//! call's one doc (`docs/calls/<call>.md`, written here by `scripts/call-docs`): its
//! argument `x` is the parameter `x_json` (or `x`) of the function.
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

pub(super) fn emit(
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

/// A user logged in with a session (seed: `emitUserLoggedIn(user, sessionId)`). `user` has
/// `id` or `userId`, `role` or `userType` (default `user`) and profile fields.
///
/// Registers the session for the session authenticator (the session id is then a
/// credential), then sends `user:session:started` to the user's connections of other
/// sessions and `admin:user:logged_in` to admins. The same session logging in twice is
/// `unchanged`.
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

/// A session logged out (seed: `emitUserLoggedOut(user, sessionId)`).
///
/// Sends `user:session:ended` to that session's connections, then closes them (reason
/// `logged_out`), on every node, and sends `admin:user:logged_out` to admins. The session
/// id is refused by both built-in authenticators afterwards. A session that is neither
/// logged in nor connected is `unchanged`.
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

/// A user's profile changed (seed: `emitUserProfileUpdated(old, new)`).
///
/// Sends `user:profile:updated {userId, changes}` to the user's connections with only the
/// fields that differ from the stored profile (or from `old` the first time); `unchanged`
/// when none differs.
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

/// A new account (seed: `emitUserRegistered(user)`). `user` has `id` or `userId`.
///
/// Sends `admin:user:registered {user}` to admins on `admin`, unless that user was already
/// registered (`unchanged`).
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
