//! `Hub(config)`: reads the configuration dict into a `HubBuilder`. Unknown keys are
//! refused (a typo must not silently drop a security setting such as `jwt_secret`).
//! This module must not build or start anything.

use std::time::Duration;

use microcoaster_realtime::{Durability, HubBuilder};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::hooks::{PyAudit, PyAuthenticator, PyBeforeEmit, PyClientEvents, PyHook, PyStats};

/// Every key `Hub(config)` accepts.
pub const KEYS: &[&str] = &[
    "jwt_secret",
    "pages",
    "routes",
    "limits",
    "device_grace",
    "persist",
    "authenticator",
    "on_client_event",
    "stats_provider",
    "before_emit",
    "audit_sink",
];

fn seconds(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let secs: f64 = value
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{what}: expected seconds as a number")))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| PyValueError::new_err(format!("{what}: {secs} is not a duration in seconds")))
}

fn strings(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected a list of str, got a str"
        )));
    }
    value
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{what}: expected a list of str")))
}

fn dict<'py>(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyDict>> {
    value
        .cast::<PyDict>()
        .cloned()
        .map_err(|_| PyTypeError::new_err(format!("{what}: expected a dict")))
}

fn check_keys(dict: &Bound<'_, PyDict>, allowed: &[&str], what: &str) -> PyResult<()> {
    for key in dict.keys() {
        let name: String = key
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("{what}: keys must be str")))?;
        if !allowed.contains(&name.as_str()) {
            return Err(PyValueError::new_err(format!(
                "{what}: unknown key {name:?}; expected one of {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn hooks<'py>(value: &Bound<'py, PyAny>) -> Vec<Bound<'py, PyAny>> {
    match value.extract::<Vec<Bound<'py, PyAny>>>() {
        Ok(list) if !value.is_callable() => list,
        _ => vec![value.clone()],
    }
}

/// Applies `config` to a fresh builder.
/// Reads `config`; the slot of every hook callable goes into `slots` (see `gc.rs`).
pub fn builder(
    config: Option<&Bound<'_, PyAny>>,
    slots: &mut Vec<crate::gc::Slot>,
) -> PyResult<HubBuilder> {
    let mut builder = microcoaster_realtime::Hub::builder();
    let Some(config) = config.filter(|c| !c.is_none()) else {
        return Ok(builder);
    };
    let config = dict(config, "config")?;
    check_keys(&config, KEYS, "config")?;
    if let Some(secret) = config.get_item("jwt_secret")? {
        if let Ok(bytes) = secret.cast::<PyBytes>() {
            builder = builder.jwt_secret(bytes.as_bytes());
        } else {
            let text: String = secret.extract().map_err(|_| {
                PyTypeError::new_err("config[\"jwt_secret\"]: expected str or bytes")
            })?;
            if text.is_empty() {
                return Err(PyValueError::new_err(
                    "config[\"jwt_secret\"] must not be empty",
                ));
            }
            builder = builder.jwt_secret(text.as_bytes());
        }
    }
    if let Some(pages) = config.get_item("pages")? {
        builder = builder.pages(&strings(&pages, "config[\"pages\"]")?);
    }
    if let Some(routes) = config.get_item("routes")? {
        for (event, route) in dict(&routes, "config[\"routes\"]")?.iter() {
            let event: String = event.extract()?;
            let what = format!("config[\"routes\"][{event:?}]");
            let route = dict(&route, &what)?;
            check_keys(&route, &["users", "admins"], &what)?;
            let pages = |key: &str| -> PyResult<Vec<String>> {
                route
                    .get_item(key)?
                    .map_or(Ok(Vec::new()), |v| strings(&v, &format!("{what}[{key:?}]")))
            };
            let (users, admins) = (pages("users")?, pages("admins")?);
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let admins: Vec<&str> = admins.iter().map(String::as_str).collect();
            builder = builder.route(&event, &users, &admins);
        }
    }
    if let Some(limits) = config.get_item("limits")? {
        let limits = dict(&limits, "config[\"limits\"]")?;
        let keys = ["queue_capacity", "max_auth_failures", "max_message_bytes"];
        check_keys(&limits, &keys, "config[\"limits\"]")?;
        let number = |key: &str| -> PyResult<Option<u64>> {
            limits.get_item(key)?.map_or(Ok(None), |v| {
                v.extract().map(Some).map_err(|_| {
                    PyTypeError::new_err(format!(
                        "config[\"limits\"][{key:?}]: expected an int >= 0"
                    ))
                })
            })
        };
        if let Some(n) = number("queue_capacity")? {
            builder = builder.queue_capacity(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(n) = number("max_auth_failures")? {
            builder = builder.max_auth_failures(u32::try_from(n).unwrap_or(u32::MAX));
        }
        if let Some(n) = number("max_message_bytes")? {
            builder = builder.max_message_bytes(usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
    if let Some(grace) = config.get_item("device_grace")? {
        builder = builder.device_offline_grace(seconds(&grace, "config[\"device_grace\"]")?);
    }
    if let Some(persist) = config.get_item("persist")? {
        let persist = dict(&persist, "config[\"persist\"]")?;
        check_keys(&persist, &["path", "durability"], "config[\"persist\"]")?;
        let path: std::path::PathBuf = persist
            .get_item("path")?
            .ok_or_else(|| PyValueError::new_err("config[\"persist\"] needs \"path\""))?
            .extract()
            .map_err(|_| {
                PyTypeError::new_err("config[\"persist\"][\"path\"]: expected str or os.PathLike")
            })?;
        let durability = match persist.get_item("durability")? {
            None => Durability::Batched,
            Some(mode) => match mode.extract::<String>().as_deref() {
                Ok("off") => Durability::Off,
                Ok("batched") => Durability::Batched,
                Ok("sync") => Durability::Sync,
                _ => {
                    return Err(PyValueError::new_err(
                        "config[\"persist\"][\"durability\"]: expected \"off\", \"batched\" or \"sync\"",
                    ));
                }
            },
        };
        builder = builder.persist(path, durability);
    }
    if let Some(hook) = config.get_item("authenticator")? {
        for hook in hooks(&hook) {
            builder =
                builder.authenticator(PyAuthenticator(PyHook::new("authenticator", &hook, slots)?));
        }
    }
    if let Some(hook) = config.get_item("on_client_event")? {
        builder = builder.on_client_event(PyClientEvents(PyHook::new(
            "on_client_event",
            &hook,
            slots,
        )?));
    }
    if let Some(hook) = config.get_item("stats_provider")? {
        builder = builder.stats_provider(PyStats(PyHook::new("stats_provider", &hook, slots)?));
    }
    if let Some(hook) = config.get_item("before_emit")? {
        for hook in hooks(&hook) {
            builder = builder.before_emit(PyBeforeEmit(PyHook::new("before_emit", &hook, slots)?));
        }
    }
    if let Some(hook) = config.get_item("audit_sink")? {
        for hook in hooks(&hook) {
            builder = builder.audit_sink(PyAudit(PyHook::new("audit_sink", &hook, slots)?));
        }
    }
    Ok(builder)
}
