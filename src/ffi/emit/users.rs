//! The user and session calls over the C ABI: `user_logged_in`, `user_logged_out`,
//! `user_profile_updated` and `user_registered` (each doc from `docs/calls/<call>.md`,
//! written by `scripts/call-docs`). This module must not decide anything: it converts
//! arguments and calls the hub. Guarded by `tests/c/test_ffi.c`.

use std::ffi::c_char;

use super::emit;
use crate::ffi::{McrtHub, McrtOutcome, McrtStatus, args};

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
