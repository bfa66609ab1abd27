//! The HTTP API through which backends in any language drive the hub (DESIGN §9):
//! `POST /api/v1/emit/<call>` with `Authorization: Bearer <api key>`.
//!
//! `<call>` is the seed's name in snake_case without `emit_`; bodies name the seed's
//! arguments:
//!
//! | call | body |
//! |---|---|
//! | `module_online`, `module_offline` | `{moduleId, userId, type?, name?, …}` |
//! | `module_added`, `module_removed` | the module object (`id` or `moduleId`, `userId`, …) |
//! | `telemetry_update` | `{moduleId, telemetry}` |
//! | `user_logged_in`, `user_logged_out` | `{user, sessionId}` |
//! | `user_profile_updated` | `{old, new}` |
//! | `user_registered` | the user object |
//! | `stats_update` | `{stats}` (or `{}` to ask the hub's stats provider) |
//! | `admin_action` | `{adminId, action, details}` |
//! | `maintenance_mode` | `{enabled, message, adminId}` |
//! | `to_user` | `{userId, event, data}` |
//! | `to_admins` | `{event, data}` |
//!
//! Answers: `200 {"outcome":"unchanged"}` or `200 {"outcome":"delivered","connections":N}`;
//! `400 {"error":{"code","message"}}` for bad input (invalid JSON, missing fields, the
//! hub's typed errors); `401` without a valid key; `404` for an unknown call; `405` for
//! another method; with a host executor ([`crate::HubBuilder::executor`]) the emit runs
//! on the host's thread and `503 host_busy` answers if it did not run within 10 s. This module must not bypass the hub's emit API.

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::hub::{API_PATIENCE, EmitOutcome, Hub, HubError};

use super::{HttpRequest, HttpResponse};

/// The cluster view's path.
pub const CLUSTER_PATH: &str = "/api/v1/cluster";

/// The prefix of every emit call.
pub const EMIT_PREFIX: &str = "/api/v1/emit/";

fn answer(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        content_type: "application/json",
        body: body.to_string().into(),
    }
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    answer(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Handles `request` if it is an API call; `None` for any other path.
pub fn handle(hub: &Hub, api_key: &str, request: &HttpRequest) -> Option<HttpResponse> {
    if request.path == CLUSTER_PATH {
        return Some(cluster(hub, api_key, request));
    }
    let call = request.path.strip_prefix(EMIT_PREFIX)?;
    if request.method != "POST" {
        return Some(error(405, "method_not_allowed", "use POST"));
    }
    if let Some(refused) = unauthorized(api_key, request) {
        return Some(refused);
    }
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(parse) => return Some(error(400, "invalid_json", &parse.to_string())),
        }
    };
    if !body.is_object() {
        return Some(error(
            400,
            "invalid_argument",
            "the body must be a JSON object",
        ));
    }
    let dispatched = if hub.emits_here() {
        dispatch(hub, call, &body)
    } else {
        // A host executor runs library-originated emits on the host's thread.
        let call = call.to_owned();
        let waited = hub.originate_and_wait(move |hub| dispatch(hub, &call, &body), API_PATIENCE);
        match waited {
            Some(dispatched) => dispatched,
            None => {
                return Some(error(
                    503,
                    "host_busy",
                    "the host did not run this emit in time (it may still run)",
                ));
            }
        }
    };
    let outcome = match dispatched {
        Some(outcome) => outcome,
        None => {
            return Some(error(
                404,
                "unknown_call",
                &format!("no emit call named {call:?}"),
            ));
        }
    };
    Some(match outcome {
        // Serialized straight to text: a `Value` in between added a map and its strings
        // to every call's answer (about a sixth of the handler's instructions for a
        // telemetry update, under callgrind).
        Ok(outcome) => HttpResponse {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_string(&outcome)
                .unwrap_or_else(|_| "null".to_owned())
                .into(),
        },
        Err(hub_error) => error(400, hub_error.code(), &hub_error.to_string()),
    })
}

