//! Acks over the C ABI, both ways: a C client-event handler that answers the client's ack
//! ([`McrtAnsweringClientEventCallback`], installed with
//! `mcrt_builder_set_answering_client_event_handler`, writes the answer with
//! [`mcrt_answer_set`]: JSON text plus binary values), and a host transport that gets
//! that answer back whole ([`mcrt_host_message_with_ack`] hands out an [`McrtAck`]: the
//! ack's JSON and its binary values, freed with [`mcrt_ack_free`]).
//!
//! This module must not keep a host pointer past the call that received it: the answer's
//! JSON and values are copied inside `mcrt_answer_set`. An answer that fails its checks
//! (NULL, not UTF-8, not JSON, a placeholder past the values) is refused with a typed
//! status, counted in the `ffi` metrics, and leaves the answer unset: the client's ack
//! then gets what an unanswered event gets. Guarded by `tests/c/test_host.c`
//! (`test_answering_client_event_handler`, under valgrind) and the Node suite's
//! `bindings/node/test/binary.test.js` (attach mode goes through both halves).

use std::ffi::{CString, c_char, c_void};

use bytes::Bytes;
use serde_json::Value;

use super::binary::McrtBytes;
use super::builder::{builder_mut, update};
use super::connections::host_message;
use super::hooks::{UserData, c_json, client_event_json};
use super::{FfiError, McrtBuilder, McrtHub, McrtStatus, args, entry, hub_entry};
use crate::hooks::{AckAnswer, Answering, ClientEvent};
use crate::hub::{InboundError, Reply};

/// The answer a [`McrtAnsweringClientEventCallback`] writes with `mcrt_answer_set`.
/// Opaque; owned by the library and valid only during the callback it was passed to.
#[derive(Debug, Default)]
pub struct McrtAnswer {
    value: Option<AckAnswer>,
}

/// Receives a client event as `McrtBinaryClientEventCallback` does (the event JSON, and a
/// binary event's values as `count` [`McrtBytes`], value N at index N, NULL when `count`
/// is 0; all valid during the call) and may answer the client's ack by calling
/// `mcrt_answer_set(answer, …)` before returning. Without that call (or after a refused
/// one) the client's ack gets what it gets without a handler answer.
/// Thread and locks as for `McrtClientEventCallback`: it may call `mcrt_emit_*`.
pub type McrtAnsweringClientEventCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        event_json: *const c_char,
        len: usize,
        attachments: *const McrtBytes,
        count: usize,
        answer: *mut McrtAnswer,
    ),
>;

/// Sets the ack answer of the callback that received `answer`: `data_json` (`data_len`
/// bytes of JSON; NULL means `null`) with a placeholder `{"_placeholder":true,"num":N}`
/// where `attachments[N]` belongs (`attachments` NULL only when `count` is 0). Everything
/// is copied before this returns. A second call replaces the first. Refused, leaving the
/// answer unset (and counted in the `ffi` metrics by status): a NULL `answer`
/// (`MCRT_STATUS_NULL_POINTER`), `data_json` that is not UTF-8
/// (`MCRT_STATUS_INVALID_UTF8`) or not JSON (`MCRT_STATUS_INVALID_JSON`), a NULL
/// `attachments` or value with a non-zero count or length, or a placeholder past `count`
/// (`MCRT_STATUS_INVALID_ARGUMENT`). Thread: the callback's, from inside it only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_answer_set(
    answer: *mut McrtAnswer,
    data_json: *const c_char,
    data_len: usize,
    attachments: *const McrtBytes,
    count: usize,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes the answer it received in a callback, still running.
        let answer = unsafe { answer.as_mut() }.ok_or_else(|| args::null("answer"))?;
        answer.value = None;
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let (data, values) = unsafe {
            (
                args::json_or(data_json, data_len, "data_json", Value::Null)?,
                super::binary::attachments(attachments, count)?,
            )
        };
        crate::protocol::binary::check_placeholders(&data, values.len())
            .map_err(|error| FfiError::invalid(format!("data_json: {error}")))?;
        answer.value = Some(AckAnswer {
            data,
            attachments: values,
        });
        Ok(())
    })
}

/// A C client-event handler that answers acks.
pub(crate) fn answering_client_events(
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        usize,
        *const McrtBytes,
        usize,
        *mut McrtAnswer,
    ),
    user_data: UserData,
) -> Answering<impl Fn(&ClientEvent) -> Option<AckAnswer> + Send + Sync + 'static> {
    Answering(move |event: &ClientEvent| {
        let text = c_json(&client_event_json(event));
        let values: Vec<McrtBytes> = event
            .attachments
            .iter()
            .map(|data| McrtBytes {
                data: data.as_ptr(),
                len: data.len(),
            })
            .collect();
        let list = if values.is_empty() {
            std::ptr::null()
        } else {
            values.as_ptr()
        };
        let mut answer = McrtAnswer::default();
        // SAFETY: the host registered `callback`; the string, the list, the bytes it
        // points at (owned by `event`) and the answer live until it returns.
        unsafe {
            callback(
                user_data.ptr(),
                text.as_ptr(),
                text.as_bytes().len(),
                list,
                values.len(),
                &raw mut answer,
            )
        };
        answer.value
    })
}

