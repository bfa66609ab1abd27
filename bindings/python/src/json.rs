//! Python objects ⇄ JSON values: the only shapes that cross the binding are what
//! `json.dumps` accepts (dict with str keys, list, tuple, str, int, float, bool, None).
//!
//! Binary values (`bytes`, `bytearray`, `memoryview`) cross where an argument may be
//! binary ([`to_json_binary`], [`to_py_binary`]): each becomes Socket.IO's placeholder
//! `{"_placeholder":true,"num":N}` and an attachment, and placeholders come back as
//! `bytes`.
//!
//! Everything else is refused with a `TypeError` naming where in the argument it was
//! found (`info["telemetry"][2]: expected …, got set`), and NaN, infinities, integers
//! outside 64 bits and nesting deeper than [`MAX_DEPTH`] with a `ValueError`, so a bad
//! payload fails at the call, never later on a socket. This module must not know any
//! event or argument meaning.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use serde_json::{Map, Number, Value};

/// Deeper nesting is refused: it also stops a list that contains itself.
pub const MAX_DEPTH: usize = 128;

/// Arguments refused by the binding's conversions (process-wide), reported as
/// `metrics()["bad_inputs"]["python_argument"]`; the core counts what it refuses itself.
pub static BAD_ARGUMENTS: AtomicU64 = AtomicU64::new(0);

/// Counts a refused argument.
pub fn counted<T>(result: PyResult<T>) -> PyResult<T> {
    if result.is_err() {
        BAD_ARGUMENTS.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// Converts a Python value to JSON; `what` names the argument in error messages.
pub fn to_json(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let mut path = what.to_owned();
    counted(convert(value, &mut path, 0, &mut None))
}

/// Converts a Python value that may hold binary values to JSON with placeholders and
/// the attachments they stand for.
pub fn to_json_binary(
    value: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<(Value, Vec<bytes::Bytes>)> {
    let mut path = what.to_owned();
    let mut attachments = Some(Vec::new());
    let json = counted(convert(value, &mut path, 0, &mut attachments))?;
    Ok((json, attachments.unwrap_or_default()))
}

/// Converts a Python dict to a JSON object; anything else is a `TypeError`.
pub fn to_json_object(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    if !value.is_instance_of::<PyDict>() {
        return counted(Err(PyTypeError::new_err(format!(
            "{what}: expected a dict, got {}",
            type_name(value)
        ))));
    }
    to_json(value, what)
}

/// A `bool` argument (`from_py_with`); `0`/`1` are refused, like any non-bool.
pub fn flag(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    match value.cast::<PyBool>() {
        Ok(flag) => Ok(flag.is_true()),
        Err(_) => counted(Err(PyTypeError::new_err(format!(
            "expected bool, got {}",
            type_name(value)
        )))),
    }
}

/// A `str` argument (`from_py_with`), counted when it is not one.
pub fn text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(text) => counted(text.to_cow().map(|t| t.into_owned())),
        Err(_) => counted(Err(PyTypeError::new_err(format!(
            "expected str, got {}",
            type_name(value)
        )))),
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "an unknown type".to_owned())
}

/// `attachments`: `Some` where binary values are allowed (they are collected there).
fn convert(
    value: &Bound<'_, PyAny>,
    path: &mut String,
    depth: usize,
    attachments: &mut Option<Vec<bytes::Bytes>>,
) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{path}: nested deeper than {MAX_DEPTH} levels (or contains itself)"
        )));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: True is an int in Python.
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::String(text.to_cow()?.into_owned()));
    }
    if value.is_instance_of::<PyInt>() {
        return integer(value, path);
    }
    if let Some(list) = attachments.as_mut()
        && let Some(data) = binary(value)?
    {
        list.push(data);
        return Ok(microcoaster_realtime::protocol::binary::placeholder(
            list.len() - 1,
        ));
    }
    if let Ok(float) = value.cast::<PyFloat>() {
        let number = Number::from_f64(float.value()).ok_or_else(|| {
            PyValueError::new_err(format!("{path}: {} is not a JSON number", float.value()))
        })?;
        return Ok(Value::Number(number));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        return object(dict, path, depth, attachments);
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return array(value, path, depth, attachments);
    }
    Err(PyTypeError::new_err(format!(
        "{path}: expected a JSON value (dict, list, tuple, str, int, float, bool or None), got {}",
        type_name(value)
    )))
}

