//! Python callables as the core's hooks (DESIGN §6): authenticator, client-event
//! handler, stats provider, before-emit filter, audit sink.
//!
//! Every hook runs on a library thread or on the thread of the call that caused it (see
//! each `Hub` config key's docstring in `_native.pyi`) and takes the GIL for the call
//! only. Invariant: an exception raised by a hook (or a return value of the wrong
//! shape) is logged on the `microcoaster_realtime` logger with its traceback, then
//! re-raised into the core as an unwinding panic *without* the panic hook
//! (`resume_unwind`), so the core's `guarded` counts it in `hook_panics` and applies its
//! usual fallback (refuse the authentication, drop the event, skip the record); the hub
//! keeps serving. Guarded by `tests/test_hooks.py::test_exceptions_in_every_hook_are_counted_and_the_hub_keeps_serving`.
//! The GIL is never held while waiting for a hub lock: every call into the hub from
//! Python releases it first, so a hook that waits for the GIL under the emit lock
//! cannot deadlock. This module must not decide routing or authentication itself.

use microcoaster_realtime::auth::{AuthDecision, AuthError, AuthRequest, HandshakeContext};
use microcoaster_realtime::event::Audience;
use microcoaster_realtime::{
    AckAnswer, AuditRecord, AuditSink, Authenticator, BeforeEmit, ClientEvent, ClientEventHandler,
    Identity, ModuleId, Role, SessionId, StatsProvider, UserId, Verdict,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde_json::Value;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::gc::Slot;
use crate::json::{to_json, to_py, to_py_binary};

/// One Python callable and the hook name it is logged under. The callable sits in a
/// slot the hub reports to the garbage collector and empties when it is let go
/// (`gc.rs`).
pub struct PyHook {
    name: &'static str,
    callable: Slot,
}

impl PyHook {
    /// Wraps `callable`, which must be callable (checked here, at configuration time),
    /// and adds its slot to `slots`.
    pub fn new(
        name: &'static str,
        callable: &Bound<'_, PyAny>,
        slots: &mut Vec<Slot>,
    ) -> PyResult<Self> {
        if !callable.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "config[{name:?}] must be callable, got {}",
                callable.get_type().name()?
            )));
        }
        let slot: Slot = Arc::new(Mutex::new(Some(callable.clone().unbind())));
        slots.push(Arc::clone(&slot));
        Ok(Self {
            name,
            callable: slot,
        })
    }

    /// Calls the hook with the GIL; an exception is logged and becomes a silent
    /// unwinding panic for the core's `guarded` to count.
    fn call<R>(
        &self,
        body: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>) -> PyResult<R>,
    ) -> R {
        let outcome = Python::attach(|py| {
            // The slot is only locked with the GIL held, so this never waits.
            let Some(callable) = self.callable.lock().as_ref().map(|c| c.clone_ref(py)) else {
                return Err(format!("{} hook was released with its hub", self.name));
            };
            body(py, callable.bind(py)).map_err(|error| {
                log_hook_error(py, self.name, &error);
                format!("{} hook raised {error}", self.name)
            })
        });
        match outcome {
            Ok(value) => value,
            Err(message) => std::panic::resume_unwind(Box::new(message)),
        }
    }
}

/// Logs a hook's exception with its traceback on the `microcoaster_realtime` logger.
pub fn log_hook_error(py: Python<'_>, hook: &str, error: &PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("microcoaster_realtime",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", error.value(py))?;
        logger.call_method(
            "error",
            ("%s hook raised; the hub keeps serving", hook),
            Some(&kwargs),
        )?;
        Ok(())
    })();
    if logged.is_err() {
        error.display(py);
    }
}

fn context_dict<'py>(py: Python<'py>, context: &HandshakeContext) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(
        "remote_addr",
        context.remote_addr.map(|addr| addr.to_string()),
    )?;
    let headers = PyDict::new(py);
    let cookies = PyDict::new(py);
    for (name, value) in &context.headers {
        headers.set_item(name, value)?;
        if name.eq_ignore_ascii_case("cookie") {
            for pair in value.split(';') {
                if let Some((key, value)) = pair.trim().split_once('=') {
                    cookies.set_item(key, value)?;
                }
            }
        }
    }
    let query = PyDict::new(py);
    for (name, value) in &context.query {
        query.set_item(name, value)?;
    }
    dict.set_item("headers", headers)?;
    dict.set_item("cookies", cookies)?;
    dict.set_item("query", query)?;
    Ok(dict)
}

/// `authenticator(request: dict, context: dict) -> dict | None`.
pub struct PyAuthenticator(pub PyHook);

fn identity_from(value: &Value) -> Result<Identity, String> {
    let object = value
        .as_object()
        .ok_or("the authenticator must return a dict, None, or raise AuthRefused")?;
    let text = object.get("role").and_then(Value::as_str).unwrap_or("user");
    let role = Role::parse(text).ok_or(format!("role {text:?}: expected user, admin or device"))?;
    let user = object
        .get("userId")
        .ok_or("the identity dict needs userId")
        .and_then(|id| UserId::from_json(id).map_err(|_| "userId must be a non-empty str or int"))
        .map_err(str::to_owned)?;
    if role == Role::Device {
        let module = object
            .get("moduleId")
            .and_then(|id| ModuleId::from_json(id).ok())
            .ok_or("a device identity needs moduleId")?;
        return Ok(Identity::device(module, user));
    }
    let session = match object.get("sessionId") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(SessionId::new(text).map_err(|e| e.to_string())?),
        Some(_) => return Err("sessionId must be a str".into()),
    };
    Ok(Identity::user(user, role, session))
}

