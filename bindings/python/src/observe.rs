//! What `Hub.metrics()` and `Hub.audit()` return: the core's snapshot and audit rows as
//! plain JSON, plus the binding's own counters. This module must not call the hub.

use std::sync::atomic::Ordering;

use microcoaster_realtime::hooks::AuditKind;
use microcoaster_realtime::persist::AuditFilter;
use microcoaster_realtime::{MetricsSnapshot, ModuleId, UserId};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::outcome::{ToJsonValue, id_arg};

/// The metrics dict: every core counter, `bad_inputs` by kind (with the binding's
/// `python_argument`), and attach mode's `host_send_failures`.
pub fn metrics_value(snapshot: &MetricsSnapshot, host_send_failures: u64) -> Value {
    let mut value = serde_json::to_value(snapshot).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        let mut by_kind: Map<String, Value> = snapshot
            .bad_inputs
            .iter()
            .map(|(kind, count)| {
                let name = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (name, Value::from(*count))
            })
            .collect();
        by_kind.insert(
            "python_argument".into(),
            Value::from(crate::json::BAD_ARGUMENTS.load(Ordering::Relaxed)),
        );
        object.insert("bad_inputs".into(), Value::Object(by_kind));
        object.insert("host_send_failures".into(), Value::from(host_send_failures));
    }
    value
}

/// The audit filter from `Hub.audit`'s keyword arguments.
#[allow(clippy::too_many_arguments)]
pub fn audit_filter(
    since: Option<u64>,
    until: Option<u64>,
    user_id: Option<&Bound<'_, PyAny>>,
    module_id: Option<&str>,
    kind: Option<&str>,
    after_id: Option<u64>,
    newest_first: bool,
    limit: usize,
) -> PyResult<AuditFilter> {
    let user_id = match user_id {
        Some(id) => Some(
            UserId::from_json(&id_arg(id, "user_id")?.to_json_value())
                .map_err(|e| PyValueError::new_err(format!("user_id: {e}")))?,
        ),
        None => None,
    };
    let module_id = module_id
        .map(ModuleId::new)
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("module_id: {e}")))?;
    let kind = match kind {
        None => None,
        Some("emit") => Some(AuditKind::Emit),
        Some("auth") => Some(AuditKind::Auth),
        Some("close") => Some(AuditKind::Close),
        Some("bad_input") => Some(AuditKind::BadInput),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "kind {other:?}: expected emit, auth, close or bad_input"
            )));
        }
    };
    Ok(AuditFilter {
        since,
        until,
        user_id,
        module_id,
        kind,
        after_id,
        newest_first,
        limit,
        ..AuditFilter::default()
    })
}
