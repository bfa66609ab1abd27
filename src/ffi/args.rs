//! Reading C arguments into Rust values and writing results back: the pointer checks
//! every entry point shares. Each function turns NULL, invalid UTF-8 and invalid JSON
//! into an [`FfiError`] naming the argument. This module must not call the hub.

use std::ffi::{CString, c_char};

use serde_json::Value;

use super::{FfiError, McrtHub, McrtStatus};

/// The bytes of a `(pointer, length)` argument named `what`.
///
/// # Safety
/// A non-null `ptr` must be valid for reads of `len` bytes for the returned lifetime.
pub(super) unsafe fn bytes<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a [u8], FfiError> {
    if ptr.is_null() {
        return Err(null(what));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::invalid(format!(
            "{what}: length {len} is too large"
        )));
    }
    // SAFETY: non-null (checked), and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// A UTF-8 string argument.
///
/// # Safety
/// As [`bytes`].
pub(super) unsafe fn text<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, FfiError> {
    // SAFETY: forwarded from the caller's contract.
    let bytes = unsafe { bytes(ptr, len, what)? };
    std::str::from_utf8(bytes).map_err(|error| {
        FfiError::new(
            McrtStatus::InvalidUtf8,
            "invalid_utf8",
            format!("{what} is not valid UTF-8: {error}"),
        )
    })
}

/// A JSON argument, parsed.
///
/// # Safety
/// As [`bytes`].
pub(super) unsafe fn json(ptr: *const c_char, len: usize, what: &str) -> Result<Value, FfiError> {
    // SAFETY: forwarded from the caller's contract.
    let text = unsafe { text(ptr, len, what)? };
    serde_json::from_str(text).map_err(|error| {
        FfiError::new(
            McrtStatus::InvalidJson,
            "invalid_json",
            format!("{what} is not valid JSON: {error}"),
        )
    })
}

/// An optional JSON argument: NULL means `default`.
///
/// # Safety
/// As [`bytes`].
pub(super) unsafe fn json_or(
    ptr: *const c_char,
    len: usize,
    what: &str,
    default: Value,
) -> Result<Value, FfiError> {
    if ptr.is_null() {
        return Ok(default);
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { json(ptr, len, what) }
}

/// The hub behind a handle.
///
/// # Safety
/// A non-null `hub` must come from `mcrt_hub_new`/`mcrt_builder_build` and not be freed.
pub(super) unsafe fn hub<'a>(hub: *const McrtHub) -> Result<&'a McrtHub, FfiError> {
    // SAFETY: the caller's contract; `as_ref` handles NULL.
    unsafe { hub.as_ref() }.ok_or_else(|| null("hub"))
}

/// Writes `value` through an optional out-parameter (NULL: the caller does not want it).
///
/// # Safety
/// A non-null `out` must be valid for a write of `T`.
pub(super) unsafe fn write_optional<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-null and writable per the caller's contract.
        unsafe { out.write(value) };
    }
}

/// Writes `value` through a required out-parameter.
///
/// # Safety
/// As [`write_optional`].
pub(super) unsafe fn write_required<T>(out: *mut T, value: T, what: &str) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and writable per the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks a required out-parameter before any work is done, so a call that would fail
/// on it changes nothing.
pub(super) fn require<T>(out: *mut T, what: &str) -> Result<(), FfiError> {
    if out.is_null() {
        Err(null(what))
    } else {
        Ok(())
    }
}

/// A string the caller frees with `mcrt_string_free`. JSON and the library's own text
/// never contain NUL; one that did is cut there rather than failing.
pub(super) fn string_out(text: String) -> *mut c_char {
    let bytes = match text.find('\0') {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    CString::new(bytes).unwrap_or_default().into_raw()
}

/// The error for a NULL argument named `what`.
pub(super) fn null(what: &str) -> FfiError {
    FfiError::new(
        McrtStatus::NullPointer,
        "null_pointer",
        format!("{what} is NULL"),
    )
}
