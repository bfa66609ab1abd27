//! The origin policy: which browser pages may open a connection ([`Cors`]).
//!
//! A browser sends `Origin` with every websocket handshake and every cross-site
//! request, and sends the site's cookies with a cross-site websocket: without this
//! check any page a logged-in user visits could open a socket as that user
//! (cross-site WebSocket hijacking) when the host authenticates from a cookie. So every
//! request to the Socket.IO path, a raw Engine.IO endpoint and the native `/ws` that
//! carries an `Origin` the policy does not allow is refused here, before any session
//! exists: HTTP 403 with Engine.IO's `{"code":4,"message":"Forbidden"}`, counted as
//! `bad_input{kind="origin"}` and logged at `info` with the origin. A request without
//! `Origin` (a device, a server, a native client) is not a browser's and passes.
//!
//! The page's own origin is always allowed: an `Origin` whose host and port are the
//! request's `Host` (default ports 80 and 443 implied). [`Cors::Origins`] adds exact
//! origins (scheme, host, port); [`Cors::Any`] allows every page.
//!
//! This module owns that decision only; CORS response headers are `Cors::apply`'s.
//! Guarded by `tests/server/origins.rs` and the unit tests below.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::Shared;
use super::http::{self, Body, Cors};
use crate::metrics::BadInputKind;

impl Cors {
    /// The policy allowing the server's own pages and `origins` (`*` among them allows
    /// any page): what `--allowed-origin` and the schema's `allowedOrigins` build.
    pub fn allowing(origins: Vec<String>) -> Self {
        if origins.iter().any(|origin| origin == "*") {
            Self::Any
        } else if origins.is_empty() {
            Self::SameOrigin
        } else {
            Self::Origins(origins)
        }
    }

    /// The origins this policy lists besides the server's own (`["*"]` for any).
    pub fn allowed_origins(&self) -> Vec<String> {
        match self {
            Self::SameOrigin => Vec::new(),
            Self::Any => vec!["*".into()],
            Self::Origins(list) => list.clone(),
        }
    }

    /// Whether `origin` can be listed: `*`, or `scheme://host[:port]` with no path.
    /// The error describes what arrived.
    pub(crate) fn check_origin(origin: &str) -> Result<(), String> {
        if origin == "*" {
            return Ok(());
        }
        let authority = origin
            .split_once("://")
            .filter(|(scheme, _)| !scheme.is_empty())
            .map(|(_, authority)| authority.trim_end_matches('/'));
        match authority {
            Some(authority) if !authority.is_empty() && !authority.contains('/') => Ok(()),
            _ => Err(format!("{origin:?}")),
        }
    }
}

/// The refusal (403, counted, logged) of a request whose `Origin` the policy does not
/// allow; `None` lets it through.
pub(crate) fn refusal(
    shared: &Shared,
    request: &Request<Incoming>,
    remote: SocketAddr,
) -> Option<Response<Body>> {
    let origin = request.headers().get(header::ORIGIN)?;
    let host = request.headers().get(header::HOST);
    if allows(&shared.config.cors, origin, host) {
        return None;
    }
    shared.hub.count_bad_input(BadInputKind::Origin);
    tracing::info!(
        origin = %String::from_utf8_lossy(origin.as_bytes()),
        %remote,
        path = request.uri().path(),
        "refused a browser origin the origin policy does not allow"
    );
    Some(http::json_error(StatusCode::FORBIDDEN, 4, "Forbidden"))
}

/// Whether `policy` lets a page of `origin` call a server reached as `host`.
fn allows(policy: &Cors, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    match policy {
        Cors::Any => true,
        Cors::SameOrigin => same_origin(origin, host),
        Cors::Origins(list) => {
            same_origin(origin, host) || list.iter().any(|allowed| same_text(allowed, origin))
        }
    }
}

/// Origins compare without case and without a trailing slash.
fn same_text(allowed: &str, origin: &str) -> bool {
    allowed.trim_end_matches('/').eq_ignore_ascii_case(origin)
}

/// Whether `origin`'s host and port are the request's `Host`.
fn same_origin(origin: &str, host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|host| host.to_str().ok()) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        // `null` (a sandboxed page, a file) and anything malformed.
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let suffix = format!(":{default_port}");
    let normal = |authority: &str| {
        let authority = authority.to_ascii_lowercase();
        match authority.strip_suffix(&suffix) {
            Some(name) => name.to_owned(),
            None => authority,
        }
    };
    normal(authority) == normal(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(policy: &Cors, origin: &str, host: &str) -> bool {
        allows(
            policy,
            &HeaderValue::from_str(origin).unwrap(),
            Some(&HeaderValue::from_str(host).unwrap()),
        )
    }

    #[test]
    fn the_page_of_the_requested_host_is_same_origin() {
        let same = Cors::SameOrigin;
        assert!(allowed(&same, "http://127.0.0.1:3000", "127.0.0.1:3000"));
        assert!(allowed(&same, "https://Example.COM", "example.com"));
        assert!(allowed(&same, "https://example.com", "example.com:443"));
        assert!(allowed(&same, "http://example.com:80", "example.com"));
        assert!(allowed(&same, "http://[::1]:3000", "[::1]:3000"));
        assert!(!allowed(&same, "http://127.0.0.1:3001", "127.0.0.1:3000"));
        assert!(!allowed(&same, "https://evil.example", "127.0.0.1:3000"));
        assert!(!allowed(&same, "https://example.com", "example.com:80"));
        assert!(!allowed(&same, "null", "example.com"));
        assert!(!allowed(&same, "file://example.com", "example.com"));
        let no_host = allows(&same, &HeaderValue::from_static("http://a"), None);
        assert!(!no_host, "without Host nothing is same-origin");
    }

    #[test]
    fn listed_origins_match_exactly_and_any_allows_all() {
        let list = Cors::Origins(vec!["https://app.example/".into()]);
        assert!(allowed(&list, "https://app.example", "api.example"));
        assert!(allowed(&list, "https://api.example", "api.example"));
        assert!(!allowed(&list, "http://app.example", "api.example"));
        assert!(!allowed(&list, "https://app.example:8443", "api.example"));
        assert!(!allowed(&list, "https://app.example.evil", "api.example"));
        assert!(allowed(&Cors::Any, "https://evil.example", "api.example"));
    }
}
