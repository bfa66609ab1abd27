//! The plugin hooks of DESIGN §6 as C callbacks with `void *user_data`: authenticator,
//! client-event handler and stats provider here, before-emit filter and audit sink in
//! [`emit_hooks`](super::emit_hooks), installed on an [`McrtBuilder`](super::McrtBuilder). Each callback type's doc names the thread it
//! runs on. Callbacks that answer (authenticator, stats, before-emit) write their
//! answer with [`mcrt_reply_set`] into the [`McrtReply`] they are given.
//!
//! This module must not decide anything itself: a malformed answer is treated as the
//! hook refusing or failing, with a message saying what was expected.

use std::ffi::{CString, c_char, c_void};

use serde_json::{Map, Value, json};

use super::binary::McrtBytes;
use super::{FfiError, McrtStatus, args, entry};
use crate::auth::{AuthDecision, AuthError, AuthRequest, HandshakeContext, Identity, Role};
use crate::hooks::ClientEvent;
use crate::ids::{ModuleId, SessionId, UserId};

/// The answer a callback writes with `mcrt_reply_set`. Opaque; owned by the library and
/// valid only during the callback it was passed to.
#[derive(Debug, Default)]
pub struct McrtReply {
    value: Option<Vec<u8>>,
}

/// Sets the answer of the callback that received `reply`: `len` bytes of UTF-8 (JSON
/// where the callback's doc says so), copied. Call it from inside that callback only;
/// a second call replaces the first. Thread: the callback's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_reply_set(
    reply: *mut McrtReply,
    data: *const c_char,
    len: usize,
) -> McrtStatus {
    entry(|| {
        // SAFETY: the caller passes the reply it received in a callback, still running.
        let reply = unsafe { reply.as_mut() }.ok_or_else(|| {
            FfiError::new(McrtStatus::NullPointer, "null_pointer", "reply is NULL")
        })?;
        // SAFETY: `data` is readable for `len` bytes per the caller's contract.
        let text = unsafe { args::text(data, len, "reply data")? };
        reply.value = Some(text.as_bytes().to_vec());
        Ok(())
    })
}

/// The host's `user_data`, handed back to its callbacks untouched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);

impl UserData {
    /// The pointer (a method, so closures capture the whole `Send` wrapper rather than
    /// its raw field).
    pub(crate) fn ptr(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the library only hands the pointer back to the host's callbacks; each callback
// type documents the threads it runs on, and the host promises that `user_data` may be
// used from them (the header says so at every `*_set` function).
unsafe impl Send for UserData {}
// SAFETY: as above; the library never dereferences it.
unsafe impl Sync for UserData {}

/// Decides on one authentication attempt. `request_json` is the client's payload (the
/// `client:authenticate` data or the Socket.IO `auth` object); `context_json` is
/// `{"remoteAddr": "ip:port"|null, "headers": {name: value}, "query": {name: value}}`
/// (header names in lower case). Both are NUL-terminated and valid only during the call.
///
/// Return `MCRT_AUTH_VERDICT_PASS` (not this authenticator's kind of credential: the
/// built-in ones are tried next), `MCRT_AUTH_VERDICT_ACCEPT` after
/// `mcrt_reply_set(reply, {"userId": …, "role": "user"|"admin"|"device", "sessionId"?:
/// "…", "moduleId"?: "…"})`, or `MCRT_AUTH_VERDICT_REFUSE`, optionally after
/// `mcrt_reply_set(reply, {"code": "…", "message": "…"})`.
///
/// Thread: the one that passed the client's message — the host's own thread inside
/// `mcrt_host_message` / `mcrt_host_authenticate`, or a server runtime thread for
/// connections of `mcrt_serve`. No library lock is held.
pub type McrtAuthenticateCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        request_json: *const c_char,
        request_len: usize,
        context_json: *const c_char,
        context_len: usize,
        reply: *mut McrtReply,
    ) -> i32,
>;

/// What an authenticator callback decided.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McrtAuthVerdict {
    /// Not this authenticator's kind of credential: ask the next one.
    Pass = 0,
    /// Accepted: the reply holds the identity.
    Accept = 1,
    /// Refused: the reply may hold `{code, message}`.
    Refuse = 2,
}

