//! Reading a hub over the C ABI: its counters and its audit log, as JSON strings the
//! caller frees. This module must not change anything.

use std::ffi::c_char;

use serde_json::Value;

use super::config::{AuditQuery, parse};
use super::{FfiError, McrtHub, McrtStatus, args, ffi_metrics, hub_entry};

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
        let filter = parse::<AuditQuery>(value, "filter_json")?.into_filter()?;
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