/// A Python int that fits in 64 bits (signed, else unsigned).
fn integer(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if let Ok(n) = value.extract::<i64>() {
        return Ok(Value::Number(n.into()));
    }
    if let Ok(n) = value.extract::<u64>() {
        return Ok(Value::Number(n.into()));
    }
    Err(PyValueError::new_err(format!(
        "{path}: integer {} does not fit in 64 bits",
        value.str()?
    )))
}

/// A dict with str keys, each value converted under `path[key]`.
fn object(
    dict: &Bound<'_, PyDict>,
    path: &mut String,
    depth: usize,
    attachments: &mut Option<Vec<bytes::Bytes>>,
) -> PyResult<Value> {
    let mut object = Map::with_capacity(dict.len());
    let base = path.len();
    for (key, item) in dict.iter() {
        let Ok(key) = key.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "{path}: dict keys must be str, got {}",
                type_name(&key)
            )));
        };
        let key = key.to_cow()?;
        path.push_str(&format!("[{key:?}]"));
        let item = convert(&item, path, depth + 1, attachments)?;
        path.truncate(base);
        object.insert(key.into_owned(), item);
    }
    Ok(Value::Object(object))
}

/// A list or tuple, each item converted under `path[index]`.
fn array(
    value: &Bound<'_, PyAny>,
    path: &mut String,
    depth: usize,
    attachments: &mut Option<Vec<bytes::Bytes>>,
) -> PyResult<Value> {
    let base = path.len();
    let mut array = Vec::new();
    for (index, item) in value.try_iter()?.enumerate() {
        path.push_str(&format!("[{index}]"));
        array.push(convert(&item?, path, depth + 1, attachments)?);
        path.truncate(base);
    }
    Ok(Value::Array(array))
}

/// The bytes of a `bytes`, `bytearray` or `memoryview`, if `value` is one.
fn binary(value: &Bound<'_, PyAny>) -> PyResult<Option<bytes::Bytes>> {
    if let Ok(data) = value.cast::<PyBytes>() {
        return Ok(Some(bytes::Bytes::copy_from_slice(data.as_bytes())));
    }
    if let Ok(data) = value.cast::<PyByteArray>() {
        return Ok(Some(bytes::Bytes::from(data.to_vec())));
    }
    if value.is_instance_of::<PyMemoryView>() {
        let data: Vec<u8> = value.call_method0("tobytes")?.extract()?;
        return Ok(Some(bytes::Bytes::from(data)));
    }
    Ok(None)
}

/// Converts a JSON value to Python objects, each placeholder of `attachments` as the
/// `bytes` it stands for (none: plain objects, see [`to_py`]).
pub fn to_py_binary<'py>(
    py: Python<'py>,
    value: &Value,
    attachments: &[bytes::Bytes],
) -> PyResult<Bound<'py, PyAny>> {
    if !attachments.is_empty()
        && let Some(data) = microcoaster_realtime::protocol::binary::placeholder_index(value)
            .and_then(|index| attachments.get(index))
    {
        return Ok(PyBytes::new(py, data).into_any());
    }
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                n.into_pyobject(py)?.into_any()
            } else if let Some(n) = number.as_u64() {
                n.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, number.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py_binary(py, item, attachments)?)?;
            }
            list.into_any()
        }
        Value::Object(object) => {
            let dict = PyDict::new(py);
            for (key, item) in object {
                dict.set_item(key, to_py_binary(py, item, attachments)?)?;
            }
            dict.into_any()
        }
    })
}

/// Converts a JSON value to plain Python objects.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    to_py_binary(py, value, &[])
}