/// Receives a client event the library does not handle, as
/// `{"connection": id, "userId": "…", "role": "…", "sessionId": …, "moduleId": …,
/// "page": "…", "event": "…", "data": …}` (NUL-terminated, valid during the call). A
/// binary event's `data` keeps Socket.IO's placeholders `{"_placeholder":true,"num":N}`
/// and the JSON gains `"attachments": ["<base64>", …]`, value N at index N.
/// Thread: the one that passed the message (as for the authenticator); no library lock
/// is held, so it may call `mcrt_emit_*`.
pub type McrtClientEventCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char, len: usize)>;

/// Receives a client event as [`McrtClientEventCallback`] does, with a binary event's
/// values as bytes: `attachments` points at `count` [`McrtBytes`] (value N at index N,
/// valid during the call; NULL when `count` is 0) and the JSON has no `"attachments"`
/// field. Thread and locks as for [`McrtClientEventCallback`].
pub type McrtBinaryClientEventCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        event_json: *const c_char,
        len: usize,
        attachments: *const McrtBytes,
        count: usize,
    ),
>;

/// Computes the global stats for `mcrt_emit_stats_update` called with NULL stats: return 0 after
/// `mcrt_reply_set(reply, <JSON object>)`, or non-zero on failure (optionally after
/// `mcrt_reply_set(reply, "<why>")`). Thread: the one that called
/// `mcrt_emit_stats_update`, before the emit lock is taken.
pub type McrtStatsCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, reply: *mut McrtReply) -> i32>;

/// A NUL-terminated copy of `value`'s JSON for a callback argument.
pub(super) fn c_json(value: &Value) -> CString {
    CString::new(value.to_string()).unwrap_or_default()
}

pub(super) fn reply_json(reply: &McrtReply) -> Option<Result<Value, String>> {
    reply.value.as_ref().map(|bytes| {
        serde_json::from_slice(bytes).map_err(|error| format!("the reply is not JSON: {error}"))
    })
}

/// The handshake context as the authenticator callback receives it.
fn context_json(context: &HandshakeContext) -> Value {
    let pairs = |list: &[(String, String)]| {
        let mut map = Map::new();
        for (key, value) in list {
            match map.get_mut(key) {
                Some(Value::String(existing)) => {
                    let separator = if key == "cookie" { "; " } else { ", " };
                    existing.push_str(separator);
                    existing.push_str(value);
                }
                _ => {
                    map.insert(key.clone(), Value::String(value.clone()));
                }
            }
        }
        Value::Object(map)
    };
    json!({
        "remoteAddr": context.remote_addr.map(|addr| addr.to_string()),
        "headers": pairs(&context.headers),
        "query": pairs(&context.query),
    })
}

/// An identity from an authenticator's accept reply.
fn identity_from(value: &Value) -> Result<Identity, String> {
    let object = value
        .as_object()
        .ok_or("the accept reply must be a JSON object")?;
    let user_id = UserId::from_json(object.get("userId").unwrap_or(&Value::Null))
        .map_err(|error| format!("userId: {error}"))?;
    let role = object
        .get("role")
        .and_then(Value::as_str)
        .and_then(Role::parse)
        .ok_or("role must be \"user\", \"admin\" or \"device\"")?;
    let session_id = match object.get("sessionId") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(SessionId::new(text).map_err(|error| format!("sessionId: {error}"))?)
        }
        Some(_) => return Err("sessionId must be a string".to_owned()),
    };
    let module_id = match object.get("moduleId") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(ModuleId::from_json(value).map_err(|error| format!("moduleId: {error}"))?)
        }
    };
    if role == Role::Device && module_id.is_none() {
        return Err("a device identity needs moduleId".to_owned());
    }
    Ok(Identity {
        user_id,
        role,
        session_id,
        module_id,
    })
}

/// A C authenticator as a Rust [`Authenticator`](crate::Authenticator).
pub(crate) fn authenticator(
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *mut McrtReply,
    ) -> i32,
    user_data: UserData,
) -> impl Fn(&AuthRequest, &HandshakeContext) -> AuthDecision + Send + Sync + 'static {
    move |request, context| {
        let request_json = c_json(&request.raw);
        let context_json = c_json(&context_json(context));
        let mut reply = McrtReply::default();
        // SAFETY: the host registered `callback` for these arguments; the strings and the
        // reply live until it returns.
        let verdict = unsafe {
            callback(
                user_data.ptr(),
                request_json.as_ptr(),
                request_json.as_bytes().len(),
                context_json.as_ptr(),
                context_json.as_bytes().len(),
                &raw mut reply,
            )
        };
        decision(verdict, &reply)
    }
}