impl Authenticator for PyAuthenticator {
    fn authenticate(&self, request: &AuthRequest, context: &HandshakeContext) -> AuthDecision {
        self.0.call(|py, hook| {
            let answer = hook.call1((to_py(py, &request.raw)?, context_dict(py, context)?));
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    let refused = py
                        .import("microcoaster_realtime._errors")?
                        .getattr("AuthRefused")?;
                    if error.is_instance(py, &refused) {
                        let value = error.value(py);
                        return Ok(AuthDecision::Refuse(AuthError::Refused {
                            code: value.getattr("code")?.extract()?,
                            message: value.getattr("message")?.extract()?,
                        }));
                    }
                    return Err(error);
                }
            };
            if answer.is_none() {
                return Ok(AuthDecision::Pass);
            }
            let identity = identity_from(&to_json(&answer, "authenticator result")?)
                .map_err(PyValueError::new_err)?;
            Ok(AuthDecision::Accept(identity))
        })
    }
}

/// `on_client_event(event: dict) -> Any`: a value other than `None` answers the
/// event's ack (`bytes` anywhere in it travel as binary values).
pub struct PyClientEvents(pub PyHook);

impl ClientEventHandler for PyClientEvents {
    fn on_client_event(&self, event: &ClientEvent) {
        self.answer(event);
    }

    fn answer(&self, event: &ClientEvent) -> Option<AckAnswer> {
        self.0.call(|py, hook| {
            let dict = PyDict::new(py);
            dict.set_item("connection", event.connection.0)?;
            dict.set_item("userId", event.identity.user_id.as_str())?;
            dict.set_item("role", event.identity.role.as_str())?;
            dict.set_item(
                "sessionId",
                event.identity.session_id.as_ref().map(|s| s.as_str()),
            )?;
            dict.set_item(
                "moduleId",
                event.identity.module_id.as_ref().map(|m| m.as_str()),
            )?;
            dict.set_item("page", &event.page)?;
            dict.set_item("event", &event.event)?;
            dict.set_item("data", to_py_binary(py, &event.data, &event.attachments)?)?;
            let answer = hook.call1((dict,))?;
            if answer.is_none() {
                return Ok(None);
            }
            let (data, attachments) =
                crate::json::to_json_binary(&answer, "on_client_event result")?;
            Ok(Some(AckAnswer { data, attachments }))
        })
    }
}

/// `stats_provider() -> dict`.
pub struct PyStats(pub PyHook);

impl StatsProvider for PyStats {
    fn stats(&self) -> Result<Value, String> {
        Ok(self.0.call(|_py, hook| {
            let stats = hook.call0()?;
            crate::json::to_json_object(&stats, "stats_provider result")
        }))
    }
}

fn audience_dict<'py>(py: Python<'py>, audience: &Audience) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    match audience {
        Audience::User {
            user,
            except_session,
        } => {
            dict.set_item("kind", "user")?;
            dict.set_item("userId", user.as_str())?;
            dict.set_item("exceptSession", except_session.as_ref().map(|s| s.as_str()))?;
        }
        Audience::Session { user, session } => {
            dict.set_item("kind", "session")?;
            dict.set_item("userId", user.as_str())?;
            dict.set_item("sessionId", session.as_str())?;
        }
        Audience::Admins => dict.set_item("kind", "admins")?,
        Audience::Everyone => dict.set_item("kind", "everyone")?,
    }
    Ok(dict)
}

/// `before_emit(name: str, audience: dict, payload) -> None | bool | payload`.
pub struct PyBeforeEmit(pub PyHook);

impl BeforeEmit for PyBeforeEmit {
    fn before_emit(&self, name: &str, audience: &Audience, payload: &mut Value) -> Verdict {
        self.0.call(|py, hook| {
            let answer = hook.call1((name, audience_dict(py, audience)?, to_py(py, payload)?))?;
            if answer.is_none() {
                return Ok(Verdict::Keep);
            }
            if let Ok(keep) = answer.extract::<bool>() {
                return Ok(if keep { Verdict::Keep } else { Verdict::Drop });
            }
            *payload = to_json(&answer, "before_emit result")?;
            Ok(Verdict::Keep)
        })
    }
}

/// `audit_sink(record: dict) -> None`.
pub struct PyAudit(pub PyHook);

impl AuditSink for PyAudit {
    fn record(&self, record: &AuditRecord) {
        let value = serde_json::to_value(record).unwrap_or(Value::Null);
        self.0.call(|py, hook| {
            hook.call1(PyTuple::new(py, [to_py(py, &value)?])?)?;
            Ok(())
        });
    }
}
