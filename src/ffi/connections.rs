//! Host connections over the C ABI: attach a socket the host owns, pass what it
//! receives (decoded events, the Socket.IO `auth` object, raw native frames), detach it.
//! Replies reach the host through the frame callback of `host.rs`. This module must not
//! deliver frames itself.

use std::ffi::c_char;
use std::sync::Arc;

use serde_json::Value;

use super::host::{HostState, in_callback};
use super::{FfiError, McrtHub, McrtStatus, args, hub_entry};
use crate::auth::HandshakeContext;
use crate::hub::{InboundError, Reply};

fn host_state(hub: &McrtHub) -> Result<&Arc<HostState>, FfiError> {
    hub.host.as_ref().ok_or_else(|| {
        FfiError::new(
            McrtStatus::NotConfigured,
            "not_configured",
            "this hub has no host transport (mcrt_builder_set_host_transport)",
        )
    })
}

fn not_in_callback(what: &str) -> Result<(), FfiError> {
    if in_callback() {
        return Err(FfiError::new(
            McrtStatus::Reentrant,
            "reentrant",
            format!("{what} cannot be called from inside the frame or close callback"),
        ));
    }
    Ok(())
}

/// The handshake context from the host's JSON: `{"remoteAddr": "ip:port", "headers":
/// {name: value | [values]}, "query": {name: value}}`, every key optional.
fn context_from(value: &Value) -> Result<HandshakeContext, FfiError> {
    let object = value
        .as_object()
        .ok_or_else(|| FfiError::invalid("context_json must be a JSON object"))?;
    let pairs = |field: &str, lower: bool| -> Result<Vec<(String, String)>, FfiError> {
        let mut out = Vec::new();
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let key = if lower {
                        key.to_ascii_lowercase()
                    } else {
                        key.clone()
                    };
                    match value {
                        Value::String(text) => out.push((key, text.clone())),
                        Value::Array(items) => {
                            for item in items {
                                if let Some(text) = item.as_str() {
                                    out.push((key.clone(), text.to_owned()));
                                }
                            }
                        }
                        Value::Number(n) => out.push((key, n.to_string())),
                        Value::Bool(b) => out.push((key, b.to_string())),
                        _ => {}
                    }
                }
            }
            Some(_) => {
                return Err(FfiError::invalid(format!(
                    "context_json.{field} must be an object"
                )));
            }
        }
        Ok(out)
    };
    let remote_addr = match object.get("remoteAddr") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => text.parse().ok(),
        Some(_) => {
            return Err(FfiError::invalid(
                "context_json.remoteAddr must be a string",
            ));
        }
    };
    Ok(HandshakeContext {
        remote_addr,
        headers: pairs("headers", true)?,
        query: pairs("query", false)?,
    })
}

/// Writes the reply's ack (or the refusal's `{code, message}` body) to `ack_out`.
///
/// # Safety
/// A non-null `ack_out` must be writable.
unsafe fn answer(
    result: Result<Reply, InboundError>,
    ack_out: *mut *mut c_char,
) -> Result<(), FfiError> {
    let (ack, error) = match result {
        Ok(reply) => (reply.ack, None),
        Err(error) => (Some(error.ack_body()), Some(error)),
    };
    let ack = ack.map_or(std::ptr::null_mut(), |value| {
        args::string_out(value.to_string())
    });
    if ack_out.is_null() {
        // SAFETY: `ack` came from `string_out` and nobody else has it.
        unsafe { super::mcrt_string_free(ack) };
    } else {
        // SAFETY: non-null and writable per the caller's contract.
        unsafe { ack_out.write(ack) };
    }
    match error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Attaches one host-owned socket; `context_json` (NULL means `{}`) is its handshake:
/// `{"remoteAddr": "ip:port", "headers": {name: value}, "query": {name: value}}`, read by
/// authenticators. On success `*id_out` is the connection's id, the one the frame and
/// close callbacks name. Thread: any (not from inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_attach(
    hub: *const McrtHub,
    context_json: *const c_char,
    len: usize,
    id_out: *mut u64,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_attach")?;
        args::require(id_out, "id_out")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let value = unsafe {
            args::json_or(
                context_json,
                len,
                "context_json",
                Value::Object(Default::default()),
            )?
        };
        let connection = hub.hub.attach_host(context_from(&value)?)?;
        let id = connection.id().0;
        state.connections.lock().insert(id, Arc::new(connection));
        // SAFETY: non-null (checked) and writable.
        unsafe { args::write_required(id_out, id, "id_out") }
    })
}