/// `401` unless the request carries `Authorization: Bearer <api key>`.
fn unauthorized(api_key: &str, request: &HttpRequest) -> Option<HttpResponse> {
    let presented = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid: bool = presented.as_bytes().ct_eq(api_key.as_bytes()).into();
    (api_key.is_empty() || !valid).then(|| {
        error(
            401,
            "unauthorized",
            "a valid Authorization: Bearer <api key> is required",
        )
    })
}

/// `GET /api/v1/cluster` (API key): the cluster-wide connection view (every live node's
/// connections by role and page, summed, and the online users); `404 no_cluster`
/// without a shared broker, `503 broker_unreachable` while it does not answer.
fn cluster(hub: &Hub, api_key: &str, request: &HttpRequest) -> HttpResponse {
    if request.method != "GET" {
        return error(405, "method_not_allowed", "use GET");
    }
    if let Some(refused) = unauthorized(api_key, request) {
        return refused;
    }
    match hub.cluster_view() {
        Some(view) => answer(200, &view),
        None if hub.metrics().broker.is_some() => error(
            503,
            "broker_unreachable",
            "the shared broker does not answer",
        ),
        None => error(
            404,
            "no_cluster",
            "this server runs without a shared broker",
        ),
    }
}

fn field<'a>(body: &'a Value, name: &str) -> &'a Value {
    body.get(name).unwrap_or(&Value::Null)
}

fn text<'a>(body: &'a Value, name: &'static str) -> Result<&'a str, HubError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or(HubError::Input(crate::input::InputError::WrongType {
            field: name,
            expected: "a string",
            found: crate::ids::json_type(field(body, name)),
        }))
}

fn flag(body: &Value, name: &'static str) -> Result<bool, HubError> {
    body.get(name)
        .and_then(Value::as_bool)
        .ok_or(HubError::Input(crate::input::InputError::WrongType {
            field: name,
            expected: "a boolean",
            found: crate::ids::json_type(field(body, name)),
        }))
}

fn dispatch(hub: &Hub, call: &str, body: &Value) -> Option<Result<EmitOutcome, HubError>> {
    Some(match call {
        "module_online" => text(body, "moduleId").and_then(|id| hub.emit_module_online(id, body)),
        "module_offline" => text(body, "moduleId").and_then(|id| hub.emit_module_offline(id, body)),
        "module_added" => hub.emit_module_added(body),
        "module_removed" => hub.emit_module_removed(body),
        "telemetry_update" => text(body, "moduleId")
            .and_then(|id| hub.emit_telemetry_update(id, field(body, "telemetry"))),
        "user_logged_in" => text(body, "sessionId")
            .and_then(|sid| hub.emit_user_logged_in(field(body, "user"), sid)),
        "user_logged_out" => text(body, "sessionId")
            .and_then(|sid| hub.emit_user_logged_out(field(body, "user"), sid)),
        "user_profile_updated" => {
            hub.emit_user_profile_updated(field(body, "old"), field(body, "new"))
        }
        "user_registered" => hub.emit_user_registered(body),
        "stats_update" => match body.get("stats") {
            Some(stats) => hub.emit_stats_update_with(stats),
            None => hub.emit_stats_update(),
        },
        "admin_action" => text(body, "action").and_then(|action| {
            hub.emit_admin_action(field(body, "adminId"), action, field(body, "details"))
        }),
        "maintenance_mode" => flag(body, "enabled").and_then(|enabled| {
            let message = body.get("message").and_then(Value::as_str).unwrap_or("");
            hub.emit_maintenance_mode(enabled, message, field(body, "adminId"))
        }),
        "to_user" => text(body, "event")
            .and_then(|event| hub.emit_to_user(field(body, "userId"), event, field(body, "data"))),
        "to_admins" => {
            text(body, "event").and_then(|event| hub.emit_to_admins(event, field(body, "data")))
        }
        _ => return None,
    })
}
