//! `Hub.emit_*`: the twelve snake_case emits of DESIGN §5 plus `emit_to_user`,
//! `emit_to_admins` and `emit_to_everyone`, each documented by its call's one doc
//! (`docs/calls/<call>.md`). Each converts its arguments, then runs the call with the
//! GIL released (the parent module's invariant, guarded by `tests/test_threads.py`); it
//! must not route, encode or decide change.

use std::borrow::Cow;

use microcoaster_realtime::HostCall;
use microcoaster_realtime::call::{ToAdmins, ToEveryone, ToUser};
use pyo3::prelude::*;
use serde_json::Value;

use super::PyHub;
use crate::json::{flag, text, to_json, to_json_object};
use crate::outcome::{Outcome, id_arg, optional_json, optional_object};

#[pymethods]
impl PyHub {
    #[doc = include_str!("../../../../docs/calls/module_online.md")]
    #[pyo3(signature = (module_id, info = None))]
    fn emit_module_online(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let info = optional_object(info, "info")?;
        self.call(py, |hub| hub.emit_module_online(&module_id, info.as_ref()))
    }

    #[doc = include_str!("../../../../docs/calls/module_offline.md")]
    #[pyo3(signature = (module_id, info = None))]
    fn emit_module_offline(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let info = optional_object(info, "info")?;
        self.call(py, |hub| hub.emit_module_offline(&module_id, info.as_ref()))
    }

    #[doc = include_str!("../../../../docs/calls/module_added.md")]
    fn emit_module_added(&self, py: Python<'_>, module: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let module = to_json_object(module, "module")?;
        self.call(py, |hub| hub.emit_module_added(&module))
    }

    #[doc = include_str!("../../../../docs/calls/module_removed.md")]
    fn emit_module_removed(&self, py: Python<'_>, module: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let module = to_json_object(module, "module")?;
        self.call(py, |hub| hub.emit_module_removed(&module))
    }

    #[doc = include_str!("../../../../docs/calls/telemetry_update.md")]
    fn emit_telemetry_update(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] module_id: String,
        telemetry: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let telemetry = to_json(telemetry, "telemetry")?;
        self.call(py, |hub| hub.emit_telemetry_update(&module_id, &telemetry))
    }

    #[doc = include_str!("../../../../docs/calls/user_logged_in.md")]
    fn emit_user_logged_in(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] session_id: String,
    ) -> PyResult<Outcome> {
        let user = to_json_object(user, "user")?;
        self.call(py, |hub| hub.emit_user_logged_in(&user, &session_id))
    }

    #[doc = include_str!("../../../../docs/calls/user_logged_out.md")]
    fn emit_user_logged_out(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] session_id: String,
    ) -> PyResult<Outcome> {
        let user = to_json_object(user, "user")?;
        self.call(py, |hub| hub.emit_user_logged_out(&user, &session_id))
    }

    #[doc = include_str!("../../../../docs/calls/user_profile_updated.md")]
    fn emit_user_profile_updated(
        &self,
        py: Python<'_>,
        old: &Bound<'_, PyAny>,
        new: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let old = to_json_object(old, "old")?;
        let new = to_json_object(new, "new")?;
        self.call(py, |hub| hub.emit_user_profile_updated(&old, &new))
    }

    #[doc = include_str!("../../../../docs/calls/user_registered.md")]
    fn emit_user_registered(&self, py: Python<'_>, user: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let user = to_json_object(user, "user")?;
        self.call(py, |hub| hub.emit_user_registered(&user))
    }

    #[doc = include_str!("../../../../docs/calls/stats_update.md")]
    #[pyo3(signature = (stats = None))]
    fn emit_stats_update(
        &self,
        py: Python<'_>,
        stats: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let stats = match stats.filter(|s| !s.is_none()) {
            Some(stats) => Some(to_json_object(stats, "stats")?),
            None => None,
        };
        self.call(py, |hub| hub.emit_stats_update(stats.as_ref()))
    }

    #[doc = include_str!("../../../../docs/calls/admin_action.md")]
    #[pyo3(signature = (admin_id, action, details = None))]
    fn emit_admin_action(
        &self,
        py: Python<'_>,
        admin_id: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] action: String,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let admin = id_arg(admin_id, "admin_id")?;
        let details = optional_json(details, "details")?;
        self.call(py, |hub| {
            hub.emit_admin_action(admin, &action, details.as_ref())
        })
    }

    #[doc = include_str!("../../../../docs/calls/maintenance_mode.md")]
    fn emit_maintenance_mode(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = flag)] enabled: bool,
        #[pyo3(from_py_with = text)] message: String,
        admin_id: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let admin = id_arg(admin_id, "admin_id")?;
        self.call(py, |hub| {
            hub.emit_maintenance_mode(enabled, &message, admin)
        })
    }

    #[doc = include_str!("../../../../docs/calls/to_user.md")]
    #[pyo3(signature = (user_id, event, data = None))]
    fn emit_to_user(
        &self,
        py: Python<'_>,
        user_id: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = text)] event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let user_id = id_arg(user_id, "user_id")?;
        let (data, attachments) = host_payload(data)?;
        let call = HostCall::ToUser(ToUser {
            user_id,
            event: event.into(),
            data,
            attachments,
        });
        self.run(py, call)
    }

    #[doc = include_str!("../../../../docs/calls/to_admins.md")]
    #[pyo3(signature = (event, data = None))]
    fn emit_to_admins(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let (data, attachments) = host_payload(data)?;
        let call = HostCall::ToAdmins(ToAdmins {
            event: event.into(),
            data,
            attachments,
        });
        self.run(py, call)
    }

    #[doc = include_str!("../../../../docs/calls/to_everyone.md")]
    #[pyo3(signature = (event, data = None))]
    fn emit_to_everyone(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = text)] event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let (data, attachments) = host_payload(data)?;
        let call = HostCall::ToEveryone(ToEveryone {
            event: event.into(),
            data,
            attachments,
        });
        self.run(py, call)
    }
}

/// A host event's payload, which may hold `bytes` values: JSON with placeholders and
/// the attachments they stand for (`None` is JSON `null`, as an omitted argument is in
/// every binding).
fn host_payload(
    data: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Cow<'static, Value>, Vec<bytes::Bytes>)> {
    match data {
        Some(data) if !data.is_none() => {
            let (json, attachments) = crate::json::to_json_binary(data, "data")?;
            Ok((Cow::Owned(json), attachments))
        }
        _ => Ok((Cow::Owned(Value::Null), Vec::new())),
    }
}