/// Passes one decoded client event of connection `id`: `event` (`client:authenticate`,
/// `client:page`, or any other name, forwarded to the client-event handler) and its data
/// (`data_json`; NULL means `null`). Replies (`auth:ok`, `page:snapshot`, `auth:error`)
/// reach the frame callback before this returns. If `ack_out` is non-NULL, `*ack_out` is
/// the acknowledgement body for a client that asked for one (`auth:ok`'s body, or
/// `{code, message}` on a refusal) or NULL; the caller frees it. A refusal also returns
/// an error status (`MCRT_STATUS_REFUSED` for authentication). Thread: any (not from
/// inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_message(
    hub: *const McrtHub,
    id: u64,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_message")?;
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (event, data) = unsafe {
            (
                args::text(event, event_len, "event")?,
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
            )
        };
        let connection = state.connection(id)?;
        // SAFETY: `ack_out` as above.
        unsafe { answer(connection.on_message(event, &data), ack_out) }
    })
}

/// `mcrt_host_message` for a binary client event (what a host's Socket.IO server decoded
/// with binary values): `data_json` holds a placeholder `{"_placeholder":true,"num":N}`
/// where `attachments[N]` was; the client-event handler receives them as the event
/// JSON's `"attachments"` (base64). The values are copied before this returns. The ack
/// body is text only: a handler answer's binary values reach the host through
/// `mcrt_host_message_with_ack`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_message_binary(
    hub: *const McrtHub,
    id: u64,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    attachments: *const super::binary::McrtBytes,
    count: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let result = unsafe {
            host_message(
                hub,
                id,
                "mcrt_host_message_binary",
                (event, event_len),
                (data_json, data_len),
                (attachments, count),
            )?
        };
        // SAFETY: `ack_out` as above.
        unsafe { answer(result, ack_out) }
    })
}

/// Passes one client event with binary values (none when `count` is 0) to connection
/// `id` and returns the hub's reply; `what` names the entry point in errors.
///
/// # Safety
/// Each pointer is NULL or readable for its length (the module's contract).
pub(super) unsafe fn host_message(
    hub: &McrtHub,
    id: u64,
    what: &str,
    (event, event_len): (*const c_char, usize),
    (data_json, data_len): (*const c_char, usize),
    (attachments, count): (*const super::binary::McrtBytes, usize),
) -> Result<Result<Reply, InboundError>, FfiError> {
    let state = host_state(hub)?;
    not_in_callback(what)?;
    // SAFETY: each pointer is readable for its length per the caller's contract.
    let (event, data, values) = unsafe {
        (
            args::text(event, event_len, "event")?,
            args::json_or(data_json, data_len, "data_json", Value::Null)?,
            super::binary::attachments(attachments, count)?,
        )
    };
    crate::protocol::binary::check_placeholders(&data, values.len())
        .map_err(|error| FfiError::invalid(format!("data_json: {error}")))?;
    let connection = state.connection(id)?;
    Ok(connection.on_message_with(event, &data, values))
}

/// Authenticates connection `id` with the credentials its client gave when connecting
/// (the Socket.IO `auth` object, `auth_json`). On success `auth:ok` and `page:snapshot`
/// reach the frame callback; on refusal nothing is sent (the host answers in its own
/// handshake) and `*ack_out` holds `{code, message}`. Thread: any (not from inside the
/// frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_authenticate(
    hub: *const McrtHub,
    id: u64,
    auth_json: *const c_char,
    len: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_authenticate")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let auth = unsafe { args::json(auth_json, len, "auth_json")? };
        let connection = state.connection(id)?;
        // SAFETY: `ack_out` as above.
        unsafe { answer(connection.authenticate_at_connect(&auth), ack_out) }
    })
}

/// Passes one raw native-protocol frame (`{"event": "…", "data": …}`, `len` bytes) of
/// connection `id`: size, UTF-8 and shape are checked by the library. `ack_out` as for
/// `mcrt_host_message`. Thread: any (not from inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_receive(
    hub: *const McrtHub,
    id: u64,
    frame: *const c_char,
    len: usize,
    ack_out: *mut *mut c_char,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_receive")?;
        // SAFETY: readable for `len` bytes per the caller's contract.
        let bytes = unsafe { args::bytes(frame, len, "frame")? };
        let connection = state.connection(id)?;
        // SAFETY: `ack_out` as above.
        unsafe { answer(connection.receive(bytes), ack_out) }
    })
}

/// Detaches connection `id` (its socket closed): it leaves every audience at once.
/// `MCRT_STATUS_NOT_FOUND` if it is not attached. Thread: any, but not from inside the
/// frame or close callback (`MCRT_STATUS_REENTRANT`): defer it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_detach(hub: *const McrtHub, id: u64) -> McrtStatus {
    hub_entry(hub, |hub| {
        let state = host_state(hub)?;
        not_in_callback("mcrt_host_detach")?;
        let connection = state.connections.lock().remove(&id);
        match connection {
            Some(connection) => {
                drop(connection);
                Ok(())
            }
            None => Err(FfiError::new(
                McrtStatus::NotFound,
                "unknown_connection",
                format!("no attached host connection has id {id}"),
            )),
        }
    })
}
