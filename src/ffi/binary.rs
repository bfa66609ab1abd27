//! Binary values across the C ABI: [`McrtBytes`] (a pointer and a length), the binary
//! host emits, and how a binary client event reaches the client-event handlers (its
//! JSON keeps Socket.IO's placeholders; the values come as bytes to the binary handler,
//! `mcrt_builder_set_binary_client_event_handler`, and as base64 `"attachments"` to the
//! plain one).
//!
//! This module must not keep a pointer past the call that received it: every
//! attachment is copied before the call returns. Guarded by `tests/c/test_ffi.c`
//! (binary emits and NULL/length checks) and `tests/c/test_host.c` (binary client
//! events).

use std::ffi::c_char;

use bytes::Bytes;
use serde_json::Value;

use super::{FfiError, McrtHub, McrtOutcome, McrtStatus, args, emit::emit};
use crate::hub::IdArg;

/// One binary value: `len` bytes at `data` (`data` may be NULL only when `len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct McrtBytes {
    /// The first byte.
    pub data: *const u8,
    /// How many bytes.
    pub len: usize,
}

/// Copies `count` values from `attachments` (NULL only when `count` is 0).
///
/// # Safety
/// A non-null `attachments` must be readable for `count` elements, each `data` for its
/// `len` bytes.
pub(super) unsafe fn attachments(
    attachments: *const McrtBytes,
    count: usize,
) -> Result<Vec<Bytes>, FfiError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if attachments.is_null() {
        return Err(FfiError::invalid(
            "attachments is NULL with a non-zero count".to_owned(),
        ));
    }
    // SAFETY: non-null (checked) and readable for `count` elements per the contract.
    let list = unsafe { std::slice::from_raw_parts(attachments, count) };
    list.iter()
        .enumerate()
        .map(|(index, value)| {
            if value.len == 0 {
                return Ok(Bytes::new());
            }
            // SAFETY: `data` is readable for `len` bytes per the contract; `bytes`
            // checks NULL and the length.
            let data = unsafe {
                args::bytes(
                    value.data.cast::<c_char>(),
                    value.len,
                    "attachments[i].data",
                )
            }
            .map_err(|_| FfiError::invalid(format!("attachments[{index}].data is NULL")))?;
            Ok(Bytes::copy_from_slice(data))
        })
        .collect()
}

/// `mcrt_emit_to_user` with binary values: `data_json` holds a placeholder
/// `{"_placeholder":true,"num":N}` where `attachments[N]` belongs. Socket.IO clients
/// receive the values as binary (a `Buffer` in socket.io-client, `bytes` in
/// python-socketio); native clients as base64 in the frame's `attachments`. A
/// placeholder past `count` is refused (`invalid_argument`). The values are copied
/// before this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_binary_to_user(
    hub: *const McrtHub,
    user_id_json: *const c_char,
    user_id_len: usize,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    attachments: *const McrtBytes,
    count: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (user_id, event, data, values) = unsafe {
            (
                args::json(user_id_json, user_id_len, "user_id_json")?,
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
                self::attachments(attachments, count)?,
            )
        };
        Ok(hub.emit_binary_to_user(IdArg::Json(user_id), event, &data, values)?)
    })
}

/// `mcrt_emit_to_admins` with binary values, as `mcrt_emit_binary_to_user`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_binary_to_admins(
    hub: *const McrtHub,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    attachments: *const McrtBytes,
    count: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (event, data, values) = unsafe {
            (
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
                self::attachments(attachments, count)?,
            )
        };
        Ok(hub.emit_binary_to_admins(event, &data, values)?)
    })
}

/// `mcrt_emit_to_everyone` with binary values, as `mcrt_emit_binary_to_user`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_binary_to_everyone(
    hub: *const McrtHub,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    attachments: *const McrtBytes,
    count: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    emit(hub, out, |hub| {
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (event, data, values) = unsafe {
            (
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
                self::attachments(attachments, count)?,
            )
        };
        Ok(hub.emit_binary_to_everyone(event, &data, values)?)
    })
}
