//! `Hub(config)` and `Hub.serve(**options)` over the core's one configuration schema
//! (`microcoaster_realtime::config`, shared with C and Node). This file is the one place
//! a Python configuration becomes the schema's JSON, and it only does what Python alone
//! needs:
//! - the hooks (`authenticator`, `on_client_event`, `stats_provider`, `before_emit`,
//!   `audit_sink`) are callables: they are taken out and installed on the builder;
//! - `jwt_secret` given as `bytes` crosses as an array of bytes, and `persist["path"]`
//!   given as an `os.PathLike` as its `str`;
//! - every other key and value crosses as JSON, unchanged. Python's forms are documented
//!   aliases in the core (snake_case keys, the nested `limits`, `routes` as a dict
//!   `event → {users, admins}`, `device_grace` / `ping_interval` / `ping_timeout` /
//!   `auth_deadline` in seconds as floats), which owns the defaults, refuses unknown keys
//!   and validates values, naming the key.
//!
//! A wrong type is a `TypeError`, anything else a `ValueError`. This module must not
//! build or start anything. Guarded by `tests/test_config.py` and, for the keyword form,
//! `tests/test_idiom.py`.

use std::path::PathBuf;

use microcoaster_realtime::{ConfigError, HubBuilder, HubConfig, ServeConfig};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use serde_json::{Map, Value};

use crate::hooks::{PyAudit, PyAuthenticator, PyBeforeEmit, PyClientEvents, PyHook, PyStats};
use crate::json::{to_json, to_py};

/// The config keys that hold callables: Python's own, never seen by the core.
pub const HOOKS: &[&str] = &[
    "authenticator",
    "on_client_event",
    "stats_provider",
    "before_emit",
    "audit_sink",
];

fn refused(what: &str, error: &ConfigError) -> PyErr {
    let message = format!("{what}: {error}");
    match error {
        ConfigError::WrongType { .. } => PyTypeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// The hook callables of a config dict, by key, in the dict's order.
type Hooks<'py> = Vec<(String, Bound<'py, PyAny>)>;

/// `Hub(config, **options)` as one config: the keywords, the dict, or both when no key is
/// given twice (a `TypeError` naming it).
pub fn with_keywords<'py>(
    config: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(options) = options.filter(|o| !o.is_empty()) else {
        return Ok(config.cloned());
    };
    let merged = PyDict::new(options.py());
    if let Some(config) = config.filter(|c| !c.is_none()) {
        let config = config
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("config: expected a dict"))?;
        merged.update(config.as_mapping())?;
    }
    for (key, value) in options.iter() {
        if merged.contains(&key)? {
            return Err(PyTypeError::new_err(format!(
                "Hub(): {key} given both in the config dict and as a keyword"
            )));
        }
        merged.set_item(key, value)?;
    }
    Ok(Some(merged.into_any()))
}

/// `config` split into the schema's JSON and the hook callables.
fn split<'py>(config: Option<&Bound<'py, PyAny>>) -> PyResult<(Value, Hooks<'py>)> {
    let mut core = Map::new();
    let mut hooks = Vec::new();
    let Some(config) = config.filter(|c| !c.is_none()) else {
        return Ok((Value::Object(core), hooks));
    };
    let config = config
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("config: expected a dict"))?;
    for (key, value) in config.iter() {
        let key: String = key
            .extract()
            .map_err(|_| PyTypeError::new_err("config: keys must be str"))?;
        let what = format!("config[{key:?}]");
        let json = match key.as_str() {
            hook if HOOKS.contains(&hook) => {
                hooks.push((key, value));
                continue;
            }
            "jwt_secret" if value.is_instance_of::<PyBytes>() => {
                Value::from(value.cast::<PyBytes>()?.as_bytes().to_vec())
            }
            "persist" => persist(&value, &what)?,
            _ => to_json(&value, &what)?,
        };
        core.insert(key, json);
    }
    Ok((Value::Object(core), hooks))
}

