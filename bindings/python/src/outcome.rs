//! `EmitOutcome` and the argument helpers every emit shares (user ids as str or int,
//! optional payloads). This module must not call the hub.

use microcoaster_realtime::{EmitOutcome, HubError, IdArg};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};
use serde_json::Value;

use crate::errors::hub_error;
use crate::json::{counted, to_json, to_json_object};

/// What an emit did, the `{outcome, connections}` of every binding: `outcome` is
/// `"delivered"` or `"unchanged"` (nothing changed, nothing was sent) and `connections`
/// the number of connections the events were queued for (summed over the call's events;
/// 0 is possible when nobody concerned is connected). `unchanged` and `delivered` are
/// kept as aliases of `outcome == "unchanged"` / `"delivered"`.
#[pyclass(frozen, module = "microcoaster_realtime", name = "EmitOutcome")]
pub struct Outcome {
    /// True when nothing changed and nothing was sent (alias of `outcome == "unchanged"`).
    #[pyo3(get)]
    pub unchanged: bool,
    /// Frames queued (0 when unchanged).
    #[pyo3(get)]
    pub connections: usize,
}

#[pymethods]
impl Outcome {
    /// `"delivered"` or `"unchanged"`, as Node's and the HTTP API's `outcome`.
    #[getter]
    fn outcome(&self) -> &'static str {
        if self.unchanged {
            "unchanged"
        } else {
            "delivered"
        }
    }

    /// `{"outcome": …, "connections": …}`, the dict Node returns and HTTP sends.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let dict = pyo3::types::PyDict::new(py);
        dict.set_item("outcome", self.outcome())?;
        dict.set_item("connections", self.connections)?;
        Ok(dict)
    }

    /// True when the change was sent, possibly to 0 connections (alias of
    /// `outcome == "delivered"`).
    #[getter]
    fn delivered(&self) -> bool {
        !self.unchanged
    }

    fn __repr__(&self) -> String {
        if self.unchanged {
            "EmitOutcome(unchanged)".to_owned()
        } else {
            format!("EmitOutcome(delivered, connections={})", self.connections)
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Outcome>().is_ok_and(|other| {
            let other = other.get();
            other.unchanged == self.unchanged && other.connections == self.connections
        })
    }

    fn __hash__(&self) -> u64 {
        if self.unchanged {
            u64::MAX
        } else {
            self.connections as u64
        }
    }
}

/// Converts a core result into an `EmitOutcome` or the matching exception.
pub fn outcome(py: Python<'_>, result: Result<EmitOutcome, HubError>) -> PyResult<Outcome> {
    match result {
        Ok(EmitOutcome::Delivered { connections }) => Ok(Outcome {
            unchanged: false,
            connections,
        }),
        Ok(_) => Ok(Outcome {
            unchanged: true,
            connections: 0,
        }),
        Err(error) => Err(hub_error(py, &error)),
    }
}

/// A user id argument: a str or an int (the seed uses `userId: 123`).
pub fn id_arg(value: &Bound<'_, PyAny>, what: &str) -> PyResult<IdArg> {
    counted(id_arg_uncounted(value, what))
}

fn id_arg_uncounted(value: &Bound<'_, PyAny>, what: &str) -> PyResult<IdArg> {
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected str or int, got bool"
        )));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(IdArg::Text(text.to_cow()?.into_owned()));
    }
    if value.is_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .map(IdArg::Number)
            .map_err(|_| PyValueError::new_err(format!("{what}: integer out of range")));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: expected str or int, got {}",
        value.get_type().name()?
    )))
}

/// An optional argument (`details`, `data`): `None` (or omitted) is `None`, which the
/// core reads as JSON `null`, as C's NULL and Node's `undefined`.
pub fn optional_json(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Value>> {
    value
        .filter(|value| !value.is_none())
        .map(|value| to_json(value, what))
        .transpose()
}

/// An optional dict argument (`info`): `None` (or omitted) is `None`.
pub fn optional_object(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Value>> {
    value
        .filter(|value| !value.is_none())
        .map(|value| to_json_object(value, what))
        .transpose()
}

/// `IdArg` → JSON, for filters that take a user id.
pub trait ToJsonValue {
    /// The id as a JSON string or number.
    fn to_json_value(&self) -> Value;
}

impl ToJsonValue for IdArg {
    fn to_json_value(&self) -> Value {
        match self {
            IdArg::Text(text) => Value::from(text.as_str()),
            IdArg::Number(n) => Value::from(*n),
            IdArg::Json(value) => value.clone(),
        }
    }
}
