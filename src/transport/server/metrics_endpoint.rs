//! `GET /metrics`: the hub's counters in the Prometheus/OpenMetrics text format
//! ([`Hub::prometheus_text`]), optionally behind `Authorization: Bearer <token>`
//! ([`ServerConfig::metrics_token`](super::ServerConfig::metrics_token)).
//!
//! A scrape reads relaxed atomics and `/proc/self`; it never takes the emit lock. This
//! module must not expose anything but counters (no ids, no payloads).

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;

use crate::hub::Hub;
use crate::monitor::prometheus::CONTENT_TYPE;

use super::http::{self, Body};

/// Answers a request for the metrics path.
pub(crate) fn handle(
    hub: &Hub,
    token: Option<&str>,
    request: &Request<Incoming>,
) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = http::respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if let Some(expected) = token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        let valid: bool = presented.as_bytes().ct_eq(expected.as_bytes()).into();
        if !valid {
            let mut response = http::respond(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "a valid Authorization: Bearer <metrics token> is required\n",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return response;
        }
    }
    http::respond(StatusCode::OK, CONTENT_TYPE, hub.prometheus_text())
}