/// Sets the handler of client events the library does not handle as one that may answer
/// the client's ack (`McrtAnsweringClientEventCallback`, with a binary event's values as
/// bytes). It replaces a handler set by `mcrt_builder_set_client_event_handler` or
/// `mcrt_builder_set_binary_client_event_handler`, and the other way round. `user_data`
/// as for `mcrt_builder_set_authenticator`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_builder_set_answering_client_event_handler(
    builder: *mut McrtBuilder,
    callback: McrtAnsweringClientEventCallback,
    user_data: *mut c_void,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes a live builder handle.
        let builder = unsafe { builder_mut(builder)? };
        let callback = callback.ok_or_else(|| args::null("callback"))?;
        update(builder, |b| {
            b.on_client_event(answering_client_events(callback, UserData(user_data)))
        });
        Ok(())
    })
}

/// An acknowledgement body handed to the host: `json` (`json_len` bytes of JSON,
/// NUL-terminated) with a placeholder `{"_placeholder":true,"num":N}` where
/// `attachments[N]` belongs (`attachments` NULL when `count` is 0). Owned by the caller of
/// `mcrt_host_message_with_ack` and freed once with `mcrt_ack_free`; every pointer in it
/// stays valid until then. Read it only: the library owns the memory it points at.
#[repr(C)]
#[derive(Debug)]
pub struct McrtAck {
    /// The ack's argument as JSON.
    pub json: *const c_char,
    /// Its length in bytes (without the NUL).
    pub json_len: usize,
    /// The binary values the placeholders stand for.
    pub attachments: *const McrtBytes,
    /// How many.
    pub count: usize,
}

/// An [`McrtAck`] with the storage it points into; `ack` first, so a pointer to the
/// whole is a pointer to the public part (`repr(C)`).
#[repr(C)]
struct OwnedAck {
    ack: McrtAck,
    json: CString,
    list: Vec<McrtBytes>,
    values: Vec<Bytes>,
}

impl OwnedAck {
    fn into_raw(body: &Value, values: Vec<Bytes>) -> *mut McrtAck {
        let json = c_json(body);
        let list: Vec<McrtBytes> = values
            .iter()
            .map(|data| McrtBytes {
                data: data.as_ptr(),
                len: data.len(),
            })
            .collect();
        let mut owned = Box::new(OwnedAck {
            ack: McrtAck {
                json: std::ptr::null(),
                json_len: json.as_bytes().len(),
                attachments: std::ptr::null(),
                count: list.len(),
            },
            json,
            list,
            values,
        });
        // The pointers go into the heap buffers, which moving the box does not move.
        owned.ack.json = owned.json.as_ptr();
        if !owned.list.is_empty() {
            owned.ack.attachments = owned.list.as_ptr();
        }
        Box::into_raw(owned).cast::<McrtAck>()
    }
}

/// Frees an ack from `mcrt_host_message_with_ack`. NULL is a no-op. Thread: any. Freeing
/// any other pointer, or twice, is undefined behaviour.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_ack_free(ack: *mut McrtAck) {
    if ack.is_null() {
        return;
    }
    // SAFETY: non-null acks handed out are `OwnedAck::into_raw` results (the public part
    // is the first field of a `repr(C)` box), and the caller gives each back once.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(unsafe { Box::from_raw(ack.cast::<OwnedAck>()) })
    }));
}

/// `mcrt_host_message_binary` whose acknowledgement keeps its binary values, for a host
/// whose client-event handler answers acks with them: if `ack_out` is non-NULL, `*ack_out`
/// is NULL (no body: an unanswered event) or an [`McrtAck`] the caller frees with
/// `mcrt_ack_free` — the handler's answer, `auth:ok`'s body, or `{code, message}` on a
/// refusal (which also returns an error status, as `mcrt_host_message`). `data_json`
/// (NULL means `null`) holds a placeholder where `attachments[N]` was; `attachments` may
/// be NULL when `count` is 0, so this serves events without binary values too. Thread:
/// any (not from inside the frame or close callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_host_message_with_ack(
    hub: *const McrtHub,
    id: u64,
    event: *const c_char,
    event_len: usize,
    data_json: *const c_char,
    data_len: usize,
    attachments: *const McrtBytes,
    count: usize,
    ack_out: *mut *mut McrtAck,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        // SAFETY: a non-null `ack_out` is writable per the caller's contract.
        unsafe { args::write_optional(ack_out, std::ptr::null_mut()) };
        // SAFETY: each pointer is readable for its length per the caller's contract.
        let result = unsafe {
            host_message(
                hub,
                id,
                "mcrt_host_message_with_ack",
                (event, event_len),
                (data_json, data_len),
                (attachments, count),
            )?
        };
        // SAFETY: `ack_out` as above.
        unsafe { write_ack(result, ack_out) }
    })
}

/// Writes the reply (or the refusal's `{code, message}` body) to `ack_out` as an ack.
///
/// # Safety
/// A non-null `ack_out` must be writable.
unsafe fn write_ack(
    result: Result<Reply, InboundError>,
    ack_out: *mut *mut McrtAck,
) -> Result<(), FfiError> {
    let (body, values, error) = match result {
        Ok(reply) => (reply.ack, reply.attachments, None),
        Err(error) => (Some(error.ack_body()), Vec::new(), Some(error)),
    };
    if !ack_out.is_null() {
        let ack = body.map_or(std::ptr::null_mut(), |body| {
            OwnedAck::into_raw(&body, values)
        });
        // SAFETY: non-null and writable per the caller's contract.
        unsafe { ack_out.write(ack) };
    }
    match error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}