/// `persist` with an `os.PathLike` path as its `str`; the core checks the rest.
fn persist(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let Ok(section) = value.cast::<PyDict>() else {
        return to_json(value, what);
    };
    let mut out = Map::new();
    for (key, item) in section.iter() {
        let key: String = key
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("{what}: keys must be str")))?;
        let is_path = key == "path" && !item.is_instance_of::<PyString>();
        let json = match item.extract::<PathBuf>() {
            Ok(path) if is_path => {
                Value::from(path.into_os_string().into_string().map_err(|_| {
                    PyValueError::new_err(format!("{what}[\"path\"]: not valid UTF-8"))
                })?)
            }
            _ => to_json(&item, &format!("{what}[{key:?}]"))?,
        };
        out.insert(key, json);
    }
    Ok(Value::Object(out))
}

fn hooks<'py>(value: &Bound<'py, PyAny>) -> Vec<Bound<'py, PyAny>> {
    match value.extract::<Vec<Bound<'py, PyAny>>>() {
        Ok(list) if !value.is_callable() => list,
        _ => vec![value.clone()],
    }
}

/// Reads `config` into a builder; the slot of every hook callable goes into `slots` (see
/// `gc.rs`).
pub fn builder(
    config: Option<&Bound<'_, PyAny>>,
    slots: &mut Vec<crate::gc::Slot>,
) -> PyResult<HubBuilder> {
    let (core, found) = split(config)?;
    let mut builder = HubConfig::from_json(&core)
        .map_err(|e| refused("config", &e))?
        .into_builder();
    for (key, hook) in found {
        builder = match key.as_str() {
            "authenticator" => hooks(&hook).iter().try_fold(builder, |b, h| {
                let hook = PyHook::new("authenticator", h, slots)?;
                PyResult::Ok(b.authenticator(PyAuthenticator(hook)))
            })?,
            "on_client_event" => builder.on_client_event(PyClientEvents(PyHook::new(
                "on_client_event",
                &hook,
                slots,
            )?)),
            "stats_provider" => {
                builder.stats_provider(PyStats(PyHook::new("stats_provider", &hook, slots)?))
            }
            "before_emit" => hooks(&hook).iter().try_fold(builder, |b, h| {
                let hook = PyHook::new("before_emit", h, slots)?;
                PyResult::Ok(b.before_emit(PyBeforeEmit(hook)))
            })?,
            _ => hooks(&hook).iter().try_fold(builder, |b, h| {
                let hook = PyHook::new("audit_sink", h, slots)?;
                PyResult::Ok(b.audit_sink(PyAudit(hook)))
            })?,
        };
    }
    Ok(builder)
}

/// The server configuration of `Hub.serve`'s keyword arguments (`None`: not given).
pub fn serve_config(options: &Bound<'_, PyDict>) -> PyResult<ServeConfig> {
    let mut core = Map::new();
    for (key, value) in options.iter() {
        if value.is_none() {
            continue;
        }
        let key: String = key.extract()?;
        let json = to_json(&value, &key)?;
        core.insert(key, json);
    }
    ServeConfig::from_json(&Value::Object(core)).map_err(|e| refused("serve", &e))
}

/// `normalize_config(config=None)`: the configuration `Hub(config)` would use, as the
/// core reads it (camelCase keys, milliseconds, every default filled in; the hooks are
/// left out). Raises as `Hub(config)` would on an unknown key or a bad value.
#[pyfunction]
#[pyo3(signature = (config = None))]
pub fn normalize_config<'py>(
    py: Python<'py>,
    config: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (core, _hooks) = split(config)?;
    let config = HubConfig::from_json(&core).map_err(|e| refused("config", &e))?;
    let json = serde_json::to_value(&config).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_py(py, &json)
}

/// `normalize_serve_config(**options)`: the server configuration `Hub.serve(**options)`
/// would use, as the core reads it.
#[pyfunction]
#[pyo3(signature = (**options))]
pub fn normalize_serve_config<'py>(
    py: Python<'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let empty = PyDict::new(py);
    let config = serve_config(options.unwrap_or(&empty))?;
    let json = serde_json::to_value(&config).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_py(py, &json)
}