/// What a C authenticator's verdict and reply mean.
fn decision(verdict: i32, reply: &McrtReply) -> AuthDecision {
    let failed = |message: String| {
        AuthDecision::Refuse(AuthError::Refused {
            code: "authenticator_failed".to_owned(),
            message,
        })
    };
    match verdict {
        v if v == McrtAuthVerdict::Pass as i32 => AuthDecision::Pass,
        v if v == McrtAuthVerdict::Accept as i32 => match reply_json(reply) {
            Some(Ok(value)) => match identity_from(&value) {
                Ok(identity) => AuthDecision::Accept(identity),
                Err(message) => failed(message),
            },
            Some(Err(message)) => failed(message),
            None => failed("accepted without an identity reply".to_owned()),
        },
        v if v == McrtAuthVerdict::Refuse as i32 => {
            let answer = reply_json(reply).and_then(Result::ok);
            let field = |name: &str| {
                answer
                    .as_ref()
                    .and_then(|value| value.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            AuthDecision::Refuse(AuthError::Refused {
                code: field("code").unwrap_or_else(|| "refused".to_owned()),
                message: field("message")
                    .unwrap_or_else(|| "refused by the host authenticator".to_owned()),
            })
        }
        other => failed(format!("the authenticator returned {other}, not 0, 1 or 2")),
    }
}

/// A client event as the C handlers see it: the identity and `data`, without the
/// binary values.
pub(super) fn client_event_json(event: &ClientEvent) -> Value {
    let identity = &event.identity;
    json!({
        "connection": event.connection.0,
        "userId": identity.user_id.as_str(),
        "role": identity.role.as_str(),
        "sessionId": identity.session_id.as_ref().map(SessionId::as_str),
        "moduleId": identity.module_id.as_ref().map(ModuleId::as_str),
        "page": event.page,
        "event": event.event,
        "data": event.data,
    })
}

/// A C client-event handler (binary values in base64 under `"attachments"`).
pub(crate) fn client_events(
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, usize),
    user_data: UserData,
) -> impl Fn(&ClientEvent) + Send + Sync + 'static {
    move |event| {
        let mut body = client_event_json(event);
        if !event.attachments.is_empty() {
            use base64::Engine as _;
            let values: Vec<String> = event
                .attachments
                .iter()
                .map(|data| base64::engine::general_purpose::STANDARD.encode(data))
                .collect();
            body["attachments"] = json!(values);
        }
        let text = c_json(&body);
        // SAFETY: the host registered `callback`; the string lives until it returns.
        unsafe { callback(user_data.ptr(), text.as_ptr(), text.as_bytes().len()) };
    }
}

/// A C client-event handler that takes the binary values as bytes.
pub(crate) fn binary_client_events(
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const McrtBytes, usize),
    user_data: UserData,
) -> impl Fn(&ClientEvent) + Send + Sync + 'static {
    move |event| {
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
        // SAFETY: the host registered `callback`; the string, the list and the bytes
        // it points at (owned by `event`) live until it returns.
        unsafe {
            callback(
                user_data.ptr(),
                text.as_ptr(),
                text.as_bytes().len(),
                list,
                values.len(),
            )
        };
    }
}

/// A C stats provider.
pub(crate) fn stats(
    callback: unsafe extern "C" fn(*mut c_void, *mut McrtReply) -> i32,
    user_data: UserData,
) -> impl Fn() -> Result<Value, String> + Send + Sync + 'static {
    move || {
        let mut reply = McrtReply::default();
        // SAFETY: the host registered `callback`; the reply lives until it returns.
        let status = unsafe { callback(user_data.ptr(), &raw mut reply) };
        if status != 0 {
            let why = reply
                .value
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_else(|| format!("the stats callback returned {status}"));
            return Err(why);
        }
        match reply_json(&reply) {
            Some(Ok(value)) if value.is_object() => Ok(value),
            Some(Ok(_)) => Err("the stats reply must be a JSON object".to_owned()),
            Some(Err(message)) => Err(message),
            None => Err("the stats callback returned 0 without a reply".to_owned()),
        }
    }
}
