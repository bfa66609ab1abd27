//! Library errors → the Python exception hierarchy of `microcoaster_realtime._errors`
//! (pure Python, so a class can be both a `RealtimeError` and a `ValueError`). Every
//! error carries the core's stable `code`. This module must not decide anything.

use microcoaster_realtime::store::StoreError;
use microcoaster_realtime::{BuildError, HubError, InboundError, PersistError, ServeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::json::to_py;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Builds an exception of class `class` (a name in `_errors.py`) with `message` and
/// `code`, plus any extra constructor arguments.
pub fn error(py: Python<'_>, class: &str, message: &str, code: &str) -> PyErr {
    match make(py, class, (message, code)) {
        Ok(error) => error,
        Err(error) => error,
    }
}

fn make<'py>(
    py: Python<'py>,
    class: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<PyErr> {
    let module = ERRORS.get_or_try_init(py, || {
        PyModule::import(py, "microcoaster_realtime._errors").map(Bound::unbind)
    })?;
    let instance = module.bind(py).getattr(class)?.call1(args)?;
    Ok(PyErr::from_value(instance))
}

/// An emit (or device-key) refusal.
pub fn hub_error(py: Python<'_>, failure: &HubError) -> PyErr {
    let class = match failure {
        HubError::Input(_) | HubError::InvalidEventName(_) | HubError::SessionMismatch { .. } => {
            "InvalidArgumentError"
        }
        HubError::Store(StoreError::MissingOwner(_)) => "InvalidArgumentError",
        HubError::Store(StoreError::UnknownModule(_)) => "UnknownModuleError",
        HubError::Store(StoreError::OwnerMismatch { .. }) => "OwnerMismatchError",
        HubError::ReservedEvent(_) => "ReservedEventError",
        HubError::NoStatsProvider | HubError::StatsProvider(_) => "StatsProviderError",
        HubError::Reentrant => "ReentrantEmitError",
        HubError::NoHostSink => "RealtimeError",
    };
    error(py, class, &failure.to_string(), failure.code())
}

/// A hub that could not be built from its configuration.
pub fn build_error(py: Python<'_>, failure: &BuildError) -> PyErr {
    match failure {
        BuildError::Persist(persist) => persist_error(py, persist),
        BuildError::Routing(_) => error(
            py,
            "InvalidArgumentError",
            &failure.to_string(),
            "invalid_config",
        ),
        BuildError::Broker(_) => error(py, "RealtimeError", &failure.to_string(), "broker_failed"),
        _ => error(py, "RealtimeError", &failure.to_string(), "build_failed"),
    }
}

/// A persistence failure.
pub fn persist_error(py: Python<'_>, failure: &PersistError) -> PyErr {
    let code = match failure {
        PersistError::NotConfigured => "persistence_not_configured",
        _ => "persistence_failed",
    };
    error(py, "PersistenceError", &failure.to_string(), code)
}

/// A server that could not start.
pub fn serve_error(py: Python<'_>, failure: &ServeError) -> PyErr {
    let code = match failure {
        ServeError::Bind { .. } => "bind_failed",
        _ => "runtime_failed",
    };
    error(py, "ServeError", &failure.to_string(), code)
}

/// A refused client message, with the ack body a client would get.
pub fn inbound_error(py: Python<'_>, refused: &InboundError) -> PyErr {
    let ack = refused.ack_body();
    let code = ack
        .get("code")
        .and_then(|code| code.as_str())
        .unwrap_or("refused")
        .to_owned();
    let built = to_py(py, &ack).and_then(|ack| {
        make(
            py,
            "MessageRefusedError",
            (refused.to_string(), code.as_str(), ack),
        )
    });
    match built {
        Ok(error) => error,
        Err(error) => error,
    }
}
