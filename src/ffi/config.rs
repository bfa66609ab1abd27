//! The JSON the C ABI reads: the hub configuration of `mcrt_builder_new` and the server
//! configuration of `mcrt_serve` (both the core's one schema, [`crate::config`], which
//! Node and Python read too), the audit filter of `mcrt_hub_audit_query`, and
//! `mcrt_hub_config_normalize` / `mcrt_serve_config_normalize`, which show a
//! configuration as the library reads it. Unknown keys are refused so that a typo never
//! silently falls back to a default. This module must not call the hub. Guarded by
//! `test_config_schema` in `tests/c/test_ffi.c` and the unit tests of `crate::config`.

use std::ffi::c_char;

use serde::Deserialize;
use serde_json::Value;

use super::{FfiError, McrtStatus, args, entry};
pub(super) use crate::config::ServeConfig;
use crate::config::{ConfigError, HubConfig};
use crate::hooks::AuditKind;
use crate::hub::HubBuilder;
use crate::ids::{ModuleId, UserId};
use crate::persist::AuditFilter;

/// A `config_json` argument: NULL means `{}`.
///
/// # Safety
/// A non-null `json` must be readable for `len` bytes.
unsafe fn document(json: *const c_char, len: usize) -> Result<Value, FfiError> {
    let empty = Value::Object(serde_json::Map::new());
    // SAFETY: forwarded from the caller's contract.
    unsafe { args::json_or(json, len, "config_json", empty) }
}

fn refused(error: &ConfigError) -> FfiError {
    FfiError::invalid(format!("config_json: {error}"))
}

/// The builder `mcrt_builder_new` starts from.
pub(super) fn hub_builder(value: &Value) -> Result<HubBuilder, FfiError> {
    Ok(HubConfig::from_json(value)
        .map_err(|e| refused(&e))?
        .into_builder())
}

/// Checks `config_json` as `mcrt_builder_new` reads it and writes to `*out` the hub
/// configuration it describes, in canonical form: camelCase keys, durations in
/// milliseconds, every default filled in (`"{}"` shows the defaults). Aliases and
/// Python's forms (`device_grace` in seconds, `limits`, routes as a map) come out under
/// their canonical key. NULL `config_json` means `{}`. An unknown key, a wrong type or an
/// out-of-range value is `MCRT_STATUS_INVALID_ARGUMENT` with a message naming the key.
/// On success `*out` is a JSON string the caller frees with `mcrt_string_free`.
/// Thread: any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_hub_config_normalize(
    config_json: *const c_char,
    len: usize,
    out: *mut *mut c_char,
) -> McrtStatus {
    // SAFETY: forwarded from this function's own contract.
    unsafe { normalize(config_json, len, out, HubConfig::from_json) }
}

/// `mcrt_hub_config_normalize` for the server configuration of `mcrt_serve`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_serve_config_normalize(
    config_json: *const c_char,
    len: usize,
    out: *mut *mut c_char,
) -> McrtStatus {
    // SAFETY: forwarded from this function's own contract.
    unsafe { normalize(config_json, len, out, ServeConfig::from_json) }
}

/// Reads `config_json` with `parse` and writes its canonical JSON to `*out`.
///
/// # Safety
/// As the `mcrt_*_config_normalize` functions: `config_json` readable for `len` bytes
/// (or NULL), `out` writable.
unsafe fn normalize<C: serde::Serialize>(
    config_json: *const c_char,
    len: usize,
    out: *mut *mut c_char,
    parse: fn(&Value) -> Result<C, ConfigError>,
) -> McrtStatus {
    entry(|| {
        args::require(out, "out")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let value = unsafe { document(config_json, len)? };
        let config = parse(&value).map_err(|e| refused(&e))?;
        let text = serde_json::to_string(&config).map_err(|e| FfiError::invalid(e.to_string()))?;
        // SAFETY: `out` is non-null (checked) and writable per the caller's contract.
        unsafe { args::write_required(out, args::string_out(text), "out") }
    })
}

/// The audit filter JSON of `mcrt_hub_audit_query`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct AuditQuery {
    since: Option<u64>,
    until: Option<u64>,
    user_id: Option<Value>,
    module_id: Option<Value>,
    kind: Option<String>,
    after_id: Option<u64>,
    newest_first: bool,
    limit: usize,
}

impl AuditQuery {
    pub(super) fn into_filter(self) -> Result<AuditFilter, FfiError> {
        let kind = match self.kind.as_deref() {
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
        Ok(AuditFilter {
            since: self.since,
            until: self.until,
            user_id: self
                .user_id
                .map(|id| UserId::from_json(&id))
                .transpose()
                .map_err(|error| FfiError::invalid(format!("userId: {error}")))?,
            module_id: self
                .module_id
                .map(|id| ModuleId::from_json(&id))
                .transpose()
                .map_err(|error| FfiError::invalid(format!("moduleId: {error}")))?,
            kind,
            after_id: self.after_id,
            newest_first: self.newest_first,
            limit: self.limit,
            ..AuditFilter::default()
        })
    }
}

/// Parses `value` as the configuration type `T`, naming the argument in the error.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &str,
) -> Result<T, FfiError> {
    serde_json::from_value(value).map_err(|error| FfiError::invalid(format!("{what}: {error}")))
}
