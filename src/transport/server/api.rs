//! The HTTP API through which backends in any language drive the hub (DESIGN §9):
//! `POST /api/v1/emit/<call>` with `Authorization: Bearer <api key>`.
//!
//! `<call>` is a [`CallName`] (the seed's name in snake_case without `emit_`) and the
//! body is that call's arguments, deserialized as its [`HostCall`] (the §9 bodies, listed
//! on each variant's body type in [`crate::call`]); `stats_update` with `{}` asks the
//! hub's stats provider.
//!
//! Answers: `200 {"outcome":"unchanged","connections":0}` or `200 {"outcome":"delivered","connections":N}`;
//! `400 {"error":{"code","message"}}` for bad input (invalid JSON, a missing or mistyped
//! field, counted as `bad_input{kind="host_argument"}`, and the hub's typed errors); `401` without a valid key; `404` for an unknown call; `405` for
//! another method; with a host executor ([`crate::HubBuilder::executor`]) the emit runs
//! on the host's thread and `503 host_busy` answers if it did not run within 10 s. This module must not bypass the hub's emit API.

use std::str::FromStr;

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::call::{CallName, HostCall};
use crate::hub::{API_PATIENCE, Hub};
use crate::metrics::BadInputKind;

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
    let name = request.path.strip_prefix(EMIT_PREFIX)?;
    if request.method != "POST" {
        return Some(error(405, "method_not_allowed", "use POST"));
    }
    if let Some(refused) = unauthorized(api_key, request) {
        return Some(refused);
    }
    let call = match parse_call(hub, name, request) {
        Ok(call) => call,
        Err(refused) => return Some(refused),
    };
    Some(run_call(hub, call))
}

/// The call named `name` with the request's JSON body, or the error to answer.
fn parse_call(
    hub: &Hub,
    name: &str,
    request: &HttpRequest,
) -> Result<HostCall<'static>, HttpResponse> {
    let Ok(name) = CallName::from_str(name) else {
        return Err(error(
            404,
            "unknown_call",
            &format!("no emit call named {name:?}"),
        ));
    };
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(parse) => return Err(error(400, "invalid_json", &parse.to_string())),
        }
    };
    if !body.is_object() {
        return Err(error(
            400,
            "invalid_argument",
            "the body must be a JSON object",
        ));
    }
    HostCall::from_body(name, body).map_err(|refused| {
        hub.count_bad_input(BadInputKind::HostArgument);
        error(400, "invalid_argument", &refused.to_string())
    })
}

/// Runs the call (on the host's thread when it has an executor) and answers its outcome.
fn run_call(hub: &Hub, call: HostCall<'static>) -> HttpResponse {
    let outcome = if hub.emits_here() {
        hub.run(call)
    } else {
        // A host executor runs library-originated emits on the host's thread.
        match hub.originate_and_wait(move |hub| hub.run(call), API_PATIENCE) {
            Some(outcome) => outcome,
            None => {
                return error(
                    503,
                    "host_busy",
                    "the host did not run this emit in time (it may still run)",
                );
            }
        }
    };
    match outcome {
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
    }
}

/// `401` unless the request carries `Authorization: Bearer <api key>`. `api_key` may
/// hold several keys separated by commas, each valid (rotation: add the new key, move
/// the backends, drop the old one).
fn unauthorized(api_key: &str, request: &HttpRequest) -> Option<HttpResponse> {
    let presented = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    (!key_matches(api_key, presented)).then(|| {
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

/// Whether `presented` is one of the comma-separated `keys` (empty ones never match).
/// Every key is compared, each in constant time, so the answer's timing tells neither
/// which key nor how much of one matched.
fn key_matches(keys: &str, presented: &str) -> bool {
    let mut valid = subtle::Choice::from(0);
    for key in keys.split(',').map(str::trim).filter(|key| !key.is_empty()) {
        valid |= presented.as_bytes().ct_eq(key.as_bytes());
    }
    valid.into()
}

#[cfg(test)]
mod tests {
    use super::key_matches;

    #[test]
    fn every_listed_key_is_valid_and_nothing_else() {
        assert!(key_matches("old-key", "old-key"));
        assert!(key_matches("old-key, new-key", "new-key"));
        assert!(key_matches("old-key,new-key", "old-key"));
        for wrong in ["", "old", "old-key,new-key", "new-key ", "OLD-KEY"] {
            assert!(!key_matches("old-key,new-key", wrong), "{wrong:?}");
        }
        assert!(!key_matches("", ""), "no key configured admits nobody");
        assert!(!key_matches(",", ""));
    }
}
